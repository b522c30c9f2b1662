package exitsnoop

import (
	"fmt"
	"reflect"
	"sync"

	"exitsnoop.dev/internal/bpfobj"
	"exitsnoop.dev/internal/bpfsys"
)

// mirrors are the Go types that mirror internal/core/layout.h's structs, by C name:
// those of map values, which the object's BTF describes (exit_note, a local
// variable's type, is not there: Event is a trace ID and an exit_status).
var mirrors = map[string]reflect.Type{
	"task_info":       reflect.TypeOf(taskValue{}),
	"exit_status":     reflect.TypeOf(ExitStatus{}),
	"trace_ref":       reflect.TypeOf(traceRef{}),
	"exitsnoop_stats": reflect.TypeOf(kernelStats{}),
	"exitsnoop_meta":  reflect.TypeOf(meta{}),
	"notify_wake":     reflect.TypeOf([2]uint32{}),
	"pid_refs":        reflect.TypeOf([pidBuckets]byte{}),
}

// checkLayouts compares the mirrors with the embedded object's BTF, once: a
// drift between internal/core/layout.h and the Go side is an error, never records read
// at the wrong offsets.
var checkLayouts = sync.OnceValue(func() error {
	names := make([]string, 0, len(mirrors))
	for name := range mirrors {
		names = append(names, name)
	}
	layouts, err := bpfsys.StructLayouts(bpfobj.Object, names...)
	if err != nil {
		return fmt.Errorf("reading the BPF object's layouts: %w", err)
	}
	return compareLayouts(layouts, mirrors)
})

// compareLayouts checks each struct's size and its members' offsets against the
// Go type's (the flattened fields of a struct; equal-sized elements of an array).
func compareLayouts(layouts map[string]bpfsys.Layout, types map[string]reflect.Type) error {
	for name, typ := range types {
		l := layouts[name]
		if uintptr(l.Size) != typ.Size() {
			return fmt.Errorf("struct %s is %d bytes, its Go mirror %s %d: %w", name, l.Size, typ, typ.Size(), ErrIncompatible)
		}
		offs := goOffsets(typ, 0)
		if typ.Kind() == reflect.Array {
			continue // one array member: the size says it all
		}
		if len(offs) != len(l.Offsets) {
			return fmt.Errorf("struct %s has %d members, its Go mirror %s %d: %w", name, len(l.Offsets), typ, len(offs), ErrIncompatible)
		}
		for i, off := range l.Offsets {
			if offs[i] != off {
				return fmt.Errorf("struct %s member %s is at byte %d, in its Go mirror %s at %d: %w", name, l.Members[i], off, typ, offs[i], ErrIncompatible)
			}
		}
	}
	return nil
}

// goOffsets lists the offsets of typ's fields, nested structs' fields included
// (a C struct nests no struct where Go embeds one: TaskInfo, PidnsInfo).
func goOffsets(typ reflect.Type, base uint32) []uint32 {
	if typ.Kind() != reflect.Struct {
		return []uint32{base}
	}
	var offs []uint32
	for i := range typ.NumField() {
		f := typ.Field(i)
		offs = append(offs, goOffsets(f.Type, base+uint32(f.Offset))...)
	}
	return offs
}
