/*
 * qemu.c - one live migration between two QEMU processes, driven over
 * QMP, configured to match ours: TLS with certificates verified on both
 * sides (the target also authorises the source's name, as our target
 * does with --tls-peer), the same downtime limit, no bandwidth cap.
 *
 * Names are QEMU 7.2's (Debian 12): migrate-set-parameters takes
 * downtime-limit (ms), max-bandwidth (bytes/s), tls-creds, tls-hostname,
 * tls-authz; query-migrate answers total-time, downtime and setup-time in
 * ms, expected-downtime only while the migration is active, and
 * ram.transferred / ram.dirty-sync-count.
 *
 * The guest's serial line is QEMU's stdio: its stdout goes to the
 * harness's serial thread, and the target's stdin is a pipe the harness
 * types into (the Linux guest's console).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "downtime.h"

#define QMP_WAIT_MS 30000u
#define CONNECT_MS  120000u
/* "Unlimited", and still inside QEMU's accepted range. */
#define QEMU_MAX_BANDWIDTH (1024ull << 30)

static int qmp_id;
static char qemu_version[64];

const char *dt_qemu_version(void)
{
	return qemu_version;
}

/* Keeps the version the greeting announces ({"QMP":{"version":...}}). */
static void greeting(json_object *o)
{
	json_object *q, *v;
	int64_t n[3] = {0, 0, 0};
	static const char *const key[3] = {"major", "minor", "micro"};

	if (!json_object_object_get_ex(o, "QMP", &q) ||
	    !json_object_object_get_ex(q, "version", &v) ||
	    !json_object_object_get_ex(v, "qemu", &v))
		return;
	for (int i = 0; i < 3; i++) {
		json_object *x;

		if (json_object_object_get_ex(v, key[i], &x))
			n[i] = json_object_get_int64(x);
	}
	snprintf(qemu_version, sizeof(qemu_version),
		 "%" PRId64 ".%" PRId64 ".%" PRId64, n[0], n[1], n[2]);
}

/*
 * Sends `cmd` with `args` (taken, may be NULL) to the target's QMP or the
 * source's, and waits for its reply; *ret (may be NULL) gets "return".
 */
static int qmp(struct dt_mig *m, int target, const char *cmd, json_object *args,
	       json_object **ret, char *why, size_t len)
{
	struct dt_jconn *c = target ? &m->tgt_ctl : &m->src_ctl;
	const char *who = target ? "tgt" : "src";
	int poll = !strcmp(cmd, "query-migrate");
	json_object *req = json_object_new_object(), *rep = NULL, *v;
	int id = ++qmp_id, rc;

	if (ret)
		*ret = NULL;
	json_object_object_add(req, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(req, "arguments", args);
	json_object_object_add(req, "id", json_object_new_int(id));
	dt_mig_log(m, who, 1, poll, req);
	rc = dt_jconn_send(c, req);
	json_object_put(req);
	while (!rc) {
		rc = dt_jconn_recv(c, &rep, QMP_WAIT_MS);
		if (rc)
			break;
		/* Events and the greeting carry no id. */
		if (json_object_object_get_ex(rep, "id", &v) &&
		    json_object_get_int(v) == id)
			break;
		dt_mig_log(m, who, 0, 0, rep);
		greeting(rep);
		json_object_put(rep);
		rep = NULL;
	}
	if (rc) {
		snprintf(why, len, "QMP %s: %s", cmd, strerror(-rc));
		return -1;
	}
	dt_mig_log(m, who, 0, poll, rep);
	if (json_object_object_get_ex(rep, "error", &v)) {
		json_object *d = NULL;

		json_object_object_get_ex(v, "desc", &d);
		snprintf(why, len, "QMP %s: %s", cmd,
			 d ? json_object_get_string(d) : "error");
		json_object_put(rep);
		return -1;
	}
	if (ret && json_object_object_get_ex(rep, "return", &v))
		*ret = json_object_get(v);
	json_object_put(rep);
	return 0;
}

static int qmp_open(struct dt_mig *m, int target, const char *path, char *why,
		    size_t len)
{
	struct dt_jconn *c = target ? &m->tgt_ctl : &m->src_ctl;
	struct dt_proc *p = target ? &m->tgt : &m->src;
	int rc = dt_jconn_connect(c, path, CONNECT_MS, p);

	if (rc) {
		char st[64];

		dt_proc_describe(p, st, sizeof(st));
		snprintf(why, len,
			 "cannot connect to QEMU's QMP %s: %s (%s %s)", path,
			 strerror(-rc), p->name, st);
		return -1;
	}
	if (target)
		m->tgt_ctl_open = 1;
	else
		m->src_ctl_open = 1;
	return qmp(m, target, "qmp_capabilities", NULL, NULL, why, len);
}

static int spawn_qemu(struct dt_mig *m, int target, char *why, size_t len)
{
	const struct dt_opts *o = m->o;
	const char *role = target ? "target" : "source";
	char mem[32], smp[16], drive[DT_PATH + 32], qmp_arg[DT_PATH + 32],
	    tls[DT_PATH + 96], qmp_path[DT_PATH], err[DT_PATH];
	int kvm = !strcmp(o->qemu_accel, "kvm"),
	    linux_guest = DT_IS_LINUX(m->w->kind);
	char *argv[48];
	int n = 0, rc;

	dt_mig_local(m, target ? "tgt.qmp" : "src.qmp", qmp_path,
		     sizeof(qmp_path));
	dt_mig_local(m, target ? "tgt.err" : "src.err", err, sizeof(err));
	snprintf(mem, sizeof(mem), "%" PRIu64, o->mem_mib);
	snprintf(smp, sizeof(smp), "%u", o->cpus);
	snprintf(drive, sizeof(drive), "format=raw,file=%s", m->w->image);
	snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s,server=on,wait=off",
		 qmp_path);
	snprintf(tls, sizeof(tls),
		 "tls-creds-x509,id=tls0,dir=%s,endpoint=%s,verify-peer=on",
		 m->qcerts, target ? "server" : "client");
	argv[n++] = (char *)o->qemu;
	argv[n++] = "-accel";
	argv[n++] = (char *)o->qemu_accel;
	argv[n++] = "-machine";
	argv[n++] = "pc";
	argv[n++] = "-cpu";
	argv[n++] = kvm ? "host" : "max";
	argv[n++] = "-m";
	argv[n++] = mem;
	argv[n++] = "-smp";
	argv[n++] = smp;
	if (linux_guest) {
		/* Both ends load the same files: the target's option ROM
		 * and fw_cfg must match the source's. A panic or a reset
		 * ends QEMU rather than booting the guest again. */
		argv[n++] = "-kernel";
		argv[n++] = (char *)m->w->kernel;
		argv[n++] = "-initrd";
		argv[n++] = (char *)m->w->initrd;
		argv[n++] = "-append";
		argv[n++] = (char *)m->w->cmdline;
		argv[n++] = "-no-reboot";
	} else {
		argv[n++] = "-drive";
		argv[n++] = drive;
	}
	argv[n++] = "-serial";
	argv[n++] = "stdio";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-nodefaults";
	argv[n++] = "-device";
	argv[n++] = "isa-debug-exit,iobase=0x501,iosize=2";
	argv[n++] = "-qmp";
	argv[n++] = qmp_arg;
	argv[n++] = "-object";
	argv[n++] = tls;
	if (target) {
		argv[n++] = "-object";
		argv[n++] = "authz-simple,id=auth0,identity=CN=source.test";
		argv[n++] = "-incoming";
		argv[n++] = "defer";
	}
	argv[n] = NULL;
	rc = dt_proc_spawn(target ? &m->tgt : &m->src,
			   target ? "QEMU target" : "QEMU source", argv, err,
			   target && linux_guest);
	if (rc) {
		snprintf(why, len, "cannot start %s (%s): %s", o->qemu, role,
			 strerror(-rc));
		return -1;
	}
	return qmp_open(m, target, qmp_path, why, len);
}

/* Throttles the source's vCPUs until the migration converges. */
static int auto_converge(struct dt_mig *m, char *why, size_t len)
{
	json_object *a = json_object_new_object(),
		    *caps = json_object_new_array(),
		    *c = json_object_new_object();

	json_object_object_add(c, "capability",
			       json_object_new_string("auto-converge"));
	json_object_object_add(c, "state", json_object_new_boolean(1));
	json_object_array_add(caps, c);
	json_object_object_add(a, "capabilities", caps);
	return qmp(m, 0, "migrate-set-capabilities", a, NULL, why, len);
}

static int qemu_start(struct dt_mig *m, char *why, size_t len)
{
	json_object *a;
	char uri[64];

	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%u", m->port);
	if (spawn_qemu(m, 1, why, len))
		return -1;
	a = json_object_new_object();
	json_object_object_add(a, "tls-creds", json_object_new_string("tls0"));
	json_object_object_add(a, "tls-authz", json_object_new_string("auth0"));
	if (qmp(m, 1, "migrate-set-parameters", a, NULL, why, len))
		return -1;
	a = json_object_new_object();
	json_object_object_add(a, "uri", json_object_new_string(uri));
	if (qmp(m, 1, "migrate-incoming", a, NULL, why, len))
		return -1;
	if (spawn_qemu(m, 0, why, len))
		return -1;
	a = json_object_new_object();
	json_object_object_add(a, "tls-creds", json_object_new_string("tls0"));
	json_object_object_add(a, "tls-hostname",
			       json_object_new_string("target.test"));
	json_object_object_add(a, "downtime-limit",
			       json_object_new_uint64(m->o->downtime_ms));
	json_object_object_add(a, "max-bandwidth",
			       json_object_new_uint64(QEMU_MAX_BANDWIDTH));
	if (qmp(m, 0, "migrate-set-parameters", a, NULL, why, len))
		return -1;
	return m->o->auto_converge ? auto_converge(m, why, len) : 0;
}

static int qemu_migrate(struct dt_mig *m, char *why, size_t len)
{
	json_object *a = json_object_new_object();
	char uri[64];

	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%u", m->port);
	json_object_object_add(a, "uri", json_object_new_string(uri));
	return qmp(m, 0, "migrate", a, NULL, why, len);
}

static uint64_t get_u64(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	return (uint64_t)json_object_get_int64(v);
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static int qemu_poll(struct dt_mig *m, int *state, char *why, size_t len)
{
	json_object *r;
	const char *st, *err;

	*state = 0;
	if (qmp(m, 0, "query-migrate", NULL, &r, why, len))
		return -1;
	st = get_str(r, "status");
	if (st && !strcmp(st, "active") &&
	    json_object_object_get_ex(r, "expected-downtime", NULL))
		m->expected_us = get_u64(r, "expected-downtime") * 1000;
	json_object_put(m->last);
	m->last = r;
	/* QEMU says "completed" a moment before it has computed the times
	 * (total-time and downtime read 0 then): ask again. */
	if (st && !strcmp(st, "completed") && get_u64(r, "total-time")) {
		*state = 1;
	} else if (st && (!strcmp(st, "failed") || !strcmp(st, "cancelled"))) {
		err = get_str(r, "error-desc");
		snprintf(why, len, "QEMU's migration %s: %s", st,
			 err ? err : "no reason given");
		*state = -1;
	}
	return 0;
}

static void qemu_cancel(struct dt_mig *m)
{
	char why[DT_WHY];

	qmp(m, 0, "migrate_cancel", NULL, NULL, why, sizeof(why));
}

static int qemu_stats(struct dt_mig *m, struct dt_run *r, char *why, size_t len)
{
	json_object *ram = NULL;

	if (!m->last ||
	    !json_object_object_get_ex(m->last, "total-time", NULL)) {
		snprintf(why, len, "QEMU reported no figures");
		return -1;
	}
	json_object_object_get_ex(m->last, "ram", &ram);
	r->total_us = get_u64(m->last, "total-time") * 1000;
	r->downtime_us = get_u64(m->last, "downtime") * 1000;
	r->setup_us = get_u64(m->last, "setup-time") * 1000;
	r->wire_bytes = get_u64(ram, "transferred");
	r->rounds = (uint32_t)get_u64(ram, "dirty-sync-count");
	r->expected_us = m->expected_us;
	return 0;
}

static int qemu_check(struct dt_mig *m, char *why, size_t len)
{
	json_object *r;
	const char *st;
	int rc = 0;

	if (qmp(m, 1, "query-status", NULL, &r, why, len))
		return -1;
	st = get_str(r, "status");
	if (!st || strcmp(st, "running")) {
		snprintf(why, len, "the target is %s, not running",
			 st ? st : "in no state");
		rc = -1;
	}
	json_object_put(r);
	if (rc || qmp(m, 0, "query-status", NULL, &r, why, len))
		return -1;
	st = get_str(r, "status");
	if (!st || strcmp(st, "postmigrate")) {
		snprintf(why, len, "the source is %s after the migration",
			 st ? st : "in no state");
		rc = -1;
	}
	json_object_put(r);
	return rc;
}

/* The target's stdin is its serial line's input. */
static int qemu_console(struct dt_mig *m, const char *text, char *why,
			size_t len)
{
	int rc = dt_proc_type(&m->tgt, text);

	if (rc)
		snprintf(why, len, "cannot type on QEMU's console: %s",
			 strerror(-rc));
	return rc ? -1 : 0;
}

static void quit(struct dt_mig *m, int target)
{
	struct dt_jconn *c = target ? &m->tgt_ctl : &m->src_ctl;
	struct dt_proc *p = target ? &m->tgt : &m->src;
	int *open = target ? &m->tgt_ctl_open : &m->src_ctl_open;
	char why[DT_WHY];

	if (*open && !dt_proc_poll(p)) {
		qmp(m, target, "quit", NULL, NULL, why, sizeof(why));
		dt_proc_wait(p, 5000);
	}
	if (*open)
		dt_jconn_close(c);
	*open = 0;
	dt_proc_end(p);
}

static void qemu_stop(struct dt_mig *m)
{
	quit(m, 0);
	quit(m, 1);
}

const struct dt_vmm dt_vmm_qemu = {
    .name = "qemu",
    .start = qemu_start,
    .migrate = qemu_migrate,
    .poll = qemu_poll,
    .cancel = qemu_cancel,
    .stats = qemu_stats,
    .check = qemu_check,
    .console = qemu_console,
    .stop = qemu_stop,
};
