// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* wait.c - what Wait decides while no event is there (core.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
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
	es_mark_missed(c, id, ref->pid);
	ref->fate = EXITSNOOP_FATE_MISSED;
	return lost(e, id, ref);
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
