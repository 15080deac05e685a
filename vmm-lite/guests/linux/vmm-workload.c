/*
 * vmm-workload: the memory workload of the Linux test guest. It keeps a
 * working set of 4 KiB pages, each holding a pattern determined by (page
 * index, generation), and rewrites the pages at a bounded rate; before it
 * rewrites a page it verifies the whole page against the pattern of the
 * page's current generation, so every byte a live migration moved gets
 * checked. Once per period it prints a heartbeat line, by which a host
 * measures the pause the guest saw and sees that it is still alive.
 *
 *   vmm-workload [--mib N] [--rate MIB_PER_S] [--period MS] [--threads N]
 *                [--duration S] [--self-test]
 *
 * Output (stdout, one write(2) per line; README.md has the details):
 *   workload: start mib=M rate=R period=P threads=T pages=N
 *   hb SEQ MONO_NS PASSES VERIFIED BAD BACKWARDS
 *   BAD page=N gen=G off=O prev=0|1
 *   BACKWARDS prev_ns now_ns
 *   workload: end hb=.. passes=.. verified=.. bad=.. backwards=..
 *
 * Exit status: 0 when the run ended (--duration, SIGINT, SIGTERM) with no
 * bad page and no backwards clock, 1 when it saw either, 2 for a usage or
 * set-up error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* MAP_ANONYMOUS and getopt_long */
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_BYTES 4096u
#define PAGE_WORDS (PAGE_BYTES / sizeof(uint64_t))
#define NS_PER_S   1000000000ull

#define MIB_MAX	     65536u   /* 64 GiB: far beyond any test guest */
#define RATE_MAX     1048576u /* 1 TiB/s: "unbounded" in all but name */
#define PERIOD_MIN   10u      /* a 115200 baud console takes ~200 lines/s */
#define PERIOD_MAX   60000u
#define THREADS_MAX  64u /* below the 256 pages of 1 MiB: no empty share */
#define DURATION_MAX 31536000u /* a year */

/*
 * BAD and BACKWARDS lines allowed per heartbeat period, over all threads:
 * a corrupted working set must not flood the console (and starve the
 * shell); the heartbeat line carries the full counts.
 */
#define EVENT_LINES_PER_PERIOD 4

/* A lag behind the rate schedule beyond this is forgiven, not caught up. */
#define PACE_SLACK_NS NS_PER_S

#define CACHE_LINE 64

struct opts {
	unsigned mib;
	unsigned rate_mib;
	unsigned period_ms;
	unsigned threads;
	unsigned duration_s;
	bool self_test;
};

/* One thread's view of the monotonic clock, for the backwards check. */
struct clk {
	uint64_t prev_ns;
	atomic_uint_fast64_t backwards;
};

struct worker {
	_Alignas(CACHE_LINE) pthread_t tid;
	unsigned idx;
	size_t first;	  /* first page of this thread's share */
	size_t count;	  /* pages in the share */
	uint64_t page_ns; /* time per page at the thread's share of the rate */
	struct clk clk;
	atomic_uint_fast64_t rewritten;
	atomic_uint_fast64_t verified;
	atomic_uint_fast64_t bad;
};

static struct opts opt = {
    .mib = 32,
    .rate_mib = 4,
    .period_ms = 100,
    .threads = 1,
};

static unsigned char *ws; /* the working set, npages pages */
static size_t npages;
static uint32_t *gens; /* per page: writes so far, 0 = never written */

/* Latest clock value any thread has read: reads must never go below it. */
static atomic_uint_fast64_t clk_latest;
static atomic_int event_budget = EVENT_LINES_PER_PERIOD;
static atomic_bool stopping;

/*
 * Writes one formatted line with a single write(2), so that a line never
 * interleaves with the shell's output or another thread's line on the
 * console (a tty serialises whole writes).
 */
__attribute__((format(printf, 1, 2))) static void out_line(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) { /* cut short, still one line */
		n = sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}

	size_t off = 0;
	while (off < (size_t)n) {
		ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to report to: carry on silently */
		off += (size_t)w;
	}
}

/* True if an event line may be printed now (see EVENT_LINES_PER_PERIOD). */
static bool event_line_allowed(void)
{
	return atomic_fetch_sub(&event_budget, 1) > 0;
}

/*
 * Reads CLOCK_MONOTONIC and reports a value below this thread's previous
 * read or below the latest value any thread read before this one. Loading
 * clk_latest before the clock read orders the two: whatever read stored
 * that value happened before ours, so ours must not be smaller (the vDSO
 * orders its TSC read after earlier loads). Every such read counts.
 */
static uint64_t clk_read(struct clk *c)
{
	uint_fast64_t seen = atomic_load(&clk_latest);
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
	uint64_t floor = c->prev_ns > seen ? c->prev_ns : seen;

	if (now < floor) {
		atomic_fetch_add_explicit(&c->backwards, 1,
					  memory_order_relaxed);
		if (event_line_allowed())
			out_line("BACKWARDS %" PRIu64 " %" PRIu64 "\n", floor,
				 now);
	}
	c->prev_ns = now;
	while (seen < now &&
	       !atomic_compare_exchange_weak(&clk_latest, &seen, now))
		;
	return now;
}

/* Sleeps until the monotonic time DEADLINE_NS (or a signal arrives). */
static void sleep_until(uint64_t deadline_ns)
{
	struct timespec ts = {
	    .tv_sec = (time_t)(deadline_ns / NS_PER_S),
	    .tv_nsec = (long)(deadline_ns % NS_PER_S),
	};

	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* splitmix64's finaliser: spreads (page, generation) over the seed. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* First word of the pattern; never 0, which xorshift cannot leave. */
static uint64_t pattern_seed(size_t page, uint32_t gen)
{
	return mix64((uint64_t)page << 32 | gen) | 1;
}

/* xorshift64: each word of a page follows from the one before. */
static uint64_t pattern_next(uint64_t x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

static void page_fill(uint64_t *p, size_t page, uint32_t gen)
{
	uint64_t x = pattern_seed(page, gen);

	for (size_t i = 0; i < PAGE_WORDS; i++) {
		p[i] = x;
		x = pattern_next(x);
	}
}

/* Index of the first word of P that differs from the pattern, or -1. */
static long page_mismatch(const uint64_t *p, size_t page, uint32_t gen)
{
	uint64_t x = pattern_seed(page, gen);

	for (size_t i = 0; i < PAGE_WORDS; i++) {
		if (p[i] != x)
			return (long)i;
		x = pattern_next(x);
	}
	return -1;
}

/*
 * Verifies page PAGE against its current generation, reporting a mismatch
 * (and whether the page holds exactly the previous generation: a page a
 * migration sent stale), then rewrites it with the next generation.
 */
static void page_rewrite(struct worker *w, size_t page)
{
	uint64_t *p = (uint64_t *)(ws + page * PAGE_BYTES);
	uint32_t gen = gens[page];

	if (gen != 0) {
		long bad = page_mismatch(p, page, gen);

		atomic_fetch_add_explicit(&w->verified, 1,
					  memory_order_relaxed);
		if (bad >= 0) {
			int prev =
			    gen > 1 && page_mismatch(p, page, gen - 1) < 0;

			atomic_fetch_add_explicit(&w->bad, 1,
						  memory_order_relaxed);
			if (event_line_allowed())
				out_line("BAD page=%zu gen=%" PRIu32
					 " off=%zu prev=%d\n",
					 page, gen, (size_t)bad * sizeof(*p),
					 prev);
		}
	}
	gens[page] = ++gen;
	page_fill(p, page, gen);
	atomic_fetch_add_explicit(&w->rewritten, 1, memory_order_relaxed);
}

/*
 * Holds page N of the paced run to its slot on the rate schedule that
 * started at *BASE. A thread that fell further behind than PACE_SLACK_NS
 * (descheduled, paused for a migration) restarts the schedule instead of
 * rewriting at full speed until it has caught up.
 */
static void pace(struct worker *w, uint64_t *base, uint64_t n)
{
	uint64_t now = clk_read(&w->clk);

	if (w->page_ns == 0)
		return;
	uint64_t due = *base + n * w->page_ns;
	if (now < due)
		sleep_until(due);
	else if (now - due > PACE_SLACK_NS)
		*base = now - n * w->page_ns;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t n = 0;
	uint64_t base;

	/* The first pass only fills the share, at full speed. */
	for (size_t i = 0; i < w->count && !atomic_load(&stopping); i++)
		page_rewrite(w, w->first + i);
	if (opt.self_test && w->idx == 0)
		ws[w->first * PAGE_BYTES + 100] ^= 0x5a; /* see --self-test */

	base = clk_read(&w->clk);
	while (!atomic_load(&stopping)) {
		for (size_t i = 0; i < w->count; i++) {
			if (atomic_load(&stopping))
				break;
			pace(w, &base, n++);
			page_rewrite(w, w->first + i);
		}
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stopping, true);
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: vmm-workload [--mib N] [--rate MIB_PER_S] [--period MS]\n"
	    "                    [--threads N] [--duration S] [--self-test]\n"
	    "  --mib N         working set in MiB (1..%u, default 32)\n"
	    "  --rate R        rewrite rate in MiB/s over all threads, 0 = "
	    "unbounded\n"
	    "                  (0..%u, default 4)\n"
	    "  --period MS     heartbeat period (%u..%u, default 100)\n"
	    "  --threads N     rewriting threads (1..%u, default 1)\n"
	    "  --duration S    end after S seconds, 0 = never (default 0)\n"
	    "  --self-test     corrupt one byte of page 0 after the fill, "
	    "so the\n"
	    "                  first verification of page 0 reports BAD\n",
	    MIB_MAX, RATE_MAX, PERIOD_MIN, PERIOD_MAX, THREADS_MAX);
}

/* Parses a decimal in [LO, HI] into *OUT; 0 or -EINVAL. */
static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL; /* strtoul takes "-1" and " 1" */
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_opts(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"mib", required_argument, NULL, 'm'},
	    {"rate", required_argument, NULL, 'r'},
	    {"period", required_argument, NULL, 'p'},
	    {"threads", required_argument, NULL, 't'},
	    {"duration", required_argument, NULL, 'd'},
	    {"self-test", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, li = -1;

	while ((c = getopt_long(argc, argv, "", longs, &li)) != -1) {
		int rc = 0;

		switch (c) {
		case 'm':
			rc = parse_uint(optarg, 1, MIB_MAX, &opt.mib);
			break;
		case 'r':
			rc = parse_uint(optarg, 0, RATE_MAX, &opt.rate_mib);
			break;
		case 'p':
			rc = parse_uint(optarg, PERIOD_MIN, PERIOD_MAX,
					&opt.period_ms);
			break;
		case 't':
			rc = parse_uint(optarg, 1, THREADS_MAX, &opt.threads);
			break;
		case 'd':
			rc = parse_uint(optarg, 0, DURATION_MAX,
					&opt.duration_s);
			break;
		case 's':
			opt.self_test = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
		if (rc < 0) {
			fprintf(stderr, "vmm-workload: --%s: bad value %s\n",
				longs[li].name, optarg);
			return rc;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vmm-workload: unexpected argument %s\n",
			argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Splits the working set into contiguous shares, one per thread. */
static void workers_init(struct worker *wk)
{
	for (unsigned t = 0; t < opt.threads; t++) {
		struct worker *w = &wk[t];

		w->idx = t;
		w->first = npages * t / opt.threads;
		w->count = npages * (t + 1) / opt.threads - w->first;
		/* rate/threads MiB/s is (rate * 256 / threads) pages/s */
		w->page_ns = opt.rate_mib == 0
				 ? 0
				 : NS_PER_S * opt.threads /
				       ((uint64_t)opt.rate_mib * 256);
	}
}

struct totals {
	uint64_t rewritten, verified, bad, backwards;
};

static void totals_sum(struct worker *wk, struct clk *main_clk,
		       struct totals *t)
{
	memset(t, 0, sizeof(*t));
	t->backwards = atomic_load(&main_clk->backwards);
	for (unsigned i = 0; i < opt.threads; i++) {
		t->rewritten += atomic_load(&wk[i].rewritten);
		t->verified += atomic_load(&wk[i].verified);
		t->bad += atomic_load(&wk[i].bad);
		t->backwards += atomic_load(&wk[i].clk.backwards);
	}
}

/*
 * Prints a heartbeat every period until the duration is over or a signal
 * stops the run. Lines are phase-locked to the start (line n is due at
 * start + n periods); a late line skips the periods it missed rather than
 * bursting, so a pause shows as one long gap. SEQ counts printed lines.
 */
static uint64_t heartbeat_loop(struct worker *wk, struct clk *main_clk)
{
	const uint64_t period = (uint64_t)opt.period_ms * 1000000;
	const uint64_t start = clk_read(main_clk);
	uint64_t next = start + period;
	uint64_t seq = 0;
	struct totals t;

	while (!atomic_load(&stopping)) {
		sleep_until(next);
		if (atomic_load(&stopping))
			break;
		uint64_t now = clk_read(main_clk);
		if (now < next)
			continue; /* woken early by a signal */
		next += (now - next) / period * period + period;

		totals_sum(wk, main_clk, &t);
		out_line("hb %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
			 " %" PRIu64 " %" PRIu64 "\n",
			 ++seq, now, t.rewritten / npages, t.verified, t.bad,
			 t.backwards);
		atomic_store(&event_budget, EVENT_LINES_PER_PERIOD);
		if (opt.duration_s != 0 &&
		    now - start >= opt.duration_s * NS_PER_S)
			break;
	}
	atomic_store(&stopping, true);
	return seq;
}

int main(int argc, char **argv)
{
	static struct clk main_clk;
	struct sigaction sa = {.sa_handler = on_signal};
	struct worker *wk;
	struct totals t;
	unsigned started = 0;
	uint64_t seq = 0;
	size_t size;
	int rc, status = 2;

	if (parse_opts(argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	size = (size_t)opt.mib << 20;
	npages = size / PAGE_BYTES;
	out_line("workload: start mib=%u rate=%u period=%u threads=%u "
		 "pages=%zu\n",
		 opt.mib, opt.rate_mib, opt.period_ms, opt.threads, npages);

	ws = mmap(NULL, size, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ws == MAP_FAILED) {
		out_line("workload: mmap %zu bytes: %s\n", size,
			 strerror(errno));
		return 2;
	}
	/* Locked, the working set stays in guest RAM, where migration sees it.
	 */
	if (mlock(ws, size) != 0)
		out_line("workload: mlock: %s; continuing unlocked\n",
			 strerror(errno));
	gens = calloc(npages, sizeof(*gens));
	if (gens == NULL) {
		out_line("workload: out of memory\n");
		goto unmap_ws;
	}
	wk = aligned_alloc(CACHE_LINE, sizeof(*wk) * opt.threads);
	if (wk == NULL) {
		out_line("workload: out of memory\n");
		goto free_gens;
	}
	memset(wk, 0, sizeof(*wk) * opt.threads);
	workers_init(wk);

	for (; started < opt.threads; started++) {
		rc = pthread_create(&wk[started].tid, NULL, worker_main,
				    &wk[started]);
		if (rc != 0) {
			out_line("workload: pthread_create: %s\n",
				 strerror(rc));
			atomic_store(&stopping, true);
			goto join_workers;
		}
	}

	seq = heartbeat_loop(wk, &main_clk);
	status = 0;

join_workers:
	for (unsigned i = 0; i < started; i++)
		pthread_join(wk[i].tid, NULL);
	if (status == 0) {
		totals_sum(wk, &main_clk, &t);
		out_line("workload: end hb=%" PRIu64 " passes=%" PRIu64
			 " verified=%" PRIu64 " bad=%" PRIu64
			 " backwards=%" PRIu64 "\n",
			 seq, t.rewritten / npages, t.verified, t.bad,
			 t.backwards);
		status = t.bad != 0 || t.backwards != 0;
	}
	free(wk);
free_gens:
	free(gens);
unmap_ws:
	munmap(ws, size);
	return status;
}
