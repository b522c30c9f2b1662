package exitsnoop

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	bpf "github.com/aquasecurity/libbpfgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"exitsnoop.dev/internal/bpfobj"
)

// TestHeaderConstants: the constants Go mirrors from internal/core/layout.h that the
// object's BTF does not carry (#defines) are the header's.
func TestHeaderConstants(t *testing.T) {
	h, err := os.ReadFile("../internal/core/layout.h")
	require.NoError(t, err)
	define := func(name string) uint64 {
		m := regexp.MustCompile(`#define ` + name + `\s+\(?([0-9]+)U?(?:LL|ULL)?\s*(?:<<\s*([0-9]+))?\)?`).FindSubmatch(h)
		require.NotNil(t, m, name)
		v, err := strconv.ParseUint(string(m[1]), 10, 64)
		require.NoError(t, err)
		if len(m[2]) > 0 {
			shift, err := strconv.Atoi(string(m[2]))
			require.NoError(t, err)
			v <<= shift
		}
		return v
	}
	assert.Equal(t, uint64(formatVersion), define("EXITSNOOP_FORMAT_VERSION"))
	assert.Equal(t, uint64(pidBuckets), define("EXITSNOOP_PID_BUCKETS"))
	assert.Equal(t, uint64(nsecPerTick), define("EXITSNOOP_NSEC_PER_TICK"))
}

// TestRingSizeChecked: the object's ring buffer is the size the Go side maps, and
// a build that maps another size refuses to load.
func TestRingSizeChecked(t *testing.T) {
	mod, err := bpf.NewModuleFromBufferArgs(bpf.NewModuleArgs{BPFObjBuff: bpfobj.Object, BPFObjName: "exitsnoop.bpf.o", SkipMemlockBump: true})
	require.NoError(t, err)
	defer mod.Close()
	require.NoError(t, checkRing(mod, notifySize))
	require.ErrorIs(t, checkRing(mod, notifySize/2), ErrIncompatible)
}
