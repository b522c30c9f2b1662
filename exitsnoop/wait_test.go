package exitsnoop

import (
	"context"
	"testing"
	"time"

	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/bpfsys"
	"exitsnoop.dev/internal/ringbuf"
)

// notifiedOnly turns Wait's re-check off for one test: a waiter then ends only by
// a notification (or its context), so a test of notifications fails when they fail.
func notifiedOnly(t *testing.T) {
	old, oldBackstop := waitRecheck, ringbuf.BackstopMillis
	waitRecheck, ringbuf.BackstopMillis = time.Hour, -1
	t.Cleanup(func() { waitRecheck, ringbuf.BackstopMillis = old, oldBackstop })
}

// TestWaitRingOnly: where pidfd_open is filtered, Wait hears exits from the ring
// buffer, whose reader sleeps until the program wakes it (no re-check, no backstop):
// each exit comes after the reader stopped lingering and raised its flag.
func TestWaitRingOnly(t *testing.T) {
	notifiedOnly(t)
	old := pidfdOpen
	pidfdOpen = func(int, int) (int, error) { return -1, unix.ENOSYS }
	t.Cleanup(func() { pidfdOpen = old })
	s := openPrivate(t, Options{})
	for id := uint64(1); id <= 3; id++ {
		p := startScenario(t, "exit", "3")
		require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: id}))
		done := make(chan *ExitStatus, 1)
		go func() {
			ev, err := s.Wait(context.Background(), id)
			assert.NoError(t, err)
			done <- ev
		}()
		time.Sleep(100 * time.Millisecond) // past the reader's 5 ms of lingering
		require.Equal(t, int32(3<<8), p.finish(t))
		ev := within(t, done, 2*time.Second, "Wait woken through the ring buffer")
		assert.Equal(t, int32(3<<8), ev.ExitCode)
	}
}

// TestWaitBeforeReap: a parent that waits for its child before reaping it gets
// the status even when the exit program missed the exit (the fallback records at
// the reap, which this parent would do only after Wait).
func TestWaitBeforeReap(t *testing.T) {
	p := startScenario(t, "exit", "0")
	s := openPrivate(t, Options{testSkipExit: p.pid})
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 1}))
	require.NoError(t, p.cmd.Process.Signal(unix.SIGTERM))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := s.Wait(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, int32(unix.SIGTERM), ev.ExitCode)
	assert.Equal(t, ev.ExitCode, p.wait(t), "what waitpid then reports")
}

// within receives from ch, or fails the test after d.
func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing within %v", what, d)
		panic("unreachable")
	}
}

// traceAlive traces a process that lives until the test ends, under id.
func traceAlive(t *testing.T, s *Store, id uint64) *proc {
	p := startScenario(t, "kill-me")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: id}))
	return p
}

func TestWait(t *testing.T) {
	notifiedOnly(t)
	s := openPrivate(t, Options{})
	p := startScenario(t, "exit", "3")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 1}))
	traceAlive(t, s, 2)

	// Many waiters on one Store, on the same and on other IDs.
	results := make(chan *ExitStatus, 8)
	for range cap(results) {
		go func() {
			ev, err := s.Wait(context.Background(), 1)
			assert.NoError(t, err)
			results <- ev
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.Wait(ctx, 2)
	require.ErrorIs(t, err, context.DeadlineExceeded, "cancelling ctx returns ctx.Err()")

	p.finish(t)
	for range cap(results) {
		ev := within(t, results, 10*time.Second, "waiters woken by the notification (no re-check)")
		require.NotNil(t, ev)
		assert.Equal(t, int32(3<<8), ev.ExitCode)
		assert.Equal(t, p.pid, ev.Pid)
	}

	// Recorded before Wait was called: returns at once.
	ev, err := s.Wait(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, int32(3<<8), ev.ExitCode)
}

// A notification that never comes (an event stored without one, as when the
// ring buffer is full) delays Wait by the re-check at most.
func TestWaitWithoutNotification(t *testing.T) {
	s := openPrivate(t, Options{})
	traceAlive(t, s, 5)
	done := make(chan *ExitStatus)
	go func() {
		ev, err := s.Wait(context.Background(), 5)
		assert.NoError(t, err)
		done <- ev
	}()
	time.Sleep(20 * time.Millisecond)
	id, ev := uint64(5), ExitStatus{Pid: 1, ExitCode: 9}
	require.NoError(t, bpfsys.Update(s.events, unsafe.Pointer(&id), unsafe.Pointer(&ev), bpfsys.NoExist))
	got := within(t, done, 2*waitRecheck, "Wait without a notification")
	assert.Equal(t, int32(9), got.ExitCode)
}

// ExitedEventFromWaitStatus wakes this Store's waiters itself.
func TestWaitForRecordedStatus(t *testing.T) {
	notifiedOnly(t)
	s := openPrivate(t, Options{})
	traceAlive(t, s, 6)
	done := make(chan *ExitStatus)
	go func() {
		ev, err := s.Wait(context.Background(), 6)
		assert.NoError(t, err)
		done <- ev
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.ExitedEventFromWaitStatus(6, 1, 3<<8))
	ev := within(t, done, 10*time.Second, "Wait woken by ExitedEventFromWaitStatus")
	assert.Equal(t, int32(3<<8), ev.ExitCode)
}

func TestWaitClosedStore(t *testing.T) {
	s, err := NewStoreFromAttach()
	require.NoError(t, err)
	traceAlive(t, s, 1)
	errc := make(chan error)
	go func() {
		_, err := s.Wait(context.Background(), 1)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.Close())
	require.ErrorIs(t, within(t, errc, time.Second, "Wait ending with the Store"), ErrClosed)
	_, err = s.Wait(context.Background(), 1)
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.Subscribe(1)
	require.ErrorIs(t, err, ErrClosed)
}

func TestSubscribe(t *testing.T) {
	s := openPrivate(t, Options{})
	all, err := s.Subscribe(16)
	require.NoError(t, err)
	slow, err := s.Subscribe(1) // never read: must not stall the others
	require.NoError(t, err)

	for i := 0; i < 3; i++ {
		p := startScenario(t, "exit", "0")
		require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: uint64(10 + i)}))
		p.finish(t)
	}
	for i := 0; i < 3; i++ {
		select {
		case ev := <-all.C:
			assert.Equal(t, uint64(10+i), ev.TraceID)
			assert.True(t, ev.Exited())
		case <-time.After(2 * time.Second):
			t.Fatalf("event %d not delivered", i)
		}
	}
	assert.Zero(t, all.Lost())
	require.Eventually(t, func() bool { return slow.Lost() == 2 }, time.Second, time.Millisecond,
		"a full subscriber loses events, counted")
	slow.Close()
	_, open := <-slow.C
	assert.True(t, open, "the buffered event is still there")
	_, open = <-slow.C
	assert.False(t, open, "then C is closed")
	all.Close()
}

func TestListAndDrain(t *testing.T) {
	s := openPrivate(t, Options{})
	const n = 10_000
	for i := uint64(1); i <= n; i++ {
		require.NoError(t, s.ExitedEventFromWaitStatus(i, uint32(i), uint32(i%256)<<8))
	}
	all, err := s.ListExitedEvents()
	require.NoError(t, err)
	require.Len(t, all, n)
	seen := map[uint64]bool{}
	for _, ev := range all {
		require.False(t, seen[ev.TraceID], "listed once")
		seen[ev.TraceID] = true
		require.Equal(t, uint32(ev.TraceID), ev.Pid)
		require.Equal(t, int32(ev.TraceID%256)<<8, ev.ExitCode)
	}
	got, err := s.DrainExitedEvents()
	require.NoError(t, err)
	require.ElementsMatch(t, all, got)
	left, err := s.ListExitedEvents()
	require.NoError(t, err)
	assert.Empty(t, left, "drained")
}
