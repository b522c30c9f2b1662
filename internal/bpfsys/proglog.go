package bpfsys

/*
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// Verifier log levels (linux/bpf.h).
const (
	LogNone  = 0 // no log; libbpf reloads a program that fails at level 1
	LogStats = 4 // BPF_LOG_STATS: the reason of a failure and the statistics
)

// LogSize is the size of each program's log buffer: libbpf's own (BPF_LOG_BUF_SIZE).
// Pages the kernel does not write are never touched.
const LogSize = 16 << 20

// ProgLogs are kernel log buffers of the programs of one libbpf object: the
// verifier writes its log of each program into that program's buffer instead of
// libbpf printing it through its process-wide callback. They belong to the
// object: free them after closing it.
type ProgLogs struct {
	names []string
	bufs  []*C.char
}

// NewProgLogs gives each program of obj, a libbpf struct bpf_object * that is
// opened and not loaded, a buffer of LogSize bytes and the verifier log level
// (LogNone or LogStats).
func NewProgLogs(obj unsafe.Pointer, level uint32) (*ProgLogs, error) {
	o := (*C.struct_bpf_object)(obj)
	l := &ProgLogs{}
	for p := C.bpf_object__next_program(o, nil); p != nil; p = C.bpf_object__next_program(o, p) {
		buf := (*C.char)(C.calloc(1, LogSize))
		if buf == nil {
			l.Free()
			return nil, syscall.ENOMEM
		}
		l.bufs = append(l.bufs, buf)
		l.names = append(l.names, C.GoString(C.bpf_program__name(p)))
		if err := errno(C.bpf_program__set_log_buf(p, buf, LogSize)); err != nil {
			l.Free()
			return nil, err
		}
		if err := errno(C.bpf_program__set_log_level(p, C.__u32(level))); err != nil {
			l.Free()
			return nil, err
		}
	}
	return l, nil
}

// ProgLog is the verifier's log of one program.
type ProgLog struct {
	Program string
	Log     string
}

// Logs returns the programs' logs, in the object's order, leaving out empty
// ones (a program loaded without a log, or not loaded).
func (l *ProgLogs) Logs() []ProgLog {
	var out []ProgLog
	for i, buf := range l.bufs {
		if s := C.GoStringN(buf, C.int(C.strnlen(buf, LogSize))); s != "" {
			out = append(out, ProgLog{Program: l.names[i], Log: s})
		}
	}
	return out
}

// Free releases the buffers. A nil *ProgLogs has none.
func (l *ProgLogs) Free() {
	if l == nil {
		return
	}
	for _, buf := range l.bufs {
		C.free(unsafe.Pointer(buf))
	}
	l.bufs, l.names = nil, nil
}
