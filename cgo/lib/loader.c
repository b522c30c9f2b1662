// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * loader.c - the C library's loader (lib.h): libbpf opens the embedded object
 * (the committed internal/bpfobj/exitsnoop.bpf.o, object.S), sizes its maps,
 * reuses pinned ones, loads and attaches it. The Go package does the same with
 * libbpfgo; everything after this step is internal/core's, shared by both.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "lib.h"

extern const char es_bpf_object[], es_bpf_object_end[];

#define LOG_SIZE (1U << 20) /* per program; the kernel writes it only for a failed load */

struct tracer {
	struct bpf_object *obj;
	struct bpf_link *links[ES_NPROGS];
};

void this_meta(struct exitsnoop_meta *m)
{
	static const uint8_t build_id[] = { ES_BUILD_ID }; /* the object's SHA-256, from the Makefile */

	memset(m, 0, sizeof(*m));
	m->format_version = EXITSNOOP_FORMAT_VERSION;
	m->pid_buckets = EXITSNOOP_PID_BUCKETS;
	memcpy(m->build_id, build_id, sizeof(m->build_id));
}

/* probe creates a map as a feature probe: 0, or the kernel's negative errno. */
static int probe(enum bpf_map_type type, uint32_t flags, uint32_t size)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);
	int fd = bpf_map_create(type, NULL, type == BPF_MAP_TYPE_RINGBUF ? 0 : 4,
				type == BPF_MAP_TYPE_RINGBUF ? 0 : 4, size, &o);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* check_kernel names the first feature the kernel lacks: probed, not read off its
 * version (vendor kernels carry backports). Permission errors are not a missing
 * feature: loading reports them. */
static int check_kernel(struct es_err *e)
{
	struct stat st;
	int err;

	if (stat("/sys/kernel/btf/vmlinux", &st) < 0)
		return es_fail(e, ES_ERRNO, EOPNOTSUPP,
			       "kernel BTF (/sys/kernel/btf/vmlinux) for tp_btf programs not supported "
			       "(requires >= 5.5 with CONFIG_DEBUG_INFO_BTF)");
	err = probe(BPF_MAP_TYPE_RINGBUF, 0, getpagesize());
	if (err && err != -EPERM && err != -EACCES)
		return es_fail(e, ES_ERRNO, EOPNOTSUPP, "BPF ring buffer not supported (requires >= 5.8)");
	err = probe(BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE, 1);
	if (err && err != -EPERM && err != -EACCES)
		return es_fail(e, ES_ERRNO, EOPNOTSUPP, "mmapable BPF arrays not supported (requires >= 5.5)");
	return 0;
}

/* reason is the verifier's reason in a log: its last line that is not one of
 * the statistics it ends with. */
static const char *reason(char *log)
{
	char *line, *save = NULL, *last = NULL;

	for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "processed ", 10) && strncmp(line, "verification time", 17) &&
		    strncmp(line, "stack depth", 11) && strncmp(line, "-- END PROG LOAD LOG --", 23))
			last = line;
	return last;
}

static int load(struct tracer *t, uint32_t max_tasks, uint32_t max_events, const int *reuse, struct es_err *e)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "exitsnoop.bpf.o");
	char *logs[ES_NPROGS] = {};
	struct bpf_program *p;
	struct bpf_map *m;
	uint64_t trace = (uint64_t)max_tasks + max_events;
	int err = 0, i;

	t->obj = bpf_object__open_mem(es_bpf_object, es_bpf_object_end - es_bpf_object, &oo);
	if (!t->obj)
		return es_fail(e, ES_ERRNO, errno, "opening BPF object");
	for (i = 0; i < ES_NPROGS && !err; i++) {
		p = bpf_object__find_program_by_name(t->obj, es_prog_names[i]);
		logs[i] = calloc(1, LOG_SIZE);
		if (!p || !logs[i])
			err = es_fail(e, ES_ERRNO, p ? ENOMEM : ENOENT, "program %s", es_prog_names[i]);
		else
			bpf_program__set_log_buf(p, logs[i], LOG_SIZE);
	}
	struct {
		const char *map;
		uint32_t n;
	} sizes[] = {
		{ "tracing_tasks", max_tasks },
		{ "exited_events", max_events },
		{ "trace_refs", trace < (1U << 31) ? (uint32_t)trace : 1U << 31 }, /* traces and fates */
	};
	for (i = 0; i < 3 && !err; i++) {
		m = bpf_object__find_map_by_name(t->obj, sizes[i].map);
		err = m ? bpf_map__set_max_entries(m, sizes[i].n) : -ENOENT;
		if (err)
			err = es_fail(e, ES_ERRNO, -err, "sizing map %s", sizes[i].map);
	}
	for (i = 0; reuse && i < ES_NMAPS && !err; i++) {
		m = bpf_object__find_map_by_name(t->obj, es_map_pins[i]);
		err = m ? bpf_map__reuse_fd(m, reuse[i]) : -ENOENT;
		if (err)
			err = es_fail(e, ES_ERRNO, -err, "reusing pinned map %s", es_map_pins[i]);
	}
	if (!err && (err = bpf_object__load(t->obj)) < 0) {
		const char *why = NULL;

		for (i = 0; i < ES_NPROGS && !why; i++)
			if (logs[i] && logs[i][0] && (why = reason(logs[i])))
				err = es_fail(e, ES_ERRNO, -err, "loading exitsnoop.bpf.o: program %s: verifier: %s",
					      es_prog_names[i], why);
		if (!why)
			err = es_fail_hint(e, ES_ERRNO, -err, ES_PERM_LOAD, "loading exitsnoop.bpf.o");
	}
	for (i = 0; i < ES_NPROGS; i++)
		free(logs[i]);
	return err;
}

int tracer_load(uint32_t max_tasks, uint32_t max_events, const int *reuse, struct tracer **out,
		struct es_tracer_fds *out_fds, struct es_err *e)
{
	struct es_tracer_fds got, *fds = &got; /* the caller's only once all is loaded: they are t's */
	struct tracer *t;
	int err;

	*out = NULL;
	err = check_kernel(e);
	if (err)
		return err;
	t = calloc(1, sizeof(*t));
	if (!t)
		return es_fail(e, ES_ERRNO, ENOMEM, "loading exitsnoop.bpf.o");
	err = load(t, max_tasks, max_events, reuse, e);
	for (int i = 0; i < ES_NPROGS && !err; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(t->obj, es_prog_names[i]);

		t->links[i] = bpf_program__attach(p);
		if (!t->links[i])
			err = es_fail_hint(e, ES_ERRNO, errno, ES_PERM_LOAD, "attaching program %s to %s", es_prog_names[i],
					   bpf_program__section_name(p));
		else {
			fds->progs[i] = bpf_program__fd(p);
			fds->links[i] = bpf_link__fd(t->links[i]);
		}
	}
	for (int i = 0; i < ES_NMAPS && !err; i++)
		fds->maps[i] = bpf_object__find_map_fd_by_name(t->obj, es_map_pins[i]);
	if (err) {
		tracer_close(t);
		return err;
	}
	*out_fds = got;
	*out = t;
	return 0;
}

void tracer_close(struct tracer *t)
{
	if (!t)
		return;
	for (int i = 0; i < ES_NPROGS; i++)
		bpf_link__destroy(t->links[i]);
	bpf_object__close(t->obj);
	free(t);
}
