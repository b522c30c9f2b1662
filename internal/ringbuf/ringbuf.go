// Package ringbuf reads a BPF ring buffer (BPF_MAP_TYPE_RINGBUF, kernel 5.8+)
// through its memory mapping, without allocating per record, as one of possibly
// several readers that each see every record.
//
// The reading itself is ring.c (ring.h says how), the one implementation that
// the C library uses too; this package adds what is Go's: the wait in epoll on
// the ring's descriptor, ended by Close from another goroutine. A Reader is for
// one goroutine; Close may be called from any goroutine to make a blocked Read
// return ErrClosed.
package ringbuf

// #cgo CFLAGS: -O2 -Wall
// #include <errno.h>
// #include <stdlib.h>
// #include "ring.h"
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	batch       = 16 // records copied per call into C
	epollWakeup = 1  // epoll data of the close eventfd
)

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("ring buffer reader closed")

// Reader consumes records of one ring buffer.
type Reader struct {
	c      *readerC // C memory: the C reader and its batch buffer
	epfd   int
	mu     sync.Mutex // guards wakefd and c between Close, Lost and Release
	wakefd int
	lost   uint64 // Lost's count once released
	closed atomic.Bool
	events [2]unix.EpollEvent
}

// readerC is allocated in C memory, which C may keep pointers into.
type readerC struct {
	ring C.struct_es_ring
	lens [batch]C.uint32_t
	out  [batch * MaxRecord]byte
}

// MaxRecord is the longest record Read delivers.
const MaxRecord = C.ES_RING_MAX_RECORD

// NewReader maps the ring buffer behind fd (fd may be closed afterwards).
func NewReader(fd int, size uint32) (_ *Reader, retErr error) {
	r := newReader()
	defer func() {
		if retErr != nil {
			r.Release()
		}
	}()
	if rc := C.es_ring_map(&r.c.ring, C.int(fd), C.uint32_t(size)); rc == -C.EINVAL {
		return nil, fmt.Errorf("ring buffer size %d: not a power-of-two multiple of the page size", size)
	} else if rc < 0 {
		return nil, fmt.Errorf("mapping ring buffer: %w", unix.Errno(-rc))
	}
	var err error
	if r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if r.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	for _, ev := range []struct {
		fd   int
		data int32
	}{{fd, 0}, {r.wakefd, epollWakeup}} {
		e := unix.EpollEvent{Events: unix.EPOLLIN, Fd: ev.data}
		if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, ev.fd, &e); err != nil {
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	return r, nil
}

func newReader() *Reader {
	c := (*readerC)(C.calloc(1, C.size_t(unsafe.Sizeof(readerC{}))))
	if c == nil {
		panic("ringbuf: out of C memory")
	}
	return &Reader{c: c, epfd: -1, wakefd: -1}
}

// WakeOnDemand tells the reader that the producer writes records without waking
// readers, and wakes them all (BPF_RB_FORCE_WAKEUP) only when it finds *waiting
// set, clearing it. Read then sets it before it sleeps, and first lingers awake
// for a few milliseconds after records came, looking at shorter and shorter
// intervals: a stream of records then costs the producer no wake-ups. waiting
// must not be Go memory (it is the producer's: a mapped array). Call it before
// the first Read.
func (r *Reader) WakeOnDemand(waiting *uint32) {
	C.es_ring_wake_on_demand(&r.c.ring, (*C.uint32_t)(unsafe.Pointer(waiting)))
}

// Read calls fn for each available record, in order, then returns; when none is
// available it first waits for one. The record's bytes are a copy, valid only
// during fn; records longer than MaxRecord are skipped, as lost.
func (r *Reader) Read(fn func(record []byte)) error {
	for {
		if r.closed.Load() {
			return ErrClosed
		}
		if r.consume(fn) > 0 {
			return nil
		}
		switch d := C.es_ring_idle(&r.c.ring); {
		case d > 0:
			time.Sleep(time.Duration(d))
			continue
		case d == 0 && r.consume(fn) > 0: // the flag is set: one more look, then sleep
			return nil
		}
		if _, err := unix.EpollWait(r.epfd, r.events[:], BackstopMillis); err != nil && err != unix.EINTR {
			return fmt.Errorf("epoll_wait: %w", err)
		}
	}
}

// BackstopMillis bounds a sleep that a wake-up cannot end: the kernel tells
// readers of new data by the shared consumer position, so a reader that another
// reader overtook sees none when it wakes. With one reader it never matters.
// (A variable for the tests that prove wake-ups alone wake readers.)
var BackstopMillis = C.ES_RING_BACKSTOP_MS

// Lost counts what this reader missed: one for each record too long, and one
// for each time it fell behind and found records overwritten before it read
// them, however many records that was (their headers are overwritten too: the
// number is unknowable). It is 0 if and only if the reader missed nothing.
func (r *Reader) Lost() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c == nil {
		return r.lost
	}
	return uint64(C.es_ring_lost(&r.c.ring))
}

// consume hands every committed record after the reader's position to fn, a
// batch at a time, and returns how many it handed.
func (r *Reader) consume(fn func([]byte)) int {
	total := 0
	for {
		n := int(C.es_ring_consume(&r.c.ring, (*C.uint8_t)(&r.c.out[0]), &r.c.lens[0], batch))
		for i := range n {
			fn(r.c.out[i*MaxRecord : i*MaxRecord+int(r.c.lens[i])])
		}
		total += n
		if n < batch {
			return total
		}
	}
}

// Close makes a running or later Read return ErrClosed. It does not release
// the mappings: the reading goroutine calls Release once Read has returned.
func (r *Reader) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.CompareAndSwap(false, true) && r.wakefd >= 0 {
		var one [8]byte
		one[0] = 1
		unix.Write(r.wakefd, one[:])
	}
}

// Release unmaps the ring buffer and closes the reader's descriptors. Call it
// once no Read is running.
func (r *Reader) Release() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	if r.c != nil {
		r.lost = uint64(C.es_ring_lost(&r.c.ring))
		if rc := C.es_ring_unmap(&r.c.ring); rc < 0 {
			err = fmt.Errorf("unmapping ring buffer: %w", unix.Errno(-rc))
		}
		C.free(unsafe.Pointer(r.c))
		r.c = nil
	}
	for _, fd := range []int{r.epfd, r.wakefd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	r.epfd, r.wakefd = -1, -1
	return err
}
