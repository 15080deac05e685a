/*
 * ctl_progress.h - the pure parts of migratectl: parsing sizes and numbers
 * from the command line, reading a migration's status object, the live
 * progress line, the final report, and aligned tables for vm-list and
 * history. Nothing here touches a socket or a terminal, so the unit tests
 * (tests/migrated/test_ctl_progress.c) drive it with canned JSON.
 */
#ifndef MIGD_CTL_PROGRESS_H
#define MIGD_CTL_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

/* Bounds on strings copied out of the daemon's answers (hostile input). */
#define CTL_ID_MAX    64
#define CTL_NAME_MAX  128
#define CTL_HOST_MAX  256
#define CTL_PHASE_MAX 16
#define CTL_ERROR_MAX 1024

/* One migration as the daemon's "status" and "history" answers give it. */
struct ctl_mig {
	char id[CTL_ID_MAX];
	char vm[CTL_NAME_MAX];
	char direction[8];     /* "out" or "in" */
	char peer[CTL_HOST_MAX];
	char phase[CTL_PHASE_MAX];
	uint64_t round;
	uint64_t remaining_bytes;
	uint64_t rate_bytes_per_s;
	uint64_t bytes_sent;
	uint64_t guest_bytes;  /* optional member; 0 when the daemon omits it */
	double expected_downtime_ms;
	double downtime_ms;
	double total_ms;
	int64_t started_at;    /* unix seconds, 0 unknown */
	char error[CTL_ERROR_MAX]; /* "" when null */
};

/*
 * Parses a size: a whole number with an optional K, M, G or T suffix
 * (powers of 1024, case-insensitive, "KiB".."TiB" too), e.g. "256M".
 * Returns 0 and sets *out, -EINVAL for anything else (empty, sign, blanks,
 * fraction, unknown suffix), -ERANGE when it does not fit in 64 bits.
 */
int ctl_parse_size(const char *s, uint64_t *out);

/*
 * Parses a plain decimal number in [min, max]. Returns 0 and sets *out,
 * -EINVAL when it is not a number, -ERANGE when outside the bounds.
 */
int ctl_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Fills *m from one MIG object of the daemon. Strings are truncated to
 * their bounds, missing or mistyped numbers read as 0. Returns 0, or
 * -EINVAL when o is not an object or has no "id" and "phase" strings.
 */
int ctl_mig_from_json(json_object *o, struct ctl_mig *m);

/*
 * The exit status migratectl gives for a migration that ended in PHASE:
 * 0 done, 1 failed or cancelled, 3 undetermined; -1 when it has not ended.
 */
int ctl_phase_exit(const char *phase);

/*
 * The share of guest memory sent, 0..100, for the bar. total is the guest's
 * memory (0 unknown). Before perform it is 0, from finish on 100; during
 * perform (total - remaining) / total, rounded down so 100 means nothing
 * left. Returns -1 when perform runs and total is unknown.
 */
int ctl_percent(const struct ctl_mig *m, uint64_t total);

/*
 * Writes a byte count for people into buf (len > 0): "512 B", "256 MiB",
 * "1.5 GiB" (one decimal unless the unit divides it). Returns buf.
 */
char *ctl_format_bytes(uint64_t bytes, char *buf, size_t len);

/*
 * Formats the live progress line of m (no newline, no "\r") into buf,
 * within cols - 1 columns (cols 0 means 80), e.g. at 80:
 *   perform [#####----]  61%  round  3  97.3 MiB left  52.1 MiB/s  downtime ~180 ms
 * The fields have fixed widths so the line does not jump between redraws;
 * the bar takes what is left (6 to 30 cells, the same in every phase);
 * on a narrow terminal the last fields are left out. total as for
 * ctl_percent. Returns the length written (at most len - 1).
 */
size_t ctl_progress_line(const struct ctl_mig *m, uint64_t total, int cols,
			 char *buf, size_t len);

/*
 * Prints the report of a migration that ended: result (with the daemon's
 * error sentence), total time, downtime, rounds, MiB sent, and for an
 * undetermined one what the operator must do. Returns nothing; f's errors
 * are the caller's to check.
 */
void ctl_report(FILE *f, const struct ctl_mig *m);

/*
 * Prints the "vms" array of a vm-list answer as an aligned table
 * (NAME STATE MEMORY CPUS PID MIGRATION SERIAL). Returns 0, -EINVAL when
 * vms is not an array, -ENOMEM.
 */
int ctl_print_vms(FILE *f, json_object *vms);

/*
 * Prints a "migrations" array as an aligned table, then the error sentence
 * of each migration that has one. history 0 (a status answer): ID VM DIR
 * PEER PHASE ROUND LEFT RATE EXP.DOWNTIME; history 1: ID VM DIR PEER RESULT
 * STARTED TOTAL DOWNTIME ROUNDS SENT. Returns 0, -EINVAL when migs is not an
 * array, -ENOMEM.
 */
int ctl_print_migrations(FILE *f, json_object *migs, int history);

/*
 * Following a migration: what each status snapshot prints. On a terminal
 * (tty) the progress line is redrawn in place; otherwise one line per
 * phase change, or with json the status object itself per phase change.
 * The report follows the last snapshot (not with json).
 */
struct ctl_follow {
	int tty, json;
	uint64_t total;          /* guest memory as known from elsewhere, 0 */
	uint64_t max_remaining;  /* the total's last resort: round 1 starts
				  * with all memory left */
	char last_phase[CTL_PHASE_MAX];
	size_t drawn;            /* columns of the line on screen (tty) */
};

/* Starts following; total is the guest's memory if known, else 0. */
void ctl_follow_init(struct ctl_follow *f, int tty, int json, uint64_t total);

/*
 * Prints what the snapshot m (raw: the same object as JSON) calls for on
 * out, fitted to cols columns on a terminal. Returns ctl_phase_exit of its
 * phase: -1 while the migration runs.
 */
int ctl_follow_step(struct ctl_follow *f, FILE *out, const struct ctl_mig *m,
		    json_object *raw, int cols);

/* Ends a progress line drawn on a terminal, so other text starts clean. */
void ctl_follow_break(struct ctl_follow *f, FILE *out);

/* An aligned text table; cells are copied. */
struct ctl_table {
	int ncols;
	const char *const *headers;
	const int *right;   /* per column: 1 right-aligned (numbers) */
	char **cells;       /* nrows * ncols */
	size_t nrows, cap;
};

/* Starts an empty table over headers/right (not copied: must outlive it). */
void ctl_table_init(struct ctl_table *t, int ncols,
		    const char *const *headers, const int *right);

/* Appends a row of ncols cells (NULL prints as "-"). Returns 0 or -ENOMEM. */
int ctl_table_add(struct ctl_table *t, const char *const *row);

/*
 * Prints the header and rows, columns separated by two blanks and as wide
 * as their widest cell; the last column is not padded. Returns nothing.
 */
void ctl_table_print(const struct ctl_table *t, FILE *f);

/* Frees the cells; t may be reused after ctl_table_init. */
void ctl_table_free(struct ctl_table *t);

#endif
