package exitsnoop

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"exitsnoop.dev/internal/bpfsys"
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
	perCPU := make([]kernelStats, s.ncpu) // 8-byte aligned: no padding between CPUs
	var key uint32
	if err := bpfsys.Lookup(s.stats, unsafe.Pointer(&key), unsafe.Pointer(&perCPU[0])); err != nil {
		return Stats{}, fmt.Errorf("reading stats: %w", err)
	}
	var sum Stats
	for _, fd := range s.progs {
		n, err := bpfsys.ProgRecursionMisses(fd)
		if err != nil {
			return Stats{}, fmt.Errorf("reading program info: %w", err)
		}
		sum.Missed += n
	}
	for _, c := range perCPU {
		sum.Exits += c.Exits
		sum.Recorded += c.Recorded
		sum.Dropped += c.Dropped
		sum.Duplicate += c.Duplicate
		sum.NamespaceMismatch += c.NamespaceMismatch
		sum.PidReused += c.PidReused
		sum.NotifyLost += c.NotifyLost
		sum.Recovered += c.Recovered
	}
	return sum, nil
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

// maxCPUs bounds the kernel's possible CPUs (NR_CPUS is at most 8192); one
// slot more stays unwritten.
const maxCPUs = 8192

// possibleCPUs is how many per-CPU slots the kernel copies for a value of the
// per-CPU stats map (fd), measured on the kernel's own copy. Where cpuPossible
// can be read it must list as many (libbpf and other readers size their buffers
// by it): a short list (CPUs hidden by cgroups or affinity) is an error, never a
// short buffer. Without it (a container without /sys), the measure stands.
func possibleCPUs(fd int) (int, error) {
	// The kernel writes num_possible_cpus() values; a slot it did not write keeps
	// the all-ones pattern, which no counter ever reaches.
	ones := kernelStats{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
	buf := make([]kernelStats, maxCPUs+1)
	for i := range buf {
		buf[i] = ones
	}
	var key uint32
	if err := bpfsys.Lookup(fd, unsafe.Pointer(&key), unsafe.Pointer(&buf[0])); err != nil {
		return 0, fmt.Errorf("reading stats: %w", err)
	}
	copied := 0
	for copied <= maxCPUs && buf[copied] != ones {
		copied++
	}
	b, err := os.ReadFile(cpuPossible)
	if errors.Is(err, os.ErrNotExist) {
		return copied, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading possible CPUs: %w", err)
	}
	listed, err := countCPUs(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("possible CPUs %q in %s: %w", b, cpuPossible, err)
	}
	if listed != copied {
		return 0, fmt.Errorf("%s lists %d possible CPUs, the kernel has %d: %w", cpuPossible, listed, copied, ErrInvalidArgument)
	}
	return copied, nil
}

// countCPUs counts the CPUs of a list such as "0-3,5" (the kernel's cpulist format).
func countCPUs(list string) (int, error) {
	n := 0
	for _, r := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b >= maxCPUs {
			return 0, ErrInvalidArgument
		}
		n += b - a + 1
	}
	return n, nil
}
