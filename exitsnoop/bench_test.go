package exitsnoop

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkDrain100k drains 100,000 events with the kernel's batch operations
// (bench's figure 6 compares it with the seed's iterate-lookup-delete).
func BenchmarkDrain100k(b *testing.B) {
	const n = 100_000
	s := openPrivate(b, Options{MaxExitedEvents: n})
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for id := uint64(0); id < n; id++ {
			require.NoError(b, s.ExitedEventFromWaitStatus(id, 1, 0))
		}
		b.StartTimer()
		got, err := s.DrainExitedEvents()
		require.NoError(b, err)
		require.Len(b, got, n)
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
