package exitsnoop

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mapMemory is the kernel's memory charge of the map behind fd (fdinfo memlock).
func mapMemory(t *testing.T, fd int) uint64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "memlock:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no memlock in fdinfo of fd %d", fd)
	return 0
}

// TestMillionTracedTasks fills a 1,000,000-entry tracing map and reports the
// memory it costs.
func TestMillionTracedTasks(t *testing.T) {
	const n = 1_000_000
	s := openPrivate(t, Options{MaxTracingTasks: n, MaxExitedEvents: n})
	tasks, events, err := s.Capacity()
	require.NoError(t, err)
	require.Equal(t, uint32(n), tasks)
	require.Equal(t, uint32(n), events)

	// Keys past pid_max: synthetic entries, inserted as Trace inserts them.
	base := uint32(1 << 23)
	for i := uint32(0); i < n; i++ {
		require.NoError(t, s.insertTask(base+i, &taskValue{TaskInfo: TaskInfo{TraceID: uint64(i)}, StartTicks: 1}))
	}
	err = s.insertTask(base+n, &taskValue{TaskInfo: TaskInfo{TraceID: n}, StartTicks: 1})
	require.ErrorIs(t, err, ErrFull)
	require.ErrorIs(t, err, syscall.E2BIG)
	info, err := s.GetTracingTask(base + n/2)
	require.NoError(t, err)
	assert.Equal(t, uint64(n/2), info.TraceID)

	// A real exit is still recorded: its pid bucket is shared with entries above.
	for i := uint32(0); i < n; i += 2 {
		require.NoError(t, s.deleteTask(base+i))
	}
	p := startScenario(t, "exit", "1")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: n + 1}))
	p.finish(t)
	ev, err := s.GetExitedEvent(n + 1)
	require.NoError(t, err)
	assert.Equal(t, int32(1<<8), ev.ExitCode)

	t.Logf("kernel memory at capacity %d: tracing_tasks %d MiB, exited_events %d MiB",
		n, mapMemory(t, s.tasks)>>20, mapMemory(t, s.events)>>20)
}

func TestFullMaps(t *testing.T) {
	s := openPrivate(t, Options{MaxTracingTasks: 1, MaxExitedEvents: 2})
	p := startScenario(t, "exit", "0")
	q := startScenario(t, "exit", "0")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 1}))
	require.ErrorIs(t, s.Trace(q.pid, &TaskInfo{TraceID: 2}), ErrFull, "Trace into a full map")
	_, err := s.GetTracingTask(q.pid)
	require.ErrorIs(t, err, ErrKeyNotExist)

	require.NoError(t, s.ExitedEventFromWaitStatus(10, 1, 0))
	require.NoError(t, s.ExitedEventFromWaitStatus(11, 1, 0))
	require.ErrorIs(t, s.ExitedEventFromWaitStatus(12, 1, 0), ErrFull)

	p.finish(t)
	q.finish(t)
	_, err = s.GetExitedEvent(1)
	require.ErrorIs(t, err, ErrKeyNotExist)
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, Stats{Exits: 1, Dropped: 1}, counted(st), "an exit that cannot be stored is counted")
}

func TestDuplicateEventKeepsFirst(t *testing.T) {
	s := openPrivate(t, Options{})
	p := startScenario(t, "exit", "4")
	require.NoError(t, s.Trace(p.pid, &TaskInfo{TraceID: 1}))
	require.NoError(t, s.ExitedEventFromWaitStatus(1, 1, 3<<8)) // recorded another way first
	p.finish(t)
	ev, err := s.GetExitedEvent(1)
	require.NoError(t, err)
	assert.Equal(t, int32(3<<8), ev.ExitCode, "the first event of a trace ID stands")
	st, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, Stats{Exits: 1, Duplicate: 1}, counted(st))
}
