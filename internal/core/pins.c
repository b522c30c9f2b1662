// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* pins.c - the pinned tracer's lifecycle: install, upgrade, open, uninstall (core.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include "core.h"

const char *const es_map_pins[ES_NMAPS] = { "tracing_tasks", "exited_events", "pid_refs", "stats",
					     "notify", "notify_wake", "trace_refs", "meta" };
const char *const es_prog_names[ES_NPROGS] = { "handle_exit", "handle_free" };
const char *const es_prog_pins[ES_NPROGS] = { "prog_exit", "prog_free" };
const char *const es_link_pins[ES_NPROGS] = { "link", "link_free" };

#define MAX_PINS 64 /* a directory with more is not one of ours: removal refuses it */
/* The longest bpffs root: its pin paths (root/.exitsnoop.bpf/name_new) fit in
 * PATH_MAX, so that no snprintf of a path below truncates. */
#define ROOT_MAX (PATH_MAX - 128)
#pragma GCC diagnostic ignored "-Wformat-truncation" /* paths: ROOT_MAX leaves room */

/* step kills the process at the step the crash tests name (EXITSNOOP_TEST_CRASH_AT). */
static void step(const char *prefix, const char *name)
{
	const char *at = getenv("EXITSNOOP_TEST_CRASH_AT");
	size_t n = strlen(prefix);

	if (at && !strncmp(at, prefix, n) && !strcmp(at + n, name)) {
		kill(getpid(), SIGKILL);
		for (;;)
			pause(); /* the signal is on its way */
	}
}

static void join(char *out, const char *dir, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

bool es_on_bpffs(const char *p)
{
	struct statfs st;

	return statfs(p, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

int es_pin_dir(const char *root, char *dir, struct es_err *e)
{
	size_t n = strlen(root);

	if (!n)
		return es_fail(e, ES_INVALID, EINVAL, "empty bpffs root");
	if (n > ROOT_MAX)
		return es_fail(e, ES_INVALID, EINVAL, "bpffs root of %zu bytes: at most %d", n, ROOT_MAX);
	while (n > 1 && root[n - 1] == '/') /* as filepath.Join cleans it */
		n--;
	/* a bpffs root refuses names with '.'; below any other root, the seed's name */
	snprintf(dir, PATH_MAX, "%.*s/%s", (int)n, root, es_on_bpffs(root) ? "exitsnoop" : ".exitsnoop.bpf");
	return 0;
}

static int mkdir_all(const char *path, char *failed)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, path, n + 1);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			snprintf(failed, PATH_MAX, "%s", p);
			return -errno;
		}
		if (!c)
			return 0;
		*s = c;
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* names lists the pins in dir, sorted, without a bpffs's own files (maps.debug
 * and progs.debug, the preload iterators). The count, or a negative errno. */
static int names(const char *dir, char (*out)[NAME_MAX + 1], int max)
{
	char buf[4096] __attribute__((aligned(8))); /* linux_dirent64s */
	int fd, n = 0;
	long got;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((got = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < got;) {
			struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d =
				(void *)(buf + off);
			off += d->reclen;
			if (!strcmp(d->name, ".") || !strcmp(d->name, "..") || !strcmp(d->name, "maps.debug") ||
			    !strcmp(d->name, "progs.debug"))
				continue;
			if (n == max) {
				close(fd);
				return -E2BIG;
			}
			snprintf(out[n++], NAME_MAX + 1, "%s", d->name);
		}
	}
	close(fd);
	if (got < 0)
		return -errno;
	qsort(out, n, NAME_MAX + 1, by_name);
	return n;
}

bool es_has_pins(const char *dir)
{
	char list[1][NAME_MAX + 1];
	int n = names(dir, list, 1);

	return n > 0 || n == -E2BIG;
}

static int mount_bpffs(const char *dir, struct es_err *e)
{
	if (mount("bpffs", dir, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
		return es_fail_hint(e, ES_ERRNO, errno, ES_PERM_MOUNT, "mounting bpffs at %s", dir);
	return 0;
}

/* lock_root creates root if needed and takes an exclusive flock on it. On the
 * kernel's mount point for a bpffs (an empty sysfs directory: /sys/fs/bpf
 * without one) it mounts one first. A caller that locked a directory that a
 * mount has since covered locks the mount instead: every holder of the lock
 * holds it on what root names now. */
static int lock_root(const char *root, int *lock, struct es_err *e)
{
	char failed[PATH_MAX], list[1][NAME_MAX + 1];
	struct stat held, now;
	struct statfs fs;
	int fd, err;

	if (!root || !*root)
		return es_fail(e, ES_INVALID, EINVAL, "empty bpffs root");
	if (stat(root, &now) == 0 && !S_ISDIR(now.st_mode))
		return es_fail(e, ES_INVALID, EINVAL, "bpffs root %s is not a directory", root);
	err = mkdir_all(root, failed);
	if (err)
		return es_fail_hint(e, ES_ERRNO, -err, ES_PERM_CREATE, "creating bpffs root: mkdir %s", failed);
	for (int try = 0; try < 8; try++) {
		fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return es_fail(e, ES_ERRNO, errno, "opening bpffs root %s", root);
		while ((err = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
			;
		if (err < 0 || fstat(fd, &held) < 0 || stat(root, &now) < 0 || fstatfs(fd, &fs) < 0) {
			err = errno;
			close(fd);
			return es_fail(e, ES_ERRNO, err, "locking bpffs root %s", root);
		}
		if (held.st_dev != now.st_dev || held.st_ino != now.st_ino) { /* covered by a mount meanwhile */
			close(fd);
		} else if (fs.f_type == SYSFS_MAGIC) { /* sysfs allows no directory: a bpffs goes here */
			err = names(root, list, 1);
			close(fd);
			if (err != 0)
				return es_fail(e, ES_INVALID, EINVAL, "bpffs root %s is a sysfs directory that is not empty", root);
			err = mount_bpffs(root, e);
			if (err)
				return err;
		} else {
			*lock = fd;
			return 0;
		}
	}
	return es_fail(e, ES_ERRNO, EBUSY, "locking bpffs root %s: mounts keep covering it", root);
}

/* make_pin_dir creates the pin directory of root, whose lock the caller holds,
 * and mounts a bpffs on it unless root is one. */
static int make_pin_dir(const char *dir, struct es_err *e)
{
	char failed[PATH_MAX];
	int err;

	err = mkdir_all(dir, failed);
	if (err)
		return es_fail_hint(e, ES_ERRNO, -err, ES_PERM_CREATE, "creating pin directory: mkdir %s", failed);
	if (es_on_bpffs(dir))
		return 0;
	step("", "mount");
	return mount_bpffs(dir, e);
}

int es_read_meta_fd(int fd, const char *p, struct exitsnoop_meta *m, struct es_err *e)
{
	struct bpf_map_info info = {};
	uint32_t size = sizeof(info), key = 0;
	int err;

	memset(m, 0, sizeof(*m));
	err = bpf_map_get_info_by_fd(fd, &info, &size);
	if (err)
		return es_fail(e, ES_ERRNO, -err, "map info of %s", p);
	if (info.key_size != 4 || info.value_size != sizeof(*m))
		return 0; /* a meta of some other layout: format 0, incompatible */
	err = bpf_map_lookup_elem(fd, &key, m);
	return err ? es_fail(e, ES_ERRNO, -err, "reading %s", p) : 0;
}

/* read_pinned_meta reads the meta of the pins in dir (ES_NOT_INSTALLED: none). */
int es_read_pinned_meta(const char *dir, struct exitsnoop_meta *m, struct es_err *e)
{
	char p[PATH_MAX];
	int fd, err;

	join(p, dir, "meta");
	fd = bpf_obj_get(p);
	if (fd == -ENOENT)
		return es_fail(e, ES_NOT_INSTALLED, ENOPKG, "%s", "");
	if (fd < 0)
		return es_fail_hint(e, ES_ERRNO, -fd, ES_PERM_OPEN_PINS, "opening pinned map %s", p);
	err = es_read_meta_fd(fd, p, m, e);
	close(fd);
	return err;
}

static bool maps_pinned(const char *dir)
{
	char p[PATH_MAX];
	struct stat st;

	for (int i = 0; i < ES_NMAPS; i++) {
		join(p, dir, es_map_pins[i]);
		if (stat(p, &st) < 0)
			return false;
	}
	return true;
}

/* pinned_id opens the pin at p and reads the program ID of the link, or of the
 * program, behind it. */
static int pinned_id(const char *p, bool link, uint32_t *id, struct es_err *e)
{
	struct bpf_link_info li = {};
	struct bpf_prog_info pi = {};
	uint32_t size;
	int fd, err;

	fd = bpf_obj_get(p);
	if (fd == -ENOENT)
		return es_fail(e, ES_NOT_RUNNING, ENOLINK, "%s is missing", p);
	if (fd < 0)
		return es_fail(e, ES_ERRNO, -fd, "opening pin %s", p);
	size = link ? sizeof(li) : sizeof(pi);
	err = link ? bpf_link_get_info_by_fd(fd, &li, &size) : bpf_prog_get_info_by_fd(fd, &pi, &size);
	close(fd);
	if (err == -EINVAL)
		return es_fail(e, ES_NOT_RUNNING, ENOLINK, "%s is not a link", p);
	if (err)
		return es_fail(e, ES_ERRNO, -err, "reading pin %s", p);
	*id = link ? li.prog_id : pi.id;
	return 0;
}

int es_pins_running(const char *dir, bool exact, struct es_err *e)
{
	char p[PATH_MAX];
	uint32_t link_id, prog_id;
	int err;

	for (int i = 0; i < ES_NPROGS; i++) {
		join(p, dir, es_link_pins[i]);
		err = pinned_id(p, true, &link_id, e);
		if (err || !exact)
			goto next;
		join(p, dir, es_prog_pins[i]);
		err = pinned_id(p, false, &prog_id, e);
		if (!err && link_id != prog_id)
			err = es_fail(e, ES_NOT_RUNNING, ENOLINK, "link %s attaches program %u, not the pinned %s (%u)",
				      es_link_pins[i], link_id, es_prog_pins[i], prog_id);
next:
		if (err)
			return err;
	}
	return 0;
}

/* unpin removes dir/name; the first failure (not a missing pin) goes in *e. */
static void unpin(const char *dir, const char *name, int *first, struct es_err *e)
{
	char p[PATH_MAX];

	join(p, dir, name);
	if (unlink(p) == 0)
		step("unpin:", name);
	else if (errno != ENOENT && !*first)
		*first = es_fail(e, ES_ERRNO, errno, "remove %s", p);
}

static bool is_link_pin(const char *name)
{
	for (int i = 0; i < ES_NPROGS; i++)
		if (!strcmp(name, es_link_pins[i]))
			return true;
	return false;
}

/* remove_pins removes every pin in dir: the links first, so that the programs
 * stop first, and the meta last, so that pins killed midway still say what
 * they were. */
static int remove_pins(const char *dir, struct es_err *e)
{
	char list[MAX_PINS][NAME_MAX + 1];
	int n, first = 0;

	n = names(dir, list, MAX_PINS);
	if (n < 0)
		return es_fail(e, ES_ERRNO, -n, "reading pin directory %s", dir);
	for (int i = 0; i < ES_NPROGS; i++)
		unpin(dir, es_link_pins[i], &first, e);
	for (int i = 0; i < n; i++)
		if (strcmp(list[i], "meta") && !is_link_pin(list[i]))
			unpin(dir, list[i], &first, e);
	unpin(dir, "meta", &first, e);
	return first;
}

/* remove_if_empty removes pins of another format, unless their maps hold entries. */
static int remove_if_empty(const char *dir, const struct exitsnoop_meta *old, struct es_err *e)
{
	static const char *const data[] = { "tracing_tasks", "exited_events" };
	struct bpf_map_info info;
	uint8_t key[256];
	char p[PATH_MAX];
	uint32_t size;
	int fd, err;

	for (int i = 0; i < 2; i++) {
		join(p, dir, data[i]);
		fd = bpf_obj_get(p);
		if (fd == -ENOENT)
			continue;
		if (fd < 0)
			return es_fail(e, ES_ERRNO, -fd, "opening pinned map %s", p);
		memset(&info, 0, sizeof(info));
		size = sizeof(info);
		err = bpf_map_get_info_by_fd(fd, &info, &size);
		if (!err && info.key_size > sizeof(key))
			err = 0; /* keys this large are not ours: count it as holding entries */
		else if (!err)
			err = bpf_map_get_next_key(fd, NULL, key);
		close(fd);
		if (!err && old->format_version > EXITSNOOP_FORMAT_VERSION)
			return es_fail(e, ES_INCOMPATIBLE, EPROTO,
				       "pins at %s have format %u, newer than this build's %u, and %s holds entries: "
				       "use a newer build, or Uninstall them and lose the entries",
				       dir, old->format_version, EXITSNOOP_FORMAT_VERSION, data[i]);
		if (!err)
			return es_fail(e, ES_INCOMPATIBLE, EPROTO,
				       "pins at %s have format %u, this build needs %u, and %s holds entries: "
				       "read them with the build that made the pins, then Uninstall them",
				       dir, old->format_version, EXITSNOOP_FORMAT_VERSION, data[i]);
		if (err != -ENOENT)
			return es_fail(e, ES_ERRNO, -err, "reading pinned map %s", p);
	}
	remove_pins(dir, e);
	return 0;
}

int es_write_meta(int fd, const struct exitsnoop_meta *m, struct es_err *e)
{
	uint32_t key = 0;
	int err = bpf_map_update_elem(fd, &key, m, BPF_ANY);

	return err ? es_fail(e, ES_ERRNO, -err, "writing meta") : 0;
}

/* pin_programs pins t's programs and links in place of any others (rename is
 * atomic in bpffs), the exit program's link last: that pin is the sign that
 * the tracer runs. */
static int pin_programs(const char *dir, const struct es_tracer_fds *t, const char *steps, struct es_err *e)
{
	char tmp[PATH_MAX], p[PATH_MAX];
	const char *name;
	int fd;

	for (int i = 0; i < 2 * ES_NPROGS; i++) {
		if (i < ES_NPROGS) {
			name = es_prog_pins[i];
			fd = t->progs[i];
		} else {
			name = es_link_pins[2 * ES_NPROGS - 1 - i];
			fd = t->links[2 * ES_NPROGS - 1 - i];
		}
		join(p, dir, name);
		snprintf(tmp, sizeof(tmp), "%s_new", p);
		unlink(tmp);
		if (bpf_obj_pin(fd, tmp) < 0)
			return es_fail_hint(e, ES_ERRNO, errno, ES_PERM_CREATE, "pinning %s", name);
		if (rename(tmp, p) < 0) {
			int err = errno;

			unlink(tmp);
			return es_fail(e, ES_ERRNO, err, "replacing pin %s", name);
		}
		step(steps, name);
	}
	return 0;
}

void es_pins_init(struct es_pins *p)
{
	memset(p, 0, sizeof(*p));
	p->lock = -1;
	for (int i = 0; i < ES_NMAPS; i++)
		p->reuse[i] = -1;
}

int es_pins_reuse(struct es_pins *p, const char *dir, struct es_err *e)
{
	char path[PATH_MAX];

	if (p->dir != dir)
		snprintf(p->dir, sizeof(p->dir), "%s", dir);
	for (int i = 0; i < ES_NMAPS; i++) {
		join(path, p->dir, es_map_pins[i]);
		p->reuse[i] = bpf_obj_get(path);
		if (p->reuse[i] < 0)
			return es_fail(e, ES_ERRNO, -p->reuse[i], "opening pinned map %s", path);
	}
	return 0;
}

int es_pins_begin(struct es_pins *p, const char *root, const struct exitsnoop_meta *cur, struct es_err *e)
{
	struct exitsnoop_meta old;
	bool ours;
	int err;

	err = es_pin_dir(root, p->dir, e); /* checks root */
	if (!err)
		err = lock_root(root, &p->lock, e);
	if (!err) /* again: lock_root may have mounted a bpffs on root */
		err = es_pin_dir(root, p->dir, e);
	if (!err)
		err = make_pin_dir(p->dir, e);
	if (err)
		return err;
	err = es_read_pinned_meta(p->dir, &old, e);
	if (err && e->kind != ES_NOT_INSTALLED)
		return err;
	ours = !err && old.format_version == cur->format_version && old.pid_buckets == cur->pid_buckets;
	p->plan = ES_PLAN_INSTALL;
	if (ours && maps_pinned(p->dir)) {
		if (!memcmp(old.build_id, cur->build_id, sizeof(old.build_id)) && es_pins_running(p->dir, true, e) == 0) {
			p->plan = ES_PLAN_RUNNING;
			return 0;
		}
		p->plan = ES_PLAN_UPGRADE;
		return es_pins_reuse(p, p->dir, e);
	}
	if (ours || (!err && old.format_version == ES_FORMAT_RETIRED))
		/* this format's pins without all their maps, or an Uninstall killed
		 * midway: what is left goes, data and all, as its Uninstall meant */
		return remove_pins(p->dir, e);
	if (!err || es_has_pins(p->dir))
		/* another format (the seed's pins have no meta), or an install killed
		 * before it pinned every map: replaced only if it holds no data */
		return remove_if_empty(p->dir, &old, e);
	return 0;
}

int es_pins_install(struct es_pins *p, const struct es_tracer_fds *t, const struct exitsnoop_meta *cur,
		    struct es_err *e)
{
	char path[PATH_MAX];
	int err;

	err = es_write_meta(t->maps[ES_MAP_META], cur, e);
	if (err)
		goto fail;
	step("install:", "loaded");
	for (int i = 0; i < ES_NMAPS; i++) {
		join(path, p->dir, es_map_pins[i]);
		if (bpf_obj_pin(t->maps[i], path) < 0) {
			err = es_fail_hint(e, ES_ERRNO, errno, ES_PERM_CREATE, "pinning map %s", es_map_pins[i]);
			goto fail;
		}
		step("install:", es_map_pins[i]);
	}
	err = pin_programs(p->dir, t, "install:", e);
	if (!err)
		return 0;
fail:
	{
		struct es_err ignored;

		remove_pins(p->dir, &ignored);
	}
	return err;
}

int es_pins_upgrade(struct es_pins *p, const struct es_tracer_fds *t, const struct exitsnoop_meta *cur,
		    struct es_err *e)
{
	int err;

	step("upgrade:", "loaded");
	err = pin_programs(p->dir, t, "upgrade:", e);
	return err ? err : es_write_meta(p->reuse[ES_MAP_META], cur, e);
}

void es_pins_end(struct es_pins *p)
{
	for (int i = 0; i < ES_NMAPS; i++)
		if (p->reuse[i] >= 0)
			close(p->reuse[i]);
	if (p->lock >= 0)
		close(p->lock);
	es_pins_init(p);
}

/* mounted_at reports whether dir is the root of a bpffs (a mount point). */
static bool mounted_at(const char *dir)
{
	char parent[PATH_MAX];
	struct stat st, up;

	join(parent, dir, "..");
	return es_on_bpffs(dir) && stat(dir, &st) == 0 && stat(parent, &up) == 0 && st.st_dev != up.st_dev;
}

int es_uninstall(const char *root, struct es_err *e)
{
	struct exitsnoop_meta retired = { .format_version = ES_FORMAT_RETIRED };
	struct es_pins p;
	struct stat st;
	int fd, err;

	es_pins_init(&p);
	err = es_pin_dir(root, p.dir, e);
	if (err)
		return err;
	if (stat(p.dir, &st) < 0)
		return es_fail(e, ES_NOT_INSTALLED, ENOPKG, "pin directory %s", p.dir);
	err = lock_root(root, &p.lock, e);
	if (err)
		return err;
	if (!es_has_pins(p.dir) && (es_on_bpffs(root) || !mounted_at(p.dir))) {
		err = es_fail(e, ES_NOT_INSTALLED, ENOPKG, "pin directory %s", p.dir);
		goto out;
	}
	{
		char meta[PATH_MAX];

		join(meta, p.dir, "meta");
		fd = bpf_obj_get(meta);
	}
	if (fd >= 0) { /* stores still open on the maps see it: their Trace fails */
		err = es_write_meta(fd, &retired, e);
		close(fd);
		if (err) {
			snprintf(e->msg, sizeof(e->msg), "retiring meta");
			goto out;
		}
	}
	step("uninstall:", "retired");
	err = remove_pins(p.dir, e);
	if (err)
		goto out;
	step("uninstall:", "unpinned");
	/* detached at once: a path lookup racing it (an open) would make a plain
	 * unmount fail with EBUSY; the pins go with the last reference */
	if (!es_on_bpffs(root) && umount2(p.dir, MNT_DETACH) < 0) {
		err = es_fail(e, ES_ERRNO, errno, "unmounting bpffs at %s", p.dir);
		goto out;
	}
	if (rmdir(p.dir) < 0)
		err = es_fail(e, ES_ERRNO, errno, "removing %s", p.dir);
out:
	es_pins_end(&p);
	return err;
}

int es_pins_open(const char *root, const struct exitsnoop_meta *cur, struct es_tracer_fds *t, struct es_err *e)
{
	struct exitsnoop_meta m;
	char dir[PATH_MAX], p[PATH_MAX];
	int err = 0;

	for (int i = 0; i < ES_NMAPS; i++)
		t->maps[i] = -1;
	for (int i = 0; i < ES_NPROGS; i++)
		t->progs[i] = t->links[i] = -1;
	err = es_pin_dir(root, dir, e);
	for (int i = 0; i < ES_NMAPS + ES_NPROGS && !err; i++) {
		bool map = i < ES_NMAPS;
		int *fd = map ? &t->maps[i] : &t->progs[i - ES_NMAPS];

		join(p, dir, map ? es_map_pins[i] : es_prog_pins[i - ES_NMAPS]);
		*fd = bpf_obj_get(p);
		if (*fd == -ENOENT && map)
			err = es_fail_suffix(e, ES_NOT_INSTALLED, ENOPKG, " (EnsureRunning installs it)",
					     "opening pinned map %s", p);
		else if (*fd == -ENOENT)
			err = es_fail_suffix(e, ES_NOT_RUNNING, ENOLINK, " (EnsureRunning repairs it)",
					     "opening pinned program %s", p);
		else if (*fd < 0 && map)
			err = es_fail_hint(e, ES_ERRNO, -*fd, ES_PERM_OPEN_PINS, "opening pinned map %s", p);
		else if (*fd < 0)
			err = es_fail(e, ES_ERRNO, -*fd, "opening pinned program %s", p);
	}
	if (!err) {
		join(p, dir, "meta");
		err = es_read_meta_fd(t->maps[ES_MAP_META], p, &m, e);
	}
	if (!err && m.format_version == ES_FORMAT_RETIRED)
		err = es_fail(e, ES_NOT_INSTALLED, ENOPKG, "pins at %s are being uninstalled", dir);
	else if (!err && (m.format_version != cur->format_version || m.pid_buckets != cur->pid_buckets))
		err = es_fail(e, ES_INCOMPATIBLE, EPROTO, "pins at %s have format %u, this build reads %u", dir,
			      m.format_version, cur->format_version);
	else if (!err && (err = es_pins_running(dir, false, e)) != 0) {
		char inner[sizeof(e->msg)];

		snprintf(inner, sizeof(inner), "%s", e->msg);
		es_fail_suffix(e, e->kind, e->errnum, " (EnsureRunning repairs them)", "pins at %s: %s", dir, inner);
	}
	if (err)
		es_close_fds(t);
	return err;
}

void es_close_fds(struct es_tracer_fds *t)
{
	for (int i = 0; i < ES_NMAPS; i++)
		if (t->maps[i] >= 0)
			close(t->maps[i]);
	for (int i = 0; i < ES_NPROGS; i++) {
		if (t->progs[i] >= 0)
			close(t->progs[i]);
		if (t->links[i] >= 0)
			close(t->links[i]);
	}
	for (int i = 0; i < ES_NMAPS; i++)
		t->maps[i] = -1;
	for (int i = 0; i < ES_NPROGS; i++)
		t->progs[i] = t->links[i] = -1;
}
