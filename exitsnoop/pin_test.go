package exitsnoop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/bpfsys"
)

func TestEnsureRunningMountsAndIsIdempotent(t *testing.T) {
	root := bpffsRoot(t)
	dir := filepath.Join(root, ".exitsnoop.bpf")
	require.False(t, onBPFFS(root))
	require.NoError(t, EnsureRunning(root))
	require.True(t, onBPFFS(dir), "a bpffs is mounted at %s", dir)
	require.True(t, mounted(dir))
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	link1, err := os.Stat(filepath.Join(dir, linkPin))
	require.NoError(t, err)
	require.NoError(t, EnsureRunning(root), "idempotent")
	link2, err := os.Stat(filepath.Join(dir, linkPin))
	require.NoError(t, err)
	assert.True(t, os.SameFile(link1, link2), "the running tracer is kept")

	s, err := NewStore(root)
	require.NoError(t, err)
	defer s.Close()
	m, err := s.readMeta()
	require.NoError(t, err)
	assert.Equal(t, currentMeta(), m, "the pins record the format and the build")

	require.NoError(t, Uninstall(root))
	assert.False(t, mounted(dir), "Uninstall unmounts the bpffs it mounted")
	require.ErrorIs(t, Uninstall(root), ErrNotInstalled)
}

func TestEnsureRunningOnBPFFSRoot(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, unix.Mount("bpffs", root, "bpf", 0, "mode=0700"))
	t.Cleanup(func() { unix.Unmount(root, 0) })
	require.NoError(t, EnsureRunning(root))
	assert.FileExists(t, filepath.Join(root, "exitsnoop", linkPin))
	s, err := Open(Options{BPFFSRoot: root})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, Uninstall(root))
}

// TestPinsOutliveTheirProcess: one process installs and traces, then dies; the
// child exits; another process reads the event.
func TestPinsOutliveTheirProcess(t *testing.T) {
	root := bpffsRoot(t)
	p := startScenario(t, "exit", "5")
	require.Equal(t, "traced\n", runHelper(t, "trace", root, "77", strconv.Itoa(int(p.pid))))
	require.Equal(t, int32(5<<8), p.finish(t))

	var ev ExitStatus
	require.NoError(t, json.Unmarshal([]byte(runHelper(t, "read", root, "77")), &ev))
	assert.Equal(t, p.pid, ev.Pid)
	assert.Equal(t, int32(5<<8), ev.ExitCode)
}

func TestNewStoreWithoutPins(t *testing.T) {
	_, err := NewStore(t.TempDir())
	require.ErrorIs(t, err, ErrNotInstalled)
	assert.Contains(t, err.Error(), "EnsureRunning")
}

func TestEnsureRunningBadRoots(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	require.ErrorIs(t, EnsureRunning(file), ErrInvalidArgument, "a plain file")
	require.ErrorIs(t, EnsureRunning(filepath.Join(file, "sub")), syscall.ENOTDIR, "not a directory")
	require.ErrorIs(t, EnsureRunning(""), ErrInvalidArgument)

	ro := t.TempDir()
	require.NoError(t, unix.Mount("tmpfs", ro, "tmpfs", unix.MS_RDONLY, ""))
	t.Cleanup(func() { unix.Unmount(ro, 0) })
	require.ErrorIs(t, EnsureRunning(ro), syscall.EROFS, "unwritable")
}

// pinnedMeta rewrites the meta of the pins under root, as another build would have.
func pinnedMeta(t *testing.T, root string, m meta) {
	t.Helper()
	fd, err := bpfsys.ObjGet(filepath.Join(pinDir(root), mapMeta))
	require.NoError(t, err)
	defer unix.Close(fd)
	var key uint32
	require.NoError(t, bpfsys.Update(fd, unsafe.Pointer(&key), unsafe.Pointer(&m), bpfsys.Any))
}

// TestUpgradeKeepsMapsReplacesProgram: pins of another build of the same format
// keep their events and tracing entries, and get this build's program.
func TestUpgradeKeepsMapsReplacesProgram(t *testing.T) {
	root := bpffsRoot(t)
	s, err := Open(Options{BPFFSRoot: root})
	require.NoError(t, err)
	defer s.Close()
	p := startScenario(t, "exit", "9")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 2}))
	require.NoError(t, s.ExitedEventFromWaitStatus(1, 1, 3<<8))

	old := currentMeta()
	old.BuildID = [24]byte{1, 2, 3}
	pinnedMeta(t, root, old)
	link1, err := os.Stat(filepath.Join(pinDir(root), linkPin))
	require.NoError(t, err)

	require.NoError(t, EnsureRunning(root))
	link2, err := os.Stat(filepath.Join(pinDir(root), linkPin))
	require.NoError(t, err)
	assert.False(t, os.SameFile(link1, link2), "the program is replaced")
	m, err := s.readMeta()
	require.NoError(t, err)
	assert.Equal(t, buildID, m.BuildID)

	ev, err := s.GetExitedEvent(1)
	require.NoError(t, err, "unread events survive")
	assert.Equal(t, int32(3<<8), ev.ExitCode)
	require.Equal(t, int32(9<<8), p.finish(t))
	ev, err = s.GetExitedEvent(2)
	require.NoError(t, err, "tracing entries survive and the new program records them")
	assert.Equal(t, int32(9<<8), ev.ExitCode)
}

// TestIncompatiblePins: pins of another format are refused while they hold
// unread events, and replaced once they are empty.
func TestIncompatiblePins(t *testing.T) {
	root := bpffsRoot(t)
	s, err := Open(Options{BPFFSRoot: root})
	require.NoError(t, err)
	require.NoError(t, s.ExitedEventFromWaitStatus(1, 1, 0))
	require.NoError(t, s.Close())
	old := currentMeta()
	old.FormatVersion = 1
	pinnedMeta(t, root, old)

	err = EnsureRunning(root)
	require.ErrorIs(t, err, ErrIncompatible)
	assert.Contains(t, err.Error(), "Uninstall")
	_, err = NewStore(root)
	require.ErrorIs(t, err, ErrIncompatible)

	fd, err := bpfsys.ObjGet(filepath.Join(pinDir(root), mapEvents))
	require.NoError(t, err, "the unread event is still pinned")
	key := uint64(1)
	require.NoError(t, bpfsys.Delete(fd, unsafe.Pointer(&key)))
	unix.Close(fd)

	require.NoError(t, EnsureRunning(root), "empty pins of another format are replaced")
	s, err = NewStore(root)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}
