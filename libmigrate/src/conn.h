/*
 * conn.h - one migration connection driven by a libuv loop.
 *
 * A conn owns a stream (TLS socket, or a file for stop/restart), reads
 * frames from it and hands each whole frame to its owner, and writes a
 * queue of outgoing buffers in order. Sockets are watched with uv_poll;
 * streams without a pollable fd (files) are driven from a uv_idle handle.
 * Everything here runs on the loop thread.
 *
 * Back-pressure: the owner stops reading (mig__conn_read_enable(c, 0))
 * while its workers are busy, and watches out_bytes to stop producing.
 * A token bucket, if set, paces the bytes that reach the stream.
 */
#ifndef MIG_CONN_H
#define MIG_CONN_H

#include <uv.h>

#include "frame.h"
#include "policy.h"

struct mig__conn;

/* One queued outgoing buffer; `release` gives it back to its owner. */
struct mig__outbuf {
	struct mig__outbuf *next;
	const uint8_t *data;
	size_t len;
	void (*release)(struct mig__outbuf *b);
	void *owner;
};

struct mig__conn_cbs {
	/* The TLS handshake (if any) finished; frames may flow. */
	void (*on_ready)(struct mig__conn *c);
	/* A whole frame arrived; the callee owns f->body. */
	void (*on_frame)(struct mig__conn *c, struct mig__frame *f);
	/*
	 * The connection failed or ended: err is a negative code, or 0 for a
	 * clean end of stream between frames. Called once; the conn is dead
	 * afterwards (only mig__conn_close may follow).
	 */
	void (*on_end)(struct mig__conn *c, int err);
	/* The output queue became empty. May be NULL. */
	void (*on_drain)(struct mig__conn *c);
};

struct mig__conn {
	uv_loop_t *loop;
	struct mig__stream *stream;
	struct mig__conn_cbs cbs;
	void *owner;
	const struct mig__log *log;

	uv_poll_t poll;        /* used when stream->fd >= 0 */
	uv_idle_t idle;        /* drives fd-less streams, and kicks */
	uv_timer_t timer;      /* peer timeout watchdog */
	uv_timer_t pace_timer; /* wakes the writer when the bucket refills */
	int handles_open;      /* handles still to close */
	int poll_events;       /* what poll currently watches */
	int rd_want;           /* what the last read waits for */
	int wr_want;           /* what the last write waits for */
	int paced;             /* the bucket holds the next buffer back */
	int has_poll;          /* poll was initialised (fd >= 0) */
	int handshaking;
	int ready;             /* on_ready was called */
	int reading;           /* owner wants frames */
	int dead;              /* on_end was called */
	int broken;            /* ... and the transport itself failed */
	int closing;
	int in_pump;           /* re-entrancy guard */
	int idle_active;

	struct mig__frame_reader reader;

	struct mig__outbuf *head;
	struct mig__outbuf *tail;
	size_t head_off;       /* bytes of head already written */
	uint64_t out_bytes;    /* queued and not yet written */

	struct mig__bucket *bucket; /* pacing; NULL = unlimited */
	uint64_t paced_until_us;

	uint32_t timeout_ms;   /* 0 = no peer timeout */
	int expect_peer;       /* a reply is awaited: time it out */
	uint64_t last_rx_us;   /* last byte received */
	uint64_t last_tx_us;   /* last byte written (or queue start) */
	void (*on_closed)(struct mig__conn *c); /* after mig__conn_close */
};

/*
 * Starts a conn on `loop` over `stream` (ownership passes to the conn).
 * `expect_stream_hdr`: the peer's stream header comes first. Reading is
 * on. Returns 0, or a libuv error (negative errno); on error the stream
 * is destroyed and there is nothing to close.
 */
int mig__conn_start(struct mig__conn *c, uv_loop_t *loop,
		    struct mig__stream *stream, int expect_stream_hdr,
		    const struct mig__conn_cbs *cbs, void *owner,
		    const struct mig__log *log, uint32_t timeout_ms);

/*
 * Queues `b` for writing after everything already queued. After on_end
 * for a protocol error (not a transport failure) a last frame may still
 * be queued and pushed out with mig__conn_flush_now().
 */
void mig__conn_send(struct mig__conn *c, struct mig__outbuf *b);

/*
 * Queues a malloc'd buffer (a frame from msg.h); the conn frees it once
 * written or dropped. Returns 0 or -ENOMEM (then `data` was freed).
 */
int mig__conn_send_owned(struct mig__conn *c, uint8_t *data, size_t len);

/* Turns frame delivery on or off (back-pressure). */
void mig__conn_read_enable(struct mig__conn *c, int on);

/* Sets whether the owner awaits the peer (arms the peer timeout). */
void mig__conn_expect_peer(struct mig__conn *c, int on);

/*
 * Drops queued buffers that have not started to go out; returns whether
 * the stream is at a frame boundary (nothing half written), i.e. whether
 * a last frame (ABORT, ERROR) can still be sent cleanly.
 */
int mig__conn_drop_unsent(struct mig__conn *c);

/*
 * Tries once, without waiting, to write everything queued. Used for a
 * last frame before closing. Returns 0 if all went out.
 */
int mig__conn_flush_now(struct mig__conn *c);

/*
 * Stops all I/O, destroys the stream and releases queued buffers; the
 * handles close asynchronously and `on_closed` (may be NULL) runs when
 * they have. Safe to call once, in any state after start.
 */
void mig__conn_close(struct mig__conn *c,
		     void (*on_closed)(struct mig__conn *c));

#endif /* MIG_CONN_H */
