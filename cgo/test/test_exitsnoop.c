// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The C test of libexitsnoop.a, against the real kernel (run as root): every
 * function of exitsnoop.h, its results and its bad-input cases (NULL pointers,
 * a closed handle, options with a bad sz or unknown non-zero bytes, bad output
 * sizes, a nonexistent or exited pid, a duplicate trace, an unknown trace ID, a
 * wait that times out, a full map, missing and incompatible pins), and use from
 * several threads. `make -C cgo test` builds it dynamically and with -static and
 * runs it, and runs it under valgrind (no error, no leak).
 *
 * Exit status: 0 if every check passed, 1 otherwise (each failure is printed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <exitsnoop.h>

#include "check.h"

/* ---- Without a store: NULLs, bad handles, last_error ---------------------- */

static void test_bad_input(void)
{
	struct exitsnoop_task_info ti = {.trace_id = 1};
	struct exitsnoop_exit_status es;
	struct exitsnoop_stats st;
	struct exitsnoop_pidns_info ns;
	uint32_t a, b;
	char buf[64];
	/* Memory that is not a handle (no magic): refused, not dereferenced further. */
	uint64_t fake_mem[4] = {0};
	exitsnoop_store *fake = (exitsnoop_store *)fake_mem;
	exitsnoop_store *s = (exitsnoop_store *)&ti; /* anything non-NULL: must be set to NULL */
	exitsnoop_store *bad[] = {NULL, fake};

	RET(exitsnoop_last_error(NULL, 10), -EINVAL);
	RET(exitsnoop_last_error(buf, 0), -EINVAL);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		exitsnoop_store *h = bad[i];

		RET(exitsnoop_store_trace(h, 1, &ti), -EINVAL);
		RET(exitsnoop_store_trace_pidfd(h, 0, &ti), -EINVAL);
		RET(exitsnoop_store_get_tracing_task(h, 1, &ti), -EINVAL);
		RET(exitsnoop_store_delete_tracing_task(h, 1), -EINVAL);
		RET(exitsnoop_store_record_wait_status(h, 1, 1, 0), -EINVAL);
		RET(exitsnoop_store_get_exited_event(h, 1, &es), -EINVAL);
		RET(exitsnoop_store_delete_exited_event(h, 1), -EINVAL);
		RET(exitsnoop_store_wait(h, 1, 0, &es), -EINVAL);
		RET(exitsnoop_store_stats(h, &st, sizeof(st)), -EINVAL);
		RET(exitsnoop_store_capacity(h, &a, &b), -EINVAL);
		RET(exitsnoop_store_close(h), -EINVAL);
	}
	RET(exitsnoop_store_free(NULL), 0);
	RET(exitsnoop_store_free(fake), -EINVAL);
	CHECK(fake_mem[0] == 0 && fake_mem[1] == 0); /* untouched */

	/* The message says what was wrong; it is copied and truncated safely. */
	RET(exitsnoop_store_trace(NULL, 1, &ti), -EINVAL);
	OK(exitsnoop_last_error(buf, sizeof(buf)));
	CHECK(strstr(buf, "exitsnoop_store_trace") && strstr(buf, "NULL"));
	OK(exitsnoop_last_error(buf, 4));
	CHECK(strlen(buf) == 3);

	RET(exitsnoop_store_open(NULL, NULL), -EINVAL);
	RET(exitsnoop_store_attach_private(NULL), -EINVAL);
	RET(exitsnoop_store_open_pinned("/tmp", NULL), -EINVAL);
	RET(exitsnoop_store_open_pinned(NULL, &s), -EINVAL);
	CHECK(s == NULL);
	s = fake;
	RET(exitsnoop_store_open_pinned("", &s), -EINVAL);
	CHECK(s == NULL);
	RET(exitsnoop_ensure_running(NULL), -EINVAL);
	RET(exitsnoop_ensure_running(""), -EINVAL);
	RET(exitsnoop_ensure_running("/dev/null"), -EINVAL); /* not a directory */
	RET(exitsnoop_uninstall(NULL), -EINVAL);
	RET(exitsnoop_uninstall(""), -EINVAL);

	RET(exitsnoop_pidns_of(1, NULL), -EINVAL);
	RET(exitsnoop_pidns_of(0, &ns), -EINVAL);
	RET(exitsnoop_pidns_of(99999999, &ns), -ESRCH);
	OK(exitsnoop_pidns_of((uint32_t)getpid(), &ns));
	{
		struct stat sb;
		CHECK(stat("/proc/self/ns/pid", &sb) == 0 && sb.st_dev == ns.dev && sb.st_ino == ns.ino);
	}
}

/* ---- Options -------------------------------------------------------------- */

static void test_opts(void)
{
	exitsnoop_store *s = NULL;
	uint32_t tasks = 0, events = 0;
	struct {
		struct exitsnoop_open_opts opts;
		uint64_t future[2]; /* fields of a later version of the struct */
	} big;

	/* sz too small, garbage-large. */
	{
		EXITSNOOP_OPTS(exitsnoop_open_opts, o);
		o.sz = 0;
		RET(exitsnoop_store_open(&o, &s), -EINVAL);
		CHECK(s == NULL);
		o.sz = sizeof(size_t) - 1;
		RET(exitsnoop_store_open(&o, &s), -EINVAL);
		o.sz = (size_t)1 << 40;
		RET(exitsnoop_store_open(&o, &s), -EINVAL);
	}

	/* A newer caller's struct: unknown non-zero bytes are refused... */
	memset(&big, 0, sizeof(big));
	big.opts.sz = sizeof(big);
	big.opts.max_tracing_tasks = 2;
	big.opts.max_exited_events = 3;
	big.future[1] = 1;
	RET(exitsnoop_store_open(&big.opts, &s), -EINVAL);
	CHECK(s == NULL);

	/* ...zero ones are fine: and the fields it set are used. */
	big.future[1] = 0;
	OK(exitsnoop_store_open(&big.opts, &s));
	CHECK(s != NULL);
	OK(exitsnoop_store_capacity(s, &tasks, &events));
	CHECK(tasks == 2 && events == 3);
	{
		/* A full tracing map: -E2BIG. */
		struct child c[3] = {spawn(), spawn(), spawn()};
		struct exitsnoop_task_info ti = {.trace_id = 7000};

		OK(exitsnoop_store_trace(s, c[0].pid, &ti));
		ti.trace_id++;
		OK(exitsnoop_store_trace(s, c[1].pid, &ti));
		ti.trace_id++;
		RET(exitsnoop_store_trace(s, c[2].pid, &ti), -E2BIG);
		for (int i = 0; i < 3; i++)
			finish(&c[i], "exit 0");
	}
	OK(exitsnoop_store_free(s));

	/* An older caller's struct (sz ends before the capacities): defaults for the rest. */
	memset(&big, 0xff, sizeof(big)); /* bytes past sz must not be read */
	big.opts.sz = offsetof(struct exitsnoop_open_opts, max_tracing_tasks);
	big.opts.bpffs_root = NULL;
	OK(exitsnoop_store_open(&big.opts, &s));
	tasks = events = 0;
	OK(exitsnoop_store_capacity(s, &tasks, NULL));
	OK(exitsnoop_store_capacity(s, NULL, &events));
	RET(exitsnoop_store_capacity(s, NULL, NULL), -EINVAL);
	CHECK(tasks == EXITSNOOP_DEFAULT_CAPACITY && events == EXITSNOOP_DEFAULT_CAPACITY);
	OK(exitsnoop_store_free(s));

	/* EXITSNOOP_OPTS with a field named. */
	{
		EXITSNOOP_OPTS(exitsnoop_open_opts, o, .max_exited_events = 16);
		CHECK(o.sz == sizeof(struct exitsnoop_open_opts) && o.bpffs_root == NULL && o.max_tracing_tasks == 0);
		OK(exitsnoop_store_open(&o, &s));
		OK(exitsnoop_store_capacity(s, &tasks, &events));
		CHECK(tasks == EXITSNOOP_DEFAULT_CAPACITY && events == 16);
		OK(exitsnoop_store_free(s));
	}
}

/* ---- A private store: every operation ------------------------------------- */

struct waiter {
	exitsnoop_store *s;
	uint64_t id;
	int timeout_ms, ret;
	struct exitsnoop_exit_status st;
	pthread_t thread;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->ret = exitsnoop_store_wait(w->s, w->id, w->timeout_ms, &w->st);
	return NULL;
}

static void test_private(void)
{
	exitsnoop_store *s = NULL;
	struct exitsnoop_task_info ti, got;
	struct exitsnoop_exit_status es;
	struct exitsnoop_stats st0, st;
	uint32_t tasks, events;
	uint64_t t0;
	int ws;

	OK(exitsnoop_store_attach_private(&s));
	CHECK(s != NULL);
	if (!s)
		return;
	OK(exitsnoop_store_capacity(s, &tasks, &events));
	CHECK(tasks == EXITSNOOP_DEFAULT_CAPACITY && events == EXITSNOOP_DEFAULT_CAPACITY);
	OK(exitsnoop_store_stats(s, &st0, sizeof(st0)));

	/* Trace, exit by code: wait wakes up with the status waitpid reports. */
	struct child c = spawn();
	memset(&ti, 0, sizeof(ti));
	ti.trace_id = 100;
	OK(exitsnoop_pidns_of(c.pid, &ti.pidns));
	OK(exitsnoop_store_trace(s, c.pid, &ti));
	RET(exitsnoop_store_trace(s, c.pid, &ti), -EEXIST); /* duplicate */
	OK(exitsnoop_store_get_tracing_task(s, c.pid, &got));
	CHECK(memcmp(&got, &ti, sizeof(ti)) == 0);
	RET(exitsnoop_store_get_tracing_task(s, c.pid, NULL), -EINVAL);
	RET(exitsnoop_store_trace(s, c.pid, NULL), -EINVAL);
	RET(exitsnoop_store_trace(s, 0, &ti), -EINVAL);
	RET(exitsnoop_store_trace(s, 99999999, &ti), -ESRCH); /* above any pid_max */

	RET(exitsnoop_store_get_exited_event(s, 100, &es), -ENOENT);
	RET(exitsnoop_store_get_exited_event(s, 100, NULL), -EINVAL);
	RET(exitsnoop_store_wait(s, 100, 0, &es), -ETIMEDOUT);
	t0 = now_ms();
	RET(exitsnoop_store_wait(s, 100, 150, &es), -ETIMEDOUT);
	CHECK(now_ms() - t0 >= 150);
	RET(exitsnoop_store_wait(s, 100, 0, NULL), -EINVAL);

	{
		struct waiter w = {.s = s, .id = 100, .timeout_ms = 20000, .ret = 1};

		CHECK(pthread_create(&w.thread, NULL, wait_thread, &w) == 0);
		usleep(50 * 1000);
		t0 = now_ms();
		ws = finish(&c, "exit 3");
		pthread_join(w.thread, NULL);
		CHECK(w.ret == 0);
		CHECK(now_ms() - t0 < 5000);
		CHECK(WIFEXITED(w.st.exit_code) && WEXITSTATUS(w.st.exit_code) == 3);
		CHECK(w.st.exit_code == ws && w.st.pid == (uint32_t)c.pid);
		CHECK(w.st.start_boottime > 0 && w.st.exited_time > 0);
	}
	OK(exitsnoop_store_get_exited_event(s, 100, &es));
	CHECK(es.exit_code == ws && es.pid == (uint32_t)c.pid);
	OK(exitsnoop_store_wait(s, 100, 0, &es)); /* there already: at once */
	RET(exitsnoop_store_get_tracing_task(s, c.pid, &got), -ENOENT); /* entry consumed */
	OK(exitsnoop_store_delete_exited_event(s, 100));
	RET(exitsnoop_store_delete_exited_event(s, 100), -ENOENT);
	RET(exitsnoop_store_get_exited_event(s, 100, &es), -ENOENT);
	RET(exitsnoop_store_get_exited_event(s, 12345678, &es), -ENOENT); /* never used */

	/* Killed by a signal, traced by pidfd. */
	c = spawn();
	int pfd = pidfd_open(c.pid);
	ti = (struct exitsnoop_task_info){.trace_id = 101};
	if (pfd < 0 && errno == ENOSYS) { /* valgrind 3.19 does not know pidfd_open */
		printf("     (pidfd_open: ENOSYS, under valgrind? trace_pidfd is checked by the other runs)\n");
		no_pidfd = true;
		OK(exitsnoop_store_trace(s, c.pid, &ti));
	} else {
		CHECK(pfd >= 0);
		OK(exitsnoop_store_trace_pidfd(s, pfd, &ti));
		RET(exitsnoop_store_trace_pidfd(s, pfd, &ti), -EEXIST);
		RET(exitsnoop_store_trace_pidfd(s, pfd, NULL), -EINVAL);
	}
	ws = finish(&c, "kill -KILL $$");
	OK(exitsnoop_store_wait(s, 101, 10000, &es));
	CHECK(WIFSIGNALED(es.exit_code) && WTERMSIG(es.exit_code) == SIGKILL && es.exit_code == ws);
	if (!no_pidfd) {
		/* Its pidfd now names a reaped process: refused even if the pid was reused. */
		RET(exitsnoop_store_trace_pidfd(s, pfd, &ti), -ESRCH);
		close(pfd);
		RET(exitsnoop_store_trace_pidfd(s, pfd, &ti), -EINVAL); /* closed fd */
	}
	RET(exitsnoop_store_trace_pidfd(s, -1, &ti), -EINVAL);
	{
		int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		RET(exitsnoop_store_trace_pidfd(s, nullfd, &ti), -EINVAL); /* not a pidfd */
		close(nullfd);
	}

	/* A process that has exited (a zombie) cannot be traced: no event would come. */
	c = spawn();
	{
		siginfo_t si;
		release(&c, "exit 0");
		waitid(P_PID, c.pid, &si, WEXITED | WNOWAIT);
		ti.trace_id = 102;
		RET(exitsnoop_store_trace(s, c.pid, &ti), -ESRCH);
		waitpid(c.pid, NULL, 0);
	}

	/* Stop tracing: no event. */
	c = spawn();
	ti.trace_id = 103;
	OK(exitsnoop_store_trace(s, c.pid, &ti));
	OK(exitsnoop_store_delete_tracing_task(s, c.pid));
	RET(exitsnoop_store_delete_tracing_task(s, c.pid), -ENOENT);
	RET(exitsnoop_store_get_tracing_task(s, c.pid, &got), -ENOENT);
	finish(&c, "exit 0");
	/* Neither traced nor recorded: the wait ends at once, whatever its timeout. */
	RET(exitsnoop_store_wait(s, 103, -1, &es), -ENOENT);
	RET(exitsnoop_store_delete_tracing_task(s, 99999999), -ENOENT);

	/* Record from a wait status: one source of truth; the kernel's record wins. */
	OK(exitsnoop_store_record_wait_status(s, 104, 4242, 5 << 8));
	OK(exitsnoop_store_get_exited_event(s, 104, &es));
	CHECK(es.pid == 4242 && es.exit_code == 5 << 8 && es.start_boottime == 0 && es.exited_time > 0);
	RET(exitsnoop_store_record_wait_status(s, 104, 4242, 0), -EEXIST);
	OK(exitsnoop_store_delete_exited_event(s, 104));
	c = spawn(); /* traced under 105, then its exit recorded by hand: the entry goes */
	ti.trace_id = 105;
	OK(exitsnoop_store_trace(s, c.pid, &ti));
	OK(exitsnoop_store_record_wait_status(s, 105, c.pid, 9));
	RET(exitsnoop_store_get_tracing_task(s, c.pid, &got), -ENOENT);
	finish(&c, "exit 1");
	OK(exitsnoop_store_get_exited_event(s, 105, &es));
	CHECK(es.exit_code == 9 && es.pid == (uint32_t)c.pid);

	/* Stats: the two recorded exits at least; sizes of older and newer callers. */
	OK(exitsnoop_store_stats(s, &st, sizeof(st)));
	CHECK(st.exits >= st0.exits + 2 && st.recorded >= st0.recorded + 2);
	{
		struct {
			struct exitsnoop_stats st;
			uint64_t future[3];
		} big;
		memset(&big, 0xab, sizeof(big));
		OK(exitsnoop_store_stats(s, &big.st, sizeof(big)));
		CHECK(big.st.recorded >= st.recorded);
		CHECK(big.future[0] == 0 && big.future[1] == 0 && big.future[2] == 0);
		memset(&big, 0xab, sizeof(big));
		OK(exitsnoop_store_stats(s, &big.st, sizeof(uint64_t))); /* only .exits */
		CHECK(big.st.exits >= st.exits && big.st.recorded == 0xababababababababULL);
	}
	RET(exitsnoop_store_stats(s, NULL, sizeof(st)), -EINVAL);
	RET(exitsnoop_store_stats(s, &st, 0), -EINVAL);
	RET(exitsnoop_store_stats(s, &st, 7), -EINVAL);
	RET(exitsnoop_store_stats(s, &st, 1 << 20), -EINVAL);

	OK(exitsnoop_store_close(s));
	OK(exitsnoop_store_free(s));
}

/* ---- A closed handle ------------------------------------------------------ */

static void test_closed(void)
{
	exitsnoop_store *s = NULL;
	struct exitsnoop_task_info ti = {.trace_id = 1};
	struct exitsnoop_exit_status es;
	struct exitsnoop_stats st;
	uint32_t a, b;
	struct waiter w[2];

	struct child alive[2];

	OK(exitsnoop_store_open(NULL, &s)); /* NULL opts: a private tracer */
	if (!s)
		return;
	/* Waiters on running processes, without limit and with a long one: closing
	 * ends both with -EBADF. */
	for (int i = 0; i < 2; i++) {
		struct exitsnoop_task_info t = {.trace_id = 55 + i};

		alive[i] = spawn();
		OK(exitsnoop_store_trace(s, alive[i].pid, &t));
		w[i] = (struct waiter){.s = s, .id = 55 + i, .timeout_ms = i ? 60000 : -1, .ret = 1};
		CHECK(pthread_create(&w[i].thread, NULL, wait_thread, &w[i]) == 0);
	}
	usleep(100 * 1000);
	OK(exitsnoop_store_close(s));
	for (int i = 0; i < 2; i++) {
		pthread_join(w[i].thread, NULL);
		CHECK(w[i].ret == -EBADF);
		finish(&alive[i], "exit 0");
	}

	RET(exitsnoop_store_trace(s, (uint32_t)getpid(), &ti), -EBADF);
	{
		int pfd = pidfd_open(getpid());
		if (!no_pidfd)
			RET(exitsnoop_store_trace_pidfd(s, pfd, &ti), -EBADF);
		close(pfd);
	}
	RET(exitsnoop_store_get_tracing_task(s, 1, &ti), -EBADF);
	RET(exitsnoop_store_delete_tracing_task(s, 1), -EBADF);
	RET(exitsnoop_store_record_wait_status(s, 1, 1, 0), -EBADF);
	RET(exitsnoop_store_get_exited_event(s, 1, &es), -EBADF);
	RET(exitsnoop_store_delete_exited_event(s, 1), -EBADF);
	RET(exitsnoop_store_wait(s, 1, 0, &es), -EBADF);
	RET(exitsnoop_store_wait(s, 1, -1, &es), -EBADF);
	RET(exitsnoop_store_stats(s, &st, sizeof(st)), -EBADF);
	RET(exitsnoop_store_capacity(s, &a, &b), -EBADF);
	OK(exitsnoop_store_close(s)); /* idempotent */
	OK(exitsnoop_store_free(s));
}

/* ---- A pinned tracer, two handles ----------------------------------------- */

/* Raw bpf(2): rewrite the pinned meta's format version, as another build would have. */
static int corrupt_format(const char *root)
{
	char path[512];
	union bpf_attr attr;
	uint32_t key = 0;
	struct {
		uint32_t format_version, pid_buckets;
		uint8_t build_id[24];
	} meta;
	int fd, err;

	snprintf(path, sizeof(path), "%s/.exitsnoop.bpf/meta", root);
	memset(&attr, 0, sizeof(attr));
	attr.pathname = (uint64_t)(uintptr_t)path;
	fd = (int)syscall(SYS_bpf, BPF_OBJ_GET, &attr, sizeof(attr));
	if (fd < 0)
		return -errno;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = fd;
	attr.key = (uint64_t)(uintptr_t)&key;
	attr.value = (uint64_t)(uintptr_t)&meta;
	err = (int)syscall(SYS_bpf, BPF_MAP_LOOKUP_ELEM, &attr, sizeof(attr));
	if (err == 0) {
		meta.format_version = 999;
		err = (int)syscall(SYS_bpf, BPF_MAP_UPDATE_ELEM, &attr, sizeof(attr));
	}
	err = err ? -errno : 0;
	close(fd);
	return err;
}

static void test_pinned(void)
{
	char root[] = "/tmp/exitsnoop-ctest-XXXXXX";
	exitsnoop_store *s1 = NULL, *s2 = NULL;
	struct exitsnoop_task_info ti = {.trace_id = 900};
	struct exitsnoop_exit_status es;
	struct exitsnoop_stats st;
	uint32_t tasks, events;
	int ws;

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		failures++;
		return;
	}
	RET(exitsnoop_store_open_pinned(root, &s1), -ENOPKG); /* not installed */
	CHECK(s1 == NULL);
	RET(exitsnoop_uninstall(root), -ENOPKG);

	OK(exitsnoop_ensure_running(root));
	OK(exitsnoop_ensure_running(root)); /* idempotent */
	OK(exitsnoop_store_open_pinned(root, &s1));
	{
		/* Open with a root: the same pinned tracer (it keeps its capacities). */
		EXITSNOOP_OPTS(exitsnoop_open_opts, o, .bpffs_root = root, .max_tracing_tasks = 8);
		OK(exitsnoop_store_open(&o, &s2));
	}
	if (!s1 || !s2)
		goto out;
	OK(exitsnoop_store_capacity(s2, &tasks, &events));
	CHECK(tasks == EXITSNOOP_DEFAULT_CAPACITY);

	/* Traced through one handle, read through the other. */
	struct child c = spawn();
	OK(exitsnoop_store_trace(s1, c.pid, &ti));
	OK(exitsnoop_store_get_tracing_task(s2, c.pid, &ti));
	CHECK(ti.trace_id == 900);
	ws = finish(&c, "exit 42");
	OK(exitsnoop_store_wait(s2, 900, 10000, &es));
	CHECK(WEXITSTATUS(es.exit_code) == 42 && es.exit_code == ws);
	OK(exitsnoop_store_stats(s1, &st, sizeof(st)));
	CHECK(st.recorded >= 1);
	OK(exitsnoop_store_delete_exited_event(s1, 900));
	RET(exitsnoop_store_get_exited_event(s2, 900, &es), -ENOENT);
	OK(exitsnoop_store_free(s1));
	s1 = NULL;

	/* The pins outlive the handles; closing one handle leaves the other working. */
	OK(exitsnoop_store_close(s2));
	OK(exitsnoop_store_free(s2));
	s2 = NULL;
	OK(exitsnoop_store_open_pinned(root, &s1));
	OK(exitsnoop_store_record_wait_status(s1, 901, 1, 0));
	OK(exitsnoop_store_free(s1));
	s1 = NULL;
	OK(exitsnoop_store_open_pinned(root, &s1));
	OK(exitsnoop_store_get_exited_event(s1, 901, &es));
	OK(exitsnoop_store_free(s1));
	s1 = NULL;

	/* Pins without their link record nothing: -ENOLINK; ensure_running repairs them. */
	{
		char lnk[PATH_MAX];

		snprintf(lnk, sizeof(lnk), "%s/.exitsnoop.bpf/link", root);
		OK(unlink(lnk));
		RET(exitsnoop_store_open_pinned(root, &s1), -ENOLINK);
		CHECK(s1 == NULL);
		OK(exitsnoop_ensure_running(root));
		OK(exitsnoop_store_open_pinned(root, &s1));
		OK(exitsnoop_store_get_exited_event(s1, 901, &es)); /* the maps are kept */
		OK(exitsnoop_store_free(s1));
		s1 = NULL;
	}

	/* Pins of another format: -EPROTO (data in them: ensure_running refuses too). */
	OK(corrupt_format(root));
	RET(exitsnoop_store_open_pinned(root, &s1), -EPROTO);
	CHECK(s1 == NULL);
	RET(exitsnoop_ensure_running(root), -EPROTO);

	OK(exitsnoop_uninstall(root));
	RET(exitsnoop_uninstall(root), -ENOPKG);
	RET(exitsnoop_store_open_pinned(root, &s1), -ENOPKG);
out:
	exitsnoop_store_free(s1);
	exitsnoop_store_free(s2);
	if (failures)
		exitsnoop_uninstall(root); /* unmount after a failure, if need be */
	if (rmdir(root))
		perror("rmdir");
}

/* ---- Threads -------------------------------------------------------------- */

#define THREADS 4
#define PER_THREAD 5

struct worker {
	exitsnoop_store *s;
	int n;
	pthread_t thread;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		uint64_t id = 10000 + (uint64_t)w->n * 100 + (uint64_t)i;
		struct exitsnoop_task_info ti = {.trace_id = id}, got;
		struct exitsnoop_exit_status es;
		struct exitsnoop_stats st;
		struct child c = spawn();
		char cmd[32];
		int ws;

		snprintf(cmd, sizeof(cmd), "exit %d", i + w->n);
		OK(exitsnoop_store_trace(w->s, c.pid, &ti));
		OK(exitsnoop_store_get_tracing_task(w->s, c.pid, &got));
		OK(exitsnoop_store_stats(w->s, &st, sizeof(st)));
		ws = finish(&c, cmd);
		OK(exitsnoop_store_wait(w->s, id, 10000, &es));
		CHECK(es.exit_code == ws && WEXITSTATUS(es.exit_code) == i + w->n);
		OK(exitsnoop_store_delete_exited_event(w->s, id));
		RET(exitsnoop_store_trace(NULL, 1, &ti), -EINVAL); /* per-thread messages */
	}
	return NULL;
}

static void test_threads(void)
{
	exitsnoop_store *s = NULL;
	struct worker w[THREADS];

	OK(exitsnoop_store_attach_private(&s));
	if (!s)
		return;
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.s = s, .n = i};
		CHECK(pthread_create(&w[i].thread, NULL, work, &w[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(w[i].thread, NULL);
	OK(exitsnoop_store_free(s));
}

/*
 * Not run by default: loses store handles on purpose, so that `make test` can
 * show that the leak checker (valgrind, LeakSanitizer) of its runs is live.
 */
static void test_planted_leak(void)
{
	exitsnoop_store *s = NULL;

	OK(exitsnoop_store_attach_private(&s));
	memset(&s, 0, sizeof(s)); /* lost without exitsnoop_store_free */
	__asm__ volatile("" ::: "memory");
}

/* ---- main ----------------------------------------------------------------- */

static const struct test tests[] = {
	{"bad_input", test_bad_input, true}, {"opts", test_opts, true},
	{"private", test_private, true},     {"closed", test_closed, true},
	{"pinned", test_pinned, true},       {"threads", test_threads, true},
	{"planted_leak", test_planted_leak, false},
};

int main(int argc, char **argv)
{
	return run_tests("test_exitsnoop", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
