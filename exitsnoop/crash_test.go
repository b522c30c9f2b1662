package exitsnoop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/bpfsys"
)

// crashed runs action on root in a helper process that kills itself (SIGKILL)
// at step, and checks that it died there: a step that is never reached fails.
func crashed(t *testing.T, root, action, step string) {
	t.Helper()
	cmd := helperCmd(action, root)
	cmd.Env = append(cmd.Env, "EXITSNOOP_TEST_CRASH_AT="+step)
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s did not reach step %s", action, step)
	ws := ee.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "%s killed at %s: %v", action, step, ws)
}

// recordsExit checks that the tracer of s records a traced process's exit.
func recordsExit(t *testing.T, s *Store, id uint64, code int32) {
	t.Helper()
	p := startScenario(t, "exit", "0")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: id}))
	p.cmd.Process.Signal(syscall.SIGTERM)
	status := p.wait(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := s.Wait(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, status, ev.ExitCode)
	assert.Equal(t, code, ev.ExitCode)
}

// installSteps are install's steps, in order (see install and pinPrograms).
func installSteps() []string {
	steps := []string{"mount", "install:loaded"}
	for _, name := range mapNames {
		steps = append(steps, "install:"+name)
	}
	steps = append(steps, "install:"+progPins[0], "install:"+progPins[1])
	return append(steps, "install:"+linkPins[1], "install:"+linkPins[0])
}

// TestInstallCrash kills the installer at each step: the pins it leaves are
// refused by NewStore (ErrNotInstalled, ErrNotRunning) unless the install was
// whole, the next EnsureRunning completes them, and nothing stays loaded.
func TestInstallCrash(t *testing.T) {
	const base = 0
	assertAttached(t, base, "no tracer of an earlier test")
	for _, step := range installSteps() {
		t.Run(step, func(t *testing.T) {
			root := bpffsRoot(t)
			crashed(t, root, "ensure", step)
			pinned := 0
			for _, name := range linkPins {
				if _, err := os.Stat(filepath.Join(pinDir(root), name)); err == nil {
					pinned++
				}
			}
			assertAttached(t, base+pinned, "only pinned links outlive the installer")
			s, err := NewStore(root)
			if step == "install:"+linkPins[0] {
				require.NoError(t, err, "the link is pinned last: the install is whole")
				s.Close()
			} else if !errorIsAny(err, ErrNotInstalled, ErrNotRunning) {
				t.Fatalf("NewStore after a crash at %s: %v", step, err)
			}
			require.NoError(t, ensure(testOpts(root)))
			installed(t, root)
			assertAttached(t, base+len(progNames), "")
			s, err = NewStore(root)
			require.NoError(t, err)
			defer s.Close()
			recordsExit(t, s, 1, int32(syscall.SIGTERM))
			require.NoError(t, Uninstall(root))
			assertAttached(t, base, "")
		})
	}
}

// TestUpgradeCrash kills an upgrade at each step: some program records exits at
// every moment, the pins never name the new build while an old program runs,
// the next EnsureRunning completes the upgrade, and no event is lost.
func TestUpgradeCrash(t *testing.T) {
	const base = 0
	assertAttached(t, base, "no tracer of an earlier test")
	steps := []string{"upgrade:loaded", "upgrade:" + progPins[0], "upgrade:" + progPins[1],
		"upgrade:" + linkPins[1], "upgrade:" + linkPins[0]}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			root := bpffsRoot(t)
			s, err := Open(testOpts(root))
			require.NoError(t, err)
			defer s.Close()
			recordsExit(t, s, 1, int32(syscall.SIGTERM))
			alive := startScenario(t, "exit", "6")
			require.NoError(t, s.Trace(alive.pid, &TaskInfo{TraceID: 2}))

			old := currentMeta()
			old.BuildID = [24]byte{9}
			pinnedMeta(t, root, old)
			oldLinks := linkProgIDs(t, root)
			crashed(t, root, "ensure", step)

			require.NoError(t, running(pinDir(root), false), "a link stays pinned and attached")
			m, err := readPinnedMeta(pinDir(root))
			require.NoError(t, err)
			if m.BuildID == buildID {
				for _, id := range linkProgIDs(t, root) {
					assert.NotContains(t, oldLinks, id, "the pins name the new build while an old program runs")
				}
			}
			assert.Equal(t, old.BuildID, m.BuildID, "the meta names the new build only after the whole upgrade")

			require.Equal(t, int32(6<<8), alive.finish(t))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ev, err := s.Wait(ctx, 2)
			require.NoError(t, err, "an exit during the crashed upgrade is recorded")
			assert.Equal(t, int32(6<<8), ev.ExitCode)

			require.NoError(t, ensure(testOpts(root)))
			installed(t, root)
			assertAttached(t, base+len(progNames), "the old links are gone")
			_, err = s.GetExitedEvent(1)
			require.NoError(t, err, "events recorded before the upgrade survive")
			recordsExit(t, s, 3, int32(syscall.SIGTERM))
		})
	}
	assertAttached(t, base, "")
}

// TestUninstallCrash: an Uninstall killed at any step leaves pins that NewStore
// refuses and that EnsureRunning replaces, or Uninstall removes; a Store kept open
// across the Uninstall refuses to trace into the retired maps.
func TestUninstallCrash(t *testing.T) {
	steps := []string{"uninstall:retired", "unpin:" + linkPins[0], "unpin:" + mapEvents, "unpin:" + mapTrace, "uninstall:unpinned"}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			root := bpffsRoot(t)
			s, err := Open(testOpts(root))
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, s.ExitedEventFromWaitStatus(1, 1, 0))
			crashed(t, root, "uninstall", step)
			_, err = NewStore(root)
			require.True(t, errorIsAny(err, ErrNotInstalled, ErrNotRunning, ErrIncompatible), "NewStore: %v", err)
			p := startScenario(t, "exit", "0")
			require.ErrorIs(t, s.Trace(p.pid, &TaskInfo{TraceID: 2}), ErrNotRunning, "a retired tracer")
			require.NoError(t, ensure(testOpts(root)))
			installed(t, root)
			crashed(t, root, "uninstall", step)
			require.NoError(t, Uninstall(root))
			assert.Zero(t, bpffsMounts(t, pinDir(root)))
			assert.NoDirExists(t, pinDir(root))
			assertAttached(t, 0, "no orphan link")
		})
	}
}

// linkProgIDs reads the IDs of the programs the pinned links attach.
func linkProgIDs(t *testing.T, root string) []uint32 {
	t.Helper()
	var ids []uint32
	for _, name := range linkPins {
		id, err := pinnedID(filepath.Join(pinDir(root), name), bpfsys.LinkProgID)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	return ids
}

func errorIsAny(err error, targets ...error) bool {
	for _, target := range targets {
		if err != nil && errors.Is(err, target) {
			return true
		}
	}
	return false
}

// pinnedID opens the pin at p and reports the program ID that id finds for it.
func pinnedID(p string, id func(int) (uint32, error)) (uint32, error) {
	fd, err := bpfsys.ObjGet(p)
	if err != nil {
		return 0, fmt.Errorf("opening pin %s: %w", p, err)
	}
	defer unix.Close(fd)
	return id(fd)
}
