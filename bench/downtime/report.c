/*
 * report.c - medians, the side-by-side table, the JSON file.
 *
 * Each figure's median is taken on its own over a VMM's verified runs;
 * a failed run has no figures worth a median (it is listed in the JSON
 * with its reason). Ratios are ours / QEMU of the two medians: the two
 * VMMs' runs alternate, so they share the machine's state but are not
 * pairs. Timing never decides the exit status.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "downtime.h"

#define MIB (1024.0 * 1024.0)

const char *const dt_vmm_label[DT_NVMM] = {"vmm-lite", "qemu"};

/* Every figure of struct dt_run that gets a median, and its JSON key. */
#define FIGURES(X)                                                             \
	X(total_us, total_us)                                                  \
	X(downtime_us, downtime_us)                                            \
	X(expected_us, expected_downtime_us)                                   \
	X(setup_us, setup_us)                                                  \
	X(wire_bytes, wire_bytes)                                              \
	X(rounds, rounds)                                                      \
	X(wall_us, wall_us)                                                    \
	X(lo_bytes, lo_bytes)                                                  \
	X(guest.pause_us, guest_pause_us)                                      \
	X(guest.switch_us, guest_switch_gap_us)                                \
	X(guest.period_us, guest_period_us)                                    \
	X(guest.base_us, guest_baseline_gap_us)                                \
	X(guest.speed_pct, guest_speed_pct)                                    \
	X(guest.tgt_lines, guest_target_lines)                                 \
	X(guest.tgt_passes, guest_target_passes)                               \
	X(guest.skipped, guest_skipped_periods)

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t median_of(uint64_t *v, uint32_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void dt_median(struct dt_result *r, int vmm)
{
	struct dt_run *m = &r->median[vmm];
	uint64_t v[64];
	uint32_t n;

	memset(m, 0, sizeof(*m));
	r->nok[vmm] = r->nforced[vmm] = 0;
	for (uint32_t i = 0; i < r->nruns[vmm]; i++) {
		r->nok[vmm] += r->runs[vmm][i].ok ? 1 : 0;
		r->nforced[vmm] +=
		    r->runs[vmm][i].ok && r->runs[vmm][i].forced ? 1 : 0;
	}
	if (!r->nok[vmm])
		return;
	m->ok = 1;
#define MED(f, key)                                                            \
	n = 0;                                                                 \
	for (uint32_t i = 0; i < r->nruns[vmm] && n < 64; i++)                 \
		if (r->runs[vmm][i].ok)                                        \
			v[n++] = r->runs[vmm][i].f;                            \
	m->f = (__typeof__(m->f))median_of(v, n);
	FIGURES(MED)
#undef MED
}

static double ratio(uint64_t ours, uint64_t qemu)
{
	return qemu ? (double)ours / (double)qemu : 0;
}

static int both(const struct dt_result *r)
{
	return r->nok[DT_OURS] && r->nok[DT_QEMU];
}

/* One row of a workload's block; `scale` turns the figure into `unit`. */
static void row(const struct dt_result *r, const char *what, const char *unit,
		size_t off, int is32, double scale, int with_ratio)
{
	uint64_t v[DT_NVMM];

	printf("  %-22s %-4s", what, unit);
	for (int k = 0; k < DT_NVMM; k++) {
		const char *p = (const char *)&r->median[k] + off;
		uint32_t u32;

		if (is32) {
			memcpy(&u32, p, sizeof(u32));
			v[k] = u32;
		} else {
			memcpy(&v[k], p, sizeof(v[k]));
		}
		if (r->nok[k])
			printf(scale == 1.0 ? " %10.0f" : " %10.1f",
			       (double)v[k] / scale);
		else
			printf(" %10s", "-");
	}
	if (with_ratio && both(r) && v[DT_QEMU])
		printf(" %10.2f", ratio(v[DT_OURS], v[DT_QEMU]));
	printf("\n");
}

#define ROW(r, what, unit, f, scale, rat)                                      \
	row(r, what, unit, offsetof(struct dt_run, f),                         \
	    sizeof(((struct dt_run *)0)->f) == 4, scale, rat)

static const char *kind_text(const struct dt_workload *w, char *buf, size_t len)
{
	switch (w->kind) {
	case DT_IDLE:
		snprintf(buf, len, "counter guest, idle");
		break;
	case DT_HOT:
		snprintf(buf, len, "checker, %u MiB %s rewritten flat out",
			 w->ws_mib, w->pattern);
		break;
	case DT_RATE:
		snprintf(buf, len, "checker, %u MiB/s of %s over %u MiB",
			 w->rate_mib, w->pattern, w->ws_mib);
		break;
	case DT_LINUX_IDLE:
		snprintf(buf, len,
			 "Linux, idle but for the heartbeat (vmm-workload "
			 "%u MiB at %u MiB/s)",
			 w->ws_mib, w->rate_mib);
		break;
	case DT_LINUX_WORK:
		snprintf(buf, len,
			 "Linux, vmm-workload %u MiB at %u MiB/s, %u "
			 "thread(s)",
			 w->ws_mib, w->rate_mib, w->threads);
		break;
	default:
		snprintf(buf, len, "the --image boot sector");
	}
	return buf;
}

/* "n/N" for each VMM that ran: `count` out of `of`. */
static void count_row(const char *what, const uint32_t *count,
		      const uint32_t *of, const uint32_t *ran)
{
	printf("  %-22s %-4s", what, "");
	for (int k = 0; k < DT_NVMM; k++) {
		char s[32];

		snprintf(s, sizeof(s), "%u/%u", count[k], of[k]);
		printf(" %10s", ran[k] ? s : "-");
	}
	printf("\n");
}

static void print_block(const struct dt_result *r)
{
	char text[128];

	printf("\n%s: %s\n", r->w->name, kind_text(r->w, text, sizeof(text)));
	printf("  %-22s %-4s %10s %10s %10s\n", "", "", "vmm-lite", "QEMU",
	       "ours/QEMU");
	count_row("verified runs", r->nok, r->nruns, r->nruns);
	ROW(r, "total time", "ms", total_us, 1000.0, 1);
	ROW(r, "downtime (VMM)", "ms", downtime_us, 1000.0, 1);
	ROW(r, "expected downtime", "ms", expected_us, 1000.0, 1);
	ROW(r, "guest pause (serial)", "ms", guest.pause_us, 1000.0, 1);
	ROW(r, "  gap at the switch", "ms", guest.switch_us, 1000.0, 1);
	ROW(r, "  largest gap before", "ms", guest.base_us, 1000.0, 0);
	ROW(r, "  line period before", "ms", guest.period_us, 1000.0, 0);
	ROW(r, "wire (VMM's count)", "MiB", wire_bytes, MIB, 1);
	ROW(r, "wire (loopback)", "MiB", lo_bytes, MIB, 1);
	ROW(r, "rounds / syncs", "", rounds, 1.0, 1);
	count_row("forced switch-overs", r->nforced, r->nok, r->nok);
	ROW(r, "guest speed migrating", "%", guest.speed_pct, 1.0, 0);
	ROW(r, "guest clock skip", "prd", guest.skipped, 1.0, 0);
}

static void print_summary(const struct dt_result *res, size_t n)
{
	printf("\n%-16s %23s %23s %23s\n", "", "downtime (VMM) ms",
	       "gap at the switch ms", "guest pause ms");
	printf("%-16s", "workload");
	for (int i = 0; i < 3; i++)
		printf(" %7s %7s %7s", "ours", "QEMU", "ratio");
	printf("\n");
	for (size_t i = 0; i < n; i++) {
		const struct dt_result *r = &res[i];
		const struct dt_run *o = &r->median[DT_OURS],
				    *q = &r->median[DT_QEMU];
		uint64_t f[3][2] = {{o->downtime_us, q->downtime_us},
				    {o->guest.switch_us, q->guest.switch_us},
				    {o->guest.pause_us, q->guest.pause_us}};

		printf("%-16s", r->w->name);
		for (int k = 0; k < 3; k++) {
			for (int v = 0; v < DT_NVMM; v++)
				if (r->nok[v])
					printf(" %7.1f",
					       (double)f[k][v] / 1000.0);
				else
					printf(" %7s", "-");
			if (both(r) && f[k][DT_QEMU])
				printf(" %7.2f", ratio(f[k][0], f[k][1]));
			else
				printf(" %7s", "-");
		}
		printf("\n");
	}
}

void dt_report_print(const struct dt_opts *o, const struct dt_result *res,
		     size_t n)
{
	printf("\nmig-downtime: %" PRIu64 " MiB, %u vCPU(s), downtime limit "
	       "%u ms, bandwidth unlimited, TLS both; median of the verified "
	       "runs out of %u each\n",
	       o->mem_mib, o->cpus, o->downtime_ms, o->runs);
	if (o->vmm[DT_QEMU])
		printf("QEMU %s (-accel %s%s)\n",
		       *dt_qemu_version() ? dt_qemu_version() : "?",
		       o->qemu_accel,
		       o->auto_converge ? ", auto-converge" : "");
	for (size_t i = 0; i < n; i++)
		print_block(&res[i]);
	print_summary(res, n);
	printf(
	    "\nguest pause: the largest gap between two serial lines (stamped "
	    "on arrival) around\nthe migration; gap at the switch: from "
	    "the source's last line to the target's\nfirst. Both include up "
	    "to one line period. QEMU's times have 1 ms resolution,\nits "
	    "rounds are dirty-bitmap syncs. Timing does not decide the exit "
	    "status.\n");
}

/* The figures that have medians. */
static json_object *figures_json(const struct dt_run *r)
{
	json_object *j = json_object_new_object();

#define ADD(f, key)                                                            \
	json_object_object_add(j, #key, json_object_new_uint64(r->f));
	FIGURES(ADD)
#undef ADD
	return j;
}

json_object *dt_run_json(const struct dt_run *r)
{
	json_object *j = figures_json(r);

	json_object_object_add(j, "ok", json_object_new_boolean(r->ok));
	if (!r->ok)
		json_object_object_add(j, "why",
				       json_object_new_string(r->why));
	json_object_object_add(j, "forced_switchover",
			       json_object_new_boolean(r->forced));
	json_object_object_add(j, "guest_pause_at_us",
			       json_object_new_int64(r->guest.pause_at_us));
	json_object_object_add(j, "guest_source_last",
			       json_object_new_uint64(r->guest.src_last));
	json_object_object_add(j, "guest_target_first",
			       json_object_new_uint64(r->guest.tgt_first));
	json_object_object_add(j, "guest_source_passes",
			       json_object_new_uint64(r->guest.src_passes));
	json_object_object_add(j, "guest_ncpu",
			       json_object_new_int((int)r->guest.ncpu));
	json_object_object_add(j, "guest_bad_lines",
			       json_object_new_int((int)r->guest.bad));
	json_object_object_add(j, "guest_kernel_lines",
			       json_object_new_int((int)r->guest.kernel));
	json_object_object_add(j, "guest_answered",
			       json_object_new_boolean(r->guest.answered > 0));
	json_object_object_add(j, "guest_source_verified",
			       json_object_new_uint64(r->guest.src_verified));
	json_object_object_add(j, "guest_target_verified",
			       json_object_new_uint64(r->guest.tgt_verified));
	return j;
}

static json_object *workload_json(const struct dt_result *r)
{
	json_object *j = json_object_new_object(),
		    *vm = json_object_new_object(),
		    *rat = json_object_new_object();
	/* In the order of enum dt_kind. */
	static const char *const kinds[] = {
	    "idle", "hot", "rate", "linux-idle", "linux-work", "image"};

	json_object_object_add(j, "name", json_object_new_string(r->w->name));
	json_object_object_add(j, "kind",
			       json_object_new_string(kinds[r->w->kind]));
	json_object_object_add(j, "ws_mib",
			       json_object_new_int((int)r->w->ws_mib));
	json_object_object_add(j, "rate_mib",
			       json_object_new_int((int)r->w->rate_mib));
	json_object_object_add(j, "pattern",
			       json_object_new_string(r->w->pattern));
	json_object_object_add(j, "period_ms",
			       json_object_new_int((int)r->w->period_ms));
	if (DT_IS_LINUX(r->w->kind)) {
		json_object_object_add(j, "threads",
				       json_object_new_int((int)r->w->threads));
		json_object_object_add(j, "kernel",
				       json_object_new_string(r->w->kernel));
		json_object_object_add(j, "initrd",
				       json_object_new_string(r->w->initrd));
		json_object_object_add(j, "cmdline",
				       json_object_new_string(r->w->cmdline));
	}
	for (int k = 0; k < DT_NVMM; k++) {
		json_object *v, *runs;

		if (!r->nruns[k])
			continue;
		v = json_object_new_object();
		runs = json_object_new_array();
		for (uint32_t i = 0; i < r->nruns[k]; i++)
			json_object_array_add(runs,
					      dt_run_json(&r->runs[k][i]));
		json_object_object_add(v, "runs", runs);
		json_object_object_add(v, "verified",
				       json_object_new_int((int)r->nok[k]));
		json_object_object_add(v, "forced_switchovers",
				       json_object_new_int((int)r->nforced[k]));
		if (r->nok[k])
			json_object_object_add(v, "median",
					       figures_json(&r->median[k]));
		json_object_object_add(vm, dt_vmm_label[k], v);
	}
	json_object_object_add(j, "vmms", vm);
	if (both(r)) {
		const struct dt_run *o = &r->median[DT_OURS],
				    *q = &r->median[DT_QEMU];
#define RAT(f, key)                                                            \
	json_object_object_add(rat, #key,                                      \
			       json_object_new_double(ratio(o->f, q->f)));
		RAT(total_us, total)
		RAT(downtime_us, downtime)
		RAT(guest.pause_us, guest_pause)
		RAT(guest.switch_us, guest_switch_gap)
		RAT(wire_bytes, wire_bytes)
		RAT(lo_bytes, lo_bytes)
#undef RAT
	}
	json_object_object_add(j, "ours_over_qemu", rat);
	return j;
}

static json_object *opts_json(const struct dt_opts *o)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "mem_mib",
			       json_object_new_uint64(o->mem_mib));
	json_object_object_add(j, "cpus", json_object_new_int((int)o->cpus));
	json_object_object_add(j, "runs", json_object_new_int((int)o->runs));
	json_object_object_add(j, "downtime_ms",
			       json_object_new_int((int)o->downtime_ms));
	json_object_object_add(j, "set",
			       json_object_new_string(o->set ? o->set : "one"));
	json_object_object_add(j, "qemu", json_object_new_string(o->qemu));
	json_object_object_add(j, "qemu_version",
			       json_object_new_string(dt_qemu_version()));
	json_object_object_add(j, "qemu_accel",
			       json_object_new_string(o->qemu_accel));
	json_object_object_add(j, "qemu_auto_converge",
			       json_object_new_boolean(o->auto_converge));
	json_object_object_add(j, "vmm_lite",
			       json_object_new_string(o->vmm_lite));
	json_object_object_add(
	    j, "dirty_tracker",
	    json_object_new_string(o->tracker ? o->tracker : "default"));
	json_object_object_add(j, "period_ms",
			       json_object_new_int((int)o->period_ms));
	json_object_object_add(j, "warmup_ms",
			       json_object_new_int((int)o->warmup_ms));
	json_object_object_add(j, "after_ms",
			       json_object_new_int((int)o->after_ms));
	json_object_object_add(j, "margin_ms",
			       json_object_new_int((int)o->margin_ms));
	return j;
}

int dt_report_json(const struct dt_opts *o, const struct dt_result *res,
		   size_t n)
{
	json_object *root = json_object_new_object(),
		    *wl = json_object_new_array();
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(root, "tool",
			       json_object_new_string("mig-downtime"));
	json_object_object_add(root, "date", json_object_new_string(date));
	json_object_object_add(
	    root, "cores",
	    json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
	json_object_object_add(root, "options", opts_json(o));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(wl, workload_json(&res[i]));
	json_object_object_add(root, "workloads", wl);
	rc = json_object_to_file_ext(o->json, root,
				     JSON_C_TO_STRING_PRETTY |
					 JSON_C_TO_STRING_NOSLASHESCAPE);
	json_object_put(root);
	return rc ? -1 : 0;
}
