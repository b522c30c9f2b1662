// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* trace.c - the Trace protocol and the calls that end a trace (core.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "core.h"

#define PID_MAX_LIMIT (1U << 22) /* no pid is larger */

int es_pidfd_of(uint32_t pid, int *pidfd, struct es_err *e)
{
	int fd;

	if (pid > PID_MAX_LIMIT)
		return es_fail(e, ES_NO_PROCESS, ESRCH, "%s", "");
	fd = syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0) {
		*pidfd = fd;
		return 0;
	}
	switch (errno) {
	case ENOSYS:
	case EPERM: /* filtered (seccomp, valgrind): the stat file follows the process instead */
		*pidfd = -1;
		return es_check_leader(pid, e);
	case ESRCH:
		return es_fail(e, ES_NO_PROCESS, ESRCH, "%s", "");
	case EINVAL:
	case ENOENT: /* ENOENT since 6.9 */
		/* a thread, or a process reaped while its pid lives on as a group's or session's id */
		if (es_check_leader(pid, e) == 0)
			return es_fail(e, ES_NO_PROCESS, ESRCH, "exited already");
		if (e->kind == ES_NO_PROCESS)
			return -ESRCH;
		return es_fail(e, ES_NOT_PROCESS, EINVAL,
			       "a thread, not a process (trace its thread-group leader)");
	}
	return es_fail(e, ES_ERRNO, errno, "pidfd_open");
}

int es_pid_of_pidfd(int pidfd, uint32_t *pid, struct es_err *e)
{
	char path[48], buf[1024], *line;
	long v;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	if (es_read_file(path, buf, sizeof(buf)) < 0)
		return es_fail(e, ES_INVALID, EINVAL, "reading %s", path);
	line = strstr(buf, "\nPid:"); /* never the first line: "pos:" is */
	if (!line)
		return es_fail(e, ES_INVALID, EINVAL, "%s is not a pidfd", path);
	line += strlen("\nPid:");
	line += strspn(line, " \t");
	line[strcspn(line, "\n")] = 0;
	errno = 0;
	v = strtol(line, NULL, 10);
	if (errno || v == 0 || v > (long)PID_MAX_LIMIT || (line[0] != '-' && (line[0] < '0' || line[0] > '9')))
		return es_fail(e, ES_INVALID, EINVAL, "pid \"%s\" in %s", line, path);
	if (v < 0)
		return es_fail(e, ES_NO_PROCESS, ESRCH, "%s", "");
	*pid = (uint32_t)v;
	return 0;
}

/* alive reports whether the process is not reaped yet (1, or 0): signal 0
 * through its pidfd reaches a zombie, and EPERM still proves the process is
 * there. Without a pidfd (-1), a read of its open stat file fails once it is
 * reaped. */
static int alive(int pidfd, int stat, struct es_err *e)
{
	struct es_proc p;
	int err;

	if (pidfd < 0) {
		err = es_stat_read(stat, &p, e);
		if (err && e->kind == ES_NO_PROCESS)
			return 0;
		return err ? err : 1;
	}
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 || errno == EPERM)
		return 1;
	if (errno == ESRCH)
		return 0;
	return es_fail(e, ES_ERRNO, errno, "pidfd_send_signal");
}

/* settled reads the process's state once the entry is in (stat, its open stat
 * file): 1 if a thread of it has not begun to exit (the exit program of its last
 * thread runs later, and sees the entry), 0 if every thread is in do_exit or
 * gone (the last one may be past the sched_process_exit tracepoint: the caller
 * takes the entry back, and whichever of it and the exit program deletes the
 * entry first decides), or < 0. */
static int settled(uint32_t pid, int stat, struct es_err *e)
{
	struct es_proc p;
	int err;

	err = es_stat_read(stat, &p, e);
	if (!err)
		err = es_proc_exiting(pid, &p, e);
	/* a running thread is ours unless the process was reaped meanwhile and pid reused */
	if (err == 0 && es_stat_read(stat, &p, e) == 0)
		return 1;
	return err < 0 && e->kind != ES_NO_PROCESS ? err : 0;
}

/* recorded reports whether trace ID id holds the exit of pid: the exit program
 * records even when its delete of the entry failed (a 6.15+ bucket lock that
 * timed out), and then the caller's take-back succeeds. */
static bool recorded(const struct es_core *c, uint64_t id, uint32_t pid)
{
	struct exit_status ev;

	return bpf_map_lookup_elem(c->events, &id, &ev) == 0 && ev.pid == pid;
}

/*
 * trace is the Trace protocol, with stat the open /proc/<pid>/stat:
 *  1. read the start time from it, and check with the pidfd that the process is
 *     still alive, so the file read is of this very process;
 *  2. reserve the trace ID (trace_refs), refusing one with an unread event;
 *  3. insert the tracing entry, replacing one of a process whose exit was missed;
 *  4. check that the process has not begun to exit (settled). If one thread
 *     has not, the exit program will see the entry. If every thread is in
 *     do_exit, take the entry back and refuse, unless the kernel took it first.
 *     Never left to the fallback, which runs after the release: under
 *     TestTraceRacesReap some releases on 6.18 ran no sched_process_free
 *     program, with no recursion miss counted (cause unknown).
 */
static int trace(const struct es_core *c, uint32_t pid, int pidfd, int stat,
		 const struct task_info *want, struct es_err *e)
{
	struct task_info v = *want;
	struct es_proc st;
	uint64_t dev, ino;
	int err;

	err = alive(pidfd, stat, e);
	if (err < 0)
		return err;
	if (err == 0)
		return es_fail(e, ES_NO_PROCESS, ESRCH, "exited already");
	err = es_stat_read(stat, &st, e);
	if (err)
		return err;
	if (es_proc_gone(&st))
		return es_fail(e, ES_NO_PROCESS, ESRCH, "exited already");
	if (want->pidns_dev || want->pidns_ino) {
		err = es_pidns_of(pid, &dev, &ino, e);
		if (err)
			return err;
		if (dev != want->pidns_dev || ino != want->pidns_ino)
			return es_fail(e, ES_NS_MISMATCH, EXDEV, "process is in pid namespace %llu:%llu, not %llu:%llu",
				       (unsigned long long)dev, (unsigned long long)ino,
				       (unsigned long long)want->pidns_dev, (unsigned long long)want->pidns_ino);
	}
	v.start_ticks = st.start_ticks;
	v.boot_offset = c->boot_offset;
	err = es_reserve_ref(c, v.trace_id, pid, e);
	if (err)
		return err;
	err = es_insert_task(c, pid, &v, e);
	if (err) {
		es_drop_ref(c, v.trace_id, pid);
		return err;
	}
	err = settled(pid, stat, e);
	if (err > 0 || es_delete_task(c, pid) != 0 || recorded(c, v.trace_id, pid))
		return 0; /* running, or the kernel has the entry: it records the exit, or marks the reference */
	es_drop_ref(c, v.trace_id, pid);
	if (err < 0)
		return err;
	return es_fail(e, ES_NO_PROCESS, ESRCH, "exited while tracing began");
}

int es_trace(const struct es_core *c, uint32_t pid, int pidfd, const struct task_info *want,
	     struct es_err *e)
{
	struct exitsnoop_meta m;
	int stat, err;

	if (!c->host_pidns)
		return es_fail(e, ES_PID_NAMESPACE, EXDEV, "%s", "");
	if (c->meta >= 0) { /* pins: Uninstall retires their meta before it unpins them */
		err = es_read_meta_fd(c->meta, "meta", &m, e);
		if (err)
			return err;
		if (m.format_version == ES_FORMAT_RETIRED)
			return es_fail(e, ES_NOT_RUNNING, ENOLINK, "the tracer was uninstalled");
	}
	stat = es_stat_open(pid, e);
	if (stat < 0)
		return stat;
	err = trace(c, pid, pidfd, stat, want, e);
	close(stat);
	return err;
}

/* lookup_ref reads trace ID id's reference: 0 or a negative errno. */
static int lookup_ref(const struct es_core *c, uint64_t id, struct trace_ref *ref)
{
	return bpf_map_lookup_elem(c->traces, &id, ref);
}

int es_reserve_ref(const struct es_core *c, uint64_t id, uint32_t pid, struct es_err *e)
{
	struct trace_ref ref = { .pid = pid }, old;
	struct exit_status ev;
	int err;

	for (int try = 0;; try++) {
		err = bpf_map_update_elem(c->traces, &id, &ref, BPF_NOEXIST);
		if (!err)
			break;
		if (err != -EEXIST || try == 1)
			return es_fail(e, ES_ERRNO, -err, "reserving trace ID %llu", (unsigned long long)id);
		if (lookup_ref(c, id, &old) == 0 && old.fate == EXITSNOOP_FATE_TRACED) {
			if (old.pid == pid)
				return es_fail(e, ES_ERRNO, EEXIST, "pid %u is traced under trace ID %llu already",
					       pid, (unsigned long long)id);
			return es_fail(e, ES_ID_IN_USE, EEXIST, "trace ID %llu traces pid %u",
				       (unsigned long long)id, old.pid);
		}
		bpf_map_delete_elem(c->traces, &id); /* a fate: the caller has moved on */
	}
	if (bpf_map_lookup_elem(c->events, &id, &ev) == 0) {
		es_drop_ref(c, id, pid);
		return es_fail(e, ES_ID_IN_USE, EEXIST, "trace ID %llu has an unread event (pid %u)",
			       (unsigned long long)id, ev.pid);
	}
	return 0;
}

void es_drop_ref(const struct es_core *c, uint64_t id, uint32_t pid)
{
	struct trace_ref ref;

	if (lookup_ref(c, id, &ref) == 0 && ref.pid == pid)
		bpf_map_delete_elem(c->traces, &id);
}

/* pid_refs: pid's byte, in a word that the kernel decrements with an atomic add. */
static uint32_t *ref_word(uint32_t *refs, uint32_t pid, uint32_t *shift)
{
	*shift = pid % 4 * 8;
	return &refs[pid % EXITSNOOP_PID_BUCKETS / 4];
}

int es_ref_inc(uint32_t *refs, uint32_t pid, struct es_err *e)
{
	uint32_t shift, *word = ref_word(refs, pid, &shift);
	uint32_t old = __atomic_load_n(word, __ATOMIC_SEQ_CST);

	do {
		/* saturated by concurrent Traces: never in practice (a bucket holds 64 pids at most) */
		if ((old >> shift & 0xff) == 0xff)
			return es_fail(e, ES_ERRNO, EBUSY, "pid bucket %u saturated", pid % EXITSNOOP_PID_BUCKETS);
	} while (!__atomic_compare_exchange_n(word, &old, old + (1U << shift), false, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	return 0;
}

void es_ref_dec(uint32_t *refs, uint32_t pid)
{
	uint32_t shift, *word = ref_word(refs, pid, &shift);

	__atomic_fetch_sub(word, 1U << shift, __ATOMIC_SEQ_CST);
}

/* es_insert_task: pid_refs counts the entry before it becomes visible. An entry
 * of another process with this pid is an orphan (that process is gone, or pid
 * would not name ours): its trace is marked missed and the entry replaced. */
int es_insert_task(const struct es_core *c, uint32_t pid, const struct task_info *v, struct es_err *e)
{
	struct task_info old;
	int err;

	err = es_ref_inc(c->refs, pid, e);
	if (err)
		return err;
	for (int try = 0;; try++) {
		err = bpf_map_update_elem(c->tasks, &pid, v, BPF_NOEXIST);
		if (!err)
			return 0;
		if (err != -EEXIST || try == 1 || bpf_map_lookup_elem(c->tasks, &pid, &old) != 0 ||
		    es_same_start(old.start_ticks, old.boot_offset, v->start_ticks, v->boot_offset)) {
			es_ref_dec(c->refs, pid);
			return es_fail(e, ES_ERRNO, -err, "%s", "");
		}
		if (es_delete_task(c, pid) == 0)
			es_mark_missed(c, old.trace_id, pid);
	}
}

int es_delete_task(const struct es_core *c, uint32_t pid)
{
	int err = bpf_map_delete_elem(c->tasks, &pid);

	if (err)
		return err;
	es_ref_dec(c->refs, pid); /* after the entry is gone */
	return 0;
}

void es_mark_missed(const struct es_core *c, uint64_t id, uint32_t pid)
{
	struct trace_ref ref;
	struct task_info v;

	if (lookup_ref(c, id, &ref) == 0 && ref.pid == pid && ref.fate == EXITSNOOP_FATE_TRACED) {
		ref.fate = EXITSNOOP_FATE_MISSED;
		bpf_map_update_elem(c->traces, &id, &ref, BPF_EXIST);
	}
	/* an orphan entry goes too: a later process with its pid must not be taken for this one */
	if (bpf_map_lookup_elem(c->tasks, &pid, &v) == 0 && v.trace_id == id)
		es_delete_task(c, pid);
}

bool es_traced_alive(const struct es_core *c, uint64_t id, uint32_t pid)
{
	struct task_info v;
	struct es_proc st;
	struct es_err e;
	int stat, err;

	if (bpf_map_lookup_elem(c->tasks, &pid, &v) != 0 || v.trace_id != id)
		return false; /* the kernel took the entry: the reference changes next */
	stat = es_stat_open(pid, &e);
	if (stat < 0)
		return e.kind != ES_NO_PROCESS;
	err = es_stat_read(stat, &st, &e);
	close(stat);
	if (err)
		return e.kind != ES_NO_PROCESS;
	return es_same_start(st.start_ticks, c->boot_offset, v.start_ticks, v.boot_offset);
}

int es_delete_tracing_task(const struct es_core *c, uint32_t pid, struct es_err *e)
{
	struct task_info v;
	int err;

	err = bpf_map_lookup_elem(c->tasks, &pid, &v);
	if (!err)
		err = es_delete_task(c, pid);
	if (err)
		return es_fail(e, ES_ERRNO, -err, "%s", "");
	es_drop_ref(c, v.trace_id, pid);
	return 0;
}

int es_delete_event(const struct es_core *c, uint64_t id, struct es_err *e)
{
	struct trace_ref ref;
	int err;

	if (lookup_ref(c, id, &ref) == 0 && ref.fate != EXITSNOOP_FATE_TRACED)
		es_drop_ref(c, id, ref.pid);
	err = bpf_map_delete_elem(c->events, &id);
	return err ? es_fail(e, ES_ERRNO, -err, "%s", "") : 0;
}

int es_record_wait_status(const struct es_core *c, uint64_t id, uint32_t pid, uint32_t status,
			  struct exit_status *ev, struct es_err *e)
{
	struct task_info v;
	struct timespec now;
	int err;

	if (clock_gettime(CLOCK_BOOTTIME, &now) < 0)
		return es_fail(e, ES_ERRNO, errno, "reading CLOCK_BOOTTIME");
	memset(ev, 0, sizeof(*ev));
	ev->pid = pid;
	ev->exit_code = (int32_t)status;
	/* the kernel's boottime, without this time namespace's offset */
	ev->exited_time = (uint64_t)(now.tv_sec * 1000000000LL + now.tv_nsec - c->boot_offset);
	err = bpf_map_update_elem(c->events, &id, ev, BPF_NOEXIST);
	if (err)
		return es_fail(e, ES_ERRNO, -err, "record event %llu", (unsigned long long)id);
	if (bpf_map_lookup_elem(c->tasks, &pid, &v) == 0 && v.trace_id == id)
		es_delete_task(c, pid); /* gone already if the kernel got there first */
	es_drop_ref(c, id, pid);
	return 0;
}
