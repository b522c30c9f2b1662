package exitsnoop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/core"
	"exitsnoop.dev/internal/ringbuf"
)

// waitRecheck bounds how long a lost notification can delay Wait: a waiter looks
// at the map itself this often (a variable for the tests that prove notifications
// alone wake waiters).
var waitRecheck = 250 * time.Millisecond

// goneRecheck is how often Wait looks once it saw the traced process reaped
// without an event (internal/core waits ES_GONE_GRACE_NS for the fallback).
const goneRecheck = 100 * time.Millisecond

// notifySize is the notify ring buffer's size in bpf/exitsnoop.bpf.c.
const notifySize = 256 * 1024

// Event is an exit as the notification stream delivers it.
type Event struct {
	TraceID uint64
	ExitStatus
}

// notifier reads the notify ring buffer in one goroutine, started by the first
// Subscribe (or Wait, where pidfds are filtered), and hands each exit to its
// waiters and subscribers without ever blocking on them.
type notifier struct {
	once    sync.Once
	err     error
	reader  *ringbuf.Reader
	wake    []byte // the notify_wake array, mapped
	done    chan struct{}
	mu      sync.Mutex
	waiters map[uint64][]chan *ExitStatus
	subs    map[*Subscription]struct{}
}

// start launches the reader goroutine once, on the ring buffer fd and the
// notify_wake array wakeFd.
func (n *notifier) start(fd, wakeFd int) error {
	n.once.Do(func() {
		n.wake, n.err = unix.Mmap(wakeFd, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if n.err != nil {
			n.err = fmt.Errorf("mapping %s: %w", mapWake, n.err)
			return
		}
		n.reader, n.err = ringbuf.NewReader(fd, notifySize)
		if n.err != nil {
			unix.Munmap(n.wake)
			n.err = fmt.Errorf("reading notify ring buffer: %w", n.err)
			return
		}
		n.reader.WakeOnDemand((*uint32)(unsafe.Pointer(&n.wake[0])))
		n.mu.Lock()
		n.subs = map[*Subscription]struct{}{}
		n.mu.Unlock()
		n.done = make(chan struct{})
		go n.run()
	})
	return n.err
}

func (n *notifier) run() {
	defer close(n.done)
	defer unix.Munmap(n.wake)
	defer n.reader.Release()
	for {
		err := n.reader.Read(func(rec []byte) {
			if len(rec) < int(unsafe.Sizeof(Event{})) {
				return
			}
			n.deliver(*(*Event)(unsafe.Pointer(&rec[0])))
		})
		if err != nil {
			n.mu.Lock()
			for sub := range n.subs {
				sub.end()
			}
			n.subs = nil
			n.mu.Unlock()
			return
		}
	}
}

func (n *notifier) deliver(ev Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ch := range n.waiters[ev.TraceID] {
		st := ev.ExitStatus
		select {
		case ch <- &st:
		default: // it has one already
		}
	}
	for sub := range n.subs {
		sub.send(ev)
	}
}

// local delivers an event recorded by this process to its waiters and subscribers.
func (n *notifier) local(ev Event) {
	n.deliver(ev)
}

// register adds a waiter for id; it needs no reader running.
func (n *notifier) register(id uint64) chan *ExitStatus {
	ch := make(chan *ExitStatus, 1)
	n.mu.Lock()
	if n.waiters == nil {
		n.waiters = map[uint64][]chan *ExitStatus{}
	}
	n.waiters[id] = append(n.waiters[id], ch)
	n.mu.Unlock()
	return ch
}

func (n *notifier) unregister(id uint64, ch chan *ExitStatus) {
	n.mu.Lock()
	defer n.mu.Unlock()
	list := n.waiters[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(n.waiters, id)
	} else {
		n.waiters[id] = list
	}
}

// stop ends the reader goroutine, if it runs, and waits for it; waiters still
// registered leave as they see done.
func (n *notifier) stop() {
	n.once.Do(func() {}) // no reader may start after this
	if n.reader != nil {
		n.reader.Close()
		<-n.done
	}
}

// startNotifier starts the Store's notification reader.
func (s *Store) startNotifier() error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.notify.start(s.fds[mapNotify], s.fds[mapWake])
}

// Wait returns the exit of traceID as soon as the kernel records it: at once if it
// is recorded already, else when the traced process exits, which Wait hears
// through a pidfd (no polling; through the notification ring buffer where
// pidfd_open is filtered). A missed wake-up delays it by at most a quarter
// second, never forever.
//
// Wait always ends. When no event can come it returns an error: ErrNotTraced
// when traceID is neither traced nor recorded, a *LostError (errors.Is ErrLost)
// naming the cause when the traced process is gone and its exit was not
// recorded — within a second of Wait seeing the process reaped (13 s where RCU
// callbacks may be lazy, CONFIG_RCU_LAZY on offloaded CPUs, and the caller cannot
// write rcutree.do_rcu_barrier: the fallback records from an RCU callback, and
// a caller that can runs one barrier at a time, in a thread of its own, instead
// of waiting). It returns ctx.Err() when ctx is done first, ErrClosed
// when the Store is closed. Wait does not delete the event. Many goroutines may wait at once, on the same or different
// IDs, in any number of processes; each waiting Wait holds a pidfd.
func (s *Store) Wait(ctx context.Context, traceID uint64) (*ExitStatus, error) {
	notified := s.notify.register(traceID) // by ExitedEventFromWaitStatus, or the ring buffer
	defer s.notify.unregister(traceID, notified)
	recheck := time.NewTimer(waitRecheck)
	defer recheck.Stop()
	var goneSince int64
	var exit *exitWatch
	defer func() { exit.stop() }()
	for {
		ev := new(ExitStatus)
		err := s.LookupExitedEvent(traceID, ev)
		if err == nil {
			return ev, nil
		}
		if !errors.Is(err, ErrKeyNotExist) {
			return nil, err
		}
		if exit == nil {
			if exit, err = s.watchExit(traceID); err != nil {
				return nil, err
			}
			if exit == nil { // no pidfds: the ring buffer's notifications
				if err := s.startNotifier(); err != nil {
					return nil, err
				}
				exit = &exitWatch{}
			}
			continue // look again: the process may have exited before the watch
		}
		if ev, err := s.noEventYet(traceID, &goneSince); ev != nil || err != nil {
			return ev, err
		}
		if goneSince == 0 {
			recheck.Reset(waitRecheck)
		} else {
			recheck.Reset(goneRecheck)
		}
		if exit.ended {
			recheck.Reset(goneRecheck) // the fallback records a missed exit at the reap
		}
		select {
		case <-exit.exited():
			exit.ended = true
		case ev := <-notified:
			return ev, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closing:
			return nil, ErrClosed
		case <-recheck.C:
			if status, ok := exit.childStatus(); ok {
				// Exited, unrecorded, and our child: the exit program missed it and the
				// fallback waits for a reap that is ours to do. Its status, exact.
				s.ExitedEventFromWaitStatus(traceID, exit.pid, status)
			}
		}
	}
}

// pidfdOpen is pidfd_open(2); the tests filter it as seccomp would.
var pidfdOpen = unix.PidfdOpen

// exitWatch hears the exit of a traced process: its pidfd, non-blocking, waits
// in the Go runtime's netpoller. A watch without a pidfd hears nothing.
type exitWatch struct {
	f     *os.File
	pid   uint32
	done  chan struct{}
	ended bool // the process has exited
}

// childStatus is the wait status of the exited process if it is a child of this
// process that is not reaped yet (waitid with WNOWAIT leaves it so).
func (w *exitWatch) childStatus() (uint32, bool) {
	if !w.ended || w.f == nil {
		return 0, false
	}
	rc, err := w.f.SyscallConn()
	if err != nil {
		return 0, false
	}
	var status uint32
	var ok bool
	rc.Control(func(fd uintptr) { status, ok = core.ChildStatus(int(fd)) })
	return status, ok
}

// watchExit watches the process traced under id, which pidfd_open checks; it
// returns nil where pidfd_open is filtered (seccomp) and a watch without a pidfd
// where there is no process to watch (noEventYet then decides).
func (s *Store) watchExit(id uint64) (*exitWatch, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	ref, err := s.lookupRef(id)
	s.mu.RUnlock()
	if !s.hostPidns {
		return nil, nil // the kernel's pids are not ours: the ring buffer tells
	}
	if err != nil || ref.Fate != fateTraced {
		return &exitWatch{}, nil
	}
	fd, err := pidfdOpen(int(ref.Pid), 0)
	switch {
	case err == unix.ENOSYS || err == unix.EPERM:
		return nil, nil
	case err != nil:
		return &exitWatch{}, nil
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pidfd of pid %d: %w", ref.Pid, err)
	}
	w := &exitWatch{f: os.NewFile(uintptr(fd), "pidfd"), pid: ref.Pid, done: make(chan struct{})}
	rc, err := w.f.SyscallConn()
	if err != nil {
		w.f.Close()
		return nil, fmt.Errorf("pidfd of pid %d: %w", ref.Pid, err)
	}
	go func() {
		// A pidfd polls readable once its process has exited.
		err := rc.Read(func(fd uintptr) bool {
			n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
			return n > 0
		})
		if err == nil {
			close(w.done)
		}
	}()
	return w, nil
}

// exited is closed when the process exits; nil once that was seen.
func (w *exitWatch) exited() <-chan struct{} {
	if w == nil || w.ended {
		return nil
	}
	return w.done
}

// stop closes the pidfd, which ends the goroutine that polls it.
func (w *exitWatch) stop() {
	if w != nil && w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// noEventYet decides, for a trace ID without an event, whether one can still
// come (internal/core/wait.c). It returns the event if it appeared meanwhile, an
// error if none can come, and nil, nil to go on waiting. goneSince is when Wait
// first saw the traced process reaped (0: not yet), in ns of CLOCK_MONOTONIC.
func (s *Store) noEventYet(id uint64, goneSince *int64) (*ExitStatus, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var ev ExitStatus
	var pid, f uint32
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		return nil, fmt.Errorf("reading CLOCK_MONOTONIC: %w", err)
	}
	found, err := s.core.NoEventYet(id, s.hostPidns, now.Nano(), goneSince, unsafe.Pointer(&ev), &pid, &f)
	if e, ok := err.(*core.Error); ok && e.Kind == core.Lost {
		return nil, &LostError{TraceID: id, Pid: pid, Cause: fate(f).String()}
	}
	if found {
		return &ev, nil
	}
	return nil, coreErr(err)
}

// Subscription is a stream of every exit the tracer records after Subscribe.
// A subscriber that falls behind loses events rather than stalling the others:
// Lost counts them, and ListExitedEvents recovers them from the map.
type Subscription struct {
	// C delivers the events; it is closed by Close and when the Store closes.
	C        <-chan Event
	c        chan Event
	lost     atomic.Uint64
	lostBase uint64 // the ring buffer reader's losses before Subscribe
	n        *notifier
	ended    bool // under n.mu
}

// Subscribe starts a stream of exits with room for buffer events.
func (s *Store) Subscribe(buffer int) (*Subscription, error) {
	if err := s.startNotifier(); err != nil {
		return nil, err
	}
	c := make(chan Event, buffer)
	sub := &Subscription{C: c, c: c, n: &s.notify}
	s.notify.mu.Lock()
	defer s.notify.mu.Unlock()
	if s.notify.subs == nil {
		return nil, ErrClosed
	}
	s.notify.subs[sub] = struct{}{}
	sub.lostBase = s.notify.reader.Lost()
	return sub, nil
}

func (sub *Subscription) send(ev Event) {
	select {
	case sub.c <- ev:
	default:
		sub.lost.Add(1)
	}
}

func (sub *Subscription) end() {
	if !sub.ended {
		sub.ended = true
		close(sub.c)
	}
}

// Lost counts what this subscription missed after the kernel wrote it: one per
// event dropped because C was full, plus one per time the reader fell behind and
// found events overwritten in the kernel's ring buffer (how many is unknowable:
// their headers are gone too). Events the kernel could not write at all, the
// ring buffer being full, are counted in Stats.NotifyLost instead.
func (sub *Subscription) Lost() uint64 {
	return sub.lost.Load() + sub.n.reader.Lost() - sub.lostBase
}

// Close ends the stream and closes C.
func (sub *Subscription) Close() {
	sub.n.mu.Lock()
	defer sub.n.mu.Unlock()
	delete(sub.n.subs, sub)
	sub.end()
}
