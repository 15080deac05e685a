/*
 * codec.h - page batches: many pages per PAGE_BATCH frame, each sent as
 * ZERO (no payload), LZ4, or RAW (4096 bytes).
 *
 * Cost matters more than anything here (design.md: on two cores the engine
 * must not spend cycles it does not need): zero pages are found before LZ4
 * runs, LZ4 gets an output budget so that it gives up early on data it
 * cannot shrink by at least 1/8, and after a run of misses it is only
 * probed now and then until it pays again.
 */
#ifndef MIG_CODEC_H
#define MIG_CODEC_H

#include <stdatomic.h>

#include "frame.h"

#define MIG__BATCH_MAX_PAGES 256

enum mig__page_enc {
	MIG__ENC_ZERO = 0,
	MIG__ENC_RAW = 1,
	MIG__ENC_LZ4 = 2,
};

/* Per-thread encoder state (the LZ4 hit/miss history). */
struct mig__encoder {
	int compress;          /* try LZ4 at all */
	unsigned miss_streak;  /* consecutive pages LZ4 did not shrink */
	unsigned skip;         /* pages left before LZ4 is probed again */
};

struct mig__batch_stats {
	uint32_t region;
	uint32_t round;
	uint32_t pages;
	uint32_t zero;
	uint32_t lz4;
	uint32_t raw;
	uint64_t payload_bytes; /* encoded page bytes */
};

/* Prepares an encoder. */
void mig__encoder_init(struct mig__encoder *e, int compress);

/* Returns non-zero if the 4096-byte page is all zero bytes. */
int mig__page_is_zero(const void *page);

/* Bytes a complete PAGE_BATCH frame of `n` pages may take at most. */
size_t mig__batch_frame_bound(size_t n);

/*
 * Encodes pages pages[0..n) (page numbers within the region whose memory
 * starts at `host`) as one complete PAGE_BATCH frame, frame header
 * included, into `out` of `cap` bytes (at least mig__batch_frame_bound(n)).
 * 1 <= n <= MIG__BATCH_MAX_PAGES. Returns 0 and *out_len, or -EINVAL.
 * Thread-safe for distinct encoders.
 */
int mig__batch_encode(struct mig__encoder *e, uint32_t region,
		      uint32_t round, const uint8_t *host,
		      const uint64_t *pages, size_t n, uint8_t *out,
		      size_t cap, size_t *out_len,
		      struct mig__batch_stats *st);

/*
 * Validates the body of a PAGE_BATCH frame against the target's regions
 * and writes its pages into their host memory. Treats the body as hostile:
 * region index, page numbers, encodings, sizes and their sum are all
 * checked before anything is written, and every LZ4 payload must
 * decompress to exactly one page (that is found while decoding it into
 * its page, so a corrupt one leaves pages of this batch, and only of this
 * batch, partly written).
 *
 * `written` (NULL: unknown) holds one bitmap per region of the pages this
 * migration wrote; decoding sets their bits. A ZERO page whose bit is
 * clear is left alone, not even read: target memory is zero when the
 * migration starts (create_guest's contract). Otherwise a ZERO page is
 * written only if it is not already zero, so memory stays unallocated.
 * Returns 0 and *st, or MIG_EDECODE. Thread-safe; concurrent decodes may
 * share `written`.
 */
int mig__batch_decode(const uint8_t *body, size_t len,
		      const struct mig_region *regions, size_t nregions,
		      _Atomic uint64_t *const *written,
		      struct mig__batch_stats *st);

#endif /* MIG_CODEC_H */
