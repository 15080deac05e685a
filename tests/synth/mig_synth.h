/*
 * mig_synth.h - what mig-synth's driver (mig_synth.c) hands its report
 * writer (mig_synth_report.c): the outcome of one run and of every check.
 */
#ifndef MIG_SYNTH_H
#define MIG_SYNTH_H

#include <stdio.h>

#include "synth.h"

/* Exit codes, as --help documents them. */
enum {
	EXIT_OK = 0,	 /* migrated, and every check passed */
	EXIT_FAILED = 1, /* failed before commit; the guest is safe */
	EXIT_USAGE = 2,
	EXIT_UNDETERMINED = 3, /* committed, no confirmation: guest paused */
	EXIT_VERIFY = 4,       /* a check failed: memory, state, safety rule */
};

/* The command line, as mig_synth_opts.c parses it. */
struct opts {
	const char *command;
	int target;  /* target or load */
	int file_io; /* save or load */
	const char *address;
	const char *certs;
	const char *ca;
	const char *cert;
	const char *key;
	const char *peer_name;
	struct synth_config cfg;
	struct synth_dirty_opts dirty;
	uint32_t downtime_ms;
	uint64_t bandwidth;
	uint32_t max_rounds;
	uint32_t max_time_ms;
	enum mig_on_limit on_limit;
	uint32_t timeout_ms;
	int no_compress;
	int encode_threads;
	const char *report_json;
	const char *hash_out;
	const char *hash_check;
	const char *port_file;
	uint64_t max_memory;
	enum mig_phase die_phase;
	uint32_t die_round; /* --die-in-phase PHASE:ROUNDS */
	int die_in_start;   /* --die-in-phase start */
	enum mig_phase cancel_phase;
	uint32_t cancel_delay_ms;
	uint32_t run_ms;
	uint32_t warmup_ms;
	int verify_after_failure;
	int idle; /* --dirty-rate 0 */
	int quiet;
	int verbose;
	char path_buf[4][4096];
};

/*
 * Parses argv into `o` (defaults first). Returns 0, 1 after --help (the
 * usage was printed), or -1 on a usage error (already explained).
 */
int parse_opts(int argc, char **argv, struct opts *o);

#define OUTCOME_MAX_VIOLATIONS 8

struct outcome {
	const char *role;    /* "source" or "target" */
	const char *command; /* source, target, save, load */
	const char *address;
	int rc;		    /* what mig_*_run returned */
	const char *result; /* "success", "failed", "undetermined" */
	int exit_code;
	struct mig_stats stats;
	uint32_t downtime_limit_ms;

	int have_config;
	struct synth_config config;

	/* The guest's life as the library drove it. */
	const char *guest_state;
	uint32_t pauses;
	uint32_t resumes;
	int created;
	int started;
	int destroyed;
	uint64_t writes;

	/* Memory at freeze (source) or on arrival (target). */
	int frozen_checked;
	struct synth_check frozen;
	/* Memory after the run: the guest resumed here, or ran on target. */
	int after_checked;
	struct synth_check after;
	/* Whether the guest kept running (its dirtiers progressed). */
	int progress_checked;
	int progressing;
	uint64_t writes_before;
	uint64_t writes_after;
	/* Target: the machine state blobs. */
	int state_checked;
	int state_ok;
	char state_why[256];
	/* Target: hashes compared with the source's file. */
	int hash_checked;
	int hash_ok;
	struct synth_hash_diff diff;

	size_t nviolations;
	const char *violations[OUTCOME_MAX_VIOLATIONS];
	char extra_violation[256]; /* one found by the driver itself */

	int cancel_requested;
	int cancel_rc;
	int verified;	   /* every check that ran passed */
	char verdict[256]; /* one line for a user */
};

/* The human report: phase, rounds table, totals, verification. */
void report_print(FILE *f, const struct outcome *o);

/*
 * Writes the JSON report: the library's own statistics (from
 * mig_stats_to_json) under "stats", a "summary" of them, the guest's life
 * and every verification result. Returns 0 or -errno.
 */
int report_json_write(const char *path, const struct outcome *o);

#endif /* MIG_SYNTH_H */
