/*
 * target.h - the incoming migration's private state, shared by target.c
 * (the handle's lifecycle, listening and accepting) and target_steps.c
 * (the protocol steps, on the loop).
 */
#ifndef MIG_TARGET_H
#define MIG_TARGET_H

#include <openssl/ssl.h>

#include "address.h"
#include "codec.h"
#include "conn.h"
#include "session.h"

#define TARGET_MAX_DECODES 4 /* batches being applied at once */

enum tgt_state {
	T_LISTEN = 0,
	T_HELLO,          /* awaiting hello */
	T_PAGES,          /* receiving page batches */
	T_AWAIT_COMMIT,   /* ready sent */
	T_DONE,
	T_FAILED,
};

struct decode_job {
	uv_work_t work;
	struct mig_target *t;
	struct mig__frame f;
	struct mig__batch_stats st;
	int rc;
};

struct mig_target {
	struct mig__session ses;
	struct mig__addr addr;
	int file_mode;
	int lfd;                  /* listening socket, -1 if none */
	uv_poll_t lpoll;
	int lpoll_open;
	SSL_CTX *tls;

	struct mig__conn conn;
	int conn_open;

	enum tgt_state st;
	int finished;
	int result;
	int guest_created;
	int discard;              /* destroy the guest once workers are done */
	int told_peer;            /* the source already has our last word */
	uint32_t caps;
	const struct mig_region *regions;
	size_t nregions;

	unsigned in_flight;       /* decode jobs */
	uint8_t *pool;            /* free page-batch buffers, linked */
	/* per region: pages this migration wrote (for ZERO pages) */
	_Atomic uint64_t *written[MIG_MAX_REGIONS];
	struct mig__frame fence;  /* ROUND_END/FINAL_STATE waiting for them */
	int fenced;
	struct mig_round_stats rs;
	int rs_open;              /* a batch of the current round arrived */
	uint32_t next_round;      /* the lowest round number still to come */
	uint64_t round_start_us;
	uint64_t pages_received;
};

/*
 * Ends the incoming migration with an error: tells the source (when the
 * stream still carries a frame) and marks the guest for discarding once
 * no worker writes into it. Loop thread.
 */
void mig__target_fail(struct mig_target *t, int err, const char *fmt, ...)
	MIG__PRINTF(3, 4);

/* Starts the protocol on a new stream (ownership passes). */
int mig__target_start_conn(struct mig_target *t, struct mig__stream *stream);

/* Frees the page-batch buffer pool, once the loop has run down. */
void mig__target_free_pool(struct mig_target *t);

/* Loop callbacks: a cancel request, and the statistics refresh. */
void mig__target_cancel_cb(uv_async_t *h);
void mig__target_tick_cb(uv_timer_t *h);

#endif /* MIG_TARGET_H */
