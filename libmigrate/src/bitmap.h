/*
 * bitmap.h - page bitmaps in the KVM_GET_DIRTY_LOG layout: uint64_t words,
 * bit i of word w is page w * 64 + i.
 */
#ifndef MIG_BITMAP_H
#define MIG_BITMAP_H

#include <stdatomic.h>

#include "internal.h"

/* Words needed for `nbits` bits. */
static inline size_t mig__bitmap_words(uint64_t nbits)
{
	return (size_t)MIG__DIV_ROUND_UP(nbits, 64);
}

/* Number of set bits among the first `nbits`. */
uint64_t mig__bitmap_count(const uint64_t *bm, uint64_t nbits);

/* Index of the first set bit at or after `from`, or `nbits` if none. */
uint64_t mig__bitmap_next(const uint64_t *bm, uint64_t nbits, uint64_t from);

/* Sets bits [start, start + n) (not atomic). */
void mig__bitmap_set_range(uint64_t *bm, uint64_t start, uint64_t n);

/* Sets bits [start, start + n) atomically against other setters. */
void mig__bitmap_set_range_atomic(_Atomic uint64_t *bm, uint64_t start,
				  uint64_t n);

/*
 * Marks the pages of [gpa, end) that fall in the region [rgpa, rgpa +
 * rsize) in `bm`, the region's atomic page bitmap (a partial page counts
 * whole). Both dirty trackers' mark functions use it.
 */
void mig__bitmap_mark_span(_Atomic uint64_t *bm, uint64_t rgpa, uint64_t rsize,
			   uint64_t gpa, uint64_t end);

/*
 * ORs the atomic bitmap `src` into `dst` and clears `src`, word by word
 * with atomic exchange, so that a bit set concurrently is either moved to
 * `dst` or left in `src` for the next call: never lost.
 */
void mig__bitmap_move_atomic(uint64_t *dst, _Atomic uint64_t *src,
			     uint64_t nbits);

#endif /* MIG_BITMAP_H */
