/*
 * mig_synth.c - mig-synth, libmigrate's demo and end-to-end test driver.
 *
 * It migrates a synthetic guest (synth.h) with the public API only: live
 * over TLS ("source" to "target"), or stopped through a file ("save" then
 * "load"). Each side checks what it can prove: the source that the guest
 * it keeps (after a failure) was never written by the library and still
 * runs, or that it stays paused when the outcome is undetermined; the
 * target that what arrived is byte for byte the source's memory at freeze
 * and its exact machine state. The test hooks (--die-in-phase,
 * --cancel-in-phase) live here, not in the library.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mig_synth.h"

/* State shared with the progress callback and the canceller thread. */
struct run {
	const struct opts *o;
	const char *role;
	mig_source *src;
	enum mig_phase last_phase;
	uint32_t last_round;
	uint64_t t0_us;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int cancel_now;
	int cancel_done;
	int cancel_rc;
	int quit;
};

/* ---- library callbacks ----------------------------------------------- */

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_log(void *opaque, enum mig_log_level level, const char *msg)
{
	static const char *const lv[] = {"error", "warn", "info", "debug"};
	const struct run *r = opaque;
	uint64_t t = now_us() - r->t0_us;

	/* The time since the start shows where a migration spends it. */
	fprintf(stderr, "[%s +%" PRIu64 ".%03" PRIu64 "s] libmigrate %s: %s\n",
		r->role, t / 1000000, t / 1000 % 1000,
		(unsigned int)level < 4 ? lv[level] : "?", msg);
}

static void on_progress(void *opaque, const struct mig_progress *p)
{
	struct run *r = opaque;
	const struct mig_stats *st = p->stats;

	if (!r->o->quiet && st && st->rounds > r->last_round) {
		const struct mig_round_stats *rs = &st->round[st->rounds - 1];

		printf("[%s]   round %u: %" PRIu64 " pages, %" PRIu64
		       " dirty after it, %.1f ms\n",
		       r->role, rs->round, rs->pages, rs->dirty_pages,
		       (double)rs->duration_us / 1000);
		r->last_round = st->rounds;
	}
	if (r->o->die_phase && p->phase == r->o->die_phase &&
	    (!st || st->rounds >= r->o->die_round)) {
		fprintf(stderr,
			"[%s] test hook: dying in phase %s after %u "
			"rounds\n",
			r->role, mig_phase_name(p->phase), st ? st->rounds : 0);
		raise(SIGKILL);
	}
	if (p->phase == r->last_phase)
		return;
	r->last_phase = p->phase;
	if (!r->o->quiet)
		printf("[%s] phase %s\n", r->role, mig_phase_name(p->phase));
	fflush(stdout);
	if (r->o->cancel_phase && p->phase == r->o->cancel_phase) {
		pthread_mutex_lock(&r->lock);
		r->cancel_now = 1;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
	}
}

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000),
			      (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Cancels from a thread of its own, as an operator's request would. */
static void *canceller(void *arg)
{
	struct run *r = arg;

	pthread_mutex_lock(&r->lock);
	while (!r->cancel_now && !r->quit)
		pthread_cond_wait(&r->cond, &r->lock);
	if (r->quit) {
		pthread_mutex_unlock(&r->lock);
		return NULL;
	}
	pthread_mutex_unlock(&r->lock);
	sleep_ms(r->o->cancel_delay_ms);
	r->cancel_rc = mig_source_cancel(r->src);
	fprintf(stderr, "[source] test hook: mig_source_cancel() = %d (%s)\n",
		r->cancel_rc, mig_strerror(r->cancel_rc));
	pthread_mutex_lock(&r->lock);
	r->cancel_done = 1;
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* The guest's ops, with start_guest wrapped for --die-in-phase start. */
static struct mig_vmm_ops hooked_ops;

static int start_and_die(void *vmm)
{
	int rc = synth_vmm_ops()->start_guest(vmm);

	fprintf(stderr,
		"[target] test hook: dying in start_guest (it "
		"returned %d)\n",
		rc);
	raise(SIGKILL);
	return rc;
}

static const struct mig_vmm_ops *vmm_ops(const struct opts *o)
{
	hooked_ops = *synth_vmm_ops();
	if (o->die_in_start)
		hooked_ops.start_guest = start_and_die;
	return &hooked_ops;
}

static void params_fill(const struct opts *o, struct run *r,
			struct mig_params *p)
{
	mig_params_init(p);
	p->downtime_limit_ms = o->downtime_ms;
	p->bandwidth_limit = o->bandwidth;
	p->max_rounds = o->max_rounds;
	p->max_total_ms = o->max_time_ms;
	p->on_limit = o->on_limit;
	p->peer_timeout_ms = o->timeout_ms;
	p->compress = !o->no_compress;
	p->encode_threads = o->encode_threads;
	p->tls.ca_file = o->ca;
	p->tls.cert_file = o->cert;
	p->tls.key_file = o->key;
	p->tls.peer_name = o->peer_name;
	p->log = on_log;
	p->log_opaque = r;
	p->log_level = o->verbose ? MIG_LOG_DEBUG
		       : o->quiet ? MIG_LOG_WARN
				  : MIG_LOG_INFO;
}

static void run_init(struct run *r, const struct opts *o)
{
	memset(r, 0, sizeof(*r));
	r->o = o;
	r->role = o->target ? "target" : "source";
	r->t0_us = now_us();
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
}

static void run_fini(struct run *r)
{
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
}

/* ---- checks shared by both roles ------------------------------------- */

static void outcome_guest(struct outcome *out, struct synth_guest *g)
{
	out->guest_state = synth_state_name(synth_state(g));
	synth_calls(g, &out->pauses, &out->resumes, &out->created,
		    &out->started, &out->destroyed);
	out->writes = synth_writes(g);
	out->nviolations =
	    synth_violations(g, out->violations, OUTCOME_MAX_VIOLATIONS);
	if (!synth_config_get(g, &out->config))
		out->have_config = 1;
}

static void driver_violation(struct outcome *out, const char *text)
{
	snprintf(out->extra_violation, sizeof(out->extra_violation), "%s",
		 text);
}

/* Watches the guest run for `ms`: proof that it is alive. */
static void watch_progress(struct outcome *out, struct synth_guest *g,
			   uint32_t ms)
{
	out->writes_before = synth_writes(g);
	sleep_ms(ms);
	out->writes_after = synth_writes(g);
	out->progress_checked = 1;
	out->progressing = out->writes_after > out->writes_before;
}

static int write_port_file(const char *path, const char *addr)
{
	char tmp[4096];
	FILE *f;

	/* Written whole, then renamed: a reader never sees half of it. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", addr);
	if (fclose(f))
		return -EIO;
	return rename(tmp, path) ? -errno : 0;
}

static int finish(struct outcome *out, const struct opts *o)
{
	int failed_check = out->nviolations || out->extra_violation[0] ||
			   (out->frozen_checked && out->frozen.bad_pages) ||
			   (out->after_checked && out->after.bad_pages) ||
			   (out->state_checked && !out->state_ok) ||
			   (out->hash_checked && !out->hash_ok) ||
			   (out->progress_checked && !out->progressing);

	out->verified = !failed_check;
	if (failed_check)
		out->exit_code = EXIT_VERIFY;
	report_print(stdout, out);
	fflush(stdout);
	if (o->report_json && report_json_write(o->report_json, out))
		fprintf(stderr, "mig-synth: cannot write %s\n", o->report_json);
	return out->exit_code;
}

/* ---- source ---------------------------------------------------------- */

static void source_checks(struct outcome *out, struct synth_guest *g,
			  const struct opts *o)
{
	enum synth_run_state st = synth_state(g);
	const struct synth_hashes *h;

	if (out->rc == 0) {
		struct synth_hashes own = {0};

		h = synth_final_hashes(g, &out->frozen);
		out->frozen_checked = out->frozen.done;
		if (!h && o->file_io && st == SYNTH_PAUSED) {
			/*
			 * A save may leave the guest paused instead of
			 * destroying it: as safe (it never runs again here),
			 * and its memory is still the frozen one.
			 */
			out->frozen_checked =
			    synth_check_memory(g, &out->frozen) >= 0;
			if (!synth_hashes_take(g, &own))
				h = &own;
		} else if (st != SYNTH_DESTROYED) {
			driver_violation(out, "the migration succeeded but "
					      "the source guest was never "
					      "destroyed");
		}
		if (h && o->hash_out && synth_hashes_write(h, o->hash_out))
			driver_violation(out, "cannot write the hash file");
		synth_hashes_fini(&own);
		return;
	}
	if (out->rc == MIG_EUNDETERMINED) {
		if (st != SYNTH_PAUSED)
			driver_violation(out, "undetermined outcome, but the "
					      "source guest is not paused");
	} else if (st != SYNTH_RUNNING) {
		driver_violation(out, "failed before commit, but the source "
				      "guest is not running");
	}
	if (st != SYNTH_RUNNING && st != SYNTH_PAUSED)
		return;
	if (o->verify_after_failure && st == SYNTH_RUNNING && o->dirty.threads)
		watch_progress(out, g, 300);
	else if (o->verify_after_failure && st == SYNTH_PAUSED)
		out->writes_before = out->writes_after = synth_writes(g);
	if (o->verify_after_failure || out->rc == MIG_EUNDETERMINED) {
		synth_hold(g);
		out->after_checked = synth_check_memory(g, &out->after) >= 0;
	}
}

static int run_source(struct opts *o)
{
	struct outcome out = {.role = "source"};
	struct mig_params params;
	struct synth_guest *g = NULL;
	const struct mig_region *regions;
	mig_dirty *dirty = NULL;
	pthread_t cancel_thread;
	int have_cancel = 0, err;
	size_t nregions;
	struct run r;
	char size[32];

	run_init(&r, o);
	out.command = o->command;
	out.address = o->address;
	out.downtime_limit_ms = o->downtime_ms;
	err = synth_source_new(&g, &o->cfg, &o->dirty);
	if (err) {
		fprintf(stderr, "mig-synth: cannot build the guest: %s\n",
			strerror(-err));
		goto out_run;
	}
	synth_regions(g, &regions, &nregions);
	/* A save pauses the guest first: it needs no dirty tracking. */
	if (!o->file_io) {
		err = mig_dirty_new(&dirty, regions, nregions);
		if (err) {
			fprintf(stderr, "mig-synth: mig_dirty_new: %s\n",
				mig_strerror(err));
			goto out_guest;
		}
		synth_set_tracker(g, dirty);
	}
	synth_set_progress(g, on_progress, &r);
	params_fill(o, &r, &params);
	err = mig_source_new(&r.src, &params, vmm_ops(o), g,
			     dirty ? mig_dirty_ops() : NULL, dirty);
	if (err) {
		fprintf(stderr, "mig-synth: mig_source_new: %s\n",
			mig_strerror(err));
		goto out_dirty;
	}
	err = synth_start(g);
	if (err) {
		fprintf(stderr, "mig-synth: cannot start the guest: %s\n",
			strerror(-err));
		goto out_src;
	}
	sleep_ms(o->warmup_ms);
	if (o->cancel_phase &&
	    !pthread_create(&cancel_thread, NULL, canceller, &r))
		have_cancel = 1;
	synth_size_format(o->cfg.ram_size, size, sizeof(size));
	if (!o->quiet)
		printf("[source] guest: %s RAM, mix zero=%u text=%u random=%u, "
		       "seed %" PRIu64 ", %u dirtier(s) at %" PRIu64
		       " B/s; migrating to %s\n",
		       size, o->cfg.mix.zero, o->cfg.mix.text,
		       o->cfg.mix.random, o->cfg.seed, o->dirty.threads,
		       o->dirty.rate, o->address);
	fflush(stdout);

	out.rc = mig_source_run(r.src, o->address);

	mig_source_stats(r.src, &out.stats);
	if (have_cancel) {
		pthread_mutex_lock(&r.lock);
		r.quit = 1;
		pthread_cond_signal(&r.cond);
		pthread_mutex_unlock(&r.lock);
		pthread_join(cancel_thread, NULL);
		out.cancel_requested = r.cancel_done;
		out.cancel_rc = r.cancel_rc;
	}
	if (out.rc == 0) {
		out.result = "success";
		out.exit_code = EXIT_OK;
	} else if (out.rc == MIG_EUNDETERMINED) {
		out.result = "undetermined";
		out.exit_code = EXIT_UNDETERMINED;
	} else {
		out.result = "failed";
		out.exit_code = EXIT_FAILED;
	}
	source_checks(&out, g, o);
	outcome_guest(&out, g);
	err = finish(&out, o);
out_src:
	mig_source_free(r.src);
out_dirty:
	/* The dirtiers mark into the tracker: stop them before freeing it. */
	synth_stop(g);
	mig_dirty_free(dirty);
out_guest:
	synth_free(g);
out_run:
	run_fini(&r);
	return err < 0 ? EXIT_FAILED : err;
}

/* ---- target ---------------------------------------------------------- */

static void target_checks(struct outcome *out, struct synth_guest *g,
			  const struct opts *o)
{
	struct synth_hashes theirs;
	const struct synth_hashes *h;

	if (out->rc) {
		enum synth_run_state st = synth_state(g);

		if (st != SYNTH_NONE && st != SYNTH_DESTROYED)
			driver_violation(out, "the migration failed but the "
					      "received guest was not "
					      "discarded");
		return;
	}
	out->state_checked = 1;
	out->state_ok =
	    synth_state_verified(g, out->state_why, sizeof(out->state_why));
	if (synth_wait_boot(g)) {
		driver_violation(out, "the migration succeeded but the guest "
				      "was never started here");
		return;
	}
	h = synth_final_hashes(g, &out->frozen);
	out->frozen_checked = out->frozen.done;
	if (h && o->hash_out && synth_hashes_write(h, o->hash_out))
		driver_violation(out, "cannot write the hash file");
	if (o->hash_check) {
		out->hash_checked = 1;
		/* The source writes its file once the target confirmed. */
		for (uint32_t waited = 0;
		     access(o->hash_check, F_OK) && waited < o->timeout_ms;
		     waited += 20)
			sleep_ms(20);
		if (!h) {
			snprintf(out->diff.text, sizeof(out->diff.text),
				 "no hashes were taken here");
		} else if (synth_hashes_read(&theirs, o->hash_check)) {
			snprintf(out->diff.text, sizeof(out->diff.text),
				 "cannot read %s", o->hash_check);
		} else {
			out->hash_ok =
			    !synth_hashes_compare(h, &theirs, &out->diff);
			synth_hashes_fini(&theirs);
		}
	}
	/* The guest runs here now: watch it, then check what it wrote. */
	if (o->dirty.threads && !out->frozen.bad_pages)
		watch_progress(out, g, o->run_ms);
	else
		sleep_ms(o->run_ms);
	synth_hold(g);
	out->after_checked = synth_check_memory(g, &out->after) >= 0;
}

static int run_target(struct opts *o)
{
	struct outcome out = {.role = "target"};
	struct mig_params params;
	struct synth_guest *g = NULL;
	mig_target *t = NULL;
	char bound[512];
	struct run r;
	int err;

	run_init(&r, o);
	out.command = o->command;
	out.address = o->address;
	out.downtime_limit_ms = o->downtime_ms;
	err = synth_target_new(&g, o->max_memory, &o->dirty);
	if (err) {
		fprintf(stderr, "mig-synth: %s\n", strerror(-err));
		goto out_run;
	}
	synth_set_progress(g, on_progress, &r);
	params_fill(o, &r, &params);
	err = mig_target_new(&t, &params, vmm_ops(o), g);
	if (err) {
		fprintf(stderr, "mig-synth: mig_target_new: %s\n",
			mig_strerror(err));
		goto out_guest;
	}
	err = mig_target_listen(t, o->address);
	if (err) {
		fprintf(stderr, "mig-synth: cannot listen on %s: %s\n",
			o->address, mig_strerror(err));
		out.rc = err;
		goto out_target;
	}
	if (mig_target_address(t, bound, sizeof(bound)))
		snprintf(bound, sizeof(bound), "%s", o->address);
	out.address = bound;
	if (!o->quiet)
		printf("[target] %s %s\n",
		       o->file_io ? "reading" : "listening on", bound);
	fflush(stdout);
	if (o->port_file && write_port_file(o->port_file, bound)) {
		fprintf(stderr, "mig-synth: cannot write %s\n", o->port_file);
		err = -EIO;
		goto out_target;
	}

	out.rc = mig_target_run(t);

	mig_target_stats(t, &out.stats);
	out.result = out.rc ? "failed" : "success";
	out.exit_code = out.rc ? EXIT_FAILED : EXIT_OK;
	target_checks(&out, g, o);
	synth_stop(g);
	outcome_guest(&out, g);
	err = finish(&out, o);
out_target:
	mig_target_free(t);
out_guest:
	synth_free(g);
out_run:
	run_fini(&r);
	return err < 0 ? EXIT_FAILED : err;
}

int main(int argc, char **argv)
{
	struct opts o;
	int err = parse_opts(argc, argv, &o);

	if (err)
		return err > 0 ? EXIT_OK : EXIT_USAGE;
	/* A peer that vanishes must surface as an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return o.target ? run_target(&o) : run_source(&o);
}
