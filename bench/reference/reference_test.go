package reference_test

import (
	"errors"
	"os"
	"testing"

	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/bench/reference"
)

// The reference must behave as the seed is described, or the figures mean nothing.
func TestReferenceRecordsExit(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root")
	}
	s, err := reference.NewStoreFromAttach()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dev, ino, err := spawn.Pidns(0)
	if err != nil {
		t.Fatal(err)
	}

	c, err := spawn.Start([]string{"/bin/sh", "-c", "read x; exit 7"}, false)
	if err != nil {
		t.Fatal(err)
	}
	info := &reference.TaskInfo{TraceID: 42, PidnsInfo: reference.PidnsInfo{Dev: dev, Ino: ino}}
	if err := s.Trace(c.Pid, info); err != nil {
		t.Fatal(err)
	}
	if err := s.Trace(c.Pid, info); err == nil {
		t.Fatal("second Trace of the same pid succeeded")
	}
	if got, err := s.GetTracingTask(c.Pid); err != nil || *got != *info {
		t.Fatalf("GetTracingTask = %+v, %v", got, err)
	}
	before := spawn.Monotonic()
	c.Release()
	ws, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.GetExitedEvent(42)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Pid != c.Pid || ev.ExitCode != int32(ws) || ws.ExitStatus() != 7 || ev.ExittedTime < before || ev.StartBoottime == 0 {
		t.Fatalf("event %+v, wait status %#x", ev, uint32(ws))
	}
	if _, err := s.GetTracingTask(c.Pid); !errors.Is(err, reference.ErrKeyNotExist) {
		t.Fatalf("tracing entry left: %v", err)
	}
	if err := s.DeleteExitedEvent(42); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetExitedEvent(42); !errors.Is(err, reference.ErrKeyNotExist) {
		t.Fatalf("event left: %v", err)
	}

	// Another pid namespace recorded: no event (the seed's namespace check).
	c, err = spawn.Start(spawn.Gate, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Trace(c.Pid, &reference.TaskInfo{TraceID: 43, PidnsInfo: reference.PidnsInfo{Dev: dev, Ino: ino + 1}}); err != nil {
		t.Fatal(err)
	}
	c.Release()
	c.Wait()
	if _, err := s.GetExitedEvent(43); !errors.Is(err, reference.ErrKeyNotExist) {
		t.Fatalf("event recorded across namespaces: %v", err)
	}

	if err := s.ExitedEventFromWaitStatus(44, 1234, 9); err != nil {
		t.Fatal(err)
	}
	if ev, err := s.GetExitedEvent(44); err != nil || ev.Pid != 1234 || ev.ExitCode != 9 {
		t.Fatalf("ExitedEventFromWaitStatus: %+v, %v", ev, err)
	}
	if err := s.ExitedEventFromWaitStatus(44, 1234, 9); err == nil {
		t.Fatal("second ExitedEventFromWaitStatus succeeded")
	}
}

func TestReferencePinned(t *testing.T) {
	root := t.TempDir()
	if err := reference.EnsureRunning(root); err != nil {
		t.Fatal(err)
	}
	defer reference.Uninstall(root)
	if err := reference.EnsureRunning(root); err != nil {
		t.Fatal(err)
	}
	s, err := reference.NewStore(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dev, ino, _ := spawn.Pidns(0)
	c, err := spawn.Start(spawn.Gate, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Trace(c.Pid, &reference.TaskInfo{TraceID: 7, PidnsInfo: reference.PidnsInfo{Dev: dev, Ino: ino}}); err != nil {
		t.Fatal(err)
	}
	c.Release()
	c.Wait()
	if ev, err := s.GetExitedEvent(7); err != nil || ev.Pid != c.Pid || ev.ExitCode != 0 {
		t.Fatalf("pinned tracer: %+v, %v", ev, err)
	}
}

func TestEmpty(t *testing.T) {
	e, err := reference.AttachEmpty()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}
