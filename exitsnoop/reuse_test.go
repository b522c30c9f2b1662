package exitsnoop

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// reusePid starts scenario processes until one gets pid, steering the kernel's
// pid allocator with ns_last_pid.
func reusePid(t *testing.T, pid uint32) *proc {
	t.Helper()
	for try := 0; try < 100; try++ {
		require.NoError(t, os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(int(pid)-1)), 0))
		p := startScenario(t, "kill-me")
		if p.pid == pid {
			return p
		}
		p.cmd.Process.Kill()
		p.wait(t)
	}
	t.Fatalf("pid %d not reused in 100 tries", pid)
	return nil
}

// TestPidReuse really reuses a pid: a process dies after the caller learned of it
// and another takes its pid. Nothing may be recorded under the caller's trace ID.
func TestPidReuse(t *testing.T) {
	s := openPrivate(t, Options{})
	a := startScenario(t, "kill-me")
	pidfd, err := unix.PidfdOpen(int(a.pid), 0)
	require.NoError(t, err)
	defer unix.Close(pidfd)
	aFile, err := openProcStat(a.pid) // follows a, not its pid
	require.NoError(t, err)
	defer aFile.close()
	aStat, err := aFile.read()
	require.NoError(t, err)

	require.NoError(t, a.cmd.Process.Kill())
	a.wait(t)
	time.Sleep(30 * time.Millisecond) // start times differ by at least a clock tick
	b := reusePid(t, a.pid)

	// The pidfd names the dead process, not the one that has its pid now.
	err = s.TracePidfd(pidfd, &TaskInfo{TraceID: 1})
	require.ErrorIs(t, err, ErrNoProcess)
	require.ErrorIs(t, err, syscall.ESRCH)
	require.ErrorIs(t, s.trace(a.pid, pidfd, &TaskInfo{TraceID: 2}), ErrNoProcess, "a's pidfd, not b's pid")
	_, err = s.GetTracingTask(a.pid)
	require.ErrorIs(t, err, ErrKeyNotExist, "nothing left traced")

	// An entry made for the dead process, as if Trace raced its exit: the kernel
	// sees the start times differ when the new process exits.
	require.NoError(t, s.insertTask(a.pid, &taskValue{TaskInfo: TaskInfo{TraceID: 3}, StartTicks: aStat.startTicks}))
	require.NoError(t, b.cmd.Process.Kill())
	b.wait(t)
	for _, id := range []uint64{1, 2, 3} {
		_, err := s.GetExitedEvent(id)
		require.ErrorIs(t, err, ErrKeyNotExist, "no event under trace ID %d", id)
	}
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), st.PidReused)
	assert.Zero(t, st.Recorded)

	require.ErrorIs(t, s.Trace(a.pid, &TaskInfo{TraceID: 4}), ErrNoProcess, "a pid that no longer exists")
}

func TestTracePidfd(t *testing.T) {
	s := openPrivate(t, Options{})
	p := startScenario(t, "exit", "2")
	pidfd, err := unix.PidfdOpen(int(p.pid), 0)
	require.NoError(t, err)
	defer unix.Close(pidfd)
	require.NoError(t, s.TracePidfd(pidfd, &TaskInfo{TraceID: 5}))
	require.Equal(t, int32(2<<8), p.finish(t))
	ev, err := s.GetExitedEvent(5)
	require.NoError(t, err)
	assert.Equal(t, int32(2<<8), ev.ExitCode)

	f, err := os.CreateTemp(t.TempDir(), "")
	require.NoError(t, err)
	defer f.Close()
	require.ErrorIs(t, s.TracePidfd(int(f.Fd()), &TaskInfo{}), ErrInvalidArgument, "not a pidfd")
	require.ErrorIs(t, s.TracePidfd(-1, &TaskInfo{}), ErrInvalidArgument)
}
