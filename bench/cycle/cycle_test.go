// Package cycle holds figure 2: the user-space cost of a trace → read → delete
// cycle through each Store API, with `go test -bench . -benchmem -count 6`.
//
// A traced process has to be alive at Trace, and an event exists only after an
// exit, which costs far more than the calls measured. So the processes are 256
// children held alive for the whole run, and the kernel's share of the cycle (drop
// the tracing entry, write the event) is done with the timer stopped, through the
// same Store calls (DeleteTracingTask, ExitedEventFromWaitStatus). The timed loops
// are only the caller's calls.
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

// chunk is how many live children are traced in turn.
const chunk = 256

var (
	kids     []*spawn.Child
	nsDev    uint64
	nsIno    uint64
	nextID   uint64 = 1 << 40
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
	for i := 0; i < chunk; i++ {
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

// impl is one Store API: the caller's calls (trace, get, del) and the kernel's
// share (untrace, record), done untimed.
type impl interface {
	trace(pid uint32, id uint64) error
	get(id uint64) error
	del(id uint64) error
	untrace(pid uint32) error
	record(id uint64, pid uint32) error
}

type oursImpl struct {
	s      *exitsnoop.Store
	lookup bool                  // LookupExitedEvent into ev instead of GetExitedEvent
	ev     *exitsnoop.ExitStatus // its own allocation: cgo refuses one inside a struct with pointers
	info   exitsnoop.TaskInfo
}

func (o *oursImpl) trace(pid uint32, id uint64) error {
	o.info.TraceID = id
	return o.s.Trace(pid, &o.info)
}

func (o *oursImpl) get(id uint64) error {
	if o.lookup {
		return o.s.LookupExitedEvent(id, o.ev)
	}
	_, err := o.s.GetExitedEvent(id)
	return err
}

func (o *oursImpl) del(id uint64) error      { return o.s.DeleteExitedEvent(id) }
func (o *oursImpl) untrace(pid uint32) error { return o.s.DeleteTracingTask(pid) }
func (o *oursImpl) record(id uint64, pid uint32) error {
	return o.s.ExitedEventFromWaitStatus(id, pid, 0)
}

type refImpl struct {
	s    *reference.Store
	info reference.TaskInfo
}

func (r *refImpl) trace(pid uint32, id uint64) error {
	r.info.TraceID = id
	return r.s.Trace(pid, &r.info)
}

func (r *refImpl) get(id uint64) error {
	_, err := r.s.GetExitedEvent(id)
	return err
}

func (r *refImpl) del(id uint64) error      { return r.s.DeleteExitedEvent(id) }
func (r *refImpl) untrace(pid uint32) error { return r.s.DeleteTracingTask(pid) }
func (r *refImpl) record(id uint64, pid uint32) error {
	return r.s.ExitedEventFromWaitStatus(id, pid, 0)
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
	im   func() impl
} {
	list := []struct {
		name string
		im   func() impl
	}{
		{"reference", func() impl {
			return &refImpl{s: refStore(b), info: reference.TaskInfo{PidnsInfo: reference.PidnsInfo{Dev: nsDev, Ino: nsIno}}}
		}},
		{"ours", func() impl {
			return &oursImpl{s: oursStore(b), info: exitsnoop.TaskInfo{PidnsInfo: exitsnoop.PidnsInfo{Dev: nsDev, Ino: nsIno}}}
		}},
	}
	if withLookup {
		list = append(list, struct {
			name string
			im   func() impl
		}{"ours-lookup", func() impl {
			return &oursImpl{s: oursStore(b), lookup: true, ev: new(exitsnoop.ExitStatus), info: exitsnoop.TaskInfo{PidnsInfo: exitsnoop.PidnsInfo{Dev: nsDev, Ino: nsIno}}}
		}})
	}
	return list
}

// chunked runs op b.N times over the children in turn; before each chunk of
// `chunk` operations, with the timer stopped, prep(ids) sets the stage, and after
// it done(n) clears up after the n operations run.
func chunked(b *testing.B, prep func(ids []uint64), op func(pid uint32, id uint64) error, done func(ids []uint64, n int)) {
	ids := make([]uint64, chunk)
	fresh := func() {
		for j := range ids {
			ids[j] = nextID
			nextID++
		}
		prep(ids)
	}
	b.StopTimer()
	fresh()
	b.ReportAllocs()
	b.ResetTimer()
	b.StartTimer()
	for i := 0; i < b.N; i++ {
		j := i % chunk
		if j == 0 && i > 0 {
			b.StopTimer()
			done(ids, chunk)
			fresh()
			b.StartTimer()
		}
		if err := op(kids[j].Pid, ids[j]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := b.N % chunk
	if n == 0 {
		n = chunk
	}
	done(ids, n)
}

func must(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
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
			ids := make([]uint64, chunk)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(chunk, b.N-done)
				b.StopTimer()
				for j := range ids[:n] {
					ids[j] = nextID
					nextID++
				}
				b.StartTimer()
				for j, id := range ids[:n] {
					must(b, im.trace(kids[j].Pid, id))
				}
				b.StopTimer()
				for j, id := range ids[:n] { // the kernel drops the tracing entries and records the exits
					must(b, im.untrace(kids[j].Pid))
					must(b, im.record(id, kids[j].Pid))
				}
				b.StartTimer()
				for _, id := range ids[:n] {
					must(b, im.get(id))
					must(b, im.del(id))
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
		b.Run("impl="+c.name, func(b *testing.B) {
			im := c.im()
			chunked(b, func([]uint64) {}, im.trace, func(_ []uint64, n int) {
				for j := 0; j < n; j++ {
					must(b, im.untrace(kids[j].Pid))
				}
			})
		})
	}
}

// BenchmarkGetExitedEvent is the read of the cycle alone.
func BenchmarkGetExitedEvent(b *testing.B) {
	for _, c := range impls(b, true) {
		b.Run("impl="+c.name, func(b *testing.B) {
			im := c.im()
			chunked(b,
				func(ids []uint64) {
					for j, id := range ids {
						must(b, im.record(id, kids[j].Pid))
					}
				},
				func(_ uint32, id uint64) error { return im.get(id) },
				func(ids []uint64, _ int) {
					for _, id := range ids {
						must(b, im.del(id))
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
			chunked(b,
				func(ids []uint64) {
					for j, id := range ids {
						must(b, im.record(id, kids[j].Pid))
					}
				},
				func(_ uint32, id uint64) error { return im.del(id) },
				func(ids []uint64, n int) {
					for _, id := range ids[n:] {
						must(b, im.del(id))
					}
				})
		})
	}
}
