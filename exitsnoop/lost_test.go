package exitsnoop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The exit program ignores one process (a test-only knob): its fallback on
// sched_process_free still records the exact status, and says so in Stats.
// Wait starts after the reap: a Wait of this process's own unreaped child
// records the status itself (TestWaitBeforeReap), which on a slow machine
// (emulated arm64) it did here before the test reaped, leaving the fallback
// nothing to record.
func TestFallbackRecordsSkippedExit(t *testing.T) {
	for _, mode := range [][]string{{"exit", "5"}, {"leader-pthread-exit"}, {"nonleader-exit-group", "6"}, {"kill-me"}} {
		t.Run(mode[0], func(t *testing.T) {
			p := startScenario(t, mode...)
			s := openPrivate(t, Options{testSkipExit: p.pid})
			require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 1}))
			var status int32
			if mode[0] == "kill-me" {
				require.NoError(t, p.cmd.Process.Kill())
				status = p.wait(t)
			} else {
				status = p.finish(t)
			}
			done := make(chan *ExitStatus, 1)
			go func() {
				ev, err := s.Wait(context.Background(), 1)
				assert.NoError(t, err)
				done <- ev
			}()
			ev := within(t, done, 10*time.Second, "the fallback's event")
			require.NotNil(t, ev)
			assert.Equal(t, status, ev.ExitCode, "the waitpid status")
			assert.Equal(t, p.pid, ev.Pid)
			st, err := s.Stats()
			require.NoError(t, err)
			assert.Equal(t, uint64(1), st.Recovered, "recorded by the fallback")
			assert.Equal(t, uint64(1), st.Recorded)
			assert.Equal(t, uint64(1), st.Exits)
		})
	}
}

// waitLost waits for id and returns Wait's error, which must come within d.
func waitLost(t *testing.T, s *Store, id uint64, d time.Duration) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ev, err := s.Wait(ctx, id)
		if err == nil {
			err = fmt.Errorf("an event: %+v", ev)
		}
		errc <- err
	}()
	return within(t, errc, d, "Wait's error")
}

// Both programs skip the process: nothing records it, Wait says so after the reap.
func TestWaitLostMissed(t *testing.T) {
	p := startScenario(t, "exit", "1")
	s := openPrivate(t, Options{testSkipExit: p.pid, testSkipFree: p.pid})
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 7}))
	p.finish(t)
	reaped := time.Now()
	err := waitLost(t, s, 7, 10*time.Second)
	var lost *LostError
	require.ErrorAs(t, err, &lost)
	require.ErrorIs(t, err, ErrLost)
	assert.Equal(t, p.pid, lost.Pid)
	assert.Contains(t, lost.Cause, "did not run")
	// The documented bound is a second after the reap; the slack is the VMs' timers.
	assert.Less(t, time.Since(reaped), 1500*time.Millisecond, "Wait ends soon after the reap")
	require.ErrorIs(t, waitLost(t, s, 7, time.Second), ErrLost, "a second Wait says the same at once")
}

// The exited-events map is full: the kernel marks the trace, Wait names it.
func TestWaitLostDropped(t *testing.T) {
	s := openPrivate(t, Options{MaxExitedEvents: 1})
	require.NoError(t, s.ExitedEventFromWaitStatus(100, 1, 0))
	p := startScenario(t, "exit", "2")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 8}))
	p.finish(t)
	err := waitLost(t, s, 8, 2*time.Second)
	require.ErrorIs(t, err, ErrLost)
	assert.Contains(t, err.Error(), "full")
	require.ErrorIs(t, s.DeleteExitedEvent(8), ErrKeyNotExist, "no event, but the cause is forgotten")
	require.ErrorIs(t, waitLost(t, s, 8, time.Second), ErrNotTraced)
}

// A missed exit's entry is found by the next process with the pid: the kernel
// marks the first trace stale.
func TestWaitLostStale(t *testing.T) {
	s := openPrivate(t, Options{})
	a := startScenario(t, "kill-me")
	st, err := readProcStat(a.pid)
	require.NoError(t, err)
	require.NoError(t, a.cmd.Process.Kill())
	a.wait(t)
	time.Sleep(30 * time.Millisecond) // start times differ by at least a clock tick
	b := reusePid(t, a.pid)
	// a's trace as both programs would have left it had they missed its exit.
	require.NoError(t, s.reserveRef(9, a.pid))
	require.NoError(t, s.insertTask(a.pid, &taskValue{TaskInfo: TaskInfo{TraceID: 9}, StartTicks: st.startTicks}))
	require.NoError(t, b.cmd.Process.Kill())
	b.wait(t)
	err = waitLost(t, s, 9, 2*time.Second)
	require.ErrorIs(t, err, ErrLost)
	assert.Contains(t, err.Error(), "later process")
	stats, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), stats.PidReused)
}

func TestWaitNotTraced(t *testing.T) {
	s := openPrivate(t, Options{})
	require.ErrorIs(t, waitLost(t, s, 10, time.Second), ErrNotTraced)
	p := startScenario(t, "exit", "0")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 10}))
	require.NoError(t, s.DeleteTracingTask(p.pid))
	require.ErrorIs(t, waitLost(t, s, 10, time.Second), ErrNotTraced, "traced, then forgotten")
	p.finish(t)
}

// A thread's id opens /proc/<tid>/stat like a pid, but names no process.
func TestTraceThread(t *testing.T) {
	s := openPrivate(t, Options{})
	p := startScenario(t, "nonleader-exit-group", "3")
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", p.pid))
	require.NoError(t, err)
	var tid uint32
	for _, e := range tasks {
		if e.Name() != fmt.Sprint(p.pid) {
			fmt.Sscan(e.Name(), &tid)
		}
	}
	require.NotZero(t, tid)
	err = s.Trace(tid, &TaskInfo{TraceID: 1})
	require.ErrorIs(t, err, ErrNotProcess)
	require.ErrorIs(t, err, syscall.EINVAL)
	_, err = s.GetTracingTask(tid)
	require.ErrorIs(t, err, ErrKeyNotExist, "nothing traced")
	p.finish(t)
}

// A trace ID whose event is unread is refused, so a new process never reports
// an old one's status; once the event is deleted the ID is free again.
func TestTraceIDReuse(t *testing.T) {
	s := openPrivate(t, Options{})
	a := startScenario(t, "exit", "3")
	require.NoError(t, s.Trace(a.pid, &TaskInfo{TraceID: 1}))
	b := startScenario(t, "exit", "4")
	err := s.Trace(b.pid, &TaskInfo{TraceID: 1})
	require.ErrorIs(t, err, ErrTraceIDInUse, "a traced ID")
	require.ErrorIs(t, err, syscall.EEXIST)
	a.finish(t)
	_, err = s.Wait(context.Background(), 1)
	require.NoError(t, err)
	require.ErrorIs(t, s.Trace(b.pid, &TaskInfo{TraceID: 1}), ErrTraceIDInUse, "an ID with an unread event")
	require.NoError(t, s.DeleteExitedEvent(1))
	require.NoError(t, s.Trace(b.pid, &TaskInfo{TraceID: 1}))
	b.finish(t)
	ev, err := s.Wait(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, int32(4<<8), ev.ExitCode, "the new process's status")
}

// An entry left by a process whose exit was missed does not block its pid's next
// process: Trace replaces it and marks the old trace missed.
func TestTraceReplacesOrphan(t *testing.T) {
	s := openPrivate(t, Options{})
	p := startScenario(t, "exit", "5")
	st, err := readProcStat(p.pid)
	require.NoError(t, err)
	require.NoError(t, s.reserveRef(1, p.pid))
	require.NoError(t, s.insertTask(p.pid, &taskValue{TaskInfo: TaskInfo{TraceID: 1}, StartTicks: st.startTicks - 100}))
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 2}))
	require.ErrorIs(t, waitLost(t, s, 1, time.Second), ErrLost, "the orphan's trace")
	p.finish(t)
	ev, err := s.Wait(context.Background(), 2)
	require.NoError(t, err)
	assert.Equal(t, int32(5<<8), ev.ExitCode)
	assert.Equal(t, uint8(0), uint8(refCount(s, p.pid)), "pid_refs counts no entry")
}

// runTraceExit runs the test binary as a helper under a wrapper (unshare) that
// traces `sh -c 'exit 3'` with a private tracer and prints what it got.
func runTraceExit(t *testing.T, wrapper ...string) string {
	return runWrapped(t, "trace-exit", wrapper, "-")
}

// runWrapped runs the helper action with args under a wrapper (unshare) and
// returns its output.
func runWrapped(t *testing.T, action string, wrapper []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(wrapper[0], append(append(wrapper[1:], os.Args[0]), args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"="+action)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return strings.TrimSpace(string(out))
}

// traceExit is the trace-exit helper.
func traceExit() error {
	s, err := Open(Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	cmd := exec.Command("sh", "-c", "read x; exit 3")
	w, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	err = s.Trace(uint32(cmd.Process.Pid), &TaskInfo{TraceID: 1})
	w.Close()
	cmd.Wait()
	switch {
	case errors.Is(err, ErrPidNamespace):
		fmt.Println("ErrPidNamespace")
		return nil
	case err != nil:
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := s.Wait(ctx, 1)
	if err != nil {
		return err
	}
	// Times are the kernel's boottime, whatever this namespace's offset.
	if d := time.Since(ev.ExitTime()); d < -time.Second || d > 5*time.Second {
		return fmt.Errorf("exit time %v is %v from now", ev.ExitTime(), d)
	}
	if r := ev.Runtime(); r <= 0 || r > 5*time.Second {
		return fmt.Errorf("runtime %v", r)
	}
	fmt.Println(ev)
	return nil
}

// /proc's start times include the reader's time namespace offset. --fork: on 5.10
// the exec'd helper stays outside the time namespace of its children, and such a
// process cannot start threads (pthread_create: EINVAL, seen in the 5.10 VM).
func TestTraceTimeNamespace(t *testing.T) {
	require.Equal(t, "exited 3", runTraceExit(t, "unshare", "--fork", "--time", "--boottime", "86400"))
	require.Equal(t, "exited 3", runTraceExit(t, "unshare", "--fork", "--time", "--boottime", "-3", "--monotonic", "5"))
}

// Pids of a child pid namespace are not the host's, which the kernel records.
func TestTracePidNamespace(t *testing.T) {
	require.Equal(t, "ErrPidNamespace", runTraceExit(t, "unshare", "--pid", "--fork", "--mount-proc"))
}

// TestWaitInChildPidNamespace: a Store whose pid namespace is not the host's
// cannot judge a traced pid's liveness: its Wait waits for the kernel, and says
// nothing false to the other Stores.
func TestWaitInChildPidNamespace(t *testing.T) {
	root := bpffsRoot(t)
	s, err := Open(Options{BPFFSRoot: root})
	require.NoError(t, err)
	defer s.Close()
	p := traceAlive(t, s, 5)
	out := runWrapped(t, "wait", []string{"unshare", "--pid", "--fork", "--mount-proc"}, root, "5", "1500ms")
	require.Equal(t, "context deadline exceeded", out, "no verdict on a live process")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = s.Wait(ctx, 5)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the host's Wait still waits")
	require.NoError(t, p.cmd.Process.Kill())
	status := p.wait(t)
	out = runWrapped(t, "wait", []string{"unshare", "--pid", "--fork", "--mount-proc"}, root, "5", "10s")
	assert.Contains(t, out, "killed by", "the kernel's record reaches it (status %#x)", status)
}
