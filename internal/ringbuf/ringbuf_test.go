package ringbuf

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// stride is how far a record of n bytes moves the producer: header, payload,
// rounded up to 8 bytes.
// The kernel's record header (struct bpf_ringbuf_hdr: u32 len, u32 pg_off) and
// its flags, as ring.c reads them.
const (
	hdrSize    = 8
	busyBit    = 1 << 31
	discardBit = 1 << 30
)

func stride(n int) uint64 { return (uint64(n) + hdrSize + 7) &^ 7 }

// harness is one real ring buffer of the smallest size (a page), its producer
// and its readers, each with the records it must deliver next.
type harness struct {
	t       *testing.T
	ring    int
	size    uint64
	p       *producer
	pos     uint64 // the producer position, by the test's own account
	readers []*follower
}

type follower struct {
	*Reader
	pos  uint64   // the producer position when it last read
	want [][]byte // the records it must deliver on its next read
}

func newHarness(t *testing.T, readers int) *harness {
	size := uint32(os.Getpagesize())
	ring := newRing(t, size)
	h := &harness{t: t, ring: ring, size: uint64(size), p: newProducer(t, ring)}
	for range readers {
		h.addReader()
	}
	return h
}

func (h *harness) addReader() *follower {
	h.t.Helper()
	r, err := NewReader(h.ring, uint32(h.size))
	if err != nil {
		h.t.Fatalf("NewReader: %v", err)
	}
	h.t.Cleanup(func() { r.Release() })
	f := &follower{Reader: r, pos: h.pos}
	h.readers = append(h.readers, f)
	return f
}

// emit writes a record of n bytes; every reader must deliver it unless it is
// discarded or too long.
func (h *harness) emit(n int, discard bool) {
	h.t.Helper()
	rec := h.p.emit(n, discard)
	h.pos += stride(n)
	if discard || n > MaxRecord {
		return
	}
	for _, f := range h.readers {
		f.want = append(f.want, rec)
	}
}

// read has f read once, which must deliver exactly f.want: all that is
// available comes in one Read. A Read that finds nothing to deliver would wait:
// after ten seconds the test fails.
func (h *harness) read(f *follower) {
	h.t.Helper()
	if prod := atomic.LoadUint64(f.producerPos()); prod != h.pos {
		h.t.Fatalf("kernel's producer position %d, expected %d", prod, h.pos)
	}
	timeout := time.AfterFunc(10*time.Second, f.Close)
	defer timeout.Stop()
	var got [][]byte
	if err := f.Read(func(rec []byte) { got = append(got, bytes.Clone(rec)) }); err != nil {
		h.t.Fatalf("Read (ErrClosed: nothing to read within 10s): %v", err)
	}
	for i := range max(len(got), len(f.want)) {
		if i >= len(got) || i >= len(f.want) || !bytes.Equal(got[i], f.want[i]) {
			h.t.Fatalf("at pos %d, %d records expected, %d delivered; record %d differs:\n got %x\nwant %x",
				h.pos, len(f.want), len(got), i, at(got, i), at(f.want, i))
		}
	}
	f.want, f.pos = nil, h.pos
}

func at(recs [][]byte, i int) []byte {
	if i < len(recs) {
		return recs[i]
	}
	return nil
}

// TestWrapAround places records across the end of the data area at every 8-byte
// boundary, from a header alone in the last 8 bytes (its payload all past the
// end, in the second mapping) to a payload ending exactly at the end, of lengths
// 1 to MaxRecord, and checks every record's bytes. The fillers in between are
// alternately submitted and discarded; the ring wraps some hundred times.
func TestWrapAround(t *testing.T) {
	h := newHarness(t, 1)
	f := h.readers[0]
	// fillTo brings the producer to offset off of the data area.
	fillTo := func(off uint64) {
		rem := (off - h.pos) & (h.size - 1)
		if rem == hdrSize { // no record is that short
			rem += h.size
		}
		for discard := false; rem > 0; discard = !discard {
			n := rem
			if n > stride(MaxRecord) {
				n = min(stride(MaxRecord), rem-2*hdrSize)
			}
			h.emit(int(n-hdrSize), discard)
			rem -= n
			if !discard && h.pos-f.pos > h.size/2 {
				h.read(f)
			}
		}
	}
	for before := 0; before <= MaxRecord; before += 8 { // payload bytes before the end
		for _, n := range []int{before, before + 1, MaxRecord} {
			if n < 1 || n > MaxRecord {
				continue
			}
			fillTo(h.size - hdrSize - uint64(before))
			h.emit(n, false)
			h.read(f)
		}
	}
	if f.Lost() != 0 {
		t.Errorf("Lost() = %d, want 0", f.Lost())
	}
	t.Logf("%d records, %d laps", h.p.seq, h.pos/h.size)
}

// TestDiscardedAndTooLong: discarded records are skipped silently, records
// longer than MaxRecord are skipped and counted as lost, one each.
func TestDiscardedAndTooLong(t *testing.T) {
	h := newHarness(t, 1)
	f := h.readers[0]
	h.emit(10, false)
	h.emit(20, true)
	h.emit(MaxRecord, false)
	h.emit(MaxRecord+1, false) // lost
	h.emit(300, true)          // discarded: not lost
	h.emit(MaxRecord+100, false)
	h.emit(1, false)
	h.read(f)
	if f.Lost() != 2 {
		t.Errorf("Lost() = %d, want 2", f.Lost())
	}
}

// TestBatchEdges: the reader copies records into C memory a batch at a time; a
// too-long record where the batch's last copy would go, and runs of exactly a
// batch and one more, are delivered whole and in order. (`make test` runs this
// package under -asan too: a copy past the batch buffer is an error there.)
func TestBatchEdges(t *testing.T) {
	h := newHarness(t, 1)
	f := h.readers[0]
	for range batch - 1 {
		h.emit(8, false)
	}
	h.emit(MaxRecord+100, false) // lost, at the batch's last slot
	for i := range 2*batch + 1 {
		h.emit(1+i%MaxRecord, false)
	}
	h.read(f)
	if f.Lost() != 1 {
		t.Errorf("Lost() = %d, want 1", f.Lost())
	}
}

// TestSeveralReaders: readers that read at different paces, and one that starts
// late, each deliver every record after their start, in order, across many
// wraps; the kernel's consumer position is always the furthest reader's, so
// the producer never finds the ring full.
func TestSeveralReaders(t *testing.T) {
	h := newHarness(t, 3)
	for round := 0; h.pos < 20*h.size; round++ {
		if round == 10 {
			h.emit(5, false) // written before the late reader starts: not for it
			h.addReader()
		}
		// At most 3 strides of MaxRecord, less than a quarter of a page: the
		// reader that reads every third round never lags by a ring's size.
		for i := range 3 {
			h.emit(1+(round*37+i*101)%MaxRecord, i == 1 && round%2 == 0)
		}
		for i, f := range h.readers { // reader i every i+1 rounds, the late one every round
			if round%(i+1) == 0 || i == 3 {
				h.read(f)
			}
		}
		if cons := atomic.LoadUint64(h.readers[0].consumerPos()); cons != h.pos {
			t.Fatalf("round %d: consumer position %d, want the furthest reader's, %d", round, cons, h.pos)
		}
	}
	for i, f := range h.readers {
		if f.Lost() != 0 {
			t.Errorf("reader %d: Lost() = %d, want 0", i, f.Lost())
		}
	}
}

// TestFallBehind: a reader that lags by exactly the ring's size loses nothing;
// one that lags by more finds its records overwritten, skips to the furthest
// reader's position and counts the loss. It cannot count the records lost
// (their headers are overwritten): Lost grows by one each time.
func TestFallBehind(t *testing.T) {
	h := newHarness(t, 2)
	a, b := h.readers[0], h.readers[1]
	half := func() { // half the ring, in records of 128 bytes
		for range h.size / 2 / stride(120) {
			h.emit(120, false)
		}
	}
	half()
	h.read(a)
	half()
	h.read(a)
	h.read(b) // it lags by h.size exactly
	if b.Lost() != 0 {
		t.Fatalf("lagging by the ring's size: Lost() = %d, want 0", b.Lost())
	}

	// b lags by 16 bytes more than the ring's size, then by some ten laps.
	for i, halves := range []int{1, 21} {
		for range halves {
			half()
			h.read(a)
		}
		b.want = nil // a's position, where b resumes, is past these
		half()
		h.emit(8, false)
		h.read(b)
		h.read(a)
		if want := uint64(i + 1); b.Lost() != want || a.Lost() != 0 {
			t.Fatalf("fell behind %d times: Lost() = %d, and %d for the reader that kept up",
				want, b.Lost(), a.Lost())
		}
	}
}

// TestBusyRecord: a record still being written (BPF_RINGBUF_BUSY_BIT) stops the
// reader, records before it delivered, until it is committed; the consumer
// position stays at it. A BPF program cannot leave a record busy (the verifier
// makes it submit or discard every reservation before it returns), so a real
// ring buffer cannot hold one still while the test looks: the test lays out
// the kernel's consumer and producer pages in anonymous memory instead, and
// plays the producer.
func TestBusyRecord(t *testing.T) {
	page := os.Getpagesize()
	mmap := func(n int) []byte {
		b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
		if err != nil {
			t.Fatalf("mmap: %v", err)
		}
		return b
	}
	cons, prod := mmap(page), mmap(3*page)
	r := newReaderOn(cons, prod, page, uint64(page))
	defer r.Release()
	data := prod[page:]
	put := func(pos uint64, flags uint32, payload string) {
		copy(data[pos+hdrSize:], payload)
		atomic.StoreUint32((*uint32)(unsafe.Pointer(&data[pos])), flags|uint32(len(payload)))
	}
	consume := func(want ...string) {
		t.Helper()
		var got []string
		r.consume(func(rec []byte) { got = append(got, string(rec)) })
		if !slices.Equal(got, want) {
			t.Fatalf("delivered %q, want %q", got, want)
		}
	}
	put(0, 0, "first")
	put(16, busyBit, "two")
	put(32, 0, "third")
	atomic.StoreUint64(r.producerPos(), 48)
	consume("first")
	consume()
	if c := atomic.LoadUint64(r.consumerPos()); c != 16 {
		t.Fatalf("consumer position %d, want 16, the busy record's", c)
	}
	put(16, discardBit, "two")
	consume("third")
	if c := atomic.LoadUint64(r.consumerPos()); c != 48 {
		t.Fatalf("consumer position %d, want 48", c)
	}
}

// TestReadWaitsAndClose: a Read with nothing to read waits until a record comes
// (here through a duplicate of the map's descriptor, closed at once), and
// returns ErrClosed once Close is called, then and later.
func TestReadWaitsAndClose(t *testing.T) {
	size := uint32(os.Getpagesize())
	ring := newRing(t, size)
	p := newProducer(t, ring)
	dup, err := unix.Dup(ring)
	if err != nil {
		t.Fatalf("dup: %v", err)
	}
	r, err := NewReader(dup, size)
	unix.Close(dup)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	got, errc := make(chan []byte, 1), make(chan error, 1)
	go func() {
		for {
			if err := r.Read(func(rec []byte) { got <- bytes.Clone(rec) }); err != nil {
				errc <- err
				return
			}
		}
	}()
	want := p.emit(42, false)
	select {
	case rec := <-got:
		if !bytes.Equal(rec, want) {
			t.Fatalf("got %x, want %x", rec, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the record was not delivered")
	}
	r.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return after Close")
	}
	if err := r.Read(func([]byte) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v, want ErrClosed", err)
	}
	if err := r.Release(); err != nil { // not before the Read above returned
		t.Fatalf("Release: %v", err)
	}
}

// TestNewReaderSize: sizes the kernel cannot have are refused.
func TestNewReaderSize(t *testing.T) {
	page := uint32(os.Getpagesize())
	ring := newRing(t, page)
	for _, size := range []uint32{0, page / 2, 3 * page} {
		if r, err := NewReader(ring, size); err == nil {
			r.Release()
			t.Errorf("NewReader(size %d) succeeded", size)
		}
	}
}
