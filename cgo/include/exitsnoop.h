/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * exitsnoop.h - the C interface of exitsnoop (libexitsnoop.a).
 *
 * exitsnoop records, inside the kernel, the wait status of chosen processes.
 * A BPF program on the sched_process_exit tracepoint sees every exit; when the
 * last thread of a traced process exits, it stores the status waitpid(2) would
 * report under a trace ID that you chose when you traced it. A process that is
 * not the parent, or that was not running when the traced process died, reads
 * it from the store afterwards.
 *
 * The same store, kernel records and guarantees as the Go package
 * exitsnoop.dev/exitsnoop (see its doc), without a Go runtime: both are built
 * on one C core (internal/core), so a tracer pinned by either is read, written
 * and upgraded by the other.
 *
 * BUILD AND LINK
 *
 *   cc prog.c $(pkg-config --cflags --libs exitsnoop)
 *   cc prog.c -I<dir>/include <dir>/libexitsnoop.a -lpthread      (by hand)
 *
 * libexitsnoop.a holds everything it needs (libbpf, libelf and zlib): it needs
 * only libc, and links with -static as well. Every symbol it defines for you
 * starts with "exitsnoop_"; the others inside it (libbpf, libelf, zlib) are
 * local to the archive and cannot clash with copies of those libraries your
 * program links.
 *
 * Needs Linux 5.8+ with BTF, and root or CAP_BPF + CAP_PERFMON at run time
 * (installing a pinned tracer mounts a bpffs: CAP_SYS_ADMIN).
 *
 * CONVENTIONS (they hold for every function below)
 *
 * - Return value: 0 on success, or a negative errno (-EINVAL, -ENOENT, ...).
 *   On failure errno is set to the same (positive) value, and
 *   exitsnoop_last_error() describes the failure in words. No function aborts
 *   or exits the process, whatever it is given. (libbpf may print warnings on
 *   stderr when the BPF program fails to load; the verifier's reason for
 *   refusing it is in exitsnoop_last_error().)
 * - Errors:
 *     -EINVAL      a NULL pointer where one is required, pid 0, an options
 *                  struct with a bad sz or unknown non-zero trailing bytes, a
 *                  bad output size, a descriptor that is not a pidfd, a
 *                  pointer to memory that is not an exitsnoop_store handle
 *                  (a freed handle is undefined behaviour, as with free(3))
 *     -EBADF       the store was closed (exitsnoop_store_close)
 *     -ENOENT      no tracing entry for the pid / no event for the trace ID
 *     -EEXIST      the pid is traced already / an event for the ID exists
 *     -E2BIG       the map is full (capacity: struct exitsnoop_open_opts)
 *     -ESRCH       the pid names no process, or no longer the one meant
 *     -ETIMEDOUT   exitsnoop_store_wait: the timeout passed first
 *     -ENODATA     exitsnoop_store_wait: the traced process is gone and its
 *                  exit was not recorded (map full, or missed by the kernel:
 *                  see struct exitsnoop_stats); no event will come
 *     -EXDEV       exitsnoop_store_trace: the process is not in info->pidns,
 *                  or the caller is not in the host's pid namespace
 *     -ENOPKG      no tracer is pinned under the bpffs root (install it with
 *                  exitsnoop_ensure_running or `exitsnoop install`)
 *     -ENOLINK     the pins under the root have no running program (an
 *                  install or upgrade killed midway, a removed link pin):
 *                  exitsnoop_ensure_running repairs them, keeping their maps
 *     -EPROTO      the pins under the root are of an incompatible format
 *     -EOPNOTSUPP  the kernel lacks a feature exitsnoop needs (5.8+, BTF)
 *     -EPERM, -EACCES, -ENOMEM, ...  from the kernel, as is
 *     -EIO         any other failure (exitsnoop_last_error() says which)
 * - Pointers: the library never keeps a pointer you pass beyond the call; input
 *   buffers stay yours, output buffers are yours and filled only on success
 *   (except where stated). Strings are NUL-terminated. The only memory the
 *   library hands you is the exitsnoop_store handle, which you release with
 *   exitsnoop_store_free().
 * - Threads: every function may be called from any thread, concurrently, also
 *   on one handle -- except exitsnoop_store_free(), which must be the last call
 *   on its handle (no call on that handle may run during or after it). Calls
 *   may block briefly (BPF syscalls, /proc reads); exitsnoop_store_wait blocks
 *   until its timeout.
 * - The library starts no thread, installs no signal handler and runs no
 *   constructor; it keeps no state outside its handles but each thread's last
 *   error message (libbpf, inside, raises RLIMIT_MEMLOCK on kernels before 5.11,
 *   which charge BPF memory to it). The child of a fork() may use it, with new
 *   handles, or with those it inherited if no other thread of the parent was in
 *   a call on them at the fork (their locks would stay held in the child, as
 *   with any library that locks); a handle's descriptors are shared with the
 *   parent, as any fd is. Every descriptor it opens is close-on-exec.
 *
 * COMPATIBILITY
 *
 * Structs passed by pointer with a size (struct exitsnoop_open_opts, struct
 * exitsnoop_stats) can grow at their end in later versions without breaking
 * programs built against this header, as in libbpf: an options struct starts
 * with its size (sz), declared with EXITSNOOP_OPTS() so that every field you do
 * not name is zero (zero means "default"); the library takes the defaults for
 * fields past your sz, and refuses, with -EINVAL, non-zero bytes past the
 * fields it knows. The task info and exit status structs mirror kernel records
 * and do not change.
 */
#ifndef EXITSNOOP_H
#define EXITSNOOP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memset, for EXITSNOOP_OPTS */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define EXITSNOOP_API __attribute__((visibility("default")))
#else
#define EXITSNOOP_API
#endif

#define EXITSNOOP_VERSION_MAJOR 1
#define EXITSNOOP_VERSION_MINOR 1

/* Default number of traced processes, and of unread events, a tracer holds. */
#define EXITSNOOP_DEFAULT_CAPACITY 65536

/*
 * A handle on a running tracer's maps. Opaque: you get one from
 * exitsnoop_store_open(), exitsnoop_store_open_pinned() or
 * exitsnoop_store_attach_private(), and give it back to exitsnoop_store_free().
 */
typedef struct exitsnoop_store exitsnoop_store;

/* A pid namespace: the st_dev and st_ino of /proc/<pid>/ns/pid. */
struct exitsnoop_pidns_info {
	uint64_t dev;
	uint64_t ino;
};

/* How a process is traced (input of trace, output of get_tracing_task). */
struct exitsnoop_task_info {
	/* Yours: the key the exit is recorded under. */
	uint64_t trace_id;
	/*
	 * The pid namespace the process must be in; all zero (the usual)
	 * matches any. exitsnoop_store_trace checks it (-EXDEV otherwise): a
	 * process never changes pid namespace.
	 */
	struct exitsnoop_pidns_info pidns;
};

/* An exit, as the kernel recorded it (or exitsnoop_store_record_wait_status). */
struct exitsnoop_exit_status {
	/* The process's pid as the host's (initial) pid namespace sees it. */
	uint32_t pid;
	/*
	 * The raw wait status, as waitpid(2) reports it: decode it with the
	 * <sys/wait.h> macros (WIFEXITED, WEXITSTATUS, WIFSIGNALED, WTERMSIG,
	 * WCOREDUMP). exit(3) gives 3 << 8; SIGKILL gives 9.
	 */
	int32_t exit_code;
	/* Start of the process, ns since boot (CLOCK_BOOTTIME); 0 if unknown. */
	uint64_t start_boottime;
	/* The exit, CLOCK_BOOTTIME in ns (as start_boottime; the seed used CLOCK_MONOTONIC). */
	uint64_t exited_time;
};

/*
 * The tracer's counters, summed over CPUs, since the tracer was loaded (for a
 * pinned tracer: installed). Shared by every store of one tracer. May grow:
 * pass sizeof(struct exitsnoop_stats) to exitsnoop_store_stats().
 */
struct exitsnoop_stats {
	uint64_t exits;              /* exits of traced processes (last thread gone) */
	uint64_t recorded;           /* events written */
	uint64_t dropped;            /* exits lost: the event map was full */
	uint64_t duplicate;          /* not recorded: an event for the ID existed */
	uint64_t namespace_mismatch; /* 0: trace checks the pid namespace (kept for ABI) */
	uint64_t pid_reused;         /* not recorded: a reuse of a traced pid */
	uint64_t notify_lost;        /* recorded, but the wake-up of waiters was lost */
	uint64_t recovered;          /* recorded by the fallback when the process was reaped */
	uint64_t missed;             /* program runs the kernel skipped (5.12+): an exit is
					lost only when both programs skipped it */
};

/*
 * Options of exitsnoop_store_open(). Declare with EXITSNOOP_OPTS:
 *
 *   EXITSNOOP_OPTS(exitsnoop_open_opts, opts, .bpffs_root = "/run/myrt");
 *   err = exitsnoop_store_open(&opts, &store);
 */
struct exitsnoop_open_opts {
	/* sizeof(struct exitsnoop_open_opts); EXITSNOOP_OPTS sets it. */
	size_t sz;
	/*
	 * Where the tracer is pinned: it is installed there first if needed
	 * (as exitsnoop_ensure_running), runs until exitsnoop_uninstall()
	 * whatever happens to your process, and is shared with every store
	 * opened on the same root. Read during the call only.
	 * NULL or "": a private tracer, that records only while the store is
	 * open (as exitsnoop_store_attach_private).
	 */
	const char *bpffs_root;
	/*
	 * How many processes can be traced at once, and how many events can
	 * wait to be read; 0: EXITSNOOP_DEFAULT_CAPACITY. A tracer that is
	 * pinned already keeps the sizes it was installed with.
	 */
	uint32_t max_tracing_tasks;
	uint32_t max_exited_events;
	size_t :0;
};
#define exitsnoop_open_opts__last_field max_exited_events

/*
 * EXITSNOOP_OPTS(TYPE, NAME, .field = value, ...) declares struct TYPE NAME with
 * every byte zero, sz set to sizeof(struct TYPE), and the fields you name set.
 * (GNU C statement expression, as libbpf's LIBBPF_OPTS; gcc and clang have it.)
 */
#define EXITSNOOP_OPTS(TYPE, NAME, ...)                                        \
	struct TYPE NAME = ({                                                  \
		memset(&NAME, 0, sizeof(struct TYPE));                         \
		(struct TYPE){                                                 \
			.sz = sizeof(struct TYPE),                             \
			__VA_ARGS__                                            \
		};                                                             \
	})

/* ---- Installing a pinned tracer ---------------------------------------- */

/*
 * Makes sure a tracer is pinned under bpffs_root (e.g. "/sys/fs/bpf" or
 * "/run/myruntime"), loading and pinning it if needed, so that it records
 * exits while no process of yours runs. Idempotent; safe to call from several
 * processes at once; upgrades pins of an older build of the same format and
 * keeps their events. A bpffs is mounted at <bpffs_root>/.exitsnoop.bpf unless
 * bpffs_root is on one (then the pins go in <bpffs_root>/exitsnoop).
 * bpffs_root: yours, read during the call. -EINVAL if NULL or "".
 */
EXITSNOOP_API int exitsnoop_ensure_running(const char *bpffs_root);

/*
 * Detaches the tracer pinned under bpffs_root and removes its pins (and the
 * bpffs exitsnoop_ensure_running mounted). Unread events are lost. Stores
 * still open on it keep working on the maps, but nothing new is recorded.
 * -ENOPKG if none is pinned there.
 */
EXITSNOOP_API int exitsnoop_uninstall(const char *bpffs_root);

/* ---- Opening a store ------------------------------------------------------ */

/*
 * Opens a store, per opts (NULL: all defaults, i.e. a private tracer). On
 * success *store is a new handle, yours until exitsnoop_store_free(); on
 * failure *store is set to NULL (when store is not NULL).
 */
EXITSNOOP_API int exitsnoop_store_open(const struct exitsnoop_open_opts *opts,
				       exitsnoop_store **store);

/*
 * Opens the tracer already pinned under bpffs_root (by
 * exitsnoop_ensure_running, or `exitsnoop install`, in any process).
 * -ENOPKG if none is pinned there; -EPROTO if the pins are of another format;
 * -ENOLINK if they have no running program. *store as exitsnoop_store_open.
 */
EXITSNOOP_API int exitsnoop_store_open_pinned(const char *bpffs_root,
					      exitsnoop_store **store);

/*
 * Loads a private tracer, not pinned: it records only while the store is open,
 * and is detached by exitsnoop_store_close/free. For short-lived programs
 * tracing their own children. *store as exitsnoop_store_open.
 */
EXITSNOOP_API int exitsnoop_store_attach_private(exitsnoop_store **store);

/* ---- Tracing -------------------------------------------------------------- */

/*
 * Starts tracing pid: when its last thread exits, the kernel records its
 * status under info->trace_id. On success an event will come, or
 * exitsnoop_store_wait will say why not (-ENODATA). The kernel checks the
 * process's start time, so a later reuse of the pid never produces an event;
 * but a pid reused before the call cannot be told apart (use
 * exitsnoop_store_trace_pidfd). info: yours, read during the call.
 * -ESRCH: no such process, or it exited before tracing began (no event will
 * come); -EEXIST: pid is traced already, or trace_id is traced or has an
 * unread event; -E2BIG: a map is full; -EINVAL: pid 0, info NULL, or pid is a
 * thread, not a process; -EXDEV: see the errors above.
 */
EXITSNOOP_API int exitsnoop_store_trace(exitsnoop_store *store, uint32_t pid,
					const struct exitsnoop_task_info *info);

/*
 * exitsnoop_store_trace of the process pidfd refers to (pidfd_open(2),
 * clone3/CLONE_PIDFD). A pidfd cannot be reused: if its process has exited,
 * this fails with -ESRCH even when its pid names another process now.
 * The pidfd stays yours (not closed). -EINVAL if pidfd is not an open pidfd.
 */
EXITSNOOP_API int exitsnoop_store_trace_pidfd(exitsnoop_store *store, int pidfd,
					      const struct exitsnoop_task_info *info);

/*
 * Copies into *info how pid is traced. -ENOENT if it is not (never traced,
 * tracing deleted, or it exited: the entry became an event).
 */
EXITSNOOP_API int exitsnoop_store_get_tracing_task(exitsnoop_store *store, uint32_t pid,
						   struct exitsnoop_task_info *info);

/* Stops tracing pid. -ENOENT if it is not traced. */
EXITSNOOP_API int exitsnoop_store_delete_tracing_task(exitsnoop_store *store, uint32_t pid);

/*
 * Records an exit you learned another way (from waitpid, as the parent), so
 * that readers have one source of truth: an event under trace_id with pid,
 * the raw wait status and the current CLOCK_BOOTTIME time (start_boottime 0).
 * A tracing entry of pid with the same trace ID is removed. -EEXIST if an event
 * for trace_id exists already (the kernel's record wins).
 */
EXITSNOOP_API int exitsnoop_store_record_wait_status(exitsnoop_store *store, uint64_t trace_id,
						     uint32_t pid, int wait_status);

/* ---- Reading exits -------------------------------------------------------- */

/*
 * Copies the event recorded under trace_id into *status; it stays in the store
 * until exitsnoop_store_delete_exited_event. -ENOENT: none (yet).
 */
EXITSNOOP_API int exitsnoop_store_get_exited_event(exitsnoop_store *store, uint64_t trace_id,
						   struct exitsnoop_exit_status *status);

/* Removes the event of trace_id. -ENOENT if there is none. */
EXITSNOOP_API int exitsnoop_store_delete_exited_event(exitsnoop_store *store, uint64_t trace_id);

/*
 * Waits until an event is recorded under trace_id and copies it into *status
 * (without deleting it): at once if it is there already, else as soon as the
 * kernel records it (woken by a pidfd of the traced process; where pidfd_open is
 * refused, by a seccomp filter or outside the host's pid namespace, it looks
 * every 100 ms; an event another thread records with
 * exitsnoop_store_record_wait_status before the process exits is seen within
 * 250 ms).
 * timeout_ms: < 0 waits without limit; 0 only looks; > 0 waits at most that
 * long, then returns -ETIMEDOUT. It always ends: -ENOENT at once when trace_id
 * is neither traced nor recorded, -ENODATA within a second of the wait seeing
 * the traced process reaped when its exit was not recorded (within 13 s where
 * RCU callbacks may be lazy and the caller cannot write rcutree.do_rcu_barrier:
 * not root, a read-only /sys, or a kernel without it; the library runs one
 * barrier at a time, in a thread of its own). Closing the store
 * (exitsnoop_store_close, from another thread) ends the wait with -EBADF. Many
 * threads may wait at once.
 */
EXITSNOOP_API int exitsnoop_store_wait(exitsnoop_store *store, uint64_t trace_id, int timeout_ms,
				       struct exitsnoop_exit_status *status);

/*
 * Event loops. exitsnoop_store_epoll_fd returns an fd (an epoll fd, owned by the
 * store: closed by exitsnoop_store_close) that polls readable when exits may be
 * ready; add it to your loop (epoll, poll, glib...) for reading, and when it is
 * readable call exitsnoop_store_consume, which calls fn(ctx, trace_id, status)
 * for each exit recorded since the last call (every exit the tracer records,
 * in the order recorded, of any trace ID; the events stay in the store) and
 * returns how many, without blocking. Consume also when the fd is readable
 * without exits: it re-arms the kernel's wake-up, and a one-shot timer of
 * 100 ms that ends a sleep a wake-up cannot (another reader of the same tracer
 * can hide records from the fd's readiness): an idle loop wakes 10 times a
 * second. fn runs with the store locked: it must not close or free the store,
 * nor call exitsnoop_store_epoll_fd or consume, and a close from another thread
 * waits for it to return. One reader per store: consume from one thread at a
 * time.
 * An exit is recorded and then notified: a consumer that falls far behind
 * loses notifications (the events stay: exitsnoop_store_get_exited_event).
 */
typedef void (*exitsnoop_event_fn)(void *ctx, uint64_t trace_id, const struct exitsnoop_exit_status *status);
EXITSNOOP_API int exitsnoop_store_epoll_fd(exitsnoop_store *store);
EXITSNOOP_API int exitsnoop_store_consume(exitsnoop_store *store, exitsnoop_event_fn fn, void *ctx);

/*
 * Copies the tracer's counters into *stats. stats_sz: sizeof(*stats) as your
 * header knows it (a positive multiple of 8, at most 4096): fields this library
 * does not know are set to 0, fields your struct lacks are not written.
 */
EXITSNOOP_API int exitsnoop_store_stats(exitsnoop_store *store, struct exitsnoop_stats *stats,
					size_t stats_sz);

/*
 * The sizes of the tracing map and of the event map (each out pointer may be
 * NULL if you do not want it; not both).
 */
EXITSNOOP_API int exitsnoop_store_capacity(exitsnoop_store *store, uint32_t *max_tracing_tasks,
					   uint32_t *max_exited_events);

/* ---- Releasing ------------------------------------------------------------ */

/*
 * Releases the store's kernel resources (map descriptors; a private tracer is
 * detached; a pinned one keeps running) and wakes its waiters with -EBADF. The
 * handle stays valid: every later call on it returns -EBADF, until you free
 * it. Idempotent: closing a closed store returns 0. Safe while other threads
 * use the store.
 */
EXITSNOOP_API int exitsnoop_store_close(exitsnoop_store *store);

/*
 * Closes the store if it is open, and frees the handle: store is invalid
 * afterwards, and no call on it may run concurrently. NULL is accepted (returns
 * 0). Returns what closing returned; the handle is freed either way.
 */
EXITSNOOP_API int exitsnoop_store_free(exitsnoop_store *store);

/* ---- Helpers -------------------------------------------------------------- */

/* Copies the pid namespace of pid into *pidns (for exitsnoop_task_info). */
EXITSNOOP_API int exitsnoop_pidns_of(uint32_t pid, struct exitsnoop_pidns_info *pidns);

/*
 * Copies into buf (size bytes, NUL-terminated, truncated to fit) the message of
 * the last exitsnoop_ call that failed on the calling thread ("" if none did).
 * Messages are per thread; a successful call leaves it as it was.
 * -EINVAL if buf is NULL or size is 0.
 */
EXITSNOOP_API int exitsnoop_last_error(char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* EXITSNOOP_H */
