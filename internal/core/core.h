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

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>
/* The record layout. Its per-CPU counters are struct es_kernel_stats here: the C
 * library's public header names the sum struct exitsnoop_stats. */
#define exitsnoop_stats es_kernel_stats
#include "layout.h"
#undef exitsnoop_stats

/* The tracer's maps, as one Store sees them. */
struct es_core {
	int tasks;           /* tracing_tasks: host tgid -> struct task_info */
	int traces;          /* trace_refs: trace ID -> struct trace_ref */
	int events;          /* exited_events: trace ID -> struct exit_status */
	int meta;            /* meta of pins (Uninstall retires it), or -1 for a private tracer */
	uint32_t *refs;      /* pid_refs, mapped: EXITSNOOP_PID_BUCKETS byte counters, 4 a word */
	int64_t boot_offset; /* this time namespace's boottime offset, ns (es_boottime_offset) */
	bool host_pidns;     /* the caller sees the host's pids (es_in_initial_pidns) */
};

enum es_kind {
	ES_ERRNO = 0,      /* the errno itself (ENOENT: no such key, EEXIST: key exists, E2BIG/ENOMEM: full) */
	ES_NO_PROCESS,     /* ESRCH: no such process, or no longer the one meant */
	ES_NOT_PROCESS,    /* EINVAL: a thread, not a process */
	ES_NS_MISMATCH,    /* EXDEV: the process is in another pid namespace */
	ES_ID_IN_USE,      /* EEXIST: the trace ID traces another process or has an event */
	ES_INVALID,        /* EINVAL: a bad argument */
	ES_NOT_INSTALLED,  /* ENOPKG: no tracer is pinned under the bpffs root */
	ES_NOT_RUNNING,    /* ENOLINK: pins without a running program */
	ES_INCOMPATIBLE,   /* EPROTO: pins of another format, holding data */
	ES_NOT_TRACED,     /* ENOENT: a trace ID neither traced nor recorded */
	ES_LOST,           /* ENODATA: the traced process is gone, its exit not recorded */
	ES_PID_NAMESPACE,  /* EXDEV: the caller is not in the host's pid namespace */
};

struct es_err {
	int kind;           /* enum es_kind */
	int errnum;         /* the positive errno the call returned the negative of */
	const char *suffix; /* words after the error's (a static string), or NULL */
	char msg[480];
};

/* What Trace reads of /proc/<pid>/stat. */
struct es_proc {
	char state;           /* field 3: 'R', 'S', 'Z', ... */
	uint64_t flags;       /* field 9: the kernel's task flags (ES_PF_EXITING) */
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
 * the fallback when the process is reaped. It refuses a caller outside the
 * host's pid namespace (ES_PID_NAMESPACE) and pins being uninstalled
 * (ES_NOT_RUNNING). */
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

/* ---- pins.c: the pinned tracer's lifecycle ----
 *
 * Installing or upgrading is three calls around the loader of each language:
 *
 *   es_pins_init(&p); es_pins_begin(&p, root, &cur, &e)   lock, mount, decide
 *   ES_PLAN_INSTALL: load a tracer; es_pins_install(&p, &fds, &cur, &e)
 *   ES_PLAN_UPGRADE: load one on p.reuse's maps; es_pins_upgrade(&p, &fds, &cur, &e)
 *   es_pins_end(&p)                                           always: unlock
 *
 * Racing callers, in any process, serialize on an flock of the root; a caller
 * killed at any step leaves pins that the next es_pins_begin completes.
 */

#define ES_NMAPS 8
#define ES_NPROGS 2
#define ES_FORMAT_RETIRED UINT32_MAX /* in the pinned meta: Uninstall is removing the pins */

/* The maps in pin order (meta last), as bpf/exitsnoop.bpf.c names them. */
enum { ES_MAP_TASKS, ES_MAP_EVENTS, ES_MAP_REFS, ES_MAP_STATS, ES_MAP_NOTIFY, ES_MAP_WAKE, ES_MAP_TRACE, ES_MAP_META };
extern const char *const es_map_pins[ES_NMAPS];
/* The programs (the exit program, its fallback on sched_process_free), their pins and their links' pins. */
extern const char *const es_prog_names[ES_NPROGS];
extern const char *const es_prog_pins[ES_NPROGS];
extern const char *const es_link_pins[ES_NPROGS];

/* A tracer's fds: what a loader gives, or es_pins_open (links -1). */
struct es_tracer_fds {
	int maps[ES_NMAPS];
	int progs[ES_NPROGS];
	int links[ES_NPROGS];
};

enum es_plan { ES_PLAN_RUNNING, ES_PLAN_INSTALL, ES_PLAN_UPGRADE };

struct es_pins {
	int lock;              /* the root's flock */
	int plan;              /* enum es_plan, set by es_pins_begin */
	int reuse[ES_NMAPS];   /* ES_PLAN_UPGRADE: the pinned maps, for the loader to reuse */
	char dir[PATH_MAX];    /* the pin directory */
};

/* es_pin_dir writes the pin directory of root into dir (PATH_MAX bytes);
 * ES_INVALID for an empty root, or one too long for its pins' paths. */
int es_pin_dir(const char *root, char *dir, struct es_err *e);
void es_pins_init(struct es_pins *p);
int es_pins_begin(struct es_pins *p, const char *root, const struct exitsnoop_meta *cur, struct es_err *e);
int es_pins_install(struct es_pins *p, const struct es_tracer_fds *t, const struct exitsnoop_meta *cur,
		    struct es_err *e);
int es_pins_upgrade(struct es_pins *p, const struct es_tracer_fds *t, const struct exitsnoop_meta *cur,
		    struct es_err *e);
void es_pins_end(struct es_pins *p);
/* es_pins_reuse opens the maps pinned in dir into p->reuse, for an upgrade
 * without es_pins_begin (the caller holds the lock, or is a test). */
int es_pins_reuse(struct es_pins *p, const char *dir, struct es_err *e);
/* es_read_pinned_meta reads the meta of the pins in dir (ES_NOT_INSTALLED: none;
 * format 0: a meta of another layout). */
int es_read_pinned_meta(const char *dir, struct exitsnoop_meta *m, struct es_err *e);
bool es_has_pins(const char *dir);
bool es_on_bpffs(const char *path);
/* es_pins_running checks that the pins in dir run: each link pinned and
 * attached, and with exact, attaching the program pinned beside it. */
int es_pins_running(const char *dir, bool exact, struct es_err *e);
/* es_pins_open opens the maps and programs pinned under root and checks their
 * format and that they run. */
int es_pins_open(const char *root, const struct exitsnoop_meta *cur, struct es_tracer_fds *t, struct es_err *e);
/* es_uninstall detaches the tracer pinned under root and removes its pins. */
int es_uninstall(const char *root, struct es_err *e);
int es_write_meta(int fd, const struct exitsnoop_meta *m, struct es_err *e);
/* es_close_fds closes every fd >= 0 of t and sets it to -1. */
void es_close_fds(struct es_tracer_fds *t);

/* ---- wait.c: what Wait decides while no event is there ---- */

/* How long Wait keeps waiting after it saw the traced process reaped without an
 * event: the fallback program runs from an RCU callback after the release. Where
 * that callback may be lazy, Wait then has every queued callback run
 * (es_rcu_flushed), or, where it cannot (the knob is missing or read-only), waits
 * ES_LAZY_GRACE_NS: lazy callbacks wait 10 s at most. */
#define ES_GONE_GRACE_NS 500000000LL
#define ES_LAZY_GRACE_NS 12000000000LL

/* es_no_event_yet decides, for trace ID id without an event, whether one can
 * still come: 1 if it appeared meanwhile (*ev), 0 to go on waiting, or an error:
 * ES_NOT_TRACED, or ES_LOST with *ref saying whose and why (its fate).
 * *gone_since_ns (CLOCK_MONOTONIC, 0 at first) is when the caller first saw the
 * process reaped; now_ns is the time now. */
int es_no_event_yet(const struct es_core *c, uint64_t id, bool host_pidns, int64_t now_ns, int64_t *gone_since_ns,
		    struct exit_status *ev, struct trace_ref *ref, struct es_err *e);
/* es_rcu_lazy reports whether call_rcu may hold callbacks back here (lazy RCU). */
bool es_rcu_lazy(void);
/* es_rcu_flushed reports whether every RCU callback queued before since_ns (CLOCK_MONOTONIC)
 * has run, lazy ones included: 1, 0 not yet (a barrier, rcutree.do_rcu_barrier, runs in
 * a thread: started at now_ns if none ran), or a negative errno where none can run. */
int es_rcu_flushed(int64_t since_ns, int64_t now_ns);
/* es_child_status reads the wait status of pidfd's process if it is an exited
 * child of the caller that is not reaped yet (1), leaving it unreaped; else 0. */
int es_child_status(int pidfd, uint32_t *status);
/* es_fate_cause says in words why an exit of that fate was not recorded. */
const char *es_fate_cause(uint32_t fate);

/* ---- stats.c: the tracer's counters ---- */

/* The counters summed over CPUs, and the programs' skipped runs (5.12+). */
struct es_stats {
	struct es_kernel_stats k;
	uint64_t missed;
};

/* es_possible_cpus measures how many per-CPU values the kernel copies from the
 * stats map; the CPU list in the file possible (the kernel's cpulist format,
 * /sys/devices/system/cpu/possible) must count as many, where it exists. */
int es_possible_cpus(int stats_fd, const char *possible, int *ncpu, struct es_err *e);
/* es_count_cpus counts the CPUs of a list such as "0-3,5": 0 or -EINVAL. */
int es_count_cpus(const char *list, int *n);
/* es_stats sums the stats map's ncpu values and the programs' recursion_misses. */
int es_stats(int stats_fd, const int *progs, int nprogs, int ncpu, struct es_stats *sum, struct es_err *e);

/* ---- proc.c: what Trace reads of /proc ---- */

/* es_read_file reads the start of a small file (/proc, /sys) into buf, NUL-
 * terminated: the length read, or a negative errno. */
ssize_t es_read_file(const char *path, char *buf, size_t size);
/* es_stat_open opens /proc/<pid>/stat: its reads follow that process, not the
 * pid, and fail with ES_NO_PROCESS once it is reaped. A new fd, or < 0. */
int es_stat_open(uint32_t pid, struct es_err *e);
int es_stat_read(int fd, struct es_proc *p, struct es_err *e);
/* es_stat_parse parses a stat line's fields after "pid (comm) ". */
int es_stat_parse(const char *b, size_t n, struct es_proc *p, struct es_err *e);
/* es_proc_gone: the process has exited as a whole (a zombie leader, no thread left). */
bool es_proc_gone(const struct es_proc *p);
/* es_proc_exiting reports whether every thread of process pid, whose leader's
 * stat is p, is in do_exit (PF_EXITING, set before the thread decrements
 * signal->live and so before the last one's sched_process_exit): 1, or 0 if one
 * is not (the process exits later, or never), or < 0. Reads each thread's stat
 * when the leader has exited alone (pthread_exit, or first of an exit_group). */
#define ES_PF_EXITING 0x4
int es_proc_exiting(uint32_t pid, const struct es_proc *p, struct es_err *e);
/* es_pidns_of reads the device and inode of pid's pid namespace. */
int es_pidns_of(uint32_t pid, uint64_t *dev, uint64_t *ino, struct es_err *e);
/* es_check_leader is pidfd_open's check that pid is a process, from /proc/<pid>/status. */
int es_check_leader(uint32_t pid, struct es_err *e);
/* es_same_start compares start times read in time namespaces with boottime
 * offsets off_a and off_b (ns): exactly when the offsets are equal or /proc
 * left them out (5.10 does; 5.11+ adds the reader's), else to the tick that
 * rounding may cost. */
bool es_same_start(uint64_t ticks_a, int64_t off_a, uint64_t ticks_b, int64_t off_b);

/* ---- store.c: what opening a store checks and reads ---- */

/* es_check_layout: the maps' key and value sizes are this build's records'
 * (the kernel copies value_size bytes into them); ES_INCOMPATIBLE otherwise. */
int es_check_layout(const struct es_tracer_fds *t, struct es_err *e);
/* es_boottime_offset reads this process's time namespace boottime offset (5.6+,
 * CONFIG_TIME_NS; 0 without): /proc/<pid>/stat's start times include it. */
int es_boottime_offset(int64_t *ns, struct es_err *e);
/* es_in_initial_pidns: this process sees the host's pids. */
bool es_in_initial_pidns(void);
/* es_read_meta_fd reads the meta map fd (p names it in errors); one of another
 * layout reads as format 0. */
int es_read_meta_fd(int fd, const char *p, struct exitsnoop_meta *m, struct es_err *e);

/* ---- err.c ---- */

/* es_kind_words: the words of an error of kind (the errno's for ES_ERRNO),
 * as the Go package's sentinel errors say them. */
const char *es_kind_words(int kind, int errnum);

/* es_fail fills *e and returns -errnum; _suffix adds words after the error's,
 * _hint what a permission error lacks for op (enum es_perm). */
int es_fail(struct es_err *e, int kind, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int es_fail_suffix(struct es_err *e, int kind, int errnum, const char *suffix, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
int es_fail_hint(struct es_err *e, int kind, int errnum, int op, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

enum es_perm {
	ES_PERM_LOAD,      /* create maps, load and attach programs (and probe features) */
	ES_PERM_CREATE,    /* create the bpffs root or the pin directory, or pin in it */
	ES_PERM_MOUNT,     /* mount a bpffs on the pin directory */
	ES_PERM_OPEN_PINS, /* open pins (bpf_obj_get) */
};

/* es_perm_hint says, as " (needs ...)", what op lacks when errnum is a
 * permission error and the caller lacks the capability; NULL otherwise. */
const char *es_perm_hint(int op, int errnum);

#endif /* EXITSNOOP_CORE_H */
