// Command consumer uses exitsnoop the way a runtime (a containerd shim, a supervisor)
// does, from a module of its own: it installs the pinned tracer under its bpffs root,
// starts a command held at a gate (as runc holds a container's init until `start`),
// traces it under a trace ID of its choosing, lets it run, and reads how it died
// through a Store opened afresh, as a restarted runtime would. It prints that and
// checks it against what waitpid said.
//
//	consumer COMMAND [ARGS...]    (as root, or with CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)
//
// A runtime keeps its root (say /run/myruntime) installed for good; this example uses
// a temporary one under /tmp, on which the library mounts a bpffs, and uninstalls it
// at the end, so nothing stays pinned or mounted.
//
// It is built by the recipe of the README's "Using exitsnoop from your own module"
// alone (scripts/consumer.sh; make consumer, make consumer-test).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"exitsnoop.dev/exitsnoop"
)

const traceID = 1 // the runtime's own ID for the process (a container's, say)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: consumer COMMAND [ARGS...]")
		os.Exit(2)
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

func run(args []string) (err error) {
	root, err := os.MkdirTemp("", "exitsnoop-consumer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root) // and the pin directory a failed EnsureRunning leaves

	// At start-up: load and pin the tracer once (idempotent).
	if err := exitsnoop.EnsureRunning(root); err != nil {
		return fmt.Errorf("installing the tracer: %w", err)
	}
	defer func() {
		if uerr := exitsnoop.Uninstall(root); uerr != nil && err == nil {
			err = fmt.Errorf("uninstalling the tracer: %w", uerr)
		}
	}()

	pid, waitStatus, err := startTraced(root, args)
	if err != nil {
		return err
	}

	// Later, maybe in another process: read what the kernel recorded.
	store, err := exitsnoop.NewStore(root)
	if err != nil {
		return err
	}
	defer store.Close()
	// No deadline needed: Wait ends with the event, or ErrLost once the
	// process is gone without one.
	ev, err := store.Wait(context.Background(), traceID)
	if err != nil {
		return fmt.Errorf("reading the exit of trace %d: %w", traceID, err)
	}
	if err := store.DeleteExitedEvent(traceID); err != nil {
		return err
	}
	fmt.Printf("trace %d: pid %d %s (wait status %#x)\n", traceID, ev.Pid, ev, uint32(ev.ExitCode))
	if ev.Pid != pid || uint32(ev.ExitCode) != uint32(waitStatus) {
		return fmt.Errorf("recorded pid %d, status %#x; waitpid said pid %d, status %#x",
			ev.Pid, uint32(ev.ExitCode), pid, uint32(waitStatus))
	}
	return nil
}

// startTraced starts args behind a gate, traces it and lets it run; it returns the
// process's pid and the status waitpid reports for it.
func startTraced(root string, args []string) (uint32, syscall.WaitStatus, error) {
	store, err := exitsnoop.NewStore(root)
	if err != nil {
		return 0, 0, err
	}
	defer store.Close()

	gateR, gateW, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer gateW.Close()
	// The shell waits on fd 3, then becomes the command: same pid, so the traced
	// process is the command, even one that exits at once.
	cmd := exec.Command("/bin/sh", append([]string{"-c", `read -r _ <&3 && exec 3<&- "$@"`, "gate"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{gateR}
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	gateR.Close()
	pid := uint32(cmd.Process.Pid)
	traceErr := store.Trace(pid, &exitsnoop.TaskInfo{TraceID: traceID})
	if traceErr == nil {
		_, traceErr = gateW.Write([]byte("go\n"))
	}
	gateW.Close() // without "go", the gate's read fails and the command never runs
	waitErr := cmd.Wait()
	if traceErr != nil {
		return 0, 0, fmt.Errorf("tracing %s: %w", args[0], traceErr)
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return 0, 0, waitErr
	}
	return pid, cmd.ProcessState.Sys().(syscall.WaitStatus), nil
}
