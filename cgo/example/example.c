// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * example: start a command, trace it with exitsnoop, and print how it died, as
 * the kernel recorded it.
 *
 *   sudo ./example                      # runs: sh -c 'exit 3'
 *   sudo ./example sh -c 'kill -KILL $$'
 *
 * The child waits on a pipe until it is traced, then execs the command, so that
 * even a command that exits at once is recorded. The store is private (it
 * records while this program runs); exitsnoop_store_open with .bpffs_root set
 * would use a pinned tracer that also records while no process of yours runs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <exitsnoop.h>

static int die(const char *what, int err)
{
	char msg[256];

	exitsnoop_last_error(msg, sizeof(msg));
	fprintf(stderr, "example: %s: %s (%s)\n", what, strerror(-err), msg);
	return 1;
}

int main(int argc, char **argv)
{
	char *def[] = {"sh", "-c", "exit 3", NULL};
	char **cmd = argc > 1 ? argv + 1 : def;
	struct exitsnoop_task_info info = {.trace_id = 42};
	struct exitsnoop_exit_status st;
	exitsnoop_store *store;
	int gate[2], err, ws;
	pid_t pid;

	err = exitsnoop_store_attach_private(&store);
	if (err)
		return die("attaching the tracer", err);

	if (pipe(gate) || (pid = fork()) < 0) {
		perror("example: pipe/fork");
		exitsnoop_store_free(store);
		return 1;
	}
	if (pid == 0) { /* the child: wait until traced, then run the command */
		char c;
		close(gate[1]);
		if (read(gate[0], &c, 1) != 1)
			_exit(127);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	close(gate[0]);

	err = exitsnoop_store_trace(store, (uint32_t)pid, &info);
	if (write(gate[1], "go", 1) != 1 || close(gate[1])) /* start the command */
		perror("example: releasing the child");
	if (err) {
		waitpid(pid, NULL, 0);
		exitsnoop_store_free(store);
		return die("tracing the child", err);
	}

	/* A supervisor that is not the parent would only do this wait. */
	err = exitsnoop_store_wait(store, info.trace_id, 10000, &st);
	waitpid(pid, &ws, 0); /* we are the parent, so we reap it too */
	if (err) {
		exitsnoop_store_free(store);
		return die("waiting for the exit", err);
	}

	if (WIFEXITED(st.exit_code))
		printf("pid %u exited %d", st.pid, WEXITSTATUS(st.exit_code));
	else if (WIFSIGNALED(st.exit_code))
		printf("pid %u killed by signal %d (%s)%s", st.pid, WTERMSIG(st.exit_code),
		       strsignal(WTERMSIG(st.exit_code)), WCOREDUMP(st.exit_code) ? ", core dumped" : "");
	printf("; raw wait status %#x, waitpid says %#x: %s\n", (unsigned)st.exit_code, (unsigned)ws,
	       st.exit_code == ws ? "same" : "DIFFERENT");

	exitsnoop_store_delete_exited_event(store, info.trace_id);
	return exitsnoop_store_free(store) ? 1 : (st.exit_code == ws ? 0 : 1);
}
