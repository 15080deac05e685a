/*
 * rawtls.c - the raw TLS bound: OpenSSL directly, both ends.
 *
 * This is the reference the library's rate is held against, so it is
 * built to be independent of the library yet to do the same cryptographic
 * and system-call work per byte: TLS 1.3 only, mutual authentication with
 * the same certificates, the library's cipher-suite list (the macro, so
 * that a change of preference there is followed here), TCP_NODELAY,
 * read-ahead on, and writes of one page batch (BENCH_WRITE_SIZE) at a
 * time, which OpenSSL cuts into 16 KiB records as it does for the
 * library. Sockets are blocking: the bound must not pay for an event loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench.h"
#include "tls.h" /* MIG__TLS_CIPHERSUITES only */

#define SINK_BUF     (1u << 20)
#define IO_TIMEOUT_S 60

static void ssl_why(char *why, size_t len, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%s",
			 errno ? strerror(errno) : "connection closed");
	snprintf(why, len, "raw TLS: %s: %s", what, buf);
	ERR_clear_error();
}

static SSL_CTX *ctx_new(const char *certs, int server, char *why,
			size_t why_len)
{
	const char *me = server ? "target" : "source";
	char ca[4096], cert[4096], key[4096];
	SSL_CTX *ctx;

	snprintf(ca, sizeof(ca), "%s/ca.pem", certs);
	snprintf(cert, sizeof(cert), "%s/%s.pem", certs, me);
	snprintf(key, sizeof(key), "%s/%s.key", certs, me);
	ERR_clear_error();
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		ssl_why(why, why_len, "SSL_CTX_new");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, MIG__TLS_CIPHERSUITES)) {
		ssl_why(why, why_len, "TLS 1.3 set-up");
		goto free_ctx;
	}
	if (server)
		SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		ssl_why(why, why_len, certs);
		goto free_ctx;
	}
	SSL_CTX_set_verify(ctx,
			   server ? SSL_VERIFY_PEER |
					SSL_VERIFY_FAIL_IF_NO_PEER_CERT
				  : SSL_VERIFY_PEER,
			   NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_read_ahead(ctx, 1);
	return ctx;

free_ctx:
	SSL_CTX_free(ctx);
	return NULL;
}

/* The peer's certificate must name the other end, as in the library. */
static SSL *ssl_new(SSL_CTX *ctx, int fd, int server, char *why, size_t why_len)
{
	const char *peer = server ? "source.test" : "target.test";
	SSL *ssl = SSL_new(ctx);

	if (!ssl) {
		ssl_why(why, why_len, "SSL_new");
		return NULL;
	}
	if (!SSL_set_fd(ssl, fd) || !SSL_set1_host(ssl, peer) ||
	    (!server && !SSL_set_tlsext_host_name(ssl, peer))) {
		ssl_why(why, why_len, "SSL set-up");
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

static void set_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int bench_tcp_listen(uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static int sink_read(SSL *ssl, uint64_t bytes, char *why, size_t why_len)
{
	uint8_t *buf = malloc(SINK_BUF);
	uint64_t got = 0;
	size_t n;

	if (!buf) {
		snprintf(why, why_len, "raw TLS: out of memory");
		return -1;
	}
	while (got < bytes) {
		size_t want =
		    bytes - got < SINK_BUF ? (size_t)(bytes - got) : SINK_BUF;

		if (!SSL_read_ex(ssl, buf, want, &n)) {
			ssl_why(why, why_len, "read");
			free(buf);
			return -1;
		}
		got += n;
	}
	free(buf);
	if (!SSL_write_ex(ssl, "k", 1, &n)) {
		ssl_why(why, why_len, "acknowledgement");
		return -1;
	}
	return 0;
}

int bench_tls_sink(int lfd, const char *certs, uint64_t bytes, char *why,
		   size_t why_len)
{
	struct pollfd pfd = {.fd = lfd, .events = POLLIN};
	SSL_CTX *ctx;
	SSL *ssl;
	int fd, rc = -1;

	ctx = ctx_new(certs, 1, why, why_len);
	if (!ctx)
		return -1;
	if (poll(&pfd, 1, IO_TIMEOUT_S * 1000) != 1) {
		snprintf(why, why_len, "raw TLS: no sender came");
		goto free_ctx;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		snprintf(why, why_len, "raw TLS: accept: %s", strerror(errno));
		goto free_ctx;
	}
	set_timeouts(fd);
	ssl = ssl_new(ctx, fd, 1, why, why_len);
	if (!ssl)
		goto close_fd;
	if (SSL_accept(ssl) != 1) {
		ssl_why(why, why_len, "handshake");
		goto free_ssl;
	}
	rc = sink_read(ssl, bytes, why, why_len);
	if (!rc)
		SSL_shutdown(ssl);
free_ssl:
	SSL_free(ssl);
close_fd:
	close(fd);
free_ctx:
	SSL_CTX_free(ctx);
	return rc;
}

static int send_all(SSL *ssl, const struct mig_region *r, size_t n, char *why,
		    size_t why_len)
{
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = r[i].host;

		for (uint64_t off = 0; off < r[i].size;) {
			uint64_t left = r[i].size - off;
			size_t len = left < BENCH_WRITE_SIZE ? (size_t)left
							     : BENCH_WRITE_SIZE;
			size_t done;

			if (!SSL_write_ex(ssl, p + off, len, &done)) {
				ssl_why(why, why_len, "write");
				return -1;
			}
			off += done;
		}
	}
	return 0;
}

static int connect_local(uint16_t port, char *why, size_t why_len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(why, why_len, "raw TLS: socket: %s", strerror(errno));
		return -1;
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(why, why_len, "raw TLS: connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	set_timeouts(fd);
	return fd;
}

int bench_tls_send(uint16_t port, const char *certs,
		   const struct mig_region *regions, size_t n,
		   struct bench_tls_out *out, char *why, size_t why_len)
{
	SSL_CTX *ctx;
	SSL *ssl;
	uint64_t t0;
	uint8_t ack;
	size_t got;
	int fd, rc = -1;

	ctx = ctx_new(certs, 0, why, why_len);
	if (!ctx)
		return -1;
	fd = connect_local(port, why, why_len);
	if (fd < 0)
		goto free_ctx;
	ssl = ssl_new(ctx, fd, 0, why, why_len);
	if (!ssl)
		goto close_fd;
	if (SSL_connect(ssl) != 1) {
		ssl_why(why, why_len, "handshake");
		goto free_ssl;
	}
	snprintf(out->cipher, sizeof(out->cipher), "%s",
		 SSL_get_cipher_name(ssl));
	t0 = bench_now_ns();
	if (send_all(ssl, regions, n, why, why_len))
		goto free_ssl;
	if (!SSL_read_ex(ssl, &ack, 1, &got) || ack != 'k') {
		ssl_why(why, why_len, "waiting for the acknowledgement");
		goto free_ssl;
	}
	out->elapsed_ns = bench_now_ns() - t0;
	rc = 0;
	SSL_shutdown(ssl);
free_ssl:
	SSL_free(ssl);
close_fd:
	close(fd);
free_ctx:
	SSL_CTX_free(ctx);
	return rc;
}
