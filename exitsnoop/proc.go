package exitsnoop

import (
	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/core"
)

// procState is what Trace needs to know of a process: its identity (start time) and
// whether it has finished exiting.
type procState struct {
	state      byte   // field 3 of /proc/<pid>/stat: 'R', 'S', 'Z', …
	threads    uint64 // field 20: num_threads
	startTicks uint64 // field 22: starttime, in clock ticks since boot
}

// gone reports whether the process has exited as a whole: its leader is a zombie
// (or dead) and no other thread is left.
func (p procState) gone() bool {
	return core.Proc{State: p.state, Threads: p.threads, StartTicks: p.startTicks}.Gone()
}

// statFile is an open /proc/<pid>/stat. Its reads follow the process it was
// opened for, not the pid: once that process is reaped they fail with
// ErrNoProcess, even if another process has the pid by then.
type statFile int

// openProcStat opens /proc/<pid>/stat without allocating.
func openProcStat(pid uint32) (statFile, error) {
	fd, err := core.StatOpen(pid)
	return statFile(fd), coreErr(err)
}

// read reads the file afresh, without allocating.
func (f statFile) read() (procState, error) {
	p, err := core.StatRead(int(f))
	return procState{state: p.State, threads: p.Threads, startTicks: p.StartTicks}, coreErr(err)
}

func (f statFile) close() { unix.Close(int(f)) }

// PidnsOf returns the pid namespace of pid, for TaskInfo.PidnsInfo. It does
// not allocate unless it fails.
func PidnsOf(pid uint32) (PidnsInfo, error) {
	dev, ino, err := core.PidnsOf(pid)
	if err != nil {
		return PidnsInfo{}, coreErr(err)
	}
	return PidnsInfo{Dev: dev, Ino: ino}, nil
}
