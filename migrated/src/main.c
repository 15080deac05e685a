/*
 * main.c: the migrated process: options, set-up (directories, metrics,
 * the peer listener, the control socket), finding the VMs an earlier
 * daemon left, the watch over them, and a stop that leaves them running.
 */
#include <errno.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "control.h"
#include "daemon.h"
#include "log.h"
#include "peer.h"

#define TICK_MS 1000
#define FINISH_WAIT_S 10
#define MIGD_VERSION "0.5.0"

static void usage(FILE *f)
{
	fputs("usage: migrated [--config FILE] [--verbose]\n"
	      "\n"
	      "The per-host daemon of the live-migration stack: runs the host's vmm-lite\n"
	      "VMs and migrates them to and from peer daemons (docs/operations.md).\n"
	      "\n"
	      "  -c, --config FILE   configuration (default " MIGD_CONFIG_DEFAULT_PATH ")\n"
	      "  -v, --verbose       debug logging\n"
	      "  -V, --version\n"
	      "  -h, --help\n",
	      f);
}

/* Which name a peer daemon goes by: one of [peer] accept that its
 * certificate carries, or with no list, the certificate's own name. */
static const char *identify(void *opaque, X509 *cert)
{
	static _Thread_local char own[256];
	struct migd *d = opaque;

	if (!d->cfg->peer.n_accept)
		return migd_peer_cert_name(cert, own, sizeof(own));
	for (size_t i = 0; i < d->cfg->peer.n_accept; i++)
		if (X509_check_host(cert, d->cfg->peer.accept[i], 0, 0, NULL) == 1)
			return d->cfg->peer.accept[i];
	return NULL;
}

/* Its supplementary groups, from /proc: SO_PEERCRED gives only the
 * primary one. */
static int pid_in_group(pid_t pid, gid_t gid)
{
	char path[64], line[1024];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + 7, *end;

		if (strncmp(line, "Groups:", 7))
			continue;
		for (;;) {
			unsigned long g = strtoul(p, &end, 10);

			if (end == p)
				break;
			if ((gid_t)g == gid)
				found = 1;
			p = end;
		}
	}
	fclose(f);
	return found;
}

static int authorize(void *opaque, pid_t pid, uid_t uid, gid_t gid, char *why, size_t len)
{
	struct migd *d = opaque;

	if (uid == 0 || uid == geteuid())
		return 1;
	if (d->control_gid != (gid_t)-1 && (gid == d->control_gid || pid_in_group(pid, d->control_gid)))
		return 1;
	snprintf(why, len, "permission denied: uid %u is neither migrated's user nor in group %s",
		 (unsigned)uid, d->cfg->control.group[0] ? d->cfg->control.group : "(none configured)");
	return 0;
}

/*
 * An incoming guest runs here, but its source daemon never said "finish"
 * (it died, or lost us): the VMMs committed, so the VM is ours. Waits
 * FINISH_WAIT_S first, so the usual finish wins the race.
 */
static void adopt_arrival(struct migd *d, struct migd_vm *vm)
{
	struct migd_mig *m = migd_find_mig(d, vm->mig_id);

	migd_log(LOG_NOTICE, "vm %s arrived by migration %s and runs here; %s never finished it",
		 vm->name, vm->mig_id, vm->mig_peer);
	if (m && m->phase < MIGD_PH_DONE)
		migd_mig_end(d, m, MIGD_PH_DONE, NULL);
	vm->mig_id[0] = vm->mig_peer[0] = '\0';
	vm->state = MIGD_VM_RUNNING;
	migd_vm_save(vm);
}

/* What a VM's VMM says now, for every VM no migration thread follows. */
static void on_tick(uv_timer_t *t)
{
	struct migd *d = t->data;
	struct watch {
		struct migd_vm copy;
		enum migd_vm_state now;
	} *w = NULL;
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&d->lock);
	for (struct migd_vm *vm = d->vms; vm; vm = vm->next) {
		if (vm->spawning || vm->state == MIGD_VM_MIGRATING ||
		    vm->state == MIGD_VM_UNDETERMINED || vm->state == MIGD_VM_STOPPED)
			continue;
		if (n == cap) {
			struct watch *bigger = realloc(w, (cap = cap ? cap * 2 : 8) * sizeof(*w));

			if (!bigger)
				break;
			w = bigger;
		}
		w[n].copy = migd_vm_probe(vm);
		n++;
	}
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < n; i++)
		w[i].now = migd_vm_query(&w[i].copy);
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < n; i++) {
		struct migd_vm *vm = migd_find_vm(d, w[i].copy.name);

		if (!vm || vm->spawning || vm->state == MIGD_VM_MIGRATING ||
		    vm->state == MIGD_VM_UNDETERMINED)
			continue;
		if (vm->mig_id[0] && w[i].now == MIGD_VM_RUNNING && !vm->arrived_at)
			vm->arrived_at = time(NULL);
		if (vm->mig_id[0] && vm->arrived_at && w[i].now == MIGD_VM_RUNNING &&
		    time(NULL) - vm->arrived_at >= FINISH_WAIT_S)
			adopt_arrival(d, vm);
		if (vm->state == w[i].now)
			continue;
		if (vm->state == MIGD_VM_INCOMING && w[i].now == MIGD_VM_STOPPED) {
			struct migd_mig *m = migd_find_mig(d, vm->mig_id);

			if (m && m->phase < MIGD_PH_DONE)
				migd_mig_end(d, m, MIGD_PH_FAILED,
					     "the incoming VMM exited before the guest ran here");
			migd_vm_retire(&d->env, vm, vm->mig_id);
			migd_drop_vm(d, vm);
			continue;
		}
		if (vm->state == MIGD_VM_INCOMING && w[i].now == MIGD_VM_INCOMING)
			continue;
		if (w[i].now == MIGD_VM_STOPPED)
			migd_log(LOG_WARNING, "vm %s stopped: its VMM exited (log: %s/vmm.log)",
				 vm->name, vm->dir);
		vm->state = w[i].now;
	}
	migd_update_gauges(d);
	pthread_mutex_unlock(&d->lock);
	free(w);
}

/* A migration an earlier daemon left in flight: follow it again. */
static void resume(struct migd *d, struct migd_vm *vm)
{
	int outgoing = vm->mig_out;
	struct migd_mig *m;

	if (!vm->mig_id[0] || !vm->mig_peer[0])
		return;
	if (outgoing && (vm->state == MIGD_VM_MIGRATING || vm->state == MIGD_VM_UNDETERMINED)) {
		m = migd_mig_new(d, MIGD_DIR_OUT, vm->name, vm->mig_peer, vm->mig_id);
		if (!m)
			return;
		m->resumed = 1;
		m->phase = vm->state == MIGD_VM_UNDETERMINED ? MIGD_PH_UNDETERMINED : MIGD_PH_PERFORM;
		if (migd_migration_start(d, m))
			migd_mig_end(d, m, MIGD_PH_FAILED, "cannot follow it after a restart");
		else
			migd_log(LOG_NOTICE, "migration %s of %s: followed again after a restart",
				 m->id, vm->name);
	} else if (!outgoing && vm->state != MIGD_VM_STOPPED) {
		m = migd_mig_new(d, MIGD_DIR_IN, vm->name, vm->mig_peer, vm->mig_id);
		if (m)
			m->phase = MIGD_PH_PERFORM;
	} else if (outgoing) {
		vm->mig_id[0] = vm->mig_peer[0] = '\0';
		migd_vm_save(vm);
	}
}

/* An outgoing migration that ended while no daemon watched: if the VMM's
 * report says it completed, the guest lives on the peer now. Returns 1
 * when the VM left (and was retired). */
static int departed_meanwhile(struct migd *d, struct migd_vm *vm)
{
	char path[PATH_MAX + 16];
	struct json_object *o, *v;
	struct migd_mig *m;
	int done;

	if (!vm->mig_out || !vm->mig_id[0] || vm->state != MIGD_VM_STOPPED)
		return 0;
	snprintf(path, sizeof(path), "%s/report.json", vm->dir);
	o = json_object_from_file(path);
	done = o && json_object_object_get_ex(o, "phase", &v) &&
	       !strcmp(json_object_get_string(v), "done");
	json_object_put(o);
	if (!done)
		return 0;
	m = migd_mig_new(d, MIGD_DIR_OUT, vm->name, vm->mig_peer, vm->mig_id);
	if (m)
		migd_mig_end(d, m, MIGD_PH_DONE, NULL);
	migd_log(LOG_NOTICE, "vm %s left for %s by migration %s while the daemon was down",
		 vm->name, vm->mig_peer, vm->mig_id);
	migd_vm_retire(&d->env, vm, vm->mig_id);
	return 1;
}

static void adopt(struct migd *d)
{
	struct migd_vm *list = NULL, *next;
	int r = migd_vms_adopt(&d->env, &list);

	if (r)
		migd_log(LOG_ERR, "cannot read %s/vms: %s", d->env.state_dir, strerror(-r));
	for (struct migd_vm *vm = list; vm; vm = next) {
		next = vm->next;
		if (departed_meanwhile(d, vm)) {
			migd_vm_free(vm);
			continue;
		}
		migd_add_vm(d, vm);
		migd_log(LOG_NOTICE, "vm %s found again: state=%s pid=%d", vm->name,
			 migd_vm_state_name(vm->state), (int)vm->pid);
		resume(d, vm);
	}
}

static void on_hup(uv_signal_t *h, int signum)
{
	(void)h;
	(void)signum;
	migd_log(LOG_NOTICE, "SIGHUP: the configuration is read only at start; restart migrated to change it (the VMs keep running)");
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct migd *d = h->data;

	migd_log(LOG_NOTICE, "signal %d: stopping; the VMs keep running", signum);
	pthread_mutex_lock(&d->lock);
	d->stopping = 1;
	pthread_mutex_unlock(&d->lock);
	vmm_control_stop(d->control);
	d->control = NULL;
	uv_close((uv_handle_t *)&d->tick, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
}

static int setup(struct migd *d, char *err, size_t err_len)
{
	const struct migd_config *c = d->cfg;
	int r;

	struct in_addr a4;

	/* The peer listener and the VMMs' migration streams are IPv4. */
	if (inet_pton(AF_INET, c->peer.listen.host, &a4) != 1 ||
	    inet_pton(AF_INET, c->peer.migration_address, &a4) != 1) {
		snprintf(err, err_len, "%s: [peer] listen and migration_address must be IPv4 addresses",
			 c->path);
		return -EINVAL;
	}
	/* 0755: the sockets' and files' own modes guard what is inside. */
	if ((r = migd_mkdir_p(c->host.state_dir, 0755)) || (r = migd_mkdir_p(c->host.run_dir, 0755))) {
		snprintf(err, err_len, "directories %s, %s: %s", c->host.state_dir, c->host.run_dir,
			 strerror(-r));
		return r;
	}
	if (c->control.group[0]) {
		struct group *g = getgrnam(c->control.group);

		if (!g) {
			snprintf(err, err_len, "[control] group %s: no such group", c->control.group);
			return -ENOENT;
		}
		d->control_gid = g->gr_gid;
	}
	r = migd_metrics_new(&d->metrics, MIGD_VERSION);
	if (r) {
		snprintf(err, err_len, "metrics: %s", strerror(-r));
		return r;
	}
	if (c->metrics.enabled) {
		r = migd_metrics_serve(d->metrics, c->metrics.listen.host, c->metrics.listen.port,
				       err, err_len);
		if (r)
			return r;
	}
	migd_history_load(d);
	adopt(d);
	r = migd_peer_listen(&d->peer, c->peer.listen.host, c->peer.listen.port, &d->tls,
			     identify, migd_peer_request, d, err, err_len);
	if (r)
		return r;
	r = vmm_control_start(&d->control, d->loop, c->control.socket, migd_on_command, d);
	if (!r)
		r = vmm_control_share(d->control, d->control_gid, authorize, d);
	if (r) {
		snprintf(err, err_len, "control socket %s: %s", c->control.socket, strerror(-r));
		return r;
	}
	uv_timer_init(d->loop, &d->tick);
	d->tick.data = d;
	uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
	uv_signal_init(d->loop, &d->sigint);
	uv_signal_init(d->loop, &d->sigterm);
	d->sigint.data = d->sigterm.data = d;
	uv_signal_start(&d->sigint, on_signal, SIGINT);
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_init(d->loop, &d->sighup);
	uv_signal_start(&d->sighup, on_hup, SIGHUP);
	migd_log(LOG_NOTICE, "migrated %s on %s: control %s, peers on %s:%u, metrics %s",
		 MIGD_VERSION, c->host.name, c->control.socket, c->peer.listen.host,
		 migd_peer_port(d->peer), c->metrics.enabled ? "on" : "off");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	struct migd d = { .control_gid = (gid_t)-1 };
	uv_loop_t loop;
	char err[3 * PATH_MAX];
	int c, r;

	while ((c = getopt_long(argc, argv, "c:vVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'v': migd_log_set_level(LOG_DEBUG); break;
		case 'V': puts("migrated " MIGD_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	r = migd_config_load(&d.cfg, path, err, sizeof(err));
	if (r) {
		migd_log(LOG_ERR, "%s", err);
		return 1;
	}
	d.env = (struct migd_vm_env){
		.state_dir = d.cfg->host.state_dir, .run_dir = d.cfg->host.run_dir,
		.vmm = d.cfg->host.vmm, .tls_ca = d.cfg->tls.ca, .tls_cert = d.cfg->tls.cert,
		.tls_key = d.cfg->tls.key, .downtime_ms = d.cfg->migration.downtime_ms,
		.bandwidth = d.cfg->migration.bandwidth,
	};
	d.tls = (struct mig_tls_params){
		.ca_file = d.cfg->tls.ca, .cert_file = d.cfg->tls.cert, .key_file = d.cfg->tls.key,
	};
	/* A peer or client gone mid-answer is an error to handle, not a
	 * reason to die. */
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&d.lock, NULL);
	pthread_cond_init(&d.cond, NULL);
	uv_loop_init(&loop);
	d.loop = &loop;
	r = setup(&d, err, sizeof(err));
	if (r) {
		migd_log(LOG_ERR, "%s", err);
		return 1;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	migd_peer_stop(d.peer);
	/* Migration threads may still follow their VMMs: the process ends
	 * under them, and the next daemon follows those migrations again.
	 * Nothing is freed that they use. */
	pthread_mutex_lock(&d.lock);
	r = (int)d.threads;
	pthread_mutex_unlock(&d.lock);
	if (!r) {
		migd_metrics_free(d.metrics);
		migd_config_free(d.cfg);
	}
	return 0;
}
