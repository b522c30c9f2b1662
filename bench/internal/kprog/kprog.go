// Package kprog reads what the kernel says about loaded BPF programs and maps:
// run-time statistics (kernel.bpf_stats_enabled) and map memory (fdinfo memlock).
package kprog

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

const statsSysctl = "/proc/sys/kernel/bpf_stats_enabled"

// EnableStats sets kernel.bpf_stats_enabled to 1 and returns a function that puts
// back the value it had.
func EnableStats() (restore func() error, err error) {
	old, err := os.ReadFile(statsSysctl)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(statsSysctl, []byte("1\n"), 0o644); err != nil {
		return nil, fmt.Errorf("enabling %s: %w", statsSysctl, err)
	}
	return func() error { return os.WriteFile(statsSysctl, old, 0o644) }, nil
}

// Stats are a program's cumulative run statistics.
type Stats struct {
	RunNs  uint64
	RunCnt uint64
}

// Sub is s - o.
func (s Stats) Sub(o Stats) Stats { return Stats{s.RunNs - o.RunNs, s.RunCnt - o.RunCnt} }

// PerRun is the mean ns per run.
func (s Stats) PerRun() float64 {
	if s.RunCnt == 0 {
		return 0
	}
	return float64(s.RunNs) / float64(s.RunCnt)
}

// Read reads p's run_time_ns and run_cnt (BPF_OBJ_GET_INFO_BY_FD).
func Read(p *ebpf.Program) (Stats, error) {
	info, err := p.Info()
	if err != nil {
		return Stats{}, err
	}
	ns, ok1 := info.Runtime()
	cnt, ok2 := info.RunCount()
	if !ok1 || !ok2 {
		return Stats{}, errors.New("kernel reports no run statistics")
	}
	return Stats{RunNs: uint64(ns.Nanoseconds()), RunCnt: cnt}, nil
}

// PinnedLinkProgram opens the program behind the link pinned at path.
func PinnedLinkProgram(path string) (*ebpf.Program, error) {
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		return nil, fmt.Errorf("opening pinned link %s: %w", path, err)
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		return nil, fmt.Errorf("link info of %s: %w", path, err)
	}
	return ebpf.NewProgramFromID(info.Program)
}

// MapMem is one map's memory as the kernel accounts it.
type MapMem struct {
	Name       string
	Type       string
	MaxEntries uint32
	Memlock    uint64 // bytes, the "memlock:" line of /proc/self/fdinfo/<fd>
}

// Memlock reads the memlock line of m's fdinfo.
func Memlock(m *ebpf.Map) (uint64, error) {
	f, err := os.Open("/proc/self/fdinfo/" + strconv.Itoa(m.FD()))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "memlock:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("no memlock in fdinfo")
}

// Describe returns m's name, type, size and memory.
func Describe(m *ebpf.Map, name string) (MapMem, error) {
	mem, err := Memlock(m)
	if err != nil {
		return MapMem{}, err
	}
	if info, err := m.Info(); err == nil && name == "" {
		name = info.Name
	}
	return MapMem{Name: name, Type: m.Type().String(), MaxEntries: m.MaxEntries(), Memlock: mem}, nil
}

// PinnedTracerMaps describes every map of a tracer pinned in dir: the maps pinned
// there and those its linked program uses (a map may be unpinned), once each.
func PinnedTracerMaps(dir, linkPin string) ([]MapMem, error) {
	seen := map[ebpf.MapID]bool{}
	var out []MapMem
	add := func(m *ebpf.Map, name string) error {
		defer m.Close()
		info, err := m.Info()
		if err != nil {
			return err
		}
		id, _ := info.ID()
		if seen[id] {
			return nil
		}
		seen[id] = true
		d, err := Describe(m, name)
		if err != nil {
			return err
		}
		out = append(out, d)
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		// Links (link, link_free), pinned programs (prog_*) and bpffs's own files.
		if strings.HasPrefix(e.Name(), linkPin) || strings.HasSuffix(e.Name(), ".debug") {
			continue
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, e.Name()), nil)
		if err != nil {
			continue // not a map
		}
		if err := add(m, e.Name()); err != nil {
			return nil, err
		}
	}
	prog, err := PinnedLinkProgram(filepath.Join(dir, linkPin))
	if err != nil {
		return nil, err
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return nil, err
	}
	ids, _ := info.MapIDs()
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			return nil, err
		}
		if err := add(m, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}
