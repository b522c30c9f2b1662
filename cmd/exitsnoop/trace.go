package main

import (
	"flag"
	"fmt"
	"strconv"

	"exitsnoop.dev/exitsnoop"
)

var (
	traceID    uint64
	tracePidns bool
)

func init() {
	register(&command{
		name:    "trace",
		args:    "PID",
		summary: "Trace a running process with the pinned tracer under a trace ID.",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.Uint64Var(&traceID, "id", 0, "trace `ID` (required)")
			fs.BoolVar(&tracePidns, "pidns", false, "record only if it exits in its current pid namespace")
		},
		run: traceCmd,
	})
}

func traceCmd(o *options, args []string) error {
	if len(args) != 1 || traceID == 0 {
		return fmt.Errorf("usage: exitsnoop trace --id ID PID: %w", exitsnoop.ErrInvalidArgument)
	}
	pid, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil || pid == 0 {
		return fmt.Errorf("pid %q: %w", args[0], exitsnoop.ErrInvalidArgument)
	}
	info := exitsnoop.TaskInfo{TraceID: traceID}
	if tracePidns {
		if info.PidnsInfo, err = exitsnoop.PidnsOf(uint32(pid)); err != nil {
			return err
		}
	}
	s, err := exitsnoop.NewStore(o.root)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Trace(uint32(pid), &info); err != nil {
		return err
	}
	return o.emit(map[string]uint64{"pid": pid, "trace_id": traceID},
		fmt.Sprintf("tracing pid %d as trace %d", pid, traceID))
}
