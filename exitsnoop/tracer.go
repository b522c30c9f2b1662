package exitsnoop

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"syscall"

	bpf "github.com/aquasecurity/libbpfgo"
	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/bpfobj"
	"exitsnoop.dev/internal/bpfsys"
)

// Layout constants of bpf/exitsnoop.h.
const (
	formatVersion = 4       // EXITSNOOP_FORMAT_VERSION
	pidBuckets    = 1 << 16 // EXITSNOOP_PID_BUCKETS
)

// DefaultCapacity is the default number of entries of each map: traced processes
// and unread events. A traced process costs about 100 bytes of kernel memory, an
// unread event as much (see the README for measurements).
const DefaultCapacity = 65536

// Names of the maps and the program in bpf/exitsnoop.bpf.c; also their pin names.
const (
	mapTasks  = "tracing_tasks"
	mapEvents = "exited_events"
	mapRefs   = "pid_refs"
	mapStats  = "stats"
	mapMeta   = "meta"
	mapNotify = "notify"
	mapWake   = "notify_wake"
	mapTrace  = "trace_refs"
)

// progNames are the programs, attached in this order: the exit program and its
// fallback on sched_process_free. linkPins and progPins are their pins.
var (
	progNames = []string{"handle_exit", "handle_free"}
	linkPins  = []string{linkPin, "link_free"}
	progPins  = []string{"prog_exit", "prog_free"}
)

// mapNames are the maps, pinned in this order: meta last.
var mapNames = []string{mapTasks, mapEvents, mapRefs, mapStats, mapNotify, mapWake, mapTrace, mapMeta}

// meta mirrors struct exitsnoop_meta.
type meta struct {
	FormatVersion uint32
	PidBuckets    uint32
	BuildID       [24]byte
}

// buildID identifies this build's BPF object; pins record the one they run.
var buildID = func() (id [24]byte) {
	sum := sha256.Sum256(bpfobj.Object)
	copy(id[:], sum[:])
	return id
}()

func currentMeta() meta {
	return meta{FormatVersion: formatVersion, PidBuckets: pidBuckets, BuildID: buildID}
}

// tracer is a loaded and attached copy of the BPF program with its maps.
type tracer struct {
	mod   *bpf.Module
	links []*bpf.BPFLink // one per progNames
}

// Map types and flags the probes need (linux/bpf.h).
const (
	mapTypeArray   = 2
	mapTypeRingbuf = 27
	flagMmapable   = 1 << 10
)

// feature is a kernel feature the tracer needs, and how to probe it.
type feature struct {
	name, version string
	probe         func() error
}

// features are probed, not read off the kernel's version: vendor kernels carry
// backports, and configurations leave features out.
var features = []feature{
	{"kernel BTF (/sys/kernel/btf/vmlinux) for tp_btf programs", "5.5 with CONFIG_DEBUG_INFO_BTF", func() error {
		_, err := os.Stat("/sys/kernel/btf/vmlinux")
		return err
	}},
	{"BPF ring buffer", "5.8", func() error { return bpfsys.ProbeMap(mapTypeRingbuf, 0, uint32(os.Getpagesize()), false) }},
	{"mmapable BPF arrays", "5.5", func() error { return bpfsys.ProbeMap(mapTypeArray, flagMmapable, 1, false) }},
	{"batch operations on BPF maps", "5.6", func() error { return bpfsys.ProbeMap(mapTypeArray, 0, 1, true) }},
}

// checkKernel returns a *NotSupportedError naming the first feature the kernel
// lacks. Permission errors are not a missing feature: loading reports them.
func checkKernel() error {
	for _, f := range features {
		if err := f.probe(); err != nil && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
			return &NotSupportedError{Feature: f.name, MinVersion: f.version, Err: err}
		}
	}
	return nil
}

// loadTracer loads and attaches the program. Maps named in reuse take the given
// file descriptors (pinned maps of a running tracer) instead of new maps.
func loadTracer(opts Options, reuse map[string]int) (_ *tracer, retErr error) {
	if err := checkKernel(); err != nil {
		return nil, err
	}
	if err := checkLayouts(); err != nil {
		return nil, err
	}
	var t *tracer
	err := withLibbpfLogger(opts.Logger, func() (err error) {
		t, err = load(opts, reuse)
		return err
	})
	return t, err
}

// load is loadTracer with libbpf's messages routed.
func load(opts Options, reuse map[string]int) (_ *tracer, retErr error) {
	mod, err := bpf.NewModuleFromBufferArgs(bpf.NewModuleArgs{
		BPFObjBuff:      bpfobj.Object,
		BPFObjName:      "exitsnoop.bpf.o",
		SkipMemlockBump: true, // libbpf raises RLIMIT_MEMLOCK itself where the kernel needs it
	})
	if err != nil {
		return nil, fmt.Errorf("opening BPF object: %w", plainErrno(err))
	}
	t := &tracer{mod: mod}
	defer func() {
		if retErr != nil {
			t.close()
		}
	}()
	for name, v := range map[string]uint32{"test_skip_exit_tgid": opts.testSkipExit, "test_skip_free_tgid": opts.testSkipFree} {
		if v == 0 {
			continue
		}
		if err := mod.InitGlobalVariable(name, v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, plainErrno(err))
		}
	}
	sizes := map[string]uint32{
		mapTasks:  opts.MaxTracingTasks,
		mapEvents: opts.MaxExitedEvents,
		mapTrace:  uint32(min(uint64(opts.MaxTracingTasks)+uint64(opts.MaxExitedEvents), 1<<31)), // traces and fates
	}
	for name, n := range sizes {
		m, err := mod.GetMap(name)
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", name, plainErrno(err))
		}
		if err := m.SetMaxEntries(n); err != nil {
			return nil, fmt.Errorf("sizing map %s: %w", name, plainErrno(err))
		}
	}
	for name, fd := range reuse {
		m, err := mod.GetMap(name)
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", name, plainErrno(err))
		}
		if err := m.ReuseFD(fd); err != nil {
			return nil, fmt.Errorf("reusing pinned map %s: %w", name, plainErrno(err))
		}
	}
	if err := mod.BPFLoadObject(); err != nil {
		return nil, fmt.Errorf("loading BPF program%s: %w", permHint(err), plainErrno(err))
	}
	for _, name := range progNames {
		prog, err := mod.GetProgram(name)
		if err != nil {
			return nil, fmt.Errorf("program %s: %w", name, plainErrno(err))
		}
		link, err := prog.AttachGeneric()
		if err != nil {
			return nil, fmt.Errorf("attaching %s to sched_process_exit%s: %w", name, permHint(err), plainErrno(err))
		}
		t.links = append(t.links, link)
	}
	return t, nil
}

// progFds returns the programs' file descriptors, in progNames' order.
func (t *tracer) progFds() []int {
	fds := make([]int, len(progNames))
	for i, name := range progNames {
		fds[i] = -1
		if p, err := t.mod.GetProgram(name); err == nil {
			fds[i] = p.FileDescriptor()
		}
	}
	return fds
}

// fd returns the file descriptor of a map of the tracer.
func (t *tracer) fd(name string) int {
	m, err := t.mod.GetMap(name)
	if err != nil {
		return -1
	}
	return m.FileDescriptor()
}

// close detaches the program and releases the maps (pinned ones live on).
func (t *tracer) close() error {
	var errs []error
	for _, l := range t.links {
		if err := l.Destroy(); err != nil {
			errs = append(errs, fmt.Errorf("detaching program: %w", plainErrno(err)))
		}
	}
	t.mod.Close()
	return errors.Join(errs...)
}

// plainErrno strips libbpfgo's message down to the errno it wraps, if any.
func plainErrno(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

func permHint(err error) string {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return " (need root, or CAP_BPF with CAP_PERFMON)"
	}
	return ""
}
