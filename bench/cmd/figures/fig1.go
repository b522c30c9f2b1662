package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"

	"exitsnoop.dev/bench/internal/kprog"
	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/bench/reference"
	"exitsnoop.dev/exitsnoop"
)

// fig1Orders are the attach orders each workload runs in. Programs run on the
// tracepoint in the order they were attached, and the first may meet colder
// caches, so each program takes each end once.
var fig1Orders = [][]string{{"ours", "reference", "empty"}, {"empty", "reference", "ours"}}

// measureFig1 attaches ours, the reference and the empty program to
// sched_process_exit at once, enables kernel.bpf_stats_enabled, and runs two
// workloads of gated children (head -c1): every exit runs all three programs, so
// their run_time_ns / run_cnt deltas compare the same exits.
func measureFig1(sz sizes) (*Fig1, error) {
	restore, err := kprog.EnableStats()
	if err != nil {
		return nil, err
	}
	defer restore()
	f := &Fig1{}
	for _, wl := range []struct {
		name          string
		spawns, every int
		reader        bool
	}{
		{"untraced-heavy (1% traced), no reader", sz.fig1Spawns, 100, false},
		{"untraced-heavy (1% traced), notifications read", sz.fig1Spawns, 100, true},
		{"traced-heavy (100% traced), no reader", sz.fig1TracedSpawns, 1, false},
		{"traced-heavy (100% traced), notifications read", sz.fig1TracedSpawns, 1, true},
	} {
		for _, order := range fig1Orders {
			w, err := fig1Run(wl.name, order, wl.spawns, wl.every, wl.reader)
			if err != nil {
				return nil, err
			}
			f.Workloads = append(f.Workloads, w)
		}
	}
	return f, nil
}

// fig1Prog is one contestant: its program on sched_process_exit, and for ours the
// fallback on sched_process_free too, whose time counts in the same exits' cost.
type fig1Prog struct {
	name string
	p    *ebpf.Program
	free *ebpf.Program
}

// read sums the run time of the contestant's programs over the exit program's runs.
func (f fig1Prog) read() (kprog.Stats, error) {
	st, err := kprog.Read(f.p)
	if err != nil || f.free == nil {
		return st, err
	}
	fr, err := kprog.Read(f.free)
	st.RunNs += fr.RunNs
	return st, err
}

// fig1Run attaches the three programs in order, runs one workload, and detaches.
// With reader, a Subscription drains ours' notification ring buffer (as while a
// Wait or Subscribe is in use): the kernel then wakes the reader at each record.
// Without one the ring fills up and later records fail fast (counted as lost).
func fig1Run(name string, order []string, spawns, every int, reader bool) (Fig1Workload, error) {
	w := Fig1Workload{Name: name, Spawns: spawns, Order: order, Reader: reader}
	var ours *pinnedOurs
	var ref *reference.Store
	var empty *reference.Empty
	var progs []fig1Prog
	defer func() {
		for _, p := range progs {
			p.p.Close()
			if p.free != nil {
				p.free.Close()
			}
		}
		if ours != nil {
			ours.Close()
		}
		if ref != nil {
			ref.Close()
		}
		if empty != nil {
			empty.Close()
		}
	}()
	for _, n := range order {
		var p, free *ebpf.Program
		var err error
		switch n {
		case "ours":
			if ours, err = openPinnedOurs(exitsnoop.Options{}); err == nil {
				p, err = ours.program()
			}
			if err == nil {
				free, err = ours.fallback()
			}
		case "reference":
			if ref, err = reference.NewStoreFromAttach(); err == nil {
				p, err = ref.Program().Clone()
			}
		case "empty":
			if empty, err = reference.AttachEmpty(); err == nil {
				p, err = empty.Prog.Clone()
			}
		}
		if err != nil {
			return w, fmt.Errorf("%s: %w", n, err)
		}
		progs = append(progs, fig1Prog{n, p, free})
	}
	oursNs, refNs, err := pidns()
	if err != nil {
		return w, err
	}
	if reader {
		sub, err := ours.Store.Subscribe(4096)
		if err != nil {
			return w, fmt.Errorf("ours: subscribe: %w", err)
		}
		defer sub.Close()
		go func() {
			for range sub.C {
			}
		}()
	}

	var mu sync.Mutex
	start := time.Now()
	costs, err := progCosts(progs, func() error {
		return spawnAll(spawns, func(i int) error {
			traced, recO, recR, err := fig1Spawn(ours.Store, ref, i%every == 0, uint64(i+1), oursNs, refNs)
			mu.Lock()
			defer mu.Unlock()
			if traced {
				w.Traced++
			}
			w.Recorded[0] += recO
			w.Recorded[1] += recR
			return err
		})
	})
	w.Seconds = time.Since(start).Seconds()
	if err != nil {
		return w, err
	}
	w.Programs = costs
	logf("figure 1, %s, order %v: %d spawns (%d traced) in %.1fs: ours %.0f ns, reference %.0f ns, empty %.0f ns per exit",
		name, order, spawns, w.Traced, w.Seconds, w.cost("ours").PerRun, w.cost("reference").PerRun, w.cost("empty").PerRun)
	return w, nil
}

// spawnAll runs fn(0) … fn(n-1) on two goroutines, one per core, and returns
// the first error (the other goroutine stops too), or errInterrupted.
func spawnAll(n int, fn func(i int) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if interrupted.Load() {
					errs[g] = errInterrupted
				} else {
					errs[g] = fn(i)
				}
				if errs[g] != nil {
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// progCosts runs work and returns each program's run time per run over it, from
// the kernel's statistics (kernel.bpf_stats_enabled must be on).
func progCosts(progs []fig1Prog, work func() error) ([]ProgCost, error) {
	before := make([]kprog.Stats, len(progs))
	for i, p := range progs {
		var err error
		if before[i], err = p.read(); err != nil {
			return nil, err
		}
	}
	if err := work(); err != nil {
		return nil, err
	}
	var out []ProgCost
	for i, p := range progs {
		after, err := p.read()
		if err != nil {
			return nil, err
		}
		d := after.Sub(before[i])
		out = append(out, ProgCost{Name: p.name, RunNs: d.RunNs, RunCnt: d.RunCnt, PerRun: d.PerRun()})
	}
	return out, nil
}

// fig1Spawn starts one gated child, traces it in both Stores if asked, lets it
// exit, reaps it, and reads back (and deletes) the events the kernel recorded.
func fig1Spawn(ours *exitsnoop.Store, ref *reference.Store, traced bool, id uint64,
	oursNs exitsnoop.PidnsInfo, refNs reference.PidnsInfo) (bool, int, int, error) {
	c, err := spawn.Start(spawn.Gate, false)
	if err != nil {
		return false, 0, 0, err
	}
	if traced {
		if err := ours.Trace(c.Pid, &exitsnoop.TaskInfo{TraceID: id, PidnsInfo: oursNs}); err != nil {
			c.Release()
			c.Wait()
			return false, 0, 0, fmt.Errorf("ours: %w", err)
		}
		if err := ref.Trace(c.Pid, &reference.TaskInfo{TraceID: id, PidnsInfo: refNs}); err != nil {
			c.Release()
			c.Wait()
			return false, 0, 0, fmt.Errorf("reference: %w", err)
		}
	}
	c.Release()
	if _, err := c.Wait(); err != nil {
		return traced, 0, 0, err
	}
	if !traced {
		return false, 0, 0, nil
	}
	recO, recR := 0, 0
	ev := new(exitsnoop.ExitStatus)
	if err := ours.LookupExitedEvent(id, ev); err == nil && ev.Pid == c.Pid {
		recO = 1
		ours.DeleteExitedEvent(id)
	} else if err != nil && !errors.Is(err, exitsnoop.ErrKeyNotExist) {
		return true, 0, 0, err
	}
	if rev, err := ref.GetExitedEvent(id); err == nil && rev.Pid == c.Pid {
		recR = 1
		ref.DeleteExitedEvent(id)
	}
	return true, recO, recR, nil
}
