/*
 * report.c - medians, the table, the targets, the JSON file.
 *
 * Each figure's median is taken on its own over the runs; the ratio
 * ours/TLS is the median of the per-run ratios (each pairs two figures
 * measured minutes apart on the same memory), not the ratio of medians.
 * The verdicts are printed, never turned into an exit status: timing on a
 * shared two-core machine is not a test result.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bench.h"

#define GIB (1024.0 * 1024.0 * 1024.0)
#define MIB (1024.0 * 1024.0)

/* Every figure of struct bench_run that gets a median. */
#define U64_FIELDS(X)                                                          \
	X(guest_bytes)                                                         \
	X(total_us) X(total_us_stats) X(setup_us) X(downtime_us) X(wire_bytes) \
	    X(wire_bytes_stats) X(zero_pages) X(lz4_pages) X(raw_pages)        \
		X(target_us) X(lz4_out) X(src_cpu_us) X(src_faults)            \
		    X(tgt_cpu_us) X(tgt_faults) X(tls_cpu_us) X(tls_faults)
#define DBL_FIELDS(X) X(ours) X(tls) X(lz4) X(memcpy) X(touch) X(ratio)

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_of(double *v, uint32_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_median(struct bench_result *r)
{
	struct bench_run *m = &r->median;
	double *v;

	memset(m, 0, sizeof(*m));
	if (!r->nruns)
		return;
	v = calloc(r->nruns, sizeof(*v));
	if (!v) {
		*m = r->runs[0];
		return;
	}
#define MED(f, type)                                                           \
	for (uint32_t i = 0; i < r->nruns; i++)                                \
		v[i] = (double)r->runs[i].f;                                   \
	m->f = (type)median_of(v, r->nruns);
#define MED_U64(f) MED(f, uint64_t)
#define MED_DBL(f) MED(f, double)
	U64_FIELDS(MED_U64)
	DBL_FIELDS(MED_DBL)
	MED(rounds, uint32_t)
#undef MED_U64
#undef MED_DBL
#undef MED
	free(v);
	snprintf(m->cipher, sizeof(m->cipher), "%s", r->runs[0].cipher);
}

/* The target for a workload, if it has one (0: none). */
static double target_of(const struct synth_mix *mix, const char **what)
{
	if (mix->random == 100) {
		*what = "random (incompressible) memory";
		return BENCH_TARGET_RANDOM;
	}
	if (mix->zero == 100) {
		*what = "all-zero memory";
		return BENCH_TARGET_ZERO;
	}
	*what = NULL;
	return 0;
}

void bench_loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double l1, l5, l15;

	if (f && fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) == 3)
		snprintf(buf, len, "%.2f %.2f %.2f", l1, l5, l15);
	else
		snprintf(buf, len, "unknown");
	if (f)
		fclose(f);
}

static void print_header(const struct bench_opts *o,
			 const struct bench_result *res, size_t n,
			 const char *load_before)
{
	char size[32], rate[32], load[64];
	unsigned int v = mig_version();

	synth_size_format(o->size, size, sizeof(size));
	bench_loadavg(load, sizeof(load));
	printf("\nmig-bench: libmigrate %u.%u.%u, %ld cores; guest %s RAM "
	       "(+1 MiB ROM); median of %u run(s)\n",
	       v >> 16, (v >> 8) & 0xff, v & 0xff,
	       sysconf(_SC_NPROCESSORS_ONLN), size, o->runs);
	printf("load average before: %s, after: %s\n", load_before, load);
	if (o->dirty_max) {
		printf("guest dirtying: flat out, %u thread(s)\n",
		       o->dirty_threads);
	} else if (o->dirty_rate) {
		synth_size_format(o->dirty_rate, rate, sizeof(rate));
		printf("guest dirtying: %s/s, %u thread(s)\n", rate,
		       o->dirty_threads);
	} else {
		printf("guest dirtying: none\n");
	}
	printf("raw TLS suite: %s; source zero pages %s; target RAM %s\n",
	       n && res[0].median.cipher[0] ? res[0].median.cipher : "-",
	       o->lazy_zero ? "left unmapped" : "resident",
	       o->target_4k ? "4 KiB pages (MADV_NOHUGEPAGE)"
			    : "huge pages (MADV_HUGEPAGE)");
}

static double per_gib(uint64_t v, uint64_t bytes)
{
	return bytes ? (double)v * GIB / (double)bytes : 0;
}

static void print_main_table(const struct bench_result *res, size_t n)
{
	printf("\n%-8s %8s %9s %9s %9s %9s %9s %9s\n", "workload", "ours",
	       "wire", "raw TLS", "LZ4", "memcpy", "1st touch", "ours/TLS");
	printf("%-8s %8s %9s %9s %9s %9s %9s %9s\n", "", "GiB/s", "MiB",
	       "GiB/s", "GiB/s", "GiB/s", "GiB/s", "");
	for (size_t i = 0; i < n; i++) {
		const struct bench_run *m = &res[i].median;

		printf("%-8s %8.2f %9.1f %9.2f %9.2f %9.2f %9.2f %9.2f\n",
		       res[i].w->name, m->ours / GIB,
		       (double)m->wire_bytes / MIB, m->tls / GIB, m->lz4 / GIB,
		       m->memcpy / GIB, m->touch / GIB, m->ratio);
	}
}

static void print_detail_table(const struct bench_result *res, size_t n)
{
	printf("\nThe migration: time, rounds, pages, and what each GiB of "
	       "guest cost in CPU\n(ms, user + system, every thread) and "
	       "page faults:\n");
	printf("%-8s %8s %7s %6s %8s %8s %8s %8s %8s %8s %9s\n", "workload",
	       "total ms", "down ms", "rounds", "zero %", "lz4 %", "cpu src",
	       "cpu tgt", "cpu TLS", "flt src", "flt tgt");
	for (size_t i = 0; i < n; i++) {
		const struct bench_run *m = &res[i].median;
		uint64_t pages = m->zero_pages + m->lz4_pages + m->raw_pages;
		double zero =
		    pages ? 100.0 * (double)m->zero_pages / (double)pages : 0;
		double lz4 =
		    pages ? 100.0 * (double)m->lz4_pages / (double)pages : 0;

		printf("%-8s %8.0f %7.1f %6u %8.1f %8.1f %8.0f %8.0f %8.0f "
		       "%8.0f %9.0f\n",
		       res[i].w->name, (double)m->total_us / 1000.0,
		       (double)m->downtime_us / 1000.0, m->rounds, zero, lz4,
		       per_gib(m->src_cpu_us, m->guest_bytes) / 1000,
		       per_gib(m->tgt_cpu_us, m->guest_bytes) / 1000,
		       per_gib(m->tls_cpu_us, m->guest_bytes) / 1000,
		       per_gib(m->src_faults, m->guest_bytes),
		       per_gib(m->tgt_faults, m->guest_bytes));
	}
}

void bench_report_print(const struct bench_opts *o,
			const struct bench_result *res, size_t n,
			const char *load_before)
{
	print_header(o, res, n, load_before);
	print_main_table(res, n);
	print_detail_table(res, n);
	printf("\nTargets (issue #2), ours / raw TLS on the same memory:\n");
	for (size_t i = 0; i < n; i++) {
		const char *what;
		double t = target_of(&res[i].w->mix, &what);

		if (!t)
			continue;
		printf("  %-8s %-32s at least %4.2fx: %6.3fx  %s\n",
		       res[i].w->name, what, t, res[i].median.ratio,
		       res[i].median.ratio >= t ? "PASS" : "BELOW");
	}
	printf("(timing does not decide the exit status: every run above "
	       "completed and was verified)\n");
}

static json_object *run_json(const struct bench_run *r)
{
	json_object *o = json_object_new_object();

#define ADD_U64(f) json_object_object_add(o, #f, json_object_new_uint64(r->f));
#define ADD_DBL(f) json_object_object_add(o, #f, json_object_new_double(r->f));
	U64_FIELDS(ADD_U64)
	DBL_FIELDS(ADD_DBL)
	ADD_U64(rounds)
#undef ADD_U64
#undef ADD_DBL
	json_object_object_add(o, "cipher", json_object_new_string(r->cipher));
	return o;
}

static json_object *workload_json(const struct bench_result *r)
{
	json_object *o = json_object_new_object();
	json_object *mix = json_object_new_object();
	json_object *runs = json_object_new_array();
	const char *what;
	double t = target_of(&r->w->mix, &what);

	json_object_object_add(o, "name", json_object_new_string(r->w->name));
	json_object_object_add(mix, "zero",
			       json_object_new_int((int)r->w->mix.zero));
	json_object_object_add(mix, "text",
			       json_object_new_int((int)r->w->mix.text));
	json_object_object_add(mix, "random",
			       json_object_new_int((int)r->w->mix.random));
	json_object_object_add(o, "mix", mix);
	for (uint32_t i = 0; i < r->nruns; i++)
		json_object_array_add(runs, run_json(&r->runs[i]));
	json_object_object_add(o, "runs", runs);
	json_object_object_add(o, "median", run_json(&r->median));
	if (t) {
		json_object *tj = json_object_new_object();

		json_object_object_add(tj, "what",
				       json_object_new_string(what));
		json_object_object_add(tj, "min_ratio",
				       json_object_new_double(t));
		json_object_object_add(
		    tj, "verdict",
		    json_object_new_string(r->median.ratio >= t ? "PASS"
								: "BELOW"));
		json_object_object_add(o, "target", tj);
	}
	return o;
}

static json_object *opts_json(const struct bench_opts *o)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "size", json_object_new_uint64(o->size));
	json_object_object_add(j, "runs", json_object_new_int((int)o->runs));
	json_object_object_add(
	    j, "workload_set",
	    json_object_new_string(o->set ? o->set : "custom"));
	json_object_object_add(j, "dirty_rate",
			       json_object_new_uint64(o->dirty_rate));
	json_object_object_add(j, "dirty_max",
			       json_object_new_boolean(o->dirty_max));
	json_object_object_add(j, "dirty_threads",
			       json_object_new_int((int)o->dirty_threads));
	json_object_object_add(j, "encode_threads",
			       json_object_new_int(o->encode_threads));
	json_object_object_add(j, "lazy_zero",
			       json_object_new_boolean(o->lazy_zero));
	json_object_object_add(j, "target_4k",
			       json_object_new_boolean(o->target_4k));
	json_object_object_add(j, "ours_only",
			       json_object_new_boolean(o->ours_only));
	return j;
}

int bench_report_json(const struct bench_opts *o,
		      const struct bench_result *res, size_t n,
		      const char *load_before)
{
	json_object *root = json_object_new_object();
	json_object *wl = json_object_new_array();
	char date[64], load[64];
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(root, "tool",
			       json_object_new_string("mig-bench"));
	json_object_object_add(root, "date", json_object_new_string(date));
	json_object_object_add(root, "library_version",
			       json_object_new_int((int)mig_version()));
	json_object_object_add(
	    root, "cores",
	    json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
	json_object_object_add(root, "load_before",
			       json_object_new_string(load_before));
	bench_loadavg(load, sizeof(load));
	json_object_object_add(root, "load_after",
			       json_object_new_string(load));
	json_object_object_add(root, "options", opts_json(o));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(wl, workload_json(&res[i]));
	json_object_object_add(root, "workloads", wl);
	rc = json_object_to_file_ext(o->json, root, JSON_C_TO_STRING_PRETTY);
	json_object_put(root);
	return rc ? -1 : 0;
}
