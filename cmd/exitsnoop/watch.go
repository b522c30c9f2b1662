package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"exitsnoop.dev/exitsnoop"
)

func init() {
	register(&command{
		name:    "watch",
		summary: "Print each exit as the kernel records it, one line each, until interrupted.",
		run:     watchCmd,
	})
}

func watchCmd(o *options, _ []string) error {
	s, err := exitsnoop.NewStore(o.root)
	if err != nil {
		return err
	}
	defer s.Close()
	sub, err := s.Subscribe(1024)
	if err != nil {
		return err
	}
	defer sub.Close()
	fmt.Fprintf(os.Stderr, "exitsnoop watch: watching exits recorded under %s; ^C to stop\n", o.root)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var lost uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-sub.C:
			if !ok {
				return nil
			}
			if err := o.emit(newEventJSON(ev.TraceID, &ev.ExitStatus), eventText(ev.TraceID, &ev.ExitStatus)); err != nil {
				return err
			}
			if n := sub.Lost(); n > lost {
				fmt.Fprintf(os.Stderr, "exitsnoop watch: %d exits not shown (output too slow); `exitsnoop list` has them\n", n-lost)
				lost = n
			}
		}
	}
}
