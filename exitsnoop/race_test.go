package exitsnoop

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTraceRacesReap: Trace of a process that its parent reaps at the same
// moment either fails with ErrNoProcess or its exit is recorded: never a trace
// whose exit nobody records. The Traces start from before the exit to after the
// reap (spread over the time an exit and reap take on this machine, measured
// first: emulated guests are a hundred times slower), so that both outcomes happen.
func TestTraceRacesReap(t *testing.T) {
	s := openPrivate(t, Options{})
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
	for i := uint64(1); i <= 400; i++ {
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
		require.Equal(t, status, waitEvent(t, s, i).ExitCode, "trace %d", i)
		require.NoError(t, s.DeleteExitedEvent(i))
	}
	t.Logf("exit and reap take %v; %d traced and recorded, %d refused", reap, traced, refused)
	require.NotZero(t, traced)
	require.NotZero(t, refused, "no Trace met a reaped process: the race was not run")
}

// waitEvent waits up to 5 s for trace ID id's event (the fallback records from
// an RCU callback after the release).
func waitEvent(t testing.TB, s *Store, id uint64) *ExitStatus {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		ev, err := s.GetExitedEvent(id)
		if err == nil {
			return ev
		}
		require.True(t, errors.Is(err, ErrKeyNotExist), "%v", err)
		if time.Now().After(deadline) {
			t.Fatalf("no event for trace ID %d in 5s", id)
		}
		time.Sleep(time.Millisecond)
	}
}
