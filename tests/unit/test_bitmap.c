/*
 * test_bitmap.c - page bitmaps: counting, scanning, range setting and the
 * atomic move the dirty tracker relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bitmap.h"

#define NBITS  300
#define NWORDS 5 /* mig__bitmap_words(NBITS) */

/* The reference: one bit at a time. */
static int bit(const uint64_t *bm, uint64_t i)
{
	return (int)((bm[i / 64] >> (i % 64)) & 1);
}

static void test_words(void **state)
{
	(void)state;
	assert_int_equal(mig__bitmap_words(0), 0);
	assert_int_equal(mig__bitmap_words(1), 1);
	assert_int_equal(mig__bitmap_words(64), 1);
	assert_int_equal(mig__bitmap_words(65), 2);
	assert_int_equal(mig__bitmap_words(NBITS), NWORDS);
}

static void test_count_ignores_tail(void **state)
{
	uint64_t bm[NWORDS];

	(void)state;
	memset(bm, 0xff, sizeof(bm));
	assert_int_equal(mig__bitmap_count(bm, NBITS), NBITS);
	assert_int_equal(mig__bitmap_count(bm, 64), 64);
	assert_int_equal(mig__bitmap_count(bm, 1), 1);
	assert_int_equal(mig__bitmap_count(bm, 0), 0);
	memset(bm, 0, sizeof(bm));
	bm[0] = 0x8000000000000001ull;
	bm[4] = 1ull << 43; /* bit 299: last valid */
	assert_int_equal(mig__bitmap_count(bm, NBITS), 3);
	assert_int_equal(mig__bitmap_count(bm, 299), 2);
}

static void test_next(void **state)
{
	uint64_t bm[NWORDS] = {0};

	(void)state;
	assert_int_equal(mig__bitmap_next(bm, NBITS, 0), NBITS);
	bm[0] = 1ull << 5;
	bm[2] = 1ull << 63; /* bit 191 */
	bm[4] = 1ull << 43; /* bit 299 */
	assert_int_equal(mig__bitmap_next(bm, NBITS, 0), 5);
	assert_int_equal(mig__bitmap_next(bm, NBITS, 5), 5);
	assert_int_equal(mig__bitmap_next(bm, NBITS, 6), 191);
	assert_int_equal(mig__bitmap_next(bm, NBITS, 192), 299);
	assert_int_equal(mig__bitmap_next(bm, NBITS, 300), NBITS);
	assert_int_equal(mig__bitmap_next(bm, NBITS, 1000), NBITS);
	/* A bit past nbits in the last word is not reported. */
	assert_int_equal(mig__bitmap_next(bm, 299, 192), 299);
}

static void test_set_range_matches_reference(void **state)
{
	static const uint64_t cases[][2] = {
	    {0, 1},    {0, 64},	   {63, 2},  {1, 62},  {64, 64},
	    {10, 200}, {0, NBITS}, {299, 1}, {128, 0}, {100, 100},
	};
	uint64_t bm[NWORDS];
	size_t c;
	uint64_t i, s, n;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		s = cases[c][0];
		n = cases[c][1];
		memset(bm, 0, sizeof(bm));
		mig__bitmap_set_range(bm, s, n);
		for (i = 0; i < NBITS; i++)
			assert_int_equal(bit(bm, i), i >= s && i < s + n);
		assert_int_equal(mig__bitmap_count(bm, NBITS), n);
	}
}

static void test_set_range_atomic_matches_plain(void **state)
{
	_Atomic uint64_t abm[NWORDS];
	uint64_t bm[NWORDS], got[NWORDS];
	uint64_t s, n;
	size_t w;

	(void)state;
	for (s = 0; s < 140; s += 7) {
		for (n = 0; n < 160; n += 13) {
			memset(bm, 0, sizeof(bm));
			for (w = 0; w < NWORDS; w++)
				atomic_init(&abm[w], 0);
			mig__bitmap_set_range(bm, s, n);
			mig__bitmap_set_range_atomic(abm, s, n);
			for (w = 0; w < NWORDS; w++) {
				got[w] = atomic_load(&abm[w]);
				assert_int_equal(got[w], bm[w]);
			}
		}
	}
}

static void test_move_ors_and_clears(void **state)
{
	_Atomic uint64_t src[NWORDS];
	uint64_t dst[NWORDS] = {0};
	size_t w;

	(void)state;
	for (w = 0; w < NWORDS; w++)
		atomic_init(&src[w], 0);
	mig__bitmap_set_range_atomic(src, 3, 70);
	dst[0] = 1ull << 1;
	dst[3] = 1ull << 2;
	mig__bitmap_move_atomic(dst, src, NBITS);
	assert_int_equal(mig__bitmap_count(dst, NBITS), 72);
	assert_int_equal(bit(dst, 1), 1);
	assert_int_equal(bit(dst, 3), 1);
	assert_int_equal(bit(dst, 72), 1);
	assert_int_equal(bit(dst, 73), 0);
	assert_int_equal(bit(dst, 194), 1);
	for (w = 0; w < NWORDS; w++)
		assert_int_equal(atomic_load(&src[w]), 0);
	/* Moving again adds nothing. */
	mig__bitmap_move_atomic(dst, src, NBITS);
	assert_int_equal(mig__bitmap_count(dst, NBITS), 72);
}

static void test_move_leaves_bits_past_nbits(void **state)
{
	_Atomic uint64_t src[NWORDS];
	uint64_t dst[NWORDS] = {0};
	size_t w;

	(void)state;
	for (w = 0; w < NWORDS; w++)
		atomic_init(&src[w], 0);
	/* bits 298 and 299: only 298 lies inside a 299-bit bitmap */
	atomic_store(&src[4], (1ull << 42) | (1ull << 43));
	mig__bitmap_move_atomic(dst, src, 299);
	assert_int_equal(dst[4], 1ull << 42);
	assert_int_equal(atomic_load(&src[4]), 1ull << 43);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_words),
	    cmocka_unit_test(test_count_ignores_tail),
	    cmocka_unit_test(test_next),
	    cmocka_unit_test(test_set_range_matches_reference),
	    cmocka_unit_test(test_set_range_atomic_matches_plain),
	    cmocka_unit_test(test_move_ors_and_clears),
	    cmocka_unit_test(test_move_leaves_bits_past_nbits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
