/*
 * synth.h - a synthetic guest for libmigrate's demo, tests and benchmarks.
 *
 * The guest lives in this process and looks like a small PC to the
 * library: a 1 MiB read-only ROM at gpa 0xfff00000 and RAM at gpa 0 (split
 * at 3 GiB, the rest at 4 GiB, as a PC's PCI hole does). Every page's
 * content is a pure function of (seed, page frame number, generation), so
 * that any copy of the guest can be checked without the original:
 *
 *   - a "zero" page is all zero;
 *   - a "text" page (compressible: log lines) and a "random" page
 *     (incompressible) begin with a stamp carrying the seed's tag, the pfn
 *     and the generation, so a page found anywhere says which content it
 *     must have.
 *
 * Dirtier threads rewrite pages of a working set at a set rate, bumping
 * the page's generation. The guest implements struct mig_vmm_ops for both
 * roles (source and target) through the public API only.
 *
 * synth_gen.c holds the pure functions (content, configuration, layout,
 * state blobs, hashing), which link without libmigrate; synth.c holds the
 * guest itself.
 */
#ifndef SYNTH_H
#define SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "migrate.h"

#define SYNTH_ROM_GPA  0xfff00000ull
#define SYNTH_ROM_SIZE (1ull << 20)
#define SYNTH_LOW_MAX  (3ull << 30) /* RAM below the PCI hole */
#define SYNTH_HIGH_GPA (4ull << 30) /* where the rest of RAM goes */
#define SYNTH_RAM_MAX  (1ull << 40)
#define SYNTH_RAM_MIN  (64ull << 10)

/* Generation value meaning "all-zero page, generation not known". */
#define SYNTH_GEN_ZERO 0xffffffffu

#define SYNTH_CPU_FINGERPRINT "synth-cpu/1 family=6 model=85 sse4.2,avx2"

/* Percentages of the three page kinds; they add up to 100. */
struct synth_mix {
	uint32_t zero;
	uint32_t text;
	uint32_t random;
};

/* What both sides must agree on; carried in vmm_config. */
struct synth_config {
	uint64_t seed;
	uint64_t ram_size; /* bytes, a multiple of MIG_PAGE_SIZE */
	struct synth_mix mix;
	uint32_t vcpus;
	uint32_t devices;
};

/* ---- synth_gen.c: pure functions ------------------------------------- */

/* 256 MiB, zero=30 text=40 random=30, seed 1, 2 vCPUs, 3 devices. */
void synth_config_default(struct synth_config *c);

/*
 * Parses "zero=30,text=40,random=30" (any order, missing kinds are 0).
 * Returns 0, or -1 when malformed or the sum is not 100.
 */
int synth_mix_parse(const char *s, struct synth_mix *m);

/* Parses a decimal unsigned 32-bit number. Returns 0, or -1. */
int synth_u32_parse(const char *s, uint32_t *out);

/*
 * Parses a size: a decimal number with an optional binary suffix K, M, G
 * or T (and an optional "iB" or "B"). Returns 0 or -1.
 */
int synth_size_parse(const char *s, uint64_t *out);

/* Formats `bytes` as "512 MiB", "1.5 GiB", "4 KiB" or "123 B". */
void synth_size_format(uint64_t bytes, char *buf, size_t len);

#define SYNTH_CONFIG_LEN 48

/* Encodes `c` into exactly SYNTH_CONFIG_LEN bytes of `buf`. */
void synth_config_encode(const struct synth_config *c,
			 uint8_t buf[SYNTH_CONFIG_LEN]);

/*
 * Decodes a vmm_config received from a peer (hostile). Returns 0, or -1
 * with a sentence in `why`.
 */
int synth_config_decode(const void *buf, size_t len, struct synth_config *c,
			char *why, size_t why_len);

/*
 * The guest's regions (host NULL): RAM low, RAM high if any, ROM last.
 * Returns the number of regions (2 or 3).
 */
uint32_t synth_layout(const struct synth_config *c,
		      struct mig_region regions[3]);

/*
 * Fills `d` as the source's describe() does, without host addresses.
 * `cfg_buf` receives the encoded configuration that d->vmm_config points
 * to; it must outlive `d`.
 */
void synth_desc_build(const struct synth_config *c, struct mig_guest_desc *d,
		      uint8_t cfg_buf[SYNTH_CONFIG_LEN]);

/* Name of device `i` ("serial0", "virtio-blk0", ...) into buf. */
void synth_device_name(uint32_t i, char *buf, size_t len);

/* The content function's inputs, derived once from a configuration. */
struct synth_content {
	uint64_t seed;
	uint64_t tag; /* stamp tag, from the seed */
	struct synth_mix mix;
};

void synth_content_init(struct synth_content *ct, uint64_t seed,
			const struct synth_mix *mix);

/* ROM pages use their own fixed mix (half text, half random). */
void synth_content_rom(struct synth_content *ct, uint64_t seed);

/* Writes page `pfn` at generation `gen` into `page` (4 KiB). */
void synth_page_fill(const struct synth_content *ct, uint64_t pfn, uint32_t gen,
		     void *page);

/* Whether page `pfn` at `gen` is an all-zero page. */
int synth_page_zero(const struct synth_content *ct, uint64_t pfn, uint32_t gen);

/* Whether `page` is exactly page `pfn` at `gen` (SYNTH_GEN_ZERO: zero). */
int synth_page_equal(const struct synth_content *ct, uint64_t pfn, uint32_t gen,
		     const void *page);

/*
 * Checks a page found in a copy of the guest: returns 0 and its
 * generation (SYNTH_GEN_ZERO for an all-zero page) if it is exactly some
 * generation of page `pfn`, -1 otherwise (torn, stale from another pfn,
 * corrupted).
 */
int synth_page_identify(const struct synth_content *ct, uint64_t pfn,
			const void *page, uint32_t *gen);

/* 64-bit hash of one page (XXH3). */
uint64_t synth_page_hash(const void *page);

/* Size of the state blob (kind, id); "some KiB" each, at most this. */
#define SYNTH_BLOB_MAX 12288

size_t synth_blob_len(enum mig_state_kind kind, uint32_t id);

/* Writes the blob (kind, id) of `seed` into buf (synth_blob_len bytes). */
void synth_blob_fill(uint64_t seed, enum mig_state_kind kind, uint32_t id,
		     uint8_t *buf);

/* The blob's name ("vcpu0", a device name, "machine"). */
void synth_blob_name(enum mig_state_kind kind, uint32_t id, char *buf,
		     size_t len);

/* ---- synth.c: the guest ---------------------------------------------- */

struct synth_guest;

/* How the guest dirties its memory. */
struct synth_dirty_opts {
	uint64_t rate;	      /* bytes/s over all threads; 0 = flat out */
	uint32_t threads;     /* 0 = the guest never writes */
	uint64_t working_set; /* bytes from the start of RAM; 0 = all */
};

enum synth_run_state {
	SYNTH_NONE = 0, /* target: no guest yet */
	SYNTH_CREATED,	/* target: created, paused, not started */
	SYNTH_RUNNING,
	SYNTH_PAUSED,
	SYNTH_DESTROYED,
};

/* "none", "created", "running", "paused", "destroyed". */
const char *synth_state_name(enum synth_run_state s);

/* Result of a memory check. */
struct synth_check {
	int done;	/* a check ran */
	uint64_t pages; /* pages checked */
	uint64_t bad_pages;
	uint64_t first_bad_gpa;
};

/* Page hashes of the whole guest, in region order. */
struct synth_hashes {
	uint64_t seed;
	uint64_t count;
	uint64_t *gpa;
	uint64_t *hash;
};

/* A mismatch found by synth_hashes_compare(). */
struct synth_hash_diff {
	uint64_t mismatches; /* pages that differ */
	uint64_t compared;
	int layout_differs; /* counts or addresses differ */
	char text[1024];    /* the first differing pages, for a user */
};

/*
 * Source: builds the guest of `c` (memory allocated and filled at
 * generation 0). Dirtiers start with synth_start(). Returns 0 or -errno.
 */
int synth_source_new(struct synth_guest **out, const struct synth_config *c,
		     const struct synth_dirty_opts *d);

/*
 * Target: an empty host that accepts guests of up to `max_memory` bytes of
 * RAM (0 = no limit); the guest comes with create_guest(). Its dirtiers
 * (started by start_guest) follow `d`.
 */
int synth_target_new(struct synth_guest **out, uint64_t max_memory,
		     const struct synth_dirty_opts *d);

/* Stops every thread and frees everything. NULL is a no-op. */
void synth_free(struct synth_guest *g);

/* The ops table for both roles (pass the guest as `vmm`). */
const struct mig_vmm_ops *synth_vmm_ops(void);

/* Source: the regions with host addresses (for mig_dirty_new). */
void synth_regions(struct synth_guest *g, const struct mig_region **r,
		   size_t *count);

/* Source: the tracker the dirtiers mark (may be NULL: no tracking). */
void synth_set_tracker(struct synth_guest *g, mig_dirty *d);

/* Source: starts the dirtier threads. Returns 0 or -errno. */
int synth_start(struct synth_guest *g);

/*
 * Called by the guest's progress op after its own bookkeeping (it notes
 * the commit, after which a resume is a violation of the safety rule).
 */
typedef void (*synth_progress_fn)(void *opaque, const struct mig_progress *p);
void synth_set_progress(struct synth_guest *g, synth_progress_fn fn,
			void *opaque);

/* Pauses the dirtiers from the driver (for checks). Returns 0 or -EINVAL. */
int synth_hold(struct synth_guest *g);

/* Stops and joins the dirtier threads for good. */
void synth_stop(struct synth_guest *g);

enum synth_run_state synth_state(struct synth_guest *g);

/* Pages written by the dirtiers so far (proof that the guest runs). */
uint64_t synth_writes(struct synth_guest *g);

/* Calls of pause and resume made by the library. */
void synth_calls(struct synth_guest *g, uint32_t *pauses, uint32_t *resumes,
		 int *created, int *started, int *destroyed);

/*
 * Checks that every page is exactly the content its generation says: the
 * proof that nobody but the guest wrote into it. The dirtiers must be
 * stopped (paused). Returns 0 when consistent, 1 when not, -EINVAL when
 * there is no memory to check.
 */
int synth_check_memory(struct synth_guest *g, struct synth_check *res);

/*
 * The memory check and page hashes taken at the end of a migration: on
 * the source in destroy_guest (the guest frozen, after the target runs),
 * on the target before its dirtiers start. NULL if not taken.
 */
const struct synth_hashes *synth_final_hashes(struct synth_guest *g,
					      struct synth_check *check);

/*
 * Target: waits until the started guest has checked and hashed the
 * memory it received (then its dirtiers run). Returns 0, or -EINVAL if
 * the guest was never started.
 */
int synth_wait_boot(struct synth_guest *g);

/* Target: whether load_state found every blob exactly as made. */
int synth_state_verified(struct synth_guest *g, char *why, size_t why_len);

/* Target: the configuration received (0), or -ENOENT before one came. */
int synth_config_get(struct synth_guest *g, struct synth_config *c);

/*
 * Safety-rule violations seen (resume after commit or destroy, destroy
 * of a started guest, ...). Returns the count; copies up to `max` lines.
 */
size_t synth_violations(struct synth_guest *g, const char **lines, size_t max);

/* Computes the hashes of the current memory (dirtiers stopped). */
int synth_hashes_take(struct synth_guest *g, struct synth_hashes *h);
void synth_hashes_fini(struct synth_hashes *h);

/* Hash file: "SYNTHHS1", seed, count, then (gpa, hash) pairs, LE. */
int synth_hashes_write(const struct synth_hashes *h, const char *path);
int synth_hashes_read(struct synth_hashes *h, const char *path);

/* Compares `mine` with `theirs`; returns 0 if equal, 1 if not. */
int synth_hashes_compare(const struct synth_hashes *mine,
			 const struct synth_hashes *theirs,
			 struct synth_hash_diff *diff);

#endif /* SYNTH_H */
