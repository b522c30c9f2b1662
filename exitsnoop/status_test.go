package exitsnoop

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatusDecoding(t *testing.T) {
	cases := []struct {
		raw      int32
		str      string
		exited   bool
		code     int
		signal   syscall.Signal
		core     bool
		shellish int
	}{
		{0, "exited 0", true, 0, -1, false, 0},
		{3 << 8, "exited 3", true, 3, -1, false, 3},
		{255 << 8, "exited 255", true, 255, -1, false, 255},
		{9, "killed by SIGKILL", false, -1, syscall.SIGKILL, false, 137},
		{11 | 0x80, "killed by SIGSEGV (core dumped)", false, -1, syscall.SIGSEGV, true, 139},
	}
	for _, c := range cases {
		e := &ExitStatus{ExitCode: c.raw}
		assert.Equal(t, c.str, e.String())
		assert.Equal(t, c.exited, e.Exited(), c.str)
		assert.Equal(t, !c.exited, e.Signaled(), c.str)
		assert.Equal(t, c.code, e.ExitStatus(), c.str)
		assert.Equal(t, c.signal, e.Signal(), c.str)
		assert.Equal(t, c.core, e.CoreDump(), c.str)
		assert.Equal(t, c.shellish, e.ShellCode(), c.str)
		// The same decoding as the standard library's.
		ws := syscall.WaitStatus(c.raw)
		assert.Equal(t, ws.Exited(), e.Exited(), c.str)
		assert.Equal(t, ws.Signaled(), e.Signaled(), c.str)
		assert.Equal(t, ws.CoreDump(), e.CoreDump(), c.str)
	}
}

func TestStatusTimes(t *testing.T) {
	s := openPrivate(t, Options{})
	before := time.Now()
	p := startScenario(t, "exit", "0")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 1}))
	time.Sleep(50 * time.Millisecond)
	p.finish(t)
	after := time.Now()
	ev, err := s.GetExitedEvent(1)
	require.NoError(t, err)
	// Start times come from the boot clock: allow a tick of slack.
	assert.WithinRange(t, ev.StartTime(), before.Add(-20*time.Millisecond), after)
	assert.WithinRange(t, ev.ExitTime(), before, after.Add(time.Millisecond))
	assert.GreaterOrEqual(t, ev.Runtime(), 50*time.Millisecond)
	assert.True(t, (&ExitStatus{}).StartTime().IsZero())
}
