/*
 * mig_synth_report.c - mig-synth's final report: for a person (rounds
 * table, totals, verification) and as JSON for the tests.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "mig_synth.h"

static double mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static void print_rounds(FILE *f, const struct mig_stats *st)
{
	uint32_t n = st->rounds < MIG_STATS_MAX_ROUNDS ? st->rounds
						       : MIG_STATS_MAX_ROUNDS;

	if (!n)
		return;
	fprintf(f, "  round    pages     zero      lz4   raw MiB  wire MiB"
		   "    dirty  dirty MiB/s  bw MiB/s    ms  exp.down ms\n");
	for (uint32_t i = 0; i < n; i++) {
		const struct mig_round_stats *r = &st->round[i];

		fprintf(f,
			"  %5u %8" PRIu64 " %8" PRIu64 " %8" PRIu64
			" %9.1f %9.1f %8" PRIu64 " %12.1f %9.1f %5.0f %12.1f\n",
			r->round, r->pages, r->zero_pages, r->lz4_pages,
			mib(r->raw_bytes), mib(r->wire_bytes), r->dirty_pages,
			mib(r->dirty_rate), mib(r->bandwidth),
			ms(r->duration_us), ms(r->expected_downtime_us));
	}
}

static const char *check_text(int checked, const struct synth_check *c,
			      char *buf, size_t len)
{
	if (!checked || !c->done)
		return "not checked";
	if (!c->bad_pages)
		snprintf(buf, len, "consistent (%" PRIu64 " pages)", c->pages);
	else
		snprintf(buf, len,
			 "CORRUPT: %" PRIu64 " of %" PRIu64
			 " pages wrong, first at gpa 0x%" PRIx64,
			 c->bad_pages, c->pages, c->first_bad_gpa);
	return buf;
}

static void print_verification(FILE *f, const struct outcome *o)
{
	int src = !strcmp(o->role, "source");
	char buf[256];

	fprintf(f, "verification:\n");
	if (o->frozen_checked)
		fprintf(f, "  memory %s: %s\n",
			src ? "at freeze" : "on arrival",
			check_text(1, &o->frozen, buf, sizeof(buf)));
	if (o->state_checked)
		fprintf(f, "  machine state: %s (%s)\n",
			o->state_ok ? "exact" : "WRONG", o->state_why);
	if (o->hash_checked) {
		if (o->hash_ok)
			fprintf(f,
				"  hashes vs the source's at freeze: match "
				"(%" PRIu64 " pages, byte for byte)\n",
				o->diff.compared);
		else
			fprintf(f,
				"  hashes vs the source's at freeze: "
				"MISMATCH in %" PRIu64 " of %" PRIu64
				" pages: %s\n",
				o->diff.mismatches, o->diff.compared,
				o->diff.text);
	}
	if (o->after_checked)
		fprintf(f, "  memory %s: %s\n",
			src ? "after the run (guest kept here)"
			    : "after running here",
			check_text(1, &o->after, buf, sizeof(buf)));
	if (o->progress_checked)
		fprintf(f,
			"  guest running %s: %s (%" PRIu64 " -> %" PRIu64
			" page writes)\n",
			src ? "here" : "on the target",
			o->progressing ? "yes" : "NO", o->writes_before,
			o->writes_after);
	fprintf(f, "  guest: %s; library called pause %u, resume %u%s%s\n",
		o->guest_state ? o->guest_state : "?", o->pauses, o->resumes,
		o->destroyed ? ", destroy" : "", o->started ? ", start" : "");
	for (size_t i = 0; i < o->nviolations && i < OUTCOME_MAX_VIOLATIONS;
	     i++)
		fprintf(f, "  SAFETY VIOLATION: %s\n", o->violations[i]);
	if (o->extra_violation[0])
		fprintf(f, "  SAFETY VIOLATION: %s\n", o->extra_violation);
	fprintf(f, "  result: %s\n",
		o->verified ? "all checks passed" : "CHECKS FAILED");
}

static void print_downtime(FILE *f, const struct outcome *o)
{
	const struct mig_stats *st = &o->stats;

	/* Only the source sees the whole pause: freeze to "running". */
	if (strcmp(o->role, "source"))
		return;
	fprintf(f, "  downtime %.1f ms (expected %.1f ms, limit %u ms)%s\n",
		ms(st->downtime_us), ms(st->expected_downtime_us),
		o->downtime_limit_ms,
		st->forced_switchover ? ", forced switch-over" : "");
}

void report_print(FILE *f, const struct outcome *o)
{
	const struct mig_stats *st = &o->stats;

	fprintf(f, "\n== mig-synth %s report (%s, %s) ==\n", o->role,
		o->command, o->address);
	fprintf(f, "outcome: %s, phase %s", o->result ? o->result : "?",
		mig_phase_name(st->phase));
	if (o->rc)
		fprintf(f, ", error %d (%s)", o->rc, mig_strerror(o->rc));
	fprintf(f, "\n");
	if (st->error_text[0])
		fprintf(f, "error: %s\n", st->error_text);
	if (o->cancel_requested)
		fprintf(f, "cancel requested: mig_source_cancel() = %s\n",
			mig_strerror(o->cancel_rc));
	print_rounds(f, st);
	fprintf(f, "totals:\n");
	fprintf(f, "  setup %.1f ms, total %.1f ms, rounds %u\n",
		ms(st->setup_us), ms(st->total_us), st->rounds);
	print_downtime(f, o);
	fprintf(f,
		"  wire %.1f MiB for %.1f MiB of guest; pages %" PRIu64
		" (zero %" PRIu64 ", lz4 %" PRIu64 ", raw %" PRIu64
		"); state %.1f KiB\n",
		mib(st->wire_bytes), mib(st->guest_bytes), st->pages_sent,
		st->zero_pages, st->lz4_pages, st->raw_pages,
		(double)st->state_bytes / 1024.0);
	print_verification(f, o);
}

/* ---- JSON ------------------------------------------------------------ */

static void put_int(json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void put_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void put_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(
	    o, k, v ? json_object_new_string(v) : json_object_new_null());
}

static void put_bool(json_object *o, const char *k, int v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

static json_object *check_json(int checked, const struct synth_check *c)
{
	json_object *j;

	if (!checked || !c->done)
		return json_object_new_null();
	j = json_object_new_object();
	put_bool(j, "consistent", !c->bad_pages);
	put_u64(j, "pages", c->pages);
	put_u64(j, "bad_pages", c->bad_pages);
	put_u64(j, "first_bad_gpa", c->first_bad_gpa);
	return j;
}

static json_object *summary_json(const struct mig_stats *st)
{
	json_object *j = json_object_new_object();
	uint32_t max_round = 0;

	for (uint32_t i = 0; i < st->rounds && i < MIG_STATS_MAX_ROUNDS; i++)
		if (st->round[i].round > max_round)
			max_round = st->round[i].round;
	put_str(j, "phase", mig_phase_name(st->phase));
	put_int(j, "error", st->error);
	put_str(j, "error_text", st->error_text);
	put_u64(j, "rounds", st->rounds);
	put_u64(j, "max_round", max_round);
	put_u64(j, "guest_bytes", st->guest_bytes);
	put_u64(j, "pages_sent", st->pages_sent);
	put_u64(j, "zero_pages", st->zero_pages);
	put_u64(j, "lz4_pages", st->lz4_pages);
	put_u64(j, "raw_pages", st->raw_pages);
	put_u64(j, "wire_bytes", st->wire_bytes);
	put_u64(j, "state_bytes", st->state_bytes);
	put_u64(j, "setup_us", st->setup_us);
	put_u64(j, "total_us", st->total_us);
	put_u64(j, "downtime_us", st->downtime_us);
	put_u64(j, "expected_downtime_us", st->expected_downtime_us);
	put_bool(j, "forced_switchover", st->forced_switchover);
	return j;
}

static json_object *guest_json(const struct outcome *o)
{
	json_object *j = json_object_new_object();

	put_str(j, "state", o->guest_state);
	put_u64(j, "pause_calls", o->pauses);
	put_u64(j, "resume_calls", o->resumes);
	put_bool(j, "created", o->created);
	put_bool(j, "started", o->started);
	put_bool(j, "destroyed", o->destroyed);
	put_u64(j, "page_writes", o->writes);
	if (o->have_config) {
		put_u64(j, "ram_bytes", o->config.ram_size);
		put_u64(j, "seed", o->config.seed);
		put_u64(j, "vcpus", o->config.vcpus);
		put_u64(j, "devices", o->config.devices);
	}
	return j;
}

static json_object *verify_json(const struct outcome *o)
{
	json_object *j = json_object_new_object();
	json_object *v = json_object_new_array();

	json_object_object_add(j, "memory_at_freeze",
			       check_json(o->frozen_checked, &o->frozen));
	json_object_object_add(j, "memory_after",
			       check_json(o->after_checked, &o->after));
	if (o->progress_checked)
		put_bool(j, "guest_progressing", o->progressing);
	else
		json_object_object_add(j, "guest_progressing",
				       json_object_new_null());
	put_u64(j, "writes_before", o->writes_before);
	put_u64(j, "writes_after", o->writes_after);
	if (o->state_checked)
		put_bool(j, "state_verified", o->state_ok);
	else
		json_object_object_add(j, "state_verified",
				       json_object_new_null());
	put_str(j, "state_detail", o->state_why);
	put_str(j, "hash_check",
		!o->hash_checked ? "not-run"
		: o->hash_ok	 ? "match"
				 : "mismatch");
	put_u64(j, "hash_compared", o->diff.compared);
	put_u64(j, "hash_mismatches", o->diff.mismatches);
	put_str(j, "hash_detail", o->diff.text);
	for (size_t i = 0; i < o->nviolations && i < OUTCOME_MAX_VIOLATIONS;
	     i++)
		json_object_array_add(v,
				      json_object_new_string(o->violations[i]));
	if (o->extra_violation[0])
		json_object_array_add(
		    v, json_object_new_string(o->extra_violation));
	json_object_object_add(j, "violations", v);
	put_bool(j, "passed", o->verified);
	return j;
}

int report_json_write(const char *path, const struct outcome *o)
{
	json_object *root = json_object_new_object();
	json_object *stats = NULL;
	char *text = NULL;
	int err;

	put_str(root, "role", o->role);
	put_str(root, "command", o->command);
	put_str(root, "address", o->address);
	put_str(root, "result", o->result);
	put_int(root, "exit_code", o->exit_code);
	put_int(root, "error", o->rc);
	put_str(root, "error_name", mig_strerror(o->rc));
	if (!mig_stats_to_json(&o->stats, &text)) {
		stats = json_tokener_parse(text);
		if (!stats)
			put_str(root, "stats_unparsable", text);
		free(text);
	}
	json_object_object_add(root, "stats",
			       stats ? stats : json_object_new_null());
	json_object_object_add(root, "summary", summary_json(&o->stats));
	json_object_object_add(root, "guest", guest_json(o));
	json_object_object_add(root, "verify", verify_json(o));
	if (o->cancel_requested) {
		put_int(root, "cancel_rc", o->cancel_rc);
	}
	err = json_object_to_file_ext(path, root, JSON_C_TO_STRING_PRETTY);
	json_object_put(root);
	return err ? -EIO : 0;
}
