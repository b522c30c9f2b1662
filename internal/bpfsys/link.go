package bpfsys

/*
#include <bpf/bpf.h>
*/
import "C"

import "unsafe"

// LinkProgID reports the ID of the program that the link behind fd attaches
// (EINVAL when fd is not a link). Needs kernel 5.8+.
func LinkProgID(fd int) (uint32, error) {
	var info C.struct_bpf_link_info
	size := C.__u32(unsafe.Sizeof(info))
	if err := errno(C.bpf_link_get_info_by_fd(C.int(fd), &info, &size)); err != nil {
		return 0, err
	}
	return uint32(info.prog_id), nil
}
