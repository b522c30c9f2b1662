package exitsnoop

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"exitsnoop.dev/internal/bpfsys"
)

// batchSize is how many events one batch call moves.
const batchSize = 8192

// ListExitedEvents returns every recorded event, in no particular order, without
// deleting any.
func (s *Store) ListExitedEvents() ([]Event, error) {
	return s.batch(false)
}

// DrainExitedEvents deletes and returns every recorded event, in no particular
// order. It uses the kernel's batch operations (5.6+) and falls back to one key at
// a time where the kernel lacks them. Events recorded meanwhile may or may not be
// in the result; those not in it stay in the map.
func (s *Store) DrainExitedEvents() ([]Event, error) {
	return s.batch(true)
}

func (s *Store) batch(del bool) ([]Event, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var out []Event
	keys := make([]uint64, batchSize)
	vals := make([]ExitStatus, batchSize)
	var token, next uint64
	for first := true; ; first = false {
		n := uint32(batchSize)
		in := unsafe.Pointer(&token)
		if first {
			in = nil
		}
		err := bpfsys.LookupBatch(s.events, in, unsafe.Pointer(&next),
			unsafe.Pointer(&keys[0]), unsafe.Pointer(&vals[0]), &n, del)
		for i := uint32(0); i < n; i++ {
			out = append(out, Event{TraceID: keys[i], ExitStatus: vals[i]})
		}
		switch {
		case errors.Is(err, syscall.ENOENT):
			return out, nil
		case err != nil && first && batchUnsupported(err):
			return s.perKey(del)
		case err != nil:
			return out, fmt.Errorf("batch lookup of %s: %w", mapEvents, err)
		}
		token = next
	}
}

// batchUnsupported: the kernel has no batch operations for this map.
func batchUnsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.Errno(524)) // ENOTSUPP
}

// perKey is batch one key at a time: it lists the keys, then reads (and deletes)
// each. Call with s.mu held for reading.
func (s *Store) perKey(del bool) ([]Event, error) {
	var keys []uint64
	var key, next uint64
	prev := unsafe.Pointer(nil)
	for {
		err := bpfsys.NextKey(s.events, prev, unsafe.Pointer(&next))
		if errors.Is(err, syscall.ENOENT) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("iterating %s: %w", mapEvents, err)
		}
		keys = append(keys, next)
		key, prev = next, unsafe.Pointer(&key)
	}
	out := make([]Event, 0, len(keys))
	var ev ExitStatus
	for _, k := range keys {
		if bpfsys.Lookup(s.events, unsafe.Pointer(&k), unsafe.Pointer(&ev)) != nil {
			continue // deleted meanwhile
		}
		if del && bpfsys.Delete(s.events, unsafe.Pointer(&k)) != nil {
			continue // another reader took it
		}
		out = append(out, Event{TraceID: k, ExitStatus: ev})
	}
	return out, nil
}
