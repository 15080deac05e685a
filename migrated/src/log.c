/*
 * log.c - logfmt lines on stderr, with journald's priority prefix.
 *
 * A line is built whole in a buffer, then written with one write(2),
 * under a lock: lines from several threads never interleave, even where
 * the kernel would take a write in pieces (a terminal, a full socket).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static atomic_int min_level = LOG_INFO;
static atomic_int style = MIGD_LOG_AUTO;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

/* What a cut line ends with; room for it is always kept free. */
#define TRUNCATED " truncated=1"
#define TAIL_ROOM (sizeof("\"" TRUNCATED "\n") - 1)

struct line {
	char buf[MIGD_LOG_LINE_MAX];
	size_t len;
	int in_quotes; /* an opening '"' was written, not yet its closing one */
	int full;      /* something did not fit: everything after is dropped */
};

static int put(struct line *l, const char *s, size_t n)
{
	if (l->full || n > sizeof(l->buf) - TAIL_ROOM - l->len) {
		l->full = 1;
		return 0;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return 1;
}

/* As much of s as fits, for a value that may be cut anywhere. */
static void put_cut(struct line *l, const char *s, size_t n)
{
	size_t room = l->full ? 0 : sizeof(l->buf) - TAIL_ROOM - l->len;

	if (n > room) {
		n = room;
		l->full = 1;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static int needs_quotes(const char *s)
{
	if (!*s)
		return 1;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' ||
		    *s == '\\' || *s == 0x7f)
			return 1;
	return 0;
}

/* A value, quoted if needed; bytes >= 0x80 (UTF-8) go as they are. */
static void put_value(struct line *l, const char *s, int force_quotes)
{
	char esc[5];
	unsigned char ch;

	if (!force_quotes && !needs_quotes(s)) {
		put_cut(l, s, strlen(s));
		return;
	}
	if (!put(l, "\"", 1))
		return;
	l->in_quotes = 1;
	for (; (ch = (unsigned char)*s); s++) {
		if (ch == '"' || ch == '\\')
			snprintf(esc, sizeof(esc), "\\%c", ch);
		else if (ch == '\n')
			strcpy(esc, "\\n");
		else if (ch == '\t')
			strcpy(esc, "\\t");
		else if (ch < ' ' || ch == 0x7f)
			snprintf(esc, sizeof(esc), "\\x%02x", ch);
		else
			snprintf(esc, sizeof(esc), "%c", ch);
		if (!put(l, esc, strlen(esc)))
			return;
	}
	if (put(l, "\"", 1))
		l->in_quotes = 0;
}

/* " key=": the key reduced to [A-Za-z0-9_.-], never empty. */
static void put_key(struct line *l, const char *key)
{
	char ch;

	put(l, " ", 1);
	if (!*key)
		put(l, "_", 1);
	for (; (ch = *key); key++) {
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		      ch == '-'))
			ch = '_';
		put(l, &ch, 1);
	}
	put(l, "=", 1);
}

static const char *level_name(int prio)
{
	static const char *const names[] = {"emerg", "alert", "crit",
					    "err",   "warn",  "notice",
					    "info",  "debug"};

	return names[prio & LOG_PRIMASK];
}

static void put_prefix(struct line *l, int prio)
{
	enum migd_log_style s = atomic_load(&style);
	struct timespec ts;
	struct tm tm;
	char buf[64];
	size_t n;

	if (s == MIGD_LOG_AUTO) {
		/* Benign race: every thread computes the same answer. */
		s = isatty(STDERR_FILENO) ? MIGD_LOG_TERMINAL
					  : MIGD_LOG_JOURNAL;
		atomic_store(&style, s);
	}
	if (s == MIGD_LOG_JOURNAL) {
		n = (size_t)snprintf(buf, sizeof(buf), "<%d>", prio);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ".%03ld %-6s ",
				      ts.tv_nsec / 1000000, level_name(prio));
	}
	put(l, buf, n);
}

/* Ends the line (closing a cut value) and writes it in one write(2). */
static void emit(struct line *l)
{
	const char *p = l->buf;
	ssize_t n;

	if (l->full) {
		if (l->in_quotes)
			l->buf[l->len++] = '"';
		memcpy(l->buf + l->len, TRUNCATED, sizeof(TRUNCATED) - 1);
		l->len += sizeof(TRUNCATED) - 1;
	}
	l->buf[l->len++] = '\n';
	pthread_mutex_lock(&write_lock);
	while (l->len) {
		n = write(STDERR_FILENO, p, l->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* nowhere left to report it */
		p += n;
		l->len -= (size_t)n;
	}
	pthread_mutex_unlock(&write_lock);
}

static int enabled(int prio)
{
	return (prio & LOG_PRIMASK) <= atomic_load(&min_level);
}

static void start(struct line *l, int prio, const char *msg)
{
	l->len = 0;
	l->in_quotes = 0;
	l->full = 0;
	put_prefix(l, prio & LOG_PRIMASK);
	put(l, "msg=", 4);
	put_value(l, msg, 1);
}

void migd_log_set_level(int prio)
{
	atomic_store(&min_level, prio & LOG_PRIMASK);
}

void migd_log_set_style(enum migd_log_style s)
{
	atomic_store(&style, s);
}

void migd_log(int prio, const char *fmt, ...)
{
	char msg[MIGD_LOG_LINE_MAX];
	struct line l;
	int saved = errno;
	va_list ap;

	if (!enabled(prio))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	start(&l, prio, msg);
	emit(&l);
	errno = saved;
}

void migd_logkv(int prio, const char *msg, ...)
{
	const char *key, *value;
	struct line l;
	int saved = errno;
	va_list ap;

	if (!enabled(prio))
		return;
	start(&l, prio, msg ? msg : "");
	va_start(ap, msg);
	while ((key = va_arg(ap, const char *))) {
		value = va_arg(ap, const char *);
		put_key(&l, key);
		put_value(&l, value ? value : "", 0);
	}
	va_end(ap);
	emit(&l);
	errno = saved;
}

const char *migd_log_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return buf;
}
