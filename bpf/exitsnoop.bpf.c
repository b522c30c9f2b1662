// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * exitsnoop: records the wait status of traced processes when their last thread exits.
 * One program, on the BTF-enabled sched_process_exit tracepoint (kernel 5.5+).
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "exitsnoop.h"

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

/* Wakes waiters in user space (kernel 5.8+); exited_events stays the source of truth. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} notify SEC(".maps");

/* How many Stores have a waiter or subscriber: without one, no notification is written
 * (a ring buffer write with its wake-up costs microseconds). Mmapable for user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} listeners SEC(".maps");

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

static __always_inline struct exitsnoop_stats *counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

/* The wait status waitpid would report, as wait_task_zombie computes it. */
static __always_inline int wait_status(struct task_struct *task)
{
	struct signal_struct *sig = task->signal;

	/* Since 6.0 synchronize_group_exit sets SIGNAL_GROUP_EXIT on every last exit. */
	if (sig->flags & SIGNAL_GROUP_EXIT)
		return sig->group_exit_code;
	return task->group_leader->exit_code;
}

/* Records the exit of task if it ends a traced process. */
static __always_inline int record_exit(struct task_struct *task)
{
	struct exitsnoop_stats *st;
	struct task_info info, *found;
	struct exit_status ev = {};
	struct exit_note note;
	struct bpf_pidns_info ns;
	__u32 tgid = task->tgid;
	__u32 bucket = tgid & (EXITSNOOP_PID_BUCKETS - 1);
	struct pid_refs *refs;
	__u64 *lst;
	__u32 zero = 0;
	int err; /* 5.10 returns helper errors zero-extended: compare 32 bits */

	/* Untraced exits, nearly all of them, end at this inlined array load. */
	refs = bpf_map_lookup_elem(&pid_refs, &zero);
	if (!refs || !refs->n[bucket])
		return 0;

	/* do_exit decrements signal->live before this tracepoint: 0 means last thread. */
	if (task->signal->live.counter != 0)
		return 0;

	found = bpf_map_lookup_elem(&tracing_tasks, &tgid);
	if (!found)
		return 0;
	info = *found; /* copy first: a deleted preallocated element is reused at once */

	/* Threads exiting together can all read live == 0: the one that deletes, records. */
	err = bpf_map_delete_elem(&tracing_tasks, &tgid);
	if (err == -2 /* ENOENT */)
		return 0;
	/* Byte-wise atomics need 5.12+: subtract from the aligned little-endian word;
	 * the byte holds our entry, so it is >= 1 and nothing borrows. */
	if (!err)
		__sync_fetch_and_add((__u32 *)&refs->n[bucket & ~3U], -(1U << ((bucket & 3) * 8)));
	/* Otherwise the bucket lock failed us (6.15+ rqspinlock times out): record all
	 * the same; the insert below, with BPF_NOEXIST, still lets only one thread write. */

	st = counters();
	if (st)
		st->exits++;

	/* de_thread copies the leader's start time to an exec-ing thread: still the same. */
	if (info.start_ticks &&
	    task->group_leader->start_boottime / EXITSNOOP_NSEC_PER_TICK != info.start_ticks) {
		if (st)
			st->stale++;
		return 0;
	}

	if ((info.pidns_dev || info.pidns_ino) &&
	    bpf_get_ns_current_pid_tgid(info.pidns_dev, info.pidns_ino, &ns, sizeof(ns))) {
		if (st)
			st->ns_mismatch++;
		return 0;
	}

	ev.pid = tgid;
	ev.exit_code = wait_status(task);
	ev.start_boottime = task->group_leader->start_boottime;
	ev.exited_time = bpf_ktime_get_ns();

	/* Retry what is not "exists" or "full": a bucket lock that timed out. */
	for (int i = 0; i < 3; i++) {
		err = bpf_map_update_elem(&exited_events, &info.trace_id, &ev, BPF_NOEXIST);
		if (!err || err == -17 /* EEXIST */ || err == -7 /* E2BIG */)
			break;
	}
	if (err) {
		if (st && err == -17 /* EEXIST */)
			st->duplicate++;
		else if (st)
			st->dropped++;
		return 0;
	}
	if (st)
		st->recorded++;

	/* Read after the event is stored: a waiter counts itself before it looks. */
	lst = bpf_map_lookup_elem(&listeners, &zero);
	if (!lst || !*lst)
		return 0;
	note.trace_id = info.trace_id;
	note.status = ev;
	if (bpf_ringbuf_output(&notify, &note, sizeof(note), 0) && st)
		st->notify_lost++;
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	return record_exit(task);
}

/* Where tracepoints are preemptible (7.x), an exit on a CPU where handle_exit is
 * preempted is skipped for it (recursion_misses): these copies, attached after it,
 * run then. Otherwise they find the entry gone, with the pid_refs line cached. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit_2, struct task_struct *task)
{
	return record_exit(task);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit_3, struct task_struct *task)
{
	return record_exit(task);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
