package main

import (
	"fmt"
	"sort"
	"time"

	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/bench/reference"
	"exitsnoop.dev/exitsnoop"
)

// Figure 4 configurations, in the order windows take turns.
const (
	cfgNone = "no tracer"
	cfgOurs = "ours attached"
	cfgRef  = "reference attached"
)

// measureFig4 spawns /bin/true back to back and times every spawn (start to
// reaped), in short windows that take turns between no tracer, ours attached and
// the reference attached (nothing traced). Other jobs share this machine and its
// speed drifts by more than the effect measured, so the windows are short (the
// configurations see the same drifts) and each one's rate is 1 / its median spawn
// time. Both tracers are loaded once; a window attaches new links of the loaded
// programs and closes them after: ours is installed (pinned, as EnsureRunning
// does) then its link pins removed, leaving its two programs (exit and fallback)
// and maps loaded.
func measureFig4(sz sizes) (*Fig4, error) {
	f := &Fig4{SpawnsPerRound: sz.fig4Spawns, Rounds: sz.fig4Rounds, Rates: map[string][]float64{}, MedianUs: map[string]float64{}}

	ours, err := openPinnedOurs(exitsnoop.Options{})
	if err != nil {
		return nil, fmt.Errorf("ours: %w", err)
	}
	defer ours.Close()
	// The Store is not needed (nothing is traced): close it, so that the process
	// spawns with no more state than the no-tracer windows, and detach.
	ours.Store.Close()
	oursProgs, err := ours.detach()
	if err != nil {
		return nil, err
	}
	defer closeAll(oursProgs)
	ref, err := reference.LoadDetached(reference.Options{})
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	defer ref.Close()

	attach := map[string]func() (links, error){
		cfgNone: func() (links, error) { return nil, nil },
		cfgOurs: func() (links, error) { return attachOurs(oursProgs) },
		cfgRef: func() (links, error) {
			l, err := reference.AttachRawTracepoint(ref.Program())
			if err != nil {
				return nil, err
			}
			return links{l}, nil
		},
	}
	argv := []string{"/bin/true"}
	for i := 0; i < 50; i++ { // warm up the page cache and the runtime
		if err := spawn.Run(argv); err != nil {
			return nil, err
		}
	}
	times := map[string][]float64{}
	for round := 0; round < sz.fig4Rounds; round++ {
		for _, cfg := range []string{cfgNone, cfgOurs, cfgRef} {
			if interrupted.Load() {
				return nil, errInterrupted
			}
			l, err := attach[cfg]()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cfg, err)
			}
			start := time.Now()
			for i := 0; i < sz.fig4Spawns; i++ {
				t0 := time.Now()
				if err := spawn.Run(argv); err != nil {
					return nil, err
				}
				times[cfg] = append(times[cfg], float64(time.Since(t0).Nanoseconds())/1e3)
			}
			el := time.Since(start)
			l.Close()
			f.Rates[cfg] = append(f.Rates[cfg], float64(sz.fig4Spawns)/el.Seconds())
		}
	}
	for cfg, v := range times {
		sort.Float64s(v)
		f.MedianUs[cfg] = median(v)
	}
	logf("figure 4: median spawn: none %.1f µs, ours %.1f µs, reference %.1f µs; rate ours/none %.4f",
		f.MedianUs[cfgNone], f.MedianUs[cfgOurs], f.MedianUs[cfgRef], f.MedianUs[cfgNone]/f.MedianUs[cfgOurs])
	return f, nil
}
