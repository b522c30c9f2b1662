package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"exitsnoop.dev/exitsnoop"
)

var waitTimeout time.Duration

func init() {
	register(&command{
		name:    "wait",
		args:    "ID",
		summary: "Wait until the exit of trace ID is recorded, and print it.",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.DurationVar(&waitTimeout, "timeout", 0, "give up after `duration` (default: wait forever)")
		},
		run: waitCmd,
	})
}

func waitCmd(o *options, args []string) error {
	id, err := traceIDArg(args)
	if err != nil {
		return err
	}
	s, err := exitsnoop.NewStore(o.root)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if waitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, waitTimeout)
		defer cancel()
	}
	ev, err := s.Wait(ctx, id)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no exit recorded for trace %d within %s", id, waitTimeout)
	}
	if err != nil {
		return err
	}
	return o.emit(newEventJSON(id, ev), eventText(id, ev))
}

// traceIDArg parses the one trace ID argument of wait and forget.
func traceIDArg(args []string) (uint64, error) {
	if len(args) != 1 {
		return 0, fmt.Errorf("want one trace ID: %w", exitsnoop.ErrInvalidArgument)
	}
	id, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("trace ID %q: %w", args[0], exitsnoop.ErrInvalidArgument)
	}
	return id, nil
}
