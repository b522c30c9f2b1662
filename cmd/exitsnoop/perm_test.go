package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// asUser runs the CLI as uid 65534 with only the capabilities the README names
// for a private tracer, CAP_BPF and CAP_PERFMON (ambient, nothing else in the
// bounding set). It returns stderr and the exit code.
func asUser(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return withCaps(t, "bpf,perfmon", args...)
}

// withCaps runs the CLI as uid 65534 with only the capabilities caps names
// ("bpf,perfmon"). It returns stderr and the exit code. Kernels before 5.11 charge
// BPF memory to RLIMIT_MEMLOCK, which the README says to raise for them: the test
// raises it where it can (the VMs' root can; 5.11+ ignores it).
func withCaps(t *testing.T, caps string, args ...string) (string, int) {
	t.Helper()
	plus := "+" + strings.ReplaceAll(caps, ",", ",+")
	dir, err := os.MkdirTemp("", "exitsnoop-user-") // t.TempDir's parent is 0700
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	b, err := os.ReadFile(bin)
	require.NoError(t, err)
	userBin := filepath.Join(dir, "exitsnoop")
	require.NoError(t, os.WriteFile(userBin, b, 0o755))
	unlimited := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unlimited) // inherited by the child
	cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=-all," + plus, "--ambient-caps=" + plus,
		"--bounding-set=-all," + plus, "--", userBin}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		require.NoError(t, err)
	}
	return stderr.String(), cmd.ProcessState.ExitCode()
}

// TestPermissions: a private tracer needs only CAP_BPF and CAP_PERFMON; a pinned
// one also needs what the message names, for installing and for opening the pins.
func TestPermissions(t *testing.T) {
	stderr, code := asUser(t, "run", "--", "sh", "-c", "exit 3")
	require.Equal(t, 3, code, "a private tracer works with CAP_BPF+CAP_PERFMON: %s", stderr)
	stderr, code = withCaps(t, "bpf", "run", "--", "true")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "(needs root, or CAP_BPF and CAP_PERFMON)", "tracing programs need CAP_PERFMON")
	assert.Equal(t, 1, strings.Count(stderr, "need"), "one hint: %s", stderr)

	root, err := os.MkdirTemp("", "exitsnoop-root-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(root) })
	require.NoError(t, os.Chmod(root, 0o755))
	stderr, code = asUser(t, "run", "--pinned", "--bpffs", root, "--", "true")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "CAP_SYS_ADMIN", "installing needs a mount")
	assert.Equal(t, 1, strings.Count(stderr, "need"), "one hint: %s", stderr)

	_, _, code = cli(t, "install", "--bpffs", root)
	require.Zero(t, code)
	t.Cleanup(func() { cli(t, "uninstall", "--bpffs", root) })
	stderr, code = asUser(t, "run", "--pinned", "--bpffs", root, "--", "true")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "CAP_DAC_OVERRIDE", "the pins are root's, mode 0700")
	assert.Equal(t, 1, strings.Count(stderr, "need"), "one hint: %s", stderr)
}
