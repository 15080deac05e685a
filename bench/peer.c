/*
 * peer.c - the helper child: the far end of every measurement that needs
 * one, the library's migration target and the raw TLS sink.
 *
 * It is forked once, before the parent builds any guest or starts any
 * thread, so it is small, single-threaded, and shares no guest memory
 * (a fork later would copy the guest's page tables and turn the source
 * guest's writes into copy-on-write faults). The parent drives it with
 * fixed-size messages over a SOCK_SEQPACKET pair; it serves one command
 * at a time, so the two ends never measure concurrently.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

enum { OP_TARGET = 1, OP_SINK = 2, OP_QUIT = 3 };

struct msg {
	uint32_t op;
	int32_t rc;
	uint64_t bytes;
	uint16_t port;
	struct bench_usage usage;
	char text[256];
	struct bench_target_result tr;
};

/* The child's configuration, set once after the fork. */
struct child {
	int fd;
	const char *certs;
	const char *workdir;
	int small_pages;
	int verbose;
};

static struct mig_vmm_ops small_pages_ops;

static void log_stderr(void *opaque, enum mig_log_level level, const char *msg)
{
	(void)level;
	fprintf(stderr, "mig-bench [%s]: %s\n", (const char *)opaque, msg);
}

/*
 * The synthetic guest asks for huge pages for its RAM, as VMMs do. This
 * wrapper takes the advice back right after the guest is mapped and
 * before anything touches it, to measure what a target whose memory comes
 * in 4 KiB pages pays in first-touch faults.
 */
static int small_pages_create_guest(void *vmm,
				    const struct mig_guest_desc *desc,
				    char *reason, size_t reason_len)
{
	const struct mig_vmm_ops *ops = synth_vmm_ops();
	const struct mig_region *r;
	size_t n;
	int rc = ops->create_guest(vmm, desc, reason, reason_len);

	if (rc || ops->memory_regions(vmm, &r, &n))
		return rc;
	for (size_t i = 0; i < n; i++)
		madvise(r[i].host, r[i].size, MADV_NOHUGEPAGE);
	return 0;
}

static int send_msg(int fd, const struct msg *m)
{
	ssize_t n;

	do
		n = send(fd, m, sizeof(*m), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 0 : -EPIPE;
}

static int recv_msg(int fd, struct msg *m)
{
	ssize_t n;

	do
		n = recv(fd, m, sizeof(*m), 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 0 : -EPIPE;
}

void bench_peer_hash_path(const char *workdir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/target.hashes", workdir);
}

/* What the target can prove about the guest it received. */
static void target_checks(struct child *c, struct synth_guest *g,
			  struct bench_target_result *tr)
{
	const struct synth_hashes *h;
	struct synth_check check;
	const char *line = NULL;
	char path[4096];

	tr->state_ok = synth_state_verified(g, tr->text, sizeof(tr->text));
	if (synth_wait_boot(g)) {
		snprintf(tr->text, sizeof(tr->text),
			 "the guest was never started on the target");
		return;
	}
	h = synth_final_hashes(g, &check);
	tr->check_done = check.done;
	tr->pages_checked = check.pages;
	tr->bad_pages = check.bad_pages;
	tr->first_bad_gpa = check.first_bad_gpa;
	bench_peer_hash_path(c->workdir, path, sizeof(path));
	tr->hashes_written = h && !synth_hashes_write(h, path);
	tr->violations = synth_violations(g, &line, 1);
	if (line)
		snprintf(tr->text, sizeof(tr->text), "%s", line);
}

static void serve_target(struct child *c)
{
	const struct synth_dirty_opts idle = {0};
	struct mig_params p;
	struct msg m = {.op = OP_TARGET};
	struct synth_guest *g;
	struct mig_stats *st;
	struct bench_usage u;
	mig_target *t;
	char paths[3][4096];
	int rc;

	rc = synth_target_new(&g, 0, &idle);
	if (rc) {
		m.rc = rc;
		snprintf(m.text, sizeof(m.text), "target: %s", strerror(-rc));
		send_msg(c->fd, &m);
		return;
	}
	mig_params_init(&p);
	bench_tls_params(&p.tls, c->certs, 1, paths);
	p.tls.peer_name = "source.test";
	p.log = log_stderr;
	p.log_opaque = "target";
	p.log_level = c->verbose ? MIG_LOG_INFO : MIG_LOG_WARN;
	rc = mig_target_new(
	    &t, &p, c->small_pages ? &small_pages_ops : synth_vmm_ops(), g);
	if (rc) {
		m.rc = rc;
		snprintf(m.text, sizeof(m.text), "mig_target_new: %s",
			 mig_strerror(rc));
		send_msg(c->fd, &m);
		goto free_guest;
	}
	rc = mig_target_listen(t, "tcp:127.0.0.1:0");
	if (!rc)
		rc = mig_target_address(t, m.text, sizeof(m.text));
	m.rc = rc;
	if (rc)
		snprintf(m.text, sizeof(m.text), "target: cannot listen: %s",
			 mig_strerror(rc));
	if (send_msg(c->fd, &m) || rc)
		goto free_target;

	memset(&m, 0, sizeof(m));
	m.op = OP_TARGET;
	bench_usage_get(&u);
	m.tr.rc = mig_target_run(t);
	bench_usage_since(&u);
	m.tr.cpu_us = u.cpu_us;
	m.tr.faults = u.faults;
	if (m.tr.rc)
		snprintf(m.tr.text, sizeof(m.tr.text), "%s",
			 mig_strerror(m.tr.rc));
	st = malloc(sizeof(*st));
	if (st) {
		mig_target_stats(t, st);
		m.tr.total_us = st->total_us;
		if (m.tr.rc && st->error_text[0])
			snprintf(m.tr.text, sizeof(m.tr.text), "%s",
				 st->error_text);
		free(st);
	}
	if (!m.tr.rc)
		target_checks(c, g, &m.tr);
	synth_stop(g);
	send_msg(c->fd, &m);
free_target:
	mig_target_free(t);
free_guest:
	synth_free(g);
}

static void serve_sink(struct child *c, uint64_t bytes)
{
	struct msg m = {.op = OP_SINK};
	int lfd = bench_tcp_listen(&m.port);

	if (lfd < 0) {
		m.rc = lfd;
		snprintf(m.text, sizeof(m.text), "raw TLS: listen: %s",
			 strerror(-lfd));
		send_msg(c->fd, &m);
		return;
	}
	if (send_msg(c->fd, &m))
		goto close_lfd;
	m.port = 0;
	bench_usage_get(&m.usage);
	m.rc = bench_tls_sink(lfd, c->certs, bytes, m.text, sizeof(m.text));
	bench_usage_since(&m.usage);
	send_msg(c->fd, &m);
close_lfd:
	close(lfd);
}

static void child_main(struct child *c)
{
	struct msg m;

	small_pages_ops = *synth_vmm_ops();
	small_pages_ops.create_guest = small_pages_create_guest;
	while (!recv_msg(c->fd, &m)) {
		if (m.op == OP_TARGET)
			serve_target(c);
		else if (m.op == OP_SINK)
			serve_sink(c, m.bytes);
		else
			break;
	}
}

int bench_peer_start(struct bench_peer *p, const char *certs,
		     const char *workdir, int target_4k, int verbose)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	fflush(NULL); /* nothing buffered is written twice */
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (!pid) {
		struct child c = {.fd = sv[1],
				  .certs = certs,
				  .workdir = workdir,
				  .small_pages = target_4k,
				  .verbose = verbose};

		close(sv[0]);
		child_main(&c);
		fflush(NULL);
		_exit(0);
	}
	close(sv[1]);
	p->pid = pid;
	p->fd = sv[0];
	return 0;
}

void bench_peer_kill(struct bench_peer *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	close(p->fd);
	p->pid = 0;
}

void bench_peer_stop(struct bench_peer *p)
{
	struct msg m = {.op = OP_QUIT};

	if (p->pid <= 0)
		return;
	if (send_msg(p->fd, &m)) {
		bench_peer_kill(p);
		return;
	}
	waitpid(p->pid, NULL, 0);
	close(p->fd);
	p->pid = 0;
}

/* Sends a command and takes the first reply. */
static int command(struct bench_peer *p, struct msg *m, char *why,
		   size_t why_len)
{
	uint32_t op = m->op;

	if (send_msg(p->fd, m) || recv_msg(p->fd, m) || m->op != op) {
		snprintf(why, why_len, "the helper process is gone");
		return -EPIPE;
	}
	if (m->rc) {
		snprintf(why, why_len, "%s", m->text);
		return m->rc;
	}
	return 0;
}

int bench_peer_target(struct bench_peer *p, char *addr, size_t len, char *why,
		      size_t why_len)
{
	struct msg m = {.op = OP_TARGET};
	int rc = command(p, &m, why, why_len);

	if (!rc)
		snprintf(addr, len, "%s", m.text);
	return rc;
}

int bench_peer_target_wait(struct bench_peer *p, struct bench_target_result *r)
{
	struct msg m;

	if (recv_msg(p->fd, &m) || m.op != OP_TARGET)
		return -EPIPE;
	*r = m.tr;
	return 0;
}

int bench_peer_sink(struct bench_peer *p, uint64_t bytes, uint16_t *port,
		    char *why, size_t why_len)
{
	struct msg m = {.op = OP_SINK, .bytes = bytes};
	int rc = command(p, &m, why, why_len);

	if (!rc)
		*port = m.port;
	return rc;
}

int bench_peer_sink_wait(struct bench_peer *p, struct bench_usage *u, char *why,
			 size_t why_len)
{
	struct msg m;

	if (recv_msg(p->fd, &m) || m.op != OP_SINK) {
		snprintf(why, why_len, "the helper process is gone");
		return -EPIPE;
	}
	if (m.rc)
		snprintf(why, why_len, "%s", m.text);
	*u = m.usage;
	return m.rc;
}
