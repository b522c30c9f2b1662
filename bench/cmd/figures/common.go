package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"exitsnoop.dev/bench/internal/kprog"
	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/bench/reference"
	"exitsnoop.dev/exitsnoop"
)

var interrupted atomic.Bool

var errInterrupted = errors.New("interrupted")

// pinnedOurs is our tracer pinned under a temporary root, so that its program can
// be found from its link pin.
type pinnedOurs struct {
	root  string
	Store *exitsnoop.Store
}

func openPinnedOurs(opts exitsnoop.Options) (*pinnedOurs, error) {
	root, err := os.MkdirTemp("", "exitsnoop-bench-")
	if err != nil {
		return nil, err
	}
	opts.BPFFSRoot = root
	s, err := exitsnoop.Open(opts)
	if err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	return &pinnedOurs{root: root, Store: s}, nil
}

// dir is the pin directory (EnsureRunning's <root>/.exitsnoop.bpf/).
func (p *pinnedOurs) dir() string { return filepath.Join(p.root, ".exitsnoop.bpf") }

func (p *pinnedOurs) program() (*ebpf.Program, error) {
	return kprog.PinnedLinkProgram(filepath.Join(p.dir(), "link"))
}

// fallback is ours' program on sched_process_free.
func (p *pinnedOurs) fallback() (*ebpf.Program, error) {
	return kprog.PinnedLinkProgram(filepath.Join(p.dir(), "link_free"))
}

// detach removes ours' link pins, which detaches both its programs, and returns
// the programs (exit, then fallback), still loaded with their maps: attachOurs
// attaches fresh links of them. The Store stays usable; close the programs.
func (p *pinnedOurs) detach() ([]*ebpf.Program, error) {
	exit, err := p.program()
	if err != nil {
		return nil, err
	}
	free, err := p.fallback()
	if err != nil {
		exit.Close()
		return nil, err
	}
	progs := []*ebpf.Program{exit, free}
	for _, pin := range []string{"link", "link_free"} {
		if err := os.Remove(filepath.Join(p.dir(), pin)); err != nil {
			closeAll(progs)
			return nil, err
		}
	}
	return progs, nil
}

// links are attached programs; Close detaches them.
type links []link.Link

func (ls links) Close() error {
	var errs []error
	for _, l := range ls {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// attachOurs attaches ours' programs (from detach) to their tracepoints.
func attachOurs(progs []*ebpf.Program) (links, error) {
	var ls links
	for _, p := range progs {
		l, err := link.AttachTracing(link.TracingOptions{Program: p, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			ls.Close()
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func closeAll(progs []*ebpf.Program) {
	for _, p := range progs {
		p.Close()
	}
}

func (p *pinnedOurs) Close() error {
	err := errors.Join(p.Store.Close(), exitsnoop.Uninstall(p.root))
	os.RemoveAll(p.root)
	return err
}

// pidns of this process, which its children share: both Stores check it.
func pidns() (exitsnoop.PidnsInfo, reference.PidnsInfo, error) {
	dev, ino, err := spawn.Pidns(0)
	return exitsnoop.PidnsInfo{Dev: dev, Ino: ino}, reference.PidnsInfo{Dev: dev, Ino: ino}, err
}

func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
