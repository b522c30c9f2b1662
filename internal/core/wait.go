package core

// #include "core.h"
import "C"

import "unsafe"

// NoEventYet decides, for trace ID id without an event, whether one can still
// come (es_no_event_yet): true with the event in ev (an exit_status), false to
// go on waiting, or an error of kind NotTraced, or Lost with *pid and *fate.
func (c *Core) NoEventYet(id uint64, hostPidns bool, nowNs int64, goneSinceNs *int64, ev unsafe.Pointer,
	pid, fate *uint32) (bool, error) {
	var e C.struct_es_err
	var ref C.struct_trace_ref
	var since C.int64_t = C.int64_t(*goneSinceNs)
	ret := C.es_no_event_yet(&c.c, C.uint64_t(id), C.bool(hostPidns), C.int64_t(nowNs), &since,
		(*C.struct_exit_status)(ev), &ref, &e)
	*goneSinceNs = int64(since)
	*pid, *fate = uint32(ref.pid), uint32(ref.fate)
	if ret < 0 {
		return false, result(ret, &e)
	}
	return ret == 1, nil
}

// ChildStatus reads the wait status of pidfd's process if it is an exited,
// unreaped child of this process, leaving it unreaped.
func ChildStatus(pidfd int) (uint32, bool) {
	var status C.uint32_t
	ok := C.es_child_status(C.int(pidfd), &status) == 1
	return uint32(status), ok
}

// FateCause says in words why an exit of that fate was not recorded.
func FateCause(fate uint32) string { return C.GoString(C.es_fate_cause(C.uint32_t(fate))) }
