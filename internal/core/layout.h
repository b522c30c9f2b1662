/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Record layout shared by the BPF program (bpf/exitsnoop.bpf.c, through
 * bpf/exitsnoop.h), the C core (internal/core) and the Go package
 * (exitsnoop.dev/exitsnoop mirrors every struct here). Changing any of it is a
 * format change: bump EXITSNOOP_FORMAT_VERSION.
 */
#ifndef __EXITSNOOP_H
#define __EXITSNOOP_H

#define EXITSNOOP_FORMAT_VERSION 4 /* 1 was the seed's */

/* Byte counters of the pid_refs array: a counting filter in front of tracing_tasks. */
#define EXITSNOOP_PID_BUCKETS (1U << 16)

/* 10^9 / USER_HZ: /proc/<pid>/stat reports start times in clock ticks of 10 ms. */
#define EXITSNOOP_NSEC_PER_TICK 10000000ULL

/* Value of tracing_tasks, keyed by the host's tgid (__u32). */
struct task_info {
	__u64 trace_id;
	__u64 pidns_dev; /* checked by Trace (a process never changes pid namespace) */
	__u64 pidns_ino;
	__u64 start_ticks; /* /proc/<pid>/stat's starttime as the tracer read it */
	__s64 boot_offset; /* the tracer's time namespace boottime offset, ns */
};

/* Why a traced exit has no event: the fate of a trace_refs entry. */
enum exitsnoop_fate {
	EXITSNOOP_FATE_TRACED = 0,  /* traced, not exited yet (set_fate: recorded, remove it) */
	EXITSNOOP_FATE_DROPPED = 1, /* exited while exited_events was full */
	EXITSNOOP_FATE_STALE = 2,   /* its exit was missed; another process's exit found the entry */
	EXITSNOOP_FATE_MISSED = 3,  /* its exit was missed (set by user space, which saw it gone) */
};

/* Value of trace_refs, keyed by trace ID (__u64): which pid a trace ID follows.
 * Removed by the kernel once the event is recorded, marked with a fate otherwise. */
struct trace_ref {
	__u32 pid;
	__u32 fate;
};

/* Value of exited_events, keyed by trace ID (__u64). The seed's layout. */
struct exit_status {
	__u32 pid;
	__s32 exit_code;       /* raw wait status, as waitpid reports it */
	__u64 start_boottime;  /* ns since boot */
	__u64 exited_time;     /* ns since boot (CLOCK_BOOTTIME) when recorded; the seed used CLOCK_MONOTONIC */
};

/* Notification in the notify ring buffer, written after the event is stored. */
struct exit_note {
	__u64 trace_id;
	struct exit_status status;
};

/* Value of the one-entry mmapable notify_wake array: a reader of the notify ring
 * buffer sets waiting before it sleeps; the program clears it and wakes readers. */
struct notify_wake {
	__u32 waiting;
	__u32 pad;
};

/* Per-CPU counters, one struct at key 0 of the stats map. */
struct exitsnoop_stats {
	__u64 exits;        /* exits of traced processes seen */
	__u64 recorded;     /* events written to exited_events */
	__u64 dropped;      /* events lost: exited_events full */
	__u64 duplicate;    /* an event for the trace ID existed: kept the old one */
	__u64 ns_mismatch;  /* unused since format 3: Trace checks the pid namespace */
	__u64 stale;        /* the pid was reused by another process: not recorded */
	__u64 notify_lost;  /* recorded, but the notify ring buffer was full */
	__u64 recovered;    /* recorded by the sched_process_free fallback */
};

/* Value of the one-entry meta array, pinned with the maps. */
struct exitsnoop_meta {
	__u32 format_version;
	__u32 pid_buckets;
	__u8 build_id[24]; /* identifies the program that created the pins */
};

#endif /* __EXITSNOOP_H */
