// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The public functions of libexitsnoop.a (cgo/include/exitsnoop.h). Each checks
 * its arguments here, in C, so that bad input never reaches Go, then calls the
 * Go function exported by main.go (exitsnoop__go_*), which does the work on the
 * exitsnoop.dev/exitsnoop Store the handle's ID names.
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

#include "exitsnoop.h"
#include "capi.h"
#include "_cgo_export.h"

/* "exitsnoo": a live handle. A freed one is overwritten with DEAD first. */
#define HANDLE_MAGIC 0x6f6f6e7374697865ULL
#define HANDLE_DEAD 0xdeaddeaddeaddeadULL

struct exitsnoop_store {
	uint64_t magic;
	uint64_t id; /* key of the Go handle table */
};

/* Options structs larger than this are refused: sz is garbage, not a future struct. */
#define OPTS_MAX_SZ 4096

#define offsetofend(TYPE, FIELD) (offsetof(TYPE, FIELD) + sizeof(((TYPE *)0)->FIELD))
#define OPTS_HAS(opts, TYPE, FIELD) ((opts) && (opts)->sz >= offsetofend(struct TYPE, FIELD))
#define OPTS_GET(opts, TYPE, FIELD, fallback) (OPTS_HAS(opts, TYPE, FIELD) ? (opts)->FIELD : (fallback))

/* ---- Errors ---------------------------------------------------------------- */

static __thread char last_error[512];

void exitsnoop__set_error(const char *msg, size_t len)
{
	if (len >= sizeof(last_error))
		len = sizeof(last_error) - 1;
	memcpy(last_error, msg, len);
	last_error[len] = '\0';
}

/* fail records msg (printf-style) as the last error and returns err (< 0). */
__attribute__((format(printf, 2, 3))) static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return err;
}

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
	snprintf(buf, size, "%s", last_error);
	return 0;
}

/* ---- Argument checks ------------------------------------------------------ */

/* handle_id gets the ID of a live handle, or fails with -EINVAL. */
static int handle_id(const exitsnoop_store *store, const char *fn, uint64_t *id)
{
	if (!store)
		return fail(-EINVAL, "%s: store is NULL", fn);
	if (store->magic != HANDLE_MAGIC)
		return fail(-EINVAL, "%s: %p is not an exitsnoop_store handle (freed?)", fn, (const void *)store);
	*id = store->id;
	return 0;
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
	return done(exitsnoop__go_ensure_running((char *)bpffs_root));
}

int exitsnoop_uninstall(const char *bpffs_root)
{
	if (!bpffs_root || !*bpffs_root)
		return done(fail(-EINVAL, "exitsnoop_uninstall: bpffs_root is %s", bpffs_root ? "empty" : "NULL"));
	return done(exitsnoop__go_uninstall((char *)bpffs_root));
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
	err = exitsnoop__go_open(mode, (char *)root, max_tasks, max_events, &h->id);
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
	return done(open_store(EXITSNOOP__OPEN, OPTS_GET(opts, exitsnoop_open_opts, bpffs_root, NULL),
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
	return done(open_store(EXITSNOOP__OPEN_PINNED, bpffs_root, 0, 0, store));
}

int exitsnoop_store_attach_private(exitsnoop_store **store)
{
	if (!store)
		return done(fail(-EINVAL, "exitsnoop_store_attach_private: store (the result pointer) is NULL"));
	*store = NULL;
	return done(open_store(EXITSNOOP__ATTACH_PRIVATE, NULL, 0, 0, store));
}

/* ---- Tracing -------------------------------------------------------------- */

int exitsnoop_store_trace(exitsnoop_store *store, uint32_t pid, const struct exitsnoop_task_info *info)
{
	const char *fn = "exitsnoop_store_trace";
	uint64_t id;
	int err = handle_id(store, fn, &id);

	if (err)
		return done(err);
	if (!info)
		return done(fail(-EINVAL, "%s: info is NULL", fn));
	if (pid == 0)
		return done(fail(-EINVAL, "%s: pid is 0", fn));
	return done(exitsnoop__go_trace(id, pid, (struct exitsnoop_task_info *)info));
}

int exitsnoop_store_trace_pidfd(exitsnoop_store *store, int pidfd, const struct exitsnoop_task_info *info)
{
	const char *fn = "exitsnoop_store_trace_pidfd";
	uint64_t id;
	int err = handle_id(store, fn, &id);

	if (err)
		return done(err);
	if (!info)
		return done(fail(-EINVAL, "%s: info is NULL", fn));
	if (pidfd < 0)
		return done(fail(-EINVAL, "%s: pidfd %d is not a file descriptor", fn, pidfd));
	return done(exitsnoop__go_trace_pidfd(id, pidfd, (struct exitsnoop_task_info *)info));
}

int exitsnoop_store_get_tracing_task(exitsnoop_store *store, uint32_t pid, struct exitsnoop_task_info *info)
{
	const char *fn = "exitsnoop_store_get_tracing_task";
	struct exitsnoop_task_info got = {0};
	uint64_t id;
	int err = handle_id(store, fn, &id);

	if (err)
		return done(err);
	if (!info)
		return done(fail(-EINVAL, "%s: info is NULL", fn));
	err = exitsnoop__go_get_tracing_task(id, pid, &got);
	if (err == 0)
		*info = got;
	return done(err);
}

int exitsnoop_store_delete_tracing_task(exitsnoop_store *store, uint32_t pid)
{
	uint64_t id;
	int err = handle_id(store, "exitsnoop_store_delete_tracing_task", &id);

	if (err)
		return done(err);
	return done(exitsnoop__go_delete_tracing_task(id, pid));
}

int exitsnoop_store_record_wait_status(exitsnoop_store *store, uint64_t trace_id, uint32_t pid, int wait_status)
{
	uint64_t id;
	int err = handle_id(store, "exitsnoop_store_record_wait_status", &id);

	if (err)
		return done(err);
	return done(exitsnoop__go_record_wait_status(id, trace_id, pid, wait_status));
}

/* ---- Reading -------------------------------------------------------------- */

int exitsnoop_store_get_exited_event(exitsnoop_store *store, uint64_t trace_id, struct exitsnoop_exit_status *status)
{
	const char *fn = "exitsnoop_store_get_exited_event";
	struct exitsnoop_exit_status got = {0};
	uint64_t id;
	int err = handle_id(store, fn, &id);

	if (err)
		return done(err);
	if (!status)
		return done(fail(-EINVAL, "%s: status is NULL", fn));
	err = exitsnoop__go_get_exited_event(id, trace_id, &got);
	if (err == 0)
		*status = got;
	return done(err);
}

int exitsnoop_store_delete_exited_event(exitsnoop_store *store, uint64_t trace_id)
{
	uint64_t id;
	int err = handle_id(store, "exitsnoop_store_delete_exited_event", &id);

	if (err)
		return done(err);
	return done(exitsnoop__go_delete_exited_event(id, trace_id));
}

int exitsnoop_store_wait(exitsnoop_store *store, uint64_t trace_id, int timeout_ms, struct exitsnoop_exit_status *status)
{
	const char *fn = "exitsnoop_store_wait";
	struct exitsnoop_exit_status got = {0};
	uint64_t id;
	int err = handle_id(store, fn, &id);

	if (err)
		return done(err);
	if (!status)
		return done(fail(-EINVAL, "%s: status is NULL", fn));
	err = exitsnoop__go_wait(id, trace_id, timeout_ms, &got);
	if (err == 0)
		*status = got;
	return done(err);
}

int exitsnoop_store_stats(exitsnoop_store *store, struct exitsnoop_stats *stats, size_t stats_sz)
{
	const char *fn = "exitsnoop_store_stats";
	struct exitsnoop_stats got = {0};
	uint64_t id;
	int err = handle_id(store, fn, &id);

	if (err)
		return done(err);
	if (!stats)
		return done(fail(-EINVAL, "%s: stats is NULL", fn));
	if (stats_sz == 0 || stats_sz % sizeof(uint64_t) || stats_sz > OPTS_MAX_SZ)
		return done(fail(-EINVAL, "%s: stats_sz %zu is not sizeof(struct exitsnoop_stats) "
					  "(a positive multiple of 8, at most %d)", fn, stats_sz, OPTS_MAX_SZ));
	err = exitsnoop__go_stats(id, &got);
	if (err)
		return done(err);
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
	uint32_t tasks = 0, events = 0;
	uint64_t id;
	int err = handle_id(store, fn, &id);

	if (err)
		return done(err);
	if (!max_tracing_tasks && !max_exited_events)
		return done(fail(-EINVAL, "%s: both out pointers are NULL", fn));
	err = exitsnoop__go_capacity(id, &tasks, &events);
	if (err)
		return done(err);
	if (max_tracing_tasks)
		*max_tracing_tasks = tasks;
	if (max_exited_events)
		*max_exited_events = events;
	return 0;
}

/* ---- Releasing ------------------------------------------------------------ */

int exitsnoop_store_close(exitsnoop_store *store)
{
	uint64_t id;
	int err = handle_id(store, "exitsnoop_store_close", &id);

	if (err)
		return done(err);
	return done(exitsnoop__go_close(id));
}

int exitsnoop_store_free(exitsnoop_store *store)
{
	uint64_t id;
	int err;

	if (!store)
		return 0;
	err = handle_id(store, "exitsnoop_store_free", &id);
	if (err)
		return done(err); /* not ours, or freed already: leave it alone */
	err = exitsnoop__go_free(id);
	store->magic = HANDLE_DEAD;
	free(store);
	return done(err);
}

/* ---- Helpers -------------------------------------------------------------- */

int exitsnoop_pidns_of(uint32_t pid, struct exitsnoop_pidns_info *pidns)
{
	const char *fn = "exitsnoop_pidns_of";
	struct exitsnoop_pidns_info got = {0};
	int err;

	if (!pidns)
		return done(fail(-EINVAL, "%s: pidns is NULL", fn));
	if (pid == 0)
		return done(fail(-EINVAL, "%s: pid is 0", fn));
	err = exitsnoop__go_pidns_of(pid, &got);
	if (err == 0)
		*pidns = got;
	return done(err);
}
