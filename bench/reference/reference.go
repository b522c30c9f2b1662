// Package reference is the benchmarks' stand-in for the seed (exitsnoop v0.1.0):
// its Go API and kernel program, rebuilt from their description in
// shared/seed-api.md, loaded with github.com/cilium/ebpf v0.12.3 as the seed was.
//
// It is what exitsnoop.dev/exitsnoop is measured against, so it keeps the seed's
// costs on purpose: fixed 2048-entry hash maps (Options.Capacity only exists for
// the memory figure), a raw tracepoint program that looks up a hash map at every
// leader exit, and a pure-Go map access per call. Its known faults (see the seed
// description) are kept too; it is not meant for use outside bench/.
package reference

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// object is bpf/seed.bpf.c compiled by `make -C bench bpf`.
//
//go:embed bpf/seed.bpf.o
var object []byte

// Names in seed.bpf.c, also the pin names.
const (
	MapTasks    = "tracing_tasks"
	MapEvents   = "exited_events"
	ProgName    = "handle_sched_process_exit"
	EmptyName   = "empty"
	tracepoint  = "sched_process_exit"
	pinDirName  = ".exitsnoop.bpf"
	linkPinName = "link"
	// SeedCapacity is the size of both of the seed's maps.
	SeedCapacity = 2048
)

// ErrKeyNotExist is what the seed's callers test for "not found".
var ErrKeyNotExist = ebpf.ErrKeyNotExist

// PidnsInfo names a pid namespace: device and inode of /proc/<pid>/ns/pid.
type PidnsInfo struct {
	Dev uint64
	Ino uint64
}

// TaskInfo is the value of tracing_tasks.
type TaskInfo struct {
	TraceID   uint64
	PidnsInfo PidnsInfo
}

// ExitStatus is the value of exited_events.
type ExitStatus struct {
	Pid           uint32
	ExitCode      int32
	StartBoottime uint64
	ExittedTime   uint64
}

// Options change the reference for measurements only; the zero value is the seed.
type Options struct {
	// Capacity sizes both maps (SeedCapacity when 0).
	Capacity uint32
}

// Store is the seed's Store: the two maps and, for a private tracer, its program
// and link.
type Store struct {
	tasks, events *ebpf.Map
	prog          *ebpf.Program
	link          link.Link
}

func loadSpec(opts Options) (*ebpf.CollectionSpec, error) {
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(object))
	if err != nil {
		return nil, fmt.Errorf("parsing seed.bpf.o: %w", err)
	}
	if opts.Capacity != 0 {
		spec.Maps[MapTasks].MaxEntries = opts.Capacity
		spec.Maps[MapEvents].MaxEntries = opts.Capacity
	}
	return spec, nil
}

// load loads the maps and the seed program (not the empty one) and attaches it.
func load(opts Options) (*Store, error) { return loadAttach(opts, true) }

// LoadDetached loads the seed's maps and program without attaching it, for
// benchmarks that attach and detach Program() themselves. Not part of the seed's API.
func LoadDetached(opts Options) (*Store, error) { return loadAttach(opts, false) }

func loadAttach(opts Options, attach bool) (*Store, error) {
	spec, err := loadSpec(opts)
	if err != nil {
		return nil, err
	}
	var objs struct {
		Tasks  *ebpf.Map     `ebpf:"tracing_tasks"`
		Events *ebpf.Map     `ebpf:"exited_events"`
		Prog   *ebpf.Program `ebpf:"handle_sched_process_exit"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, fmt.Errorf("loading seed program: %w", err)
	}
	if !attach {
		return &Store{tasks: objs.Tasks, events: objs.Events, prog: objs.Prog}, nil
	}
	l, err := AttachRawTracepoint(objs.Prog)
	if err != nil {
		objs.Tasks.Close()
		objs.Events.Close()
		objs.Prog.Close()
		return nil, fmt.Errorf("attaching to %s: %w", tracepoint, err)
	}
	return &Store{tasks: objs.Tasks, events: objs.Events, prog: objs.Prog, link: l}, nil
}

// NewStoreFromAttach loads and attaches a private tracer that lives as long as the
// Store, as the seed's does.
func NewStoreFromAttach() (*Store, error) { return load(Options{}) }

// Open is NewStoreFromAttach with Options.
func Open(opts Options) (*Store, error) { return load(opts) }

// EnsureRunning pins a tracer under <bpffsRoot>/.exitsnoop.bpf/ unless its link
// pin exists, mounting a bpffs there first if needed (the seed's behaviour).
func EnsureRunning(bpffsRoot string) error {
	dir := filepath.Join(bpffsRoot, pinDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return err
	}
	if st.Type != unix.BPF_FS_MAGIC {
		if err := unix.Mount("bpffs", dir, "bpf", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
			return fmt.Errorf("mounting bpffs at %s: %w", dir, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, linkPinName)); err == nil {
		return nil
	}
	for _, n := range []string{MapTasks, MapEvents} {
		os.Remove(filepath.Join(dir, n))
	}
	s, err := load(Options{})
	if err != nil {
		return err
	}
	defer s.Close() // the pins keep everything alive
	if err := s.tasks.Pin(filepath.Join(dir, MapTasks)); err != nil {
		return err
	}
	if err := s.events.Pin(filepath.Join(dir, MapEvents)); err != nil {
		return err
	}
	return s.link.Pin(filepath.Join(dir, linkPinName))
}

// NewStore opens the maps pinned by EnsureRunning.
func NewStore(bpffsRoot string) (*Store, error) {
	dir := filepath.Join(bpffsRoot, pinDirName)
	tasks, err := ebpf.LoadPinnedMap(filepath.Join(dir, MapTasks), nil)
	if err != nil {
		return nil, err
	}
	events, err := ebpf.LoadPinnedMap(filepath.Join(dir, MapEvents), nil)
	if err != nil {
		tasks.Close()
		return nil, err
	}
	return &Store{tasks: tasks, events: events}, nil
}

// Uninstall removes what EnsureRunning pinned and unmounts its bpffs.
func Uninstall(bpffsRoot string) error {
	dir := filepath.Join(bpffsRoot, pinDirName)
	var errs []error
	for _, n := range []string{linkPinName, MapTasks, MapEvents} {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := unix.Unmount(dir, 0); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, os.Remove(dir))
	return errors.Join(errs...)
}

// Trace starts tracing pid; fails if pid is traced already.
func (s *Store) Trace(pid uint32, info *TaskInfo) error {
	return s.tasks.Update(pid, info, ebpf.UpdateNoExist)
}

// GetTracingTask returns the TaskInfo of pid.
func (s *Store) GetTracingTask(pid uint32) (*TaskInfo, error) {
	info := new(TaskInfo)
	if err := s.tasks.Lookup(pid, info); err != nil {
		return nil, err
	}
	return info, nil
}

// DeleteTracingTask stops tracing pid.
func (s *Store) DeleteTracingTask(pid uint32) error {
	return s.tasks.Delete(pid)
}

// ExitedEventFromWaitStatus records an exit learned another way; fails if an event
// for traceID exists.
func (s *Store) ExitedEventFromWaitStatus(traceID uint64, pid uint32, status uint32) error {
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		return err
	}
	ev := &ExitStatus{Pid: pid, ExitCode: int32(status), ExittedTime: uint64(now.Nano())}
	return s.events.Update(traceID, ev, ebpf.UpdateNoExist)
}

// GetExitedEvent returns the event of traceID.
func (s *Store) GetExitedEvent(traceID uint64) (*ExitStatus, error) {
	ev := new(ExitStatus)
	if err := s.events.Lookup(traceID, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// DeleteExitedEvent removes the event of traceID.
func (s *Store) DeleteExitedEvent(traceID uint64) error {
	return s.events.Delete(traceID)
}

// Program is the attached seed program of a private tracer (nil for NewStore):
// for reading its run-time statistics. Not part of the seed's API.
func (s *Store) Program() *ebpf.Program { return s.prog }

// Maps returns tracing_tasks and exited_events, for reading their memory use.
// Not part of the seed's API.
func (s *Store) Maps() []*ebpf.Map { return []*ebpf.Map{s.tasks, s.events} }

// Close detaches a private tracer and releases the maps.
func (s *Store) Close() error {
	var errs []error
	if s.link != nil {
		errs = append(errs, s.link.Close())
	}
	if s.prog != nil {
		errs = append(errs, s.prog.Close())
	}
	errs = append(errs, s.tasks.Close(), s.events.Close())
	return errors.Join(errs...)
}

// Empty is the program that only returns, attached to sched_process_exit.
type Empty struct {
	Prog *ebpf.Program
	link link.Link
}

// AttachEmpty loads and attaches the empty program.
func AttachEmpty() (*Empty, error) {
	prog, err := LoadEmpty()
	if err != nil {
		return nil, err
	}
	l, err := AttachRawTracepoint(prog)
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("attaching empty program: %w", err)
	}
	return &Empty{Prog: prog, link: l}, nil
}

// LoadEmpty loads the empty program without attaching it (a raw tracepoint
// program for sched_process_exit).
func LoadEmpty() (*ebpf.Program, error) {
	spec, err := loadSpec(Options{})
	if err != nil {
		return nil, err
	}
	prog, err := ebpf.NewProgram(spec.Programs[EmptyName])
	if err != nil {
		return nil, fmt.Errorf("loading empty program: %w", err)
	}
	return prog, nil
}

// AttachRawTracepoint attaches p (the seed's or the empty program) to
// sched_process_exit.
func AttachRawTracepoint(p *ebpf.Program) (link.Link, error) {
	return link.AttachRawTracepoint(link.RawTracepointOptions{Name: tracepoint, Program: p})
}

// Close detaches the empty program.
func (e *Empty) Close() error { return errors.Join(e.link.Close(), e.Prog.Close()) }
