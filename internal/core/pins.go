package core

// #include <stdlib.h>
// #include "core.h"
import "C"

import (
	"errors"
	"syscall"
	"unsafe"
)

// NMaps and NProgs count the tracer's maps and programs.
const (
	NMaps  = C.ES_NMAPS
	NProgs = C.ES_NPROGS
)

// The names pins.c uses: the maps in pin order (meta last), the programs, their
// pins and their links' pins.
var (
	MapPins   = names(&C.es_map_pins[0], NMaps)
	ProgNames = names(&C.es_prog_names[0], NProgs)
	ProgPins  = names(&C.es_prog_pins[0], NProgs)
	LinkPins  = names(&C.es_link_pins[0], NProgs)
)

func names(p **C.char, n int) []string {
	out := make([]string, n)
	for i, s := range unsafe.Slice(p, n) {
		out[i] = C.GoString(s)
	}
	return out
}

// Fds are a tracer's file descriptors, -1 where there is none.
type Fds struct {
	Maps  [NMaps]int
	Progs [NProgs]int
	Links [NProgs]int
}

func (f *Fds) c() C.struct_es_tracer_fds {
	var c C.struct_es_tracer_fds
	for i, fd := range f.Maps {
		c.maps[i] = C.int(fd)
	}
	for i := range f.Progs {
		c.progs[i], c.links[i] = C.int(f.Progs[i]), C.int(f.Links[i])
	}
	return c
}

// Plan is what Begin found that the pins need.
type Plan int

const (
	Runs    Plan = C.ES_PLAN_RUNNING // this build runs: nothing to do
	Install Plan = C.ES_PLAN_INSTALL // load a tracer, then Install
	Upgrade Plan = C.ES_PLAN_UPGRADE // load a tracer on Reuse's maps, then Upgrade
)

// Pins is an install or upgrade under way: Begin, load, Install or Upgrade, End.
// It holds the root's lock from Begin to End. Allocate it with NewPins: C keeps
// no pointer into it, but it is large.
type Pins struct{ c C.struct_es_pins }

// NewPins returns Pins ready for Begin.
func NewPins() *Pins {
	p := new(Pins)
	C.es_pins_init(&p.c)
	return p
}

// Begin locks root, makes and mounts its pin directory, and decides; meta
// points to this build's struct exitsnoop_meta.
func (p *Pins) Begin(root string, meta unsafe.Pointer) (Plan, error) {
	var e C.struct_es_err
	croot := C.CString(root)
	defer C.free(unsafe.Pointer(croot))
	if err := result(C.es_pins_begin(&p.c, croot, (*C.struct_exitsnoop_meta)(meta), &e), &e); err != nil {
		return 0, err
	}
	return Plan(p.c.plan), nil
}

// Reuse returns the pinned maps' fds for an upgrade's loader, by map pin name.
func (p *Pins) Reuse() map[string]int {
	m := make(map[string]int, NMaps)
	for i, name := range MapPins {
		m[name] = int(p.c.reuse[i])
	}
	return m
}

// Install pins the tracer t (meta first, then maps, programs, links).
func (p *Pins) Install(t *Fds, meta unsafe.Pointer) error {
	var e C.struct_es_err
	c := t.c()
	return result(C.es_pins_install(&p.c, &c, (*C.struct_exitsnoop_meta)(meta), &e), &e)
}

// Upgrade pins the tracer t's programs and links in place of the running ones.
func (p *Pins) Upgrade(t *Fds, meta unsafe.Pointer) error {
	var e C.struct_es_err
	c := t.c()
	return result(C.es_pins_upgrade(&p.c, &c, (*C.struct_exitsnoop_meta)(meta), &e), &e)
}

// End closes the reused maps and releases the lock.
func (p *Pins) End() { C.es_pins_end(&p.c) }

// PinDir is where the tracer of root is pinned.
func PinDir(root string) (string, error) {
	var e C.struct_es_err
	var dir [C.PATH_MAX]C.char
	croot := C.CString(root)
	defer C.free(unsafe.Pointer(croot))
	if err := result(C.es_pin_dir(croot, &dir[0], &e), &e); err != nil {
		return "", err
	}
	return C.GoString(&dir[0]), nil
}

// OpenPins opens the maps and programs pinned under root (Links are -1) and
// checks their format against meta and that they run.
func OpenPins(root string, meta unsafe.Pointer) (Fds, error) {
	var e C.struct_es_err
	var c C.struct_es_tracer_fds
	croot := C.CString(root)
	defer C.free(unsafe.Pointer(croot))
	if err := result(C.es_pins_open(croot, (*C.struct_exitsnoop_meta)(meta), &c, &e), &e); err != nil {
		return Fds{}, err
	}
	var f Fds
	for i := range f.Maps {
		f.Maps[i] = int(c.maps[i])
	}
	for i := range f.Progs {
		f.Progs[i], f.Links[i] = int(c.progs[i]), -1
	}
	return f, nil
}

// Uninstall detaches the tracer pinned under root and removes its pins.
func Uninstall(root string) error {
	var e C.struct_es_err
	croot := C.CString(root)
	defer C.free(unsafe.Pointer(croot))
	return result(C.es_uninstall(croot, &e), &e)
}

// WriteMeta writes meta into the meta map fd.
func WriteMeta(fd int, meta unsafe.Pointer) error {
	var e C.struct_es_err
	return result(C.es_write_meta(C.int(fd), (*C.struct_exitsnoop_meta)(meta), &e), &e)
}

// Perm is an operation whose permission errors get a hint.
type Perm int

const (
	PermLoad     Perm = C.ES_PERM_LOAD      // create maps, load and attach programs
	PermCreate   Perm = C.ES_PERM_CREATE    // create the root or pin directory, or pin in it
	PermMount    Perm = C.ES_PERM_MOUNT     // mount a bpffs on the pin directory
	PermOpenPins Perm = C.ES_PERM_OPEN_PINS // open pins
)

// PermHint says, as " (needs …)", what op lacks when err is a permission error
// and this process lacks the capability; "" otherwise.
func PermHint(op Perm, err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	if h := C.es_perm_hint(C.int(op), C.int(errno)); h != nil {
		return C.GoString(h)
	}
	return ""
}

// ReuseDir opens the maps pinned in dir for an upgrade without Begin.
func (p *Pins) ReuseDir(dir string) error {
	var e C.struct_es_err
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	return result(C.es_pins_reuse(&p.c, cdir, &e), &e)
}

// Running checks that the pins in dir run (es_pins_running).
func Running(dir string, exact bool) error {
	var e C.struct_es_err
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	return result(C.es_pins_running(cdir, C.bool(exact), &e), &e)
}

// ReadPinnedMeta reads the meta of the pins in dir into meta.
func ReadPinnedMeta(dir string, meta unsafe.Pointer) error {
	var e C.struct_es_err
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	return result(C.es_read_pinned_meta(cdir, (*C.struct_exitsnoop_meta)(meta), &e), &e)
}

// HasPins reports whether dir holds pins.
func HasPins(dir string) bool {
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	return bool(C.es_has_pins(cdir))
}

// OnBPFFS reports whether path is on a bpffs.
func OnBPFFS(path string) bool {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return bool(C.es_on_bpffs(cpath))
}

// ReadMeta reads the meta map fd into meta, a struct exitsnoop_meta.
func ReadMeta(fd int, meta unsafe.Pointer) error {
	var e C.struct_es_err
	name := C.CString("meta")
	defer C.free(unsafe.Pointer(name))
	return result(C.es_read_meta_fd(C.int(fd), name, (*C.struct_exitsnoop_meta)(meta), &e), &e)
}
