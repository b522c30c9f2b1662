// Package exitsnoop records, inside the kernel, the exit status of chosen
// processes, so that a program that is not their parent, or was not running when
// they died, can learn how they died.
//
// A BPF program on the sched_process_exit tracepoint sees every exit. When the
// last thread of a traced process exits, it writes the wait status that waitpid
// would report into a map, keyed by a trace ID that the caller chose when it
// called Store.Trace. The Store reads and deletes those events.
//
// # Lifecycle
//
// A tracer is either pinned or private. EnsureRunning (or Open with a BPFFSRoot)
// pins it in a bpffs: it then runs, and records, until Uninstall, whatever happens
// to the processes that installed it; NewStore opens it from any process.
// NewStoreFromAttach (or Open without a BPFFSRoot) loads a private tracer that
// records only while its Store is open.
//
// # Guarantees
//
// An event is written once, when the whole process is gone (not when its main
// thread exits, nor at an execve from another thread), with the status waitpid
// reports. A pid reused by another process never produces an event under the
// trace ID of the first (see Store.Trace and Store.TracePidfd). Exits that cannot
// be stored are counted in Stats, never dropped silently.
//
// # Concurrency
//
// A Store is safe for concurrent use; many processes may share a pinned tracer.
//
// # Requirements
//
// Needs kernel 5.8+ with BTF (CONFIG_DEBUG_INFO_BTF), and root or CAP_BPF with
// CAP_PERFMON; installing a pinned tracer also needs CAP_SYS_ADMIN (to mount a
// bpffs) and opening its pins root or CAP_DAC_OVERRIDE. A missing kernel feature
// is reported as a *NotSupportedError, which matches ErrNotSupported.
package exitsnoop
