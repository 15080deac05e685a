/*
 * config.h - migrated's configuration file (INI, read with libinih).
 *
 * Every key of the file is a field here, already checked and converted;
 * keys the file leaves out hold their defaults. The struct is one block
 * of fixed-size fields, so it is freed with one call and copied freely.
 */
#ifndef MIGD_CONFIG_H
#define MIGD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIGD_CONFIG_DEFAULT_PATH "/etc/migrated/migrated.conf"

#define MIGD_NAME_MAX	255 /* host, peer and group names */
#define MIGD_MAX_PEERS	64  /* entries of [peers] */
#define MIGD_MAX_ACCEPT 64  /* names in [peer] accept */

/* A TCP endpoint: host name or address (IPv6 without brackets), port. */
struct migd_hostport {
	char host[MIGD_NAME_MAX + 1];
	uint16_t port;
};

/* One entry of [peers]: where the daemon called `name` listens. */
struct migd_peer_addr {
	char name[MIGD_NAME_MAX + 1];
	struct migd_hostport addr;
};

struct migd_config {
	char path[PATH_MAX]; /* the file this was read from */

	struct {
		char name[MIGD_NAME_MAX + 1]; /* required */
		char state_dir[PATH_MAX];     /* /var/lib/migrated */
		char run_dir[PATH_MAX];	      /* /run/migrated */
		char vmm[PATH_MAX];	      /* /usr/bin/vmm-lite */
		uint64_t max_memory;	      /* bytes; 16G */
	} host;

	struct {
		char socket[PATH_MAX];	       /* run_dir/control.sock */
		char group[MIGD_NAME_MAX + 1]; /* "" = owner only (0600) */
	} control;

	struct {
		char ca[PATH_MAX]; /* all three required, checked readable */
		char cert[PATH_MAX];
		char key[PATH_MAX];
	} tls;

	struct {
		struct migd_hostport listen;		   /* 0.0.0.0:7710 */
		char migration_address[MIGD_NAME_MAX + 1]; /* required */
		uint16_t port_min, port_max; /* 7720-7799, min <= max */
		size_t n_accept; /* 0 = any certificate from the CA */
		char accept[MIGD_MAX_ACCEPT][MIGD_NAME_MAX + 1];
	} peer;

	size_t n_peers;
	struct migd_peer_addr peers[MIGD_MAX_PEERS];

	struct {
		bool enabled;		     /* false when listen = off */
		struct migd_hostport listen; /* 127.0.0.1:9464 */
	} metrics;

	struct {
		uint32_t downtime_ms; /* 300 */
		uint64_t bandwidth;   /* bytes/s, 0 = unlimited */
	} migration;
};

/*
 * Reads and checks the file at `path` (NULL: MIGD_CONFIG_DEFAULT_PATH)
 * and checks that the files named in [tls] can be opened for reading.
 * On success *out is a new config the caller frees with
 * migd_config_free(). On failure *out is NULL and `err` holds one sentence
 * naming the file, the line and the key at fault. Lines are limited to
 * 198 characters (Debian's libinih is built with a 200-byte buffer).
 * Returns 0 or a negative errno: -EINVAL for bad syntax or a bad value,
 * -ENAMETOOLONG for a path beyond its limit, -ENOMEM, or the errno of
 * opening or reading the file or a TLS file (-ENOENT, -EACCES, -EISDIR).
 */
int migd_config_load(struct migd_config **out, const char *path, char *err,
		     size_t err_len);

/* Frees a config from migd_config_load(); NULL is allowed. */
void migd_config_free(struct migd_config *c);

/*
 * The [peers] entry named `name` (case-insensitive, as host names are),
 * or NULL. The pointer lives as long as `c`.
 */
const struct migd_peer_addr *migd_config_peer(const struct migd_config *c,
					      const char *name);

/*
 * 1 if the peer whose certificate names `peer_name` may connect: it is
 * in [peer] accept (case-insensitive) or that list is empty; else 0.
 */
int migd_config_accepts(const struct migd_config *c, const char *peer_name);

/*
 * Parses "HOST:PORT" or "[IPV6]:PORT" into `host` (a buffer of host_len
 * bytes; the IPv6 address goes without brackets) and `port` (1-65535).
 * HOST is a host name (letters, digits, '-', '.', '_') or an IPv4 or IPv6
 * address. Returns 0, or -EINVAL (nothing written) if `s` is none of
 * these or the host does not fit in `host`.
 */
int migd_parse_hostport(const char *s, char *host, size_t host_len,
			uint16_t *port);

#endif
