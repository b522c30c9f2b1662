// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * supervisor: start a command and report how it died, exactly, even across a
 * crash or a restart of the supervisor itself. It is what a container runtime's
 * monitor does with libexitsnoop.a: one epoll loop, no thread; SIGCHLD through
 * a signalfd, the tracer through exitsnoop_store_epoll_fd.
 *
 *   sudo ./supervisor -r /run/mysup -s /run/mysup/state -- sh -c 'sleep 5; exit 7'
 *   (kill -KILL the supervisor; the command runs on)
 *   sudo ./supervisor -r /run/mysup -s /run/mysup/state
 *   pid 4242 (trace 0x...) exited 7
 *
 * With a command it starts it (held on a pipe until traced), writes "PID ID" to
 * the state file, and waits. Without one it resumes from the state file: the
 * command is no longer its child, but the pinned tracer under the root recorded
 * its exit, whenever it came. It exits with the command's code as a shell
 * gives it (128 + signal). -u uninstalls the tracer pinned under the root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <exitsnoop.h>

struct job {
	exitsnoop_store *store;
	uint32_t pid;
	uint64_t id;
	bool ours; /* our child: SIGCHLD tells, and we reap it */
};

static int fail(const char *what, int err)
{
	char msg[512];

	exitsnoop_last_error(msg, sizeof(msg));
	fprintf(stderr, "supervisor: %s: %s%s%s\n", what, strerror(err < 0 ? -err : err), *msg ? ": " : "",
		err < 0 ? msg : "");
	return 125;
}

/* start runs cmd held on a pipe until it is traced, so that no exit goes unseen. */
static int start(struct job *j, char **cmd, const sigset_t *old)
{
	struct exitsnoop_task_info info = {0};
	int gate[2], err;
	pid_t pid;
	char c;

	if (getrandom(&j->id, sizeof(j->id), 0) != sizeof(j->id) || pipe2(gate, O_CLOEXEC))
		return fail("starting", errno);
	pid = fork();
	if (pid < 0)
		return fail("fork", errno);
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, old, NULL);
		if (read(gate[0], &c, 1) == 1)
			execvp(cmd[0], cmd);
		_exit(127);
	}
	close(gate[0]);
	j->pid = (uint32_t)pid;
	j->ours = true;
	info.trace_id = j->id;
	err = exitsnoop_store_trace(j->store, j->pid, &info);
	if (err) {
		close(gate[1]);
		waitpid(pid, NULL, 0);
		return fail("tracing the command", err);
	}
	if (write(gate[1], "g", 1) != 1)
		return fail("releasing the command", errno);
	close(gate[1]);
	return 0;
}

static int save(const char *state, const struct job *j)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", state);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%u %llu\n", j->pid, (unsigned long long)j->id) < 0 || fclose(f) ||
	    rename(tmp, state))
		return fail("writing the state file", errno);
	return 0;
}

static void on_event(void *ctx, uint64_t id, const struct exitsnoop_exit_status *st)
{
	(void)ctx, (void)id, (void)st; /* the store keeps it: we read it by ID below */
}

/* wait_exit runs the loop until the kernel's record of the job's exit is there. */
static int wait_exit(struct job *j, int sigfd, struct exitsnoop_exit_status *st)
{
	struct epoll_event ev = {.events = EPOLLIN}, got[2];
	int ep, efd, err, n;

	efd = exitsnoop_store_epoll_fd(j->store);
	if (efd < 0)
		return fail("the store's fd", efd);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = efd;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev))
		return fail("epoll", errno);
	ev.data.fd = sigfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sigfd, &ev))
		return fail("epoll", errno);
	for (;;) {
		/* consume first: it arms the kernel's wake-up; then look (an exit of
		 * before the restart, or one that came while arming, is found here) */
		err = exitsnoop_store_consume(j->store, on_event, NULL);
		if (err < 0)
			return fail("reading exits", err);
		err = exitsnoop_store_get_exited_event(j->store, j->id, st);
		if (err != -ENOENT)
			return err ? fail("reading the exit", err) : 0;
		n = epoll_wait(ep, got, 2, -1);
		for (int i = 0; i < n; i++) {
			struct signalfd_siginfo si;
			int ws;
			pid_t p;

			if (got[i].data.fd != sigfd)
				continue;
			while (read(sigfd, &si, sizeof(si)) == sizeof(si))
				;
			/* SIGCHLD: reap. The kernel recorded the exit already; if it could
			 * not, the parent's wait status is the truth (-EEXIST: kernel won). */
			while ((p = waitpid(-1, &ws, WNOHANG)) > 0)
				if (j->ours && (uint32_t)p == j->pid)
					exitsnoop_store_record_wait_status(j->store, j->id, j->pid, ws);
		}
	}
}

int main(int argc, char **argv)
{
	const char *root = NULL, *state = NULL;
	struct exitsnoop_exit_status st;
	sigset_t chld, old;
	struct job j = {0};
	int opt, err, sigfd, code;
	bool uninstall = false;
	FILE *f;

	while ((opt = getopt(argc, argv, "+r:s:u")) != -1) {
		if (opt == 'r')
			root = optarg;
		else if (opt == 's')
			state = optarg;
		else if (opt == 'u')
			uninstall = true;
		else
			return 2;
	}
	if (!root || (!uninstall && !state)) {
		fprintf(stderr, "usage: supervisor -r ROOT -s STATE [-- CMD ARG...] | supervisor -r ROOT -u\n");
		return 2;
	}
	if (uninstall)
		return (err = exitsnoop_uninstall(root)) ? fail("uninstalling", err) : 0;

	/* SIGCHLD the usual way for a loop: blocked, read from a signalfd */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	EXITSNOOP_OPTS(exitsnoop_open_opts, opts, .bpffs_root = root); /* installed if need be */
	err = exitsnoop_store_open(&opts, &j.store);
	if (sigfd < 0 || err)
		return fail("opening the store", sigfd < 0 ? errno : err);
	if (optind < argc) {
		err = start(&j, argv + optind, &old) ?: save(state, &j);
	} else if ((f = fopen(state, "r"))) { /* a restart: resume from the state file */
		unsigned long long id;

		err = fscanf(f, "%u %llu", &j.pid, &id) == 2 ? 0 : fail("reading the state file", EINVAL);
		j.id = id;
		fclose(f);
	} else {
		err = fail(state, errno);
	}
	if (!err)
		err = wait_exit(&j, sigfd, &st);
	if (err) {
		exitsnoop_store_free(j.store);
		return err;
	}
	if (WIFEXITED(st.exit_code)) {
		code = WEXITSTATUS(st.exit_code);
		printf("pid %u (trace %#llx) exited %d\n", st.pid, (unsigned long long)j.id, code);
	} else {
		code = 128 + WTERMSIG(st.exit_code);
		printf("pid %u (trace %#llx) killed by signal %d (%s)%s\n", st.pid, (unsigned long long)j.id,
		       WTERMSIG(st.exit_code), strsignal(WTERMSIG(st.exit_code)),
		       WCOREDUMP(st.exit_code) ? ", core dumped" : "");
	}
	exitsnoop_store_delete_exited_event(j.store, j.id);
	unlink(state);
	exitsnoop_store_free(j.store);
	return code;
}
