/*
 * proc.c - the VMM processes: spawned with stdout piped to the harness
 * (the guest's serial line), stderr to a log file, and never left behind:
 * a fatal signal to the harness kills every child still registered.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "downtime.h"

extern char **environ;

#define MAX_CHILDREN 8

/* Read by the signal handler: plain stores of pid_t, 0 = free slot. */
static volatile pid_t children[MAX_CHILDREN];

static void remember(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (!children[i]) {
			children[i] = pid;
			return;
		}
}

static void forget(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

void dt_proc_kill_all(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
}

/* stdin from `in_r` (-1: /dev/null), stdout to `out_w`, stderr appended
 * to `errlog`. */
static int spawn_actions(posix_spawn_file_actions_t *fa, int in_r, int out_w,
			 const char *errlog)
{
	int rc = posix_spawn_file_actions_init(fa);

	if (rc)
		return -rc;
	if (in_r >= 0)
		rc = posix_spawn_file_actions_adddup2(fa, in_r, 0);
	else
		rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null",
						      O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(fa, out_w, 1);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(
		    fa, 2, errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (rc) {
		posix_spawn_file_actions_destroy(fa);
		return -rc;
	}
	return 0;
}

/* The harness ignores SIGPIPE; the VMMs get the default dispositions. */
static int spawn_attr(posix_spawnattr_t *at)
{
	sigset_t def, none;
	int rc = posix_spawnattr_init(at);

	if (rc)
		return -rc;
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	rc = posix_spawnattr_setsigdefault(at, &def);
	if (!rc)
		rc = posix_spawnattr_setsigmask(at, &none);
	if (!rc)
		rc = posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGDEF |
						      POSIX_SPAWN_SETSIGMASK);
	if (rc) {
		posix_spawnattr_destroy(at);
		return -rc;
	}
	return 0;
}

int dt_proc_spawn(struct dt_proc *p, const char *name, char *const argv[],
		  const char *errlog, int stdin_pipe)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int pfd[2], ifd[2] = {-1, -1}, rc;
	pid_t pid;

	memset(p, 0, sizeof(*p));
	p->out_fd = p->in_fd = -1;
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (stdin_pipe && pipe2(ifd, O_CLOEXEC))
		return -errno;
	if (pipe2(pfd, O_CLOEXEC)) {
		rc = -errno;
		goto close_stdin;
	}
	rc = spawn_actions(&fa, ifd[0], pfd[1], errlog);
	if (rc)
		goto close_pipe;
	rc = spawn_attr(&at);
	if (rc)
		goto destroy_actions;
	fflush(NULL);
	rc = -posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
destroy_actions:
	posix_spawn_file_actions_destroy(&fa);
close_pipe:
	close(pfd[1]);
	if (rc)
		close(pfd[0]);
close_stdin:
	if (ifd[0] >= 0)
		close(ifd[0]);
	if (rc) {
		if (ifd[1] >= 0)
			close(ifd[1]);
		return rc;
	}
	p->pid = pid;
	p->out_fd = pfd[0];
	p->in_fd = ifd[1];
	remember(pid);
	return 0;
}

int dt_proc_type(struct dt_proc *p, const char *text)
{
	size_t off = 0, len = strlen(text);

	if (p->in_fd < 0)
		return -EBADF;
	while (off < len) {
		ssize_t n = write(p->in_fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += (size_t)n;
	}
	return 0;
}

int dt_proc_poll(struct dt_proc *p)
{
	int st;

	if (!p->pid || p->exited)
		return p->exited;
	if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
		p->exited = 1;
		p->status = st;
		forget(p->pid);
	}
	return p->exited;
}

int dt_proc_wait(struct dt_proc *p, uint32_t ms)
{
	uint64_t end = dt_now_ns() + (uint64_t)ms * 1000000u;

	for (;;) {
		if (!p->pid || dt_proc_poll(p))
			return 0;
		if (dt_now_ns() >= end)
			return -ETIMEDOUT;
		dt_sleep_ms(10);
	}
}

void dt_proc_end(struct dt_proc *p)
{
	if (p->pid && !dt_proc_poll(p)) {
		kill(p->pid, SIGTERM);
		if (dt_proc_wait(p, 3000)) {
			kill(p->pid, SIGKILL);
			while (!dt_proc_poll(p))
				dt_sleep_ms(10);
		}
	}
}

void dt_proc_close(struct dt_proc *p)
{
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->in_fd >= 0)
		close(p->in_fd);
	p->out_fd = p->in_fd = -1;
}

void dt_proc_describe(const struct dt_proc *p, char *buf, size_t len)
{
	if (!p->pid)
		snprintf(buf, len, "not started");
	else if (!p->exited)
		snprintf(buf, len, "still running");
	else if (WIFEXITED(p->status))
		snprintf(buf, len, "exited with status %d",
			 WEXITSTATUS(p->status));
	else if (WIFSIGNALED(p->status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(p->status));
	else
		snprintf(buf, len, "ended (wait status %#x)", p->status);
}
