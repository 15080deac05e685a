/*
 * test_e2e_tls.c - mutual TLS authentication between real processes: a
 * peer whose certificate does not chain to our CA, carries another name,
 * or has expired is refused before a single page moves, and the error a
 * user sees says why. The guest keeps running on the source.
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

struct side {
	const char *cert; /* base name in the certs directory, or NULL */
	const char *peer_name;
};

/* Runs one migration attempt; both sides must fail (exit 1). */
static void attempt(struct e2e *e, struct side tgt, struct side src)
{
	struct e2e_args a;
	struct e2e_proc *t, *s;
	char addr[512];

	e2e_synth_args(e, &a, "target", "target");
	e2e_args_addv(&a, "--listen", "tcp:127.0.0.1:0", "--timeout-ms", "5000",
		      NULL);
	if (tgt.cert) {
		e2e_args_add(&a, "--cert=%s/%s.pem", e->certs, tgt.cert);
		e2e_args_add(&a, "--key=%s/%s.key", e->certs, tgt.cert);
	}
	if (tgt.peer_name)
		e2e_args_add(&a, "--peer-name=%s", tgt.peer_name);
	t = e2e_start_target(e, "target", &a, addr, sizeof(addr));
	e2e_args_fini(&a);

	e2e_synth_args(e, &a, "source", "source");
	e2e_args_addv(&a, "--address", addr, "--size", "64M", "--timeout-ms",
		      "5000", "--verify-after-failure", NULL);
	if (src.cert) {
		e2e_args_add(&a, "--cert=%s/%s.pem", e->certs, src.cert);
		e2e_args_add(&a, "--key=%s/%s.key", e->certs, src.cert);
	}
	s = e2e_spawn(e, "source", &a);
	e2e_args_fini(&a);
	E2E_CHECK_INT(e, e2e_wait(s, 60000), 1);
	E2E_CHECK_INT(e, e2e_wait(t, 60000), 1);
}

/* Refused before any page moved; the guest never paused, still runs. */
static json_object *check_source_refused(struct e2e *e)
{
	json_object *r = e2e_report(e, "source");

	E2E_CHECK_STR(e, e2e_json_str(r, "result"), "failed");
	E2E_CHECK_INT(e, e2e_json_int(r, "summary.pages_sent"), 0);
	E2E_CHECK_INT(e, e2e_json_int(r, "guest.pause_calls"), 0);
	E2E_CHECK_STR(e, e2e_json_str(r, "guest.state"), "running");
	E2E_CHECK(e, e2e_json_bool(r, "verify.guest_progressing"));
	E2E_CHECK(e, e2e_json_bool(r, "verify.memory_after.consistent"));
	E2E_CHECK_INT(e, e2e_json_len(r, "verify.violations"), 0);
	return r;
}

static json_object *check_target_refused(struct e2e *e)
{
	json_object *r = e2e_report(e, "target");

	E2E_CHECK_STR(e, e2e_json_str(r, "result"), "failed");
	E2E_CHECK(e, !e2e_json_bool(r, "guest.created"));
	E2E_CHECK_INT(e, e2e_json_int(r, "summary.pages_sent"), 0);
	return r;
}

/* The source checks the target's certificate: it must name the cause. */
static void target_cert_rejected(struct e2e *e, const char *cert,
				 const char *why)
{
	json_object *r;
	const char *text;

	attempt(e, (struct side){cert, NULL}, (struct side){NULL, NULL});
	r = check_source_refused(e);
	E2E_CHECK_INT(e, e2e_json_int(r, "error"), MIG_ECERT);
	text = e2e_json_str(r, "summary.error_text");
	E2E_CHECK(e, e2e_contains(text, "certificate"));
	E2E_CHECK(e, e2e_contains(text, why));
	check_target_refused(e);
}

static void test_target_from_other_ca(void **state)
{
	target_cert_rejected(*state, "rogue", "issuer");
}

static void test_target_wrong_name(void **state)
{
	target_cert_rejected(*state, "wrong-name", "mismatch");
}

static void test_target_expired(void **state)
{
	target_cert_rejected(*state, "expired", "expired");
}

/*
 * The target checks the source's certificate. It names the cause; the
 * source is told by a TLS alert, which it normally reports too, but may
 * lose to the connection's reset (then it reports that reset), so only
 * the target's words are held to the cause here.
 */
static void source_cert_rejected(struct e2e *e, const char *cert,
				 const char *peer_name, const char *why)
{
	json_object *r;
	const char *text;

	attempt(e, (struct side){NULL, peer_name}, (struct side){cert, NULL});
	r = check_source_refused(e);
	E2E_CHECK(e, strlen(e2e_json_str(r, "summary.error_text")) > 0);
	r = check_target_refused(e);
	E2E_CHECK_INT(e, e2e_json_int(r, "error"), MIG_ECERT);
	text = e2e_json_str(r, "summary.error_text");
	E2E_CHECK(e, e2e_contains(text, "certificate"));
	E2E_CHECK(e, e2e_contains(text, why));
}

static void test_source_from_other_ca(void **state)
{
	source_cert_rejected(*state, "rogue", NULL, "issuer");
}

static void test_source_expired(void **state)
{
	source_cert_rejected(*state, "expired", NULL, "expired");
}

/* A target that names the source it expects refuses any other name. */
static void test_source_wrong_name(void **state)
{
	source_cert_rejected(*state, "wrong-name", "source.test", "mismatch");
}

#define T(f) cmocka_unit_test_setup_teardown(f, e2e_setup, e2e_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_target_from_other_ca), T(test_target_wrong_name),
	    T(test_target_expired),	  T(test_source_from_other_ca),
	    T(test_source_expired),	  T(test_source_wrong_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
