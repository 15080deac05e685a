/*
 * dirty.c - the dirty page tracker that ships with the library: the VMM
 * calls mig_dirty_mark() for the guest memory it writes itself (device
 * emulation, a synthetic guest), and the migration drives it through
 * mig_dirty_ops().
 *
 * Marks are lock-free (one atomic OR per bitmap word touched), so any
 * number of threads may mark at once, concurrently with fetch_and_clear,
 * which moves words out with atomic exchanges and so never loses a bit.
 * Mark after the write, not before: a bit collected between a mark and
 * its write would send the old contents and forget the page.
 *
 * Marks while tracking is off are ignored (one relaxed load each). That
 * loses nothing: start() comes before the first pass, which sends every
 * page as it is at that moment, so only writes after start() matter; and
 * after stop() the migration no longer asks.
 */
#include <stdlib.h>

#include "bitmap.h"

struct dirty_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t npages;
	_Atomic uint64_t *bm;
};

struct mig_dirty {
	atomic_int enabled;
	size_t count;
	struct dirty_region r[];
};

static int regions_valid(const struct mig_region *regions, size_t count)
{
	const struct mig_region *a, *b;
	size_t i, j;

	if (!regions || !count || count > MIG_MAX_REGIONS)
		return 0;
	for (i = 0; i < count; i++) {
		a = &regions[i];
		if (!a->size || (a->gpa | a->size) % MIG_PAGE_SIZE ||
		    a->gpa + a->size < a->gpa)
			return 0;
		/* A gpa in two regions would be marked in only one. */
		for (j = 0; j < i; j++) {
			b = &regions[j];
			if (a->gpa < b->gpa + b->size &&
			    b->gpa < a->gpa + a->size)
				return 0;
		}
	}
	return 1;
}

int mig_dirty_new(mig_dirty **out, const struct mig_region *regions,
		  size_t count)
{
	struct mig_dirty *d;
	size_t i, nw;

	if (!out || !regions_valid(regions, count))
		return -EINVAL;
	d = calloc(1, sizeof(*d) + count * sizeof(d->r[0]));
	if (!d)
		return -ENOMEM;
	atomic_init(&d->enabled, 0);
	d->count = count;
	for (i = 0; i < count; i++) {
		d->r[i].gpa = regions[i].gpa;
		d->r[i].size = regions[i].size;
		d->r[i].npages = regions[i].size >> MIG_PAGE_SHIFT;
		nw = mig__bitmap_words(d->r[i].npages);
		/* calloc's zero bytes are a valid zero for atomic words. */
		d->r[i].bm = calloc(nw, sizeof(*d->r[i].bm));
		if (!d->r[i].bm)
			goto err_free_bitmaps;
	}
	*out = d;
	return 0;

err_free_bitmaps:
	while (i--)
		free(d->r[i].bm);
	free(d);
	return -ENOMEM;
}

void mig_dirty_mark(mig_dirty *d, uint64_t gpa, uint64_t len)
{
	const struct dirty_region *r;
	uint64_t end;
	size_t i;

	if (!d || !len ||
	    !atomic_load_explicit(&d->enabled, memory_order_relaxed))
		return;
	end = gpa + len < gpa ? UINT64_MAX : gpa + len;
	for (i = 0; i < d->count; i++) {
		r = &d->r[i];
		mig__bitmap_mark_span(r->bm, r->gpa, r->size, gpa, end);
	}
}

void mig_dirty_free(mig_dirty *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->count; i++)
		free(d->r[i].bm);
	free(d);
}

static int dirty_start(void *tracker)
{
	struct mig_dirty *d = tracker;
	size_t i, w, nw;

	if (!d)
		return -EINVAL;
	/* Whatever was marked before belongs to a previous migration. */
	atomic_store_explicit(&d->enabled, 0, memory_order_relaxed);
	for (i = 0; i < d->count; i++) {
		nw = mig__bitmap_words(d->r[i].npages);
		for (w = 0; w < nw; w++)
			atomic_store_explicit(&d->r[i].bm[w], 0,
					      memory_order_relaxed);
	}
	atomic_store_explicit(&d->enabled, 1, memory_order_seq_cst);
	return 0;
}

static int dirty_fetch_and_clear(void *tracker, uint32_t region,
				 uint64_t *bitmap, uint64_t npages)
{
	struct mig_dirty *d = tracker;

	if (!d || !bitmap || region >= d->count || npages < d->r[region].npages)
		return -EINVAL;
	mig__bitmap_move_atomic(bitmap, d->r[region].bm, d->r[region].npages);
	return 0;
}

static int dirty_stop(void *tracker)
{
	struct mig_dirty *d = tracker;

	if (!d)
		return -EINVAL;
	atomic_store_explicit(&d->enabled, 0, memory_order_seq_cst);
	return 0;
}

static const struct mig_dirty_ops dirty_ops = {
    .start = dirty_start,
    .fetch_and_clear = dirty_fetch_and_clear,
    .stop = dirty_stop,
};

const struct mig_dirty_ops *mig_dirty_ops(void)
{
	return &dirty_ops;
}
