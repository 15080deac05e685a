/*
 * address.c - parsing migration addresses and the sockets behind them.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "address.h"

#define LISTEN_BACKLOG 8

/*
 * Cloud Hypervisor's keepalive: a dead peer is noticed after about two
 * minutes of silence (60 s idle, then 4 probes 15 s apart), and data that
 * stays unacknowledged for 120 s fails the connection.
 */
#define KEEPALIVE_IDLE_S 60
#define KEEPALIVE_INTVL_S 15
#define KEEPALIVE_CNT 4
#define USER_TIMEOUT_MS 120000

/* ---------------------------------------------------------------------- */
/* Parsing                                                                */

/* Letters, digits, '-', '.' and '_' (seen in practice in host names). */
static int valid_hostname(const char *h, size_t len)
{
	size_t i;

	if (!len || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      c == '_'))
			return 0;
	}
	return 1;
}

/* "[v6]" contents: an IPv6 literal, optionally with a "%zone". */
static int valid_ipv6(const char *h, size_t len)
{
	struct in6_addr a;
	char buf[INET6_ADDRSTRLEN + 1];
	const char *zone = memchr(h, '%', len);
	size_t addr_len = zone ? (size_t)(zone - h) : len;

	if (!addr_len || addr_len >= sizeof(buf))
		return 0;
	memcpy(buf, h, addr_len);
	buf[addr_len] = '\0';
	if (inet_pton(AF_INET6, buf, &a) != 1)
		return 0;
	if (zone && !valid_hostname(zone + 1, len - addr_len - 1))
		return 0;
	return 1;
}

/* 1 to 5 decimal digits, at most 65535: no sign, space or hex. */
static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i, n = strlen(s);

	if (!n || n > 5)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return 0;
	*port = (uint16_t)v;
	return 1;
}

static int parse_tcp(const char *s, struct mig__addr *a)
{
	const char *host = s, *colon, *end;
	size_t hlen;

	if (*s == '[') {
		host = s + 1;
		end = strchr(host, ']');
		if (!end || end[1] != ':')
			return MIG_EADDRESS;
		hlen = (size_t)(end - host);
		colon = end + 1;
		if (!valid_ipv6(host, hlen))
			return MIG_EADDRESS;
	} else {
		colon = strchr(s, ':');
		if (!colon)
			return MIG_EADDRESS;
		hlen = (size_t)(colon - s);
		/* A bare IPv6 literal is ambiguous: it needs [brackets]. */
		if (!valid_hostname(host, hlen))
			return MIG_EADDRESS;
	}
	if (hlen >= sizeof(a->host) || !parse_port(colon + 1, &a->port))
		return MIG_EADDRESS;
	memcpy(a->host, host, hlen);
	a->host[hlen] = '\0';
	a->kind = MIG__ADDR_TCP;
	return 0;
}

int mig__addr_parse(const char *s, struct mig__addr *a)
{
	struct sockaddr_un sun;
	size_t n;
	int rc;

	memset(a, 0, sizeof(*a));
	if (!s)
		return MIG_EADDRESS;
	if (!strncmp(s, "tcp:", 4)) {
		rc = parse_tcp(s + 4, a);
		if (rc)
			memset(a, 0, sizeof(*a));
		return rc;
	}
	if (!strncmp(s, "unix:", 5)) {
		n = strlen(s + 5);
		if (!n || n >= sizeof(sun.sun_path))
			return MIG_EADDRESS;
		a->kind = MIG__ADDR_UNIX;
		memcpy(a->path, s + 5, n + 1);
		return 0;
	}
	if (!strncmp(s, "file:", 5)) {
		n = strlen(s + 5);
		if (!n || n >= sizeof(a->path))
			return MIG_EADDRESS;
		a->kind = MIG__ADDR_FILE;
		memcpy(a->path, s + 5, n + 1);
		return 0;
	}
	return MIG_EADDRESS;
}

/* ---------------------------------------------------------------------- */
/* Sockets                                                                */

/* getaddrinfo's codes as errnos; never EAGAIN, which means "retry I/O". */
static int gai_errno(int rc)
{
	switch (rc) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return -ENXIO;
	case EAI_AGAIN:
	case EAI_FAIL:
		return -EHOSTUNREACH;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return errno && errno != EAGAIN ? -errno : -EIO;
	default:
		return -EINVAL;
	}
}

static int resolve(const struct mig__addr *a, int passive,
		   struct addrinfo **res)
{
	struct addrinfo hints;
	char port[8];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	snprintf(port, sizeof(port), "%u", a->port);
	rc = getaddrinfo(a->host, port, &hints, res);
	return rc ? gai_errno(rc) : 0;
}

static int set_int(int fd, int level, int name, int val)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)) < 0)
		return -errno;
	return 0;
}

/* TCP_NODELAY and keepalive on a connected TCP socket; UNIX: nothing. */
static int tune(int fd)
{
	int domain = AF_UNSPEC;
	socklen_t len = sizeof(domain);
	int rc;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return -errno;
	if (domain != AF_INET && domain != AF_INET6)
		return 0;
	rc = set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (!rc)
		rc = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	if (!rc)
		rc = set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, KEEPALIVE_IDLE_S);
	if (!rc)
		rc = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, KEEPALIVE_INTVL_S);
	if (!rc)
		rc = set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, KEEPALIVE_CNT);
	if (!rc)
		rc = set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT,
			     USER_TIMEOUT_MS);
	return rc;
}

static int remaining_ms(uint64_t deadline_us)
{
	uint64_t now = mig__now_us();

	if (now >= deadline_us)
		return 0;
	return (int)MIG__MIN((deadline_us - now + 999) / 1000,
			     (uint64_t)INT32_MAX);
}

/*
 * One non-blocking connect, waited for with poll until the deadline.
 * A UNIX socket whose listener's backlog is full answers EAGAIN and
 * cannot be polled for: retry it every few milliseconds instead.
 */
static int connect_one(int family, const struct sockaddr *sa,
		       socklen_t salen, uint64_t deadline_us, int *out)
{
	struct pollfd pfd;
	socklen_t len;
	int fd, rc, err;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (!connect(fd, sa, salen))
			goto connected;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && family == AF_UNIX) {
			if (!remaining_ms(deadline_us)) {
				rc = -ETIMEDOUT;
				goto close_fd;
			}
			poll(NULL, 0, MIG__MIN(remaining_ms(deadline_us), 5));
			continue;
		}
		break;
	}
	if (errno != EINPROGRESS) {
		rc = -errno;
		goto close_fd;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	for (;;) {
		pfd.revents = 0;
		rc = poll(&pfd, 1, remaining_ms(deadline_us));
		if (rc > 0)
			break;
		if (!rc) {
			rc = -ETIMEDOUT;
			goto close_fd;
		}
		if (errno != EINTR) {
			rc = -errno;
			goto close_fd;
		}
	}
	len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
		rc = -errno;
		goto close_fd;
	}
	if (err) {
		rc = -err;
		goto close_fd;
	}
connected:
	rc = tune(fd);
	if (rc)
		goto close_fd;
	*out = fd;
	return 0;

close_fd:
	close(fd);
	return rc;
}

static int unix_sockaddr(const char *path, struct sockaddr_un *sun,
			 socklen_t *len)
{
	size_t n = strlen(path);

	if (!n || n >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

/*
 * DNS resolution is not bounded by the timeout (getaddrinfo cannot be
 * interrupted); each address it yields is tried in turn, within what is
 * left of the time.
 */
int mig__addr_connect(const struct mig__addr *a, uint32_t timeout_ms,
		      int *fd)
{
	uint64_t deadline = mig__now_us() + (uint64_t)timeout_ms * 1000;
	struct addrinfo *res, *ai;
	struct sockaddr_un sun;
	socklen_t len;
	int rc;

	if (a->kind == MIG__ADDR_UNIX) {
		rc = unix_sockaddr(a->path, &sun, &len);
		if (rc)
			return rc;
		return connect_one(AF_UNIX, (struct sockaddr *)&sun, len,
				   deadline, fd);
	}
	if (a->kind != MIG__ADDR_TCP)
		return -EINVAL;
	rc = resolve(a, 0, &res);
	if (rc)
		return rc;
	rc = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		rc = connect_one(ai->ai_family, ai->ai_addr, ai->ai_addrlen,
				 deadline, fd);
		if (!rc || rc == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	return rc;
}

static int listen_on(int family, const struct sockaddr *sa, socklen_t salen,
		     int *out)
{
	int fd, rc;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family != AF_UNIX) {
		rc = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
		if (rc)
			goto close_fd;
	}
	if (bind(fd, sa, salen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		rc = -errno;
		goto close_fd;
	}
	*out = fd;
	return 0;

close_fd:
	close(fd);
	return rc;
}

/*
 * A socket file left behind by a process that died is taken over; one
 * that someone still answers on, or any other kind of file, is not.
 */
static int clear_stale_socket(const struct sockaddr_un *sun, socklen_t len)
{
	struct stat st;
	int fd, rc;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EADDRINUSE;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do
		rc = connect(fd, (const struct sockaddr *)sun, len);
	while (rc < 0 && errno == EINTR);
	rc = rc < 0 ? errno : 0;
	close(fd);
	if (rc != ECONNREFUSED)
		return -EADDRINUSE;
	if (unlink(sun->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int mig__addr_listen(const struct mig__addr *a, int *fd)
{
	struct addrinfo *res, *ai;
	struct sockaddr_un sun;
	socklen_t len;
	int rc;

	if (a->kind == MIG__ADDR_UNIX) {
		rc = unix_sockaddr(a->path, &sun, &len);
		if (!rc)
			rc = clear_stale_socket(&sun, len);
		if (rc)
			return rc;
		return listen_on(AF_UNIX, (struct sockaddr *)&sun, len, fd);
	}
	if (a->kind != MIG__ADDR_TCP)
		return -EINVAL;
	rc = resolve(a, 1, &res);
	if (rc)
		return rc;
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		rc = listen_on(ai->ai_family, ai->ai_addr, ai->ai_addrlen, fd);
		if (!rc)
			break;
	}
	freeaddrinfo(res);
	return rc;
}

int mig__addr_accept(int lfd, int *fd)
{
	int cfd, rc;

	for (;;) {
		cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0)
			break;
		/* A connection reset before we got to it: wait for another. */
		if (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ECONNABORTED)
			return MIG__AGAIN;
		if (errno != EINTR)
			return -errno;
	}
	rc = tune(cfd);
	if (rc) {
		close(cfd);
		return rc;
	}
	*fd = cfd;
	return 0;
}

int mig__addr_format_bound(int lfd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
	socklen_t slen = sizeof(ss);
	char ip[INET6_ADDRSTRLEN];
	int n;

	memset(&ss, 0, sizeof(ss));
	if (getsockname(lfd, (struct sockaddr *)&ss, &slen) < 0)
		return -errno;
	switch (ss.ss_family) {
	case AF_INET:
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		n = snprintf(buf, len, "tcp:%s:%u", ip, ntohs(in->sin_port));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		n = snprintf(buf, len, "tcp:[%s]:%u", ip,
			     ntohs(in6->sin6_port));
		break;
	case AF_UNIX:
		/* sun_path need not be terminated when it is full. */
		n = snprintf(buf, len, "unix:%.*s",
			     (int)strnlen(sun->sun_path,
					  sizeof(sun->sun_path)),
			     sun->sun_path);
		break;
	default:
		return -EAFNOSUPPORT;
	}
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return 0;
}
