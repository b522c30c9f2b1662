package exitsnoop

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Burst sizes: rounds of burstSize traced children released at once, in each mode.
const (
	burstSize   = 500
	burstRounds = 2
)

// burstModes are the children of a round, by index: a third are SIGKILLed, the
// others exit with a code, some from a thread after the leader (multi-threaded).
func burstMode(i int) []string {
	switch i % 6 {
	case 1:
		return []string{"leader-pthread-exit"} // the leader exits first, a thread exit(7)s
	case 3, 5: // 5: SIGKILLed, a multi-threaded process
		return []string{"nonleader-exit-group", strconv.Itoa(i % 200)}
	default:
		return []string{"exit", strconv.Itoa(i % 256)}
	}
}

// TestBurst: every exit of bursts of traced children, released at once by closing
// the pipe they read, is recorded once with its waitpid status, with and without
// a listener. This is the test for kernels that skip programs preempted on a CPU
// (7.x): run it in the VMs.
func TestBurst(t *testing.T) {
	for _, listen := range []bool{false, true} {
		t.Run(fmt.Sprintf("listener=%v", listen), func(t *testing.T) {
			s := openPrivate(t, Options{})
			var sub *Subscription
			if listen {
				var err error
				sub, err = s.Subscribe(burstSize)
				require.NoError(t, err)
				defer sub.Close()
			}
			for round := 0; round < burstRounds; round++ {
				burstRound(t, s, sub, uint64(round*burstSize))
			}
			st, err := s.Stats()
			require.NoError(t, err)
			t.Logf("stats after %d exits: %+v", burstRounds*burstSize, st)
			n := uint64(burstRounds * burstSize)
			st.NotifyLost = 0 // without a reader the ring buffer fills
			assert.Equal(t, Stats{Exits: n, Recorded: n}, counted(st))
		})
	}
}

func burstRound(t *testing.T, s *Store, sub *Subscription, firstID uint64) {
	gateR, gateW, err := os.Pipe()
	require.NoError(t, err)
	readyR, readyW, err := os.Pipe()
	require.NoError(t, err)
	cmds := make([]*exec.Cmd, burstSize)
	for i := range cmds {
		cmd := exec.Command(scenarioBin, burstMode(i)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = gateR, readyW, os.Stderr
		require.NoError(t, cmd.Start())
		cmds[i] = cmd
		require.NoError(t, s.Trace(uint32(cmd.Process.Pid), &TaskInfo{TraceID: firstID + uint64(i)}))
	}
	gateR.Close()
	readyW.Close()
	t.Cleanup(func() {
		for _, c := range cmds {
			if c.ProcessState == nil {
				c.Process.Kill()
				c.Wait()
			}
		}
	})
	sc := bufio.NewScanner(readyR)
	for n := 0; n < burstSize; n++ {
		require.True(t, sc.Scan(), "child %d of %d ready", n, burstSize)
		require.Equal(t, "ready", sc.Text())
	}
	readyR.Close()

	for i, c := range cmds { // a third die by SIGKILL, the rest when the pipe closes
		if i%3 == 2 {
			require.NoError(t, c.Process.Signal(syscall.SIGKILL))
		}
	}
	gateW.Close()
	want := make([]int32, burstSize)
	for i, c := range cmds {
		c.Wait()
		want[i] = int32(c.ProcessState.Sys().(syscall.WaitStatus))
	}

	// An exit the fallback records appears after the reap (an RCU grace period):
	// Wait for each, bounded.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var missing, wrong []string
	for i := range cmds {
		id := firstID + uint64(i)
		ev, err := s.Wait(ctx, id)
		switch {
		case err != nil:
			missing = append(missing, fmt.Sprintf("%d (%v)", id, burstMode(i)))
		case ev.ExitCode != want[i] || ev.Pid != uint32(cmds[i].Process.Pid):
			wrong = append(wrong, fmt.Sprintf("%d: pid %d status %#x, waitpid %#x", id, ev.Pid, ev.ExitCode, want[i]))
		}
	}
	assert.Empty(t, missing, "exits not recorded")
	assert.Empty(t, wrong, "exits recorded wrong")
	if sub != nil {
		seen := map[uint64]bool{}
		deadline := time.After(20 * time.Second)
		for len(seen) < burstSize {
			select {
			case ev := <-sub.C:
				require.False(t, seen[ev.TraceID], "trace ID %d notified twice", ev.TraceID)
				seen[ev.TraceID] = true
			case <-deadline:
				t.Fatalf("%d of %d notifications (lost %d)", len(seen), burstSize, sub.Lost())
			}
		}
	}
	for i := range cmds {
		require.NoError(t, s.DeleteExitedEvent(firstID+uint64(i)))
	}
}
