package exitsnoop

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scenarioBin is testdata/scenario.c, built once by TestMain.
var scenarioBin string

// TestMain fails the whole run, loudly, where the tests cannot mean anything:
// not root, or no BPF. Tests are never skipped.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "exitsnoop tests load BPF programs: run them as root (sudo make test)")
		os.Exit(1)
	}
	if err := checkKernel(); err != nil {
		fmt.Fprintf(os.Stderr, "exitsnoop tests need BPF: %v\n", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "exitsnoop-test-")
	if err == nil {
		scenarioBin = filepath.Join(dir, "scenario")
		out, cerr := exec.Command("gcc", "-O1", "-pthread", "-o", scenarioBin, "testdata/scenario.c").CombinedOutput()
		if cerr != nil {
			err = fmt.Errorf("building testdata/scenario.c: %v\n%s", cerr, out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running testdata/scenario process (see the protocol in scenario.c).
type proc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	pid   uint32
}

// startScenario starts scenario with args and waits for its "ready" line.
func startScenario(t testing.TB, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(scenarioBin, args...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "SCENARIO_DIR="+t.TempDir())
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &proc{cmd: cmd, in: in, lines: make(chan string, 4), pid: uint32(cmd.Process.Pid)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	p.expect(t, "ready")
	return p
}

// expect waits for the next line of output to be want.
func (p *proc) expect(t testing.TB, want string) {
	t.Helper()
	select {
	case got := <-p.lines:
		require.Equal(t, want, got, "scenario %v", p.cmd.Args)
	case <-time.After(20 * time.Second):
		t.Fatalf("scenario %v: no %q line in 20s", p.cmd.Args, want)
	}
}

// next lets the scenario go on to its next step.
func (p *proc) next(t testing.TB) {
	t.Helper()
	_, err := p.in.Write([]byte{'\n'})
	require.NoError(t, err)
}

// wait reaps the process and returns its raw wait status.
func (p *proc) wait(t testing.TB) int32 {
	t.Helper()
	status, err := p.reap()
	require.NoError(t, err)
	return status
}

// reap is wait for another goroutine than the test's (require ends only the
// goroutine it runs in): the raw wait status, or why the process was not reaped.
func (p *proc) reap() (int32, error) {
	var exitErr *exec.ExitError
	if err := p.cmd.Wait(); err != nil && !errors.As(err, &exitErr) {
		return 0, err
	}
	return int32(p.cmd.ProcessState.Sys().(syscall.WaitStatus)), nil
}

// finish lets the scenario end and returns its raw wait status.
func (p *proc) finish(t testing.TB) int32 {
	t.Helper()
	p.in.Close()
	return p.wait(t)
}

// openPrivate opens a private tracer for one test.
func openPrivate(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// bpffsRoot returns a fresh directory to install pinned tracers under, and
// removes whatever was installed there after the test.
func bpffsRoot(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	t.Cleanup(func() {
		if err := Uninstall(root); err != nil && !errors.Is(err, ErrNotInstalled) {
			t.Errorf("uninstall %s: %v", root, err)
		}
	})
	return root
}

// countFds counts the test process's open file descriptors.
func countFds(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}

func mounted(path string) bool {
	b, _ := os.ReadFile("/proc/self/mounts")
	return strings.Contains(string(b), " "+path+" ")
}

// readProcStat reads /proc/<pid>/stat once. A missing process is ErrNoProcess.
func readProcStat(pid uint32) (procState, error) {
	f, err := openProcStat(pid)
	if err != nil {
		return procState{}, err
	}
	defer f.close()
	return f.read()
}

// counted drops what Stats counts of the kernel's scheduling from st: Missed
// counts skipped runs for any exit on the machine (7.x skips some), Recovered
// which of the recorded exits the fallback recorded.
func counted(st Stats) Stats {
	st.Missed, st.Recovered = 0, 0
	return st
}
