package exitsnoop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// supervise is the helper process of TestSupervisorKilled: it starts n children
// that wait on the pipe at fd 3, traces them, says "traced" and waits to be killed.
func supervise(root, firstID, count string) error {
	id, _ := strconv.ParseUint(firstID, 10, 64)
	n, _ := strconv.Atoi(count)
	if err := EnsureRunning(root); err != nil {
		return err
	}
	s, err := NewStore(root)
	if err != nil {
		return err
	}
	gate := os.NewFile(3, "gate")
	for i := 0; i < n; i++ {
		cmd := exec.Command(os.Getenv("SCENARIO_BIN"), "exit", strconv.Itoa(i%256))
		cmd.Stdin = gate
		if err := cmd.Start(); err != nil {
			return err
		}
		if err := s.Trace(uint32(cmd.Process.Pid), &TaskInfo{TraceID: id + uint64(i)}); err != nil {
			return err
		}
		fmt.Println(cmd.Process.Pid)
	}
	fmt.Println("traced")
	select {} // until SIGKILL
}

// TestSupervisorKilled: the supervisor that traced 1,000 children is SIGKILLed
// while they exit; a new process reads every event, with exact statuses.
func TestSupervisorKilled(t *testing.T) {
	const n = 1000
	root := bpffsRoot(t)
	// Orphans come to this process, so that it can compare the events with waitpid.
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

	gateR, gateW, err := os.Pipe()
	require.NoError(t, err)
	sup := helperCmd("supervise", root, "5000", strconv.Itoa(n))
	sup.Env = append(sup.Env, "SCENARIO_BIN="+scenarioBin)
	sup.ExtraFiles = []*os.File{gateR}
	sup.Stderr = os.Stderr
	out, err := sup.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, sup.Start())
	gateR.Close()

	pids := map[int]int{} // pid → index
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "traced" {
		pid, err := strconv.Atoi(sc.Text())
		require.NoError(t, err)
		pids[pid] = len(pids)
	}
	require.Len(t, pids, n, "the supervisor traced every child")

	gateW.Close()                          // every child exits now…
	require.NoError(t, sup.Process.Kill()) // …while its supervisor dies
	sup.Wait()

	statuses := map[int]int32{}
	for len(statuses) < n {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		require.NoError(t, err)
		if _, ok := pids[pid]; ok {
			statuses[pid] = int32(ws)
		}
	}

	lines := strings.Split(strings.TrimSpace(runHelper(t, "read", root, "5000", strconv.Itoa(n))), "\n")
	require.Len(t, lines, n)
	for i, line := range lines {
		var ev ExitStatus
		require.NoError(t, json.Unmarshal([]byte(line), &ev))
		idx, ok := pids[int(ev.Pid)]
		require.True(t, ok, "event %d is of a traced child", i)
		require.Equal(t, i, idx, "event %d is of the child traced under its ID", i)
		require.Equal(t, statuses[int(ev.Pid)], ev.ExitCode, "event %d has the waitpid status", i)
		require.Equal(t, int32(i%256)<<8, ev.ExitCode)
	}
	s, err := NewStore(root)
	require.NoError(t, err)
	defer s.Close()
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, Stats{Exits: n, Recorded: n}, counted(st))
}
