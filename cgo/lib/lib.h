/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * lib.h - inside libexitsnoop.a: the store behind a handle (open.c), the
 * loader (loader.c) and the waits (listen.c), on the protocols of
 * internal/core (core.h) and the ring reader of internal/ringbuf (ring.h).
 */
#ifndef EXITSNOOP_LIB_H
#define EXITSNOOP_LIB_H

#include <pthread.h>
#include <sys/timerfd.h>
#include <stdbool.h>
#include <stdint.h>
#include "core.h"
#include "ring.h"
#include "exitsnoop.h"

/* lib_fail records e's message, in the C library's words, as the calling
 * thread's last error and returns -e->errnum. */
int lib_fail(const struct es_err *e);
/* lib_failw is lib_fail with words of the caller's first ("trace pid 42: ..."). */
int lib_failw(const struct es_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* lib_last_error is the calling thread's last error message. */
const char *lib_last_error(void);
/* lib_failf records a message of the library's own and returns err (< 0). */
int lib_failf(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- loader.c: libbpf opens, sizes, loads and attaches the embedded object ---- */

struct tracer;

/* tracer_load loads and attaches a tracer (reuse: the pinned maps to keep, or
 * NULL) and fills fds with its maps, programs and links (owned by the tracer). */
int tracer_load(uint32_t max_tasks, uint32_t max_events, const int *reuse, struct tracer **t,
		struct es_tracer_fds *fds, struct es_err *e);
/* tracer_close detaches and releases it (pinned maps and links live on). */
void tracer_close(struct tracer *t);
/* this_meta is this build's meta: format, pid buckets, build ID (the object's SHA-256). */
void this_meta(struct exitsnoop_meta *m);

/* ---- open.c ---- */

struct store {
	pthread_rwlock_t lock; /* read: every call; write: close */
	bool closed;
	int close_efd;         /* readable once closed: wakes waiters (closed by free) */
	struct es_tracer_fds fds;
	struct es_core core;
	void *refs;            /* pid_refs, mapped */
	int ncpu;
	struct tracer *owner;  /* a private tracer, or NULL */

	pthread_mutex_t loop_mu; /* the event loop's reader (listen.c) */
	bool loop_on;
	struct es_ring ring;
	void *wake;            /* notify_wake, mapped */
	int epfd, timerfd;
	struct itimerspec backstop; /* the timer consume sets */
};

enum open_mode { OPEN_OPTS, OPEN_PINNED, OPEN_PRIVATE };

int store_open(int mode, const char *root, uint32_t max_tasks, uint32_t max_events, struct store *s);
int store_close(struct store *s);
/* store_free closes s and releases what close leaves for free (the lock, close_efd). */
int store_free(struct store *s);
/* store_enter takes the read lock of an open store (-EBADF when closed). */
int store_enter(struct store *s);
void store_leave(struct store *s);

int lib_ensure_running(const char *root, uint32_t max_tasks, uint32_t max_events);
int lib_uninstall(const char *root);

/* ---- listen.c ---- */

int store_wait(struct store *s, uint64_t id, int timeout_ms, struct exitsnoop_exit_status *out);
int store_epoll_fd(struct store *s);
int store_consume(struct store *s, exitsnoop_event_fn fn, void *ctx);
/* loop_close releases the event loop's reader (with the write lock held). */
void loop_close(struct store *s);

#endif
