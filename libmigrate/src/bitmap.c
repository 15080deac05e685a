/*
 * bitmap.c - page bitmaps in the KVM_GET_DIRTY_LOG layout.
 *
 * The atomic variants are what the dirty tracker is built on: markers OR
 * bits in with release semantics, the collector takes whole words with an
 * acquire exchange, so a page written before its bit was set is visible to
 * whoever collects that bit.
 */
#include "bitmap.h"

/* Mask of the bits [lo, hi) of one word, 0 <= lo < hi <= 64. */
static inline uint64_t word_mask(unsigned lo, unsigned hi)
{
	uint64_t m = hi == 64 ? ~(uint64_t)0 : ((uint64_t)1 << hi) - 1;

	return m & (~(uint64_t)0 << lo);
}

/* Mask of the valid bits of the last word of an `nbits` bitmap. */
static inline uint64_t tail_mask(uint64_t nbits)
{
	unsigned r = (unsigned)(nbits % 64);

	return r ? ((uint64_t)1 << r) - 1 : ~(uint64_t)0;
}

uint64_t mig__bitmap_count(const uint64_t *bm, uint64_t nbits)
{
	size_t nw = mig__bitmap_words(nbits);
	uint64_t n = 0;
	size_t w;

	if (!nw)
		return 0;
	for (w = 0; w + 1 < nw; w++)
		n += (uint64_t)__builtin_popcountll(bm[w]);
	return n +
	       (uint64_t)__builtin_popcountll(bm[nw - 1] & tail_mask(nbits));
}

uint64_t mig__bitmap_next(const uint64_t *bm, uint64_t nbits, uint64_t from)
{
	size_t nw = mig__bitmap_words(nbits);
	size_t w;
	uint64_t v, bit;

	if (from >= nbits)
		return nbits;
	w = (size_t)(from / 64);
	v = bm[w] & (~(uint64_t)0 << (from % 64));
	for (;;) {
		if (v) {
			bit = (uint64_t)w * 64 + (uint64_t)__builtin_ctzll(v);
			return bit < nbits ? bit : nbits;
		}
		if (++w >= nw)
			return nbits;
		v = bm[w];
	}
}

void mig__bitmap_set_range(uint64_t *bm, uint64_t start, uint64_t n)
{
	uint64_t end = start + n;
	size_t w, last;

	if (!n)
		return;
	w = (size_t)(start / 64);
	last = (size_t)((end - 1) / 64);
	if (w == last) {
		bm[w] |= word_mask((unsigned)(start % 64),
				   (unsigned)((end - 1) % 64) + 1);
		return;
	}
	bm[w++] |= word_mask((unsigned)(start % 64), 64);
	for (; w < last; w++)
		bm[w] = ~(uint64_t)0;
	bm[last] |= word_mask(0, (unsigned)((end - 1) % 64) + 1);
}

void mig__bitmap_set_range_atomic(_Atomic uint64_t *bm, uint64_t start,
				  uint64_t n)
{
	uint64_t end = start + n;
	size_t w, last;
	unsigned lo, hi;

	if (!n)
		return;
	w = (size_t)(start / 64);
	last = (size_t)((end - 1) / 64);
	/*
	 * Always a read-modify-write, never "load, and skip if already set":
	 * the RMW orders the caller's earlier page writes before the bit, so
	 * a collector that exchanges the word after us sees them, and one
	 * that exchanged it before us leaves our bit for the next round.
	 */
	for (; w <= last; w++) {
		lo = w == (size_t)(start / 64) ? (unsigned)(start % 64) : 0;
		hi = w == last ? (unsigned)((end - 1) % 64) + 1 : 64;
		atomic_fetch_or_explicit(&bm[w], word_mask(lo, hi),
					 memory_order_release);
	}
}

void mig__bitmap_move_atomic(uint64_t *dst, _Atomic uint64_t *src,
			     uint64_t nbits)
{
	size_t nw = mig__bitmap_words(nbits);
	uint64_t v, m;
	size_t w;

	for (w = 0; w < nw; w++) {
		/*
		 * Most words are clean: a plain load keeps their cache lines
		 * shared with the markers. A bit set after this load stays in
		 * `src` for the next call.
		 */
		if (!atomic_load_explicit(&src[w], memory_order_relaxed))
			continue;
		if (w + 1 < nw) {
			v = atomic_exchange_explicit(&src[w], 0,
						     memory_order_acquire);
		} else {
			/* Leave bits past nbits alone: they are not ours. */
			m = tail_mask(nbits);
			v = atomic_fetch_and_explicit(&src[w], ~m,
						      memory_order_acquire) &
			    m;
		}
		dst[w] |= v;
	}
}

void mig__bitmap_mark_span(_Atomic uint64_t *bm, uint64_t rgpa, uint64_t rsize,
			   uint64_t gpa, uint64_t end)
{
	uint64_t lo, hi;

	if (end <= rgpa || gpa >= rgpa + rsize)
		return;
	lo = (MIG__MAX(gpa, rgpa) - rgpa) >> MIG_PAGE_SHIFT;
	hi = MIG__DIV_ROUND_UP(MIG__MIN(end, rgpa + rsize) - rgpa,
			       (uint64_t)MIG_PAGE_SIZE);
	mig__bitmap_set_range_atomic(bm, lo, hi - lo);
}
