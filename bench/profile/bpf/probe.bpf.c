// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Probes for the analysis of figure 1 (bench/notes.md): each program is one piece
 * of a tracer's work at sched_process_exit, attached beside the others so that the
 * kernel's run-time statistics price the pieces on the same exits.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define BIG (1U << 16)
#define SMALL (1U << 12)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BIG);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} refs_big SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SMALL);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} refs_small SEC(".maps");

/* Not mmapable and under 32 KiB: kmalloc'd, in the kernel's direct map. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2048);
	__type(key, __u32);
	__type(value, __u64);
} refs_kmalloc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, __u32);
	__type(value, __u64);
} hash_small SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rb_wake SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rb_nowake SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} traced_tasks SEC(".maps");

struct note {
	__u64 a, b, c, d, e;
};

/* Nothing: the statistics' floor for a tp_btf program. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(p_empty, struct task_struct *task)
{
	return 0;
}

/* Only the first step of any filter: read the exiting task's tgid. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(p_tgid_only, struct task_struct *task)
{
	return task->tgid & 1;
}

/* Ours' path for an untraced exit: a 2^16-bucket counting filter. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(p_refs_big, struct task_struct *task)
{
	__u32 bucket = (__u32)task->tgid % BIG;
	__u64 *refs = bpf_map_lookup_elem(&refs_big, &bucket);

	if (!refs || !*refs)
		return 0;
	return 1;
}

/* The same filter with 2^12 buckets (32 KiB instead of 512 KiB). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(p_refs_small, struct task_struct *task)
{
	__u32 bucket = (__u32)task->tgid % SMALL;
	__u64 *refs = bpf_map_lookup_elem(&refs_small, &bucket);

	if (!refs || !*refs)
		return 0;
	return 1;
}

/* The filter in a small array that is not mmapable (vmalloc'd memory is not). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(p_refs_kmalloc, struct task_struct *task)
{
	__u32 bucket = (__u32)task->tgid % 2048;
	__u64 *refs = bpf_map_lookup_elem(&refs_kmalloc, &bucket);

	if (!refs || !*refs)
		return 0;
	return 1;
}

/* The seed's path for an untraced exit: a hash lookup that misses. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(p_hash_miss, struct task_struct *task)
{
	__u32 tgid = task->tgid;

	if (task->pid != tgid)
		return 0;
	return bpf_map_lookup_elem(&hash_small, &tgid) != 0;
}

/*
 * A filter kept in the task itself: task-local storage, which user space can set
 * through a pidfd (BPF_MAP_TYPE_TASK_STORAGE, 5.11+). An untraced task has no
 * storage: one load from the task_struct, which the exit path has hot.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(p_task_storage, struct task_struct *task)
{
	return bpf_task_storage_get(&traced_tasks, task, 0, 0) != 0;
}

/* A notification per leader exit, woken as ours does (adaptive wakeup). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(p_ringbuf_wakeup, struct task_struct *task)
{
	struct note n = {.a = task->tgid};

	if (task->pid != task->tgid)
		return 0;
	bpf_ringbuf_output(&rb_wake, &n, sizeof(n), 0);
	return 0;
}

/* The same without a wakeup (the reader would have to poll). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(p_ringbuf_nowakeup, struct task_struct *task)
{
	struct note n = {.a = task->tgid};

	if (task->pid != task->tgid)
		return 0;
	bpf_ringbuf_output(&rb_nowake, &n, sizeof(n), BPF_RB_NO_WAKEUP);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
