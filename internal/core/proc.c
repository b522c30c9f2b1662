// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* proc.c - what the Trace protocol reads of /proc (core.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "core.h"

ssize_t es_read_file(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	buf[n < 0 ? 0 : n] = 0;
	return n;
}

int es_stat_open(uint32_t pid, struct es_err *e)
{
	char path[32];
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ESRCH)
		return es_fail(e, ES_NO_PROCESS, ESRCH, "%s", "");
	return es_fail(e, ES_ERRNO, errno, "opening /proc/%u/stat", pid);
}

int es_stat_read(int fd, struct es_proc *p, struct es_err *e)
{
	char buf[1024];
	ssize_t n;

	n = pread(fd, buf, sizeof(buf), 0); /* afresh: a read of a reaped process fails */
	if (n < 0 && errno == ESRCH)
		return es_fail(e, ES_NO_PROCESS, ESRCH, "%s", "");
	if (n < 0)
		return es_fail(e, ES_ERRNO, errno, "reading /proc/<pid>/stat");
	return es_stat_parse(buf, n, p, e);
}

/* atou reads the digits that start b[0..n). */
static uint64_t atou(const char *b, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && b[i] >= '0' && b[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(b[i] - '0');
	return v;
}

int es_stat_parse(const char *b, size_t n, struct es_proc *p, struct es_err *e)
{
	const char *end = NULL, *rest, *stop = b + n;

	for (const char *q = b; q < stop; q++) /* comm may hold spaces and ')' */
		if (*q == ')')
			end = q;
	if (!end || end + 2 >= stop)
		goto bad;
	memset(p, 0, sizeof(*p));
	rest = end + 2;
	for (int field = 3; rest < stop && field <= 22; field++) {
		const char *sp = memchr(rest, ' ', stop - rest), *tok = rest;
		size_t len = sp ? (size_t)(sp - rest) : (size_t)(stop - rest);

		rest = sp ? sp + 1 : stop;
		switch (field) {
		case 3:
			p->state = len ? tok[0] : 0;
			break;
		case 9:
			p->flags = atou(tok, len);
			break;
		case 20:
			p->threads = atou(tok, len);
			break;
		case 22:
			p->start_ticks = atou(tok, len);
			return 0;
		}
	}
bad:
	return es_fail(e, ES_INVALID, EINVAL, "parsing /proc/<pid>/stat: unexpected format");
}

bool es_proc_gone(const struct es_proc *p)
{
	return (p->state == 'Z' || p->state == 'X') && p->threads <= 1;
}

int es_proc_exiting(uint32_t pid, const struct es_proc *p, struct es_err *e)
{
	char path[64];
	struct dirent *d;
	struct es_proc t;
	int fd, r, err = 1;
	DIR *dir;

	if (!(p->flags & ES_PF_EXITING) || p->threads <= 1)
		return (p->flags & ES_PF_EXITING) != 0;
	snprintf(path, sizeof(path), "/proc/%u/task", pid);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT || errno == ESRCH ? 1 : es_fail(e, ES_ERRNO, errno, "opening %s", path);
	while (err == 1 && (d = readdir(dir))) {
		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%u/task/%.16s/stat", pid, d->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* released: it has exited */
		r = es_stat_read(fd, &t, e);
		if (r)
			err = e->kind == ES_NO_PROCESS ? 1 : r;
		else if (!(t.flags & ES_PF_EXITING))
			err = 0;
		close(fd);
	}
	closedir(dir);
	return err;
}

int es_pidns_of(uint32_t pid, uint64_t *dev, uint64_t *ino, struct es_err *e)
{
	char path[32];
	struct statx st;

	snprintf(path, sizeof(path), "/proc/%u/ns/pid", pid);
	if (statx(AT_FDCWD, path, 0, STATX_INO, &st) < 0) {
		if (errno == ENOENT || errno == ESRCH)
			return es_fail(e, ES_NO_PROCESS, ESRCH, "stat %s", path);
		return es_fail(e, ES_ERRNO, errno, "stat %s", path);
	}
	*dev = makedev(st.stx_dev_major, st.stx_dev_minor);
	*ino = st.stx_ino;
	return 0;
}

int es_check_leader(uint32_t pid, struct es_err *e)
{
	char path[32], buf[4096], *tgid;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	if (es_read_file(path, buf, sizeof(buf)) < 0)
		return es_fail(e, ES_NO_PROCESS, ESRCH, "%s", "");
	tgid = strstr(buf, "\nTgid:");
	if (tgid) {
		tgid += strlen("\nTgid:");
		tgid += strspn(tgid, " \t");
		tgid[strcspn(tgid, "\n")] = 0;
	}
	if (!tgid || strtoul(tgid, NULL, 10) != pid || tgid[0] < '0' || tgid[0] > '9')
		return es_fail(e, ES_NOT_PROCESS, EINVAL, "a thread of process %s, not a process",
			       tgid ? tgid : "?");
	return 0;
}

bool es_same_start(uint64_t ticks_a, int64_t off_a, uint64_t ticks_b, int64_t off_b)
{
	const int64_t tick = EXITSNOOP_NSEC_PER_TICK;
	int64_t d;

	if (ticks_a == ticks_b || off_a == off_b)
		return ticks_a == ticks_b;
	d = ((int64_t)ticks_a - off_a / tick) - ((int64_t)ticks_b - off_b / tick);
	return d >= -1 && d <= 1;
}
