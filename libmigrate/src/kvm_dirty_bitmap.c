/*
 * kvm_dirty_bitmap.c - asking KVM for a slot's dirty bitmap.
 *
 * With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_GET_DIRTY_LOG only reads the
 * log and KVM_CLEAR_DIRTY_LOG re-protects exactly the pages we took, so
 * the mmu lock is held for less and a page written between the two is
 * reported again rather than lost. With KVM_DIRTY_LOG_INITIALLY_SET, KVM
 * does not even write-protect a slot when logging starts (a cost that
 * grows with guest memory, paid while the guest runs); it reports every
 * page dirty instead, which start() clears at once: the first pass sends
 * every page anyway. Without the capability, KVM_GET_DIRTY_LOG gets and
 * clears in one call.
 *
 * KVM's log is an array of unsigned long in little-endian bit order: on
 * x86-64 exactly our uint64_t layout.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_dirty.h"

/* KVM_CLEAR_DIRTY_LOG's num_pages is a u32; chunks stay 64-aligned. */
#define CLEAR_CHUNK_PAGES (1u << 30)

int mig__kvm_bitmap_init(struct mig_kvm_dirty *d, uint32_t flags)
{
	struct kvm_enable_cap cap;
	struct mig__kvm_slot *s;
	uint64_t want;
	size_t i;
	int r;

	for (i = 0; i < d->count; i++) {
		s = &d->s[i];
		if (!s->tracked)
			continue;
		s->log = calloc(mig__bitmap_words(s->npages), sizeof(*s->log));
		if (!s->log)
			return -ENOMEM; /* the caller frees what was made */
	}
	if (flags & MIG_KVM_DIRTY_F_NO_MANUAL_PROTECT)
		return 0;
	r = ioctl(d->vm_fd, KVM_CHECK_EXTENSION,
		  KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (r <= 0)
		return 0; /* not offered: the legacy get-and-clear */
	want = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
	if ((r & KVM_DIRTY_LOG_INITIALLY_SET) &&
	    !(flags & MIG_KVM_DIRTY_F_NO_INITIALLY_SET))
		want |= KVM_DIRTY_LOG_INITIALLY_SET;
	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
	cap.args[0] = want;
	if (ioctl(d->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		r = -errno;
		mig__err(&d->log,
			 "enabling KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: %s",
			 mig_strerror(r));
		return r;
	}
	d->manual = 1;
	d->initially_set = !!(want & KVM_DIRTY_LOG_INITIALLY_SET);
	return 0;
}

/* Re-protects the pages set in `bm` (the slot's whole bitmap). */
static int clear_log(struct mig_kvm_dirty *d, const struct mig__kvm_slot *s,
		     uint64_t *bm)
{
	struct kvm_clear_dirty_log c;
	uint64_t first, n;
	int rc;

	for (first = 0; first < s->npages; first += n) {
		n = MIG__MIN(s->npages - first, (uint64_t)CLEAR_CHUNK_PAGES);
		memset(&c, 0, sizeof(c));
		c.slot = s->slot;
		c.first_page = first;
		c.num_pages = (uint32_t)n;
		c.dirty_bitmap = bm + first / 64;
		if (ioctl(d->vm_fd, KVM_CLEAR_DIRTY_LOG, &c) < 0) {
			rc = -errno;
			mig__err(
			    &d->log, "KVM_CLEAR_DIRTY_LOG on slot %u:%u: %s",
			    s->slot >> 16, s->slot & 0xffff, mig_strerror(rc));
			return rc;
		}
	}
	return 0;
}

int mig__kvm_bitmap_clear_all(struct mig_kvm_dirty *d)
{
	struct mig__kvm_slot *s;
	size_t i;
	int rc;

	for (i = 0; i < d->count; i++) {
		s = &d->s[i];
		if (!s->tracked)
			continue;
		/* Bits past npages are ignored by KVM; set them anyway. */
		memset(s->log, 0xff, mig__bitmap_words(s->npages) * 8);
		rc = clear_log(d, s, s->log);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int mig__kvm_bitmap_fetch(struct mig_kvm_dirty *d, size_t i, uint64_t *out)
{
	struct mig__kvm_slot *s = &d->s[i];
	size_t nw = mig__bitmap_words(s->npages), w;
	struct kvm_dirty_log g;
	uint64_t any = 0;
	int rc;

	memset(&g, 0, sizeof(g));
	g.slot = s->slot;
	g.dirty_bitmap = s->log;
	if (ioctl(d->vm_fd, KVM_GET_DIRTY_LOG, &g) < 0) {
		rc = -errno;
		mig__err(&d->log, "KVM_GET_DIRTY_LOG on slot %u:%u: %s",
			 s->slot >> 16, s->slot & 0xffff, mig_strerror(rc));
		return rc;
	}
	/* KVM fills whole longs; bits past the slot's end are zero. */
	for (w = 0; w < nw; w++)
		any |= s->log[w];
	if (!any)
		return 0;
	if (d->manual) {
		rc = clear_log(d, s, s->log);
		if (rc < 0)
			return rc;
	}
	for (w = 0; w < nw; w++)
		out[w] |= s->log[w];
	return 0;
}

void mig__kvm_bitmap_free(struct mig_kvm_dirty *d)
{
	size_t i;

	for (i = 0; i < d->count; i++) {
		free(d->s[i].log);
		d->s[i].log = NULL;
	}
}
