package exitsnoop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestExitByCode(t *testing.T) {
	s := openPrivate(t, Options{})
	p := startScenario(t, "exit", "3")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 1}))

	info, err := s.GetTracingTask(p.pid)
	require.NoError(t, err)
	assert.Equal(t, &TaskInfo{TraceID: 1}, info)
	_, err = s.GetExitedEvent(1)
	require.ErrorIs(t, err, ErrKeyNotExist, "nothing recorded while it runs")

	status := p.finish(t)
	require.Equal(t, int32(3<<8), status)
	ev, err := s.GetExitedEvent(1)
	require.NoError(t, err)
	assert.Equal(t, p.pid, ev.Pid)
	assert.Equal(t, status, ev.ExitCode)
	assert.NotZero(t, ev.StartBoottime)
	assert.Greater(t, ev.ExittedTime, ev.StartBoottime-ev.StartBoottime) // set

	_, err = s.GetTracingTask(p.pid)
	require.ErrorIs(t, err, ErrKeyNotExist, "the exit consumes the tracing entry")
	require.NoError(t, s.DeleteExitedEvent(1))
	_, err = s.GetExitedEvent(1)
	require.ErrorIs(t, err, ErrKeyNotExist)
	require.ErrorIs(t, err, syscall.ENOENT)

	st, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, Stats{Exits: 1, Recorded: 1}, counted(st))
}

func TestExitBySignal(t *testing.T) {
	s := openPrivate(t, Options{})
	p := startScenario(t, "kill-me")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 2}))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	require.Equal(t, int32(syscall.SIGKILL), p.wait(t))
	ev, err := s.GetExitedEvent(2)
	require.NoError(t, err)
	assert.Equal(t, int32(9), ev.ExitCode)
}

func TestExitStartTime(t *testing.T) {
	s := openPrivate(t, Options{})
	p := startScenario(t, "exit", "0")
	st, err := readProcStat(p.pid)
	require.NoError(t, err)
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 3}))
	p.finish(t)
	ev, err := s.GetExitedEvent(3)
	require.NoError(t, err)
	assert.Equal(t, st.startTicks, ev.StartBoottime/10_000_000, "start time is /proc's, in ns")
}

func TestPidNamespace(t *testing.T) {
	s := openPrivate(t, Options{})
	p := startScenario(t, "exit", "4")
	ns, err := PidnsOf(p.pid)
	require.NoError(t, err)
	var nsStat unix.Stat_t
	require.NoError(t, unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", p.pid), &nsStat))
	assert.Equal(t, PidnsInfo{Dev: nsStat.Dev, Ino: nsStat.Ino}, ns, "what stat(2) says, as the seed's callers compute it")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 4, PidnsInfo: ns}))
	p.finish(t)
	ev, err := s.GetExitedEvent(4)
	require.NoError(t, err, "the right namespace records")
	assert.Equal(t, int32(4<<8), ev.ExitCode)

	// A wrong pid namespace is refused at once: no trace whose exit cannot count.
	p = startScenario(t, "exit", "4")
	wrong := PidnsInfo{Dev: ns.Dev, Ino: ns.Ino + 1}
	require.ErrorIs(t, s.Trace(p.pid, &TaskInfo{TraceID: 5, PidnsInfo: wrong}), ErrNamespaceMismatch)
	_, err = s.GetTracingTask(p.pid)
	require.ErrorIs(t, err, ErrKeyNotExist)
	_, err = s.Wait(context.Background(), 5)
	require.ErrorIs(t, err, ErrNotTraced, "nothing to wait for")
	p.finish(t)
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Zero(t, st.NamespaceMismatch)
	assert.Equal(t, uint64(1), st.Recorded)
}

func TestTraceErrors(t *testing.T) {
	s := openPrivate(t, Options{})
	require.ErrorIs(t, s.Trace(0, &TaskInfo{}), ErrInvalidArgument)
	require.ErrorIs(t, s.Trace(uint32(os.Getpid()), nil), ErrInvalidArgument)

	// A pid beyond pid_max names no process.
	err := s.Trace(1<<30, &TaskInfo{TraceID: 1})
	require.ErrorIs(t, err, ErrNoProcess)
	require.ErrorIs(t, err, syscall.ESRCH)

	p := startScenario(t, "exit", "0")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 1}))
	err = s.Trace(p.pid, &TaskInfo{TraceID: 2})
	require.ErrorIs(t, err, ErrKeyExist, "duplicate Trace")
	require.ErrorIs(t, err, syscall.EEXIST)
	info, err := s.GetTracingTask(p.pid)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), info.TraceID, "the first Trace stands")

	require.NoError(t, s.DeleteTracingTask(p.pid))
	require.ErrorIs(t, s.DeleteTracingTask(p.pid), ErrKeyNotExist)
	_, err = s.GetTracingTask(p.pid)
	require.ErrorIs(t, err, ErrKeyNotExist)
	p.finish(t)
	_, err = s.GetExitedEvent(1)
	require.ErrorIs(t, err, ErrKeyNotExist, "no event after DeleteTracingTask")

	// An exited (reaped) process cannot be traced.
	err = s.Trace(p.pid, &TaskInfo{TraceID: 3})
	require.ErrorIs(t, err, ErrNoProcess)

	_, err = s.GetExitedEvent(12345)
	require.ErrorIs(t, err, ErrKeyNotExist, "unknown trace ID")
	require.ErrorIs(t, s.DeleteExitedEvent(12345), ErrKeyNotExist)
	require.ErrorIs(t, s.LookupExitedEvent(1, nil), ErrInvalidArgument)
}

func TestTraceZombie(t *testing.T) {
	s := openPrivate(t, Options{})
	p := startScenario(t, "exit", "0")
	p.in.Close()
	// Wait until it is a zombie, unreaped: it has exited, no event can come.
	require.Eventually(t, func() bool {
		st, err := readProcStat(p.pid)
		return err == nil && st.gone()
	}, 5e9, 1e6)
	require.ErrorIs(t, s.Trace(p.pid, &TaskInfo{TraceID: 1}), ErrNoProcess)
	_, err := s.GetTracingTask(p.pid)
	require.ErrorIs(t, err, ErrKeyNotExist, "no entry left behind")
	p.wait(t)
}

func TestExitedEventFromWaitStatus(t *testing.T) {
	s := openPrivate(t, Options{})
	p := startScenario(t, "exit", "6")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 8}))
	require.NoError(t, s.DeleteTracingTask(p.pid)) // as if the caller reaped it itself
	status := p.finish(t)

	require.NoError(t, s.ExitedEventFromWaitStatus(8, p.pid, uint32(status)))
	ev, err := s.GetExitedEvent(8)
	require.NoError(t, err)
	assert.Equal(t, p.pid, ev.Pid)
	assert.Equal(t, int32(6<<8), ev.ExitCode)
	assert.NotZero(t, ev.ExittedTime)

	err = s.ExitedEventFromWaitStatus(8, p.pid, 0)
	require.ErrorIs(t, err, ErrKeyExist, "one event per trace ID")
	require.ErrorIs(t, err, syscall.EEXIST)

	// It also removes a tracing entry of the same trace ID.
	q := startScenario(t, "exit", "0")
	require.NoError(t, s.Trace(q.pid, &TaskInfo{TraceID: 9}))
	require.NoError(t, s.ExitedEventFromWaitStatus(9, q.pid, 0))
	_, err = s.GetTracingTask(q.pid)
	require.ErrorIs(t, err, ErrKeyNotExist)
	q.finish(t)
}

func TestClosedStore(t *testing.T) {
	s, err := NewStoreFromAttach()
	require.NoError(t, err)
	fds := countFds(t)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	assert.Less(t, countFds(t), fds, "Close releases the fds")

	var ev ExitStatus
	checks := map[string]error{
		"Trace":                     s.Trace(1, &TaskInfo{}),
		"DeleteTracingTask":         s.DeleteTracingTask(1),
		"ExitedEventFromWaitStatus": s.ExitedEventFromWaitStatus(1, 1, 0),
		"DeleteExitedEvent":         s.DeleteExitedEvent(1),
		"LookupExitedEvent":         s.LookupExitedEvent(1, &ev),
		"TracePidfd":                s.TracePidfd(-1, &TaskInfo{}),
	}
	_, checks["GetTracingTask"] = s.GetTracingTask(1)
	_, checks["GetExitedEvent"] = s.GetExitedEvent(1)
	_, checks["Stats"] = s.Stats()
	_, _, checks["Capacity"] = s.Capacity()
	for name, err := range checks {
		if name == "TracePidfd" {
			require.Error(t, err, name) // the bad pidfd is found first
			continue
		}
		require.ErrorIs(t, err, ErrClosed, name)
	}
}

func TestCapacityDefaults(t *testing.T) {
	s := openPrivate(t, Options{})
	tasks, events, err := s.Capacity()
	require.NoError(t, err)
	assert.Equal(t, uint32(DefaultCapacity), tasks)
	assert.Equal(t, uint32(DefaultCapacity), events)
}

func TestNotSupportedError(t *testing.T) {
	err := error(&NotSupportedError{Feature: "BPF ring buffer", MinVersion: "5.8"})
	require.ErrorIs(t, err, ErrNotSupported)
	assert.Equal(t, "BPF ring buffer not supported (requires >= 5.8)", err.Error())
	// This kernel runs the tests, so it must be supported.
	require.NoError(t, checkKernel())
	require.False(t, errors.Is(checkKernel(), ErrNotSupported))
}

// heldOnHeap keeps TestLookupIntoStructWithPointers' struct on the heap.
var heldOnHeap any

// LookupExitedEvent may write into a struct that also holds Go pointers: cgo's
// pointer checks must not see that struct.
func TestLookupIntoStructWithPointers(t *testing.T) {
	s := openPrivate(t, Options{})
	require.NoError(t, s.ExitedEventFromWaitStatus(1, 2, 3<<8))
	holder := &struct {
		name string
		next *int
		ev   ExitStatus
		info TaskInfo
	}{name: "x", next: new(int), info: TaskInfo{TraceID: 2}}
	heldOnHeap = holder
	require.NoError(t, s.LookupExitedEvent(1, &holder.ev))
	assert.Equal(t, int32(3<<8), holder.ev.ExitCode)
	p := startScenario(t, "exit", "0")
	require.NoError(t, s.Trace(p.pid, &holder.info))
	p.finish(t)
}
