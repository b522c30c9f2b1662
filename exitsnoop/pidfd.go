package exitsnoop

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// TracePidfd is Trace of the process that pidfd refers to. A pidfd names one
// process for as long as it is open, so unlike a pid it cannot be reused: if that
// process has exited, TracePidfd fails with ErrNoProcess even when its pid already
// names another process. Get a pidfd from pidfd_open(2) or from
// syscall.SysProcAttr.PidFD when starting the process. Needs kernel 5.3+.
func (s *Store) TracePidfd(pidfd int, taskInfo *TaskInfo) error {
	if taskInfo == nil {
		return fmt.Errorf("trace pidfd %d: %w", pidfd, ErrInvalidArgument)
	}
	pid, err := pidOfPidfd(pidfd)
	if err != nil {
		return fmt.Errorf("trace pidfd %d: %w", pidfd, err)
	}
	stat, err := openProcStat(pid)
	if err != nil {
		return fmt.Errorf("trace pidfd %d (pid %d): %w", pidfd, pid, err)
	}
	defer stat.close()
	// Still alive after the open: the file opened is of this very process, since
	// its pid cannot be reused before it is reaped.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		if err == unix.ESRCH {
			err = ErrNoProcess
		}
		return fmt.Errorf("trace pidfd %d (pid %d): %w", pidfd, pid, err)
	}
	if err := s.trace(pid, taskInfo, stat); err != nil {
		return fmt.Errorf("trace pidfd %d (pid %d): %w", pidfd, pid, err)
	}
	return nil
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
