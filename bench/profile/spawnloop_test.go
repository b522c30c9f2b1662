package profile

import (
	"testing"

	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/exitsnoop"
)

// BenchmarkSpawnLoop spawns /bin/true b.N times, without and with a private Store
// open in this process: a workload to run under perf record, e.g.
//
//	perf record -g -- go test -tags netgo,osusergo -run '^$' -bench 'SpawnLoop/store' -benchtime 5000x ./profile
func BenchmarkSpawnLoop(b *testing.B) {
	run := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := spawn.Run([]string{"/bin/true"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("none", run)
	b.Run("store", func(b *testing.B) {
		s, err := exitsnoop.NewStoreFromAttach()
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b)
	})
}
