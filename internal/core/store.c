// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* store.c - what opening a store checks and reads (core.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "core.h"

#define INIT_PIDNS_INO 0xEFFFFFFCU /* PROC_PID_INIT_INO */

int es_check_layout(const struct es_tracer_fds *t, struct es_err *e)
{
	static const struct {
		int map;
		uint32_t key, value;
	} want[] = {
		{ ES_MAP_TASKS, 4, sizeof(struct task_info) },
		{ ES_MAP_EVENTS, 8, sizeof(struct exit_status) },
		{ ES_MAP_REFS, 4, EXITSNOOP_PID_BUCKETS },
		{ ES_MAP_STATS, 4, sizeof(struct es_kernel_stats) },
		{ ES_MAP_META, 4, sizeof(struct exitsnoop_meta) },
		{ ES_MAP_TRACE, 8, sizeof(struct trace_ref) },
		{ ES_MAP_WAKE, 4, sizeof(struct notify_wake) },
	};
	struct bpf_map_info info;
	uint32_t size;
	int err;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *name = es_map_pins[want[i].map];

		memset(&info, 0, sizeof(info));
		size = sizeof(info);
		err = bpf_map_get_info_by_fd(t->maps[want[i].map], &info, &size);
		if (err)
			return es_fail(e, ES_ERRNO, -err, "map info of %s", name);
		if (info.key_size != want[i].key || info.value_size != want[i].value)
			return es_fail(e, ES_INCOMPATIBLE, EPROTO,
				       "map %s has %u-byte keys and %u-byte values, this build reads %u and %u", name,
				       info.key_size, info.value_size, want[i].key, want[i].value);
	}
	return 0;
}

int es_boottime_offset(int64_t *ns, struct es_err *e)
{
	char buf[512], *line, *save = NULL;
	long long sec, nsec;
	char name[32];
	ssize_t n;

	*ns = 0;
	n = es_read_file("/proc/self/timens_offsets", buf, sizeof(buf));
	if (n == -ENOENT)
		return 0; /* no time namespaces: no offset */
	if (n < 0)
		return es_fail(e, ES_ERRNO, (int)-n, "reading time namespace offsets");
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%31s", name) != 1)
			continue;
		if (strcmp(name, "boottime") &&
		    (strspn(name, "0123456789") != strlen(name) || atoi(name) != CLOCK_BOOTTIME))
			continue;
		if (sscanf(line, "%*s %lld %lld", &sec, &nsec) != 2)
			return es_fail(e, ES_INVALID, EINVAL, "parsing time namespace offsets \"%s\"", line);
		*ns = sec * 1000000000LL + nsec;
		return 0;
	}
	return 0;
}

bool es_in_initial_pidns(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == INIT_PIDNS_INO;
}
