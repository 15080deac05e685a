/*
 * internal.h - what every libmigrate source file shares: the public API,
 * internal naming (mig__*), logging and the monotonic clock.
 *
 * Error convention: 0 or a negative code (negative errno, or MIG_E*).
 * MIG__AGAIN means "would block, call again when the stream is ready".
 */
#ifndef MIG_INTERNAL_H
#define MIG_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "migrate.h"

#define MIG__AGAIN (-EAGAIN)

#define MIG__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIG__MIN(a, b) ((a) < (b) ? (a) : (b))
#define MIG__MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIG__DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))

#if defined(__GNUC__)
#define MIG__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MIG__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define MIG__PRINTF(f, a)
#define MIG__UNLIKELY(x) (x)
#endif

/* A log sink and its threshold, copied from struct mig_params. */
struct mig__log {
	mig_log_fn fn;
	void *opaque;
	enum mig_log_level level;
};

/*
 * Formats a line and hands it to the caller's sink, if any and if `level`
 * passes the threshold. Never prints on its own. Safe from any thread.
 */
void mig__log(const struct mig__log *log, enum mig_log_level level,
	      const char *fmt, ...) MIG__PRINTF(3, 4);

#define mig__err(l, ...) mig__log((l), MIG_LOG_ERROR, __VA_ARGS__)
#define mig__warn(l, ...) mig__log((l), MIG_LOG_WARN, __VA_ARGS__)
#define mig__info(l, ...) mig__log((l), MIG_LOG_INFO, __VA_ARGS__)
#define mig__dbg(l, ...) mig__log((l), MIG_LOG_DEBUG, __VA_ARGS__)

/* Monotonic time in microseconds. */
static inline uint64_t mig__now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif /* MIG_INTERNAL_H */
