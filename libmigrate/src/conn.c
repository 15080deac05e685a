/*
 * conn.c - a migration connection on a libuv loop: frames in, buffers out.
 *
 * All I/O happens in conn_pump(), which runs from the poll callback (a
 * socket is ready), from the idle handle (fd-less streams, and "kicks"
 * that resume work after the owner changed something), and never from
 * inside an owner's call: mig__conn_send() only queues and kicks, so the
 * owner is never re-entered while it is in the middle of its own code.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"

#define CONN_FRAMES_PER_PUMP 64  /* then yield to the loop's other work */
#define CONN_WATCHDOG_MS 100

static void conn_pump(struct mig__conn *c);
static void idle_cb(uv_idle_t *h);
static void pace_cb(uv_timer_t *h);
static void poll_cb(uv_poll_t *h, int status, int events);

/*
 * Errors in what the peer sent, as opposed to errors of the transport:
 * after one of these the stream still carries a last ERROR frame.
 */
static int protocol_error(int err)
{
	switch (err) {
	case MIG_EPROTO_MAGIC:
	case MIG_EPROTO_VERSION:
	case MIG_EFRAME_TYPE:
	case MIG_EFRAME_SIZE:
	case MIG_EFRAME_UNKNOWN:
	case MIG_EDECODE:
	case MIG_EUNEXPECTED:
		return 1;
	default:
		return 0;
	}
}

static void conn_fail(struct mig__conn *c, int err)
{
	if (c->dead)
		return;
	c->dead = 1;
	c->broken = !protocol_error(err);
	if (c->has_poll && c->poll_events)
		uv_poll_stop(&c->poll);
	c->poll_events = 0;
	uv_idle_stop(&c->idle);
	c->idle_active = 0;
	c->cbs.on_end(c, err);
}

static void conn_kick(struct mig__conn *c)
{
	if (c->dead || c->closing || c->idle_active)
		return;
	c->idle_active = 1;
	uv_idle_start(&c->idle, idle_cb);
}

static void idle_cb(uv_idle_t *h)
{
	struct mig__conn *c = h->data;

	/* Pollable streams only needed one pump; files run until idle. */
	uv_idle_stop(&c->idle);
	c->idle_active = 0;
	conn_pump(c);
}

static void release_buf(struct mig__outbuf *b)
{
	if (b->release)
		b->release(b);
}

/* Writes queued buffers until the stream would block or the queue empties. */
static int conn_flush(struct mig__conn *c, int ignore_bucket)
{
	while (c->head) {
		struct mig__outbuf *b = c->head;
		ssize_t n;

		if (c->bucket && !ignore_bucket && c->head_off == 0) {
			uint64_t now = mig__now_us();
			uint64_t wait = mig__bucket_take(c->bucket, b->len, now);

			if (wait) {
				c->paced = 1;
				uv_timer_start(&c->pace_timer, pace_cb,
					       MIG__DIV_ROUND_UP(wait, 1000), 0);
				return 0;
			}
		}
		c->paced = 0;
		n = mig__stream_write(c->stream, b->data + c->head_off,
				      b->len - c->head_off);
		if (n == MIG__AGAIN) {
			c->wr_want = c->stream->want;
			return 0;
		}
		if (n < 0)
			return (int)n;
		c->wr_want = 0;
		c->head_off += (size_t)n;
		c->out_bytes -= (uint64_t)n;
		c->last_tx_us = mig__now_us();
		if (c->head_off == b->len) {
			mig__dbg(c->log, "sent a buffer of %zu bytes", b->len);
			c->head = b->next;
			if (!c->head)
				c->tail = NULL;
			c->head_off = 0;
			release_buf(b);
			if (!c->head && c->cbs.on_drain) {
				c->cbs.on_drain(c);
				if (c->dead || c->closing)
					return 0;
			}
		}
	}
	return 0;
}

/* Delivers whole frames while the owner wants them, up to a budget. */
static int conn_read(struct mig__conn *c)
{
	int budget = CONN_FRAMES_PER_PUMP;

	while (c->reading && !c->dead && !c->closing) {
		struct mig__frame f;
		uint64_t before = c->stream->bytes_in;
		int rc = mig__frame_read(&c->reader, c->stream, &f);

		if (c->stream->bytes_in != before)
			c->last_rx_us = mig__now_us();
		if (rc == MIG__AGAIN) {
			c->rd_want = c->stream->want;
			return 0;
		}
		if (rc <= 0)
			return rc == 0 ? 1 : rc; /* 1: clean end of stream */
		c->rd_want = 0;
		mig__dbg(c->log, "received %s, %u bytes",
			 mig__frame_type_name(f.type), f.len);
		c->cbs.on_frame(c, &f);
		if (--budget == 0) {
			conn_kick(c);
			return 0;
		}
	}
	return 0;
}

static void conn_watch(struct mig__conn *c)
{
	int ev = 0;

	if (c->dead || c->closing)
		return;
	if (c->stream->fd < 0) {
		/* Files never block: keep pumping while there is work. */
		if (c->reading || (c->head && !c->paced))
			conn_kick(c);
		return;
	}
	if (c->handshaking) {
		ev = (c->stream->want & MIG__WANT_WRITE) ? UV_WRITABLE
							 : UV_READABLE;
	} else {
		if (c->reading)
			ev |= (c->rd_want & MIG__WANT_WRITE) ? UV_WRITABLE
							     : UV_READABLE;
		if (c->head && !c->paced)
			ev |= (c->wr_want & MIG__WANT_READ) ? UV_READABLE
							    : UV_WRITABLE;
	}
	if (ev == c->poll_events)
		return;
	if (ev)
		uv_poll_start(&c->poll, ev, poll_cb);
	else
		uv_poll_stop(&c->poll);
	c->poll_events = ev;
}

static void conn_pump(struct mig__conn *c)
{
	int rc;

	if (c->in_pump || c->dead || c->closing)
		return;
	c->in_pump = 1;
	if (!c->ready) {
		if (c->handshaking) {
			rc = mig__stream_handshake(c->stream);
			if (rc == MIG__AGAIN)
				goto out;
			if (rc < 0)
				goto fail;
			c->handshaking = 0;
			c->last_rx_us = mig__now_us();
		}
		c->ready = 1;
		c->cbs.on_ready(c);
		if (c->dead || c->closing)
			goto out;
	}
	rc = conn_flush(c, 0);
	if (rc < 0)
		goto fail;
	if (c->dead || c->closing)
		goto out;
	rc = conn_read(c);
	if (rc < 0)
		goto fail;
	if (c->dead || c->closing)
		goto out;
	/* Frames just handled may have queued replies. */
	if (conn_flush(c, 0) < 0 && !c->dead) {
		rc = c->stream->error ? c->stream->error : -EIO;
		goto fail;
	}
	if (rc == 1) {
		rc = 0; /* clean end of stream: the owner judges if expected */
		goto fail;
	}
out:
	c->in_pump = 0;
	conn_watch(c);
	return;
fail:
	c->in_pump = 0;
	conn_fail(c, rc);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct mig__conn *c = h->data;
	socklen_t len = sizeof(int);
	int soerr = 0;

	(void)events;
	if (status >= 0) {
		conn_pump(c);
		return;
	}
	/*
	 * libuv says UV_EBADF for any socket error and stops the handle.
	 * What the peer still sent (a TLS alert, an ERROR frame, an EOF) says
	 * more than that: read it first, then ask the socket itself.
	 */
	c->poll_events = 0;
	conn_pump(c);
	if (c->dead || c->closing)
		return;
	if (getsockopt(c->stream->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 &&
	    soerr)
		conn_fail(c, -soerr);
	else
		conn_fail(c, status == UV_EBADF ? -ECONNRESET : status);
}

static void pace_cb(uv_timer_t *h)
{
	struct mig__conn *c = h->data;

	c->paced = 0;
	conn_pump(c);
}

static void watchdog_cb(uv_timer_t *h)
{
	struct mig__conn *c = h->data;
	uint64_t now = mig__now_us();
	uint64_t limit = (uint64_t)c->timeout_ms * 1000u;

	if (c->dead || c->closing || !limit)
		return;
	if ((c->expect_peer || c->handshaking) && now - c->last_rx_us > limit) {
		mig__err(c->log, "no word from the peer for %u ms",
			 c->timeout_ms);
		conn_fail(c, MIG_ETIMEDOUT);
		return;
	}
	if (c->head && !c->paced && now - c->last_tx_us > limit) {
		mig__err(c->log, "the peer has not read for %u ms",
			 c->timeout_ms);
		conn_fail(c, MIG_ETIMEDOUT);
	}
}

int mig__conn_start(struct mig__conn *c, uv_loop_t *loop,
		    struct mig__stream *stream, int expect_stream_hdr,
		    const struct mig__conn_cbs *cbs, void *owner,
		    const struct mig__log *log, uint32_t timeout_ms)
{
	int rc;

	memset(c, 0, sizeof(*c));
	if (stream->fd >= 0) {
		rc = uv_poll_init(loop, &c->poll, stream->fd);
		if (rc < 0) {
			mig__stream_destroy(stream);
			return rc;
		}
		c->poll.data = c;
		c->has_poll = 1;
		c->handles_open++;
	}
	c->loop = loop;
	c->stream = stream;
	c->cbs = *cbs;
	c->owner = owner;
	c->log = log;
	c->timeout_ms = timeout_ms;
	c->reading = 1;
	c->handshaking = stream->ops->handshake != NULL;
	c->last_rx_us = c->last_tx_us = mig__now_us();
	mig__frame_reader_init(&c->reader, expect_stream_hdr);

	uv_idle_init(loop, &c->idle);
	c->idle.data = c;
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	uv_timer_init(loop, &c->pace_timer);
	c->pace_timer.data = c;
	c->handles_open += 3;
	uv_timer_start(&c->timer, watchdog_cb, CONN_WATCHDOG_MS,
		       CONN_WATCHDOG_MS);
	conn_kick(c);
	return 0;
}

void mig__conn_send(struct mig__conn *c, struct mig__outbuf *b)
{
	if (c->broken || c->closing) {
		release_buf(b);
		return;
	}
	b->next = NULL;
	if (!c->head)
		c->last_tx_us = mig__now_us(); /* the stall clock starts now */
	if (c->tail)
		c->tail->next = b;
	else
		c->head = b;
	c->tail = b;
	c->out_bytes += b->len;
	if (!c->in_pump)
		conn_kick(c);
}

struct owned_buf {
	struct mig__outbuf b;
	uint8_t *data;
};

static void owned_release(struct mig__outbuf *b)
{
	struct owned_buf *o = (struct owned_buf *)b;

	free(o->data);
	free(o);
}

int mig__conn_send_owned(struct mig__conn *c, uint8_t *data, size_t len)
{
	struct owned_buf *o = calloc(1, sizeof(*o));

	if (!o) {
		free(data);
		return -ENOMEM;
	}
	o->data = data;
	o->b.data = data;
	o->b.len = len;
	o->b.release = owned_release;
	mig__conn_send(c, &o->b);
	return 0;
}

void mig__conn_read_enable(struct mig__conn *c, int on)
{
	if (c->reading == !!on)
		return;
	c->reading = !!on;
	/* TLS may hold decrypted bytes the socket will not signal again. */
	if (on && !c->in_pump)
		conn_kick(c);
	else if (!c->in_pump)
		conn_watch(c);
}

void mig__conn_expect_peer(struct mig__conn *c, int on)
{
	if (on && !c->expect_peer)
		c->last_rx_us = mig__now_us();
	c->expect_peer = on;
}

int mig__conn_drop_unsent(struct mig__conn *c)
{
	struct mig__outbuf *keep = NULL, *b, *next;

	b = c->head;
	if (b && c->head_off) {
		keep = b; /* half written: it must finish or the stream dies */
		b = b->next;
		keep->next = NULL;
	}
	for (; b; b = next) {
		next = b->next;
		c->out_bytes -= b->len;
		release_buf(b);
	}
	c->head = c->tail = keep;
	return keep == NULL;
}

int mig__conn_flush_now(struct mig__conn *c)
{
	if (c->broken || c->closing)
		return -EPIPE;
	if (conn_flush(c, 1) < 0)
		return -EIO;
	return c->head ? MIG__AGAIN : 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct mig__conn *c = h->data;

	if (--c->handles_open == 0 && c->on_closed)
		c->on_closed(c);
}

void mig__conn_close(struct mig__conn *c,
		     void (*on_closed)(struct mig__conn *c))
{
	struct mig__outbuf *b, *next;

	if (c->closing)
		return;
	c->closing = 1;
	c->dead = 1;
	c->on_closed = on_closed;
	if (c->has_poll) {
		/* The fd must not be closed while it is being polled. */
		uv_poll_stop(&c->poll);
		uv_close((uv_handle_t *)&c->poll, handle_closed);
	}
	for (b = c->head; b; b = next) {
		next = b->next;
		release_buf(b);
	}
	c->head = c->tail = NULL;
	c->out_bytes = 0;
	mig__frame_reader_fini(&c->reader);
	mig__stream_destroy(c->stream);
	c->stream = NULL;
	uv_close((uv_handle_t *)&c->idle, handle_closed);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
	uv_close((uv_handle_t *)&c->pace_timer, handle_closed);
}
