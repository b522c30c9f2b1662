package exitsnoop

import (
	"errors"
	"fmt"
	"syscall"
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
}

func (e *NotSupportedError) Error() string {
	return fmt.Sprintf("%s not supported (requires >= %s)", e.Feature, e.MinVersion)
}

// Is makes errors.Is(err, ErrNotSupported) true.
func (e *NotSupportedError) Is(target error) bool { return target == ErrNotSupported }

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
