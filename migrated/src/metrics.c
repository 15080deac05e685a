/*
 * metrics.c - the daemon's Prometheus registry and its HTTP endpoint.
 *
 * The figures live in one plain struct under a mutex; rendering copies it
 * and formats the copy, so the loop thread never waits for a scrape's
 * string building. The HTTP side is libmicrohttpd with its own thread, on
 * a listening socket we bind ourselves so that bind errors come back as
 * errno values with a sentence.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <microhttpd.h>

#include "metrics.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Guest pauses: a few ms when all goes well, seconds when a limit was missed. */
static const double downtime_bounds[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
/* Whole migrations: sub-second for idle guests, minutes for busy big ones. */
static const double total_bounds[] = {
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
};

#define N_DOWNTIME (sizeof(downtime_bounds) / sizeof(downtime_bounds[0]))
#define N_TOTAL (sizeof(total_bounds) / sizeof(total_bounds[0]))
#define MAX_BOUNDS (N_DOWNTIME > N_TOTAL ? N_DOWNTIME : N_TOTAL)

struct hist {
	/* bucket[i]: observations in (bounds[i-1], bounds[i]]; bucket[n]: above. */
	uint64_t bucket[MAX_BOUNDS + 1];
	double sum;
	uint64_t count;
};

struct figures {
	uint64_t started[2], succeeded[2], failed[2], cancelled[2];
	uint64_t bytes_sent;
	struct hist downtime, total;
	unsigned vms_running, in_progress, undetermined;
};

struct migd_metrics {
	pthread_mutex_t lock;
	struct figures f;       /* under lock */
	uint16_t port;          /* under lock; 0 while not serving */
	char mhd_msg[160];      /* under lock: libmicrohttpd's last complaint */
	char *version_label;    /* escaped for a label value; immutable */
	struct MHD_Daemon *httpd; /* owner thread only */
};

/* ---------------------------------------------------------------------- */
/* Registry                                                               */

/* Escapes \, " and newline as the text format requires in label values. */
static char *escape_label(const char *s)
{
	size_t n = 0;
	char *out, *p;

	for (const char *q = s; *q; q++)
		n += (*q == '\\' || *q == '"' || *q == '\n') ? 2 : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	p = out;
	for (const char *q = s; *q; q++) {
		if (*q == '\\' || *q == '"') {
			*p++ = '\\';
			*p++ = *q;
		} else if (*q == '\n') {
			*p++ = '\\';
			*p++ = 'n';
		} else {
			*p++ = *q;
		}
	}
	*p = '\0';
	return out;
}

int migd_metrics_new(struct migd_metrics **out, const char *version)
{
	struct migd_metrics *m;
	int rc;

	if (!out || !version)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->version_label = escape_label(version);
	if (!m->version_label) {
		rc = -ENOMEM;
		goto free_m;
	}
	rc = -pthread_mutex_init(&m->lock, NULL);
	if (rc)
		goto free_version;
	*out = m;
	return 0;

free_version:
	free(m->version_label);
free_m:
	free(m);
	return rc;
}

void migd_metrics_free(struct migd_metrics *m)
{
	if (!m)
		return;
	if (m->httpd)
		MHD_stop_daemon(m->httpd); /* joins its thread, closes the socket */
	pthread_mutex_destroy(&m->lock);
	free(m->version_label);
	free(m);
}

static bool dir_ok(enum migd_dir d)
{
	return d == MIGD_DIR_OUT || d == MIGD_DIR_IN;
}

static void count(struct migd_metrics *m, uint64_t *v)
{
	pthread_mutex_lock(&m->lock);
	(*v)++;
	pthread_mutex_unlock(&m->lock);
}

void migd_metrics_started(struct migd_metrics *m, enum migd_dir d)
{
	if (dir_ok(d))
		count(m, &m->f.started[d]);
}

void migd_metrics_failed(struct migd_metrics *m, enum migd_dir d)
{
	if (dir_ok(d))
		count(m, &m->f.failed[d]);
}

void migd_metrics_cancelled(struct migd_metrics *m, enum migd_dir d)
{
	if (dir_ok(d))
		count(m, &m->f.cancelled[d]);
}

/* Caller holds the lock. Buckets are "le": a value on a bound belongs to it. */
static void observe(struct hist *h, const double *bounds, size_t n, double v)
{
	size_t i = 0;

	/* A NaN or infinity would poison _sum for the life of the daemon. */
	if (!isfinite(v))
		return;
	if (v < 0)
		v = 0;
	while (i < n && v > bounds[i])
		i++;
	h->bucket[i]++;
	h->sum += v;
	h->count++;
}

void migd_metrics_succeeded(struct migd_metrics *m, enum migd_dir d,
			    double downtime_s, double total_s,
			    uint64_t bytes_sent)
{
	if (!dir_ok(d))
		return;
	pthread_mutex_lock(&m->lock);
	m->f.succeeded[d]++;
	if (d == MIGD_DIR_OUT) {
		observe(&m->f.downtime, downtime_bounds, N_DOWNTIME, downtime_s);
		observe(&m->f.total, total_bounds, N_TOTAL, total_s);
		m->f.bytes_sent += bytes_sent;
	}
	pthread_mutex_unlock(&m->lock);
}

void migd_metrics_set_gauges(struct migd_metrics *m, unsigned vms_running,
			     unsigned in_progress, unsigned undetermined)
{
	pthread_mutex_lock(&m->lock);
	m->f.vms_running = vms_running;
	m->f.in_progress = in_progress;
	m->f.undetermined = undetermined;
	pthread_mutex_unlock(&m->lock);
}

/* ---------------------------------------------------------------------- */
/* Rendering                                                              */

struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	while (!sb->failed) {
		va_start(ap, fmt);
		n = vsnprintf(sb->p + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			sb->failed = true;
		} else if ((size_t)n < sb->cap - sb->len) {
			sb->len += (size_t)n;
			return;
		} else {
			size_t cap = sb->cap * 2 > sb->len + (size_t)n + 1 ?
				     sb->cap * 2 : sb->len + (size_t)n + 1;
			char *p = realloc(sb->p, cap);

			if (!p) {
				sb->failed = true;
			} else {
				sb->p = p;
				sb->cap = cap;
			}
		}
	}
}

/*
 * The shortest "%g" that reads back as the same double, so bounds print as
 * 0.005 rather than 0.0050000000000000001; whole numbers print without an
 * exponent (600, not 6e+02). The daemon keeps the C locale, so '.' it is.
 */
static void fmt_double(char *buf, size_t len, double v)
{
	if (isinf(v)) {
		snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, len, "%.0f", v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static void put_family(struct sbuf *sb, const char *name, const char *type,
		       const char *help)
{
	sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_dir_counter(struct sbuf *sb, const char *name,
			    const char *help, const uint64_t v[2])
{
	put_family(sb, name, "counter", help);
	sb_printf(sb, "%s{direction=\"out\"} %llu\n", name,
		  (unsigned long long)v[MIGD_DIR_OUT]);
	sb_printf(sb, "%s{direction=\"in\"} %llu\n", name,
		  (unsigned long long)v[MIGD_DIR_IN]);
}

static void put_hist(struct sbuf *sb, const char *name, const char *help,
		     const double *bounds, size_t n, const struct hist *h)
{
	uint64_t cum = 0;
	char num[40];

	put_family(sb, name, "histogram", help);
	for (size_t i = 0; i <= n; i++) {
		cum += h->bucket[i];
		fmt_double(num, sizeof(num), i < n ? bounds[i] : INFINITY);
		sb_printf(sb, "%s_bucket{le=\"%s\"} %llu\n", name, num,
			  (unsigned long long)cum);
	}
	fmt_double(num, sizeof(num), h->sum);
	sb_printf(sb, "%s_sum %s\n%s_count %llu\n", name, num, name,
		  (unsigned long long)h->count);
}

static void put_gauge(struct sbuf *sb, const char *name, const char *help,
		      unsigned v)
{
	put_family(sb, name, "gauge", help);
	sb_printf(sb, "%s %u\n", name, v);
}

char *migd_metrics_render(struct migd_metrics *m)
{
	struct sbuf sb = { .cap = 8192 };
	struct figures f;

	pthread_mutex_lock(&m->lock);
	f = m->f;
	pthread_mutex_unlock(&m->lock);

	sb.p = malloc(sb.cap);
	if (!sb.p)
		return NULL;
	sb.p[0] = '\0';

	put_dir_counter(&sb, "migrated_migrations_started_total",
			"Migrations begun, by this host's side (out: source, in: target).",
			f.started);
	put_dir_counter(&sb, "migrated_migrations_succeeded_total",
			"Migrations completed: the guest runs on the target.",
			f.succeeded);
	put_dir_counter(&sb, "migrated_migrations_failed_total",
			"Migrations that failed; the guest stays on the source.",
			f.failed);
	put_dir_counter(&sb, "migrated_migrations_cancelled_total",
			"Migrations cancelled by an operator.", f.cancelled);
	put_family(&sb, "migrated_migration_bytes_sent_total", "counter",
		   "Bytes the source sent for its completed outgoing migrations.");
	sb_printf(&sb, "migrated_migration_bytes_sent_total %llu\n",
		  (unsigned long long)f.bytes_sent);
	put_hist(&sb, "migrated_migration_downtime_seconds",
		 "Guest pause of completed outgoing migrations.",
		 downtime_bounds, N_DOWNTIME, &f.downtime);
	put_hist(&sb, "migrated_migration_total_seconds",
		 "Duration of completed outgoing migrations, as the source VMM measured it.",
		 total_bounds, N_TOTAL, &f.total);
	put_gauge(&sb, "migrated_vms_running",
		  "VMs this daemon runs (not stopped, not still arriving).",
		  f.vms_running);
	put_gauge(&sb, "migrated_migrations_in_progress",
		  "Migrations under way in either direction.", f.in_progress);
	put_gauge(&sb, "migrated_vms_undetermined",
		  "VMs paused until an undetermined migration is settled.",
		  f.undetermined);
	put_family(&sb, "migrated_build_info", "gauge",
		   "The running migrated's version; always 1.");
	sb_printf(&sb, "migrated_build_info{version=\"%s\"} 1\n",
		  m->version_label);

	if (sb.failed) {
		free(sb.p);
		return NULL;
	}
	return sb.p;
}

/* ---------------------------------------------------------------------- */
/* HTTP                                                                   */

static enum MHD_Result reply_static(struct MHD_Connection *conn,
				    unsigned status, const char *body,
				    const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
					    MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/plain; charset=utf-8") != MHD_YES ||
	    (allow && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
					      allow) != MHD_YES)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * Answers at the first call for every request: nothing here needs a body,
 * and libmicrohttpd then drops any upload and closes the connection.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_size, void **req_cls)
{
	struct migd_metrics *m = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text;

	(void)version;
	(void)upload_data;
	(void)upload_size;
	(void)req_cls;
	if (strcmp(url, "/metrics") != 0)
		return reply_static(conn, MHD_HTTP_NOT_FOUND,
				    "not found: the metrics are at /metrics\n",
				    NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				    "method not allowed: use GET\n",
				    "GET, HEAD");
	text = migd_metrics_render(m);
	if (!text)
		return reply_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "out of memory\n", NULL);
	r = MHD_create_response_from_buffer(strlen(text), text,
					    MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				    CONTENT_TYPE) != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* Keeps libmicrohttpd's last message for the sentence of a failed start. */
__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct migd_metrics *m = cls;
	char line[sizeof(m->mhd_msg)];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '.'))
		line[--n] = '\0';
	pthread_mutex_lock(&m->lock);
	memcpy(m->mhd_msg, line, sizeof(line));
	pthread_mutex_unlock(&m->lock);
}

__attribute__((format(printf, 3, 4)))
static void errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

/* Binds and listens on host:port. Returns the socket, or a negative errno. */
static int listen_on(const char *host, uint16_t port, uint16_t *bound,
		     char *err, size_t err_len)
{
	union sockaddr_any a = { 0 };
	socklen_t alen;
	int fd, one = 1, rc;

	if (inet_pton(AF_INET, host, &a.in4.sin_addr) == 1) {
		a.in4.sin_family = AF_INET;
		a.in4.sin_port = htons(port);
		alen = sizeof(a.in4);
	} else if (inet_pton(AF_INET6, host, &a.in6.sin6_addr) == 1) {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(port);
		alen = sizeof(a.in6);
	} else {
		errf(err, err_len,
		     "metrics listen address \"%.64s\" is not an IP address",
		     host);
		return -EINVAL;
	}
	fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		errf(err, err_len, "cannot create the metrics socket: %s",
		     strerror(-rc));
		return rc;
	}
	/* A restarted daemon must rebind while old scrapes sit in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (a.sa.sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)) {
		rc = -errno;
		errf(err, err_len, "cannot set up the metrics socket: %s",
		     strerror(-rc));
		goto close_fd;
	}
	if (bind(fd, &a.sa, alen) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		errf(err, err_len, "cannot listen for metrics on %s port %u: %s",
		     host, (unsigned)port, strerror(-rc));
		goto close_fd;
	}
	alen = sizeof(a);
	if (getsockname(fd, &a.sa, &alen) < 0) {
		rc = -errno;
		errf(err, err_len, "cannot read the metrics socket's port: %s",
		     strerror(-rc));
		goto close_fd;
	}
	*bound = ntohs(a.sa.sa_family == AF_INET ? a.in4.sin_port :
						   a.in6.sin6_port);
	return fd;

close_fd:
	close(fd);
	return rc;
}

int migd_metrics_serve(struct migd_metrics *m, const char *host,
		       uint16_t port, char *err, size_t err_len)
{
	struct MHD_Daemon *d;
	struct stat before, after;
	uint16_t bound = 0;
	int fd;

	if (!m || !host) {
		errf(err, err_len, "no metrics listen address");
		return -EINVAL;
	}
	if (m->httpd) {
		errf(err, err_len, "the metrics server already runs");
		return -EALREADY;
	}
	fd = listen_on(host, port, &bound, err, err_len);
	if (fd < 0)
		return fd;
	if (fstat(fd, &before) < 0)
		memset(&before, 0, sizeof(before));
	pthread_mutex_lock(&m->lock);
	m->mhd_msg[0] = '\0';
	pthread_mutex_unlock(&m->lock);

	/* Few, short-lived connections: a scraper or two, and curl. */
	d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
			     0, NULL, NULL, on_request, m,
			     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, m,
			     MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_CONNECTION_LIMIT, 16u,
			     MHD_OPTION_CONNECTION_TIMEOUT, 10u,
			     MHD_OPTION_END);
	if (!d) {
		/*
		 * libmicrohttpd closes a given socket on some failure paths
		 * and not on others; close it only if it is still ours.
		 */
		if (fstat(fd, &after) == 0 && after.st_dev == before.st_dev &&
		    after.st_ino == before.st_ino)
			close(fd);
		pthread_mutex_lock(&m->lock);
		errf(err, err_len, "cannot start the metrics HTTP server%s%s",
		     m->mhd_msg[0] ? ": " : "", m->mhd_msg);
		pthread_mutex_unlock(&m->lock);
		return -EIO;
	}
	m->httpd = d;
	pthread_mutex_lock(&m->lock);
	m->port = bound;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

uint16_t migd_metrics_port(struct migd_metrics *m)
{
	uint16_t port;

	pthread_mutex_lock(&m->lock);
	port = m->port;
	pthread_mutex_unlock(&m->lock);
	return port;
}
