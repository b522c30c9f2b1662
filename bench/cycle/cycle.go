// Package cycle holds figure 2: the user-space cost of a trace → read → delete
// cycle through each Store API, with `go test -bench . -benchmem -count 6`.
//
// A traced process has to be alive at Trace, and an event exists only after an
// exit, which costs far more than the calls measured. So the processes are 256
// children held alive for the whole run, and the kernel's share of the cycle (drop
// the tracing entry, write the event) is done with the timer stopped, through the
// same Store calls (DeleteTracingTask, ExitedEventFromWaitStatus). The timed loops
// are only the caller's calls.
//
// This file holds what figure 6 (cmd/figures) reuses: the two Store APIs behind
// one interface, and the Trace benchmark's body.
package cycle

import (
	"testing"

	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/bench/reference"
	"exitsnoop.dev/exitsnoop"
)

// Chunk is how many live children are traced in turn.
const Chunk = 256

// nextID is the next fresh trace ID (one goroutine benchmarks at a time).
var nextID uint64 = 1 << 40

// Impl is one Store API: the caller's calls (Trace, Get, Del) and the kernel's
// share (Untrace, Record), done untimed.
type Impl interface {
	Trace(pid uint32, id uint64) error
	Get(id uint64) error
	Del(id uint64) error
	Untrace(pid uint32) error
	Record(id uint64, pid uint32) error
}

type oursImpl struct {
	s      *exitsnoop.Store
	lookup bool                  // LookupExitedEvent into ev instead of GetExitedEvent
	ev     *exitsnoop.ExitStatus // its own allocation: cgo refuses one inside a struct with pointers
	info   exitsnoop.TaskInfo
}

// Ours is ours' Store API, tracing in pid namespace ns; with lookup it reads
// events with LookupExitedEvent instead of GetExitedEvent.
func Ours(s *exitsnoop.Store, ns exitsnoop.PidnsInfo, lookup bool) Impl {
	return &oursImpl{s: s, lookup: lookup, ev: new(exitsnoop.ExitStatus), info: exitsnoop.TaskInfo{PidnsInfo: ns}}
}

func (o *oursImpl) Trace(pid uint32, id uint64) error {
	o.info.TraceID = id
	return o.s.Trace(pid, &o.info)
}

func (o *oursImpl) Get(id uint64) error {
	if o.lookup {
		return o.s.LookupExitedEvent(id, o.ev)
	}
	_, err := o.s.GetExitedEvent(id)
	return err
}

func (o *oursImpl) Del(id uint64) error      { return o.s.DeleteExitedEvent(id) }
func (o *oursImpl) Untrace(pid uint32) error { return o.s.DeleteTracingTask(pid) }
func (o *oursImpl) Record(id uint64, pid uint32) error {
	return o.s.ExitedEventFromWaitStatus(id, pid, 0)
}

type refImpl struct {
	s    *reference.Store
	info reference.TaskInfo
}

// Reference is the reference's (the seed's) Store API, tracing in pid namespace ns.
func Reference(s *reference.Store, ns reference.PidnsInfo) Impl {
	return &refImpl{s: s, info: reference.TaskInfo{PidnsInfo: ns}}
}

func (r *refImpl) Trace(pid uint32, id uint64) error {
	r.info.TraceID = id
	return r.s.Trace(pid, &r.info)
}

func (r *refImpl) Get(id uint64) error {
	_, err := r.s.GetExitedEvent(id)
	return err
}

func (r *refImpl) Del(id uint64) error      { return r.s.DeleteExitedEvent(id) }
func (r *refImpl) Untrace(pid uint32) error { return r.s.DeleteTracingTask(pid) }
func (r *refImpl) Record(id uint64, pid uint32) error {
	return r.s.ExitedEventFromWaitStatus(id, pid, 0)
}

// FreshIDs fills ids with trace IDs never used before.
func FreshIDs(ids []uint64) {
	for j := range ids {
		ids[j] = nextID
		nextID++
	}
}

// Chunked runs op b.N times over kids in turn; before each chunk of len(kids)
// operations, with the timer stopped, prep(ids) sets the stage, and after it
// done(ids, n) clears up after the n operations run.
func Chunked(b *testing.B, kids []*spawn.Child, prep func(ids []uint64), op func(pid uint32, id uint64) error, done func(ids []uint64, n int)) {
	chunk := len(kids)
	ids := make([]uint64, chunk)
	fresh := func() {
		FreshIDs(ids)
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

// Must fails b on err.
func Must(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}

// Trace is the Trace benchmark: each operation traces one of kids (alive, not
// traced) under a fresh trace ID; after each chunk the timer stops and the
// chunk's entries are deleted (DeleteTracingTask), leaving the Store as it was.
func Trace(b *testing.B, im Impl, kids []*spawn.Child) {
	Chunked(b, kids, func([]uint64) {}, im.Trace, func(_ []uint64, n int) {
		for j := 0; j < n; j++ {
			Must(b, im.Untrace(kids[j].Pid))
		}
	})
}
