/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * core.h - exitsnoop's protocols on the tracer's map fds, shared by the Go
 * package (through cgo, internal/core) and the C library: C, no threads, no
 * allocation, no global state; every function may be called from any thread.
 *
 * The loader of each language opens or loads the tracer and fills a struct
 * es_core; what follows is done once, here: the Trace protocol (trace.c) and
 * what it needs of /proc (proc.c). A call returns 0, or a negative errno and
 * fills *e: e->kind says which of the package's errors it is (the errno alone
 * cannot: EINVAL is a bad argument or a thread, EEXIST a traced pid or a trace
 * ID in use), e->msg the words that come before it ("" when there are none).
 */
#ifndef EXITSNOOP_CORE_H
#define EXITSNOOP_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "exitsnoop.h" /* bpf/exitsnoop.h: the record layout */

/* The tracer's maps, as one Store sees them. */
struct es_core {
	int tasks;           /* tracing_tasks: host tgid -> struct task_info */
	int traces;          /* trace_refs: trace ID -> struct trace_ref */
	int events;          /* exited_events: trace ID -> struct exit_status */
	uint32_t *refs;      /* pid_refs, mapped: EXITSNOOP_PID_BUCKETS byte counters, 4 a word */
	int64_t boot_offset; /* this time namespace's boottime offset, ns */
};

enum es_kind {
	ES_ERRNO = 0,      /* the errno itself (ENOENT: no such key, EEXIST: key exists, E2BIG/ENOMEM: full) */
	ES_NO_PROCESS,     /* ESRCH: no such process, or no longer the one meant */
	ES_NOT_PROCESS,    /* EINVAL: a thread, not a process */
	ES_NS_MISMATCH,    /* EXDEV: the process is in another pid namespace */
	ES_ID_IN_USE,      /* EEXIST: the trace ID traces another process or has an event */
	ES_INVALID,        /* EINVAL: a bad argument */
};

struct es_err {
	int kind;     /* enum es_kind */
	int errnum;   /* the positive errno the call returned the negative of */
	char msg[160];
};

/* What Trace reads of /proc/<pid>/stat. */
struct es_proc {
	char state;           /* field 3: 'R', 'S', 'Z', ... */
	uint64_t threads;     /* field 20: num_threads */
	uint64_t start_ticks; /* field 22: starttime, clock ticks since boot */
};

/* ---- trace.c: the Trace protocol and the calls that end a trace ---- */

/* es_pidfd_of turns pid into a pidfd for es_trace: *pidfd is a new pidfd, or -1
 * where pidfd_open is filtered (seccomp, valgrind) and /proc says pid is a
 * process. Errors: ES_NO_PROCESS, ES_NOT_PROCESS. */
int es_pidfd_of(uint32_t pid, int *pidfd, struct es_err *e);

/* es_trace traces pid, which pidfd refers to (-1: none), under want->trace_id
 * with want's pid namespace (0:0: any); start_ticks and boot_offset are filled
 * here. When it returns 0 the kernel will see the exit: the exit program, or
 * the fallback when the process is reaped. */
int es_trace(const struct es_core *c, uint32_t pid, int pidfd, const struct task_info *want,
	     struct es_err *e);

/* es_pid_of_pidfd reads the pid of pidfd's process (its fdinfo, 5.13+ says -1
 * once reaped: ES_NO_PROCESS). */
int es_pid_of_pidfd(int pidfd, uint32_t *pid, struct es_err *e);

/* The steps of es_trace, each usable alone (the Go tests drive them). */
int es_reserve_ref(const struct es_core *c, uint64_t id, uint32_t pid, struct es_err *e);
int es_insert_task(const struct es_core *c, uint32_t pid, const struct task_info *v, struct es_err *e);
/* es_ref_inc counts one more entry in pid's byte of refs (a pid_refs mapping),
 * unless it is saturated (EBUSY); es_ref_dec takes one back. */
int es_ref_inc(uint32_t *refs, uint32_t pid, struct es_err *e);
void es_ref_dec(uint32_t *refs, uint32_t pid);
/* es_delete_task removes pid's tracing entry: 0 or a negative errno (-ENOENT). */
int es_delete_task(const struct es_core *c, uint32_t pid);
/* es_drop_ref removes trace ID id's reference if it is pid's. */
void es_drop_ref(const struct es_core *c, uint64_t id, uint32_t pid);
/* es_mark_missed records that the exit traced under id was missed, and drops
 * id's orphan tracing entry of pid. */
void es_mark_missed(const struct es_core *c, uint64_t id, uint32_t pid);
/* es_traced_alive: pid's tracing entry is id's and its process is not reaped. */
bool es_traced_alive(const struct es_core *c, uint64_t id, uint32_t pid);

/* es_delete_tracing_task stops tracing pid (ENOENT: not traced); its trace ID is free. */
int es_delete_tracing_task(const struct es_core *c, uint32_t pid, struct es_err *e);
/* es_delete_event removes id's event and forgets why an exit of id was lost. */
int es_delete_event(const struct es_core *c, uint64_t id, struct es_err *e);
/* es_record_wait_status records status as id's event of pid (EEXIST: one
 * exists, the kernel's wins) and ends pid's trace under id; *ev is the event. */
int es_record_wait_status(const struct es_core *c, uint64_t id, uint32_t pid, uint32_t status,
			  struct exit_status *ev, struct es_err *e);

/* ---- proc.c: what Trace reads of /proc ---- */

/* es_stat_open opens /proc/<pid>/stat: its reads follow that process, not the
 * pid, and fail with ES_NO_PROCESS once it is reaped. A new fd, or < 0. */
int es_stat_open(uint32_t pid, struct es_err *e);
int es_stat_read(int fd, struct es_proc *p, struct es_err *e);
/* es_stat_parse parses a stat line's fields after "pid (comm) ". */
int es_stat_parse(const char *b, size_t n, struct es_proc *p, struct es_err *e);
/* es_proc_gone: the process has exited as a whole (a zombie leader, no thread left). */
bool es_proc_gone(const struct es_proc *p);
/* es_pidns_of reads the device and inode of pid's pid namespace. */
int es_pidns_of(uint32_t pid, uint64_t *dev, uint64_t *ino, struct es_err *e);
/* es_check_leader is pidfd_open's check that pid is a process, from /proc/<pid>/status. */
int es_check_leader(uint32_t pid, struct es_err *e);
/* es_same_start compares start times read in time namespaces with boottime
 * offsets off_a and off_b (ns): exactly when the offsets are equal or /proc
 * left them out (5.10 does; 5.11+ adds the reader's), else to the tick that
 * rounding may cost. */
bool es_same_start(uint64_t ticks_a, int64_t off_a, uint64_t ticks_b, int64_t off_b);

/* es_fail fills *e and returns -errnum. */
int es_fail(struct es_err *e, int kind, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* EXITSNOOP_CORE_H */
