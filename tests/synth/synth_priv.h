/*
 * synth_priv.h - the synthetic guest's insides, shared by synth.c (memory,
 * dirtiers, checks) and synth_ops.c (the struct mig_vmm_ops callbacks).
 */
#ifndef SYNTH_PRIV_H
#define SYNTH_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "synth.h"

#define PAGE	       MIG_PAGE_SIZE
#define MAX_VIOLATIONS 8

struct dirtier {
	struct synth_guest *g;
	uint32_t id;
	pthread_t thread;
};

struct synth_guest {
	int target; /* role: 0 source, 1 target */
	struct synth_config cfg;
	int have_cfg;
	uint8_t cfg_buf[SYNTH_CONFIG_LEN];
	struct synth_content ram_ct;
	struct synth_content rom_ct;
	struct synth_dirty_opts dopts;
	uint64_t max_memory;

	struct mig_region regions[3];
	uint32_t nregions;
	uint64_t ram_pages;
	uint64_t low_pages;	/* RAM pages in region 0 */
	_Atomic uint32_t *gens; /* per RAM page */
	mig_dirty *tracker;

	pthread_mutex_t lock;
	pthread_cond_t wake; /* to dirtiers: hold/stop changed; pacing */
	pthread_cond_t ack;  /* from dirtiers: one parked */
	int hold;
	int stop;
	uint32_t alive;
	uint32_t parked;
	struct dirtier *dirtiers;
	uint32_t ndirtiers;
	uint64_t ws_pages;
	atomic_uint_fast64_t writes;

	pthread_t boot;
	int boot_started;
	int boot_joined;

	enum synth_run_state state;
	int committed;
	uint32_t pauses;
	uint32_t resumes;
	int created;
	int started;
	int destroyed;
	char violations[MAX_VIOLATIONS][192];
	size_t nviolations;

	int state_loaded;
	int state_ok;
	char state_why[256];

	struct synth_hashes final;
	struct synth_check final_check;
	int have_final;

	synth_progress_fn progress;
	void *progress_opaque;
};

/* Records a breach of the safety rule or of the ops' order. */
void synth__violation(struct synth_guest *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parks every dirtier and waits until each has acknowledged. */
void synth__hold_dirtiers(struct synth_guest *g);
/* Lets the dirtiers run again. */
void synth__release_dirtiers(struct synth_guest *g);

/* Maps the regions of g->cfg and the generation table; -errno. */
int synth__map_regions(struct synth_guest *g);
/* Unmaps the regions and frees the generation table. */
void synth__unmap_regions(struct synth_guest *g);

/* Target: check and hash what arrived, then run the dirtiers. */
void *synth__boot_main(void *arg);

#endif /* SYNTH_PRIV_H */
