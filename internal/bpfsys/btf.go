package bpfsys

/*
#include <errno.h>
#include <stdlib.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>

// get_struct_layout writes the size of struct name in obj's BTF, and the byte offset
// of each of its first max members into offs (names into names), and returns the
// number of members, or a negative errno.
static int get_struct_layout(const struct btf *btf, const char *name, unsigned *size,
			 unsigned *offs, const char **names, int max)
{
	int id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);
	const struct btf_type *t;
	const struct btf_member *m;
	int i, n;

	if (id < 0)
		return id;
	t = btf__type_by_id(btf, id);
	*size = t->size;
	n = btf_vlen(t);
	m = btf_members(t);
	for (i = 0; i < n && i < max; i++) {
		offs[i] = btf_member_bit_offset(t, i) / 8;
		names[i] = btf__name_by_offset(btf, m[i].name_off);
	}
	return n;
}
*/
import "C"

import (
	"fmt"
	"syscall"
	"unsafe"
)

// Layout is a struct's size and its members' byte offsets, by name, in order.
type Layout struct {
	Size    uint32
	Members []string
	Offsets []uint32
}

// StructLayouts reads the layouts of the named structs from the BTF of the BPF
// object in obj (an ELF file's bytes).
func StructLayouts(obj []byte, names ...string) (map[string]Layout, error) {
	buf := C.CBytes(obj)
	defer C.free(buf)
	o, err := C.bpf_object__open_mem(buf, C.size_t(len(obj)), nil)
	if o == nil {
		return nil, fmt.Errorf("opening BPF object: %w", err)
	}
	defer C.bpf_object__close(o)
	btf := C.bpf_object__btf(o)
	if btf == nil {
		return nil, fmt.Errorf("BPF object without BTF: %w", syscall.ENOENT)
	}
	out := map[string]Layout{}
	for _, name := range names {
		cname := C.CString(name)
		var size C.uint
		var offs [32]C.uint
		var cnames [32]*C.char
		n := C.get_struct_layout(btf, cname, &size, &offs[0], &cnames[0], 32)
		C.free(unsafe.Pointer(cname))
		if n < 0 {
			return nil, fmt.Errorf("struct %s in BTF: %w", name, syscall.Errno(-n))
		}
		l := Layout{Size: uint32(size)}
		for i := 0; i < int(n) && i < 32; i++ {
			l.Members = append(l.Members, C.GoString(cnames[i]))
			l.Offsets = append(l.Offsets, uint32(offs[i]))
		}
		out[name] = l
	}
	return out, nil
}
