// Package core is exitsnoop's protocols on the tracer's map file descriptors,
// written once in C (core.h says how) for the Go package and the C library:
// this package is the Go side of it, calls into C that neither allocate nor
// call back into Go.
//
// Pointers to records (task_info, exit_status) are to Go values that mirror
// bpf/exitsnoop.h's structs (exitsnoop checks the mirrors against the object's
// BTF); they must hold no Go pointers, and do not escape.
package core

/*
#cgo CFLAGS: -O2 -Wall
#cgo noescape es_pidfd_of
#cgo nocallback es_pidfd_of
#cgo noescape es_trace
#cgo nocallback es_trace
#cgo noescape es_pid_of_pidfd
#cgo nocallback es_pid_of_pidfd
#cgo noescape es_reserve_ref
#cgo nocallback es_reserve_ref
#cgo noescape es_insert_task
#cgo nocallback es_insert_task
#cgo noescape es_ref_inc
#cgo nocallback es_ref_inc
#cgo noescape es_ref_dec
#cgo nocallback es_ref_dec
#cgo noescape es_delete_task
#cgo nocallback es_delete_task
#cgo noescape es_drop_ref
#cgo nocallback es_drop_ref
#cgo noescape es_mark_missed
#cgo nocallback es_mark_missed
#cgo noescape es_traced_alive
#cgo nocallback es_traced_alive
#cgo noescape es_delete_tracing_task
#cgo nocallback es_delete_tracing_task
#cgo noescape es_delete_event
#cgo nocallback es_delete_event
#cgo noescape es_record_wait_status
#cgo nocallback es_record_wait_status
#cgo noescape es_stat_open
#cgo nocallback es_stat_open
#cgo noescape es_stat_read
#cgo nocallback es_stat_read
#cgo noescape es_proc_gone
#cgo nocallback es_proc_gone
#cgo noescape es_pidns_of
#cgo nocallback es_pidns_of
#include "core.h"
*/
import "C"

import (
	"bytes"
	"syscall"
	"unsafe"
)

// Core is a Store's view of the tracer's maps. Its methods may be called from
// any goroutine, as long as the maps stay open and refs mapped.
type Core struct{ c C.struct_es_core }

// New is a Core on the tracer's maps f (meta -1 for a private tracer), with
// refs the mapping of pid_refs, bootOffset this time namespace's boottime
// offset in ns (BoottimeOffset) and hostPidns whether this process sees the
// host's pids (InInitialPidns).
func New(f *Fds, private bool, refs []uint32, bootOffset int64, hostPidns bool) Core {
	var c Core
	c.c.tasks = C.int(f.Maps[C.ES_MAP_TASKS])
	c.c.traces = C.int(f.Maps[C.ES_MAP_TRACE])
	c.c.events = C.int(f.Maps[C.ES_MAP_EVENTS])
	c.c.meta = C.int(f.Maps[C.ES_MAP_META])
	if private {
		c.c.meta = -1
	}
	c.c.refs = refsOf(refs)
	c.c.boot_offset = C.int64_t(bootOffset)
	c.c.host_pidns = C.bool(hostPidns)
	return c
}

// NsecPerTick is EXITSNOOP_NSEC_PER_TICK: /proc's clock ticks, in ns.
const NsecPerTick = C.EXITSNOOP_NSEC_PER_TICK

// Kind says which of the package's errors an Error is.
type Kind int

const (
	Errno      Kind = C.ES_ERRNO       // the errno itself
	NoProcess  Kind = C.ES_NO_PROCESS  // no such process, or no longer the one meant
	NotProcess Kind = C.ES_NOT_PROCESS // a thread, not a process
	NsMismatch Kind = C.ES_NS_MISMATCH // the process is in another pid namespace
	IDInUse    Kind = C.ES_ID_IN_USE   // the trace ID traces another process or has an event
	Invalid    Kind = C.ES_INVALID     // a bad argument

	NotInstalled Kind = C.ES_NOT_INSTALLED // no tracer is pinned under the bpffs root
	NotRunning   Kind = C.ES_NOT_RUNNING   // pins without a running program
	Incompatible Kind = C.ES_INCOMPATIBLE  // pins of another format, holding data
	NotTraced    Kind = C.ES_NOT_TRACED    // a trace ID neither traced nor recorded
	Lost         Kind = C.ES_LOST          // the traced process is gone, its exit not recorded
	PidNamespace Kind = C.ES_PID_NAMESPACE // the caller is not in the host's pid namespace
)

// Words are the words of an error of kind k (errno's for Errno), as the C
// library says them.
func (k Kind) Words(errno syscall.Errno) string {
	return C.GoString(C.es_kind_words(C.int(k), C.int(errno)))
}

// CheckLayout checks that the maps of f have this build's record sizes.
func CheckLayout(f *Fds) error {
	var e C.struct_es_err
	c := f.c()
	return result(C.es_check_layout(&c, &e), &e)
}

// BoottimeOffset reads this process's time namespace boottime offset, ns.
func BoottimeOffset() (int64, error) {
	var e C.struct_es_err
	var ns C.int64_t
	if err := result(C.es_boottime_offset(&ns, &e), &e); err != nil {
		return 0, err
	}
	return int64(ns), nil
}

// InInitialPidns reports whether this process sees the host's pids.
func InInitialPidns() bool { return bool(C.es_in_initial_pidns()) }

// Error is a failed call: Msg is the words before the error Kind names ("" if
// none), Suffix those after it, Errno the errno the C library returns.
type Error struct {
	Kind   Kind
	Errno  syscall.Errno
	Msg    string
	Suffix string
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return e.Errno.Error() + e.Suffix
	}
	return e.Msg + ": " + e.Errno.Error() + e.Suffix
}

func (e *Error) Unwrap() error { return e.Errno }

func result(ret C.int, e *C.struct_es_err) error {
	if ret == 0 {
		return nil
	}
	// Not C.GoString: its argument escapes, and so would every call's e.
	msg := unsafe.Slice((*byte)(unsafe.Pointer(&e.msg[0])), len(e.msg))
	if i := bytes.IndexByte(msg, 0); i >= 0 {
		msg = msg[:i]
	}
	err := &Error{Kind: Kind(e.kind), Errno: syscall.Errno(e.errnum), Msg: string(msg)}
	if e.suffix != nil {
		err.Suffix = C.GoString(e.suffix)
	}
	return err
}

// PidfdOf opens a pidfd of process pid for Trace; -1 where pidfd_open is
// filtered and /proc says pid is a process.
func PidfdOf(pid uint32) (int, error) {
	var e C.struct_es_err
	var fd C.int
	if err := result(C.es_pidfd_of(C.uint32_t(pid), &fd, &e), &e); err != nil {
		return -1, err
	}
	return int(fd), nil
}

// Trace is the Trace protocol (core.h: es_trace); want points to a task_info.
func (c *Core) Trace(pid uint32, pidfd int, want unsafe.Pointer) error {
	var e C.struct_es_err
	return result(C.es_trace(&c.c, C.uint32_t(pid), C.int(pidfd), (*C.struct_task_info)(want), &e), &e)
}

// PidOfPidfd reads the pid of pidfd's process.
func PidOfPidfd(pidfd int) (uint32, error) {
	var e C.struct_es_err
	var pid C.uint32_t
	if err := result(C.es_pid_of_pidfd(C.int(pidfd), &pid, &e), &e); err != nil {
		return 0, err
	}
	return uint32(pid), nil
}

// ReserveRef claims trace ID id for pid (Trace's step 2).
func (c *Core) ReserveRef(id uint64, pid uint32) error {
	var e C.struct_es_err
	return result(C.es_reserve_ref(&c.c, C.uint64_t(id), C.uint32_t(pid), &e), &e)
}

// InsertTask adds pid's tracing entry v, a task_info (Trace's step 3).
func (c *Core) InsertTask(pid uint32, v unsafe.Pointer) error {
	var e C.struct_es_err
	return result(C.es_insert_task(&c.c, C.uint32_t(pid), (*C.struct_task_info)(v), &e), &e)
}

// RefInc counts one more entry in pid's byte of refs, a pid_refs mapping (or
// memory laid out as one).
func RefInc(refs []uint32, pid uint32) error {
	var e C.struct_es_err
	return result(C.es_ref_inc(refsOf(refs), C.uint32_t(pid), &e), &e)
}

// RefDec takes back one count of pid's byte of refs.
func RefDec(refs []uint32, pid uint32) { C.es_ref_dec(refsOf(refs), C.uint32_t(pid)) }

// refsOf checks that refs holds every bucket: C indexes it by pid.
func refsOf(refs []uint32) *C.uint32_t {
	if len(refs) != C.EXITSNOOP_PID_BUCKETS/4 {
		panic("internal/core: pid_refs is not EXITSNOOP_PID_BUCKETS bytes")
	}
	return (*C.uint32_t)(unsafe.Pointer(&refs[0]))
}

// DeleteTask removes pid's tracing entry; the error is a syscall.Errno.
func (c *Core) DeleteTask(pid uint32) error {
	if ret := C.es_delete_task(&c.c, C.uint32_t(pid)); ret < 0 {
		return syscall.Errno(-ret)
	}
	return nil
}

// DropRef removes trace ID id's reference if it is pid's.
func (c *Core) DropRef(id uint64, pid uint32) { C.es_drop_ref(&c.c, C.uint64_t(id), C.uint32_t(pid)) }

// MarkMissed records that the exit traced under id was missed.
func (c *Core) MarkMissed(id uint64, pid uint32) {
	C.es_mark_missed(&c.c, C.uint64_t(id), C.uint32_t(pid))
}

// TracedAlive reports whether pid's tracing entry is id's and its process is not reaped.
func (c *Core) TracedAlive(id uint64, pid uint32) bool {
	return bool(C.es_traced_alive(&c.c, C.uint64_t(id), C.uint32_t(pid)))
}

// DeleteTracingTask stops tracing pid.
func (c *Core) DeleteTracingTask(pid uint32) error {
	var e C.struct_es_err
	return result(C.es_delete_tracing_task(&c.c, C.uint32_t(pid), &e), &e)
}

// DeleteEvent removes id's event and forgets why an exit of id was lost.
func (c *Core) DeleteEvent(id uint64) error {
	var e C.struct_es_err
	return result(C.es_delete_event(&c.c, C.uint64_t(id), &e), &e)
}

// RecordWaitStatus records status as id's event of pid into ev, an exit_status.
func (c *Core) RecordWaitStatus(id uint64, pid, status uint32, ev unsafe.Pointer) error {
	var e C.struct_es_err
	return result(C.es_record_wait_status(&c.c, C.uint64_t(id), C.uint32_t(pid), C.uint32_t(status),
		(*C.struct_exit_status)(ev), &e), &e)
}

// Proc is what Trace reads of /proc/<pid>/stat.
type Proc struct {
	State      byte   // field 3: 'R', 'S', 'Z', …
	Threads    uint64 // field 20: num_threads
	StartTicks uint64 // field 22: starttime, clock ticks since boot
}

// StatOpen opens /proc/<pid>/stat, whose reads follow that process.
func StatOpen(pid uint32) (int, error) {
	var e C.struct_es_err
	fd := C.es_stat_open(C.uint32_t(pid), &e)
	if fd < 0 {
		return -1, result(fd, &e)
	}
	return int(fd), nil
}

// StatRead reads an open /proc/<pid>/stat afresh.
func StatRead(fd int) (Proc, error) {
	var e C.struct_es_err
	var p C.struct_es_proc
	if err := result(C.es_stat_read(C.int(fd), &p, &e), &e); err != nil {
		return Proc{}, err
	}
	return Proc{State: byte(p.state), Threads: uint64(p.threads), StartTicks: uint64(p.start_ticks)}, nil
}

// PidnsOf reads the device and inode of pid's pid namespace.
func PidnsOf(pid uint32) (dev, ino uint64, err error) {
	var e C.struct_es_err
	var d, i C.uint64_t
	if err := result(C.es_pidns_of(C.uint32_t(pid), &d, &i, &e), &e); err != nil {
		return 0, 0, err
	}
	return uint64(d), uint64(i), nil
}

// Gone reports whether the process has exited as a whole (es_proc_gone).
func (p Proc) Gone() bool {
	c := C.struct_es_proc{state: C.char(p.State), threads: C.uint64_t(p.Threads), start_ticks: C.uint64_t(p.StartTicks)}
	return bool(C.es_proc_gone(&c))
}
