package main

import (
	"flag"
	"fmt"

	"exitsnoop.dev/exitsnoop"
)

var installOpts exitsnoop.Options

func init() {
	register(&command{
		name:    "install",
		summary: "Load the tracer and pin it under the bpffs root, where it runs until uninstalled.",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.Func("capacity", "entries of each map (default 65536)", func(v string) error {
				var n uint32
				if _, err := fmt.Sscan(v, &n); err != nil || n == 0 {
					return fmt.Errorf("capacity %q: want a positive number", v)
				}
				installOpts.MaxTracingTasks, installOpts.MaxExitedEvents = n, n
				return nil
			})
		},
		run: func(o *options, args []string) error {
			opts := installOpts
			opts.BPFFSRoot = o.root
			s, err := exitsnoop.Open(opts)
			if err != nil {
				return err
			}
			return s.Close()
		},
	})
}
