/*
 * source.h - the outgoing migration's private state, shared by
 * source.c (the handle's lifecycle and the connection set-up) and
 * source_steps.c (the protocol steps, on the loop).
 */
#ifndef MIG_SOURCE_H
#define MIG_SOURCE_H

#include <openssl/ssl.h>

#include "address.h"
#include "sender.h"
#include "session.h"

enum src_state {
	S_IDLE = 0,
	S_HELLO,         /* hello sent, awaiting the reply */
	S_CREATING,      /* accepted, awaiting "guest created" */
	S_READONLY,      /* round 0: read-only regions */
	S_ITERATE,       /* first pass and dirty rounds */
	S_DRAINING,      /* switching over: earlier rounds still leaving */
	S_FROZEN,        /* guest paused, last pages */
	S_AWAIT_READY,   /* final state sent */
	S_AWAIT_RUNNING, /* committed */
	S_FLUSHING,      /* file image: waiting for the data to be durable */
	S_DONE,
	S_FAILED,
	S_UNDETERMINED,
};

struct mig_source {
	struct mig__session ses;
	const struct mig_dirty_ops *dops;
	void *tracker;

	struct mig__addr addr;
	int file_mode;
	struct mig_guest_desc desc;
	SSL_CTX *tls;

	struct mig__conn conn;
	int conn_open;
	struct mig__sender snd;
	int snd_ready;
	struct mig__policy policy;
	struct mig__rate bw;
	struct mig__bucket bucket;

	enum src_state st;
	int ran;
	int finished;
	int result;
	int tracking;
	int paused;
	uint32_t round;
	uint64_t round_start_us;
	uint64_t t_hello_us;
	uint64_t rtt_us;
	uint64_t t_freeze_us;
	uint64_t t_fetch_us;
	uint64_t state_bytes_est;
	uint64_t freeze_expected_us; /* the estimate that decided to freeze */
	int freeze_forced;
};

/* Connection callbacks of the protocol steps. */
extern const struct mig__conn_cbs mig__source_conn_cbs;

/* Sender callback: a round is encoded and queued (source_steps.c). */
void mig__source_round_sent(struct mig__sender *snd);

/* Loop callbacks: a cancel request, and the statistics refresh. */
void mig__source_cancel_cb(uv_async_t *h);
void mig__source_tick_cb(uv_timer_t *h);

/*
 * Ends the migration with an error: before commit (or when the target
 * said it discarded its copy) the guest resumes; after commit it stays
 * paused and the outcome is undetermined. Loop thread.
 */
void mig__source_fail(struct mig_source *s, int err, int discarded,
		      const char *fmt, ...) MIG__PRINTF(4, 5);

#endif /* MIG_SOURCE_H */
