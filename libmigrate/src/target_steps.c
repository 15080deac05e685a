/*
 * target_steps.c - the incoming migration's protocol steps, 1 to 7.
 *
 * The target trusts nothing it receives: every frame is checked by the
 * frame reader and the message parsers, and page batches are validated in
 * full before they touch guest memory. Page batches are applied on the
 * thread pool, several at once; ROUND_END and FINAL_STATE are fences that
 * wait for every batch before them, so a page from an older round can
 * never overwrite a newer copy.
 *
 * Until COMMIT arrives, any failure discards the guest (destroy_guest,
 * called once no worker can still be writing into its memory). The target
 * sends ERROR or ABORT only after it has discarded the guest, which is
 * what lets a committed source resume safely when it receives one.
 */
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "target.h"

static void handle_frame(struct mig_target *t, struct mig__frame *f);

/*
 * Page-batch bodies come from a pool of buffers of the largest batch,
 * reused for the whole migration: a fresh megabyte per batch would go
 * back to the kernel on free and fault in again on the next one, which
 * measured as half of the target's CPU time. A free buffer's first bytes
 * link it to the next one.
 */
static uint8_t *body_alloc(void *opaque, uint16_t type, uint32_t len)
{
	struct mig_target *t = opaque;
	uint8_t *b;

	if (type != MIG__F_PAGE_BATCH)
		return malloc(len);
	b = t->pool;
	if (b) {
		memcpy(&t->pool, b, sizeof(t->pool));
		return b;
	}
	return malloc(mig__frame_max_len(MIG__F_PAGE_BATCH));
}

static void body_free(void *opaque, uint16_t type, uint8_t *body)
{
	struct mig_target *t = opaque;

	if (type != MIG__F_PAGE_BATCH || !body) {
		free(body);
		return;
	}
	memcpy(body, &t->pool, sizeof(t->pool));
	t->pool = body;
}

static void release(struct mig_target *t, struct mig__frame *f)
{
	body_free(t, f->type, f->body);
	f->body = NULL;
}

void mig__target_free_pool(struct mig_target *t)
{
	while (t->pool) {
		uint8_t *b = t->pool;

		memcpy(&t->pool, b, sizeof(t->pool));
		free(b);
	}
}

/* ------------------------------------------------------------------ */
/* Teardown                                                           */

static void conn_closed(struct mig__conn *c)
{
	(void)c;
}

static void teardown(struct mig_target *t)
{
	mig__session_lock(&t->ses);
	if (t->conn_open)
		t->ses.stats.wire_bytes = t->conn.stream->bytes_in;
	t->ses.stats.total_us = mig__now_us() - t->ses.t_start_us;
	mig__session_unlock(&t->ses);
	if (t->lpoll_open) {
		t->lpoll_open = 0;
		uv_poll_stop(&t->lpoll);
		uv_close((uv_handle_t *)&t->lpoll, NULL);
	}
	if (t->conn_open) {
		t->conn_open = 0;
		mig__conn_close(&t->conn, conn_closed);
	}
	mig__session_loop_stop(&t->ses);
}

void mig__target_fail(struct mig_target *t, int err, const char *fmt, ...)
{
	char text[sizeof(t->ses.stats.error_text)];
	uint8_t *buf;
	size_t len;
	va_list ap;

	if (t->finished)
		return;
	t->finished = 1;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	mig__session_error(&t->ses, err, "%s", text);
	t->result = err;
	t->discard = t->guest_created;
	if (t->fenced) {
		release(t, &t->fence);
		t->fenced = 0;
	}
	/*
	 * The guest is discarded below, after the loop has run down (no
	 * worker writes into it then); it is already unusable, so the source
	 * may be told now.
	 */
	if (t->conn_open && !t->conn.broken && !t->file_mode && !t->told_peer &&
	    mig__conn_drop_unsent(&t->conn) &&
	    mig__error_frame(MIG__F_ERROR, err, text, &buf, &len) == 0 &&
	    mig__conn_send_owned(&t->conn, buf, len) == 0) {
		mig__conn_flush_now(&t->conn);
		mig__stream_shutdown(t->conn.stream);
	}
	t->st = T_FAILED;
	mig__session_phase(&t->ses, MIG_PHASE_FAILED);
	teardown(t);
}

static void succeed(struct mig_target *t)
{
	t->finished = 1;
	t->result = 0;
	t->st = T_DONE;
	mig__session_lock(&t->ses);
	t->ses.stats.total_us = mig__now_us() - t->ses.t_start_us;
	mig__session_unlock(&t->ses);
	mig__session_phase(&t->ses, MIG_PHASE_DONE);
	teardown(t);
}

/* ------------------------------------------------------------------ */
/* Page batches                                                       */

static void decode_work(uv_work_t *w)
{
	struct decode_job *j = w->data;

	j->rc = mig__batch_decode(j->f.body, j->f.len, j->t->regions,
				  j->t->nregions, j->t->written, &j->st);
}

static void decode_done(uv_work_t *w, int status)
{
	struct decode_job *j = w->data;
	struct mig_target *t = j->t;

	t->in_flight--;
	if (!t->finished) {
		if (status < 0 || j->rc < 0) {
			mig__target_fail(t, MIG_EDECODE,
					 "a malformed page batch arrived "
					 "after %llu good pages",
					 (unsigned long long)t->pages_received);
		} else if (t->rs_open ? j->st.round != t->rs.round
				      : j->st.round < t->next_round) {
			mig__target_fail(t, MIG_EDECODE,
					 "a page batch claims round %u "
					 "after round %u",
					 j->st.round,
					 t->rs_open ? t->rs.round
						    : t->next_round);
		} else {
			t->rs_open = 1;
			t->rs.round = j->st.round;
			t->rs.pages += j->st.pages;
			t->rs.zero_pages += j->st.zero;
			t->rs.lz4_pages += j->st.lz4;
			t->rs.raw_bytes +=
			    (uint64_t)j->st.pages * MIG_PAGE_SIZE;
			t->rs.wire_bytes += j->f.len + MIG__FRAME_HDR_LEN;
			t->pages_received += j->st.pages;
		}
	}
	release(t, &j->f);
	free(j);
	if (t->finished)
		return;
	if (t->fenced && !t->in_flight) {
		struct mig__frame f = t->fence;

		t->fenced = 0;
		mig__conn_read_enable(&t->conn, 1);
		handle_frame(t, &f);
	} else if (!t->fenced && t->in_flight < TARGET_MAX_DECODES) {
		mig__conn_read_enable(&t->conn, 1);
	}
}

static void on_page_batch(struct mig_target *t, struct mig__frame *f)
{
	struct decode_job *j = calloc(1, sizeof(*j));
	int rc;

	if (!j) {
		release(t, f);
		mig__target_fail(t, -ENOMEM, "out of memory for a page batch");
		return;
	}
	if (!t->rs.pages && !t->in_flight)
		t->round_start_us = mig__now_us();
	j->t = t;
	j->f = *f;
	j->work.data = j;
	rc = uv_queue_work(&t->ses.loop, &j->work, decode_work, decode_done);
	if (rc < 0) {
		release(t, f);
		free(j);
		mig__target_fail(t, rc, "cannot queue a page batch: %s",
				 mig_strerror(rc));
		return;
	}
	/* Back-pressure: stop reading while the workers are full. */
	if (++t->in_flight >= TARGET_MAX_DECODES)
		mig__conn_read_enable(&t->conn, 0);
}

/* ------------------------------------------------------------------ */
/* Protocol steps                                                     */

static int send_msg(struct mig_target *t, int rc, uint8_t *buf, size_t len)
{
	if (rc < 0)
		return rc;
	if (t->file_mode) {
		free(buf); /* nobody listens to a file */
		return 0;
	}
	return mig__conn_send_owned(&t->conn, buf, len);
}

static int refuse(struct mig_target *t, const char *reason)
{
	struct mig__hello_reply r;
	uint8_t *buf;
	size_t len;

	memset(&r, 0, sizeof(r));
	r.protocol_version = MIG_PROTOCOL_VERSION;
	snprintf(r.reason, sizeof(r.reason), "%s", reason);
	int rc = mig__hello_reply_frame(&r, &buf, &len);

	return send_msg(t, rc, buf, len);
}

/* The regions the VMM created must be exactly those announced. */
static int check_regions(struct mig_target *t, const struct mig_guest_desc *d,
			 char *why, size_t whylen)
{
	if (t->nregions != d->region_count) {
		snprintf(why, whylen,
			 "the target created %zu memory regions, "
			 "the guest has %u",
			 t->nregions, d->region_count);
		return MIG_ESHAPE;
	}
	for (size_t i = 0; i < t->nregions; i++) {
		const struct mig_region *a = &t->regions[i];
		const struct mig_region *b = &d->regions[i];

		if (a->gpa != b->gpa || a->size != b->size || !a->host) {
			snprintf(why, whylen,
				 "memory region %zu differs from "
				 "the guest's",
				 i);
			return MIG_ESHAPE;
		}
	}
	return 0;
}

static void on_hello(struct mig_target *t, const struct mig__frame *f)
{
	struct mig__hello h;
	struct mig__hello_reply r;
	char reason[MIG__TEXT_MAX] = "";
	uint8_t *buf;
	size_t len;
	int rc;

	rc = mig__hello_parse(f, &h);
	if (rc < 0) {
		mig__target_fail(t, rc, "the source's hello is malformed");
		return;
	}
	if (h.protocol_version != MIG_PROTOCOL_VERSION) {
		snprintf(reason, sizeof(reason),
			 "the source speaks protocol "
			 "version %u, this target speaks version %u",
			 h.protocol_version, MIG_PROTOCOL_VERSION);
		rc = MIG_EPROTO_VERSION;
		goto refuse;
	}
	if (t->file_mode == h.live) {
		snprintf(
		    reason, sizeof(reason), "%s",
		    t->file_mode
			? "a live stream cannot be read from a file"
			: "a stop/restart image must be loaded from a file");
		rc = MIG_EUNEXPECTED;
		goto refuse;
	}
	rc = t->ses.ops->create_guest(t->ses.vmm, &h.guest, reason,
				      sizeof(reason));
	if (rc < 0) {
		if (!reason[0])
			snprintf(reason, sizeof(reason),
				 "the VMM cannot create "
				 "this guest: %s",
				 mig_strerror(rc));
		rc = MIG_EREFUSED;
		goto refuse;
	}
	t->guest_created = 1;
	rc = t->ses.ops->memory_regions(t->ses.vmm, &t->regions, &t->nregions);
	if (rc < 0) {
		snprintf(reason, sizeof(reason),
			 "the VMM has no memory for "
			 "the guest: %s",
			 mig_strerror(rc));
		goto refuse;
	}
	rc = check_regions(t, &h.guest, reason, sizeof(reason));
	if (rc < 0)
		goto refuse;
	for (size_t i = 0; i < t->nregions; i++) {
		size_t words =
		    MIG__DIV_ROUND_UP(t->regions[i].size / MIG_PAGE_SIZE, 64);

		t->written[i] = calloc(words, sizeof(uint64_t));
		if (!t->written[i]) {
			snprintf(reason, sizeof(reason), "out of memory");
			rc = -ENOMEM;
			goto refuse;
		}
	}

	mig__session_lock(&t->ses);
	t->ses.stats.guest_bytes = 0;
	for (size_t i = 0; i < t->nregions; i++)
		t->ses.stats.guest_bytes += t->regions[i].size;
	mig__session_unlock(&t->ses);
	memset(&r, 0, sizeof(r));
	r.accept = 1;
	r.caps = h.caps & MIG__CAPS_ALL;
	r.protocol_version = MIG_PROTOCOL_VERSION;
	t->caps = r.caps;
	rc = mig__hello_reply_frame(&r, &buf, &len);
	rc = send_msg(t, rc, buf, len);
	if (rc == 0) {
		rc = mig__u64_msg_frame(MIG__F_GUEST_CREATED,
					t->ses.stats.guest_bytes, &buf, &len);
		rc = send_msg(t, rc, buf, len);
	}
	mig__hello_fini(&h);
	if (rc < 0) {
		mig__target_fail(t, rc, "answering hello failed: %s",
				 mig_strerror(rc));
		return;
	}
	mig__session_lock(&t->ses);
	t->ses.stats.setup_us = mig__now_us() - t->ses.t_start_us;
	mig__session_unlock(&t->ses);
	t->st = T_PAGES;
	mig__session_phase(&t->ses, MIG_PHASE_ITERATE);
	return;

refuse:
	mig__hello_fini(&h);
	/* The refusal carries the reason to the source's user. */
	if (refuse(t, reason) == 0 && !t->file_mode) {
		t->told_peer = 1;
		mig__conn_flush_now(&t->conn);
		mig__stream_shutdown(t->conn.stream);
	}
	mig__target_fail(t, rc, "refused the migration: %s", reason);
}

static void on_round_end(struct mig_target *t, const struct mig__frame *f)
{
	struct mig__round_end re;
	struct mig_stats *st = &t->ses.stats;

	if (mig__round_end_parse(f, &re) < 0) {
		mig__target_fail(t, MIG_EDECODE, "malformed end of round");
		return;
	}
	if ((t->rs_open ? re.round != t->rs.round : re.round < t->next_round) ||
	    re.pages != t->rs.pages) {
		mig__target_fail(t, MIG_EDECODE,
				 "round %u ended with %llu pages, %llu "
				 "received",
				 re.round, (unsigned long long)re.pages,
				 (unsigned long long)t->rs.pages);
		return;
	}
	t->rs.round = re.round;
	t->rs.duration_us = t->rs.pages ? mig__now_us() - t->round_start_us : 0;
	mig__session_lock(&t->ses);
	if (st->rounds < MIG_STATS_MAX_ROUNDS)
		st->round[st->rounds++] = t->rs;
	st->pages_sent += t->rs.pages;
	st->zero_pages += t->rs.zero_pages;
	st->lz4_pages += t->rs.lz4_pages;
	st->raw_pages += t->rs.pages - t->rs.zero_pages - t->rs.lz4_pages;
	mig__session_unlock(&t->ses);
	mig__session_progress(&t->ses);
	memset(&t->rs, 0, sizeof(t->rs));
	t->rs_open = 0;
	t->next_round = re.round + 1;
}

static void on_final_state(struct mig_target *t, const struct mig__frame *f)
{
	mig_state st;
	uint64_t pages_total;
	uint32_t rounds;
	uint8_t *buf;
	size_t len;
	int rc;

	mig__state_init(&st);
	rc = mig__final_state_parse(f, &st, &pages_total, &rounds);
	if (rc < 0) {
		mig__target_fail(t, rc, "the machine state is malformed");
		goto out;
	}
	if (pages_total != t->pages_received) {
		mig__target_fail(t, MIG_EDECODE,
				 "the source sent %llu pages, %llu arrived",
				 (unsigned long long)pages_total,
				 (unsigned long long)t->pages_received);
		goto out;
	}
	mig__session_phase(&t->ses, MIG_PHASE_FROZEN);
	mig__session_lock(&t->ses);
	t->ses.stats.state_bytes = st.total_bytes;
	mig__session_unlock(&t->ses);
	rc = t->ses.ops->load_state(t->ses.vmm, &st);
	if (rc < 0) {
		mig__target_fail(t, MIG_EVMM,
				 "loading the machine state failed: %s",
				 mig_strerror(rc));
		goto out;
	}
	if (t->file_mode) {
		/* An image has no commit exchange: it is complete, run it. */
		rc = t->ses.ops->start_guest(t->ses.vmm);
		if (rc < 0)
			mig__target_fail(t, MIG_EVMM,
					 "starting the guest failed: %s",
					 mig_strerror(rc));
		else
			succeed(t);
		goto out;
	}
	rc = mig__u64_msg_frame(MIG__F_READY, t->pages_received, &buf, &len);
	rc = send_msg(t, rc, buf, len);
	if (rc < 0) {
		mig__target_fail(t, rc, "sending ready failed: %s",
				 mig_strerror(rc));
		goto out;
	}
	t->st = T_AWAIT_COMMIT;
	mig__session_phase(&t->ses, MIG_PHASE_COMMIT);
out:
	mig__state_fini(&st);
}

static void on_commit(struct mig_target *t)
{
	uint8_t *buf;
	size_t len;
	int rc;

	/* From here the source will not resume: nor may we be cancelled. */
	mig__session_lock(&t->ses);
	atomic_store(&t->ses.committed, 1);
	mig__session_unlock(&t->ses);
	rc = t->ses.ops->start_guest(t->ses.vmm);
	if (rc < 0) {
		char text[MIG__TEXT_MAX];

		/* Discard first: ABORT promises the source we hold nothing. */
		t->ses.ops->destroy_guest(t->ses.vmm);
		t->guest_created = 0;
		snprintf(text, sizeof(text),
			 "the target could not start the "
			 "guest: %s",
			 mig_strerror(rc));
		if (mig__conn_drop_unsent(&t->conn) &&
		    mig__error_frame(MIG__F_ABORT, rc, text, &buf, &len) == 0 &&
		    mig__conn_send_owned(&t->conn, buf, len) == 0)
			mig__conn_flush_now(&t->conn);
		mig__target_fail(t, MIG_EVMM, "%s", text);
		return;
	}
	rc = mig__u64_msg_frame(MIG__F_RUNNING, 0, &buf, &len);
	rc = send_msg(t, rc, buf, len);
	/*
	 * The guest runs here whatever happens to this message: if it is
	 * lost the source's outcome is undetermined, never a second copy.
	 */
	if (rc == 0)
		mig__conn_flush_now(&t->conn);
	mig__stream_shutdown(t->conn.stream);
	succeed(t);
}

static void handle_frame(struct mig_target *t, struct mig__frame *f)
{
	if (t->finished)
		goto out;
	if (t->conn.reader.peer_version != MIG_PROTOCOL_VERSION) {
		release(t, f);
		mig__target_fail(t, MIG_EPROTO_VERSION,
				 "the source speaks protocol "
				 "version %u, this target speaks version %u",
				 t->conn.reader.peer_version,
				 MIG_PROTOCOL_VERSION);
		return;
	}
	/* Fences: everything before them is applied before they act. */
	if ((f->type == MIG__F_ROUND_END || f->type == MIG__F_FINAL_STATE) &&
	    t->in_flight) {
		t->fence = *f;
		t->fenced = 1;
		mig__conn_read_enable(&t->conn, 0);
		return;
	}
	switch (f->type) {
	case MIG__F_HELLO:
		if (t->st != T_HELLO)
			goto unexpected;
		on_hello(t, f);
		break;
	case MIG__F_PAGE_BATCH:
		if (t->st != T_PAGES)
			goto unexpected;
		on_page_batch(t, f);
		return; /* the job owns the body */
	case MIG__F_ROUND_END:
		if (t->st != T_PAGES)
			goto unexpected;
		on_round_end(t, f);
		break;
	case MIG__F_FINAL_STATE:
		if (t->st != T_PAGES)
			goto unexpected;
		on_final_state(t, f);
		break;
	case MIG__F_COMMIT:
		if (t->st != T_AWAIT_COMMIT)
			goto unexpected;
		on_commit(t);
		break;
	case MIG__F_ABORT:
	case MIG__F_ERROR: {
		char text[MIG__TEXT_MAX];
		int code;

		if (mig__error_parse(f, &code, text, sizeof(text)) < 0)
			snprintf(text, sizeof(text), "(unreadable message)");
		mig__target_fail(
		    t, f->type == MIG__F_ABORT ? MIG_EABORTED : MIG_EPEER,
		    "the source %s: %s",
		    f->type == MIG__F_ABORT ? "aborted" : "failed", text);
		break;
	}
	default:
		goto unexpected;
	}
out:
	release(t, f);
	return;
unexpected:
	mig__target_fail(t, MIG_EUNEXPECTED,
			 "the source sent %s at the wrong time",
			 mig__frame_type_name(f->type));
	release(t, f);
}

/* ------------------------------------------------------------------ */
/* Connection callbacks                                               */

static void on_frame(struct mig__conn *c, struct mig__frame *f)
{
	handle_frame(c->owner, f);
}

static void on_ready(struct mig__conn *c)
{
	struct mig_target *t = c->owner;
	uint8_t *hdr;

	t->st = T_HELLO;
	mig__conn_expect_peer(c, 1);
	if (t->file_mode)
		return;
	hdr = malloc(MIG__STREAM_HDR_LEN);
	if (!hdr) {
		mig__target_fail(t, -ENOMEM, "out of memory");
		return;
	}
	mig__stream_hdr_put(hdr, MIG_PROTOCOL_VERSION);
	if (mig__conn_send_owned(c, hdr, MIG__STREAM_HDR_LEN) < 0)
		mig__target_fail(t, -ENOMEM, "out of memory");
}

static void on_end(struct mig__conn *c, int err)
{
	struct mig_target *t = c->owner;
	const char *detail = c->stream->error_text;

	if (t->finished)
		return;
	if (err == 0)
		mig__target_fail(t, MIG_ETRUNCATED,
				 "the source closed the %s before the "
				 "migration was complete",
				 t->file_mode ? "image" : "connection");
	else if (detail[0])
		mig__target_fail(t, err, "connection to the source failed: %s",
				 detail);
	else
		mig__target_fail(t, err, "connection to the source failed: %s",
				 mig_strerror(err));
}

static const struct mig__conn_cbs conn_cbs = {
    .on_ready = on_ready,
    .on_frame = on_frame,
    .on_end = on_end,
};

int mig__target_start_conn(struct mig_target *t, struct mig__stream *stream)
{
	int rc;

	/* The migration's clock starts when its source shows up. */
	t->ses.t_start_us = mig__now_us();
	rc = mig__conn_start(&t->conn, &t->ses.loop, stream, 1, &conn_cbs, t,
			     &t->ses.log, t->ses.params.peer_timeout_ms);
	if (rc == 0) {
		t->conn_open = 1;
		t->conn.reader.body_alloc = body_alloc;
		t->conn.reader.body_free = body_free;
		t->conn.reader.body_opaque = t;
	}
	return rc;
}

void mig__target_cancel_cb(uv_async_t *h)
{
	struct mig_target *t = h->data;

	if (!t->finished && !atomic_load(&t->ses.committed))
		mig__target_fail(t, MIG_ECANCELED,
				 "incoming migration cancelled");
}

void mig__target_tick_cb(uv_timer_t *h)
{
	struct mig_target *t = h->data;

	if (!t->conn_open)
		return;
	mig__session_lock(&t->ses);
	t->ses.stats.wire_bytes = t->conn.stream->bytes_in;
	t->ses.stats.total_us = mig__now_us() - t->ses.t_start_us;
	mig__session_unlock(&t->ses);
}
