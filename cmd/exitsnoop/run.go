package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"exitsnoop.dev/exitsnoop"
)

func init() {
	register(&command{
		name:    "run",
		args:    "-- COMMAND [ARGS...]",
		summary: "Start COMMAND, trace it, and print the exit the kernel recorded; exit with its code.",
		flags: func(fs *flag.FlagSet, o *options) {
			fs.Uint64Var(&runID, "id", 0, "trace `ID` (default: random)")
			fs.BoolVar(&runPinned, "pinned", false, "use the tracer pinned under --bpffs (default: a private one)")
		},
		run: runCmd,
	})
	// _gate is run's child before it execs COMMAND: it waits until the parent
	// traced it, so that even a command that exits at once is recorded.
	register(&command{name: "_gate", run: gateCmd})
}

var (
	runID     uint64
	runPinned bool
)

func runCmd(o *options, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no command given: exitsnoop run -- COMMAND [ARGS...]")
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return err
	}
	store, err := openStore(o, runPinned)
	if err != nil {
		return err
	}
	defer store.Close()
	id := runID
	if id == 0 {
		var b [8]byte
		rand.Read(b[:])
		id = binary.LittleEndian.Uint64(b[:]) >> 1
	}

	gateR, gateW, err := os.Pipe()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, append([]string{"_gate", "--", path}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stderr, os.Stderr
	if !o.json {
		cmd.Stdout = os.Stdout
	}
	cmd.ExtraFiles = []*os.File{gateR}
	if err := cmd.Start(); err != nil {
		return err
	}
	gateR.Close()
	signal.Ignore(syscall.SIGINT, syscall.SIGQUIT) // the command gets them from the terminal
	traceErr := store.Trace(uint32(cmd.Process.Pid), &exitsnoop.TaskInfo{TraceID: id})
	if traceErr == nil {
		gateW.Write([]byte{1})
	}
	gateW.Close()
	cmd.Wait()
	if traceErr != nil {
		return fmt.Errorf("tracing %s: %w", args[0], traceErr)
	}

	// Recorded at the exit, or by the fallback after the reap above: Wait ends
	// either way, with the event or ErrLost.
	ev, err := store.Wait(context.Background(), id)
	if err != nil {
		return fmt.Errorf("reading the event of trace %d: %w", id, err)
	}
	if err := store.DeleteExitedEvent(id); err != nil {
		return err
	}
	if err := o.emit(newEventJSON(id, ev), eventText(id, ev)); err != nil {
		return err
	}
	return exitError(ev.ShellCode())
}

// gateCmd waits for run's go-ahead on fd 3, then becomes the command.
func gateCmd(_ *options, args []string) error {
	gate := os.NewFile(3, "gate")
	var b [1]byte
	if n, _ := gate.Read(b[:]); n != 1 {
		return exitError(127) // the parent could not trace: do not run untraced
	}
	gate.Close()
	if len(args) < 2 {
		return errors.New("_gate: no command")
	}
	return syscall.Exec(args[0], args[1:], os.Environ())
}

// openStore opens the pinned tracer (installing it if needed) or a private one.
func openStore(o *options, pinned bool) (*exitsnoop.Store, error) {
	if pinned {
		return exitsnoop.Open(exitsnoop.Options{BPFFSRoot: o.root})
	}
	return exitsnoop.NewStoreFromAttach()
}
