package exitsnoop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/internal/ringbuf"
)

// waitRecheck bounds how long a lost notification can delay Wait: a waiter looks
// at the map itself this often.
const waitRecheck = 250 * time.Millisecond

// notifySize is the notify ring buffer's size in bpf/exitsnoop.bpf.c.
const notifySize = 256 * 1024

// Event is an exit as the notification stream delivers it.
type Event struct {
	TraceID uint64
	ExitStatus
}

// notifier reads the notify ring buffer in one goroutine, started by the first
// Wait or Subscribe, and hands each exit to its waiters and subscribers without
// ever blocking on them.
type notifier struct {
	listenMem []byte  // the listeners map, mapped
	listeners *uint64 // Stores with someone listening, shared with the kernel
	active    int     // this Store's waiters and subscribers, under mu

	once    sync.Once
	started atomic.Bool
	err     error
	reader  *ringbuf.Reader
	done    chan struct{}
	mu      sync.Mutex
	waiters map[uint64][]chan *ExitStatus
	subs    map[*Subscription]struct{}
}

// start launches the reader goroutine once.
func (n *notifier) start(fd int) error {
	n.once.Do(func() {
		n.reader, n.err = ringbuf.NewReader(fd, notifySize)
		if n.err != nil {
			n.err = fmt.Errorf("reading notify ring buffer: %w", n.err)
			return
		}
		n.waiters = map[uint64][]chan *ExitStatus{}
		n.subs = map[*Subscription]struct{}{}
		n.done = make(chan struct{})
		go n.run()
		n.started.Store(true)
	})
	return n.err
}

func (n *notifier) run() {
	defer close(n.done)
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
				n.listen(-1)
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

// local delivers an event recorded by this process, if anyone listens.
func (n *notifier) local(ev Event) {
	if n.started.Load() {
		n.deliver(ev)
	}
}

// listen counts a waiter or subscriber in or out (delta ±1), and this Store in or
// out of the kernel's listeners when it is the first or the last. Call with mu held.
func (n *notifier) listen(delta int) {
	n.active += delta
	if n.listeners == nil {
		return // unmapped: the Store is closed
	}
	if n.active == 1 && delta > 0 {
		atomic.AddUint64(n.listeners, 1)
	} else if n.active == 0 && delta < 0 {
		atomic.AddUint64(n.listeners, ^uint64(0))
	}
}

func (n *notifier) register(id uint64) chan *ExitStatus {
	ch := make(chan *ExitStatus, 1)
	n.mu.Lock()
	n.waiters[id] = append(n.waiters[id], ch)
	n.listen(1)
	n.mu.Unlock()
	return ch
}

func (n *notifier) unregister(id uint64, ch chan *ExitStatus) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.listen(-1)
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

// stop ends the reader goroutine, if it runs, waits for it, and unmaps the
// listeners count; waiters still registered leave as they see done.
func (n *notifier) stop() error {
	n.once.Do(func() {}) // no reader may start after this
	if n.reader != nil {
		n.reader.Close()
		<-n.done
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.active > 0 {
		atomic.AddUint64(n.listeners, ^uint64(0))
	}
	n.listeners = nil // waiters still leaving count only here
	if err := unix.Munmap(n.listenMem); err != nil {
		return fmt.Errorf("unmapping listeners: %w", err)
	}
	return nil
}

// startNotifier starts the Store's notification reader.
func (s *Store) startNotifier() error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.notify.start(s.fds[mapNotify])
}

// Wait returns the exit of traceID as soon as the kernel records it: at once if it
// is recorded already, else when the kernel's notification arrives (no polling).
// A lost notification delays it by at most a quarter second, never forever. It
// returns ctx.Err() when ctx is done first, ErrClosed when the Store is closed.
// Wait does not delete the event. Many goroutines may wait at once, on the same
// or different IDs.
//
// Every Store of a pinned tracer, in every process, hears every notification;
// when several read at once, all but the first may hear it up to 100 ms late.
// Needs kernel 5.8+ (BPF ring buffer).
func (s *Store) Wait(ctx context.Context, traceID uint64) (*ExitStatus, error) {
	if err := s.startNotifier(); err != nil {
		return nil, err
	}
	ch := s.notify.register(traceID)
	defer s.notify.unregister(traceID, ch)
	var recheck *time.Ticker
	for {
		ev := new(ExitStatus)
		err := s.LookupExitedEvent(traceID, ev)
		if err == nil {
			return ev, nil
		}
		if !errors.Is(err, ErrKeyNotExist) {
			return nil, err
		}
		if recheck == nil {
			recheck = time.NewTicker(waitRecheck)
			defer recheck.Stop()
		}
		select {
		case ev := <-ch:
			return ev, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.notify.done:
			return nil, ErrClosed
		case <-recheck.C:
		}
	}
}

// Subscription is a stream of every exit the tracer records after Subscribe.
// A subscriber that falls behind loses events rather than stalling the others:
// Lost counts them, and ListExitedEvents recovers them from the map.
type Subscription struct {
	// C delivers the events; it is closed by Close and when the Store closes.
	C     <-chan Event
	c     chan Event
	lost  atomic.Uint64
	n     *notifier
	ended bool // under n.mu
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
	s.notify.listen(1)
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

// Lost is the number of events dropped because C was full.
func (sub *Subscription) Lost() uint64 { return sub.lost.Load() }

// Close ends the stream and closes C.
func (sub *Subscription) Close() {
	sub.n.mu.Lock()
	defer sub.n.mu.Unlock()
	if _, ok := sub.n.subs[sub]; ok {
		delete(sub.n.subs, sub)
		sub.n.listen(-1)
	}
	sub.end()
}
