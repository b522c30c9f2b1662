// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What libexitsnoop.a adds to a C program (cgo/footprint/run.sh builds this
 * twice: -DWITH_EXITSNOOP, and without, the empty program it is compared to).
 *
 *   footprint              prints "threads RSS-KiB" before any call and, with
 *                          exitsnoop, after opening a private store
 *   footprint exit         returns at once (what start-up times)
 *   footprint time N PROG  runs PROG exit N times; prints the median ns
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#ifdef WITH_EXITSNOOP
#include <exitsnoop.h>
#endif

extern char **environ;

static void usage(void)
{
	int threads = 0;
	long rss = -1;
	char line[256];
	struct dirent *e;
	DIR *d = opendir("/proc/self/task");
	FILE *f = fopen("/proc/self/status", "r");

	while (d && (e = readdir(d)))
		threads += e->d_name[0] != '.';
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			rss = atol(line + 6);
	if (d)
		closedir(d);
	if (f)
		fclose(f);
	printf("%d %ld\n", threads, rss);
}

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

static int time_runs(int n, char *prog)
{
	char *argv[] = {prog, "exit", NULL};
	long long t[101];
	struct timespec a, b;
	int ws;
	pid_t pid;

	if (n < 1 || n > 101)
		return 2;
	for (int i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (posix_spawn(&pid, prog, NULL, NULL, argv, environ) || waitpid(pid, &ws, 0) != pid || ws)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &b);
		t[i] = (b.tv_sec - a.tv_sec) * 1000000000LL + b.tv_nsec - a.tv_nsec;
	}
	qsort(t, n, sizeof(t[0]), cmp);
	printf("%lld\n", t[n / 2]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "exit"))
		return 0;
	if (argc > 3 && !strcmp(argv[1], "time"))
		return time_runs(atoi(argv[2]), argv[3]);
	usage();
#ifdef WITH_EXITSNOOP
	exitsnoop_store *s = NULL;

	if (exitsnoop_store_attach_private(&s))
		return 1;
	usage();
	exitsnoop_store_free(s);
#endif
	return 0;
}
