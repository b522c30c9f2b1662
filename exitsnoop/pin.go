package exitsnoop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/bpfsys"
)

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
// /sys/fs/bpf), whose names cannot hold '.', the pins go in <bpffsRoot>/exitsnoop/. It is idempotent and safe to
// call from several processes at once. Pins made by another build of the same
// format keep their maps, and unread events, while the program is replaced; pins
// of an incompatible format are replaced when they hold no data, and refused with
// ErrIncompatible otherwise. Open with a BPFFSRoot takes capacity options.
//
// Needs kernel 5.8+, with BTF, and root (mounting; pinning needs CAP_BPF).
func EnsureRunning(bpffsRoot string) error {
	return ensure(Options{BPFFSRoot: bpffsRoot}.withDefaults())
}

func ensure(opts Options) error {
	dir, err := makePinDir(opts.BPFFSRoot)
	if err != nil {
		return err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()

	old, err := readPinnedMeta(dir)
	switch {
	case err == nil && old.FormatVersion == formatVersion && old.PidBuckets == pidBuckets:
		if old.BuildID == buildID && exists(filepath.Join(dir, linkPin)) {
			return nil
		}
		return upgrade(dir, opts)
	case err == nil || !errors.Is(err, ErrNotInstalled) || hasPins(dir):
		// Another format (the seed's pins have no meta): replace it only if it holds no data.
		if err := removeIfEmpty(dir, old); err != nil {
			return err
		}
	}
	return install(dir, opts)
}

// makePinDir creates the pin directory of root and mounts a bpffs on it unless it
// is on one already.
func makePinDir(root string) (string, error) {
	if root == "" {
		return "", fmt.Errorf("empty bpffs root: %w", ErrInvalidArgument)
	}
	if st, err := os.Stat(root); err == nil && !st.IsDir() {
		return "", fmt.Errorf("bpffs root %s is not a directory: %w", root, ErrInvalidArgument)
	}
	// /sys/fs/bpf, the usual root, is the kernel's mount point for a bpffs: mount one
	// there rather than below it, where sysfs allows no directory.
	var st unix.Statfs_t
	if unix.Statfs(root, &st) == nil && st.Type == unix.SYSFS_MAGIC {
		if err := mountBPFFS(root); err != nil {
			return "", err
		}
	}
	dir := pinDir(root)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating pin directory: %w", err)
	}
	if onBPFFS(dir) {
		return dir, nil
	}
	return dir, mountBPFFS(dir)
}

func mountBPFFS(dir string) error {
	if err := unix.Mount("bpffs", dir, "bpf", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
		return fmt.Errorf("mounting bpffs at %s (need root): %w", dir, err)
	}
	return nil
}

// lockDir takes an exclusive flock on dir, serializing installs across processes.
func lockDir(dir string) (func(), error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening pin directory %s: %w", dir, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("locking pin directory %s: %w", dir, err)
	}
	return func() { unix.Close(fd) }, nil
}

// install loads a new tracer and pins its maps, then its link: the link pin is the
// sign that the tracer runs.
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
	for _, name := range mapNames {
		m, err := t.mod.GetMap(name)
		if err != nil {
			return fmt.Errorf("map %s: %w", name, plainErrno(err))
		}
		if err := m.Pin(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("pinning map %s: %w", name, plainErrno(err))
		}
	}
	return pinLink(dir, t)
}

// upgrade replaces the program of a running tracer, keeping its maps: the new
// program is attached before the old link is unpinned, so no exit goes unseen
// (where both run, only one deletes the tracing entry, so only one records).
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
	return pinLink(dir, t)
}

// pinLink pins t's programs and links in place of any others (rename is atomic in
// bpffs) and records this build in meta.
func pinLink(dir string, t *tracer) error {
	m := currentMeta()
	var key uint32
	if err := bpfsys.Update(t.fd(mapMeta), unsafe.Pointer(&key), unsafe.Pointer(&m), bpfsys.Any); err != nil {
		return fmt.Errorf("writing meta: %w", err)
	}
	pins := make([]func(string) error, 0, 2*len(progNames))
	names := make([]string, 0, cap(pins))
	for i, name := range progNames {
		prog, err := t.mod.GetProgram(name)
		if err != nil {
			return fmt.Errorf("program %s: %w", name, plainErrno(err))
		}
		pins = append(pins, prog.Pin)
		names = append(names, progPins[i])
	}
	// The first link last: its pin is the sign that the tracer runs.
	for i := len(t.links) - 1; i >= 0; i-- {
		pins = append(pins, t.links[i].Pin)
		names = append(names, linkPins[i])
	}
	for i, pin := range pins {
		tmp := filepath.Join(dir, names[i]+"_new")
		os.Remove(tmp)
		if err := pin(tmp); err != nil {
			return fmt.Errorf("pinning %s: %w", names[i], plainErrno(err))
		}
		if err := os.Rename(tmp, filepath.Join(dir, names[i])); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("replacing pin %s: %w", names[i], err)
		}
	}
	return nil
}

// readPinnedMeta reads the meta map of pins in dir (ErrNotInstalled if none).
func readPinnedMeta(dir string) (meta, error) {
	p := filepath.Join(dir, mapMeta)
	fd, err := bpfsys.ObjGet(p)
	if errors.Is(err, unix.ENOENT) {
		return meta{}, ErrNotInstalled
	}
	if err != nil {
		return meta{}, fmt.Errorf("opening pinned map %s: %w", p, err)
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
		if err == nil {
			return fmt.Errorf("pins at %s have format %d, this build needs %d, and %s holds entries: "+
				"read them with the build that made the pins, then remove %s (`exitsnoop uninstall`): %w",
				dir, old.FormatVersion, formatVersion, name, dir, ErrIncompatible)
		}
		if !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("reading pinned map %s: %w", p, err)
		}
	}
	removePins(dir)
	return nil
}

// Uninstall detaches the pinned tracer and removes its pins, and the bpffs
// EnsureRunning mounted for them. Unread events are lost.
func Uninstall(bpffsRoot string) error {
	dir := pinDir(bpffsRoot)
	if !exists(filepath.Join(dir, mapMeta)) && !hasPins(dir) {
		return fmt.Errorf("pin directory %s: %w", dir, ErrNotInstalled)
	}
	if err := removePins(dir); err != nil {
		return err
	}
	if !onBPFFS(bpffsRoot) {
		if err := unix.Unmount(dir, 0); err != nil {
			return fmt.Errorf("unmounting bpffs at %s: %w", dir, err)
		}
	}
	if err := os.Remove(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}

// removePins removes every pin in dir, the link first so the program stops first.
func removePins(dir string) error {
	names, err := pins(dir)
	if err != nil {
		return fmt.Errorf("reading pin directory: %w", err)
	}
	var errs []error
	if err := os.Remove(filepath.Join(dir, linkPin)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, name := range names {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
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

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
