// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The C test of what libexitsnoop.a promises an embedding runtime, against the
 * real kernel (run as root): no Go runtime (no thread, no signal handler; a
 * fork()ed child uses it), the event loop's fd and consume call, a burst of
 * simultaneous exits recorded exactly, and pins shared with the Go package's
 * CLI both ways (EXITSNOOP_CLI, or the one the Makefile names). `make -C cgo
 * test` runs it as test_exitsnoop.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <linux/bpf.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include "check.h"

/* threads counts the calling process's threads (/proc/self/task). */
static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* handlers reads every signal's handler into h (NSIG entries). */
static void handlers(void (*h[NSIG])(int))
{
	struct sigaction sa;

	h[0] = SIG_DFL; /* no signal 0 */
	for (int sig = 1; sig < NSIG; sig++)
		h[sig] = sigaction(sig, NULL, &sa) == 0 ? sa.sa_handler : SIG_ERR;
}

/* traced_exit traces a child under id with s, ends it with cmd and waits for the
 * event: 0 if it is the status waitpid saw, else what went wrong. */
static int traced_exit(exitsnoop_store *s, uint64_t id, const char *cmd)
{
	struct exitsnoop_task_info ti = {.trace_id = id};
	struct exitsnoop_exit_status es;
	struct child c = spawn();
	int err, ws;

	err = exitsnoop_store_trace(s, c.pid, &ti);
	ws = finish(&c, cmd);
	if (!err)
		err = exitsnoop_store_wait(s, id, 10000, &es);
	return err ? err : es.exit_code == ws ? 0 : 1;
}

static void ignore_event(void *ctx, uint64_t id, const struct exitsnoop_exit_status *st)
{
	(void)ctx, (void)id, (void)st;
}

static void test_no_runtime(void)
{
	void (*before[NSIG])(int), (*after[NSIG])(int);
	exitsnoop_store *s = NULL;
	int ws = -1, t0 = threads();
	pid_t pid;

	/* What the process had before any call (a sanitizer's runtime has handlers of
	 * its own): no constructor of the library changed it. */
	handlers(before);
	OK(exitsnoop_store_attach_private(&s));
	OK(traced_exit(s, 1, "exit 3"));
	CHECK(exitsnoop_store_epoll_fd(s) >= 0);
	CHECK(exitsnoop_store_consume(s, ignore_event, NULL) >= 0);
	CHECK(threads() == t0); /* no thread of its own, ever */
	handlers(after);
	CHECK(memcmp(before, after, sizeof(before)) == 0); /* no signal handler */

	/* A fork()ed child uses the handle it inherited, and a new one. */
	pid = fork();
	if (pid == 0) {
		exitsnoop_store *t = NULL;
		int bad = traced_exit(s, 2, "exit 4") != 0;

		bad |= exitsnoop_store_attach_private(&t) != 0 || traced_exit(t, 3, "kill -KILL $$") != 0;
		bad |= exitsnoop_store_free(t) != 0;
		_exit(bad);
	}
	CHECK(pid > 0 && waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	OK(exitsnoop_store_free(s));
	CHECK(threads() == t0);
}

/* ---- Event loop ----------------------------------------------------------- */

struct seen {
	int n;
	uint64_t ids[8];
	int32_t codes[8];
};

static void on_exit_event(void *ctx, uint64_t id, const struct exitsnoop_exit_status *st)
{
	struct seen *seen = ctx;

	if (seen->n < 8) {
		seen->ids[seen->n] = id;
		seen->codes[seen->n++] = st->exit_code;
	}
}

/* wake_flag reads the pinned tracer's notify_wake.waiting under root, with raw
 * bpf(2): 1 while a reader asks the kernel for a wake-up, 0 once it woke them. */
static int wake_flag(const char *root)
{
	char p[PATH_MAX];
	uint32_t key = 0, v[2] = {9, 9};
	union bpf_attr a;
	int fd, r;

	snprintf(p, sizeof(p), "%s/.exitsnoop.bpf/notify_wake", root);
	memset(&a, 0, sizeof(a));
	a.pathname = (uint64_t)(uintptr_t)p;
	fd = (int)syscall(SYS_bpf, BPF_OBJ_GET, &a, sizeof(a));
	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)&key;
	a.value = (uint64_t)(uintptr_t)v;
	r = (int)syscall(SYS_bpf, BPF_MAP_LOOKUP_ELEM, &a, sizeof(a));
	close(fd);
	return r ? -1 : (int)v[0];
}

static void test_event_loop(void)
{
	static const char *const cmds[] = {"exit 1", "exit 2", "kill -KILL $$"};
	struct exitsnoop_task_info ti;
	struct epoll_event ev = {.events = EPOLLIN}, got;
	char root[] = "/tmp/exitsnoop-loop-XXXXXX";
	struct exitsnoop_exit_status es;
	struct seen seen = {0};
	exitsnoop_store *s = NULL;
	struct child c[3];
	int fd, ep, ws[3];
	uint64_t deadline;

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		failures++;
		return;
	}
	EXITSNOOP_OPTS(exitsnoop_open_opts, opts, .bpffs_root = root); /* pinned: the test reads its flag */
	OK(exitsnoop_store_open(&opts, &s));
	if (!s)
		goto out;
	RET(exitsnoop_store_consume(s, on_exit_event, &seen), -EINVAL); /* no epoll fd yet */
	RET(exitsnoop_store_consume(s, NULL, NULL), -EINVAL);
	/* No backstop timer in this test: every readiness below is the kernel's wake-up. */
	setenv("EXITSNOOP_TEST_BACKSTOP_MS", "3600000", 1);
	fd = exitsnoop_store_epoll_fd(s);
	unsetenv("EXITSNOOP_TEST_BACKSTOP_MS");
	CHECK(fd >= 0 && exitsnoop_store_epoll_fd(s) == fd);
	/* the caller's own loop, with the store's fd in it */
	ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
	RET(exitsnoop_store_consume(s, on_exit_event, &seen), 0); /* nothing yet ... */
	CHECK(wake_flag(root) == 1); /* ... and the kernel is asked for a wake-up */
	CHECK(epoll_wait(ep, &got, 1, 0) == 0);

	/* A recorded exit clears the flag as the program wakes the readers, and the
	 * fd is readable. */
	OK(traced_exit(s, 19, "exit 5"));
	deadline = now_ms() + 2000; /* the program cleared it in the same run as it recorded */
	while (wake_flag(root) != 0 && now_ms() < deadline)
		usleep(10000);
	CHECK(wake_flag(root) == 0);
	CHECK(epoll_wait(ep, &got, 1, 1000) == 1);
	RET(exitsnoop_store_consume(s, on_exit_event, &seen), 1); /* that one exit */
	CHECK(seen.n == 1 && seen.ids[0] == 19 && WEXITSTATUS(seen.codes[0]) == 5);
	CHECK(wake_flag(root) == 1); /* re-armed */
	seen.n = 0;
	for (int i = 0; i < 3; i++) {
		c[i] = spawn();
		ti = (struct exitsnoop_task_info){.trace_id = 20 + i};
		OK(exitsnoop_store_trace(s, c[i].pid, &ti));
	}
	for (int i = 0; i < 3; i++)
		ws[i] = finish(&c[i], cmds[i]);
	deadline = now_ms() + 10000;
	while (seen.n < 3 && now_ms() < deadline)
		if (epoll_wait(ep, &got, 1, 1000) > 0)
			CHECK(exitsnoop_store_consume(s, on_exit_event, &seen) >= 0);
	CHECK(seen.n == 3);
	for (int i = 0; i < seen.n && i < 3; i++)
		CHECK(seen.ids[i] >= 20 && seen.ids[i] < 23 && seen.codes[i] == ws[seen.ids[i] - 20]);
	OK(exitsnoop_store_get_exited_event(s, 20, &es)); /* the events stay in the store */
	OK(exitsnoop_store_close(s));
	RET(exitsnoop_store_consume(s, on_exit_event, &seen), -EBADF);
	RET(exitsnoop_store_epoll_fd(s), -EBADF);
	close(ep);
out:
	OK(exitsnoop_store_free(s));
	OK(exitsnoop_uninstall(root));
	if (rmdir(root))
		perror("rmdir");
}

/* ---- Burst ---------------------------------------------------------------- */

#define BURST 300

/* Every one of BURST traced children dying at once is recorded, exactly: a third
 * killed, the others exiting with a code of their own. */
static void test_burst(void)
{
	static struct child c[BURST];
	struct exitsnoop_stats before, after;
	struct exitsnoop_exit_status es;
	struct exitsnoop_task_info ti;
	exitsnoop_store *s = NULL;
	char cmd[32];
	int ws[BURST], exact = 0;

	OK(exitsnoop_store_attach_private(&s));
	if (!s)
		return;
	OK(exitsnoop_store_stats(s, &before, sizeof(before)));
	for (int i = 0; i < BURST; i++) {
		c[i] = spawn();
		ti = (struct exitsnoop_task_info){.trace_id = 1000 + i};
		OK(exitsnoop_store_trace(s, c[i].pid, &ti));
	}
	for (int i = 0; i < BURST; i++) { /* released back to back, reaped afterwards */
		snprintf(cmd, sizeof(cmd), i % 3 == 2 ? "kill -KILL $$" : "exit %d", i % 200);
		release(&c[i], cmd);
	}
	for (int i = 0; i < BURST; i++)
		if (waitpid(c[i].pid, &ws[i], 0) != c[i].pid)
			ws[i] = -1;
	for (int i = 0; i < BURST; i++)
		exact += exitsnoop_store_wait(s, 1000 + i, 10000, &es) == 0 && es.exit_code == ws[i];
	CHECK(exact == BURST);
	OK(exitsnoop_store_stats(s, &after, sizeof(after)));
	CHECK(after.exits - before.exits == BURST && after.recorded - before.recorded == BURST);
	OK(exitsnoop_store_free(s));
}

/* ---- Pins shared with the Go package -------------------------------------- */

#ifndef EXITSNOOP_CLI
#define EXITSNOOP_CLI "exitsnoop"
#endif

/* cli runs the Go package's CLI with args and returns its exit status; its
 * output goes to out (size bytes) if out is not NULL. */
static int cli(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cli(char *out, size_t size, const char *fmt, ...)
{
	const char *bin = getenv("EXITSNOOP_CLI") ? getenv("EXITSNOOP_CLI") : EXITSNOOP_CLI;
	char cmd[PATH_MAX * 3];
	size_t n, got = 0;
	va_list ap;
	FILE *f;

	n = (size_t)snprintf(cmd, sizeof(cmd), "%s ", bin);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - n, fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (out && got + 1 < size && (n = fread(out + got, 1, size - 1 - got, f)) > 0)
		got += n;
	if (out)
		out[got] = 0;
	return pclose(f);
}

/* link_ino is the inode of the exit program's link pin: a reinstall or an
 * upgrade replaces it. */
static ino_t link_ino(const char *root)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/.exitsnoop.bpf/link", root);
	return stat(p, &st) ? 0 : st.st_ino;
}

static void test_interop(void)
{
	char root[] = "/tmp/exitsnoop-interop-XXXXXX", out[4096];
	struct exitsnoop_task_info ti = {.trace_id = 2};
	struct exitsnoop_exit_status es;
	exitsnoop_store *s = NULL;
	struct child c;
	ino_t ino;
	int ws;

	if (!mkdtemp(root)) {
		perror("mkdtemp");
		failures++;
		return;
	}
	/* Installed by Go: the C library finds it running (same build), reads and writes it. */
	CHECK(cli(NULL, 0, "install -bpffs %s >/dev/null", root) == 0);
	ino = link_ino(root);
	OK(exitsnoop_ensure_running(root));
	CHECK(ino != 0 && link_ino(root) == ino);
	OK(exitsnoop_store_open_pinned(root, &s));
	if (s) {
		OK(traced_exit(s, 1, "exit 7")); /* C traces and reads ... */
		CHECK(cli(out, sizeof(out), "wait -bpffs %s -json 1", root) == 0); /* ... Go reads */
		CHECK(strstr(out, "\"wait_status\":1792") != NULL);
		c = spawn(); /* Go traces, C reads */
		CHECK(cli(NULL, 0, "trace -bpffs %s -id 2 %d >/dev/null", root, c.pid) == 0);
		ws = finish(&c, "kill -KILL $$");
		OK(exitsnoop_store_wait(s, 2, 10000, &es));
		CHECK(es.exit_code == ws && WTERMSIG(es.exit_code) == SIGKILL);
		OK(exitsnoop_store_free(s));
	}
	CHECK(cli(NULL, 0, "uninstall -bpffs %s", root) == 0);
	RET(exitsnoop_store_open_pinned(root, &s), -ENOPKG);

	/* Installed by C: Go finds it running, and reads what C traced. */
	OK(exitsnoop_ensure_running(root));
	ino = link_ino(root);
	CHECK(cli(NULL, 0, "install -bpffs %s >/dev/null", root) == 0);
	CHECK(ino != 0 && link_ino(root) == ino);
	OK(exitsnoop_store_open_pinned(root, &s));
	if (s) {
		c = spawn();
		ti.trace_id = 3;
		OK(exitsnoop_store_trace(s, c.pid, &ti));
		finish(&c, "exit 9");
		CHECK(cli(out, sizeof(out), "wait -bpffs %s -json 3", root) == 0);
		CHECK(strstr(out, "\"exit_code\":9") != NULL);
		OK(exitsnoop_store_free(s));
	}
	OK(exitsnoop_uninstall(root));
	CHECK(cli(out, sizeof(out), "status -bpffs %s -json", root) == 0); /* gone for Go too */
	CHECK(strstr(out, "\"installed\":false") != NULL);
	if (rmdir(root))
		perror("rmdir");
}

/* ---- main ----------------------------------------------------------------- */

static const struct test tests[] = {
	{"no_runtime", test_no_runtime, true}, /* first: before any other test's calls */
	{"event_loop", test_event_loop, true},
	{"burst", test_burst, true},
	{"interop", test_interop, true},
};

int main(int argc, char **argv)
{
	return run_tests("test_embed", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
