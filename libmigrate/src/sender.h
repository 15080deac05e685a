/*
 * sender.h - the source's page pump.
 *
 * A round is a set of pages (a bitmap per region) to send. The sender
 * walks it in batches of up to MIG__BATCH_MAX_PAGES pages, encodes each
 * batch on libuv's thread pool (zero detection, LZ4) into a buffer from a
 * small pool, and queues the finished frames on the connection. Encoding
 * and sending overlap: the loop thread encrypts and writes one batch while
 * the workers encode the next ones. A page's dirty bit is cleared in the
 * round's bitmap when its batch is cut, before its memory is read, so a
 * write that lands during encoding is caught by the next dirty fetch.
 *
 * Batches of one round may reach the wire in any order (each page appears
 * once per round); the owner closes a round with ROUND_END, which the
 * target uses as a fence.
 */
#ifndef MIG_SENDER_H
#define MIG_SENDER_H

#include "codec.h"
#include "conn.h"

struct mig__sender_buf;

struct mig__sender {
	uv_loop_t *loop;
	struct mig__conn *conn;
	const struct mig__log *log;
	uint32_t nregions;
	const struct mig_region *regions; /* the source's, with host */
	uint64_t *pending[MIG_MAX_REGIONS]; /* pages still to send */
	uint64_t npages[MIG_MAX_REGIONS];
	int compress;

	int active;              /* a round is being sent */
	int stopping;
	uint32_t round;
	uint32_t cur_region;     /* cursor */
	uint64_t cur_page;
	unsigned in_flight;      /* encode jobs on the pool */
	unsigned max_in_flight;
	uint64_t max_queued;     /* output bytes we let pile up */
	struct mig__sender_buf *free_bufs;
	unsigned nbufs;
	int error;               /* an encode failed */

	struct mig_round_stats rs; /* the current round, so far */
	void (*on_round_sent)(struct mig__sender *snd);
	void *owner;
};

/*
 * Prepares a sender for `nregions` regions (the array stays the caller's)
 * with `workers` concurrent encode jobs. Allocates the pending bitmaps.
 * Returns 0 or -ENOMEM (nothing to undo then).
 */
int mig__sender_init(struct mig__sender *snd, uv_loop_t *loop,
		     struct mig__conn *conn, const struct mig__log *log,
		     const struct mig_region *regions, uint32_t nregions,
		     int workers, int compress);

/*
 * Frees the pool and bitmaps. Only once no job is in flight
 * (mig__sender_busy() is false), i.e. after the loop has run down.
 */
void mig__sender_fini(struct mig__sender *snd);

/* Marks every page of the regions whose read_only equals `ro` pending. */
void mig__sender_mark_all(struct mig__sender *snd, int ro);

/* Pages pending over all regions. */
uint64_t mig__sender_pending(const struct mig__sender *snd);

/*
 * Sends everything pending as round `round`; on_round_sent() runs once
 * every batch is encoded and queued on the conn (rs then holds the
 * round's figures). A round with nothing pending completes at once.
 */
void mig__sender_start_round(struct mig__sender *snd, uint32_t round);

/* Resumes cutting batches (after output drained or a job finished). */
void mig__sender_pump(struct mig__sender *snd);

/* Stops cutting batches; jobs in flight finish and are dropped. */
void mig__sender_stop(struct mig__sender *snd);

/* True while encode jobs are in flight. */
int mig__sender_busy(const struct mig__sender *snd);

#endif /* MIG_SENDER_H */
