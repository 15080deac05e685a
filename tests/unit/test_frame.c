/* test_frame.c - stream and frame headers, and the incremental reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"

#define PAGE_BATCH_MAX (4u + 65536u + 256u * 4096u)

/* A growing byte buffer to lay out test streams. */
struct bytes {
	uint8_t *p;
	size_t len;
};

static void bytes_add(struct bytes *b, const void *data, size_t len)
{
	b->p = realloc(b->p, b->len + len + 1);
	assert_non_null(b->p);
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void bytes_stream_hdr(struct bytes *b, uint32_t version)
{
	uint8_t hdr[MIG__STREAM_HDR_LEN];

	mig__stream_hdr_put(hdr, version);
	bytes_add(b, hdr, sizeof(hdr));
}

/* Appends a frame whose body byte i is (seed + i). */
static void bytes_frame(struct bytes *b, uint16_t type, uint16_t flags,
			uint32_t len, uint8_t seed)
{
	uint8_t hdr[MIG__FRAME_HDR_LEN];
	size_t at;

	mig__frame_hdr_put(hdr, type, flags, len);
	bytes_add(b, hdr, sizeof(hdr));
	at = b->len;
	b->p = realloc(b->p, b->len + len + 1);
	assert_non_null(b->p);
	for (uint32_t i = 0; i < len; i++)
		b->p[at + i] = (uint8_t)(seed + i);
	b->len += len;
}

static void check_body(const struct mig__frame *f, uint32_t len, uint8_t seed)
{
	assert_int_equal(f->len, len);
	if (!len) {
		assert_null(f->body);
		return;
	}
	assert_non_null(f->body);
	for (uint32_t i = 0; i < len; i++)
		if (f->body[i] != (uint8_t)(seed + i))
			fail_msg("body byte %u: %u != %u", i, f->body[i],
				 (uint8_t)(seed + i));
}

/* Runs a reader over `b` in chunks of `chunk` bytes; returns its result. */
static int read_one(const struct bytes *b, size_t chunk, int stream_hdr,
		    struct mig__frame *f)
{
	struct mig__frame_reader r;
	struct mig__stream *s;
	int rc;

	assert_int_equal(mig__stream_buf_new(&s, b->p, b->len, chunk), 0);
	mig__frame_reader_init(&r, stream_hdr);
	memset(f, 0, sizeof(*f));
	rc = mig__frame_read(&r, s, f);
	mig__frame_reader_fini(&r);
	mig__stream_destroy(s);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Headers                                                                */

static void test_stream_hdr(void **state)
{
	static const uint8_t want[MIG__STREAM_HDR_LEN] = {
		0x89, 'M', 'I', 'G', '\r', '\n', 0x1a, '\n',
		0x04, 0x03, 0x02, 0x01, 0, 0, 0, 0,
	};
	uint8_t hdr[MIG__STREAM_HDR_LEN];
	uint32_t v = 0;

	(void)state;
	mig__stream_hdr_put(hdr, 0x01020304);
	assert_memory_equal(hdr, want, sizeof(want));
	assert_int_equal(mig__stream_hdr_get(hdr, &v), 0);
	assert_int_equal(v, 0x01020304);
	mig__stream_hdr_put(hdr, MIG_PROTOCOL_VERSION);
	assert_int_equal(mig__stream_hdr_get(hdr, &v), 0);
	assert_int_equal(v, MIG_PROTOCOL_VERSION);
	/* Any version passes here: the caller decides what it speaks. */
	mig__stream_hdr_put(hdr, 99);
	assert_int_equal(mig__stream_hdr_get(hdr, &v), 0);
	assert_int_equal(v, 99);
}

static void test_stream_hdr_bad_magic(void **state)
{
	uint8_t hdr[MIG__STREAM_HDR_LEN];
	uint32_t v;

	(void)state;
	for (int i = 0; i < 8; i++) {
		mig__stream_hdr_put(hdr, 1);
		hdr[i] ^= 0x20;
		assert_int_equal(mig__stream_hdr_get(hdr, &v),
				 MIG_EPROTO_MAGIC);
	}
}

static void test_frame_hdr_roundtrip(void **state)
{
	static const uint8_t want[MIG__FRAME_HDR_LEN] = {
		0x04, 0x00, 0x01, 0x00, 0x78, 0x56, 0x0f, 0x00,
	};
	uint8_t hdr[MIG__FRAME_HDR_LEN];
	struct mig__frame f;

	(void)state;
	mig__frame_hdr_put(hdr, MIG__F_PAGE_BATCH, MIG__FRAME_F_OPTIONAL,
			   0x000f5678);
	assert_memory_equal(hdr, want, sizeof(want));
	assert_int_equal(mig__frame_hdr_get(hdr, &f), 0);
	assert_int_equal(f.type, MIG__F_PAGE_BATCH);
	assert_int_equal(f.flags, MIG__FRAME_F_OPTIONAL);
	assert_int_equal(f.len, 0x000f5678);
	assert_null(f.body);
	for (uint16_t t = 1; t < MIG__F_COUNT; t++) {
		mig__frame_hdr_put(hdr, t, 0, t * 3);
		assert_int_equal(mig__frame_hdr_get(hdr, &f), 0);
		assert_int_equal(f.type, t);
		assert_int_equal(f.flags, 0);
		assert_int_equal(f.len, t * 3);
	}
}

static void test_frame_hdr_type0(void **state)
{
	uint8_t hdr[MIG__FRAME_HDR_LEN];
	struct mig__frame f;

	(void)state;
	mig__frame_hdr_put(hdr, 0, 0, 0);
	assert_int_equal(mig__frame_hdr_get(hdr, &f), MIG_EFRAME_TYPE);
	mig__frame_hdr_put(hdr, 0, MIG__FRAME_F_OPTIONAL, 4);
	assert_int_equal(mig__frame_hdr_get(hdr, &f), MIG_EFRAME_TYPE);
}

static void test_frame_max_len(void **state)
{
	uint8_t hdr[MIG__FRAME_HDR_LEN];
	struct mig__frame f;

	(void)state;
	assert_int_equal(mig__frame_max_len(MIG__F_PAGE_BATCH), PAGE_BATCH_MAX);
	assert_int_equal(mig__frame_max_len(MIG__F_FINAL_STATE),
			 MIG__FRAME_MAX_LEN);
	assert_int_equal(mig__frame_max_len(MIG__F_HELLO), 2u << 20);
	assert_int_equal(mig__frame_max_len(MIG__F_HELLO_REPLY), 65536);
	assert_int_equal(mig__frame_max_len(MIG__F_ERROR), 65536);
	assert_int_equal(mig__frame_max_len(MIG__F_COUNT), MIG__FRAME_MAX_LEN);
	assert_int_equal(mig__frame_max_len(0xffff), MIG__FRAME_MAX_LEN);
	/* Every known type: its bound passes, one byte more fails. */
	for (uint16_t t = 1; t < MIG__F_COUNT; t++) {
		uint32_t max = mig__frame_max_len(t);

		assert_true(max >= 65536 && max <= MIG__FRAME_MAX_LEN);
		mig__frame_hdr_put(hdr, t, 0, max);
		assert_int_equal(mig__frame_hdr_get(hdr, &f), 0);
		mig__frame_hdr_put(hdr, t, 0, max + 1);
		assert_int_equal(mig__frame_hdr_get(hdr, &f), MIG_EFRAME_SIZE);
		mig__frame_hdr_put(hdr, t, 0, UINT32_MAX);
		assert_int_equal(mig__frame_hdr_get(hdr, &f), MIG_EFRAME_SIZE);
	}
	/* Unknown optional frames: the absolute bound. */
	mig__frame_hdr_put(hdr, 300, MIG__FRAME_F_OPTIONAL, MIG__FRAME_MAX_LEN);
	assert_int_equal(mig__frame_hdr_get(hdr, &f), 0);
	mig__frame_hdr_put(hdr, 300, MIG__FRAME_F_OPTIONAL,
			   MIG__FRAME_MAX_LEN + 1);
	assert_int_equal(mig__frame_hdr_get(hdr, &f), MIG_EFRAME_SIZE);
}

static void test_frame_hdr_unknown(void **state)
{
	static const uint16_t types[] = { MIG__F_COUNT, 0x100, 0x8000, 0xffff };
	uint8_t hdr[MIG__FRAME_HDR_LEN];
	struct mig__frame f;

	(void)state;
	for (size_t i = 0; i < MIG__ARRAY_SIZE(types); i++) {
		mig__frame_hdr_put(hdr, types[i], 0, 10);
		assert_int_equal(mig__frame_hdr_get(hdr, &f),
				 MIG_EFRAME_UNKNOWN);
		/* Other flag bits do not make a frame optional. */
		mig__frame_hdr_put(hdr, types[i], 0xfffe, 10);
		assert_int_equal(mig__frame_hdr_get(hdr, &f),
				 MIG_EFRAME_UNKNOWN);
		mig__frame_hdr_put(hdr, types[i], MIG__FRAME_F_OPTIONAL, 10);
		assert_int_equal(mig__frame_hdr_get(hdr, &f), 0);
		assert_int_equal(f.type, types[i]);
	}
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(mig__frame_type_name(MIG__F_HELLO), "hello");
	assert_string_equal(mig__frame_type_name(MIG__F_PAGE_BATCH),
			    "page-batch");
	assert_string_equal(mig__frame_type_name(MIG__F_ERROR), "error");
	assert_string_equal(mig__frame_type_name(0), "unknown");
	assert_string_equal(mig__frame_type_name(MIG__F_COUNT), "unknown");
	assert_string_equal(mig__frame_type_name(0xffff), "unknown");
	for (uint16_t t = 1; t < MIG__F_COUNT; t++) {
		assert_string_not_equal(mig__frame_type_name(t), "unknown");
		for (uint16_t u = 1; u < t; u++)
			assert_string_not_equal(mig__frame_type_name(t),
						mig__frame_type_name(u));
	}
}

/* ---------------------------------------------------------------------- */
/* Reader                                                                 */

/* A stream header and frames of assorted sizes, read in many chunkings. */
static void test_reader_sequence(void **state)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 8, 9, 16, 4096, 1 << 20 };
	struct bytes b = { 0 };

	(void)state;
	bytes_stream_hdr(&b, 7);
	bytes_frame(&b, MIG__F_HELLO, 0, 5, 1);
	bytes_frame(&b, MIG__F_COMMIT, 0, 0, 0);
	bytes_frame(&b, MIG__F_PAGE_BATCH, 0, 9000, 2);
	bytes_frame(&b, MIG__F_READY, MIG__FRAME_F_OPTIONAL, 3, 3);
	for (size_t c = 0; c < MIG__ARRAY_SIZE(chunks); c++) {
		struct mig__frame_reader r;
		struct mig__stream *s;
		struct mig__frame f;

		assert_int_equal(
			mig__stream_buf_new(&s, b.p, b.len, chunks[c]), 0);
		mig__frame_reader_init(&r, 1);
		assert_int_equal(mig__frame_read(&r, s, &f), 1);
		assert_int_equal(r.peer_version, 7);
		assert_int_equal(f.type, MIG__F_HELLO);
		check_body(&f, 5, 1);
		free(f.body);
		assert_int_equal(mig__frame_read(&r, s, &f), 1);
		assert_int_equal(f.type, MIG__F_COMMIT);
		check_body(&f, 0, 0);
		assert_int_equal(mig__frame_read(&r, s, &f), 1);
		assert_int_equal(f.type, MIG__F_PAGE_BATCH);
		check_body(&f, 9000, 2);
		free(f.body);
		/* A known type with the optional flag is still delivered. */
		assert_int_equal(mig__frame_read(&r, s, &f), 1);
		assert_int_equal(f.type, MIG__F_READY);
		assert_int_equal(f.flags, MIG__FRAME_F_OPTIONAL);
		check_body(&f, 3, 3);
		free(f.body);
		/* Clean EOF between frames, and it stays so. */
		assert_int_equal(mig__frame_read(&r, s, &f), 0);
		assert_int_equal(mig__frame_read(&r, s, &f), 0);
		assert_int_equal(s->bytes_in, b.len);
		mig__frame_reader_fini(&r);
		mig__stream_destroy(s);
	}
	free(b.p);
}

static void test_reader_no_stream_hdr(void **state)
{
	struct bytes b = { 0 };
	struct mig__frame f;

	(void)state;
	bytes_frame(&b, MIG__F_ROUND_END, 0, 12, 9);
	assert_int_equal(read_one(&b, 1, 0, &f), 1);
	assert_int_equal(f.type, MIG__F_ROUND_END);
	check_body(&f, 12, 9);
	free(f.body);
	/* The same bytes where a stream header is due: not one. */
	assert_int_equal(read_one(&b, 1, 1, &f), MIG_EPROTO_MAGIC);
	free(b.p);
}

static void test_reader_skips_optional(void **state)
{
	static const size_t chunks[] = { 1, 5, 4096, 1 << 20 };
	struct bytes b = { 0 };

	(void)state;
	bytes_stream_hdr(&b, 1);
	/* Larger than the reader's scratch space, and empty. */
	bytes_frame(&b, 200, MIG__FRAME_F_OPTIONAL, 10000, 4);
	bytes_frame(&b, 0x7fff, MIG__FRAME_F_OPTIONAL, 0, 0);
	bytes_frame(&b, MIG__F_RUNNING, 0, 2, 5);
	bytes_frame(&b, 201, MIG__FRAME_F_OPTIONAL | 0x8000, 17, 6);
	for (size_t c = 0; c < MIG__ARRAY_SIZE(chunks); c++) {
		struct mig__frame_reader r;
		struct mig__stream *s;
		struct mig__frame f;

		assert_int_equal(
			mig__stream_buf_new(&s, b.p, b.len, chunks[c]), 0);
		mig__frame_reader_init(&r, 1);
		assert_int_equal(mig__frame_read(&r, s, &f), 1);
		assert_int_equal(f.type, MIG__F_RUNNING);
		check_body(&f, 2, 5);
		free(f.body);
		assert_int_equal(mig__frame_read(&r, s, &f), 0);
		mig__frame_reader_fini(&r);
		mig__stream_destroy(s);
	}
	free(b.p);
}

static void test_reader_header_errors(void **state)
{
	struct bytes b = { 0 };
	struct mig__frame f;

	(void)state;
	bytes_stream_hdr(&b, 1);
	bytes_frame(&b, 300, 0, 4, 0);
	assert_int_equal(read_one(&b, 1, 1, &f), MIG_EFRAME_UNKNOWN);
	free(b.p);

	memset(&b, 0, sizeof(b));
	bytes_stream_hdr(&b, 1);
	bytes_frame(&b, 0, 0, 0, 0);
	assert_int_equal(read_one(&b, 3, 1, &f), MIG_EFRAME_TYPE);
	free(b.p);

	/* Oversized: refused on the header, before any body arrived. */
	memset(&b, 0, sizeof(b));
	bytes_stream_hdr(&b, 1);
	bytes_frame(&b, MIG__F_ROUND_END, 0, 0, 0);
	b.p[MIG__STREAM_HDR_LEN + 4] = 0x01;
	b.p[MIG__STREAM_HDR_LEN + 6] = 0x01; /* 65537 */
	assert_int_equal(read_one(&b, 1, 1, &f), MIG_EFRAME_SIZE);
	free(b.p);
}

static void test_reader_truncated(void **state)
{
	struct bytes b = { 0 };
	struct mig__frame f;

	(void)state;
	bytes_stream_hdr(&b, 1);
	bytes_frame(&b, MIG__F_HELLO, 0, 100, 1);
	/* Cut inside the stream header, frame header and body. */
	for (size_t cut = 1; cut < b.len; cut++) {
		struct bytes t = { b.p, cut };

		if (cut == MIG__STREAM_HDR_LEN)
			continue; /* between header and frame: clean */
		assert_int_equal(read_one(&t, 1, 1, &f), MIG_ETRUNCATED);
		assert_int_equal(read_one(&t, 64, 1, &f), MIG_ETRUNCATED);
	}
	/* Nothing at all, or only the stream header: a clean end. */
	{
		struct bytes t = { b.p, 0 };

		assert_int_equal(read_one(&t, 1, 1, &f), 0);
		t.len = MIG__STREAM_HDR_LEN;
		assert_int_equal(read_one(&t, 1, 1, &f), 0);
	}
	free(b.p);
}

/* A frame declared huge but cut short: ETRUNCATED, nothing leaked. */
static void test_reader_truncated_large(void **state)
{
	struct bytes b = { 0 };
	struct mig__frame f;

	(void)state;
	bytes_stream_hdr(&b, 1);
	bytes_frame(&b, MIG__F_FINAL_STATE, 0, 64, 0);
	b.p[MIG__STREAM_HDR_LEN + 7] = 0x04; /* 64 MiB + 64 */
	assert_int_equal(read_one(&b, 4096, 1, &f), MIG_EFRAME_SIZE);
	b.p[MIG__STREAM_HDR_LEN + 7] = 0x03;
	assert_int_equal(read_one(&b, 4096, 1, &f), MIG_ETRUNCATED);
	free(b.p);
}

/* Bytes arrive one at a time on a non-blocking pipe. */
static void test_reader_again(void **state)
{
	struct mig__stream *a, *b;
	struct mig__frame_reader r;
	struct bytes bs = { 0 };
	struct mig__frame f;

	(void)state;
	bytes_stream_hdr(&bs, 1);
	bytes_frame(&bs, MIG__F_ERROR, 0, 30, 8);
	bytes_frame(&bs, 222, MIG__FRAME_F_OPTIONAL, 5, 0);
	bytes_frame(&bs, MIG__F_ABORT, 0, 1, 9);
	assert_int_equal(mig__stream_mem_pair(&a, &b, 16), 0);
	mig__frame_reader_init(&r, 1);
	assert_int_equal(mig__frame_read(&r, b, &f), MIG__AGAIN);
	assert_int_equal(b->want, MIG__WANT_READ);
	for (size_t i = 0; i < MIG__STREAM_HDR_LEN + 8 + 30; i++) {
		assert_int_equal(mig__stream_write(a, bs.p + i, 1), 1);
		if (i < MIG__STREAM_HDR_LEN + 8 + 30 - 1)
			assert_int_equal(mig__frame_read(&r, b, &f),
					 MIG__AGAIN);
	}
	assert_int_equal(mig__frame_read(&r, b, &f), 1);
	assert_int_equal(f.type, MIG__F_ERROR);
	check_body(&f, 30, 8);
	free(f.body);
	for (size_t i = MIG__STREAM_HDR_LEN + 8 + 30; i < bs.len - 1; i++) {
		assert_int_equal(mig__stream_write(a, bs.p + i, 1), 1);
		assert_int_equal(mig__frame_read(&r, b, &f), MIG__AGAIN);
	}
	assert_int_equal(mig__stream_write(a, bs.p + bs.len - 1, 1), 1);
	assert_int_equal(mig__frame_read(&r, b, &f), 1);
	assert_int_equal(f.type, MIG__F_ABORT);
	check_body(&f, 1, 9);
	free(f.body);
	assert_int_equal(mig__frame_read(&r, b, &f), MIG__AGAIN);
	mig__stream_destroy(a);
	assert_int_equal(mig__frame_read(&r, b, &f), 0);
	mig__frame_reader_fini(&r);
	mig__stream_destroy(b);
	free(bs.p);
}

/* A partial body is the reader's until fini; the peer leaving cuts it. */
static void test_reader_partial_fini(void **state)
{
	struct mig__stream *a, *b;
	struct mig__frame_reader r;
	struct bytes bs = { 0 };
	struct mig__frame f;

	(void)state;
	bytes_stream_hdr(&bs, 1);
	bytes_frame(&bs, MIG__F_FINAL_STATE, 0, 1000, 0);
	assert_int_equal(mig__stream_mem_pair(&a, &b, 4096), 0);
	mig__frame_reader_init(&r, 1);
	assert_int_equal(mig__stream_write(a, bs.p, 500), 500);
	assert_int_equal(mig__frame_read(&r, b, &f), MIG__AGAIN);
	assert_int_equal(r.in_body, 1);
	assert_non_null(r.cur.body);
	mig__stream_destroy(a);
	assert_int_equal(mig__frame_read(&r, b, &f), MIG_ETRUNCATED);
	mig__frame_reader_fini(&r);
	assert_null(r.cur.body);
	mig__frame_reader_fini(&r);
	mig__stream_destroy(b);
	free(bs.p);
}

static void test_reader_stream_error(void **state)
{
	struct bytes b = { 0 };
	struct mig__frame_reader r;
	struct mig__stream *s;
	struct mig__frame f;

	(void)state;
	bytes_stream_hdr(&b, 1);
	bytes_frame(&b, MIG__F_COMMIT, 0, 0, 0);
	assert_int_equal(mig__stream_buf_new(&s, b.p, b.len, 4), 0);
	/* A failed write makes the stream's error sticky. */
	assert_int_equal(mig__stream_write(s, "x", 1), -EBADF);
	mig__frame_reader_init(&r, 1);
	assert_int_equal(mig__frame_read(&r, s, &f), -EBADF);
	mig__frame_reader_fini(&r);
	mig__stream_destroy(s);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_hdr),
		cmocka_unit_test(test_stream_hdr_bad_magic),
		cmocka_unit_test(test_frame_hdr_roundtrip),
		cmocka_unit_test(test_frame_hdr_type0),
		cmocka_unit_test(test_frame_max_len),
		cmocka_unit_test(test_frame_hdr_unknown),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_reader_sequence),
		cmocka_unit_test(test_reader_no_stream_hdr),
		cmocka_unit_test(test_reader_skips_optional),
		cmocka_unit_test(test_reader_header_errors),
		cmocka_unit_test(test_reader_truncated),
		cmocka_unit_test(test_reader_truncated_large),
		cmocka_unit_test(test_reader_again),
		cmocka_unit_test(test_reader_partial_fini),
		cmocka_unit_test(test_reader_stream_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
