package main

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bin is the exitsnoop binary under test, built fully static as `make static` does;
// `make vmtest` builds it beside the test binary, to spare the VMs a Go build.
var bin string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "exitsnoop CLI tests load BPF programs: run them as root (sudo make test)")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "exitsnoop-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(filepath.Dir(os.Args[0]), "exitsnoop")
	if _, err := os.Stat(bin); err != nil {
		bin = filepath.Join(dir, "exitsnoop")
		build := exec.Command("go", "build", "-tags", "netgo,osusergo",
			"-ldflags", "-linkmode external -extldflags -static", "-o", bin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building exitsnoop: %v\n%s", err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs the binary and returns stdout, stderr and the exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		require.NoError(t, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func TestStaticBinary(t *testing.T) {
	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary has no interpreter")
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	assert.Empty(t, libs, "no shared libraries")
	out, err := exec.Command("file", bin).Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), "statically linked")
}

func TestRunExitCode(t *testing.T) {
	stdout, stderr, code := cli(t, "run", "--", "sh", "-c", "echo out; exit 3")
	require.Equal(t, 3, code, stderr)
	assert.Contains(t, stdout, "out\n")
	assert.Regexp(t, `trace \d+: pid \d+ exited 3 at [0-9:.]+ \(started [0-9:.]+, ran [0-9.]+m?s\)`, stdout)
}

func TestRunSignalJSON(t *testing.T) {
	stdout, stderr, code := cli(t, "run", "--json", "--id", "42", "--", "sh", "-c", "kill -KILL $$")
	require.Equal(t, 128+9, code, stderr)
	var ev eventJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &ev), stdout)
	assert.Equal(t, uint64(42), ev.TraceID)
	assert.Equal(t, int32(9), ev.WaitStatus)
	assert.Equal(t, "killed by SIGKILL", ev.Status)
	assert.Equal(t, "SIGKILL", ev.Signal)
	assert.Nil(t, ev.ExitCode)
	assert.NotEmpty(t, ev.StartTime)
	assert.NotEmpty(t, ev.ExitTime)
}

func TestRunImmediateExit(t *testing.T) {
	// `true` exits at once: the gate makes sure it was traced before it ran.
	stdout, stderr, code := cli(t, "run", "--", "true")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "exited 0")
}

func TestRunErrors(t *testing.T) {
	_, stderr, code := cli(t, "run", "--", "/nonexistent/cmd")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "/nonexistent/cmd")
	_, stderr, code = cli(t, "run")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no command given")
	stdout, _, code := cli(t, "run", "--json", "--", "/nonexistent/cmd")
	assert.Equal(t, 1, code)
	var e map[string]string
	require.NoError(t, json.Unmarshal([]byte(stdout), &e), "JSON errors in JSON mode")
	assert.Contains(t, e["error"], "/nonexistent/cmd")
	_, _, code = cli(t, "nosuchcommand")
	assert.Equal(t, 2, code)
}

func TestInstallStatusUninstall(t *testing.T) {
	root := t.TempDir()
	stdout, _, code := cli(t, "status", "--bpffs", root)
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "not installed")

	_, stderr, code := cli(t, "install", "--bpffs", root, "--capacity", "4096")
	require.Equal(t, 0, code, stderr)
	t.Cleanup(func() { cli(t, "uninstall", "--bpffs", root) })

	_, stderr, code = cli(t, "run", "--pinned", "--bpffs", root, "--", "sh", "-c", "exit 4")
	require.Equal(t, 4, code, stderr)

	stdout, stderr, code = cli(t, "status", "--json", "--bpffs", root)
	require.Equal(t, 0, code, stderr)
	var st statusJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &st))
	assert.True(t, st.Installed)
	assert.Equal(t, uint32(4096), st.TracingTasks)
	assert.Equal(t, uint64(1), st.Stats.Recorded)

	_, stderr, code = cli(t, "uninstall", "--bpffs", root)
	require.Equal(t, 0, code, stderr)
	_, stderr, code = cli(t, "uninstall", "--bpffs", root)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "exitsnoop install")
}

func TestHelp(t *testing.T) {
	_, stderr, code := cli(t, "--help")
	assert.Equal(t, 0, code)
	for _, c := range []string{"install", "uninstall", "status", "run"} {
		assert.Contains(t, stderr, c)
	}
	assert.NotContains(t, stderr, "_gate")
	_, stderr, code = cli(t, "run", "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stderr, "-json")
}
