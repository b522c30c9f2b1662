package exitsnoop

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/bpfsys"
)

// Store is used to trace target task and receive the exited event by trace ID.
//
// A Store holds file descriptors of the tracer's maps: opened from pins (NewStore,
// Open with a BPFFSRoot) or owned with a private tracer (NewStoreFromAttach, Open
// without one). Its methods are safe for concurrent use by many goroutines, and
// several processes may use Stores of the same pinned tracer at once. After Close
// every method returns ErrClosed.
type Store struct {
	mu     sync.RWMutex // held for reading by operations, for writing by Close
	closed bool

	fds                        map[string]int // every map's fd, by name
	tasks, events, stats, meta int            // the hot ones, from fds
	refsMem                    []byte
	refs                       []uint32 // pid_refs' byte counters, 4 a word, shared with the kernel
	ncpu                       int
	notify                     notifier // Wait's ring buffer reader

	owner *tracer // the private tracer, nil for pinned ones
}

// acquire locks s for an operation; release with s.mu.RUnlock.
func (s *Store) acquire() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// refInc counts one more entry in pid's pid_refs byte, unless that byte is
// saturated by concurrent Traces (it never is in practice: a bucket holds 64
// pids at most); the kernel's decrement is an atomic add on the same word.
func (s *Store) refInc(pid uint32) error {
	word, shift := &s.refs[pid%pidBuckets/4], pid%4*8
	for {
		old := atomic.LoadUint32(word)
		if old>>shift&0xff == 0xff {
			return fmt.Errorf("pid bucket %d saturated: %w", pid%pidBuckets, syscall.EBUSY)
		}
		if atomic.CompareAndSwapUint32(word, old, old+1<<shift) {
			return nil
		}
	}
}

// refDec takes back one count of pid's byte; the caller holds one.
func (s *Store) refDec(pid uint32) {
	atomic.AddUint32(&s.refs[pid%pidBuckets/4], ^uint32(1<<(pid%4*8)-1))
}

// Trace starts tracing pid: when its last thread exits, the kernel records an
// ExitStatus under taskInfo.TraceID.
//
// Trace records the process's start time and the kernel checks it at the exit, so
// a later reuse of pid by another process never produces an event. Trace fails
// with ErrNoProcess when pid names no process, or when the process exited before
// tracing began (then no event can come); with ErrKeyExist when pid is traced
// already, and ErrFull when the tracing map is full. It cannot tell whether pid
// was reused before the call: TracePidfd can.
func (s *Store) Trace(pid uint32, taskInfo *TaskInfo) error {
	if pid == 0 || taskInfo == nil {
		return fmt.Errorf("trace pid %d: %w", pid, ErrInvalidArgument)
	}
	stat, err := openProcStat(pid)
	if err != nil {
		return fmt.Errorf("trace pid %d: %w", pid, err)
	}
	defer stat.close()
	if err := s.trace(pid, taskInfo, stat); err != nil {
		return fmt.Errorf("trace pid %d: %w", pid, err)
	}
	return nil
}

// trace traces the process whose /proc/<pid>/stat is open as stat: reads of it
// fail once that process is reaped, whoever has the pid then.
func (s *Store) trace(pid uint32, info *TaskInfo, stat statFile) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	before, err := stat.read()
	if err != nil {
		return err
	}
	if before.gone() {
		return fmt.Errorf("exited already: %w", ErrNoProcess)
	}
	if err := s.insertTask(pid, info, before.startTicks); err != nil {
		return err
	}
	// The process may have exited before the kernel could see the entry: then
	// take the entry back, unless the kernel consumed it.
	if stillRunning(stat, before) {
		return nil
	}
	if s.deleteTask(pid) != nil {
		var ev ExitStatus
		id := info.TraceID // cgo may only see memory without Go pointers: copy
		if bpfsys.Lookup(s.events, unsafe.Pointer(&id), unsafe.Pointer(&ev)) == nil {
			return nil // the kernel consumed the entry and recorded the exit
		}
	}
	return fmt.Errorf("exited while tracing began: %w", ErrNoProcess)
}

// stillRunning re-reads the process that Trace saw as before. One whose only
// thread is inside do_exit may be past the tracepoint or not: it waits (up to a
// second) until that process is gone to know.
func stillRunning(stat statFile, before procState) bool {
	for i := 0; ; i++ {
		now, err := stat.read()
		if err != nil || now.startTicks != before.startTicks || now.gone() {
			return false
		}
		if !now.exiting() || i == 1000 {
			return true
		}
		time.Sleep(time.Millisecond)
	}
}

// insertTask adds the tracing entry; pid_refs counts it before it becomes visible.
func (s *Store) insertTask(pid uint32, info *TaskInfo, startTicks uint64) error {
	v := taskValue{TaskInfo: *info, StartTicks: startTicks}
	if err := s.refInc(pid); err != nil {
		return err
	}
	if err := bpfsys.Update(s.tasks, unsafe.Pointer(&pid), unsafe.Pointer(&v), bpfsys.NoExist); err != nil {
		s.refDec(pid)
		return mapErr(err)
	}
	return nil
}

// deleteTask removes the tracing entry; pid_refs drops it after it is gone.
func (s *Store) deleteTask(pid uint32) error {
	if err := bpfsys.Delete(s.tasks, unsafe.Pointer(&pid)); err != nil {
		return mapErr(err)
	}
	s.refDec(pid)
	return nil
}

// GetTracingTask returns the TaskInfo pid is traced with, or ErrKeyNotExist.
func (s *Store) GetTracingTask(pid uint32) (*TaskInfo, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var v taskValue
	if err := bpfsys.Lookup(s.tasks, unsafe.Pointer(&pid), unsafe.Pointer(&v)); err != nil {
		return nil, fmt.Errorf("get tracing task %d: %w", pid, mapErr(err))
	}
	return &v.TaskInfo, nil
}

// DeleteTracingTask stops tracing pid, or returns ErrKeyNotExist.
func (s *Store) DeleteTracingTask(pid uint32) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := s.deleteTask(pid); err != nil {
		return fmt.Errorf("delete tracing task %d: %w", pid, err)
	}
	return nil
}

// ExitedEventFromWaitStatus records an exit learned another way (from waitpid, say)
// so that readers have one source of truth: an ExitStatus with pid, the raw wait
// status and the current CLOCK_MONOTONIC time; StartBoottime is 0. A tracing entry
// of pid with the same trace ID is removed. This Store's waiters and subscribers
// are told at once; other processes' find it in the map. Returns ErrKeyExist if an event for
// traceEventID exists (the kernel's record wins).
func (s *Store) ExitedEventFromWaitStatus(traceEventID uint64, pid uint32, status uint32) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		return fmt.Errorf("reading CLOCK_MONOTONIC: %w", err)
	}
	ev := ExitStatus{Pid: pid, ExitCode: int32(status), ExittedTime: uint64(now.Nano())}
	if err := bpfsys.Update(s.events, unsafe.Pointer(&traceEventID), unsafe.Pointer(&ev), bpfsys.NoExist); err != nil {
		return fmt.Errorf("record event %d: %w", traceEventID, mapErr(err))
	}
	s.notify.local(Event{TraceID: traceEventID, ExitStatus: ev})
	var v taskValue
	if bpfsys.Lookup(s.tasks, unsafe.Pointer(&pid), unsafe.Pointer(&v)) == nil && v.TraceID == traceEventID {
		_ = s.deleteTask(pid) // gone already if the kernel got there first
	}
	return nil
}

// GetExitedEvent returns the event recorded for traceEventID, or ErrKeyNotExist.
func (s *Store) GetExitedEvent(traceEventID uint64) (*ExitStatus, error) {
	ev := new(ExitStatus)
	if err := s.LookupExitedEvent(traceEventID, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// LookupExitedEvent is GetExitedEvent into a caller-owned ExitStatus: it does not
// allocate, and returns ErrKeyNotExist itself when there is no event.
func (s *Store) LookupExitedEvent(traceEventID uint64, ev *ExitStatus) error {
	if ev == nil {
		return fmt.Errorf("lookup event %d: %w", traceEventID, ErrInvalidArgument)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	// Into a local first: ev may live in a struct that holds Go pointers, which
	// cgo must not be handed.
	var local ExitStatus
	if err := bpfsys.Lookup(s.events, unsafe.Pointer(&traceEventID), unsafe.Pointer(&local)); err != nil {
		// Not found is the common answer while the process runs: the bare sentinel
		// keeps it free of allocations.
		if err = mapErr(err); err == ErrKeyNotExist {
			return err
		}
		return fmt.Errorf("lookup event %d: %w", traceEventID, err)
	}
	*ev = local
	return nil
}

// DeleteExitedEvent removes the event of traceEventID, or returns ErrKeyNotExist.
func (s *Store) DeleteExitedEvent(traceEventID uint64) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := bpfsys.Delete(s.events, unsafe.Pointer(&traceEventID)); err != nil {
		return fmt.Errorf("delete event %d: %w", traceEventID, mapErr(err))
	}
	return nil
}

// Close releases the Store's file descriptors and, for a private tracer, detaches
// it. Pinned tracers keep running. Close is idempotent; it returns the first error
// met while releasing.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	errs := []error{s.notify.stop()}
	if s.refsMem != nil {
		if err := unix.Munmap(s.refsMem); err != nil {
			errs = append(errs, fmt.Errorf("unmapping pid_refs: %w", err))
		}
		s.refsMem, s.refs = nil, nil
	}
	if s.owner != nil {
		errs = append(errs, s.owner.close())
	} else {
		for name, fd := range s.fds {
			if err := unix.Close(fd); err != nil {
				errs = append(errs, fmt.Errorf("closing map %s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}
