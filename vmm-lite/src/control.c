/*
 * control.c: the control socket's transport (see control.h). Requests are
 * answered in order; a client that sends garbage gets an error answer, one
 * that sends an overlong line is disconnected.
 */
#include "control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct client {
	uv_pipe_t pipe;
	struct vmm_control *ctl;
	struct client *next;
	size_t len;
	char buf[VMM_CONTROL_LINE_MAX + 1];
};

struct vmm_control {
	uv_pipe_t server;
	char *path;
	vmm_control_fn fn;
	void *opaque;
	struct client *clients;
	int open_handles;
	vmm_control_auth_fn auth;
	void *auth_opaque;
};

struct write_req {
	uv_write_t req;
	char *text;
};

struct json_object *vmm_control_ok(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

struct json_object *vmm_control_error(const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

static void maybe_free(struct vmm_control *c)
{
	if (c->open_handles == 0) {
		free(c->path);
		free(c);
	}
}

static void on_client_closed(uv_handle_t *h)
{
	struct client *cl = h->data;
	struct vmm_control *c = cl->ctl;
	struct client **pp;

	for (pp = &c->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	free(cl);
	c->open_handles--;
	maybe_free(c);
}

static void close_client(struct client *cl)
{
	if (!uv_is_closing((uv_handle_t *)&cl->pipe))
		uv_close((uv_handle_t *)&cl->pipe, on_client_closed);
}

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;

	(void)status; /* a client gone mid-answer is its own business */
	free(w->text);
	free(w);
}

static void send_answer(struct client *cl, struct json_object *answer)
{
	const char *s = json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PLAIN);
	struct write_req *w = malloc(sizeof(*w));
	size_t n = strlen(s);
	uv_buf_t b;

	if (!w || !(w->text = malloc(n + 2))) {
		free(w);
		close_client(cl);
		return;
	}
	memcpy(w->text, s, n);
	w->text[n] = '\n';
	b = uv_buf_init(w->text, (unsigned int)(n + 1));
	if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &b, 1, on_written)) {
		free(w->text);
		free(w);
		close_client(cl);
	}
}

static void handle_line(struct client *cl, const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(16);
	struct json_object *req = NULL, *answer;

	if (tok) {
		req = json_tokener_parse_ex(tok, line, (int)len);
		json_tokener_free(tok);
	}
	if (!req || !json_object_is_type(req, json_type_object))
		answer = vmm_control_error("a request is one JSON object on one line");
	else
		answer = cl->ctl->fn(cl->ctl->opaque, req);
	json_object_put(req);
	send_answer(cl, answer);
	json_object_put(answer);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct client *cl = h->data;

	(void)hint;
	*buf = uv_buf_init(cl->buf + cl->len, (unsigned int)(VMM_CONTROL_LINE_MAX - cl->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *cl = s->data;
	char *start, *nl;

	(void)buf;
	if (n < 0) {
		close_client(cl);
		return;
	}
	cl->len += (size_t)n;
	start = cl->buf;
	while ((nl = memchr(start, '\n', cl->len - (size_t)(start - cl->buf)))) {
		size_t len = (size_t)(nl - start);

		if (len && start[len - 1] == '\r')
			len--;
		if (len)
			handle_line(cl, start, len);
		start = nl + 1;
	}
	cl->len -= (size_t)(start - cl->buf);
	memmove(cl->buf, start, cl->len);
	if (cl->len == VMM_CONTROL_LINE_MAX) {
		struct json_object *a = vmm_control_error("request longer than %d bytes",
							  VMM_CONTROL_LINE_MAX);

		send_answer(cl, a);
		json_object_put(a);
		close_client(cl);
	}
}

static void finish_client(struct client *cl);

/* 1 if the peer of a new connection may send commands; else answers it
 * with the reason. */
static int authorized(struct client *cl)
{
	struct vmm_control *c = cl->ctl;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct json_object *a;
	char why[256] = "refused";
	uv_os_fd_t fd;

	if (!c->auth)
		return 1;
	if (!uv_fileno((uv_handle_t *)&cl->pipe, &fd) &&
	    !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) &&
	    c->auth(c->auth_opaque, cred.pid, cred.uid, cred.gid, why, sizeof(why)))
		return 1;
	a = vmm_control_error("%s", why);
	send_answer(cl, a);
	json_object_put(a);
	return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct vmm_control *c = server->data;
	struct client *cl;

	if (status < 0)
		return;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return;
	cl->ctl = c;
	uv_pipe_init(server->loop, &cl->pipe, 0);
	cl->pipe.data = cl;
	c->open_handles++;
	cl->next = c->clients;
	c->clients = cl;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe)) {
		close_client(cl);
		return;
	}
	if (!authorized(cl)) {
		finish_client(cl);
		return;
	}
	if (uv_read_start((uv_stream_t *)&cl->pipe, on_alloc, on_read))
		close_client(cl);
}

static void on_server_closed(uv_handle_t *h)
{
	struct vmm_control *c = h->data;

	c->open_handles--;
	maybe_free(c);
}

int vmm_control_start(struct vmm_control **out, uv_loop_t *loop,
		      const char *path, vmm_control_fn fn, void *opaque)
{
	struct vmm_control *c;
	mode_t old;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->path = strdup(path);
	if (!c->path) {
		free(c);
		return -ENOMEM;
	}
	c->fn = fn;
	c->opaque = opaque;
	r = uv_pipe_init(loop, &c->server, 0);
	if (r)
		goto fail_free;
	c->server.data = c;
	c->open_handles = 1;
	unlink(path);
	/* Created 0600 from the start: no window where others may connect. */
	old = umask(0177);
	r = uv_pipe_bind(&c->server, path);
	umask(old);
	if (!r)
		r = uv_listen((uv_stream_t *)&c->server, 8, on_connection);
	if (r) {
		uv_close((uv_handle_t *)&c->server, on_server_closed);
		return r;
	}
	*out = c;
	return 0;
fail_free:
	free(c->path);
	free(c);
	return r;
}

int vmm_control_share(struct vmm_control *c, gid_t gid, vmm_control_auth_fn auth,
		      void *opaque)
{
	c->auth = auth;
	c->auth_opaque = opaque;
	if (gid == (gid_t)-1)
		return 0;
	if (chown(c->path, (uid_t)-1, gid) || chmod(c->path, 0660))
		return -errno;
	return 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct client *cl = req->handle->data;

	(void)status;
	free(req);
	close_client(cl);
}

/* Closes a client once the answers queued for it have left (uv_close
 * alone would cancel them: "quit" must still be answered). */
static void finish_client(struct client *cl)
{
	uv_shutdown_t *req = malloc(sizeof(*req));

	if (uv_is_closing((uv_handle_t *)&cl->pipe))
		goto out_free;
	uv_read_stop((uv_stream_t *)&cl->pipe);
	if (req && !uv_shutdown(req, (uv_stream_t *)&cl->pipe, on_shutdown))
		return;
	close_client(cl);
out_free:
	free(req);
}

void vmm_control_stop(struct vmm_control *c)
{
	if (!c)
		return;
	unlink(c->path);
	for (struct client *cl = c->clients; cl; cl = cl->next)
		finish_client(cl);
	uv_close((uv_handle_t *)&c->server, on_server_closed);
}
