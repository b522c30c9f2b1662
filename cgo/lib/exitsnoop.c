// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The public functions of libexitsnoop.a (cgo/include/exitsnoop.h). Each checks
 * its arguments here, so that bad input never reaches the store, then does its
 * work on the handle's store (open.c, listen.c) with internal/core's protocols.
 *
 * Compiled with -fvisibility=hidden: only the functions marked EXITSNOOP_API in
 * the header have default visibility.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>
#include <bpf/bpf.h>

#include "exitsnoop.h"
#include "lib.h"

/* "exitsnoo": a live handle. A freed one is overwritten with DEAD first. */
#define HANDLE_MAGIC 0x6f6f6e7374697865ULL
#define HANDLE_DEAD 0xdeaddeaddeaddeadULL

struct exitsnoop_store {
	uint64_t magic;
	struct store s;
};

/* Options structs larger than this are refused: sz is garbage, not a future struct. */
#define OPTS_MAX_SZ 4096

#define offsetofend(TYPE, FIELD) (offsetof(TYPE, FIELD) + sizeof(((TYPE *)0)->FIELD))
#define OPTS_HAS(opts, TYPE, FIELD) ((opts) && (opts)->sz >= offsetofend(struct TYPE, FIELD))
#define OPTS_GET(opts, TYPE, FIELD, fallback) (OPTS_HAS(opts, TYPE, FIELD) ? (opts)->FIELD : (fallback))

/* ---- Errors ---------------------------------------------------------------- */

#define fail lib_failf

/* done is every public function's return: it sets errno as the header says. */
static int done(int ret)
{
	if (ret < 0)
		errno = -ret;
	return ret;
}

int exitsnoop_last_error(char *buf, size_t size)
{
	if (!buf || size == 0)
		return done(-EINVAL); /* not recorded: it would overwrite the message asked for */
	snprintf(buf, size, "%s", lib_last_error());
	return 0;
}

/* ---- Argument checks ------------------------------------------------------ */

/* handle gets the store of a live handle, or fails with -EINVAL. */
static int handle(exitsnoop_store *store, const char *fn, struct store **s)
{
	if (!store)
		return fail(-EINVAL, "%s: store is NULL", fn);
	if (store->magic != HANDLE_MAGIC)
		return fail(-EINVAL, "%s: %p is not an exitsnoop_store handle (freed?)", fn, (const void *)store);
	*s = &store->s;
	return 0;
}

/* enter is handle and store_enter: the store, open and read-locked. */
static int enter(exitsnoop_store *store, const char *fn, struct store **s)
{
	int err = handle(store, fn, s);

	return err ? err : store_enter(*s);
}

static bool all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * opts_check is libbpf's OPTS_VALID: sz covers at least sz itself, and every
 * byte past the last field this library knows (known_end) is zero.
 */
static int opts_check(const void *opts, size_t user_sz, size_t known_end, const char *type, const char *fn)
{
	if (!opts)
		return 0;
	if (user_sz < sizeof(size_t))
		return fail(-EINVAL, "%s: struct %s sz %zu is too small (set it with EXITSNOOP_OPTS)", fn, type, user_sz);
	if (user_sz > OPTS_MAX_SZ)
		return fail(-EINVAL, "%s: struct %s sz %zu is too large (set it with EXITSNOOP_OPTS)", fn, type, user_sz);
	if (user_sz > known_end && !all_zero((const char *)opts + known_end, user_sz - known_end))
		return fail(-EINVAL, "%s: struct %s has non-zero bytes past the fields this library knows "
				     "(%zu of %zu bytes known): fields of a newer version?", fn, type, known_end, user_sz);
	return 0;
}

/* ---- Installing ----------------------------------------------------------- */

int exitsnoop_ensure_running(const char *bpffs_root)
{
	if (!bpffs_root || !*bpffs_root)
		return done(fail(-EINVAL, "exitsnoop_ensure_running: bpffs_root is %s", bpffs_root ? "empty" : "NULL"));
	return done(lib_ensure_running(bpffs_root, 0, 0));
}

int exitsnoop_uninstall(const char *bpffs_root)
{
	if (!bpffs_root || !*bpffs_root)
		return done(fail(-EINVAL, "exitsnoop_uninstall: bpffs_root is %s", bpffs_root ? "empty" : "NULL"));
	return done(lib_uninstall(bpffs_root));
}

/* ---- Opening -------------------------------------------------------------- */

/* open_store makes a handle and opens its Go Store; *store is NULL on failure. */
static int open_store(int mode, const char *root, uint32_t max_tasks, uint32_t max_events,
		      exitsnoop_store **store)
{
	exitsnoop_store *h = calloc(1, sizeof(*h));
	int err;

	if (!h)
		return fail(-ENOMEM, "exitsnoop: allocating a store handle: out of memory");
	err = store_open(mode, root, max_tasks, max_events, &h->s);
	if (err < 0) {
		free(h);
		return err;
	}
	h->magic = HANDLE_MAGIC;
	*store = h;
	return 0;
}

int exitsnoop_store_open(const struct exitsnoop_open_opts *opts, exitsnoop_store **store)
{
	const char *fn = "exitsnoop_store_open";
	int err;

	if (!store)
		return done(fail(-EINVAL, "%s: store (the result pointer) is NULL", fn));
	*store = NULL;
	err = opts_check(opts, opts ? opts->sz : 0, offsetofend(struct exitsnoop_open_opts, exitsnoop_open_opts__last_field),
			 "exitsnoop_open_opts", fn);
	if (err)
		return done(err);
	return done(open_store(OPEN_OPTS, OPTS_GET(opts, exitsnoop_open_opts, bpffs_root, NULL),
			       OPTS_GET(opts, exitsnoop_open_opts, max_tracing_tasks, 0),
			       OPTS_GET(opts, exitsnoop_open_opts, max_exited_events, 0), store));
}

int exitsnoop_store_open_pinned(const char *bpffs_root, exitsnoop_store **store)
{
	const char *fn = "exitsnoop_store_open_pinned";

	if (!store)
		return done(fail(-EINVAL, "%s: store (the result pointer) is NULL", fn));
	*store = NULL;
	if (!bpffs_root || !*bpffs_root)
		return done(fail(-EINVAL, "%s: bpffs_root is %s", fn, bpffs_root ? "empty" : "NULL"));
	return done(open_store(OPEN_PINNED, bpffs_root, 0, 0, store));
}

int exitsnoop_store_attach_private(exitsnoop_store **store)
{
	if (!store)
		return done(fail(-EINVAL, "exitsnoop_store_attach_private: store (the result pointer) is NULL"));
	*store = NULL;
	return done(open_store(OPEN_PRIVATE, NULL, 0, 0, store));
}

/* ---- Tracing -------------------------------------------------------------- */

static void task_info(struct task_info *v, const struct exitsnoop_task_info *info)
{
	memset(v, 0, sizeof(*v));
	v->trace_id = info->trace_id;
	v->pidns_dev = info->pidns.dev;
	v->pidns_ino = info->pidns.ino;
}

int exitsnoop_store_trace(exitsnoop_store *store, uint32_t pid, const struct exitsnoop_task_info *info)
{
	const char *fn = "exitsnoop_store_trace";
	struct task_info v;
	struct store *s = NULL;
	struct es_err e;
	int err, pidfd = -1;

	if (!info)
		return done(handle(store, fn, &s) ?: fail(-EINVAL, "%s: info is NULL", fn));
	if (pid == 0)
		return done(handle(store, fn, &s) ?: fail(-EINVAL, "%s: pid is 0", fn));
	err = enter(store, fn, &s);
	if (err)
		return done(err);
	task_info(&v, info);
	err = es_pidfd_of(pid, &pidfd, &e);
	if (!err)
		err = es_trace(&s->core, pid, pidfd, &v, &e);
	if (pidfd >= 0)
		close(pidfd);
	store_leave(s);
	return done(err ? lib_failw(&e, "trace pid %u", pid) : 0);
}

int exitsnoop_store_trace_pidfd(exitsnoop_store *store, int pidfd, const struct exitsnoop_task_info *info)
{
	const char *fn = "exitsnoop_store_trace_pidfd";
	struct task_info v;
	struct store *s = NULL;
	struct es_err e;
	uint32_t pid;
	int err;

	if (!info)
		return done(handle(store, fn, &s) ?: fail(-EINVAL, "%s: info is NULL", fn));
	if (pidfd < 0)
		return done(handle(store, fn, &s) ?: fail(-EINVAL, "%s: pidfd %d is not a file descriptor", fn, pidfd));
	err = enter(store, fn, &s);
	if (err)
		return done(err);
	task_info(&v, info);
	err = es_pid_of_pidfd(pidfd, &pid, &e);
	if (err)
		err = lib_failw(&e, "trace pidfd %d", pidfd);
	else if (es_trace(&s->core, pid, pidfd, &v, &e))
		err = lib_failw(&e, "trace pidfd %d (pid %u)", pidfd, pid);
	store_leave(s);
	return done(err);
}

/* map_errno is a map operation's error in the package's words: key does not exist... */
static int map_fail(int err, const char *fmt, unsigned long long key)
{
	struct es_err e = { .kind = ES_ERRNO, .errnum = -err };

	return lib_failw(&e, fmt, key);
}

int exitsnoop_store_get_tracing_task(exitsnoop_store *store, uint32_t pid, struct exitsnoop_task_info *info)
{
	const char *fn = "exitsnoop_store_get_tracing_task";
	struct task_info v;
	struct store *s = NULL;
	int err;

	if (!info)
		return done(handle(store, fn, &s) ?: fail(-EINVAL, "%s: info is NULL", fn));
	err = enter(store, fn, &s);
	if (err)
		return done(err);
	err = bpf_map_lookup_elem(s->core.tasks, &pid, &v);
	store_leave(s);
	if (err)
		return done(map_fail(err, "get tracing task %llu", pid));
	info->trace_id = v.trace_id;
	info->pidns.dev = v.pidns_dev;
	info->pidns.ino = v.pidns_ino;
	return 0;
}

int exitsnoop_store_delete_tracing_task(exitsnoop_store *store, uint32_t pid)
{
	struct store *s = NULL;
	struct es_err e;
	int err = enter(store, "exitsnoop_store_delete_tracing_task", &s);

	if (err)
		return done(err);
	err = es_delete_tracing_task(&s->core, pid, &e);
	store_leave(s);
	return done(err ? lib_failw(&e, "delete tracing task %u", pid) : 0);
}

int exitsnoop_store_record_wait_status(exitsnoop_store *store, uint64_t trace_id, uint32_t pid, int wait_status)
{
	struct exit_status ev;
	struct store *s = NULL;
	struct es_err e;
	int err = enter(store, "exitsnoop_store_record_wait_status", &s);

	if (err)
		return done(err);
	err = es_record_wait_status(&s->core, trace_id, pid, (uint32_t)wait_status, &ev, &e);
	store_leave(s);
	return done(err ? lib_fail(&e) : 0);
}

/* ---- Reading -------------------------------------------------------------- */

int exitsnoop_store_get_exited_event(exitsnoop_store *store, uint64_t trace_id, struct exitsnoop_exit_status *status)
{
	const char *fn = "exitsnoop_store_get_exited_event";
	struct exit_status ev;
	struct store *s = NULL;
	int err;

	if (!status)
		return done(handle(store, fn, &s) ?: fail(-EINVAL, "%s: status is NULL", fn));
	err = enter(store, fn, &s);
	if (err)
		return done(err);
	err = bpf_map_lookup_elem(s->core.events, &trace_id, &ev);
	store_leave(s);
	if (err)
		return done(map_fail(err, "lookup event %llu", (unsigned long long)trace_id));
	status->pid = ev.pid;
	status->exit_code = ev.exit_code;
	status->start_boottime = ev.start_boottime;
	status->exited_time = ev.exited_time;
	return 0;
}

int exitsnoop_store_delete_exited_event(exitsnoop_store *store, uint64_t trace_id)
{
	struct store *s = NULL;
	struct es_err e;
	int err = enter(store, "exitsnoop_store_delete_exited_event", &s);

	if (err)
		return done(err);
	err = es_delete_event(&s->core, trace_id, &e);
	store_leave(s);
	return done(err ? lib_failw(&e, "delete event %llu", (unsigned long long)trace_id) : 0);
}

int exitsnoop_store_wait(exitsnoop_store *store, uint64_t trace_id, int timeout_ms, struct exitsnoop_exit_status *status)
{
	const char *fn = "exitsnoop_store_wait";
	struct exitsnoop_exit_status got = {0};
	struct store *s = NULL;
	int err = handle(store, fn, &s);

	if (err)
		return done(err);
	if (!status)
		return done(fail(-EINVAL, "%s: status is NULL", fn));
	err = store_wait(s, trace_id, timeout_ms, &got);
	if (err == 0)
		*status = got;
	return done(err);
}

int exitsnoop_store_epoll_fd(exitsnoop_store *store)
{
	struct store *s = NULL;
	int err = handle(store, "exitsnoop_store_epoll_fd", &s);

	return done(err ? err : store_epoll_fd(s));
}

int exitsnoop_store_consume(exitsnoop_store *store, exitsnoop_event_fn fn, void *ctx)
{
	struct store *s = NULL;
	int err = handle(store, "exitsnoop_store_consume", &s);

	if (err)
		return done(err);
	if (!fn)
		return done(fail(-EINVAL, "exitsnoop_store_consume: fn is NULL"));
	return done(store_consume(s, fn, ctx));
}

int exitsnoop_store_stats(exitsnoop_store *store, struct exitsnoop_stats *stats, size_t stats_sz)
{
	const char *fn = "exitsnoop_store_stats";
	struct exitsnoop_stats got = {0};
	struct es_stats sum;
	struct store *s = NULL;
	struct es_err e;
	int err;

	if (!stats)
		return done(handle(store, fn, &s) ?: fail(-EINVAL, "%s: stats is NULL", fn));
	if (stats_sz == 0 || stats_sz % sizeof(uint64_t) || stats_sz > OPTS_MAX_SZ)
		return done(handle(store, fn, &s) ?: fail(-EINVAL, "%s: stats_sz %zu is not sizeof(struct exitsnoop_stats) "
					  "(a positive multiple of 8, at most %d)", fn, stats_sz, OPTS_MAX_SZ));
	err = enter(store, fn, &s);
	if (err)
		return done(err);
	err = es_stats(s->fds.maps[ES_MAP_STATS], s->fds.progs, ES_NPROGS, s->ncpu, &sum, &e);
	store_leave(s);
	if (err)
		return done(lib_fail(&e));
	got.exits = sum.k.exits;
	got.recorded = sum.k.recorded;
	got.dropped = sum.k.dropped;
	got.duplicate = sum.k.duplicate;
	got.namespace_mismatch = sum.k.ns_mismatch;
	got.pid_reused = sum.k.stale;
	got.notify_lost = sum.k.notify_lost;
	got.recovered = sum.k.recovered;
	got.missed = sum.missed;
	if (stats_sz <= sizeof(got)) {
		memcpy(stats, &got, stats_sz);
	} else {
		memcpy(stats, &got, sizeof(got));
		memset((char *)stats + sizeof(got), 0, stats_sz - sizeof(got));
	}
	return 0;
}

int exitsnoop_store_capacity(exitsnoop_store *store, uint32_t *max_tracing_tasks, uint32_t *max_exited_events)
{
	const char *fn = "exitsnoop_store_capacity";
	struct bpf_map_info ti = {}, ei = {};
	uint32_t tsz = sizeof(ti), esz = sizeof(ei);
	struct store *s = NULL;
	int err;

	if (!max_tracing_tasks && !max_exited_events)
		return done(handle(store, fn, &s) ?: fail(-EINVAL, "%s: both out pointers are NULL", fn));
	err = enter(store, fn, &s);
	if (err)
		return done(err);
	err = bpf_map_get_info_by_fd(s->core.tasks, &ti, &tsz) ?: bpf_map_get_info_by_fd(s->core.events, &ei, &esz);
	store_leave(s);
	if (err)
		return done(fail(err, "%s: map info: %s", fn, strerror(-err)));
	if (max_tracing_tasks)
		*max_tracing_tasks = ti.max_entries;
	if (max_exited_events)
		*max_exited_events = ei.max_entries;
	return 0;
}

/* ---- Releasing ------------------------------------------------------------ */

int exitsnoop_store_close(exitsnoop_store *store)
{
	struct store *s = NULL;
	int err = handle(store, "exitsnoop_store_close", &s);

	return done(err ? err : store_close(s));
}

int exitsnoop_store_free(exitsnoop_store *store)
{
	struct store *s = NULL;
	int err;

	if (!store)
		return 0;
	err = handle(store, "exitsnoop_store_free", &s);
	if (err)
		return done(err); /* not ours, or freed already: leave it alone */
	err = store_free(s);
	store->magic = HANDLE_DEAD;
	free(store);
	return done(err);
}

/* ---- Helpers -------------------------------------------------------------- */

int exitsnoop_pidns_of(uint32_t pid, struct exitsnoop_pidns_info *pidns)
{
	const char *fn = "exitsnoop_pidns_of";
	struct exitsnoop_pidns_info got = {0};
	struct es_err e;
	int err;

	if (!pidns)
		return done(fail(-EINVAL, "%s: pidns is NULL", fn));
	if (pid == 0)
		return done(fail(-EINVAL, "%s: pid is 0", fn));
	err = es_pidns_of(pid, &got.dev, &got.ino, &e);
	if (err)
		return done(lib_failw(&e, "%s", fn));
	*pidns = got;
	return 0;
}
