package exitsnoop

import (
	"fmt"
	"unsafe"

	"exitsnoop.dev/internal/bpfsys"
	"exitsnoop.dev/internal/core"
)

// Stats are the tracer's counters, summed over CPUs. They count since the tracer
// was loaded (for a pinned tracer: installed) and are shared by every Store of it.
type Stats struct {
	// Exits counts exits of traced processes (last thread gone).
	Exits uint64 `json:"exits"`
	// Recorded counts events written to the exited-events map.
	Recorded uint64 `json:"recorded"`
	// Dropped counts exits lost because the exited-events map was full.
	Dropped uint64 `json:"dropped"`
	// Duplicate counts exits not recorded because their trace ID had an event.
	Duplicate uint64 `json:"duplicate"`
	// NamespaceMismatch is kept for the seed's callers: it stays 0, since Trace
	// refuses a process outside TaskInfo.PidnsInfo (ErrNamespaceMismatch).
	NamespaceMismatch uint64 `json:"namespace_mismatch"`
	// PidReused counts exits of a process that reused a traced pid (not recorded).
	PidReused uint64 `json:"pid_reused"`
	// NotifyLost counts recorded exits whose notification did not fit in the ring
	// buffer, as happens while no Store waits or subscribes (a Wait then finds
	// them by looking at the map).
	NotifyLost uint64 `json:"notify_lost"`
	// Recovered counts the Recorded exits that the exit program did not see and
	// its fallback on sched_process_free recorded when the process was reaped.
	Recovered uint64 `json:"recovered"`
	// Missed counts runs of the tracer's programs that the kernel skipped (their
	// recursion_misses, 5.12+; since they were loaded): an exit is lost only when
	// both the exit program and its fallback were skipped for it.
	Missed uint64 `json:"missed"`
}

// kernelStats mirrors struct exitsnoop_stats, one CPU's counters.
type kernelStats struct {
	Exits, Recorded, Dropped, Duplicate, NamespaceMismatch, PidReused, NotifyLost, Recovered uint64
}

// Stats reads the counters.
func (s *Store) Stats() (Stats, error) {
	if err := s.acquire(); err != nil {
		return Stats{}, err
	}
	defer s.mu.RUnlock()
	var k kernelStats
	missed, err := core.Stats(s.stats, s.progs, s.ncpu, unsafe.Pointer(&k))
	if err != nil {
		return Stats{}, coreErr(err)
	}
	return Stats{Exits: k.Exits, Recorded: k.Recorded, Dropped: k.Dropped, Duplicate: k.Duplicate,
		NamespaceMismatch: k.NamespaceMismatch, PidReused: k.PidReused, NotifyLost: k.NotifyLost,
		Recovered: k.Recovered, Missed: missed}, nil
}

// Capacity reports the sizes of the tracing-tasks and exited-events maps.
func (s *Store) Capacity() (tracingTasks, exitedEvents uint32, err error) {
	if err := s.acquire(); err != nil {
		return 0, 0, err
	}
	defer s.mu.RUnlock()
	ti, err := bpfsys.GetMapInfo(s.tasks)
	if err != nil {
		return 0, 0, fmt.Errorf("map info of %s: %w", mapTasks, err)
	}
	ei, err := bpfsys.GetMapInfo(s.events)
	if err != nil {
		return 0, 0, fmt.Errorf("map info of %s: %w", mapEvents, err)
	}
	return ti.MaxEntries, ei.MaxEntries, nil
}

// cpuPossible lists the possible CPUs ("0-3,5"); tests point it at other lists.
var cpuPossible = "/sys/devices/system/cpu/possible"

// possibleCPUs is how many per-CPU slots the kernel copies for a value of the
// per-CPU stats map (fd), measured on the kernel's own copy. Where cpuPossible
// can be read it must list as many (libbpf and other readers size their buffers
// by it): a short list (CPUs hidden by cgroups or affinity) is an error, never a
// short buffer. Without it (a container without /sys), the measure stands.
func possibleCPUs(fd int) (int, error) {
	n, err := core.PossibleCPUs(fd, cpuPossible)
	return n, coreErr(err)
}

// countCPUs counts the CPUs of a list such as "0-3,5" (the kernel's cpulist format).
func countCPUs(list string) (int, error) {
	if n, ok := core.CountCPUs(list); ok {
		return n, nil
	}
	return 0, ErrInvalidArgument
}
