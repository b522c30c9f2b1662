// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * exitsnoop: records the wait status of traced processes when their last thread exits.
 *
 * Two programs from one function: handle_exit on sched_process_exit records an exit as
 * it happens; handle_free on sched_process_free is the fallback that records, when the
 * process is released, any traced process whose entry is still there.
 *
 * Why the fallback: __bpf_trace_run (kernel/trace/bpf_trace.c) skips a program whose
 * per-CPU prog->active count is already raised, and counts it in recursion_misses. Since
 * tracepoints run their probes preemptibly (7.x: migrate_disable, not preempt_disable),
 * a task preempted inside handle_exit leaves the count raised, and every other task
 * exiting on that CPU meanwhile is skipped: bursts of exits lost ~6% on 7.2. The free
 * tracepoint is another program with its own count, fired later from an RCU callback,
 * so an exit is lost only if both miss it, and then both misses are counted. Trace does
 * not leave its own race with an exit to the fallback (internal/core/trace.c): on 6.18
 * some releases ran no sched_process_free program, and counted no miss.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "exitsnoop.h"

/* Test-only knobs, set by the tests' loader: the program ignores this tgid's exit
 * (~0: every exit). */
const volatile __u32 test_skip_exit_tgid = 0;
const volatile __u32 test_skip_free_tgid = 0;

/* Capacities are set by the loader (bpf_map__set_max_entries) before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct task_info);
} tracing_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct exit_status);
} exited_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, __u64);
	__type(value, struct trace_ref);
} trace_refs SEC(".maps");

/*
 * pid_refs counts the tracing_tasks entries of each bucket of pids (tgid modulo
 * EXITSNOOP_PID_BUCKETS) in a byte: user space adds one before inserting and takes
 * it back after deleting, so a zero proves "not traced" without a hash lookup. A
 * bucket holds at most pid_max / EXITSNOOP_PID_BUCKETS pids (64 at most), and user
 * space never lets a byte pass 255. One mmapable value: 64 pids per cache line keep
 * the check on untraced exits cheap.
 */
struct pid_refs {
	__u8 n[EXITSNOOP_PID_BUCKETS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct pid_refs);
} pid_refs SEC(".maps");

/* Tells subscribers in user space of each record (kernel 5.8+); exited_events stays the
 * source of truth. Written for every recorded exit: with nobody reading it fills, and a
 * full ring buffer refuses a record at the cost of a failed reservation. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} notify SEC(".maps");

/* A wake-up is an irq_work (a self-IPI: ~27 us in a VM) in the exiting task: records go
 * out without one, and one wakes the readers only when some reader sleeps (a reader that
 * another reader's shared consumer position passed sleeps on to its epoll backstop). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct notify_wake);
} notify_wake SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exitsnoop_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exitsnoop_meta);
} meta SEC(".maps");

/* Preemptible programs can interleave on one CPU: a per-CPU counter needs an atomic add. */
#define count(st, field) do { if (st) __sync_fetch_and_add(&(st)->field, 1); } while (0)

/* The wait status waitpid would report, as wait_task_zombie computes it. */
static __always_inline int wait_status(struct task_struct *task)
{
	struct signal_struct *sig = task->signal;

	/* Since 6.0 synchronize_group_exit sets SIGNAL_GROUP_EXIT on every last exit. */
	if (sig->flags & SIGNAL_GROUP_EXIT)
		return sig->group_exit_code;
	return task->group_leader->exit_code;
}

/* Marks the trace ID's reference with why no event came, or (fate 0) removes it, if it
 * still follows pid: a trace ID taken over by another process is left alone. */
static __always_inline void set_fate(__u64 trace_id, __u32 pid, __u32 fate)
{
	struct trace_ref *found = bpf_map_lookup_elem(&trace_refs, &trace_id), ref;
	int err;

	if (!found)
		return;
	ref = *found; /* a copy: an element user space deletes is reused at once, for any key */
	if (ref.pid != pid)
		return;
	ref.fate = fate;
	/* Retry a bucket lock that timed out (6.15+ rqspinlock); ENOENT: user space took it. */
	for (int i = 0; i < 3; i++) {
		err = fate == EXITSNOOP_FATE_TRACED ? bpf_map_delete_elem(&trace_refs, &trace_id)
						    : bpf_map_update_elem(&trace_refs, &trace_id, &ref, BPF_EXIST);
		if (!err || err == -2 /* ENOENT */)
			break;
	}
}

/* Whether a start time (ns of CLOCK_BOOTTIME) is the one /proc/<pid>/stat showed the
 * tracer: 5.11+ adds the reader's time namespace offset there, 5.10 does not. */
static __always_inline bool same_start(__u64 start, const struct task_info *info)
{
	return (start + info->boot_offset) / EXITSNOOP_NSEC_PER_TICK == info->start_ticks ||
	       start / EXITSNOOP_NSEC_PER_TICK == info->start_ticks;
}

/* Records the exit of task if it ends a traced process. At sched_process_free task is
 * a released leader; its signal_struct lives until the task_struct is put. */
static __always_inline int record_exit(struct task_struct *task, bool fallback)
{
	struct exitsnoop_stats *st;
	struct task_info info, *found;
	struct exit_status ev = {};
	struct exit_note note;
	struct notify_wake *wake;
	void *waker;
	__u32 tgid = task->tgid;
	__u32 bucket = tgid & (EXITSNOOP_PID_BUCKETS - 1);
	struct pid_refs *refs;
	__u32 zero = 0, skip;
	int err; /* 5.10 returns helper errors zero-extended: compare 32 bits */

	/* Untraced exits, nearly all of them, end at this inlined array load. */
	refs = bpf_map_lookup_elem(&pid_refs, &zero);
	if (!refs || !refs->n[bucket])
		return 0;
	skip = fallback ? test_skip_free_tgid : test_skip_exit_tgid;
	if (skip == tgid || skip == ~0U)
		return 0;

	/* do_exit decrements signal->live before this tracepoint: 0 means last thread. */
	if (!fallback && task->signal->live.counter != 0)
		return 0;

	found = bpf_map_lookup_elem(&tracing_tasks, &tgid);
	if (!found)
		return 0;
	info = *found; /* copy first: a deleted preallocated element is reused at once */

	/* The same process's entry: another's (a reused pid) stays for that one's exit. */
	if (fallback && !same_start(task->start_boottime, &info))
		return 0;

	/* Threads exiting together can all read live == 0, and the fallback may run too:
	 * the one that deletes, records. */
	err = bpf_map_delete_elem(&tracing_tasks, &tgid);
	if (err == -2 /* ENOENT */)
		return 0;
	/* Byte-wise atomics need 5.12+: subtract from the aligned little-endian word;
	 * the byte holds our entry, so it is >= 1 and nothing borrows. */
	if (!err)
		__sync_fetch_and_add((__u32 *)&refs->n[bucket & ~3U], -(1U << ((bucket & 3) * 8)));
	/* Otherwise the bucket lock failed us (6.15+ rqspinlock times out): record all
	 * the same; the insert below, with BPF_NOEXIST, still lets only one thread write. */

	st = bpf_map_lookup_elem(&stats, &zero);
	count(st, exits);

	/* de_thread copies the leader's start time to an exec-ing thread: still the same. */
	if (!same_start(task->group_leader->start_boottime, &info)) {
		count(st, stale);
		set_fate(info.trace_id, tgid, EXITSNOOP_FATE_STALE);
		return 0;
	}

	ev.pid = tgid;
	ev.exit_code = wait_status(task);
	ev.start_boottime = task->group_leader->start_boottime;
	ev.exited_time = bpf_ktime_get_boot_ns(); /* CLOCK_BOOTTIME, as start_boottime: runs on across a suspend */

	/* Retry what is not "exists" or "full": a bucket lock that timed out. */
	for (int i = 0; i < 3; i++) {
		err = bpf_map_update_elem(&exited_events, &info.trace_id, &ev, BPF_NOEXIST);
		if (!err || err == -17 /* EEXIST */ || err == -7 /* E2BIG */)
			break;
	}
	if (err && err != -17 /* EEXIST */) {
		count(st, dropped);
		set_fate(info.trace_id, tgid, EXITSNOOP_FATE_DROPPED);
		return 0;
	}
	/* The event is there (ours, or one recorded from a wait status): a waiter that finds
	 * no reference looks at exited_events again. */
	set_fate(info.trace_id, tgid, EXITSNOOP_FATE_TRACED);
	if (err) {
		count(st, duplicate);
		return 0;
	}
	count(st, recorded);
	if (fallback)
		count(st, recovered);

	note.trace_id = info.trace_id;
	note.status = ev;
	if (bpf_ringbuf_output(&notify, &note, sizeof(note), BPF_RB_NO_WAKEUP))
		count(st, notify_lost);
	/* The commit's xchg orders the record before this load, as a reader's atomic store of
	 * waiting comes before it looks for records: one of the two sees the other. */
	wake = bpf_map_lookup_elem(&notify_wake, &zero);
	if (wake && wake->waiting) {
		/* A full ring buffer refuses even this: the flag stays up for the next exit. */
		waker = bpf_ringbuf_reserve(&notify, 0, 0);
		if (waker) {
			wake->waiting = 0;
			bpf_ringbuf_discard(waker, BPF_RB_FORCE_WAKEUP);
		}
	}
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	return record_exit(task, false);
}

/* Fired from delayed_put_task_struct, an RCU callback after release_task; only a
 * leader's release ends a process (after de_thread the old leader's pid != tgid). */
SEC("tp_btf/sched_process_free")
int BPF_PROG(handle_free, struct task_struct *task)
{
	if (task->pid != task->tgid)
		return 0;
	return record_exit(task, true);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
