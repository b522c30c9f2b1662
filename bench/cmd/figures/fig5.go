package main

import (
	"fmt"

	"exitsnoop.dev/bench/internal/kprog"
	"exitsnoop.dev/bench/reference"
	"exitsnoop.dev/exitsnoop"
)

// fig5Capacities are the capacities compared (both maps of each tracer get it).
var fig5Capacities = []uint32{1 << 14, 1 << 17, 1 << 20}

// measureFig5 loads each tracer with each capacity and sums the memlock of its
// maps as /proc/self/fdinfo reports it. Also the seed as shipped (2048) and our
// default capacity, for scale.
func measureFig5() (*Fig5, error) {
	f := &Fig5{}
	add := func(impl string, capacity uint32, maps []kprog.MapMem) {
		r := Fig5Row{Impl: impl, Capacity: capacity}
		for _, m := range maps {
			r.Maps = append(r.Maps, MapRow(m))
			r.Total += m.Memlock
		}
		f.Rows = append(f.Rows, r)
		logf("figure 5: %s at %d: %d bytes", impl, capacity, r.Total)
	}
	refRow := func(capacity uint32) error {
		s, err := reference.Open(reference.Options{Capacity: capacity})
		if err != nil {
			return err
		}
		defer s.Close()
		var maps []kprog.MapMem
		for _, m := range s.Maps() {
			d, err := kprog.Describe(m, "")
			if err != nil {
				return err
			}
			maps = append(maps, d)
		}
		add("reference", capacity, maps)
		return nil
	}
	oursRow := func(capacity uint32) error {
		o, err := openPinnedOurs(exitsnoop.Options{MaxTracingTasks: capacity, MaxExitedEvents: capacity})
		if err != nil {
			return err
		}
		defer o.Close()
		maps, err := kprog.PinnedTracerMaps(o.dir(), "link")
		if err != nil {
			return err
		}
		add("ours", capacity, maps)
		return nil
	}
	if err := refRow(reference.SeedCapacity); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	if err := oursRow(exitsnoop.DefaultCapacity); err != nil {
		return nil, fmt.Errorf("ours: %w", err)
	}
	for _, c := range fig5Capacities {
		if err := refRow(c); err != nil {
			return nil, fmt.Errorf("reference: %w", err)
		}
		if err := oursRow(c); err != nil {
			return nil, fmt.Errorf("ours: %w", err)
		}
	}
	return f, nil
}
