/*
 * kvm_dirty_ring.c - harvesting KVM's per-vCPU dirty rings.
 *
 * Each vCPU has a ring of struct kvm_dirty_gfn that KVM fills as the
 * guest writes pages of logged slots: slot (as_id << 16 | id), offset
 * (page within the slot), and flags, which KVM sets to DIRTY last. We
 * take entries in ring order from where the last harvest stopped (each
 * ring's `next`), reading flags with acquire so that slot and offset are
 * KVM's, and hand each entry back by storing RESET with release, so that
 * our reads are done before KVM may reuse it. KVM_RESET_DIRTY_RINGS then
 * re-protects the pages of every entry marked RESET and frees the
 * entries. A page's content may be read only after that reset: a write in
 * between would otherwise be neither logged nor sent.
 *
 * When a ring is nearly full KVM_RUN exits with KVM_EXIT_DIRTY_RING_FULL
 * and the vCPU thread harvests its own ring (mig__kvm_ring_full); the
 * migration thread harvests all of them in fetch. d->lock serializes the
 * two and covers the hand-out of pending bits (see kvm_dirty.h).
 *
 * An entry that names a slot we do not track, or an offset past its end,
 * cannot come from a sane kernel: it is handed back like any other, logged,
 * and makes every fetch fail until the next start(), since its page may
 * have gone unreported.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm_dirty.h"

#ifndef KVM_CAP_DIRTY_LOG_RING_ACQ_REL /* uapi headers before 6.1 */
#define KVM_CAP_DIRTY_LOG_RING_ACQ_REL 223
#endif

/* The slot index for ring slot id `slot`, or -1. d->lock held. */
static long slot_index(struct mig_kvm_dirty *d, uint32_t slot)
{
	size_t i;

	if (d->s[d->last_hit].slot == slot)
		return (long)d->last_hit;
	for (i = 0; i < d->count; i++) {
		if (d->s[i].slot == slot) {
			d->last_hit = i;
			return (long)i;
		}
	}
	return -1;
}

int mig__kvm_ring_init(struct mig_kvm_dirty *d, uint32_t entries)
{
	struct kvm_enable_cap cap;
	uint32_t which;
	int rc;

	/*
	 * Prefer the _ACQ_REL flavour where offered: same ring, but it
	 * promises the acquire/release protocol we follow anyway.
	 */
	which = KVM_CAP_DIRTY_LOG_RING_ACQ_REL;
	if (ioctl(d->vm_fd, KVM_CHECK_EXTENSION, which) <= 0) {
		which = KVM_CAP_DIRTY_LOG_RING;
		if (ioctl(d->vm_fd, KVM_CHECK_EXTENSION, which) <= 0)
			return -EOPNOTSUPP;
	}
	memset(&cap, 0, sizeof(cap));
	cap.cap = which;
	cap.args[0] = (uint64_t)entries * sizeof(struct kvm_dirty_gfn);
	if (ioctl(d->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		rc = -errno;
		return rc;
	}
	d->ring_entries = entries;
	d->ring_bytes = (size_t)entries * sizeof(struct kvm_dirty_gfn);
	return 0;
}

int mig__kvm_ring_add_vcpu(struct mig_kvm_dirty *d, uint32_t index, int vcpu_fd)
{
	struct mig__kvm_ring *r;
	long page = sysconf(_SC_PAGESIZE);
	void *p;
	int rc;

	if (page <= 0)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	p = mmap(NULL, d->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		 vcpu_fd, (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * page);
	if (p == MAP_FAILED) {
		rc = -errno;
		mig__err(&d->log, "mapping the dirty ring of vCPU %u: %s",
			 index, mig_strerror(rc));
		goto err_free;
	}
	r->gfns = p;
	pthread_mutex_lock(&d->lock);
	if (d->rings[index]) {
		pthread_mutex_unlock(&d->lock);
		rc = -EEXIST;
		goto err_unmap;
	}
	d->rings[index] = r;
	if (index >= d->ring_limit)
		d->ring_limit = index + 1;
	pthread_mutex_unlock(&d->lock);
	return 0;

err_unmap:
	munmap(p, d->ring_bytes);
err_free:
	free(r);
	return rc;
}

/*
 * Takes every entry KVM has published in `r`, into the pending bitmaps.
 * Adds the number taken to *taken. Returns 0, or -EIO if an entry was
 * bad. d->lock held.
 */
static int harvest(struct mig_kvm_dirty *d, uint32_t vcpu,
		   struct mig__kvm_ring *r, uint32_t *taken)
{
	const uint32_t mask = d->ring_entries - 1;
	struct kvm_dirty_gfn *e;
	uint32_t n, flags, slot, bad = 0;
	uint64_t offset;
	long i;

	/* At most one lap: a ring that seems to refill is KVM's next call. */
	for (n = 0; n < d->ring_entries; n++) {
		e = &r->gfns[r->next & mask];
		flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
		if ((flags & KVM_DIRTY_GFN_F_MASK) != KVM_DIRTY_GFN_F_DIRTY)
			break;
		slot = e->slot;
		offset = e->offset;
		i = slot_index(d, slot);
		if (i >= 0 && d->s[i].tracked && offset < d->s[i].npages) {
			mig__bitmap_set_range_atomic(d->s[i].pending, offset,
						     1);
		} else if (!bad++) {
			mig__err(&d->log,
				 "vCPU %u dirty ring entry %u: slot %u:%u "
				 "offset %llu is outside every tracked slot",
				 vcpu, r->next & mask, slot >> 16,
				 slot & 0xffff, (unsigned long long)offset);
		}
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET,
				 __ATOMIC_RELEASE);
		r->next++;
	}
	*taken += n;
	if (!bad)
		return 0;
	if (bad > 1)
		mig__err(&d->log, "vCPU %u dirty ring: %u bad entries", vcpu,
			 bad);
	d->ring_error = -EIO;
	return -EIO;
}

/* Re-protects the pages of every harvested entry. d->lock held. */
static int reset_rings(struct mig_kvm_dirty *d)
{
	int r;

	do
		r = ioctl(d->vm_fd, KVM_RESET_DIRTY_RINGS, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		mig__err(&d->log, "KVM_RESET_DIRTY_RINGS: %s", mig_strerror(r));
		d->reset_owed = 1;
		return r;
	}
	d->reset_owed = 0;
	return 0;
}

/* Harvests every ring and resets them. d->lock held. */
static int harvest_all(struct mig_kvm_dirty *d)
{
	uint32_t v, taken = 0;
	int rc = 0, rc2;

	for (v = 0; v < d->ring_limit; v++) {
		if (!d->rings[v])
			continue;
		rc2 = harvest(d, v, d->rings[v], &taken);
		if (rc2 < 0 && !rc)
			rc = rc2;
	}
	/* Pending bits from a failed reset wait for one that succeeds. */
	if (taken || d->reset_owed) {
		rc2 = reset_rings(d);
		if (rc2 < 0)
			rc = rc2;
	}
	return rc;
}

int mig__kvm_ring_full(struct mig_kvm_dirty *d, uint32_t index)
{
	struct mig__kvm_ring *r;
	uint32_t taken = 0;
	int rc, rc2;

	pthread_mutex_lock(&d->lock);
	r = d->rings[index];
	if (!r) {
		pthread_mutex_unlock(&d->lock);
		return -EINVAL;
	}
	rc = harvest(d, index, r, &taken);
	/*
	 * Even with nothing taken here: if an earlier reset failed, the
	 * entries it left are what keeps this vCPU out.
	 */
	rc2 = reset_rings(d);
	pthread_mutex_unlock(&d->lock);
	return rc < 0 ? rc : rc2;
}

int mig__kvm_ring_fetch(struct mig_kvm_dirty *d, size_t i, uint64_t *out)
{
	struct mig__kvm_slot *s = &d->s[i];
	int rc;

	pthread_mutex_lock(&d->lock);
	rc = harvest_all(d);
	if (!rc)
		rc = d->ring_error;
	/* Inside the lock: see kvm_dirty.h on d->lock. */
	if (!rc)
		mig__bitmap_move_atomic(out, s->pending, s->npages);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

int mig__kvm_ring_discard(struct mig_kvm_dirty *d)
{
	size_t i, w, nw;
	int rc;

	pthread_mutex_lock(&d->lock);
	rc = harvest_all(d);
	if (rc != -EIO && rc < 0)
		goto out_unlock; /* the reset failed: entries stay taken */
	for (i = 0; i < d->count; i++) {
		nw = d->s[i].tracked ? mig__bitmap_words(d->s[i].npages) : 0;
		for (w = 0; w < nw; w++)
			atomic_store_explicit(&d->s[i].pending[w], 0,
					      memory_order_relaxed);
	}
	d->ring_error = 0;
	rc = 0;
out_unlock:
	pthread_mutex_unlock(&d->lock);
	return rc;
}

void mig__kvm_ring_free(struct mig_kvm_dirty *d)
{
	uint32_t v;

	for (v = 0; v < d->ring_limit; v++) {
		if (!d->rings[v])
			continue;
		munmap(d->rings[v]->gfns, d->ring_bytes);
		free(d->rings[v]);
		d->rings[v] = NULL;
	}
	d->ring_limit = 0;
}
