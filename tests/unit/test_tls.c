/*
 * test_tls.c - the TLS backend: handshakes between our own client and
 * server over a socketpair, driven non-blocking from one thread, with the
 * certificates scripts/gen-test-certs.sh makes in $MIG_TEST_CERTS.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls.h"

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

static const char *cert_dir(void)
{
	const char *d = getenv("MIG_TEST_CERTS");

	if (!d || !d[0])
		fail_msg("MIG_TEST_CERTS is not set: run under ctest, or set "
			 "it to a directory made by scripts/gen-test-certs.sh");
	return d;
}

static void cert_path(char *buf, const char *name, const char *ext)
{
	snprintf(buf, PATH_MAX, "%s/%s%s", cert_dir(), name, ext);
}

/* A context from mig__tls_ctx_new() with certificate `name`.pem/.key. */
static SSL_CTX *make_ctx(const char *name, int server)
{
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	struct mig_tls_params p = { ca, cert, key, NULL };
	SSL_CTX *ctx = NULL;
	int rc;

	cert_path(ca, "ca", ".pem");
	cert_path(cert, name, ".pem");
	cert_path(key, name, ".key");
	rc = mig__tls_ctx_new(&ctx, &p, server, err, sizeof(err));
	if (rc)
		fail_msg("mig__tls_ctx_new(%s): %d %s", name, rc, err);
	assert_non_null(ctx);
	return ctx;
}

/* A raw OpenSSL context trusting the test CA, optionally with a cert. */
static SSL_CTX *make_raw_ctx(const char *name, int server, int max_version)
{
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	SSL_CTX *ctx;

	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	assert_non_null(ctx);
	cert_path(ca, "ca", ".pem");
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
	if (name) {
		cert_path(cert, name, ".pem");
		cert_path(key, name, ".key");
		assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, cert),
				 1);
		assert_int_equal(
			SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM),
			1);
	}
	if (max_version)
		assert_int_equal(
			SSL_CTX_set_max_proto_version(ctx, max_version), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

struct pair {
	struct mig__stream *c; /* client: the migration source */
	struct mig__stream *s; /* server: the migration target */
	int crc, src;          /* handshake results */
};

static void pair_new(struct pair *p, SSL_CTX *cctx, const char *cname,
		     SSL_CTX *sctx, const char *sname)
{
	int sv[2];

	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(mig__stream_tls_new(&p->c, cctx, sv[0], 0, cname), 0);
	assert_int_equal(mig__stream_tls_new(&p->s, sctx, sv[1], 1, sname), 0);
	assert_string_equal(p->c->ops->name, "tls");
	assert_int_equal(p->c->fd, sv[0]);
	assert_int_equal(p->s->fd, sv[1]);
}

static void pair_free(struct pair *p)
{
	mig__stream_destroy(p->c);
	mig__stream_destroy(p->s);
}

static short poll_events(int want)
{
	short ev = 0;

	if (want & MIG__WANT_READ)
		ev |= POLLIN;
	if (want & MIG__WANT_WRITE)
		ev |= POLLOUT;
	return ev;
}

/* Waits for whichever of the streams is waiting; 0 when nothing moved. */
static int wait_streams(struct mig__stream *a, int a_waits,
			struct mig__stream *b, int b_waits, int timeout_ms)
{
	struct pollfd pfd[2];
	nfds_t n = 0;
	int rc;

	if (a_waits) {
		pfd[n].fd = a->fd;
		pfd[n++].events = poll_events(a->want);
	}
	if (b_waits) {
		pfd[n].fd = b->fd;
		pfd[n++].events = poll_events(b->want);
	}
	assert_true(n > 0);
	do
		rc = poll(pfd, n, timeout_ms);
	while (rc < 0 && errno == EINTR);
	assert_true(rc >= 0);
	return rc;
}

/*
 * Runs both handshakes until each has finished or failed. Once one side
 * is through, the other gets a short grace to see the outcome (an alert)
 * rather than the full wait.
 */
static void run_handshakes(struct pair *p)
{
	int i, cw, sw;

	p->crc = p->src = MIG__AGAIN;
	for (i = 0; i < 10000; i++) {
		if (p->crc == MIG__AGAIN)
			p->crc = mig__stream_handshake(p->c);
		if (p->src == MIG__AGAIN)
			p->src = mig__stream_handshake(p->s);
		cw = p->crc == MIG__AGAIN;
		sw = p->src == MIG__AGAIN;
		if (!cw && !sw)
			return;
		if (!wait_streams(p->c, cw, p->s, sw, cw && sw ? 5000 : 500))
			return;
	}
	fail_msg("handshake did not settle");
}

/* Reads once the data (or end) is there; MIG__AGAIN if it never comes. */
static ssize_t read_wait(struct mig__stream *s, void *buf, size_t len)
{
	ssize_t n;
	int i;

	for (i = 0; i < 100; i++) {
		n = mig__stream_read(s, buf, len);
		if (n != MIG__AGAIN)
			return n;
		if (!wait_streams(s, 1, s, 0, 2000))
			break;
	}
	return MIG__AGAIN;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static unsigned char pattern(unsigned seed, size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u + seed;

	return (unsigned char)((x >> 13) ^ (x >> 24) ^ (uint32_t)(i >> 12));
}

struct flow {
	struct mig__stream *w, *r;
	size_t size, sent, got;
	unsigned seed;
	unsigned char *in;
	int w_wait, r_wait;
};

/* One step of each direction; returns whether something moved. */
static int flow_step(struct flow *f, const unsigned char *out)
{
	/* Odd sizes, so that records and reads never line up. */
	size_t chunk = MIG__MIN(f->size - f->sent, (size_t)77777);
	ssize_t n;
	int moved = 0;

	f->w_wait = f->r_wait = 0;
	if (f->sent < f->size) {
		n = mig__stream_write(f->w, out + f->sent, chunk);
		if (n == MIG__AGAIN) {
			f->w_wait = 1;
		} else {
			assert_true(n > 0);
			f->sent += (size_t)n;
			moved = 1;
		}
	}
	if (f->got < f->size) {
		n = mig__stream_read(f->r, f->in + f->got,
				     MIG__MIN(f->size - f->got, (size_t)65521));
		if (n == MIG__AGAIN) {
			f->r_wait = 1;
		} else {
			assert_true(n > 0);
			f->got += (size_t)n;
			moved = 1;
		}
	}
	return moved;
}

/* `size` bytes each way at once, with the content checked. */
static void exchange(struct mig__stream *a, struct mig__stream *b,
		     size_t size)
{
	struct flow ab = { a, b, size, 0, 0, 1, NULL, 0, 0 };
	struct flow ba = { b, a, size, 0, 0, 2, NULL, 0, 0 };
	unsigned char *out_a, *out_b;
	size_t i;
	int moved;

	out_a = malloc(size);
	out_b = malloc(size);
	ab.in = malloc(size);
	ba.in = malloc(size);
	assert_true(out_a && out_b && ab.in && ba.in);
	for (i = 0; i < size; i++) {
		out_a[i] = pattern(ab.seed, i);
		out_b[i] = pattern(ba.seed, i);
	}
	while (ab.got < size || ba.got < size) {
		moved = flow_step(&ab, out_a);
		moved |= flow_step(&ba, out_b);
		if (moved)
			continue;
		assert_true(wait_streams(a, ab.w_wait || ba.r_wait, b,
					 ab.r_wait || ba.w_wait, 5000) > 0);
	}
	assert_memory_equal(ab.in, out_a, size);
	assert_memory_equal(ba.in, out_b, size);
	free(out_a);
	free(out_b);
	free(ab.in);
	free(ba.in);
}

/* ---------------------------------------------------------------------- */
/* Handshakes that succeed                                                */

static void test_good_handshake_and_data(void **state)
{
	SSL_CTX *cctx = make_ctx("source", 0);
	SSL_CTX *sctx = make_ctx("target", 1);
	struct pair p;
	char buf[16];
	size_t size = 4u << 20;

	(void)state;
	/* The server checks the client's name too. */
	pair_new(&p, cctx, "target.test", sctx, "source.test");
	run_handshakes(&p);
	assert_int_equal(p.crc, 0);
	assert_int_equal(p.src, 0);
	assert_string_equal(p.c->error_text, "");
	/* Handshake again: already done, nothing to do. */
	assert_int_equal(mig__stream_handshake(p.c), 0);

	exchange(p.c, p.s, size);
	assert_true(p.c->bytes_out == size && p.c->bytes_in == size);
	assert_true(p.s->bytes_out == size && p.s->bytes_in == size);

	/* Nothing pending: a read waits for the socket to become readable. */
	assert_int_equal(mig__stream_read(p.c, buf, sizeof(buf)), MIG__AGAIN);
	assert_int_equal(p.c->want, MIG__WANT_READ);

	/* close_notify each way is a clean end of stream. */
	assert_int_equal(mig__stream_shutdown(p.c), 0);
	assert_int_equal(mig__stream_shutdown(p.c), 0);
	assert_int_equal(read_wait(p.s, buf, sizeof(buf)), 0);
	assert_int_equal(mig__stream_shutdown(p.s), 0);
	assert_int_equal(read_wait(p.c, buf, sizeof(buf)), 0);
	assert_int_equal(p.c->error, 0);
	assert_int_equal(p.s->error, 0);
	pair_free(&p);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* Reads and writes run the handshake when nobody called it first. */
static void test_implicit_handshake(void **state)
{
	SSL_CTX *cctx = make_ctx("source", 0);
	SSL_CTX *sctx = make_ctx("target", 1);
	struct pair p;
	char buf[8];

	(void)state;
	pair_new(&p, cctx, "target.test", sctx, NULL);
	exchange(p.c, p.s, 100000);
	assert_int_equal(mig__stream_handshake(p.c), 0);
	assert_int_equal(mig__stream_handshake(p.s), 0);
	pair_free(&p);

	/* ... and its checks: a bad certificate still fails the read. */
	SSL_CTX_free(sctx);
	sctx = make_ctx("expired", 1);
	pair_new(&p, cctx, "target.test", sctx, NULL);
	assert_int_equal(mig__stream_write(p.c, "x", 1), MIG__AGAIN);
	assert_int_equal(p.c->want, MIG__WANT_READ);
	assert_int_equal(mig__stream_read(p.s, buf, 1), MIG__AGAIN);
	assert_int_equal(read_wait(p.c, buf, 1), MIG_ECERT);
	assert_contains(p.c->error_text, "certificate has expired");
	pair_free(&p);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* An IP literal as the name is checked against the IP SANs. */
static void test_ip_peer_name(void **state)
{
	SSL_CTX *cctx = make_ctx("source", 0);
	SSL_CTX *sctx = make_ctx("target", 1);
	struct pair p;

	(void)state;
	pair_new(&p, cctx, "127.0.0.1", sctx, NULL);
	run_handshakes(&p);
	assert_int_equal(p.crc, 0);
	assert_int_equal(p.src, 0);
	pair_free(&p);

	pair_new(&p, cctx, "127.0.0.2", sctx, NULL);
	run_handshakes(&p);
	assert_int_equal(p.crc, MIG_ECERT);
	assert_contains(p.c->error_text, "peer certificate rejected: ");
	assert_contains(p.c->error_text, "IP address mismatch");
	pair_free(&p);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* ---------------------------------------------------------------------- */
/* The client rejects the server                                          */

/* Client source.pem against server `server_cert`; the client must fail. */
static void client_rejects(const char *server_cert, const char *why,
			   const char *alert)
{
	SSL_CTX *cctx = make_ctx("source", 0);
	SSL_CTX *sctx = make_ctx(server_cert, 1);
	struct pair p;

	pair_new(&p, cctx, "target.test", sctx, NULL);
	run_handshakes(&p);
	assert_int_equal(p.crc, MIG_ECERT);
	assert_int_equal(p.c->error, MIG_ECERT);
	assert_contains(p.c->error_text, "peer certificate rejected: ");
	assert_contains(p.c->error_text, why);
	/* The server hears it from the client's alert. */
	assert_int_equal(p.src, MIG_ECERT);
	assert_contains(p.s->error_text, "the peer rejected our certificate");
	assert_contains(p.s->error_text, alert);
	/* The error is sticky. */
	assert_int_equal(mig__stream_handshake(p.c), MIG_ECERT);
	pair_free(&p);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

static void test_wrong_ca(void **state)
{
	(void)state;
	client_rejects("rogue", "unable to get local issuer certificate",
		       "unknown CA");
}

static void test_wrong_name(void **state)
{
	(void)state;
	client_rejects("wrong-name", "hostname mismatch", "TLS alert: ");
}

static void test_expired(void **state)
{
	(void)state;
	client_rejects("expired", "certificate has expired",
		       "certificate expired");
}

/* ---------------------------------------------------------------------- */
/* The server rejects the client                                          */

/*
 * In TLS 1.3 the client finishes its handshake before the server has
 * judged its certificate, so the client learns of the refusal on its
 * first read.
 */
static void server_rejects(SSL_CTX *cctx, SSL_CTX *sctx, const char *sname,
			   const char *why, const char *client_why)
{
	struct pair p;
	char buf[16];

	pair_new(&p, cctx, "target.test", sctx, sname);
	run_handshakes(&p);
	assert_int_equal(p.src, MIG_ECERT);
	assert_contains(p.s->error_text, why);
	assert_int_equal(p.crc, 0);
	assert_int_equal(read_wait(p.c, buf, sizeof(buf)), MIG_ECERT);
	assert_contains(p.c->error_text, client_why);
	pair_free(&p);
}

static void test_client_without_certificate(void **state)
{
	SSL_CTX *cctx = make_raw_ctx(NULL, 0, 0);
	SSL_CTX *sctx = make_ctx("target", 1);

	(void)state;
	server_rejects(cctx, sctx, NULL,
		       "peer certificate rejected: the peer sent no "
		       "certificate",
		       "certificate required");
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

static void test_server_checks_client(void **state)
{
	SSL_CTX *cctx = make_ctx("source", 0);
	SSL_CTX *rogue = make_ctx("rogue", 0);
	SSL_CTX *sctx = make_ctx("target", 1);

	(void)state;
	server_rejects(cctx, sctx, "other.test",
		       "peer certificate rejected: hostname mismatch",
		       "the peer rejected our certificate (TLS alert: ");
	/* No name configured: any chain to the CA will do, not another. */
	server_rejects(rogue, sctx, NULL,
		       "peer certificate rejected: unable to get local "
		       "issuer certificate",
		       "the peer rejected our certificate (TLS alert: unknown "
		       "CA)");
	SSL_CTX_free(cctx);
	SSL_CTX_free(rogue);
	SSL_CTX_free(sctx);
}

/* ---------------------------------------------------------------------- */
/* Protocol versions                                                      */

static void test_tls12_peer_refused(void **state)
{
	SSL_CTX *old_client = make_raw_ctx("source", 0, TLS1_2_VERSION);
	SSL_CTX *old_server = make_raw_ctx("target", 1, TLS1_2_VERSION);
	SSL_CTX *cctx = make_ctx("source", 0);
	SSL_CTX *sctx = make_ctx("target", 1);
	struct pair p;

	(void)state;
	pair_new(&p, old_client, "target.test", sctx, NULL);
	run_handshakes(&p);
	assert_int_equal(p.src, MIG_ETLS);
	assert_contains(p.s->error_text, "peer does not speak TLS 1.3");
	assert_true(p.crc < 0);
	pair_free(&p);

	pair_new(&p, cctx, "target.test", old_server, NULL);
	run_handshakes(&p);
	assert_int_equal(p.crc, MIG_ETLS);
	assert_contains(p.c->error_text, "peer does not speak TLS 1.3");
	pair_free(&p);

	SSL_CTX_free(old_client);
	SSL_CTX_free(old_server);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* ---------------------------------------------------------------------- */
/* Ends of connections                                                    */

static void test_truncation(void **state)
{
	SSL_CTX *cctx = make_ctx("source", 0);
	SSL_CTX *sctx = make_ctx("target", 1);
	struct pair p;
	char buf[16];

	(void)state;
	pair_new(&p, cctx, "target.test", sctx, NULL);
	run_handshakes(&p);
	assert_int_equal(p.crc, 0);
	assert_int_equal(p.src, 0);
	assert_int_equal(mig__stream_write(p.s, "hello", 5), 5);
	/* The server's socket ends without a close_notify. */
	assert_int_equal(shutdown(p.s->fd, SHUT_WR), 0);
	assert_int_equal(read_wait(p.c, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(read_wait(p.c, buf, sizeof(buf)), MIG_ETRUNCATED);
	assert_contains(p.c->error_text, "close_notify");
	assert_int_equal(mig__stream_read(p.c, buf, sizeof(buf)),
			 MIG_ETRUNCATED);
	pair_free(&p);

	/* The same during the handshake is a TLS failure. */
	pair_new(&p, cctx, "target.test", sctx, NULL);
	assert_int_equal(shutdown(p.s->fd, SHUT_WR), 0);
	assert_int_equal(mig__stream_handshake(p.c), MIG_ETLS);
	assert_contains(p.c->error_text, "during the TLS handshake");
	pair_free(&p);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* A vanished peer is an error, not a SIGPIPE that kills the process. */
static void test_no_sigpipe(void **state)
{
	SSL_CTX *cctx = make_ctx("source", 0);
	SSL_CTX *sctx = make_ctx("target", 1);
	void (*old)(int) = signal(SIGPIPE, SIG_DFL);
	struct pair p;
	ssize_t n;

	(void)state;
	pair_new(&p, cctx, "target.test", sctx, NULL);
	run_handshakes(&p);
	assert_int_equal(p.crc, 0);
	assert_int_equal(p.src, 0);
	mig__stream_destroy(p.s);
	p.s = NULL;
	n = mig__stream_write(p.c, "x", 1);
	assert_int_equal(n, -EPIPE);
	assert_contains(p.c->error_text, "TLS write failed: Broken pipe");
	pair_free(&p);
	signal(SIGPIPE, old);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

/* ---------------------------------------------------------------------- */
/* Set-up errors                                                          */

static int ctx_error(const char *ca, const char *cert, const char *key,
		     char *err, size_t errlen)
{
	struct mig_tls_params p = { ca, cert, key, NULL };
	SSL_CTX *ctx = NULL;
	int rc;

	rc = mig__tls_ctx_new(&ctx, &p, 0, err, errlen);
	assert_null(ctx);
	return rc;
}

static void test_ctx_errors(void **state)
{
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], other[PATH_MAX];
	char dir[] = "/tmp/test_tls.XXXXXX", junk[PATH_MAX + 16];
	char err[256];
	FILE *f;

	(void)state;
	cert_path(ca, "ca", ".pem");
	cert_path(cert, "source", ".pem");
	cert_path(key, "source", ".key");
	cert_path(other, "target", ".key");
	assert_non_null(mkdtemp(dir));

	assert_int_equal(ctx_error(NULL, cert, key, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "tls.ca_file");

	snprintf(junk, sizeof(junk), "%s/missing.pem", dir);
	assert_int_equal(ctx_error(junk, cert, key, err, sizeof(err)),
			 -ENOENT);
	assert_contains(err, "cannot open CA file");
	assert_contains(err, junk);
	assert_contains(err, "No such file or directory");

	assert_int_equal(ctx_error(ca, cert, dir, err, sizeof(err)), -EINVAL);
	assert_contains(err, "private key file");
	assert_contains(err, "not a regular file");

	snprintf(junk, sizeof(junk), "%s/junk.pem", dir);
	f = fopen(junk, "w");
	assert_non_null(f);
	fputs("this is not a certificate\n", f);
	fclose(f);
	assert_int_equal(ctx_error(junk, cert, key, err, sizeof(err)),
			 MIG_ETLS);
	assert_contains(err, "cannot load CA file");
	assert_contains(err, junk);
	assert_int_equal(ctx_error(ca, junk, key, err, sizeof(err)), MIG_ETLS);
	assert_contains(err, "cannot load certificate file");
	assert_contains(err, junk);
	assert_contains(err, "no start line");
	assert_int_equal(ctx_error(ca, cert, junk, err, sizeof(err)), MIG_ETLS);
	assert_contains(err, "cannot load private key file");
	assert_contains(err, junk);

	/* Root reads anything; only others can be refused by the mode. */
	if (geteuid() != 0) {
		assert_int_equal(chmod(junk, 0), 0);
		assert_int_equal(ctx_error(ca, junk, key, err, sizeof(err)),
				 -EACCES);
		assert_contains(err, junk);
		assert_contains(err, "Permission denied");
	}
	assert_int_equal(unlink(junk), 0);
	assert_int_equal(rmdir(dir), 0);

	assert_int_equal(ctx_error(ca, cert, other, err, sizeof(err)),
			 MIG_ETLS);
	assert_contains(err, other);
	assert_contains(err, "does not belong to certificate");
	assert_contains(err, cert);
}

/* The client must name its peer; the fd is closed on every failure. */
static void test_client_needs_peer_name(void **state)
{
	SSL_CTX *cctx = make_ctx("source", 0);
	struct mig__stream *s = NULL;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(mig__stream_tls_new(&s, cctx, sv[0], 0, NULL),
			 -EINVAL);
	assert_null(s);
	assert_int_equal(fcntl(sv[0], F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(mig__stream_tls_new(&s, cctx, sv[1], 0, ""), -EINVAL);
	assert_int_equal(fcntl(sv[1], F_GETFD), -1);
	SSL_CTX_free(cctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_handshake_and_data),
		cmocka_unit_test(test_implicit_handshake),
		cmocka_unit_test(test_ip_peer_name),
		cmocka_unit_test(test_wrong_ca),
		cmocka_unit_test(test_wrong_name),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_client_without_certificate),
		cmocka_unit_test(test_server_checks_client),
		cmocka_unit_test(test_tls12_peer_refused),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_no_sigpipe),
		cmocka_unit_test(test_ctx_errors),
		cmocka_unit_test(test_client_needs_peer_name),
	};

	if (!getenv("MIG_TEST_CERTS") || !getenv("MIG_TEST_CERTS")[0]) {
		fprintf(stderr, "MIG_TEST_CERTS is not set: run under ctest, "
				"or set it to a directory made by "
				"scripts/gen-test-certs.sh\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
