/*
 * ours.c - one migration with libmigrate, timed by the library itself and
 * checked end to end so that a fast wrong answer cannot pass.
 *
 * The source runs here; the target runs in the helper child. Proof of a
 * correct migration, all of which must hold:
 *   - the source froze a consistent guest (every page is the content its
 *     generation says) and the library destroyed it only on success;
 *   - every page that arrived on the target is some generation of that
 *     page (the synth consistency check), and the machine state is exact;
 *   - the target's page hashes equal the source's, taken at freeze;
 *   - neither guest saw a breach of the safety rule.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

void bench_tls_params(struct mig_tls_params *t, const char *certs, int server,
		      char buf[3][4096])
{
	const char *me = server ? "target" : "source";

	snprintf(buf[0], 4096, "%s/ca.pem", certs);
	snprintf(buf[1], 4096, "%s/%s.pem", certs, me);
	snprintf(buf[2], 4096, "%s/%s.key", certs, me);
	t->ca_file = buf[0];
	t->cert_file = buf[1];
	t->key_file = buf[2];
	t->peer_name = server ? NULL : "target.test";
}

static void log_stderr(void *opaque, enum mig_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	fprintf(stderr, "mig-bench [source]: %s\n", msg);
}

/* The source's own proof: a consistent freeze, destroyed on success. */
static int source_checks(struct synth_guest *g, const struct synth_hashes **h,
			 char *why, size_t why_len)
{
	struct synth_check frozen;
	const char *line = NULL;

	if (synth_violations(g, &line, 1)) {
		snprintf(why, why_len, "source guest: %s", line);
		return -1;
	}
	if (synth_state(g) != SYNTH_DESTROYED) {
		snprintf(why, why_len,
			 "the migration succeeded but the "
			 "source guest was not destroyed");
		return -1;
	}
	*h = synth_final_hashes(g, &frozen);
	if (!*h || !frozen.done) {
		snprintf(why, why_len,
			 "the source guest was never checked "
			 "at freeze");
		return -1;
	}
	if (frozen.bad_pages) {
		snprintf(why, why_len,
			 "source memory inconsistent at freeze: "
			 "%" PRIu64 " bad pages, first at gpa 0x%" PRIx64,
			 frozen.bad_pages, frozen.first_bad_gpa);
		return -1;
	}
	return 0;
}

/* The target's report, then its hashes against ours. */
static int target_checks(const struct bench_target_result *tr,
			 const struct synth_hashes *mine, const char *workdir,
			 char *why, size_t why_len)
{
	struct synth_hashes theirs;
	struct synth_hash_diff *diff;
	char path[4096];
	int rc;

	if (tr->rc) {
		snprintf(why, why_len, "target: %s", tr->text);
		return -1;
	}
	if (tr->violations) {
		snprintf(why, why_len, "target guest: %s", tr->text);
		return -1;
	}
	if (!tr->state_ok) {
		snprintf(why, why_len, "target machine state: %s", tr->text);
		return -1;
	}
	if (!tr->check_done || tr->bad_pages) {
		snprintf(why, why_len,
			 "target memory: %" PRIu64 " of %" PRIu64
			 " pages wrong, first at gpa 0x%" PRIx64 "%s",
			 tr->bad_pages, tr->pages_checked, tr->first_bad_gpa,
			 tr->check_done ? "" : " (no check ran)");
		return -1;
	}
	bench_peer_hash_path(workdir, path, sizeof(path));
	if (!tr->hashes_written || synth_hashes_read(&theirs, path)) {
		snprintf(why, why_len, "the target's page hashes are missing");
		return -1;
	}
	diff = calloc(1, sizeof(*diff));
	if (!diff) {
		synth_hashes_fini(&theirs);
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	rc = synth_hashes_compare(mine, &theirs, diff);
	if (rc)
		snprintf(why, why_len,
			 "target memory differs from the "
			 "source's at freeze: %" PRIu64 " of %" PRIu64
			 " pages: %.400s",
			 diff->mismatches, diff->compared, diff->text);
	free(diff);
	synth_hashes_fini(&theirs);
	remove(path);
	return rc ? -1 : 0;
}

/*
 * The figures as they stand when the phase becomes "done", i.e. when the
 * target's "running" arrived: mig_source_run() rewrites total_us once its
 * loop has wound down, which would add the guest's destroy_guest (here a
 * check and a hash of all memory) and the teardown to the time.
 */
struct done_stats {
	int seen;
	uint64_t total_us;
};

static void on_progress(void *opaque, const struct mig_progress *p)
{
	struct done_stats *d = opaque;

	if (p->phase == MIG_PHASE_DONE && p->stats) {
		d->seen = 1;
		d->total_us = p->stats->total_us;
	}
}

/*
 * Bytes on the wire: the page frames of every round. The library's
 * stats.wire_bytes is refreshed by a periodic timer only, so its final
 * value may miss the last part of the stream.
 */
static uint64_t round_wire_bytes(const struct mig_stats *st)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < st->rounds && i < MIG_STATS_MAX_ROUNDS; i++)
		sum += st->round[i].wire_bytes;
	return sum;
}

static void fill_result(struct bench_run *res, const struct mig_stats *st,
			const struct done_stats *done)
{
	res->total_us = done->seen ? done->total_us : st->total_us;
	res->total_us_stats = st->total_us;
	res->wire_bytes = round_wire_bytes(st);
	res->wire_bytes_stats = st->wire_bytes;
	res->setup_us = st->setup_us;
	res->downtime_us = st->downtime_us;
	res->rounds = st->rounds;
	res->zero_pages = st->zero_pages;
	res->lz4_pages = st->lz4_pages;
	res->raw_pages = st->raw_pages;
	res->ours = res->total_us
			? (double)res->guest_bytes * 1e6 / (double)res->total_us
			: 0;
}

int bench_ours(struct bench_peer *peer, struct synth_guest *g,
	       const struct bench_opts *o, const char *certs,
	       const char *workdir, struct bench_run *res, char *why,
	       size_t why_len)
{
	struct bench_target_result tr;
	const struct synth_hashes *h;
	const struct mig_region *regions;
	struct done_stats done = {0};
	struct bench_usage u;
	struct mig_stats *st;
	struct mig_params p;
	mig_dirty *dirty;
	mig_source *s;
	char paths[3][4096];
	char addr[256];
	size_t nregions;
	int rc, ret = -1;

	st = malloc(sizeof(*st));
	if (!st) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	synth_regions(g, &regions, &nregions);
	rc = mig_dirty_new(&dirty, regions, nregions);
	if (rc) {
		snprintf(why, why_len, "mig_dirty_new: %s", mig_strerror(rc));
		goto free_st;
	}
	synth_set_tracker(g, dirty);
	synth_set_progress(g, on_progress, &done);
	mig_params_init(&p);
	bench_tls_params(&p.tls, certs, 0, paths);
	p.encode_threads = o->encode_threads;
	p.log = log_stderr;
	p.log_level = o->verbose ? MIG_LOG_INFO : MIG_LOG_WARN;
	rc = mig_source_new(&s, &p, synth_vmm_ops(), g, mig_dirty_ops(), dirty);
	if (rc) {
		snprintf(why, why_len, "mig_source_new: %s", mig_strerror(rc));
		goto free_dirty;
	}
	if (bench_peer_target(peer, addr, sizeof(addr), why, why_len))
		goto free_source;
	rc = synth_start(g);
	if (rc) {
		snprintf(why, why_len, "cannot start the guest's dirtiers");
		bench_peer_kill(peer);
		goto free_source;
	}

	bench_usage_get(&u);
	rc = mig_source_run(s, addr);
	bench_usage_since(&u);

	mig_source_stats(s, st);
	synth_stop(g);
	if (rc) {
		snprintf(why, why_len, "migration failed: %s",
			 st->error_text[0] ? st->error_text : mig_strerror(rc));
		/* The target may still wait for a source that never came. */
		bench_peer_kill(peer);
		goto free_source;
	}
	if (bench_peer_target_wait(peer, &tr)) {
		snprintf(why, why_len, "the helper process is gone");
		goto free_source;
	}
	res->target_us = tr.total_us;
	res->src_cpu_us = u.cpu_us;
	res->src_faults = u.faults;
	res->tgt_cpu_us = tr.cpu_us;
	res->tgt_faults = tr.faults;
	fill_result(res, st, &done);
	if (!source_checks(g, &h, why, why_len) &&
	    !target_checks(&tr, h, workdir, why, why_len))
		ret = 0;
free_source:
	mig_source_free(s);
free_dirty:
	synth_stop(g); /* the dirtiers mark into the tracker */
	synth_set_tracker(g, NULL);
	synth_set_progress(g, NULL, NULL);
	mig_dirty_free(dirty);
free_st:
	free(st);
	return ret;
}
