package exitsnoop

import (
	"errors"
	"unsafe"

	"exitsnoop.dev/internal/core"
)

// ErrNotRunning: pins without a running program (an install or upgrade killed
// midway, a removed link pin); EnsureRunning repairs them, keeping their maps.
var ErrNotRunning = errors.New("pinned exitsnoop is not running")

// linkPin is the exit program's link: while it is pinned, the tracer runs.
var linkPin = core.LinkPins[0]

// pinDir is where the tracer of bpffsRoot is pinned: <bpffsRoot>/.exitsnoop.bpf,
// or <bpffsRoot>/exitsnoop on a bpffs, which refuses names with '.'. "" for a
// root that cannot have one (empty, or too long).
func pinDir(bpffsRoot string) string {
	dir, _ := core.PinDir(bpffsRoot)
	return dir
}

func onBPFFS(p string) bool { return core.OnBPFFS(p) }

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
// The protocol is internal/core/pins.c, shared with the C library: pins made by
// either are read and upgraded by the other.
//
// Needs kernel 5.8+, with BTF, and root (mounting; pinning needs CAP_BPF).
func EnsureRunning(bpffsRoot string) error {
	return ensure(Options{BPFFSRoot: bpffsRoot}.withDefaults())
}

func ensure(opts Options) error {
	p := core.NewPins()
	defer p.End()
	m := currentMeta()
	plan, err := p.Begin(opts.BPFFSRoot, unsafe.Pointer(&m))
	if err != nil {
		return coreErr(err)
	}
	switch plan {
	case core.Install:
		t, err := loadTracer(opts, nil)
		if err != nil {
			return err
		}
		defer t.close() // the pins keep the tracer
		return coreErr(p.Install(t.fds(), unsafe.Pointer(&m)))
	case core.Upgrade:
		return upgradeWith(p, opts)
	}
	return nil
}

// upgrade replaces the programs of the tracer pinned in dir, keeping its maps:
// each new program is attached before the old link is unpinned, so no exit goes
// unseen. The meta names this build last.
func upgrade(dir string, opts Options) error {
	p := core.NewPins()
	defer p.End()
	if err := p.ReuseDir(dir); err != nil {
		return coreErr(err)
	}
	return upgradeWith(p, opts)
}

func upgradeWith(p *core.Pins, opts Options) error {
	t, err := loadTracer(opts, p.Reuse())
	if err != nil {
		return err
	}
	defer t.close()
	m := currentMeta()
	return coreErr(p.Upgrade(t.fds(), unsafe.Pointer(&m)))
}

// running checks that the pins in dir run: each link is pinned and attached. With
// exact, each also attaches the program pinned beside it, as this build leaves
// them. Otherwise it returns an error wrapping ErrNotRunning.
func running(dir string, exact bool) error { return coreErr(core.Running(dir, exact)) }

// readPinnedMeta reads the meta map of pins in dir (ErrNotInstalled if none).
func readPinnedMeta(dir string) (meta, error) {
	var m meta
	err := core.ReadPinnedMeta(dir, unsafe.Pointer(&m))
	return m, coreErr(err)
}

func hasPins(dir string) bool { return core.HasPins(dir) }

// Uninstall detaches the pinned tracer and removes its pins, and the bpffs
// EnsureRunning mounted for them (one it mounted on an empty sysfs directory
// such as /sys/fs/bpf stays). Unread events are lost. It holds the same lock
// as EnsureRunning: racing them ends with the tracer installed or not, never half.
// Stores open on the pins keep their maps until they close, but record no more.
func Uninstall(bpffsRoot string) error { return coreErr(core.Uninstall(bpffsRoot)) }
