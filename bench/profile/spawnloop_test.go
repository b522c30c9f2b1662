package profile

import (
	"os"
	"testing"

	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/exitsnoop"
)

// TestSpawnLoop spawns /bin/true PROFILE_SPAWNS times, with a private Store open
// when PROFILE_STORE=1: a workload to run under perf record.
func TestSpawnLoop(t *testing.T) {
	if os.Getenv("PROFILE_SPAWNS") == "" {
		t.Skip("set PROFILE_SPAWNS")
	}
	if os.Getenv("PROFILE_STORE") == "1" {
		s, err := exitsnoop.NewStoreFromAttach()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	n := 0
	for _, c := range os.Getenv("PROFILE_SPAWNS") {
		n = n*10 + int(c-'0')
	}
	for i := 0; i < n; i++ {
		if err := spawn.Run([]string{"/bin/true"}); err != nil {
			t.Fatal(err)
		}
	}
}
