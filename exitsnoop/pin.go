package exitsnoop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/bpfsys"
)

// formatRetired in the pinned meta marks pins that Uninstall is removing.
const formatRetired = ^uint32(0)

// ErrNotRunning: pins without a running program (an install or upgrade killed
// midway, a removed link pin); EnsureRunning repairs them, keeping their maps.
var ErrNotRunning = errors.New("pinned exitsnoop is not running")

const (
	pinDirName    = ".exitsnoop.bpf" // the seed's: a bpffs mounted below any root
	pinDirOnBPFFS = "exitsnoop"      // below a bpffs root, which refuses names with '.'
	linkPin       = "link"           // the first program's link: while it is pinned, the tracer runs
)

// pinDir is where the tracer of bpffsRoot is pinned.
func pinDir(bpffsRoot string) string {
	if onBPFFS(bpffsRoot) {
		return filepath.Join(bpffsRoot, pinDirOnBPFFS)
	}
	return filepath.Join(bpffsRoot, pinDirName)
}

func onBPFFS(p string) bool {
	var st unix.Statfs_t
	return unix.Statfs(p, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}

// EnsureRunning makes sure that the exitsnoop has been pinned in BPF filesystem.
//
// It pins the program's link and maps in <bpffsRoot>/.exitsnoop.bpf/, mounting a
// bpffs there (mode 0700, nosuid, nodev, noexec) unless it is on one, so that the
// tracer outlives the calling process. When bpffsRoot is itself a bpffs (such as
// /sys/fs/bpf), whose names cannot hold '.', the pins go in <bpffsRoot>/exitsnoop/.
//
// It is idempotent and safe to call from several processes at once, and against
// Uninstall: they serialize on an flock of bpffsRoot, so racing callers make one
// mount and one tracer. A caller killed at any step leaves pins that the next
// EnsureRunning completes: pins without a running program are reinstalled or
// repaired, keeping their maps. Pins made by another build of the same format
// keep their maps, and unread events, while the program is replaced (the pinned
// meta names the new build only once its programs are attached and pinned); pins
// of an incompatible format are replaced when they hold no data, and refused with
// ErrIncompatible otherwise. Open with a BPFFSRoot takes capacity options.
//
// Needs kernel 5.8+, with BTF, and root (mounting; pinning needs CAP_BPF).
func EnsureRunning(bpffsRoot string) error {
	return ensure(Options{BPFFSRoot: bpffsRoot}.withDefaults())
}

func ensure(opts Options) error {
	unlock, err := lockRoot(opts.BPFFSRoot)
	if err != nil {
		return err
	}
	defer unlock()
	dir, err := makePinDir(opts.BPFFSRoot)
	if err != nil {
		return err
	}
	old, err := readPinnedMeta(dir)
	if err != nil && !errors.Is(err, ErrNotInstalled) {
		return err
	}
	ours := err == nil && old.FormatVersion == formatVersion && old.PidBuckets == pidBuckets
	switch {
	case ours && mapsPinned(dir):
		if old.BuildID == buildID && running(dir, true) == nil {
			return nil
		}
		return upgrade(dir, opts)
	case ours || (err == nil && old.FormatVersion == formatRetired):
		// This format's pins without all their maps, or an Uninstall killed midway:
		// what is left goes, data and all, as its Uninstall meant.
		if err := removePins(dir); err != nil {
			return err
		}
	case err == nil || hasPins(dir):
		// Another format (the seed's pins have no meta), or an install killed before
		// it pinned every map: replace it only if it holds no data.
		if err := removeIfEmpty(dir, old); err != nil {
			return err
		}
	}
	return install(dir, opts)
}

// crashAt names the install or upgrade step at which the process kills itself:
// the crash tests' hook (EXITSNOOP_TEST_CRASH_AT), empty otherwise.
var crashAt = os.Getenv("EXITSNOOP_TEST_CRASH_AT")

// step marks a step of install, upgrade or uninstall for the crash tests.
func step(name string) {
	if crashAt == name {
		unix.Kill(unix.Getpid(), unix.SIGKILL)
		select {} // the signal is on its way
	}
}

// lockRoot creates root if needed and takes an exclusive flock on it for mounting,
// installing, upgrading and uninstalling. On the kernel's mount point for a bpffs
// (/sys/fs/bpf without one) it mounts one first. A caller that locked a directory
// that a mount has since covered locks the mount instead: every holder of the lock
// holds it on what root names now.
func lockRoot(root string) (func(), error) {
	if root == "" {
		return nil, fmt.Errorf("empty bpffs root: %w", ErrInvalidArgument)
	}
	if st, err := os.Stat(root); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("bpffs root %s is not a directory: %w", root, ErrInvalidArgument)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("creating bpffs root: %w%s", err, permHint(permCreate, err))
	}
	for try := 0; try < 8; try++ {
		fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening bpffs root %s: %w", root, err)
		}
		if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("locking bpffs root %s: %w", root, err)
		}
		var held, now unix.Stat_t
		var fs unix.Statfs_t
		err = errors.Join(unix.Fstat(fd, &held), unix.Stat(root, &now), unix.Fstatfs(fd, &fs))
		switch {
		case err != nil:
			unix.Close(fd)
			return nil, fmt.Errorf("bpffs root %s: %w", root, err)
		case held.Dev != now.Dev || held.Ino != now.Ino: // covered by a mount meanwhile
			unix.Close(fd)
		case fs.Type == unix.SYSFS_MAGIC: // sysfs allows no directory: a bpffs goes here
			if names, _ := os.ReadDir(root); len(names) > 0 {
				unix.Close(fd)
				return nil, fmt.Errorf("bpffs root %s is a sysfs directory that is not empty: %w", root, ErrInvalidArgument)
			}
			err := mountBPFFS(root)
			unix.Close(fd)
			if err != nil {
				return nil, err
			}
		default:
			return func() { unix.Close(fd) }, nil
		}
	}
	return nil, fmt.Errorf("locking bpffs root %s: mounts keep covering it: %w", root, unix.EBUSY)
}

// makePinDir creates the pin directory of root, whose lock the caller holds, and
// mounts a bpffs on it unless root is one.
func makePinDir(root string) (string, error) {
	dir := pinDir(root)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating pin directory: %w%s", err, permHint(permCreate, err))
	}
	if onBPFFS(dir) {
		return dir, nil
	}
	step("mount")
	return dir, mountBPFFS(dir)
}

func mountBPFFS(dir string) error {
	if err := unix.Mount("bpffs", dir, "bpf", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return fmt.Errorf("mounting bpffs at %s: %w%s", dir, err, permHint(permMount, err))
	}
	return nil
}

// install loads a new tracer and pins its maps, meta written, then its programs
// and links, the exit program's link last: that pin is the sign that it runs.
func install(dir string, opts Options) (retErr error) {
	t, err := loadTracer(opts, nil)
	if err != nil {
		return err
	}
	defer t.close() // the pins keep the tracer
	defer func() {
		if retErr != nil {
			removePins(dir)
		}
	}()
	if err := writeMeta(t.fd(mapMeta)); err != nil {
		return err
	}
	step("install:loaded")
	return withLibbpfLogger(opts.Logger, func() error { // libbpf says what it pins
		for _, name := range mapNames {
			m, err := t.mod.GetMap(name)
			if err != nil {
				return fmt.Errorf("map %s: %w", name, err)
			}
			if err := m.Pin(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("pinning map %s: %w", name, err)
			}
			step("install:" + name)
		}
		return pinPrograms(dir, t, "install:")
	})
}

// upgrade replaces the programs of a running tracer, keeping its maps: each new
// program is attached before the old link is unpinned, so no exit goes unseen
// (where both run, only one deletes the tracing entry, so only one records). The
// meta names this build last, once every new link is pinned: a crash before that
// leaves the old build's name, and the next EnsureRunning upgrades again.
func upgrade(dir string, opts Options) error {
	reuse := map[string]int{}
	defer func() {
		for _, fd := range reuse {
			unix.Close(fd)
		}
	}()
	for _, name := range mapNames {
		p := filepath.Join(dir, name)
		fd, err := bpfsys.ObjGet(p)
		if err != nil {
			return fmt.Errorf("opening pinned map %s: %w", p, err)
		}
		reuse[name] = fd
	}
	t, err := loadTracer(opts, reuse)
	if err != nil {
		return err
	}
	defer t.close()
	step("upgrade:loaded")
	if err := withLibbpfLogger(opts.Logger, func() error { return pinPrograms(dir, t, "upgrade:") }); err != nil {
		return err
	}
	return writeMeta(reuse[mapMeta])
}

// writeMeta records this build's format and ID in the meta map fd.
func writeMeta(fd int) error {
	m := currentMeta()
	var key uint32
	if err := bpfsys.Update(fd, unsafe.Pointer(&key), unsafe.Pointer(&m), bpfsys.Any); err != nil {
		return fmt.Errorf("writing meta: %w", err)
	}
	return nil
}

// pinPrograms pins t's programs and links in place of any others (rename is
// atomic in bpffs), the exit program's link last.
func pinPrograms(dir string, t *tracer, steps string) error {
	pins := make([]func(string) error, 0, 2*len(progNames))
	names := make([]string, 0, cap(pins))
	for i, name := range progNames {
		prog, err := t.mod.GetProgram(name)
		if err != nil {
			return fmt.Errorf("program %s: %w", name, err)
		}
		pins = append(pins, prog.Pin)
		names = append(names, progPins[i])
	}
	for i := len(t.links) - 1; i >= 0; i-- {
		pins = append(pins, t.links[i].Pin)
		names = append(names, linkPins[i])
	}
	for i, pin := range pins {
		tmp := filepath.Join(dir, names[i]+"_new")
		os.Remove(tmp)
		if err := pin(tmp); err != nil {
			return fmt.Errorf("pinning %s: %w", names[i], err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, names[i])); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("replacing pin %s: %w", names[i], err)
		}
		step(steps + names[i])
	}
	return nil
}

// running checks that the pins in dir run: each link is pinned and attached. With
// exact, each also attaches the program pinned beside it, as this build leaves
// them (an upgrade killed midway leaves old links beside new programs). Otherwise
// it returns an error wrapping ErrNotRunning.
func running(dir string, exact bool) error {
	for i, name := range linkPins {
		linkID, err := pinnedID(filepath.Join(dir, name), bpfsys.LinkProgID)
		if err != nil {
			return err
		}
		if !exact {
			continue
		}
		progID, err := pinnedID(filepath.Join(dir, progPins[i]), bpfsys.ProgID)
		if err != nil {
			return err
		}
		if linkID != progID {
			return fmt.Errorf("link %s attaches program %d, not the pinned %s (%d): %w",
				name, linkID, progPins[i], progID, ErrNotRunning)
		}
	}
	return nil
}

// mapsPinned reports whether every map is pinned in dir.
func mapsPinned(dir string) bool {
	for _, name := range mapNames {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// pinnedID opens the pin at p and reports the program ID that id finds for it.
func pinnedID(p string, id func(int) (uint32, error)) (uint32, error) {
	fd, err := bpfsys.ObjGet(p)
	if errors.Is(err, unix.ENOENT) {
		return 0, fmt.Errorf("%s is missing: %w", p, ErrNotRunning)
	}
	if err != nil {
		return 0, fmt.Errorf("opening pin %s: %w", p, err)
	}
	defer unix.Close(fd)
	n, err := id(fd)
	if errors.Is(err, unix.EINVAL) {
		return 0, fmt.Errorf("%s is not a link: %w", p, ErrNotRunning)
	}
	if err != nil {
		return 0, fmt.Errorf("reading pin %s: %w", p, err)
	}
	return n, nil
}

// readPinnedMeta reads the meta map of pins in dir (ErrNotInstalled if none).
func readPinnedMeta(dir string) (meta, error) {
	p := filepath.Join(dir, mapMeta)
	fd, err := bpfsys.ObjGet(p)
	if errors.Is(err, unix.ENOENT) {
		return meta{}, ErrNotInstalled
	}
	if err != nil {
		return meta{}, fmt.Errorf("opening pinned map %s: %w%s", p, err, permHint(permOpenPins, err))
	}
	defer unix.Close(fd)
	info, err := bpfsys.GetMapInfo(fd)
	if err != nil {
		return meta{}, fmt.Errorf("map info of %s: %w", p, err)
	}
	var m meta
	if info.KeySize != 4 || info.ValueSize != uint32(unsafe.Sizeof(m)) {
		return meta{}, nil // a meta of some other layout: format 0, incompatible
	}
	var key uint32
	if err := bpfsys.Lookup(fd, unsafe.Pointer(&key), unsafe.Pointer(&m)); err != nil {
		return meta{}, fmt.Errorf("reading %s: %w", p, err)
	}
	return m, nil
}

// removeIfEmpty removes pins of another format, unless their maps hold entries.
func removeIfEmpty(dir string, old meta) error {
	for _, name := range []string{mapTasks, mapEvents} {
		p := filepath.Join(dir, name)
		fd, err := bpfsys.ObjGet(p)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("opening pinned map %s: %w", p, err)
		}
		info, err := bpfsys.GetMapInfo(fd)
		if err == nil {
			key := make([]byte, info.KeySize)
			err = bpfsys.NextKey(fd, nil, unsafe.Pointer(&key[0]))
		}
		unix.Close(fd)
		if err == nil && old.FormatVersion > formatVersion {
			return fmt.Errorf("pins at %s have format %d, newer than this build's %d, and %s holds entries: "+
				"use a newer build, or Uninstall them and lose the entries: %w",
				dir, old.FormatVersion, formatVersion, name, ErrIncompatible)
		}
		if err == nil {
			return fmt.Errorf("pins at %s have format %d, this build needs %d, and %s holds entries: "+
				"read them with the build that made the pins, then Uninstall them: %w",
				dir, old.FormatVersion, formatVersion, name, ErrIncompatible)
		}
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("reading pinned map %s: %w", p, err)
		}
	}
	removePins(dir)
	return nil
}

// Uninstall detaches the pinned tracer and removes its pins, and the bpffs
// EnsureRunning mounted for them (one it mounted on an empty sysfs directory
// such as /sys/fs/bpf stays). Unread events are lost. It holds the same lock
// as EnsureRunning: racing them ends with the tracer installed or not, never half.
// Stores open on the pins keep their maps until they close, but record no more.
func Uninstall(bpffsRoot string) error {
	dir := pinDir(bpffsRoot)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("pin directory %s: %w", dir, ErrNotInstalled)
	}
	unlock, err := lockRoot(bpffsRoot)
	if err != nil {
		return err
	}
	defer unlock()
	if !hasPins(dir) {
		if onBPFFS(bpffsRoot) || !mountedAt(dir) {
			return fmt.Errorf("pin directory %s: %w", dir, ErrNotInstalled)
		}
	}
	if fd, err := bpfsys.ObjGet(filepath.Join(dir, mapMeta)); err == nil {
		// Stores still open on the maps see it: their Trace fails with ErrNotRunning.
		m := meta{FormatVersion: formatRetired}
		var key uint32
		err = bpfsys.Update(fd, unsafe.Pointer(&key), unsafe.Pointer(&m), bpfsys.Any)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("retiring meta: %w", err)
		}
	}
	step("uninstall:retired")
	if err := removePins(dir); err != nil {
		return err
	}
	step("uninstall:unpinned")
	if !onBPFFS(bpffsRoot) {
		// Detached at once: a path lookup racing it (a NewStore) would make a plain
		// unmount fail with EBUSY; the pins go with the last reference.
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmounting bpffs at %s: %w", dir, err)
		}
	}
	if err := os.Remove(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}

// removePins removes every pin in dir: the links first, so the programs stop
// first, and the meta last, so that pins killed midway still say what they were.
func removePins(dir string) error {
	names, err := pins(dir)
	if err != nil {
		return fmt.Errorf("reading pin directory: %w", err)
	}
	order := append([]string{}, linkPins...)
	for _, name := range names {
		if name != mapMeta && !slices.Contains(linkPins, name) {
			order = append(order, name)
		}
	}
	var errs []error
	for _, name := range append(order, mapMeta) {
		switch err := os.Remove(filepath.Join(dir, name)); {
		case err == nil:
			step("unpin:" + name)
		case !errors.Is(err, os.ErrNotExist):
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pins lists the pins in dir, without the files of a bpffs's own (maps.debug and
// progs.debug, with the preload iterators).
func pins(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Name() != "maps.debug" && e.Name() != "progs.debug" {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func hasPins(dir string) bool {
	names, err := pins(dir)
	return err == nil && len(names) > 0
}

// mountedAt reports whether dir is the root of a bpffs (a mount point).
func mountedAt(dir string) bool {
	var st, parent unix.Stat_t
	return onBPFFS(dir) && unix.Stat(dir, &st) == nil &&
		unix.Stat(filepath.Join(dir, ".."), &parent) == nil && st.Dev != parent.Dev
}
