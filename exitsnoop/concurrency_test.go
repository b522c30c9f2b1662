package exitsnoop

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mixedOps runs n operations on s for a process of its own; it returns the first
// error that is not the one an operation was meant to get.
func mixedOps(s *Store, worker int, pid uint32, n int) error {
	base := uint64(worker) << 32
	for i := 0; i < n; {
		id := base + uint64(i)
		steps := []struct {
			err  error
			want error
		}{
			{s.Trace(pid, &TaskInfo{TraceID: id}), nil},
			{s.Trace(pid, &TaskInfo{TraceID: id}), ErrKeyExist},
			{func() error { _, err := s.GetTracingTask(pid); return err }(), nil},
			{s.DeleteTracingTask(pid), nil},
			{s.ExitedEventFromWaitStatus(id, pid, uint32(i)), nil},
			{func() error { _, err := s.GetExitedEvent(id); return err }(), nil},
			{s.DeleteExitedEvent(id), nil},
			{func() error { _, err := s.GetExitedEvent(id); return err }(), ErrKeyNotExist},
			{func() error { _, err := s.Stats(); return err }(), nil},
			{s.DeleteTracingTask(pid), ErrKeyNotExist},
		}
		for j, st := range steps {
			if (st.want == nil && st.err != nil) || (st.want != nil && !errors.Is(st.err, st.want)) {
				return fmt.Errorf("worker %d op %d step %d: got %v, want %v", worker, i, j, st.err, st.want)
			}
		}
		i += len(steps)
	}
	return nil
}

// TestConcurrentStore: 16 goroutines × 10,000 mixed operations on one Store
// (run under -race by make test); fds and memory stay flat.
func TestConcurrentStore(t *testing.T) {
	const workers, ops = 16, 10_000
	s := openPrivate(t, Options{})
	procs := make([]*proc, workers)
	for i := range procs {
		procs[i] = startScenario(t, "kill-me")
	}
	round := func() {
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[w] = mixedOps(s, w, procs[w].pid, ops)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}

	round() // warm up
	fds, mem := countFds(t), heap()
	round()
	assert.Equal(t, fds, countFds(t), "open fds")
	assert.InDelta(t, float64(mem), float64(heap()), 1<<20, "heap bytes")
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Zero(t, st.Exits, "no traced process exited")
}
