// Command lib is the C ABI of exitsnoop, built with -buildmode=c-archive into
// libexitsnoop.a (see cgo/Makefile). The public functions are the C wrappers in
// exitsnoop.c, declared in cgo/include/exitsnoop.h; they check their arguments
// and call the Go functions exported here, which have the exitsnoop__go_ prefix
// and are made local to the archive with everything else that is not public.
//
// No Go pointer crosses the boundary: a C handle (struct exitsnoop_store, C
// memory) holds an integer ID, which names a *exitsnoop.Store in the table below.
// Results are copied field by field into the caller's C structs.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -fvisibility=hidden -Wall -Wextra -Werror=implicit-function-declaration
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "exitsnoop.h"
#include "capi.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"exitsnoop.dev/exitsnoop"
)

func main() {}

// stores is the handle table: the ID in a C handle names a Store here from open
// until exitsnoop_store_free. A closed Store stays here (its methods return
// ErrClosed, which is -EBADF) until then.
var stores struct {
	sync.RWMutex
	m    map[uint64]*exitsnoop.Store
	next uint64
}

func register(s *exitsnoop.Store) uint64 {
	stores.Lock()
	defer stores.Unlock()
	if stores.m == nil {
		stores.m = map[uint64]*exitsnoop.Store{}
	}
	stores.next++
	stores.m[stores.next] = s
	return stores.next
}

func lookup(id C.uint64_t) (*exitsnoop.Store, error) {
	stores.RLock()
	s := stores.m[uint64(id)]
	stores.RUnlock()
	if s == nil {
		return nil, fmt.Errorf("store handle %d is not open (freed?): %w", uint64(id), exitsnoop.ErrInvalidArgument)
	}
	return s, nil
}

// errTimedOut is Wait's timeout, as -ETIMEDOUT.
var errTimedOut = errors.New("timed out")

// errnoOf maps an error of the Go package to the negative errno the header
// documents: the package's sentinels first, then an errno wrapped anywhere in
// the chain, else EIO.
func errnoOf(err error) C.int {
	for _, m := range []struct {
		err   error
		errno C.int
	}{
		{exitsnoop.ErrClosed, C.EBADF},
		{exitsnoop.ErrNotInstalled, C.ENOPKG},
		{exitsnoop.ErrNotRunning, C.ENOLINK},
		{exitsnoop.ErrIncompatible, C.EPROTO},
		{exitsnoop.ErrNotSupported, C.EOPNOTSUPP},
		{exitsnoop.ErrLost, C.ENODATA},
		{exitsnoop.ErrNotTraced, C.ENOENT},
		{exitsnoop.ErrNamespaceMismatch, C.EXDEV},
		{exitsnoop.ErrPidNamespace, C.EXDEV},
		{exitsnoop.ErrKeyNotExist, C.ENOENT},
		{exitsnoop.ErrKeyExist, C.EEXIST},
		{exitsnoop.ErrFull, C.E2BIG},
		{exitsnoop.ErrNoProcess, C.ESRCH},
		{exitsnoop.ErrInvalidArgument, C.EINVAL},
		{errTimedOut, C.ETIMEDOUT},
		{context.DeadlineExceeded, C.ETIMEDOUT},
		{context.Canceled, C.ECANCELED},
	} {
		if errors.Is(err, m.err) {
			return -m.errno
		}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		return -C.int(errno)
	}
	return -C.EIO
}

// result turns err into the C return value, and its message into the calling
// thread's last error (exitsnoop_last_error). The calling C thread runs this
// goroutine, so the thread-local message is the caller's.
func result(err error) C.int {
	if err == nil {
		return 0
	}
	setError(err.Error())
	return errnoOf(err)
}

func setError(msg string) {
	if msg == "" {
		msg = "unknown error"
	}
	C.exitsnoop__set_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
}

// guard turns a panic (a bug: arguments are checked in C first) into -EIO
// rather than letting it abort the caller's process. Use: defer guard(&ret).
func guard(ret *C.int) {
	if r := recover(); r != nil {
		setError(fmt.Sprintf("internal error: %v", r))
		*ret = -C.EIO
	}
}

func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

//export exitsnoop__go_ensure_running
func exitsnoop__go_ensure_running(root *C.char) (ret C.int) {
	defer guard(&ret)
	return result(exitsnoop.EnsureRunning(goString(root)))
}

//export exitsnoop__go_uninstall
func exitsnoop__go_uninstall(root *C.char) (ret C.int) {
	defer guard(&ret)
	return result(exitsnoop.Uninstall(goString(root)))
}

// Modes of exitsnoop__go_open (capi.h).
const (
	modeOpen    = C.EXITSNOOP__OPEN
	modePinned  = C.EXITSNOOP__OPEN_PINNED
	modePrivate = C.EXITSNOOP__ATTACH_PRIVATE
)

//export exitsnoop__go_open
func exitsnoop__go_open(mode C.int, root *C.char, maxTasks, maxEvents C.uint32_t, id *C.uint64_t) (ret C.int) {
	defer guard(&ret)
	var s *exitsnoop.Store
	var err error
	switch mode {
	case modeOpen:
		s, err = exitsnoop.Open(exitsnoop.Options{
			BPFFSRoot:       goString(root),
			MaxTracingTasks: uint32(maxTasks),
			MaxExitedEvents: uint32(maxEvents),
		})
	case modePinned:
		s, err = exitsnoop.NewStore(goString(root))
	case modePrivate:
		s, err = exitsnoop.NewStoreFromAttach()
	default:
		err = fmt.Errorf("open mode %d: %w", int(mode), exitsnoop.ErrInvalidArgument)
	}
	if err != nil {
		return result(err)
	}
	*id = C.uint64_t(register(s))
	return 0
}

//export exitsnoop__go_close
func exitsnoop__go_close(id C.uint64_t) (ret C.int) {
	defer guard(&ret)
	s, err := lookup(id)
	if err != nil {
		return result(err)
	}
	return result(s.Close())
}

// exitsnoop__go_free closes the store and drops it from the table.
//
//export exitsnoop__go_free
func exitsnoop__go_free(id C.uint64_t) (ret C.int) {
	defer guard(&ret)
	stores.Lock()
	s := stores.m[uint64(id)]
	delete(stores.m, uint64(id))
	stores.Unlock()
	if s == nil {
		return 0
	}
	return result(s.Close())
}

func taskInfo(info *C.struct_exitsnoop_task_info) *exitsnoop.TaskInfo {
	return &exitsnoop.TaskInfo{
		TraceID:   uint64(info.trace_id),
		PidnsInfo: exitsnoop.PidnsInfo{Dev: uint64(info.pidns.dev), Ino: uint64(info.pidns.ino)},
	}
}

//export exitsnoop__go_trace
func exitsnoop__go_trace(id C.uint64_t, pid C.uint32_t, info *C.struct_exitsnoop_task_info) (ret C.int) {
	defer guard(&ret)
	s, err := lookup(id)
	if err != nil {
		return result(err)
	}
	return result(s.Trace(uint32(pid), taskInfo(info)))
}

//export exitsnoop__go_trace_pidfd
func exitsnoop__go_trace_pidfd(id C.uint64_t, pidfd C.int, info *C.struct_exitsnoop_task_info) (ret C.int) {
	defer guard(&ret)
	s, err := lookup(id)
	if err != nil {
		return result(err)
	}
	return result(s.TracePidfd(int(pidfd), taskInfo(info)))
}

//export exitsnoop__go_get_tracing_task
func exitsnoop__go_get_tracing_task(id C.uint64_t, pid C.uint32_t, out *C.struct_exitsnoop_task_info) (ret C.int) {
	defer guard(&ret)
	s, err := lookup(id)
	if err != nil {
		return result(err)
	}
	ti, err := s.GetTracingTask(uint32(pid))
	if err != nil {
		return result(err)
	}
	out.trace_id = C.uint64_t(ti.TraceID)
	out.pidns.dev = C.uint64_t(ti.PidnsInfo.Dev)
	out.pidns.ino = C.uint64_t(ti.PidnsInfo.Ino)
	return 0
}

//export exitsnoop__go_delete_tracing_task
func exitsnoop__go_delete_tracing_task(id C.uint64_t, pid C.uint32_t) (ret C.int) {
	defer guard(&ret)
	s, err := lookup(id)
	if err != nil {
		return result(err)
	}
	return result(s.DeleteTracingTask(uint32(pid)))
}

//export exitsnoop__go_record_wait_status
func exitsnoop__go_record_wait_status(id C.uint64_t, traceID C.uint64_t, pid C.uint32_t, status C.int) (ret C.int) {
	defer guard(&ret)
	s, err := lookup(id)
	if err != nil {
		return result(err)
	}
	return result(s.ExitedEventFromWaitStatus(uint64(traceID), uint32(pid), uint32(status)))
}

func putStatus(out *C.struct_exitsnoop_exit_status, ev *exitsnoop.ExitStatus) {
	out.pid = C.uint32_t(ev.Pid)
	out.exit_code = C.int32_t(ev.ExitCode)
	out.start_boottime = C.uint64_t(ev.StartBoottime)
	out.exited_time = C.uint64_t(ev.ExittedTime)
}

//export exitsnoop__go_get_exited_event
func exitsnoop__go_get_exited_event(id C.uint64_t, traceID C.uint64_t, out *C.struct_exitsnoop_exit_status) (ret C.int) {
	defer guard(&ret)
	s, err := lookup(id)
	if err != nil {
		return result(err)
	}
	var ev exitsnoop.ExitStatus
	if err := s.LookupExitedEvent(uint64(traceID), &ev); err != nil {
		return result(err)
	}
	putStatus(out, &ev)
	return 0
}

//export exitsnoop__go_delete_exited_event
func exitsnoop__go_delete_exited_event(id C.uint64_t, traceID C.uint64_t) (ret C.int) {
	defer guard(&ret)
	s, err := lookup(id)
	if err != nil {
		return result(err)
	}
	return result(s.DeleteExitedEvent(uint64(traceID)))
}

//export exitsnoop__go_wait
func exitsnoop__go_wait(id C.uint64_t, traceID C.uint64_t, timeoutMs C.int, out *C.struct_exitsnoop_exit_status) (ret C.int) {
	defer guard(&ret)
	s, err := lookup(id)
	if err != nil {
		return result(err)
	}
	ctx := context.Background()
	if timeoutMs >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, time.Duration(timeoutMs)*time.Millisecond,
			fmt.Errorf("wait for trace ID %d: no exit within %d ms: %w", uint64(traceID), int(timeoutMs), errTimedOut))
		defer cancel()
	}
	ev, err := s.Wait(ctx, uint64(traceID))
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			err = context.Cause(ctx)
		}
		return result(err)
	}
	putStatus(out, ev)
	return 0
}

//export exitsnoop__go_stats
func exitsnoop__go_stats(id C.uint64_t, out *C.struct_exitsnoop_stats) (ret C.int) {
	defer guard(&ret)
	s, err := lookup(id)
	if err != nil {
		return result(err)
	}
	st, err := s.Stats()
	if err != nil {
		return result(err)
	}
	out.exits = C.uint64_t(st.Exits)
	out.recorded = C.uint64_t(st.Recorded)
	out.dropped = C.uint64_t(st.Dropped)
	out.duplicate = C.uint64_t(st.Duplicate)
	out.namespace_mismatch = C.uint64_t(st.NamespaceMismatch)
	out.pid_reused = C.uint64_t(st.PidReused)
	out.notify_lost = C.uint64_t(st.NotifyLost)
	out.recovered = C.uint64_t(st.Recovered)
	out.missed = C.uint64_t(st.Missed)
	return 0
}

//export exitsnoop__go_capacity
func exitsnoop__go_capacity(id C.uint64_t, tasks, events *C.uint32_t) (ret C.int) {
	defer guard(&ret)
	s, err := lookup(id)
	if err != nil {
		return result(err)
	}
	t, e, err := s.Capacity()
	if err != nil {
		return result(err)
	}
	*tasks, *events = C.uint32_t(t), C.uint32_t(e)
	return 0
}

//export exitsnoop__go_pidns_of
func exitsnoop__go_pidns_of(pid C.uint32_t, out *C.struct_exitsnoop_pidns_info) (ret C.int) {
	defer guard(&ret)
	ns, err := exitsnoop.PidnsOf(uint32(pid))
	if err != nil {
		return result(err)
	}
	out.dev, out.ino = C.uint64_t(ns.Dev), C.uint64_t(ns.Ino)
	return 0
}
