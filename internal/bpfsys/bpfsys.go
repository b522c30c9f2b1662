// Package bpfsys calls libbpf's thin syscall wrappers (bpf/bpf.h) for the operations
// libbpfgo does not offer, or offers only with allocations: opening pinned objects and
// map element operations on caller-owned buffers.
//
// Every function returns a syscall.Errno on failure, so callers can match it with
// errors.Is. The key and value pointers must point to memory without Go pointers,
// sized as the map's key and value; they do not escape.
package bpfsys

/*
#cgo LDFLAGS: -lelf -lz
#cgo noescape bpf_map_lookup_elem
#cgo nocallback bpf_map_lookup_elem
#cgo noescape bpf_map_update_elem
#cgo nocallback bpf_map_update_elem
#cgo noescape bpf_map_delete_elem
#cgo nocallback bpf_map_delete_elem
#include <stdlib.h>
#include <bpf/bpf.h>
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// Map update flags (linux/bpf.h).
const (
	Any     = C.BPF_ANY
	NoExist = C.BPF_NOEXIST
	Exist   = C.BPF_EXIST
)

func errno(ret C.int) error {
	if ret >= 0 {
		return nil
	}
	return syscall.Errno(-ret)
}

// ObjGet opens the BPF object pinned at path and returns a new file descriptor.
// It needs only search permission on the path, not CAP_SYS_ADMIN.
func ObjGet(path string) (int, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	fd := C.bpf_obj_get(cpath)
	if fd < 0 {
		return -1, errno(fd)
	}
	return int(fd), nil
}

// Lookup copies the value of key into value.
func Lookup(fd int, key, value unsafe.Pointer) error {
	return errno(C.bpf_map_lookup_elem(C.int(fd), key, value))
}

// Update writes value at key; flags is Any, NoExist or Exist.
func Update(fd int, key, value unsafe.Pointer, flags uint64) error {
	return errno(C.bpf_map_update_elem(C.int(fd), key, value, C.__u64(flags)))
}

// Delete removes key.
func Delete(fd int, key unsafe.Pointer) error {
	return errno(C.bpf_map_delete_elem(C.int(fd), key))
}

// LookupBatch copies up to *count entries after inBatch (from the start when nil)
// into keys and values, sets *count to how many it copied and writes the position
// to resume from into outBatch; with del it also deletes them. It returns ENOENT
// when it reached the end. Needs kernel 5.6+.
func LookupBatch(fd int, inBatch, outBatch, keys, values unsafe.Pointer, count *uint32, del bool) error {
	n := C.__u32(*count)
	var ret C.int
	if del {
		ret = C.bpf_map_lookup_and_delete_batch(C.int(fd), inBatch, outBatch, keys, values, &n, nil)
	} else {
		ret = C.bpf_map_lookup_batch(C.int(fd), inBatch, outBatch, keys, values, &n, nil)
	}
	*count = uint32(n)
	return errno(ret)
}

// MapInfo is what the kernel reports of a map.
type MapInfo struct {
	Type       uint32
	ID         uint32
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
	Name       string
}

// GetMapInfo reports the map behind fd.
func GetMapInfo(fd int) (MapInfo, error) {
	var info C.struct_bpf_map_info
	size := C.__u32(unsafe.Sizeof(info))
	if err := errno(C.bpf_map_get_info_by_fd(C.int(fd), &info, &size)); err != nil {
		return MapInfo{}, err
	}
	return MapInfo{
		Type:       uint32(info._type),
		ID:         uint32(info.id),
		KeySize:    uint32(info.key_size),
		ValueSize:  uint32(info.value_size),
		MaxEntries: uint32(info.max_entries),
		Flags:      uint32(info.map_flags),
		Name:       C.GoString(&info.name[0]),
	}, nil
}
