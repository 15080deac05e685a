/*
 * tls.c - the TLS 1.3 stream backend (OpenSSL 3) and its SSL_CTX.
 *
 * Everything a user may have to act on becomes a sentence in err or in
 * error_text: which file would not load and why, why a peer's certificate
 * was rejected, or that the peer rejected ours.
 *
 * SIGPIPE: OpenSSL's socket BIO writes with write(2), so a peer that goes
 * away would raise SIGPIPE and kill a VMM that never asked for it. Linux
 * has no SO_NOSIGPIPE, and masking the signal around each SSL call
 * (pthread_sigmask, then sigtimedwait to discard a pending one) costs
 * three system calls per call and still races with a process-directed
 * SIGPIPE. So the stream talks to OpenSSL through a tiny BIO of its own
 * that sends with MSG_NOSIGNAL; EPIPE then arrives as an error like any
 * other.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* ---------------------------------------------------------------------- */
/* A socket BIO that never raises SIGPIPE                                 */

struct sock_bio {
	int fd;
	int eof; /* the peer closed its side (recv returned 0) */
	int err; /* errno of the last failed send/recv, 0 if none */
};

static BIO_METHOD *sbio_method;
static pthread_once_t sbio_once = PTHREAD_ONCE_INIT;

static int sbio_write(BIO *b, const char *buf, int len)
{
	struct sock_bio *sb = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = send(sb->fd, buf, (size_t)len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		BIO_set_retry_write(b);
		return -1;
	}
	sb->err = errno;
	return -1;
}

static int sbio_read(BIO *b, char *buf, int len)
{
	struct sock_bio *sb = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = recv(sb->fd, buf, (size_t)len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return (int)n;
	if (!n) {
		sb->eof = 1;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		BIO_set_retry_read(b);
		return -1;
	}
	sb->err = errno;
	return -1;
}

static long sbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct sock_bio *sb = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		/* Lets OpenSSL tell a truncation from an I/O error. */
		return sb->eof;
	default:
		return 0;
	}
}

static void sbio_init(void)
{
	BIO_METHOD *m;

	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
			 "libmigrate socket");
	if (!m)
		return;
	if (!BIO_meth_set_write(m, sbio_write) ||
	    !BIO_meth_set_read(m, sbio_read) ||
	    !BIO_meth_set_ctrl(m, sbio_ctrl)) {
		BIO_meth_free(m);
		return;
	}
	sbio_method = m;
}

/* ---------------------------------------------------------------------- */
/* Context                                                                */

/* Writes the oldest error on the queue (the cause, usually) and clears. */
static void ssl_errstr(char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();
	const char *reason = ERR_reason_error_string(e);

	if (!e)
		snprintf(buf, len, "unknown OpenSSL error");
	else if (reason && ERR_GET_LIB(e) == ERR_LIB_PEM)
		snprintf(buf, len, "%s (is it a PEM file?)", reason);
	else if (reason)
		snprintf(buf, len, "%s", reason);
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

/* Never prompt on a terminal for an encrypted key: fail instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/*
 * OpenSSL reports a missing file as a chain of "system library" errors;
 * opening it first gives the errno and a plain sentence.
 */
static int check_file(const char *path, const char *what, char *err,
		      size_t errlen)
{
	struct stat st;
	char buf[128];
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s '%s': %s", what, path,
			 strerror_r(errno, buf, sizeof(buf)));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s '%s': %s", what, path,
			 strerror_r(errno, buf, sizeof(buf)));
	} else if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s '%s' is not a regular file", what,
			 path);
	}
	close(fd);
	return rc;
}

static int load_files(SSL_CTX *ctx, const struct mig_tls_params *p,
		      char *err, size_t errlen)
{
	char why[160];
	unsigned long e;

	ERR_clear_error();
	if (SSL_CTX_load_verify_locations(ctx, p->ca_file, NULL) != 1) {
		ssl_errstr(why, sizeof(why));
		snprintf(err, errlen, "cannot load CA file '%s': %s",
			 p->ca_file, why);
		return MIG_ETLS;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, p->cert_file) != 1) {
		ssl_errstr(why, sizeof(why));
		snprintf(err, errlen, "cannot load certificate file '%s': %s",
			 p->cert_file, why);
		return MIG_ETLS;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, p->key_file, SSL_FILETYPE_PEM) !=
	    1) {
		e = ERR_peek_error();
		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			goto mismatch;
		ssl_errstr(why, sizeof(why));
		snprintf(err, errlen, "cannot load private key file '%s': %s",
			 p->key_file, why);
		return MIG_ETLS;
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto mismatch;
	return 0;

mismatch:
	ERR_clear_error();
	snprintf(err, errlen,
		 "private key file '%s' does not belong to certificate '%s'",
		 p->key_file, p->cert_file);
	return MIG_ETLS;
}

int mig__tls_ctx_new(SSL_CTX **out, const struct mig_tls_params *p,
		     int server, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "libmigrate";
	char why[160];
	SSL_CTX *ctx;
	int rc;

	if (errlen)
		err[0] = '\0';
	if (!p->ca_file || !p->cert_file || !p->key_file) {
		snprintf(err, errlen,
			 "TLS needs a CA file, a certificate and a private key "
			 "(tls.ca_file, tls.cert_file, tls.key_file)");
		return -EINVAL;
	}
	rc = check_file(p->ca_file, "CA file", err, errlen);
	if (!rc)
		rc = check_file(p->cert_file, "certificate file", err, errlen);
	if (!rc)
		rc = check_file(p->key_file, "private key file", err, errlen);
	if (rc)
		return rc;

	ERR_clear_error();
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		ssl_errstr(why, sizeof(why));
		snprintf(err, errlen, "cannot create a TLS context: %s", why);
		return MIG_ETLS;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
		ssl_errstr(why, sizeof(why));
		snprintf(err, errlen, "this OpenSSL cannot do TLS 1.3: %s",
			 why);
		rc = MIG_ETLS;
		goto free_ctx;
	}
	/*
	 * AES-128-GCM first: hardware-accelerated nearly everywhere, and the
	 * cheapest AEAD per byte after ChaCha20 on the machines measured in
	 * design.md. The server's order decides, so both ends agree.
	 */
	if (!SSL_CTX_set_ciphersuites(ctx, MIG__TLS_CIPHERSUITES)) {
		ssl_errstr(why, sizeof(why));
		snprintf(err, errlen, "no usable TLS 1.3 cipher suite: %s",
			 why);
		rc = MIG_ETLS;
		goto free_ctx;
	}
	if (server)
		SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	rc = load_files(ctx, p, err, errlen);
	if (rc)
		goto free_ctx;

	/* Both sides authenticate; a client without a certificate fails. */
	SSL_CTX_set_verify(ctx,
			   server ? SSL_VERIFY_PEER |
					    SSL_VERIFY_FAIL_IF_NO_PEER_CERT
				  : SSL_VERIFY_PEER,
			   NULL);
	/*
	 * One connection per migration: no resumption, and no session
	 * tickets arriving unasked after the handshake.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	/*
	 * Partial writes: the stream's write may be short, as on a socket.
	 * Moving buffer: a retried write may come from another address (the
	 * caller's queue moved), as long as it starts with the same bytes.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Fewer recv calls; a WANT_READ still means the socket is dry. */
	SSL_CTX_set_read_ahead(ctx, 1);
	*out = ctx;
	return 0;

free_ctx:
	SSL_CTX_free(ctx);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Stream                                                                 */

struct tls_stream {
	struct mig__stream s;
	SSL *ssl;
	struct sock_bio sb;
	int ready;      /* handshake done, and it was TLS 1.3 */
	int failed;     /* a fatal error: no close_notify may follow */
	int close_sent; /* SSL_shutdown sent (or queued) our close_notify */
};

enum tls_op { OP_HANDSHAKE, OP_READ, OP_WRITE, OP_SHUTDOWN };

static const char *const op_names[] = {
	[OP_HANDSHAKE] = "TLS handshake",
	[OP_READ] = "TLS read",
	[OP_WRITE] = "TLS write",
	[OP_SHUTDOWN] = "TLS shutdown",
};

static int tls_fail(struct tls_stream *t, int err, const char *fmt, ...)
	MIG__PRINTF(3, 4);

static int tls_fail(struct tls_stream *t, int err, const char *fmt, ...)
{
	va_list ap;

	t->failed = 1;
	if (!t->s.error_text[0]) {
		va_start(ap, fmt);
		vsnprintf(t->s.error_text, sizeof(t->s.error_text), fmt, ap);
		va_end(ap);
	}
	return err;
}

static int tls_eof(struct tls_stream *t, enum tls_op op)
{
	if (op == OP_HANDSHAKE)
		return tls_fail(t, MIG_ETLS,
				"the peer closed the connection during the "
				"TLS handshake");
	return tls_fail(t, MIG_ETRUNCATED,
			"the peer closed the connection without a TLS "
			"close_notify (connection truncated)");
}

static int is_cert_alert(int alert)
{
	switch (alert) {
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_CERTIFICATE_UNOBTAINABLE:
	case SSL_AD_BAD_CERTIFICATE_STATUS_RESPONSE:
	case SSL_AD_BAD_CERTIFICATE_HASH_VALUE:
		return 1;
	default:
		return 0;
	}
}

/* OpenSSL 3.0 names no TLS 1.3 alert ("unknown"); we need this one. */
static const char *alert_desc(int alert)
{
	if (alert == SSL_AD_CERTIFICATE_REQUIRED)
		return "certificate required";
	return SSL_alert_desc_string_long(alert);
}

/* A fatal alert the peer sent us, e.g. because it rejected our chain. */
static int tls_alert(struct tls_stream *t, int alert, enum tls_op op)
{
	const char *desc = alert_desc(alert);

	if (alert == SSL_AD_PROTOCOL_VERSION)
		return tls_fail(t, MIG_ETLS,
				"peer does not speak TLS 1.3 (TLS alert: %s)",
				desc);
	if (alert == SSL_AD_CERTIFICATE_REQUIRED)
		return tls_fail(t, MIG_ECERT,
				"the peer rejected us: we sent no "
				"certificate (TLS alert: %s)",
				desc);
	if (is_cert_alert(alert))
		return tls_fail(t, MIG_ECERT,
				"the peer rejected our certificate (TLS "
				"alert: %s)",
				desc);
	return tls_fail(t, MIG_ETLS, "%s failed: the peer sent TLS alert: %s",
			op_names[op], desc);
}

/*
 * Turns an SSL_ERROR_SSL into a code and a sentence. The queue may hold
 * several entries; a reason we know anywhere in it beats the oldest one.
 */
static int tls_ssl_error(struct tls_stream *t, enum tls_op op)
{
	unsigned long e, first = 0, known = 0;
	char why[160];
	int reason;

	while ((e = ERR_get_error()) != 0) {
		if (!first)
			first = e;
		if (known || ERR_GET_LIB(e) != ERR_LIB_SSL)
			continue;
		reason = ERR_GET_REASON(e);
		if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING ||
		    reason == SSL_R_CERTIFICATE_VERIFY_FAILED ||
		    reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
		    reason == SSL_R_UNSUPPORTED_PROTOCOL ||
		    (reason > SSL_AD_REASON_OFFSET &&
		     reason < SSL_AD_REASON_OFFSET + 256))
			known = e;
	}
	reason = known ? ERR_GET_REASON(known) : 0;
	if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		return tls_eof(t, op);
	if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
		return tls_fail(t, MIG_ECERT, "peer certificate rejected: %s",
				X509_verify_cert_error_string(
					SSL_get_verify_result(t->ssl)));
	if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		return tls_fail(t, MIG_ECERT,
				"peer certificate rejected: the peer sent "
				"no certificate");
	if (reason == SSL_R_UNSUPPORTED_PROTOCOL)
		return tls_fail(t, MIG_ETLS, "peer does not speak TLS 1.3");
	if (reason)
		return tls_alert(t, reason - SSL_AD_REASON_OFFSET, op);

	if (!first)
		return tls_fail(t, MIG_ETLS, "%s failed", op_names[op]);
	if (ERR_reason_error_string(first))
		snprintf(why, sizeof(why), "%s",
			 ERR_reason_error_string(first));
	else
		ERR_error_string_n(first, why, sizeof(why));
	return tls_fail(t, MIG_ETLS, "%s failed: %s", op_names[op], why);
}

/*
 * After a write hit a closed socket, the peer's reason (a TLS alert, such
 * as "unknown CA" when it rejected our certificate) may still sit unread
 * in the receive buffer: look for it, so the user sees the cause rather
 * than "Broken pipe". Returns 1 with the alert on the error queue.
 */
static int peer_alert_pending(struct tls_stream *t)
{
	uint8_t scratch[256];
	size_t n;

	ERR_clear_error();
	t->sb.err = 0;
	unsigned long e;
	int reason;

	if (SSL_read_ex(t->ssl, scratch, sizeof(scratch), &n) == 1)
		return 0;
	if (SSL_get_error(t->ssl, 0) != SSL_ERROR_SSL)
		return 0;
	e = ERR_peek_error();
	reason = ERR_GET_REASON(e);
	return ERR_GET_LIB(e) == ERR_LIB_SSL && reason > SSL_AD_REASON_OFFSET &&
	       reason < SSL_AD_REASON_OFFSET + 256;
}

/* Maps the result `ret` of an SSL call that did not succeed. */
static int tls_error(struct tls_stream *t, int ret, enum tls_op op)
{
	char buf[128];

	switch (SSL_get_error(t->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		t->s.want = MIG__WANT_READ;
		return MIG__AGAIN;
	case SSL_ERROR_WANT_WRITE:
		t->s.want = MIG__WANT_WRITE;
		return MIG__AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify received: a clean end of stream. */
		if (op == OP_READ)
			return 0;
		return tls_fail(t, MIG_ETLS, "%s failed: the peer closed the "
				"TLS connection", op_names[op]);
	case SSL_ERROR_SYSCALL:
		if (op == OP_WRITE &&
		    (t->sb.err == EPIPE || t->sb.err == ECONNRESET)) {
			int err = t->sb.err;

			if (peer_alert_pending(t))
				return tls_ssl_error(t, op);
			t->sb.err = err;
		}
		if (t->sb.err) {
			ERR_clear_error();
			return tls_fail(t, -t->sb.err, "%s failed: %s",
					op_names[op],
					strerror_r(t->sb.err, buf,
						   sizeof(buf)));
		}
		if (!ERR_peek_error())
			return tls_eof(t, op);
		return tls_ssl_error(t, op);
	case SSL_ERROR_SSL:
		return tls_ssl_error(t, op);
	default:
		ERR_clear_error();
		return tls_fail(t, MIG_ETLS, "%s failed: unexpected state",
				op_names[op]);
	}
}

/* Per call: stale errors on this thread's queue would be misattributed. */
static void tls_prepare(struct tls_stream *t)
{
	ERR_clear_error();
	t->sb.err = 0;
}

static int tls_handshake(struct mig__stream *s)
{
	struct tls_stream *t = (struct tls_stream *)s;
	int ret;

	if (t->ready)
		return 0;
	tls_prepare(t);
	ret = SSL_do_handshake(t->ssl);
	if (ret != 1)
		return tls_error(t, ret, OP_HANDSHAKE);
	/* The context says TLS 1.3 only; make sure for any context. */
	if (SSL_version(t->ssl) != TLS1_3_VERSION)
		return tls_fail(t, MIG_ETLS,
				"peer does not speak TLS 1.3 (negotiated %s)",
				SSL_get_version(t->ssl));
	t->ready = 1;
	return 0;
}

static ssize_t tls_read(struct mig__stream *s, void *buf, size_t len)
{
	struct tls_stream *t = (struct tls_stream *)s;
	size_t n = 0;
	int ret;

	/* Callers may skip the handshake call; its checks may not be. */
	if (!t->ready) {
		ret = tls_handshake(s);
		if (ret)
			return ret;
	}
	tls_prepare(t);
	ret = SSL_read_ex(t->ssl, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	return tls_error(t, ret, OP_READ);
}

/*
 * After MIG__AGAIN the caller must retry with at least the bytes it
 * offered before (from anywhere: ACCEPT_MOVING_WRITE_BUFFER), because
 * OpenSSL has already encrypted and queued part of them.
 */
static ssize_t tls_write(struct mig__stream *s, const void *buf, size_t len)
{
	struct tls_stream *t = (struct tls_stream *)s;
	size_t n = 0;
	int ret;

	if (!len)
		return 0;
	if (!t->ready) {
		ret = tls_handshake(s);
		if (ret)
			return ret;
	}
	tls_prepare(t);
	ret = SSL_write_ex(t->ssl, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	return tls_error(t, ret, OP_WRITE);
}

/*
 * Sends our close_notify once and does not wait for the peer's: the
 * migration protocol knows when it is done, and a second SSL_shutdown
 * would block on reading.
 */
static int tls_shutdown(struct mig__stream *s)
{
	struct tls_stream *t = (struct tls_stream *)s;
	int ret;

	if (t->failed || t->close_sent || !t->ready)
		return 0;
	tls_prepare(t);
	ret = SSL_shutdown(t->ssl);
	if (ret >= 0) {
		t->close_sent = 1;
		return 0;
	}
	return tls_error(t, ret, OP_SHUTDOWN);
}

static void tls_destroy(struct mig__stream *s)
{
	struct tls_stream *t = (struct tls_stream *)s;

	SSL_free(t->ssl); /* frees the BIO too */
	close(t->sb.fd);
	free(t);
}

static const struct mig__stream_ops tls_ops = {
	.name = "tls",
	.read = tls_read,
	.write = tls_write,
	.handshake = tls_handshake,
	.shutdown = tls_shutdown,
	.destroy = tls_destroy,
};

/* An IP literal is checked against the IP SANs, a name against DNS. */
static int set_peer_name(SSL *ssl, const char *name, int server)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	unsigned char ip[16];

	if (inet_pton(AF_INET, name, ip) == 1 ||
	    inet_pton(AF_INET6, name, ip) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(vp, name) ? 0 : -EINVAL;
	X509_VERIFY_PARAM_set_hostflags(vp,
					X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (!X509_VERIFY_PARAM_set1_host(vp, name, 0))
		return -EINVAL;
	if (!server && !SSL_set_tlsext_host_name(ssl, name))
		return -EINVAL;
	return 0;
}

int mig__stream_tls_new(struct mig__stream **out, SSL_CTX *ctx, int fd,
			int server, const char *peer_name)
{
	struct tls_stream *t;
	BIO *bio;
	int flags, rc;

	/* The fd is ours from here on, also when we fail. */
	if (!server && (!peer_name || !peer_name[0])) {
		rc = -EINVAL;
		goto close_fd;
	}
	if (peer_name && !peer_name[0])
		peer_name = NULL;
	if (pthread_once(&sbio_once, sbio_init) || !sbio_method) {
		rc = -ENOMEM;
		goto close_fd;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = -errno;
		goto close_fd;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		rc = -ENOMEM;
		goto close_fd;
	}
	t->ssl = SSL_new(ctx);
	if (!t->ssl) {
		rc = -ENOMEM;
		goto free_stream;
	}
	bio = BIO_new(sbio_method);
	if (!bio) {
		rc = -ENOMEM;
		goto free_ssl;
	}
	t->sb.fd = fd;
	BIO_set_data(bio, &t->sb);
	BIO_set_init(bio, 1);
	SSL_set_bio(t->ssl, bio, bio);
	if (peer_name) {
		rc = set_peer_name(t->ssl, peer_name, server);
		if (rc)
			goto free_ssl;
	}
	if (server)
		SSL_set_accept_state(t->ssl);
	else
		SSL_set_connect_state(t->ssl);
	t->s.ops = &tls_ops;
	t->s.fd = fd;
	*out = &t->s;
	return 0;

free_ssl:
	ERR_clear_error();
	SSL_free(t->ssl);
free_stream:
	free(t);
close_fd:
	close(fd);
	return rc;
}
