/*
 * fuzz_batch.c - the PAGE_BATCH decoder over hostile bodies, against two
 * small target regions (16 and 8 pages) that ASan fences in.
 *
 * Bit 0 of the first byte picks the mode. Clear: the rest is the body,
 * as is. Set: the rest describes a valid batch (region, pages, what each
 * page holds), which is encoded and then damaged by (offset, xor) pairs
 * taken from what remains; this reaches the LZ4 and layout checks with
 * well-formed blocks that blind bytes rarely find. An undamaged batch
 * must decode to exactly the source pages.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define P MIG_PAGE_SIZE
#define R0_PAGES 16
#define R1_PAGES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *src;   /* source memory for the encoding mode */
static uint8_t *frame; /* mig__batch_frame_bound(R0_PAGES) */
static struct mig_region regions[2];

static int init(void)
{
	if (frame)
		return 0;
	/* Separate allocations: a stray write past either one is caught. */
	regions[0].size = R0_PAGES * P;
	regions[0].host = malloc(R0_PAGES * P);
	regions[1].gpa = 1ull << 32;
	regions[1].size = R1_PAGES * P;
	regions[1].host = malloc(R1_PAGES * P);
	src = malloc(R0_PAGES * P);
	frame = malloc(mig__batch_frame_bound(R0_PAGES));
	if (!regions[0].host || !regions[1].host || !src || !frame)
		abort();
	memset(regions[0].host, 0x11, R0_PAGES * P);
	memset(regions[1].host, 0x22, R1_PAGES * P);
	return 0;
}

static void check_rc(int rc)
{
	if (rc != 0 && rc != MIG_EDECODE)
		__builtin_trap();
}

/* Fills a page from one input byte: zero, a fill, tiled input, noise. */
static void fill_page(uint8_t *p, uint8_t how, const uint8_t *data,
		      size_t size)
{
	uint64_t x = how * 0x9e3779b97f4a7c15ull + 1;
	size_t i;

	switch (how & 3) {
	case 0:
		memset(p, 0, P);
		break;
	case 1:
		memset(p, how, P);
		break;
	case 2:
		for (i = 0; i < P; i++)
			p[i] = size ? data[i % size] : (uint8_t)i;
		break;
	default:
		for (i = 0; i < P; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[i] = (uint8_t)x;
		}
		break;
	}
}

static void fuzz_encoded(const uint8_t *data, size_t size)
{
	uint64_t pages[R0_PAGES];
	uint8_t used[R0_PAGES] = {0};
	struct mig__encoder e;
	uint32_t region;
	size_t n, npages, i, len, body_len, pos, damaged = 0;
	uint8_t *body = frame + MIG__FRAME_HDR_LEN;
	int rc;

	if (size < 2)
		return;
	region = data[0] >> 7;
	npages = region ? R1_PAGES : R0_PAGES;
	n = (size_t)(data[0] & 0x3f) % npages + 1;
	mig__encoder_init(&e, data[1] & 1);
	data += 2;
	size -= 2;
	/* Distinct pages, in an order and with contents the input picks. */
	for (i = 0; i < n; i++) {
		pos = size ? data[0] % npages : i;
		while (used[pos])
			pos = (pos + 1) % npages;
		used[pos] = 1;
		pages[i] = pos;
		fill_page(src + pos * P, size ? data[0] : 0, data, size);
		if (size) {
			data++;
			size--;
		}
	}
	if (mig__batch_encode(&e, region, 1, src, pages, n, frame,
			      mig__batch_frame_bound(R0_PAGES), &len, NULL))
		__builtin_trap();
	body_len = len - MIG__FRAME_HDR_LEN;
	for (; size >= 3; data += 3, size -= 3) {
		pos = (size_t)(data[0] | data[1] << 8) % body_len;
		body[pos] ^= data[2];
		damaged |= data[2];
	}
	rc = mig__batch_decode(body, body_len, regions, 2, NULL);
	check_rc(rc);
	if (damaged)
		return;
	if (rc)
		__builtin_trap();
	for (i = 0; i < n; i++)
		if (memcmp((uint8_t *)regions[region].host + pages[i] * P,
			   src + pages[i] * P, P))
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mig__batch_stats st;

	init();
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		fuzz_encoded(data + 1, size - 1);
		return 0;
	}
	check_rc(mig__batch_decode(data + 1, size - 1, regions, 2, &st));
	return 0;
}
