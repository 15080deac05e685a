/*
 * config.c - reading and checking migrated.conf.
 *
 * libinih does the INI syntax; we give it our own line reader, because
 * the Debian build of inih neither passes line numbers to the handler nor
 * copes with lines longer than its buffer (their tail would be parsed as a
 * line of its own). The reader counts lines, refuses long ones, and
 * strips indentation. Each key is then checked against the table below;
 * the first error found, in file order, is the one reported.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"

enum kind {
	K_NAME,     /* a host or group name */
	K_HOST,     /* a host name or an IPv4/IPv6 address, no port */
	K_PATH,     /* an absolute path */
	K_SOCKET,   /* an absolute path that fits a UNIX socket address */
	K_TLS,      /* an absolute path to a readable regular file */
	K_SIZE,     /* bytes, with an optional K, M or G suffix */
	K_MSEC,     /* milliseconds, 1 to MSEC_MAX */
	K_HOSTPORT, /* HOST:PORT */
	K_METRICS,  /* HOST:PORT or "off" */
	K_PORTS,    /* PORT-PORT (or one PORT) */
	K_ACCEPT,   /* comma-separated names */
};

#define MSEC_MAX 600000u /* vmm-lite's --downtime-ms takes no more */
#define CF(member) offsetof(struct migd_config, member)
#define CS(member) sizeof(((struct migd_config *)0)->member)

static const struct key {
	const char *section, *name;
	enum kind kind;
	size_t off, size; /* of the field, for the generic kinds */
	int required;
} keys[] = {
	{"host", "name", K_NAME, CF(host.name), CS(host.name), 1},
	{"host", "state_dir", K_PATH, CF(host.state_dir), CS(host.state_dir),
	 0},
	{"host", "run_dir", K_PATH, CF(host.run_dir), CS(host.run_dir), 0},
	{"host", "vmm", K_PATH, CF(host.vmm), CS(host.vmm), 0},
	{"host", "max_memory", K_SIZE, CF(host.max_memory), 0, 0},
	{"control", "socket", K_SOCKET, CF(control.socket), CS(control.socket),
	 0},
	{"control", "group", K_NAME, CF(control.group), CS(control.group), 0},
	{"tls", "ca", K_TLS, CF(tls.ca), CS(tls.ca), 1},
	{"tls", "cert", K_TLS, CF(tls.cert), CS(tls.cert), 1},
	{"tls", "key", K_TLS, CF(tls.key), CS(tls.key), 1},
	{"peer", "listen", K_HOSTPORT, CF(peer.listen), 0, 0},
	{"peer", "migration_address", K_HOST, CF(peer.migration_address),
	 CS(peer.migration_address), 1},
	{"peer", "migration_ports", K_PORTS, 0, 0, 0},
	{"peer", "accept", K_ACCEPT, 0, 0, 0},
	{"metrics", "listen", K_METRICS, 0, 0, 0},
	{"migration", "downtime_ms", K_MSEC, CF(migration.downtime_ms), 0, 0},
	{"migration", "bandwidth", K_SIZE, CF(migration.bandwidth), 0, 0},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

struct ctx {
	struct migd_config *c;
	FILE *f;
	int line;              /* of the line inih is working on */
	int seen[N_KEYS];      /* line each key was set on, 0 = not yet */
	int peer_line[MIGD_MAX_PEERS];
	int err_line;          /* of the first error; -1 = none yet */
	int rc;
	char *err;
	size_t err_len;
};

/*
 * Records the first error; line 0 means "the file as a whole". Returns 0,
 * which is also what inih's handler answers for a bad key.
 */
static int __attribute__((format(printf, 4, 5)))
fail(struct ctx *x, int line, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (x->err_line >= 0)
		return 0;
	x->err_line = line;
	x->rc = rc;
	n = line ? snprintf(x->err, x->err_len, "%s:%d: ", x->c->path, line)
		 : snprintf(x->err, x->err_len, "%s: ", x->c->path);
	if (n >= 0 && (size_t)n < x->err_len) {
		va_start(ap, fmt);
		vsnprintf(x->err + n, x->err_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Values                                                                 */

/* Letters, digits, '-', '.' and '_': host names and group names. */
static int valid_name(const char *s, size_t len)
{
	size_t i;

	if (!len || len > MIGD_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		      ch == '_'))
			return 0;
	}
	return 1;
}

static int valid_ipv6(const char *s, size_t len)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (!len || len >= sizeof(buf))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* 1-65535 in plain decimal: no sign, space or leading "0x". */
static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned v = 0;
	size_t i;

	if (!len || len > 5)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (!v || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int migd_parse_hostport(const char *s, char *host, size_t host_len,
			uint16_t *port)
{
	const char *h = s, *colon;
	size_t hlen;
	uint16_t p;

	if (*s == '[') {
		h = s + 1;
		colon = strchr(h, ']');
		if (!colon || colon[1] != ':')
			return -EINVAL;
		hlen = (size_t)(colon - h);
		colon++;
		if (!valid_ipv6(h, hlen))
			return -EINVAL;
	} else {
		/* Host names and IPv4 have no ':'; IPv6 needs [brackets]. */
		colon = strchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
		if (!valid_name(h, hlen))
			return -EINVAL;
	}
	if (hlen >= host_len || parse_port(colon + 1, strlen(colon + 1), &p))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = p;
	return 0;
}

/* Decimal digits, then nothing or one of K, M, G (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int copy_value(char *dst, size_t size, const char *v)
{
	size_t n = strlen(v);

	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(dst, v, n + 1);
	return 0;
}

/*
 * Opening, not access(2): that is what the TLS code will do with it.
 * O_NONBLOCK, so that a FIFO put there cannot hang the daemon's start.
 */
static int check_readable(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EISDIR;
	close(fd);
	return rc;
}

/* "a, b,c": each a name; an empty value is an empty list. */
static int parse_accept(struct ctx *x, const char *v)
{
	struct migd_config *c = x->c;
	const char *p = v + strspn(v, " \t"), *end;
	size_t len;

	c->peer.n_accept = 0;
	while (*p) {
		end = p + strcspn(p, ",");
		len = (size_t)(end - p);
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (!valid_name(p, len))
			return fail(x, x->line, -EINVAL,
				    "[peer] accept: \"%.*s\" is not a name",
				    (int)len, p);
		if (c->peer.n_accept == MIGD_MAX_ACCEPT)
			return fail(x, x->line, -EINVAL,
				    "[peer] accept: more than %d names",
				    MIGD_MAX_ACCEPT);
		memcpy(c->peer.accept[c->peer.n_accept], p, len);
		c->peer.accept[c->peer.n_accept++][len] = '\0';
		if (!*end)
			break;
		p = end + 1 + strspn(end + 1, " \t");
		if (!*p)
			return fail(x, x->line, -EINVAL, "[peer] accept: "
				    "the list ends with a comma");
	}
	return 1;
}

/* "LOW-HIGH", or one port: a range of one. */
static int parse_ports(struct ctx *x, const char *v)
{
	const char *dash = strchr(v, '-');
	const char *hi_s = dash ? dash + 1 : v;
	size_t lo_len = dash ? (size_t)(dash - v) : strlen(v);
	uint16_t lo, hi;

	if (parse_port(v, lo_len, &lo) || parse_port(hi_s, strlen(hi_s), &hi) ||
	    lo > hi)
		return fail(x, x->line, -EINVAL,
			    "[peer] migration_ports: \"%s\" is not a port "
			    "range LOW-HIGH with 1 <= LOW <= HIGH <= 65535",
			    v);
	x->c->peer.port_min = lo;
	x->c->peer.port_max = hi;
	return 1;
}

/* Digits only, 1 to MSEC_MAX. */
static int parse_msec(const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > MSEC_MAX)
			return -EINVAL;
	}
	if (!v)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* Checks `v` against the kind of key `k` and stores it: 1, or 0 (error). */
static int set_key(struct ctx *x, const struct key *k, const char *v)
{
	struct sockaddr_un sun;
	char *field = (char *)x->c + k->off;
	struct migd_hostport *hp = (struct migd_hostport *)(void *)field;
	const char *want = NULL; /* what v should have been */
	size_t len = strlen(v), max = k->size;
	int rc;

	switch (k->kind) {
	case K_NAME:
		if (!valid_name(v, len))
			want = "a name of letters, digits, '-', '.' and '_'";
		break;
	case K_HOST:
		if (!valid_name(v, len) && !valid_ipv6(v, len))
			want = "a host name or an IP address";
		break;
	case K_SOCKET:
		max = sizeof(sun.sun_path);
		/* fall through */
	case K_PATH:
	case K_TLS:
		if (v[0] != '/')
			want = "an absolute path";
		else if (len >= max)
			return fail(x, x->line, -ENAMETOOLONG,
				    "[%s] %s: the path is longer than %zu "
				    "bytes",
				    k->section, k->name, max - 1);
		break;
	case K_SIZE:
		if (parse_size(v, (uint64_t *)(void *)field))
			want = "a size (a number with an optional K, M or G "
			       "suffix)";
		break;
	case K_MSEC:
		if (parse_msec(v, (uint32_t *)(void *)field))
			want = "a number of milliseconds from 1 to 600000";
		break;
	case K_HOSTPORT:
		if (migd_parse_hostport(v, hp->host, sizeof(hp->host),
					&hp->port))
			want = "HOST:PORT (an IPv6 address in [brackets])";
		break;
	case K_METRICS:
		hp = &x->c->metrics.listen;
		x->c->metrics.enabled = strcmp(v, "off") != 0;
		if (x->c->metrics.enabled &&
		    migd_parse_hostport(v, hp->host, sizeof(hp->host),
					&hp->port))
			want = "HOST:PORT or off";
		break;
	case K_PORTS:
		return parse_ports(x, v);
	case K_ACCEPT:
		return parse_accept(x, v);
	}
	if (want)
		return fail(x, x->line, -EINVAL, "[%s] %s: \"%s\" is not %s",
			    k->section, k->name, v, want);
	if (k->kind == K_TLS && (rc = check_readable(v)))
		return fail(x, x->line, rc, "[%s] %s: cannot read %s: %s",
			    k->section, k->name, v, strerror(-rc));
	/* The string kinds have a size; valid_name() bounds names to it. */
	if (k->size)
		memcpy(field, v, len + 1);
	return 1;
}

/* "[peers] NAME = HOST:PORT" */
static int set_peer(struct ctx *x, const char *name, const char *v)
{
	struct migd_config *c = x->c;
	struct migd_peer_addr *p = &c->peers[c->n_peers];
	size_t i;

	if (!valid_name(name, strlen(name)))
		return fail(x, x->line, -EINVAL,
			    "[peers] %s: not a host name", name);
	for (i = 0; i < c->n_peers; i++)
		if (!strcasecmp(c->peers[i].name, name))
			return fail(x, x->line, -EINVAL,
				    "[peers] %s: set twice (first on line %d)",
				    name, x->peer_line[i]);
	if (c->n_peers == MIGD_MAX_PEERS)
		return fail(x, x->line, -EINVAL,
			    "[peers] %s: more than %d peers", name,
			    MIGD_MAX_PEERS);
	if (migd_parse_hostport(v, p->addr.host, sizeof(p->addr.host),
				&p->addr.port))
		return fail(x, x->line, -EINVAL,
			    "[peers] %s: \"%s\" is not HOST:PORT (an IPv6 "
			    "address in [brackets])",
			    name, v);
	memcpy(p->name, name, strlen(name) + 1);
	x->peer_line[c->n_peers++] = x->line;
	return 1;
}

/* ---------------------------------------------------------------------- */
/* Parsing                                                                */

/* inih's handler: 1 if the key is good, 0 to have inih count an error. */
static int on_key(void *user, const char *section, const char *name,
		  const char *value)
{
	struct ctx *x = user;
	int known_section = 0;
	size_t i;

	if (x->err_line >= 0)
		return 1; /* only the first error is reported */
	if (!*section)
		return fail(x, x->line, -EINVAL,
			    "%s: key outside any [section]", name);
	if (!strcmp(section, "peers"))
		return set_peer(x, name, value);
	for (i = 0; i < N_KEYS; i++) {
		if (strcmp(section, keys[i].section))
			continue;
		known_section = 1;
		if (strcmp(name, keys[i].name))
			continue;
		if (x->seen[i])
			return fail(x, x->line, -EINVAL,
				    "[%s] %s: set twice (first on line %d)",
				    section, name, x->seen[i]);
		x->seen[i] = x->line;
		return set_key(x, &keys[i], value);
	}
	if (!known_section)
		return fail(x, x->line, -EINVAL,
			    "[%s] %s: unknown section [%s]", section, name,
			    section);
	return fail(x, x->line, -EINVAL, "[%s] %s: unknown key", section,
		    name);
}

static void read_error(struct ctx *x)
{
	int e = errno ? errno : EIO;

	fail(x, x->line, -e, "cannot read: %s", strerror(e));
}

/*
 * inih's fgets-style reader: one whole line per call, so x->line is the
 * line inih is on. A line that does not fit inih's buffer, or holds a NUL,
 * is an error and reaches inih as an empty line. Leading blanks are
 * dropped: indentation is cosmetic here, never inih's "continuation of
 * the value above".
 */
static char *read_line(char *buf, int num, void *stream)
{
	struct ctx *x = stream;
	size_t n = 0, max = (size_t)num - 2; /* room for '\n' and '\0' */
	int ch = getc(x->f), nul = 0;

	if (ch == EOF) {
		if (ferror(x->f))
			read_error(x);
		return NULL;
	}
	x->line++;
	while (ch == ' ' || ch == '\t')
		ch = getc(x->f);
	for (; ch != EOF && ch != '\n'; ch = getc(x->f)) {
		nul |= !ch;
		if (n < max)
			buf[n] = (char)ch;
		if (n <= max)
			n++;
	}
	if (ch == EOF && ferror(x->f)) {
		read_error(x);
		return NULL;
	}
	if (n > max || nul) {
		fail(x, x->line, -EINVAL,
		     nul ? "the line holds a NUL byte"
			 : "the line is longer than %zu characters",
		     max);
		n = 0;
	}
	buf[n++] = '\n';
	buf[n] = '\0';
	return buf;
}

static void set_defaults(struct migd_config *c)
{
	strcpy(c->host.state_dir, "/var/lib/migrated");
	strcpy(c->host.run_dir, "/run/migrated");
	strcpy(c->host.vmm, "/usr/bin/vmm-lite");
	c->host.max_memory = (uint64_t)16 << 30;
	strcpy(c->peer.listen.host, "0.0.0.0");
	c->peer.listen.port = 7710;
	c->peer.port_min = 7720;
	c->peer.port_max = 7799;
	c->metrics.enabled = true;
	strcpy(c->metrics.listen.host, "127.0.0.1");
	c->metrics.listen.port = 9464;
	c->migration.downtime_ms = 300;
}

/* What needs the whole file: required keys, defaults built from others. */
static void check_whole(struct ctx *x)
{
	struct migd_config *c = x->c;
	struct sockaddr_un sun;
	size_t i;
	int n;

	for (i = 0; i < N_KEYS; i++)
		if (keys[i].required && !x->seen[i])
			fail(x, 0, -EINVAL, "[%s] %s: missing; it is required",
			     keys[i].section, keys[i].name);
	if (!c->control.socket[0]) {
		n = snprintf(c->control.socket, sizeof(sun.sun_path),
			     "%s/control.sock", c->host.run_dir);
		if (n < 0 || (size_t)n >= sizeof(sun.sun_path))
			fail(x, 0, -ENAMETOOLONG,
			     "[control] socket: the default, [host] run_dir "
			     "followed by /control.sock, is longer than %zu "
			     "bytes; set it",
			     sizeof(sun.sun_path) - 1);
	}
}

int migd_config_load(struct migd_config **out, const char *path, char *err,
		     size_t err_len)
{
	struct ctx x = {.err_line = -1, .err = err, .err_len = err_len};
	int rc;

	*out = NULL;
	if (err_len)
		err[0] = '\0';
	if (!path)
		path = MIGD_CONFIG_DEFAULT_PATH;
	x.c = calloc(1, sizeof(*x.c));
	if (!x.c) {
		snprintf(err, err_len, "%s: out of memory", path);
		return -ENOMEM;
	}
	if (copy_value(x.c->path, sizeof(x.c->path), path)) {
		snprintf(err, err_len, "the configuration path is too long");
		rc = -ENAMETOOLONG;
		goto free_config;
	}
	x.f = fopen(path, "re");
	if (!x.f) {
		rc = -errno;
		snprintf(err, err_len, "cannot open %s: %s", path,
			 strerror(errno));
		goto free_config;
	}
	set_defaults(x.c);
	rc = ini_parse_stream(read_line, &x, on_key, &x);
	fclose(x.f);
	if (rc < 0) {
		snprintf(err, err_len, "%s: out of memory", path);
		rc = -ENOMEM;
		goto free_config;
	}
	/* rc > 0 is the first line inih found bad, ours counted; earlier
	 * than ours, it is a line inih could not parse at all. */
	if (rc > 0 && (x.err_line < 0 || rc < x.err_line)) {
		x.err_line = -1;
		fail(&x, rc, -EINVAL,
		     "expected \"[section]\" or \"key = value\"");
	}
	if (x.err_line < 0)
		check_whole(&x);
	if (x.err_line >= 0) {
		rc = x.rc;
		goto free_config;
	}
	*out = x.c;
	return 0;

free_config:
	free(x.c);
	return rc;
}

void migd_config_free(struct migd_config *c)
{
	free(c);
}

const struct migd_peer_addr *migd_config_peer(const struct migd_config *c,
					      const char *name)
{
	size_t i;

	for (i = 0; i < c->n_peers; i++)
		if (!strcasecmp(c->peers[i].name, name))
			return &c->peers[i];
	return NULL;
}

int migd_config_accepts(const struct migd_config *c, const char *peer_name)
{
	size_t i;

	if (!c->peer.n_accept)
		return 1;
	for (i = 0; i < c->peer.n_accept; i++)
		if (!strcasecmp(c->peer.accept[i], peer_name))
			return 1;
	return 0;
}
