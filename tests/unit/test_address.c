/*
 * test_address.c - migration addresses and their sockets (address.c), and
 * the plain stream backends over them (stream_fd.c: socket and file).
 */
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "address.h"
#include "stream.h"

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

static char tmpdir[] = "/tmp/test_address.XXXXXX";

static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

static void tmp_path(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", tmpdir, name);

	assert_true(n > 0 && (size_t)n < len);
}

static int get_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

static void assert_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0 && (fl & O_NONBLOCK));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static void assert_tcp_tuned(int fd)
{
	assert_nonblocking(fd);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
	assert_int_equal(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 60);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 15);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 120000);
}

/* Accepts, waiting up to 5 s for the connection to arrive. */
static int accept_wait(int lfd)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	int fd = -1, rc, i;

	for (i = 0; i < 100; i++) {
		rc = mig__addr_accept(lfd, &fd);
		if (!rc)
			return fd;
		assert_int_equal(rc, MIG__AGAIN);
		assert_int_equal(poll(&pfd, 1, 5000), 1);
	}
	fail_msg("no connection to accept");
	return -1;
}

static int connect_str(const char *s, uint32_t timeout_ms, int *fd)
{
	struct mig__addr a;

	assert_int_equal(mig__addr_parse(s, &a), 0);
	return mig__addr_connect(&a, timeout_ms, fd);
}

static int listen_str(const char *s, int *fd)
{
	struct mig__addr a;

	assert_int_equal(mig__addr_parse(s, &a), 0);
	return mig__addr_listen(&a, fd);
}

/* ---------------------------------------------------------------------- */
/* Parsing                                                                */

struct parse_case {
	const char *s;
	enum mig__addr_kind kind;
	const char *host_or_path;
	unsigned port;
};

static void test_parse_valid(void **state)
{
	static const struct parse_case cases[] = {
		{ "tcp:localhost:80", MIG__ADDR_TCP, "localhost", 80 },
		{ "tcp:127.0.0.1:0", MIG__ADDR_TCP, "127.0.0.1", 0 },
		{ "tcp:host-1.example_2.com:65535", MIG__ADDR_TCP,
		  "host-1.example_2.com", 65535 },
		{ "tcp:h:00080", MIG__ADDR_TCP, "h", 80 },
		{ "tcp:[::1]:4444", MIG__ADDR_TCP, "::1", 4444 },
		{ "tcp:[fe80::1%eth0]:1", MIG__ADDR_TCP, "fe80::1%eth0", 1 },
		{ "tcp:[::ffff:10.0.0.1]:22", MIG__ADDR_TCP, "::ffff:10.0.0.1",
		  22 },
		{ "unix:/run/mig.sock", MIG__ADDR_UNIX, "/run/mig.sock", 0 },
		{ "unix:rel/sock", MIG__ADDR_UNIX, "rel/sock", 0 },
		{ "unix:x:y", MIG__ADDR_UNIX, "x:y", 0 },
		{ "file:/var/lib/vm.img", MIG__ADDR_FILE, "/var/lib/vm.img",
		  0 },
		{ "file:img", MIG__ADDR_FILE, "img", 0 },
	};
	struct mig__addr a;
	size_t i;

	(void)state;
	for (i = 0; i < MIG__ARRAY_SIZE(cases); i++) {
		const struct parse_case *c = &cases[i];

		const char *got;

		if (mig__addr_parse(c->s, &a))
			fail_msg("\"%s\" was refused", c->s);
		got = c->kind == MIG__ADDR_TCP ? a.host : a.path;
		if (a.kind != c->kind || strcmp(got, c->host_or_path) ||
		    (c->kind == MIG__ADDR_TCP && a.port != c->port))
			fail_msg("\"%s\": kind %d \"%s\" port %u", c->s,
				 a.kind, got, a.port);
	}
}

static void test_parse_invalid(void **state)
{
	static const char *const cases[] = {
		"",
		"tcp",
		"tcp:",
		"tcp:host",
		"tcp:host:",
		"tcp::80",
		"tcp:host:65536",
		"tcp:host:99999",
		"tcp:host:123456",
		"tcp:host:-1",
		"tcp:host:+1",
		"tcp:host:0x10",
		"tcp:host:80 ",
		"tcp:host: 80",
		"tcp:ho st:80",
		"tcp:host/x:80",
		"tcp:host:80:90",
		"tcp:::1:80",
		"tcp:[::1]80",
		"tcp:[::1]",
		"tcp:[::1:80",
		"tcp:[]:80",
		"tcp:[1.2.3.4]:80",
		"tcp:[::1]:",
		"tcp:[::1%]:80",
		"tcp:[not::an::ip]:80",
		"unix:",
		"file:",
		"udp:host:1",
		"TCP:host:1",
		"host:80",
		" tcp:host:80",
	};
	char buf[400];
	struct mig__addr a;
	size_t i;

	(void)state;
	assert_int_equal(mig__addr_parse(NULL, &a), MIG_EADDRESS);
	for (i = 0; i < MIG__ARRAY_SIZE(cases); i++) {
		if (mig__addr_parse(cases[i], &a) != MIG_EADDRESS)
			fail_msg("\"%s\" was accepted", cases[i]);
		assert_int_equal(a.kind, 0);
	}

	/* sun_path holds 107 characters and the terminator. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "unix:", 5);
	memset(buf + 5, 'p', sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	assert_int_equal(mig__addr_parse(buf, &a), 0);
	assert_int_equal(strlen(a.path), 107);
	buf[strlen(buf)] = 'p';
	assert_int_equal(mig__addr_parse(buf, &a), MIG_EADDRESS);

	/* Host names: at most 253 characters. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "tcp:", 4);
	memset(buf + 4, 'h', 253);
	strcat(buf, ":1");
	assert_int_equal(mig__addr_parse(buf, &a), 0);
	assert_int_equal(strlen(a.host), 253);
	memset(buf + 4, 'h', 254);
	strcpy(buf + 4 + 254, ":1");
	assert_int_equal(mig__addr_parse(buf, &a), MIG_EADDRESS);
}

/* ---------------------------------------------------------------------- */
/* TCP                                                                    */

static void tcp_round_trip(const char *listen_at, const char *prefix)
{
	char bound[128];
	int lfd, cfd, sfd;
	struct mig__addr a;

	assert_int_equal(listen_str(listen_at, &lfd), 0);
	assert_nonblocking(lfd);
	assert_int_equal(get_int(lfd, SOL_SOCKET, SO_REUSEADDR), 1);
	assert_int_equal(mig__addr_format_bound(lfd, bound, sizeof(bound)), 0);
	print_message("bound: %s\n", bound);
	assert_int_equal(strncmp(bound, prefix, strlen(prefix)), 0);
	assert_int_equal(mig__addr_parse(bound, &a), 0);
	assert_true(a.port != 0);
	/* Too small a buffer is an error, not a truncated address. */
	assert_int_equal(mig__addr_format_bound(lfd, bound, 8), -ENOSPC);

	assert_int_equal(mig__addr_accept(lfd, &sfd), MIG__AGAIN);
	assert_int_equal(mig__addr_connect(&a, 5000, &cfd), 0);
	sfd = accept_wait(lfd);
	assert_tcp_tuned(cfd);
	assert_tcp_tuned(sfd);
	assert_int_equal(send(cfd, "ping", 4, 0), 4);
	{
		char buf[8];
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };

		assert_int_equal(poll(&pfd, 1, 5000), 1);
		assert_int_equal(recv(sfd, buf, sizeof(buf), 0), 4);
		assert_memory_equal(buf, "ping", 4);
	}
	close(cfd);
	close(sfd);
	close(lfd);
}

static void test_tcp_listen_connect(void **state)
{
	(void)state;
	tcp_round_trip("tcp:127.0.0.1:0", "tcp:127.0.0.1:");
	tcp_round_trip("tcp:[::1]:0", "tcp:[::1]:");
	tcp_round_trip("tcp:localhost:0", "tcp:");
}

static void test_tcp_refused(void **state)
{
	char bound[64];
	int lfd, fd = -1;

	(void)state;
	assert_int_equal(listen_str("tcp:127.0.0.1:0", &lfd), 0);
	assert_int_equal(mig__addr_format_bound(lfd, bound, sizeof(bound)), 0);
	close(lfd);
	assert_int_equal(connect_str(bound, 2000, &fd), -ECONNREFUSED);
	assert_int_equal(fd, -1);
}

static void test_tcp_address_in_use(void **state)
{
	char bound[64];
	int lfd, lfd2 = -1;

	(void)state;
	assert_int_equal(listen_str("tcp:127.0.0.1:0", &lfd), 0);
	assert_int_equal(mig__addr_format_bound(lfd, bound, sizeof(bound)), 0);
	assert_int_equal(listen_str(bound, &lfd2), -EADDRINUSE);
	close(lfd);
}

/*
 * A listener that never accepts: once its backlog is full the kernel
 * drops further SYNs (TCP) or refuses with EAGAIN (UNIX), so a connect
 * can only time out.
 */
static void connect_times_out(const char *listen_at)
{
	char bound[PATH_MAX + 8];
	int lfd, fds[32], n = 0, rc = 0;
	uint64_t t0, dt = 0;

	assert_int_equal(listen_str(listen_at, &lfd), 0);
	assert_int_equal(mig__addr_format_bound(lfd, bound, sizeof(bound)), 0);
	while (n < (int)MIG__ARRAY_SIZE(fds)) {
		t0 = mig__now_us();
		rc = connect_str(bound, 300, &fds[n]);
		dt = mig__now_us() - t0;
		if (rc)
			break;
		n++;
	}
	print_message("%s: %d connections, then %d after %llu us\n", bound,
		      n, rc, (unsigned long long)dt);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(n >= 8);
	assert_true(dt >= 290000 && dt < 3000000);
	while (n--)
		close(fds[n]);
	close(lfd);
}

static void test_connect_timeout(void **state)
{
	char addr[PATH_MAX + 8];

	(void)state;
	connect_times_out("tcp:127.0.0.1:0");
	snprintf(addr, sizeof(addr), "unix:%s/full.sock", tmpdir);
	connect_times_out(addr);
	assert_int_equal(unlink(addr + 5), 0);
}

static void test_unresolvable(void **state)
{
	int fd = -1, rc;

	(void)state;
	/*
	 * .invalid never resolves (RFC 6761): "no such name", or "cannot
	 * reach a resolver" on a machine without one.
	 */
	rc = connect_str("tcp:no-such-host.invalid:80", 1000, &fd);
	if (rc != -ENXIO && rc != -EHOSTUNREACH)
		fail_msg("connect to an unresolvable name: %d", rc);
	assert_int_equal(fd, -1);
}

/* ---------------------------------------------------------------------- */
/* UNIX                                                                   */

static void test_unix_listen_connect(void **state)
{
	char path[PATH_MAX], addr[PATH_MAX + 8], bound[PATH_MAX + 8];
	int lfd, lfd2 = -1, cfd, sfd;

	(void)state;
	tmp_path(path, sizeof(path), "live.sock");
	snprintf(addr, sizeof(addr), "unix:%s", path);
	assert_int_equal(listen_str(addr, &lfd), 0);
	assert_nonblocking(lfd);
	assert_int_equal(mig__addr_format_bound(lfd, bound, sizeof(bound)), 0);
	assert_string_equal(bound, addr);

	assert_int_equal(connect_str(addr, 1000, &cfd), 0);
	assert_nonblocking(cfd);
	sfd = accept_wait(lfd);
	assert_nonblocking(sfd);
	assert_int_equal(send(cfd, "x", 1, 0), 1);

	/* Someone answers on it: not ours to take. */
	assert_int_equal(listen_str(addr, &lfd2), -EADDRINUSE);
	assert_int_equal(lfd2, -1);
	close(cfd);
	close(sfd);
	close(lfd);
	assert_int_equal(unlink(path), 0);
}

static void test_unix_stale_socket(void **state)
{
	char path[PATH_MAX], addr[PATH_MAX + 8];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, lfd, cfd = -1;

	(void)state;
	tmp_path(path, sizeof(path), "stale.sock");
	snprintf(addr, sizeof(addr), "unix:%s", path);
	/* A socket file whose owner died: bound, never unlinked. */
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(connect_str(addr, 1000, &cfd), -ECONNREFUSED);

	assert_int_equal(listen_str(addr, &lfd), 0);
	assert_int_equal(connect_str(addr, 1000, &cfd), 0);
	close(cfd);
	close(lfd);
	assert_int_equal(unlink(path), 0);

	/* Nothing there at all. */
	assert_int_equal(connect_str(addr, 1000, &cfd), -ENOENT);
}

static void test_unix_not_a_socket(void **state)
{
	char path[PATH_MAX], addr[PATH_MAX + 8];
	struct stat st;
	int fd, lfd = -1;

	(void)state;
	tmp_path(path, sizeof(path), "regular");
	snprintf(addr, sizeof(addr), "unix:%s", path);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	/* Never delete what is not a socket. */
	assert_int_equal(listen_str(addr, &lfd), -EADDRINUSE);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(unlink(path), 0);
}

static void test_file_address_has_no_socket(void **state)
{
	struct mig__addr a;
	int fd = -1;

	(void)state;
	assert_int_equal(mig__addr_parse("file:/tmp/x", &a), 0);
	assert_int_equal(mig__addr_connect(&a, 100, &fd), -EINVAL);
	assert_int_equal(mig__addr_listen(&a, &fd), -EINVAL);
	assert_int_equal(fd, -1);
}

/* ---------------------------------------------------------------------- */
/* Plain socket streams (stream_fd.c)                                     */

static unsigned char pattern(unsigned seed, size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u + seed;

	return (unsigned char)((x >> 13) ^ (x >> 24) ^ (uint32_t)(i >> 12));
}

static void wait_for(struct mig__stream *s)
{
	struct pollfd pfd = { .fd = s->fd };

	pfd.events = (short)((s->want & MIG__WANT_READ ? POLLIN : 0) |
			     (s->want & MIG__WANT_WRITE ? POLLOUT : 0));
	assert_true(pfd.events != 0);
	assert_int_equal(poll(&pfd, 1, 5000), 1);
}

/* `size` bytes from a to b, interleaving writes and reads. */
static void pump(struct mig__stream *a, struct mig__stream *b, size_t size)
{
	unsigned char *out = malloc(size), *in = malloc(size);
	size_t sent = 0, got = 0, i;
	ssize_t n;
	int moved;

	assert_true(out && in);
	for (i = 0; i < size; i++)
		out[i] = pattern(7, i);
	while (got < size) {
		moved = 0;
		if (sent < size) {
			n = mig__stream_write(a, out + sent,
					      MIG__MIN(size - sent, 99991));
			if (n != MIG__AGAIN) {
				assert_true(n > 0);
				sent += (size_t)n;
				moved = 1;
			} else {
				assert_int_equal(a->want, MIG__WANT_WRITE);
			}
		}
		n = mig__stream_read(b, in + got, MIG__MIN(size - got, 12345));
		if (n != MIG__AGAIN) {
			assert_true(n > 0);
			got += (size_t)n;
			moved = 1;
		} else {
			assert_int_equal(b->want, MIG__WANT_READ);
		}
		if (!moved)
			wait_for(b);
	}
	assert_memory_equal(in, out, size);
	assert_int_equal(a->bytes_out, size);
	assert_int_equal(b->bytes_in, size);
	free(out);
	free(in);
}

static void test_fd_stream_unix(void **state)
{
	struct mig__stream *a, *b;
	void (*old)(int) = signal(SIGPIPE, SIG_DFL);
	unsigned char big[65536];
	char buf[8];
	int sv[2];
	ssize_t n;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	assert_int_equal(mig__stream_fd_new(&a, sv[0]), 0);
	assert_int_equal(mig__stream_fd_new(&b, sv[1]), 0);
	assert_string_equal(a->ops->name, "unix");
	assert_int_equal(a->fd, sv[0]);
	assert_nonblocking(a->fd);

	assert_int_equal(mig__stream_read(b, buf, sizeof(buf)), MIG__AGAIN);
	assert_int_equal(b->want, MIG__WANT_READ);
	pump(a, b, 3u << 20);
	pump(b, a, 1u << 20);

	/* A full socket buffer asks to wait for POLLOUT. */
	memset(big, 0x5a, sizeof(big));
	do
		n = mig__stream_write(a, big, sizeof(big));
	while (n > 0);
	assert_int_equal(n, MIG__AGAIN);
	assert_int_equal(a->want, MIG__WANT_WRITE);

	/* Our shutdown is the peer's end of stream, after the data. */
	assert_int_equal(mig__stream_shutdown(b), 0);
	while ((n = mig__stream_read(a, big, sizeof(big))) == MIG__AGAIN)
		wait_for(a);
	assert_int_equal(n, 0);

	/* A vanished peer: EPIPE, and no SIGPIPE kills us. */
	mig__stream_destroy(b);
	assert_int_equal(mig__stream_write(a, "x", 1), -EPIPE);
	assert_int_equal(a->error, -EPIPE);
	assert_true(strstr(a->error_text, "Broken pipe") != NULL);
	mig__stream_destroy(a);
	signal(SIGPIPE, old);

	/* Not a socket: refused, and the fd is closed all the same. */
	assert_int_equal(pipe(sv), 0);
	assert_int_equal(mig__stream_fd_new(&a, sv[0]), -ENOTSOCK);
	assert_int_equal(fcntl(sv[0], F_GETFD), -1);
	close(sv[1]);
}

static void test_fd_stream_tcp(void **state)
{
	struct mig__stream *a, *b;
	char bound[64];
	int lfd, cfd;

	(void)state;
	assert_int_equal(listen_str("tcp:127.0.0.1:0", &lfd), 0);
	assert_int_equal(mig__addr_format_bound(lfd, bound, sizeof(bound)), 0);
	assert_int_equal(connect_str(bound, 5000, &cfd), 0);
	assert_int_equal(mig__stream_fd_new(&a, cfd), 0);
	assert_int_equal(mig__stream_fd_new(&b, accept_wait(lfd)), 0);
	assert_string_equal(a->ops->name, "tcp");
	pump(a, b, 3u << 20);
	pump(b, a, 3u << 20);
	mig__stream_destroy(a);
	mig__stream_destroy(b);
	close(lfd);
}

/* ---------------------------------------------------------------------- */
/* File streams (stream_fd.c)                                             */

static void test_file_stream_round_trip(void **state)
{
	/* Odd sizes, below, at and above the 1 MiB buffer. */
	static const size_t wsizes[] = { 1, 7, 4093, 65537, 1048575,
					 1048576, 1048577, 3, 300001 };
	static const size_t rsizes[] = { 5, 1048576, 1, 77777, 2097152, 13 };
	const size_t size = 3u << 20;
	char path[PATH_MAX];
	unsigned char *out = malloc(size), *in = malloc(size + 1);
	struct mig__stream *s;
	size_t off, i, n;
	ssize_t r;
	struct stat st;
	mode_t old_umask = umask(022);

	(void)state;
	assert_true(out && in);
	for (i = 0; i < size; i++)
		out[i] = pattern(3, i);
	tmp_path(path, sizeof(path), "image");

	assert_int_equal(mig__stream_file_new(&s, path, 1), 0);
	assert_string_equal(s->ops->name, "file");
	assert_int_equal(s->fd, -1);
	assert_int_equal(mig__stream_read(s, in, 1), -EBADF);
	mig__stream_destroy(s);

	assert_int_equal(mig__stream_file_new(&s, path, 1), 0);
	for (off = 0, i = 0; off < size; i++) {
		n = MIG__MIN(wsizes[i % MIG__ARRAY_SIZE(wsizes)], size - off);
		assert_int_equal(mig__stream_write(s, out + off, n),
				 (ssize_t)n);
		off += n;
	}
	assert_int_equal(mig__stream_flush(s), 0);
	assert_int_equal(s->bytes_out, size);
	mig__stream_destroy(s);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, size);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(mig__stream_file_new(&s, path, 0), 0);
	assert_int_equal(s->fd, -1);
	for (off = 0, i = 0; off < size; i++) {
		n = MIG__MIN(rsizes[i % MIG__ARRAY_SIZE(rsizes)],
			     size + 1 - off);
		r = mig__stream_read(s, in + off, n);
		assert_true(r > 0);
		off += (size_t)r;
		assert_true(off <= size);
	}
	assert_memory_equal(in, out, size);
	assert_int_equal(mig__stream_read(s, in, 1), 0);
	assert_int_equal(mig__stream_read(s, in, 1 << 21), 0);
	assert_int_equal(mig__stream_write(s, out, 1), -EBADF);
	mig__stream_destroy(s);

	/* Writing again truncates; unflushed data is not written. */
	assert_int_equal(mig__stream_file_new(&s, path, 1), 0);
	assert_int_equal(mig__stream_write(s, "abc", 3), 3);
	assert_int_equal(mig__stream_flush(s), 0);
	assert_int_equal(mig__stream_write(s, "def", 3), 3);
	mig__stream_destroy(s);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 3);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(mig__stream_file_new(&s, path, 0), -ENOENT);
	umask(old_umask);
	free(out);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_tcp_listen_connect),
		cmocka_unit_test(test_tcp_refused),
		cmocka_unit_test(test_tcp_address_in_use),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_unresolvable),
		cmocka_unit_test(test_unix_listen_connect),
		cmocka_unit_test(test_unix_stale_socket),
		cmocka_unit_test(test_unix_not_a_socket),
		cmocka_unit_test(test_file_address_has_no_socket),
		cmocka_unit_test(test_fd_stream_unix),
		cmocka_unit_test(test_fd_stream_tcp),
		cmocka_unit_test(test_file_stream_round_trip),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
