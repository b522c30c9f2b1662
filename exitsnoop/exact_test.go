package exitsnoop

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each case records exactly the status waitpid reports, once, when the whole
// process is gone, and nothing before.
func TestExactStatus(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want int32 // raw wait status; -1: whatever waitpid says (core dumps)
		exec bool  // a non-leader exec happens at the first step
	}{
		{name: "plain exit", args: []string{"exit", "3"}, want: 3 << 8},
		{name: "leader pthread_exit, worker exits 7", args: []string{"leader-pthread-exit"}, want: 7 << 8},
		{name: "non-leader execve", args: []string{"nonleader-exec"}, want: 5 << 8, exec: true},
		{name: "SIGSEGV in a worker", args: []string{"worker-segv"}, want: 11},
		{name: "core dump", args: []string{"coredump"}, want: -1},
		{name: "exit_group from a worker", args: []string{"nonleader-exit-group", "9"}, want: 9 << 8},
		{name: "last of many pthread_exit", args: []string{"many-pthread-exit", "32"}, want: 0},
		{name: "64 threads exit at once", args: []string{"threads-exit-at-once", "64", "13"}, want: 13 << 8},
	}
	s := openPrivate(t, Options{})
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := uint64(100 + i)
			before, err := s.Stats()
			require.NoError(t, err)
			p := startScenario(t, c.args...)
			require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: id}))
			if c.exec {
				p.next(t)
				p.expect(t, "exec-ready")
				_, err := s.GetExitedEvent(id)
				require.ErrorIs(t, err, ErrKeyNotExist, "nothing recorded at the exec")
				_, err = s.GetTracingTask(p.pid)
				require.NoError(t, err, "still traced after the exec")
			}
			_, err = s.GetExitedEvent(id)
			require.ErrorIs(t, err, ErrKeyNotExist, "nothing recorded while it lives")

			status := p.finish(t)
			if c.want >= 0 {
				require.Equal(t, c.want, status, "the scenario's own status")
			} else {
				require.Equal(t, int32(6), status&0x7f, "SIGABRT")
			}
			ev, err := s.GetExitedEvent(id)
			require.NoError(t, err)
			assert.Equal(t, status, ev.ExitCode, "the status waitpid reports")
			assert.Equal(t, p.pid, ev.Pid)

			after, err := s.Stats()
			require.NoError(t, err)
			assert.Equal(t, before.Recorded+1, after.Recorded, "recorded once")
			assert.Equal(t, before.Exits+1, after.Exits, "one exit of the process")
			assert.Equal(t, before.Duplicate, after.Duplicate)
		})
	}
}
