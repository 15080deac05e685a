/*
 * test_dirty.c - the library's dirty page tracker: region checks, marks
 * mapped to pages, start/stop, and that no mark is lost while another
 * thread fetches and clears.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "bitmap.h"

#define P	 MIG_PAGE_SIZE
#define R0_GPA	 0x0ull
#define R0_PAGES 1000
#define R1_GPA	 0x100000000ull
#define R1_PAGES 130

static const struct mig_region two_regions[] = {
    {.gpa = R0_GPA, .size = R0_PAGES * (uint64_t)P},
    {.gpa = R1_GPA, .size = R1_PAGES * (uint64_t)P},
};

static int bit(const uint64_t *bm, uint64_t i)
{
	return (int)((bm[i / 64] >> (i % 64)) & 1);
}

static mig_dirty *new_started(void)
{
	mig_dirty *d = NULL;

	assert_int_equal(mig_dirty_new(&d, two_regions, 2), 0);
	assert_non_null(d);
	assert_int_equal(mig_dirty_ops()->start(d), 0);
	return d;
}

static void test_new_rejects_bad_regions(void **state)
{
	struct mig_region r[MIG_MAX_REGIONS + 1];
	mig_dirty *d = NULL;
	size_t i;

	(void)state;
	memset(r, 0, sizeof(r));
	for (i = 0; i < MIG__ARRAY_SIZE(r); i++) {
		r[i].gpa = i * 2 * (uint64_t)P;
		r[i].size = P;
	}
	assert_int_equal(mig_dirty_new(&d, r, 0), -EINVAL);
	assert_int_equal(mig_dirty_new(&d, NULL, 1), -EINVAL);
	assert_int_equal(mig_dirty_new(NULL, r, 1), -EINVAL);
	assert_int_equal(mig_dirty_new(&d, r, MIG_MAX_REGIONS + 1), -EINVAL);
	assert_null(d);
	assert_int_equal(mig_dirty_new(&d, r, MIG_MAX_REGIONS), 0);
	mig_dirty_free(d);
	d = NULL;

	r[1].gpa += 1; /* unaligned gpa */
	assert_int_equal(mig_dirty_new(&d, r, 2), -EINVAL);
	r[1].gpa -= 1;
	r[1].size = P + 512; /* unaligned size */
	assert_int_equal(mig_dirty_new(&d, r, 2), -EINVAL);
	r[1].size = 0; /* empty */
	assert_int_equal(mig_dirty_new(&d, r, 2), -EINVAL);
	r[1].size = 3 * (uint64_t)P; /* overlaps r[2] */
	assert_int_equal(mig_dirty_new(&d, r, 3), -EINVAL);
	r[1].size = P;
	r[2].gpa = UINT64_MAX - P + 1; /* wraps past the top */
	r[2].size = 2 * (uint64_t)P;
	assert_int_equal(mig_dirty_new(&d, r, 3), -EINVAL);
	assert_null(d);
	mig_dirty_free(NULL);
}

static void test_marks_map_to_pages(void **state)
{
	uint64_t b0[16] = {0}, b1[3] = {0};
	const struct mig_dirty_ops *ops = mig_dirty_ops();
	mig_dirty *d = new_started();

	(void)state;
	mig_dirty_mark(d, 5 * (uint64_t)P + 17, 1); /* page 5 */
	mig_dirty_mark(d, 10 * (uint64_t)P - 1, 2); /* pages 9, 10 */
	mig_dirty_mark(d, 20 * (uint64_t)P, 3 * P); /* 20, 21, 22 */
	mig_dirty_mark(d, 30 * (uint64_t)P, 0);	    /* nothing */
	/* Straddles the end of region 0: only page 999 exists. */
	mig_dirty_mark(d, (R0_PAGES - 1) * (uint64_t)P, 4 * P);
	/* Starts below region 1, ends in its page 1. */
	mig_dirty_mark(d, R1_GPA - P, 2 * (uint64_t)P + 1);
	/* Outside every region. */
	mig_dirty_mark(d, 0x80000000ull, P);
	/* gpa + len wraps: clamped, marks the region's last page. */
	mig_dirty_mark(d, R1_GPA + (R1_PAGES - 1) * (uint64_t)P, UINT64_MAX);

	b0[15] = 1ull << 63; /* fetch ORs, never clears the caller's bits */
	assert_int_equal(ops->fetch_and_clear(d, 0, b0, 1024), 0);
	assert_int_equal(ops->fetch_and_clear(d, 1, b1, R1_PAGES), 0);
	assert_int_equal(mig__bitmap_count(b0, 1024), 8);
	assert_true(bit(b0, 5) && bit(b0, 9) && bit(b0, 10));
	assert_true(bit(b0, 20) && bit(b0, 21) && bit(b0, 22));
	assert_true(bit(b0, 999) && bit(b0, 1023));
	assert_int_equal(mig__bitmap_count(b1, R1_PAGES), 3);
	assert_true(bit(b1, 0) && bit(b1, 1) && bit(b1, R1_PAGES - 1));

	/* Cleared: a second fetch finds nothing new. */
	memset(b0, 0, sizeof(b0));
	assert_int_equal(ops->fetch_and_clear(d, 0, b0, R0_PAGES), 0);
	assert_int_equal(mig__bitmap_count(b0, R0_PAGES), 0);
	mig_dirty_free(d);
}

static void test_fetch_rejects_bad_args(void **state)
{
	uint64_t b[16] = {0};
	const struct mig_dirty_ops *ops = mig_dirty_ops();
	mig_dirty *d = new_started();

	(void)state;
	assert_int_equal(ops->fetch_and_clear(d, 2, b, 1024), -EINVAL);
	assert_int_equal(ops->fetch_and_clear(d, 0, b, R0_PAGES - 1), -EINVAL);
	assert_int_equal(ops->fetch_and_clear(d, 0, NULL, R0_PAGES), -EINVAL);
	assert_int_equal(ops->start(NULL), -EINVAL);
	assert_int_equal(ops->stop(NULL), -EINVAL);
	mig_dirty_free(d);
}

static void test_start_stop(void **state)
{
	uint64_t b[16] = {0};
	const struct mig_dirty_ops *ops = mig_dirty_ops();
	mig_dirty *d = NULL;

	(void)state;
	assert_int_equal(mig_dirty_new(&d, two_regions, 2), 0);
	mig_dirty_mark(d, 1 * (uint64_t)P, 1); /* before start: ignored */
	assert_int_equal(ops->start(d), 0);
	mig_dirty_mark(d, 2 * (uint64_t)P, 1);
	assert_int_equal(ops->stop(d), 0);
	mig_dirty_mark(d, 3 * (uint64_t)P, 1); /* after stop: ignored */
	assert_int_equal(ops->fetch_and_clear(d, 0, b, R0_PAGES), 0);
	assert_int_equal(mig__bitmap_count(b, R0_PAGES), 1);
	assert_int_equal(bit(b, 2), 1);

	/* A restart forgets what the previous run left unfetched. */
	assert_int_equal(ops->start(d), 0);
	mig_dirty_mark(d, 4 * (uint64_t)P, 1);
	assert_int_equal(ops->stop(d), 0);
	assert_int_equal(ops->start(d), 0);
	mig_dirty_mark(d, 6 * (uint64_t)P, 1);
	memset(b, 0, sizeof(b));
	assert_int_equal(ops->fetch_and_clear(d, 0, b, R0_PAGES), 0);
	assert_int_equal(mig__bitmap_count(b, R0_PAGES), 1);
	assert_int_equal(bit(b, 6), 1);
	mig_dirty_free(d);
}

/*
 * The concurrency test marks every page at most once, so that a lost
 * mark shows as a missing bit instead of hiding behind a later mark of
 * the same page. Pages go in triples (a mark may cross a word), triple j
 * belongs to thread j % THREADS, so neighbouring triples, and the words
 * they share, are marked by different threads at once.
 */
#define THREADS	    4
#define BIG_PAGES   (3u << 20) /* region 0 of the concurrency test */
#define BIG_WORDS   (BIG_PAGES / 64)
#define SMALL_WORDS 3 /* mig__bitmap_words(R1_PAGES) */
#define BIG_R1_GPA  (1ull << 40)

static const struct mig_region conc_regions[] = {
    {.gpa = R0_GPA, .size = BIG_PAGES * (uint64_t)P},
    {.gpa = BIG_R1_GPA, .size = R1_PAGES * (uint64_t)P},
};

struct marker {
	pthread_t tid;
	mig_dirty *d;
	unsigned idx;
	uint64_t seed;
	uint64_t *want0; /* BIG_WORDS: what this thread marked */
	uint64_t want1[SMALL_WORDS];
};

static atomic_uint markers_done;
static pthread_barrier_t go; /* markers and the fetcher start together */

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void shuffle(struct marker *m, uint32_t *idx, size_t n)
{
	size_t i, j;
	uint32_t t;

	for (i = n; i > 1; i--) {
		j = (size_t)(xorshift(&m->seed) % i);
		t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

/* Marks the triples in `idx[0..n)` of a region. */
static void mark_triples(struct marker *m, const uint32_t *idx, size_t n,
			 uint64_t gpa, uint64_t npages, uint64_t *want)
{
	uint64_t page, len;
	size_t i;

	for (i = 0; i < n; i++) {
		page = (uint64_t)idx[i] * 3;
		len = MIG__MIN(3, npages - page);
		/* Unaligned start and end: still exactly these pages. */
		mig_dirty_mark(m->d, gpa + page * P + 7, len * P - 14);
		mig__bitmap_set_range(want, page, len);
	}
}

static void *marker_main(void *arg)
{
	struct marker *m = arg;
	uint32_t *idx, small[MIG__DIV_ROUND_UP(R1_PAGES, 3)];
	size_t n = 0, ns = 0;
	uint32_t j;

	idx = malloc(BIG_PAGES / 3 * sizeof(*idx));
	if (!idx)
		abort();
	for (j = m->idx; j < BIG_PAGES / 3; j += THREADS)
		idx[n++] = j;
	shuffle(m, idx, n);
	/* Region 1: a sparse subset, so "all pages" is not enough. */
	for (j = m->idx; j < MIG__DIV_ROUND_UP(R1_PAGES, 3); j += THREADS)
		if (j % 3)
			small[ns++] = j;
	pthread_barrier_wait(&go);
	mark_triples(m, idx, n / 2, R0_GPA, BIG_PAGES, m->want0);
	mark_triples(m, small, ns, BIG_R1_GPA, R1_PAGES, m->want1);
	mark_triples(m, idx + n / 2, n - n / 2, R0_GPA, BIG_PAGES, m->want0);
	free(idx);
	atomic_fetch_add(&markers_done, 1);
	return NULL;
}

/* ORs `round` into `got`; returns the bits that arrived twice. */
static uint64_t merge_round(uint64_t *got, const uint64_t *round, size_t words)
{
	uint64_t twice = 0;
	size_t w;

	for (w = 0; w < words; w++) {
		twice |= got[w] & round[w];
		got[w] |= round[w];
	}
	return twice;
}

static void test_concurrent_marks_never_lost(void **state)
{
	struct marker m[THREADS];
	uint64_t *got0, *want0, *round0;
	uint64_t got1[SMALL_WORDS] = {0}, want1[SMALL_WORDS] = {0};
	uint64_t round1[SMALL_WORDS];
	const struct mig_dirty_ops *ops = mig_dirty_ops();
	unsigned fetches = 0, busy = 0, last = 0;
	mig_dirty *d = NULL;
	size_t w;
	int i;

	(void)state;
	got0 = calloc(BIG_WORDS, sizeof(*got0));
	want0 = calloc(BIG_WORDS, sizeof(*want0));
	round0 = calloc(BIG_WORDS, sizeof(*round0));
	assert_non_null(got0);
	assert_non_null(want0);
	assert_non_null(round0);
	assert_int_equal(mig_dirty_new(&d, conc_regions, 2), 0);
	assert_int_equal(ops->start(d), 0);
	atomic_store(&markers_done, 0);
	assert_int_equal(pthread_barrier_init(&go, NULL, THREADS + 1), 0);
	for (i = 0; i < THREADS; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		m[i].d = d;
		m[i].idx = (unsigned)i;
		m[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		m[i].want0 = calloc(BIG_WORDS, sizeof(uint64_t));
		assert_non_null(m[i].want0);
		assert_int_equal(
		    pthread_create(&m[i].tid, NULL, marker_main, &m[i]), 0);
	}
	pthread_barrier_wait(&go);
	/* Fetch while they mark, each round into a fresh bitmap. */
	for (;;) {
		last = atomic_load(&markers_done) == THREADS;
		memset(round0, 0, BIG_WORDS * sizeof(*round0));
		memset(round1, 0, sizeof(round1));
		assert_int_equal(ops->fetch_and_clear(d, 0, round0, BIG_PAGES),
				 0);
		assert_int_equal(ops->fetch_and_clear(d, 1, round1, R1_PAGES),
				 0);
		fetches++;
		if (!last && mig__bitmap_count(round0, BIG_PAGES))
			busy++;
		assert_int_equal(merge_round(got0, round0, BIG_WORDS), 0);
		assert_int_equal(merge_round(got1, round1, SMALL_WORDS), 0);
		/* One more fetch after everyone finished collects the rest. */
		if (last)
			break;
	}
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(m[i].tid, NULL), 0);
		for (w = 0; w < BIG_WORDS; w++)
			want0[w] |= m[i].want0[w];
		for (w = 0; w < SMALL_WORDS; w++)
			want1[w] |= m[i].want1[w];
		free(m[i].want0);
	}
	assert_int_equal(mig__bitmap_count(want0, BIG_PAGES), BIG_PAGES);
	for (w = 0; w < BIG_WORDS; w++)
		assert_int_equal(got0[w], want0[w]);
	for (w = 0; w < SMALL_WORDS; w++)
		assert_int_equal(got1[w], want1[w]);
	pthread_barrier_destroy(&go);
	print_message("%u fetches, %u caught marks in flight\n", fetches, busy);
	free(round0);
	free(want0);
	free(got0);
	mig_dirty_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_rejects_bad_regions),
	    cmocka_unit_test(test_marks_map_to_pages),
	    cmocka_unit_test(test_fetch_rejects_bad_args),
	    cmocka_unit_test(test_start_stop),
	    cmocka_unit_test(test_concurrent_marks_never_lost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
