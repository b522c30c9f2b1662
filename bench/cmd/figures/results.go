package main

import (
	"encoding/json"
	"os"
	"sort"
	"time"
)

// Results is everything one measuring run found; `figures report` turns it into
// BENCHMARKS.md and the charts.
type Results struct {
	Started  time.Time `json:"started"`
	Machine  Machine   `json:"machine"`
	Fig1     *Fig1     `json:"fig1,omitempty"`
	Fig3     *Fig3     `json:"fig3,omitempty"`
	Fig4     *Fig4     `json:"fig4,omitempty"`
	Fig5     *Fig5     `json:"fig5,omitempty"`
	Fig6     *Fig6     `json:"fig6,omitempty"`
	Duration string    `json:"duration"`
}

type Machine struct {
	CPU       string `json:"cpu"`
	CPUs      int    `json:"cpus"`
	MemMiB    uint64 `json:"mem_mib"`
	Kernel    string `json:"kernel"`
	OS        string `json:"os"`
	Go        string `json:"go"`
	LoadStart string `json:"load_start"` // /proc/loadavg when the run began
	LoadEnd   string `json:"load_end"`
}

// Fig1 is the kernel cost per sched_process_exit.
type Fig1 struct {
	Workloads []Fig1Workload `json:"workloads"`
}

type Fig1Workload struct {
	Name     string     `json:"name"`
	Spawns   int        `json:"spawns"`
	Traced   int        `json:"traced"`
	Recorded [2]int     `json:"recorded"` // events read back: ours, reference
	Order    []string   `json:"attach_order"`
	Reader   bool       `json:"notification_reader"`
	Programs []ProgCost `json:"programs"`
	Seconds  float64    `json:"seconds"`
}

type ProgCost struct {
	Name   string  `json:"name"`
	RunNs  uint64  `json:"run_time_ns"`
	RunCnt uint64  `json:"run_cnt"`
	PerRun float64 `json:"ns_per_run"`
}

func (w Fig1Workload) cost(name string) ProgCost { return costOf(w.Programs, name) }

// costOf is the named program's cost among progs.
func costOf(progs []ProgCost, name string) ProgCost {
	for _, p := range progs {
		if p.Name == name {
			return p
		}
	}
	return ProgCost{}
}

// Fig3 is the exit → notification latency.
type Fig3 struct {
	Exits   int          `json:"exits_per_method"`
	Methods []Fig3Method `json:"methods"`
}

type Fig3Method struct {
	Name     string  `json:"name"`
	N        int     `json:"n"`
	Early    int     `json:"early"` // exits already recorded when the waiter began (excluded)
	P50us    float64 `json:"p50_us"`
	P90us    float64 `json:"p90_us"`
	P99us    float64 `json:"p99_us"`
	MaxUs    float64 `json:"max_us"`
	MeanUs   float64 `json:"mean_us"`
	Failures int     `json:"failures"`
}

// Fig4 is the spawn rate of /bin/true.
type Fig4 struct {
	SpawnsPerRound int                  `json:"spawns_per_round"`
	Rounds         int                  `json:"rounds"`
	Rates          map[string][]float64 `json:"rates"`     // config -> spawns/s per round (wall clock)
	MedianUs       map[string]float64   `json:"median_us"` // config -> median time of one spawn
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Fig5 is map memory per capacity.
type Fig5 struct {
	Rows []Fig5Row `json:"rows"`
}

type Fig5Row struct {
	Impl     string   `json:"impl"`
	Capacity uint32   `json:"capacity"`
	Maps     []MapRow `json:"maps"`
	Total    uint64   `json:"total_bytes"`
}

type MapRow struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	MaxEntries uint32 `json:"max_entries"`
	Memlock    uint64 `json:"memlock"`
}

// Fig6 is the cost as the work grows.
type Fig6 struct {
	Capacity       uint32      `json:"capacity"` // of every map of both tracers
	Levels         []int       `json:"levels"`   // processes traced (fake entries in the tracing maps)
	SpawnsPerVisit int         `json:"spawns_per_visit"`
	BenchTime      string      `json:"trace_benchtime"`
	Visits         []Fig6Visit `json:"visits"` // the levels up, then down
	Drain          *Fig6Drain  `json:"drain,omitempty"`
	Burst          *Fig6Burst  `json:"burst,omitempty"`
}

// Fig6Visit is one measurement at a fill level.
type Fig6Visit struct {
	Entries     int                `json:"entries"`
	Order       []string           `json:"attach_order"`
	Spawns      int                `json:"spawns"`
	FillSeconds float64            `json:"fill_seconds"` // bringing both tracers to Entries
	Programs    []ProgCost         `json:"programs"`     // per untraced exit
	TraceNsOp   map[string]float64 `json:"trace_ns_op"`  // impl -> Trace ns/op
}

// Fig6Burst is traced children exiting at once.
type Fig6Burst struct {
	Children int                         `json:"children"`
	Capacity uint32                      `json:"capacity"`
	Rounds   map[string][]Fig6BurstRound `json:"rounds"` // configuration -> rounds
}

type Fig6BurstRound struct {
	Recorded int     `json:"recorded"`
	Seconds  float64 `json:"seconds"` // from the release to the last exit recorded
	PerSec   float64 `json:"exits_per_second"`
}

// Fig6Drain is reading and deleting every event.
type Fig6Drain struct {
	Events  int                  `json:"events"`
	Seconds map[string][]float64 `json:"seconds"` // impl -> per round
}

func (r *Results) save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func load(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	return &r, json.Unmarshal(b, &r)
}
