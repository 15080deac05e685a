/*
 * ctl_conn.c - migratectl's side of the control socket (see ctl_conn.h).
 * Every failure to reach migrated is told in words the operator can act
 * on; the daemon's own error sentences are printed as they are.
 */
#include "ctl_conn.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void ctl_conn_init(struct ctl_conn *c, const char *path, int json)
{
	memset(c, 0, sizeof(*c));
	c->path = path;
	c->json = json;
	c->fd = -1;
}

void ctl_conn_close(struct ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

/* Says who may use the socket, from its owner, group and mode. */
static void explain_eacces(const char *path)
{
	char owner[64], group[64];
	struct passwd *pw;
	struct group *gr;
	struct stat st;

	if (stat(path, &st)) {
		fprintf(stderr,
			"migratectl: cannot reach migrated at %s: %s on a "
			"directory of that path\n",
			path, strerror(errno));
		return;
	}
	pw = getpwuid(st.st_uid);
	gr = getgrgid(st.st_gid);
	if (pw)
		snprintf(owner, sizeof(owner), "%s", pw->pw_name);
	else
		snprintf(owner, sizeof(owner), "uid %u", (unsigned)st.st_uid);
	if (gr)
		snprintf(group, sizeof(group), "%s", gr->gr_name);
	else
		snprintf(group, sizeof(group), "gid %u", (unsigned)st.st_gid);
	fprintf(stderr,
		"migratectl: cannot use migrated at %s: permission denied — "
		"the socket belongs to %s:%s (mode %04o); ",
		path, owner, group, (unsigned)(st.st_mode & 07777));
	if (st.st_mode & S_IWGRP)
		fprintf(stderr,
			"run migratectl as %s or as a member of group %s\n",
			owner, group);
	else
		fprintf(stderr,
			"only %s may use it (members of a group may, with "
			"\"group = NAME\" in the [control] section of "
			"migrated.conf)\n",
			owner);
}

static int conn_connect(struct ctl_conn *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(c->path);
	int fd, err;

	if (n >= sizeof(sa.sun_path)) {
		fprintf(stderr, "migratectl: socket path too long: %s\n",
			c->path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, c->path, n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = errno;
		fprintf(stderr, "migratectl: socket: %s\n", strerror(err));
		return -err;
	}
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		c->fd = fd;
		return 0;
	}
	err = errno;
	close(fd);
	if (err == EACCES || err == EPERM)
		explain_eacces(c->path);
	else if (err == ENOENT || err == ECONNREFUSED)
		fprintf(stderr,
			"migratectl: cannot reach migrated at %s: %s — is "
			"migrated running?\n",
			c->path,
			err == ENOENT ? "no such socket" : "connection refused");
	else
		fprintf(stderr, "migratectl: cannot reach migrated at %s: %s\n",
			c->path, strerror(err));
	return -err;
}

static int send_all(struct ctl_conn *c, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Room to receive into, growing the buffer up to CTL_ANSWER_MAX. */
static int reserve(struct ctl_conn *c)
{
	size_t cap;
	char *b;

	if (c->len < c->cap)
		return 0;
	if (c->cap >= CTL_ANSWER_MAX)
		return -EMSGSIZE;
	cap = c->cap ? c->cap * 2 : 65536;
	cap = cap > CTL_ANSWER_MAX ? CTL_ANSWER_MAX : cap;
	b = realloc(c->buf, cap);
	if (!b)
		return -ENOMEM;
	c->buf = b;
	c->cap = cap;
	return 0;
}

/* Reads until a full line is buffered; returns its length (no '\n'). */
static long read_line(struct ctl_conn *c)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t r;
		int n;

		if (nl)
			return nl - c->buf;
		n = reserve(c);
		if (n)
			return n;
		n = poll(&p, 1, CTL_ANSWER_TIMEOUT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		c->len += (size_t)r;
	}
}

static void transport_error(const struct ctl_conn *c, int err)
{
	if (err == -ECONNRESET || err == -EPIPE)
		fprintf(stderr,
			"migratectl: migrated at %s closed the connection (did "
			"it stop?)\n",
			c->path);
	else if (err == -ETIMEDOUT)
		fprintf(stderr,
			"migratectl: migrated at %s did not answer within %d s\n",
			c->path, CTL_ANSWER_TIMEOUT / 1000);
	else if (err == -EMSGSIZE)
		fprintf(stderr,
			"migratectl: migrated's answer is longer than %u MiB\n",
			CTL_ANSWER_MAX >> 20);
	else if (err == -EBADMSG)
		fprintf(stderr, "migratectl: migrated's answer is not a JSON "
				"object with \"ok\"\n");
	else
		fprintf(stderr, "migratectl: talking to migrated at %s: %s\n",
			c->path, strerror(-err));
}

/* Parses the line of n bytes at the head of the buffer and consumes it. */
static int take_answer(struct ctl_conn *c, size_t n, json_object **ans)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *ok;
	int rc = 0;

	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, c->buf, (int)n);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_object_get_ex(o, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean)) {
		json_object_put(o);
		o = NULL;
		rc = -EBADMSG;
	}
	json_tokener_free(tok);
	memmove(c->buf, c->buf + n + 1, c->len - n - 1);
	c->len -= n + 1;
	*ans = o;
	return rc;
}

int ctl_call(struct ctl_conn *c, json_object *req, json_object **ans)
{
	const char *text;
	char *line;
	long n;
	int rc;

	*ans = NULL;
	if (c->fd < 0) {
		rc = conn_connect(c);
		if (rc) {
			json_object_put(req);
			return rc; /* conn_connect said why */
		}
	}
	text = json_object_to_json_string_ext(
		req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	/* The line and its newline in one send: one request, one write. */
	n = (long)strlen(text);
	line = malloc((size_t)n + 1);
	if (line) {
		memcpy(line, text, (size_t)n);
		line[n] = '\n';
		rc = send_all(c, line, (size_t)n + 1);
		free(line);
	} else {
		rc = -ENOMEM;
	}
	json_object_put(req);
	if (rc)
		goto out_error;
	n = read_line(c);
	if (n < 0) {
		rc = (int)n;
		goto out_error;
	}
	rc = take_answer(c, (size_t)n, ans);
out_error:
	if (rc)
		transport_error(c, rc);
	return rc;
}

int ctl_answer_ok(json_object *ans)
{
	json_object *ok;

	return json_object_object_get_ex(ans, "ok", &ok) &&
	       json_object_get_boolean(ok);
}

void ctl_print_error(json_object *ans)
{
	const char *s = "migrated refused without saying why";
	json_object *e;

	if (json_object_object_get_ex(ans, "error", &e) &&
	    json_object_is_type(e, json_type_string))
		s = json_object_get_string(e);
	fprintf(stderr, "migratectl: %s\n", s);
}

void ctl_print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

int ctl_request(struct ctl_conn *c, json_object *req, json_object **ans)
{
	json_object *a;

	*ans = NULL;
	if (ctl_call(c, req, &a))
		return CTL_EXIT_USAGE;
	if (c->json)
		ctl_print_json(a);
	if (!ctl_answer_ok(a)) {
		if (!c->json)
			ctl_print_error(a);
		json_object_put(a);
		return 1;
	}
	*ans = a;
	return 0;
}

json_object *ctl_req_new(const char *cmd)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "cmd", json_object_new_string(cmd));
	return o;
}
