package exitsnoop

import (
	"errors"
	"fmt"
	"log/slog"
	"unsafe"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/core"
)

// Options configure Open. The zero value loads a private tracer with default
// capacities.
type Options struct {
	// BPFFSRoot, when set, makes the tracer durable: it is pinned under
	// <BPFFSRoot>/.exitsnoop.bpf/ as EnsureRunning does, survives the process
	// and is shared with every Store opened on the same root. When empty, the
	// tracer is private to the Store and detached by Close.
	BPFFSRoot string
	// MaxTracingTasks is how many processes can be traced at once
	// (DefaultCapacity when 0). Pinned maps keep the size they were made with.
	MaxTracingTasks uint32
	// MaxExitedEvents is how many events can wait to be read
	// (DefaultCapacity when 0). Exits past it are counted in Stats.Dropped.
	MaxExitedEvents uint32
	// Logger receives libbpf's messages about loading the tracer and, when a
	// load fails, the verifier's log. Nil discards messages below slog.LevelWarn.
	Logger *slog.Logger

	// testSkipExit and testSkipFree make the exit program, or its fallback,
	// ignore one tgid: the tests' way to prove the fallback (private tracers only).
	testSkipExit, testSkipFree uint32
}

func (o Options) withDefaults() Options {
	if o.MaxTracingTasks == 0 {
		o.MaxTracingTasks = DefaultCapacity
	}
	if o.MaxExitedEvents == 0 {
		o.MaxExitedEvents = DefaultCapacity
	}
	return o
}

// Open returns a Store of a running tracer: the one pinned under opts.BPFFSRoot,
// installed first if needed (EnsureRunning and NewStore in one), or a private one
// when BPFFSRoot is empty (NewStoreFromAttach with options).
//
// Needs kernel 5.8+, with BTF, and root or CAP_BPF+CAP_PERFMON.
func Open(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if opts.BPFFSRoot == "" {
		t, err := loadTracer(opts, nil)
		if err != nil {
			return nil, err
		}
		fds := map[string]int{}
		for _, name := range mapNames {
			fds[name] = t.fd(name)
		}
		for i, fd := range t.progFds() {
			fds[progPins[i]] = fd
		}
		s, err := newStore(fds, true)
		if err != nil {
			return nil, errors.Join(err, t.close())
		}
		s.owner = t
		if err := s.writeMeta(currentMeta()); err != nil {
			return nil, errors.Join(err, s.Close())
		}
		return s, nil
	}
	if err := ensure(opts); err != nil {
		return nil, err
	}
	return NewStore(opts.BPFFSRoot)
}

// NewStoreFromAttach loads exitsnoop and attaches to sched_process_exit and returns
// the Store. The tracer is not pinned: it records exits only while the Store is
// open. Use it for short-lived processes; Open takes capacity options.
func NewStoreFromAttach() (_ *Store, retErr error) {
	return Open(Options{})
}

// NewStore opens the maps of the tracer pinned under bpffsRoot by EnsureRunning.
// Without pins it fails with ErrNotInstalled; with pins of another format, with
// ErrIncompatible; with pins whose program does not run (an install or upgrade
// killed midway, a removed link), with ErrNotRunning: EnsureRunning repairs them.
func NewStore(bpffsRoot string) (*Store, error) {
	m := currentMeta()
	f, err := core.OpenPins(bpffsRoot, unsafe.Pointer(&m)) // format and running checked
	if err != nil {
		return nil, coreErr(err)
	}
	fds := map[string]int{}
	for i, name := range mapNames {
		fds[name] = f.Maps[i]
	}
	for i, name := range progPins {
		fds[name] = f.Progs[i]
	}
	s, err := newStore(fds, false)
	if err != nil {
		closeFds(fds)
		return nil, err
	}
	return s, nil
}

// newStore makes a Store of the maps' and programs' fds, by name (owned by the
// Store unless it gets an owner: a private tracer).
func newStore(fds map[string]int, private bool) (*Store, error) {
	var f core.Fds
	for i, name := range mapNames {
		f.Maps[i] = fds[name]
	}
	if err := core.CheckLayout(&f); err != nil {
		return nil, coreErr(err)
	}
	offset, err := nsBootOffset()
	if err != nil {
		return nil, err
	}
	ncpu, err := possibleCPUs(fds[mapStats])
	if err != nil {
		return nil, err
	}
	mem, err := unix.Mmap(fds[mapRefs], 0, pidBuckets, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping pid_refs: %w", err)
	}
	refs := unsafe.Slice((*uint32)(unsafe.Pointer(&mem[0])), pidBuckets/4)
	host := core.InInitialPidns()
	return &Store{
		core:      core.New(&f, private, refs, offset, host),
		fds:       fds,
		progs:     []int{fds[progPins[0]], fds[progPins[1]]},
		tasks:     fds[mapTasks],
		events:    fds[mapEvents],
		traces:    fds[mapTrace],
		stats:     fds[mapStats],
		meta:      fds[mapMeta],
		refsMem:   mem,
		refs:      refs,
		ncpu:      ncpu,
		hostPidns: host,
		closing:   make(chan struct{}),
	}, nil
}

func (s *Store) readMeta() (meta, error) {
	var m meta
	return m, coreErr(core.ReadMeta(s.meta, unsafe.Pointer(&m)))
}

func (s *Store) writeMeta(m meta) error { return coreErr(core.WriteMeta(s.meta, unsafe.Pointer(&m))) }

func closeFds(fds map[string]int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
