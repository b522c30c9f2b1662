package profile

import (
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/bench/internal/spawn"
)

// BenchmarkTraceParts prices the system calls a Trace can be made of, on a live
// child: reading /proc/<pid>/stat (ours reads it twice per Trace, for the start
// time and to see the process is still there), and cheaper alternatives.
//
//	go test -tags netgo,osusergo -run '^$' -bench TraceParts -benchtime 0.5s ./profile
func BenchmarkTraceParts(b *testing.B) {
	c, err := spawn.Start(spawn.Gate, false)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { c.Release(); c.Wait() }()
	path := "/proc/" + strconv.Itoa(int(c.Pid)) + "/stat"
	b.Run("proc-stat-read", func(b *testing.B) {
		var buf [1024]byte
		for i := 0; i < b.N; i++ {
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			unix.Read(fd, buf[:])
			unix.Close(fd)
		}
	})
	b.Run("pidfd-open-close", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			fd, err := unix.PidfdOpen(int(c.Pid), 0)
			if err != nil {
				b.Fatal(err)
			}
			unix.Close(fd)
		}
	})
	b.Run("kill-0", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := unix.Kill(int(c.Pid), 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("getppid (a bare syscall)", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			unix.Getppid()
		}
	})
}
