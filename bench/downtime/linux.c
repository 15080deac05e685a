/*
 * linux.c - the Linux guest (vmm-lite/guests/README.md, "The Linux
 * guest"): Debian's kernel with the project's initramfs, whose
 * vmm-workload prints "hb SEQ MONO_NS PASSES VERIFIED BAD BACKWARDS"
 * once a period. Here: finding the kernel, the command line both VMMs
 * give it, its console lines, and the verdict on a migration.
 *
 * A Linux console is not a boot sector's: the kernel and the shell write
 * when they like, a heartbeat may follow a shell prompt on its line, and
 * a line may be cut by a kernel message. So only heartbeats time the
 * guest, alarms are looked for anywhere in a line, and a line that is
 * neither stays "other".
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "downtime.h"

/* Kernel messages that mean the guest is not well, wherever they are. */
static const char *const alarms[] = {
    "WARNING:", "Oops",		"Kernel panic",	   "BUG:",
    "LOCKUP",	"stall on CPU", "detected stalls", "blocked for more than",
};

/* Parses "DIGITS" at *p into *v, advancing *p. Returns 0 or -1. */
static int digits(const char **p, uint64_t *v)
{
	uint64_t x = 0;
	const char *q = *p;

	if (*q < '0' || *q > '9')
		return -1;
	for (; *q >= '0' && *q <= '9'; q++) {
		if (x > (UINT64_MAX - (uint64_t)(*q - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*q - '0');
	}
	*p = q;
	*v = x;
	return 0;
}

/* Parses " DIGITS" at *p into *v, advancing *p. Returns 0 or -1. */
static int number(const char **p, uint64_t *v)
{
	const char *q = *p + 1;

	if (**p != ' ' || digits(&q, v))
		return -1;
	*p = q;
	return 0;
}

/* "hb" and six numbers from `at` to the end of the line. */
static int heartbeat(const char *at, struct dt_line *l)
{
	const char *p = at + 2;
	uint64_t f[6];

	for (int i = 0; i < 6; i++)
		if (number(&p, &f[i]))
			return -1;
	if (*p || f[2] > UINT32_MAX || f[4] > UINT32_MAX || f[5] > UINT32_MAX)
		return -1;
	l->kind = DT_LINE_HEARTBEAT;
	l->value = f[0];
	l->mono_ns = f[1];
	l->passes = (uint32_t)f[2];
	l->verified = f[3];
	l->nbad = (uint32_t)f[4];
	l->nback = (uint32_t)f[5];
	l->fields = 6;
	return 0;
}

int dt_linux_line_parse(const char *text, struct dt_line *l)
{
	const char *p, *q;
	uint64_t v;

	/* Alarms first: a kernel message may share a line with anything. */
	for (size_t i = 0; i < sizeof(alarms) / sizeof(alarms[0]); i++)
		if (strstr(text, alarms[i])) {
			l->kind = DT_LINE_KERNEL;
			return 1;
		}
	p = strstr(text, "BACKWARDS");
	q = p ? p + strlen("BACKWARDS") : NULL;
	if (strstr(text, "BAD page=") || (q && !number(&q, &v))) {
		l->kind = DT_LINE_BAD;
		return 1;
	}
	/* The last "hb" that starts a complete heartbeat: a prompt, an
	 * escape sequence or a cut line may come before it. */
	for (p = strstr(text, "hb "); p; p = strstr(p + 1, "hb "))
		if (!heartbeat(p, l))
			return 1;
	if (strstr(text, "vmm-guest: init ready")) {
		l->kind = DT_LINE_READY;
		return 1;
	}
	/* The answer, not the echo of the command (which has "$((" there). */
	p = strstr(text, DT_ANSWER_TAG);
	q = p ? p + strlen(DT_ANSWER_TAG) : NULL;
	if (q && !digits(&q, &v) && !*q) {
		l->kind = DT_LINE_ANSWER;
		l->value = v;
		return 1;
	}
	return 0;
}

int dt_linux_kernel(const char *dir, char *buf, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char best[256] = "";

	if (!d)
		return -ENOENT;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "vmlinuz-", 8) &&
		    strlen(e->d_name) < sizeof(best) &&
		    (!best[0] || strverscmp(e->d_name, best) > 0))
			snprintf(best, sizeof(best), "%s", e->d_name);
	closedir(d);
	if (!best[0])
		return -ENOENT;
	snprintf(buf, len, "%s/%s", dir, best);
	return 0;
}

int dt_linux_cmdline(const struct dt_workload *w, int nested, int self_test,
		     char *buf, size_t len)
{
	int n = snprintf(
	    buf, len,
	    "console=ttyS0 reboot=k panic=-1 loglevel=6%s "
	    "vmm.workload=\"--mib %u --rate %u --threads %u --period %u%s\"",
	    nested ? " noxsave" : "", w->ws_mib, w->rate_mib, w->threads,
	    w->period_ms, self_test ? " --self-test" : "");

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int dt_linux_prepare(const struct dt_opts *o, struct dt_workload *w, char *why,
		     size_t why_len)
{
	const char *vm = getenv("KVM_VM_GUEST");

	if (o->kernel) {
		snprintf(w->kernel, sizeof(w->kernel), "%s", o->kernel);
	} else if (dt_linux_kernel("/boot", w->kernel, sizeof(w->kernel))) {
		snprintf(why, why_len,
			 "no Linux kernel /boot/vmlinuz-*: install the Debian "
			 "package linux-image-amd64 (or give --kernel FILE)");
		return -1;
	}
	if (access(w->kernel, R_OK)) {
		snprintf(why, why_len, "cannot read the kernel %.1000s: %s",
			 w->kernel, strerror(errno));
		return -1;
	}
	snprintf(w->initrd, sizeof(w->initrd), "%s", o->initrd);
	if (access(w->initrd, R_OK)) {
		snprintf(why, why_len,
			 "cannot read the initramfs %.1000s: %s (build the "
			 "target vmm-linux-initramfs, or give --initrd FILE)",
			 w->initrd, strerror(errno));
		return -1;
	}
	if (dt_linux_cmdline(w, vm && *vm, o->self_test_bad, w->cmdline,
			     sizeof(w->cmdline))) {
		snprintf(why, why_len, "the kernel command line is too long");
		return -1;
	}
	return 0;
}

/*
 * The jump of the guest's clock at the switch, in periods beyond the one
 * expected: from the source's last heartbeat to the target's first. A
 * VMM that stops the guest's clock while it is paused shows 0.
 */
static uint64_t clock_skip(const struct dt_serial *s, uint64_t period_ns)
{
	const struct dt_line *a = NULL, *b = NULL;
	uint64_t periods;

	for (size_t i = 0; i < s->n && !b; i++) {
		const struct dt_line *l = &s->lines[i];

		if (l->kind != DT_LINE_HEARTBEAT)
			continue;
		if (l->side == DT_SRC)
			a = l;
		else
			b = l;
	}
	if (!a || !b || !period_ns || b->mono_ns <= a->mono_ns)
		return 0;
	periods = (b->mono_ns - a->mono_ns + period_ns / 2) / period_ns;
	return periods > 1 ? periods - 1 : 0;
}

int dt_linux_analyse(const struct dt_serial *s, uint64_t t0_ns, uint64_t t1_ns,
		     uint64_t margin_ns, uint64_t period_ns,
		     struct dt_guest_view *v, char *why, size_t why_len)
{
	dt_view_fill(s, DT_LINE_HEARTBEAT, t0_ns, t1_ns, margin_ns, v);
	/* SEQ counts lines, not periods: the clock says what was skipped. */
	v->skipped = clock_skip(s, period_ns);
	if (v->bad) {
		snprintf(why, why_len, "the guest's workload reported: %s",
			 s->bad_text);
		return -1;
	}
	if (v->kernel) {
		snprintf(why, why_len, "the guest's kernel reported: %s",
			 s->kernel_text);
		return -1;
	}
	if (dt_view_continuity(s, v, "heartbeat", "heartbeat",
			       " in SEQ, MONO_NS, PASSES or VERIFIED", why, why_len))
		return -1;
	if (v->last_bad || v->last_back) {
		snprintf(why, why_len,
			 "the workload counted %u bad page(s) and %u backward "
			 "clock read(s)",
			 v->last_bad, v->last_back);
		return -1;
	}
	if (v->tgt_verified <= v->src_verified) {
		snprintf(why, why_len,
			 "the workload verified no page on the target "
			 "(%" PRIu64 " verified on the source, %" PRIu64
			 " at the end)",
			 v->src_verified, v->tgt_verified);
		return -1;
	}
	if (!v->answered) {
		snprintf(why, why_len,
			 "the target's console did not answer (no "
			 "%s%d line after typing a command)",
			 DT_ANSWER_TAG, DT_ANSWER_VALUE);
		return -1;
	}
	return 0;
}
