// Package profile holds the experiments behind the analysis in bench/notes.md:
// they locate costs that the figures show but cannot explain. Run as root:
//
//	go test -tags netgo,osusergo -v -run Spawn ./profile
package profile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/bench/reference"
	"exitsnoop.dev/exitsnoop"
)

// pinnedWith installs ours pinned and opens its maps' pins here (with cilium/ebpf,
// no libbpf), mapping pid_refs as a Store does when mmap is set.
func pinnedWith(mmap bool) (io.Closer, error) {
	root, err := os.MkdirTemp("", "exitsnoop-profile-")
	if err != nil {
		return nil, err
	}
	if err := exitsnoop.EnsureRunning(root); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, ".exitsnoop.bpf")
	var maps []*ebpf.Map
	var mem []byte
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, e.Name()), nil)
		if err != nil {
			continue
		}
		maps = append(maps, m)
		if mmap && e.Name() == "pid_refs" {
			if mem, err = unix.Mmap(m.FD(), 0, int(m.MaxEntries())*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
				return nil, err
			}
		}
	}
	return closerFunc(func() error {
		if mem != nil {
			unix.Munmap(mem)
		}
		for _, m := range maps {
			m.Close()
		}
		exitsnoop.Uninstall(root)
		return os.RemoveAll(root)
	}), nil
}

func medianUs(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// BenchmarkSpawnOverhead splits figure 4's cost: is it the kernel program, or the
// state a Store keeps in the spawning process? Each configuration is loaded for
// rounds of 200 spawns, the configurations interleaved; each iteration is all 12
// rounds, and the medians are reported as metrics. On the shared machine this was
// measured on, its results swung by ±10 % from run to run (which is why figure 4
// uses short interleaved windows instead); one iteration takes about a minute:
//
//	go test -tags netgo,osusergo -run '^$' -bench SpawnOverhead -benchtime 1x ./profile
func BenchmarkSpawnOverhead(b *testing.B) {
	configs := []struct {
		name  string
		setup func() (io.Closer, error)
	}{
		{"none", func() (io.Closer, error) { return closerFunc(func() error { return nil }), nil }},
		{"ours: private Store in this process", func() (io.Closer, error) { return exitsnoop.NewStoreFromAttach() }},
		{"ours: pinned, no Store open in this process", func() (io.Closer, error) {
			root, err := os.MkdirTemp("", "exitsnoop-profile-")
			if err != nil {
				return nil, err
			}
			if err := exitsnoop.EnsureRunning(root); err != nil {
				return nil, err
			}
			return closerFunc(func() error { exitsnoop.Uninstall(root); return os.RemoveAll(root) }), nil
		}},
		{"ours: pinned, Store open in this process", func() (io.Closer, error) {
			root, err := os.MkdirTemp("", "exitsnoop-profile-")
			if err != nil {
				return nil, err
			}
			s, err := exitsnoop.Open(exitsnoop.Options{BPFFSRoot: root})
			if err != nil {
				return nil, err
			}
			return closerFunc(func() error { s.Close(); exitsnoop.Uninstall(root); return os.RemoveAll(root) }), nil
		}},
		{"ours: pinned, its map fds open here, nothing mapped", func() (io.Closer, error) { return pinnedWith(false) }},
		{"ours: pinned, map fds open and pid_refs mmapped here", func() (io.Closer, error) { return pinnedWith(true) }},
		{"reference", func() (io.Closer, error) { return reference.NewStoreFromAttach() }},
	}
	for n := 0; n < b.N; n++ {
		times := make([][]float64, len(configs))
		argv := []string{"/bin/true"}
		for round := 0; round < 12; round++ {
			for i, c := range configs {
				cl, err := c.setup()
				if err != nil {
					b.Fatal(c.name, err)
				}
				time.Sleep(50 * time.Millisecond)
				for k := 0; k < 20; k++ {
					spawn.Run(argv)
				}
				for k := 0; k < 200; k++ {
					t0 := time.Now()
					if err := spawn.Run(argv); err != nil {
						b.Fatal(err)
					}
					times[i] = append(times[i], float64(time.Since(t0).Nanoseconds())/1e3)
				}
				cl.Close()
			}
		}
		base := medianUs(times[0])
		for i, c := range configs {
			m := medianUs(times[i])
			b.Logf("%-45s median spawn %.1f µs, rate vs none %.3f", c.name, m, base/m)
			b.ReportMetric(m, fmt.Sprintf("µs-median-spawn(%d)", i))
		}
	}
}
