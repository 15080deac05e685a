/*
 * source_steps.c - the outgoing migration's protocol steps, 1 to 7.
 *
 * Everything here runs on the migration's loop: the connection's frames,
 * the sender's rounds and the convergence policy's decisions drive the
 * state machine below; pages are encoded on libuv's thread pool.
 *
 * The commit rule lives in three places: fail() resumes the guest unless
 * the migration is committed; commit() is the only place that sets
 * `committed`, under the same lock mig_source_cancel() takes, so a cancel
 * either wins before it or is refused after it; and once committed, only
 * RUNNING (destroy our copy) or an explicit ABORT/ERROR from the target
 * (it discarded its copy, resume ours) settle the outcome. Anything else
 * leaves the guest paused and the outcome undetermined.
 */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap.h"
#include "msg.h"
#include "source.h"

/* Pages a round needs before its own send rate counts as a bandwidth. */
#define BUSY_ROUND_PAGES 64

static const char *state_name(enum src_state st)
{
	static const char *names[] = {
		[S_IDLE] = "start",
		[S_HELLO] = "hello",
		[S_CREATING] = "guest creation",
		[S_READONLY] = "read-only pass",
		[S_ITERATE] = "iteration",
		[S_DRAINING] = "switch-over",
		[S_FROZEN] = "final pass",
		[S_AWAIT_READY] = "final state",
		[S_AWAIT_RUNNING] = "commit",
		[S_FLUSHING] = "flush",
		[S_DONE] = "done",
		[S_FAILED] = "failed",
		[S_UNDETERMINED] = "undetermined",
	};

	return names[st];
}

/* ------------------------------------------------------------------ */
/* Teardown                                                           */

static void conn_closed(struct mig__conn *c)
{
	(void)c;
}

static void teardown(struct mig_source *s)
{
	/* The final figures, before the stream and its counters go. */
	mig__session_lock(&s->ses);
	if (s->conn_open)
		s->ses.stats.wire_bytes = s->conn.stream->bytes_out;
	if (s->st != S_DONE) /* succeed() timed it before destroy_guest() */
		s->ses.stats.total_us = mig__now_us() - s->ses.t_start_us;
	mig__session_unlock(&s->ses);
	if (s->snd_ready)
		mig__sender_stop(&s->snd);
	if (s->conn_open) {
		s->conn_open = 0;
		mig__conn_close(&s->conn, conn_closed);
	}
	mig__session_loop_stop(&s->ses);
}

/* Best effort: a last frame to the peer, if the stream is between frames. */
static void send_last_word(struct mig_source *s, uint16_t type, int code,
			   const char *text)
{
	uint8_t *buf;
	size_t len;

	if (!s->conn_open || s->conn.broken || s->file_mode)
		return;
	if (!mig__conn_drop_unsent(&s->conn))
		return; /* half a frame is out: the close says it all */
	if (mig__error_frame(type, code, text, &buf, &len) < 0)
		return;
	if (mig__conn_send_owned(&s->conn, buf, len) < 0)
		return;
	mig__conn_flush_now(&s->conn);
	mig__stream_shutdown(s->conn.stream);
}

static void stop_tracking(struct mig_source *s)
{
	if (!s->tracking)
		return;
	s->tracking = 0;
	s->dops->stop(s->tracker);
}

/*
 * Ends the migration with an error. Before commit (or after the target
 * said it discarded its copy) the guest resumes here; after commit it
 * stays paused and the outcome is undetermined.
 */
void mig__source_fail(struct mig_source *s, int err, int discarded,
		      const char *fmt, ...)
{
	char text[sizeof(s->ses.stats.error_text)];
	va_list ap;
	int rc;

	if (s->finished)
		return;
	s->finished = 1;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (s->snd_ready)
		mig__sender_stop(&s->snd);

	if (atomic_load(&s->ses.committed) && !discarded) {
		mig__session_error(&s->ses, MIG_EUNDETERMINED,
				   "%s; the guest stays paused here until "
				   "the outcome is settled",
				   text);
		s->result = MIG_EUNDETERMINED;
		s->st = S_UNDETERMINED;
		stop_tracking(s);
		mig__session_phase(&s->ses, MIG_PHASE_UNDETERMINED);
		teardown(s);
		return;
	}
	mig__session_error(&s->ses, err, "%s", text);
	s->result = err;
	if (!discarded)
		send_last_word(
		    s, err == MIG_ECANCELED ? MIG__F_ABORT : MIG__F_ERROR, err,
		    text);
	stop_tracking(s);
	if (s->paused) {
		rc = s->ses.ops->resume(s->ses.vmm);
		if (rc < 0)
			mig__err(&s->ses.log, "resuming the guest failed: %s",
				 mig_strerror(rc));
		else
			s->paused = 0;
	}
	s->st = S_FAILED;
	mig__session_phase(&s->ses, MIG_PHASE_FAILED);
	teardown(s);
}

static void succeed(struct mig_source *s)
{
	uint64_t now = mig__now_us();

	s->finished = 1;
	s->result = 0;
	s->st = S_DONE;
	mig__session_lock(&s->ses);
	s->ses.stats.downtime_us = now - s->t_freeze_us;
	s->ses.stats.total_us = now - s->ses.t_start_us;
	s->ses.stats.remaining_bytes = 0;
	mig__session_unlock(&s->ses);
	mig__session_phase(&s->ses, MIG_PHASE_DONE);
	if (!s->file_mode && s->ses.ops->destroy_guest) {
		int rc = s->ses.ops->destroy_guest(s->ses.vmm);

		if (rc < 0)
			mig__warn(&s->ses.log,
				  "destroying the source copy failed: %s",
				  mig_strerror(rc));
	}
	if (s->conn_open && !s->file_mode)
		mig__stream_shutdown(s->conn.stream);
	teardown(s);
}

/* ------------------------------------------------------------------ */
/* Sending                                                            */

static int send_frame(struct mig_source *s, uint8_t *buf, size_t len, int rc)
{
	if (rc < 0)
		return rc;
	return mig__conn_send_owned(&s->conn, buf, len);
}

static void record_round(struct mig_source *s, const struct mig_round_stats *rs)
{
	struct mig_stats *st = &s->ses.stats;

	mig__session_lock(&s->ses);
	if (st->rounds < MIG_STATS_MAX_ROUNDS)
		st->round[st->rounds++] = *rs;
	st->pages_sent += rs->pages;
	st->zero_pages += rs->zero_pages;
	st->lz4_pages += rs->lz4_pages;
	st->raw_pages += rs->pages - rs->zero_pages - rs->lz4_pages;
	mig__session_unlock(&s->ses);
	mig__info(&s->ses.log,
		  "round %u: %llu pages (%llu zero, %llu lz4), %llu bytes on "
		  "the wire in %llu ms",
		  rs->round, (unsigned long long)rs->pages,
		  (unsigned long long)rs->zero_pages,
		  (unsigned long long)rs->lz4_pages,
		  (unsigned long long)rs->wire_bytes,
		  (unsigned long long)rs->duration_us / 1000);
	mig__session_progress(&s->ses);
}

static void start_round(struct mig_source *s)
{
	s->round_start_us = mig__now_us();
	mig__sender_start_round(&s->snd, s->round);
}

static int fetch_dirty(struct mig_source *s)
{
	for (uint32_t r = 0; r < s->desc.region_count; r++) {
		int rc;

		if (s->desc.regions[r].read_only)
			continue;
		rc = s->dops->fetch_and_clear(s->tracker, r, s->snd.pending[r],
					      s->snd.npages[r]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void begin_iterate(struct mig_source *s)
{
	int rc;

	if (!s->file_mode) {
		/* Tracking starts before the first pass reads a page. */
		rc = s->dops->start(s->tracker);
		if (rc < 0) {
			mig__source_fail(
			    s, rc, 0, "starting dirty page tracking failed: %s",
			    mig_strerror(rc));
			return;
		}
		s->tracking = 1;
		s->t_fetch_us = mig__now_us();
		s->st = S_ITERATE;
		mig__session_phase(&s->ses, MIG_PHASE_ITERATE);
	} else {
		s->st = S_FROZEN; /* a file image is taken of a paused guest */
	}
	mig__sender_mark_all(&s->snd, 0);
	s->round = 1;
	start_round(s);
}

static void begin_readonly(struct mig_source *s)
{
	mig__session_lock(&s->ses);
	s->ses.stats.setup_us = mig__now_us() - s->ses.t_start_us;
	mig__session_unlock(&s->ses);
	mig__sender_mark_all(&s->snd, 1);
	if (!mig__sender_pending(&s->snd)) {
		begin_iterate(s);
		return;
	}
	s->st = S_READONLY;
	mig__session_phase(&s->ses, MIG_PHASE_READONLY);
	s->round = 0;
	start_round(s);
}

static void freeze(struct mig_source *s, uint64_t expected_us, int forced)
{
	int rc;

	s->t_freeze_us = mig__now_us();
	rc = s->ses.ops->pause(s->ses.vmm);
	if (rc < 0) {
		mig__source_fail(s, MIG_EVMM, 0, "pausing the guest failed: %s",
				 mig_strerror(rc));
		return;
	}
	s->paused = 1;
	/* Pages written between the last fetch and the pause. */
	rc = fetch_dirty(s);
	if (rc < 0) {
		mig__source_fail(s, rc, 0, "fetching the dirty log failed: %s",
				 mig_strerror(rc));
		return;
	}
	stop_tracking(s);
	/*
	 * The guest is paused: every millisecond now is downtime, so the
	 * bandwidth limit, which protects other traffic during the long
	 * iteration, no longer applies.
	 */
	s->conn.bucket = NULL;
	mig__session_lock(&s->ses);
	s->ses.stats.expected_downtime_us = expected_us;
	s->ses.stats.forced_switchover = forced;
	mig__session_unlock(&s->ses);
	s->st = S_FROZEN;
	mig__session_phase(&s->ses, MIG_PHASE_FROZEN);
	s->round++;
	start_round(s);
}

/*
 * Pauses the guest once what earlier rounds queued has left: those bytes
 * are not part of the final round, and every millisecond spent sending
 * them with the guest paused would be downtime. Pages dirtied meanwhile
 * simply join the final round.
 */
static void switch_over(struct mig_source *s, uint64_t expected_us,
			int forced)
{
	s->freeze_expected_us = expected_us;
	s->freeze_forced = forced;
	if (s->conn.out_bytes) {
		s->st = S_DRAINING;
		return; /* on_drain() freezes */
	}
	freeze(s, expected_us, forced);
}

static void decide(struct mig_source *s, struct mig_round_stats *rs)
{
	struct mig__policy_input in;
	enum mig__decision d;
	const char *why;
	uint64_t now, expected, dirty;
	int rc;

	rc = fetch_dirty(s);
	if (rc < 0) {
		mig__source_fail(s, rc, 0, "fetching the dirty log failed: %s",
				 mig_strerror(rc));
		return;
	}
	now = mig__now_us();
	dirty = mig__sender_pending(&s->snd);
	mig__rate_update(&s->bw, s->conn.stream->bytes_out, now);
	rs->dirty_pages = dirty;
	rs->dirty_rate =
	    now > s->t_fetch_us
		? dirty * MIG_PAGE_SIZE * 1000000u / (now - s->t_fetch_us)
		: 0;
	s->t_fetch_us = now;
	rs->bandwidth = mig__rate_get(&s->bw);
	if (!rs->bandwidth && rs->duration_us)
		rs->bandwidth = rs->wire_bytes * 1000000u / rs->duration_us;

	memset(&in, 0, sizeof(in));
	in.rounds_done = s->round;
	in.elapsed_us = now - s->ses.t_start_us;
	in.pending_pages = dirty;
	in.wire_per_page =
	    rs->pages ? MIG__MAX(rs->wire_bytes / rs->pages, 1) : MIG_PAGE_SIZE;
	/*
	 * The windowed rate counts the gaps between small rounds (fetching
	 * the log, deciding) as if the link were slow; the final round has no
	 * such gaps. So a round of some size also vouches for the rate at
	 * which it went out, and the estimate takes the better of the two.
	 */
	in.bandwidth = rs->bandwidth;
	if (rs->pages >= BUSY_ROUND_PAGES && rs->duration_us)
		in.bandwidth = MIG__MAX(in.bandwidth,
					rs->wire_bytes * 1000000u / rs->duration_us);
	in.state_bytes = s->state_bytes_est;
	in.rtt_us = s->rtt_us;
	d = mig__policy_decide(&s->policy, &in, &expected, &why);
	rs->expected_downtime_us = expected;
	record_round(s, rs);
	mig__session_lock(&s->ses);
	s->ses.stats.remaining_bytes = dirty * MIG_PAGE_SIZE;
	s->ses.stats.expected_downtime_us = expected;
	mig__session_unlock(&s->ses);
	mig__info(
	    &s->ses.log,
	    "after round %u: %llu dirty pages, expected pause %llu ms: %s",
	    s->round, (unsigned long long)dirty,
	    (unsigned long long)expected / 1000, why);

	switch (d) {
	case MIG__CONTINUE:
		if (s->round + 2 >= MIG_STATS_MAX_ROUNDS) {
			freeze(s, expected, 1);
			return;
		}
		s->round++;
		start_round(s);
		return;
	case MIG__SWITCHOVER:
		switch_over(s, expected, 0);
		return;
	case MIG__FORCE:
		mig__warn(&s->ses.log, "switching over past the limit: %s",
			  why);
		switch_over(s, expected, 1);
		return;
	case MIG__GIVE_UP:
		mig__source_fail(
		    s, MIG_ENOCONVERGE, 0,
		    "migration cancelled by its limits: %s (expected pause "
		    "%llu ms, limit %u ms)",
		    why, (unsigned long long)expected / 1000,
		    s->ses.params.downtime_limit_ms);
		return;
	}
}

static void send_final_state(struct mig_source *s)
{
	mig_state st;
	uint8_t *buf;
	size_t len;
	int rc;

	mig__state_init(&st);
	rc = s->ses.ops->save_state(s->ses.vmm, &st);
	if (rc < 0) {
		mig__state_fini(&st);
		mig__source_fail(s, MIG_EVMM, 0,
				 "saving the machine state failed: %s",
				 mig_strerror(rc));
		return;
	}
	mig__session_lock(&s->ses);
	s->ses.stats.state_bytes = st.total_bytes;
	mig__session_unlock(&s->ses);
	rc = mig__final_state_frame(&st, s->ses.stats.pages_sent, s->round,
				    &buf, &len);
	mig__state_fini(&st);
	rc = send_frame(s, buf, len, rc);
	if (rc < 0) {
		mig__source_fail(s, rc, 0,
				 "sending the machine state failed: %s",
				 mig_strerror(rc));
		return;
	}
	if (s->file_mode) {
		s->st = S_FLUSHING;
		return;
	}
	s->st = S_AWAIT_READY;
	mig__conn_expect_peer(&s->conn, 1);
}

void mig__source_round_sent(struct mig__sender *snd)
{
	struct mig_source *s = snd->owner;
	struct mig_round_stats rs = snd->rs;
	struct mig__round_end re;
	uint8_t *buf;
	size_t len;
	int rc;

	if (snd->error) {
		mig__source_fail(s, snd->error, 0, "encoding pages failed: %s",
				 mig_strerror(snd->error));
		return;
	}
	rs.duration_us = mig__now_us() - s->round_start_us;
	re.round = rs.round;
	re.pages = rs.pages;
	re.bytes = rs.wire_bytes;
	rc = mig__round_end_frame(&re, &buf, &len);
	rc = send_frame(s, buf, len, rc);
	if (rc < 0) {
		mig__source_fail(s, rc, 0,
				 "sending the end of round %u failed: %s",
				 rs.round, mig_strerror(rc));
		return;
	}
	switch (s->st) {
	case S_READONLY:
		record_round(s, &rs);
		begin_iterate(s);
		break;
	case S_ITERATE:
		decide(s, &rs);
		break;
	case S_FROZEN:
		record_round(s, &rs);
		send_final_state(s);
		break;
	default:
		break;
	}
}

static void commit(struct mig_source *s)
{
	uint8_t *buf;
	size_t len;
	int rc;

	/* The same lock as mig_source_cancel(): one of the two wins. */
	mig__session_lock(&s->ses);
	if (atomic_load(&s->ses.cancel_requested)) {
		mig__session_unlock(&s->ses);
		mig__source_fail(s, MIG_ECANCELED, 0,
				 "migration cancelled by the user");
		return;
	}
	atomic_store(&s->ses.committed, 1);
	mig__session_unlock(&s->ses);

	rc = mig__u64_msg_frame(MIG__F_COMMIT, 0, &buf, &len);
	rc = send_frame(s, buf, len, rc);
	s->st = S_AWAIT_RUNNING;
	mig__session_phase(&s->ses, MIG_PHASE_COMMIT);
	if (rc < 0) {
		mig__source_fail(s, rc, 0, "sending the commit failed: %s",
				 mig_strerror(rc));
		return;
	}
	mig__conn_expect_peer(&s->conn, 1);
}

/* ------------------------------------------------------------------ */
/* Receiving                                                          */

static void on_hello_reply(struct mig_source *s, const struct mig__frame *f)
{
	struct mig__hello_reply r;
	int rc = mig__hello_reply_parse(f, &r);

	if (rc < 0) {
		mig__source_fail(s, rc, 0,
				 "the target's reply to hello is malformed");
		return;
	}
	s->rtt_us = mig__now_us() - s->t_hello_us;
	if (!r.accept) {
		mig__source_fail(s, MIG_EREFUSED, 1,
				 "the target refused the migration: %s",
				 r.reason[0] ? r.reason : "no reason given");
		return;
	}
	s->st = S_CREATING;
}

static void on_error_frame(struct mig_source *s, const struct mig__frame *f)
{
	char text[MIG__TEXT_MAX];
	int code = 0;

	if (mig__error_parse(f, &code, text, sizeof(text)) < 0)
		snprintf(text, sizeof(text), "(unreadable error message)");
	/* The target sends these only once it has discarded its copy. */
	if (f->type == MIG__F_ABORT)
		mig__source_fail(s, MIG_EABORTED, 1, "the target aborted: %s",
				 text);
	else
		mig__source_fail(s, MIG_EPEER, 1, "the target failed: %s",
				 text);
}

static void on_frame(struct mig__conn *c, struct mig__frame *f)
{
	struct mig_source *s = c->owner;
	uint64_t v;

	if (s->finished)
		goto out;
	if (c->reader.peer_version != MIG_PROTOCOL_VERSION) {
		mig__source_fail(
		    s, MIG_EPROTO_VERSION, 0,
		    "the target speaks protocol version %u, this source "
		    "speaks version %u",
		    c->reader.peer_version, MIG_PROTOCOL_VERSION);
		goto out;
	}
	switch (f->type) {
	case MIG__F_HELLO_REPLY:
		if (s->st != S_HELLO)
			goto unexpected;
		on_hello_reply(s, f);
		break;
	case MIG__F_GUEST_CREATED:
		if (s->st != S_CREATING)
			goto unexpected;
		if (mig__u64_msg_parse(f, &v) < 0) {
			mig__source_fail(s, MIG_EDECODE, 0,
					 "malformed guest-created message");
			break;
		}
		mig__conn_expect_peer(c, 0); /* the target is silent now */
		begin_readonly(s);
		break;
	case MIG__F_READY:
		if (s->st != S_AWAIT_READY)
			goto unexpected;
		commit(s);
		break;
	case MIG__F_RUNNING:
		if (s->st != S_AWAIT_RUNNING)
			goto unexpected;
		succeed(s);
		break;
	case MIG__F_ERROR:
	case MIG__F_ABORT:
		on_error_frame(s, f);
		break;
	default:
		goto unexpected;
	}
out:
	free(f->body);
	return;
unexpected:
	mig__source_fail(s, MIG_EUNEXPECTED, 0,
			 "the target sent %s during the %s",
			 mig__frame_type_name(f->type), state_name(s->st));
	free(f->body);
}

static void on_ready(struct mig__conn *c)
{
	struct mig_source *s = c->owner;
	struct mig__hello h;
	uint8_t *hdr, *buf;
	size_t len;
	int rc;

	hdr = malloc(MIG__STREAM_HDR_LEN);
	if (!hdr) {
		mig__source_fail(s, -ENOMEM, 0, "out of memory");
		return;
	}
	mig__stream_hdr_put(hdr, MIG_PROTOCOL_VERSION);
	rc = mig__conn_send_owned(c, hdr, MIG__STREAM_HDR_LEN);

	memset(&h, 0, sizeof(h));
	h.protocol_version = MIG_PROTOCOL_VERSION;
	h.caps =
	    MIG__CAP_ZERO_PAGES | (s->ses.params.compress ? MIG__CAP_LZ4 : 0);
	if (RAND_bytes(h.migration_id, sizeof(h.migration_id)) != 1)
		memset(h.migration_id, 0, sizeof(h.migration_id));
	h.live = !s->file_mode;
	h.state_bytes_hint = s->state_bytes_est;
	h.guest = s->desc;
	if (rc == 0)
		rc = mig__hello_frame(&h, &buf, &len);
	if (rc == 0)
		rc = send_frame(s, buf, len, 0);
	if (rc < 0) {
		mig__source_fail(s, rc, 0, "sending hello failed: %s",
				 mig_strerror(rc));
		return;
	}
	s->t_hello_us = mig__now_us();
	if (s->file_mode) {
		begin_readonly(s); /* nobody answers a file */
		return;
	}
	s->st = S_HELLO;
	mig__conn_expect_peer(c, 1);
}

static void on_end(struct mig__conn *c, int err)
{
	struct mig_source *s = c->owner;
	const char *detail = c->stream->error_text;

	if (s->finished)
		return;
	if (err == 0)
		mig__source_fail(
		    s, MIG_ETRUNCATED, 0,
		    "the target closed the connection during the %s",
		    state_name(s->st));
	else if (detail[0])
		mig__source_fail(s, err, 0,
				 "connection to the target failed during the "
				 "%s: %s",
				 state_name(s->st), detail);
	else
		mig__source_fail(s, err, 0,
				 "connection to the target failed during the "
				 "%s: %s",
				 state_name(s->st), mig_strerror(err));
}

static void on_drain(struct mig__conn *c)
{
	struct mig_source *s = c->owner;
	int rc;

	if (s->finished)
		return;
	if (s->st == S_DRAINING) {
		freeze(s, s->freeze_expected_us, s->freeze_forced);
		return;
	}
	if (s->st != S_FLUSHING)
		return;
	rc = mig__stream_flush(c->stream);
	if (rc < 0) {
		mig__source_fail(s, rc, 0, "writing the image failed: %s",
				 mig_strerror(rc));
		return;
	}
	succeed(s);
}

void mig__source_cancel_cb(uv_async_t *h)
{
	struct mig_source *s = h->data;

	if (!s->finished && !atomic_load(&s->ses.committed))
		mig__source_fail(s, MIG_ECANCELED, 0,
				 "migration cancelled by the user");
}

void mig__source_tick_cb(uv_timer_t *h)
{
	struct mig_source *s = h->data;
	uint64_t now = mig__now_us();

	if (!s->conn_open)
		return;
	mig__rate_update(&s->bw, s->conn.stream->bytes_out, now);
	mig__session_lock(&s->ses);
	s->ses.stats.wire_bytes = s->conn.stream->bytes_out;
	s->ses.stats.total_us = now - s->ses.t_start_us;
	if (s->snd_ready && s->st == S_ITERATE)
		s->ses.stats.remaining_bytes =
		    mig__sender_pending(&s->snd) * MIG_PAGE_SIZE;
	mig__session_unlock(&s->ses);
}

const struct mig__conn_cbs mig__source_conn_cbs = {
    .on_ready = on_ready,
    .on_frame = on_frame,
    .on_end = on_end,
    .on_drain = on_drain,
};
