/*
 * main.c - mig-downtime: options, the workload list, the run loop.
 *
 * For each workload, the runs of the two VMMs alternate (ours first in
 * odd runs, QEMU first in even ones), one migration at a time, so that
 * both see the same machine. The exit status says whether every run
 * completed and verified; it never depends on timing.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "downtime.h"

#ifndef MIG_DT_VMM_LITE
#define MIG_DT_VMM_LITE "vmm-lite"
#endif
#ifndef MIG_DT_GUEST_DIR
#define MIG_DT_GUEST_DIR "."
#endif
#ifndef MIG_DT_GUEST_TOOL
#define MIG_DT_GUEST_TOOL "vmm-guest-config"
#endif
#ifndef MIG_DT_INITRD
#define MIG_DT_INITRD "linux-initramfs.cpio.gz"
#endif

#define EXIT_FAIL  1
#define EXIT_USAGE 2
#define MAX_RUNS   64
#define MAX_WL	   8 /* workloads in a set */

/* The guests' line periods unless --period-ms, and vmm-workload's least. */
#define PERIOD_BOOT_SECTOR 10u
#define PERIOD_LINUX	   100u
#define PERIOD_LINUX_MIN   10u
/* Memory a Linux guest needs beside its working set. */
#define LINUX_MEM_MIB 96u

/* clang-format off */
static void usage(FILE *f)
{
	fputs(
"usage: mig-downtime [options]\n"
"\n"
"Runs the same guest (a boot sector, or Linux) under vmm-lite and under\n"
"QEMU (KVM), migrates it live over TLS on loopback between two processes\n"
"of each, and prints side by side: total time, downtime as each VMM\n"
"reports it, the pause the guest saw on its serial line, bytes, rounds,\n"
"expected vs real downtime. Every run is verified (no BAD line, the\n"
"counter or heartbeat goes on on the target; Linux: no kernel warning,\n"
"and the target's console answers). Exit 0 when every run verified, 1\n"
"otherwise, 2 usage. Needs /dev/kvm: on machines without one run it\n"
"through tests/kvm/run-in-kvm-vm.sh (see bench/downtime/README.md).\n"
"\n"
"Workloads:\n"
"  --set default|quick|light|linux  default: idle, hot-32M-random,\n"
"                     rate-50M-text, linux-idle, linux-work (default\n"
"                     unless --workload or --image);\n"
"                     quick: idle and hot-32M-random, --runs 1;\n"
"                     light: idle, hot-1M-random, rate-2M-text over 8 MiB\n"
"                     (sized for the KVM test VM, where a migration moves\n"
"                     10 to 50 MiB/s); linux: linux-idle, linux-work\n"
"  --workload idle|hot|rate|linux-idle|linux-work  one workload instead\n"
"  --ws-mib N         working set of hot, rate and linux-work (default 32\n"
"                     for hot, half the memory up to 64 for rate; linux-work\n"
"                     24 in the KVM test VM, 64 elsewhere); with --set,\n"
"                     linux-work's only\n"
"  --rate-mib R       rate's dirty rate in MiB/s (default 50), linux-work's\n"
"                     (1 in the KVM test VM, 16 elsewhere); with --set,\n"
"                     linux-work's only\n"
"  --pattern zero|text|random  what the guest writes (default random)\n"
"  --image FILE       one workload booting FILE as it is\n"
"  --kernel FILE      the Linux guest's kernel (default: the newest\n"
"                     /boot/vmlinuz-*, package linux-image-amd64)\n"
"  --initrd FILE      its initramfs (default\n"
"                     " MIG_DT_INITRD ")\n"
"  --mem SIZE         guest memory, e.g. 256M, 1G (default 256M)\n"
"  --cpus N           vCPUs (default 2)\n"
"  --runs N           runs per workload and VMM, medians (default 3)\n"
"  --downtime-ms N    the downtime limit given to both (default 300)\n"
"  --vmm both|ours|qemu  which VMMs run (default both)\n"
"Output:\n"
"  --json FILE        every run and the medians as JSON\n"
"  --keep             keep every run's files (default: failed runs only)\n"
"  --workdir DIR      put the files there (default: a new dir in $TMPDIR)\n"
"Programs and files:\n"
"  --vmm-lite PATH    (default " MIG_DT_VMM_LITE ")\n"
"  --dirty-tracker auto|bitmap|ring  passed to the vmm-lite source\n"
"  --qemu PATH        (default qemu-system-x86_64)\n"
"  --qemu-accel kvm|tcg  tcg only to try the harness without KVM\n"
"  --qemu-auto-converge  let QEMU throttle the guest until it converges\n"
"                     (QEMU never switches over above the limit)\n"
"  --guest-dir DIR    counter.img, checker.img (default\n"
"                     " MIG_DT_GUEST_DIR ")\n"
"  --guest-config PATH  (default " MIG_DT_GUEST_TOOL ")\n"
"  --certs DIR        ca.pem, source.pem/key, target.pem/key (default:\n"
"                     made with scripts/gen-test-certs.sh)\n"
"Timing of a run:\n"
"  --period-ms N      the guest's line period (default 10; Linux's\n"
"                     heartbeat 100, at least 10)\n"
"  --warmup-ms N      guest running before the migration (default 2000)\n"
"  --after-ms N       guest running on the target after (default 2000)\n"
"  --margin-ms N      the pause window around the migration (default 500)\n"
"  --timeout-s N      one migration at most, and the wait for the guest's\n"
"                     passes on either side (default 300)\n"
"Self-test:\n"
"  --self-test-bad    the checker (Linux: vmm-workload) is told to report\n"
"                     BAD on its first verification: every run must\n"
"                     fail, exit status 1\n",
	      f);
}
/* clang-format on */

enum {
	OPT_SET = 256,
	OPT_WORKLOAD,
	OPT_WS,
	OPT_RATE,
	OPT_PATTERN,
	OPT_IMAGE,
	OPT_KERNEL,
	OPT_INITRD,
	OPT_MEM,
	OPT_CPUS,
	OPT_RUNS,
	OPT_DOWNTIME,
	OPT_VMM,
	OPT_JSON,
	OPT_KEEP,
	OPT_WORKDIR,
	OPT_LITE,
	OPT_TRACKER,
	OPT_QEMU,
	OPT_ACCEL,
	OPT_AUTOCONV,
	OPT_GUEST_DIR,
	OPT_GUEST_TOOL,
	OPT_CERTS,
	OPT_PERIOD,
	OPT_WARMUP,
	OPT_AFTER,
	OPT_MARGIN,
	OPT_TIMEOUT,
	OPT_SELFTEST,
	OPT_HELP,
};

/* In the order of the enum: the error message indexes it. */
static const struct option long_opts[] = {
    {"set", required_argument, NULL, OPT_SET},
    {"workload", required_argument, NULL, OPT_WORKLOAD},
    {"ws-mib", required_argument, NULL, OPT_WS},
    {"rate-mib", required_argument, NULL, OPT_RATE},
    {"pattern", required_argument, NULL, OPT_PATTERN},
    {"image", required_argument, NULL, OPT_IMAGE},
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initrd", required_argument, NULL, OPT_INITRD},
    {"mem", required_argument, NULL, OPT_MEM},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"runs", required_argument, NULL, OPT_RUNS},
    {"downtime-ms", required_argument, NULL, OPT_DOWNTIME},
    {"vmm", required_argument, NULL, OPT_VMM},
    {"json", required_argument, NULL, OPT_JSON},
    {"keep", no_argument, NULL, OPT_KEEP},
    {"workdir", required_argument, NULL, OPT_WORKDIR},
    {"vmm-lite", required_argument, NULL, OPT_LITE},
    {"dirty-tracker", required_argument, NULL, OPT_TRACKER},
    {"qemu", required_argument, NULL, OPT_QEMU},
    {"qemu-accel", required_argument, NULL, OPT_ACCEL},
    {"qemu-auto-converge", no_argument, NULL, OPT_AUTOCONV},
    {"guest-dir", required_argument, NULL, OPT_GUEST_DIR},
    {"guest-config", required_argument, NULL, OPT_GUEST_TOOL},
    {"certs", required_argument, NULL, OPT_CERTS},
    {"period-ms", required_argument, NULL, OPT_PERIOD},
    {"warmup-ms", required_argument, NULL, OPT_WARMUP},
    {"after-ms", required_argument, NULL, OPT_AFTER},
    {"margin-ms", required_argument, NULL, OPT_MARGIN},
    {"timeout-s", required_argument, NULL, OPT_TIMEOUT},
    {"self-test-bad", no_argument, NULL, OPT_SELFTEST},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* What the options said, before the defaults that depend on each other. */
struct given {
	int workload, ws, rate, pattern, runs;
};

static int one_of(const char *v, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (!strcmp(v, list[i]))
			return i;
	return -1;
}

static int parse_u32(const char *v, uint32_t *out, uint32_t min, uint32_t max)
{
	return dt_u32_parse(v, out) || *out < min || *out > max ? -1 : 0;
}

static int parse_one(struct dt_opts *o, struct given *g, int c, const char *v)
{
	static const char *const set_names[] = {"default", "quick", "light",
						"linux", NULL};
	/* In the order of enum dt_kind. */
	static const char *const kinds[] = {"idle",	  "hot",	"rate",
					    "linux-idle", "linux-work", NULL};
	static const char *const pats[] = {"zero", "text", "random", NULL};
	static const char *const vmms[] = {"both", "ours", "qemu", NULL};
	static const char *const trk[] = {"auto", "bitmap", "ring", NULL};
	static const char *const acc[] = {"kvm", "tcg", NULL};
	int i;

	switch (c) {
	case OPT_SET:
		if (one_of(v, set_names) < 0)
			return -1;
		o->set = v;
		return 0;
	case OPT_WORKLOAD:
		i = one_of(v, kinds);
		o->one.kind = (enum dt_kind)i;
		g->workload = 1;
		return i < 0 ? -1 : 0;
	case OPT_WS:
		g->ws = 1;
		return parse_u32(v, &o->one.ws_mib, 1, 1u << 20);
	case OPT_RATE:
		g->rate = 1;
		return parse_u32(v, &o->one.rate_mib, 1, 1u << 20);
	case OPT_PATTERN:
		g->pattern = 1;
		snprintf(o->one.pattern, sizeof(o->one.pattern), "%s", v);
		return one_of(v, pats) < 0 ? -1 : 0;
	case OPT_IMAGE:
		o->image = v;
		return 0;
	case OPT_KERNEL:
		o->kernel = v;
		return 0;
	case OPT_INITRD:
		o->initrd = v;
		return 0;
	case OPT_MEM:
		return dt_mib_parse(v, &o->mem_mib);
	case OPT_CPUS:
		return parse_u32(v, &o->cpus, 1, 64);
	case OPT_RUNS:
		g->runs = 1;
		return parse_u32(v, &o->runs, 1, MAX_RUNS);
	case OPT_DOWNTIME:
		return parse_u32(v, &o->downtime_ms, 1, 2000000);
	case OPT_VMM:
		i = one_of(v, vmms);
		o->vmm[DT_OURS] = i == 0 || i == 1;
		o->vmm[DT_QEMU] = i == 0 || i == 2;
		return i < 0 ? -1 : 0;
	case OPT_JSON:
		o->json = v;
		return 0;
	case OPT_KEEP:
		o->keep = 1;
		return 0;
	case OPT_WORKDIR:
		o->workdir_arg = v;
		return 0;
	case OPT_LITE:
		o->vmm_lite = v;
		return 0;
	case OPT_TRACKER:
		o->tracker = v;
		return one_of(v, trk) < 0 ? -1 : 0;
	case OPT_QEMU:
		o->qemu = v;
		return 0;
	case OPT_ACCEL:
		o->qemu_accel = v;
		return one_of(v, acc) < 0 ? -1 : 0;
	case OPT_AUTOCONV:
		o->auto_converge = 1;
		return 0;
	case OPT_GUEST_DIR:
		o->guest_dir = v;
		return 0;
	case OPT_GUEST_TOOL:
		o->guest_tool = v;
		return 0;
	case OPT_CERTS:
		o->certs = v;
		return 0;
	case OPT_PERIOD:
		return parse_u32(v, &o->period_ms, 1, 10000);
	case OPT_WARMUP:
		return parse_u32(v, &o->warmup_ms, 0, 3600000);
	case OPT_AFTER:
		return parse_u32(v, &o->after_ms, 0, 3600000);
	case OPT_MARGIN:
		return parse_u32(v, &o->margin_ms, 0, 60000);
	case OPT_TIMEOUT:
		return parse_u32(v, &o->timeout_s, 1,
				 86400); /* fits ms in u32 */
	case OPT_SELFTEST:
		o->self_test_bad = 1;
		return 0;
	}
	return -1;
}

static void defaults(struct dt_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mem_mib = 256;
	o->cpus = 2;
	o->runs = 3;
	o->downtime_ms = 300;
	o->vmm[DT_OURS] = o->vmm[DT_QEMU] = 1;
	o->vmm_lite = MIG_DT_VMM_LITE;
	o->qemu = "qemu-system-x86_64";
	o->qemu_accel = "kvm";
	o->guest_dir = MIG_DT_GUEST_DIR;
	o->guest_tool = MIG_DT_GUEST_TOOL;
	o->initrd = MIG_DT_INITRD;
	o->warmup_ms = 2000;
	o->after_ms = 2000;
	o->margin_ms = 500;
	o->timeout_s = 300;
	snprintf(o->one.pattern, sizeof(o->one.pattern), "random");
}

/* The rate workload's default working set. */
static uint32_t half_mem(const struct dt_opts *o)
{
	return o->mem_mib / 2 < 64 ? (uint32_t)(o->mem_mib / 2) : 64;
}

/*
 * linux-work's working set and rate unless given: what converges in the
 * KVM test VM (KVM_VM_GUEST set there), where a migration moves a few
 * MiB/s, and more elsewhere.
 */
static void linux_defaults(uint32_t *ws_mib, uint32_t *rate_mib)
{
	const char *vm = getenv("KVM_VM_GUEST");
	int nested = vm && *vm;

	*ws_mib = nested ? 24 : 64;
	*rate_mib = nested ? 1 : 16;
}

/* The one workload of --workload or --image, completed and named. */
static void finish_one(struct dt_opts *o, const struct given *g)
{
	struct dt_workload *w = &o->one;
	uint32_t lws, lrate;

	linux_defaults(&lws, &lrate);
	if (o->image)
		w->kind = DT_IMAGE;
	if (!g->ws)
		w->ws_mib = w->kind == DT_HOT	       ? 32
			    : w->kind == DT_LINUX_WORK ? lws
						       : half_mem(o);
	if (w->kind == DT_RATE && !g->rate)
		w->rate_mib = 50;
	if (w->kind == DT_LINUX_WORK && !g->rate)
		w->rate_mib = lrate;
	if (w->kind != DT_RATE && w->kind != DT_LINUX_WORK)
		w->rate_mib = 0;
	w->period_ms = o->period_ms	      ? o->period_ms
		       : DT_IS_LINUX(w->kind) ? PERIOD_LINUX
					      : PERIOD_BOOT_SECTOR;
	w->threads = o->cpus;
	if (DT_IS_LINUX(w->kind))
		w->pattern[0] = '\0';
	switch (w->kind) {
	case DT_IDLE:
		snprintf(w->name, sizeof(w->name), "idle");
		w->ws_mib = 0;
		break;
	case DT_HOT:
		snprintf(w->name, sizeof(w->name), "hot-%uM-%s", w->ws_mib,
			 w->pattern);
		break;
	case DT_RATE:
		snprintf(w->name, sizeof(w->name), "rate-%uM-%s", w->rate_mib,
			 w->pattern);
		break;
	case DT_LINUX_IDLE:
		snprintf(w->name, sizeof(w->name), "linux-idle");
		w->ws_mib = DT_LINUX_IDLE_MIB;
		w->rate_mib = DT_LINUX_IDLE_RATE;
		w->threads = 1;
		break;
	case DT_LINUX_WORK:
		snprintf(w->name, sizeof(w->name), "linux-work");
		break;
	case DT_IMAGE:
		snprintf(w->name, sizeof(w->name), "image");
		w->ws_mib = 0;
		w->pattern[0] = '\0';
		break;
	}
}

/* Whether the chosen workloads boot Linux. */
static int runs_linux(const struct dt_opts *o)
{
	if (!o->set)
		return DT_IS_LINUX(o->one.kind);
	return !strcmp(o->set, "default") || !strcmp(o->set, "linux");
}

/* What the Linux workloads need of the options. Returns 0 or -1. */
static int linux_fits(const struct dt_opts *o)
{
	uint32_t ws = o->set ? o->linux_ws_mib : o->one.ws_mib;

	if (!runs_linux(o))
		return 0;
	if (o->period_ms && o->period_ms < PERIOD_LINUX_MIN) {
		fprintf(stderr,
			"mig-downtime: the Linux guest's heartbeat period is "
			"%u ms at least (--period-ms)\n",
			PERIOD_LINUX_MIN);
		return -1;
	}
	if ((uint64_t)ws + LINUX_MEM_MIB > o->mem_mib) {
		fprintf(stderr,
			"mig-downtime: linux-work's %u MiB do not fit in "
			"--mem %" PRIu64 "M (%u MiB for Linux + the working "
			"set)\n",
			ws, o->mem_mib, LINUX_MEM_MIB);
		return -1;
	}
	return 0;
}

/* Returns 0, 1 after --help, or -1 (usage printed). */
static int parse_opts(int argc, char **argv, struct dt_opts *o)
{
	struct given g = {0};
	int c;

	defaults(o);
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (c == 'h' || c == OPT_HELP) {
			usage(stdout);
			return 1;
		}
		if (c < OPT_SET || c >= OPT_HELP ||
		    parse_one(o, &g, c, optarg)) {
			if (c >= OPT_SET && c < OPT_HELP)
				fprintf(stderr,
					"mig-downtime: bad value for --%s: "
					"%s\n",
					long_opts[c - OPT_SET].name, optarg);
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc || (o->set && (g.workload || o->image)) ||
	    (g.workload && o->image)) {
		fprintf(stderr, "mig-downtime: %s\n",
			optind < argc ? "unexpected argument"
				      : "--set, --workload and --image "
					"exclude each other");
		usage(stderr);
		return -1;
	}
	if (!g.workload && !o->image && !o->set)
		o->set = "default";
	if (o->set && !strcmp(o->set, "quick") && !g.runs)
		o->runs = 1;
	linux_defaults(&o->linux_ws_mib, &o->linux_rate_mib);
	if (o->set && g.ws)
		o->linux_ws_mib = o->one.ws_mib;
	if (o->set && g.rate)
		o->linux_rate_mib = o->one.rate_mib;
	if (!o->set)
		finish_one(o, &g);
	if (linux_fits(o))
		return -1;
	/* The guest's working set starts at 1 MiB and does not probe RAM. */
	if (o->set && o->mem_mib < 64) {
		fprintf(stderr, "mig-downtime: the sets need --mem 64M at "
				"least\n");
		return -1;
	}
	if (!o->set && !DT_IS_LINUX(o->one.kind) &&
	    o->one.ws_mib + 1 > o->mem_mib) {
		fprintf(
		    stderr,
		    "mig-downtime: --ws-mib %u does not fit in --mem %" PRIu64
		    "M (1 MiB + the working set)\n",
		    o->one.ws_mib, o->mem_mib);
		return -1;
	}
	return 0;
}

/*
 * The --set lists. ws_mib 0 for rate: half the memory up to 64 MiB;
 * linux-work's come from --ws-mib and --rate-mib, or linux_defaults().
 */
struct set_item {
	enum dt_kind kind;
	uint32_t ws_mib, rate_mib;
	const char *pattern; /* NULL ends a list */
};

static const struct {
	const char *name;
	struct set_item item[MAX_WL];
} sets[] = {
    {"default",
     {{DT_IDLE, 0, 0, "random"},
      {DT_HOT, 32, 0, "random"},
      {DT_RATE, 0, 50, "text"},
      {DT_LINUX_IDLE, 0, 0, ""},
      {DT_LINUX_WORK, 0, 0, ""}}},
    {"quick", {{DT_IDLE, 0, 0, "random"}, {DT_HOT, 32, 0, "random"}}},
    /* For nested KVM in the TCG test VM, where a migration moves
     * 10 to 50 MiB/s: small enough to converge under 300 ms there. */
    {"light",
     {{DT_IDLE, 0, 0, "random"},
      {DT_HOT, 1, 0, "random"},
      {DT_RATE, 8, 2, "text"}}},
    {"linux", {{DT_LINUX_IDLE, 0, 0, ""}, {DT_LINUX_WORK, 0, 0, ""}}},
};

/* The list for --set, or the one workload. Returns how many. */
static size_t workloads(struct dt_opts *o, struct dt_workload *wl, size_t max)
{
	struct given g = {.ws = 1, .rate = 1};
	struct dt_opts t = *o;
	size_t n = 0;

	if (!o->set) {
		wl[0] = o->one;
		return 1;
	}
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		if (strcmp(sets[i].name, o->set))
			continue;
		for (size_t k = 0; k < MAX_WL && n < max; k++) {
			const struct set_item *it = &sets[i].item[k];

			if (!it->pattern)
				break;
			t.one.kind = it->kind;
			t.one.ws_mib = it->ws_mib;
			t.one.rate_mib = it->rate_mib;
			if (it->kind == DT_RATE && !it->ws_mib)
				t.one.ws_mib = half_mem(o);
			if (it->kind == DT_LINUX_WORK) {
				t.one.ws_mib = o->linux_ws_mib;
				t.one.rate_mib = o->linux_rate_mib;
			}
			snprintf(t.one.pattern, sizeof(t.one.pattern), "%s",
				 it->pattern);
			finish_one(&t, &g);
			wl[n++] = t.one;
		}
	}
	return n;
}

static void progress(const struct dt_workload *w, int vmm, uint32_t i,
		     uint32_t runs, const struct dt_run *r)
{
	uint64_t skip_ms = r->guest.skipped * w->period_ms;

	if (!r->ok) {
		printf("  %-18s run %u/%u %-8s FAILED\n", w->name, i + 1, runs,
		       dt_vmm_label[vmm]);
		return;
	}
	printf("  %-18s run %u/%u %-8s downtime %7.1f ms, guest pause %7.1f "
	       "ms, total %8.1f ms, %u rounds, %.1f MiB (verified)\n",
	       w->name, i + 1, runs, dt_vmm_label[vmm],
	       (double)r->downtime_us / 1000.0,
	       (double)r->guest.pause_us / 1000.0, (double)r->total_us / 1000.0,
	       r->rounds, (double)r->wire_bytes / (1024.0 * 1024.0));
	/* The guest's clock may lag a pause, never run ahead of it. */
	if (skip_ms > r->guest.pause_us / 1000 + 1000)
		printf("  %-18s note: the guest's clock jumped %" PRIu64
		       " ms at the switch-over, over a %.1f ms pause\n",
		       "", skip_ms, (double)r->guest.pause_us / 1000.0);
}

static int bench_all(struct dt_opts *o, const struct dt_env *env)
{
	static const struct dt_vmm *const vmms[DT_NVMM] = {&dt_vmm_lite,
							   &dt_vmm_qemu};
	static struct dt_workload wl[MAX_WL];
	struct dt_result res[MAX_WL];
	size_t nw = workloads(o, wl, MAX_WL), done;
	char why[DT_WHY];
	int failed = 0;

	memset(res, 0, sizeof(res));
	for (done = 0; done < nw; done++) {
		struct dt_result *r = &res[done];

		r->w = &wl[done];
		if (dt_guest_prepare(o, &wl[done], env, why, sizeof(why))) {
			fprintf(stderr, "mig-downtime: %s: %s\n", wl[done].name,
				why);
			failed = 1;
			break;
		}
		for (int k = 0; k < DT_NVMM; k++)
			if (o->vmm[k] &&
			    !(r->runs[k] =
				  calloc(o->runs, sizeof(struct dt_run)))) {
				fprintf(stderr,
					"mig-downtime: out of memory\n");
				goto out;
			}
		for (uint32_t i = 0; i < o->runs; i++)
			for (int j = 0; j < DT_NVMM; j++) {
				int k = i % 2 ? DT_NVMM - 1 - j : j;
				struct dt_run *run;

				if (!o->vmm[k])
					continue;
				run = &r->runs[k][i];
				dt_run_one(o, vmms[k], &wl[done], env, i, run);
				r->nruns[k]++;
				failed |= !run->ok;
				progress(&wl[done], k, i, o->runs, run);
			}
		for (int k = 0; k < DT_NVMM; k++)
			dt_median(r, k);
	}
	if (done)
		dt_report_print(o, res, done);
	if (done && o->json && dt_report_json(o, res, done)) {
		fprintf(stderr, "mig-downtime: cannot write %s\n", o->json);
		failed = 1;
	}
out:
	for (size_t i = 0; i < nw; i++)
		for (int k = 0; k < DT_NVMM; k++)
			free(res[i].runs[k]);
	return failed || done < nw ? -1 : 0;
}

static void on_signal(int sig)
{
	dt_proc_kill_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The work directory: --workdir, or a new one in $TMPDIR. */
static int make_workdir(struct dt_opts *o, char *dir, size_t len)
{
	const char *tmp = getenv("TMPDIR");

	if (o->workdir_arg) {
		snprintf(dir, len, "%s", o->workdir_arg);
		o->keep = 1;
		if (!mkdir(dir, 0755) || errno == EEXIST)
			return 0;
	} else {
		snprintf(dir, len, "%s/mig-downtime.XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		if (mkdtemp(dir))
			return 0;
	}
	fprintf(stderr, "mig-downtime: cannot make %s: %s\n", dir,
		strerror(errno));
	return -1;
}

int main(int argc, char **argv)
{
	static struct dt_env env;
	struct dt_opts o;
	int rc = parse_opts(argc, argv, &o);

	if (rc)
		return rc > 0 ? 0 : EXIT_USAGE;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (make_workdir(&o, env.workdir, sizeof(env.workdir)))
		return EXIT_FAIL;
	/* Short and local: 9p shares (the KVM test VM's) refuse sockets, and
	 * the images should not be slower to open for QEMU than anywhere. */
	snprintf(env.localdir, sizeof(env.localdir), "/tmp/mig-dt.XXXXXX");
	if (!mkdtemp(env.localdir)) {
		fprintf(stderr, "mig-downtime: cannot make %s: %s\n",
			env.localdir, strerror(errno));
		return EXIT_FAIL;
	}
	rc = dt_certs_setup(&o, &env);
	if (!rc)
		rc = bench_all(&o, &env);
	dt_rmtree(env.localdir);
	if (!rc && !o.keep)
		dt_rmtree(env.workdir);
	else
		fprintf(stderr, "mig-downtime: files kept in %s\n",
			env.workdir);
	return rc ? EXIT_FAIL : 0;
}
