/*
 * ctl_progress.c - migratectl's pure parts (see ctl_progress.h): numbers
 * from the command line, the migration status object, the progress line,
 * the final report and the tables. Strings that came from the daemon may
 * carry a remote peer's words, so control characters are replaced before
 * anything reaches the operator's terminal.
 */
#include "ctl_progress.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MIB (1024.0 * 1024.0)

/* ---- numbers from the command line ------------------------------------ */

static int parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return 0;
}

int ctl_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	uint64_t v, mult = 1;
	const char *u;
	int rc;

	if (!s)
		return -EINVAL;
	rc = parse_digits(&s, &v);
	if (rc)
		return rc;
	if (*s) {
		u = strchr(units, s[0] >= 'a' ? s[0] - 'a' + 'A' : s[0]);
		if (!u)
			return -EINVAL;
		for (const char *p = units; p <= u; p++)
			mult *= 1024;
		s++;
		if (*s && strcasecmp(s, "iB"))
			return -EINVAL;
	}
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

int ctl_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int rc;

	if (!s)
		return -EINVAL;
	rc = parse_digits(&s, &v);
	if (rc)
		return rc;
	if (*s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* ---- the status object ------------------------------------------------ */

/* Copies a string member, bounded, with control characters as '?'. */
static void copy_clean(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; src && src[i] && i + 1 < len; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[i] = '\0';
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void copy_member(json_object *o, const char *key, char *dst,
			size_t len)
{
	copy_clean(dst, len, get_str(o, key));
}

static double get_double(json_object *o, const char *key)
{
	json_object *v;
	double d;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !(json_object_is_type(v, json_type_int) ||
	      json_object_is_type(v, json_type_double)))
		return 0;
	d = json_object_get_double(v);
	return isfinite(d) && d > 0 ? d : 0;
}

static uint64_t get_u64(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		if (json_object_get_int64(v) < 0)
			return 0;
		return json_object_get_uint64(v);
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);

		/* 2^64 as a double: anything at or above does not fit. */
		return isfinite(d) && d > 0 && d < 18446744073709551616.0
			       ? (uint64_t)d
			       : 0;
	}
	return 0;
}

int ctl_mig_from_json(json_object *o, struct ctl_mig *m)
{
	memset(m, 0, sizeof(*m));
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !get_str(o, "id") || !get_str(o, "phase"))
		return -EINVAL;
	copy_member(o, "id", m->id, sizeof(m->id));
	copy_member(o, "vm", m->vm, sizeof(m->vm));
	copy_member(o, "direction", m->direction, sizeof(m->direction));
	copy_member(o, "peer", m->peer, sizeof(m->peer));
	copy_member(o, "phase", m->phase, sizeof(m->phase));
	copy_member(o, "error", m->error, sizeof(m->error));
	m->round = get_u64(o, "round");
	m->remaining_bytes = get_u64(o, "remaining_bytes");
	m->rate_bytes_per_s = get_u64(o, "rate_bytes_per_s");
	m->bytes_sent = get_u64(o, "bytes_sent");
	m->guest_bytes = get_u64(o, "guest_bytes");
	m->expected_downtime_ms = get_double(o, "expected_downtime_ms");
	m->downtime_ms = get_double(o, "downtime_ms");
	m->total_ms = get_double(o, "total_ms");
	m->started_at = (int64_t)(get_u64(o, "started_at") & INT64_MAX);
	return 0;
}

int ctl_phase_exit(const char *phase)
{
	if (!strcmp(phase, "done"))
		return 0;
	if (!strcmp(phase, "failed") || !strcmp(phase, "cancelled"))
		return 1;
	if (!strcmp(phase, "undetermined"))
		return 3;
	return -1;
}

/* ---- the progress line ------------------------------------------------ */

static int phase_is(const struct ctl_mig *m, const char *p)
{
	return !strcmp(m->phase, p);
}

int ctl_percent(const struct ctl_mig *m, uint64_t total)
{
	double pct;

	if (phase_is(m, "begin") || phase_is(m, "prepare"))
		return 0;
	/* From finish on, every page is on the target. */
	if (phase_is(m, "finish") || phase_is(m, "confirm") ||
	    phase_is(m, "done") || phase_is(m, "undetermined"))
		return 100;
	/* A migration that ended before any round sent nothing. */
	if ((phase_is(m, "failed") || phase_is(m, "cancelled")) && !m->round &&
	    !m->bytes_sent)
		return 0;
	if (!total)
		return -1;
	/* Before the source VMM's first figures: nothing known, nothing sent. */
	if (!m->remaining_bytes && !m->bytes_sent && !m->round)
		return 0;
	if (m->remaining_bytes >= total)
		return 0;
	if (!m->remaining_bytes)
		return 100;
	/* Positive: the conversion truncates, i.e. rounds down. */
	pct = (double)(total - m->remaining_bytes) * 100.0 / (double)total;
	/* 100 must mean nothing left, even when the rest rounds away. */
	return pct >= 100.0 ? 99 : (int)pct;
}

char *ctl_format_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	uint64_t div = 1;
	int u = 0;

	while (u < 4 && bytes >= div * 1024) {
		div *= 1024;
		u++;
	}
	if (bytes % div == 0)
		snprintf(buf, len, "%" PRIu64 " %s", bytes / div, unit[u]);
	else
		snprintf(buf, len, "%.1f %s", (double)bytes / (double)div,
			 unit[u]);
	return buf;
}

/* Appends to buf at *pos, never past len - 1; keeps counting on overflow. */
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*pos < len ? buf + *pos : NULL,
		      *pos < len ? len - *pos : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos += (size_t)n;
}

/* A MiB figure in 4 columns: one decimal below 100, whole above. */
static void mib_text(char *buf, size_t len, uint64_t bytes)
{
	double v = (double)bytes / MIB;

	snprintf(buf, len, v < 99.95 ? "%4.1f" : "%4.0f", v);
}

/*
 * The fields after the bar, most important first: round, memory left,
 * rate, expected downtime, each of a fixed width for the usual figures so
 * that the bar does not jump between redraws; before any round, the VM
 * and its peer. Returns how many of the CTL_FIELDS slots were filled.
 */
#define CTL_FIELDS    4
#define CTL_FIELD_MAX 300

static int progress_fields(const struct ctl_mig *m,
			   char f[CTL_FIELDS][CTL_FIELD_MAX])
{
	char t[64];
	int n = 0;

	if (!phase_is(m, "perform") && !m->round) {
		if (m->peer[0])
			snprintf(f[n++], CTL_FIELD_MAX, "  %.*s %s %.*s", 100,
				 m->vm, !strcmp(m->direction, "in") ? "<-" : "->",
				 150, m->peer);
		return n;
	}
	snprintf(f[n++], CTL_FIELD_MAX, "  round %2" PRIu64, m->round);
	mib_text(t, sizeof(t), m->remaining_bytes);
	snprintf(f[n++], CTL_FIELD_MAX, "  %s MiB left", t);
	mib_text(t, sizeof(t), m->rate_bytes_per_s);
	snprintf(f[n++], CTL_FIELD_MAX, "  %s MiB/s", t);
	if (m->expected_downtime_ms > 0) {
		snprintf(t, sizeof(t), "~%.0f ms",
			 m->expected_downtime_ms > 1e9 ? 1e9
						       : m->expected_downtime_ms);
		snprintf(f[n++], CTL_FIELD_MAX, "  downtime %7s", t);
	}
	return n;
}

/* Cells of a bar of width for pct (may be -1), never full below 100 %. */
static int bar_filled(const struct ctl_mig *m, uint64_t total, int pct,
		      int width)
{
	int filled;

	if (pct <= 0)
		return 0;
	if (pct == 100)
		return width;
	filled = (int)((double)(total - m->remaining_bytes) * width /
		       (double)total);
	return filled >= width ? width - 1 : filled;
}

size_t ctl_progress_line(const struct ctl_mig *m, uint64_t total, int cols,
			 char *buf, size_t len)
{
	enum { BAR_MIN = 6, BAR_MAX = 30, FIELDS_WIDTH = 55 };
	char fields[CTL_FIELDS][CTL_FIELD_MAX], bar[BAR_MAX + 1];
	int pct = ctl_percent(m, total), nf, used = 0, width, filled, avail;
	size_t plen = strlen(m->phase), head, pos = 0;

	if (!len)
		return 0;
	buf[0] = '\0';
	/* One column stays free: a line that fills the terminal wraps and
	 * "\r" would then redraw only its last row. */
	avail = (cols > 0 ? cols : 80) - 1;
	/* "%-7s [" + "] 100%" around the bar. */
	head = (plen > 7 ? plen : 7) + 2 + 6;
	nf = progress_fields(m, fields);
	/* Fields that do not fit beside the shortest bar are left out,
	 * the least important first. */
	for (int i = 0; i < nf; i++) {
		int l = (int)strlen(fields[i]);

		if ((int)head + BAR_MIN + used + l > avail) {
			nf = i;
			break;
		}
		used += l;
	}
	/* The bar keeps its width from phase to phase: it is sized for the
	 * usual fields of perform even while fewer are shown. */
	width = avail - (int)head - (used > FIELDS_WIDTH ? used : FIELDS_WIDTH);
	width = width < BAR_MIN ? BAR_MIN : width > BAR_MAX ? BAR_MAX : width;
	filled = bar_filled(m, total, pct, width);
	for (int i = 0; i < width; i++)
		bar[i] = i < filled ? '#' : '-';
	bar[width] = '\0';
	if (pct < 0)
		append(buf, len, &pos, "%-7s [%s]   ?%%", m->phase, bar);
	else
		append(buf, len, &pos, "%-7s [%s] %3d%%", m->phase, bar, pct);
	for (int i = 0; i < nf; i++)
		append(buf, len, &pos, "%s", fields[i]);
	/* Only a terminal narrower than the head and shortest bar cuts. */
	if (pos > (size_t)avail && (size_t)avail < len) {
		buf[avail] = '\0';
		pos = (size_t)avail;
	}
	return pos < len ? pos : len - 1;
}

/* ---- the final report ------------------------------------------------- */

static void print_time(FILE *f, const char *label, double ms)
{
	if (ms >= 1000.0)
		fprintf(f, "  %-12s %.2f s\n", label, ms / 1000.0);
	else
		fprintf(f, "  %-12s %.1f ms\n", label, ms);
}

static void print_undetermined(FILE *f, const struct ctl_mig *m)
{
	const char *peer = m->peer[0] ? m->peer : "the other host";

	if (!strcmp(m->direction, "in")) {
		fprintf(f,
			"  %s arrived here but the source %s did not learn it;\n"
			"  the source host decides: run `migratectl resolve %s "
			"target-running|target-discarded` there.\n",
			m->vm, peer, m->vm);
		return;
	}
	fprintf(f,
		"  %s is paused here: migrated could not learn whether %s "
		"started it.\n"
		"  The daemons settle it when they reach each other again; to "
		"settle it now,\n"
		"  see whether %s runs on %s (migratectl vm list there), then "
		"here:\n"
		"    migratectl resolve %s target-running     if it runs there "
		"(the copy here is dropped)\n"
		"    migratectl resolve %s target-discarded   if not (%s resumes "
		"here)\n",
		m->vm, peer, m->vm, peer, m->vm, m->vm, m->vm);
}

void ctl_report(FILE *f, const struct ctl_mig *m)
{
	fprintf(f, "migration %s (%s %s %s): %s\n", m->id, m->vm,
		!strcmp(m->direction, "in") ? "<-" : "->",
		m->peer[0] ? m->peer : "?", m->phase);
	if (m->error[0])
		fprintf(f, "  %-12s %s\n", "error", m->error);
	if (m->total_ms > 0)
		print_time(f, "total time", m->total_ms);
	if (m->downtime_ms > 0) {
		if (m->expected_downtime_ms > 0)
			fprintf(f, "  %-12s %.1f ms (expected %.1f ms)\n",
				"downtime", m->downtime_ms,
				m->expected_downtime_ms);
		else
			print_time(f, "downtime", m->downtime_ms);
	}
	if (m->round || m->bytes_sent) {
		fprintf(f, "  %-12s %" PRIu64 "\n", "rounds", m->round);
		fprintf(f, "  %-12s %.1f MiB\n", "sent",
			(double)m->bytes_sent / MIB);
	}
	if (phase_is(m, "undetermined"))
		print_undetermined(f, m);
}

/* ---- tables ----------------------------------------------------------- */

void ctl_table_init(struct ctl_table *t, int ncols,
		    const char *const *headers, const int *right)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->headers = headers;
	t->right = right;
}

int ctl_table_add(struct ctl_table *t, const char *const *row)
{
	size_t n = (size_t)t->ncols;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		char **c = realloc(t->cells, cap * n * sizeof(*c));

		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s = row[i] ? row[i] : "-";
		size_t l = strlen(s);
		char *d = malloc(l + 1);

		if (!d) {
			for (size_t j = 0; j < i; j++)
				free(t->cells[t->nrows * n + j]);
			return -ENOMEM;
		}
		copy_clean(d, l + 1, s);
		t->cells[t->nrows * n + i] = d;
	}
	t->nrows++;
	return 0;
}

/* Columns count characters, not bytes: UTF-8 continuation bytes are free. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void print_cell(FILE *f, const char *s, size_t width, int right,
		       int last)
{
	size_t pad = width - text_width(s);

	if (right)
		fprintf(f, "%*s%s", (int)pad, "", s);
	else if (last)
		fputs(s, f);
	else
		fprintf(f, "%s%*s", s, (int)pad, "");
}

void ctl_table_print(const struct ctl_table *t, FILE *f)
{
	size_t n = (size_t)t->ncols, w[32] = { 0 };

	if (n > 32)
		n = 32;
	for (size_t c = 0; c < n; c++) {
		w[c] = text_width(t->headers[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t l = text_width(t->cells[r * (size_t)t->ncols + c]);

			w[c] = l > w[c] ? l : w[c];
		}
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		for (size_t c = 0; c < n; c++) {
			const char *s = r ? t->cells[(r - 1) * (size_t)t->ncols + c]
					  : t->headers[c];

			print_cell(f, s, w[c], t->right && t->right[c],
				   c + 1 == n);
			if (c + 1 < n)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
}

void ctl_table_free(struct ctl_table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

static const char *num(char *buf, size_t len, json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_int))
		return NULL;
	snprintf(buf, len, "%" PRId64, json_object_get_int64(v));
	return buf;
}

int ctl_print_vms(FILE *f, json_object *vms)
{
	static const char *const head[] = { "NAME", "STATE", "MEMORY", "CPUS",
					    "PID",  "MIGRATION", "SERIAL" };
	static const int right[] = { 0, 0, 1, 1, 1, 0, 0 };
	struct ctl_table t;
	int rc = 0;

	if (!json_object_is_type(vms, json_type_array))
		return -EINVAL;
	ctl_table_init(&t, 7, head, right);
	for (size_t i = 0; i < json_object_array_length(vms) && !rc; i++) {
		json_object *v = json_object_array_get_idx(vms, i);
		char mem[32], cpus[24], pid[24];
		const char *row[7];

		if (!json_object_is_type(v, json_type_object))
			continue;
		row[0] = get_str(v, "name");
		row[1] = get_str(v, "state");
		row[2] = json_object_object_get_ex(v, "memory", NULL)
				 ? ctl_format_bytes(get_u64(v, "memory"), mem,
						    sizeof(mem))
				 : NULL;
		row[3] = num(cpus, sizeof(cpus), v, "cpus");
		row[4] = num(pid, sizeof(pid), v, "pid");
		row[5] = get_str(v, "migration");
		row[6] = get_str(v, "serial");
		rc = ctl_table_add(&t, row);
	}
	if (!rc)
		ctl_table_print(&t, f);
	ctl_table_free(&t);
	return rc;
}

static const char *fmt_ms(char *buf, size_t len, double ms)
{
	if (ms <= 0)
		return NULL;
	if (ms >= 1000.0)
		snprintf(buf, len, "%.2f s", ms / 1000.0);
	else
		snprintf(buf, len, "%.1f ms", ms);
	return buf;
}

static const char *fmt_mib(char *buf, size_t len, uint64_t bytes)
{
	snprintf(buf, len, "%.1f MiB", (double)bytes / MIB);
	return buf;
}

static const char *fmt_when(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !localtime_r(&tt, &tm) ||
	    !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		return NULL;
	return buf;
}

static int add_migration(struct ctl_table *t, const struct ctl_mig *m,
			 int history)
{
	char a[32], b[32], c[32], d[32], e[32];
	const char *row[10] = { m->id, m->vm, m->direction, m->peer,
				m->phase };

	if (history) {
		row[5] = fmt_when(a, sizeof(a), m->started_at);
		row[6] = fmt_ms(b, sizeof(b), m->total_ms);
		row[7] = fmt_ms(c, sizeof(c), m->downtime_ms);
		snprintf(d, sizeof(d), "%" PRIu64, m->round);
		row[8] = d;
		row[9] = fmt_mib(e, sizeof(e), m->bytes_sent);
	} else {
		snprintf(a, sizeof(a), "%" PRIu64, m->round);
		row[5] = a;
		row[6] = fmt_mib(b, sizeof(b), m->remaining_bytes);
		snprintf(c, sizeof(c), "%.1f MiB/s",
			 (double)m->rate_bytes_per_s / MIB);
		row[7] = m->rate_bytes_per_s ? c : NULL;
		row[8] = fmt_ms(d, sizeof(d), m->expected_downtime_ms);
	}
	return ctl_table_add(t, row);
}

int ctl_print_migrations(FILE *f, json_object *migs, int history)
{
	static const char *const head_s[] = { "ID",    "VM",   "DIR",
					      "PEER",  "PHASE", "ROUND",
					      "LEFT",  "RATE", "EXP.DOWNTIME" };
	static const int right_s[] = { 0, 0, 0, 0, 0, 1, 1, 1, 1 };
	static const char *const head_h[] = { "ID",     "VM",      "DIR",
					      "PEER",   "RESULT",  "STARTED",
					      "TOTAL",  "DOWNTIME", "ROUNDS",
					      "SENT" };
	static const int right_h[] = { 0, 0, 0, 0, 0, 0, 1, 1, 1, 1 };
	struct ctl_table t;
	struct ctl_mig m;
	size_t n;
	int rc = 0;

	if (!json_object_is_type(migs, json_type_array))
		return -EINVAL;
	n = json_object_array_length(migs);
	if (history)
		ctl_table_init(&t, 10, head_h, right_h);
	else
		ctl_table_init(&t, 9, head_s, right_s);
	for (size_t i = 0; i < n && !rc; i++)
		if (!ctl_mig_from_json(json_object_array_get_idx(migs, i), &m))
			rc = add_migration(&t, &m, history);
	if (!rc)
		ctl_table_print(&t, f);
	ctl_table_free(&t);
	for (size_t i = 0; i < n && !rc; i++)
		if (!ctl_mig_from_json(json_object_array_get_idx(migs, i), &m) &&
		    m.error[0])
			fprintf(f, "%s: %s\n", m.id, m.error);
	return rc;
}

/* ---- following a migration -------------------------------------------- */

void ctl_follow_init(struct ctl_follow *f, int tty, int json, uint64_t total)
{
	memset(f, 0, sizeof(*f));
	f->tty = tty && !json;
	f->json = json;
	f->total = total;
}

void ctl_follow_break(struct ctl_follow *f, FILE *out)
{
	if (f->tty && f->drawn) {
		fputc('\n', out);
		f->drawn = 0;
		fflush(out);
	}
}

int ctl_follow_step(struct ctl_follow *f, FILE *out, const struct ctl_mig *m,
		    json_object *raw, int cols)
{
	int changed = strcmp(f->last_phase, m->phase) != 0;
	int end = ctl_phase_exit(m->phase);
	uint64_t total;
	char line[512];
	size_t n;

	if (m->remaining_bytes > f->max_remaining)
		f->max_remaining = m->remaining_bytes;
	total = m->guest_bytes ? m->guest_bytes
		: f->total     ? f->total
			       : f->max_remaining;
	n = ctl_progress_line(m, total, cols, line, sizeof(line));
	if (f->json) {
		if (changed && raw)
			fprintf(out, "%s\n",
				json_object_to_json_string_ext(
					raw, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (f->tty) {
		/* Blanks over the rest of a longer previous line: no escape
		 * sequences, so any terminal that knows "\r" will do. */
		fprintf(out, "\r%s%*s", line,
			f->drawn > n ? (int)(f->drawn - n) : 0, "");
		f->drawn = n;
		if (end >= 0)
			ctl_follow_break(f, out);
	} else if (changed) {
		fprintf(out, "%s\n", line);
	}
	if (end >= 0 && !f->json)
		ctl_report(out, m);
	copy_clean(f->last_phase, sizeof(f->last_phase), m->phase);
	fflush(out);
	return end;
}
