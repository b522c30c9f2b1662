package main

import (
	"fmt"
	"math"
	"strings"

	"exitsnoop.dev/bench/internal/svg"
)

// fig6Trend is one measure over the fill levels: its value at each level (both
// visits together), the least-squares slope over every visit, the growth from
// the first level to the last, and the noise (the largest relative difference
// between the two visits of a level).
type fig6Trend struct {
	byLevel []float64
	slope   float64 // per 100,000 entries
	growth  float64 // last / first - 1
	noise   float64
}

func (t fig6Trend) flat() bool { return math.Abs(t.growth) <= t.noise }

// slopeText writes the slope, and says when the growth is within the noise.
func (t fig6Trend) slopeText() string {
	s := fmt.Sprintf("%+.0f ns per 100k entries", t.slope)
	if t.flat() {
		s += fmt.Sprintf(", flat within noise (growth %+.0f %%, visits differ by up to %.0f %%)", 100*t.growth, 100*t.noise)
	}
	return s
}

// trend computes a trend from each visit's (entries, sum, count): the value of
// a level is the sum of its visits' sums over the sum of their counts.
func fig6TrendOf(f *Fig6, point func(v Fig6Visit) (sum, count float64)) fig6Trend {
	t := fig6Trend{byLevel: make([]float64, len(f.Levels))}
	sums := make([][2]float64, len(f.Levels))
	perVisit := make([][]float64, len(f.Levels))
	var xs, ys []float64
	for _, v := range f.Visits {
		i := fig6LevelIndex(f, v.Entries)
		s, c := point(v)
		if i < 0 || c == 0 {
			continue
		}
		sums[i][0] += s
		sums[i][1] += c
		perVisit[i] = append(perVisit[i], s/c)
		xs, ys = append(xs, float64(v.Entries)), append(ys, s/c)
	}
	for i, s := range sums {
		t.byLevel[i] = s[0] / s[1]
		if lo, hi := minMax(perVisit[i]); len(perVisit[i]) > 1 {
			t.noise = math.Max(t.noise, (hi-lo)/t.byLevel[i])
		}
	}
	t.growth = t.byLevel[len(t.byLevel)-1]/t.byLevel[0] - 1
	var mx, my, sxy, sxx float64
	for i := range xs {
		mx, my = mx+xs[i]/float64(len(xs)), my+ys[i]/float64(len(xs))
	}
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	t.slope = sxy / sxx * 100_000
	return t
}

func fig6LevelIndex(f *Fig6, entries int) int {
	for i, l := range f.Levels {
		if l == entries {
			return i
		}
	}
	return -1
}

// fig6ExitTrend is a program's kernel ns per untraced exit.
func fig6ExitTrend(f *Fig6, prog string) fig6Trend {
	return fig6TrendOf(f, func(v Fig6Visit) (float64, float64) {
		c := costOf(v.Programs, prog)
		return float64(c.RunNs), float64(c.RunCnt)
	})
}

// fig6TraceTrend is an implementation's Trace ns/op.
func fig6TraceTrend(f *Fig6, impl string) fig6Trend {
	return fig6TrendOf(f, func(v Fig6Visit) (float64, float64) {
		ns, ok := v.TraceNsOp[impl]
		if !ok {
			return 0, 0
		}
		return ns, 1
	})
}

func fig6BurstRate(b *Fig6Burst, cfg string) float64 {
	var v []float64
	for _, r := range b.Rounds[cfg] {
		v = append(v, r.PerSec)
	}
	return median(v)
}

func fig6DrainSeconds(d *Fig6Drain, impl string) float64 { return median(d.Seconds[impl]) }

// thousands writes n with thousands separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func levelName(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%d M", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%d k", n/1_000)
	}
	return fmt.Sprint(n)
}

// writeFig6Summary writes figure 6's rows of the summary table.
func writeFig6Summary(w func(string, ...any), f *Fig6) {
	last := levelName(f.Levels[len(f.Levels)-1])
	for _, m := range []struct {
		what, unit string
		o, r       fig6Trend
	}{
		{"kernel ns per untraced exit", " ns", fig6ExitTrend(f, "ours"), fig6ExitTrend(f, "reference")},
		{"Trace ns/op", "", fig6TraceTrend(f, "ours"), fig6TraceTrend(f, "reference")},
	} {
		n := len(m.o.byLevel) - 1
		v := verdict(m.o.growth <= 0.10)
		if m.o.flat() {
			v += fmt.Sprintf(" (within the noise: visits of a level differ by up to %.0f %%)", 100*m.o.noise)
		}
		w("| 6. cost as the work grows | %s, 0 → %s traced (growth; slope per 100k) | %.0f → %.0f%s (%+.0f %%; %+.0f) | %.0f → %.0f%s (%+.0f %%; %+.0f) | %.2f at %s | ours ≤ +10 %% | %s |\n",
			m.what, last, m.o.byLevel[0], m.o.byLevel[n], m.unit, 100*m.o.growth, m.o.slope,
			m.r.byLevel[0], m.r.byLevel[n], m.unit, 100*m.r.growth, m.r.slope,
			m.o.byLevel[n]/m.r.byLevel[n], last, v)
	}
	if b := f.Burst; b != nil {
		rr := fig6BurstRate(b, burstRef)
		for _, cfg := range []string{burstOurs, burstOursRead} {
			o := fig6BurstRate(b, cfg)
			w("| 6. burst of %s traced exits | exits recorded per second (median), %s | %.0f | %.0f | %.2f | ≥ 1.0 | %s |\n",
				thousands(b.Children), cfg, o, rr, o/rr, verdict(o >= rr))
		}
	}
	if d := f.Drain; d != nil {
		o, r := fig6DrainSeconds(d, "ours"), fig6DrainSeconds(d, "reference")
		w("| 6. drain of %s events | ms (median) | %.1f | %.1f | %.3f | ≤ 0.1 | %s |\n", thousands(d.Events), o*1e3, r*1e3, o/r, verdict(o <= 0.1*r))
	}
}

// writeFig6 writes figure 6's section.
func writeFig6(w func(string, ...any), chart func(string, svg.Chart) string, f *Fig6) {
	w("## 6. Cost as the work grows\n\n")
	w("**Processes traced.** One copy of each tracer is loaded with every map at %s entries (the reference through its\n", pow2(f.Capacity))
	w("own loader: `reference.Options.Capacity` sets `MaxEntries` of both its maps in the collection spec before\n")
	w("loading; ours with `Options.MaxTracingTasks` and `MaxExitedEvents`; ours' `trace_refs` is sized by the library to\n")
	w("their sum). \"N processes traced\" is N entries in each tracer's tracing map for pids that cannot exist (from\n")
	w("PID_MAX_LIMIT = 2^22 up), written with batch updates of the pinned maps in the layout each program reads, as\n")
	w("Trace leaves them: for ours also the `trace_refs` entry of each trace ID and the pid's `pid_refs` byte, counted\n")
	w("before the entry is inserted and after it is deleted, with an atomic add on the aligned 32-bit word as Trace and\n")
	w("the kernel do. Fake pid i counts in bucket i mod 2^16, so from 2^16 entries on every byte is non-zero (about 15\n")
	w("each at 1 M, below the 255 a byte holds) and every untraced exit goes on to the hash lookup, as it would with\n")
	w("that many real processes traced.\n\n")
	w("**Visits.** The levels are visited up, then down (%s), so that each is measured twice, apart\n", fig6Schedule(f))
	w("in time, once in each attach order of figure 1 (up: ours, reference, empty; down: the reverse). At each visit\n")
	w("the three programs are attached (ours: exit program and fallback) while two spawners run %s untraced gated\n", thousands(f.SpawnsPerVisit))
	w("children (figure 1's method: Δrun_time_ns / Δrun_cnt, ours' fallback time counted in), then detached, and Trace\n")
	w("is timed as in figure 2's `BenchmarkTrace` (256 live children traced in turn under fresh IDs, each chunk's\n")
	w("entries deleted with the timer stopped; `testing.Benchmark`, %s per run). A level's figure is over both\n", f.BenchTime)
	w("visits; the slope is the least-squares fit over every visit, in ns per 100,000 entries; \"flat within noise\"\n")
	w("means the growth from 0 to the last level is no larger than the largest difference between two visits of a level.\n\n")
	oe, re, ee := fig6ExitTrend(f, "ours"), fig6ExitTrend(f, "reference"), fig6ExitTrend(f, "empty")
	ot, rt := fig6TraceTrend(f, "ours"), fig6TraceTrend(f, "reference")
	w("%s", chart("fig6-untraced-exit.svg", fig6ExitChart(f, oe, re, ee)))
	w("%s", chart("fig6-trace.svg", fig6TraceChart(f, ot, rt)))
	w("| Processes traced | Ours ns/untraced exit | Reference ns/untraced exit | Empty ns/exit | Ours Trace ns/op | Reference Trace ns/op |\n|---|---|---|---|---|---|\n")
	for i, l := range f.Levels {
		w("| %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n", levelName(l), oe.byLevel[i], re.byLevel[i], ee.byLevel[i], ot.byLevel[i], rt.byLevel[i])
	}
	w("\nSlopes (goal: flat, at most +10 %% from 0 to %s):\n\n", levelName(f.Levels[len(f.Levels)-1]))
	for _, s := range []struct {
		name string
		t    fig6Trend
	}{{"ours, untraced exit", oe}, {"reference, untraced exit", re}, {"ours, Trace", ot}, {"reference, Trace", rt}} {
		w("- %s: %s; growth %+.0f %%.\n", s.name, s.t.slopeText(), 100*s.t.growth)
	}
	w("\nEach visit, ns per untraced exit (exits counted by ours' exit program; \"of which fallback\": the time of ours'\n")
	w("program on `sched_process_free`, included in ours'; fill: seconds to bring both tracers to the level):\n\n")
	w("| Processes traced | Attach order | Exits (run_cnt) | Ours | of which fallback | Reference | Empty | Ours Trace | Reference Trace | Fill s |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, v := range f.Visits {
		o, fb := costOf(v.Programs, "ours"), costOf(v.Programs, "ours-fallback")
		w("| %s | %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f |\n", levelName(v.Entries), strings.Join(v.Order, ", "),
			o.RunCnt, o.PerRun, float64(fb.RunNs)/float64(o.RunCnt), costOf(v.Programs, "reference").PerRun,
			costOf(v.Programs, "empty").PerRun, v.TraceNsOp["ours"], v.TraceNsOp["reference"], v.FillSeconds)
	}
	w("\n")

	b, d := f.Burst, f.Drain
	if b == nil || d == nil {
		return
	}
	w("**Burst.** %s gated children all block reading one pipe; each is traced, then the pipe's write end is closed and\n", thousands(b.Children))
	w("they exit at once on 2 CPUs. The time is from the close to the last exit recorded, by the exit time the tracer\n")
	w("stamped in each event (ours' `ExitStatus.ExitTime`, the reference's `bpf_ktime_get_ns`), read back after all are\n")
	w("reaped. Each round loads a fresh private tracer (maps of %s entries) with nothing else attached; the\n", pow2(b.Capacity))
	w("configurations take turns. \"No reader\": nothing reads ours' notification ring buffer; \"notifications read\": a\n")
	w("`Subscribe` channel is drained throughout, as while a `Wait` or `Subscribe` is in use.\n\n")
	w("**Drain.** %s events are written into each tracer's `exited_events` (batch update; the same %s-entry maps\n", thousands(d.Events), pow2(f.Capacity))
	w("as above, nothing traced), then read and deleted: ours with `DrainExitedEvents` (the kernel's batch lookup-and-\n")
	w("delete), the reference the only way the seed's users have: the keys listed with `NextKey` on its map (cilium/ebpf),\n")
	w("then `GetExitedEvent` and `DeleteExitedEvent` of each. Rounds take turns.\n\n")
	w("%s", chart("fig6-burst-drain.svg", fig6BurstDrainChart(b, d)))
	w("| Burst configuration | Rounds | exits/s (median) | min, max | ms to the last record (median) | recorded |\n|---|---|---|---|---|---|\n")
	for _, cfg := range burstConfigs {
		var rate, ms []float64
		rec := 0
		for _, r := range b.Rounds[cfg] {
			rate, ms = append(rate, r.PerSec), append(ms, r.Seconds*1e3)
			rec += r.Recorded
		}
		lo, hi := minMax(rate)
		w("| %s | %d | %.0f | %.0f, %.0f | %.1f | %d of %d |\n", cfg, len(rate), median(rate), lo, hi, median(ms), rec, len(rate)*b.Children)
	}
	w("\n| Drain of %s events | ms (median) | every round, ms | events/s |\n|---|---|---|---|\n", thousands(d.Events))
	for _, impl := range []string{"ours", "reference"} {
		var all []string
		for _, s := range d.Seconds[impl] {
			all = append(all, fmt.Sprintf("%.1f", s*1e3))
		}
		s := fig6DrainSeconds(d, impl)
		w("| %s | %.1f | %s | %.0f |\n", impl, s*1e3, strings.Join(all, ", "), float64(d.Events)/s)
	}
	w("\n")
}

func fig6Schedule(f *Fig6) string {
	var s []string
	for _, v := range f.Visits {
		s = append(s, levelName(v.Entries))
	}
	return strings.Join(s, ", ")
}

func fig6ExitChart(f *Fig6, oe, re, ee fig6Trend) svg.Chart {
	c := svg.Chart{
		Title:    "6. Kernel cost per untraced exit, by processes traced",
		Subtitle: "run_time_ns / run_cnt over untraced exits, both visits of each level (lower is better)",
		YLabel:   "ns per untraced exit",
		Series:   []string{"empty program (floor)", "reference (seed)", "ours"},
		Colors:   []string{"#d97706", "#8c96a3", "#2563eb"},
	}
	for i, l := range f.Levels {
		c.Groups = append(c.Groups, levelName(l)+" traced")
		c.Values = append(c.Values, []float64{ee.byLevel[i], re.byLevel[i], oe.byLevel[i]})
		c.Labels = append(c.Labels, []string{"", fmt.Sprintf("%.0f", re.byLevel[i]), fmt.Sprintf("%.0f\n×%.2f", oe.byLevel[i], oe.byLevel[i]/re.byLevel[i])})
	}
	c.Note = fmt.Sprintf("Slope: ours %+.0f, reference %+.0f ns per 100k entries. Goal: ours flat (≤ +10 %% from 0 to %s). ×: ours / reference.",
		oe.slope, re.slope, levelName(f.Levels[len(f.Levels)-1]))
	return c
}

func fig6TraceChart(f *Fig6, ot, rt fig6Trend) svg.Chart {
	c := svg.Chart{
		Title:    "6. Trace ns/op, by processes traced",
		Subtitle: "figure 2's BenchmarkTrace at each level, both visits (lower is better; log scale)",
		YLabel:   "ns per Trace",
		Series:   []string{"reference (seed)", "ours"},
		Colors:   []string{"#8c96a3", "#2563eb"},
		Log:      true,
	}
	for i, l := range f.Levels {
		c.Groups = append(c.Groups, levelName(l)+" traced")
		c.Values = append(c.Values, []float64{rt.byLevel[i], ot.byLevel[i]})
	}
	c.Note = fmt.Sprintf("Slope: ours %+.0f, reference %+.0f ns per 100k entries. Goal: ours flat (≤ +10 %% from 0 to %s).",
		ot.slope, rt.slope, levelName(f.Levels[len(f.Levels)-1]))
	return c
}

func fig6BurstDrainChart(b *Fig6Burst, d *Fig6Drain) svg.Chart {
	c := svg.Chart{
		Title:    "6. Burst and drain throughput",
		Subtitle: "medians of the rounds (higher is better; log scale)",
		YLabel:   "per second",
		Series:   []string{"reference (seed)", "ours (no reader)", "ours, notifications read"},
		Colors:   []string{"#8c96a3", "#2563eb", "#059669"},
		Log:      true,
	}
	rr := fig6BurstRate(b, burstRef)
	c.Groups = append(c.Groups, fmt.Sprintf("exits recorded/s,\n%s traced exiting at once", thousands(b.Children)))
	c.Values = append(c.Values, []float64{rr, fig6BurstRate(b, burstOurs), fig6BurstRate(b, burstOursRead)})
	c.Labels = append(c.Labels, []string{fmt.Sprintf("%.0f", rr),
		fmt.Sprintf("%.0f\n×%.2f", fig6BurstRate(b, burstOurs), fig6BurstRate(b, burstOurs)/rr),
		fmt.Sprintf("%.0f\n×%.2f", fig6BurstRate(b, burstOursRead), fig6BurstRate(b, burstOursRead)/rr)})
	o, r := float64(d.Events)/fig6DrainSeconds(d, "ours"), float64(d.Events)/fig6DrainSeconds(d, "reference")
	c.Groups = append(c.Groups, fmt.Sprintf("events drained/s,\n%s events", thousands(d.Events)))
	c.Values = append(c.Values, []float64{r, o, math.NaN()})
	c.Labels = append(c.Labels, []string{fmt.Sprintf("%.0f", r), fmt.Sprintf("%.0f\n×%.1f", o, o/r), ""})
	c.Note = "×: ours / reference. Goals: burst ≥ 1.0; drain time ≤ 0.1 × the reference's (rate ≥ 10×)."
	return c
}
