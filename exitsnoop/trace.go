package exitsnoop

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/bpfsys"
)

// Trace starts tracing pid: when its last thread exits, the kernel records an
// ExitStatus under taskInfo.TraceID.
//
// When Trace returns nil an event will come, or Wait will say why not (LostError):
// Trace decides in one protocol that the process is alive, is the one pid names,
// and that the kernel will see its exit, whatever state of exiting it is in. The
// exit program on sched_process_exit records it; if that program did not see the
// entry, the fallback on sched_process_free records it when the process is
// reaped.
//
// pid is a process (thread-group leader) as this process's pid namespace sees
// it, which must be the host's. Trace fails with ErrNoProcess when pid names no
// process or one that has exited, ErrNotProcess when it names a thread,
// ErrNamespaceMismatch when taskInfo.PidnsInfo is set and is not the process's,
// ErrPidNamespace in a pid namespace other than the host's, ErrKeyExist when pid
// is traced already, ErrTraceIDInUse when the trace ID is traced or has an unread
// event, and ErrFull when a map is full. An entry left by a process whose exit
// was missed is replaced. Trace never waits for the process.
func (s *Store) Trace(pid uint32, taskInfo *TaskInfo) error {
	if pid == 0 || taskInfo == nil {
		return fmt.Errorf("trace pid %d: %w", pid, ErrInvalidArgument)
	}
	if pid > pidMaxLimit {
		return fmt.Errorf("trace pid %d: %w", pid, ErrNoProcess)
	}
	pidfd, err := unix.PidfdOpen(int(pid), 0)
	switch {
	case err == unix.ENOSYS || err == unix.EPERM:
		// Filtered (seccomp, valgrind): the stat file follows the process instead.
		if err := checkLeader(pid); err != nil {
			return fmt.Errorf("trace pid %d: %w", pid, err)
		}
		pidfd = -1
	case err != nil:
		return fmt.Errorf("trace pid %d: %w", pid, pidfdErr(err))
	default:
		defer unix.Close(pidfd)
	}
	if err := s.trace(pid, pidfd, taskInfo); err != nil {
		return fmt.Errorf("trace pid %d: %w", pid, err)
	}
	return nil
}

// TracePidfd is Trace of the process that pidfd refers to. A pidfd names one
// process for as long as it is open, so unlike a pid it cannot be reused: if that
// process has exited, TracePidfd fails with ErrNoProcess even when its pid already
// names another process. Get a pidfd from pidfd_open(2) or from
// syscall.SysProcAttr.PidFD when starting the process.
func (s *Store) TracePidfd(pidfd int, taskInfo *TaskInfo) error {
	if taskInfo == nil {
		return fmt.Errorf("trace pidfd %d: %w", pidfd, ErrInvalidArgument)
	}
	pid, err := pidOfPidfd(pidfd)
	if err != nil {
		return fmt.Errorf("trace pidfd %d: %w", pidfd, err)
	}
	if err := s.trace(pid, pidfd, taskInfo); err != nil {
		return fmt.Errorf("trace pidfd %d (pid %d): %w", pidfd, pid, err)
	}
	return nil
}

// pidMaxLimit is PID_MAX_LIMIT: no pid is larger.
const pidMaxLimit = 1 << 22

// pidfdErr names what pidfd_open's errno means for Trace.
func pidfdErr(err error) error {
	switch err {
	case unix.ESRCH:
		return ErrNoProcess
	case unix.EINVAL, unix.ENOENT: // ENOENT since 6.9
		return fmt.Errorf("a thread, not a process (trace its thread-group leader): %w", ErrNotProcess)
	}
	return fmt.Errorf("pidfd_open: %w", err)
}

// checkLeader is pidfd_open's check that pid is a process, from /proc/<pid>/status.
func checkLeader(pid uint32) error {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/status")
	if err != nil {
		return ErrNoProcess
	}
	_, rest, _ := strings.Cut(string(b), "\nTgid:")
	tgid, _, _ := strings.Cut(strings.TrimSpace(rest), "\n")
	if tgid != strconv.FormatUint(uint64(pid), 10) {
		return fmt.Errorf("a thread of process %s, not a process: %w", tgid, ErrNotProcess)
	}
	return nil
}

// alive reports whether the process is not reaped yet: signal 0 through its
// pidfd reaches a zombie, and EPERM still proves the process is there. Without
// a pidfd (-1), a read of its open stat file fails once it is reaped.
func alive(pidfd int, stat statFile) (bool, error) {
	if pidfd < 0 {
		_, err := stat.read()
		if errors.Is(err, ErrNoProcess) {
			return false, nil
		}
		return err == nil, err
	}
	switch err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err {
	case nil, unix.EPERM:
		return true, nil
	case unix.ESRCH:
		return false, nil
	default:
		return false, fmt.Errorf("pidfd_send_signal: %w", err)
	}
}

// trace is the Trace protocol, for the process pid that pidfd refers to (-1:
// none, then the open stat file stands for it):
//
//  1. read its start time from /proc/<pid>/stat, and check with the pidfd that
//     the process is still alive, so the file read is of this very process;
//  2. reserve the trace ID (trace_refs), refusing one with an unread event;
//  3. insert the tracing entry, replacing one of a process whose exit was missed;
//  4. check with the pidfd that the process is not reaped yet. If it is not,
//     the kernel will see the entry: the exit program if it has not passed
//     sched_process_exit, else the fallback, which runs after the release.
//     If it is, take the entry back, unless the kernel has it already.
func (s *Store) trace(pid uint32, pidfd int, info *TaskInfo) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if !s.hostPidns {
		return ErrPidNamespace
	}
	if s.owner == nil { // pins: Uninstall retires their meta before it unpins them
		if m, err := s.readMeta(); err != nil {
			return err
		} else if m.FormatVersion == formatRetired {
			return fmt.Errorf("the tracer was uninstalled: %w", ErrNotRunning)
		}
	}
	stat, err := openProcStat(pid)
	if err != nil {
		return err
	}
	defer stat.close()
	if ok, err := alive(pidfd, stat); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("exited already: %w", ErrNoProcess)
	}
	st, err := stat.read()
	if err != nil {
		return err
	}
	if st.gone() {
		return fmt.Errorf("exited already: %w", ErrNoProcess)
	}
	if info.PidnsInfo != (PidnsInfo{}) {
		ns, err := PidnsOf(pid)
		if err != nil {
			return err
		}
		if ns != info.PidnsInfo {
			return fmt.Errorf("process is in pid namespace %d:%d, not %d:%d: %w",
				ns.Dev, ns.Ino, info.PidnsInfo.Dev, info.PidnsInfo.Ino, ErrNamespaceMismatch)
		}
	}
	v := taskValue{TaskInfo: *info, StartTicks: st.startTicks, BootOffset: s.bootOffset}
	if err := s.reserveRef(info.TraceID, pid); err != nil {
		return err
	}
	if err := s.insertTask(pid, &v); err != nil {
		s.dropRef(info.TraceID, pid)
		return err
	}
	ok, err := alive(pidfd, stat)
	if ok {
		return nil
	}
	if s.deleteTask(pid) != nil {
		return nil // the kernel has the entry: it records the exit, or marks the reference
	}
	s.dropRef(info.TraceID, pid)
	if err != nil {
		return err
	}
	return fmt.Errorf("exited while tracing began: %w", ErrNoProcess)
}

// reserveRef claims trace ID id for pid: an ID that is traced or has an unread
// event is refused; one that only says why an earlier exit was lost is taken.
func (s *Store) reserveRef(id uint64, pid uint32) error {
	ref := traceRef{Pid: pid}
	for try := 0; ; try++ {
		err := bpfsys.Update(s.traces, unsafe.Pointer(&id), unsafe.Pointer(&ref), bpfsys.NoExist)
		if err == nil {
			break
		}
		if mapErr(err) != ErrKeyExist || try == 1 {
			return fmt.Errorf("reserving trace ID %d: %w", id, mapErr(err))
		}
		old, err := s.lookupRef(id)
		if err == nil && old.Fate == fateTraced && old.Pid == pid {
			return fmt.Errorf("pid %d is traced under trace ID %d already: %w", pid, id, ErrKeyExist)
		}
		if err == nil && old.Fate == fateTraced {
			return fmt.Errorf("trace ID %d traces pid %d: %w", id, old.Pid, ErrTraceIDInUse)
		}
		bpfsys.Delete(s.traces, unsafe.Pointer(&id)) // a fate: the caller has moved on
	}
	var ev ExitStatus
	if bpfsys.Lookup(s.events, unsafe.Pointer(&id), unsafe.Pointer(&ev)) == nil {
		s.dropRef(id, pid)
		return fmt.Errorf("trace ID %d has an unread event (pid %d): %w", id, ev.Pid, ErrTraceIDInUse)
	}
	return nil
}

// lookupRef reads the reference of trace ID id.
func (s *Store) lookupRef(id uint64) (traceRef, error) {
	var ref traceRef
	err := bpfsys.Lookup(s.traces, unsafe.Pointer(&id), unsafe.Pointer(&ref))
	return ref, mapErr(err)
}

// dropRef removes the reference of trace ID id if it is pid's.
func (s *Store) dropRef(id uint64, pid uint32) {
	if ref, err := s.lookupRef(id); err == nil && ref.Pid == pid {
		bpfsys.Delete(s.traces, unsafe.Pointer(&id))
	}
}

// insertTask adds the tracing entry; pid_refs counts it before it becomes visible.
// An entry of another process with this pid is an orphan (that process is gone, or
// pid would not name ours): its trace is marked missed and the entry replaced.
func (s *Store) insertTask(pid uint32, v *taskValue) error {
	if err := s.refInc(pid); err != nil {
		return err
	}
	for try := 0; ; try++ {
		err := mapErr(bpfsys.Update(s.tasks, unsafe.Pointer(&pid), unsafe.Pointer(v), bpfsys.NoExist))
		if err == nil {
			return nil
		}
		var old taskValue
		if err != ErrKeyExist || try == 1 ||
			bpfsys.Lookup(s.tasks, unsafe.Pointer(&pid), unsafe.Pointer(&old)) != nil ||
			sameStart(old.StartTicks, old.BootOffset, v.StartTicks, v.BootOffset) {
			s.refDec(pid)
			return err
		}
		if s.deleteTask(pid) == nil {
			s.markMissed(old.TraceID, pid)
		}
	}
}

// markMissed records that the exit traced under id was missed by the kernel.
// An orphan tracing entry of id goes too: a later process with its pid must not
// be taken for this one.
func (s *Store) markMissed(id uint64, pid uint32) {
	if ref, err := s.lookupRef(id); err == nil && ref.Pid == pid && ref.Fate == fateTraced {
		ref.Fate = fateMissed
		bpfsys.Update(s.traces, unsafe.Pointer(&id), unsafe.Pointer(&ref), bpfsys.Exist)
	}
	var v taskValue
	if bpfsys.Lookup(s.tasks, unsafe.Pointer(&pid), unsafe.Pointer(&v)) == nil && v.TraceID == id {
		s.deleteTask(pid)
	}
}

// deleteTask removes the tracing entry; pid_refs drops it after it is gone.
func (s *Store) deleteTask(pid uint32) error {
	if err := bpfsys.Delete(s.tasks, unsafe.Pointer(&pid)); err != nil {
		return mapErr(err)
	}
	s.refDec(pid)
	return nil
}

// sameStart compares start times read from /proc/<pid>/stat in time namespaces
// with boottime offsets offA and offB (ns): exactly when the offsets are equal or
// /proc left them out (5.10 does; 5.11+ adds the reader's offset), else to the
// tick that rounding may cost.
func sameStart(ticksA uint64, offA int64, ticksB uint64, offB int64) bool {
	if ticksA == ticksB || offA == offB {
		return ticksA == ticksB
	}
	d := (int64(ticksA) - offA/int64(nsecPerTick)) - (int64(ticksB) - offB/int64(nsecPerTick))
	return d >= -1 && d <= 1
}

// nsecPerTick is EXITSNOOP_NSEC_PER_TICK: /proc's clock ticks (USER_HZ 100).
const nsecPerTick = 10_000_000

// boottimeOffset reads this process's time namespace boottime offset (5.6+,
// CONFIG_TIME_NS): /proc/<pid>/stat's start times include it.
func boottimeOffset() (int64, error) {
	b, err := os.ReadFile("/proc/self/timens_offsets")
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil // no time namespaces: no offset
	}
	if err != nil {
		return 0, fmt.Errorf("reading time namespace offsets: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && (f[0] == "boottime" || f[0] == strconv.Itoa(unix.CLOCK_BOOTTIME)) {
			sec, err1 := strconv.ParseInt(f[1], 10, 64)
			nsec, err2 := strconv.ParseInt(f[2], 10, 64)
			if err1 != nil || err2 != nil {
				return 0, fmt.Errorf("parsing time namespace offsets %q: %w", line, ErrInvalidArgument)
			}
			return sec*1e9 + nsec, nil
		}
	}
	return 0, nil
}

// initPidnsIno is PROC_PID_INIT_INO, the inode of the initial pid namespace.
const initPidnsIno = 0xEFFFFFFC

// inInitialPidns reports whether this process sees the host's pids.
func inInitialPidns() bool {
	var st unix.Stat_t
	return unix.Stat("/proc/self/ns/pid", &st) == nil && st.Ino == initPidnsIno
}

// pidOfPidfd reads the "Pid:" line of the pidfd's fdinfo (-1 once reaped, 5.13+).
func pidOfPidfd(pidfd int) (uint32, error) {
	p := "/proc/self/fdinfo/" + strconv.Itoa(pidfd)
	f, err := os.Open(p)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", p, ErrInvalidArgument)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n == 0 {
				return 0, fmt.Errorf("pid %q in %s: %w", v, p, ErrInvalidArgument)
			}
			if n < 0 {
				return 0, ErrNoProcess
			}
			return uint32(n), nil
		}
	}
	return 0, fmt.Errorf("%s is not a pidfd: %w", p, ErrInvalidArgument)
}
