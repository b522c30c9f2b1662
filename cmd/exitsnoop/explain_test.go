package main

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"exitsnoop.dev/exitsnoop"
)

// TestExplain: the tool's own fix replaces the library's for errors its commands
// fix; other errors pass as they are, and a verifier's refusal brings its log.
func TestExplain(t *testing.T) {
	lib := fmt.Errorf("opening pinned map /r/.exitsnoop.bpf/meta: %w (EnsureRunning installs it)", exitsnoop.ErrNotInstalled)
	assert.Equal(t, "exitsnoop is not installed under /r: run `exitsnoop install --bpffs /r` first", explain(lib, "/r"))
	lib = fmt.Errorf("pins at /r/.exitsnoop.bpf: %w (EnsureRunning repairs them)", exitsnoop.ErrNotRunning)
	assert.Equal(t, "the exitsnoop pinned under /r is not running: run `exitsnoop install --bpffs /r` to repair it", explain(lib, "/r"))
	lib = fmt.Errorf("pins at /r have format 3: %w", exitsnoop.ErrIncompatible)
	assert.Equal(t, lib.Error(), explain(lib, "/r"))
	ve := &exitsnoop.VerifierError{Program: "handle_exit", Err: syscall.EACCES, Log: []string{"0: (bf) r0 = r5", "R5 !read_ok"}}
	lib = fmt.Errorf("loading BPF object: %w", ve)
	assert.Equal(t, lib.Error()+"\nverifier log of handle_exit:\n0: (bf) r0 = r5\nR5 !read_ok", explain(lib, "/r"))
	assert.Equal(t, "x", explain(errors.New("x"), "/r"))
}
