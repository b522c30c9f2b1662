package main

import (
	"fmt"

	"exitsnoop.dev/exitsnoop"
)

func init() {
	register(&command{
		name:    "forget",
		args:    "ID",
		summary: "Delete the recorded exit of trace ID.",
		run: func(o *options, args []string) error {
			id, err := traceIDArg(args)
			if err != nil {
				return err
			}
			s, err := exitsnoop.NewStore(o.root)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.DeleteExitedEvent(id); err != nil {
				return err
			}
			return o.emit(map[string]uint64{"forgotten": id}, fmt.Sprintf("forgot trace %d", id))
		},
	})
}
