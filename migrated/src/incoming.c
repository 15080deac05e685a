/*
 * incoming.c: the target's side of a migration, as requests from the
 * source daemon (see migration.c for the phases): prepare, finish,
 * abort, and query for an undetermined one. Each runs on the peer
 * server's connection thread and answers one JSON object.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "daemon.h"
#include "json.h"
#include "log.h"
#include "metrics.h"

#define MEMORY_MAX (1ull << 40)
#define CPUS_MAX 64

static int64_t jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int)
		       ? json_object_get_int64(v) : -1;
}

/* "m-" and hex digits: what migd_mig_new makes. */
static int id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n < 3 || n >= MIGD_ID_MAX || strncmp(id, "m-", 2))
		return 0;
	for (size_t i = 2; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return 1;
}

/* The VM an incoming migration brings, by its id (lock held). */
static struct migd_vm *vm_of(struct migd *d, const char *id)
{
	for (struct migd_vm *vm = d->vms; vm; vm = vm->next)
		if (!strcmp(vm->mig_id, id))
			return vm;
	return NULL;
}

static uint16_t pick_port(struct migd *d)
{
	const struct migd_config *c = d->cfg;
	uint16_t p = d->next_port;

	if (p < c->peer.port_min || p > c->peer.port_max)
		p = c->peer.port_min;
	d->next_port = p == c->peer.port_max ? c->peer.port_min : (uint16_t)(p + 1);
	return p;
}

static struct json_object *prepare(struct migd *d, const char *peer, const char *id,
				   struct json_object *req)
{
	const char *name = migd_jstr(req, "vm");
	int64_t memory = jint(req, "memory"), cpus = jint(req, "cpus");
	char incoming[300], err[512];
	struct json_object *answer;
	struct migd_vm *vm;
	struct migd_mig *m;
	uint64_t in_use;
	int r;

	if (!name || !migd_vm_name_ok(name))
		return vmm_control_error("bad VM name");
	if (memory <= 0 || (uint64_t)memory > MEMORY_MAX || cpus < 1 || cpus > CPUS_MAX)
		return vmm_control_error("bad VM shape: memory %" PRId64 ", %" PRId64 " vCPUs", memory, cpus);
	pthread_mutex_lock(&d->lock);
	if (d->stopping) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("%s is shutting down", d->cfg->host.name);
	}
	if (migd_find_vm(d, name)) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("a VM named %s already exists on %s", name, d->cfg->host.name);
	}
	in_use = migd_memory_in_use(d);
	if (in_use + (uint64_t)memory > d->cfg->host.max_memory) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("not enough memory on %s: %" PRIu64 " MiB of %" PRIu64
			      " MiB in use, %s needs %" PRIu64 " MiB",
			      d->cfg->host.name, in_use >> 20, d->cfg->host.max_memory >> 20, name,
			      (uint64_t)memory >> 20);
	}
	vm = migd_vm_new(&d->env, name, (uint64_t)memory, (uint32_t)cpus, NULL);
	m = vm ? migd_mig_new(d, MIGD_DIR_IN, name, peer, id) : NULL;
	if (!m) {
		migd_vm_free(vm);
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("out of memory");
	}
	vm->state = MIGD_VM_INCOMING;
	vm->spawning = 1;
	snprintf(vm->mig_id, sizeof(vm->mig_id), "%s", id);
	snprintf(vm->mig_peer, sizeof(vm->mig_peer), "%s", peer);
	migd_add_vm(d, vm);
	m->phase = MIGD_PH_PREPARE;
	snprintf(incoming, sizeof(incoming), "tcp:%s:%u", d->cfg->peer.migration_address,
		 pick_port(d));
	snprintf(m->address, sizeof(m->address), "%s", incoming);
	pthread_mutex_unlock(&d->lock);

	/* The VM is in the list as "incoming", so nobody else takes the
	 * name while its VMM starts. */
	r = migd_vm_spawn(&d->env, vm, incoming, peer, err, sizeof(err));
	pthread_mutex_lock(&d->lock);
	vm->spawning = 0;
	if (r) {
		migd_vm_retire(&d->env, vm, id);
		migd_drop_vm(d, vm);
		migd_mig_end(d, m, MIGD_PH_FAILED, "%s", err);
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("%s", err);
	}
	m->phase = MIGD_PH_PERFORM;
	migd_update_gauges(d);
	pthread_mutex_unlock(&d->lock);
	migd_logkv(LOG_INFO, "migration phase", "id", id, "vm", name, "peer", peer,
		   "direction", "in", "phase", "prepare", "address", incoming, NULL);
	answer = vmm_control_ok();
	json_object_object_add(answer, "address", json_object_new_string(incoming));
	return answer;
}

static struct json_object *finish(struct migd *d, const char *peer, const char *id)
{
	struct migd_vm *vm, c;
	struct migd_mig *m;
	enum migd_vm_state s;

	pthread_mutex_lock(&d->lock);
	vm = vm_of(d, id);
	m = migd_find_mig(d, id);
	if (!vm || !m || m->dir != MIGD_DIR_IN || strcmp(m->peer, peer)) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("no incoming migration %s from %s here", id, peer);
	}
	c = migd_vm_probe(vm);
	pthread_mutex_unlock(&d->lock);
	s = migd_vm_query(&c);
	pthread_mutex_lock(&d->lock);
	vm = vm_of(d, id);
	if (!vm || s != MIGD_VM_RUNNING) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("the guest of %s does not run here (%s)", id, migd_vm_state_name(s));
	}
	vm->state = MIGD_VM_RUNNING;
	vm->mig_id[0] = vm->mig_peer[0] = '\0';
	migd_vm_save(vm);
	m->phase = MIGD_PH_FINISH;
	migd_mig_end(d, m, MIGD_PH_DONE, NULL);
	pthread_mutex_unlock(&d->lock);
	migd_log(LOG_INFO, "migration %s: vm=%s from=%s phase=finish: the guest runs here", id,
		 c.name, peer);
	return vmm_control_ok();
}

/* Whether the guest of migration `id` ran here, from what the VMM says
 * now and whether it was ever seen running. */
static const char *arrival_state(const struct migd_vm *copy, int arrived)
{
	enum migd_vm_state s = migd_vm_query(copy);

	if (s == MIGD_VM_RUNNING || s == MIGD_VM_PAUSED || s == MIGD_VM_MIGRATING ||
	    s == MIGD_VM_UNDETERMINED || arrived)
		return "running";
	return s == MIGD_VM_INCOMING ? "pending" : "discarded";
}

static struct json_object *abort_incoming(struct migd *d, const char *peer, const char *id)
{
	struct migd_vm *vm, c;
	struct migd_mig *m;
	int arrived;

	pthread_mutex_lock(&d->lock);
	vm = vm_of(d, id);
	m = migd_find_mig(d, id);
	if (!vm || !m || m->dir != MIGD_DIR_IN || strcmp(m->peer, peer)) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_ok();  /* nothing (left) here for that peer */
	}
	if (vm->spawning) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("the VMM of %s is still starting; ask again", id);
	}
	c = migd_vm_probe(vm);
	arrived = vm->arrived_at != 0;
	pthread_mutex_unlock(&d->lock);
	/* A guest that runs here is the only copy: the source committed and
	 * only thinks it failed. Never discard it on its word. */
	if (!strcmp(arrival_state(&c, arrived), "running")) {
		migd_log(LOG_WARNING, "migration %s: %s asks to abort, but the guest runs here; kept",
			 id, peer);
		return vmm_control_error("the guest of %s runs on %s: not discarded", id, d->cfg->host.name);
	}
	migd_vm_kill(&c, 0);
	pthread_mutex_lock(&d->lock);
	vm = vm_of(d, id);
	if (vm) {
		migd_vm_retire(&d->env, vm, id);
		migd_drop_vm(d, vm);
	}
	m = migd_find_mig(d, id);
	if (m && m->phase < MIGD_PH_DONE)
		migd_mig_end(d, m, MIGD_PH_FAILED, "the source gave up");
	pthread_mutex_unlock(&d->lock);
	migd_log(LOG_INFO, "migration %s: from=%s aborted by the source; copy discarded", id, peer);
	return vmm_control_ok();
}

/*
 * For an undetermined source: did the guest run here? "running" if it
 * does or ever did (the source must then never resume its copy),
 * "discarded" if it never did and never will, "pending" while our VMM
 * still holds it unstarted, "unknown" when nothing here remembers the
 * migration (the source keeps asking; an operator decides).
 */
static struct json_object *query(struct migd *d, const char *peer, const char *id)
{
	struct json_object *answer;
	struct migd_vm *vm, c;
	struct migd_mig *m;
	const char *state = "unknown";
	int have_vm = 0, arrived = 0;

	pthread_mutex_lock(&d->lock);
	m = migd_find_mig(d, id);
	if (m && (m->dir != MIGD_DIR_IN || strcmp(m->peer, peer)))
		m = NULL;
	vm = vm_of(d, id);
	if (vm && vm->spawning)
		vm = NULL;  /* "pending" below, from the record */
	if (vm && !strcmp(vm->mig_peer, peer)) {
		c = migd_vm_probe(vm);
		arrived = vm->arrived_at != 0;
		have_vm = 1;
	}
	if (m && m->phase == MIGD_PH_PREPARE)
		state = "pending";
	else if (m && m->phase == MIGD_PH_DONE)
		state = "running";
	else if (m && (m->phase == MIGD_PH_FAILED || m->phase == MIGD_PH_CANCELLED))
		state = "discarded";
	pthread_mutex_unlock(&d->lock);
	if (have_vm && !strcmp(state, "unknown"))
		state = arrival_state(&c, arrived);
	answer = vmm_control_ok();
	json_object_object_add(answer, "state", json_object_new_string(state));
	return answer;
}

struct json_object *migd_peer_request(void *opaque, const char *peer,
				      struct json_object *req)
{
	struct migd *d = opaque;
	const char *op = migd_jstr(req, "op"), *id = migd_jstr(req, "id");

	if (!op || !id_ok(id))
		return vmm_control_error("a request needs \"op\" and a migration \"id\"");
	if (!strcmp(op, "prepare"))
		return prepare(d, peer, id, req);
	if (!strcmp(op, "finish"))
		return finish(d, peer, id);
	if (!strcmp(op, "abort"))
		return abort_incoming(d, peer, id);
	if (!strcmp(op, "query"))
		return query(d, peer, id);
	return vmm_control_error("unknown op \"%.32s\"", op);
}
