/*
 * test_codec.c - PAGE_BATCH encoding and decoding: round trips of every
 * kind of page, the encoder's LZ4 choices, and a decoder that rejects
 * every malformed body: without writing a byte, or for a corrupt LZ4
 * payload (found only by decoding it), without writing outside the
 * batch's own pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lz4.h>

#include "codec.h"
#include "migrate.pb-c.h"

#define P      MIG_PAGE_SIZE
#define NPAGES 512 /* pages in each test region */
#define FILL   0xa5

struct fixture {
	uint8_t *src;	 /* source region */
	uint8_t *dst;	 /* target region */
	uint8_t *before; /* copy of dst before a decode */
	uint8_t *frame;	 /* mig__batch_frame_bound(MIG__BATCH_MAX_PAGES) */
	size_t frame_cap;
	struct mig_region regions[2];
	uint64_t seed;
};

static uint64_t rnd(struct fixture *f)
{
	f->seed ^= f->seed << 13;
	f->seed ^= f->seed >> 7;
	f->seed ^= f->seed << 17;
	return f->seed;
}

static uint8_t *page_of(uint8_t *base, uint64_t page)
{
	return base + page * P;
}

static void fill_random(struct fixture *f, uint8_t *p)
{
	uint64_t v;
	size_t i;

	for (i = 0; i < P; i += 8) {
		v = rnd(f);
		memcpy(p + i, &v, 8);
	}
}

/* English-like text: compresses about 2:1 with LZ4, like kernel text. */
static void fill_text(struct fixture *f, uint8_t *p)
{
	static const char *const words[] = {
	    "the ",	"migration ", "of ",	 "guest ",  "memory ",
	    "pages ",	"dirty ",     "round ",	 "and ",    "state ",
	    "target ",	"source ",    "kernel ", "buffer ", "a ",
	    "process ", "network ",   "copy ",	 "to ",	    "is ",
	    "virtual ", "machine ",   "with ",	 "time ",   "when ",
	    "\n",	"0x7f3a ",    "1024 ",	 "error ",  "value ",
	};
	size_t i = 0, n;
	const char *w;

	while (i < P) {
		w = words[rnd(f) % MIG__ARRAY_SIZE(words)];
		n = MIG__MIN(strlen(w), P - i);
		memcpy(p + i, w, n);
		i += n;
	}
}

/* A few scattered bytes in a zero page: LZ4 makes it tiny (< 128). */
static void fill_sparse(struct fixture *f, uint8_t *p)
{
	int i;

	memset(p, 0, P);
	for (i = 0; i < 6; i++)
		p[rnd(f) % P] = (uint8_t)(1 + rnd(f) % 255);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->src = aligned_alloc(P, NPAGES * P);
	f->dst = aligned_alloc(P, NPAGES * P);
	f->before = malloc(NPAGES * P);
	f->frame_cap = mig__batch_frame_bound(MIG__BATCH_MAX_PAGES);
	f->frame = malloc(f->frame_cap);
	if (!f->src || !f->dst || !f->before || !f->frame)
		return -1;
	memset(f->src, 0, NPAGES * P);
	memset(f->dst, FILL, NPAGES * P);
	/* Region 0 is the big one; region 1 is small, to test its bound. */
	f->regions[0].size = NPAGES * P;
	f->regions[0].host = f->dst;
	f->regions[1].gpa = 1ull << 32;
	f->regions[1].size = 4 * P;
	f->regions[1].host = f->dst + (NPAGES - 4) * P;
	f->seed = 0x243f6a8885a308d3ull;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->src);
	free(f->dst);
	free(f->before);
	free(f->frame);
	free(f);
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Encodes pages[0..n) of f->src and checks the frame header. */
static size_t encode(struct fixture *f, struct mig__encoder *e,
		     const uint64_t *pages, size_t n,
		     struct mig__batch_stats *st)
{
	size_t len = 0;

	assert_int_equal(mig__batch_encode(e, 0, 7, f->src, pages, n, f->frame,
					   f->frame_cap, &len, st),
			 0);
	assert_true(len <= mig__batch_frame_bound(n));
	assert_int_equal(f->frame[0] | f->frame[1] << 8, MIG__F_PAGE_BATCH);
	assert_int_equal(f->frame[2] | f->frame[3] << 8, 0);
	assert_int_equal(le32(f->frame + 4), len - MIG__FRAME_HDR_LEN);
	return len;
}

static void assert_pages_equal(struct fixture *f, const uint64_t *pages,
			       size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		assert_memory_equal(page_of(f->dst, pages[i]),
				    page_of(f->src, pages[i]), P);
}

/* Encodes, decodes into f->dst, compares; returns the encoder's stats. */
static struct mig__batch_stats round_trip(struct fixture *f,
					  struct mig__encoder *e,
					  const uint64_t *pages, size_t n)
{
	struct mig__batch_stats es, ds;
	size_t len = encode(f, e, pages, n, &es);

	memset(&ds, 0xff, sizeof(ds));
	assert_int_equal(mig__batch_decode(f->frame + MIG__FRAME_HDR_LEN,
					   len - MIG__FRAME_HDR_LEN, f->regions,
					   2, NULL, &ds),
			 0);
	assert_pages_equal(f, pages, n);
	assert_int_equal(es.pages, n);
	assert_int_equal(es.zero + es.lz4 + es.raw, n);
	assert_int_equal(es.region, 0);
	assert_int_equal(es.round, 7);
	/* The decoder counts what the encoder did (no padding in there). */
	assert_memory_equal(&ds, &es, sizeof(ds));
	assert_int_equal(es.payload_bytes,
			 len - MIG__FRAME_HDR_LEN - 4 - le32(f->frame + 8));
	return es;
}

static void seq(uint64_t *pages, size_t n, uint64_t first, uint64_t step)
{
	size_t i;

	for (i = 0; i < n; i++)
		pages[i] = first + i * step;
}

/* ---- round trips ----------------------------------------------------- */

static void test_zero_pages(void **state)
{
	struct fixture *f = *state;
	struct mig__encoder e;
	struct mig__batch_stats st;
	uint64_t pages[64];
	size_t len;

	mig__encoder_init(&e, 1);
	seq(pages, 64, 0, 3);
	len = encode(f, &e, pages, 64, &st);
	assert_int_equal(st.zero, 64);
	assert_int_equal(st.payload_bytes, 0);
	/* No payload at all: the body is the header word and header. */
	assert_int_equal(len, MIG__FRAME_HDR_LEN + 4 + le32(f->frame + 8));
	/* The target's pages held FILL: they must come out cleared. */
	st = round_trip(f, &e, pages, 64);
	assert_int_equal(st.zero, 64);
	assert_true(mig__page_is_zero(page_of(f->dst, 3)));
	/* Pages not in the batch were not touched. */
	assert_int_equal(page_of(f->dst, 1)[0], FILL);
	assert_int_equal(page_of(f->dst, 2)[P - 1], FILL);
}

static void test_page_is_zero(void **state)
{
	struct fixture *f = *state;
	uint8_t *p = page_of(f->src, 0);
	size_t i;

	assert_true(mig__page_is_zero(p));
	for (i = 0; i < P; i += 511) {
		p[i] = 1;
		assert_false(mig__page_is_zero(p));
		p[i] = 0;
	}
	p[P - 1] = 0x80;
	assert_false(mig__page_is_zero(p));
	p[P - 1] = 0;
	/* Unaligned pages are fine too. */
	assert_true(mig__page_is_zero(p + 1));
}

static void test_text_pages_use_lz4(void **state)
{
	struct fixture *f = *state;
	struct mig__encoder e;
	struct mig__batch_stats st;
	uint64_t pages[100];
	size_t i;

	seq(pages, 100, 10, 1);
	for (i = 0; i < 100; i++)
		fill_text(f, page_of(f->src, pages[i]));
	mig__encoder_init(&e, 1);
	st = round_trip(f, &e, pages, 100);
	assert_int_equal(st.lz4, 100);
	assert_true(st.payload_bytes < 100 * (uint64_t)(P - P / 8));

	/* compress = 0: the same pages go raw. */
	mig__encoder_init(&e, 0);
	st = round_trip(f, &e, pages, 100);
	assert_int_equal(st.raw, 100);
	assert_int_equal(st.payload_bytes, 100 * (uint64_t)P);
}

static void test_random_pages_go_raw(void **state)
{
	struct fixture *f = *state;
	struct mig__encoder e;
	struct mig__batch_stats st;
	uint64_t pages[MIG__BATCH_MAX_PAGES];
	size_t i;

	seq(pages, MIG__BATCH_MAX_PAGES, 0, 2);
	for (i = 0; i < MIG__BATCH_MAX_PAGES; i++)
		fill_random(f, page_of(f->src, pages[i]));
	mig__encoder_init(&e, 1);
	st = round_trip(f, &e, pages, MIG__BATCH_MAX_PAGES);
	assert_int_equal(st.raw, MIG__BATCH_MAX_PAGES);
	/* The largest possible frame still fits its bound. */
	assert_true(MIG__FRAME_HDR_LEN + 4 + le32(f->frame + 8) +
			st.payload_bytes <=
		    mig__batch_frame_bound(MIG__BATCH_MAX_PAGES));
}

static void test_mixed_pages(void **state)
{
	struct fixture *f = *state;
	struct mig__encoder e;
	struct mig__batch_stats st;
	uint64_t pages[200];
	size_t i;

	/* Out of order, with gaps, every kind of page. */
	for (i = 0; i < 200; i++)
		pages[i] = (i * 37) % NPAGES;
	for (i = 0; i < 200; i++) {
		switch (i % 5) {
		case 0:
			memset(page_of(f->src, pages[i]), 0, P);
			break;
		case 1:
			fill_text(f, page_of(f->src, pages[i]));
			break;
		case 2:
			fill_random(f, page_of(f->src, pages[i]));
			break;
		case 3:
			fill_sparse(f, page_of(f->src, pages[i]));
			break;
		default:
			memset(page_of(f->src, pages[i]), (int)i, P);
			break;
		}
	}
	mig__encoder_init(&e, 1);
	st = round_trip(f, &e, pages, 200);
	/* Never 4 misses in a row: every compressible page gets LZ4. */
	assert_int_equal(st.zero, 40);
	assert_int_equal(st.lz4, 120);
	assert_int_equal(st.raw, 40);
}

static void test_tiny_lz4_outputs(void **state)
{
	struct fixture *f = *state;
	struct mig__encoder e;
	struct mig__batch_stats st;
	uint64_t pages[MIG__BATCH_MAX_PAGES];
	Mig__V1__PageBatch *h;
	size_t i, tiny = 0;

	/*
	 * Sizes under 128 take one byte less in the header than the others:
	 * a batch of them, between raw pages, must still line up.
	 */
	seq(pages, MIG__BATCH_MAX_PAGES, 0, 1);
	for (i = 0; i < MIG__BATCH_MAX_PAGES; i++) {
		if (i % 9 == 0)
			fill_random(f, page_of(f->src, i));
		else
			fill_sparse(f, page_of(f->src, i));
	}
	mig__encoder_init(&e, 1);
	st = round_trip(f, &e, pages, MIG__BATCH_MAX_PAGES);
	assert_int_equal(st.raw, 29);
	assert_int_equal(st.lz4, MIG__BATCH_MAX_PAGES - 29);
	h = mig__v1__page_batch__unpack(NULL, le32(f->frame + 8),
					f->frame + 12);
	assert_non_null(h);
	for (i = 0; i < h->n_sizes; i++)
		if (h->encodings.data[i] == MIG__ENC_LZ4 && h->sizes[i] < 128)
			tiny++;
	mig__v1__page_batch__free_unpacked(h, NULL);
	assert_int_equal(tiny, st.lz4);
}

static void test_adaptive_lz4_skip(void **state)
{
	struct fixture *f = *state;
	struct mig__encoder e;
	struct mig__batch_stats st;
	uint64_t pages[40];
	size_t i;

	/* 4 random pages, then text pages. */
	seq(pages, 40, 0, 1);
	for (i = 0; i < 40; i++) {
		if (i < 4)
			fill_random(f, page_of(f->src, i));
		else
			fill_text(f, page_of(f->src, i));
	}
	mig__encoder_init(&e, 1);
	/*
	 * 4 misses: the next 15 pages are not even tried, the 16th is
	 * (pages 4..18 raw, 19 LZ4), and a hit resets: all LZ4 after.
	 */
	st = round_trip(f, &e, pages, 40);
	assert_int_equal(st.raw, 4 + 15);
	assert_int_equal(st.lz4, 40 - 19);
	assert_int_equal(e.miss_streak, 0);
	assert_int_equal(e.skip, 0);

	/* The state carries across batches: 3 misses, then 1 more. */
	mig__encoder_init(&e, 1);
	st = round_trip(f, &e, pages, 3);
	assert_int_equal(st.raw, 3);
	assert_int_equal(e.skip, 0);
	st = round_trip(f, &e, pages + 3, 5); /* miss, then 4 skipped */
	assert_int_equal(st.raw, 5);
	assert_int_equal(e.skip, 11);
	/* Zero pages do not count as skipped pages. */
	memset(page_of(f->src, 30), 0, P);
	st = round_trip(f, &e, pages + 30, 1);
	assert_int_equal(st.zero, 1);
	assert_int_equal(e.skip, 11);
}

static void test_small_region_and_stats(void **state)
{
	struct fixture *f = *state;
	struct mig__encoder e;
	struct mig__batch_stats st;
	uint64_t pages[2] = {3, 0};
	size_t len = 0;

	fill_text(f, page_of(f->src, 3));
	fill_random(f, page_of(f->src, 0));
	mig__encoder_init(&e, 1);
	assert_int_equal(mig__batch_encode(&e, 1, 0, f->src, pages, 2, f->frame,
					   f->frame_cap, &len, NULL),
			 0);
	assert_int_equal(mig__batch_decode(f->frame + MIG__FRAME_HDR_LEN,
					   len - MIG__FRAME_HDR_LEN, f->regions,
					   2, NULL, &st),
			 0);
	assert_int_equal(st.region, 1);
	assert_int_equal(st.round, 0);
	assert_int_equal(st.pages, 2);
	assert_int_equal(st.lz4, 1);
	assert_int_equal(st.raw, 1);
	assert_memory_equal((uint8_t *)f->regions[1].host + 3 * P,
			    page_of(f->src, 3), P);
	assert_memory_equal(f->regions[1].host, page_of(f->src, 0), P);
	/* A NULL stats pointer is fine on decode too. */
	assert_int_equal(mig__batch_decode(f->frame + MIG__FRAME_HDR_LEN,
					   len - MIG__FRAME_HDR_LEN, f->regions,
					   2, NULL, NULL),
			 0);
}

static void test_encode_rejects_bad_args(void **state)
{
	struct fixture *f = *state;
	struct mig__encoder e;
	uint64_t pages[MIG__BATCH_MAX_PAGES + 1] = {0};
	size_t len = 0;

#define ENC(n, cap)                                                            \
	mig__batch_encode(&e, 0, 0, f->src, pages, (n), f->frame, (cap), &len, \
			  NULL)
	mig__encoder_init(&e, 1);
	assert_int_equal(ENC(0, f->frame_cap), -EINVAL);
	assert_int_equal(ENC(MIG__BATCH_MAX_PAGES + 1, f->frame_cap), -EINVAL);
	assert_int_equal(ENC(4, mig__batch_frame_bound(4) - 1), -EINVAL);
	assert_int_equal(ENC(4, mig__batch_frame_bound(4)), 0);
	assert_int_equal(len, MIG__FRAME_HDR_LEN + 4 + le32(f->frame + 8));
#undef ENC
}

static void test_bound_covers_largest_header(void **state)
{
	Mig__V1__PageBatch h = MIG__V1__PAGE_BATCH__INIT;
	static uint64_t pages[MIG__BATCH_MAX_PAGES];
	static uint32_t sizes[MIG__BATCH_MAX_PAGES];
	static uint8_t enc[MIG__BATCH_MAX_PAGES];
	size_t n, i;

	(void)state;
	for (i = 0; i < MIG__BATCH_MAX_PAGES; i++) {
		pages[i] = UINT64_MAX - i;
		sizes[i] = P;
		enc[i] = MIG__ENC_RAW;
	}
	h.region = UINT32_MAX;
	h.round = UINT32_MAX;
	h.pages = pages;
	h.sizes = sizes;
	h.encodings.data = enc;
	for (n = 1; n <= MIG__BATCH_MAX_PAGES; n++) {
		h.n_pages = h.n_sizes = h.encodings.len = n;
		assert_true(MIG__FRAME_HDR_LEN + 4 +
				mig__v1__page_batch__get_packed_size(&h) +
				n * P <=
			    mig__batch_frame_bound(n));
	}
	/* And the body fits what the frame layer allows a PAGE_BATCH. */
	assert_true(mig__batch_frame_bound(MIG__BATCH_MAX_PAGES) -
			MIG__FRAME_HDR_LEN <=
		    mig__frame_max_len(MIG__F_PAGE_BATCH));
}

/* ---- hostile bodies -------------------------------------------------- */

/*
 * A body built by hand: header `h`, then `plen` payload bytes. Returns
 * its length in f->frame.
 */
static size_t make_body(struct fixture *f, const Mig__V1__PageBatch *h,
			const uint8_t *payload, size_t plen)
{
	size_t hl = mig__v1__page_batch__pack(h, f->frame + 4);

	f->frame[0] = (uint8_t)hl;
	f->frame[1] = (uint8_t)(hl >> 8);
	f->frame[2] = (uint8_t)(hl >> 16);
	f->frame[3] = (uint8_t)(hl >> 24);
	if (plen)
		memcpy(f->frame + 4 + hl, payload, plen);
	return 4 + hl + plen;
}

/*
 * Decodes f->frame[0..len) and insists on MIG_EDECODE with nothing
 * written, or with `lz4` set, nothing outside the sample batch's pages
 * (1, 2 and 5 of region 0): a bad LZ4 payload is only found by decoding
 * it into its page.
 */
static void assert_rejected(struct fixture *f, size_t len, int lz4, int line)
{
	struct mig__batch_stats st;
	uint64_t i;
	int r;

	memcpy(f->before, f->dst, NPAGES * P);
	memset(&st, 0x5a, sizeof(st));
	r = mig__batch_decode(f->frame, len, f->regions, 2, NULL, &st);
	if (r != MIG_EDECODE)
		print_error("case at line %d: got %d\n", line, r);
	assert_int_equal(r, MIG_EDECODE);
	assert_int_equal(st.pages, 0x5a5a5a5a);
	for (i = 0; i < NPAGES; i++)
		if (!lz4 || (i != 1 && i != 2 && i != 5))
			assert_memory_equal(page_of(f->before, i),
					    page_of(f->dst, i), P);
}

#define REJECT(f, len)	   assert_rejected((f), (len), 0, __LINE__)
#define REJECT_LZ4(f, len) assert_rejected((f), (len), 1, __LINE__)

/* A valid 3-page batch (RAW, LZ4, ZERO) to mutate, and its payload. */
struct sample {
	Mig__V1__PageBatch h;
	uint64_t pages[MIG__BATCH_MAX_PAGES + 1];
	uint8_t enc[MIG__BATCH_MAX_PAGES + 1];
	uint32_t sizes[MIG__BATCH_MAX_PAGES + 1];
	uint8_t payload[3 * P];
	size_t plen;
};

static void sample_init(struct fixture *f, struct sample *s)
{
	uint8_t text[P];
	int n;

	memset(s, 0, sizeof(*s));
	s->h = (Mig__V1__PageBatch)MIG__V1__PAGE_BATCH__INIT;
	s->h.region = 0;
	s->h.round = 2;
	s->h.n_pages = s->h.n_sizes = s->h.encodings.len = 3;
	s->h.pages = s->pages;
	s->h.sizes = s->sizes;
	s->h.encodings.data = s->enc;
	s->pages[0] = 1;
	s->pages[1] = 2;
	s->pages[2] = 5;
	s->enc[0] = MIG__ENC_RAW;
	s->enc[1] = MIG__ENC_LZ4;
	s->enc[2] = MIG__ENC_ZERO;
	fill_random(f, s->payload);
	s->sizes[0] = P;
	fill_text(f, text);
	n = LZ4_compress_default((const char *)text, (char *)s->payload + P, P,
				 P);
	assert_true(n > 0 && n < (int)P);
	s->sizes[1] = (uint32_t)n;
	s->sizes[2] = 0;
	s->plen = P + (size_t)n;
}

static void test_sample_is_valid(void **state)
{
	struct fixture *f = *state;
	struct mig__batch_stats st;
	struct sample s;
	size_t len;

	sample_init(f, &s);
	len = make_body(f, &s.h, s.payload, s.plen);
	assert_int_equal(mig__batch_decode(f->frame, len, f->regions, 2, NULL, &st),
			 0);
	assert_int_equal(st.round, 2);
	assert_int_equal(st.raw, 1);
	assert_int_equal(st.lz4, 1);
	assert_int_equal(st.zero, 1);
	assert_memory_equal(page_of(f->dst, 1), s.payload, P);
	assert_true(mig__page_is_zero(page_of(f->dst, 5)));
}

static void test_reject_framing(void **state)
{
	struct fixture *f = *state;
	struct sample s;
	size_t len;

	sample_init(f, &s);
	len = make_body(f, &s.h, s.payload, s.plen);
	REJECT(f, 0);
	REJECT(f, 3);
	/* Header length past the body, or past any real header. */
	f->frame[0] = (uint8_t)(len - 3);
	f->frame[1] = (uint8_t)((len - 3) >> 8);
	REJECT(f, len);
	memset(f->frame, 0, 4);
	f->frame[1] = 0x40; /* 16 KiB: longer than 256 pages need */
	memset(f->frame + 4, 0, 16384 + 16);
	REJECT(f, 4 + 16384 + 16);
	/* Not protobuf. */
	memset(f->frame, 0xff, 64);
	f->frame[0] = 32;
	f->frame[1] = f->frame[2] = f->frame[3] = 0;
	REJECT(f, 64);
	/* An empty header: no pages. */
	memset(f->frame, 0, 4);
	REJECT(f, 4);
}

static void test_reject_region_and_pages(void **state)
{
	struct fixture *f = *state;
	struct sample s;

	sample_init(f, &s);
	s.h.region = 2;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	s.h.region = UINT32_MAX;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	/* Region 1 has 4 pages: page 5 is outside. */
	s.h.region = 1;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	s.h.region = 0;
	s.pages[2] = NPAGES;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	s.pages[2] = UINT64_MAX;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	/* A region without memory. */
	sample_init(f, &s);
	f->regions[1].host = NULL;
	s.h.region = 1;
	s.pages[2] = 3;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	f->regions[1].host = f->dst + (NPAGES - 4) * P;
}

static void test_reject_counts(void **state)
{
	struct fixture *f = *state;
	struct sample s;
	size_t i;

	sample_init(f, &s);
	s.h.encodings.len = 2;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	s.h.encodings.len = 4;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	s.h.encodings.len = 3;
	s.h.n_sizes = 2;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	s.h.n_sizes = 4;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	s.h.n_sizes = 3;
	s.h.n_pages = 2;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	s.h.n_pages = 0;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	/* One page too many (all zero pages, so no payload). */
	for (i = 0; i <= MIG__BATCH_MAX_PAGES; i++) {
		s.pages[i] = i;
		s.enc[i] = MIG__ENC_ZERO;
		s.sizes[i] = 0;
	}
	s.h.n_pages = s.h.n_sizes = s.h.encodings.len =
	    MIG__BATCH_MAX_PAGES + 1;
	REJECT(f, make_body(f, &s.h, NULL, 0));
	s.h.n_pages = s.h.n_sizes = s.h.encodings.len = MIG__BATCH_MAX_PAGES;
	assert_int_equal(mig__batch_decode(f->frame,
					   make_body(f, &s.h, NULL, 0),
					   f->regions, 2, NULL, NULL),
			 0);
}

static void test_reject_sizes_and_payload_length(void **state)
{
	struct fixture *f = *state;
	struct sample s;

	sample_init(f, &s);
	s.sizes[2] = 1; /* ZERO with a payload */
	REJECT(f, make_body(f, &s.h, s.payload, s.plen + 1));
	sample_init(f, &s);
	s.sizes[0] = P - 1; /* short RAW */
	REJECT(f, make_body(f, &s.h, s.payload, s.plen - 1));
	sample_init(f, &s);
	s.sizes[0] = P + 1; /* long RAW */
	REJECT(f, make_body(f, &s.h, s.payload, s.plen + 1));
	sample_init(f, &s);
	s.enc[1] = MIG__ENC_LZ4;
	s.sizes[1] = 0; /* empty LZ4 */
	REJECT(f, make_body(f, &s.h, s.payload, P));
	sample_init(f, &s);
	s.enc[0] = MIG__ENC_LZ4; /* LZ4 that saved nothing */
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	sample_init(f, &s);
	s.enc[2] = 3; /* unknown encoding */
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	s.enc[2] = 0xff;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	/* Valid sizes, but not the payload that follows. */
	sample_init(f, &s);
	REJECT(f, make_body(f, &s.h, s.payload, s.plen - 1));
	REJECT(f, make_body(f, &s.h, s.payload, s.plen + 1));
	REJECT(f, make_body(f, &s.h, s.payload, 0));
	REJECT(f, make_body(f, &s.h, s.payload, s.plen + P));
}

static void test_reject_bad_lz4(void **state)
{
	struct fixture *f = *state;
	uint8_t text[P], bad[P];
	struct sample s;
	int n;

	/* Valid LZ4, but of half a page. */
	sample_init(f, &s);
	fill_text(f, text);
	n = LZ4_compress_default((const char *)text, (char *)bad, P / 2, P);
	assert_true(n > 0);
	memcpy(s.payload + P, bad, (size_t)n);
	s.sizes[1] = (uint32_t)n;
	REJECT_LZ4(f, make_body(f, &s.h, s.payload, P + (size_t)n));

	/* Valid LZ4 of a page and one byte more. */
	sample_init(f, &s);
	n = LZ4_compress_default((const char *)text, (char *)bad, P, P);
	memcpy(bad + n, "x", 1);
	memcpy(s.payload + P, bad, (size_t)n + 1);
	s.sizes[1] = (uint32_t)n + 1;
	REJECT_LZ4(f, make_body(f, &s.h, s.payload, P + (size_t)n + 1));

	/* A truncated block. */
	sample_init(f, &s);
	s.sizes[1] -= 10;
	REJECT_LZ4(f, make_body(f, &s.h, s.payload, s.plen - 10));

	/*
	 * A hand-made block: "abcd", a match of 4087 bytes at offset 4,
	 * 5 final literals. Valid as is; with offset 5 the match reaches
	 * before the start of the page.
	 */
	sample_init(f, &s);
	memcpy(bad,
	       "\x4f"
	       "abcd"
	       "\x04\x00",
	       7);
	memset(bad + 7, 0xff, 15); /* 4 + 15 + 15 * 255 + 243 = 4087 */
	memcpy(bad + 22,
	       "\xf3"
	       "\x50"
	       "vwxyz",
	       7);
	memcpy(s.payload + P, bad, 29);
	s.sizes[1] = 29;
	assert_int_equal(
	    mig__batch_decode(f->frame, make_body(f, &s.h, s.payload, P + 29),
			      f->regions, 2, NULL, NULL),
	    0);
	assert_memory_equal(page_of(f->dst, 2) + 4088, "abcvwxyz", 8);
	s.payload[P + 5] = 5;
	REJECT_LZ4(f, make_body(f, &s.h, s.payload, P + 29));
	/* ...or with a match running into the last 5 bytes. */
	s.payload[P + 5] = 4;
	s.payload[P + 22] = 0xf4;
	memcpy(s.payload + P + 24, "wxyz", 4);
	s.payload[P + 23] = 0x40;
	REJECT_LZ4(f, make_body(f, &s.h, s.payload, P + 28));

	/* Garbage that happens to be short enough. */
	sample_init(f, &s);
	memset(s.payload + P, 0x11, 100);
	s.sizes[1] = 100;
	REJECT_LZ4(f, make_body(f, &s.h, s.payload, P + 100));
}

static void test_reject_duplicates(void **state)
{
	struct fixture *f = *state;
	struct sample s;

	/* In order (the one-pass check)... */
	sample_init(f, &s);
	s.pages[1] = 1;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	/* ...and out of order (the sorted check). */
	sample_init(f, &s);
	s.pages[0] = 5;
	s.pages[1] = 1;
	s.pages[2] = 5;
	REJECT(f, make_body(f, &s.h, s.payload, s.plen));
	/* Out of order without duplicates is fine. */
	s.pages[2] = 3;
	assert_int_equal(
	    mig__batch_decode(f->frame, make_body(f, &s.h, s.payload, s.plen),
			      f->regions, 2, NULL, NULL),
	    0);
}

/* Every test gets fresh regions and frame buffer. */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_zero_pages),
	    T(test_page_is_zero),
	    T(test_text_pages_use_lz4),
	    T(test_random_pages_go_raw),
	    T(test_mixed_pages),
	    T(test_tiny_lz4_outputs),
	    T(test_adaptive_lz4_skip),
	    T(test_small_region_and_stats),
	    T(test_encode_rejects_bad_args),
	    cmocka_unit_test(test_bound_covers_largest_header),
	    T(test_sample_is_valid),
	    T(test_reject_framing),
	    T(test_reject_region_and_pages),
	    T(test_reject_counts),
	    T(test_reject_sizes_and_payload_length),
	    T(test_reject_bad_lz4),
	    T(test_reject_duplicates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
