// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* wait.c - what Wait decides while no event is there (core.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "core.h"

#ifndef P_PIDFD
#define P_PIDFD 3 /* 5.4+ */
#endif

const char *es_fate_cause(uint32_t fate)
{
	switch (fate) {
	case EXITSNOOP_FATE_DROPPED:
		return "the exited-events map was full (Stats.Dropped)";
	case EXITSNOOP_FATE_STALE:
		return "its exit was missed, and a later process with its pid exited (Stats.PidReused)";
	case EXITSNOOP_FATE_MISSED:
		return "the tracer's programs did not run for its exit (Stats.Missed)";
	}
	return "unknown cause";
}

static int lost(struct es_err *e, uint64_t id, const struct trace_ref *ref)
{
	return es_fail(e, ES_LOST, ENODATA, "trace ID %llu (pid %u): %s", (unsigned long long)id, ref->pid,
		       es_fate_cause(ref->fate));
}

int es_no_event_yet(const struct es_core *c, uint64_t id, bool host_pidns, int64_t now_ns, int64_t *gone_since_ns,
		    struct exit_status *ev, struct trace_ref *ref, struct es_err *e)
{
	int err;

	err = bpf_map_lookup_elem(c->traces, &id, ref);
	if (err == -ENOENT) {
		/* the kernel removes the reference after it stores the event: look again */
		if (bpf_map_lookup_elem(c->events, &id, ev) == 0)
			return 1;
		return es_fail(e, ES_NOT_TRACED, ENOENT, "wait for trace ID %llu", (unsigned long long)id);
	}
	if (err)
		return es_fail(e, ES_ERRNO, -err, "wait for trace ID %llu", (unsigned long long)id);
	if (ref->fate != EXITSNOOP_FATE_TRACED)
		return lost(e, id, ref);
	if (!host_pidns)
		return 0; /* its pid means another process here: only the kernel can tell */
	if (es_traced_alive(c, id, ref->pid)) {
		*gone_since_ns = 0;
		return 0;
	}
	/* reaped: the fallback runs from an RCU callback after the release, so wait a grace */
	if (*gone_since_ns == 0) {
		*gone_since_ns = now_ns;
		return 0;
	}
	if (now_ns - *gone_since_ns < ES_GONE_GRACE_NS)
		return 0;
	if (bpf_map_lookup_elem(c->events, &id, ev) == 0)
		return 1;
	if (es_rcu_lazy()) {
		/* the fallback's callback may be lazy: have every queued callback run, or outwait it */
		err = es_rcu_flushed(*gone_since_ns, now_ns);
		if (err == 0 || (err < 0 && now_ns - *gone_since_ns < ES_LAZY_GRACE_NS))
			return 0;
		if (bpf_map_lookup_elem(c->events, &id, ev) == 0)
			return 1;
	}
	es_mark_missed(c, id, ref->pid);
	ref->fate = EXITSNOOP_FATE_MISSED;
	return lost(e, id, ref);
}

#define RCUTREE "/sys/module/rcutree/parameters/"

static bool rcu_lazy;
static pthread_once_t rcu_lazy_once = PTHREAD_ONCE_INIT;

/* is_rcuo reports whether task pid is an rcuo kthread, which runs the callbacks of
 * an offloaded CPU. */
static bool is_rcuo(const char *pid)
{
	char path[64], comm[32];

	snprintf(path, sizeof(path), "/proc/%.16s/comm", pid);
	return es_read_file(path, comm, sizeof(comm)) > 0 && strncmp(comm, "rcuo", 4) == 0;
}

/* rcu_offloaded reports whether some CPU's RCU callbacks are offloaded (rcu_nocbs=,
 * nohz_full=, CONFIG_RCU_NOCB_CPU_DEFAULT_ALL): an rcuo kthread is there, among
 * kthreadd's children. A pid namespace without kthreadd cannot tell: yes. */
static bool rcu_offloaded(void)
{
	char buf[16384], comm[32], *tok, *save;
	ssize_t n;

	if (es_read_file("/proc/2/comm", comm, sizeof(comm)) <= 0 || strncmp(comm, "kthreadd", 8) != 0)
		return true;
	n = es_read_file("/proc/2/task/2/children", buf, sizeof(buf)); /* CONFIG_PROC_CHILDREN */
	if (n <= 0 || (size_t)n == sizeof(buf) - 1)
		return true;
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (is_rcuo(tok))
			return true;
	return false;
}

/* CONFIG_RCU_LAZY (6.2+) holds call_rcu callbacks of offloaded CPUs back up to 10 s;
 * rcutree.enable_rcu_lazy (6.9+) says whether it is on, an older 6.2+ cannot say. */
static void probe_rcu_lazy(void)
{
	struct utsname u;
	char buf[8];
	unsigned int major = 0, minor = 0;

	if (es_read_file(RCUTREE "enable_rcu_lazy", buf, sizeof(buf)) > 0)
		rcu_lazy = buf[0] == 'Y';
	else
		rcu_lazy = uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
			   major == 6 && minor >= 2 && minor < 9;
	rcu_lazy = rcu_lazy && rcu_offloaded();
}

bool es_rcu_lazy(void)
{
	pthread_once(&rcu_lazy_once, probe_rcu_lazy);
	return rcu_lazy;
}

/* One rcu_barrier at a time for the whole process, in a thread of its own: the
 * kernel runs them one after another under a global lock, ~65 ms each. */
static pthread_mutex_t flush_mu = PTHREAD_MUTEX_INITIALIZER;
static bool flushing;
static int64_t flush_start, flushed_from; /* CLOCK_MONOTONIC ns: the running and the last done */
static int flush_err;                      /* sticky: the knob is missing, or not ours to write */

static void *flush(void *arg)
{
	int fd = open(RCUTREE "do_rcu_barrier", O_WRONLY | O_CLOEXEC), err = 0;

	(void)arg;
	if (fd < 0 || write(fd, "1", 1) != 1) /* where the kernel has the knob, as root */
		err = -errno;
	if (fd >= 0)
		close(fd);
	pthread_mutex_lock(&flush_mu);
	flushing = false;
	flush_err = err;
	if (!err)
		flushed_from = flush_start;
	pthread_mutex_unlock(&flush_mu);
	return NULL;
}

int es_rcu_flushed(int64_t since_ns, int64_t now_ns)
{
	pthread_attr_t attr;
	pthread_t t;
	int err = 0;

	pthread_mutex_lock(&flush_mu);
	if (flushed_from > since_ns) {
		err = 1;
	} else if (flush_err) {
		err = flush_err;
	} else if (!flushing) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		err = -pthread_create(&t, &attr, flush, NULL);
		pthread_attr_destroy(&attr);
		flushing = err == 0;
		flush_start = now_ns;
	}
	pthread_mutex_unlock(&flush_mu);
	return err;
}

int es_child_status(int pidfd, uint32_t *status)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	if (waitid(P_PIDFD, pidfd, &info, WEXITED | WNOWAIT | WNOHANG) < 0 || info.si_signo != SIGCHLD)
		return 0;
	switch (info.si_code) {
	case CLD_EXITED:
		*status = (uint32_t)(info.si_status & 0xff) << 8;
		return 1;
	case CLD_KILLED:
		*status = (uint32_t)info.si_status & 0x7f;
		return 1;
	case CLD_DUMPED:
		*status = ((uint32_t)info.si_status & 0x7f) | 0x80;
		return 1;
	}
	return 0;
}
