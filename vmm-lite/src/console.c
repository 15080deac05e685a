/* console.c: input to the guest's serial console (see console.h). */
#include "console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ESCAPE_KEY 0x01    /* Ctrl-A */
#define DRAIN_MS 5         /* a 64-byte FIFO at this period: ~12 KiB/s */

struct vmm_console {
	uv_loop_t *loop;
	union {
		uv_tty_t tty;
		uv_pipe_t pipe;
	} in;
	int in_kind;           /* UV_TTY, UV_NAMED_PIPE, or 0: no stdin */
	int escape;            /* the last key was Ctrl-A (terminal only) */
	int throttled;         /* reading paused: the backlog is full */
	uv_timer_t drain;
	int open_handles;
	int stopping;

	uint8_t *backlog;      /* VMM_CONSOLE_BACKLOG bytes, a plain queue */
	size_t head, len;

	vmm_console_sink_fn sink;
	vmm_console_quit_fn quit;
	void *opaque;
	char read_buf[4096];
};

static void on_closed(uv_handle_t *h)
{
	struct vmm_console *c = h->data;

	if (--c->open_handles == 0) {
		free(c->backlog);
		free(c);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_drain(uv_timer_t *t);

/* Hands the guest what it takes now; the timer retries the rest. */
static void drain(struct vmm_console *c)
{
	size_t n;

	while (c->len) {
		n = c->sink(c->opaque, c->backlog + c->head, c->len);
		if (!n)
			break;
		c->head += n;
		c->len -= n;
	}
	if (!c->len) {
		c->head = 0;
		uv_timer_stop(&c->drain);
	} else if (!uv_is_active((uv_handle_t *)&c->drain)) {
		uv_timer_start(&c->drain, on_drain, DRAIN_MS, DRAIN_MS);
	}
	if (c->throttled && c->len < VMM_CONSOLE_BACKLOG && !c->stopping) {
		c->throttled = 0;
		uv_read_start((uv_stream_t *)&c->in, on_alloc, on_read);
	}
}

static void on_drain(uv_timer_t *t)
{
	drain(t->data);
}

static int enqueue(struct vmm_console *c, const uint8_t *buf, size_t len)
{
	if (len > VMM_CONSOLE_BACKLOG - c->len)
		return -ENOBUFS;
	if (c->head + c->len + len > VMM_CONSOLE_BACKLOG) {
		memmove(c->backlog, c->backlog + c->head, c->len);
		c->head = 0;
	}
	memcpy(c->backlog + c->head + c->len, buf, len);
	c->len += len;
	drain(c);
	return 0;
}

int vmm_console_write(struct vmm_console *c, const uint8_t *buf, size_t len)
{
	return enqueue(c, buf, len);
}

/* A terminal's keys, with the Ctrl-A escape taken out. */
static void keys(struct vmm_console *c, const uint8_t *buf, size_t len)
{
	uint8_t out[sizeof(c->read_buf)];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (c->escape) {
			c->escape = 0;
			if (buf[i] == 'x' || buf[i] == 'X') {
				c->quit(c->opaque);
				return;
			}
			if (buf[i] == ESCAPE_KEY)
				out[n++] = ESCAPE_KEY;
			continue;  /* an unknown escape is swallowed */
		}
		if (buf[i] == ESCAPE_KEY)
			c->escape = 1;
		else
			out[n++] = buf[i];
	}
	/* Fits: on_alloc offered no more than the backlog's room. */
	(void)enqueue(c, out, n);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct vmm_console *c = h->data;

	size_t room = VMM_CONSOLE_BACKLOG - c->len;

	/* Never read more than the backlog holds: input waits in the pipe
	 * (or the terminal) instead of being dropped. */
	(void)suggested;
	buf->base = c->read_buf;
	buf->len = room < sizeof(c->read_buf) ? room : sizeof(c->read_buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct vmm_console *c = s->data;

	if (n == UV_ENOBUFS) {
		uv_read_stop(s);
		c->throttled = 1;
		return;
	}
	if (n < 0) {
		/* End of input, or an error: the guest keeps running, the
		 * control socket's console command still works. */
		uv_read_stop(s);
		return;
	}
	if (c->in_kind == UV_TTY)
		keys(c, (const uint8_t *)buf->base, (size_t)n);
	else
		(void)enqueue(c, (const uint8_t *)buf->base, (size_t)n);
}

static int open_stdin(struct vmm_console *c)
{
	uv_handle_type t = uv_guess_handle(STDIN_FILENO);
	int r;

	if (t == UV_TTY)
		r = uv_tty_init(c->loop, &c->in.tty, STDIN_FILENO, 1);
	else if (t == UV_NAMED_PIPE)
		r = uv_pipe_init(c->loop, &c->in.pipe, 0);
	else
		return 0;
	if (r)
		return r;
	/* From here on vmm_console_stop closes the handle. */
	c->in_kind = (int)t;
	c->in.tty.data = c;
	c->open_handles++;
	if (t == UV_TTY)
		r = uv_tty_set_mode(&c->in.tty, UV_TTY_MODE_RAW);
	else
		r = uv_pipe_open(&c->in.pipe, STDIN_FILENO);
	if (r)
		return r;
	return uv_read_start((uv_stream_t *)&c->in, on_alloc, on_read);
}

int vmm_console_start(struct vmm_console **out, uv_loop_t *loop, int read_stdin,
		      vmm_console_sink_fn sink, vmm_console_quit_fn quit, void *opaque)
{
	struct vmm_console *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->backlog = malloc(VMM_CONSOLE_BACKLOG);
	if (!c->backlog) {
		free(c);
		return -ENOMEM;
	}
	c->loop = loop;
	c->sink = sink;
	c->quit = quit;
	c->opaque = opaque;
	uv_timer_init(loop, &c->drain);
	c->drain.data = c;
	c->open_handles = 1;
	r = read_stdin ? open_stdin(c) : 0;
	if (r) {
		vmm_console_stop(c);
		return r;
	}
	*out = c;
	return 0;
}

void vmm_console_stop(struct vmm_console *c)
{
	if (!c || c->stopping)
		return;
	c->stopping = 1;
	if (c->in_kind == UV_TTY)
		uv_tty_reset_mode();
	if (c->in_kind)
		uv_close((uv_handle_t *)&c->in, on_closed);
	uv_close((uv_handle_t *)&c->drain, on_closed);
}
