package profile

import (
	"bytes"
	_ "embed"
	"os"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"exitsnoop.dev/bench/internal/kprog"
	"exitsnoop.dev/bench/internal/spawn"
)

//go:embed bpf/probe.bpf.o
var probeObject []byte

var probes = []string{"p_empty", "p_tgid_only", "p_refs_big", "p_refs_small", "p_refs_kmalloc", "p_hash_miss", "p_task_storage", "p_ringbuf_wakeup", "p_ringbuf_nowakeup"}

// TestProbeCosts prices pieces of a tracer's work per sched_process_exit: all the
// probes are attached at once (in both orders), /bin/true is spawned
// PROBE_SPAWNS times (default 6000) by two spawners, and each probe's
// run_time_ns / run_cnt is reported. Both ring buffers have a reader that keeps up.
func TestProbeCosts(t *testing.T) {
	n := 6000
	if v := os.Getenv("PROBE_SPAWNS"); v != "" {
		n = 0
		for _, c := range v {
			n = n*10 + int(c-'0')
		}
	}
	restore, err := kprog.EnableStats()
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(probeObject))
	if err != nil {
		t.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	for _, rb := range []string{"rb_wake", "rb_nowake"} {
		r, err := ringbuf.NewReader(coll.Maps[rb])
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		go func() {
			for {
				if _, err := r.Read(); err != nil {
					return
				}
			}
		}()
	}
	total := map[string]kprog.Stats{}
	for _, reverse := range []bool{false, true} {
		order := append([]string(nil), probes...)
		if reverse {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		var links []link.Link
		for _, name := range order {
			l, err := link.AttachTracing(link.TracingOptions{Program: coll.Programs[name], AttachType: ebpf.AttachTraceRawTp})
			if err != nil {
				t.Fatal(name, err)
			}
			links = append(links, l)
		}
		before := map[string]kprog.Stats{}
		for _, name := range probes {
			before[name], _ = kprog.Read(coll.Programs[name])
		}
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n/2; i++ {
					spawn.Run([]string{"/bin/true"})
				}
			}()
		}
		wg.Wait()
		for _, name := range probes {
			after, _ := kprog.Read(coll.Programs[name])
			d := after.Sub(before[name])
			t.Logf("order %v: %-20s %7.0f ns per exit (%d runs)", !reverse, name, d.PerRun(), d.RunCnt)
			s := total[name]
			total[name] = kprog.Stats{RunNs: s.RunNs + d.RunNs, RunCnt: s.RunCnt + d.RunCnt}
		}
		for _, l := range links {
			l.Close()
		}
	}
	for _, name := range probes {
		t.Logf("both orders: %-20s %7.0f ns per exit", name, total[name].PerRun())
	}
}
