package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// installed installs a tracer under a fresh root for one test.
func installed(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	_, stderr, code := cli(t, "install", "--bpffs", root)
	require.Equal(t, 0, code, stderr)
	t.Cleanup(func() { cli(t, "uninstall", "--bpffs", root) })
	return root
}

func TestTraceWaitListForgetWatch(t *testing.T) {
	root := installed(t)

	watch := exec.Command(bin, "watch", "--json", "--bpffs", root)
	out, err := watch.StdoutPipe()
	require.NoError(t, err)
	errOut, err := watch.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, watch.Start())
	ready := bufio.NewScanner(errOut)
	require.True(t, ready.Scan())
	require.Contains(t, ready.Text(), "watching exits", "watch says when it listens")
	lines := make(chan string, 4)
	go func() {
		for sc := bufio.NewScanner(out); sc.Scan(); {
			lines <- sc.Text()
		}
	}()

	child := exec.Command("sh", "-c", "read x; exit 6")
	stdin, err := child.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	pid := strconv.Itoa(child.Process.Pid)

	stdout, stderr, code := cli(t, "trace", "--bpffs", root, "--id", "9", pid)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "tracing pid "+pid+" as trace 9\n", stdout)
	_, stderr, code = cli(t, "trace", "--bpffs", root, "--id", "10", pid)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "exists")

	_, _, code = cli(t, "wait", "--bpffs", root, "--timeout", "100ms", "9")
	assert.Equal(t, 1, code, "times out while it runs")

	time.AfterFunc(200*time.Millisecond, func() { stdin.Close() })
	stdout, stderr, code = cli(t, "wait", "--json", "--bpffs", root, "--timeout", "10s", "9")
	require.Equal(t, 0, code, stderr)
	var ev eventJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &ev))
	assert.Equal(t, "exited 6", ev.Status)
	child.Wait()

	select {
	case line := <-lines:
		require.NoError(t, json.Unmarshal([]byte(line), &ev))
	case <-time.After(10 * time.Second):
		t.Fatal("watch printed no exit")
	}
	assert.Equal(t, uint64(9), ev.TraceID)
	assert.Equal(t, int32(6<<8), ev.WaitStatus)
	require.NoError(t, watch.Process.Signal(os.Interrupt))
	require.NoError(t, watch.Wait(), "watch ends cleanly when interrupted")

	stdout, _, code = cli(t, "list", "--json", "--bpffs", root)
	require.Equal(t, 0, code)
	var list []eventJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &list))
	require.Len(t, list, 1)
	assert.Equal(t, uint64(9), list[0].TraceID)

	stdout, _, code = cli(t, "forget", "--bpffs", root, "9")
	require.Equal(t, 0, code)
	assert.Equal(t, "forgot trace 9\n", stdout)
	_, stderr, code = cli(t, "forget", "--bpffs", root, "9")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "does not exist")
	stdout, _, _ = cli(t, "list", "--bpffs", root)
	assert.Equal(t, "no recorded exits\n", stdout)
}

func TestDrain(t *testing.T) {
	root := installed(t)
	for i := 0; i < 3; i++ {
		_, _, code := cli(t, "run", "--pinned", "--bpffs", root, "--id", strconv.Itoa(100+i), "--", "sh", "-c", "exit "+strconv.Itoa(i))
		require.Equal(t, i, code)
	}
	// run deletes what it printed; record three more that stay.
	for i := 0; i < 3; i++ {
		child := exec.Command("sh", "-c", "read x; exit 7")
		stdin, err := child.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, child.Start())
		_, stderr, code := cli(t, "trace", "--bpffs", root, "--id", strconv.Itoa(200+i), strconv.Itoa(child.Process.Pid))
		require.Equal(t, 0, code, stderr)
		stdin.Close()
		child.Wait()
	}
	stdout, _, code := cli(t, "drain", "--json", "--bpffs", root)
	require.Equal(t, 0, code)
	var list []eventJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &list))
	require.Len(t, list, 3)
	for i, ev := range list {
		assert.Equal(t, uint64(200+i), ev.TraceID, "sorted by trace ID")
		assert.Equal(t, "exited 7", ev.Status)
	}
	stdout, _, _ = cli(t, "list", "--json", "--bpffs", root)
	assert.Equal(t, "[]\n", stdout, "drained")
}

func TestCommandErrors(t *testing.T) {
	root := t.TempDir()
	for _, args := range [][]string{
		{"wait", "1"}, {"list"}, {"drain"}, {"forget", "1"}, {"watch"}, {"trace", "--id", "1", "1"},
	} {
		_, stderr, code := cli(t, append([]string{args[0], "--bpffs", root}, args[1:]...)...)
		assert.Equal(t, 1, code, args)
		assert.Contains(t, stderr, "run `exitsnoop install --bpffs "+root+"` first", args)
		assert.NotContains(t, stderr, "EnsureRunning", "one hint, the tool's")
	}
	root = installed(t)
	_, stderr, code := cli(t, "trace", "--bpffs", root, "1")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "usage: exitsnoop trace --id ID PID")
	_, stderr, code = cli(t, "trace", "--bpffs", root, "--id", "1", "999999999")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no such process")
	stdout, _, code := cli(t, "wait", "--json", "--bpffs", root, "notanumber")
	assert.Equal(t, 1, code)
	var e map[string]string
	require.NoError(t, json.Unmarshal([]byte(stdout), &e))
	assert.Contains(t, e["error"], "notanumber")
}
