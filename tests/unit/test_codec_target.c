/*
 * test_codec_target.c - how decoding treats target memory: a ZERO page the
 * migration never wrote is not touched at all; one it wrote is cleared.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"

#define NPAGES 64

struct fixture {
	uint8_t *src;   /* source memory */
	uint8_t *dst;   /* target memory */
	uint8_t *frame;
	size_t cap;
	_Atomic uint64_t bits[1];
	_Atomic uint64_t *written[1];
	struct mig_region region;
};

static void setup(struct fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	fx->src = calloc(NPAGES, MIG_PAGE_SIZE);
	fx->dst = calloc(NPAGES, MIG_PAGE_SIZE);
	fx->cap = mig__batch_frame_bound(NPAGES);
	fx->frame = malloc(fx->cap);
	assert_non_null(fx->src);
	assert_non_null(fx->dst);
	assert_non_null(fx->frame);
	atomic_init(&fx->bits[0], 0);
	fx->written[0] = fx->bits;
	fx->region = (struct mig_region){ .gpa = 0,
					  .size = NPAGES * MIG_PAGE_SIZE,
					  .host = fx->dst };
}

static void teardown(struct fixture *fx)
{
	free(fx->src);
	free(fx->dst);
	free(fx->frame);
}

/* Sends page `p` of the source as it is now, as a batch of one. */
static void send_page(struct fixture *fx, uint64_t p,
		      _Atomic uint64_t *const *written)
{
	struct mig__encoder enc;
	struct mig__batch_stats st;
	size_t len;

	mig__encoder_init(&enc, 1);
	assert_int_equal(mig__batch_encode(&enc, 0, 1, fx->src, &p, 1,
					   fx->frame, fx->cap, &len, &st),
			 0);
	assert_int_equal(mig__batch_decode(fx->frame + MIG__FRAME_HDR_LEN,
					   len - MIG__FRAME_HDR_LEN,
					   &fx->region, 1, written, &st),
			 0);
}

static void test_unwritten_zero_page_untouched(void **state)
{
	struct fixture fx;
	uint8_t *page;

	(void)state;
	setup(&fx);
	/*
	 * Target memory is zero when a migration starts (create_guest's
	 * contract). Poison a page to see whether a ZERO page of a page the
	 * migration never wrote touches it: it must not.
	 */
	page = fx.dst + 5 * MIG_PAGE_SIZE;
	memset(page, 0xee, MIG_PAGE_SIZE);
	send_page(&fx, 5, fx.written);
	assert_int_equal(page[0], 0xee);
	assert_int_equal(page[MIG_PAGE_SIZE - 1], 0xee);
	assert_int_equal(atomic_load(&fx.bits[0]), 0);
	teardown(&fx);
}

static void test_written_then_zero_is_cleared(void **state)
{
	struct fixture fx;
	uint8_t *page;

	(void)state;
	setup(&fx);
	page = fx.dst + 7 * MIG_PAGE_SIZE;
	/* Round 1: the page has data. */
	memset(fx.src + 7 * MIG_PAGE_SIZE, 0x5a, MIG_PAGE_SIZE);
	send_page(&fx, 7, fx.written);
	assert_int_equal(page[100], 0x5a);
	assert_true(atomic_load(&fx.bits[0]) & (1ull << 7));
	/* Round 2: the guest zeroed it; the target's copy must follow. */
	memset(fx.src + 7 * MIG_PAGE_SIZE, 0, MIG_PAGE_SIZE);
	send_page(&fx, 7, fx.written);
	assert_true(mig__page_is_zero(page));
	teardown(&fx);
}

static void test_without_bitmap_every_zero_page_is_checked(void **state)
{
	struct fixture fx;
	uint8_t *page;

	(void)state;
	setup(&fx);
	page = fx.dst + 9 * MIG_PAGE_SIZE;
	memset(page, 0xee, MIG_PAGE_SIZE);
	send_page(&fx, 9, NULL);
	assert_true(mig__page_is_zero(page));
	teardown(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unwritten_zero_page_untouched),
		cmocka_unit_test(test_written_then_zero_is_cleared),
		cmocka_unit_test(test_without_bitmap_every_zero_page_is_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
