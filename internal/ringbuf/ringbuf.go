// Package ringbuf reads a BPF ring buffer (BPF_MAP_TYPE_RINGBUF, kernel 5.8+)
// through its memory mapping, without cgo and without allocating per record, as
// one of possibly several readers that each see every record.
//
// The layout is the kernel's (kernel/bpf/ringbuf.c): a consumer page that the
// reader writes, then a producer page and the data area, mapped twice in a row so
// that a record that wraps around is contiguous. A Reader is for one goroutine;
// Close may be called from any goroutine to make a blocked Read return ErrClosed.
package ringbuf

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	hdrSize     = 8       // struct bpf_ringbuf_hdr: u32 len, u32 pg_off
	busyBit     = 1 << 31 // BPF_RINGBUF_BUSY_BIT: being written
	discardBit  = 1 << 30 // BPF_RINGBUF_DISCARD_BIT: skip it
	lenMask     = ^uint32(busyBit | discardBit)
	epollWakeup = 1 // epoll data of the close eventfd
)

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("ring buffer reader closed")

// Reader consumes records of one ring buffer.
type Reader struct {
	cons, prod, data []byte // the mappings
	mask             uint64
	pos              uint64 // this reader's position; the shared one is in cons
	buf              [MaxRecord]byte
	lost             atomic.Uint64
	epfd             int
	mu               sync.Mutex // guards wakefd between Close and Release
	wakefd           int
	closed           atomic.Bool
	events           [2]unix.EpollEvent
	waiting          *uint32   // the producer's flag: wake me (WakeOnDemand)
	last             time.Time // when Read last found records
}

// NewReader maps the ring buffer behind fd (fd may be closed afterwards).
func NewReader(fd int, size uint32) (_ *Reader, retErr error) {
	page := os.Getpagesize()
	if size == 0 || size&(size-1) != 0 || int(size)%page != 0 {
		return nil, fmt.Errorf("ring buffer size %d: not a power-of-two multiple of the page size", size)
	}
	r := &Reader{mask: uint64(size) - 1, epfd: -1, wakefd: -1}
	defer func() {
		if retErr != nil {
			r.Release()
		}
	}()
	var err error
	if r.cons, err = unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("mapping consumer page: %w", err)
	}
	if r.prod, err = unix.Mmap(fd, int64(page), page+2*int(size), unix.PROT_READ, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("mapping producer pages: %w", err)
	}
	r.data = r.prod[page:]
	// A new reader starts with the records to come; older ones are for others.
	r.pos = atomic.LoadUint64(r.producerPos())
	r.publish()
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

func (r *Reader) consumerPos() *uint64 { return (*uint64)(unsafe.Pointer(&r.cons[0])) }
func (r *Reader) producerPos() *uint64 { return (*uint64)(unsafe.Pointer(&r.prod[0])) }

// WakeOnDemand tells the reader that the producer writes records without waking
// readers, and wakes them all (BPF_RB_FORCE_WAKEUP) only when it finds *waiting
// set, clearing it. Read then sets it before it sleeps, and first lingers awake
// for a few milliseconds after records came, looking at shorter and shorter
// intervals: a stream of records then costs the producer no wake-ups. Call it
// before the first Read.
func (r *Reader) WakeOnDemand(waiting *uint32) { r.waiting = waiting }

// Lingering after records came: Read looks again after lingerFirst, doubling up
// to lingerMax, for lingerFor in all, before it sets the waiting flag and sleeps.
const (
	lingerFirst = 50 * time.Microsecond
	lingerMax   = time.Millisecond
	lingerFor   = 5 * time.Millisecond
)

// Read calls fn for each available record, in order, then returns; when none is
// available it first waits for one. The record's bytes are a copy, valid only
// during fn; records longer than MaxRecord are skipped, as lost.
func (r *Reader) Read(fn func(record []byte)) error {
	pause := lingerFirst
	for {
		if r.closed.Load() {
			return ErrClosed
		}
		if n := r.consume(fn); n > 0 {
			r.last = time.Now()
			return nil
		}
		if r.waiting != nil {
			if time.Since(r.last) < lingerFor {
				time.Sleep(pause)
				pause = min(2*pause, lingerMax)
				continue
			}
			// An atomic store orders the flag before the look at the records, as the
			// producer's commit orders its record before its look at the flag.
			atomic.StoreUint32(r.waiting, 1)
			if n := r.consume(fn); n > 0 {
				r.last = time.Now()
				return nil
			}
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
var BackstopMillis = 100

// MaxRecord is the longest record Read delivers.
const MaxRecord = 256

// Lost counts what this reader missed: one for each record too long, and one
// for each time it fell behind and found records overwritten before it read
// them, however many records that was (their headers are overwritten too: the
// number is unknowable). It is 0 if and only if the reader missed nothing.
func (r *Reader) Lost() uint64 { return r.lost.Load() }

// consume hands every committed record after the reader's own position to fn and
// returns how many it handed.
//
// Several readers, in several processes, may share a ring buffer: each keeps its
// own position and moves the shared consumer position (the kernel's bound on
// what it may overwrite) to the furthest any reader got. A reader left behind
// may find its records overwritten: it checks, after copying each record, that
// the producer has not come round to it, and skips to the shared position if so.
func (r *Reader) consume(fn func([]byte)) int {
	n := 0
	defer r.publish()
	for {
		prod := atomic.LoadUint64(r.producerPos())
		if prod-r.pos > r.mask+1 {
			r.resync()
			continue
		}
		if r.pos >= prod {
			return n
		}
		off := r.pos & r.mask
		hdr := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[off])))
		if hdr&busyBit != 0 {
			return n // being written; the writer wakes us when done
		}
		size := uint64(hdr & lenMask)
		if size > r.mask {
			r.resync() // read a header the producer was overwriting
			continue
		}
		rec := r.buf[:min(size, MaxRecord)]
		copy(rec, r.data[off+hdrSize:])
		if atomic.LoadUint64(r.producerPos())-r.pos > r.mask+1 {
			r.resync() // overwritten while copied
			continue
		}
		r.pos += (size + hdrSize + 7) &^ 7
		switch {
		case hdr&discardBit != 0:
		case size > MaxRecord:
			r.lost.Add(1)
		default:
			fn(rec)
			n++
		}
	}
}

// resync skips what the producer overwrote: up to the shared consumer position,
// where the kernel keeps records intact.
func (r *Reader) resync() {
	r.lost.Add(1)
	r.pos = max(r.pos, atomic.LoadUint64(r.consumerPos()))
}

// publish moves the shared consumer position up to this reader's.
func (r *Reader) publish() {
	for {
		c := atomic.LoadUint64(r.consumerPos())
		if c >= r.pos || atomic.CompareAndSwapUint64(r.consumerPos(), c, r.pos) {
			return
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
	var errs []error
	for _, m := range [][]byte{r.cons, r.prod} {
		if m != nil {
			if err := unix.Munmap(m); err != nil {
				errs = append(errs, fmt.Errorf("unmapping ring buffer: %w", err))
			}
		}
	}
	r.cons, r.prod, r.data = nil, nil, nil
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, fd := range []int{r.epfd, r.wakefd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	r.epfd, r.wakefd = -1, -1
	return errors.Join(errs...)
}
