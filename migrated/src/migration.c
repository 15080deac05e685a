/*
 * migration.c: migrations between daemons, in libvirt's version-3 phases.
 *
 *   source daemon                         target daemon
 *   begin    the VM runs here, is free
 *   prepare  ------ "prepare" ----------> starts a vmm-lite waiting for the
 *                                         guest, from this source only
 *            <----- its address ---------
 *   perform  tells its VMM to migrate there; the VMMs connect directly
 *            (mutual TLS) and run the whole protocol, commit included
 *   finish   ------ "finish" -----------> its VMM runs the guest: it
 *                                         becomes one of its VMs
 *   confirm  forgets the VM
 *
 * The commit rule is the VMMs': the source VMM exits only after the
 * target's confirmation that it runs the guest, and resumes only before
 * its commit. If the source VMM reports "undetermined" (committed, no
 * confirmation), the guest stays paused here and this thread asks the
 * target daemon what its VMM did ("query") until it gets an answer;
 * then it resolves the source VMM accordingly. The operator may resolve
 * first (migratectl resolve).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "peer.h"
#include "vmm_client.h"

#define POLL_MS 250
#define SETTLE_RETRY_MS 2000
#define PEER_TIMEOUT_MS 60000
#define VMM_TIMEOUT_MS 5000

struct job {
	struct migd *d;
	struct migd_mig *m;
	char vm[MIGD_VM_NAME_MAX];
	char sock[PATH_MAX];
	char report[PATH_MAX + 16];
	struct migd_vm probe;       /* the source VMM's pid and socket */
	char peer[MIGD_NAME_MAX + 1];
	char peer_host[MIGD_NAME_MAX + 1];
	uint16_t peer_port;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint64_t jget_u64(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? (uint64_t)json_object_get_int64(v) : 0;
}

/* One request to the peer daemon of job `j`. */
static int call_peer(struct job *j, const char *op, struct json_object *extra,
		     struct json_object **answer, char *err, size_t err_len)
{
	struct json_object *req = extra ? extra : json_object_new_object();
	int r;

	json_object_object_add(req, "op", json_object_new_string(op));
	json_object_object_add(req, "id", json_object_new_string(j->m->id));
	r = migd_peer_call(&j->d->tls, j->peer_host, j->peer_port, j->peer, req, answer,
			   PEER_TIMEOUT_MS, err, err_len);
	json_object_put(req);
	return r;
}

static void set_phase(struct job *j, enum migd_phase p)
{
	pthread_mutex_lock(&j->d->lock);
	j->m->phase = p;
	pthread_mutex_unlock(&j->d->lock);
	migd_logkv(LOG_INFO, "migration phase", "id", j->m->id, "vm", j->vm, "peer", j->peer,
		   "phase", migd_phase_name(p), NULL);
}

/* Copies the source VMM's statistics into the record. */
static void take_progress(struct job *j, struct json_object *mig)
{
	struct json_object *rounds, *last;
	struct migd_mig *m = j->m;

	if (!mig)
		return;
	pthread_mutex_lock(&j->d->lock);
	m->round = (uint32_t)jget_u64(mig, "round_count");
	m->remaining_bytes = jget_u64(mig, "remaining_bytes");
	m->guest_bytes = jget_u64(mig, "guest_bytes");
	m->bytes_sent = jget_u64(mig, "wire_bytes");
	m->expected_downtime_ms = jget_u64(mig, "expected_downtime_us") / 1000.0;
	m->downtime_ms = jget_u64(mig, "downtime_us") / 1000.0;
	m->total_ms = jget_u64(mig, "total_us") / 1000.0;
	if (json_object_object_get_ex(mig, "rounds", &rounds) &&
	    json_object_array_length(rounds) > 0) {
		last = json_object_array_get_idx(rounds, json_object_array_length(rounds) - 1);
		m->rate = jget_u64(last, "bandwidth");
	}
	pthread_mutex_unlock(&j->d->lock);
}

/* The source VMM's report after it exited: did its migration end "done"? */
static int report_says_done(struct job *j)
{
	struct json_object *o = json_object_from_file(j->report);
	const char *phase = o ? migd_jstr(o, "phase") : NULL;
	int done = phase && !strcmp(phase, "done");

	if (done)
		take_progress(j, o);
	json_object_put(o);
	return done;
}

enum outcome { OUT_DONE, OUT_FAILED, OUT_UNDETERMINED };

/* Follows the source VMM until its migration ends. */
static enum outcome follow(struct job *j, char *why, size_t why_len)
{
	int cancel_sent = 0;

	for (;;) {
		struct json_object *st = NULL, *mig = NULL;
		const char *vm_state;
		char err[512];
		int r, cancel;

		pthread_mutex_lock(&j->d->lock);
		cancel = j->m->cancel_requested;
		pthread_mutex_unlock(&j->d->lock);
		if (cancel && !cancel_sent) {
			struct json_object *a = NULL;

			migd_vmm_cmd(j->sock, "cancel", &a, VMM_TIMEOUT_MS, err, sizeof(err));
			json_object_put(a);
			cancel_sent = 1;
		}
		r = migd_vmm_cmd(j->sock, "status", &st, VMM_TIMEOUT_MS, err, sizeof(err));
		if (r) {
			json_object_put(st);
			/* Gone: it exits 0 only after the target confirmed. */
			if (report_says_done(j))
				return OUT_DONE;
			/* Alive but silent (busy, or its socket full): only
			 * its own answer tells the outcome. */
			if (migd_vm_alive(&j->probe)) {
				sleep_ms(POLL_MS);
				continue;
			}
			snprintf(why, why_len, "the source VMM stopped: %.400s", err);
			return OUT_FAILED;
		}
		json_object_object_get_ex(st, "migration", &mig);
		take_progress(j, mig);
		vm_state = migd_jstr(st, "vm");
		if (!vm_state)
			vm_state = "";
		if (!strcmp(vm_state, "migrated")) {
			json_object_put(st);
			return OUT_DONE;
		}
		if (!strcmp(vm_state, "undetermined")) {
			json_object_put(st);
			return OUT_UNDETERMINED;
		}
		if (strcmp(vm_state, "migrating")) {
			const char *e = mig ? migd_jstr(mig, "error_text") : NULL;

			snprintf(why, why_len, "%s", e && *e ? e : "the migration ended without a reason");
			json_object_put(st);
			return OUT_FAILED;
		}
		json_object_put(st);
		sleep_ms(POLL_MS);
	}
}

/* The VM's state from its VMM, without holding the lock across the
 * call: a copy of what identifies the process. */
static enum migd_vm_state query_vm(struct migd *d, const char *name)
{
	struct migd_vm probe;
	struct migd_vm *vm;

	pthread_mutex_lock(&d->lock);
	vm = migd_find_vm(d, name);
	if (vm)
		probe = migd_vm_probe(vm);
	pthread_mutex_unlock(&d->lock);
	return vm ? migd_vm_query(&probe) : MIGD_VM_STOPPED;
}

/* Undetermined: ask the target until one side knows. Returns the outcome
 * once the source VMM has been resolved (or resolved itself). */
static enum outcome settle(struct job *j, char *why, size_t why_len)
{
	for (;;) {
		struct json_object *a = NULL, *req;
		const char *state, *how = NULL;
		enum migd_vm_state here;
		char err[512];

		here = query_vm(j->d, j->vm);
		/* Resolved by the operator meanwhile. */
		if (here == MIGD_VM_STOPPED)
			return OUT_DONE;
		if (here == MIGD_VM_RUNNING) {
			snprintf(why, why_len, "resolved: the target discarded its copy, the guest runs here");
			return OUT_FAILED;
		}
		if (!call_peer(j, "query", NULL, &a, err, sizeof(err))) {
			state = migd_jstr(a, "state");
			if (state && !strcmp(state, "running"))
				how = "target-running";
			else if (state && !strcmp(state, "discarded"))
				how = "target-discarded";
		} else {
			migd_log(LOG_WARNING, "migration %s undetermined, %s unreachable: %s", j->m->id,
				 j->peer, err);
		}
		json_object_put(a);
		a = NULL;
		if (how) {
			req = json_object_new_object();
			json_object_object_add(req, "cmd", json_object_new_string("resolve"));
			json_object_object_add(req, "how", json_object_new_string(how));
			migd_vmm_call(j->sock, req, &a, VMM_TIMEOUT_MS, err, sizeof(err));
			json_object_put(req);
			json_object_put(a);
			migd_log(LOG_NOTICE, "migration %s settled with %s: %s", j->m->id, j->peer, how);
			if (!strcmp(how, "target-running"))
				return OUT_DONE;
			snprintf(why, why_len, "settled with %s: the target discarded its copy, the guest runs here",
				 j->peer);
			return OUT_FAILED;
		}
		sleep_ms(SETTLE_RETRY_MS);
	}
}

static int prepare(struct job *j, char *why, size_t why_len)
{
	struct json_object *req = json_object_new_object(), *a = NULL;
	const char *addr;
	int r;

	pthread_mutex_lock(&j->d->lock);
	{
		struct migd_vm *vm = migd_find_vm(j->d, j->vm);

		json_object_object_add(req, "vm", json_object_new_string(j->vm));
		json_object_object_add(req, "memory", json_object_new_uint64(vm ? vm->memory : 0));
		json_object_object_add(req, "cpus", json_object_new_int(vm ? (int)vm->cpus : 0));
	}
	pthread_mutex_unlock(&j->d->lock);
	r = call_peer(j, "prepare", req, &a, why, why_len);
	if (!r) {
		addr = migd_jstr(a, "address");
		if (!addr || strlen(addr) >= sizeof(j->m->address)) {
			snprintf(why, why_len, "%s answered prepare without an address", j->peer);
			r = -EPROTO;
		} else {
			pthread_mutex_lock(&j->d->lock);
			snprintf(j->m->address, sizeof(j->m->address), "%s", addr);
			pthread_mutex_unlock(&j->d->lock);
		}
	}
	json_object_put(a);
	return r;
}

static int perform(struct job *j, char *why, size_t why_len)
{
	struct json_object *req = json_object_new_object(), *a = NULL;
	int r;

	json_object_object_add(req, "cmd", json_object_new_string("migrate"));
	json_object_object_add(req, "address", json_object_new_string(j->m->address));
	json_object_object_add(req, "peer", json_object_new_string(j->peer));
	json_object_object_add(req, "downtime_ms", json_object_new_int64(j->m->downtime_limit_ms));
	json_object_object_add(req, "bandwidth", json_object_new_int64((int64_t)j->m->bandwidth));
	r = migd_vmm_call(j->sock, req, &a, VMM_TIMEOUT_MS, why, why_len);
	json_object_put(req);
	json_object_put(a);
	return r;
}

/* The end of an outgoing migration, whatever it was. */
static void conclude(struct job *j, enum outcome o, const char *why)
{
	struct migd *d = j->d;
	struct json_object *a = NULL;
	enum migd_vm_state state_now;
	char err[512];
	struct migd_vm *vm;

	if (o == OUT_DONE) {
		set_phase(j, MIGD_PH_FINISH);
		if (call_peer(j, "finish", NULL, &a, err, sizeof(err)))
			migd_log(LOG_WARNING, "migration %s: finish on %s: %s (its VMM confirmed it runs the guest)",
				 j->m->id, j->peer, err);
		json_object_put(a);
		set_phase(j, MIGD_PH_CONFIRM);
	} else {
		/* Best effort: the target discards its copy by itself too,
		 * when its VMM gives up. */
		if (call_peer(j, "abort", NULL, &a, err, sizeof(err)))
			migd_log(LOG_INFO, "migration %s: abort on %s: %s", j->m->id, j->peer, err);
		json_object_put(a);
	}
	state_now = o == OUT_DONE ? MIGD_VM_STOPPED : query_vm(d, j->vm);
	pthread_mutex_lock(&d->lock);
	vm = migd_find_vm(d, j->vm);
	if (o == OUT_DONE) {
		if (vm) {
			migd_vm_retire(&d->env, vm, j->m->id);
			migd_drop_vm(d, vm);
		}
		migd_mig_end(d, j->m, MIGD_PH_DONE, NULL);
	} else {
		if (vm) {
			vm->state = state_now;
			vm->mig_id[0] = vm->mig_peer[0] = '\0';
			migd_vm_save(vm);
		}
		migd_mig_end(d, j->m, j->m->cancel_requested ? MIGD_PH_CANCELLED : MIGD_PH_FAILED,
			     "%s", why);
	}
	pthread_mutex_unlock(&d->lock);
}

static void *outgoing(void *arg)
{
	struct job *j = arg;
	struct migd *d = j->d;
	enum outcome o;
	char why[512] = "";

	if (!j->m->resumed) {
		set_phase(j, MIGD_PH_PREPARE);
		if (prepare(j, why, sizeof(why))) {
			o = OUT_FAILED;
			goto out;
		}
		set_phase(j, MIGD_PH_PERFORM);
		if (perform(j, why, sizeof(why))) {
			o = OUT_FAILED;
			goto out;
		}
	}
	o = follow(j, why, sizeof(why));
	if (o == OUT_UNDETERMINED) {
		pthread_mutex_lock(&d->lock);
		{
			struct migd_vm *vm = migd_find_vm(d, j->vm);

			if (vm)
				vm->state = MIGD_VM_UNDETERMINED;
		}
		j->m->phase = MIGD_PH_UNDETERMINED;
		migd_update_gauges(d);
		pthread_mutex_unlock(&d->lock);
		migd_logkv(LOG_ERR, "migration undetermined: the guest stays paused here until the peer says what its VMM did",
			   "id", j->m->id, "vm", j->vm, "peer", j->peer, NULL);
		o = settle(j, why, sizeof(why));
	}
out:
	conclude(j, o, why);
	pthread_mutex_lock(&d->lock);
	d->threads--;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	free(j);
	return NULL;
}

int migd_migration_start(struct migd *d, struct migd_mig *m)
{
	const struct migd_peer_addr *pa = migd_config_peer(d->cfg, m->peer);
	struct migd_vm *vm = migd_find_vm(d, m->vm);
	struct job *j;
	pthread_t t;
	int r;

	if (!pa || !vm)
		return -ENOENT;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->d = d;
	j->m = m;
	snprintf(j->vm, sizeof(j->vm), "%s", m->vm);
	snprintf(j->sock, sizeof(j->sock), "%s", vm->sock);
	snprintf(j->report, sizeof(j->report), "%s/report.json", vm->dir);
	j->probe = migd_vm_probe(vm);
	snprintf(j->peer, sizeof(j->peer), "%s", pa->name);
	snprintf(j->peer_host, sizeof(j->peer_host), "%s", pa->addr.host);
	j->peer_port = pa->addr.port;
	r = -pthread_create(&t, NULL, outgoing, j);
	if (r) {
		free(j);
		return r;
	}
	pthread_detach(t);
	d->threads++;
	return 0;
}
