package exitsnoop

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/bpfsys"
	"exitsnoop.dev/internal/core"
)

// Trace starts tracing pid: when its last thread exits, the kernel records an
// ExitStatus under taskInfo.TraceID.
//
// When Trace returns nil an event will come, or Wait will say why not (LostError):
// Trace decides in one protocol that the process is alive, is the one pid names,
// and that the kernel will see its exit: the exit program on sched_process_exit
// records it (the fallback on sched_process_free, when the process is reaped, if
// the kernel skipped that program). A process whose every thread is exiting
// already is refused with ErrNoProcess, unless its exit program took the entry.
//
// pid is a process (thread-group leader) as this process's pid namespace sees
// it, which must be the host's. Trace fails with ErrNoProcess when pid names no
// process or one that has exited, ErrNotProcess when it names a thread,
// ErrNamespaceMismatch when taskInfo.PidnsInfo is set and is not the process's,
// ErrPidNamespace in a pid namespace other than the host's, ErrKeyExist when pid
// is traced already, ErrTraceIDInUse when the trace ID is traced or has an unread
// event, and ErrFull when a map is full. An entry left by a process whose exit
// was missed is replaced. Trace never waits for the process (it reads /proc/<pid>/task
// when the leader has exited before its other threads).
func (s *Store) Trace(pid uint32, taskInfo *TaskInfo) error {
	if pid == 0 || taskInfo == nil {
		return fmt.Errorf("trace pid %d: %w", pid, ErrInvalidArgument)
	}
	pidfd, err := core.PidfdOf(pid) // -1 where pidfd_open is filtered (seccomp, valgrind)
	if err != nil {
		return fmt.Errorf("trace pid %d: %w", pid, coreErr(err))
	}
	if pidfd >= 0 {
		defer unix.Close(pidfd)
	}
	if err := s.trace(pid, pidfd, taskInfo); err != nil {
		return fmt.Errorf("trace pid %d: %w", pid, err)
	}
	return nil
}

// TracePidfd is Trace of the process that pidfd refers to. A pidfd names one
// process for as long as it is open, so unlike a pid it cannot be reused: if that
// process has exited, TracePidfd fails with ErrNoProcess even when its pid already
// names another process. Get a pidfd from pidfd_open(2) or from
// syscall.SysProcAttr.PidFD when starting the process.
func (s *Store) TracePidfd(pidfd int, taskInfo *TaskInfo) error {
	if taskInfo == nil {
		return fmt.Errorf("trace pidfd %d: %w", pidfd, ErrInvalidArgument)
	}
	pid, err := core.PidOfPidfd(pidfd)
	if err != nil {
		return fmt.Errorf("trace pidfd %d: %w", pidfd, coreErr(err))
	}
	if err := s.trace(pid, pidfd, taskInfo); err != nil {
		return fmt.Errorf("trace pidfd %d (pid %d): %w", pidfd, pid, err)
	}
	return nil
}

// trace runs the Trace protocol (internal/core/trace.c) for the process pid
// that pidfd refers to (-1: none, then its open stat file stands for it), once
// this Store's checks pass.
func (s *Store) trace(pid uint32, pidfd int, info *TaskInfo) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	v := taskValue{TaskInfo: *info}
	return coreErr(s.core.Trace(pid, pidfd, unsafe.Pointer(&v)))
}

// reserveRef claims trace ID id for pid: an ID that is traced or has an unread
// event is refused; one that only says why an earlier exit was lost is taken.
func (s *Store) reserveRef(id uint64, pid uint32) error { return coreErr(s.core.ReserveRef(id, pid)) }

// lookupRef reads the reference of trace ID id.
func (s *Store) lookupRef(id uint64) (traceRef, error) {
	var ref traceRef
	err := bpfsys.Lookup(s.traces, unsafe.Pointer(&id), unsafe.Pointer(&ref))
	return ref, mapErr(err)
}

// insertTask adds the tracing entry, replacing an orphan of another process
// with this pid (whose trace is marked missed).
func (s *Store) insertTask(pid uint32, v *taskValue) error {
	return coreErr(s.core.InsertTask(pid, unsafe.Pointer(v)))
}

// markMissed records that the exit traced under id was missed by the kernel.
func (s *Store) markMissed(id uint64, pid uint32) { s.core.MarkMissed(id, pid) }

// deleteTask removes the tracing entry; pid_refs drops it after it is gone.
func (s *Store) deleteTask(pid uint32) error { return mapErr(s.core.DeleteTask(pid)) }

// nsecPerTick is EXITSNOOP_NSEC_PER_TICK as the core is built with: /proc's
// clock ticks (USER_HZ 100).
const nsecPerTick = core.NsecPerTick

// boottimeOffset reads this process's time namespace boottime offset (5.6+,
// CONFIG_TIME_NS): /proc/<pid>/stat's start times include it.
func boottimeOffset() (int64, error) {
	ns, err := core.BoottimeOffset()
	return ns, coreErr(err)
}
