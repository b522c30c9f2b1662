package exitsnoop

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"exitsnoop.dev/internal/bpfsys"
)

// batchSize is how many events one batch call moves.
const batchSize = 4096

// ListExitedEvents returns every recorded event, by trace ID, without deleting.
func (s *Store) ListExitedEvents() (map[uint64]ExitStatus, error) {
	return s.batch(false)
}

// DrainExitedEvents deletes and returns every recorded event, by trace ID. It uses
// the kernel's batch operations and falls back to one key at a time where the
// kernel lacks them.
func (s *Store) DrainExitedEvents() (map[uint64]ExitStatus, error) {
	return s.batch(true)
}

func (s *Store) batch(del bool) (map[uint64]ExitStatus, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := map[uint64]ExitStatus{}
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
			out[keys[i]] = vals[i]
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

// perKey is batch one key at a time. Call with s.mu held for reading.
func (s *Store) perKey(del bool) (map[uint64]ExitStatus, error) {
	out := map[uint64]ExitStatus{}
	var key, next uint64
	var ev ExitStatus
	prev := unsafe.Pointer(nil)
	for {
		if err := bpfsys.NextKey(s.events, prev, unsafe.Pointer(&next)); errors.Is(err, syscall.ENOENT) {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("iterating %s: %w", mapEvents, err)
		}
		key = next
		if bpfsys.Lookup(s.events, unsafe.Pointer(&key), unsafe.Pointer(&ev)) != nil {
			continue // deleted meanwhile; the next NextKey restarts from the first key
		}
		if del {
			if bpfsys.Delete(s.events, unsafe.Pointer(&key)) != nil {
				continue // another reader took it
			}
		} else {
			prev = unsafe.Pointer(&key)
		}
		out[key] = ev
	}
}
