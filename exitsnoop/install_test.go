package exitsnoop

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/bpfsys"
)

// testCapacity is the tracing-tasks capacity of the tracers these tests install:
// no other test uses it, so attachedPrograms finds theirs alone.
const testCapacity = 54321

// testOpts are the options of the tracers these tests install under root.
func testOpts(root string) Options {
	return Options{BPFFSRoot: root, MaxTracingTasks: testCapacity}.withDefaults()
}

// outcome runs EnsureRunning, Open or Uninstall on root and says how it ended:
// "ok" with the tracing-tasks map's ID, or the sentinel the error wraps.
func outcome(action, root string) string {
	var s *Store
	var err error
	switch action {
	case "ensure": // EnsureRunning with testOpts
		if err = ensure(testOpts(root)); err == nil {
			s, err = NewStore(root)
		}
	case "open":
		s, err = Open(testOpts(root))
	case "uninstall":
		err = Uninstall(root)
	}
	for _, sentinel := range []error{ErrNotInstalled, ErrNotRunning} {
		if errors.Is(err, sentinel) {
			return sentinel.Error()
		}
	}
	if err != nil {
		return "error: " + err.Error()
	}
	if s == nil {
		return "ok"
	}
	defer s.Close()
	info, err := bpfsys.GetMapInfo(s.tasks)
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("ok %d", info.ID)
}

// race runs each action in its own process, all released at once, and returns
// their outcomes in order.
func race(t *testing.T, root string, actions ...string) []string {
	t.Helper()
	cmds := make([]*exec.Cmd, len(actions))
	gates := make([]io.Closer, len(actions))
	outs := make([]strings.Builder, len(actions))
	for i, a := range actions {
		cmds[i] = helperCmd(a, root)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], os.Stderr
		w, err := cmds[i].StdinPipe()
		require.NoError(t, err)
		gates[i] = w
		require.NoError(t, cmds[i].Start())
	}
	for _, g := range gates {
		g.Close()
	}
	res := make([]string, len(actions))
	for i, c := range cmds {
		require.NoError(t, c.Wait(), "%s", actions[i])
		res[i] = strings.TrimSpace(outs[i].String())
	}
	return res
}

// bpffsMounts counts the mounts whose mount point is dir.
func bpffsMounts(t *testing.T, dir string) int {
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			n++
		}
	}
	return n
}

// attachedPrograms counts the kernel's links, whoever holds them (its own list:
// BPF_LINK_GET_NEXT_ID), whose program's tracing-tasks map has capacity entries:
// a capacity no other test uses tells this test's running tracers apart.
func attachedPrograms(t *testing.T, capacity uint32) int {
	t.Helper()
	n := 0
	for id := uint32(0); ; {
		attr := [3]uint32{id}
		if _, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_LINK_GET_NEXT_ID, uintptr(unsafe.Pointer(&attr)), 12); e == unix.ENOENT {
			return n
		} else if e != 0 {
			t.Fatalf("BPF_LINK_GET_NEXT_ID: %v", e)
		}
		id = attr[1]
		fd, err := objectFd(unix.BPF_LINK_GET_FD_BY_ID, id)
		if err != nil {
			continue // gone meanwhile
		}
		prog, err := bpfsys.LinkProgID(fd)
		unix.Close(fd)
		if err != nil {
			continue
		}
		for _, m := range progMapIDs(t, prog) {
			fd, err := objectFd(unix.BPF_MAP_GET_FD_BY_ID, m)
			if err != nil {
				continue
			}
			info, err := bpfsys.GetMapInfo(fd)
			unix.Close(fd)
			if err == nil && info.Name == mapTasks && info.MaxEntries == capacity {
				n++
			}
		}
	}
}

// assertAttached checks that want of this test's programs stay attached: the
// kernel releases a link some time after its last fd and pin go (a deferred
// work), so it waits up to 10 s for the count to settle; an orphan never goes.
func assertAttached(t *testing.T, want int, what string) {
	t.Helper()
	n := attachedPrograms(t, testCapacity)
	for deadline := time.Now().Add(10 * time.Second); n != want && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		n = attachedPrograms(t, testCapacity)
	}
	assert.Equal(t, want, n, what)
}

// objectFd opens the BPF object of id with cmd (BPF_*_GET_FD_BY_ID).
func objectFd(cmd uintptr, id uint32) (int, error) {
	attr := [3]uint32{id}
	fd, _, e := unix.Syscall(unix.SYS_BPF, cmd, uintptr(unsafe.Pointer(&attr)), 12)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// progMapIDs lists the IDs of the maps that program id uses (none once it is gone).
func progMapIDs(t *testing.T, id uint32) []uint32 {
	fd, err := objectFd(unix.BPF_PROG_GET_FD_BY_ID, id)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var maps [16]uint32
	var info [64]byte // struct bpf_prog_info up to map_ids
	*(*uint32)(unsafe.Pointer(&info[52])) = uint32(len(maps))
	*(*uint64)(unsafe.Pointer(&info[56])) = uint64(uintptr(unsafe.Pointer(&maps)))
	req := struct {
		fd, len uint32
		info    uint64
	}{uint32(fd), uint32(len(info)), uint64(uintptr(unsafe.Pointer(&info)))}
	_, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_OBJ_GET_INFO_BY_FD, uintptr(unsafe.Pointer(&req)), unsafe.Sizeof(req))
	require.Zero(t, e, "BPF_OBJ_GET_INFO_BY_FD")
	return maps[:min(*(*uint32)(unsafe.Pointer(&info[52])), uint32(len(maps)))]
}

// installed checks that root has exactly one tracer, pinned whole and running.
func installed(t *testing.T, root string) {
	t.Helper()
	dir := pinDir(root)
	assert.Equal(t, 1, bpffsMounts(t, dir), "one bpffs on %s", dir)
	require.NoError(t, running(dir, true))
	m, err := readPinnedMeta(dir)
	require.NoError(t, err)
	assert.Equal(t, currentMeta(), m)
}

// TestEnsureRunningRace: processes racing EnsureRunning on a fresh root make one
// mount and one tracer, and every Store sees the same maps.
func TestEnsureRunningRace(t *testing.T) {
	const base = 0
	assertAttached(t, base, "no tracer of an earlier test")
	for round := 0; round < 5; round++ {
		root := bpffsRoot(t)
		res := race(t, root, "ensure", "ensure", "ensure", "ensure", "ensure", "ensure", "ensure", "ensure")
		for _, r := range res {
			require.True(t, strings.HasPrefix(r, "ok "), "%v", res)
			require.Equal(t, res[0], r, "every Store sees the same maps")
		}
		installed(t, root)
		assertAttached(t, base+len(progNames), "one tracer's programs")
		require.NoError(t, Uninstall(root))
		assert.Zero(t, bpffsMounts(t, pinDir(root)))
		assertAttached(t, base, "no orphan program")
	}
}

// TestUninstallRace: Uninstall racing EnsureRunning and Open ends in a defined
// state: installed whole, or not at all, with typed errors and no orphan.
func TestUninstallRace(t *testing.T) {
	const base = 0
	assertAttached(t, base, "no tracer of an earlier test")
	for round := 0; round < 5; round++ {
		root := bpffsRoot(t)
		if round%2 == 1 {
			require.NoError(t, ensure(testOpts(root)))
		}
		actions := []string{"ensure", "uninstall", "open", "uninstall", "ensure", "open"}
		res := race(t, root, actions...)
		for i, r := range res {
			ok := strings.HasPrefix(r, "ok") || r == ErrNotInstalled.Error() ||
				(r == ErrNotRunning.Error() && actions[i] != "uninstall")
			require.True(t, ok, "outcomes %v of %v", res, actions)
		}
		dir := pinDir(root)
		if hasPins(dir) {
			installed(t, root)
			assertAttached(t, base+len(progNames), "")
			require.NoError(t, Uninstall(root))
		}
		assert.Zero(t, bpffsMounts(t, dir), "no stacked or leftover mount")
		assertAttached(t, base, "no orphan program")
	}
}

// TestNewStoreRefusesPinsWithoutLink: pins whose link is gone record nothing;
// NewStore says so, and EnsureRunning repairs them, keeping their events.
func TestNewStoreRefusesPinsWithoutLink(t *testing.T) {
	root := bpffsRoot(t)
	s, err := Open(testOpts(root))
	require.NoError(t, err)
	require.NoError(t, s.ExitedEventFromWaitStatus(1, 1, 3<<8))
	require.NoError(t, s.Close())
	for _, name := range linkPins {
		require.NoError(t, os.Remove(filepath.Join(pinDir(root), name)))
		_, err = NewStore(root)
		require.ErrorIs(t, err, ErrNotRunning)
		assert.Contains(t, err.Error(), "EnsureRunning repairs")
		require.NoError(t, ensure(testOpts(root)))
		installed(t, root)
	}
	s, err = NewStore(root)
	require.NoError(t, err)
	defer s.Close()
	ev, err := s.GetExitedEvent(1)
	require.NoError(t, err, "the repair keeps the maps")
	assert.Equal(t, int32(3<<8), ev.ExitCode)
}

// TestNewerFormatRefused: this build finding pins of a newer format that hold
// events refuses them and says what to do.
func TestNewerFormatRefused(t *testing.T) {
	root := bpffsRoot(t)
	s, err := Open(testOpts(root))
	require.NoError(t, err)
	require.NoError(t, s.ExitedEventFromWaitStatus(1, 1, 0))
	require.NoError(t, s.Close())
	newer := currentMeta()
	newer.FormatVersion = formatVersion + 1
	pinnedMeta(t, root, newer)
	err = EnsureRunning(root)
	require.ErrorIs(t, err, ErrIncompatible)
	assert.Contains(t, err.Error(), "newer build")
	_, err = NewStore(root)
	require.ErrorIs(t, err, ErrIncompatible)
}

// TestPossibleCPUsMustMatch: a CPU list that is not the kernel's is an error,
// never a per-CPU buffer of the wrong size.
func TestPossibleCPUsMustMatch(t *testing.T) {
	s, err := Open(Options{})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Stats()
	require.NoError(t, err)

	old := cpuPossible
	t.Cleanup(func() { cpuPossible = old })
	list := "0-" + fmt.Sprint(s.ncpu-2) // one short
	if s.ncpu == 1 {
		list = "0-1" // one too many
	}
	cpuPossible = filepath.Join(t.TempDir(), "possible")
	require.NoError(t, os.WriteFile(cpuPossible, []byte(list+"\n"), 0o600))
	_, err = possibleCPUs(s.stats)
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = Open(Options{})
	require.ErrorIs(t, err, ErrInvalidArgument, "a short list (%s) fails Open", list)

	cpuPossible = filepath.Join(t.TempDir(), "none")
	n, err := possibleCPUs(s.stats)
	require.NoError(t, err, "no /sys: the kernel's own count")
	assert.Equal(t, s.ncpu, n)
}

func TestCountCPUs(t *testing.T) {
	for list, n := range map[string]int{"0": 1, "0-3": 4, "0-3,5": 5, "0,2-3,8-9": 5} {
		got, err := countCPUs(list)
		require.NoError(t, err, list)
		assert.Equal(t, n, got, list)
	}
	for _, bad := range []string{"", "x", "3-1", "-1", "0-99999", "0,,1"} {
		_, err := countCPUs(bad)
		assert.ErrorIs(t, err, ErrInvalidArgument, "%q", bad)
	}
}
