package exitsnoop

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"exitsnoop.dev/internal/core"
)

// TestCoreWords: the C library's messages end in the words of this package's
// errors, and coreErr maps each kind of the core to the sentinel of those words.
func TestCoreWords(t *testing.T) {
	kinds := map[core.Kind]error{
		core.NoProcess: ErrNoProcess, core.NotProcess: ErrNotProcess, core.NsMismatch: ErrNamespaceMismatch,
		core.IDInUse: ErrTraceIDInUse, core.Invalid: ErrInvalidArgument, core.NotInstalled: ErrNotInstalled,
		core.NotRunning: ErrNotRunning, core.Incompatible: ErrIncompatible, core.NotTraced: ErrNotTraced,
		core.Lost: ErrLost, core.PidNamespace: ErrPidNamespace,
	}
	for kind, want := range kinds {
		assert.Equal(t, want.Error(), kind.Words(0), "kind %d", kind)
		if kind != core.Lost { // Wait makes a *LostError of it, with the fate
			assert.Equal(t, want, coreErr(&core.Error{Kind: kind}), "kind %d", kind)
		}
	}
	for errno, want := range map[syscall.Errno]error{syscall.ENOENT: ErrKeyNotExist, syscall.EEXIST: ErrKeyExist,
		syscall.E2BIG: ErrFull, syscall.ENOMEM: ErrFull} {
		assert.Equal(t, want.Error(), core.Errno.Words(errno))
		assert.Equal(t, want, coreErr(&core.Error{Errno: errno}))
	}
}
