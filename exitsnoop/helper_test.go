package exitsnoop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The test binary re-runs itself as a separate process (a supervisor that dies,
// a reader that starts later) when helperEnv names an action.
const helperEnv = "EXITSNOOP_TEST_HELPER"

// runHelper runs the test binary as a helper process and returns its stdout.
func runHelper(t testing.TB, action string, args ...string) string {
	t.Helper()
	cmd := helperCmd(action, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err, "helper %s %v", action, args)
	return string(out)
}

func helperCmd(action string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+action)
	return cmd
}

// helperMain is the helper process: it reports errors on stderr and exit code 1.
func helperMain() int {
	if err := helperRun(os.Getenv(helperEnv), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

func helperRun(action string, args []string) error {
	root := args[0]
	switch action {
	case "trace": // ROOT ID PID...: install, trace each pid under ID, ID+1, …
		if err := EnsureRunning(root); err != nil {
			return err
		}
		s, err := NewStore(root)
		if err != nil {
			return err
		}
		id, _ := strconv.ParseUint(args[1], 10, 64)
		for i, a := range args[2:] {
			pid, _ := strconv.ParseUint(a, 10, 32)
			if err := s.Trace(uint32(pid), &TaskInfo{TraceID: id + uint64(i)}); err != nil {
				return err
			}
		}
		fmt.Println("traced")
		return nil // exits without Close: the pins must not depend on it
	case "read": // ROOT ID [N]: print the events of ID … ID+N-1 as JSON lines (waits 10 s at most:
		// the fallback records an exit its program missed shortly after the reap)
		s, err := NewStore(root)
		if err != nil {
			return err
		}
		defer s.Close()
		id, _ := strconv.ParseUint(args[1], 10, 64)
		n := uint64(1)
		if len(args) > 2 {
			n, _ = strconv.ParseUint(args[2], 10, 64)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i := id; i < id+n; i++ {
			ev, err := s.Wait(ctx, i)
			if err != nil {
				st, _ := s.Stats()
				return fmt.Errorf("%w (stats %+v)", err, st)
			}
			if err := json.NewEncoder(os.Stdout).Encode(ev); err != nil {
				return err
			}
		}
		return nil
	case "ensure", "open", "uninstall": // ROOT: after stdin closes; prints the outcome (see race)
		io.Copy(io.Discard, os.Stdin)
		fmt.Println(outcome(action, root))
		return nil
	case "wait": // ROOT ID TIMEOUT: print what Wait returns within TIMEOUT
		s, err := NewStore(root)
		if err != nil {
			return err
		}
		defer s.Close()
		id, _ := strconv.ParseUint(args[1], 10, 64)
		d, _ := time.ParseDuration(args[2])
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		ev, err := s.Wait(ctx, id)
		if err != nil {
			fmt.Println(err)
		} else {
			fmt.Println(ev)
		}
		return nil
	case "open-private": // -: see TestQuietByDefault
		return openPrivateOnce()
	case "trace-exit": // -: see runTraceExit
		return traceExit()
	case "supervise": // ROOT ID N: start N children reading fd 3, trace them, print "traced", wait
		return supervise(root, args[1], args[2])
	}
	return fmt.Errorf("unknown helper action %q", action)
}
