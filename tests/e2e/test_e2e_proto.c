/*
 * test_e2e_proto.c - a real peer facing a wrong one (mig-fake-peer): a
 * peer of another protocol version, as a source and as a target, and a
 * source that sends garbage, truncated, oversized or unknown frames and
 * page batches that point outside the guest. Every case must end with a
 * clear error and exit code 1: no crash, no hang, and under the ASan
 * build no leak (LeakSanitizer would change the exit code).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e.h"
#include "migrate.h"

static struct e2e_proc *start_fake_source(struct e2e *e, const char *mode,
					  const char *addr)
{
	struct e2e_args a;
	struct e2e_proc *p;

	e2e_args_init(&a, MIG_FAKE_PEER);
	e2e_args_addv(&a, mode, "--address", addr, "--certs", e->certs,
		      "--size", "64M", "--timeout-ms", "10000", NULL);
	p = e2e_spawn(e, "fake", &a);
	e2e_args_fini(&a);
	return p;
}

/*
 * A real target against the fake source in `mode`: it must fail with
 * `err`, discarding the guest if it had created one. Returns its report.
 */
static json_object *target_vs(struct e2e *e, const char *mode, int err,
			      int created)
{
	struct e2e_args a;
	struct e2e_proc *t, *f;
	char addr[512];
	json_object *r;

	e2e_synth_args(e, &a, "target", "target");
	e2e_args_addv(&a, "--listen", "tcp:127.0.0.1:0", "--timeout-ms",
		      "10000", NULL);
	t = e2e_start_target(e, "target", &a, addr, sizeof(addr));
	e2e_args_fini(&a);
	f = start_fake_source(e, mode, addr);
	E2E_CHECK_INT(e, e2e_wait(f, 60000), 0);
	E2E_CHECK_INT(e, e2e_wait(t, 60000), 1);
	r = e2e_report(e, "target");
	E2E_CHECK_STR(e, e2e_json_str(r, "result"), "failed");
	E2E_CHECK_STR(e, e2e_json_str(r, "summary.phase"), "failed");
	E2E_CHECK_INT(e, e2e_json_int(r, "error"), err);
	E2E_CHECK(e, strlen(e2e_json_str(r, "summary.error_text")) > 0);
	E2E_CHECK_INT(e, e2e_json_bool(r, "guest.created"), created);
	E2E_CHECK_INT(e, e2e_json_bool(r, "guest.destroyed"), created);
	E2E_CHECK(e, !e2e_json_bool(r, "guest.started"));
	E2E_CHECK_INT(e, e2e_json_len(r, "verify.violations"), 0);
	return r;
}

static void test_source_speaks_v2(void **state)
{
	struct e2e *e = *state;
	json_object *r = target_vs(e, "source-v2", MIG_EPROTO_VERSION, 0);
	const char *text = e2e_json_str(r, "summary.error_text");
	char *fake;

	/* The refusal names both versions, here and to the peer. */
	E2E_CHECK(e, e2e_has_number(text, 2) && e2e_has_number(text, 1));
	fake = e2e_slurp(e->procs[1].out, NULL);
	E2E_CHECK(e, fake != NULL);
	E2E_CHECK(e, strstr(fake, "fake: received") != NULL);
	E2E_CHECK(e, strstr(fake, "version 2") != NULL);
	E2E_CHECK(e, strstr(fake, "version 1") != NULL);
	free(fake);
}

/* The real source meets a target that answers in version 2. */
static void test_target_speaks_v2(void **state)
{
	struct e2e *e = *state;
	struct e2e_args a;
	struct e2e_proc *f, *s;
	char addr[512];
	json_object *r;
	const char *text;

	e2e_args_init(&a, MIG_FAKE_PEER);
	e2e_args_addv(&a, "target-v2", "--listen", "tcp:127.0.0.1:0", "--certs",
		      e->certs, "--timeout-ms", "10000", NULL);
	f = e2e_start_target(e, "fake", &a, addr, sizeof(addr));
	e2e_args_fini(&a);
	e2e_synth_args(e, &a, "source", "source");
	e2e_args_addv(&a, "--address", addr, "--size", "64M", "--timeout-ms",
		      "5000", "--verify-after-failure", NULL);
	s = e2e_spawn(e, "source", &a);
	e2e_args_fini(&a);
	E2E_CHECK_INT(e, e2e_wait(s, 60000), 1);
	E2E_CHECK_INT(e, e2e_wait(f, 60000), 0);
	r = e2e_report(e, "source");
	E2E_CHECK_INT(e, e2e_json_int(r, "error"), MIG_EPROTO_VERSION);
	text = e2e_json_str(r, "summary.error_text");
	E2E_CHECK(e, e2e_has_number(text, 2) && e2e_has_number(text, 1));
	E2E_CHECK_INT(e, e2e_json_int(r, "summary.pages_sent"), 0);
	E2E_CHECK_INT(e, e2e_json_int(r, "guest.pause_calls"), 0);
	E2E_CHECK_STR(e, e2e_json_str(r, "guest.state"), "running");
	E2E_CHECK(e, e2e_json_bool(r, "verify.guest_progressing"));
	E2E_CHECK(e, e2e_json_bool(r, "verify.memory_after.consistent"));
	E2E_CHECK_INT(e, e2e_json_len(r, "verify.violations"), 0);
}

static void test_garbage_stream(void **state)
{
	target_vs(*state, "garbage", MIG_EPROTO_MAGIC, 0);
}

static void test_malformed_hello(void **state)
{
	target_vs(*state, "bad-hello", MIG_EDECODE, 0);
}

static void test_truncated_batch(void **state)
{
	target_vs(*state, "truncated", MIG_ETRUNCATED, 1);
}

static void test_oversized_frame(void **state)
{
	target_vs(*state, "oversized", MIG_EFRAME_SIZE, 1);
}

static void test_unknown_mandatory_frame(void **state)
{
	target_vs(*state, "unknown-frame", MIG_EFRAME_UNKNOWN, 1);
}

static void test_page_out_of_range(void **state)
{
	target_vs(*state, "bad-page", MIG_EDECODE, 1);
}

static void test_region_out_of_range(void **state)
{
	target_vs(*state, "bad-region", MIG_EDECODE, 1);
}

static void test_lz4_that_does_not_inflate(void **state)
{
	target_vs(*state, "bad-lz4", MIG_EDECODE, 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, e2e_setup, e2e_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_source_speaks_v2),	     T(test_target_speaks_v2),
	    T(test_garbage_stream),	     T(test_malformed_hello),
	    T(test_truncated_batch),	     T(test_oversized_frame),
	    T(test_unknown_mandatory_frame), T(test_page_out_of_range),
	    T(test_region_out_of_range),     T(test_lz4_that_does_not_inflate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
