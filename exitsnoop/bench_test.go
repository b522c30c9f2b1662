package exitsnoop

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkDrain100k drains 100,000 events with the kernel's batch operations and
// one key at a time (the fallback). Goal: batch ≤ 0.1 × per-key.
func BenchmarkDrain100k(b *testing.B) {
	const n = 100_000
	s := openPrivate(b, Options{MaxExitedEvents: n})
	for _, mode := range []struct {
		name  string
		drain func() ([]Event, error)
	}{
		{"batch", s.DrainExitedEvents},
		{"per-key", func() ([]Event, error) { return s.perKeyLocked(true) }},
	} {
		b.Run(mode.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for id := uint64(0); id < n; id++ {
					require.NoError(b, s.ExitedEventFromWaitStatus(id, 1, 0))
				}
				b.StartTimer()
				got, err := mode.drain()
				require.NoError(b, err)
				require.Len(b, got, n)
			}
		})
	}
}

// BenchmarkCycle is a Store's hot path: Trace a live process, look its event up,
// delete it (not found: it is alive), and stop tracing. Goal: 0 allocs/op.
func BenchmarkCycle(b *testing.B) {
	s := openPrivate(b, Options{})
	pid := uint32(os.Getpid())
	info := &TaskInfo{TraceID: 1}
	var ev ExitStatus
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := s.Trace(pid, info); err != nil {
			b.Fatal(err)
		}
		if err := s.LookupExitedEvent(1, &ev); err == nil {
			b.Fatal("an event for a live process")
		}
		if err := s.DeleteTracingTask(pid); err != nil {
			b.Fatal(err)
		}
	}
}
