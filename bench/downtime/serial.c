/*
 * serial.c - the guest's serial output, as the guest's own witness of the
 * migration.
 *
 * One thread reads the source's and the target's stdout and stamps each
 * line with CLOCK_MONOTONIC when its newline arrives; it does nothing
 * else, so that the stamps are not delayed by the QMP or control-socket
 * traffic of the main thread. The two streams are one logical stream: the
 * source is frozen before the target runs, so a line the source began and
 * the target finished is one line (the source's fd is always read first).
 * The analysis here serves both kinds of guest; the Linux guest's line
 * format and verdict are linux.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "downtime.h"

/* Parses " %u" at *p into *v, advancing *p. Returns 0 or -1. */
static int field(const char **p, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (**p != ' ' || (*p)[1] < '0' || (*p)[1] > '9')
		return -1;
	errno = 0;
	x = strtoull(*p + 1, &end, 10);
	if (errno || x > max)
		return -1;
	*p = end;
	*v = x;
	return 0;
}

void dt_line_parse(const char *text, size_t len, struct dt_line *l)
{
	char buf[DT_LINE_MAX + 1];
	const char *p = buf + 1;
	uint64_t count, passes = 0, ncpu = 0;
	uint8_t fields = 1;

	l->kind = DT_LINE_OTHER;
	l->value = 0;
	l->mono_ns = 0;
	l->verified = 0;
	l->passes = 0;
	l->nbad = 0;
	l->nback = 0;
	l->ncpu = 0;
	l->fields = 0;
	if (len > DT_LINE_MAX)
		len = DT_LINE_MAX;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (!strncmp(buf, "BAD", 3)) {
		l->kind = DT_LINE_BAD;
		return;
	}
	if (buf[0] != 'c' || field(&p, UINT64_MAX, &count)) {
		dt_linux_line_parse(buf, l);
		return;
	}
	/* PASSES and NCPU are optional, in that order. */
	if (*p) {
		if (field(&p, UINT32_MAX, &passes))
			return;
		fields++;
	}
	if (*p) {
		if (field(&p, UINT16_MAX, &ncpu) || *p)
			return;
		fields++;
	}
	l->kind = DT_LINE_COUNTER;
	l->fields = fields;
	l->value = count;
	l->passes = (uint32_t)passes;
	l->ncpu = (uint16_t)ncpu;
}

/*
 * Keeps a line's text for a message: its control bytes (a shell's
 * terminal queries) become '?', so that printing it cannot talk to the
 * terminal.
 */
static void keep_text(char *dst, size_t size, const char *src, size_t len)
{
	size_t i;

	for (i = 0; i < len && i + 1 < size; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f
			     ? '?'
			     : src[i];
	dst[i] = '\0';
}

/* Lines are stored compactly; their text goes to the log file only. */
static void store(struct dt_serial *s, int side, uint64_t t)
{
	struct dt_line l = {.t_ns = t, .side = (uint8_t)side};
	size_t len = s->part_len;

	dt_line_parse(s->part, len, &l);
	if (s->log)
		fprintf(s->log, "%10.3f %s %.*s%s\n",
			(double)(t - s->t_base) / 1e6, side ? "T" : "S",
			(int)len, s->part, s->part_lost ? " [truncated]" : "");
	pthread_mutex_lock(&s->mu);
	if (l.kind == DT_LINE_BAD && !s->bad_text[0])
		keep_text(s->bad_text, sizeof(s->bad_text), s->part, len);
	if (l.kind == DT_LINE_KERNEL && !s->kernel_text[0])
		keep_text(s->kernel_text, sizeof(s->kernel_text), s->part, len);
	if (s->n == s->cap && s->cap < DT_LINES_MAX) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		struct dt_line *nl = realloc(s->lines, cap * sizeof(*nl));

		if (nl) {
			s->lines = nl;
			s->cap = cap;
		}
	}
	if (s->n < s->cap)
		s->lines[s->n++] = l;
	else
		s->dropped++;
	pthread_mutex_unlock(&s->mu);
	s->part_len = 0;
	s->part_lost = 0;
}

static void feed(struct dt_serial *s, int side, const char *b, size_t n,
		 uint64_t t)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\n') {
			store(s, side, t);
		} else if (b[i] == '\r' || b[i] == '\0') {
			continue;
		} else if (s->part_len < sizeof(s->part)) {
			s->part[s->part_len++] = b[i];
		} else {
			s->part_lost++;
		}
	}
}

/* Reads what one fd has. Returns 0, or -1 at EOF or error (fd done). */
static int drain(struct dt_serial *s, int side)
{
	char buf[4096];
	ssize_t n = read(s->fd[side], buf, sizeof(buf));
	uint64_t t = dt_now_ns();

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return -1;
	feed(s, side, buf, (size_t)n, t);
	return 0;
}

static void *serial_main(void *arg)
{
	struct dt_serial *s = arg;

	for (;;) {
		struct pollfd p[3] = {{.fd = s->wake[0], .events = POLLIN},
				      {.fd = s->fd[DT_SRC], .events = POLLIN},
				      {.fd = s->fd[DT_TGT], .events = POLLIN}};

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* The source first: its bytes precede the target's. */
		for (int side = DT_SRC; side <= DT_TGT; side++)
			if (p[1 + side].revents && drain(s, side))
				s->fd[side] = -1;
		if (p[0].revents)
			break;
	}
	if (s->log)
		fflush(s->log);
	return NULL;
}

int dt_serial_start(struct dt_serial *s, int src_fd, int tgt_fd,
		    const char *logpath, uint64_t t_base)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->fd[DT_SRC] = src_fd;
	s->fd[DT_TGT] = tgt_fd;
	s->t_base = t_base;
	if (pipe2(s->wake, O_CLOEXEC))
		return -errno;
	s->log = logpath ? fopen(logpath, "w") : NULL;
	pthread_mutex_init(&s->mu, NULL);
	rc = -pthread_create(&s->thread, NULL, serial_main, s);
	if (rc) {
		pthread_mutex_destroy(&s->mu);
		if (s->log)
			fclose(s->log);
		close(s->wake[0]);
		close(s->wake[1]);
		return rc;
	}
	s->running = 1;
	return 0;
}

void dt_serial_stop(struct dt_serial *s)
{
	if (!s->running)
		return;
	/* Whatever is already in the pipes still counts. */
	dt_sleep_ms(50);
	if (write(s->wake[1], "x", 1) != 1) {
		close(s->wake[1]); /* EOF wakes it just as well */
		s->wake[1] = -1;
	}
	pthread_join(s->thread, NULL);
	s->running = 0;
}

void dt_serial_free(struct dt_serial *s)
{
	dt_serial_stop(s);
	if (s->log)
		fclose(s->log);
	s->log = NULL;
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	close(s->wake[0]);
	pthread_mutex_destroy(&s->mu);
	free(s->lines);
	s->lines = NULL;
	s->n = s->cap = 0;
}

size_t dt_serial_last(struct dt_serial *s, int side, int kind,
		      struct dt_line *last)
{
	size_t count = 0;

	pthread_mutex_lock(&s->mu);
	if (last)
		memset(last, 0, sizeof(*last));
	for (size_t i = 0; i < s->n; i++) {
		const struct dt_line *l = &s->lines[i];

		if (l->side != side || l->kind != kind)
			continue;
		count++;
		if (last)
			*last = *l;
	}
	pthread_mutex_unlock(&s->mu);
	return count;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Whether a line marks the guest's time for the lines of `kind`: any line
 * of a boot-sector guest (it prints nothing else in a period), only the
 * heartbeats of Linux (the kernel and the shell print when they like).
 */
static int timed(const struct dt_line *l, int kind)
{
	return kind == DT_LINE_COUNTER || l->kind == kind;
}

/* Median gap between the lines of `kind` that came before t0. */
static uint64_t period_before(const struct dt_serial *s, int kind, uint64_t t0)
{
	uint64_t *gaps = calloc(s->n ? s->n : 1, sizeof(*gaps)), prev = 0,
		 med = 0;
	size_t n = 0;

	if (!gaps)
		return 0;
	for (size_t i = 0; i < s->n && s->lines[i].t_ns < t0; i++) {
		if (s->lines[i].kind != kind)
			continue;
		if (prev)
			gaps[n++] = s->lines[i].t_ns - prev;
		prev = s->lines[i].t_ns;
	}
	if (n) {
		qsort(gaps, n, sizeof(*gaps), cmp_u64);
		med = gaps[n / 2];
	}
	free(gaps);
	return med / 1000;
}

/* A heartbeat's clock and verified pages never go back either. */
static int went_back(const struct dt_line *prev, const struct dt_line *l)
{
	return l->value <= prev->value || l->passes < prev->passes ||
	       l->mono_ns < prev->mono_ns || l->verified < prev->verified;
}

/*
 * The sequence's story: COUNT (SEQ) and PASSES never go back, across the
 * switch too. COUNT follows the guest's TSC, so it may skip periods. The
 * alarms and answers of any kind are counted on the way.
 */
static void counters(const struct dt_serial *s, int kind,
		     struct dt_guest_view *v)
{
	const struct dt_line *prev = NULL;
	uint64_t src_t = 0;
	int seen_tgt = 0;

	for (size_t i = 0; i < s->n; i++) {
		const struct dt_line *l = &s->lines[i];

		/* The gap across the switch: source's last line, target's
		 * first, whatever they say (Linux: heartbeats). */
		if (l->side == DT_SRC && !seen_tgt && timed(l, kind))
			src_t = l->t_ns;
		if (l->side == DT_TGT && !seen_tgt && src_t && !v->switch_us &&
		    timed(l, kind))
			v->switch_us = (l->t_ns - src_t) / 1000;
		if (l->kind == DT_LINE_BAD)
			v->bad++;
		if (l->kind == DT_LINE_KERNEL)
			v->kernel++;
		if (l->kind == DT_LINE_ANSWER && l->side == DT_TGT &&
		    l->value == DT_ANSWER_VALUE)
			v->answered++;
		if (l->kind != kind)
			continue;
		if (prev && went_back(prev, l))
			v->backwards++;
		if (l->side == DT_SRC && !seen_tgt) {
			v->src_last = l->value;
			v->src_passes = l->passes;
			v->src_verified = l->verified;
		} else if (l->side == DT_TGT) {
			if (!seen_tgt++) {
				v->tgt_first = l->value;
				if (l->value > v->src_last + 1)
					v->skipped = l->value - v->src_last - 1;
			}
			v->tgt_lines++;
			v->tgt_passes = l->passes;
			v->tgt_verified = l->verified;
			v->ncpu = l->ncpu;
		}
		v->last_bad = l->nbad;
		v->last_back = l->nback;
		prev = l;
	}
}

/*
 * The largest gap between the lines timed() counts in [lo, hi]; *at (may
 * be NULL): its start.
 */
static uint64_t max_gap(const struct dt_serial *s, int kind, uint64_t lo,
			uint64_t hi, uint64_t *at)
{
	uint64_t prev = 0, gap = 0;

	for (size_t i = 0; i < s->n; i++) {
		uint64_t t = s->lines[i].t_ns;

		if (!timed(&s->lines[i], kind) || t < lo)
			continue;
		if (t > hi)
			break;
		if (prev && t - prev > gap) {
			gap = t - prev;
			if (at)
				*at = prev;
		}
		prev = t;
	}
	return gap;
}

/* What a line says the guest got done: passes, or Linux's pages. */
static uint64_t progress(const struct dt_line *l)
{
	return l->kind == DT_LINE_HEARTBEAT ? l->verified : l->passes;
}

/*
 * Progress per second of the source's lines of `kind` in [lo, hi); 0
 * without two lines that carry it.
 */
static double speed(const struct dt_serial *s, int kind, uint64_t lo,
		    uint64_t hi)
{
	const struct dt_line *first = NULL, *last = NULL;

	for (size_t i = 0; i < s->n; i++) {
		const struct dt_line *l = &s->lines[i];

		if (l->t_ns < lo || l->side != DT_SRC || l->kind != kind ||
		    l->fields < 2)
			continue;
		if (l->t_ns >= hi)
			break;
		if (!first)
			first = l;
		last = l;
	}
	if (!first || last->t_ns == first->t_ns ||
	    progress(last) < progress(first))
		return 0;
	return (double)(progress(last) - progress(first)) * 1e9 /
	       (double)(last->t_ns - first->t_ns);
}

void dt_view_fill(const struct dt_serial *s, int kind, uint64_t t0_ns,
		  uint64_t t1_ns, uint64_t margin_ns, struct dt_guest_view *v)
{
	uint64_t hi = t1_ns, lo, at = 0;
	double before;

	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < s->n; i++)
		if (s->lines[i].side == DT_TGT && timed(&s->lines[i], kind)) {
			if (s->lines[i].t_ns > hi)
				hi = s->lines[i].t_ns;
			break;
		}
	lo = t0_ns > margin_ns ? t0_ns - margin_ns : 0;
	hi += margin_ns;
	v->pause_us = max_gap(s, kind, lo, hi, &at) / 1000;
	v->pause_at_us =
	    v->pause_us ? ((int64_t)at - (int64_t)t0_ns) / 1000 : 0;
	/* Just before: what the guest's lines look like without a pause. */
	v->base_us =
	    max_gap(s, kind, lo > hi - lo ? lo - (hi - lo) : 0, lo, NULL) /
	    1000;
	/* How fast the guest ran while it was being migrated. */
	before = speed(s, kind, lo > hi - lo ? lo - (hi - lo) : 0, t0_ns);
	if (before > 0)
		v->speed_pct =
		    (uint64_t)(speed(s, kind, t0_ns, hi) * 100.0 / before +
			       0.5);
	v->period_us = period_before(s, kind, t0_ns);
	counters(s, kind, v);
}

int dt_view_continuity(const struct dt_serial *s, const struct dt_guest_view *v,
		       const char *line, const char *noun, const char *fields,
		       char *why, size_t why_len)
{
	if (s->dropped) {
		snprintf(why, why_len,
			 "the guest printed more than %u lines; not analysed",
			 DT_LINES_MAX);
		return -1;
	}
	if (!v->src_last) {
		snprintf(why, why_len, "no %s from the source", line);
		return -1;
	}
	if (!v->tgt_lines) {
		snprintf(why, why_len, "no %s from the target", line);
		return -1;
	}
	if (v->tgt_first <= v->src_last || v->backwards) {
		snprintf(why, why_len,
			 "the %s went back (source's last %" PRIu64
			 ", target's first %" PRIu64 ", %u step(s) back%s): the "
			 "guest restarted or lost state",
			 noun, v->src_last, v->tgt_first, v->backwards, fields);
		return -1;
	}
	return 0;
}

int dt_serial_analyse(const struct dt_serial *s, uint64_t t0_ns, uint64_t t1_ns,
		      uint64_t margin_ns, uint32_t cpus,
		      struct dt_guest_view *v, char *why, size_t why_len)
{
	dt_view_fill(s, DT_LINE_COUNTER, t0_ns, t1_ns, margin_ns, v);
	if (v->bad) {
		snprintf(why, why_len, "the guest reported corruption: %s",
			 s->bad_text);
		return -1;
	}
	if (dt_view_continuity(s, v, "counter line", "counter", "", why, why_len))
		return -1;
	/* "c N" alone (NCPU 0) comes from a guest that does not say. */
	if (cpus && v->ncpu && v->ncpu != cpus) {
		snprintf(why, why_len,
			 "%u vCPU(s) came up in the guest, not %u", v->ncpu,
			 cpus);
		return -1;
	}
	return 0;
}
