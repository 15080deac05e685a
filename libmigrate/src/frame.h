/*
 * frame.h - the stream header and the typed, length-prefixed frames.
 *
 * Layout (all integers little-endian; docs/protocol.md has the diagram):
 *   stream header, 16 bytes: magic "\x89MIG\r\n\x1a\n", u32 version,
 *                            u32 flags (0)
 *   frame header, 8 bytes:   u16 type, u16 flags, u32 body length
 *   body:                    `length` bytes
 * Type 0 is never valid. A frame whose type this side does not know fails
 * the stream unless it carries MIG__FRAME_F_OPTIONAL, in which case it is
 * skipped. Every type has a hard upper bound on its length, checked before
 * a single body byte is buffered.
 */
#ifndef MIG_FRAME_H
#define MIG_FRAME_H

#include "stream.h"

#define MIG__STREAM_MAGIC "\x89MIG\r\n\x1a\n"
#define MIG__STREAM_HDR_LEN 16
#define MIG__FRAME_HDR_LEN 8
#define MIG__FRAME_F_OPTIONAL 0x0001u

/* The absolute bound on any frame body, known type or not. */
#define MIG__FRAME_MAX_LEN (64u << 20)

enum mig__frame_type {
	MIG__F_HELLO = 1,
	MIG__F_HELLO_REPLY = 2,
	MIG__F_GUEST_CREATED = 3,
	MIG__F_PAGE_BATCH = 4,
	MIG__F_ROUND_END = 5,
	MIG__F_FINAL_STATE = 6,
	MIG__F_READY = 7,
	MIG__F_COMMIT = 8,
	MIG__F_RUNNING = 9,
	MIG__F_ABORT = 10,
	MIG__F_ERROR = 11,
	MIG__F_COUNT /* one past the last known type */
};

/* A received frame. The reader hands ownership of `body` to the caller. */
struct mig__frame {
	uint16_t type;
	uint16_t flags;
	uint32_t len;
	uint8_t *body; /* malloc'd, `len` bytes (NULL when len == 0) */
};

/* "hello", "page-batch", ...; "unknown" for anything else. */
const char *mig__frame_type_name(uint16_t type);

/* The hard upper bound on the body of a frame of `type`. */
uint32_t mig__frame_max_len(uint16_t type);

/* Writes the 16-byte stream header for `version`. */
void mig__stream_hdr_put(uint8_t out[MIG__STREAM_HDR_LEN], uint32_t version);

/*
 * Checks a stream header. Returns 0 and the peer's version (any value: the
 * caller decides whether it can speak it), or MIG_EPROTO_MAGIC.
 */
int mig__stream_hdr_get(const uint8_t in[MIG__STREAM_HDR_LEN],
			uint32_t *version);

/* Writes an 8-byte frame header. */
void mig__frame_hdr_put(uint8_t out[MIG__FRAME_HDR_LEN], uint16_t type,
			uint16_t flags, uint32_t len);

/*
 * Parses and checks a frame header: MIG_EFRAME_TYPE for type 0,
 * MIG_EFRAME_SIZE for a length over the type's bound, MIG_EFRAME_UNKNOWN
 * for an unknown type without the optional flag. Returns 0 otherwise
 * (an unknown optional frame is valid; the reader skips it).
 */
int mig__frame_hdr_get(const uint8_t in[MIG__FRAME_HDR_LEN],
		       struct mig__frame *f);

/*
 * Incremental reader: pulls the stream header (if expected) and then
 * frames from a non-blocking stream, buffering partial input across calls.
 */
struct mig__frame_reader {
	int want_stream_hdr;    /* the stream header is still to come */
	uint32_t peer_version;  /* from the stream header, once read */
	uint8_t hdr[MIG__STREAM_HDR_LEN];
	size_t hdr_got;         /* bytes of the current header read */
	int in_body;            /* header parsed, reading the body */
	int skipping;           /* discarding an unknown optional frame */
	struct mig__frame cur;  /* the frame being read */
	size_t body_got;
	/*
	 * Where bodies come from, if not malloc/free: a receiver that reuses
	 * page-batch buffers sets both (after init). body_alloc gets the
	 * checked length and returns NULL when out of memory.
	 */
	uint8_t *(*body_alloc)(void *opaque, uint16_t type, uint32_t len);
	void (*body_free)(void *opaque, uint16_t type, uint8_t *body);
	void *body_opaque;
};

/* Prepares a reader; `stream_hdr` says whether a stream header comes first. */
void mig__frame_reader_init(struct mig__frame_reader *r, int stream_hdr);

/* Frees a partially read frame. */
void mig__frame_reader_fini(struct mig__frame_reader *r);

/* Releases a body the reader handed out, the way it was allocated. */
void mig__frame_body_free(const struct mig__frame_reader *r, uint16_t type,
			  uint8_t *body);

/*
 * Reads until one whole frame has arrived. Returns 1 and fills *f (the
 * caller then owns f->body), MIG__AGAIN when the stream has nothing more
 * for now, 0 at a clean end of stream between frames, MIG_ETRUNCATED at an
 * end in the middle of a header or body, or a header error above, or the
 * stream's error. Unknown optional frames are consumed silently.
 */
int mig__frame_read(struct mig__frame_reader *r, struct mig__stream *s,
		    struct mig__frame *f);

#endif /* MIG_FRAME_H */
