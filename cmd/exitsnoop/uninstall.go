package main

import "exitsnoop.dev/exitsnoop"

func init() {
	register(&command{
		name:    "uninstall",
		summary: "Detach the pinned tracer and remove its pins (unread events are lost).",
		run: func(o *options, args []string) error {
			return exitsnoop.Uninstall(o.root)
		},
	})
}
