/*
 * synth.c - the synthetic guest: its memory, its dirtier threads, and the
 * struct mig_vmm_ops it gives libmigrate for both roles.
 *
 * The guest keeps a generation per RAM page. A dirtier rewrites a page as
 * the content of its next generation, records the generation, and only
 * then marks the page dirty. At any point where the dirtiers are parked,
 * every page must equal content(seed, pfn, generation): if the library
 * (or anything else) wrote a single byte into the guest, the check sees
 * it.
 *
 * It also watches the library keep the safety rule: pause/resume/destroy
 * calls out of order are recorded as violations for the driver to report.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "synth_priv.h"

#define MAX_BURST 64

const char *synth_state_name(enum synth_run_state s)
{
	static const char *const names[] = {"none", "created", "running",
					    "paused", "destroyed"};

	if ((unsigned int)s < sizeof(names) / sizeof(names[0]))
		return names[s];
	return "?";
}

void synth__violation(struct synth_guest *g, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&g->lock);
	if (g->nviolations < MAX_VIOLATIONS) {
		va_start(ap, fmt);
		vsnprintf(g->violations[g->nviolations],
			  sizeof(g->violations[0]), fmt, ap);
		va_end(ap);
	}
	g->nviolations++;
	pthread_mutex_unlock(&g->lock);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t ram_gpa(const struct synth_guest *g, uint64_t idx)
{
	if (idx < g->low_pages)
		return idx * PAGE;
	return g->regions[1].gpa + (idx - g->low_pages) * PAGE;
}

static uint8_t *ram_host(const struct synth_guest *g, uint64_t idx)
{
	if (idx < g->low_pages)
		return (uint8_t *)g->regions[0].host + idx * PAGE;
	return (uint8_t *)g->regions[1].host + (idx - g->low_pages) * PAGE;
}

static const struct mig_region *rom_region(const struct synth_guest *g)
{
	return &g->regions[g->nregions - 1];
}

/* ---- dirtiers -------------------------------------------------------- */

static void write_page(struct synth_guest *g, uint64_t idx)
{
	uint64_t gpa = ram_gpa(g, idx);
	uint32_t old =
	    atomic_load_explicit(&g->gens[idx], memory_order_relaxed);
	uint32_t gen = old + 1;

	if (old == SYNTH_GEN_ZERO)
		gen = 1u << 31; /* target: a page that arrived as zero */
	else if (gen == SYNTH_GEN_ZERO)
		gen = 1;
	synth_page_fill(&g->ram_ct, gpa / PAGE, gen, ram_host(g, idx));
	atomic_store_explicit(&g->gens[idx], gen, memory_order_relaxed);
	/*
	 * Mark only AFTER the write. The library fetches and clears the
	 * dirty bits concurrently; had we marked first, it could clear the
	 * bit and copy the page before our bytes landed, and the new content
	 * would never be sent again: the target would keep a stale page. Once
	 * the mark follows the write, a copy taken during the write (torn)
	 * is always followed by another, complete one.
	 */
	if (g->tracker)
		mig_dirty_mark(g->tracker, gpa, PAGE);
	atomic_fetch_add_explicit(&g->writes, 1, memory_order_relaxed);
}

static void deadline(struct timespec *ts, uint64_t ns)
{
	ts->tv_sec = (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

static void *dirtier_main(void *arg)
{
	struct dirtier *dt = arg;
	struct synth_guest *g = dt->g;
	uint32_t n = g->ndirtiers;
	/* This thread owns the pages i of the working set with i % n == id. */
	uint64_t mine = g->ws_pages / n + (dt->id < g->ws_pages % n);
	uint64_t per = g->dopts.rate / n;
	uint64_t interval = per ? (uint64_t)PAGE * 1000000000u / per : 0;
	uint64_t x = g->cfg.seed ^ ((uint64_t)dt->id << 32) ^ now_ns();
	uint64_t due = now_ns();

	if (per && !interval)
		interval = 1;
	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		uint64_t burst = MAX_BURST / 4;

		if (g->hold) {
			g->parked++;
			pthread_cond_broadcast(&g->ack);
			while (g->hold && !g->stop)
				pthread_cond_wait(&g->wake, &g->lock);
			g->parked--;
			/* No tokens accumulate while paused. */
			due = now_ns();
			continue;
		}
		if (interval) {
			uint64_t now = now_ns();
			struct timespec ts;

			if (now < due) {
				deadline(&ts, due);
				pthread_cond_timedwait(&g->wake, &g->lock, &ts);
				continue;
			}
			burst = (now - due) / interval + 1;
			if (burst > MAX_BURST) {
				burst = MAX_BURST;
				due = now; /* a late thread does not catch up */
			}
			due += burst * interval;
		}
		pthread_mutex_unlock(&g->lock);
		for (uint64_t k = 0; k < burst; k++) {
			uint64_t r = x += 0x9e3779b97f4a7c15ull;

			r = (r ^ (r >> 31)) * 0xbf58476d1ce4e5b9ull;
			r ^= r >> 29;
			write_page(g, (r % mine) * n + dt->id);
		}
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

static int start_dirtiers(struct synth_guest *g)
{
	uint32_t n = g->dopts.threads;
	int err;

	g->ws_pages = g->dopts.working_set / PAGE;
	if (!g->ws_pages || g->ws_pages > g->ram_pages)
		g->ws_pages = g->ram_pages;
	if (n > g->ws_pages)
		n = (uint32_t)g->ws_pages;
	if (!n)
		return 0;
	g->dirtiers = calloc(n, sizeof(*g->dirtiers));
	if (!g->dirtiers)
		return -ENOMEM;
	g->ndirtiers = n;
	for (uint32_t i = 0; i < n; i++) {
		g->dirtiers[i].g = g;
		g->dirtiers[i].id = i;
		err = pthread_create(&g->dirtiers[i].thread, NULL, dirtier_main,
				     &g->dirtiers[i]);
		if (err) {
			g->ndirtiers = i;
			return -err;
		}
		pthread_mutex_lock(&g->lock);
		g->alive++;
		pthread_mutex_unlock(&g->lock);
	}
	return 0;
}

/* Parks every dirtier and waits for each to acknowledge. */
void synth__hold_dirtiers(struct synth_guest *g)
{
	pthread_mutex_lock(&g->lock);
	g->hold = 1;
	pthread_cond_broadcast(&g->wake);
	while (g->parked < g->alive)
		pthread_cond_wait(&g->ack, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

void synth__release_dirtiers(struct synth_guest *g)
{
	pthread_mutex_lock(&g->lock);
	g->hold = 0;
	pthread_cond_broadcast(&g->wake);
	pthread_mutex_unlock(&g->lock);
}

void synth_stop(struct synth_guest *g)
{
	if (g->boot_started && !g->boot_joined) {
		pthread_join(g->boot, NULL);
		g->boot_joined = 1;
	}
	pthread_mutex_lock(&g->lock);
	g->stop = 1;
	pthread_cond_broadcast(&g->wake);
	pthread_mutex_unlock(&g->lock);
	for (uint32_t i = 0; i < g->ndirtiers; i++)
		pthread_join(g->dirtiers[i].thread, NULL);
	free(g->dirtiers);
	g->dirtiers = NULL;
	g->ndirtiers = 0;
	pthread_mutex_lock(&g->lock);
	g->alive = 0;
	g->parked = 0;
	pthread_mutex_unlock(&g->lock);
}

/* ---- memory ---------------------------------------------------------- */

void synth__unmap_regions(struct synth_guest *g)
{
	for (uint32_t i = 0; i < g->nregions; i++) {
		if (g->regions[i].host)
			munmap(g->regions[i].host, g->regions[i].size);
		g->regions[i].host = NULL;
	}
	free((void *)g->gens);
	g->gens = NULL;
}

int synth__map_regions(struct synth_guest *g)
{
	g->nregions = synth_layout(&g->cfg, g->regions);
	g->low_pages = g->regions[0].size / PAGE;
	g->ram_pages = g->cfg.ram_size / PAGE;
	synth_content_init(&g->ram_ct, g->cfg.seed, &g->cfg.mix);
	synth_content_rom(&g->rom_ct, g->cfg.seed);
	for (uint32_t i = 0; i < g->nregions; i++) {
		void *p =
		    mmap(NULL, g->regions[i].size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED) {
			int err = -errno;

			synth__unmap_regions(g);
			return err;
		}
		/*
		 * Huge pages, as VMMs back guest RAM: one fault per 2 MiB
		 * (and the huge zero page for reads of untouched memory)
		 * instead of one per 4 KiB. Advice only: failure is fine.
		 */
		madvise(p, g->regions[i].size, MADV_HUGEPAGE);
		g->regions[i].host = p;
	}
	g->gens = calloc(g->ram_pages, sizeof(*g->gens));
	if (!g->gens) {
		synth__unmap_regions(g);
		return -ENOMEM;
	}
	return 0;
}

static void fill_rom(struct synth_guest *g)
{
	const struct mig_region *rom = rom_region(g);

	for (uint64_t off = 0; off < rom->size; off += PAGE)
		synth_page_fill(&g->rom_ct, (rom->gpa + off) / PAGE, 0,
				(uint8_t *)rom->host + off);
}

int synth_hashes_take(struct synth_guest *g, struct synth_hashes *h)
{
	uint64_t total = 0, k = 0;

	memset(h, 0, sizeof(*h));
	if (!g->have_cfg || !g->regions[0].host)
		return -EINVAL;
	for (uint32_t i = 0; i < g->nregions; i++)
		total += g->regions[i].size / PAGE;
	h->gpa = malloc(total * sizeof(uint64_t));
	h->hash = malloc(total * sizeof(uint64_t));
	if (!h->gpa || !h->hash) {
		synth_hashes_fini(h);
		return -ENOMEM;
	}
	h->seed = g->cfg.seed;
	for (uint32_t i = 0; i < g->nregions; i++) {
		const struct mig_region *r = &g->regions[i];

		for (uint64_t off = 0; off < r->size; off += PAGE, k++) {
			h->gpa[k] = r->gpa + off;
			h->hash[k] = synth_page_hash((uint8_t *)r->host + off);
		}
	}
	h->count = total;
	return 0;
}

static void check_page(struct synth_check *res, uint64_t gpa, int ok)
{
	res->pages++;
	if (ok)
		return;
	if (!res->bad_pages)
		res->first_bad_gpa = gpa;
	res->bad_pages++;
}

static void check_rom(struct synth_guest *g, struct synth_check *res)
{
	const struct mig_region *rom = rom_region(g);

	for (uint64_t off = 0; off < rom->size; off += PAGE)
		check_page(res, rom->gpa + off,
			   synth_page_equal(&g->rom_ct, (rom->gpa + off) / PAGE,
					    0, (uint8_t *)rom->host + off));
}

int synth_check_memory(struct synth_guest *g, struct synth_check *res)
{
	memset(res, 0, sizeof(*res));
	if (!g->have_cfg || !g->regions[0].host || !g->gens)
		return -EINVAL;
	pthread_mutex_lock(&g->lock);
	if (g->parked < g->alive) {
		pthread_mutex_unlock(&g->lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&g->lock);
	for (uint64_t i = 0; i < g->ram_pages; i++) {
		uint64_t gpa = ram_gpa(g, i);

		check_page(res, gpa,
			   synth_page_equal(&g->ram_ct, gpa / PAGE,
					    atomic_load(&g->gens[i]),
					    ram_host(g, i)));
	}
	check_rom(g, res);
	res->done = 1;
	return res->bad_pages ? 1 : 0;
}

/*
 * Target: what arrived must be, page by page, some generation of the
 * source's content (the stamps say which); learn the generations so the
 * guest can go on from there, and hash it all before the guest runs.
 */
void *synth__boot_main(void *arg)
{
	struct synth_guest *g = arg;
	struct synth_check *res = &g->final_check;

	memset(res, 0, sizeof(*res));
	for (uint64_t i = 0; i < g->ram_pages; i++) {
		uint64_t gpa = ram_gpa(g, i);
		uint32_t gen = SYNTH_GEN_ZERO;
		int ok = !synth_page_identify(&g->ram_ct, gpa / PAGE,
					      ram_host(g, i), &gen);

		check_page(res, gpa, ok);
		atomic_store(&g->gens[i], ok ? gen : SYNTH_GEN_ZERO);
	}
	check_rom(g, res);
	res->done = 1;
	if (!synth_hashes_take(g, &g->final))
		g->have_final = 1;
	/*
	 * A bad page has no generation to continue from; dirtiers would only
	 * paper over it, so the guest stays idle and the report says why.
	 */
	if (!res->bad_pages && start_dirtiers(g))
		synth__violation(g,
				 "target: could not start the dirtier threads");
	return NULL;
}

/* ---- lifecycle ------------------------------------------------------- */

static int guest_alloc(struct synth_guest **out, int target,
		       const struct synth_dirty_opts *d)
{
	struct synth_guest *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;

	if (!g)
		return -ENOMEM;
	g->target = target;
	g->dopts = *d;
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&g->ack, NULL);
	atomic_init(&g->writes, 0);
	*out = g;
	return 0;
}

int synth_source_new(struct synth_guest **out, const struct synth_config *c,
		     const struct synth_dirty_opts *d)
{
	struct synth_guest *g;
	char why[128];
	int err;

	err = guest_alloc(&g, 0, d);
	if (err)
		return err;
	synth_config_encode(c, g->cfg_buf);
	if (synth_config_decode(g->cfg_buf, SYNTH_CONFIG_LEN, &g->cfg, why,
				sizeof(why))) {
		synth_free(g);
		return -EINVAL;
	}
	g->have_cfg = 1;
	err = synth__map_regions(g);
	if (err) {
		synth_free(g);
		return err;
	}
	fill_rom(g);
	mprotect(rom_region(g)->host, SYNTH_ROM_SIZE, PROT_READ);
	for (uint64_t i = 0; i < g->ram_pages; i++) {
		uint64_t gpa = ram_gpa(g, i);

		/* Fresh anonymous memory is zero already: skip zero pages. */
		if (!synth_page_zero(&g->ram_ct, gpa / PAGE, 0))
			synth_page_fill(&g->ram_ct, gpa / PAGE, 0,
					ram_host(g, i));
	}
	g->state = SYNTH_RUNNING;
	*out = g;
	return 0;
}

int synth_target_new(struct synth_guest **out, uint64_t max_memory,
		     const struct synth_dirty_opts *d)
{
	struct synth_guest *g;
	int err = guest_alloc(&g, 1, d);

	if (err)
		return err;
	g->max_memory = max_memory;
	g->state = SYNTH_NONE;
	*out = g;
	return 0;
}

void synth_free(struct synth_guest *g)
{
	if (!g)
		return;
	synth_stop(g);
	synth__unmap_regions(g);
	synth_hashes_fini(&g->final);
	pthread_cond_destroy(&g->wake);
	pthread_cond_destroy(&g->ack);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

void synth_regions(struct synth_guest *g, const struct mig_region **r,
		   size_t *count)
{
	*r = g->regions;
	*count = g->nregions;
}

void synth_set_tracker(struct synth_guest *g, mig_dirty *d)
{
	g->tracker = d;
}

int synth_start(struct synth_guest *g)
{
	if (g->target || g->state != SYNTH_RUNNING || g->ndirtiers)
		return -EINVAL;
	return start_dirtiers(g);
}

void synth_set_progress(struct synth_guest *g, synth_progress_fn fn,
			void *opaque)
{
	g->progress = fn;
	g->progress_opaque = opaque;
}

int synth_hold(struct synth_guest *g)
{
	if (g->state != SYNTH_RUNNING && g->state != SYNTH_PAUSED)
		return -EINVAL;
	synth__hold_dirtiers(g);
	return 0;
}

enum synth_run_state synth_state(struct synth_guest *g)
{
	enum synth_run_state s;

	pthread_mutex_lock(&g->lock);
	s = g->state;
	pthread_mutex_unlock(&g->lock);
	return s;
}

uint64_t synth_writes(struct synth_guest *g)
{
	return atomic_load(&g->writes);
}

void synth_calls(struct synth_guest *g, uint32_t *pauses, uint32_t *resumes,
		 int *created, int *started, int *destroyed)
{
	pthread_mutex_lock(&g->lock);
	*pauses = g->pauses;
	*resumes = g->resumes;
	*created = g->created;
	*started = g->started;
	*destroyed = g->destroyed;
	pthread_mutex_unlock(&g->lock);
}

const struct synth_hashes *synth_final_hashes(struct synth_guest *g,
					      struct synth_check *check)
{
	if (check)
		*check = g->final_check;
	return g->have_final ? &g->final : NULL;
}

int synth_wait_boot(struct synth_guest *g)
{
	if (!g->boot_started)
		return -EINVAL;
	if (!g->boot_joined) {
		pthread_join(g->boot, NULL);
		g->boot_joined = 1;
	}
	return 0;
}

int synth_state_verified(struct synth_guest *g, char *why, size_t why_len)
{
	if (why)
		snprintf(why, why_len, "%s",
			 g->state_loaded ? g->state_why
					 : "load_state was never called");
	return g->state_loaded && g->state_ok;
}

int synth_config_get(struct synth_guest *g, struct synth_config *c)
{
	if (!g->have_cfg)
		return -ENOENT;
	*c = g->cfg;
	return 0;
}

size_t synth_violations(struct synth_guest *g, const char **lines, size_t max)
{
	size_t n;

	pthread_mutex_lock(&g->lock);
	n = g->nviolations;
	for (size_t i = 0; i < max && i < n && i < MAX_VIOLATIONS; i++)
		lines[i] = g->violations[i];
	pthread_mutex_unlock(&g->lock);
	return n;
}
