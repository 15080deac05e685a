/*
 * policy.c - the convergence policy and its rate tools.
 *
 * All times are microseconds on the caller's clock, passed in, so that
 * the tests can drive them with synthetic time.
 */
#include "policy.h"

/* Rounds in a row without a new low of pending pages before giving up. */
#define NO_PROGRESS_DECISIONS 5

/* The bucket's burst: 1/10 s of the rate, at least this much. */
#define BUCKET_MIN_BURST (256u << 10)

/* a * 1e6 / b, saturating, for byte counts and rates in bytes/s. */
static uint64_t scale_us(uint64_t a, uint64_t b)
{
	double v = (double)a * 1e6 / (double)b;

	return v >= 0x1p64 ? UINT64_MAX : (uint64_t)v;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

void mig__rate_init(struct mig__rate *r, uint64_t window_us, uint64_t now_us,
		    uint64_t total)
{
	r->window_us = window_us;
	r->win_start_us = now_us;
	r->win_start_total = total;
	r->rate = 0;
	r->have_rate = 0;
}

void mig__rate_update(struct mig__rate *r, uint64_t total, uint64_t now_us)
{
	uint64_t dt, delta, sample;

	if (now_us <= r->win_start_us)
		return;
	dt = now_us - r->win_start_us;
	if (dt < r->window_us)
		return;
	/* A counter that went backwards was reset: count it from zero. */
	delta =
	    total >= r->win_start_total ? total - r->win_start_total : total;
	sample = scale_us(delta, dt);
	/* EWMA with alpha 1/2: reacts within two windows, damps jitter. */
	r->rate = r->have_rate
		      ? r->rate / 2 + sample / 2 + (r->rate & sample & 1)
		      : sample;
	r->have_rate = 1;
	r->win_start_us = now_us;
	r->win_start_total = total;
}

uint64_t mig__rate_get(const struct mig__rate *r)
{
	return r->have_rate ? r->rate : 0;
}

void mig__bucket_init(struct mig__bucket *b, uint64_t rate, uint64_t now_us)
{
	b->rate = rate;
	b->burst = MIG__MAX(rate / 10, (uint64_t)BUCKET_MIN_BURST);
	b->tokens = (double)b->burst;
	b->last_us = now_us;
}

uint64_t mig__bucket_take(struct mig__bucket *b, uint64_t bytes,
			  uint64_t now_us)
{
	double need, wait;

	if (!b->rate)
		return 0;
	if (now_us > b->last_us) {
		b->tokens +=
		    (double)(now_us - b->last_us) * (double)b->rate / 1e6;
		if (b->tokens > (double)b->burst)
			b->tokens = (double)b->burst;
		b->last_us = now_us;
	}
	/*
	 * A take larger than the burst could never be covered, so a full
	 * bucket lets it go into debt; the debt then delays what follows
	 * and the average rate still holds.
	 */
	need = (double)MIG__MIN(bytes, b->burst);
	if (b->tokens >= need) {
		b->tokens -= (double)bytes;
		return 0;
	}
	wait = (need - b->tokens) * 1e6 / (double)b->rate;
	return wait < 1.0 ? 1 : (uint64_t)wait + 1;
}

void mig__policy_init(struct mig__policy *pol, const struct mig_params *p)
{
	pol->downtime_limit_ms = p->downtime_limit_ms;
	pol->max_rounds = p->max_rounds;
	pol->max_total_ms = p->max_total_ms;
	pol->on_limit = p->on_limit;
	pol->best_pending = UINT64_MAX;
	pol->stalls = 0;
}

uint64_t mig__policy_expected_downtime(const struct mig__policy_input *in)
{
	uint64_t bytes, us;

	/*
	 * Without a measured bandwidth nothing can be estimated; only an
	 * empty dirty set is known to be cheap (the state still has to go,
	 * at a speed we cannot tell, so it counts as nothing).
	 */
	if (!in->bandwidth) {
		if (in->pending_pages)
			return UINT64_MAX;
		us = 0;
	} else {
		bytes = add_sat(mul_sat(in->pending_pages, in->wire_per_page),
				in->state_bytes);
		us = scale_us(bytes, in->bandwidth);
	}
	/* The commit exchange: READY back, COMMIT out, RUNNING back. */
	return add_sat(us, mul_sat(2, in->rtt_us));
}

enum mig__decision mig__policy_decide(struct mig__policy *pol,
				      const struct mig__policy_input *in,
				      uint64_t *expected_us, const char **why)
{
	uint64_t expected = mig__policy_expected_downtime(in);

	*expected_us = expected;
	if (in->pending_pages < pol->best_pending) {
		pol->best_pending = in->pending_pages;
		pol->stalls = 0;
	} else {
		pol->stalls++;
	}

	if (expected <= (uint64_t)pol->downtime_limit_ms * 1000) {
		*why = "estimated pause fits the downtime limit";
		return MIG__SWITCHOVER;
	}
	if (pol->max_rounds && in->rounds_done >= pol->max_rounds)
		*why = "round limit reached";
	else if (pol->max_total_ms &&
		 in->elapsed_us >= (uint64_t)pol->max_total_ms * 1000)
		*why = "total time limit reached";
	else if (pol->stalls >= NO_PROGRESS_DECISIONS)
		*why = "no progress: the guest dirties memory as fast as it "
		       "is sent";
	else {
		*why = "estimated pause exceeds the downtime limit";
		return MIG__CONTINUE;
	}
	return pol->on_limit == MIG_ON_LIMIT_CANCEL ? MIG__GIVE_UP : MIG__FORCE;
}
