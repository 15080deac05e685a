/*
 * bench.h - mig-bench, libmigrate's pipeline benchmark (issue #2).
 *
 * For one synthetic guest at a time it measures, in the same run and on
 * the same memory: our migration over TLS on loopback to a target in a
 * child process, and three independent bounds on what the pipeline could
 * reach on this machine (raw TLS with OpenSSL directly, LZ4 over every
 * page, memcpy), plus what the first touch of fresh memory costs (the
 * target pays it, no bound does). The figures that matter are the ratios
 * between them; docs/benchmarks.md says why.
 *
 *   mig_bench.c  options, certificates, the run loop, medians
 *   peer.c       the helper child: migration target and TLS sink
 *   ours.c       one migration with the library, and its verification
 *   rawtls.c     TLS 1.3 with mutual auth through OpenSSL, both ends
 *   bounds.c     the LZ4, memcpy and first-touch figures, guest
 *                preparation
 *   report.c     the table, the targets, the JSON file
 */
#ifndef MIG_BENCH_H
#define MIG_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "synth.h"

/* What the library hands to SSL_write at most: one batch frame. */
#define BENCH_WRITE_SIZE (256u * MIG_PAGE_SIZE)

/* The targets: ours / raw TLS. */
#define BENCH_TARGET_RANDOM 0.80
#define BENCH_TARGET_ZERO   5.0

struct bench_opts {
	uint64_t size; /* guest RAM */
	int have_size;
	struct synth_mix mix; /* --mix: one custom workload */
	int have_mix;
	const char *set;     /* --workload-set: "default", "quick" */
	uint64_t dirty_rate; /* bytes/s; with dirty_max: flat out */
	int dirty_max;
	uint32_t dirty_threads;
	int have_threads;
	uint32_t runs;
	int have_runs;
	const char *certs;  /* NULL: generate into the work directory */
	const char *json;   /* NULL: no JSON file */
	int encode_threads; /* 0: the library's default */
	int lazy_zero;	    /* leave the guest's zero pages unmapped */
	int target_4k;	    /* MADV_NOHUGEPAGE on the target's RAM */
	int ours_only;	    /* skip the bounds (profiling) */
	int verbose;
};

struct bench_workload {
	const char *name;
	struct synth_mix mix;
};

/* One run's figures, all measured on the same guest memory. */
struct bench_run {
	uint64_t guest_bytes; /* every region, ROM included */
	/* ours, as the source measured it */
	uint64_t total_us;	 /* start to the target's "running" */
	uint64_t total_us_stats; /* mig_stats.total_us after the run */
	uint64_t setup_us;
	uint64_t downtime_us;
	uint64_t wire_bytes;	   /* page frames, summed over the rounds */
	uint64_t wire_bytes_stats; /* mig_stats.wire_bytes, as reported */
	uint32_t rounds;
	uint64_t zero_pages;
	uint64_t lz4_pages;
	uint64_t raw_pages;
	uint64_t target_us; /* the target's own total */
	/*
	 * CPU time (user + system, all threads) and page faults while each
	 * side moved the data: the cost per byte, which a busy machine
	 * changes far less than it changes the elapsed time.
	 */
	uint64_t src_cpu_us; /* mig_source_run(), this process */
	uint64_t src_faults;
	uint64_t tgt_cpu_us; /* mig_target_run(), the helper */
	uint64_t tgt_faults;
	uint64_t tls_cpu_us; /* raw TLS, both ends */
	uint64_t tls_faults;
	/* rates in bytes/s of guest memory */
	double ours;
	double tls;
	double lz4;
	double memcpy;
	double touch;	  /* first touch of fresh memory */
	uint64_t lz4_out; /* LZ4's output bytes (all pages) */
	double ratio;	  /* ours / tls */
	char cipher[64];  /* the raw TLS suite (not a median) */
};

/* A workload's runs and their medians. */
struct bench_result {
	const struct bench_workload *w;
	uint32_t nruns;
	struct bench_run *runs;
	struct bench_run median; /* each figure's median over the runs */
};

/* CPU time and minor page faults of this process (every thread). */
struct bench_usage {
	uint64_t cpu_us;
	uint64_t faults;
};

/* ---- peer.c: the helper child ---------------------------------------- */

struct bench_peer {
	pid_t pid;
	int fd; /* SOCK_SEQPACKET to the child */
};

/* What the target found, sent back when its migration ended. */
struct bench_target_result {
	int32_t rc;	  /* mig_target_run() */
	int32_t state_ok; /* load_state saw every blob exact */
	int32_t check_done;
	int32_t hashes_written; /* into the work directory */
	uint64_t pages_checked;
	uint64_t bad_pages;
	uint64_t first_bad_gpa;
	uint64_t violations; /* safety-rule breaches the guest saw */
	uint64_t total_us;
	uint64_t cpu_us; /* during mig_target_run() */
	uint64_t faults;
	char text[256]; /* why, when something failed */
};

/*
 * Forks the helper. Call before any guest memory or thread exists, so
 * the child is small and single-threaded. `certs` and `workdir` must stay
 * valid. Returns 0 or -errno.
 */
int bench_peer_start(struct bench_peer *p, const char *certs,
		     const char *workdir, int target_4k, int verbose);

/* Asks the helper to quit and reaps it; kills it if it does not. */
void bench_peer_stop(struct bench_peer *p);

/* Kills the helper at once (after a failure that may have left it hung). */
void bench_peer_kill(struct bench_peer *p);

/*
 * The helper starts a migration target on 127.0.0.1 and tells its address
 * ("tcp:127.0.0.1:PORT"). Returns 0, or a negative code with a sentence.
 */
int bench_peer_target(struct bench_peer *p, char *addr, size_t len, char *why,
		      size_t why_len);

/* Waits for the target's outcome. Returns 0 or -EPIPE (helper gone). */
int bench_peer_target_wait(struct bench_peer *p, struct bench_target_result *r);

/* Path of the hash file the target writes (in the work directory). */
void bench_peer_hash_path(const char *workdir, char *buf, size_t len);

/*
 * The helper starts a raw TLS sink for `bytes` bytes and tells its port.
 * Returns 0, or a negative code with a sentence.
 */
int bench_peer_sink(struct bench_peer *p, uint64_t bytes, uint16_t *port,
		    char *why, size_t why_len);

/*
 * Waits for the sink's outcome: 0 when it got every byte (and its CPU
 * time and page faults meanwhile), or an error.
 */
int bench_peer_sink_wait(struct bench_peer *p, struct bench_usage *u, char *why,
			 size_t why_len);

/* ---- rawtls.c --------------------------------------------------------- */

/*
 * The sink's side, in the helper: accepts one client on `lfd`, does the
 * TLS 1.3 handshake, reads exactly `bytes` into a 1 MiB buffer and answers
 * one byte. Returns 0 or -1 with a sentence in `why`.
 */
int bench_tls_sink(int lfd, const char *certs, uint64_t bytes, char *why,
		   size_t why_len);

struct bench_tls_out {
	uint64_t elapsed_ns; /* first byte written to acknowledgement */
	char cipher[64];     /* the suite negotiated */
};

/*
 * The sender's side: connects to 127.0.0.1:`port`, handshakes, sends every
 * region in writes of BENCH_WRITE_SIZE, waits for the sink's byte.
 * Returns 0 and *out, or -1 with a sentence in `why`.
 */
int bench_tls_send(uint16_t port, const char *certs,
		   const struct mig_region *regions, size_t n,
		   struct bench_tls_out *out, char *why, size_t why_len);

/* A TCP socket listening on 127.0.0.1, any port. Returns the fd or -errno. */
int bench_tcp_listen(uint16_t *port);

/* ---- bounds.c --------------------------------------------------------- */

/* Monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);

void bench_usage_get(struct bench_usage *u);
/* *u becomes the difference between now and the earlier sample *u. */
void bench_usage_since(struct bench_usage *u);

/* Bytes in all regions. */
uint64_t bench_regions_bytes(const struct mig_region *r, size_t n);

/*
 * Makes every writable page of the guest resident without changing its
 * content: the synthetic guest leaves its zero pages unmapped, and the
 * source would take a page fault on each where a guest that has run a
 * while has memory. Returns 0 or -errno.
 */
int bench_guest_populate(const struct mig_region *r, size_t n);

/*
 * First touch of a fresh anonymous mapping of `bytes`, one write per 4 KiB
 * page, one thread; `thp`: advised MADV_HUGEPAGE first. What the target
 * pays to make its new guest memory resident. Returns ns, -1 on failure.
 */
int64_t bench_touch(uint64_t bytes, int thp);

/*
 * LZ4_compress_default over every page, one thread. Returns the time in
 * ns; *out_bytes gets the compressed total. -1 if out of memory.
 */
int64_t bench_lz4(const struct mig_region *r, size_t n, uint64_t *out_bytes);

/*
 * memcpy of every region into a resident buffer (reused cyclically when
 * the guest is larger than it), one thread. Returns ns, -1 if out of
 * memory.
 */
int64_t bench_memcpy(const struct mig_region *r, size_t n);

/* ---- ours.c ----------------------------------------------------------- */

/*
 * Migrates guest `g` (built, not started) to a target in the helper and
 * checks, on both sides, that the target holds exactly the source's memory
 * and state. Fills the "ours" fields of `res`. Returns 0, or -1 with a
 * sentence in `why` (a migration error or a mismatch: a real failure).
 * The guest is destroyed by the migration; the caller still frees it.
 */
int bench_ours(struct bench_peer *peer, struct synth_guest *g,
	       const struct bench_opts *o, const char *certs,
	       const char *workdir, struct bench_run *res, char *why,
	       size_t why_len);

/* Fills params' TLS paths from `certs` ("DIR/ca.pem", ...) into `buf`. */
void bench_tls_params(struct mig_tls_params *t, const char *certs, int server,
		      char buf[3][4096]);

/* ---- report.c --------------------------------------------------------- */

/* Median of each figure of `runs` into r->median. */
void bench_median(struct bench_result *r);

/* The load average ("0.52 0.61 0.70") into buf: others share the cores. */
void bench_loadavg(char *buf, size_t len);

/* Prints the header, the tables and the targets. */
void bench_report_print(const struct bench_opts *o,
			const struct bench_result *res, size_t n,
			const char *load_before);

/* Writes everything as JSON to o->json. Returns 0 or -1. */
int bench_report_json(const struct bench_opts *o,
		      const struct bench_result *res, size_t n,
		      const char *load_before);

#endif /* MIG_BENCH_H */
