// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * open.c - the store behind an exitsnoop_store handle (lib.h): opening one
 * (pinned, installed first, or private), closing it, and the last error.
 * Every protocol step is internal/core's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include "lib.h"

static __thread char last_error[512];

const char *lib_last_error(void)
{
	return last_error;
}

int lib_failw(const struct es_err *e, const char *fmt, ...)
{
	const char *words = es_kind_words(e->kind, e->errnum), *suffix = e->suffix ? e->suffix : "";
	size_t n = 0;
	va_list ap;

	last_error[0] = 0;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(last_error, sizeof(last_error), fmt, ap);
		va_end(ap);
		n = strlen(last_error);
		snprintf(last_error + n, sizeof(last_error) - n, ": ");
		n = strlen(last_error);
	}
	if (e->msg[0])
		snprintf(last_error + n, sizeof(last_error) - n, "%s: %s%s", e->msg, words, suffix);
	else
		snprintf(last_error + n, sizeof(last_error) - n, "%s%s", words, suffix);
	return -e->errnum;
}

int lib_fail(const struct es_err *e)
{
	return lib_failw(e, NULL);
}

int lib_failf(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return err;
}

/* ensure installs or upgrades the tracer pinned under root (internal/core/pins.c
 * decides; this loads). */
static int ensure(const char *root, uint32_t max_tasks, uint32_t max_events, struct es_err *e)
{
	struct exitsnoop_meta m;
	struct es_tracer_fds fds;
	struct tracer *t = NULL;
	struct es_pins p;
	int err;

	this_meta(&m);
	es_pins_init(&p);
	err = es_pins_begin(&p, root, &m, e);
	if (!err && p.plan != ES_PLAN_RUNNING)
		err = tracer_load(max_tasks, max_events, p.plan == ES_PLAN_UPGRADE ? p.reuse : NULL, &t, &fds, e);
	if (!err && p.plan == ES_PLAN_INSTALL)
		err = es_pins_install(&p, &fds, &m, e);
	else if (!err && p.plan == ES_PLAN_UPGRADE)
		err = es_pins_upgrade(&p, &fds, &m, e);
	tracer_close(t); /* the pins keep the tracer */
	es_pins_end(&p);
	return err;
}

int lib_ensure_running(const char *root, uint32_t max_tasks, uint32_t max_events)
{
	struct es_err e;

	return ensure(root, max_tasks ? max_tasks : EXITSNOOP_DEFAULT_CAPACITY,
		      max_events ? max_events : EXITSNOOP_DEFAULT_CAPACITY, &e) ? lib_fail(&e) : 0;
}

int lib_uninstall(const char *root)
{
	struct es_err e;

	return es_uninstall(root, &e) ? lib_fail(&e) : 0;
}

/* attach makes s a store of its fds: checks, CPUs, pid_refs, the core. */
static int attach(struct store *s, bool private, struct es_err *e)
{
	int64_t offset;
	int err;

	err = es_check_layout(&s->fds, e);
	if (!err)
		err = es_boottime_offset(&offset, e);
	if (!err)
		err = es_possible_cpus(s->fds.maps[ES_MAP_STATS], "/sys/devices/system/cpu/possible", &s->ncpu, e);
	if (err)
		return err;
	s->refs = mmap(NULL, EXITSNOOP_PID_BUCKETS, PROT_READ | PROT_WRITE, MAP_SHARED, s->fds.maps[ES_MAP_REFS], 0);
	if (s->refs == MAP_FAILED) {
		s->refs = NULL;
		return es_fail(e, ES_ERRNO, errno, "mapping pid_refs");
	}
	s->core = (struct es_core){
		.tasks = s->fds.maps[ES_MAP_TASKS],
		.traces = s->fds.maps[ES_MAP_TRACE],
		.events = s->fds.maps[ES_MAP_EVENTS],
		.meta = private ? -1 : s->fds.maps[ES_MAP_META],
		.refs = s->refs,
		.boot_offset = offset,
		.host_pidns = es_in_initial_pidns(),
	};
	return 0;
}

/* release closes what s holds: fds, mappings, the private tracer, the reader. */
static void release(struct store *s)
{
	loop_close(s);
	if (s->refs)
		munmap(s->refs, EXITSNOOP_PID_BUCKETS);
	s->refs = NULL;
	if (s->owner) { /* its fds are its own */
		tracer_close(s->owner);
		s->owner = NULL;
	} else {
		es_close_fds(&s->fds);
	}
}

int store_open(int mode, const char *root, uint32_t max_tasks, uint32_t max_events, struct store *s)
{
	struct exitsnoop_meta m;
	struct es_err e;
	int err;

	memset(s, 0, sizeof(*s));
	s->epfd = s->timerfd = -1;
	for (int i = 0; i < ES_NMAPS; i++)
		s->fds.maps[i] = -1;
	for (int i = 0; i < ES_NPROGS; i++)
		s->fds.progs[i] = s->fds.links[i] = -1;
	max_tasks = max_tasks ? max_tasks : EXITSNOOP_DEFAULT_CAPACITY;
	max_events = max_events ? max_events : EXITSNOOP_DEFAULT_CAPACITY;
	this_meta(&m);
	if (mode == OPEN_OPTS && root && *root)
		err = ensure(root, max_tasks, max_events, &e);
	else
		err = 0;
	if (!err && mode != OPEN_PRIVATE && root && *root)
		err = es_pins_open(root, &m, &s->fds, &e);
	else if (!err)
		err = tracer_load(max_tasks, max_events, NULL, &s->owner, &s->fds, &e);
	if (!err)
		err = attach(s, s->owner != NULL, &e);
	if (!err && s->owner)
		err = es_write_meta(s->fds.maps[ES_MAP_META], &m, &e);
	if (!err) {
		s->close_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (s->close_efd < 0)
			err = es_fail(&e, ES_ERRNO, errno, "eventfd");
	}
	if (err) {
		release(s);
		return lib_fail(&e);
	}
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->loop_mu, NULL);
	/* Loading parsed the kernel's BTF (megabytes, freed since): give the heap's
	 * free pages back, so that a store costs its caller what it keeps. */
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	return 0;
}

int store_enter(struct store *s)
{
	pthread_rwlock_rdlock(&s->lock);
	if (!s->closed)
		return 0;
	pthread_rwlock_unlock(&s->lock);
	return lib_failf(-EBADF, "store is closed");
}

void store_leave(struct store *s)
{
	pthread_rwlock_unlock(&s->lock);
}

int store_close(struct store *s)
{
	uint64_t one = 1;

	pthread_rwlock_wrlock(&s->lock);
	if (!s->closed) {
		s->closed = true;
		release(s);
		if (write(s->close_efd, &one, sizeof(one)) < 0) {
			/* cannot fail: the counter is far from its maximum */
		}
	}
	pthread_rwlock_unlock(&s->lock);
	return 0;
}

int store_free(struct store *s)
{
	int err = store_close(s);

	close(s->close_efd);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->loop_mu);
	return err;
}
