// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* err.c - how the core says why a call failed (core.h: struct es_err). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include "core.h"

static int vfail(struct es_err *e, int kind, int errnum, const char *suffix, const char *fmt, va_list ap)
{
	e->kind = kind;
	e->errnum = errnum;
	e->suffix = suffix;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return -errnum;
}

int es_fail(struct es_err *e, int kind, int errnum, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(e, kind, errnum, NULL, fmt, ap);
	va_end(ap);
	return ret;
}

int es_fail_suffix(struct es_err *e, int kind, int errnum, const char *suffix, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(e, kind, errnum, suffix, fmt, ap);
	va_end(ap);
	return ret;
}

int es_fail_hint(struct es_err *e, int kind, int errnum, int op, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(e, kind, errnum, es_perm_hint(op, errnum), fmt, ap);
	va_end(ap);
	return ret;
}

const char *es_kind_words(int kind, int errnum)
{
	switch (kind) {
	case ES_NO_PROCESS:
		return "no such process";
	case ES_NOT_PROCESS:
		return "not a process";
	case ES_NS_MISMATCH:
		return "process is in another pid namespace";
	case ES_ID_IN_USE:
		return "trace ID in use";
	case ES_INVALID:
		return "invalid argument";
	case ES_NOT_INSTALLED:
		return "exitsnoop is not installed";
	case ES_NOT_RUNNING:
		return "pinned exitsnoop is not running";
	case ES_INCOMPATIBLE:
		return "pinned exitsnoop is incompatible";
	case ES_NOT_TRACED:
		return "trace ID is not traced and has no event";
	case ES_LOST:
		return "exit not recorded";
	case ES_PID_NAMESPACE:
		return "tracing needs the host's pid namespace";
	}
	switch (errnum) { /* the words of the Go package's errors that stand for these */
	case ENOENT:
		return "key does not exist";
	case EEXIST:
		return "key already exists";
	case E2BIG:
	case ENOMEM:
		return "map is full";
	}
	return strerror(errnum);
}

/* has_cap reports whether the caller has capability c in its effective set
 * (CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON, as before 5.8). */
static bool has_cap(int c)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	bool has, admin;

	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	has = data[c / 32].effective & (1U << (c % 32));
	admin = data[CAP_SYS_ADMIN / 32].effective & (1U << (CAP_SYS_ADMIN % 32));
	return has || ((c == CAP_BPF || c == CAP_PERFMON) && admin);
}

const char *es_perm_hint(int op, int errnum)
{
	bool perm = errnum == EPERM, acces = errnum == EACCES;

	if (op == ES_PERM_LOAD && perm && !(has_cap(CAP_BPF) && has_cap(CAP_PERFMON)))
		return " (needs root, or CAP_BPF and CAP_PERFMON)";
	if (op == ES_PERM_CREATE && (perm || acces) && !(has_cap(CAP_DAC_OVERRIDE) && has_cap(CAP_SYS_ADMIN)))
		return " (needs root, or write access to the bpffs root and CAP_SYS_ADMIN to mount a bpffs there)";
	if (op == ES_PERM_MOUNT && perm && !has_cap(CAP_SYS_ADMIN))
		return " (needs root, or CAP_SYS_ADMIN to mount a bpffs)";
	if (op == ES_PERM_OPEN_PINS && perm && !has_cap(CAP_BPF))
		return " (needs root, or CAP_BPF)";
	if (op == ES_PERM_OPEN_PINS && acces && !has_cap(CAP_DAC_OVERRIDE))
		return " (needs root, the pins' owner, or CAP_DAC_OVERRIDE: pins are mode 0600, in a 0700 directory)";
	return NULL;
}
