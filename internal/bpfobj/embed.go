// Package bpfobj holds exitsnoop's compiled BPF object.
//
// The object is built by `make bpf` from bpf/exitsnoop.bpf.c and committed, so that
// building the Go packages needs no clang; `make` fails when it is stale.
package bpfobj

import _ "embed"

// Object is the CO-RE ELF object: one tp_btf/sched_process_exit program and its maps.
//
//go:embed exitsnoop.bpf.o
var Object []byte
