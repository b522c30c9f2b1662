package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"exitsnoop.dev/bench/internal/spawn"
	"exitsnoop.dev/bench/reference"
	"exitsnoop.dev/exitsnoop"
)

// Figure 3 methods, in the order they take turns.
const (
	methodOurs  = "ours (Wait)"
	methodPidfd = "pidfd poll"
	methodRef   = "reference (pidfd + map read)"
)

// measureFig3 measures, for every exit, the time from the kernel's record of it
// (ExittedTime: CLOCK_BOOTTIME for ours, CLOCK_MONOTONIC for the seed's) to the moment
// a waiter blocked before the exit has it in hand. Both tracers are attached and
// trace every child; the methods take turns exit by exit, so they share the
// conditions. The waiter blocks first; the child is released after it is ready.
func measureFig3(sz sizes) (*Fig3, error) {
	ours, err := exitsnoop.NewStoreFromAttach()
	if err != nil {
		return nil, fmt.Errorf("ours: %w", err)
	}
	defer ours.Close()
	ref, err := reference.NewStoreFromAttach()
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	defer ref.Close()
	oursNs, refNs, err := pidns()
	if err != nil {
		return nil, err
	}

	methods := []string{methodOurs, methodPidfd, methodRef}
	lat := map[string][]float64{}
	early := map[string]int{}
	fails := map[string]int{}
	start := time.Now()
	for i := 0; i < sz.fig3Exits*len(methods); i++ {
		if interrupted.Load() {
			return nil, errInterrupted
		}
		m := methods[i%len(methods)]
		id := uint64(i + 1)
		us, wasEarly, err := fig3Exit(ours, ref, m, id, oursNs, refNs)
		if err != nil {
			fails[m]++
			if fails[m] > 10 {
				return nil, fmt.Errorf("%s: %w", m, err)
			}
			logf("figure 3, %s: %v", m, err)
			continue
		}
		if wasEarly {
			early[m]++
			continue
		}
		lat[m] = append(lat[m], us)
	}
	f := &Fig3{Exits: sz.fig3Exits}
	for _, m := range methods {
		v := lat[m]
		sort.Float64s(v)
		r := Fig3Method{Name: m, N: len(v), Early: early[m], Failures: fails[m]}
		if len(v) > 0 {
			var sum float64
			for _, x := range v {
				sum += x
			}
			r.P50us, r.P90us, r.P99us = pct(v, 50), pct(v, 90), pct(v, 99)
			r.MaxUs, r.MeanUs = v[len(v)-1], sum/float64(len(v))
		}
		f.Methods = append(f.Methods, r)
		logf("figure 3, %s: n=%d p50=%.1fµs p99=%.1fµs (early %d, failed %d)", m, r.N, r.P50us, r.P99us, r.Early, r.Failures)
	}
	logf("figure 3: %d exits in %s", sz.fig3Exits*len(methods), time.Since(start).Round(time.Millisecond))
	return f, nil
}

// pct is the p-th percentile of sorted v (nearest rank).
func pct(v []float64, p float64) float64 {
	k := int(math.Ceil(p/100*float64(len(v)))) - 1
	if k < 0 {
		k = 0
	}
	return v[k]
}

type fig3Result struct {
	notified uint64 // when the waiter had the exit, on the clock of exited
	exited   uint64 // ExittedTime of the event
	began    uint64 // when the waiter began to wait, on the clock of exited
	err      error
}

// fig3Exit runs one traced child to its exit and returns the latency in µs.
func fig3Exit(ours *exitsnoop.Store, ref *reference.Store, method string, id uint64,
	oursNs exitsnoop.PidnsInfo, refNs reference.PidnsInfo) (float64, bool, error) {
	c, err := spawn.Start(spawn.Gate, true)
	if err != nil {
		return 0, false, err
	}
	defer c.Wait()
	if err := ours.Trace(c.Pid, &exitsnoop.TaskInfo{TraceID: id, PidnsInfo: oursNs}); err != nil {
		c.Release()
		return 0, false, fmt.Errorf("ours: %w", err)
	}
	if err := ref.Trace(c.Pid, &reference.TaskInfo{TraceID: id, PidnsInfo: refNs}); err != nil {
		c.Release()
		return 0, false, fmt.Errorf("reference: %w", err)
	}
	ready := make(chan struct{})
	done := make(chan fig3Result, 1)
	go func() {
		var r fig3Result
		r.began = spawn.Monotonic()
		switch method {
		case methodOurs:
			close(ready)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			ev, err := ours.Wait(ctx, id)
			r.notified = spawn.Clock(unix.CLOCK_BOOTTIME) // ours' ExittedTime is CLOCK_BOOTTIME
			r.began += spawn.Clock(unix.CLOCK_BOOTTIME) - spawn.Monotonic()
			cancel()
			if err == nil {
				r.exited = ev.ExittedTime
			}
			r.err = err
		case methodPidfd, methodRef:
			fds := []unix.PollFd{{Fd: int32(c.Pidfd), Events: unix.POLLIN}}
			close(ready)
			for {
				_, err := unix.Poll(fds, 10000)
				if err == unix.EINTR {
					continue
				}
				r.err = err
				break
			}
			if method == methodPidfd {
				r.notified = spawn.Monotonic()
			}
			ev, err := ref.GetExitedEvent(id) // the exit time; for the reference, its read
			if method == methodRef {
				r.notified = spawn.Monotonic()
			}
			if r.err == nil {
				r.err = err
			}
			if err == nil {
				r.exited = ev.ExittedTime
			}
		}
		done <- r
	}()
	<-ready
	time.Sleep(20 * time.Microsecond) // let the waiter block
	c.Release()
	r := <-done
	// Leave both Stores empty for the next exit.
	ours.DeleteExitedEvent(id)
	ref.DeleteExitedEvent(id)
	if r.err != nil {
		return 0, false, r.err
	}
	if r.exited < r.began || r.notified < r.exited {
		return 0, true, nil
	}
	return float64(r.notified-r.exited) / 1e3, false, nil
}
