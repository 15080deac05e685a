/*
 * lite.c - one live migration between two vmm-lite processes: the target
 * waits with --incoming, the source boots the image (or the Linux kernel
 * with its initramfs and command line), and the harness asks
 * the source over its control socket (one JSON object per line each way)
 * to migrate, then polls "status". The figures are libmigrate's own, from
 * the source's --report file (mig_stats_to_json).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "downtime.h"

#define CTL_WAIT_MS 30000u

/*
 * One request to the source's control socket or the target's, one reply
 * into *rep; `req` is taken. Returns 0 or -errno.
 */
static int ctl(struct dt_mig *m, int target, json_object *req,
	       json_object **rep)
{
	struct dt_jconn *c = target ? &m->tgt_ctl : &m->src_ctl;
	const char *who = target ? "tgt" : "src";
	json_object *v;
	int poll = json_object_object_get_ex(req, "cmd", &v) &&
		   !strcmp(json_object_get_string(v), "status");
	int rc;

	dt_mig_log(m, who, 1, poll, req);
	rc = dt_jconn_send(c, req);
	json_object_put(req);
	*rep = NULL;
	if (!rc)
		rc = dt_jconn_recv(c, rep, CTL_WAIT_MS);
	if (!rc)
		dt_mig_log(m, who, 0, poll, *rep);
	return rc;
}

static json_object *cmd(const char *name)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "cmd", json_object_new_string(name));
	return o;
}

/* Sends a command expecting {"ok":true}. Returns 0 or -1 with `why`. */
static int ctl_ok(struct dt_mig *m, int target, json_object *req,
		  const char *what, json_object **rep_out, char *why,
		  size_t len)
{
	json_object *rep, *v;
	int rc = ctl(m, target, req, &rep);

	if (rc) {
		snprintf(why, len, "vmm-lite %s: %s", what, strerror(-rc));
		return -1;
	}
	if (!json_object_object_get_ex(rep, "ok", &v) ||
	    !json_object_get_boolean(v)) {
		v = NULL;
		json_object_object_get_ex(rep, "error", &v);
		snprintf(why, len, "vmm-lite %s: %s", what,
			 v ? json_object_get_string(v) : "refused");
		json_object_put(rep);
		return -1;
	}
	if (rep_out)
		*rep_out = rep;
	else
		json_object_put(rep);
	return 0;
}

static void tls_args(struct dt_mig *m, int target, char store[3][DT_PATH],
		     char **argv, int *n)
{
	const char *me = target ? "target" : "source";

	snprintf(store[0], DT_PATH, "%s/ca.pem", m->certs);
	snprintf(store[1], DT_PATH, "%s/%s.pem", m->certs, me);
	snprintf(store[2], DT_PATH, "%s/%s.key", m->certs, me);
	argv[(*n)++] = "--tls-ca";
	argv[(*n)++] = store[0];
	argv[(*n)++] = "--tls-cert";
	argv[(*n)++] = store[1];
	argv[(*n)++] = "--tls-key";
	argv[(*n)++] = store[2];
	argv[(*n)++] = "--tls-peer";
	argv[(*n)++] = target ? "source.test" : "target.test";
}

static int spawn_lite(struct dt_mig *m, int target, char *why, size_t len)
{
	const struct dt_opts *o = m->o;
	char tls[3][DT_PATH], ctl_path[DT_PATH], report[DT_PATH], err[DT_PATH],
	    mem[32], cpus[16], addr[64];
	struct dt_proc *p = target ? &m->tgt : &m->src;
	struct dt_jconn *c = target ? &m->tgt_ctl : &m->src_ctl;
	char *argv[40];
	int n = 0, rc;

	dt_mig_local(m, target ? "tgt.ctl" : "src.ctl", ctl_path,
		     sizeof(ctl_path));
	dt_mig_local(m, target ? "tgt-report.json" : "src-report.json", report,
		     sizeof(report));
	dt_mig_local(m, target ? "tgt.err" : "src.err", err, sizeof(err));
	snprintf(mem, sizeof(mem), "%" PRIu64 "M", o->mem_mib);
	snprintf(cpus, sizeof(cpus), "%u", o->cpus);
	snprintf(addr, sizeof(addr), "tcp:127.0.0.1:%u", m->port);
	argv[n++] = (char *)o->vmm_lite;
	if (target) {
		argv[n++] = "--incoming";
		argv[n++] = addr;
	} else {
		argv[n++] = "-m";
		argv[n++] = mem;
		argv[n++] = "-c";
		argv[n++] = cpus;
		if (DT_IS_LINUX(m->w->kind)) {
			argv[n++] = "--kernel";
			argv[n++] = (char *)m->w->kernel;
			argv[n++] = "--initrd";
			argv[n++] = (char *)m->w->initrd;
			argv[n++] = "--append";
			argv[n++] = (char *)m->w->cmdline;
		} else {
			argv[n++] = "--boot";
			argv[n++] = (char *)m->w->image;
		}
		if (o->tracker) {
			argv[n++] = "--dirty-tracker";
			argv[n++] = (char *)o->tracker;
		}
	}
	argv[n++] = "--control";
	argv[n++] = ctl_path;
	argv[n++] = "--report";
	argv[n++] = report;
	tls_args(m, target, tls, argv, &n);
	argv[n] = NULL;
	rc = dt_proc_spawn(p, target ? "vmm-lite target" : "vmm-lite source",
			   argv, err, 0);
	if (rc) {
		snprintf(why, len, "cannot start %s: %s", o->vmm_lite,
			 strerror(-rc));
		return -1;
	}
	rc = dt_jconn_connect(c, ctl_path, 120000, p);
	if (rc) {
		char st[64];

		dt_proc_describe(p, st, sizeof(st));
		snprintf(why, len,
			 "cannot connect to vmm-lite's control socket %s: %s "
			 "(%s %s; see %s.err)",
			 ctl_path, strerror(-rc), p->name, st,
			 target ? "tgt" : "src");
		return -1;
	}
	if (target)
		m->tgt_ctl_open = 1;
	else
		m->src_ctl_open = 1;
	/* Answering "status" proves it is up (the target: listening). */
	return ctl_ok(m, target, cmd("status"), "status", NULL, why, len);
}

static int lite_start(struct dt_mig *m, char *why, size_t len)
{
	return spawn_lite(m, 1, why, len) || spawn_lite(m, 0, why, len) ? -1
									: 0;
}

static int lite_migrate(struct dt_mig *m, char *why, size_t len)
{
	json_object *req = cmd("migrate");
	char addr[64];

	snprintf(addr, sizeof(addr), "tcp:127.0.0.1:%u", m->port);
	json_object_object_add(req, "address", json_object_new_string(addr));
	json_object_object_add(req, "downtime_ms",
			       json_object_new_int((int)m->o->downtime_ms));
	json_object_object_add(req, "bandwidth", json_object_new_int(0));
	return ctl_ok(m, 0, req, "migrate", NULL, why, len);
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static uint64_t get_u64(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return 0;
	return (uint64_t)json_object_get_int64(v);
}

/*
 * The estimate so far: the switch-over decision's, or else the last
 * round's; `old` if neither is there yet.
 */
static uint64_t expected(json_object *mig, uint64_t old)
{
	json_object *rounds;
	size_t n;

	if (get_u64(mig, "expected_downtime_us"))
		return get_u64(mig, "expected_downtime_us");
	if (!mig || !json_object_object_get_ex(mig, "rounds", &rounds) ||
	    !json_object_is_type(rounds, json_type_array))
		return old;
	n = json_object_array_length(rounds);
	return n ? get_u64(json_object_array_get_idx(rounds, n - 1),
			   "expected_downtime_us")
		 : old;
}

/* The source leaves after a successful migration: its exit decides. */
static int source_gone(struct dt_mig *m, int *state, char *why, size_t len)
{
	char st[64];

	if (dt_proc_wait(&m->src, 30000)) {
		snprintf(why, len,
			 "the source closed its control socket "
			 "but did not exit");
		*state = -1;
		return 0;
	}
	if (WIFEXITED(m->src.status) && !WEXITSTATUS(m->src.status)) {
		*state = 1;
		return 0;
	}
	dt_proc_describe(&m->src, st, sizeof(st));
	snprintf(why, len, "the source %s during the migration", st);
	*state = -1;
	return 0;
}

static int lite_poll(struct dt_mig *m, int *state, char *why, size_t len)
{
	json_object *rep = NULL, *mig = NULL;
	const char *vm, *phase;
	int rc;

	*state = 0;
	rc = dt_proc_poll(&m->src) ? -EPIPE : ctl(m, 0, cmd("status"), &rep);
	if (rc == -EPIPE)
		return source_gone(m, state, why, len);
	if (rc) {
		json_object_put(rep);
		snprintf(why, len, "vmm-lite status: %s", strerror(-rc));
		return -1;
	}
	vm = get_str(rep, "vm");
	if (json_object_object_get_ex(rep, "migration", &mig) &&
	    json_object_is_type(mig, json_type_object)) {
		json_object_put(m->last);
		m->last = json_object_get(mig);
	}
	phase = get_str(mig, "phase");
	m->expected_us = expected(mig, m->expected_us);
	if (vm && !strcmp(vm, "migrated")) {
		*state = 1;
	} else if (phase && (!strcmp(phase, "failed") ||
			     !strcmp(phase, "undetermined"))) {
		const char *e = get_str(mig, "error_text");

		snprintf(why, len, "vmm-lite's migration %s: %s", phase,
			 e && *e ? e : "no reason given");
		*state = -1;
	}
	json_object_put(rep);
	return 0;
}

static void lite_cancel(struct dt_mig *m)
{
	json_object *rep;

	if (m->src_ctl_open && !ctl(m, 0, cmd("cancel"), &rep))
		json_object_put(rep);
}

static int lite_stats(struct dt_mig *m, struct dt_run *r, char *why, size_t len)
{
	char path[DT_PATH];
	json_object *st = NULL, *v;

	/* The report is written when the migration ends, before the exit. */
	dt_proc_wait(&m->src, 30000);
	dt_mig_local(m, "src-report.json", path, sizeof(path));
	st = dt_json_file(path);
	if (!st && m->last)
		st = json_object_get(m->last);
	if (!st) {
		snprintf(why, len, "vmm-lite wrote no report (%s)", path);
		return -1;
	}
	r->total_us = get_u64(st, "total_us");
	r->downtime_us = get_u64(st, "downtime_us");
	r->expected_us = get_u64(st, "expected_downtime_us");
	r->setup_us = get_u64(st, "setup_us");
	r->wire_bytes = get_u64(st, "wire_bytes");
	r->rounds = (uint32_t)get_u64(st, "round_count");
	if (!r->rounds && json_object_object_get_ex(st, "rounds", &v) &&
	    json_object_is_type(v, json_type_array))
		r->rounds = (uint32_t)json_object_array_length(v);
	if (json_object_object_get_ex(st, "forced_switchover", &v))
		r->forced = json_object_get_boolean(v);
	json_object_put(st);
	return 0;
}

static int lite_check(struct dt_mig *m, char *why, size_t len)
{
	json_object *rep = NULL;
	const char *vm;
	char st[64];
	int rc = 0;

	if (dt_proc_wait(&m->src, 10000) || !WIFEXITED(m->src.status) ||
	    WEXITSTATUS(m->src.status)) {
		dt_proc_describe(&m->src, st, sizeof(st));
		snprintf(why, len,
			 "the source %s after the migration "
			 "(expected: exited with status 0)",
			 st);
		return -1;
	}
	if (dt_proc_poll(&m->tgt)) {
		dt_proc_describe(&m->tgt, st, sizeof(st));
		snprintf(why, len, "the target %s", st);
		return -1;
	}
	if (ctl_ok(m, 1, cmd("status"), "status", &rep, why, len))
		return -1;
	vm = get_str(rep, "vm");
	if (!vm || strcmp(vm, "running")) {
		snprintf(why, len, "the target's guest is %s, not running",
			 vm ? vm : "in no state");
		rc = -1;
	}
	json_object_put(rep);
	return rc;
}

/* The target's control socket types to its guest's UART. */
static int lite_console(struct dt_mig *m, const char *text, char *why,
			size_t len)
{
	json_object *req = cmd("console");

	json_object_object_add(req, "data", json_object_new_string(text));
	return ctl_ok(m, 1, req, "console", NULL, why, len);
}

static void quit(struct dt_mig *m, int target)
{
	struct dt_jconn *c = target ? &m->tgt_ctl : &m->src_ctl;
	struct dt_proc *p = target ? &m->tgt : &m->src;
	int *open = target ? &m->tgt_ctl_open : &m->src_ctl_open;
	json_object *rep;

	if (*open && !dt_proc_poll(p) && !ctl(m, target, cmd("quit"), &rep)) {
		json_object_put(rep);
		dt_proc_wait(p, 5000);
	}
	if (*open)
		dt_jconn_close(c);
	*open = 0;
	dt_proc_end(p);
}

static void lite_stop(struct dt_mig *m)
{
	quit(m, 0);
	quit(m, 1);
}

const struct dt_vmm dt_vmm_lite = {
    .name = "vmm-lite",
    .start = lite_start,
    .migrate = lite_migrate,
    .poll = lite_poll,
    .cancel = lite_cancel,
    .stats = lite_stats,
    .check = lite_check,
    .console = lite_console,
    .stop = lite_stop,
};
