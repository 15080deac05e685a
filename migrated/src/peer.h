/*
 * peer.h: the channel between daemons. Mutually authenticated TLS 1.3
 * (libmigrate's TLS set-up: the same CA, certificate and key files as the
 * host's VMMs), one connection per request: the caller sends one JSON
 * object on one line and reads one back. Blocking, on the caller's
 * thread, with deadlines; the server runs an accept thread and a short
 * thread per connection.
 *
 * Guest memory never passes here: the daemons only agree on who does
 * what, and the two VMMs connect to each other.
 */
#ifndef MIGD_PEER_H
#define MIGD_PEER_H

#include <json-c/json.h>
#include <openssl/ssl.h>
#include <stdint.h>

#include "migrate.h"

#define MIGD_PEER_LINE_MAX (64u << 10)

/*
 * Decides whether a peer whose certificate chained to the CA may talk to
 * us: returns the name it is known by (a pointer that stays valid), or
 * NULL to refuse.
 */
typedef const char *(*migd_peer_identify_fn)(void *opaque, X509 *cert);
/* Answers one request from `peer` (a new object the server frees). Runs
 * on the connection's thread. */
typedef struct json_object *(*migd_peer_fn)(void *opaque, const char *peer,
					   struct json_object *request);

struct migd_peer_server;

/*
 * Listens on host:port (port 0 picks one) and serves requests until
 * migd_peer_stop. Returns 0 or a negative errno with a sentence in err.
 */
int migd_peer_listen(struct migd_peer_server **out, const char *host, uint16_t port,
		     const struct mig_tls_params *tls, migd_peer_identify_fn identify,
		     migd_peer_fn fn, void *opaque, char *err, size_t err_len);
/* The port the listener bound. */
uint16_t migd_peer_port(const struct migd_peer_server *s);
/* Stops accepting, waits for the accept thread; requests being served
 * finish on their own threads. NULL is a no-op. */
void migd_peer_stop(struct migd_peer_server *s);

/*
 * Sends `req` to the daemon at host:port whose certificate must carry
 * `peer_name`, and waits up to `timeout_ms` for the answer (*answer, the
 * caller's). Returns 0 when the peer answered "ok":true; -EPROTO with
 * the peer's own sentence in err when it refused (*answer set too); or a
 * negative errno (unreachable, certificate refused, timeout) with a
 * sentence that names the peer.
 */
int migd_peer_call(const struct mig_tls_params *tls, const char *host, uint16_t port,
		   const char *peer_name, struct json_object *req,
		   struct json_object **answer, int timeout_ms, char *err, size_t err_len);

/* The first DNS name of a certificate's subjectAltName, else its CN,
 * into buf. Returns buf, or NULL if it has neither. */
const char *migd_peer_cert_name(X509 *cert, char *buf, size_t len);

#endif
