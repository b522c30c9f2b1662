// Package spawn starts the short-lived processes the benchmarks watch exit.
package spawn

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

var devNull *os.File

func init() {
	var err error
	if devNull, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
		panic(err)
	}
}

// Gate is the command of a gated child: it blocks reading one byte of stdin and
// exits 0 at end of file, so a child can be traced before it is let go.
var Gate = []string{"/usr/bin/head", "-c1"}

// Child is a started process held at its gate.
type Child struct {
	Pid   uint32
	Pidfd int // -1 unless asked for
	proc  *os.Process
	gate  *os.File // write end of the child's stdin
}

// Start starts argv with its stdin on a pipe (the gate) and stdout/stderr on
// /dev/null; with pidfd it also returns a pidfd of the child.
func Start(argv []string, pidfd bool) (*Child, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c, err := start(argv, r, pidfd)
	r.Close()
	if err != nil {
		w.Close()
		return nil, err
	}
	c.gate = w
	return c, nil
}

// start starts argv with stdin on stdin and stdout/stderr on /dev/null.
func start(argv []string, stdin *os.File, pidfd bool) (*Child, error) {
	c := &Child{Pidfd: -1}
	sys := &syscall.SysProcAttr{}
	if pidfd {
		sys.PidFD = &c.Pidfd
	}
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Files: []*os.File{stdin, devNull, devNull}, Sys: sys})
	if err != nil {
		return nil, fmt.Errorf("starting %v: %w", argv, err)
	}
	c.proc, c.Pid = p, uint32(p.Pid)
	return c, nil
}

// Group is children held at one gate: their stdin is the same pipe, so closing
// it lets them all go at once.
type Group struct {
	Children []*Child
	gate     *os.File
}

// StartGroup starts n children of argv behind one gate, two at a time (one per
// core of the benchmarks' machine). On error the children started are let go and
// reaped.
func StartGroup(argv []string, n int) (*Group, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	g := &Group{gate: w, Children: make([]*Child, n)}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for k := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < n && errs[k] == nil; i += len(errs) {
				g.Children[i], errs[k] = start(argv, r, false)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		started := g.Children[:0]
		for _, c := range g.Children {
			if c != nil {
				started = append(started, c)
			}
		}
		g.Children = started
		g.Release()
		g.Wait()
		return nil, err
	}
	return g, nil
}

// Release lets all the children go past their gate.
func (g *Group) Release() error { return g.gate.Close() }

// Wait reaps every child.
func (g *Group) Wait() error {
	var first error
	for _, c := range g.Children {
		if _, err := c.Wait(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Release lets the child go past its gate (closes its stdin).
func (c *Child) Release() error { return c.gate.Close() }

// Wait reaps the child and closes its pidfd.
func (c *Child) Wait() (syscall.WaitStatus, error) {
	st, err := c.proc.Wait()
	if c.Pidfd >= 0 {
		unix.Close(c.Pidfd)
		c.Pidfd = -1
	}
	if err != nil {
		return 0, err
	}
	return st.Sys().(syscall.WaitStatus), nil
}

// Run starts argv (no gate: stdin is /dev/null) and reaps it.
func Run(argv []string) error {
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Files: []*os.File{devNull, devNull, devNull}})
	if err != nil {
		return err
	}
	st, err := p.Wait()
	if err != nil {
		return err
	}
	if !st.Success() {
		return fmt.Errorf("%v: %v", argv, st)
	}
	return nil
}

// Pidns returns the device and inode of /proc/<pid>/ns/pid ("self" for pid 0).
func Pidns(pid uint32) (dev, ino uint64, err error) {
	p := "/proc/self/ns/pid"
	if pid != 0 {
		p = fmt.Sprintf("/proc/%d/ns/pid", pid)
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, 0, fmt.Errorf("stat %s: %w", p, err)
	}
	return st.Dev, st.Ino, nil
}

// Monotonic is CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns.
func Monotonic() uint64 { return Clock(unix.CLOCK_MONOTONIC) }

// Clock reads clock in ns.
func Clock(clock int32) uint64 {
	var ts unix.Timespec
	unix.ClockGettime(clock, &ts)
	return uint64(ts.Nano())
}
