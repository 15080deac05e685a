/*
 * test_policy.c - the convergence policy (every decision branch), the
 * windowed rate estimator and the token bucket, on synthetic time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

#define MS  1000ull
#define SEC 1000000ull
#define MB  1000000ull

/* ---- rate estimator -------------------------------------------------- */

static void test_rate_none_before_first_window(void **state)
{
	struct mig__rate r;

	(void)state;
	mig__rate_init(&r, 100 * MS, 5 * SEC, 1000);
	assert_int_equal(mig__rate_get(&r), 0);
	mig__rate_update(&r, 1000 + 50 * MB, 5 * SEC + 99 * MS);
	assert_int_equal(mig__rate_get(&r), 0);
	/* Time standing still or going back closes nothing. */
	mig__rate_update(&r, 1000 + 60 * MB, 5 * SEC);
	assert_int_equal(mig__rate_get(&r), 0);
}

static void test_rate_first_window_then_ewma(void **state)
{
	struct mig__rate r;
	uint64_t t = 0, total = 0;

	(void)state;
	mig__rate_init(&r, 100 * MS, t, total);
	/* 10 MB in 100 ms: 100 MB/s, taken as is. */
	t += 100 * MS;
	total += 10 * MB;
	mig__rate_update(&r, total, t);
	assert_int_equal(mig__rate_get(&r), 100 * MB);
	/* 30 MB in 100 ms: 300 MB/s, smoothed to (100 + 300) / 2. */
	t += 100 * MS;
	total += 30 * MB;
	mig__rate_update(&r, total, t);
	assert_int_equal(mig__rate_get(&r), 200 * MB);
	/* Updates inside a window do not move the estimate... */
	mig__rate_update(&r, total + 5 * MB, t + 50 * MS);
	assert_int_equal(mig__rate_get(&r), 200 * MB);
	/* ...and count in the window they close: 10 MB in 200 ms. */
	t += 200 * MS;
	total += 10 * MB;
	mig__rate_update(&r, total, t);
	assert_int_equal(mig__rate_get(&r), 125 * MB);
	/* An idle window halves it. */
	t += 100 * MS;
	mig__rate_update(&r, total, t);
	assert_int_equal(mig__rate_get(&r), 125 * MB / 2);
}

static void test_rate_converges(void **state)
{
	struct mig__rate r;
	uint64_t t = 0, total = 0;
	int i;

	(void)state;
	mig__rate_init(&r, 10 * MS, t, total);
	t += 10 * MS;
	total += 10 * MB; /* a 1 GB/s burst first */
	mig__rate_update(&r, total, t);
	for (i = 0; i < 40; i++) {
		t += 10 * MS;
		total += 500000; /* then a steady 50 MB/s */
		mig__rate_update(&r, total, t);
	}
	assert_in_range(mig__rate_get(&r), 50 * MB - 10, 50 * MB + 10);
}

/* ---- token bucket ---------------------------------------------------- */

static void test_bucket_unlimited(void **state)
{
	struct mig__bucket b;

	(void)state;
	mig__bucket_init(&b, 0, 0);
	assert_int_equal(mig__bucket_take(&b, UINT64_MAX, 0), 0);
	assert_int_equal(mig__bucket_take(&b, 1ull << 40, 1), 0);
}

static void test_bucket_burst_then_rate(void **state)
{
	struct mig__bucket b;
	uint64_t t = 1 * SEC;

	(void)state;
	/* 100 MB/s: the burst is 1/10 s of it, 10 MB. */
	mig__bucket_init(&b, 100 * MB, t);
	assert_int_equal(b.burst, 10 * MB);
	assert_int_equal(mig__bucket_take(&b, 6 * MB, t), 0);
	assert_int_equal(mig__bucket_take(&b, 4 * MB, t), 0);
	/* Empty: 1 MB more needs 10 ms. */
	assert_in_range(mig__bucket_take(&b, 1 * MB, t), 10 * MS, 10 * MS + 1);
	/* A refused take takes nothing: 5 ms later, half of it is there. */
	assert_in_range(mig__bucket_take(&b, 1 * MB, t + 5 * MS), 5 * MS,
			5 * MS + 1);
	assert_int_equal(mig__bucket_take(&b, 1 * MB, t + 10 * MS), 0);
	/* A long idle period refills only up to the burst. */
	t += 100 * SEC;
	assert_int_equal(mig__bucket_take(&b, 10 * MB, t), 0);
	assert_true(mig__bucket_take(&b, 1, t) > 0);
}

static void test_bucket_min_burst_and_big_takes(void **state)
{
	struct mig__bucket b;
	uint64_t t = 0, wait;

	(void)state;
	/* 1 MB/s: 1/10 s would be 100 kB, the floor is 256 KiB. */
	mig__bucket_init(&b, 1 * MB, t);
	assert_int_equal(b.burst, 256u << 10);
	/* A take over the burst goes from a full bucket, into debt... */
	assert_int_equal(mig__bucket_take(&b, 1 * MB, t), 0);
	/* ...which the next take pays for: 1 MB - 256 KiB, + 1 byte. */
	wait = mig__bucket_take(&b, 1, t);
	assert_in_range(wait, (1 * MB - (256u << 10)) + 1,
			(1 * MB - (256u << 10)) + 2);
	assert_int_equal(mig__bucket_take(&b, 1, t + wait), 0);
}

static void test_bucket_average_rate(void **state)
{
	struct mig__bucket b;
	uint64_t t = 0, sent = 0, wait;

	(void)state;
	/* 64 KiB sends as fast as allowed for 10 s at 10 MB/s. */
	mig__bucket_init(&b, 10 * MB, t);
	while (t < 10 * SEC) {
		wait = mig__bucket_take(&b, 65536, t);
		if (wait)
			t += wait;
		else
			sent += 65536;
	}
	/* 100 MB plus at most one burst (1 MB) and one take. */
	assert_in_range(sent, 100 * MB - 65536, 101 * MB + 65536);
}

/* ---- policy ---------------------------------------------------------- */

static void params(struct mig_params *p, uint32_t downtime_ms,
		   uint32_t max_rounds, uint32_t max_total_ms,
		   enum mig_on_limit on_limit)
{
	memset(p, 0, sizeof(*p));
	p->downtime_limit_ms = downtime_ms;
	p->max_rounds = max_rounds;
	p->max_total_ms = max_total_ms;
	p->on_limit = on_limit;
}

/* 1 GB/s, 4 KiB a page on the wire, 1 MB of state, 0.5 ms round trip. */
static struct mig__policy_input input(uint64_t pending)
{
	struct mig__policy_input in = {
	    .rounds_done = 1,
	    .elapsed_us = 1 * SEC,
	    .pending_pages = pending,
	    .wire_per_page = 4096,
	    .bandwidth = 1000 * MB,
	    .state_bytes = 1 * MB,
	    .rtt_us = 500,
	};
	return in;
}

static void test_expected_downtime(void **state)
{
	struct mig__policy_input in = input(10000);

	(void)state;
	/* (40.96 MB + 1 MB) / 1 GB/s = 41960 us, + 2 * 500 us. */
	assert_int_equal(mig__policy_expected_downtime(&in), 41960 + 1000);
	in.pending_pages = 0;
	assert_int_equal(mig__policy_expected_downtime(&in), 1000 + 1000);
	/* Unknown bandwidth: only an empty dirty set is estimable. */
	in.bandwidth = 0;
	assert_int_equal(mig__policy_expected_downtime(&in), 1000);
	in.pending_pages = 1;
	assert_int_equal(mig__policy_expected_downtime(&in), UINT64_MAX);
	/* Absurd inputs saturate instead of wrapping. */
	in = input(UINT64_MAX);
	in.bandwidth = 1;
	assert_int_equal(mig__policy_expected_downtime(&in), UINT64_MAX);
	in = input(0);
	in.rtt_us = UINT64_MAX;
	assert_int_equal(mig__policy_expected_downtime(&in), UINT64_MAX);
}

static void test_decide_switchover(void **state)
{
	struct mig__policy pol;
	struct mig_params p;
	struct mig__policy_input in = input(10000);
	uint64_t expected = 0;
	const char *why = NULL;

	(void)state;
	params(&p, 300, 30, 0, MIG_ON_LIMIT_CANCEL);
	mig__policy_init(&pol, &p);
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__SWITCHOVER);
	assert_int_equal(expected, 42960);
	assert_string_equal(why, "estimated pause fits the downtime limit");
	/* Exactly at the limit still fits. */
	params(&p, 43, 30, 0, MIG_ON_LIMIT_CANCEL);
	mig__policy_init(&pol, &p);
	in.rtt_us = 520; /* 41960 + 1040 = 43000 */
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__SWITCHOVER);
	in.rtt_us = 521;
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__CONTINUE);
	/* A fitting estimate wins over a limit that is also hit. */
	params(&p, 300, 1, 1, MIG_ON_LIMIT_CANCEL);
	mig__policy_init(&pol, &p);
	in = input(10);
	in.rounds_done = 5;
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__SWITCHOVER);
}

static void test_decide_continue(void **state)
{
	struct mig__policy pol;
	struct mig_params p;
	struct mig__policy_input in = input(1000000); /* ~4.1 s */
	uint64_t expected = 0;
	const char *why = NULL;

	(void)state;
	params(&p, 300, 30, 60000, MIG_ON_LIMIT_SWITCHOVER);
	mig__policy_init(&pol, &p);
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__CONTINUE);
	assert_true(expected > 300 * MS);
	assert_non_null(why);
	/* Unknown bandwidth with pages pending: keep going. */
	in.bandwidth = 0;
	in.pending_pages = 10;
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__CONTINUE);
	assert_int_equal(expected, UINT64_MAX);
	/* Unknown bandwidth, nothing pending: switch over. */
	in.pending_pages = 0;
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__SWITCHOVER);
}

static void test_decide_round_limit(void **state)
{
	struct mig__policy pol;
	struct mig_params p;
	struct mig__policy_input in = input(1000000);
	uint64_t expected;
	const char *why = NULL;

	(void)state;
	params(&p, 300, 3, 0, MIG_ON_LIMIT_SWITCHOVER);
	mig__policy_init(&pol, &p);
	in.rounds_done = 2;
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__CONTINUE);
	in.rounds_done = 3;
	in.pending_pages--;
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__FORCE);
	assert_string_equal(why, "round limit reached");

	params(&p, 300, 3, 0, MIG_ON_LIMIT_CANCEL);
	mig__policy_init(&pol, &p);
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__GIVE_UP);
	assert_string_equal(why, "round limit reached");

	/* max_rounds 0: no round limit at all. */
	params(&p, 300, 0, 0, MIG_ON_LIMIT_CANCEL);
	mig__policy_init(&pol, &p);
	in.rounds_done = 1000000;
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__CONTINUE);
}

static void test_decide_time_limit(void **state)
{
	struct mig__policy pol;
	struct mig_params p;
	struct mig__policy_input in = input(1000000);
	uint64_t expected;
	const char *why = NULL;

	(void)state;
	params(&p, 300, 0, 5000, MIG_ON_LIMIT_CANCEL);
	mig__policy_init(&pol, &p);
	in.elapsed_us = 5000 * MS - 1;
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__CONTINUE);
	in.elapsed_us = 5000 * MS;
	in.pending_pages--;
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__GIVE_UP);
	assert_string_equal(why, "total time limit reached");

	params(&p, 300, 0, 5000, MIG_ON_LIMIT_SWITCHOVER);
	mig__policy_init(&pol, &p);
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__FORCE);
	/* max_total_ms 0: no time limit at all. */
	params(&p, 300, 0, 0, MIG_ON_LIMIT_SWITCHOVER);
	mig__policy_init(&pol, &p);
	in.elapsed_us = UINT64_MAX;
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__CONTINUE);
}

static void test_decide_no_progress(void **state)
{
	struct mig__policy pol;
	struct mig_params p;
	struct mig__policy_input in = input(500000);
	uint64_t expected;
	const char *why = NULL;
	int i;

	(void)state;
	params(&p, 300, 0, 0, MIG_ON_LIMIT_CANCEL);
	mig__policy_init(&pol, &p);
	/* A first decision sets the low; then 4 without a new one... */
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__CONTINUE);
	for (i = 0; i < 4; i++) {
		in.pending_pages = 500000 + (uint64_t)i; /* never below */
		assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
				 MIG__CONTINUE);
	}
	/* ...a new low resets the count... */
	in.pending_pages = 499999;
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__CONTINUE);
	for (i = 0; i < 4; i++) {
		in.pending_pages = 499999; /* equal is no progress */
		assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
				 MIG__CONTINUE);
	}
	/* ...and the fifth decision in a row without one gives up. */
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__GIVE_UP);
	assert_string_equal(why, "no progress: the guest dirties memory as "
				 "fast as it is sent");

	params(&p, 300, 0, 0, MIG_ON_LIMIT_SWITCHOVER);
	mig__policy_init(&pol, &p);
	for (i = 0; i < 5; i++)
		assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
				 MIG__CONTINUE);
	assert_int_equal(mig__policy_decide(&pol, &in, &expected, &why),
			 MIG__FORCE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rate_none_before_first_window),
	    cmocka_unit_test(test_rate_first_window_then_ewma),
	    cmocka_unit_test(test_rate_converges),
	    cmocka_unit_test(test_bucket_unlimited),
	    cmocka_unit_test(test_bucket_burst_then_rate),
	    cmocka_unit_test(test_bucket_min_burst_and_big_takes),
	    cmocka_unit_test(test_bucket_average_rate),
	    cmocka_unit_test(test_expected_downtime),
	    cmocka_unit_test(test_decide_switchover),
	    cmocka_unit_test(test_decide_continue),
	    cmocka_unit_test(test_decide_round_limit),
	    cmocka_unit_test(test_decide_time_limit),
	    cmocka_unit_test(test_decide_no_progress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
