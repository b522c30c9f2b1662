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
// order, with the kernel's batch operations. Events recorded meanwhile may or may not be
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
		case err != nil:
			return out, fmt.Errorf("batch lookup of %s: %w", mapEvents, err)
		}
		token = next
	}
}
