/* peer.c: requests between daemons over mutual TLS (peer.h). */
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "control.h"
#include "tls.h"

#define SERVE_TIMEOUT_MS 15000

struct migd_peer_server {
	int fd;
	uint16_t port;
	SSL_CTX *ctx;
	pthread_t thread;
	migd_peer_identify_fn identify;
	migd_peer_fn fn;
	void *opaque;
	_Atomic int stopping;
};

struct conn {
	struct migd_peer_server *s;
	int fd;
};

static void set_timeouts(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Why OpenSSL failed, as a sentence fragment. */
static void ssl_reason(SSL *ssl, char *buf, size_t len)
{
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long e = ERR_peek_last_error();

	if (v != X509_V_OK)
		snprintf(buf, len, "certificate refused: %s", X509_verify_cert_error_string(v));
	else if (e)
		snprintf(buf, len, "%s", ERR_reason_error_string(e) ? ERR_reason_error_string(e)
								     : "TLS error");
	else
		snprintf(buf, len, "%s", errno ? strerror(errno) : "connection closed");
	ERR_clear_error();
}

static int write_line(SSL *ssl, struct json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text);
	char *buf = malloc(len + 1);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, text, len);
	buf[len] = '\n';
	if (SSL_write(ssl, buf, (int)len + 1) != (int)len + 1)
		r = -EIO;
	free(buf);
	return r;
}

/* One line, at most MIGD_PEER_LINE_MAX bytes, parsed as a JSON object. */
static int read_object(SSL *ssl, struct json_object **out)
{
	char *buf = malloc(MIGD_PEER_LINE_MAX + 1), *nl = NULL;
	size_t len = 0;
	int n, r = -EIO;

	*out = NULL;
	if (!buf)
		return -ENOMEM;
	while (len < MIGD_PEER_LINE_MAX) {
		n = SSL_read(ssl, buf + len, (int)(MIGD_PEER_LINE_MAX - len));
		if (n <= 0)
			goto out;
		len += (size_t)n;
		nl = memchr(buf, '\n', len);
		if (nl)
			break;
	}
	if (!nl) {
		r = -EMSGSIZE;
		goto out;
	}
	*nl = '\0';
	*out = json_tokener_parse(buf);
	if (!*out || !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		r = -EPROTO;
		goto out;
	}
	r = 0;
out:
	free(buf);
	return r;
}

const char *migd_peer_cert_name(X509 *cert, char *buf, size_t len)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	const char *found = NULL;

	for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !found; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

		if (g->type == GEN_DNS) {
			snprintf(buf, len, "%.*s", ASN1_STRING_length(g->d.dNSName),
				 (const char *)ASN1_STRING_get0_data(g->d.dNSName));
			found = buf;
		}
	}
	GENERAL_NAMES_free(names);
	if (!found && X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
						buf, (int)len) > 0)
		found = buf;
	return found;
}

static void *serve(void *arg)
{
	struct conn *c = arg;
	struct migd_peer_server *s = c->s;
	struct json_object *req = NULL, *answer;
	const char *name = NULL;
	SSL *ssl = SSL_new(s->ctx);
	X509 *cert;

	set_timeouts(c->fd, SERVE_TIMEOUT_MS);
	if (!ssl || !SSL_set_fd(ssl, c->fd) || SSL_accept(ssl) != 1)
		goto out;
	cert = SSL_get1_peer_certificate(ssl);
	if (cert) {
		name = s->identify(s->opaque, cert);
		X509_free(cert);
	}
	if (!name) {
		/* Chained to our CA, but not a name we accept: say so, the
		 * operator over there needs to know. */
		answer = vmm_control_error("this host does not accept your certificate's name");
		write_line(ssl, answer);
		json_object_put(answer);
		goto out_shutdown;
	}
	if (read_object(ssl, &req))
		goto out_shutdown;
	answer = s->fn(s->opaque, name, req);
	write_line(ssl, answer);
	json_object_put(answer);
	json_object_put(req);
out_shutdown:
	SSL_shutdown(ssl);
out:
	ERR_clear_error();
	SSL_free(ssl);
	close(c->fd);
	free(c);
	return NULL;
}

static void *accept_loop(void *arg)
{
	struct migd_peer_server *s = arg;

	while (!s->stopping) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		struct conn *c;
		pthread_t t;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (s->stopping)
				break;
			/* EMFILE and friends: wait rather than spin. */
			poll(NULL, 0, 100);
			continue;
		}
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->s = s;
		c->fd = fd;
		if (pthread_create(&t, NULL, serve, c)) {
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

int migd_peer_listen(struct migd_peer_server **out, const char *host, uint16_t port,
		     const struct mig_tls_params *tls, migd_peer_identify_fn identify,
		     migd_peer_fn fn, void *opaque, char *err, size_t err_len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct migd_peer_server *s = calloc(1, sizeof(*s));
	socklen_t sl = sizeof(sa);
	int one = 1, r;

	if (!s)
		return -ENOMEM;
	s->identify = identify;
	s->fn = fn;
	s->opaque = opaque;
	s->fd = -1;
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(err, err_len, "peer listener: %s is not an IPv4 address", host);
		r = -EINVAL;
		goto fail;
	}
	r = mig__tls_ctx_new(&s->ctx, tls, 1, err, err_len);
	if (r)
		goto fail;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(s->fd, 16) ||
	    getsockname(s->fd, (struct sockaddr *)&sa, &sl)) {
		r = -errno;
		snprintf(err, err_len, "peer listener on %s:%u: %s", host, port, strerror(errno));
		goto fail;
	}
	s->port = ntohs(sa.sin_port);
	r = -pthread_create(&s->thread, NULL, accept_loop, s);
	if (r) {
		snprintf(err, err_len, "peer listener thread: %s", strerror(-r));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	SSL_CTX_free(s->ctx);
	free(s);
	return r;
}

uint16_t migd_peer_port(const struct migd_peer_server *s)
{
	return s->port;
}

void migd_peer_stop(struct migd_peer_server *s)
{
	if (!s)
		return;
	s->stopping = 1;
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
	/* Threads still serving hold the context through their SSL objects,
	 * which keep a reference: freeing ours here is safe. */
	SSL_CTX_free(s->ctx);
	free(s);
}

static int connect_to(const char *host, uint16_t port, int timeout_ms, int *out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	struct pollfd p;
	char service[8];
	socklen_t sl = sizeof(int);
	int fd, r, soerr = 0;

	snprintf(service, sizeof(service), "%u", port);
	if (getaddrinfo(host, service, &hints, &res) || !res)
		return -EHOSTUNREACH;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (connect(fd, res->ai_addr, res->ai_addrlen) && errno != EINPROGRESS) {
		r = -errno;
		goto out_close;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	r = poll(&p, 1, timeout_ms);
	if (r <= 0) {
		r = r ? -errno : -ETIMEDOUT;
		goto out_close;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	if (soerr) {
		r = -soerr;
		goto out_close;
	}
	/* Blocking from here on, bounded by the socket timeouts. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)) {
		r = -errno;
		goto out_close;
	}
	set_timeouts(fd, timeout_ms);
	r = 0;
	*out = fd;
	goto out;
out_close:
	close(fd);
out:
	freeaddrinfo(res);
	return r;
}

int migd_peer_call(const struct mig_tls_params *tls, const char *host, uint16_t port,
		   const char *peer_name, struct json_object *req,
		   struct json_object **answer, int timeout_ms, char *err, size_t err_len)
{
	char why[256], tls_err[256];
	struct json_object *ok, *e;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	int fd = -1, r;

	*answer = NULL;
	r = mig__tls_ctx_new(&ctx, tls, 0, tls_err, sizeof(tls_err));
	if (r) {
		snprintf(err, err_len, "%s", tls_err);
		return r;
	}
	r = connect_to(host, port, timeout_ms, &fd);
	if (r) {
		snprintf(err, err_len, "cannot reach migrated on %s (%s:%u): %s", peer_name, host,
			 port, strerror(-r));
		goto out;
	}
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set1_host(ssl, peer_name) ||
	    !SSL_set_tlsext_host_name(ssl, peer_name) || SSL_connect(ssl) != 1) {
		ssl_reason(ssl, why, sizeof(why));
		snprintf(err, err_len, "TLS with %s (%s:%u) failed: %s", peer_name, host, port, why);
		r = -ECONNREFUSED;
		goto out;
	}
	r = write_line(ssl, req);
	if (!r)
		r = read_object(ssl, answer);
	if (r) {
		ssl_reason(ssl, why, sizeof(why));
		snprintf(err, err_len, "%s (%s:%u) did not answer: %s", peer_name, host, port,
			 r == -EIO ? why : strerror(-r));
		goto out;
	}
	if (json_object_object_get_ex(*answer, "ok", &ok) && json_object_get_boolean(ok)) {
		SSL_shutdown(ssl);
		goto out;
	}
	snprintf(err, err_len, "%s refused: %s", peer_name,
		 json_object_object_get_ex(*answer, "error", &e) ? json_object_get_string(e)
								 : "no reason given");
	r = -EPROTO;
out:
	ERR_clear_error();
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return r;
}
