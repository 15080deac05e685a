/*
 * jconn.c - JSON objects over a UNIX stream socket, for QMP and for
 * vmm-lite's control socket alike: one object per line out, a stream of
 * objects in, split by json-c's incremental tokener. The peer is a
 * process under test, so an object is bounded (DT_JSON_MAX) and so is
 * every wait.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "downtime.h"

int dt_jconn_connect(struct dt_jconn *c, const char *path, uint32_t ms,
		     struct dt_proc *owner)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t end = dt_now_ns() + (uint64_t)ms * 1000000u;
	int rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c->tok = json_tokener_new();
	if (!c->tok)
		return -ENOMEM;
	for (;;) {
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			rc = -errno;
			goto free_tok;
		}
		if (!connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
			return 0;
		rc = -errno;
		close(c->fd);
		c->fd = -1;
		if (rc != -ENOENT && rc != -ECONNREFUSED)
			goto free_tok;
		if (owner && dt_proc_poll(owner)) {
			rc = -ECHILD;
			goto free_tok;
		}
		if (dt_now_ns() >= end) {
			rc = -ETIMEDOUT;
			goto free_tok;
		}
		dt_sleep_ms(20);
	}
free_tok:
	json_tokener_free(c->tok);
	c->tok = NULL;
	return rc;
}

int dt_jconn_send(struct dt_jconn *c, json_object *o)
{
	const char *s =
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t len, done = 0;

	if (c->fd < 0)
		return -EPIPE;
	if (!s)
		return -ENOMEM;
	len = strlen(s);
	while (done <= len) {
		/* The object, then its newline. */
		const char *p = done < len ? s + done : "\n";
		size_t n = done < len ? len - done : 1;
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == ECONNRESET ? -EPIPE : -errno;
		done += (size_t)w;
	}
	return 0;
}

/* Tries to take one object out of the bytes already read. */
static int parse_buffered(struct dt_jconn *c, json_object **o)
{
	while (c->off < c->len) {
		size_t avail = c->len - c->off, used;
		enum json_tokener_error err;
		json_object *obj;

		obj =
		    json_tokener_parse_ex(c->tok, c->buf + c->off, (int)avail);
		err = json_tokener_get_error(c->tok);
		if (err == json_tokener_continue) {
			c->obj_bytes += avail;
			c->off = c->len;
			return c->obj_bytes > DT_JSON_MAX ? -EMSGSIZE : -EAGAIN;
		}
		if (err != json_tokener_success || !obj) {
			json_object_put(obj);
			return -EPROTO;
		}
		used = json_tokener_get_parse_end(c->tok);
		c->off += used > avail ? avail : used;
		c->obj_bytes = 0;
		json_tokener_reset(c->tok);
		if (json_object_is_type(obj, json_type_object)) {
			*o = obj;
			return 0;
		}
		json_object_put(obj); /* not ours to interpret */
	}
	return -EAGAIN;
}

int dt_jconn_recv(struct dt_jconn *c, json_object **o, uint32_t ms)
{
	uint64_t end = dt_now_ns() + (uint64_t)ms * 1000000u;

	*o = NULL;
	if (c->fd < 0)
		return -EPIPE;
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		uint64_t now;
		ssize_t n;
		int rc = parse_buffered(c, o);

		if (rc != -EAGAIN)
			return rc;
		c->off = c->len = 0;
		now = dt_now_ns();
		if (now >= end)
			return -ETIMEDOUT;
		rc = poll(&p, 1, (int)((end - now) / 1000000u) + 1);
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (rc <= 0)
			continue;
		n = read(c->fd, c->buf, sizeof(c->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ECONNRESET ? -EPIPE : -errno;
		if (!n)
			return -EPIPE;
		c->len = (size_t)n;
	}
}

void dt_jconn_close(struct dt_jconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->tok)
		json_tokener_free(c->tok);
	c->tok = NULL;
}
