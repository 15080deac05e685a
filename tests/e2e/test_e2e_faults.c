/*
 * test_e2e_faults.c - the safety rule under faults: the guest never runs
 * in two places and is never lost.
 *
 * The target is killed (SIGKILL, from mig-synth's own test hook) in each
 * phase: before the commit the source guest must be running again with
 * its memory untouched; killed after the commit arrived and before it
 * confirmed, the source must report "undetermined" and keep the guest
 * paused. The source is killed mid-stream: the target must discard what
 * it received and exit with a clear error. A cancel, a refusal and a
 * convergence limit must each leave the guest running on the source.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e.h"
#include "migrate.h"

#define EXIT_KILLED (128 + SIGKILL)

static struct e2e_proc *start_target(struct e2e *e, char *addr, size_t len, ...)
{
	struct e2e_args a;
	struct e2e_proc *p;
	const char *s;
	va_list ap;

	e2e_synth_args(e, &a, "target", "target");
	e2e_args_addv(&a, "--listen", "tcp:127.0.0.1:0", "--timeout-ms", "5000",
		      "--run-ms", "100", NULL);
	va_start(ap, len);
	while ((s = va_arg(ap, const char *)))
		e2e_args_add(&a, "%s", s);
	va_end(ap);
	p = e2e_start_target(e, "target", &a, addr, len);
	e2e_args_fini(&a);
	return p;
}

/* A 64 MiB guest that keeps writing, proving after a failure it runs. */
static struct e2e_proc *start_source(struct e2e *e, const char *addr, ...)
{
	struct e2e_args a;
	struct e2e_proc *p;
	const char *s;
	va_list ap;

	e2e_synth_args(e, &a, "source", "source");
	e2e_args_addv(&a, "--address", addr, "--size", "64M", "--dirty-threads",
		      "2", "--dirty-rate", "8M", "--timeout-ms", "5000",
		      "--verify-after-failure", NULL);
	va_start(ap, addr);
	while ((s = va_arg(ap, const char *)))
		e2e_args_add(&a, "%s", s);
	va_end(ap);
	p = e2e_spawn(e, "source", &a);
	e2e_args_fini(&a);
	return p;
}

/* Failed before the commit: the guest runs here, untouched. */
static void check_source_kept_guest(struct e2e *e, json_object *r)
{
	E2E_CHECK_STR(e, e2e_json_str(r, "result"), "failed");
	E2E_CHECK_STR(e, e2e_json_str(r, "summary.phase"), "failed");
	E2E_CHECK(e, e2e_json_int(r, "error") != 0);
	E2E_CHECK(e, strlen(e2e_json_str(r, "summary.error_text")) > 0);
	E2E_CHECK_STR(e, e2e_json_str(r, "guest.state"), "running");
	E2E_CHECK(e, !e2e_json_bool(r, "guest.destroyed"));
	E2E_CHECK_INT(e, e2e_json_int(r, "guest.resume_calls"),
		      e2e_json_int(r, "guest.pause_calls"));
	E2E_CHECK(e, e2e_json_bool(r, "verify.guest_progressing"));
	E2E_CHECK(e, e2e_json_bool(r, "verify.memory_after.consistent"));
	E2E_CHECK_INT(e, e2e_json_int(r, "verify.memory_after.pages"),
		      16384 + 256);
	E2E_CHECK_INT(e, e2e_json_len(r, "verify.violations"), 0);
	E2E_CHECK(e, e2e_json_bool(r, "verify.passed"));
}

/* Committed, never confirmed: paused here, never resumed, not lost. */
static void check_source_undetermined(struct e2e *e, json_object *r)
{
	E2E_CHECK_STR(e, e2e_json_str(r, "result"), "undetermined");
	E2E_CHECK_STR(e, e2e_json_str(r, "summary.phase"), "undetermined");
	E2E_CHECK_INT(e, e2e_json_int(r, "error"), MIG_EUNDETERMINED);
	E2E_CHECK_STR(e, e2e_json_str(r, "guest.state"), "paused");
	E2E_CHECK_INT(e, e2e_json_int(r, "guest.pause_calls"), 1);
	E2E_CHECK_INT(e, e2e_json_int(r, "guest.resume_calls"), 0);
	E2E_CHECK(e, !e2e_json_bool(r, "guest.destroyed"));
	E2E_CHECK(e, e2e_json_bool(r, "verify.memory_after.consistent"));
	E2E_CHECK_INT(e, e2e_json_len(r, "verify.violations"), 0);
}

/*
 * `undetermined`: 0 the kill must land before the commit, 1 after it,
 * -1 either (then the source's outcome says which, and each is checked).
 */
static void target_dies(struct e2e *e, const char *phase, int undetermined)
{
	struct e2e_proc *t, *s;
	char addr[512];
	json_object *r;
	int sx;

	t = start_target(e, addr, sizeof(addr), "--die-in-phase", phase, NULL);
	s = start_source(e, addr, NULL);
	E2E_CHECK_INT(e, e2e_wait(t, 60000), EXIT_KILLED);
	sx = e2e_wait(s, 60000);
	r = e2e_report(e, "source");
	if (undetermined == 1 || (undetermined < 0 && sx == 3)) {
		E2E_CHECK_INT(e, sx, 3);
		check_source_undetermined(e, r);
	} else {
		E2E_CHECK_INT(e, sx, 1);
		check_source_kept_guest(e, r);
	}
}

static void test_target_dies_in_setup(void **state)
{
	target_dies(*state, "setup", 0);
}

static void test_target_dies_in_iterate(void **state)
{
	target_dies(*state, "iterate", 0);
}

/* Mid-stream: after the whole first pass arrived. */
static void test_target_dies_after_first_pass(void **state)
{
	target_dies(*state, "iterate:2", 0);
}

static void test_target_dies_in_frozen(void **state)
{
	target_dies(*state, "frozen", 0);
}

/* The target sent READY: whether COMMIT left the source is a race. */
static void test_target_dies_in_commit(void **state)
{
	target_dies(*state, "commit", -1);
}

/* The commit arrived; the target dies before confirming it runs. */
static void test_target_dies_after_commit(void **state)
{
	target_dies(*state, "start", 1);
}

/* The target must discard the partial guest and say why. */
static void check_target_discarded(struct e2e *e, json_object *r)
{
	E2E_CHECK_STR(e, e2e_json_str(r, "result"), "failed");
	E2E_CHECK_STR(e, e2e_json_str(r, "summary.phase"), "failed");
	E2E_CHECK(e, e2e_json_int(r, "error") != 0);
	E2E_CHECK(e, strlen(e2e_json_str(r, "summary.error_text")) > 0);
	E2E_CHECK(e, e2e_json_bool(r, "guest.created"));
	E2E_CHECK(e, e2e_json_bool(r, "guest.destroyed"));
	E2E_CHECK(e, !e2e_json_bool(r, "guest.started"));
	E2E_CHECK_INT(e, e2e_json_len(r, "verify.violations"), 0);
}

static void source_dies(struct e2e *e, const char *phase)
{
	struct e2e_proc *t, *s;
	char addr[512];

	t = start_target(e, addr, sizeof(addr), NULL);
	s = start_source(e, addr, "--die-in-phase", phase, NULL);
	E2E_CHECK_INT(e, e2e_wait(s, 60000), EXIT_KILLED);
	E2E_CHECK_INT(e, e2e_wait(t, 60000), 1);
	check_target_discarded(e, e2e_report(e, "target"));
}

static void test_source_dies_in_iterate(void **state)
{
	source_dies(*state, "iterate:2");
}

static void test_source_dies_in_frozen(void **state)
{
	source_dies(*state, "frozen");
}

/*
 * Killed right after sending COMMIT: the target may or may not have it.
 * With it, the guest runs there (the source's copy died with it); without
 * it, the target discards. Never both, never neither.
 */
static void test_source_dies_in_commit(void **state)
{
	struct e2e *e = *state;
	struct e2e_proc *t, *s;
	char addr[512];
	json_object *r;
	int tx;

	t = start_target(e, addr, sizeof(addr), NULL);
	s = start_source(e, addr, "--die-in-phase", "commit", NULL);
	E2E_CHECK_INT(e, e2e_wait(s, 60000), EXIT_KILLED);
	tx = e2e_wait(t, 60000);
	r = e2e_report(e, "target");
	if (tx == 0) {
		E2E_CHECK(e, e2e_json_bool(r, "guest.started"));
		E2E_CHECK(e, !e2e_json_bool(r, "guest.destroyed"));
		E2E_CHECK(e, e2e_json_bool(r, "verify.state_verified"));
		E2E_CHECK(e, e2e_json_bool(r, "verify.guest_progressing"));
		E2E_CHECK(e, e2e_json_bool(r, "verify.passed"));
	} else {
		E2E_CHECK_INT(e, tx, 1);
		check_target_discarded(e, r);
	}
}

static void test_cancel_in_iterate(void **state)
{
	struct e2e *e = *state;
	struct e2e_proc *t, *s;
	char addr[512];
	json_object *r;

	t = start_target(e, addr, sizeof(addr), NULL);
	s = start_source(e, addr, "--cancel-in-phase", "iterate", NULL);
	E2E_CHECK_INT(e, e2e_wait(s, 60000), 1);
	E2E_CHECK_INT(e, e2e_wait(t, 60000), 1);
	r = e2e_report(e, "source");
	check_source_kept_guest(e, r);
	E2E_CHECK_INT(e, e2e_json_int(r, "error"), MIG_ECANCELED);
	E2E_CHECK_INT(e, e2e_json_int(r, "cancel_rc"), 0);
	check_target_discarded(e, e2e_report(e, "target"));
}

static void test_refused_not_enough_memory(void **state)
{
	struct e2e *e = *state;
	struct e2e_proc *t, *s;
	char addr[512];
	json_object *r;
	const char *text;

	t = start_target(e, addr, sizeof(addr), "--max-memory", "32M", NULL);
	s = start_source(e, addr, NULL);
	E2E_CHECK_INT(e, e2e_wait(s, 60000), 1);
	E2E_CHECK_INT(e, e2e_wait(t, 60000), 1);
	r = e2e_report(e, "source");
	check_source_kept_guest(e, r);
	E2E_CHECK_INT(e, e2e_json_int(r, "error"), MIG_EREFUSED);
	E2E_CHECK_INT(e, e2e_json_int(r, "summary.pages_sent"), 0);
	E2E_CHECK_INT(e, e2e_json_int(r, "guest.pause_calls"), 0);
	/* The target's own words reach the source's user. */
	text = e2e_json_str(r, "summary.error_text");
	E2E_CHECK(e, e2e_contains(text, "not enough memory: guest needs 64 "
					"MiB, this host offers 32 MiB"));
	r = e2e_report(e, "target");
	E2E_CHECK_STR(e, e2e_json_str(r, "result"), "failed");
	E2E_CHECK(e, !e2e_json_bool(r, "guest.created"));
}

/* A guest that outruns the wire, and a policy that says give up. */
static void test_limit_cancel(void **state)
{
	struct e2e *e = *state;
	struct e2e_proc *t, *s;
	char addr[512];
	json_object *r;

	t = start_target(e, addr, sizeof(addr), NULL);
	s = start_source(e, addr, "--dirty-rate", "64M", "--bandwidth", "32M",
			 "--downtime-ms", "5", "--max-rounds", "3",
			 "--on-limit", "cancel", NULL);
	E2E_CHECK_INT(e, e2e_wait(s, 60000), 1);
	E2E_CHECK_INT(e, e2e_wait(t, 60000), 1);
	r = e2e_report(e, "source");
	check_source_kept_guest(e, r);
	E2E_CHECK_INT(e, e2e_json_int(r, "error"), MIG_ENOCONVERGE);
	check_target_discarded(e, e2e_report(e, "target"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, e2e_setup, e2e_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_target_dies_in_setup),
	    T(test_target_dies_in_iterate),
	    T(test_target_dies_after_first_pass),
	    T(test_target_dies_in_frozen),
	    T(test_target_dies_in_commit),
	    T(test_target_dies_after_commit),
	    T(test_source_dies_in_iterate),
	    T(test_source_dies_in_frozen),
	    T(test_source_dies_in_commit),
	    T(test_cancel_in_iterate),
	    T(test_refused_not_enough_memory),
	    T(test_limit_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
