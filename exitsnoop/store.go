package exitsnoop

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/bpfsys"
	"exitsnoop.dev/internal/core"
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

	core                               core.Core      // the protocols (internal/core) on the maps below
	fds                                map[string]int // every map's and program's fd, by pin name
	progs                              []int          // the programs, from fds, for their stats
	tasks, events, traces, stats, meta int            // the hot maps, from fds
	refsMem                            []byte
	refs                               []uint32 // pid_refs' byte counters, 4 a word, shared with the kernel
	ncpu                               int
	hostPidns                          bool          // this process sees the host's pids
	notify                             notifier      // the ring buffer's reader, for Subscribe
	closing                            chan struct{} // closed by Close, for Wait

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
// saturated by concurrent Traces (EBUSY).
func (s *Store) refInc(pid uint32) error { return coreErr(core.RefInc(s.refs, pid)) }

// refDec takes back one count of pid's byte; the caller holds one.
func (s *Store) refDec(pid uint32) { core.RefDec(s.refs, pid) }

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

// DeleteTracingTask stops tracing pid, or returns ErrKeyNotExist. Its trace ID
// is free for another Trace.
func (s *Store) DeleteTracingTask(pid uint32) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := s.core.DeleteTracingTask(pid); err != nil {
		return fmt.Errorf("delete tracing task %d: %w", pid, coreErr(err))
	}
	return nil
}

// ExitedEventFromWaitStatus records an exit learned another way (from waitpid, say)
// so that readers have one source of truth: an ExitStatus with pid, the raw wait
// status and the current CLOCK_BOOTTIME time; StartBoottime is 0. A tracing entry
// of pid with the same trace ID is removed. This Store's waiters and subscribers
// are told at once; other processes' find it in the map. Returns ErrKeyExist if an event for
// traceEventID exists (the kernel's record wins).
func (s *Store) ExitedEventFromWaitStatus(traceEventID uint64, pid uint32, status uint32) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var ev ExitStatus
	if err := s.core.RecordWaitStatus(traceEventID, pid, status, unsafe.Pointer(&ev)); err != nil {
		return coreErr(err)
	}
	s.notify.local(Event{TraceID: traceEventID, ExitStatus: ev})
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
// It also forgets why an exit of traceEventID was not recorded (see LostError),
// so that Wait then returns ErrNotTraced.
func (s *Store) DeleteExitedEvent(traceEventID uint64) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := s.core.DeleteEvent(traceEventID); err != nil {
		return fmt.Errorf("delete event %d: %w", traceEventID, coreErr(err))
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
	close(s.closing)
	s.notify.stop()
	var errs []error
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
