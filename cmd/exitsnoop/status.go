package main

import (
	"errors"
	"fmt"

	"exitsnoop.dev/exitsnoop"
)

func init() {
	register(&command{
		name:    "status",
		summary: "Show whether the tracer is pinned, its capacity and its counters.",
		run:     statusCmd,
	})
}

type statusJSON struct {
	Installed    bool             `json:"installed"`
	BPFFSRoot    string           `json:"bpffs_root"`
	TracingTasks uint32           `json:"capacity_tracing_tasks,omitempty"`
	ExitedEvents uint32           `json:"capacity_exited_events,omitempty"`
	Stats        *exitsnoop.Stats `json:"stats,omitempty"`
}

func statusCmd(o *options, _ []string) error {
	st := statusJSON{BPFFSRoot: o.root}
	s, err := exitsnoop.NewStore(o.root)
	if errors.Is(err, exitsnoop.ErrNotInstalled) {
		return o.emit(st, fmt.Sprintf("exitsnoop is not installed under %s", o.root))
	}
	if err != nil {
		return err
	}
	defer s.Close()
	st.Installed = true
	if st.TracingTasks, st.ExitedEvents, err = s.Capacity(); err != nil {
		return err
	}
	stats, err := s.Stats()
	if err != nil {
		return err
	}
	st.Stats = &stats
	text := fmt.Sprintf("exitsnoop is installed under %s\ncapacity: %d tracing tasks, %d exited events\n"+
		"exits %d, recorded %d, dropped %d, duplicate %d, namespace mismatch %d, pid reused %d",
		o.root, st.TracingTasks, st.ExitedEvents, stats.Exits, stats.Recorded, stats.Dropped,
		stats.Duplicate, stats.NamespaceMismatch, stats.PidReused)
	return o.emit(st, text)
}
