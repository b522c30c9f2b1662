/*
 * scenario.c - test helper for the exitsnoop tests.
 *
 * Build: gcc -O1 -pthread -o scenario scenario.c
 * Run:   scenario MODE [ARGS...]
 *
 * Protocol (every mode):
 *   1. Set up a situation in a (usually multi-threaded) process. When the
 *      interesting intermediate state is reached, write "ready\n" to stdout
 *      (a single unbuffered write(2)).
 *   2. Block until one byte, or EOF, is read from stdin (fd 0). The reader is
 *      always a thread that is still alive in that state. Exactly one byte is
 *      consumed per wait, so later waits (after an exec) still see the rest.
 *   3. Only then finish the scenario (the final exit).
 *   Diagnostics go to stderr only. Bad usage exits with status 2 and a setup
 *   failure with status 3, both before "ready".
 *
 * Modes (expected wait status as returned by waitpid in brackets):
 *   exit N                   ready, wait, exit(N).                    [N<<8]
 *   leader-pthread-exit      main starts a worker and pthread_exits; the
 *                            worker waits until the leader is a zombie ('Z'
 *                            in /proc/PID/task/PID/stat), then ready, wait,
 *                            exit(7).                                 [7<<8]
 *   nonleader-exec           worker: ready, wait, then execv() of this
 *                            program as "exec-then-exit 5"; main blocks in
 *                            pause() and is killed by the exec.
 *   exec-then-exit N         "exec-ready\n", wait, exit(N).           [N<<8]
 *   worker-segv              RLIMIT_CORE soft limit 0; worker: ready, wait,
 *                            then SIGSEGV to itself; main in pause(). [11]
 *   coredump                 raise RLIMIT_CORE soft limit to the hard limit,
 *                            chdir($SCENARIO_DIR) if set; ready, wait,
 *                            abort().                      [6|0x80 if dumped]
 *   nonleader-exit-group N   worker: ready, wait, exit_group(N); main in
 *                            pause().                                 [N<<8]
 *   many-pthread-exit [K]    K workers (default 16) block on a condvar; main:
 *                            ready, wait, release them, pthread_exit; every
 *                            worker then pthread_exits (glibc turns the last
 *                            thread's exit into exit(0)).             [0]
 *   threads-exit-at-once K N K workers (e.g. 64) and main meet at a
 *                            barrier; main: ready once all workers wait,
 *                            wait, join the barrier; then all K+1 threads
 *                            call exit_group(N) at nearly the same time. [N<<8]
 *   kill-me                  ready, then block forever (the test sends
 *                            SIGKILL).                                [9]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WORKER_STACK (256 * 1024)

static char self_exe[PATH_MAX] = "/proc/self/exe";
static int exit_code;              /* N for modes that take one */
static int nthreads;               /* K for the many-threads modes */

/* many-pthread-exit / threads-exit-at-once shared state */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int arrived, released;
static pthread_barrier_t barrier;

static void usage(void)
{
	fprintf(stderr,
		"usage: scenario exit N | leader-pthread-exit | nonleader-exec |\n"
		"       exec-then-exit N | worker-segv | coredump |\n"
		"       nonleader-exit-group N | many-pthread-exit [K] |\n"
		"       threads-exit-at-once K N | kill-me\n"
		"  (0 <= N <= 255, 1 <= K <= 1024)\n");
	exit(2);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "scenario: %s: %s\n", what, strerror(err));
	exit(3);
}

/* Check a pthread_* return value. */
static void pt(int rc, const char *what)
{
	if (rc != 0)
		die(what, rc);
}

static void say(const char *msg)
{
	size_t len = strlen(msg);
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, msg, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write stdout", errno);
		}
		msg += n;
		len -= (size_t)n;
	}
}

/* Block until one byte or EOF arrives on stdin. Returns 1 on EOF. */
static int wait_stdin(void)
{
	char c;
	ssize_t n;
	do
		n = read(STDIN_FILENO, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fprintf(stderr, "scenario: read stdin: %s\n", strerror(errno));
	return n <= 0;
}

static int parse_int(const char *s, int lo, int hi)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		usage();
	return (int)v;
}

static void start_worker(void *(*fn)(void *))
{
	pthread_attr_t attr;
	pthread_t t;
	pt(pthread_attr_init(&attr), "pthread_attr_init");
	pt(pthread_attr_setstacksize(&attr, WORKER_STACK), "pthread_attr_setstacksize");
	pt(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED),
	   "pthread_attr_setdetachstate");
	pt(pthread_create(&t, &attr, fn, NULL), "pthread_create");
	pt(pthread_attr_destroy(&attr), "pthread_attr_destroy");
}

static void block_forever(void)
{
	for (;;)
		pause();
}

/* State letter of the thread-group leader, or 0 if unreadable. */
static char leader_state(void)
{
	char path[64], buf[512], *p;
	size_t n;
	FILE *f;
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)getpid(), (int)getpid());
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 0;
	return p[2];
}

static void *leader_exit_worker(void *arg)
{
	struct timespec ms = {0, 1000000};
	(void)arg;
	for (int i = 0; leader_state() != 'Z'; i++) {
		if (i == 10000) {
			fprintf(stderr, "scenario: leader not a zombie after 10s\n");
			exit(3);
		}
		nanosleep(&ms, NULL);
	}
	say("ready\n");
	wait_stdin();
	exit(7);
}

static void *exec_worker(void *arg)
{
	char *const args[] = {"scenario", "exec-then-exit", "5", NULL};
	(void)arg;
	say("ready\n");
	wait_stdin();
	execv(self_exe, args);
	die("execv", errno);
	return NULL;
}

static void *segv_worker(void *arg)
{
	sigset_t set;
	(void)arg;
	signal(SIGSEGV, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGSEGV);
	pt(pthread_sigmask(SIG_UNBLOCK, &set, NULL), "pthread_sigmask");
	say("ready\n");
	wait_stdin();
	pt(pthread_kill(pthread_self(), SIGSEGV), "pthread_kill");
	fprintf(stderr, "scenario: survived SIGSEGV\n");
	exit(3);
}

static void *exit_group_worker(void *arg)
{
	(void)arg;
	say("ready\n");
	wait_stdin();
	syscall(SYS_exit_group, exit_code);
	return NULL;
}

static void *parked_worker(void *arg)
{
	(void)arg;
	pt(pthread_mutex_lock(&mu), "pthread_mutex_lock");
	arrived++;
	pt(pthread_cond_broadcast(&cv), "pthread_cond_broadcast");
	while (!released)
		pt(pthread_cond_wait(&cv, &mu), "pthread_cond_wait");
	pt(pthread_mutex_unlock(&mu), "pthread_mutex_unlock");
	pthread_exit(NULL);
}

static void *barrier_worker(void *arg)
{
	int rc;
	(void)arg;
	pt(pthread_mutex_lock(&mu), "pthread_mutex_lock");
	arrived++;
	pt(pthread_cond_broadcast(&cv), "pthread_cond_broadcast");
	pt(pthread_mutex_unlock(&mu), "pthread_mutex_unlock");
	rc = pthread_barrier_wait(&barrier);
	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
		die("pthread_barrier_wait", rc);
	syscall(SYS_exit_group, exit_code);
	return NULL;
}

/* Start nthreads copies of fn and wait until all have checked in. */
static void start_and_gather(void *(*fn)(void *))
{
	for (int i = 0; i < nthreads; i++)
		start_worker(fn);
	pt(pthread_mutex_lock(&mu), "pthread_mutex_lock");
	while (arrived < nthreads)
		pt(pthread_cond_wait(&cv, &mu), "pthread_cond_wait");
	pt(pthread_mutex_unlock(&mu), "pthread_mutex_unlock");
}

static void set_core_limit(int enable)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_CORE, &rl) != 0)
		die("getrlimit", errno);
	rl.rlim_cur = enable ? rl.rlim_max : 0;
	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		die("setrlimit", errno);
}

int main(int argc, char **argv)
{
	const char *mode;
	ssize_t n;

	if (argc < 2)
		usage();
	mode = argv[1];

	/* Exec the real path so the new image's comm is "scenario", not "exe". */
	n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
	if (n > 0)
		self_exe[n] = '\0';
	else
		strcpy(self_exe, "/proc/self/exe");

	if (strcmp(mode, "exit") == 0 || strcmp(mode, "exec-then-exit") == 0) {
		int exec = strcmp(mode, "exec-then-exit") == 0;
		if (argc != 3)
			usage();
		exit_code = parse_int(argv[2], 0, 255);
		say(exec ? "exec-ready\n" : "ready\n");
		wait_stdin();
		exit(exit_code);
	} else if (strcmp(mode, "leader-pthread-exit") == 0 && argc == 2) {
		start_worker(leader_exit_worker);
		pthread_exit(NULL);
	} else if (strcmp(mode, "nonleader-exec") == 0 && argc == 2) {
		start_worker(exec_worker);
		block_forever();
	} else if (strcmp(mode, "worker-segv") == 0 && argc == 2) {
		set_core_limit(0);
		start_worker(segv_worker);
		block_forever();
	} else if (strcmp(mode, "coredump") == 0 && argc == 2) {
		const char *dir = getenv("SCENARIO_DIR");
		set_core_limit(1);
		if (dir != NULL && *dir != '\0' && chdir(dir) != 0)
			die("chdir $SCENARIO_DIR", errno);
		say("ready\n");
		wait_stdin();
		abort();
	} else if (strcmp(mode, "nonleader-exit-group") == 0 && argc == 3) {
		exit_code = parse_int(argv[2], 0, 255);
		start_worker(exit_group_worker);
		block_forever();
	} else if (strcmp(mode, "many-pthread-exit") == 0 && argc <= 3) {
		nthreads = argc == 3 ? parse_int(argv[2], 1, 1024) : 16;
		start_and_gather(parked_worker);
		say("ready\n");
		wait_stdin();
		pt(pthread_mutex_lock(&mu), "pthread_mutex_lock");
		released = 1;
		pt(pthread_cond_broadcast(&cv), "pthread_cond_broadcast");
		pt(pthread_mutex_unlock(&mu), "pthread_mutex_unlock");
		pthread_exit(NULL);
	} else if (strcmp(mode, "threads-exit-at-once") == 0 && argc == 4) {
		int rc;
		nthreads = parse_int(argv[2], 1, 1024);
		exit_code = parse_int(argv[3], 0, 255);
		pt(pthread_barrier_init(&barrier, NULL, (unsigned)nthreads + 1),
		   "pthread_barrier_init");
		start_and_gather(barrier_worker);
		say("ready\n");
		wait_stdin();
		rc = pthread_barrier_wait(&barrier);
		if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
			die("pthread_barrier_wait", rc);
		syscall(SYS_exit_group, exit_code);
	} else if (strcmp(mode, "kill-me") == 0 && argc == 2) {
		say("ready\n");
		while (!wait_stdin())
			;
		block_forever();
	}
	usage();
}
