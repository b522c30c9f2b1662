package exitsnoop

// PidnsInfo names a pid namespace: the device and inode numbers of
// /proc/<pid>/ns/pid. The zero value matches every namespace.
type PidnsInfo struct {
	Dev uint64
	Ino uint64
}

// TaskInfo is used to trace the target task.
type TaskInfo struct {
	// TraceID is allocated by userspace to identity the pid of task.
	TraceID uint64
	// PidnsInfo, when set, is the pid namespace the process must be in
	// (PidnsOf): Trace checks it and fails with ErrNamespaceMismatch otherwise.
	// A process never changes pid namespace, so its exit needs no check.
	PidnsInfo PidnsInfo
}

// ExitStatus is used to record the exit event when the target task exits.
//
// Its layout is the kernel record's (internal/core/layout.h: struct exit_status).
type ExitStatus struct {
	// Pid is the process's pid as the host's pid namespace sees it.
	Pid uint32
	// ExitCode is the raw wait status, as waitpid reports it: code<<8 after
	// exit(code), the signal number after a fatal signal, with 0x80 set when a
	// core was dumped.
	ExitCode int32
	// StartBoottime is the process's start, in ns of CLOCK_BOOTTIME as the kernel
	// counts it: since boot, suspends included, without a time namespace's
	// offset (clock_gettime in such a namespace adds its offset). StartTime
	// converts it to wall-clock time.
	StartBoottime uint64
	// ExittedTime is when the exit was recorded, on the same clock as
	// StartBoottime (the seed used CLOCK_MONOTONIC, which stops during a
	// suspend): Runtime is the difference, ExitTime the wall-clock time. An exit
	// recorded by the fallback carries the time of its reap; one recorded by
	// ExitedEventFromWaitStatus, the time of that call.
	ExittedTime uint64
}

// taskValue is the kernel record of a traced task (struct task_info).
type taskValue struct {
	TaskInfo
	StartTicks uint64 // start time in clock ticks, as /proc/<pid>/stat has it
	BootOffset int64  // the tracer's time namespace boottime offset (5.11+ adds it to StartTicks), ns
}

// traceRef is the kernel record of a trace ID (struct trace_ref).
type traceRef struct {
	Pid  uint32
	Fate fate
}
