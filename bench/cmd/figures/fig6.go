package main

import (
	"errors"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"exitsnoop.dev/bench/cycle"
	"exitsnoop.dev/bench/internal/kprog"
	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/bench/reference"
	"exitsnoop.dev/exitsnoop"
)

// fig6Levels are the numbers of processes traced (fake entries in the tracing
// map) that figure 6 measures at. fig6Capacity sizes both tracers' maps.
var fig6Levels = []int{0, 1_000, 100_000, 1_000_000}

const fig6Capacity = 1 << 20

// measureFig6 is the cost as the work grows: the kernel's cost per untraced exit
// and Trace's ns/op with 0 … 1 M processes traced, then a burst of traced exits
// and a drain of many events.
//
// Both tracers are loaded once with all maps at fig6Capacity and their programs
// detached. The fill levels are visited up (0 → 1 M) then down (1 M → 0), so
// each is measured twice, apart in time, and once in each attach order (as in
// figure 1: programs run in attach order). At each visit the three programs are
// attached while two spawners run untraced gated children, then Trace is timed
// as in figure 2, the tracers detached.
func measureFig6(sz sizes) (*Fig6, error) {
	testing.Init()
	if err := flag.Set("test.benchtime", sz.fig6BenchTime.String()); err != nil {
		return nil, err
	}
	f := &Fig6{Capacity: fig6Capacity, Levels: fig6Levels, SpawnsPerVisit: sz.fig6Spawns, BenchTime: sz.fig6BenchTime.String()}
	if err := fig6Scaling(sz, f); err != nil {
		return nil, err
	}
	t := time.Now()
	var err error
	if f.Burst, err = measureBurst(sz.fig6BurstRounds); err != nil {
		return nil, fmt.Errorf("burst: %w", err)
	}
	logf("figure 6: bursts in %.1fs", time.Since(t).Seconds())
	return f, nil
}

// fig6Scaling measures the visits of the fill levels, then the drain, with one
// rig (both tracers with maps of fig6Capacity entries).
func fig6Scaling(sz sizes, f *Fig6) error {
	restore, err := kprog.EnableStats()
	if err != nil {
		return err
	}
	defer restore()
	t := time.Now()
	rig, err := openRig()
	if err != nil {
		return err
	}
	defer func() {
		t := time.Now()
		rig.Close()
		logf("figure 6: tracers closed in %.1fs", time.Since(t).Seconds())
	}()
	logf("figure 6: tracers loaded in %.1fs", time.Since(t).Seconds())
	var schedule []int // indexes in fig6Levels: up, then down
	for i := range fig6Levels {
		schedule = append(schedule, i)
	}
	for i := len(fig6Levels) - 1; i >= 0; i-- {
		schedule = append(schedule, i)
	}
	for v, li := range schedule {
		if interrupted.Load() {
			return errInterrupted
		}
		order := fig1Orders[v*2/len(schedule)]
		visit, err := rig.visit(fig6Levels[li], order, sz.fig6Spawns)
		if err != nil {
			return fmt.Errorf("%d traced: %w", fig6Levels[li], err)
		}
		f.Visits = append(f.Visits, visit)
	}
	t = time.Now()
	if f.Drain, err = rig.drain(sz.fig6DrainEvents, sz.fig6DrainRounds); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	logf("figure 6: drains in %.1fs", time.Since(t).Seconds())
	return nil
}

// fig6Rig is both tracers loaded and detached, the empty program, the filler of
// their tracing maps and live children for Trace.
type fig6Rig struct {
	ours      *pinnedOurs
	oursProgs []*ebpf.Program // exit, fallback
	ref       *reference.Store
	empty     *ebpf.Program
	fill      *filler
	kids      []*spawn.Child
	oursNs    exitsnoop.PidnsInfo
	refNs     reference.PidnsInfo
}

func openRig() (_ *fig6Rig, err error) {
	r := &fig6Rig{}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.oursNs, r.refNs, err = pidns(); err != nil {
		return nil, err
	}
	if r.ours, err = openPinnedOurs(exitsnoop.Options{MaxTracingTasks: fig6Capacity, MaxExitedEvents: fig6Capacity}); err != nil {
		return nil, fmt.Errorf("ours: %w", err)
	}
	if r.oursProgs, err = r.ours.detach(); err != nil {
		return nil, fmt.Errorf("ours: %w", err)
	}
	if r.ref, err = reference.LoadDetached(reference.Options{Capacity: fig6Capacity}); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	if r.empty, err = reference.LoadEmpty(); err != nil {
		return nil, err
	}
	if r.fill, err = openFiller(r.ours.dir(), r.ref.Maps()[0], r.oursNs.Dev, r.oursNs.Ino); err != nil {
		return nil, err
	}
	for i := 0; i < cycle.Chunk; i++ {
		c, err := spawn.Start(spawn.Gate, false)
		if err != nil {
			return nil, err
		}
		r.kids = append(r.kids, c)
	}
	return r, nil
}

func (r *fig6Rig) Close() {
	for _, c := range r.kids {
		c.Release()
		c.Wait()
	}
	if r.fill != nil {
		r.fill.Close()
	}
	if r.empty != nil {
		r.empty.Close()
	}
	if r.ref != nil {
		r.ref.Close()
	}
	closeAll(r.oursProgs)
	if r.ours != nil {
		r.ours.Close()
	}
}

// contestant returns the named program(s) for reading their statistics, and a
// function that attaches them.
func (r *fig6Rig) contestant(name string) (fig1Prog, func() (links, error)) {
	raw := func(p *ebpf.Program) func() (links, error) {
		return func() (links, error) {
			l, err := reference.AttachRawTracepoint(p)
			if err != nil {
				return nil, err
			}
			return links{l}, nil
		}
	}
	switch name {
	case "ours":
		return fig1Prog{name, r.oursProgs[0], r.oursProgs[1]}, func() (links, error) { return attachOurs(r.oursProgs) }
	case "reference":
		return fig1Prog{name, r.ref.Program(), nil}, raw(r.ref.Program())
	}
	return fig1Prog{name, r.empty, nil}, raw(r.empty)
}

// visit fills both tracing maps to n entries, measures the kernel's cost of
// untraced exits with the programs attached in order, then Trace.
func (r *fig6Rig) visit(n int, order []string, spawns int) (Fig6Visit, error) {
	v := Fig6Visit{Entries: n, Order: order, Spawns: spawns, TraceNsOp: map[string]float64{}}
	t := time.Now()
	if err := r.fill.set(n); err != nil {
		return v, err
	}
	v.FillSeconds = time.Since(t).Seconds()
	var progs []fig1Prog
	var attached links
	defer func() { attached.Close() }()
	for _, name := range order {
		p, attach := r.contestant(name)
		ls, err := attach()
		if err != nil {
			return v, fmt.Errorf("attaching %s: %w", name, err)
		}
		attached = append(attached, ls...)
		progs = append(progs, p)
	}
	// Ours' fallback alone too (its time is also in ours'): its share of the cost.
	progs = append(progs, fig1Prog{"ours-fallback", r.oursProgs[1], nil})
	t = time.Now()
	costs, err := progCosts(progs, func() error {
		return spawnAll(spawns, func(int) error {
			_, _, _, err := fig1Spawn(nil, nil, false, 0, r.oursNs, r.refNs)
			return err
		})
	})
	if err != nil {
		return v, err
	}
	v.Programs = costs
	attached.Close()
	attached = nil
	spawnSecs := time.Since(t).Seconds()
	t = time.Now()

	impls := map[string]cycle.Impl{"reference": cycle.Reference(r.ref, r.refNs), "ours": cycle.Ours(r.ours.Store, r.oursNs, false)}
	for _, name := range order {
		im := impls[name]
		if im == nil {
			continue
		}
		// The benchmark's failure has no message here: try the calls once first.
		var id [1]uint64
		cycle.FreshIDs(id[:])
		if err := errors.Join(im.Trace(r.kids[0].Pid, id[0]), im.Untrace(r.kids[0].Pid)); err != nil {
			return v, fmt.Errorf("%s: %w", name, err)
		}
		res := testing.Benchmark(func(b *testing.B) { cycle.Trace(b, im, r.kids) })
		if res.N == 0 {
			return v, fmt.Errorf("the Trace benchmark of %s failed", name)
		}
		v.TraceNsOp[name] = float64(res.T.Nanoseconds()) / float64(res.N)
	}
	logf("figure 6, %d traced, order %v: untraced exit ours %.0f ns, reference %.0f ns, empty %.0f ns; Trace ours %.0f ns, reference %.0f ns (fill %.1fs, exits %.1fs, Trace %.1fs)",
		n, order, costOf(v.Programs, "ours").PerRun, costOf(v.Programs, "reference").PerRun, costOf(v.Programs, "empty").PerRun,
		v.TraceNsOp["ours"], v.TraceNsOp["reference"], v.FillSeconds, spawnSecs, time.Since(t).Seconds())
	return v, nil
}
