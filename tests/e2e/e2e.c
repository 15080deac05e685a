/* e2e.c - process, file and JSON helpers for the end-to-end tests. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"

extern char **environ;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Sanitizer reports exit 1 by default: the code mig-synth uses for "the
 * migration failed". Give them their own, so that a leak or an ASan error
 * in a child can never pass for an expected failure.
 */
static void sanitizer_exit_codes(void)
{
	static const char *const vars[][2] = {
	    {"ASAN_OPTIONS", "exitcode=99"},
	    {"LSAN_OPTIONS", "exitcode=98"},
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *old = getenv(vars[i][0]);
		char buf[1024];

		if (old && strstr(old, "exitcode="))
			continue;
		snprintf(buf, sizeof(buf), "%s%s%s", old ? old : "",
			 old && *old ? ":" : "", vars[i][1]);
		setenv(vars[i][0], buf, 1);
	}
}

int e2e_setup(void **state)
{
	const char *certs = getenv("MIG_TEST_CERTS");
	const char *tmp = getenv("TMPDIR");
	struct e2e *e;

	if (!certs || !*certs) {
		fprintf(stderr, "MIG_TEST_CERTS is not set (ctest sets it)\n");
		return -1;
	}
	sanitizer_exit_codes();
	e = calloc(1, sizeof(*e));
	if (!e)
		return -1;
	snprintf(e->certs, sizeof(e->certs), "%s", certs);
	/* Short: UNIX socket paths live in here (108 bytes at most). */
	snprintf(e->dir, sizeof(e->dir), "%s/mig-e2e-XXXXXX",
		 tmp && *tmp && strlen(tmp) < 48 ? tmp : "/tmp");
	if (!mkdtemp(e->dir)) {
		free(e);
		return -1;
	}
	*state = e;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int e2e_teardown(void **state)
{
	struct e2e *e = *state;

	for (int i = 0; i < e->nprocs; i++) {
		struct e2e_proc *p = &e->procs[i];

		if (p->pid && !p->reaped) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
			p->reaped = 1;
		}
	}
	for (int i = 0; i < e->nreports; i++)
		json_object_put(e->reports[i]);
	if (getenv("MIG_E2E_KEEP"))
		fprintf(stderr, "kept %s\n", e->dir);
	else
		nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(e);
	return 0;
}

const char *e2e_path(struct e2e *e, const char *name)
{
	static char bufs[8][512];
	static unsigned int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", e->dir, name);
	return b;
}

void e2e_args_init(struct e2e_args *a, const char *prog)
{
	memset(a, 0, sizeof(*a));
	a->v[a->n++] = strdup(prog);
}

void e2e_args_add(struct e2e_args *a, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	assert_true(a->n < E2E_MAX_ARGS);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	a->v[a->n] = strdup(buf);
	assert_non_null(a->v[a->n]);
	a->n++;
}

void e2e_args_addv(struct e2e_args *a, ...)
{
	const char *s;
	va_list ap;

	va_start(ap, a);
	while ((s = va_arg(ap, const char *)))
		e2e_args_add(a, "%s", s);
	va_end(ap);
}

void e2e_args_fini(struct e2e_args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	memset(a, 0, sizeof(*a));
}

struct e2e_proc *e2e_spawn(struct e2e *e, const char *name,
			   const struct e2e_args *a)
{
	posix_spawn_file_actions_t fa;
	struct e2e_proc *p;
	char log[sizeof(p->out)];
	int err;

	assert_true(e->nprocs < E2E_MAX_PROCS);
	p = &e->procs[e->nprocs];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(log, sizeof(log), "%s/%s.log", e->dir, name);
	memcpy(p->out, log, sizeof(p->out));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, p->out,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	/* Not closed: a closed fd 0 would be reused by the child's files. */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	err = posix_spawn(&p->pid, a->v[0], &fa, NULL, a->v, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		fail_msg("cannot spawn %s: %s", a->v[0], strerror(err));
	e->nprocs++;
	return p;
}

int e2e_wait(struct e2e_proc *p, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	int st;

	if (p->reaped)
		return p->status;
	for (;;) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);

		if (r == p->pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= end) {
			fprintf(stderr,
				"%s (pid %d) still runs after %d ms: "
				"killing it\n",
				p->name, (int)p->pid, timeout_ms);
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			p->reaped = 1;
			p->status = -1;
			return -1;
		}
		sleep_ms(10);
	}
	p->reaped = 1;
	p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return p->status;
}

char *e2e_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = (cap ? cap * 2 : 8192));

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);

		n += r;
		if (!r)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

void e2e_dump(struct e2e *e)
{
	for (int i = 0; i < e->nprocs; i++) {
		struct e2e_proc *p = &e->procs[i];
		char *text = e2e_slurp(p->out, NULL);

		fprintf(stderr, "----- %s (exit %d) -----\n%s\n", p->name,
			p->reaped ? p->status : -2,
			text ? text : "(no output)");
		free(text);
	}
	fprintf(stderr, "----- files in %s -----\n", e->dir);
}

int e2e_wait_line(struct e2e_proc *p, const char *path, char *buf, size_t len,
		  int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	int st;

	while (now_ms() < end) {
		char *text = e2e_slurp(path, NULL);

		if (text && strchr(text, '\n')) {
			*strchr(text, '\n') = '\0';
			snprintf(buf, len, "%s", text);
			free(text);
			return 0;
		}
		free(text);
		/* Ended before it listened: keep how, for the dump. */
		if (!p->reaped && waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->reaped = 1;
			p->status = WIFEXITED(st) ? WEXITSTATUS(st)
						  : 128 + WTERMSIG(st);
			return -1;
		}
		sleep_ms(10);
	}
	return -1;
}

json_object *e2e_json_load(const char *path)
{
	char *text = e2e_slurp(path, NULL);
	json_object *j;

	if (!text)
		return NULL;
	j = json_tokener_parse(text);
	free(text);
	return j;
}

json_object *e2e_json_at(json_object *root, const char *path)
{
	char key[128];
	const char *p = path;
	json_object *cur = root;

	while (cur && *p) {
		size_t n = strcspn(p, ".");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		if (!json_object_object_get_ex(cur, key, &cur))
			return NULL;
		p += n;
		if (*p == '.')
			p++;
	}
	return cur;
}

int64_t e2e_json_int(json_object *root, const char *path)
{
	json_object *j = e2e_json_at(root, path);

	if (!j || !(json_object_is_type(j, json_type_int) ||
		    json_object_is_type(j, json_type_boolean)))
		fail_msg("report has no number at %s", path);
	return json_object_get_int64(j);
}

int e2e_json_bool(json_object *root, const char *path)
{
	json_object *j = e2e_json_at(root, path);

	if (!j || !json_object_is_type(j, json_type_boolean))
		fail_msg("report has no boolean at %s", path);
	return json_object_get_boolean(j);
}

const char *e2e_json_str(json_object *root, const char *path)
{
	json_object *j = e2e_json_at(root, path);

	if (!j || !json_object_is_type(j, json_type_string))
		return "";
	return json_object_get_string(j);
}

int e2e_json_len(json_object *root, const char *path)
{
	json_object *j = e2e_json_at(root, path);

	if (!j || !json_object_is_type(j, json_type_array))
		return -1;
	return (int)json_object_array_length(j);
}

void e2e_synth_args(struct e2e *e, struct e2e_args *a, const char *command,
		    const char *name)
{
	char json[512];

	snprintf(json, sizeof(json), "%s/%s.json", e->dir, name);
	e2e_args_init(a, MIG_SYNTH);
	e2e_args_addv(a, command, "--certs", e->certs, "--report-json", json,
		      NULL);
}

struct e2e_proc *e2e_start_target(struct e2e *e, const char *name,
				  struct e2e_args *a, char *addr, size_t len)
{
	char port_file[512];
	struct e2e_proc *p;

	snprintf(port_file, sizeof(port_file), "%s/%s.port", e->dir, name);
	e2e_args_addv(a, "--port-file", port_file, NULL);
	p = e2e_spawn(e, name, a);
	if (e2e_wait_line(p, port_file, addr, len, 30000)) {
		e2e_dump(e);
		fail_msg("%s never listened", name);
	}
	return p;
}

json_object *e2e_report(struct e2e *e, const char *name)
{
	char path[512];
	json_object *j;

	snprintf(path, sizeof(path), "%s/%s.json", e->dir, name);
	j = e2e_json_load(path);
	if (!j) {
		e2e_dump(e);
		fail_msg("no readable report at %s", path);
	}
	assert_true(e->nreports < 8);
	e->reports[e->nreports++] = j;
	return j;
}

int e2e_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return 1;
	return 0;
}

int e2e_has_number(const char *text, unsigned long n)
{
	const char *p = text;

	while (*p) {
		if (isdigit((unsigned char)*p) &&
		    (p == text || !isalnum((unsigned char)p[-1]))) {
			char *end;
			unsigned long v = strtoul(p, &end, 10);

			if (v == n && !isalnum((unsigned char)*end))
				return 1;
			p = end;
			continue;
		}
		p++;
	}
	return 0;
}
