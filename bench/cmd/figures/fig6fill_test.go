package main

import (
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"exitsnoop.dev/bench/reference"
	"exitsnoop.dev/exitsnoop"
)

// TestFiller checks that figure 6's fake entries are what Trace leaves: ours'
// Store sees them (GetTracingTask), pid_refs counts each once, and removing them
// leaves both tracers as they were.
func TestFiller(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (BPF)")
	}
	const capacity, n = 1 << 17, 70_000 // more than 2^16: every pid_refs byte counts
	ours, err := openPinnedOurs(exitsnoop.Options{MaxTracingTasks: capacity, MaxExitedEvents: capacity})
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	ref, err := reference.LoadDetached(reference.Options{Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	ns, _, err := pidns()
	if err != nil {
		t.Fatal(err)
	}
	f, err := openFiller(ours.dir(), ref.Maps()[0], ns.Dev, ns.Ino)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bytes := func() (sum, nonzero int) {
		for _, b := range f.refsMem {
			sum += int(b)
			if b != 0 {
				nonzero++
			}
		}
		return sum, nonzero
	}
	if err := f.set(n); err != nil {
		t.Fatal(err)
	}
	if sum, nz := bytes(); sum != n || nz != pidRefsBytes {
		t.Errorf("pid_refs after %d entries: sum %d, %d non-zero bytes; want %d, %d", n, sum, nz, n, pidRefsBytes)
	}
	for _, i := range []int{0, 1, n / 2, n - 1} {
		pid := uint32(fakePidBase + i)
		if info, err := ours.Store.GetTracingTask(pid); err != nil || info.TraceID != uint64(fakeIDBase+i) || info.PidnsInfo != ns {
			t.Errorf("ours, pid %d: %+v, %v", pid, info, err)
		}
		if info, err := ref.GetTracingTask(pid); err != nil || info.TraceID != uint64(fakeIDBase+i) {
			t.Errorf("reference, pid %d: %+v, %v", pid, info, err)
		}
	}
	if err := f.set(1000); err != nil {
		t.Fatal(err)
	}
	if sum, nz := bytes(); sum != 1000 || nz != 1000 {
		t.Errorf("pid_refs after 1000 entries: sum %d, %d non-zero bytes", sum, nz)
	}
	if _, err := ours.Store.GetTracingTask(fakePidBase + 1000); err == nil {
		t.Errorf("ours: entry 1000 still there")
	}
	if err := f.set(0); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*ebpf.Map{"ours": f.oursTasks, "ours' trace_refs": f.oursRefs, "reference": f.refTasks} {
		if k, err := m.NextKeyBytes(nil); k != nil || err != nil {
			t.Errorf("%s: entries left (%x, %v)", name, k, err)
		}
	}
	if sum, _ := bytes(); sum != 0 {
		t.Errorf("pid_refs after emptying: sum %d", sum)
	}
}
