/*
 * kvm_dirty.c - the KVM dirty page tracker: its configuration, the slots'
 * KVM_MEM_LOG_DIRTY_PAGES flag, the VMM's own marks and the ops table.
 * Asking KVM which pages the guest wrote is kvm_dirty_bitmap.c's or
 * kvm_dirty_ring.c's job, whichever mode new() settled on.
 *
 * Threads: the ops run on the migration thread; mig_kvm_dirty_mark() on
 * any thread (one atomic OR per bitmap word); mig_kvm_dirty_ring_full() on
 * vCPU threads, serialized with the ring harvests by d->lock.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_dirty.h"

#define KNOWN_SLOT_FLAGS (KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)
#define KNOWN_CFG_FLAGS                                                        \
	(MIG_KVM_DIRTY_F_NO_MANUAL_PROTECT | MIG_KVM_DIRTY_F_NO_INITIALLY_SET)
/* Far above KVM's own limit (65536), low enough that bytes fit a u32. */
#define RING_ENTRIES_MAX (1u << 24)

static int slot_valid(const struct mig_kvm_slot *a)
{
	if (!a->size || (a->gpa | a->size) % MIG_PAGE_SIZE ||
	    a->gpa + a->size < a->gpa)
		return 0;
	if (!a->host || (uintptr_t)a->host % MIG_PAGE_SIZE)
		return 0;
	return !(a->flags & ~(uint32_t)KNOWN_SLOT_FLAGS);
}

static int config_valid(const struct mig_kvm_dirty_config *cfg)
{
	const struct mig_kvm_slot *a, *b;
	size_t i, j;

	if (cfg->vm_fd < 0 || cfg->mode < MIG_KVM_DIRTY_AUTO ||
	    cfg->mode > MIG_KVM_DIRTY_RING || cfg->flags & ~KNOWN_CFG_FLAGS)
		return 0;
	if (cfg->ring_entries && (cfg->ring_entries & (cfg->ring_entries - 1) ||
				  cfg->ring_entries > RING_ENTRIES_MAX))
		return 0;
	if (!cfg->slots || !cfg->slot_count ||
	    cfg->slot_count > MIG_MAX_REGIONS)
		return 0;
	for (i = 0; i < cfg->slot_count; i++) {
		a = &cfg->slots[i];
		if (!slot_valid(a))
			return 0;
		for (j = 0; j < i; j++) {
			b = &cfg->slots[j];
			/* A ring entry names its slot: it must be one. */
			if (a->slot == b->slot)
				return 0;
			/* Other address spaces (SMM) may alias the RAM. */
			if (a->slot >> 16 == b->slot >> 16 &&
			    a->gpa < b->gpa + b->size &&
			    b->gpa < a->gpa + a->size)
				return 0;
		}
	}
	return 1;
}

static void free_slots(struct mig_kvm_dirty *d)
{
	size_t i;

	for (i = 0; i < d->count; i++)
		free(d->s[i].pending);
}

static int copy_slots(struct mig_kvm_dirty *d,
		      const struct mig_kvm_dirty_config *cfg)
{
	struct mig__kvm_slot *s;
	size_t i;

	d->count = cfg->slot_count;
	for (i = 0; i < d->count; i++) {
		s = &d->s[i];
		s->slot = cfg->slots[i].slot;
		s->flags =
		    cfg->slots[i].flags & ~(uint32_t)KVM_MEM_LOG_DIRTY_PAGES;
		s->gpa = cfg->slots[i].gpa;
		s->size = cfg->slots[i].size;
		s->npages = s->size >> MIG_PAGE_SHIFT;
		s->host = cfg->slots[i].host;
		s->tracked = !(s->flags & KVM_MEM_READONLY);
		if (!s->tracked)
			continue;
		/* calloc's zero bytes are a valid zero for atomic words. */
		s->pending =
		    calloc(mig__bitmap_words(s->npages), sizeof(*s->pending));
		if (!s->pending)
			return -ENOMEM;
	}
	return 0;
}

/* Picks and sets up the mode; AUTO falls back to the bitmap. */
static int init_mode(struct mig_kvm_dirty *d,
		     const struct mig_kvm_dirty_config *cfg)
{
	uint32_t entries =
	    cfg->ring_entries ? cfg->ring_entries : MIG_KVM_DIRTY_RING_DEFAULT;
	int rc;

	if (cfg->mode != MIG_KVM_DIRTY_BITMAP) {
		rc = mig__kvm_ring_init(d, entries);
		if (!rc) {
			d->mode = MIG_KVM_DIRTY_RING;
			mig__info(&d->log,
				  "kvm dirty tracking: ring of %u "
				  "entries per vCPU",
				  entries);
			return 0;
		}
		if (cfg->mode == MIG_KVM_DIRTY_RING) {
			mig__err(&d->log, "kvm dirty ring of %u entries: %s",
				 entries, mig_strerror(rc));
			return rc;
		}
		if (rc != -EOPNOTSUPP)
			mig__warn(&d->log,
				  "kvm dirty ring of %u entries refused (%s); "
				  "using the dirty bitmap",
				  entries, mig_strerror(rc));
	}
	d->mode = MIG_KVM_DIRTY_BITMAP;
	rc = mig__kvm_bitmap_init(d, cfg->flags);
	if (rc < 0)
		return rc;
	mig__info(&d->log, "kvm dirty tracking: bitmap, %s",
		  !d->manual	     ? "get-and-clear"
		  : d->initially_set ? "manual protect, initially set"
				     : "manual protect");
	return 0;
}

int mig_kvm_dirty_new(mig_kvm_dirty **out,
		      const struct mig_kvm_dirty_config *cfg)
{
	struct mig_kvm_dirty *d;
	int rc;

	if (!out || !cfg || !config_valid(cfg))
		return -EINVAL;
	d = calloc(1, sizeof(*d) + cfg->slot_count * sizeof(d->s[0]));
	if (!d)
		return -ENOMEM;
	d->vm_fd = cfg->vm_fd;
	d->log.fn = cfg->log;
	d->log.opaque = cfg->log_opaque;
	d->log.level = MIG_LOG_DEBUG; /* the sink filters */
	atomic_init(&d->enabled, 0);
	rc = -pthread_mutex_init(&d->lock, NULL);
	if (rc < 0)
		goto err_free;
	rc = copy_slots(d, cfg);
	if (rc < 0)
		goto err_free_slots;
	rc = init_mode(d, cfg);
	if (rc < 0)
		goto err_free_slots;
	*out = d;
	return 0;

err_free_slots:
	free_slots(d);
	pthread_mutex_destroy(&d->lock);
err_free:
	free(d);
	return rc;
}

enum mig_kvm_dirty_mode mig_kvm_dirty_mode(const mig_kvm_dirty *d)
{
	return d ? d->mode : MIG_KVM_DIRTY_AUTO;
}

int mig_kvm_dirty_add_vcpu(mig_kvm_dirty *d, uint32_t index, int vcpu_fd)
{
	if (!d || index >= MIG_MAX_VCPUS || vcpu_fd < 0)
		return -EINVAL;
	if (d->mode != MIG_KVM_DIRTY_RING)
		return 0;
	return mig__kvm_ring_add_vcpu(d, index, vcpu_fd);
}

int mig_kvm_dirty_ring_full(mig_kvm_dirty *d, uint32_t index)
{
	if (!d || d->mode != MIG_KVM_DIRTY_RING || index >= MIG_MAX_VCPUS)
		return -EINVAL;
	return mig__kvm_ring_full(d, index);
}

void mig_kvm_dirty_mark(mig_kvm_dirty *d, uint64_t gpa, uint64_t len)
{
	const struct mig__kvm_slot *s;
	uint64_t end;
	size_t i;

	if (!d || !len ||
	    !atomic_load_explicit(&d->enabled, memory_order_relaxed))
		return;
	end = gpa + len < gpa ? UINT64_MAX : gpa + len;
	/* No early exit: other address spaces may map the same gpa. */
	for (i = 0; i < d->count; i++) {
		s = &d->s[i];
		if (s->tracked)
			mig__bitmap_mark_span(s->pending, s->gpa, s->size, gpa, end);
	}
}

void mig_kvm_dirty_free(mig_kvm_dirty *d)
{
	if (!d)
		return;
	mig__kvm_ring_free(d);
	mig__kvm_bitmap_free(d);
	free_slots(d);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static int set_slot_logging(struct mig_kvm_dirty *d, size_t i, int on)
{
	const struct mig__kvm_slot *s = &d->s[i];
	struct kvm_userspace_memory_region r;

	memset(&r, 0, sizeof(r));
	r.slot = s->slot;
	r.flags = s->flags | (on ? KVM_MEM_LOG_DIRTY_PAGES : 0);
	r.guest_phys_addr = s->gpa;
	r.memory_size = s->size;
	r.userspace_addr = (uintptr_t)s->host;
	if (ioctl(d->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		int rc = -errno;

		mig__err(&d->log, "kvm dirty log %s on slot %u:%u: %s",
			 on ? "on" : "off", s->slot >> 16, s->slot & 0xffff,
			 mig_strerror(rc));
		return rc;
	}
	return 0;
}

/* Turns logging off on every tracked slot; returns the first error. */
static int logging_off(struct mig_kvm_dirty *d, size_t upto)
{
	int rc, first = 0;
	size_t i;

	for (i = 0; i < upto; i++) {
		if (!d->s[i].tracked)
			continue;
		rc = set_slot_logging(d, i, 0);
		if (rc < 0 && !first)
			first = rc;
	}
	return first;
}

static int kvm_dirty_start(void *tracker)
{
	struct mig_kvm_dirty *d = tracker;
	size_t i, nw, w;
	int rc;

	if (!d)
		return -EINVAL;
	/* Whatever came before belongs to an earlier migration. */
	atomic_store_explicit(&d->enabled, 0, memory_order_seq_cst);
	if (d->mode == MIG_KVM_DIRTY_RING) {
		rc = mig__kvm_ring_discard(d);
		if (rc < 0)
			return rc;
	} else {
		for (i = 0; i < d->count; i++) {
			nw = d->s[i].tracked ? mig__bitmap_words(d->s[i].npages)
					     : 0;
			for (w = 0; w < nw; w++)
				atomic_store_explicit(&d->s[i].pending[w], 0,
						      memory_order_relaxed);
		}
	}
	for (i = 0; i < d->count; i++) {
		if (!d->s[i].tracked)
			continue;
		rc = set_slot_logging(d, i, 1);
		if (rc < 0)
			goto err_logging_off;
	}
	d->logging = 1;
	if (d->mode == MIG_KVM_DIRTY_BITMAP && d->initially_set) {
		rc = mig__kvm_bitmap_clear_all(d);
		if (rc < 0)
			goto err_logging_off;
	}
	atomic_store_explicit(&d->enabled, 1, memory_order_seq_cst);
	return 0;

err_logging_off:
	logging_off(d, i); /* before the one that failed; all if clearing */
	d->logging = 0;
	return rc;
}

static int kvm_dirty_fetch_and_clear(void *tracker, uint32_t region,
				     uint64_t *bitmap, uint64_t npages)
{
	struct mig_kvm_dirty *d = tracker;
	struct mig__kvm_slot *s;
	int rc;

	if (!d || !bitmap || region >= d->count || npages < d->s[region].npages)
		return -EINVAL;
	s = &d->s[region];
	if (!s->tracked || !d->logging)
		return 0;
	if (d->mode == MIG_KVM_DIRTY_RING)
		return mig__kvm_ring_fetch(d, region, bitmap);
	rc = mig__kvm_bitmap_fetch(d, region, bitmap);
	if (rc < 0)
		return rc;
	mig__bitmap_move_atomic(bitmap, s->pending, s->npages);
	return 0;
}

static int kvm_dirty_stop(void *tracker)
{
	struct mig_kvm_dirty *d = tracker;
	int rc, rc2 = 0;

	if (!d)
		return -EINVAL;
	atomic_store_explicit(&d->enabled, 0, memory_order_seq_cst);
	rc = logging_off(d, d->count);
	d->logging = 0;
	/* Leave no ring full: a vCPU stuck on it would never run again. */
	if (d->mode == MIG_KVM_DIRTY_RING)
		rc2 = mig__kvm_ring_discard(d);
	return rc < 0 ? rc : rc2;
}

static const struct mig_dirty_ops kvm_dirty_ops = {
    .start = kvm_dirty_start,
    .fetch_and_clear = kvm_dirty_fetch_and_clear,
    .stop = kvm_dirty_stop,
};

const struct mig_dirty_ops *mig_kvm_dirty_ops(void)
{
	return &kvm_dirty_ops;
}
