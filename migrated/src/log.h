/*
 * log.h - migrated's log: one logfmt line per event on stderr.
 *
 * Every line is "msg=\"TEXT\"" followed by any key=value fields:
 *
 *   <6>msg="migration started" vm=vm1 id=m-12 peer=hostb.test
 *
 * Under systemd the line starts with the sd-daemon(3) priority prefix
 * "<N>", which journald turns into the entry's priority
 * (SyslogLevelPrefix=yes, the default); on a terminal it starts with the
 * local time and the level's name instead. Values that need it are
 * quoted, with '"', '\' and control characters escaped, so a name taken
 * from a file or the network cannot forge a field or a second line.
 * Priorities are syslog(3)'s: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG...
 * All functions may be called from any thread; they leave errno alone.
 */
#ifndef MIGD_LOG_H
#define MIGD_LOG_H

#include <stddef.h>
#include <syslog.h>

enum migd_log_style {
	MIGD_LOG_AUTO,     /* TERMINAL if stderr is a tty, else JOURNAL */
	MIGD_LOG_JOURNAL,  /* "<6>msg=..." */
	MIGD_LOG_TERMINAL, /* "2024-05-01 12:00:00.123 info   msg=..." */
};

/* Longest line written, '\n' included; longer ones end "truncated=1". */
#define MIGD_LOG_LINE_MAX 4096

/* Drops messages less severe than `prio` (default LOG_INFO). */
void migd_log_set_level(int prio);

/* Chooses the line prefix (default MIGD_LOG_AUTO, which looks at stderr
 * when the next message is logged). */
void migd_log_set_style(enum migd_log_style style);

/* Logs the printf-formatted text as the line's msg, with no fields. */
void migd_log(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Logs `msg` followed by fields given as pairs of strings, KEY, VALUE, ...,
 * ended by NULL. Keys are words of [A-Za-z0-9_.-] (other characters
 * become '_'); a NULL value is logged as "". For numbers, MIGD_LOG_FMT:
 *
 *   migd_logkv(LOG_INFO, "round done", "vm", vm->name,
 *              "round", MIGD_LOG_FMT("%u", round), NULL);
 */
void migd_logkv(int prio, const char *msg, ...) __attribute__((sentinel));

/*
 * A printf-formatted field value for migd_logkv(), at most 63 characters,
 * in a buffer that lives until the end of the enclosing block.
 */
#define MIGD_LOG_FMT(...) migd_log_fmt((char[64]){0}, 64, __VA_ARGS__)

/* MIGD_LOG_FMT's helper: formats into buf (truncating), returns buf. */
const char *migd_log_fmt(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
