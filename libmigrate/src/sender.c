/* sender.c - the source's page pump: batches, encode jobs, buffer pool. */
#include <stdlib.h>
#include <string.h>

#include "bitmap.h"
#include "sender.h"

/* Output we let pile up on the conn: enough to keep TLS busy, no more. */
#define SENDER_MAX_QUEUED (4u << 20)

struct mig__sender_buf {
	struct mig__outbuf out;      /* first: the conn hands this back */
	struct mig__sender_buf *next_free;
	struct mig__sender *snd;
	uv_work_t work;
	struct mig__encoder enc;
	uint32_t region;
	uint32_t round;
	size_t n;
	uint64_t pages[MIG__BATCH_MAX_PAGES];
	struct mig__batch_stats st;
	size_t frame_len;
	int rc;
	size_t cap;
	uint8_t *frame;
};

static void buf_put(struct mig__sender *snd, struct mig__sender_buf *b)
{
	b->next_free = snd->free_bufs;
	snd->free_bufs = b;
}

static void buf_released(struct mig__outbuf *o)
{
	struct mig__sender_buf *b = (struct mig__sender_buf *)o;
	struct mig__sender *snd = b->snd;

	buf_put(snd, b);
	/* A buffer came back: there may be room for the next batch. */
	if (!snd->stopping)
		mig__sender_pump(snd);
}

int mig__sender_init(struct mig__sender *snd, uv_loop_t *loop,
		     struct mig__conn *conn, const struct mig__log *log,
		     const struct mig_region *regions, uint32_t nregions,
		     int workers, int compress)
{
	size_t cap = mig__batch_frame_bound(MIG__BATCH_MAX_PAGES);
	uint32_t r;

	memset(snd, 0, sizeof(*snd));
	snd->loop = loop;
	snd->conn = conn;
	snd->log = log;
	snd->regions = regions;
	snd->nregions = nregions;
	snd->compress = compress;
	snd->max_in_flight = workers > 0 ? (unsigned)workers : 1;
	snd->max_queued = SENDER_MAX_QUEUED;
	for (r = 0; r < nregions; r++) {
		snd->npages[r] = regions[r].size / MIG_PAGE_SIZE;
		snd->pending[r] = calloc(mig__bitmap_words(snd->npages[r]) + 1,
					 sizeof(uint64_t));
		if (!snd->pending[r])
			goto free_all;
	}
	/* Jobs in flight plus what the queue holds, plus one being written. */
	snd->nbufs = snd->max_in_flight + SENDER_MAX_QUEUED / cap + 2;
	for (unsigned i = 0; i < snd->nbufs; i++) {
		struct mig__sender_buf *b = calloc(1, sizeof(*b));

		if (!b)
			goto free_all;
		b->frame = malloc(cap);
		if (!b->frame) {
			free(b);
			goto free_all;
		}
		b->cap = cap;
		b->snd = snd;
		b->out.release = buf_released;
		b->out.owner = b;
		buf_put(snd, b);
	}
	return 0;

free_all:
	mig__sender_fini(snd);
	return -ENOMEM;
}

void mig__sender_fini(struct mig__sender *snd)
{
	struct mig__sender_buf *b, *next;

	for (b = snd->free_bufs; b; b = next) {
		next = b->next_free;
		free(b->frame);
		free(b);
	}
	snd->free_bufs = NULL;
	for (uint32_t r = 0; r < snd->nregions; r++) {
		free(snd->pending[r]);
		snd->pending[r] = NULL;
	}
}

void mig__sender_mark_all(struct mig__sender *snd, int ro)
{
	for (uint32_t r = 0; r < snd->nregions; r++)
		if (!!snd->regions[r].read_only == !!ro)
			mig__bitmap_set_range(snd->pending[r], 0,
					      snd->npages[r]);
}

uint64_t mig__sender_pending(const struct mig__sender *snd)
{
	uint64_t n = 0;

	for (uint32_t r = 0; r < snd->nregions; r++)
		n += mig__bitmap_count(snd->pending[r], snd->npages[r]);
	return n;
}

static void encode_work(uv_work_t *w)
{
	struct mig__sender_buf *b = w->data;
	const struct mig_region *reg = &b->snd->regions[b->region];

	mig__encoder_init(&b->enc, b->snd->compress);
	b->rc = mig__batch_encode(&b->enc, b->region, b->round, reg->host,
				  b->pages, b->n, b->frame, b->cap,
				  &b->frame_len, &b->st);
}

static void round_check_done(struct mig__sender *snd)
{
	if (!snd->active || snd->in_flight || snd->cur_region < snd->nregions)
		return;
	snd->active = 0;
	snd->on_round_sent(snd);
}

static void encode_done(uv_work_t *w, int status)
{
	struct mig__sender_buf *b = w->data;
	struct mig__sender *snd = b->snd;

	snd->in_flight--;
	if (snd->stopping || status < 0 || b->rc < 0) {
		if (!snd->stopping && !snd->error)
			snd->error = status < 0 ? status : b->rc;
		buf_put(snd, b);
		if (snd->error && !snd->stopping) {
			snd->active = 0;
			snd->on_round_sent(snd); /* the owner sees ->error */
		}
		return;
	}
	snd->rs.pages += b->st.pages;
	snd->rs.zero_pages += b->st.zero;
	snd->rs.lz4_pages += b->st.lz4;
	snd->rs.raw_bytes += (uint64_t)b->st.pages * MIG_PAGE_SIZE;
	snd->rs.wire_bytes += b->frame_len;
	b->out.data = b->frame;
	b->out.len = b->frame_len;
	mig__conn_send(snd->conn, &b->out);
	mig__sender_pump(snd); /* also notices the end of the round */
}

/* Cuts the next batch at the cursor; returns its page count (0: none). */
static size_t cut_batch(struct mig__sender *snd, struct mig__sender_buf *b)
{
	while (snd->cur_region < snd->nregions) {
		uint32_t r = snd->cur_region;
		uint64_t *bm = snd->pending[r];
		uint64_t np = snd->npages[r];
		size_t n = 0;
		uint64_t p = mig__bitmap_next(bm, np, snd->cur_page);

		while (p < np && n < MIG__BATCH_MAX_PAGES) {
			bm[p / 64] &= ~(1ull << (p % 64));
			b->pages[n++] = p;
			p = mig__bitmap_next(bm, np, p + 1);
		}
		snd->cur_page = p;
		if (p >= np) {
			snd->cur_region++;
			snd->cur_page = 0;
		}
		if (n) {
			b->region = r;
			b->n = n;
			return n;
		}
	}
	return 0;
}

void mig__sender_pump(struct mig__sender *snd)
{
	while (snd->active && !snd->stopping && !snd->error &&
	       snd->in_flight < snd->max_in_flight && snd->free_bufs &&
	       snd->conn->out_bytes < snd->max_queued) {
		struct mig__sender_buf *b = snd->free_bufs;
		int rc;

		if (!cut_batch(snd, b))
			break;
		snd->free_bufs = b->next_free;
		b->round = snd->round;
		b->work.data = b;
		rc = uv_queue_work(snd->loop, &b->work, encode_work,
				   encode_done);
		if (rc < 0) {
			buf_put(snd, b);
			snd->error = rc;
			snd->active = 0;
			snd->on_round_sent(snd);
			return;
		}
		snd->in_flight++;
	}
	round_check_done(snd);
}

void mig__sender_start_round(struct mig__sender *snd, uint32_t round)
{
	memset(&snd->rs, 0, sizeof(snd->rs));
	snd->rs.round = round;
	snd->round = round;
	snd->cur_region = 0;
	snd->cur_page = 0;
	snd->active = 1;
	mig__sender_pump(snd);
}

void mig__sender_stop(struct mig__sender *snd)
{
	snd->stopping = 1;
	snd->active = 0;
}

int mig__sender_busy(const struct mig__sender *snd)
{
	return snd->in_flight != 0;
}
