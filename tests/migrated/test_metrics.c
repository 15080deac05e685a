/*
 * test_metrics.c - the daemon's Prometheus registry (metrics.c): the exact
 * text it renders after a sequence of events, its HTTP endpoint fetched
 * with a plain socket, and updates racing scrapes.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

static const char *const families[][2] = {
	{ "migrated_migrations_started_total", "counter" },
	{ "migrated_migrations_succeeded_total", "counter" },
	{ "migrated_migrations_failed_total", "counter" },
	{ "migrated_migrations_cancelled_total", "counter" },
	{ "migrated_migration_bytes_sent_total", "counter" },
	{ "migrated_migration_downtime_seconds", "histogram" },
	{ "migrated_migration_total_seconds", "histogram" },
	{ "migrated_vms_running", "gauge" },
	{ "migrated_migrations_in_progress", "gauge" },
	{ "migrated_vms_undetermined", "gauge" },
	{ "migrated_build_info", "gauge" },
};
#define N_FAMILIES (sizeof(families) / sizeof(families[0]))

static size_t count_substr(const char *hay, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
		n++;
	return n;
}

/* True if `block` (one or more whole lines) appears as whole lines. */
static int has_lines(const char *text, const char *block)
{
	size_t len = strlen(block);

	for (const char *p = strstr(text, block); p; p = strstr(p + 1, block))
		if ((p == text || p[-1] == '\n') && p[len - 1] == '\n')
			return 1;
	return 0;
}

#define assert_line(text, line)                                              \
	do {                                                                 \
		if (!has_lines((text), line "\n"))                           \
			fail_msg("missing line: %s\n--- text:\n%s", line,    \
				 (text));                                    \
	} while (0)

static char *render(struct migd_metrics *m)
{
	char *t = migd_metrics_render(m);

	assert_non_null(t);
	return t;
}

/*
 * Checks the shape of the whole exposition: every family has one HELP and
 * one TYPE line, in that order, before its samples, and every sample line
 * belongs to the family last declared and ends with a number. Returns NULL
 * or what is wrong (static). No cmocka calls: threads use it too.
 */
static const char *structure_error(const char *text)
{
	static __thread char why[256];
	char family[128] = "";
	size_t seen = 0;
	const char *l, *nl;

	if (!*text || text[strlen(text) - 1] != '\n')
		return "text does not end with a newline";
	for (size_t i = 0; i < N_FAMILIES; i++) {
		char help[160], type[160];

		snprintf(help, sizeof(help), "# HELP %s ", families[i][0]);
		snprintf(type, sizeof(type), "# TYPE %s %s\n", families[i][0],
			 families[i][1]);
		if (count_substr(text, help) != 1 ||
		    count_substr(text, type) != 1 ||
		    strstr(text, help) > strstr(text, type)) {
			snprintf(why, sizeof(why), "HELP/TYPE of %s",
				 families[i][0]);
			return why;
		}
	}
	for (l = text; *l; l = nl + 1) {
		char line[512], *sp, *end;

		nl = strchr(l, '\n');
		if ((size_t)(nl - l) >= sizeof(line))
			return "line too long";
		memcpy(line, l, (size_t)(nl - l));
		line[nl - l] = '\0';
		if (strncmp(line, "# TYPE ", 7) == 0) {
			if (sscanf(line + 7, "%127s", family) != 1)
				return "bad TYPE line";
			seen++;
			continue;
		}
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		snprintf(why, sizeof(why), "stray line: %.200s", line);
		if (!family[0] || strncmp(line, family, strlen(family)) != 0)
			return why;
		sp = strrchr(line, ' ');
		if (!sp)
			return why;
		(void)strtod(sp + 1, &end);
		if (end == sp + 1 || *end)
			return why;
	}
	return seen == N_FAMILIES ? NULL : "wrong number of TYPE lines";
}

static void check_structure(const char *text)
{
	const char *why = structure_error(text);

	if (why)
		fail_msg("%s\n--- text:\n%s", why, text);
}

/* ---------------------------------------------------------------------- */
/* Rendering                                                              */

static void test_render_empty(void **state)
{
	struct migd_metrics *m;
	char *t;

	(void)state;
	assert_int_equal(migd_metrics_new(&m, "0.1.0"), 0);
	t = render(m);
	check_structure(t);
	assert_line(t, "# TYPE migrated_migrations_started_total counter");
	assert_line(t, "migrated_migrations_started_total{direction=\"out\"} 0");
	assert_line(t, "migrated_migrations_started_total{direction=\"in\"} 0");
	assert_line(t, "migrated_migration_bytes_sent_total 0");
	assert_line(t, "migrated_migration_downtime_seconds_bucket{le=\"0.005\"} 0");
	assert_line(t, "migrated_migration_downtime_seconds_bucket{le=\"+Inf\"} 0");
	assert_line(t, "migrated_migration_downtime_seconds_sum 0");
	assert_line(t, "migrated_migration_downtime_seconds_count 0");
	assert_line(t, "migrated_migration_total_seconds_bucket{le=\"600\"} 0");
	assert_line(t, "migrated_vms_running 0");
	assert_line(t, "migrated_build_info{version=\"0.1.0\"} 1");
	free(t);
	migd_metrics_free(m);
}

static void test_render_events(void **state)
{
	struct migd_metrics *m;
	char *t;

	(void)state;
	assert_int_equal(migd_metrics_new(&m, "1.2.3"), 0);
	for (int i = 0; i < 3; i++)
		migd_metrics_started(m, MIGD_DIR_OUT);
	migd_metrics_started(m, MIGD_DIR_IN);
	migd_metrics_started(m, MIGD_DIR_IN);
	/* Binary-exact figures so that _sum prints exactly; 0.25 and 0.5 sit
	 * on bounds and must land in them (le is inclusive). */
	migd_metrics_succeeded(m, MIGD_DIR_OUT, 0.0625, 0.5, 1000);
	migd_metrics_succeeded(m, MIGD_DIR_OUT, 0.25, 3, 2000);
	migd_metrics_succeeded(m, MIGD_DIR_OUT, 12, 1000, 4000);
	/* The target side counts, but observes nothing. */
	migd_metrics_succeeded(m, MIGD_DIR_IN, 7, 7, 99);
	migd_metrics_failed(m, MIGD_DIR_OUT);
	migd_metrics_failed(m, MIGD_DIR_IN);
	migd_metrics_failed(m, MIGD_DIR_IN);
	migd_metrics_cancelled(m, MIGD_DIR_OUT);
	migd_metrics_set_gauges(m, 4, 2, 1);
	migd_metrics_set_gauges(m, 3, 1, 1);

	t = render(m);
	check_structure(t);
	assert_line(t, "migrated_migrations_started_total{direction=\"out\"} 3");
	assert_line(t, "migrated_migrations_started_total{direction=\"in\"} 2");
	assert_line(t, "migrated_migrations_succeeded_total{direction=\"out\"} 3");
	assert_line(t, "migrated_migrations_succeeded_total{direction=\"in\"} 1");
	assert_line(t, "migrated_migrations_failed_total{direction=\"out\"} 1");
	assert_line(t, "migrated_migrations_failed_total{direction=\"in\"} 2");
	assert_line(t, "migrated_migrations_cancelled_total{direction=\"out\"} 1");
	assert_line(t, "migrated_migrations_cancelled_total{direction=\"in\"} 0");
	assert_line(t, "migrated_migration_bytes_sent_total 7000");
	assert_line(t,
		"# TYPE migrated_migration_downtime_seconds histogram\n"
		"migrated_migration_downtime_seconds_bucket{le=\"0.005\"} 0\n"
		"migrated_migration_downtime_seconds_bucket{le=\"0.01\"} 0\n"
		"migrated_migration_downtime_seconds_bucket{le=\"0.025\"} 0\n"
		"migrated_migration_downtime_seconds_bucket{le=\"0.05\"} 0\n"
		"migrated_migration_downtime_seconds_bucket{le=\"0.1\"} 1\n"
		"migrated_migration_downtime_seconds_bucket{le=\"0.25\"} 2\n"
		"migrated_migration_downtime_seconds_bucket{le=\"0.5\"} 2\n"
		"migrated_migration_downtime_seconds_bucket{le=\"1\"} 2\n"
		"migrated_migration_downtime_seconds_bucket{le=\"2.5\"} 2\n"
		"migrated_migration_downtime_seconds_bucket{le=\"5\"} 2\n"
		"migrated_migration_downtime_seconds_bucket{le=\"10\"} 2\n"
		"migrated_migration_downtime_seconds_bucket{le=\"+Inf\"} 3\n"
		"migrated_migration_downtime_seconds_sum 12.3125\n"
		"migrated_migration_downtime_seconds_count 3");
	assert_line(t,
		"# TYPE migrated_migration_total_seconds histogram\n"
		"migrated_migration_total_seconds_bucket{le=\"0.1\"} 0\n"
		"migrated_migration_total_seconds_bucket{le=\"0.25\"} 0\n"
		"migrated_migration_total_seconds_bucket{le=\"0.5\"} 1\n"
		"migrated_migration_total_seconds_bucket{le=\"1\"} 1\n"
		"migrated_migration_total_seconds_bucket{le=\"2.5\"} 1\n"
		"migrated_migration_total_seconds_bucket{le=\"5\"} 2\n"
		"migrated_migration_total_seconds_bucket{le=\"10\"} 2\n"
		"migrated_migration_total_seconds_bucket{le=\"30\"} 2\n"
		"migrated_migration_total_seconds_bucket{le=\"60\"} 2\n"
		"migrated_migration_total_seconds_bucket{le=\"120\"} 2\n"
		"migrated_migration_total_seconds_bucket{le=\"300\"} 2\n"
		"migrated_migration_total_seconds_bucket{le=\"600\"} 2\n"
		"migrated_migration_total_seconds_bucket{le=\"+Inf\"} 3\n"
		"migrated_migration_total_seconds_sum 1003.5\n"
		"migrated_migration_total_seconds_count 3");
	assert_line(t, "# TYPE migrated_vms_running gauge\nmigrated_vms_running 3");
	assert_line(t, "migrated_migrations_in_progress 1");
	assert_line(t, "migrated_vms_undetermined 1");
	assert_line(t, "# TYPE migrated_build_info gauge\n"
		       "migrated_build_info{version=\"1.2.3\"} 1");
	free(t);
	migd_metrics_free(m);
}

static void test_render_odd_values(void **state)
{
	struct migd_metrics *m;
	char *t;

	(void)state;
	assert_int_equal(migd_metrics_new(&m, "x"), 0);
	/* Counted as a success, but NaN/inf never reach the histograms. */
	migd_metrics_succeeded(m, MIGD_DIR_OUT, NAN, INFINITY, 5);
	/* A clock step backwards gives a negative figure: it counts as 0. */
	migd_metrics_succeeded(m, MIGD_DIR_OUT, -0.5, -1, 0);
	/* An out-of-range direction is ignored, not written out of bounds. */
	migd_metrics_started(m, (enum migd_dir)7);
	migd_metrics_succeeded(m, (enum migd_dir)-1, 1, 1, 1);
	migd_metrics_failed(m, (enum migd_dir)2);
	migd_metrics_cancelled(m, (enum migd_dir)2);
	/* Not a binary fraction: _sum must still read back exactly. */
	migd_metrics_succeeded(m, MIGD_DIR_OUT, 0.3, 0.1, 0);

	t = render(m);
	check_structure(t);
	assert_line(t, "migrated_migrations_succeeded_total{direction=\"out\"} 3");
	assert_line(t, "migrated_migrations_started_total{direction=\"out\"} 0");
	assert_line(t, "migrated_migrations_started_total{direction=\"in\"} 0");
	assert_line(t, "migrated_migrations_failed_total{direction=\"in\"} 0");
	assert_line(t, "migrated_migration_bytes_sent_total 5");
	assert_line(t, "migrated_migration_downtime_seconds_bucket{le=\"0.005\"} 1");
	assert_line(t, "migrated_migration_downtime_seconds_bucket{le=\"0.25\"} 1");
	assert_line(t, "migrated_migration_downtime_seconds_bucket{le=\"0.5\"} 2");
	assert_line(t, "migrated_migration_downtime_seconds_sum 0.3");
	assert_line(t, "migrated_migration_downtime_seconds_count 2");
	assert_line(t, "migrated_migration_total_seconds_bucket{le=\"0.1\"} 2");
	assert_line(t, "migrated_migration_total_seconds_sum 0.1");
	assert_line(t, "migrated_migration_total_seconds_count 2");
	free(t);
	migd_metrics_free(m);
}

static void test_version_escaped(void **state)
{
	struct migd_metrics *m;
	char *t;

	(void)state;
	assert_int_equal(migd_metrics_new(NULL, "1"), -EINVAL);
	assert_int_equal(migd_metrics_new(&m, NULL), -EINVAL);
	assert_int_equal(migd_metrics_new(&m, "1.0 \"rc\"\\x\ny"), 0);
	t = render(m);
	assert_line(t, "migrated_build_info{version=\"1.0 \\\"rc\\\"\\\\x\\ny\"} 1");
	free(t);
	migd_metrics_free(m);
	migd_metrics_free(NULL);
}

/* ---------------------------------------------------------------------- */
/* HTTP                                                                   */

struct http_reply {
	int status;
	char head[2048];
	char *body; /* malloc'd, NUL-terminated */
	size_t body_len;
};

/*
 * Sends `request` verbatim to 127.0.0.1:port and reads the reply to EOF.
 * Returns 0, a negative errno, or -EPROTO for a malformed reply. No cmocka
 * calls: threads use it too.
 */
static int http_fetch(uint16_t port, const char *request,
		      struct http_reply *r)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 10 };
	size_t len = 0, cap = 65536, rlen = strlen(request);
	char *buf = NULL, *sep;
	int fd, rc;
	ssize_t n = 0;

	memset(r, 0, sizeof(*r));
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    send(fd, request, rlen, MSG_NOSIGNAL) != (ssize_t)rlen) {
		rc = -errno;
		goto close_fd;
	}
	buf = malloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		goto close_fd;
	}
	while (len < cap - 1 && (n = recv(fd, buf + len, cap - 1 - len, 0)) > 0)
		len += (size_t)n;
	if (n < 0) {
		rc = -errno; /* a timeout: the server did not close */
		goto free_buf;
	}
	buf[len] = '\0';
	rc = -EPROTO;
	sep = strstr(buf, "\r\n\r\n");
	if (len >= cap - 1 || !sep || (size_t)(sep - buf) >= sizeof(r->head))
		goto free_buf;
	memcpy(r->head, buf, (size_t)(sep - buf));
	r->head[sep - buf] = '\0';
	if (sscanf(r->head, "HTTP/1.%*d %d ", &r->status) != 1)
		goto free_buf;
	r->body_len = len - (size_t)(sep + 4 - buf);
	r->body = strdup(sep + 4);
	rc = r->body ? 0 : -ENOMEM;
free_buf:
	free(buf);
close_fd:
	close(fd);
	return rc;
}

static void assert_header(const struct http_reply *r, const char *line)
{
	if (!strcasestr(r->head, line))
		fail_msg("missing header \"%s\" in:\n%s", line, r->head);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_serve(void **state)
{
	struct migd_metrics *m;
	struct http_reply r;
	char err[256], *want;
	uint16_t port;
	int fds = count_fds();

	(void)state;
	assert_int_equal(migd_metrics_new(&m, "9.9"), 0);
	assert_int_equal(migd_metrics_port(m), 0);
	assert_int_equal(migd_metrics_serve(m, "127.0.0.1", 0, err, sizeof(err)), 0);
	port = migd_metrics_port(m);
	assert_true(port != 0);
	assert_int_equal(migd_metrics_serve(m, "127.0.0.1", 0, err, sizeof(err)),
			 -EALREADY);
	assert_non_null(strstr(err, "already"));

	migd_metrics_started(m, MIGD_DIR_OUT);
	migd_metrics_succeeded(m, MIGD_DIR_OUT, 0.125, 2, 4096);
	migd_metrics_set_gauges(m, 2, 0, 0);
	want = render(m);

	assert_int_equal(http_fetch(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
					  "Connection: close\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_header(&r, "\r\nContent-Type: text/plain; version=0.0.4");
	assert_string_equal(r.body, want);
	assert_line(r.body, "migrated_migration_bytes_sent_total 4096");
	assert_line(r.body, "migrated_vms_running 2");
	free(r.body);

	/* A query string is not part of the path. */
	assert_int_equal(http_fetch(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, want);
	free(r.body);

	assert_int_equal(http_fetch(port, "HEAD /metrics HTTP/1.0\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 0);
	free(r.body);

	assert_int_equal(http_fetch(port, "GET /nope HTTP/1.1\r\nHost: x\r\n"
					  "Connection: close\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 404);
	assert_null(strstr(r.body, "migrated_"));
	free(r.body);

	assert_int_equal(http_fetch(port, "GET / HTTP/1.0\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 404);
	free(r.body);

	assert_int_equal(http_fetch(port, "POST /metrics HTTP/1.1\r\nHost: x\r\n"
					  "Content-Length: 5\r\nConnection: close\r\n"
					  "\r\nhello", &r), 0);
	assert_int_equal(r.status, 405);
	assert_header(&r, "\r\nAllow: GET, HEAD");
	free(r.body);

	assert_int_equal(http_fetch(port, "DELETE /metrics HTTP/1.0\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 405);
	free(r.body);

	/* Garbage gets an error status, and the server keeps serving. */
	assert_int_equal(http_fetch(port, "\x01\x02 nonsense\r\n\r\n", &r), 0);
	assert_true(r.status >= 400 && r.status < 600);
	free(r.body);
	assert_int_equal(http_fetch(port, "GET /metrics HTTP/1.0\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 200);
	free(r.body);

	free(want);
	migd_metrics_free(m);
	/* Stopped: nothing listens and no descriptor is left behind. */
	assert_int_equal(http_fetch(port, "GET /metrics HTTP/1.0\r\n\r\n", &r),
			 -ECONNREFUSED);
	assert_int_equal(count_fds(), fds);
}

static void test_serve_errors(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct migd_metrics *m;
	char err[256];
	int fd, fds = count_fds();

	(void)state;
	assert_int_equal(migd_metrics_new(&m, "1"), 0);
	err[0] = '\0';
	assert_int_equal(migd_metrics_serve(m, "localhost", 0, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "\"localhost\" is not an IP address"));
	assert_int_equal(migd_metrics_serve(m, "300.1.1.1", 0, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(migd_metrics_serve(m, NULL, 0, err, sizeof(err)), -EINVAL);

	/* A port someone else listens on. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	assert_int_equal(migd_metrics_serve(m, "127.0.0.1", ntohs(a.sin_port),
					    err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "cannot listen for metrics on 127.0.0.1 port"));
	assert_non_null(strstr(err, strerror(EADDRINUSE)));
	assert_int_equal(migd_metrics_port(m), 0);
	close(fd);

	/* A NULL or tiny err buffer is fine. */
	assert_int_equal(migd_metrics_serve(m, "bad", 0, NULL, 0), -EINVAL);
	assert_int_equal(migd_metrics_serve(m, "bad", 0, err, 1), -EINVAL);
	assert_string_equal(err, "");

	/* After failures it still starts, here on the IPv6 loopback if any. */
	if (migd_metrics_serve(m, "::1", 0, err, sizeof(err)) == 0)
		assert_true(migd_metrics_port(m) != 0);
	else
		assert_int_equal(migd_metrics_serve(m, "127.0.0.1", 0, err,
						    sizeof(err)), 0);
	migd_metrics_free(m);
	assert_int_equal(count_fds(), fds);
}

/* ---------------------------------------------------------------------- */
/* Concurrency                                                            */

#define ROUNDS 20000

static void *updater(void *arg)
{
	struct migd_metrics *m = arg;

	for (unsigned i = 0; i < ROUNDS; i++) {
		migd_metrics_started(m, MIGD_DIR_OUT);
		migd_metrics_succeeded(m, MIGD_DIR_OUT, 0.02, 4, 3);
		migd_metrics_started(m, MIGD_DIR_IN);
		migd_metrics_failed(m, MIGD_DIR_IN);
		migd_metrics_cancelled(m, MIGD_DIR_OUT);
		migd_metrics_set_gauges(m, i, i, i);
	}
	return NULL;
}

/*
 * Returns NULL, or non-NULL after printing what went wrong: cmocka must
 * stay on the main thread, and `why` may point into this thread's TLS.
 */
static void *scraper(void *arg)
{
	struct migd_metrics *m = arg;
	struct http_reply r;
	const char *why = NULL;

	for (int i = 0; i < 50 && !why; i++) {
		if (http_fetch(migd_metrics_port(m),
			       "GET /metrics HTTP/1.0\r\n\r\n", &r) != 0 ||
		    r.status != 200)
			why = "scrape failed";
		else
			why = structure_error(r.body);
		free(r.body);
	}
	if (why)
		fprintf(stderr, "scraper: %s\n", why);
	return why ? arg : NULL;
}

static void test_concurrent(void **state)
{
	struct migd_metrics *m;
	pthread_t up[2], scr;
	char err[256], *t;
	void *scraped;
	int renders = 0;

	(void)state;
	assert_int_equal(migd_metrics_new(&m, "c"), 0);
	assert_int_equal(migd_metrics_serve(m, "127.0.0.1", 0, err, sizeof(err)), 0);
	assert_int_equal(pthread_create(&up[0], NULL, updater, m), 0);
	assert_int_equal(pthread_create(&up[1], NULL, updater, m), 0);
	assert_int_equal(pthread_create(&scr, NULL, scraper, m), 0);
	/* Render while they run; each snapshot must be whole and consistent:
	 * a histogram's +Inf bucket equals its _count. */
	for (; renders < 200; renders++) {
		unsigned long long inf, cnt;
		const char *p;

		t = render(m);
		check_structure(t);
		p = strstr(t, "migrated_migration_total_seconds_bucket{le=\"+Inf\"} ");
		assert_non_null(p);
		assert_int_equal(sscanf(p, "%*s %llu", &inf), 1);
		p = strstr(t, "migrated_migration_total_seconds_count ");
		assert_non_null(p);
		assert_int_equal(sscanf(p, "%*s %llu", &cnt), 1);
		assert_int_equal(inf, cnt);
		free(t);
	}
	pthread_join(up[0], NULL);
	pthread_join(up[1], NULL);
	assert_int_equal(pthread_join(scr, &scraped), 0);
	assert_null(scraped);

	t = render(m);
	assert_line(t, "migrated_migrations_started_total{direction=\"out\"} 40000");
	assert_line(t, "migrated_migrations_started_total{direction=\"in\"} 40000");
	assert_line(t, "migrated_migrations_succeeded_total{direction=\"out\"} 40000");
	assert_line(t, "migrated_migrations_failed_total{direction=\"in\"} 40000");
	assert_line(t, "migrated_migrations_cancelled_total{direction=\"out\"} 40000");
	assert_line(t, "migrated_migration_bytes_sent_total 120000");
	assert_line(t, "migrated_migration_downtime_seconds_bucket{le=\"0.01\"} 0");
	assert_line(t, "migrated_migration_downtime_seconds_bucket{le=\"0.025\"} 40000");
	assert_line(t, "migrated_migration_downtime_seconds_count 40000");
	assert_line(t, "migrated_migration_total_seconds_sum 160000");
	assert_line(t, "migrated_vms_running 19999");
	free(t);
	migd_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_empty),
		cmocka_unit_test(test_render_events),
		cmocka_unit_test(test_render_odd_values),
		cmocka_unit_test(test_version_escaped),
		cmocka_unit_test(test_serve),
		cmocka_unit_test(test_serve_errors),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
