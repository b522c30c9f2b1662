// Command exitsnoop is the operator's tool for the exitsnoop tracer: install it,
// run and trace processes, and read the exits the kernel recorded.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/exitsnoop"
)

const defaultRoot = "/sys/fs/bpf"

// command is one subcommand; each lives in its own file.
type command struct {
	name    string
	args    string // usage after the flags
	summary string
	flags   func(fs *flag.FlagSet, o *options)
	run     func(o *options, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// options are the flags every subcommand has, and its output.
type options struct {
	json   bool
	root   string
	stdout io.Writer
}

// emit prints v as JSON, or text as it is.
func (o *options) emit(v any, text string) error {
	if o.json {
		return json.NewEncoder(o.stdout).Encode(v)
	}
	_, err := fmt.Fprintln(o.stdout, text)
	return err
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries an exit code without a message (run's mirrored code).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "exitsnoop: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	o := &options{stdout: stdout}
	fs := flag.NewFlagSet("exitsnoop "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.json, "json", false, "print JSON (streams: one object per line)")
	fs.StringVar(&o.root, "bpffs", defaultRoot, "bpffs `root` the tracer is pinned under")
	if c.flags != nil {
		c.flags(fs, o)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: exitsnoop %s [flags] %s\n\n%s\n\nFlags:\n", c.name, c.args, c.summary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	err := c.run(o, fs.Args())
	var code exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	}
	msg := explain(err, o.root)
	if o.json {
		json.NewEncoder(stdout).Encode(map[string]string{"error": msg})
	} else {
		fmt.Fprintf(stderr, "exitsnoop %s: %s\n", c.name, msg)
	}
	return 1
}

// explain says what the operator can do about err: the library's messages name
// its own functions (EnsureRunning) where the tool has a command, so for those
// errors the tool says it instead. A verifier's refusal comes with its log.
func explain(err error, root string) string {
	var ve *exitsnoop.VerifierError
	switch {
	case errors.Is(err, exitsnoop.ErrNotInstalled):
		return fmt.Sprintf("exitsnoop is not installed under %s: run `exitsnoop install --bpffs %s` first", root, root)
	case errors.Is(err, exitsnoop.ErrNotRunning):
		return fmt.Sprintf("the exitsnoop pinned under %s is not running: run `exitsnoop install --bpffs %s` to repair it", root, root)
	case errors.As(err, &ve):
		return fmt.Sprintf("%v\nverifier log of %s:\n%s", err, ve.Program, strings.Join(ve.Log, "\n"))
	}
	return err.Error()
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: exitsnoop COMMAND [flags] [args]")
	fmt.Fprintln(w, "\nRecords the exit status of chosen processes in the kernel.\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		if n[0] != '_' {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'exitsnoop COMMAND --help' for a command's flags.")
}

// eventJSON is an event as the CLI prints it in JSON.
type eventJSON struct {
	TraceID     uint64 `json:"trace_id"`
	Pid         uint32 `json:"pid"`
	WaitStatus  int32  `json:"wait_status"`
	Status      string `json:"status"`
	ExitCode    *int   `json:"exit_code,omitempty"`
	Signal      string `json:"signal,omitempty"`
	CoreDumped  bool   `json:"core_dumped,omitempty"`
	StartTime   string `json:"start_time,omitempty"`
	ExitTime    string `json:"exit_time"`
	RuntimeNsec int64  `json:"runtime_ns,omitempty"`
}

func newEventJSON(id uint64, ev *exitsnoop.ExitStatus) eventJSON {
	j := eventJSON{TraceID: id, Pid: ev.Pid, WaitStatus: ev.ExitCode, Status: ev.String(),
		CoreDumped: ev.CoreDump(), ExitTime: ev.ExitTime().Format(timeFormat), RuntimeNsec: int64(ev.Runtime())}
	if ev.Exited() {
		code := ev.ExitStatus()
		j.ExitCode = &code
	} else {
		j.Signal = unix.SignalName(ev.Signal())
	}
	if t := ev.StartTime(); !t.IsZero() {
		j.StartTime = t.Format(timeFormat)
	}
	return j
}

const timeFormat = "2006-01-02T15:04:05.000000Z07:00"

// eventText is an event as the CLI prints it to people.
func eventText(id uint64, ev *exitsnoop.ExitStatus) string {
	s := fmt.Sprintf("trace %d: pid %d %s at %s", id, ev.Pid, ev.String(), ev.ExitTime().Format("15:04:05.000000"))
	if t := ev.StartTime(); !t.IsZero() {
		s += fmt.Sprintf(" (started %s, ran %s)", t.Format("15:04:05.000"), ev.Runtime().Round(1000))
	}
	return s
}
