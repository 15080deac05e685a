/*
 * e2e.h - helpers for the end-to-end tests: a scratch directory per test,
 * child processes (mig-synth, mig-fake-peer) spawned with their output in
 * files, waited for with a deadline and killed past it, and the JSON
 * reports they write.
 *
 * Every test runs with e2e_setup/e2e_teardown: teardown kills whatever is
 * still running and removes the directory (kept when MIG_E2E_KEEP is set).
 */
#ifndef E2E_H
#define E2E_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#define E2E_MAX_PROCS 4
#define E2E_MAX_ARGS  64

struct e2e_proc {
	pid_t pid;     /* 0 once reaped */
	char name[32]; /* "source", "target", ... */
	char out[512]; /* its stdout and stderr, merged */
	int status;    /* exit code, or 128 + signal */
	int reaped;
};

struct e2e {
	char dir[256];
	char certs[512];
	struct e2e_proc procs[E2E_MAX_PROCS];
	int nprocs;
	json_object *reports[8]; /* released by teardown */
	int nreports;
};

/* An argv under construction; strings are copied. */
struct e2e_args {
	char *v[E2E_MAX_ARGS + 1];
	int n;
};

/* cmocka group fixtures. */
int e2e_setup(void **state);
int e2e_teardown(void **state);

/* "<dir>/<name>" in a static rotating buffer (8 slots). */
const char *e2e_path(struct e2e *e, const char *name);

void e2e_args_init(struct e2e_args *a, const char *prog);
void e2e_args_add(struct e2e_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Adds several plain arguments, up to a NULL. */
void e2e_args_addv(struct e2e_args *a, ...);
void e2e_args_fini(struct e2e_args *a);

/* Spawns `a` with stdout+stderr into <dir>/<name>.log. */
struct e2e_proc *e2e_spawn(struct e2e *e, const char *name,
			   const struct e2e_args *a);

/*
 * Waits up to `timeout_ms` for `p` to end; returns its exit code, 128 +
 * the signal that killed it, or -1 if the deadline passed (it is then
 * killed and reaped).
 */
int e2e_wait(struct e2e_proc *p, int timeout_ms);

/* Prints the output of every process of the test (on a failure). */
void e2e_dump(struct e2e *e);

/*
 * Waits until `path` holds a line (the target's --port-file), while `p`
 * still runs. Copies it without the newline into buf; 0 or -1.
 */
int e2e_wait_line(struct e2e_proc *p, const char *path, char *buf, size_t len,
		  int timeout_ms);

/* The file's content (malloc'd, NUL-terminated) or NULL. */
char *e2e_slurp(const char *path, size_t *len);

/* Loads a JSON report; NULL if absent or unparsable. */
json_object *e2e_json_load(const char *path);

/* The node at a dotted path ("verify.memory_at_freeze.consistent"). */
json_object *e2e_json_at(json_object *root, const char *path);
int64_t e2e_json_int(json_object *root, const char *path);
int e2e_json_bool(json_object *root, const char *path);
/* "" if absent. */
const char *e2e_json_str(json_object *root, const char *path);

/*
 * Starts `a` with "--report-json <dir>/<name>.json --certs <certs>": the
 * arguments every mig-synth run of the tests has.
 */
void e2e_synth_args(struct e2e *e, struct e2e_args *a, const char *command,
		    const char *name);

/*
 * Spawns a target (or fake target) whose args lack only --port-file, and
 * waits until it listens; its address goes to addr. Fails the test if it
 * never does.
 */
struct e2e_proc *e2e_start_target(struct e2e *e, const char *name,
				  struct e2e_args *a, char *addr, size_t len);

/*
 * Loads <dir>/<name>.json or fails the test, printing the logs. The test
 * does not free it: teardown does.
 */
json_object *e2e_report(struct e2e *e, const char *name);

/* Number of elements of the array at `path` (-1 if none). */
int e2e_json_len(json_object *root, const char *path);

/* Case-insensitive substring test. */
int e2e_contains(const char *hay, const char *needle);

/* Whether `text` has the number `n` as a whole word ("version 2,"). */
int e2e_has_number(const char *text, unsigned long n);

/*
 * Assertions that print every child's output before failing. They are
 * macros so that cmocka reports the test's own line.
 */
#define E2E_CHECK(e, cond)                                                     \
	do {                                                                   \
		if (!(cond)) {                                                 \
			e2e_dump(e);                                           \
			fail_msg("check failed: %s", #cond);                   \
		}                                                              \
	} while (0)

#define E2E_CHECK_INT(e, a, b)                                                 \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_) {                                                \
			e2e_dump(e);                                           \
			fail_msg("%s == %lld, expected %s == %lld", #a, a_,    \
				 #b, b_);                                      \
		}                                                              \
	} while (0)

#define E2E_CHECK_STR(e, a, b)                                                 \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (strcmp(a_, b_)) {                                          \
			e2e_dump(e);                                           \
			fail_msg("%s is \"%s\", expected \"%s\"", #a, a_, b_); \
		}                                                              \
	} while (0)

#endif /* E2E_H */
