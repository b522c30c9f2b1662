package main

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Figure 6 fills both tracers' tracing maps with processes that cannot exist:
// pids from PID_MAX_LIMIT up (no pid reaches it), under trace IDs no benchmark
// uses. Fake pid i lands in pid_refs bucket i % 65536, so 1 M entries put about
// 15 in every bucket (a byte counter saturates at 255).
const (
	fakePidBase  = 1 << 22 // PID_MAX_LIMIT
	fakeIDBase   = 1 << 50
	fillBatch    = 1 << 16 // entries per batch system call
	pidRefsBytes = 1 << 16 // EXITSNOOP_PID_BUCKETS
)

// oursTask is ours' tracing_tasks value (struct task_info, exitsnoop/types.go
// taskValue): checked against the map's value size when the filler opens it.
type oursTask struct {
	TraceID, PidnsDev, PidnsIno, StartTicks uint64
	BootOffset                              int64
}

// oursRef is ours' trace_refs value (struct trace_ref): the pid, fate 0 (traced).
type oursRef struct{ Pid, Fate uint32 }

// refTask is the reference's tracing_tasks value.
type refTask struct{ TraceID, PidnsDev, PidnsIno uint64 }

// filler puts fake traced processes in both tracers as Trace would leave them:
// ours gets the tracing_tasks entry, the trace_refs entry of its trace ID and a
// count in its pid_refs byte (added before the entry is visible, taken back after
// it is gone, with an atomic add on the aligned 32-bit word as Trace and the
// kernel do); the reference gets its tracing_tasks entry.
type filler struct {
	oursTasks, oursRefs, refTasks *ebpf.Map
	refsMem                       []byte   // ours' pid_refs, mapped
	refs                          []uint32 // its byte counters, 4 a word
	dev, ino                      uint64   // the pid namespace written in the entries
	n                             int      // fake entries in each tracer now
}

// openFiller opens ours' maps pinned in dir and takes the reference's
// tracing_tasks map (owned by its Store).
func openFiller(dir string, refTasks *ebpf.Map, dev, ino uint64) (_ *filler, err error) {
	f := &filler{refTasks: refTasks, dev: dev, ino: ino}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	open := func(name string, valueSize uintptr) (*ebpf.Map, error) {
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
		if err != nil {
			return nil, fmt.Errorf("ours' %s: %w", name, err)
		}
		if uintptr(m.ValueSize()) != valueSize {
			m.Close()
			return nil, fmt.Errorf("ours' %s has %d-byte values, bench/cmd/figures/fig6fill.go writes %d: update it", name, m.ValueSize(), valueSize)
		}
		return m, nil
	}
	if f.oursTasks, err = open("tracing_tasks", unsafe.Sizeof(oursTask{})); err != nil {
		return nil, err
	}
	if f.oursRefs, err = open("trace_refs", unsafe.Sizeof(oursRef{})); err != nil {
		return nil, err
	}
	pr, err := open("pid_refs", pidRefsBytes)
	if err != nil {
		return nil, err
	}
	defer pr.Close() // the mapping outlives the descriptor
	if f.refsMem, err = unix.Mmap(pr.FD(), 0, pidRefsBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("mapping ours' pid_refs: %w", err)
	}
	f.refs = unsafe.Slice((*uint32)(unsafe.Pointer(&f.refsMem[0])), pidRefsBytes/4)
	if uintptr(refTasks.ValueSize()) != unsafe.Sizeof(refTask{}) {
		return nil, fmt.Errorf("the reference's tracing_tasks has %d-byte values", refTasks.ValueSize())
	}
	return f, nil
}

func (f *filler) Close() {
	for _, m := range []*ebpf.Map{f.oursTasks, f.oursRefs} {
		if m != nil {
			m.Close()
		}
	}
	if f.refsMem != nil {
		unix.Munmap(f.refsMem)
	}
}

// set adds or removes fake entries until each tracer has n.
func (f *filler) set(n int) error {
	for f.n < n {
		k := min(fillBatch, n-f.n)
		if err := f.add(f.n, k); err != nil {
			return err
		}
		f.n += k
	}
	for f.n > n {
		k := min(fillBatch, f.n-n)
		if err := f.remove(f.n-k, k); err != nil {
			return err
		}
		f.n -= k
	}
	return nil
}

// add inserts fake entries first … first+k-1.
func (f *filler) add(first, k int) error {
	pids := make([]uint32, k)
	ids := make([]uint64, k)
	tasks := make([]oursTask, k)
	refs := make([]oursRef, k)
	rtasks := make([]refTask, k)
	for j := range pids {
		i := first + j
		pids[j], ids[j] = uint32(fakePidBase+i), uint64(fakeIDBase+i)
		tasks[j] = oursTask{TraceID: ids[j], PidnsDev: f.dev, PidnsIno: f.ino, StartTicks: 1}
		refs[j] = oursRef{Pid: pids[j]}
		rtasks[j] = refTask{TraceID: ids[j], PidnsDev: f.dev, PidnsIno: f.ino}
	}
	for _, p := range pids {
		if err := f.count(p, +1); err != nil {
			return err
		}
	}
	for _, b := range []struct {
		m         *ebpf.Map
		keys, val any
	}{{f.oursRefs, ids, refs}, {f.oursTasks, pids, tasks}, {f.refTasks, pids, rtasks}} {
		if n, err := b.m.BatchUpdate(b.keys, b.val, nil); err != nil || n != k {
			return fmt.Errorf("filling %v: %d of %d: %w", b.m, n, k, err)
		}
	}
	return nil
}

// remove deletes fake entries first … first+k-1.
func (f *filler) remove(first, k int) error {
	pids := make([]uint32, k)
	ids := make([]uint64, k)
	for j := range pids {
		pids[j], ids[j] = uint32(fakePidBase+first+j), uint64(fakeIDBase+first+j)
	}
	for _, b := range []struct {
		m    *ebpf.Map
		keys any
	}{{f.oursTasks, pids}, {f.oursRefs, ids}, {f.refTasks, pids}} {
		if n, err := b.m.BatchDelete(b.keys, nil); err != nil || n != k {
			return fmt.Errorf("emptying %v: %d of %d: %w", b.m, n, k, err)
		}
	}
	for _, p := range pids {
		f.count(p, -1)
	}
	return nil
}

// count adds delta (±1) to pid's pid_refs byte, refusing to pass 255.
func (f *filler) count(pid uint32, delta int) error {
	b := pid % pidRefsBytes
	word, shift := &f.refs[b/4], b%4*8
	if delta < 0 {
		atomic.AddUint32(word, ^uint32(1<<shift-1))
		return nil
	}
	for {
		old := atomic.LoadUint32(word)
		if old>>shift&0xff == 0xff {
			return fmt.Errorf("pid_refs byte %d saturated", b)
		}
		if atomic.CompareAndSwapUint32(word, old, old+1<<shift) {
			return nil
		}
	}
}
