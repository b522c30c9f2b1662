package main

import (
	"fmt"
	"io"
	"time"

	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/bench/reference"
	"exitsnoop.dev/exitsnoop"
)

// Figure 4 configurations, in the order rounds take turns.
const (
	cfgNone = "no tracer"
	cfgOurs = "ours attached"
	cfgRef  = "reference attached"
)

// measureFig4 spawns /bin/true back to back, in rounds that take turns between no
// tracer, ours and the reference (each attached for its round only), and reports
// spawns per second per round.
func measureFig4(sz sizes) (*Fig4, error) {
	f := &Fig4{SpawnsPerRound: sz.fig4Spawns, Rounds: sz.fig4Rounds, Rates: map[string][]float64{}}
	argv := []string{"/bin/true"}
	for i := 0; i < 50; i++ { // warm up the page cache and the runtime
		if err := spawn.Run(argv); err != nil {
			return nil, err
		}
	}
	for round := 0; round < sz.fig4Rounds; round++ {
		for _, cfg := range []string{cfgNone, cfgOurs, cfgRef} {
			if interrupted.Load() {
				return nil, errInterrupted
			}
			var tracer io.Closer
			var err error
			switch cfg {
			case cfgOurs:
				tracer, err = exitsnoop.NewStoreFromAttach()
			case cfgRef:
				tracer, err = reference.NewStoreFromAttach()
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cfg, err)
			}
			start := time.Now()
			for i := 0; i < sz.fig4Spawns; i++ {
				if err := spawn.Run(argv); err != nil {
					return nil, err
				}
			}
			el := time.Since(start)
			if tracer != nil {
				tracer.Close()
			}
			f.Rates[cfg] = append(f.Rates[cfg], float64(sz.fig4Spawns)/el.Seconds())
		}
	}
	logf("figure 4: median spawns/s: none %.0f, ours %.0f, reference %.0f",
		median(f.Rates[cfgNone]), median(f.Rates[cfgOurs]), median(f.Rates[cfgRef]))
	return f, nil
}
