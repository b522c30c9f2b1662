package exitsnoop

import (
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Exited reports whether the process ended by exit (or by returning from main).
func (e *ExitStatus) Exited() bool { return e.ExitCode&0x7f == 0 }

// ExitStatus returns the code passed to exit, or -1 if the process was signaled.
func (e *ExitStatus) ExitStatus() int {
	if !e.Exited() {
		return -1
	}
	return int(e.ExitCode>>8) & 0xff
}

// Signaled reports whether a signal ended the process.
func (e *ExitStatus) Signaled() bool { return !e.Exited() && e.ExitCode&0x7f != 0x7f }

// Signal returns the signal that ended the process, or -1 if it exited.
func (e *ExitStatus) Signal() syscall.Signal {
	if !e.Signaled() {
		return -1
	}
	return syscall.Signal(e.ExitCode & 0x7f)
}

// CoreDump reports whether the process dumped core as it died.
func (e *ExitStatus) CoreDump() bool { return e.Signaled() && e.ExitCode&0x80 != 0 }

// String describes the status as a shell user would: "exited 3",
// "killed by SIGKILL", "killed by SIGSEGV (core dumped)".
func (e *ExitStatus) String() string {
	switch {
	case e.Exited():
		return fmt.Sprintf("exited %d", e.ExitStatus())
	case e.CoreDump():
		return fmt.Sprintf("killed by %s (core dumped)", signalName(e.Signal()))
	case e.Signaled():
		return fmt.Sprintf("killed by %s", signalName(e.Signal()))
	}
	return fmt.Sprintf("wait status %#x", uint32(e.ExitCode))
}

// ShellCode is the exit code a shell gives the process: the exit code, or 128
// plus the signal number.
func (e *ExitStatus) ShellCode() int {
	if e.Signaled() {
		return 128 + int(e.Signal())
	}
	return e.ExitStatus()
}

func signalName(s syscall.Signal) string {
	if name := unix.SignalName(s); name != "" {
		return name
	}
	return fmt.Sprintf("signal %d", int(s))
}

// StartTime is the process's start as wall-clock time, from StartBoottime (zero
// if that is unknown, as in events from ExitedEventFromWaitStatus).
func (e *ExitStatus) StartTime() time.Time {
	if e.StartBoottime == 0 {
		return time.Time{}
	}
	return wallTime(e.StartBoottime)
}

// ExitTime is the exit as wall-clock time, from ExittedTime.
func (e *ExitStatus) ExitTime() time.Time { return wallTime(e.ExittedTime) }

// Runtime is how long the process ran, suspends included: ExittedTime minus
// StartBoottime, both CLOCK_BOOTTIME, exactly (0 if its start is unknown).
func (e *ExitStatus) Runtime() time.Duration {
	if e.StartBoottime == 0 || e.ExittedTime < e.StartBoottime {
		return 0
	}
	return time.Duration(e.ExittedTime - e.StartBoottime)
}

// wallTime converts ns of CLOCK_BOOTTIME as the kernel counts it (without this
// time namespace's boottime offset) to wall-clock time: now minus the boottime
// that has passed since. A suspend in between counts, as it does in wall-clock
// time. The result has no monotonic clock reading: CLOCK_MONOTONIC stops during a
// suspend, so one derived from the boot clock would be wrong by its length.
func wallTime(ns uint64) time.Time {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return time.Time{}
	}
	off, _ := nsBootOffset()
	// Read after the boot clock: the result is never before the instant ns names,
	// and after it only by the time between the two readings.
	now := time.Now().Round(0)
	return now.Add(-time.Duration(uint64(ts.Nano()-off) - ns))
}

// nsBootOffset is this process's time namespace boottime offset, read once.
var nsBootOffset = sync.OnceValues(boottimeOffset)
