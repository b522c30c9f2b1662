/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * check.h - what the C tests share: checks that count and report (CHECK, RET,
 * OK), children that wait on a pipe for the command that ends them, and the
 * runner of named tests. Included by one test program each: static functions.
 */
#ifndef EXITSNOOP_CHECK_H
#define EXITSNOOP_CHECK_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <exitsnoop.h>

static int checks, failures;
static volatile int check_line; /* the line of the check that runs: a hang names it */
static bool no_pidfd __attribute__((unused)); /* pidfd_open is ENOSYS (valgrind) */

static void report(const char *file, int line, const char *expr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void report(const char *file, int line, const char *expr, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	exitsnoop_last_error(msg, sizeof(msg));
	fprintf(stderr, "FAIL %s:%d: %s: ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (last error: %s)\n", msg);
	__atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
}

/* CHECK(cond): a plain assertion. */
#define CHECK(cond)                                                                    \
	do {                                                                           \
		__atomic_add_fetch(&checks, 1, __ATOMIC_SEQ_CST);                      \
		check_line = __LINE__;                                                 \
		if (!(cond))                                                           \
			report(__FILE__, __LINE__, #cond, "false");                    \
	} while (0)

/* RET(call, want): call returns want (0 or -E...), and sets errno to -want on failure. */
#define RET(call, want)                                                                \
	do {                                                                           \
		int want_ = (want), got_;                                              \
		errno = 0;                                                             \
		check_line = __LINE__;                                                 \
		got_ = (call);                                                         \
		__atomic_add_fetch(&checks, 1, __ATOMIC_SEQ_CST);                      \
		if (got_ != want_)                                                     \
			report(__FILE__, __LINE__, #call, "returned %d (%s), want %d (%s)", \
			       got_, got_ ? strerror(-got_) : "ok", want_,              \
			       want_ ? strerror(-want_) : "ok");                        \
		else if (want_ < 0 && errno != -want_)                                 \
			report(__FILE__, __LINE__, #call, "errno %d, want %d", errno, -want_); \
	} while (0)

#define OK(call) RET(call, 0)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Children ------------------------------------------------------------- */

/*
 * A child: a shell that waits on a pipe for the command that ends it ("exit 3",
 * "kill -KILL $$"). It execs at once, so it runs natively under valgrind too, and
 * no code of this process runs in it after fork but dup2 and exec.
 */
struct child {
	pid_t pid;
	int gate; /* write end of its stdin */
};

static struct child spawn(void)
{
	struct child c = {-1, -1};
	int p[2];

	if (pipe2(p, O_CLOEXEC)) {
		perror("pipe");
		exit(2);
	}
	c.pid = fork();
	if (c.pid < 0) {
		perror("fork");
		exit(2);
	}
	if (c.pid == 0) {
		if (dup2(p[0], 0) == 0)
			execl("/bin/sh", "sh", "-c", "read -r cmd && eval \"$cmd\"", (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	c.gate = p[1];
	return c;
}

/* release sends the child the command that ends it. */
static void release(struct child *c, const char *cmd)
{
	size_t n = strlen(cmd);

	if (write(c->gate, cmd, n) != (ssize_t)n || write(c->gate, "\n", 1) != 1)
		perror("write gate");
	close(c->gate);
}

/* finish releases the child and reaps it; returns its wait status. */
static int finish(struct child *c, const char *cmd)
{
	int ws = -1;

	release(c, cmd);
	if (waitpid(c->pid, &ws, 0) != c->pid)
		perror("waitpid");
	return ws;
}

__attribute__((unused)) static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}


/* ---- The runner ----------------------------------------------------------- */

struct test {
	const char *name;
	void (*fn)(void);
	bool by_default;
};

/* run_tests runs the tests named on the command line, or every test run by
 * default: 0 if every check passed (and there was one), 1 otherwise. */
/* on_alarm ends a hung run, naming the line of the check it hung in or after. */
static void on_alarm(int sig)
{
	static const char hung[] = "FAIL: hung for 300 s, in or after the check of line ";
	char msg[sizeof(hung) + 12], digits[12];
	int line = check_line, d = 0;
	size_t n = sizeof(hung) - 1;

	(void)sig;
	do
		digits[d++] = (char)('0' + line % 10);
	while ((line /= 10) > 0);
	memcpy(msg, hung, n);
	while (d > 0)
		msg[n++] = digits[--d];
	msg[n++] = '\n';
	if (write(2, msg, n) < 0)
		_exit(4);
	_exit(3);
}

static int run_tests(const char *prog, const struct test *tests, size_t n, int argc, char **argv)
{
	if (geteuid() != 0) {
		fprintf(stderr, "%s loads BPF programs: run it as root\n", prog);
		return 1;
	}
	signal(SIGALRM, on_alarm);
	alarm(300); /* a hang fails the run rather than CI */
	for (int a = 1; a < argc; a++) {
		bool known = false;

		for (size_t i = 0; i < n; i++)
			known |= strcmp(argv[a], tests[i].name) == 0;
		if (!known) {
			fprintf(stderr, "%s: no test named '%s'\n", prog, argv[a]);
			return 2;
		}
	}
	for (size_t i = 0; i < n; i++) {
		bool run = argc < 2 && tests[i].by_default;
		int before = failures;
		uint64_t t0 = now_ms();

		for (int a = 1; a < argc; a++)
			run |= strcmp(argv[a], tests[i].name) == 0;
		if (!run)
			continue;
		tests[i].fn();
		printf("%-4s %-12s %5llu ms\n", failures == before ? "ok" : "FAIL", tests[i].name,
		       (unsigned long long)(now_ms() - t0));
		fflush(stdout);
	}
	printf("%d checks, %d failed\n", checks, failures);
	return failures || checks == 0 ? 1 : 0; /* a run that checked nothing proves nothing */
}

#endif
