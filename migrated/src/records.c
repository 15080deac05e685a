/*
 * records.c: the daemon's VM list and migration records (daemon.h): ids,
 * ends, the history file that outlives restarts, and the gauges.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

const char *migd_phase_name(enum migd_phase p)
{
	static const char *const names[] = {
		[MIGD_PH_BEGIN] = "begin",	   [MIGD_PH_PREPARE] = "prepare",
		[MIGD_PH_PERFORM] = "perform",	   [MIGD_PH_FINISH] = "finish",
		[MIGD_PH_CONFIRM] = "confirm",	   [MIGD_PH_DONE] = "done",
		[MIGD_PH_FAILED] = "failed",	   [MIGD_PH_CANCELLED] = "cancelled",
		[MIGD_PH_UNDETERMINED] = "undetermined",
	};

	return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "unknown";
}

struct migd_vm *migd_find_vm(struct migd *d, const char *name)
{
	for (struct migd_vm *vm = d->vms; vm; vm = vm->next)
		if (!strcmp(vm->name, name))
			return vm;
	return NULL;
}

struct migd_mig *migd_find_mig(struct migd *d, const char *id)
{
	for (struct migd_mig *m = d->migs; m; m = m->next)
		if (!strcmp(m->id, id))
			return m;
	return NULL;
}

void migd_add_vm(struct migd *d, struct migd_vm *vm)
{
	vm->next = d->vms;
	d->vms = vm;
	migd_update_gauges(d);
}

void migd_drop_vm(struct migd *d, struct migd_vm *vm)
{
	for (struct migd_vm **pp = &d->vms; *pp; pp = &(*pp)->next) {
		if (*pp == vm) {
			*pp = vm->next;
			migd_vm_free(vm);
			break;
		}
	}
	migd_update_gauges(d);
}

static int in_flight(const struct migd_mig *m)
{
	return m->phase < MIGD_PH_DONE || m->phase == MIGD_PH_UNDETERMINED;
}

struct migd_mig *migd_mig_new(struct migd *d, enum migd_dir dir, const char *vm,
			      const char *peer, const char *id)
{
	struct migd_mig *m = calloc(1, sizeof(*m));
	unsigned char rnd[6] = { 0 };

	if (!m)
		return NULL;
	if (id) {
		snprintf(m->id, sizeof(m->id), "%s", id);
	} else {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			/* Ids only need to differ between the migrations of two
			 * hosts; time and address will do. */
			unsigned long long t = (unsigned long long)time(NULL) ^ (uintptr_t)m;

			memcpy(rnd, &t, sizeof(rnd));
		}
		snprintf(m->id, sizeof(m->id), "m-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
			 rnd[2], rnd[3], rnd[4], rnd[5]);
	}
	snprintf(m->vm, sizeof(m->vm), "%s", vm);
	snprintf(m->peer, sizeof(m->peer), "%s", peer);
	m->dir = dir;
	m->phase = MIGD_PH_BEGIN;
	m->downtime_limit_ms = d->cfg->migration.downtime_ms;
	m->bandwidth = d->cfg->migration.bandwidth;
	m->started_at = time(NULL);
	m->next = d->migs;
	d->migs = m;
	migd_metrics_started(d->metrics, dir);
	migd_update_gauges(d);
	return m;
}

struct json_object *migd_mig_json(const struct migd_mig *m)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(m->id));
	json_object_object_add(o, "vm", json_object_new_string(m->vm));
	json_object_object_add(o, "direction",
			       json_object_new_string(m->dir == MIGD_DIR_OUT ? "out" : "in"));
	json_object_object_add(o, "peer", json_object_new_string(m->peer));
	json_object_object_add(o, "phase", json_object_new_string(migd_phase_name(m->phase)));
	json_object_object_add(o, "round", json_object_new_int64(m->round));
	json_object_object_add(o, "guest_bytes", json_object_new_uint64(m->guest_bytes));
	json_object_object_add(o, "remaining_bytes", json_object_new_uint64(m->remaining_bytes));
	json_object_object_add(o, "rate_bytes_per_s", json_object_new_uint64(m->rate));
	json_object_object_add(o, "expected_downtime_ms",
			       json_object_new_double(m->expected_downtime_ms));
	json_object_object_add(o, "downtime_ms", json_object_new_double(m->downtime_ms));
	json_object_object_add(o, "total_ms", json_object_new_double(m->total_ms));
	json_object_object_add(o, "bytes_sent", json_object_new_uint64(m->bytes_sent));
	json_object_object_add(o, "downtime_limit_ms", json_object_new_int64(m->downtime_limit_ms));
	json_object_object_add(o, "error", m->error[0] ? json_object_new_string(m->error) : NULL);
	json_object_object_add(o, "started_at", json_object_new_int64(m->started_at));
	json_object_object_add(o, "ended_at", m->ended_at ? json_object_new_int64(m->ended_at) : NULL);
	return o;
}

/* One JSON line per finished migration, so `history` survives restarts. */
static void append_history(struct migd *d, const struct migd_mig *m)
{
	char path[PATH_MAX + 16];
	struct json_object *o = migd_mig_json(m);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	int fd;

	snprintf(path, sizeof(path), "%s/history.jsonl", d->cfg->host.state_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd >= 0) {
		size_t n = strlen(text);
		char *line = malloc(n + 1);

		if (line) {
			memcpy(line, text, n);
			line[n] = '\n';
			if (write(fd, line, n + 1) != (ssize_t)(n + 1))
				migd_log(LOG_WARNING, "history %s: %s", path, strerror(errno));
			free(line);
		}
		close(fd);
	}
	json_object_put(o);
}

/* Keeps the newest MIGD_HISTORY_MAX finished records in memory. */
static void trim(struct migd *d)
{
	unsigned finished = 0;

	for (struct migd_mig **pp = &d->migs; *pp;) {
		struct migd_mig *m = *pp;

		if (!in_flight(m) && ++finished > MIGD_HISTORY_MAX) {
			*pp = m->next;
			free(m);
			continue;
		}
		pp = &m->next;
	}
}

void migd_mig_end(struct migd *d, struct migd_mig *m, enum migd_phase phase,
		  const char *fmt, ...)
{
	va_list ap;

	m->phase = phase;
	m->ended_at = time(NULL);
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(m->error, sizeof(m->error), fmt, ap);
		va_end(ap);
	}
	if (phase == MIGD_PH_DONE)
		migd_metrics_succeeded(d->metrics, m->dir, m->downtime_ms / 1000.0,
				       m->total_ms / 1000.0, m->bytes_sent);
	else if (phase == MIGD_PH_CANCELLED)
		migd_metrics_cancelled(d->metrics, m->dir);
	else
		migd_metrics_failed(d->metrics, m->dir);
	migd_logkv(phase == MIGD_PH_DONE ? LOG_NOTICE : LOG_WARNING, "migration ended",
		   "id", m->id, "outcome", migd_phase_name(phase), "vm", m->vm, "peer", m->peer,
		   "direction", m->dir == MIGD_DIR_OUT ? "out" : "in",
		   "downtime_ms", MIGD_LOG_FMT("%.1f", m->downtime_ms),
		   "total_ms", MIGD_LOG_FMT("%.1f", m->total_ms),
		   "error", m->error[0] ? m->error : NULL, NULL);
	append_history(d, m);
	trim(d);
	migd_update_gauges(d);
}

uint64_t migd_memory_in_use(struct migd *d)
{
	uint64_t sum = 0;

	for (struct migd_vm *vm = d->vms; vm; vm = vm->next)
		if (vm->state != MIGD_VM_STOPPED)
			sum += vm->memory;
	return sum;
}

void migd_update_gauges(struct migd *d)
{
	unsigned running = 0, in_progress = 0, undetermined = 0;

	for (struct migd_vm *vm = d->vms; vm; vm = vm->next) {
		if (vm->state != MIGD_VM_STOPPED && vm->state != MIGD_VM_INCOMING)
			running++;
		if (vm->state == MIGD_VM_UNDETERMINED)
			undetermined++;
	}
	for (struct migd_mig *m = d->migs; m; m = m->next)
		if (in_flight(m))
			in_progress++;
	migd_metrics_set_gauges(d->metrics, running, in_progress, undetermined);
}

void migd_history_load(struct migd *d)
{
	char path[PATH_MAX + 16], line[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/history.jsonl", d->cfg->host.state_dir);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		struct json_object *o = json_tokener_parse(line), *v;
		struct migd_mig *m;

		if (!o || !(m = calloc(1, sizeof(*m)))) {
			json_object_put(o);
			continue;
		}
#define STR(field, key)                                                        \
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)) \
		snprintf(m->field, sizeof(m->field), "%s", json_object_get_string(v))
		STR(id, "id");
		STR(vm, "vm");
		STR(peer, "peer");
		STR(error, "error");
#undef STR
		m->dir = json_object_object_get_ex(o, "direction", &v) &&
				 !strcmp(json_object_get_string(v), "in") ? MIGD_DIR_IN : MIGD_DIR_OUT;
		m->phase = MIGD_PH_FAILED;
		if (json_object_object_get_ex(o, "phase", &v)) {
			for (int p = MIGD_PH_DONE; p <= MIGD_PH_CANCELLED; p++)
				if (!strcmp(json_object_get_string(v), migd_phase_name(p)))
					m->phase = p;
		}
		m->round = json_object_object_get_ex(o, "round", &v) ? (uint32_t)json_object_get_int64(v) : 0;
		m->bytes_sent = json_object_object_get_ex(o, "bytes_sent", &v) ? (uint64_t)json_object_get_int64(v) : 0;
		m->downtime_ms = json_object_object_get_ex(o, "downtime_ms", &v) ? json_object_get_double(v) : 0;
		m->total_ms = json_object_object_get_ex(o, "total_ms", &v) ? json_object_get_double(v) : 0;
		m->started_at = json_object_object_get_ex(o, "started_at", &v) ? json_object_get_int64(v) : 0;
		m->ended_at = json_object_object_get_ex(o, "ended_at", &v) ? json_object_get_int64(v) : 0;
		json_object_put(o);
		/* Oldest first in the file, newest first in the list. */
		m->next = d->migs;
		d->migs = m;
		trim(d);
	}
	fclose(f);
}
