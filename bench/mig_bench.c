/*
 * mig_bench.c - mig-bench: libmigrate's pipeline against its bounds
 * (issue #2). Options, certificates, the run loop.
 *
 * One run of a workload builds a fresh synthetic guest (the migration
 * destroys the source copy) and then, one after the other on that same
 * memory, never two at once on the two cores: memcpy, LZ4, raw TLS, and
 * the migration itself. The exit status says whether everything ran and
 * verified; it never depends on timing.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#ifndef MIG_BENCH_SOURCE_DIR
#define MIG_BENCH_SOURCE_DIR "."
#endif

#define EXIT_FAIL  1
#define EXIT_USAGE 2

static const struct bench_workload standard[] = {
    {"random", {.random = 100}},
    {"zero", {.zero = 100}},
    {"text", {.text = 100}},
    {"mixed", {.zero = 30, .text = 40, .random = 30}},
};

/* clang-format off */
static void usage(FILE *f)
{
	fputs(
"usage: mig-bench [options]\n"
"\n"
"Migrates a synthetic guest with libmigrate over TLS on loopback to a\n"
"child process and measures, on the same memory, what raw TLS, LZ4 and\n"
"memcpy can do on this machine; prints our rate against them and the\n"
"targets of issue #2. Exit 0 when every run completed and the target's\n"
"memory verified, whatever the figures; 1 on a real failure; 2 usage.\n"
"\n"
"  --workload-set default|quick  the standard table: random, zero, text,\n"
"                     mixed (quick: --size 256M --runs 1 unless given)\n"
"  --mix SPEC         one workload instead, e.g. zero=30,text=40,random=30\n"
"  --size SIZE        guest RAM (default 1G)\n"
"  --runs N           runs per workload, median reported (default 3)\n"
"  --dirty-rate RATE  bytes/s the guest writes during the migration,\n"
"                     e.g. 50M, or max (default 0: idle)\n"
"  --dirty-threads N  writer threads (default 1 when dirtying)\n"
"  --certs DIR        ca.pem, source.pem/key, target.pem/key (default:\n"
"                     made into a temporary directory with\n"
"                     scripts/gen-test-certs.sh)\n"
"  --json FILE        every run and median as JSON\n"
"Experiments:\n"
"  --encode-threads N the library's page encoders (default: its own)\n"
"  --lazy-zero        leave the guest's zero pages unmapped, as the\n"
"                     synthetic guest makes them (default: resident)\n"
"  --target-4k        MADV_NOHUGEPAGE on the target's RAM (the synthetic\n"
"                     guest asks for huge pages, as VMMs do)\n"
"  --ours-only        skip the bounds (to profile the library alone)\n"
"  --verbose          the library's info log on stderr\n",
	      f);
}
/* clang-format on */

/* In the order of long_opts[]: the error message indexes it. */
enum {
	OPT_SET = 256,
	OPT_MIX,
	OPT_SIZE,
	OPT_RUNS,
	OPT_RATE,
	OPT_THREADS,
	OPT_CERTS,
	OPT_JSON,
	OPT_ENCODERS,
	OPT_LAZY,
	OPT_4K,
	OPT_OURS,
	OPT_VERBOSE,
	OPT_HELP,
};

static const struct option long_opts[] = {
    {"workload-set", required_argument, NULL, OPT_SET},
    {"mix", required_argument, NULL, OPT_MIX},
    {"size", required_argument, NULL, OPT_SIZE},
    {"runs", required_argument, NULL, OPT_RUNS},
    {"dirty-rate", required_argument, NULL, OPT_RATE},
    {"dirty-threads", required_argument, NULL, OPT_THREADS},
    {"certs", required_argument, NULL, OPT_CERTS},
    {"json", required_argument, NULL, OPT_JSON},
    {"encode-threads", required_argument, NULL, OPT_ENCODERS},
    {"lazy-zero", no_argument, NULL, OPT_LAZY},
    {"target-4k", no_argument, NULL, OPT_4K},
    {"ours-only", no_argument, NULL, OPT_OURS},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int parse_one(struct bench_opts *o, int c, const char *v)
{
	uint32_t u;

	switch (c) {
	case OPT_SET:
		if (strcmp(v, "default") && strcmp(v, "quick"))
			return -1;
		o->set = v;
		break;
	case OPT_MIX:
		o->have_mix = 1;
		return synth_mix_parse(v, &o->mix) ? -1 : 0;
	case OPT_SIZE:
		o->have_size = 1;
		if (synth_size_parse(v, &o->size) || !o->size ||
		    o->size % MIG_PAGE_SIZE || o->size > SYNTH_RAM_MAX)
			return -1;
		break;
	case OPT_RUNS:
		o->have_runs = 1;
		if (synth_u32_parse(v, &o->runs) || !o->runs)
			return -1;
		break;
	case OPT_RATE:
		if (!strcmp(v, "max"))
			o->dirty_max = 1;
		else if (synth_size_parse(v, &o->dirty_rate))
			return -1;
		break;
	case OPT_THREADS:
		o->have_threads = 1;
		if (synth_u32_parse(v, &o->dirty_threads))
			return -1;
		break;
	case OPT_CERTS:
		o->certs = v;
		break;
	case OPT_JSON:
		o->json = v;
		break;
	case OPT_ENCODERS:
		if (synth_u32_parse(v, &u) || u > 256)
			return -1;
		o->encode_threads = (int)u;
		break;
	case OPT_LAZY:
		o->lazy_zero = 1;
		break;
	case OPT_4K:
		o->target_4k = 1;
		break;
	case OPT_OURS:
		o->ours_only = 1;
		break;
	case OPT_VERBOSE:
		o->verbose = 1;
		break;
	default:
		return -1;
	}
	return 0;
}

/* Returns 0, 1 after --help, or -1 (usage printed). */
static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		int rc;

		if (c == 'h' || c == OPT_HELP) {
			usage(stdout);
			return 1;
		}
		rc = parse_one(o, c, optarg);
		if (rc) {
			if (c != '?')
				fprintf(stderr,
					"mig-bench: bad value for "
					"--%s: %s\n",
					long_opts[c - OPT_SET].name, optarg);
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc || (o->have_mix && o->set)) {
		fprintf(stderr, "mig-bench: %s\n",
			optind < argc ? "unexpected argument"
				      : "--mix and --workload-set exclude "
					"each other");
		usage(stderr);
		return -1;
	}
	if (!o->have_mix && !o->set)
		o->set = "default";
	if (o->set && !strcmp(o->set, "quick")) {
		if (!o->have_size)
			o->size = 256ull << 20;
		if (!o->have_runs)
			o->runs = 1;
	}
	if (!o->have_size && !o->size)
		o->size = 1ull << 30;
	if (!o->runs)
		o->runs = 3;
	if (!o->have_threads && (o->dirty_rate || o->dirty_max))
		o->dirty_threads = 1;
	if (!o->dirty_rate && !o->dirty_max)
		o->dirty_threads = 0;
	return 0;
}

/* ---- certificates and the work directory ----------------------------- */

static int run_script(const char *script, const char *dir)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		execl("/bin/sh", "sh", script, dir, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

/* The script, next to the build tree or in the configured source tree. */
static int find_script(char *buf, size_t len)
{
	static const char *const rel[] = {"../..", ".."};
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(buf, len, "%s/%s/scripts/gen-test-certs.sh",
				 dirname(exe), rel[i]);
			if (!access(buf, R_OK))
				return 0;
		}
	}
	snprintf(buf, len, "%s/scripts/gen-test-certs.sh",
		 MIG_BENCH_SOURCE_DIR);
	return access(buf, R_OK) ? -1 : 0;
}

static int make_certs(const char *workdir, char *certs, size_t len)
{
	char script[4096];

	if (find_script(script, sizeof(script))) {
		fprintf(stderr, "mig-bench: cannot find "
				"scripts/gen-test-certs.sh; use --certs DIR\n");
		return -1;
	}
	snprintf(certs, len, "%s/certs", workdir);
	if (run_script(script, certs)) {
		fprintf(stderr, "mig-bench: %s failed\n", script);
		return -1;
	}
	return 0;
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

/* ---- one run ---------------------------------------------------------- */

static double rate(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes * 1e9 / (double)ns : 0;
}

static int raw_tls(struct bench_peer *peer, const char *certs,
		   const struct mig_region *r, size_t n, struct bench_run *res,
		   char *why, size_t why_len)
{
	struct bench_tls_out out = {0};
	struct bench_usage mine, sink;
	char sink_why[256];
	uint16_t port;
	int rc;

	if (bench_peer_sink(peer, res->guest_bytes, &port, why, why_len))
		return -1;
	bench_usage_get(&mine);
	rc = bench_tls_send(port, certs, r, n, &out, why, why_len);
	bench_usage_since(&mine);
	/* The sink's own account wins: it saw the bytes arrive, or not. */
	if (bench_peer_sink_wait(peer, &sink, sink_why, sizeof(sink_why))) {
		snprintf(why, why_len, "%s", sink_why);
		return -1;
	}
	if (rc)
		return -1;
	res->tls = rate(res->guest_bytes, out.elapsed_ns);
	res->tls_cpu_us = mine.cpu_us + sink.cpu_us;
	res->tls_faults = mine.faults + sink.faults;
	snprintf(res->cipher, sizeof(res->cipher), "%s", out.cipher);
	return 0;
}

static int bounds(struct bench_peer *peer, const char *certs, int small,
		  struct synth_guest *g, struct bench_run *res, char *why,
		  size_t why_len)
{
	const struct mig_region *r;
	size_t n;
	int64_t ns;

	synth_regions(g, &r, &n);
	res->guest_bytes = bench_regions_bytes(r, n);
	ns = bench_memcpy(r, n);
	if (ns < 0) {
		snprintf(why, why_len, "memcpy bound: out of memory");
		return -1;
	}
	res->memcpy = rate(res->guest_bytes, (uint64_t)ns);
	ns = bench_lz4(r, n, &res->lz4_out);
	if (ns < 0) {
		snprintf(why, why_len, "LZ4 bound: out of memory");
		return -1;
	}
	res->lz4 = rate(res->guest_bytes, (uint64_t)ns);
	ns = bench_touch(res->guest_bytes, !small);
	if (ns < 0) {
		snprintf(why, why_len, "first-touch figure: cannot map memory");
		return -1;
	}
	res->touch = rate(res->guest_bytes, (uint64_t)ns);
	return raw_tls(peer, certs, r, n, res, why, why_len);
}

static int run_one(struct bench_peer *peer, const struct bench_opts *o,
		   const struct bench_workload *w, const char *certs,
		   const char *workdir, struct bench_run *res, char *why,
		   size_t why_len)
{
	struct synth_dirty_opts d = {.rate = o->dirty_rate,
				     .threads = o->dirty_threads};
	struct synth_config cfg;
	struct synth_guest *g;
	const struct mig_region *r;
	size_t n;
	int rc;

	synth_config_default(&cfg);
	cfg.ram_size = o->size;
	cfg.mix = w->mix;
	rc = synth_source_new(&g, &cfg, &d);
	if (rc) {
		snprintf(why, why_len, "cannot build the guest: %s",
			 strerror(-rc));
		return -1;
	}
	synth_regions(g, &r, &n);
	rc = o->lazy_zero ? 0 : bench_guest_populate(r, n);
	if (rc) {
		snprintf(why, why_len, "cannot populate the guest: %s",
			 strerror(-rc));
		goto free_guest;
	}
	res->guest_bytes = bench_regions_bytes(r, n);
	rc = o->ours_only
		 ? 0
		 : bounds(peer, certs, o->target_4k, g, res, why, why_len);
	if (!rc)
		rc = bench_ours(peer, g, o, certs, workdir, res, why, why_len);
	if (!rc)
		res->ratio = res->tls ? res->ours / res->tls : 0;
free_guest:
	synth_free(g);
	return rc;
}

static int run_workload(struct bench_peer *peer, const struct bench_opts *o,
			struct bench_result *br, const char *certs,
			const char *workdir)
{
	char why[1024];

	for (uint32_t i = 0; i < o->runs; i++) {
		struct bench_run *res = &br->runs[i];

		if (run_one(peer, o, br->w, certs, workdir, res, why,
			    sizeof(why))) {
			fprintf(stderr, "mig-bench: %s, run %u: %s\n",
				br->w->name, i + 1, why);
			return -1;
		}
		br->nruns++;
		printf("  %-7s run %u/%u: ours %.2f GiB/s in %.0f ms "
		       "(verified), raw TLS %.2f, LZ4 %.2f, memcpy %.2f "
		       "GiB/s\n",
		       br->w->name, i + 1, o->runs,
		       res->ours / (1024.0 * 1024 * 1024),
		       (double)res->total_us / 1000.0,
		       res->tls / (1024.0 * 1024 * 1024),
		       res->lz4 / (1024.0 * 1024 * 1024),
		       res->memcpy / (1024.0 * 1024 * 1024));
		fflush(stdout);
	}
	bench_median(br);
	return 0;
}

static int bench_all(const struct bench_opts *o, const char *certs,
		     const char *workdir)
{
	static struct bench_workload custom = {"custom", {0}};
	const struct bench_workload *wl = standard;
	size_t nw = sizeof(standard) / sizeof(standard[0]), done = 0;
	struct bench_result *res;
	struct bench_peer peer;
	char load[64];
	int rc = -1;

	if (o->have_mix) {
		custom.mix = o->mix;
		wl = &custom;
		nw = 1;
	}
	bench_loadavg(load, sizeof(load));
	res = calloc(nw, sizeof(*res));
	if (!res)
		return -1;
	for (size_t i = 0; i < nw; i++) {
		res[i].w = &wl[i];
		res[i].runs = calloc(o->runs, sizeof(*res[i].runs));
		if (!res[i].runs)
			goto free_res;
	}
	if (bench_peer_start(&peer, certs, workdir, o->target_4k, o->verbose)) {
		fprintf(stderr, "mig-bench: cannot fork the helper\n");
		goto free_res;
	}
	for (done = 0; done < nw; done++)
		if (run_workload(&peer, o, &res[done], certs, workdir))
			break;
	bench_peer_stop(&peer);
	if (done)
		bench_report_print(o, res, done, load);
	if (done && o->json && bench_report_json(o, res, done, load))
		fprintf(stderr, "mig-bench: cannot write %s\n", o->json);
	else if (done == nw)
		rc = 0;
free_res:
	for (size_t i = 0; i < nw; i++)
		free(res[i].runs);
	free(res);
	return rc;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	char workdir[2048], certs_buf[4096];
	const char *tmp = getenv("TMPDIR");
	const char *certs;
	int rc = parse_opts(argc, argv, &o);

	if (rc)
		return rc > 0 ? 0 : EXIT_USAGE;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(workdir, sizeof(workdir), "%s/mig-bench.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(workdir)) {
		fprintf(stderr, "mig-bench: cannot make %s: %s\n", workdir,
			strerror(errno));
		return EXIT_FAIL;
	}
	certs = o.certs;
	if (!certs) {
		rc = make_certs(workdir, certs_buf, sizeof(certs_buf));
		certs = certs_buf;
	}
	if (!rc)
		rc = bench_all(&o, certs, workdir);
	nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc ? EXIT_FAIL : 0;
}
