// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reference for the benchmarks: the seed's kernel side (exitsnoop v0.1.0) rebuilt
 * from its description in shared/seed-api.md, not from its source.
 *
 *  - two preallocated hash maps of 2048 entries: tracing_tasks (host pid ->
 *    task_info) and exited_events (trace ID -> exit_status);
 *  - a raw tracepoint program on sched_process_exit, run at every thread exit:
 *    leaders only, a hash lookup, a pid-namespace check, two CO-RE reads, an insert
 *    without overwrite and a delete.
 *
 * The object also holds `empty`, a program that only returns: attached beside the
 * others it measures what the run-time statistics themselves cost per exit.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_info {
	__u64 trace_id;
	__u64 pidns_dev;
	__u64 pidns_ino;
};

struct exit_status {
	__u32 pid;
	__s32 exit_code;
	__u64 start_boottime;
	__u64 exited_time;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, __u32);
	__type(value, struct task_info);
} tracing_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, __u64);
	__type(value, struct exit_status);
} exited_events SEC(".maps");

SEC("raw_tracepoint/sched_process_exit")
int handle_sched_process_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task;
	struct task_info *info;
	struct exit_status ev = {};
	struct bpf_pidns_info ns;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 pid = (__u32)id;

	/* Only the thread-group leader's exit is looked at. */
	if (pid != tgid)
		return 0;

	info = bpf_map_lookup_elem(&tracing_tasks, &tgid);
	if (!info)
		return 0;

	/* Non-zero: the task is not in the pid namespace recorded by Trace. */
	if (bpf_get_ns_current_pid_tgid(info->pidns_dev, info->pidns_ino, &ns, sizeof(ns)))
		return 0;

	task = (struct task_struct *)bpf_get_current_task();
	ev.pid = tgid;
	ev.exit_code = BPF_CORE_READ(task, exit_code);
	ev.start_boottime = BPF_CORE_READ(task, start_boottime);
	ev.exited_time = bpf_ktime_get_ns();

	bpf_map_update_elem(&exited_events, &info->trace_id, &ev, BPF_NOEXIST);
	bpf_map_delete_elem(&tracing_tasks, &tgid);
	return 0;
}

/* The floor: the statistics' own clock reads around a program that does nothing. */
SEC("raw_tracepoint/sched_process_exit")
int empty(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
