/*
 * daemon.c: migrated's control commands, its watch over the VMs, and its
 * start and stop (daemon.h for the threads and the lock).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "control.h"
#include "daemon.h"
#include "json.h"
#include "log.h"
#include "peer.h"
#include "vmm_client.h"

#define TICK_MS 1000
#define CONSOLE_TAIL_MAX (256u << 10)
#define STOP_GRACE_MS 3000
#define MEMORY_MAX (1ull << 40)

static int jint(struct json_object *o, const char *key, int64_t *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int64(v);
	return 1;
}

static struct json_object *vm_json(const struct migd_vm *vm)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(vm->name));
	json_object_object_add(o, "state", json_object_new_string(migd_vm_state_name(vm->state)));
	json_object_object_add(o, "memory", json_object_new_uint64(vm->memory));
	json_object_object_add(o, "cpus", json_object_new_int((int)vm->cpus));
	/* While it starts, the starting thread owns pid. */
	json_object_object_add(o, "pid", json_object_new_int(vm->spawning ? 0 : (int)vm->pid));
	json_object_object_add(o, "serial", json_object_new_string(vm->serial));
	json_object_object_add(o, "migration", vm->mig_id[0] ? json_object_new_string(vm->mig_id) : NULL);
	return o;
}

/* The VM named in the request, with the lock held on success. */
static struct migd_vm *lock_vm(struct migd *d, struct json_object *req, struct json_object **err)
{
	const char *name = migd_jstr(req, "name");
	struct migd_vm *vm;

	if (!name) {
		*err = vmm_control_error("the request needs the VM's \"name\"");
		return NULL;
	}
	pthread_mutex_lock(&d->lock);
	vm = migd_find_vm(d, name);
	if (!vm) {
		pthread_mutex_unlock(&d->lock);
		*err = vmm_control_error("no VM named %.64s on %s", name, d->cfg->host.name);
	}
	return vm;
}

static struct json_object *cmd_vm_start(struct migd *d, struct json_object *req)
{
	const char *name = migd_jstr(req, "name"), *kernel = migd_jstr(req, "kernel"), *boot = migd_jstr(req, "boot");
	struct json_object *spec, *answer;
	int64_t memory = 256ll << 20, cpus = 1;
	struct migd_vm *vm;
	char err[512];
	int r;

	if (!name || !migd_vm_name_ok(name))
		return vmm_control_error("a VM name is 1-63 letters, digits, '.', '_' or '-'");
	if (jint(req, "memory", &memory) < 0 || memory < (1 << 20) || (uint64_t)memory > MEMORY_MAX)
		return vmm_control_error("memory is bytes, 1 MiB to 1 TiB");
	if (jint(req, "cpus", &cpus) < 0 || cpus < 1 || cpus > 64)
		return vmm_control_error("cpus is 1 to 64");
	if (!!kernel == !!boot)
		return vmm_control_error("give either \"kernel\" (with \"initrd\" and \"append\") or \"boot\"");
	spec = json_object_new_object();
	if (kernel) {
		json_object_object_add(spec, "kernel", json_object_new_string(kernel));
		if (migd_jstr(req, "initrd"))
			json_object_object_add(spec, "initrd", json_object_new_string(migd_jstr(req, "initrd")));
		if (migd_jstr(req, "append"))
			json_object_object_add(spec, "append", json_object_new_string(migd_jstr(req, "append")));
	} else {
		json_object_object_add(spec, "boot", json_object_new_string(boot));
	}
	pthread_mutex_lock(&d->lock);
	if (migd_find_vm(d, name)) {
		pthread_mutex_unlock(&d->lock);
		json_object_put(spec);
		return vmm_control_error("a VM named %s exists already", name);
	}
	if (migd_memory_in_use(d) + (uint64_t)memory > d->cfg->host.max_memory) {
		pthread_mutex_unlock(&d->lock);
		json_object_put(spec);
		return vmm_control_error("not enough memory: %" PRIu64 " MiB of %" PRIu64 " MiB in use",
					 migd_memory_in_use(d) >> 20, d->cfg->host.max_memory >> 20);
	}
	vm = migd_vm_new(&d->env, name, (uint64_t)memory, (uint32_t)cpus, spec);
	if (!vm) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("out of memory");
	}
	vm->state = MIGD_VM_INCOMING;  /* reserved while it starts */
	vm->spawning = 1;
	migd_add_vm(d, vm);
	pthread_mutex_unlock(&d->lock);

	r = migd_vm_spawn(&d->env, vm, NULL, NULL, err, sizeof(err));
	pthread_mutex_lock(&d->lock);
	vm->spawning = 0;
	if (r) {
		migd_vm_remove_files(vm);
		migd_drop_vm(d, vm);
		pthread_mutex_unlock(&d->lock);
		migd_log(LOG_ERR, "vm %s did not start: %s", name, err);
		return vmm_control_error("%s", err);
	}
	vm->state = MIGD_VM_RUNNING;
	migd_update_gauges(d);
	answer = vmm_control_ok();
	json_object_object_add(answer, "vm", vm_json(vm));
	pthread_mutex_unlock(&d->lock);
	migd_logkv(LOG_NOTICE, "vm started", "vm", name, "memory", MIGD_LOG_FMT("%" PRId64, memory),
		   "cpus", MIGD_LOG_FMT("%" PRId64, cpus), "pid", MIGD_LOG_FMT("%d", (int)vm->pid), NULL);
	return answer;
}

static struct json_object *cmd_vm_list(struct migd *d)
{
	struct json_object *answer = vmm_control_ok(), *list = json_object_new_array();

	pthread_mutex_lock(&d->lock);
	for (struct migd_vm *vm = d->vms; vm; vm = vm->next)
		json_object_array_add(list, vm_json(vm));
	pthread_mutex_unlock(&d->lock);
	json_object_object_add(answer, "vms", list);
	return answer;
}

static struct json_object *cmd_vm_stop(struct migd *d, struct json_object *req)
{
	struct json_object *err = NULL;
	struct migd_vm *vm = lock_vm(d, req, &err), copy;
	char name[MIGD_VM_NAME_MAX];

	if (!vm)
		return err;
	if (vm->spawning) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("%s is still starting", vm->name);
	}
	/* An incoming VM whose guest never ran here may go (its source gave
	 * up without telling us); anything else a migration owns may not. */
	if (vm->mig_id[0] && (vm->mig_out || vm->arrived_at || vm->state != MIGD_VM_INCOMING)) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("%s is in migration %s: cancel or resolve it first", vm->name,
					 vm->mig_id);
	}
	if (vm->mig_id[0]) {
		struct migd_mig *m = migd_find_mig(d, vm->mig_id);

		if (m && m->phase < MIGD_PH_DONE)
			migd_mig_end(d, m, MIGD_PH_FAILED, "the incoming VM was stopped by the operator");
	}
	copy = migd_vm_probe(vm);
	snprintf(name, sizeof(name), "%s", vm->name);
	vm->state = MIGD_VM_STOPPED;
	pthread_mutex_unlock(&d->lock);
	migd_vm_kill(&copy, STOP_GRACE_MS);
	pthread_mutex_lock(&d->lock);
	vm = migd_find_vm(d, name);
	if (vm) {
		migd_vm_remove_files(vm);
		migd_drop_vm(d, vm);
	}
	pthread_mutex_unlock(&d->lock);
	migd_logkv(LOG_NOTICE, "vm stopped", "vm", name, NULL);
	return vmm_control_ok();
}

/* The last `lines` lines of the serial log (from its last 256 KiB). */
static struct json_object *cmd_vm_console(struct migd *d, struct json_object *req)
{
	struct json_object *err = NULL, *answer;
	struct migd_vm *vm = lock_vm(d, req, &err);
	char path[sizeof(vm->serial)], *buf, *p;
	int64_t lines = 50;
	ssize_t n;
	off_t size;
	int fd;

	if (!vm)
		return err;
	memcpy(path, vm->serial, sizeof(path));
	pthread_mutex_unlock(&d->lock);
	if (jint(req, "lines", &lines) < 0 || lines < 1 || lines > 100000)
		return vmm_control_error("lines is 1 to 100000");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmm_control_error("%s: %s", path, strerror(errno));
	size = lseek(fd, 0, SEEK_END);
	lseek(fd, size > (off_t)CONSOLE_TAIL_MAX ? size - (off_t)CONSOLE_TAIL_MAX : 0, SEEK_SET);
	buf = malloc(CONSOLE_TAIL_MAX + 1);
	n = buf ? read(fd, buf, CONSOLE_TAIL_MAX) : -1;
	close(fd);
	if (n < 0) {
		free(buf);
		return vmm_control_error("%s: cannot read", path);
	}
	buf[n] = '\0';
	p = buf + n;
	if (p > buf && p[-1] == '\n')
		p--;
	while (p > buf && lines > 0) {
		p--;
		if (*p == '\n' && --lines == 0) {
			p++;
			break;
		}
	}
	answer = vmm_control_ok();
	json_object_object_add(answer, "text", json_object_new_string(p));
	free(buf);
	return answer;
}

/* Requests forwarded to the VM's own VMM as they are. */
static struct json_object *forward(struct migd *d, struct json_object *req, const char *cmd)
{
	struct json_object *err = NULL, *fwd, *a = NULL;
	struct migd_vm *vm = lock_vm(d, req, &err);
	char sock[sizeof(vm->sock)], why[512];
	const char *data = migd_jstr(req, "data"), *how = migd_jstr(req, "how");

	if (!vm)
		return err;
	memcpy(sock, vm->sock, sizeof(sock));
	pthread_mutex_unlock(&d->lock);
	fwd = json_object_new_object();
	json_object_object_add(fwd, "cmd", json_object_new_string(cmd));
	if (data)
		json_object_object_add(fwd, "data", json_object_new_string(data));
	if (how)
		json_object_object_add(fwd, "how", json_object_new_string(how));
	if (migd_vmm_call(sock, fwd, &a, 5000, why, sizeof(why))) {
		json_object_put(fwd);
		json_object_put(a);
		return vmm_control_error("%s", why);
	}
	json_object_put(fwd);
	json_object_put(a);
	return vmm_control_ok();
}

static struct json_object *cmd_migrate(struct migd *d, struct json_object *req)
{
	const char *host = migd_jstr(req, "host");
	struct json_object *err = NULL, *answer;
	struct migd_vm *vm, copy;
	struct migd_mig *m;
	uint64_t bandwidth;
	uint32_t downtime;
	int64_t x;
	int r;

	if (!host)
		return vmm_control_error("migrate needs the target \"host\"");
	if (!migd_config_peer(d->cfg, host))
		return vmm_control_error("unknown host %.64s: add it to [peers] in %s", host,
					 d->cfg->path);
	if (!strcasecmp(host, d->cfg->host.name))
		return vmm_control_error("%s is this host", host);
	vm = lock_vm(d, req, &err);
	if (!vm)
		return err;
	copy = migd_vm_probe(vm);
	pthread_mutex_unlock(&d->lock);
	/* Begin: the VM must run here, now. */
	if (migd_vm_query(&copy) != MIGD_VM_RUNNING)
		return vmm_control_error("%s is not running here", migd_jstr(req, "name"));
	pthread_mutex_lock(&d->lock);
	vm = migd_find_vm(d, migd_jstr(req, "name"));
	if (!vm || vm->mig_id[0] || vm->state != MIGD_VM_RUNNING) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("%s is busy (%s)", migd_jstr(req, "name"),
					 vm ? migd_vm_state_name(vm->state) : "gone");
	}
	if ((r = jint(req, "downtime_ms", &x)) < 0 || (r > 0 && (x < 1 || x > 600000))) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("downtime_ms is 1 to 600000");
	}
	downtime = r > 0 ? (uint32_t)x : d->cfg->migration.downtime_ms;
	if ((r = jint(req, "bandwidth", &x)) < 0 || (r > 0 && x < 0)) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("bandwidth is bytes per second, 0 for no limit");
	}
	bandwidth = r > 0 ? (uint64_t)x : d->cfg->migration.bandwidth;
	m = migd_mig_new(d, MIGD_DIR_OUT, vm->name, migd_config_peer(d->cfg, host)->name, NULL);
	if (!m) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("out of memory");
	}
	m->downtime_limit_ms = downtime;
	m->bandwidth = bandwidth;
	vm->state = MIGD_VM_MIGRATING;
	snprintf(vm->mig_id, sizeof(vm->mig_id), "%s", m->id);
	snprintf(vm->mig_peer, sizeof(vm->mig_peer), "%s", m->peer);
	vm->mig_out = 1;
	migd_vm_save(vm);
	r = migd_migration_start(d, m);
	if (r) {
		vm->state = MIGD_VM_RUNNING;
		vm->mig_id[0] = vm->mig_peer[0] = '\0';
		migd_mig_end(d, m, MIGD_PH_FAILED, "cannot start the migration: %s", strerror(-r));
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("cannot start the migration: %s", strerror(-r));
	}
	answer = vmm_control_ok();
	json_object_object_add(answer, "id", json_object_new_string(m->id));
	pthread_mutex_unlock(&d->lock);
	migd_logkv(LOG_NOTICE, "migration begins", "id", m->id, "vm", m->vm, "peer", m->peer,
		   "direction", "out", "downtime_limit_ms", MIGD_LOG_FMT("%u", m->downtime_limit_ms), NULL);
	return answer;
}

static struct json_object *cmd_status(struct migd *d, struct json_object *req, int history)
{
	const char *id = migd_jstr(req, "id");
	struct json_object *answer, *list = json_object_new_array();
	int found = 0;

	pthread_mutex_lock(&d->lock);
	/* The list is newest first; answers read newest last, like a log. */
	for (int pass = 0; pass < 2; pass++) {
		for (struct migd_mig *m = d->migs; m; m = m->next) {
			int live = m->phase < MIGD_PH_DONE || m->phase == MIGD_PH_UNDETERMINED;

			if (id ? strcmp(m->id, id) != 0 : history ? live : !live)
				continue;
			if (pass == 0)
				found++;
			else
				json_object_array_put_idx(list, (size_t)--found, migd_mig_json(m));
		}
		if (pass == 0 && id && !found)
			break;
	}
	pthread_mutex_unlock(&d->lock);
	found = found || json_object_array_length(list);
	if (id && !found) {
		json_object_put(list);
		return vmm_control_error("no migration %.40s here", id);
	}
	answer = vmm_control_ok();
	json_object_object_add(answer, "migrations", list);
	return answer;
}

static struct json_object *cmd_cancel(struct migd *d, struct json_object *req)
{
	const char *id = migd_jstr(req, "id");
	struct migd_mig *m;

	if (!id)
		return vmm_control_error("cancel needs the migration's \"id\"");
	pthread_mutex_lock(&d->lock);
	m = migd_find_mig(d, id);
	if (!m || m->dir != MIGD_DIR_OUT || m->phase >= MIGD_PH_FINISH) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("no outgoing migration %.40s before its commit here", id);
	}
	m->cancel_requested = 1;
	pthread_mutex_unlock(&d->lock);
	return vmm_control_ok();
}

static struct json_object *cmd_resolve(struct migd *d, struct json_object *req)
{
	const char *how = migd_jstr(req, "how");
	struct json_object *err = NULL;
	struct migd_vm *vm;

	if (!how || (strcmp(how, "target-running") && strcmp(how, "target-discarded")))
		return vmm_control_error("how is \"target-running\" or \"target-discarded\"");
	vm = lock_vm(d, req, &err);
	if (!vm)
		return err;
	if (vm->state != MIGD_VM_UNDETERMINED) {
		pthread_mutex_unlock(&d->lock);
		return vmm_control_error("%s has no undetermined migration", vm->name);
	}
	pthread_mutex_unlock(&d->lock);
	migd_log(LOG_NOTICE, "vm %s: the operator resolves its migration: %s", migd_jstr(req, "name"), how);
	return forward(d, req, "resolve");
}

struct json_object *migd_on_command(void *opaque, struct json_object *req)
{
	struct migd *d = opaque;
	const char *cmd = migd_jstr(req, "cmd");

	if (!cmd)
		return vmm_control_error("missing \"cmd\"");
	if (!strcmp(cmd, "vm-start"))
		return cmd_vm_start(d, req);
	if (!strcmp(cmd, "vm-list"))
		return cmd_vm_list(d);
	if (!strcmp(cmd, "vm-stop"))
		return cmd_vm_stop(d, req);
	if (!strcmp(cmd, "vm-console"))
		return cmd_vm_console(d, req);
	if (!strcmp(cmd, "vm-type"))
		return migd_jstr(req, "data") ? forward(d, req, "console")
					 : vmm_control_error("vm-type needs \"data\"");
	if (!strcmp(cmd, "migrate"))
		return cmd_migrate(d, req);
	if (!strcmp(cmd, "status"))
		return cmd_status(d, req, 0);
	if (!strcmp(cmd, "history"))
		return cmd_status(d, req, 1);
	if (!strcmp(cmd, "cancel"))
		return cmd_cancel(d, req);
	if (!strcmp(cmd, "resolve"))
		return cmd_resolve(d, req);
	return vmm_control_error("unknown command \"%.64s\"", cmd);
}
