/*
 * tls.h - TLS 1.3 with mutual authentication, through OpenSSL 3.
 *
 * Both sides present a certificate; each must chain to the configured CA.
 * The client (source) also requires the server's certificate to carry the
 * expected name; the server (target) checks the client's name when one is
 * configured. Anything below TLS 1.3 is refused.
 */
#ifndef MIG_TLS_H
#define MIG_TLS_H

#include <openssl/ssl.h>

#include "stream.h"

/* The TLS 1.3 cipher suites we offer, in our order of preference. */
#define MIG__TLS_CIPHERSUITES                                                \
	"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"               \
	"TLS_AES_256_GCM_SHA384"

/*
 * Builds an SSL_CTX for one side from PEM files. On failure returns
 * MIG_ETLS (or -ENOENT etc.) and writes a sentence for a user into `err`,
 * naming the file and what is wrong with it. The caller owns *out
 * (SSL_CTX_free).
 */
int mig__tls_ctx_new(SSL_CTX **out, const struct mig_tls_params *p,
		     int server, char *err, size_t errlen);

/*
 * Wraps connected socket `fd` in TLS. Ownership of `fd` passes to the
 * stream, even when this fails (the fd is closed then).
 * `peer_name` (may be NULL on the server) is the name the peer's
 * certificate must carry. The handshake runs through
 * mig__stream_handshake(); a certificate failure returns MIG_ECERT with
 * error_text such as "peer certificate rejected: certificate has expired".
 */
int mig__stream_tls_new(struct mig__stream **out, SSL_CTX *ctx, int fd,
			int server, const char *peer_name);

#endif /* MIG_TLS_H */
