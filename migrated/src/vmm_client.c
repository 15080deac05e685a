/* vmm_client.c: blocking requests to a vmm-lite control socket. */
#include "vmm_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_MAX (1u << 20)

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	long long left = deadline - now_ms();
	int r;

	if (left <= 0)
		return -ETIMEDOUT;
	r = poll(&p, 1, (int)left);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r ? 0 : -ETIMEDOUT;
}

static int connect_unix(const char *path, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int r = -errno;

		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = wait_fd(fd, POLLOUT, deadline);

			if (r)
				return r;
			continue;
		}
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to the first newline into a malloc'd string. */
static int read_line(int fd, char **out, long long deadline)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap), *nl;
	int r;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			r = wait_fd(fd, POLLIN, deadline);
			if (r)
				goto fail;
			continue;
		}
		if (n <= 0) {
			r = n < 0 ? -errno : -ECONNRESET;
			goto fail;
		}
		len += (size_t)n;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			*out = buf;
			return 0;
		}
		if (len + 1 == cap) {
			char *bigger;

			if (cap >= ANSWER_MAX) {
				r = -EMSGSIZE;
				goto fail;
			}
			bigger = realloc(buf, cap * 2);
			if (!bigger) {
				r = -ENOMEM;
				goto fail;
			}
			buf = bigger;
			cap *= 2;
		}
	}
fail:
	free(buf);
	return r;
}

int migd_vmm_call(const char *sock, struct json_object *req,
		  struct json_object **answer, int timeout_ms, char *err,
		  size_t err_len)
{
	long long deadline = now_ms() + timeout_ms;
	const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	struct json_object *a, *ok, *e;
	char *line = NULL;
	int fd = -1, r;

	*answer = NULL;
	r = connect_unix(sock, &fd);
	if (r) {
		snprintf(err, err_len, "the VMM's control socket %s: %s", sock, strerror(-r));
		return r;
	}
	r = send_all(fd, text, strlen(text), deadline);
	if (!r)
		r = send_all(fd, "\n", 1, deadline);
	if (!r)
		r = read_line(fd, &line, deadline);
	close(fd);
	if (r) {
		snprintf(err, err_len, "the VMM at %s did not answer: %s", sock, strerror(-r));
		return r;
	}
	a = json_tokener_parse(line);
	free(line);
	if (!a || !json_object_is_type(a, json_type_object)) {
		json_object_put(a);
		snprintf(err, err_len, "the VMM at %s answered something that is not JSON", sock);
		return -EPROTO;
	}
	*answer = a;
	if (json_object_object_get_ex(a, "ok", &ok) && json_object_get_boolean(ok))
		return 0;
	snprintf(err, err_len, "%s",
		 json_object_object_get_ex(a, "error", &e) ? json_object_get_string(e)
							   : "the VMM refused");
	return -EPROTO;
}

int migd_vmm_cmd(const char *sock, const char *cmd, struct json_object **answer,
		 int timeout_ms, char *err, size_t err_len)
{
	struct json_object *req = json_object_new_object();
	int r;

	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	r = migd_vmm_call(sock, req, answer, timeout_ms, err, err_len);
	json_object_put(req);
	return r;
}
