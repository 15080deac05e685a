/*
 * metrics.h - the daemon's Prometheus metrics: a registry of counters,
 * histograms and gauges, rendered in the text exposition format 0.0.4 and
 * served over HTTP (GET /metrics) by libmicrohttpd on its own thread.
 *
 * Every function may be called from any thread: the daemon updates from its
 * loop thread while the HTTP thread renders. migd_metrics_serve() and
 * migd_metrics_free() belong to one thread (the one that owns the daemon).
 */
#ifndef MIGD_METRICS_H
#define MIGD_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct migd_metrics;

/* Which side of a migration this host is: the source (out) or target (in). */
enum migd_dir {
	MIGD_DIR_OUT = 0,
	MIGD_DIR_IN = 1,
};

/*
 * Creates an empty registry; `version` (copied) becomes the label of
 * migrated_build_info. Returns 0 and the registry in *out (free it with
 * migd_metrics_free), -EINVAL if an argument is NULL, or -ENOMEM.
 */
int migd_metrics_new(struct migd_metrics **out, const char *version);

/* Stops the HTTP server if it runs, then frees the registry. NULL is a no-op. */
void migd_metrics_free(struct migd_metrics *m);

/* Counts a migration that began (the begin or prepare phase was entered). */
void migd_metrics_started(struct migd_metrics *m, enum migd_dir d);

/*
 * Counts a migration that completed. For MIGD_DIR_OUT it also observes
 * `downtime_s` and `total_s` in the two histograms and adds `bytes_sent`
 * to migrated_migration_bytes_sent_total; for MIGD_DIR_IN those three are
 * ignored (pass 0): the source reports them. A non-finite figure is not
 * observed, a negative one counts as 0.
 */
void migd_metrics_succeeded(struct migd_metrics *m, enum migd_dir d,
			    double downtime_s, double total_s,
			    uint64_t bytes_sent);

/* Counts a migration that failed (including undetermined ones settled as lost). */
void migd_metrics_failed(struct migd_metrics *m, enum migd_dir d);

/* Counts a migration cancelled by an operator. */
void migd_metrics_cancelled(struct migd_metrics *m, enum migd_dir d);

/* Sets the three gauges to the daemon's current figures. */
void migd_metrics_set_gauges(struct migd_metrics *m, unsigned vms_running,
			     unsigned in_progress, unsigned undetermined);

/*
 * Renders every metric family (HELP, TYPE, samples) as text format 0.0.4.
 * Returns a malloc'd NUL-terminated string the caller frees, or NULL if
 * memory ran out.
 */
char *migd_metrics_render(struct migd_metrics *m);

/*
 * Starts the HTTP server on `host`:`port` (an IPv4 or IPv6 literal, e.g.
 * "127.0.0.1" or "0.0.0.0"; port 0 picks a free port, see
 * migd_metrics_port). It answers GET/HEAD /metrics with 200 and the
 * rendered text, other paths with 404, other methods on /metrics with 405.
 * Returns 0, or a negative errno with a sentence in `err`: -EINVAL (bad
 * host), -EALREADY (already serving), -EADDRINUSE, -EACCES, ... from the
 * socket, -EIO if libmicrohttpd would not start (its reason in `err`).
 */
int migd_metrics_serve(struct migd_metrics *m, const char *host,
		       uint16_t port, char *err, size_t err_len);

/* The port the server listens on, or 0 if it does not run. */
uint16_t migd_metrics_port(struct migd_metrics *m);

#endif /* MIGD_METRICS_H */
