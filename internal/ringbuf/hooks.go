package ringbuf

// #include "ring.h"
import "C"

import "unsafe"

// What the tests see of the C reader (cgo cannot be used in _test.go files).

func (r *Reader) consumerPos() *uint64 { return (*uint64)(unsafe.Pointer(r.c.ring.cons_pos)) }
func (r *Reader) producerPos() *uint64 { return (*uint64)(unsafe.Pointer(r.c.ring.prod_pos)) }

// newReaderOn is a Reader on mappings the caller laid out (es_ring_init): a
// consumer page, and a producer page followed by the data area of size bytes.
func newReaderOn(cons, prod []byte, page int, size uint64) *Reader {
	r := newReader()
	C.es_ring_init(&r.c.ring, unsafe.Pointer(&cons[0]), unsafe.Pointer(&prod[0]), C.size_t(page), C.uint64_t(size))
	return r
}
