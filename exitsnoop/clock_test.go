package exitsnoop

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// kernelBoottime reads CLOCK_BOOTTIME as the kernel (and bpf_ktime_get_boot_ns)
// counts it: without this time namespace's offset.
func kernelBoottime(t *testing.T) uint64 {
	t.Helper()
	var ts unix.Timespec
	require.NoError(t, unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts))
	off, err := nsBootOffset()
	require.NoError(t, err)
	return uint64(ts.Nano() - off)
}

// TestRuntimeExact: Runtime is ExittedTime minus StartBoottime to the ns, with no
// round trip through wall-clock time.
func TestRuntimeExact(t *testing.T) {
	e := ExitStatus{StartBoottime: 1_000_000_007, ExittedTime: 3_500_000_011}
	assert.Equal(t, 2_500_000_004*time.Nanosecond, e.Runtime())
	assert.Zero(t, (&ExitStatus{ExittedTime: 5}).Runtime(), "start unknown")
	assert.Zero(t, (&ExitStatus{StartBoottime: 6, ExittedTime: 5}).Runtime(), "exit before start")
}

// conversionSlack bounds how late a conversion to wall-clock time may be: the
// time between its two clock readings (boottime, then wall-clock), which a
// preemption can stretch. It is never early.
const conversionSlack = 100 * time.Millisecond

// TestExitTimeOfBoottime: a CLOCK_BOOTTIME reading taken between two wall-clock
// readings converts to a wall-clock time between them.
func TestExitTimeOfBoottime(t *testing.T) {
	before := time.Now()
	e := ExitStatus{ExittedTime: kernelBoottime(t)}
	after := time.Now()
	assert.WithinRange(t, e.ExitTime(), before, after.Add(conversionSlack))
	e.StartBoottime = e.ExittedTime
	assert.WithinRange(t, e.StartTime(), before, after.Add(conversionSlack))
}

// clockNsEnv marks the test binary's run inside a time namespace.
const clockNsEnv = "EXITSNOOP_TEST_CLOCK_NS"

// Offsets of the time namespace of TestTimesInTimeNamespace, s: different, so
// that a conversion using CLOCK_MONOTONIC, or CLOCK_BOOTTIME with the offset
// left in, lands hundreds of seconds off.
const (
	nsBoottimeOffset  = 1000
	nsMonotonicOffset = 500
)

// TestTimesInTimeNamespace: in a time namespace whose boot and monotonic clocks
// are offset differently, the times of a kernel record (and of one made by
// ExitedEventFromWaitStatus) still convert to the wall-clock times they were
// recorded at. It runs itself under unshare(1).
//
// What it cannot tell apart: CLOCK_MONOTONIC without the namespace's monotonic
// offset equals CLOCK_BOOTTIME without its offset on a machine that never
// suspended, as this one (each suspend adds its length to the difference).
func TestTimesInTimeNamespace(t *testing.T) {
	if os.Getenv(clockNsEnv) == "" {
		cmd := exec.Command("unshare", "--fork", "--time",
			"--boottime", strconv.Itoa(nsBoottimeOffset), "--monotonic", strconv.Itoa(nsMonotonicOffset),
			os.Args[0], "-test.run=^TestTimesInTimeNamespace$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), clockNsEnv+"=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "--- PASS: TestTimesInTimeNamespace", "%s", out)
		return
	}

	off, err := nsBootOffset()
	require.NoError(t, err)
	require.Equal(t, int64(nsBoottimeOffset*time.Second), off, "in the time namespace")
	var boot, mono unix.Timespec
	require.NoError(t, unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot))
	require.NoError(t, unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono))
	require.InDelta(t, float64(nsBoottimeOffset-nsMonotonicOffset), float64(boot.Nano()-mono.Nano())/1e9, 5,
		"the two clocks differ by the offsets' difference")

	s := openPrivate(t, Options{})
	before := time.Now()
	cmd := exec.Command("sh", "-c", "read x; exit 3")
	w, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	require.NoError(t, s.Trace(uint32(cmd.Process.Pid), &TaskInfo{TraceID: 1}))
	time.Sleep(20 * time.Millisecond)
	w.Close()
	require.Error(t, cmd.Wait())
	afterExit := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := s.Wait(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, "exited 3", ev.String())
	assert.WithinRange(t, ev.StartTime(), before, afterExit.Add(conversionSlack), "the kernel's start time")
	assert.WithinRange(t, ev.ExitTime(), before, afterExit.Add(conversionSlack), "the kernel's exit time")
	assert.GreaterOrEqual(t, ev.Runtime(), 20*time.Millisecond)
	assert.Equal(t, time.Duration(ev.ExittedTime-ev.StartBoottime), ev.Runtime())

	before = time.Now()
	require.NoError(t, s.ExitedEventFromWaitStatus(2, 1, 0))
	after := time.Now()
	ev, err = s.GetExitedEvent(2)
	require.NoError(t, err)
	assert.WithinRange(t, ev.ExitTime(), before, after.Add(conversionSlack), "ExitedEventFromWaitStatus's time")

	before = time.Now()
	e := ExitStatus{ExittedTime: kernelBoottime(t)}
	after = time.Now()
	assert.WithinRange(t, e.ExitTime(), before, after.Add(conversionSlack), "a boottime reading")
}
