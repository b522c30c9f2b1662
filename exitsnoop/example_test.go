package exitsnoop_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"exitsnoop.dev/exitsnoop"
)

// A short-lived tool traces its own child with a private tracer.
func ExampleNewStoreFromAttach() {
	store, err := exitsnoop.NewStoreFromAttach()
	if err != nil {
		panic(err)
	}
	defer store.Close()

	cmd := exec.Command("sh", "-c", "read line; exit 3")
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	if err := store.Trace(uint32(cmd.Process.Pid), &exitsnoop.TaskInfo{TraceID: 1}); err != nil {
		panic(err)
	}
	stdin.Close() // let it finish
	cmd.Wait()

	ev, err := store.GetExitedEvent(1)
	if err != nil {
		panic(err)
	}
	fmt.Println(ev, ev.ExitCode == 3<<8)
	// Output: exited 3 true
}

// A supervisor installs the tracer once; the pins outlive it, so a restarted
// supervisor (any process) reads what the kernel recorded while it was down.
func ExampleEnsureRunning() {
	root, _ := os.MkdirTemp("", "exitsnoop-example-")
	defer os.RemoveAll(root)
	if err := exitsnoop.EnsureRunning(root); err != nil {
		panic(err)
	}
	defer exitsnoop.Uninstall(root)

	store, err := exitsnoop.NewStore(root)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	_, err = store.GetExitedEvent(42)
	fmt.Println(errors.Is(err, exitsnoop.ErrKeyNotExist))
	// Output: true
}

// Open takes options: capacities and where to pin.
func ExampleOpen() {
	store, err := exitsnoop.Open(exitsnoop.Options{MaxTracingTasks: 1 << 17, MaxExitedEvents: 1 << 17})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	tasks, events, _ := store.Capacity()
	fmt.Println(tasks, events)
	// Output: 131072 131072
}

// Callers of the seed tested cilium/ebpf's ErrKeyNotExist; the package has its own,
// which also matches syscall.ENOENT.
func ExampleStore_GetExitedEvent() {
	store, err := exitsnoop.NewStoreFromAttach()
	if err != nil {
		panic(err)
	}
	defer store.Close()
	if _, err := store.GetExitedEvent(7); errors.Is(err, exitsnoop.ErrKeyNotExist) {
		fmt.Println("no exit recorded for trace 7 yet")
	}
	// Output: no exit recorded for trace 7 yet
}

func ExampleExitStatus_String() {
	for _, raw := range []int32{3 << 8, 9, 11 | 0x80} {
		fmt.Println((&exitsnoop.ExitStatus{ExitCode: raw}).String())
	}
	// Output:
	// exited 3
	// killed by SIGKILL
	// killed by SIGSEGV (core dumped)
}
