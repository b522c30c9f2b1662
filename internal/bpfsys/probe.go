package bpfsys

/*
#include <unistd.h>
#include <bpf/bpf.h>
*/
import "C"

import "unsafe"

// ProbeMap creates and closes a map of mapType with flags (4-byte keys and
// values; maxEntries entries) and returns the kernel's error, if any. With batch,
// it also reads the map with a batch lookup.
func ProbeMap(mapType, flags, maxEntries uint32, batch bool) error {
	opts := C.struct_bpf_map_create_opts{sz: C.size_t(unsafe.Sizeof(C.struct_bpf_map_create_opts{})), map_flags: C.__u32(flags)}
	keySize, valueSize := C.__u32(4), C.__u32(4)
	if mapType == C.BPF_MAP_TYPE_RINGBUF {
		keySize, valueSize = 0, 0
	}
	fd := C.bpf_map_create(uint32(mapType), nil, keySize, valueSize, C.__u32(maxEntries), &opts)
	if fd < 0 {
		return errno(fd)
	}
	defer C.close(fd)
	if !batch {
		return nil
	}
	var keys, values [1]uint32
	var out uint32
	n := uint32(1)
	if err := LookupBatch(int(fd), nil, unsafe.Pointer(&out), unsafe.Pointer(&keys), unsafe.Pointer(&values), &n, false); err != nil && n == 0 {
		return err
	}
	return nil
}
