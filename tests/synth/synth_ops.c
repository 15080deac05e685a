/*
 * synth_ops.c - the synthetic guest as libmigrate sees it: struct
 * mig_vmm_ops for both roles. Every callback checks that it comes in an
 * order the safety rule allows, and records a violation when it does not.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth_priv.h"

static int op_describe(void *vmm, struct mig_guest_desc *desc)
{
	struct synth_guest *g = vmm;

	if (g->target || !g->have_cfg)
		return -EINVAL;
	synth_desc_build(&g->cfg, desc, g->cfg_buf);
	for (uint32_t i = 0; i < g->nregions; i++)
		desc->regions[i].host = g->regions[i].host;
	return 0;
}

static int op_pause(void *vmm)
{
	struct synth_guest *g = vmm;
	enum synth_run_state st = synth_state(g);

	if (st != SYNTH_RUNNING) {
		synth__violation(g, "pause while the guest is %s",
				 synth_state_name(st));
		return -EINVAL;
	}
	synth__hold_dirtiers(g);
	pthread_mutex_lock(&g->lock);
	g->state = SYNTH_PAUSED;
	g->pauses++;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static int op_resume(void *vmm)
{
	struct synth_guest *g = vmm;
	enum synth_run_state st;
	int committed;

	pthread_mutex_lock(&g->lock);
	st = g->state;
	committed = g->committed;
	pthread_mutex_unlock(&g->lock);
	if (committed) {
		/* Refused: the target may already run this guest. */
		synth__violation(g,
				 "resume after the commit (guest %s): it could "
				 "run in two places",
				 synth_state_name(st));
		return -EPERM;
	}
	if (st != SYNTH_PAUSED) {
		synth__violation(g, "resume while the guest is %s",
				 synth_state_name(st));
		return -EINVAL;
	}
	pthread_mutex_lock(&g->lock);
	g->state = SYNTH_RUNNING;
	g->resumes++;
	pthread_mutex_unlock(&g->lock);
	synth__release_dirtiers(g);
	return 0;
}

static int add_blob(mig_state *st, uint64_t seed, enum mig_state_kind kind,
		    uint32_t id, uint8_t *buf)
{
	char name[MIG_NAME_MAX];

	synth_blob_name(kind, id, name, sizeof(name));
	synth_blob_fill(seed, kind, id, buf);
	return mig_state_add(st, kind, id, name, buf, synth_blob_len(kind, id));
}

static int op_save_state(void *vmm, mig_state *st)
{
	struct synth_guest *g = vmm;
	enum synth_run_state rs = synth_state(g);
	uint8_t *buf;
	int err = 0;

	if (rs != SYNTH_PAUSED) {
		synth__violation(g, "save_state while the guest is %s",
				 synth_state_name(rs));
		return -EINVAL;
	}
	buf = malloc(SYNTH_BLOB_MAX);
	if (!buf)
		return -ENOMEM;
	for (uint32_t i = 0; !err && i < g->cfg.vcpus; i++)
		err = add_blob(st, g->cfg.seed, MIG_STATE_VCPU, i, buf);
	for (uint32_t i = 0; !err && i < g->cfg.devices; i++)
		err = add_blob(st, g->cfg.seed, MIG_STATE_DEVICE, i, buf);
	if (!err)
		err = add_blob(st, g->cfg.seed, MIG_STATE_MACHINE, 0, buf);
	free(buf);
	return err;
}

static int blob_expected(const struct synth_config *c, enum mig_state_kind kind,
			 uint32_t id)
{
	switch (kind) {
	case MIG_STATE_VCPU:
		return id < c->vcpus;
	case MIG_STATE_DEVICE:
		return id < c->devices;
	case MIG_STATE_MACHINE:
		return id == 0;
	}
	return 0;
}

static int verify_blob(const struct synth_config *c, const mig_state *st,
		       size_t i, uint8_t *buf, char *why, size_t why_len)
{
	enum mig_state_kind kind;
	uint32_t id;
	const char *name;
	const void *data;
	size_t len;
	char want[MIG_NAME_MAX];

	if (mig_state_get(st, i, &kind, &id, &name, &data, &len)) {
		snprintf(why, why_len, "blob %zu cannot be read", i);
		return -1;
	}
	if (!blob_expected(c, kind, id)) {
		snprintf(why, why_len, "unexpected blob kind %d id %u",
			 (int)kind, (unsigned int)id);
		return -1;
	}
	synth_blob_name(kind, id, want, sizeof(want));
	if (!name || strcmp(name, want)) {
		snprintf(why, why_len, "blob %s arrived named \"%s\"", want,
			 name ? name : "(null)");
		return -1;
	}
	if (len != synth_blob_len(kind, id)) {
		snprintf(why, why_len, "blob %s is %zu bytes, expected %zu",
			 want, len, synth_blob_len(kind, id));
		return -1;
	}
	synth_blob_fill(c->seed, kind, id, buf);
	for (size_t k = 0; k < len; k++) {
		if (((const uint8_t *)data)[k] != buf[k]) {
			snprintf(why, why_len, "blob %s differs at byte %zu",
				 want, k);
			return -1;
		}
	}
	return 0;
}

static int verify_state(const struct synth_config *c, const mig_state *st,
			char *why, size_t why_len)
{
	size_t want = (size_t)c->vcpus + c->devices + 1;
	size_t n = mig_state_count(st);
	uint8_t *buf;
	int err = 0;

	if (n != want) {
		snprintf(why, why_len, "state has %zu blobs, expected %zu", n,
			 want);
		return -1;
	}
	buf = malloc(SYNTH_BLOB_MAX);
	if (!buf) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	for (size_t i = 0; !err && i < n; i++)
		err = verify_blob(c, st, i, buf, why, why_len);
	free(buf);
	if (err)
		return err;
	/* n blobs, each expected: with these lookups, each exactly once. */
	for (uint32_t i = 0; i < c->vcpus; i++)
		if (mig_state_find(st, MIG_STATE_VCPU, i, NULL, NULL))
			err = -1;
	for (uint32_t i = 0; i < c->devices; i++)
		if (mig_state_find(st, MIG_STATE_DEVICE, i, NULL, NULL))
			err = -1;
	if (mig_state_find(st, MIG_STATE_MACHINE, 0, NULL, NULL))
		err = -1;
	snprintf(why, why_len,
		 err ? "a blob is missing (another repeated)"
		     : "all %zu blobs exact",
		 n);
	return err;
}

static int op_load_state(void *vmm, const mig_state *st)
{
	struct synth_guest *g = vmm;
	enum synth_run_state rs = synth_state(g);

	if (rs != SYNTH_CREATED) {
		synth__violation(g, "load_state while the guest is %s",
				 synth_state_name(rs));
		return -EINVAL;
	}
	g->state_ok =
	    !verify_state(&g->cfg, st, g->state_why, sizeof(g->state_why));
	g->state_loaded = 1;
	return g->state_ok ? 0 : -EBADMSG;
}

static int check_shape(const struct synth_config *c,
		       const struct mig_guest_desc *d, char *reason, size_t len)
{
	struct mig_region want[3];
	uint32_t n = synth_layout(c, want);
	char name[MIG_NAME_MAX];

	if (d->region_count != n) {
		snprintf(reason, len,
			 "%u memory regions, the configuration "
			 "says %u",
			 d->region_count, n);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (d->regions[i].gpa != want[i].gpa ||
		    d->regions[i].size != want[i].size ||
		    !d->regions[i].read_only != !want[i].read_only) {
			snprintf(reason, len,
				 "region %u (gpa 0x%" PRIx64 ", %" PRIu64
				 " bytes) does not match the configuration",
				 i, d->regions[i].gpa, d->regions[i].size);
			return -1;
		}
	}
	if (d->vcpu_count != c->vcpus) {
		snprintf(reason, len, "%u vCPUs, the configuration says %u",
			 d->vcpu_count, c->vcpus);
		return -1;
	}
	if (strcmp(d->cpu_fingerprint, SYNTH_CPU_FINGERPRINT)) {
		snprintf(reason, len, "CPU model \"%.60s\" is not this host's",
			 d->cpu_fingerprint);
		return -1;
	}
	if (d->device_count != c->devices) {
		snprintf(reason, len, "%u devices, the configuration says %u",
			 d->device_count, c->devices);
		return -1;
	}
	for (uint32_t i = 0; i < c->devices; i++) {
		synth_device_name(i, name, sizeof(name));
		if (strncmp(d->devices[i], name, MIG_NAME_MAX)) {
			snprintf(reason, len, "device %u is \"%.60s\", not %s",
				 i, d->devices[i], name);
			return -1;
		}
	}
	return 0;
}

static int op_create_guest(void *vmm, const struct mig_guest_desc *desc,
			   char *reason, size_t reason_len)
{
	struct synth_guest *g = vmm;
	struct synth_config c;
	char have[32], need[32];
	int err;

	if (!g->target || synth_state(g) != SYNTH_NONE) {
		snprintf(reason, reason_len, "a guest already exists here");
		return -EBUSY;
	}
	if (desc->vcpu_count == 0) {
		snprintf(reason, reason_len, "vCPU count 0");
		return -EINVAL;
	}
	if (synth_config_decode(desc->vmm_config, desc->vmm_config_len, &c,
				reason, reason_len))
		return MIG_ESHAPE;
	if (g->max_memory && c.ram_size > g->max_memory) {
		synth_size_format(c.ram_size, need, sizeof(need));
		synth_size_format(g->max_memory, have, sizeof(have));
		snprintf(reason, reason_len,
			 "not enough memory: guest needs %s, this host offers "
			 "%s",
			 need, have);
		return -ENOMEM;
	}
	if (check_shape(&c, desc, reason, reason_len))
		return MIG_ESHAPE;
	g->cfg = c;
	synth_config_encode(&c, g->cfg_buf);
	g->have_cfg = 1;
	err = synth__map_regions(g);
	if (err) {
		g->have_cfg = 0;
		snprintf(reason, reason_len, "cannot map guest memory: %s",
			 strerror(-err));
		return err;
	}
	pthread_mutex_lock(&g->lock);
	g->state = SYNTH_CREATED;
	g->created = 1;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static int op_memory_regions(void *vmm, const struct mig_region **regions,
			     size_t *count)
{
	struct synth_guest *g = vmm;

	if (!g->target || synth_state(g) != SYNTH_CREATED)
		return -EINVAL;
	*regions = g->regions;
	*count = g->nregions;
	return 0;
}

static int op_start_guest(void *vmm)
{
	struct synth_guest *g = vmm;
	enum synth_run_state rs = synth_state(g);
	int err;

	if (rs != SYNTH_CREATED) {
		synth__violation(g, "start_guest while the guest is %s",
				 synth_state_name(rs));
		return -EINVAL;
	}
	if (!g->state_loaded)
		synth__violation(g, "start_guest before load_state");
	/*
	 * The boot thread checks and hashes what arrived, then runs the
	 * dirtiers; doing it here would add its time to the downtime.
	 */
	err = pthread_create(&g->boot, NULL, synth__boot_main, g);
	if (err)
		return -err;
	g->boot_started = 1;
	pthread_mutex_lock(&g->lock);
	g->state = SYNTH_RUNNING;
	g->started = 1;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static int op_destroy_guest(void *vmm)
{
	struct synth_guest *g = vmm;
	enum synth_run_state rs = synth_state(g);

	if (rs == SYNTH_NONE)
		return 0; /* target: nothing was created */
	if (rs == SYNTH_DESTROYED) {
		synth__violation(g, "destroy_guest twice");
		return -EINVAL;
	}
	if (g->target && g->started) {
		synth__violation(g,
				 "destroy_guest after start_guest: the running "
				 "guest would be lost");
		return -EPERM;
	}
	if (!g->target) {
		if (rs != SYNTH_PAUSED) {
			synth__violation(g,
					 "destroy_guest while the guest is %s",
					 synth_state_name(rs));
			return -EINVAL;
		}
		/* The frozen guest, as the target must now hold it. */
		synth_check_memory(g, &g->final_check);
		if (!synth_hashes_take(g, &g->final))
			g->have_final = 1;
	}
	synth_stop(g);
	synth__unmap_regions(g);
	pthread_mutex_lock(&g->lock);
	g->state = SYNTH_DESTROYED;
	g->destroyed = 1;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void op_progress(void *vmm, const struct mig_progress *p)
{
	struct synth_guest *g = vmm;

	if (!g->target &&
	    (p->phase == MIG_PHASE_COMMIT || p->phase == MIG_PHASE_DONE ||
	     p->phase == MIG_PHASE_UNDETERMINED)) {
		pthread_mutex_lock(&g->lock);
		g->committed = 1;
		pthread_mutex_unlock(&g->lock);
	}
	if (g->progress)
		g->progress(g->progress_opaque, p);
}

static const struct mig_vmm_ops synth_ops = {
    .describe = op_describe,
    .memory_regions = op_memory_regions,
    .pause = op_pause,
    .resume = op_resume,
    .save_state = op_save_state,
    .load_state = op_load_state,
    .create_guest = op_create_guest,
    .start_guest = op_start_guest,
    .destroy_guest = op_destroy_guest,
    .progress = op_progress,
};

const struct mig_vmm_ops *synth_vmm_ops(void)
{
	return &synth_ops;
}
