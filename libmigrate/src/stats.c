/* stats.c - phase names and the statistics as JSON (json-c). */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *mig_phase_name(enum mig_phase phase)
{
	switch (phase) {
	case MIG_PHASE_NONE:
		return "none";
	case MIG_PHASE_SETUP:
		return "setup";
	case MIG_PHASE_READONLY:
		return "readonly";
	case MIG_PHASE_ITERATE:
		return "iterate";
	case MIG_PHASE_FROZEN:
		return "frozen";
	case MIG_PHASE_COMMIT:
		return "commit";
	case MIG_PHASE_DONE:
		return "done";
	case MIG_PHASE_FAILED:
		return "failed";
	case MIG_PHASE_UNDETERMINED:
		return "undetermined";
	}
	return "unknown";
}

static int add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object *n = json_object_new_uint64(v);

	if (!n)
		return -ENOMEM;
	if (json_object_object_add(o, key, n) < 0) {
		json_object_put(n);
		return -ENOMEM;
	}
	return 0;
}

static int add_str(json_object *o, const char *key, const char *v)
{
	json_object *n = json_object_new_string(v);

	if (!n)
		return -ENOMEM;
	if (json_object_object_add(o, key, n) < 0) {
		json_object_put(n);
		return -ENOMEM;
	}
	return 0;
}

static json_object *round_json(const struct mig_round_stats *r)
{
	json_object *o = json_object_new_object();
	int rc = 0;

	if (!o)
		return NULL;
	rc |= add_u64(o, "round", r->round);
	rc |= add_u64(o, "pages", r->pages);
	rc |= add_u64(o, "zero_pages", r->zero_pages);
	rc |= add_u64(o, "lz4_pages", r->lz4_pages);
	rc |= add_u64(o, "raw_bytes", r->raw_bytes);
	rc |= add_u64(o, "wire_bytes", r->wire_bytes);
	rc |= add_u64(o, "dirty_pages", r->dirty_pages);
	rc |= add_u64(o, "dirty_rate", r->dirty_rate);
	rc |= add_u64(o, "bandwidth", r->bandwidth);
	rc |= add_u64(o, "duration_us", r->duration_us);
	rc |= add_u64(o, "expected_downtime_us", r->expected_downtime_us);
	if (rc) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int mig_stats_to_json(const struct mig_stats *st, char **json)
{
	json_object *o, *rounds;
	const char *text;
	int rc = 0;

	if (!st || !json)
		return -EINVAL;
	o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	rounds = json_object_new_array();
	if (!rounds)
		goto nomem;
	if (json_object_object_add(o, "rounds", rounds) < 0) {
		json_object_put(rounds);
		goto nomem;
	}
	for (uint32_t i = 0; i < st->rounds && i < MIG_STATS_MAX_ROUNDS; i++) {
		json_object *r = round_json(&st->round[i]);

		if (!r || json_object_array_add(rounds, r) < 0) {
			json_object_put(r);
			goto nomem;
		}
	}
	rc |= add_str(o, "phase", mig_phase_name(st->phase));
	rc |= json_object_object_add(o, "error",
				     json_object_new_int(st->error));
	rc |= add_str(o, "error_text", st->error_text);
	rc |= add_u64(o, "round_count", st->rounds);
	rc |= add_u64(o, "guest_bytes", st->guest_bytes);
	rc |= add_u64(o, "remaining_bytes", st->remaining_bytes);
	rc |= add_u64(o, "setup_us", st->setup_us);
	rc |= add_u64(o, "total_us", st->total_us);
	rc |= add_u64(o, "downtime_us", st->downtime_us);
	rc |= add_u64(o, "expected_downtime_us", st->expected_downtime_us);
	rc |= add_u64(o, "state_bytes", st->state_bytes);
	rc |= add_u64(o, "wire_bytes", st->wire_bytes);
	rc |= add_u64(o, "pages_sent", st->pages_sent);
	rc |= add_u64(o, "zero_pages", st->zero_pages);
	rc |= add_u64(o, "lz4_pages", st->lz4_pages);
	rc |= add_u64(o, "raw_pages", st->raw_pages);
	rc |= json_object_object_add(o, "forced_switchover",
				     json_object_new_boolean(
					     st->forced_switchover));
	if (rc)
		goto nomem;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	*json = text ? strdup(text) : NULL;
	json_object_put(o);
	return *json ? 0 : -ENOMEM;

nomem:
	json_object_put(o);
	return -ENOMEM;
}
