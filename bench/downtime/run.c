/*
 * run.c - one run of one workload under one VMM, the same steps for
 * both: start the target and the source, let the guest warm up, migrate,
 * poll to the end, take the VMM's figures, let the guest run on the
 * target, check both processes, end them, and read the guest's serial
 * output for the pause it saw and the proof that it continued. The Linux
 * guest waits for its boot and its heartbeats instead of passes, and
 * gets a command typed on the target's console.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "downtime.h"

#define POLL_MS 50u
/* The wait for the answer to a typed command; the verdict is linux.c's. */
#define ANSWER_MS 60000u

void dt_mig_path(const struct dt_mig *m, const char *name, char *buf,
		 size_t len)
{
	snprintf(buf, len, "%s/%s", m->dir, name);
}

/* Whether a process the run needs has died; says which in `why`. */
static int died(struct dt_proc *p, char *why, size_t len)
{
	char st[64];

	if (!dt_proc_poll(p))
		return 0;
	dt_proc_describe(p, st, sizeof(st));
	snprintf(why, len, "the %s %s", p->name, st);
	return 1;
}

/* What a wait for the guest's lines waits for, all of it. */
struct until {
	int side, kind;
	size_t count;	   /* lines of `kind` from `side` */
	uint32_t passes;   /* PASSES in the last (a guest that does not
			      count passes: any line) */
	uint64_t verified; /* VERIFIED in the last, above this */
};

static int reached(struct dt_serial *s, const struct until *u,
		   struct dt_line *l)
{
	size_t n = dt_serial_last(s, u->side, u->kind, l);

	return n && n >= u->count &&
	       (l->fields < 2 || l->passes >= u->passes) &&
	       (!u->verified || l->verified > u->verified);
}

/*
 * Waits until the lines say `u`, the process `p` staying alive. Returns
 * 0, or -1 with `why`.
 */
static int wait_lines(struct dt_serial *s, struct dt_proc *p,
		      const struct until *u, uint32_t ms, const char *what,
		      char *why, size_t len)
{
	uint64_t end = dt_now_ns() + (uint64_t)ms * 1000000u;
	struct dt_line l;

	while (!reached(s, u, &l)) {
		if (died(p, why, len))
			return -1;
		if (dt_now_ns() >= end) {
			snprintf(
			    why, len,
			    "%s: %s after %u s (%zu line(s), passes %u, "
			    "verified %" PRIu64 "; waiting for %zu, %u, "
			    "above %" PRIu64 ")",
			    what, l.t_ns ? "too slow" : "no line", ms / 1000,
			    dt_serial_last(s, u->side, u->kind, NULL), l.passes,
			    l.verified, u->count, u->passes, u->verified);
			return -1;
		}
		dt_sleep_ms(POLL_MS);
	}
	return 0;
}

static int wait_passes(struct dt_serial *s, struct dt_proc *p, int side,
		       uint32_t passes, uint32_t ms, const char *what,
		       char *why, size_t len)
{
	struct until u = {side, DT_LINE_COUNTER, 1, passes, 0};

	return wait_lines(s, p, &u, ms, what, why, len);
}

/* Sleeps `ms` while `p` stays alive. Returns 0 or -1 with `why`. */
static int stay(struct dt_proc *p, uint32_t ms, char *why, size_t len)
{
	uint64_t end = dt_now_ns() + (uint64_t)ms * 1000000u;

	while (dt_now_ns() < end) {
		if (died(p, why, len))
			return -1;
		dt_sleep_ms(POLL_MS);
	}
	return 0;
}

/* The migration itself: command, polls, figures. */
static int migrate(struct dt_mig *m, const struct dt_vmm *vmm, struct dt_run *r,
		   uint64_t *t0, uint64_t *t1)
{
	uint64_t lo0, deadline;
	int state = 0;

	lo0 = dt_lo_bytes();
	*t0 = dt_now_ns();
	deadline = *t0 + (uint64_t)m->o->timeout_s * 1000000000u;
	if (vmm->migrate(m, r->why, sizeof(r->why)))
		return -1;
	while (!state) {
		if (dt_now_ns() >= deadline) {
			vmm->cancel(m);
			snprintf(r->why, sizeof(r->why),
				 "no completion within %u s (--timeout-s), "
				 "expected downtime %.1f ms at the last poll "
				 "(limit %u ms); cancelled",
				 m->o->timeout_s,
				 (double)m->expected_us / 1000.0,
				 m->o->downtime_ms);
			return -1;
		}
		if (vmm->poll(m, &state, r->why, sizeof(r->why)))
			return -1;
		if (!state) {
			if (died(&m->tgt, r->why, sizeof(r->why)))
				return -1;
			dt_sleep_ms(POLL_MS);
		}
	}
	*t1 = dt_now_ns();
	r->wall_us = (*t1 - *t0) / 1000;
	r->lo_bytes = dt_lo_bytes() - lo0;
	if (state < 0)
		return -1;
	return vmm->stats(m, r, r->why, sizeof(r->why));
}

/*
 * Linux before the migration: booted (init's marker), its workload
 * through the fill of its working set (PASSES 1) and a few heartbeats.
 * The boot takes what it takes; no figure includes it.
 */
static int linux_ready(struct dt_mig *m, struct dt_serial *s, char *why,
		       size_t len)
{
	uint32_t ms = m->o->timeout_s * 1000u;
	struct until boot = {DT_SRC, DT_LINE_READY, 1, 0, 0},
		     hb = {DT_SRC, DT_LINE_HEARTBEAT, DT_LINUX_HB_READY, 1, 0};

	if (wait_lines(s, &m->src, &boot, ms,
		       "the source's Linux: no \"vmm-guest: init ready\"", why,
		       len))
		return -1;
	return wait_lines(s, &m->src, &hb, ms, "the source's Linux workload",
			  why, len);
}

/*
 * Linux after: heartbeats on the target, its workload verifying pages
 * there, and a command typed on its console. No answer is no failure
 * here: dt_linux_analyse() judges it with everything else.
 */
static int linux_after(struct dt_mig *m, const struct dt_vmm *vmm,
		       struct dt_serial *s, char *why, size_t len)
{
	struct until hb = {DT_TGT, DT_LINE_HEARTBEAT, DT_LINUX_HB_READY, 0, 0},
		     answer = {DT_TGT, DT_LINE_ANSWER, 1, 0, 0};
	struct dt_line last;

	dt_serial_last(s, DT_SRC, DT_LINE_HEARTBEAT, &last);
	hb.verified = last.verified;
	if (wait_lines(s, &m->tgt, &hb, m->o->timeout_s * 1000u,
		       "the target's Linux workload", why, len) ||
	    vmm->console(m, DT_ANSWER_CMD, why, len))
		return -1;
	if (wait_lines(s, &m->tgt, &answer, ANSWER_MS, "", why, len) &&
	    dt_proc_poll(&m->tgt))
		return -1;
	why[0] = '\0';
	return 0;
}

static int run_steps(struct dt_mig *m, const struct dt_vmm *vmm,
		     struct dt_serial *s, struct dt_run *r, uint64_t *t0,
		     uint64_t *t1)
{
	const struct dt_opts *o = m->o;
	int linux_guest = DT_IS_LINUX(m->w->kind);
	char *why = r->why;
	size_t len = sizeof(r->why);
	struct dt_line last;
	uint64_t spent;

	/* Every vCPU through its share once: the working set is written. */
	if ((linux_guest ? linux_ready(m, s, why, len)
			 : wait_passes(s, &m->src, DT_SRC, o->cpus,
				       o->timeout_s * 1000u,
				       "the source's guest", why, len)) ||
	    stay(&m->src, o->warmup_ms, why, len))
		return -1;
	if (migrate(m, vmm, r, t0, t1))
		return -1;
	/* "A couple more passes" on the target, each of them verified by
	 * the checker, and at least --after-ms. */
	dt_serial_last(s, DT_SRC, DT_LINE_COUNTER, &last);
	if (linux_guest
		? linux_after(m, vmm, s, why, len)
		: wait_passes(s, &m->tgt, DT_TGT, last.passes + 2 * o->cpus,
			      o->timeout_s * 1000u, "the target's guest", why,
			      len))
		return -1;
	spent = (dt_now_ns() - *t1) / 1000000u;
	if (spent < o->after_ms &&
	    stay(&m->tgt, o->after_ms - (uint32_t)spent, why, len))
		return -1;
	return vmm->check(m, why, len);
}

void dt_mig_log(struct dt_mig *m, const char *who, int out, int poll,
		json_object *o)
{
	uint64_t now = dt_now_ns();

	if (!m->log)
		return;
	if (poll) {
		/* A reply is logged when its request was. */
		if (out) {
			m->poll_logged = now - m->log_poll >= 1000000000u;
			if (m->poll_logged)
				m->log_poll = now;
		}
		if (!m->poll_logged)
			return;
	}
	fprintf(m->log, "%10.3f %s %s %s\n", (double)(now - m->log_t0) / 1e6,
		who, out ? ">" : "<",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

void dt_mig_local(const struct dt_mig *m, const char *name, char *buf,
		  size_t len)
{
	snprintf(buf, len, "%s/%s", m->local, name);
}

static void keep_logs(const struct dt_mig *m)
{
	static const char *const logs[] = {
	    "serial.log", "control.log",     "src.err",
	    "tgt.err",	  "src-report.json", "tgt-report.json"};
	char from[DT_PATH], to[DT_PATH];

	for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		dt_mig_local(m, logs[i], from, sizeof(from));
		dt_mig_path(m, logs[i], to, sizeof(to));
		if (!access(from, R_OK))
			dt_copy_file(from, to);
	}
}

void dt_run_one(const struct dt_opts *o, const struct dt_vmm *vmm,
		const struct dt_workload *w, const struct dt_env *env,
		uint32_t index, struct dt_run *r)
{
	static unsigned int seq;
	struct dt_mig m = {
	    .o = o, .w = w, .certs = env->certs, .qcerts = env->qcerts};
	char log[DT_PATH], msg[DT_WHY];
	struct dt_serial s;
	uint64_t t0 = 0, t1 = 0;
	int rc, started = 0;

	memset(r, 0, sizeof(*r));
	m.src.out_fd = m.tgt.out_fd = -1;
	m.src.in_fd = m.tgt.in_fd = -1;
	snprintf(m.dir, sizeof(m.dir), "%s/%s-%s-%u", env->workdir, w->name,
		 vmm->name, index + 1);
	snprintf(m.local, sizeof(m.local), "%s/%u", env->localdir, ++seq);
	if ((mkdir(m.dir, 0755) && errno != EEXIST) || mkdir(m.local, 0700)) {
		snprintf(r->why, sizeof(r->why), "cannot make %.400s: %s",
			 errno == EEXIST ? m.local : m.dir, strerror(errno));
		return;
	}
	rc = dt_free_port(&m.port);
	if (rc) {
		snprintf(r->why, sizeof(r->why), "no free port: %s",
			 strerror(-rc));
		return;
	}
	/* Every log is written where a write cannot stall the serial
	 * thread's stamps or a VMM (the work dir may be a 9p share), and
	 * copied there at the end. */
	dt_mig_local(&m, "control.log", log, sizeof(log));
	m.log = fopen(log, "w");
	m.log_t0 = dt_now_ns();
	rc = vmm->start(&m, r->why, sizeof(r->why));
	dt_mig_local(&m, "serial.log", log, sizeof(log));
	if (!rc) {
		rc = dt_serial_start(&s, m.src.out_fd, m.tgt.out_fd, log,
				     m.log_t0);
		if (rc)
			snprintf(r->why, sizeof(r->why),
				 "cannot start the serial thread: %s",
				 strerror(-rc));
		else
			started = 1;
	}
	if (started)
		rc = run_steps(&m, vmm, &s, r, &t0, &t1);
	vmm->stop(&m);
	json_object_put(m.last);
	if (m.log)
		fclose(m.log);
	if (started) {
		uint64_t margin = (uint64_t)o->margin_ms * 1000000u;

		dt_serial_stop(&s);
		if (DT_IS_LINUX(w->kind)
			? dt_linux_analyse(&s, t0, t1, margin,
					   (uint64_t)w->period_ms * 1000000u,
					   &r->guest, msg, sizeof(msg))
			: dt_serial_analyse(&s, t0, t1, margin, o->cpus,
					    &r->guest, msg, sizeof(msg))) {
			/* The guest's word on corruption, or its kernel's,
			 * explains a crash. */
			if (!rc || r->guest.bad || r->guest.kernel)
				snprintf(r->why + strlen(r->why),
					 sizeof(r->why) - strlen(r->why),
					 "%s%s", rc ? "; " : "", msg);
		} else {
			r->ok = !rc;
		}
		dt_serial_free(&s);
	}
	dt_proc_close(&m.src);
	dt_proc_close(&m.tgt);
	keep_logs(&m);
	if (!r->ok)
		fprintf(stderr,
			"mig-downtime: %s under %s, run %u: %s (files "
			"in %s)\n",
			w->name, vmm->name, index + 1, r->why, m.dir);
	else if (!o->keep)
		dt_rmtree(m.dir);
	dt_rmtree(m.local);
}
