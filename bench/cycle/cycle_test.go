// The benchmarks of figure 2 (see cycle.go).
package cycle

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/bench/reference"
	"exitsnoop.dev/exitsnoop"
)

var (
	kids     []*spawn.Child
	nsDev    uint64
	nsIno    uint64
	oursOnce sync.Once
	ours     *exitsnoop.Store
	refOnce  sync.Once
	ref      *reference.Store
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "cycle: the benchmarks load BPF programs: run as root")
		os.Exit(1)
	}
	var err error
	if nsDev, nsIno, err = spawn.Pidns(0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 0; i < Chunk; i++ {
		c, err := spawn.Start(spawn.Gate, false)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		kids = append(kids, c)
	}
	code := m.Run()
	for _, c := range kids {
		c.Release()
		c.Wait()
	}
	if ours != nil {
		ours.Close()
	}
	if ref != nil {
		ref.Close()
	}
	os.Exit(code)
}

func oursStore(b *testing.B) *exitsnoop.Store {
	oursOnce.Do(func() {
		var err error
		if ours, err = exitsnoop.NewStoreFromAttach(); err != nil {
			panic(err)
		}
	})
	return ours
}

func refStore(b *testing.B) *reference.Store {
	refOnce.Do(func() {
		var err error
		if ref, err = reference.NewStoreFromAttach(); err != nil {
			panic(err)
		}
	})
	return ref
}

// impls lists the APIs in the order benchstat shows them: the reference first,
// the base of the comparison.
func impls(b *testing.B, withLookup bool) []struct {
	name string
	im   func() Impl
} {
	oursNs, refNs := exitsnoop.PidnsInfo{Dev: nsDev, Ino: nsIno}, reference.PidnsInfo{Dev: nsDev, Ino: nsIno}
	list := []struct {
		name string
		im   func() Impl
	}{
		{"reference", func() Impl { return Reference(refStore(b), refNs) }},
		{"ours", func() Impl { return Ours(oursStore(b), oursNs, false) }},
	}
	if withLookup {
		list = append(list, struct {
			name string
			im   func() Impl
		}{"ours-lookup", func() Impl { return Ours(oursStore(b), oursNs, true) }})
	}
	return list
}

// BenchmarkCycle is figure 2: Trace, then GetExitedEvent and DeleteExitedEvent of
// the event the kernel recorded. The cycle keeps its order, as Trace refuses a
// trace ID that has an unread event (ours since the no-silent-loss protocol): each
// chunk of up to 256 operations traces its children under fresh IDs, then with the
// timer stopped the kernel's share ends their traces, then the events are read and
// deleted.
func BenchmarkCycle(b *testing.B) {
	for _, c := range impls(b, true) {
		b.Run("impl="+c.name, func(b *testing.B) {
			im := c.im()
			ids := make([]uint64, Chunk)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(Chunk, b.N-done)
				b.StopTimer()
				FreshIDs(ids[:n])
				b.StartTimer()
				for j, id := range ids[:n] {
					Must(b, im.Trace(kids[j].Pid, id))
				}
				b.StopTimer()
				for j, id := range ids[:n] { // the kernel drops the tracing entries and records the exits
					Must(b, im.Untrace(kids[j].Pid))
					Must(b, im.Record(id, kids[j].Pid))
				}
				b.StartTimer()
				for _, id := range ids[:n] {
					Must(b, im.Get(id))
					Must(b, im.Del(id))
				}
				done += n
			}
			b.StopTimer()
		})
	}
}

// BenchmarkTrace is the Trace call of the cycle alone.
func BenchmarkTrace(b *testing.B) {
	for _, c := range impls(b, false) {
		b.Run("impl="+c.name, func(b *testing.B) { Trace(b, c.im(), kids) })
	}
}

// BenchmarkGetExitedEvent is the read of the cycle alone.
func BenchmarkGetExitedEvent(b *testing.B) {
	for _, c := range impls(b, true) {
		b.Run("impl="+c.name, func(b *testing.B) {
			im := c.im()
			Chunked(b, kids,
				func(ids []uint64) {
					for j, id := range ids {
						Must(b, im.Record(id, kids[j].Pid))
					}
				},
				func(_ uint32, id uint64) error { return im.Get(id) },
				func(ids []uint64, _ int) {
					for _, id := range ids {
						Must(b, im.Del(id))
					}
				})
		})
	}
}

// BenchmarkDeleteExitedEvent is the delete of the cycle alone.
func BenchmarkDeleteExitedEvent(b *testing.B) {
	for _, c := range impls(b, false) {
		b.Run("impl="+c.name, func(b *testing.B) {
			im := c.im()
			Chunked(b, kids,
				func(ids []uint64) {
					for j, id := range ids {
						Must(b, im.Record(id, kids[j].Pid))
					}
				},
				func(_ uint32, id uint64) error { return im.Del(id) },
				func(ids []uint64, n int) {
					for _, id := range ids[n:] {
						Must(b, im.Del(id))
					}
				})
		})
	}
}
