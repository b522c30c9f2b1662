package exitsnoop

import (
	"fmt"
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
	// NamespaceMismatch counts exits in another pid namespace than traced.
	NamespaceMismatch uint64 `json:"namespace_mismatch"`
	// PidReused counts exits of a process that reused a traced pid (not recorded).
	PidReused uint64 `json:"pid_reused"`
	// NotifyLost counts recorded exits whose notification did not fit in the ring
	// buffer, as happens while no Store waits or subscribes (a Wait then finds
	// them by looking at the map).
	NotifyLost uint64 `json:"notify_lost"`
}

// Stats reads the counters.
func (s *Store) Stats() (Stats, error) {
	if err := s.acquire(); err != nil {
		return Stats{}, err
	}
	defer s.mu.RUnlock()
	perCPU := make([]Stats, s.ncpu) // struct exitsnoop_stats is 8-byte aligned: no padding
	var key uint32
	if err := bpfsys.Lookup(s.stats, unsafe.Pointer(&key), unsafe.Pointer(&perCPU[0])); err != nil {
		return Stats{}, fmt.Errorf("reading stats: %w", err)
	}
	var sum Stats
	for _, c := range perCPU {
		sum.Exits += c.Exits
		sum.Recorded += c.Recorded
		sum.Dropped += c.Dropped
		sum.Duplicate += c.Duplicate
		sum.NamespaceMismatch += c.NamespaceMismatch
		sum.PidReused += c.PidReused
		sum.NotifyLost += c.NotifyLost
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
