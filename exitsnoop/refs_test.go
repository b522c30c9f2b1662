package exitsnoop

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func refCount(s *Store, pid uint32) uint32 { return s.refs[pid%pidBuckets/4] >> (pid % 4 * 8) & 0xff }

// The pid_refs byte counters share words with their neighbours: counting one
// must never carry into, or borrow from, another.
func TestRefCounters(t *testing.T) {
	s := &Store{refs: make([]uint32, pidBuckets/4)}
	const pid = 6 // byte 2 of word 1
	require.NoError(t, s.refInc(pid+1))
	for i := 0; i < 255; i++ {
		require.NoError(t, s.refInc(pid))
	}
	require.ErrorIs(t, s.refInc(pid), syscall.EBUSY, "a saturated byte refuses, never wraps")
	assert.Equal(t, uint32(255), refCount(s, pid))
	assert.Equal(t, uint32(1), refCount(s, pid+1))
	assert.Zero(t, refCount(s, pid-1))
	assert.Equal(t, uint32(1), refCount(s, pid+1+pidBuckets), "pids a bucket apart share it")

	for i := 0; i < 255; i++ {
		s.refDec(pid)
	}
	assert.Zero(t, refCount(s, pid))
	assert.Equal(t, uint32(1), refCount(s, pid+1))
	s.refDec(pid + 1)
	assert.Equal(t, make([]uint32, pidBuckets/4), s.refs)
}
