// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* stats.c - the tracer's counters and the per-CPU sizing they need (core.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "core.h"

#define MAX_CPUS 8192 /* NR_CPUS is at most 8192: one slot more stays unwritten */

int es_count_cpus(const char *list, int *n)
{
	const char *s = list;
	long a, b;
	char *end;

	*n = 0;
	for (;;) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		a = b = strtol(s, &end, 10);
		if (*end == '-') {
			s = end + 1;
			if (*s < '0' || *s > '9')
				return -EINVAL;
			b = strtol(s, &end, 10);
		}
		if (b < a || b >= MAX_CPUS)
			return -EINVAL;
		*n += (int)(b - a + 1);
		if (*end == 0)
			return 0;
		if (*end != ',')
			return -EINVAL;
		s = end + 1;
	}
}

/* The kernel writes num_possible_cpus() values; a slot it did not write keeps
 * the all-ones pattern, which no counter ever reaches. */
int es_possible_cpus(int stats_fd, const char *possible, int *ncpu, struct es_err *e)
{
	struct es_kernel_stats *buf;
	char list[4096];
	int copied = 0, listed, err;
	uint32_t key = 0;
	ssize_t n;

	buf = malloc((MAX_CPUS + 1) * sizeof(*buf));
	if (!buf)
		return es_fail(e, ES_ERRNO, ENOMEM, "reading stats");
	memset(buf, 0xff, (MAX_CPUS + 1) * sizeof(*buf));
	err = bpf_map_lookup_elem(stats_fd, &key, buf);
	if (err) {
		free(buf);
		return es_fail(e, ES_ERRNO, -err, "reading stats");
	}
	while (copied <= MAX_CPUS && buf[copied].exits != UINT64_MAX)
		copied++;
	free(buf);
	*ncpu = copied;
	/* where the list can be read it must say as many (libbpf and other readers
	 * size their buffers by it): a short list is an error, never a short buffer */
	n = es_read_file(possible, list, sizeof(list));
	if (n == -ENOENT)
		return 0; /* a container without /sys: the measure stands */
	if (n < 0)
		return es_fail(e, ES_ERRNO, (int)-n, "reading possible CPUs");
	list[strcspn(list, "\n")] = 0;
	if (es_count_cpus(list, &listed))
		return es_fail(e, ES_INVALID, EINVAL, "possible CPUs \"%s\" in %s", list, possible);
	if (listed != copied)
		return es_fail(e, ES_INVALID, EINVAL, "%s lists %d possible CPUs, the kernel has %d", possible, listed,
			       copied);
	return 0;
}

int es_stats(int stats_fd, const int *progs, int nprogs, int ncpu, struct es_stats *sum, struct es_err *e)
{
	struct es_kernel_stats *cpu;
	struct bpf_prog_info info;
	uint32_t key = 0, size;
	int err;

	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < nprogs; i++) {
		memset(&info, 0, sizeof(info));
		size = sizeof(info);
		err = bpf_prog_get_info_by_fd(progs[i], &info, &size);
		if (err)
			return es_fail(e, ES_ERRNO, -err, "reading program info");
		sum->missed += info.recursion_misses; /* 0 before 5.12, which does not count them */
	}
	cpu = calloc(ncpu, sizeof(*cpu));
	if (!cpu)
		return es_fail(e, ES_ERRNO, ENOMEM, "reading stats");
	err = bpf_map_lookup_elem(stats_fd, &key, cpu);
	for (int i = 0; i < ncpu && !err; i++) {
		sum->k.exits += cpu[i].exits;
		sum->k.recorded += cpu[i].recorded;
		sum->k.dropped += cpu[i].dropped;
		sum->k.duplicate += cpu[i].duplicate;
		sum->k.ns_mismatch += cpu[i].ns_mismatch;
		sum->k.stale += cpu[i].stale;
		sum->k.notify_lost += cpu[i].notify_lost;
		sum->k.recovered += cpu[i].recovered;
	}
	free(cpu);
	return err ? es_fail(e, ES_ERRNO, -err, "reading stats") : 0;
}
