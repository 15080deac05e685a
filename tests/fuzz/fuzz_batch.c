/*
 * fuzz_batch.c - the PAGE_BATCH decoder over hostile bodies, against two
 * small target regions (16 and 8 pages) that ASan fences in.
 *
 * The first byte picks the mode. 0: the rest is the body, as is. 1: the
 * rest describes a valid batch (region, pages, what each page holds),
 * which is encoded and then damaged by (offset, xor) pairs taken from
 * what remains; this reaches the LZ4 and layout checks with well-formed
 * blocks that blind bytes rarely find. An undamaged batch must decode to
 * exactly the source pages. 2: the rest is one LZ4 page, which must be
 * accepted only if LZ4 itself decodes it to a whole page, and then to
 * the same bytes.
 *
 * In every mode a rejected body must leave both regions as they were,
 * except, when the batch has LZ4 pages (whose corruption shows only while
 * decoding them), the pages the batch itself lists.
 *
 * Started without a corpus directory (as ctest does), the target writes
 * a seed per mode into a temporary directory and hands them to libFuzzer
 * with -seed_inputs; the directory is removed at exit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lz4.h>

#include "codec.h"
#include "migrate.pb-c.h"

#define P	 MIG_PAGE_SIZE
#define R0_PAGES 16
#define R1_PAGES 8

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *src;   /* source memory for the encoding mode */
static uint8_t *frame; /* mig__batch_frame_bound(R0_PAGES) */
static uint8_t *saved; /* the regions before a decode */
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
	saved = malloc((R0_PAGES + R1_PAGES) * P);
	if (!regions[0].host || !regions[1].host || !src || !frame || !saved)
		abort();
	memset(regions[0].host, 0x11, R0_PAGES * P);
	memset(regions[1].host, 0x22, R1_PAGES * P);
	return 0;
}

/*
 * Marks in `may` (indexed like `saved`: region 0 pages, then region 1)
 * the pages a failed decode of `body` may have written.
 */
static void writable_pages(const uint8_t *body, size_t len, uint8_t *may)
{
	Mig__V1__PageBatch *h;
	size_t hl, i, lz4 = 0;

	memset(may, 0, R0_PAGES + R1_PAGES);
	if (len < 4)
		return;
	hl = (size_t)body[0] | (size_t)body[1] << 8 | (size_t)body[2] << 16 |
	     (size_t)body[3] << 24;
	if (hl > len - 4)
		return;
	h = mig__v1__page_batch__unpack(NULL, hl, body + 4);
	if (!h)
		return;
	for (i = 0; i < h->encodings.len; i++)
		lz4 += h->encodings.data[i] == MIG__ENC_LZ4;
	for (i = 0; lz4 && h->region < 2 && i < h->n_pages; i++) {
		if (h->region == 0 && h->pages[i] < R0_PAGES)
			may[h->pages[i]] = 1;
		if (h->region == 1 && h->pages[i] < R1_PAGES)
			may[R0_PAGES + h->pages[i]] = 1;
	}
	mig__v1__page_batch__free_unpacked(h, NULL);
}

static const uint8_t *host_page(size_t i)
{
	if (i < R0_PAGES)
		return (const uint8_t *)regions[0].host + i * P;
	return (const uint8_t *)regions[1].host + (i - R0_PAGES) * P;
}

/* The target's record of written pages, as target.c keeps it. */
static _Atomic uint64_t written0[(R0_PAGES + 63) / 64];
static _Atomic uint64_t written1[(R1_PAGES + 63) / 64];
static _Atomic uint64_t *const written[2] = { written0, written1 };
static unsigned decodes;

/* Decodes, insisting that a rejection wrote nothing it may not. */
static int decode(const uint8_t *body, size_t len)
{
	uint8_t may[R0_PAGES + R1_PAGES];
	struct mig__batch_stats st;
	size_t i;
	int use_written, rc;

	/*
	 * Every other input also runs the written-page bookkeeping, on a
	 * fresh target as create_guest's contract has it: zeroed memory and
	 * no page written yet.
	 */
	use_written = decodes++ & 1;
	if (use_written) {
		memset(regions[0].host, 0, R0_PAGES * P);
		memset(regions[1].host, 0, R1_PAGES * P);
		for (i = 0; i < MIG__ARRAY_SIZE(written0); i++)
			atomic_store(&written0[i], 0);
		for (i = 0; i < MIG__ARRAY_SIZE(written1); i++)
			atomic_store(&written1[i], 0);
	}
	memcpy(saved, regions[0].host, R0_PAGES * P);
	memcpy(saved + R0_PAGES * P, regions[1].host, R1_PAGES * P);
	rc = mig__batch_decode(body, len, regions, 2,
			       use_written ? written : NULL, &st);
	if (rc == 0)
		return 0;
	if (rc != MIG_EDECODE)
		__builtin_trap();
	writable_pages(body, len, may);
	for (i = 0; i < R0_PAGES + R1_PAGES; i++)
		if (!may[i] && memcmp(saved + i * P, host_page(i), P))
			__builtin_trap();
	return rc;
}

/* Fills a page from one input byte: zero, a fill, tiled input, noise. */
static void fill_page(uint8_t *p, uint8_t how, const uint8_t *data, size_t size)
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
		pos = size ? (size_t)(data[0] >> 2) % npages : i;
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
	rc = decode(body, body_len);
	if (damaged)
		return;
	if (rc)
		__builtin_trap();
	for (i = 0; i < n; i++)
		if (memcmp((uint8_t *)regions[region].host + pages[i] * P,
			   src + pages[i] * P, P))
			__builtin_trap();
}

static void fuzz_lz4(const uint8_t *data, size_t size)
{
	Mig__V1__PageBatch h = MIG__V1__PAGE_BATCH__INIT;
	static uint8_t want[P];
	uint64_t page = 3;
	uint32_t len = (uint32_t)size;
	uint8_t enc = MIG__ENC_LZ4;
	size_t hl;
	int lz4, rc;

	if (size < 1 || size >= P)
		return;
	h.n_pages = h.n_sizes = h.encodings.len = 1;
	h.pages = &page;
	h.sizes = &len;
	h.encodings.data = &enc;
	hl = mig__v1__page_batch__pack(&h, frame + 4);
	frame[0] = (uint8_t)hl;
	frame[1] = frame[2] = frame[3] = 0;
	memcpy(frame + 4 + hl, data, size);
	rc = decode(frame, 4 + hl + size);
	lz4 =
	    LZ4_decompress_safe((const char *)data, (char *)want, (int)size, P);
	if (!rc && (lz4 != P ||
		    memcmp(want, (uint8_t *)regions[0].host + page * P, P)))
		__builtin_trap();
}

#define NSEEDS 4
static char seed_dir[] = "/tmp/mig-fuzz-batch-XXXXXX";
static char seed_path[NSEEDS][sizeof(seed_dir) + 16];
static char seed_flag[NSEEDS * sizeof(seed_path[0]) + 32];

static void remove_seeds(void)
{
	int i;

	for (i = 0; i < NSEEDS; i++)
		unlink(seed_path[i]);
	rmdir(seed_dir);
}

static int write_seed(int i, const uint8_t *data, size_t size)
{
	FILE *fp;
	int ok;

	snprintf(seed_path[i], sizeof(seed_path[i]), "%s/seed%d", seed_dir, i);
	fp = fopen(seed_path[i], "wb");
	if (!fp)
		return -1;
	ok = fwrite(data, 1, size, fp) == size;
	return fclose(fp) == 0 && ok ? 0 : -1;
}

/* The seeds: a real batch (mode 0), a batch recipe (1), a page (2). */
static int make_seeds(void)
{
	static const char text[] = "the dirty pages of the guest go round ";
	uint64_t pages[3] = {2, 0, 5};
	static uint8_t buf[1 + 2 * P];
	size_t len, i;
	int n;

	init();
	for (i = 0; i < P; i++)
		src[2 * P + i] = (uint8_t)text[i % (sizeof(text) - 1)];
	memset(src, 0, P);
	for (i = 0; i < P; i++)
		src[5 * P + i] = (uint8_t)(i * 7919 >> 3);
	{
		struct mig__encoder e;

		mig__encoder_init(&e, 1);
		if (mig__batch_encode(&e, 0, 1, src, pages, 3, frame,
				      mig__batch_frame_bound(R0_PAGES), &len,
				      NULL))
			return -1;
	}
	buf[0] = 0;
	memcpy(buf + 1, frame + MIG__FRAME_HDR_LEN, len - MIG__FRAME_HDR_LEN);
	if (write_seed(0, buf, 1 + len - MIG__FRAME_HDR_LEN))
		return -1;
	/* Mode 1: 4 pages of region 0, compressed, then one damage. */
	memcpy(buf, "\x01\x03\x01\x0a\x0e\x13\x17\x21\x00\x05", 10);
	if (write_seed(1, buf, 10))
		return -1;
	buf[0] = 2;
	n = LZ4_compress_default((const char *)src + 2 * P, (char *)buf + 1, P,
				 P);
	if (n <= 0 || write_seed(2, buf, 1 + (size_t)n))
		return -1;
	/* Mode 2, by hand: 4 literals, a long match, 5 final literals. */
	memcpy(buf,
	       "\x02\x4f"
	       "abcd"
	       "\x04\x00",
	       8);
	memset(buf + 8, 0xff, 15);
	memcpy(buf + 23,
	       "\xf3"
	       "\x50"
	       "vwxyz",
	       7);
	return write_seed(3, buf, 30);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char *args[64];
	int i;

	/* A corpus or an explicit seed list: leave the run alone. */
	for (i = 1; i < *argc; i++)
		if ((*argv)[i][0] != '-' ||
		    !strncmp((*argv)[i], "-seed_inputs=", 13))
			return 0;
	if (*argc + 2 > (int)(sizeof(args) / sizeof(args[0])) ||
	    !mkdtemp(seed_dir))
		return 0;
	atexit(remove_seeds);
	if (make_seeds())
		return 0;
	snprintf(seed_flag, sizeof(seed_flag), "-seed_inputs=%s,%s,%s,%s",
		 seed_path[0], seed_path[1], seed_path[2], seed_path[3]);
	for (i = 0; i < *argc; i++)
		args[i] = (*argv)[i];
	args[i++] = seed_flag;
	args[i] = NULL;
	*argc = i;
	*argv = args;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		decode(data + 1, size - 1);
		break;
	case 1:
		fuzz_encoded(data + 1, size - 1);
		break;
	default:
		fuzz_lz4(data + 1, size - 1);
		break;
	}
	return 0;
}
