/*
 * address.h - migration addresses: "tcp:HOST:PORT", "unix:PATH",
 * "file:PATH", and the sockets behind them.
 */
#ifndef MIG_ADDRESS_H
#define MIG_ADDRESS_H

#include <limits.h>

#include "internal.h"

enum mig__addr_kind {
	MIG__ADDR_TCP = 1,
	MIG__ADDR_UNIX = 2,
	MIG__ADDR_FILE = 3,
};

struct mig__addr {
	enum mig__addr_kind kind;
	char host[256];      /* tcp: name or literal, without [] */
	uint16_t port;       /* tcp */
	char path[PATH_MAX]; /* unix, file */
};

/* Parses `s`. Returns 0, or MIG_EADDRESS for anything malformed. */
int mig__addr_parse(const char *s, struct mig__addr *a);

/*
 * Connects to a tcp or unix address, waiting at most `timeout_ms` for the
 * connection (name resolution is not covered: getaddrinfo cannot be
 * interrupted).
 * Returns 0 and a connected, non-blocking socket in *fd (TCP_NODELAY and
 * keepalive set), or a negative errno (-ETIMEDOUT, -ECONNREFUSED, ...).
 */
int mig__addr_connect(const struct mig__addr *a, uint32_t timeout_ms,
		      int *fd);

/*
 * Binds and listens (backlog 8) on a tcp or unix address; a unix path is
 * unlinked first if it is a stale socket. Returns 0 and a non-blocking
 * listening socket in *fd, or a negative errno.
 */
int mig__addr_listen(const struct mig__addr *a, int *fd);

/*
 * Accepts one connection from listening socket `lfd`. Returns 0 and a
 * non-blocking socket in *fd (options as for connect), MIG__AGAIN if none
 * is pending, or a negative errno.
 */
int mig__addr_accept(int lfd, int *fd);

/* Writes the bound address of `lfd` as "tcp:IP:PORT" or "unix:PATH". */
int mig__addr_format_bound(int lfd, char *buf, size_t len);

#endif /* MIG_ADDRESS_H */
