package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/bench/reference"
	"exitsnoop.dev/exitsnoop"
)

// Figure 6 burst configurations, in the order rounds take turns.
const (
	burstRef      = "reference"
	burstOurs     = "ours, no reader"
	burstOursRead = "ours, notifications read"
)

var burstConfigs = []string{burstRef, burstOurs, burstOursRead}

const (
	burstChildren = 1000
	burstIDBase   = 1 << 45
)

// measureBurst releases burstChildren traced children at once, rounds times per
// configuration (taking turns), each with a fresh private tracer of its own and
// nothing else attached: the time from the release (the close of the one pipe
// they all block reading) to the last exit recorded, by the exit time the
// tracer stamped in each event.
func measureBurst(rounds int) (*Fig6Burst, error) {
	f := &Fig6Burst{Children: burstChildren, Capacity: exitsnoop.DefaultCapacity, Rounds: map[string][]Fig6BurstRound{}}
	oursNs, refNs, err := pidns()
	if err != nil {
		return nil, err
	}
	id := uint64(burstIDBase)
	for r := 0; r < rounds; r++ {
		for k := range burstConfigs {
			cfg := burstConfigs[(k+r)%len(burstConfigs)]
			if interrupted.Load() {
				return nil, errInterrupted
			}
			res, err := burstRound(cfg, id, oursNs, refNs)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cfg, err)
			}
			id += burstChildren
			f.Rounds[cfg] = append(f.Rounds[cfg], res)
			logf("figure 6, burst, %s: %d of %d recorded in %.1f ms: %.0f exits/s", cfg, res.Recorded, burstChildren, res.Seconds*1e3, res.PerSec)
		}
	}
	return f, nil
}

// burstTracer is one configuration's tracer: trace a pid, then collect the events
// of trace IDs first … first+n-1 (deleting them): how many, and the latest exit.
type burstTracer struct {
	trace   func(pid uint32, id uint64) error
	collect func(first uint64, n int) (int, time.Time, error)
	close   func() error
}

func openBurstTracer(cfg string, oursNs exitsnoop.PidnsInfo, refNs reference.PidnsInfo) (*burstTracer, error) {
	if cfg == burstRef {
		s, err := reference.Open(reference.Options{Capacity: exitsnoop.DefaultCapacity})
		if err != nil {
			return nil, err
		}
		return &burstTracer{
			trace: func(pid uint32, id uint64) error {
				return s.Trace(pid, &reference.TaskInfo{TraceID: id, PidnsInfo: refNs})
			},
			collect: func(first uint64, n int) (got int, last time.Time, err error) {
				for id := first; id < first+uint64(n); id++ {
					ev, err := s.GetExitedEvent(id)
					if errors.Is(err, reference.ErrKeyNotExist) {
						continue
					} else if err != nil {
						return got, last, err
					}
					got++
					if t := monotonicTime(ev.ExittedTime); t.After(last) {
						last = t
					}
					s.DeleteExitedEvent(id)
				}
				return got, last, nil
			},
			close: s.Close,
		}, nil
	}
	s, err := exitsnoop.Open(exitsnoop.Options{})
	if err != nil {
		return nil, err
	}
	if cfg == burstOursRead {
		sub, err := s.Subscribe(4096)
		if err != nil {
			s.Close()
			return nil, err
		}
		go func() {
			for range sub.C {
			}
		}()
	}
	return &burstTracer{
		trace: func(pid uint32, id uint64) error {
			return s.Trace(pid, &exitsnoop.TaskInfo{TraceID: id, PidnsInfo: oursNs})
		},
		collect: func(first uint64, n int) (got int, last time.Time, err error) {
			evs, err := s.DrainExitedEvents()
			for _, ev := range evs {
				if ev.TraceID >= first && ev.TraceID < first+uint64(n) {
					got++
					if t := ev.ExitTime(); t.After(last) {
						last = t
					}
				}
			}
			return got, last, err
		},
		close: s.Close, // ends the subscription
	}, nil
}

// monotonicTime is ns of CLOCK_MONOTONIC (the reference's bpf_ktime_get_ns) as a
// time.Time, comparable with time.Now() through its monotonic reading.
func monotonicTime(ns uint64) time.Time {
	now := time.Now()
	return now.Add(-time.Duration(spawn.Monotonic() - ns))
}

func burstRound(cfg string, first uint64, oursNs exitsnoop.PidnsInfo, refNs reference.PidnsInfo) (Fig6BurstRound, error) {
	var res Fig6BurstRound
	t, err := openBurstTracer(cfg, oursNs, refNs)
	if err != nil {
		return res, err
	}
	defer t.close()
	g, err := spawn.StartGroup(spawn.Gate, burstChildren)
	if err != nil {
		return res, err
	}
	for i, c := range g.Children {
		if err := t.trace(c.Pid, first+uint64(i)); err != nil {
			g.Release()
			g.Wait()
			return res, err
		}
	}
	start := time.Now()
	g.Release()
	if err := g.Wait(); err != nil {
		return res, err
	}
	n, last, err := t.collect(first, burstChildren)
	if err != nil {
		return res, err
	}
	res.Recorded, res.Seconds = n, last.Sub(start).Seconds()
	if n == 0 || res.Seconds <= 0 || res.Seconds > 60 {
		return res, fmt.Errorf("%d exits recorded, the last %.3f s after the release: exit times on another clock?", n, res.Seconds)
	}
	res.PerSec = float64(n) / res.Seconds
	return res, nil
}

// drain fills each tracer's exited_events with n events and times the reading
// and deletion of all of them: ours with DrainExitedEvents (batch operations),
// the reference the only way its users have, key by key (NextKey over the map,
// then GetExitedEvent and DeleteExitedEvent). Rounds take turns.
func (r *fig6Rig) drain(n, rounds int) (*Fig6Drain, error) {
	d := &Fig6Drain{Events: n, Seconds: map[string][]float64{}}
	oursEv, err := ebpf.LoadPinnedMap(filepath.Join(r.ours.dir(), "exited_events"), nil)
	if err != nil {
		return nil, err
	}
	defer oursEv.Close()
	maps := map[string]*ebpf.Map{"ours": oursEv, "reference": r.ref.Maps()[1]}
	drain := map[string]func() (int, error){
		"ours": func() (int, error) {
			evs, err := r.ours.Store.DrainExitedEvents()
			return len(evs), err
		},
		"reference": func() (int, error) { return drainReference(r.ref, maps["reference"]) },
	}
	for round := 0; round < rounds; round++ {
		order := []string{"ours", "reference"}
		if round%2 == 1 {
			order = []string{"reference", "ours"}
		}
		for _, impl := range order {
			if err := fillEvents(maps[impl], n); err != nil {
				return nil, fmt.Errorf("%s: %w", impl, err)
			}
			t := time.Now()
			got, err := drain[impl]()
			s := time.Since(t).Seconds()
			if err != nil || got != n {
				return nil, fmt.Errorf("%s drained %d of %d events: %v", impl, got, n, err)
			}
			d.Seconds[impl] = append(d.Seconds[impl], s)
			logf("figure 6, drain of %d events, %s: %.1f ms", n, impl, s*1e3)
		}
	}
	return d, nil
}

// fillEvents writes n events (trace IDs from fakeIDBase) into an empty
// exited_events map, in batches.
func fillEvents(m *ebpf.Map, n int) error {
	var now unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
	for first := 0; first < n; first += fillBatch {
		k := min(fillBatch, n-first)
		ids := make([]uint64, k)
		evs := make([]reference.ExitStatus, k) // the layout of both tracers' events
		for j := range ids {
			ids[j] = uint64(fakeIDBase + first + j)
			evs[j] = reference.ExitStatus{Pid: uint32(fakePidBase + first + j), ExittedTime: uint64(now.Nano())}
		}
		if got, err := m.BatchUpdate(ids, evs, nil); err != nil || got != k {
			return fmt.Errorf("filling events: %d of %d: %w", got, k, err)
		}
	}
	return nil
}

// drainReference reads and deletes every event of the reference as its users
// can: list the keys, then get and delete each. The events are returned to no
// one, as ours' are.
func drainReference(s *reference.Store, m *ebpf.Map) (int, error) {
	var keys []uint64
	var key, next uint64
	var prev any // nil: the first key
	for {
		err := m.NextKey(prev, &next)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return 0, err
		}
		keys = append(keys, next)
		key, prev = next, &key
	}
	evs := make([]reference.ExitStatus, 0, len(keys))
	for _, k := range keys {
		ev, err := s.GetExitedEvent(k)
		if err != nil {
			continue
		}
		if s.DeleteExitedEvent(k) == nil {
			evs = append(evs, *ev)
		}
	}
	return len(evs), nil
}
