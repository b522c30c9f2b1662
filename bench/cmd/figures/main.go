// Command figures measures figures 1, 3, 4, 5 and 6 of the benchmark suite and
// writes BENCHMARKS.md with its charts (figure 2 is `go test -bench` in ../cycle).
//
//	figures measure -out results/figures.json [-fig 1,3,4,5,6] [-quick]
//	figures report -results results -md ../BENCHMARKS.md -charts charts
//
// measure needs root: it loads BPF programs and sets kernel.bpf_stats_enabled.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "measure":
		err = measureCmd(os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "figures:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: figures measure|report [flags]")
	os.Exit(2)
}

// Sizes of the workloads; -quick divides them for a smoke run.
type sizes struct {
	fig1Spawns       int // untraced-heavy workload
	fig1TracedSpawns int // traced-heavy workload
	fig3Exits        int // per method
	fig4Spawns       int // per round
	fig4Rounds       int // per configuration
	fig6Spawns       int // untraced exits per visit of a fill level
	fig6BenchTime    time.Duration
	fig6BurstRounds  int // per configuration
	fig6DrainEvents  int
	fig6DrainRounds  int // per tracer
}

var full = sizes{fig1Spawns: 10000, fig1TracedSpawns: 5000, fig3Exits: 5000, fig4Spawns: 20, fig4Rounds: 300,
	fig6Spawns: 2000, fig6BenchTime: 150 * time.Millisecond, fig6BurstRounds: 3, fig6DrainEvents: 100_000, fig6DrainRounds: 3}

func measureCmd(args []string) error {
	fs := flag.NewFlagSet("measure", flag.ExitOnError)
	out := fs.String("out", "results/figures.json", "where to write the results")
	figs := fs.String("fig", "1,3,4,5,6", "figures to measure")
	quick := fs.Bool("quick", false, "a tenth of the work: a smoke test, not for BENCHMARKS.md")
	fs.Parse(args)
	if os.Geteuid() != 0 {
		return fmt.Errorf("measure needs root (BPF programs, kernel.bpf_stats_enabled)")
	}
	sz := full
	if *quick {
		sz = sizes{fig1Spawns: 1000, fig1TracedSpawns: 300, fig3Exits: 300, fig4Spawns: 20, fig4Rounds: 30,
			fig6Spawns: 400, fig6BenchTime: 30 * time.Millisecond, fig6BurstRounds: 1, fig6DrainEvents: 100_000, fig6DrainRounds: 1}
	}
	// A stray signal must not leave kernel.bpf_stats_enabled on: measurements
	// restore it with defers, so turn SIGINT/SIGTERM into an orderly stop.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		interrupted.Store(true)
	}()

	start := time.Now()
	r := &Results{Started: start.UTC(), Machine: machine()}
	want := map[string]bool{}
	for _, f := range strings.Split(*figs, ",") {
		want[strings.TrimSpace(f)] = true
	}
	var err error
	if want["1"] {
		if r.Fig1, err = measureFig1(sz); err != nil {
			return fmt.Errorf("figure 1: %w", err)
		}
	}
	if want["3"] {
		if r.Fig3, err = measureFig3(sz); err != nil {
			return fmt.Errorf("figure 3: %w", err)
		}
	}
	if want["4"] {
		if r.Fig4, err = measureFig4(sz); err != nil {
			return fmt.Errorf("figure 4: %w", err)
		}
	}
	if want["5"] {
		if r.Fig5, err = measureFig5(); err != nil {
			return fmt.Errorf("figure 5: %w", err)
		}
	}
	if want["6"] {
		if r.Fig6, err = measureFig6(sz); err != nil {
			return fmt.Errorf("figure 6: %w", err)
		}
	}
	r.Machine.LoadEnd = loadavg()
	r.Duration = time.Since(start).Round(time.Second).String()
	return r.save(*out)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadStart: loadavg()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	}
	scan := func(path string, fn func(string) bool) {
		f, err := os.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() && !fn(sc.Text()) {
		}
	}
	scan("/proc/cpuinfo", func(l string) bool {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
			return true
		}
		return false
	})
	scan("/proc/meminfo", func(l string) bool {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			m.MemMiB = kb / 1024
			return true
		}
		return false
	})
	scan("/etc/os-release", func(l string) bool {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			m.OS = strings.Trim(v, `"`)
			return true
		}
		return false
	})
	return m
}
