package exitsnoop

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTraceRacesReap: Trace of a process that its parent reaps at the same
// moment either fails with ErrNoProcess or its exit is recorded: never a trace
// whose exit nobody records.
func TestTraceRacesReap(t *testing.T) {
	s := openPrivate(t, Options{})
	raceTraceAndReap(t, s, 400, func(id uint64) *ExitStatus { return waitEvent(t, s, id) })
}

// TestWaitRacesReap: Wait for such a trace returns the reaped status, never
// ErrLost, however late the fallback runs: it runs from an RCU callback, which a
// kernel with lazy RCU callbacks (CONFIG_RCU_LAZY, on offloaded CPUs: the matrix
// boots 6.12 and 7.2 with rcu_nocbs=all) delays by up to 10 s.
func TestWaitRacesReap(t *testing.T) {
	s := openPrivate(t, Options{})
	raceTraceAndReap(t, s, 100, func(id uint64) *ExitStatus {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ev, err := s.Wait(ctx, id)
		require.NoError(t, err, "trace %d", id)
		return ev
	})
}

// raceTraceAndReap Traces n processes that their parent reaps at the same
// moment, and gets each traced one's event from recorded. The Traces start
// from before the exit to after the reap (spread over the time an exit and reap
// take on this machine, measured first: emulated guests are a hundred times
// slower), so that both outcomes happen.
func raceTraceAndReap(t *testing.T, s *Store, n uint64, recorded func(id uint64) *ExitStatus) {
	var took []time.Duration
	for range 9 {
		p := startScenario(t, "exit", "5")
		start := time.Now()
		p.finish(t)
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	reap := took[len(took)/2]
	traced, refused := 0, 0
	for i := uint64(1); i <= n; i++ {
		p := startScenario(t, "exit", "5")
		reaped := make(chan error)
		var status int32
		go func() {
			p.in.Close()
			var err error
			status, err = p.reap()
			reaped <- err
		}()
		time.Sleep(reap * time.Duration(i%8) / 6)
		err := s.Trace(p.pid, &TaskInfo{TraceID: i})
		require.NoError(t, <-reaped)
		if err != nil {
			require.ErrorIs(t, err, ErrNoProcess)
			// A refused Trace leaves nothing behind: no count, reference or entry.
			require.Zero(t, refCount(s, p.pid), "trace %d", i)
			_, rerr := s.lookupRef(i)
			require.ErrorIs(t, rerr, ErrKeyNotExist, "trace %d", i)
			_, terr := s.GetTracingTask(p.pid)
			require.ErrorIs(t, terr, ErrKeyNotExist, "trace %d", i)
			refused++
			continue
		}
		traced++
		require.Equal(t, status, recorded(i).ExitCode, "trace %d", i)
		require.NoError(t, s.DeleteExitedEvent(i))
	}
	t.Logf("exit and reap take %v; %d traced and recorded, %d refused", reap, traced, refused)
	require.NotZero(t, traced)
	require.NotZero(t, refused, "no Trace met a reaped process: the race was not run")
}

// waitEvent waits up to 20 s for trace ID id's event: the fallback records from
// an RCU callback after the release, which lazy RCU holds back up to 10 s, so
// after 100 ms it runs the queued callbacks, as Wait does (rcutree.do_rcu_barrier
// where the kernel has it).
func waitEvent(t testing.TB, s *Store, id uint64) *ExitStatus {
	t.Helper()
	start := time.Now()
	barrier := false
	for {
		ev, err := s.GetExitedEvent(id)
		if err == nil {
			return ev
		}
		require.True(t, errors.Is(err, ErrKeyNotExist), "%v", err)
		if time.Since(start) > 20*time.Second {
			t.Fatalf("no event for trace ID %d in 20s", id)
		}
		if !barrier && time.Since(start) > 100*time.Millisecond {
			barrier = true
			os.WriteFile("/sys/module/rcutree/parameters/do_rcu_barrier", []byte("1"), 0)
		}
		time.Sleep(time.Millisecond)
	}
}
