// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * listen.c - hearing exits (lib.h): exitsnoop_store_wait, a poll on the traced
 * process's pidfd and the store's close eventfd around internal/core's
 * decisions (es_no_event_yet, es_child_status); and the event loop's reader of
 * the notify ring buffer (internal/ringbuf's ring.c) behind an epoll fd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "lib.h"

#define RECHECK_MS 250 /* a missed wake-up delays a wait by this much at most */
#define GONE_RECHECK_MS 100

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void put(struct exitsnoop_exit_status *out, const struct exit_status *ev)
{
	out->pid = ev->pid;
	out->exit_code = ev->exit_code;
	out->start_boottime = ev->start_boottime;
	out->exited_time = ev->exited_time;
}

/* watch opens a pidfd of the process traced under id, or -1: none to watch
 * (gone, another pid namespace's, or pidfd_open filtered: rechecks then). */
static int watch(struct store *s, uint64_t id)
{
	struct trace_ref ref;

	if (!s->core.host_pidns || bpf_map_lookup_elem(s->core.traces, &id, &ref) ||
	    ref.fate != EXITSNOOP_FATE_TRACED)
		return -1;
	return syscall(SYS_pidfd_open, ref.pid, 0);
}

/* step looks once: 1 with *out, 0 to go on waiting, or an error (recorded). */
static int step(struct store *s, uint64_t id, int pidfd, bool ended, int64_t *gone_since,
		struct exitsnoop_exit_status *out)
{
	struct exit_status ev;
	struct trace_ref ref;
	struct es_err e;
	uint32_t status;
	int ret;

	if (bpf_map_lookup_elem(s->core.events, &id, &ev) == 0) {
		put(out, &ev);
		return 1;
	}
	ret = es_no_event_yet(&s->core, id, s->core.host_pidns, now_ns(), gone_since, &ev, &ref, &e);
	if (ret < 0)
		return lib_fail(&e);
	if (ret == 1) {
		put(out, &ev);
		return 1;
	}
	/* exited, unrecorded, and our child: the exit program missed it and the
	 * fallback waits for a reap that is ours to do. Its status, exact. */
	if (ended && pidfd >= 0 && es_child_status(pidfd, &status) &&
	    es_record_wait_status(&s->core, id, ref.pid, status, &ev, &e) == 0) {
		put(out, &ev);
		return 1;
	}
	return 0;
}

int store_wait(struct store *s, uint64_t id, int timeout_ms, struct exitsnoop_exit_status *out)
{
	int64_t start = now_ns(), gone_since = 0, left;
	int pidfd = -1, ret, ms;
	bool watched = false, ended = false;
	struct pollfd p[2];

	for (;;) {
		ret = store_enter(s);
		if (ret)
			break;
		if (!watched) {
			pidfd = watch(s, id);
			watched = true;
		}
		ret = step(s, id, pidfd, ended, &gone_since, out);
		store_leave(s);
		if (ret)
			break;
		ms = gone_since || ended || pidfd < 0 ? GONE_RECHECK_MS : RECHECK_MS;
		if (timeout_ms >= 0) {
			left = timeout_ms - (now_ns() - start) / 1000000;
			if (left <= 0) {
				ret = lib_failf(-ETIMEDOUT, "wait for trace ID %llu: no exit within %d ms: timed out",
						(unsigned long long)id, timeout_ms);
				break;
			}
			ms = left < ms ? (int)left : ms;
		}
		/* close_efd lives until free: readable once closed, whatever became of the fds */
		p[0] = (struct pollfd){ .fd = s->close_efd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = ended ? -1 : pidfd, .events = POLLIN };
		if (poll(p, 2, ms) > 0 && (p[1].revents & POLLIN))
			ended = true; /* a pidfd polls readable once its process has exited */
	}
	if (pidfd >= 0)
		close(pidfd);
	return ret == 1 ? 0 : ret;
}

/* ---- the event loop's reader ---- */

/* loop_open maps the ring buffer and notify_wake, and makes the epoll fd: the
 * ring's fd, and a timer that bounds a sleep the kernel's wake-up cannot end
 * (ES_RING_BACKSTOP_MS: another reader's position can hide new records). */
static int loop_open(struct store *s)
{
	struct bpf_map_info info = {};
	uint32_t size = sizeof(info);
	int ring = s->fds.maps[ES_MAP_NOTIFY], err;
	struct epoll_event ev = { .events = EPOLLIN };
	long ms;

	err = bpf_map_get_info_by_fd(ring, &info, &size);
	if (err)
		return lib_failf(err, "map info of notify: %s", strerror(-err));
	err = es_ring_map(&s->ring, ring, info.max_entries);
	if (err)
		return lib_failf(err, "mapping the notify ring buffer: %s", strerror(-err));
	s->wake = mmap(NULL, getpagesize(), PROT_READ | PROT_WRITE, MAP_SHARED, s->fds.maps[ES_MAP_WAKE], 0);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->wake == MAP_FAILED || s->epfd < 0 || s->timerfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, ring, &ev) ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->timerfd, &ev)) {
		err = -errno;
		if (s->wake == MAP_FAILED)
			s->wake = NULL;
		s->loop_on = true; /* for loop_close */
		loop_close(s);
		return lib_failf(err, "making the event loop's fd: %s", strerror(-err));
	}
	es_ring_wake_on_demand(&s->ring, s->wake);
	/* the tests' way to take the timer out of the way (a wake-up must do it all) */
	ms = getenv("EXITSNOOP_TEST_BACKSTOP_MS") ? atol(getenv("EXITSNOOP_TEST_BACKSTOP_MS")) : ES_RING_BACKSTOP_MS;
	s->backstop = (struct itimerspec){ .it_value = { ms / 1000, ms % 1000 * 1000000L } };
	s->loop_on = true;
	return 0;
}

void loop_close(struct store *s)
{
	if (!s->loop_on)
		return;
	es_ring_unmap(&s->ring);
	if (s->wake)
		munmap(s->wake, getpagesize());
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->timerfd >= 0)
		close(s->timerfd);
	s->wake = NULL;
	s->epfd = s->timerfd = -1;
	s->loop_on = false;
}

int store_epoll_fd(struct store *s)
{
	int ret = store_enter(s);

	if (ret)
		return ret;
	pthread_mutex_lock(&s->loop_mu);
	if (!s->loop_on)
		ret = loop_open(s);
	if (!ret)
		ret = s->epfd;
	pthread_mutex_unlock(&s->loop_mu);
	store_leave(s);
	return ret;
}

int store_consume(struct store *s, exitsnoop_event_fn fn, void *ctx)
{
	uint8_t out[8 * ES_RING_MAX_RECORD];
	uint32_t lens[8];
	struct exitsnoop_exit_status st;
	struct exit_note note;
	uint64_t ticks;
	int total = 0, armed = 0;
	size_t n;

	total = store_enter(s);
	if (total)
		return total;
	pthread_mutex_lock(&s->loop_mu);
	if (!s->loop_on) {
		pthread_mutex_unlock(&s->loop_mu);
		store_leave(s);
		return lib_failf(-EINVAL, "exitsnoop_store_consume: call exitsnoop_store_epoll_fd first");
	}
	if (read(s->timerfd, &ticks, sizeof(ticks)) < 0) {
		/* not expired: nothing to clear */
	}
	for (;;) {
		n = es_ring_consume(&s->ring, out, lens, 8);
		for (size_t i = 0; i < n; i++) {
			if (lens[i] < sizeof(note))
				continue;
			memcpy(&note, out + i * ES_RING_MAX_RECORD, sizeof(note));
			put(&st, &note.status);
			fn(ctx, note.trace_id, &st);
			total++;
		}
		if (n) {
			armed = 0; /* the program may have cleared the flag for these: arm again */
			continue;
		}
		if (armed)
			break;
		/* nothing: ask the kernel for a wake-up, then look once more (a record
		 * committed before the flag was seen would wake no one) */
		es_ring_arm(&s->ring);
		armed = 1;
	}
	timerfd_settime(s->timerfd, 0, &s->backstop, NULL);
	pthread_mutex_unlock(&s->loop_mu);
	store_leave(s);
	return total;
}
