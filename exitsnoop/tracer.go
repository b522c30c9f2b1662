package exitsnoop

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"unsafe"

	bpf "github.com/aquasecurity/libbpfgo"
	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/bpfobj"
	"exitsnoop.dev/internal/bpfsys"
	"exitsnoop.dev/internal/core"
)

// Layout constants of internal/core/layout.h.
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
// mapNames are the maps, pinned in this order: meta last. (internal/core names them.)
var (
	progNames = core.ProgNames
	linkPins  = core.LinkPins
	progPins  = core.ProgPins
	mapNames  = core.MapPins
)

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
	links []*bpf.BPFLink   // one per progNames
	logs  *bpfsys.ProgLogs // the verifier's, of each program
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
func loadTracer(opts Options, reuse map[string]int) (*tracer, error) {
	if err := checkKernel(); err != nil {
		return nil, err
	}
	if err := checkLayouts(); err != nil {
		return nil, err
	}
	var t *tracer
	err := withLibbpfLogger(opts.Logger, func() (err error) {
		t, err = loadObject(bpfobj.Object, opts, reuse)
		return err
	})
	return t, err
}

// loadObject is loadTracer of obj, a build of bpf/exitsnoop.bpf.c, with libbpf's
// messages routed. The verifier writes its log into buffers of this load's own
// (bpfsys.ProgLogs), not through libbpf's print callback: a failure's log is in
// the error, a *VerifierError; with opts.Logger enabled at debug level, the
// statistics of each program go to it.
func loadObject(obj []byte, opts Options, reuse map[string]int) (_ *tracer, retErr error) {
	mod, err := bpf.NewModuleFromBufferArgs(bpf.NewModuleArgs{
		BPFObjBuff:      obj,
		BPFObjName:      "exitsnoop.bpf.o",
		SkipMemlockBump: true, // libbpf raises RLIMIT_MEMLOCK itself where the kernel needs it
	})
	if err != nil {
		return nil, fmt.Errorf("opening BPF object: %w", err)
	}
	t := &tracer{mod: mod}
	defer func() {
		if retErr != nil {
			t.close()
		}
	}()
	debug := opts.Logger != nil && opts.Logger.Enabled(context.Background(), slog.LevelDebug)
	level := uint32(bpfsys.LogNone)
	if debug {
		level = bpfsys.LogStats
	}
	o, err := objectOf(mod)
	if err != nil {
		return nil, err
	}
	if t.logs, err = bpfsys.NewProgLogs(o, level); err != nil {
		return nil, fmt.Errorf("allocating verifier logs: %w", err)
	}
	for name, v := range map[string]uint32{"test_skip_exit_tgid": opts.testSkipExit, "test_skip_free_tgid": opts.testSkipFree} {
		if v == 0 {
			continue
		}
		if err := mod.InitGlobalVariable(name, v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
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
			return nil, fmt.Errorf("map %s: %w", name, err)
		}
		if err := m.SetMaxEntries(n); err != nil {
			return nil, fmt.Errorf("sizing map %s: %w", name, err)
		}
	}
	if err := checkRing(mod, notifySize); err != nil {
		return nil, err
	}
	for name, fd := range reuse {
		m, err := mod.GetMap(name)
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", name, err)
		}
		if err := m.ReuseFD(fd); err != nil {
			return nil, fmt.Errorf("reusing pinned map %s: %w", name, err)
		}
	}
	err = mod.BPFLoadObject()
	logs := t.logs.Logs()
	if err != nil {
		return nil, loadError(err, logs)
	}
	if debug {
		for _, l := range logs {
			opts.Logger.Debug("BPF program verified", "program", l.Program, "log", l.Log)
		}
	}
	for _, name := range progNames {
		prog, err := mod.GetProgram(name)
		if err != nil {
			return nil, fmt.Errorf("program %s: %w", name, err)
		}
		link, err := prog.AttachGeneric()
		if err != nil {
			return nil, fmt.Errorf("attaching program %s to %s: %w%s", name, prog.SectionName(), err, permHint(permLoad, err))
		}
		t.links = append(t.links, link)
	}
	return t, nil
}

// checkRing makes sure the object's notify ring buffer has the size the Go side
// maps (notifySize): BTF describes records, not a ring buffer's size.
func checkRing(mod *bpf.Module, size uint32) error {
	m, err := mod.GetMap(mapNotify)
	if err != nil {
		return fmt.Errorf("map %s: %w", mapNotify, err)
	}
	if n := m.MaxEntries(); n != size {
		return fmt.Errorf("ring buffer %s has %d bytes, this build maps %d: %w", mapNotify, n, size, ErrIncompatible)
	}
	return nil
}

// objectOf returns libbpf's struct bpf_object * of mod. libbpfgo v0.10.0 keeps it
// unexported, and has no way to give the object or its programs a kernel log
// buffer (bpf_object_open_opts.kernel_log_buf, bpf_program__set_log_buf).
func objectOf(mod *bpf.Module) (unsafe.Pointer, error) {
	f := reflect.ValueOf(mod).Elem().FieldByName("obj")
	if f.Kind() != reflect.Pointer || f.IsNil() {
		return nil, errors.New("libbpfgo.Module has no bpf_object field \"obj\": a libbpfgo other than v0.10.0?")
	}
	return f.UnsafePointer(), nil
}

// loadError is the error of a failed load whose programs' verifier logs are logs:
// a *VerifierError when one of them says why, with a permission hint otherwise.
func loadError(err error, logs []bpfsys.ProgLog) error {
	for _, l := range logs {
		if lines := strings.Split(strings.TrimRight(l.Log, "\n"), "\n"); reason(lines) != "" {
			return fmt.Errorf("loading exitsnoop.bpf.o: %w", &VerifierError{Program: l.Program, Err: err, Log: lines})
		}
	}
	return fmt.Errorf("loading exitsnoop.bpf.o: %w%s", err, permHint(permLoad, err))
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

// fds returns the tracer's maps', programs' and links' fds, for internal/core.
func (t *tracer) fds() *core.Fds {
	f := &core.Fds{}
	for i, name := range mapNames {
		f.Maps[i] = t.fd(name)
	}
	copy(f.Progs[:], t.progFds())
	for i, l := range t.links {
		f.Links[i] = l.FileDescriptor()
	}
	return f
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
			errs = append(errs, fmt.Errorf("detaching program: %w", err))
		}
	}
	t.mod.Close()
	t.logs.Free() // after the object, which points to them
	return errors.Join(errs...)
}
