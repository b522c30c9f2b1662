package exitsnoop

import (
	"bytes"
	"fmt"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
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
	return (p.state == 'Z' || p.state == 'X') && p.threads <= 1
}

// statFile is an open /proc/<pid>/stat. Its reads follow the process it was
// opened for, not the pid: once that process is reaped they fail with
// ErrNoProcess, even if another process has the pid by then.
type statFile uintptr

// procPath writes /proc/<pid>/<name> NUL-terminated into buf, without allocating.
func procPath(buf *[32]byte, pid uint32, name string) *byte {
	n := copy(buf[:], "/proc/")
	n += len(strconv.AppendUint(buf[n:n], uint64(pid), 10))
	n += copy(buf[n:], name)
	buf[n] = 0
	return &buf[0]
}

// openProcStat opens /proc/<pid>/stat without allocating.
func openProcStat(pid uint32) (statFile, error) {
	var path [32]byte
	cwd := unix.AT_FDCWD
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(procPath(&path, pid, "/stat"))),
		uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	if e != 0 {
		if e == syscall.ENOENT || e == syscall.ESRCH {
			return 0, ErrNoProcess
		}
		return 0, fmt.Errorf("opening /proc/%d/stat: %w", pid, e)
	}
	return statFile(fd), nil
}

// read reads the file afresh, without allocating.
func (f statFile) read() (procState, error) {
	var buf [1024]byte
	r, _, e := unix.Syscall6(unix.SYS_PREAD64, uintptr(f), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	if e != 0 {
		if e == syscall.ESRCH {
			return procState{}, ErrNoProcess
		}
		return procState{}, fmt.Errorf("reading /proc/<pid>/stat: %w", e)
	}
	return parseProcStat(buf[:r])
}

func (f statFile) close() { unix.Syscall(unix.SYS_CLOSE, uintptr(f), 0, 0) }

// parseProcStat parses the fields after "pid (comm) "; comm may hold spaces and ')'.
func parseProcStat(b []byte) (procState, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 || end+2 >= len(b) {
		return procState{}, errBadStat
	}
	var p procState
	field := 3 // the state field
	for rest := b[end+2:]; len(rest) > 0 && field <= 22; field++ {
		tok := rest
		if i := bytes.IndexByte(rest, ' '); i >= 0 {
			tok, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		switch field {
		case 3:
			p.state = tok[0]
		case 20:
			p.threads = atou(tok)
		case 22:
			p.startTicks = atou(tok)
			return p, nil
		}
	}
	return procState{}, errBadStat
}

// errBadStat is a /proc/<pid>/stat this parser does not understand (it keeps the
// read buffer on the stack by not quoting it).
var errBadStat = fmt.Errorf("parsing /proc/<pid>/stat: unexpected format: %w", ErrInvalidArgument)

func atou(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + uint64(c-'0')
	}
	return v
}

// PidnsOf returns the pid namespace of pid, for TaskInfo.PidnsInfo. It does
// not allocate unless it fails.
func PidnsOf(pid uint32) (PidnsInfo, error) {
	var st unix.Statx_t
	var path [32]byte
	cwd := unix.AT_FDCWD
	_, _, e := unix.Syscall6(unix.SYS_STATX, uintptr(cwd), uintptr(unsafe.Pointer(procPath(&path, pid, "/ns/pid"))),
		0, unix.STATX_INO, uintptr(unsafe.Pointer(&st)), 0)
	switch {
	case e == syscall.ENOENT || e == syscall.ESRCH:
		return PidnsInfo{}, fmt.Errorf("stat /proc/%d/ns/pid: %w", pid, ErrNoProcess)
	case e != 0:
		return PidnsInfo{}, fmt.Errorf("stat /proc/%d/ns/pid: %w", pid, e)
	}
	return PidnsInfo{Dev: unix.Mkdev(st.Dev_major, st.Dev_minor), Ino: st.Ino}, nil
}
