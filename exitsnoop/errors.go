package exitsnoop

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"exitsnoop.dev/internal/core"
)

// errnoError is a sentinel that also matches an errno with errors.Is, so callers
// that test syscall.ENOENT or syscall.EEXIST keep working.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string        { return e.msg }
func (e *errnoError) Is(target error) bool { return target == e.errno }

// Sentinel errors. Every error the package returns wraps at most one of them; test
// with errors.Is.
var (
	// ErrKeyNotExist: no tracing task for the pid, or no event for the trace ID.
	// It also matches syscall.ENOENT. It replaces cilium/ebpf's ebpf.ErrKeyNotExist
	// that callers of the seed tested.
	ErrKeyNotExist error = &errnoError{"key does not exist", syscall.ENOENT}
	// ErrKeyExist: the pid is traced already, or an event for the trace ID exists.
	// It also matches syscall.EEXIST.
	ErrKeyExist error = &errnoError{"key already exists", syscall.EEXIST}
	// ErrFull: the map has no room; the capacity is a load option. Matches syscall.E2BIG.
	ErrFull error = &errnoError{"map is full", syscall.E2BIG}
	// ErrNoProcess: the pid names no process, or no longer the one meant. Matches syscall.ESRCH.
	ErrNoProcess error = &errnoError{"no such process", syscall.ESRCH}
	// ErrInvalidArgument: a nil pointer, pid 0 or a bad option. Matches syscall.EINVAL.
	ErrInvalidArgument error = &errnoError{"invalid argument", syscall.EINVAL}
	// ErrNotProcess: the pid names a thread, not a process (thread-group leader).
	// Matches syscall.EINVAL.
	ErrNotProcess error = &errnoError{"not a process", syscall.EINVAL}
	// ErrTraceIDInUse: the trace ID traces another process, or has an event
	// nobody has deleted yet. Matches syscall.EEXIST.
	ErrTraceIDInUse error = &errnoError{"trace ID in use", syscall.EEXIST}
	// ErrNamespaceMismatch: the process is not in TaskInfo.PidnsInfo's pid namespace.
	ErrNamespaceMismatch = errors.New("process is in another pid namespace")
	// ErrPidNamespace: Trace was called in a pid namespace other than the host's,
	// whose pids the kernel records.
	ErrPidNamespace = errors.New("tracing needs the host's pid namespace")
	// ErrNotTraced: Wait's trace ID is neither traced nor has an event.
	ErrNotTraced = errors.New("trace ID is not traced and has no event")
	// ErrLost: the traced process is gone and its exit was not recorded; the
	// error is a *LostError naming why.
	ErrLost = errors.New("exit not recorded")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store is closed")
	// ErrNotInstalled: no tracer is pinned under the bpffs root (run EnsureRunning).
	ErrNotInstalled = errors.New("exitsnoop is not installed")
	// ErrIncompatible: pins of another format hold data this build cannot read.
	ErrIncompatible = errors.New("pinned exitsnoop is incompatible")
	// ErrNotSupported: the kernel lacks a feature; the error is a *NotSupportedError.
	ErrNotSupported = errors.New("not supported")
)

// NotSupportedError says which kernel feature is missing and which kernel has it.
type NotSupportedError struct {
	Feature    string // what is missing, e.g. "BPF ring buffer"
	MinVersion string // the first kernel that has it, e.g. "5.8"
	Err        error  // what the probe met, if anything (the kernel's errno)
}

func (e *NotSupportedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s not supported (requires >= %s): %v", e.Feature, e.MinVersion, e.Err)
	}
	return fmt.Sprintf("%s not supported (requires >= %s)", e.Feature, e.MinVersion)
}

// Unwrap returns the probe's error.
func (e *NotSupportedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotSupported) true.
func (e *NotSupportedError) Is(target error) bool { return target == ErrNotSupported }

// fate is why a traced exit has no event (enum exitsnoop_fate).
type fate uint32

const (
	fateTraced  fate = 0 // EXITSNOOP_FATE_TRACED: no exit yet
	fateDropped fate = 1 // EXITSNOOP_FATE_DROPPED
	fateStale   fate = 2 // EXITSNOOP_FATE_STALE
	fateMissed  fate = 3 // EXITSNOOP_FATE_MISSED
)

func (f fate) String() string { return core.FateCause(uint32(f)) }

// LostError is Wait's error when the process traced under TraceID is gone and
// no event can come. errors.Is(err, ErrLost) is true.
type LostError struct {
	TraceID uint64
	Pid     uint32
	Cause   string // why, in words: the map was full, the exit was missed, …
}

func (e *LostError) Error() string {
	return fmt.Sprintf("exit of pid %d (trace ID %d) not recorded: %s", e.Pid, e.TraceID, e.Cause)
}

// Is makes errors.Is(err, ErrLost) true.
func (e *LostError) Is(target error) bool { return target == ErrLost }

// mapErr turns a map operation's errno into the package's sentinel.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOENT):
		return ErrKeyNotExist
	case errors.Is(err, syscall.EEXIST):
		return ErrKeyExist
	case errors.Is(err, syscall.E2BIG), errors.Is(err, syscall.ENOMEM):
		return ErrFull
	}
	return err
}

// kindErrors are the sentinels of internal/core's error kinds (core.Errno aside;
// core.Lost becomes a *LostError in Wait, with its fate).
var kindErrors = map[core.Kind]error{
	core.NoProcess:    ErrNoProcess,
	core.NotProcess:   ErrNotProcess,
	core.NsMismatch:   ErrNamespaceMismatch,
	core.IDInUse:      ErrTraceIDInUse,
	core.Invalid:      ErrInvalidArgument,
	core.NotInstalled: ErrNotInstalled,
	core.NotRunning:   ErrNotRunning,
	core.Incompatible: ErrIncompatible,
	core.NotTraced:    ErrNotTraced,
	core.PidNamespace: ErrPidNamespace,
}

// coreErr turns an error of internal/core into the package's: the sentinel its
// kind names (an errno through mapErr), after the core's words if any.
func coreErr(err error) error {
	e, ok := err.(*core.Error) // not errors.As: its target escapes, and would cost every call
	if !ok {
		return err
	}
	sentinel, ok := kindErrors[e.Kind]
	if !ok { // core.Errno: the errno itself
		sentinel = mapErr(e.Errno)
	}
	switch {
	case e.Msg == "" && e.Suffix == "":
		return sentinel
	case e.Msg == "":
		return fmt.Errorf("%w%s", sentinel, e.Suffix)
	}
	return fmt.Errorf("%s: %w%s", e.Msg, sentinel, e.Suffix)
}

// VerifierError is a load that the kernel refused, with the verifier's log of the
// program it refused. errors.Is matches the load's errno.
type VerifierError struct {
	Program string   // the program, as bpf/exitsnoop.bpf.c names it
	Err     error    // libbpf's error of the load, wrapping the kernel's errno
	Log     []string // the verifier's log, line by line: its last lines say why
}

func (e *VerifierError) Error() string {
	return fmt.Sprintf("program %s: %v: verifier: %s (%d lines of log in VerifierError.Log)",
		e.Program, e.Err, reason(e.Log), len(e.Log))
}

// Unwrap returns the load's error.
func (e *VerifierError) Unwrap() error { return e.Err }

// reason is the last line of a verifier log that is not one of the statistics it
// ends with ("" if it has only those: the program loaded).
func reason(log []string) string {
	for i := len(log) - 1; i >= 0; i-- {
		l := strings.TrimSpace(log[i])
		if l != "" && !strings.HasPrefix(l, "processed ") && !strings.HasPrefix(l, "insns processed ") && // 7.x
			!strings.HasPrefix(l, "verification time ") && !strings.HasPrefix(l, "stack depth ") {
			return l
		}
	}
	return ""
}

// permOp is an operation whose permission error gets a hint.
type permOp = core.Perm

const (
	permLoad     = core.PermLoad     // create maps, load and attach programs (and probe features)
	permOpenPins = core.PermOpenPins // open pins (bpf_obj_get)
)

// permHint returns, as " (needs …)", what op lacks when err is a permission
// error and this process lacks the capability (internal/core's words).
func permHint(op permOp, err error) string { return core.PermHint(op, err) }
