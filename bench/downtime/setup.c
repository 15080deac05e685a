/*
 * setup.c - what a run stands on: clocks, ports, the loopback counter,
 * certificates (ours and QEMU's names for the same files), guest images,
 * the work directory, number parsing.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "downtime.h"

#ifndef MIG_DT_SOURCE_DIR
#define MIG_DT_SOURCE_DIR "."
#endif

uint64_t dt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void dt_sleep_ms(uint32_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int dt_free_port(uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		rc = -errno;
	else
		*port = ntohs(sa.sin_port);
	close(fd);
	return rc;
}

uint64_t dt_lo_bytes(void)
{
	FILE *f = fopen("/proc/net/dev", "r");
	char line[512];
	uint64_t rx = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = line;

		while (*p == ' ')
			p++;
		if (!strncmp(p, "lo:", 3) &&
		    sscanf(p + 3, "%" SCNu64, &rx) == 1)
			break;
	}
	fclose(f);
	return rx;
}

/* Runs argv to completion, its output to `log`. Returns 0 on status 0. */
static int run_tool(char *const argv[], const char *log)
{
	struct dt_proc p;
	char buf[4096];
	int rc = dt_proc_spawn(&p, argv[0], argv, log, 0);

	if (rc)
		return rc;
	/* Its stdout is not the guest's: drain it so it cannot block. */
	while (read(p.out_fd, buf, sizeof(buf)) > 0)
		;
	while (!dt_proc_poll(&p))
		dt_sleep_ms(10);
	dt_proc_end(&p);
	dt_proc_close(&p);
	return WIFEXITED(p.status) && !WEXITSTATUS(p.status) ? 0 : -1;
}

/* The script, next to the build tree or in the configured source tree. */
static int find_script(char *buf, size_t len)
{
	static const char *const rel[] = {"../../..", "../..", ".."};
	char exe[DT_PATH];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(buf, len, "%s/%s/scripts/gen-test-certs.sh",
				 dirname(exe), rel[i]);
			if (!access(buf, R_OK))
				return 0;
			exe[n] = '\0'; /* dirname() may have cut it */
		}
	}
	snprintf(buf, len, "%s/scripts/gen-test-certs.sh", MIG_DT_SOURCE_DIR);
	return access(buf, R_OK) ? -1 : 0;
}

static int link_as(const char *certs, const char *file, const char *qdir,
		   const char *name)
{
	char from[DT_PATH + 64], to[DT_PATH + 64];

	/* Both directories are shorter than DT_PATH, the names are ours. */
	snprintf(from, sizeof(from), "%.4000s/%.32s", certs, file);
	snprintf(to, sizeof(to), "%.4000s/%.32s", qdir, name);
	if (access(from, R_OK)) {
		fprintf(stderr, "mig-downtime: cannot read %s\n", from);
		return -1;
	}
	unlink(to);
	if (symlink(from, to)) {
		fprintf(stderr, "mig-downtime: cannot link %s: %s\n", to,
			strerror(errno));
		return -1;
	}
	return 0;
}

int dt_certs_setup(const struct dt_opts *o, struct dt_env *env)
{
	char *certs = env->certs, *qcerts = env->qcerts;
	size_t certs_len = sizeof(env->certs), qcerts_len = sizeof(env->qcerts);
	const char *dir = env->workdir;
	/* QEMU's tls-creds-x509 file names for our files. */
	static const char *const map[][2] = {
	    {"ca.pem", "ca-cert.pem"},	      {"target.pem", "server-cert.pem"},
	    {"target.key", "server-key.pem"}, {"source.pem", "client-cert.pem"},
	    {"source.key", "client-key.pem"},
	};
	char script[DT_PATH], log[DT_PATH], abs[DT_PATH];

	if (o->certs) {
		if (!realpath(o->certs, abs)) {
			fprintf(stderr, "mig-downtime: --certs %s: %s\n",
				o->certs, strerror(errno));
			return -1;
		}
		snprintf(certs, certs_len, "%s", abs);
	} else {
		char *const argv[] = {"/bin/sh", script, certs, NULL};

		if (find_script(script, sizeof(script))) {
			fprintf(stderr, "mig-downtime: cannot find "
					"scripts/gen-test-certs.sh; use "
					"--certs DIR\n");
			return -1;
		}
		snprintf(certs, certs_len, "%s/certs", dir);
		snprintf(log, sizeof(log), "%s/gen-test-certs.log", dir);
		if (run_tool(argv, log)) {
			fprintf(stderr, "mig-downtime: %s failed (see %s)\n",
				script, log);
			return -1;
		}
	}
	snprintf(qcerts, qcerts_len, "%s/qemu-certs", dir);
	if (mkdir(qcerts, 0755) && errno != EEXIST) {
		fprintf(stderr, "mig-downtime: cannot make %s: %s\n", qcerts,
			strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (link_as(certs, map[i][0], qcerts, map[i][1]))
			return -1;
	return 0;
}

int dt_copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out, rc = 0;
	ssize_t n;

	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = -errno;
		goto close_in;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = -EIO;
			break;
		}
	if (n < 0)
		rc = -errno;
	if (close(out) && !rc)
		rc = -errno;
close_in:
	close(in);
	return rc;
}

/* Which of the guests a workload boots. */
static const char *guest_of(enum dt_kind k)
{
	return k == DT_IDLE ? "counter.img" : "checker.img";
}

int dt_guest_prepare(const struct dt_opts *o, struct dt_workload *w,
		     const struct dt_env *env, char *why, size_t why_len)
{
	char in[DT_PATH], log[DT_PATH], ws[16], rate[16], period[16], cpus[16];
	char *argv[24];
	int n = 0;
	int rc;

	if (DT_IS_LINUX(w->kind))
		return dt_linux_prepare(o, w, why, why_len);
	/* Local: QEMU's target opens it at the switch-over, as the source
	 * did at boot (vmm-lite's target never does). */
	snprintf(w->image, sizeof(w->image), "%s/%s.img", env->localdir,
		 w->name);
	if (w->kind == DT_IMAGE) {
		rc = dt_copy_file(o->image, w->image);
		if (rc)
			snprintf(why, why_len, "cannot copy %s: %s", o->image,
				 strerror(-rc));
		return rc ? -1 : 0;
	}
	snprintf(in, sizeof(in), "%s/%s", o->guest_dir, guest_of(w->kind));
	snprintf(ws, sizeof(ws), "%u", w->ws_mib);
	snprintf(rate, sizeof(rate), "%u", w->rate_mib);
	snprintf(period, sizeof(period), "%u", w->period_ms);
	snprintf(cpus, sizeof(cpus), "%u", o->cpus);
	snprintf(log, sizeof(log), "%s/%s.config.log", env->workdir, w->name);
	argv[n++] = (char *)o->guest_tool;
	argv[n++] = in;
	argv[n++] = w->image;
	argv[n++] = "--ws-mib";
	argv[n++] = ws;
	argv[n++] = "--pattern";
	argv[n++] = w->pattern;
	argv[n++] = "--rate-mib";
	argv[n++] = rate;
	argv[n++] = "--period-ms";
	argv[n++] = period;
	argv[n++] = "--cpus";
	argv[n++] = cpus;
	argv[n++] = "--run-s";
	argv[n++] = "0";
	/* The idle guest has nothing to verify; the others check it all. */
	argv[n++] = "--verify";
	argv[n++] = w->kind == DT_IDLE ? "off" : "on";
	if (o->self_test_bad)
		argv[n++] = "--self-test-corrupt";
	argv[n] = NULL;
	if (access(in, R_OK)) {
		snprintf(why, why_len, "no guest image %s (--guest-dir)", in);
		return -1;
	}
	rc = run_tool(argv, log);
	if (rc) {
		snprintf(why, why_len, "%s %s failed (see %s)", o->guest_tool,
			 in, log);
		return -1;
	}
	return 0;
}

json_object *dt_json_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)DT_JSON_MAX)
		return NULL;
	return json_object_from_file(path);
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void dt_rmtree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int dt_mib_parse(const char *s, uint64_t *mib)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	if (*end == 'G' || *end == 'g') {
		if (v > (1ull << 20))
			return -1;
		v <<= 10;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		end++;
	}
	if (!strcmp(end, "iB") || !strcmp(end, "B"))
		end += strlen(end);
	if (*end || !v || v > (1ull << 30))
		return -1;
	*mib = v;
	return 0;
}

int dt_u32_parse(const char *s, uint32_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || x > UINT32_MAX)
		return -1;
	*v = (uint32_t)x;
	return 0;
}
