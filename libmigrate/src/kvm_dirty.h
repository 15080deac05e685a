/*
 * kvm_dirty.h - the KVM dirty page tracker's insides, shared by its three
 * files: kvm_dirty.c (config, slots, marks, the ops table), and the two
 * ways of asking KVM, kvm_dirty_bitmap.c and kvm_dirty_ring.c.
 */
#ifndef MIG_KVM_DIRTY_H
#define MIG_KVM_DIRTY_H

#include <pthread.h>
#include <stdatomic.h>

#include <linux/kvm.h>

#include "bitmap.h"

struct mig__kvm_slot {
	uint32_t slot;	/* as KVM_SET_USER_MEMORY_REGION: as_id << 16 | id */
	uint32_t flags; /* the VMM's, without KVM_MEM_LOG_DIRTY_PAGES */
	uint64_t gpa;
	uint64_t size;
	uint64_t npages;
	void *host;
	int tracked; /* writable: logged, fetched, marked */
	/*
	 * Pages to report at the next fetch of this slot: the VMM's marks,
	 * and in ring mode the harvested ring entries. NULL if untracked.
	 */
	_Atomic uint64_t *pending;
	uint64_t *log; /* bitmap mode: the KVM_GET_DIRTY_LOG buffer */
};

/* One vCPU's dirty ring, mapped from its fd. */
struct mig__kvm_ring {
	struct kvm_dirty_gfn *gfns;
	uint32_t next; /* free-running index of the next entry to harvest */
};

struct mig_kvm_dirty {
	int vm_fd;
	enum mig_kvm_dirty_mode mode;
	struct mig__log log;
	atomic_int enabled; /* between start and stop: marks count */
	int logging;	    /* slots carry KVM_MEM_LOG_DIRTY_PAGES */

	/* Bitmap mode. */
	int manual;	   /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled */
	int initially_set; /* ... with KVM_DIRTY_LOG_INITIALLY_SET */

	/*
	 * Ring mode. `lock` covers the ring table, every harvest and the
	 * reset after it, and the hand-out of pending bits: a bit may only
	 * leave `pending` once the reset that re-protects its page is done,
	 * or a write in between would be neither logged nor sent.
	 */
	uint32_t ring_entries;
	size_t ring_bytes;
	pthread_mutex_t lock;
	struct mig__kvm_ring *rings[MIG_MAX_VCPUS];
	uint32_t ring_limit; /* every ring has an index below this */
	size_t last_hit;     /* slot index of the last ring entry */
	int ring_error;	     /* sticky until start(): an entry was bad */
	int reset_owed;	     /* the last KVM_RESET_DIRTY_RINGS failed */

	size_t count;
	struct mig__kvm_slot s[];
};

/*
 * Bitmap mode. init enables manual protection as cfg `flags` allow and
 * allocates the log buffers (0, -ENOMEM or KVM's error). clear_all
 * re-protects every tracked slot's whole log (after start, with
 * INITIALLY_SET). fetch ORs slot i's KVM log into `out` and re-protects
 * those pages. free releases the buffers.
 */
int mig__kvm_bitmap_init(struct mig_kvm_dirty *d, uint32_t flags);
int mig__kvm_bitmap_clear_all(struct mig_kvm_dirty *d);
int mig__kvm_bitmap_fetch(struct mig_kvm_dirty *d, size_t i, uint64_t *out);
void mig__kvm_bitmap_free(struct mig_kvm_dirty *d);

/*
 * Ring mode. init enables KVM's dirty ring of `entries` entries
 * (-EOPNOTSUPP if KVM has none, else KVM's error). add_vcpu maps a vCPU's
 * ring. full harvests one vCPU's ring and resets it. fetch harvests every
 * ring, resets, and moves slot i's pending bits to `out`. discard empties
 * the rings and every pending bitmap and forgets a past error (start,
 * stop). free unmaps the rings. All return 0 or a negative errno.
 */
int mig__kvm_ring_init(struct mig_kvm_dirty *d, uint32_t entries);
int mig__kvm_ring_add_vcpu(struct mig_kvm_dirty *d, uint32_t index,
			   int vcpu_fd);
int mig__kvm_ring_full(struct mig_kvm_dirty *d, uint32_t index);
int mig__kvm_ring_fetch(struct mig_kvm_dirty *d, size_t i, uint64_t *out);
int mig__kvm_ring_discard(struct mig_kvm_dirty *d);
void mig__kvm_ring_free(struct mig_kvm_dirty *d);

#endif /* MIG_KVM_DIRTY_H */
