package exitsnoop

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// raceModes are the ways a process ends that a Trace can race: its one
// thread exits; its leader exited first and the last worker exits; all its
// threads exit at once; a worker ends the group (the leader is not the last).
var raceModes = [][]string{{"exit", "5"}, {"leader-pthread-exit"}, {"threads-exit-at-once", "8", "6"}, {"nonleader-exit-group", "6"}}

// TestTraceRacesReap: Trace of a process that its parent reaps at the same
// moment either fails with ErrNoProcess or its exit is recorded by the exit
// program: the fallback is off (it is not always there: see trace.c), so an
// event missing once the parent has reaped is a trace nobody records, unless
// the kernel counted a skipped run (Stats.Missed).
func TestTraceRacesReap(t *testing.T) {
	for _, mode := range raceModes {
		t.Run(mode[0], func(t *testing.T) {
			s := openPrivate(t, Options{testSkipFree: ^uint32(0)})
			raceTraceAndReap(t, s, mode, 150, func(id uint64, missed uint64) *ExitStatus {
				ev, err := s.GetExitedEvent(id)
				if errors.Is(err, ErrKeyNotExist) {
					st, serr := s.Stats()
					require.NoError(t, serr)
					require.Greater(t, st.Missed, missed, "trace %d: no event after the reap, and no skipped run counted", id)
					t.Logf("trace %d: the kernel skipped the exit program (Stats.Missed)", id)
					return nil
				}
				require.NoError(t, err, "trace %d", id)
				return ev
			})
		})
	}
}

// TestWaitRacesReap: Wait for such a trace, with the fallback on, returns the
// reaped status, never ErrLost.
func TestWaitRacesReap(t *testing.T) {
	s := openPrivate(t, Options{})
	raceTraceAndReap(t, s, raceModes[0], 100, func(id uint64, _ uint64) *ExitStatus {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ev, err := s.Wait(ctx, id)
		require.NoError(t, err, "trace %d", id)
		return ev
	})
}

// raceTraceAndReap Traces n processes of scenario mode that their parent reaps
// at the same moment, and gets each traced one's event from recorded (given
// Stats.Missed before the race; nil: the kernel skipped it). The Traces start
// from before the exit to after the reap (spread over the time an exit and reap
// take on this machine, measured first: emulated guests are a hundred times
// slower), so that both outcomes happen.
func raceTraceAndReap(t *testing.T, s *Store, mode []string, n uint64, recorded func(id, missed uint64) *ExitStatus) {
	var took []time.Duration
	for range 9 {
		p := startScenario(t, mode...)
		start := time.Now()
		p.finish(t)
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	reap := took[len(took)/2]
	traced, refused, skipped := 0, 0, 0
	for i := uint64(1); i <= n; i++ {
		p := startScenario(t, mode...)
		before, err := s.Stats()
		require.NoError(t, err)
		reaped := make(chan error)
		var status int32
		go func() {
			p.in.Close()
			var err error
			status, err = p.reap()
			reaped <- err
		}()
		time.Sleep(reap * time.Duration(i%8) / 6)
		err = s.Trace(p.pid, &TaskInfo{TraceID: i})
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
		ev := recorded(i, before.Missed)
		if ev == nil {
			skipped++
			continue
		}
		traced++
		require.Equal(t, status, ev.ExitCode, "trace %d", i)
		require.NoError(t, s.DeleteExitedEvent(i))
	}
	t.Logf("exit and reap take %v; %d traced and recorded, %d refused, %d skipped by the kernel", reap, traced, refused, skipped)
	require.NotZero(t, traced)
	require.NotZero(t, refused, "no Trace met a reaped process: the race was not run")
}
