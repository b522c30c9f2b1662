package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/cilium/ebpf"

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
