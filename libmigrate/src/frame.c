/*
 * frame.c - stream header, frame headers and the incremental frame reader.
 *
 * Integers are encoded byte by byte, never through struct casts, so the
 * wire format is the same on every host and no read is ever unaligned.
 */
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* What a PAGE_BATCH may carry: its header word, header, 256 raw pages. */
#define PAGE_BATCH_MAX_LEN (4u + (64u << 10) + 256u * MIG_PAGE_SIZE)
/* A hello carries the VMM's config, up to 1 MiB of it. */
#define HELLO_MAX_LEN (2u << 20)
#define SMALL_MAX_LEN (64u << 10)
/* Unknown optional frames are drained through this much stack. */
#define SKIP_CHUNK 4096

static const char *const type_names[MIG__F_COUNT] = {
	[MIG__F_HELLO] = "hello",
	[MIG__F_HELLO_REPLY] = "hello-reply",
	[MIG__F_GUEST_CREATED] = "guest-created",
	[MIG__F_PAGE_BATCH] = "page-batch",
	[MIG__F_ROUND_END] = "round-end",
	[MIG__F_FINAL_STATE] = "final-state",
	[MIG__F_READY] = "ready",
	[MIG__F_COMMIT] = "commit",
	[MIG__F_RUNNING] = "running",
	[MIG__F_ABORT] = "abort",
	[MIG__F_ERROR] = "error",
};

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

const char *mig__frame_type_name(uint16_t type)
{
	if (type < MIG__F_COUNT && type_names[type])
		return type_names[type];
	return "unknown";
}

uint32_t mig__frame_max_len(uint16_t type)
{
	switch (type) {
	case 0:
		return 0;
	case MIG__F_HELLO:
		return HELLO_MAX_LEN;
	case MIG__F_PAGE_BATCH:
		return PAGE_BATCH_MAX_LEN;
	case MIG__F_FINAL_STATE:
		return MIG__FRAME_MAX_LEN;
	default:
		/* Unknown frames are skipped, never buffered whole. */
		return type < MIG__F_COUNT ? SMALL_MAX_LEN : MIG__FRAME_MAX_LEN;
	}
}

void mig__stream_hdr_put(uint8_t out[MIG__STREAM_HDR_LEN], uint32_t version)
{
	memcpy(out, MIG__STREAM_MAGIC, 8);
	put_le32(out + 8, version);
	put_le32(out + 12, 0);
}

int mig__stream_hdr_get(const uint8_t in[MIG__STREAM_HDR_LEN],
			uint32_t *version)
{
	if (memcmp(in, MIG__STREAM_MAGIC, 8))
		return MIG_EPROTO_MAGIC;
	/* Flags are reserved: a v1 reader ignores them. */
	*version = get_le32(in + 8);
	return 0;
}

void mig__frame_hdr_put(uint8_t out[MIG__FRAME_HDR_LEN], uint16_t type,
			uint16_t flags, uint32_t len)
{
	put_le16(out, type);
	put_le16(out + 2, flags);
	put_le32(out + 4, len);
}

int mig__frame_hdr_get(const uint8_t in[MIG__FRAME_HDR_LEN],
		       struct mig__frame *f)
{
	f->type = get_le16(in);
	f->flags = get_le16(in + 2);
	f->len = get_le32(in + 4);
	f->body = NULL;
	if (!f->type)
		return MIG_EFRAME_TYPE;
	if (f->type >= MIG__F_COUNT && !(f->flags & MIG__FRAME_F_OPTIONAL))
		return MIG_EFRAME_UNKNOWN;
	if (f->len > mig__frame_max_len(f->type))
		return MIG_EFRAME_SIZE;
	return 0;
}

void mig__frame_reader_init(struct mig__frame_reader *r, int stream_hdr)
{
	memset(r, 0, sizeof(*r));
	r->want_stream_hdr = !!stream_hdr;
}

void mig__frame_reader_fini(struct mig__frame_reader *r)
{
	if (r->cur.body)
		mig__frame_body_free(r, r->cur.type, r->cur.body);
	r->cur.body = NULL;
	r->in_body = 0;
	r->skipping = 0;
	r->hdr_got = 0;
	r->body_got = 0;
}

/*
 * Fills r->hdr up to `want` bytes. Returns 1 once complete, 0 at EOF
 * before the first byte, MIG_ETRUNCATED at EOF after it, MIG__AGAIN or
 * the stream's error.
 */
static int read_hdr(struct mig__frame_reader *r, struct mig__stream *s,
		    size_t want)
{
	while (r->hdr_got < want) {
		ssize_t n = mig__stream_read(s, r->hdr + r->hdr_got,
					     want - r->hdr_got);

		if (n == 0)
			return r->hdr_got ? MIG_ETRUNCATED : 0;
		if (n < 0)
			return (int)n;
		r->hdr_got += (size_t)n;
	}
	return 1;
}

/*
 * Reads the rest of the current body, into the frame or, when skipping,
 * into scratch space. Returns 1 once complete, MIG_ETRUNCATED at EOF,
 * MIG__AGAIN or the stream's error.
 */
static int read_body(struct mig__frame_reader *r, struct mig__stream *s)
{
	uint8_t scratch[SKIP_CHUNK];

	while (r->body_got < r->cur.len) {
		size_t left = r->cur.len - r->body_got;
		ssize_t n;

		if (r->skipping)
			n = mig__stream_read(s, scratch,
					     MIG__MIN(left, sizeof(scratch)));
		else
			n = mig__stream_read(s, r->cur.body + r->body_got,
					     left);
		if (n == 0)
			return MIG_ETRUNCATED;
		if (n < 0)
			return (int)n;
		r->body_got += (size_t)n;
	}
	return 1;
}

int mig__frame_read(struct mig__frame_reader *r, struct mig__stream *s,
		    struct mig__frame *f)
{
	int rc;

	if (r->want_stream_hdr) {
		rc = read_hdr(r, s, MIG__STREAM_HDR_LEN);
		if (rc <= 0)
			return rc;
		rc = mig__stream_hdr_get(r->hdr, &r->peer_version);
		if (rc < 0)
			return rc;
		r->want_stream_hdr = 0;
		r->hdr_got = 0;
	}
	for (;;) {
		if (!r->in_body) {
			rc = read_hdr(r, s, MIG__FRAME_HDR_LEN);
			if (rc <= 0)
				return rc;
			rc = mig__frame_hdr_get(r->hdr, &r->cur);
			if (rc < 0)
				return rc;
			r->hdr_got = 0;
			r->body_got = 0;
			r->skipping = r->cur.type >= MIG__F_COUNT;
			/* Only now is the length known to be in bounds. */
			if (!r->skipping && r->cur.len) {
				r->cur.body = r->body_alloc
						      ? r->body_alloc(r->body_opaque,
								      r->cur.type,
								      r->cur.len)
						      : malloc(r->cur.len);
				if (!r->cur.body)
					return -ENOMEM;
			}
			r->in_body = 1;
		}
		rc = read_body(r, s);
		if (rc <= 0)
			return rc;
		r->in_body = 0;
		if (r->skipping) {
			r->skipping = 0;
			continue;
		}
		*f = r->cur;
		r->cur.body = NULL;
		return 1;
	}
}

void mig__frame_body_free(const struct mig__frame_reader *r, uint16_t type,
			  uint8_t *body)
{
	if (r->body_free)
		r->body_free(r->body_opaque, type, body);
	else
		free(body);
}
