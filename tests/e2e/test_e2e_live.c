/*
 * test_e2e_live.c - live migration of a 256 MiB guest whose dirtier threads
 * keep writing, over TLS on loopback TCP and on a UNIX socket.
 *
 * What must hold: the target's memory equals the source's memory at
 * freeze, byte for byte (a hash of every page, compared by the target and
 * again here); the machine state arrived exact; the source guest was
 * paused once, never resumed, destroyed at the end, and the library never
 * wrote into it; the guest runs on the target; and the convergence loop
 * really iterated (a dirty round between the first pass and the freeze).
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

#define GUEST_PAGES (65536 + 256) /* 256 MiB of RAM and the 1 MiB ROM */

static void check_source(struct e2e *e, json_object *s)
{
	E2E_CHECK_STR(e, e2e_json_str(s, "result"), "success");
	E2E_CHECK_STR(e, e2e_json_str(s, "summary.phase"), "done");
	E2E_CHECK_INT(e, e2e_json_int(s, "summary.error"), 0);
	E2E_CHECK(e, e2e_json_bool(s, "verify.memory_at_freeze.consistent"));
	E2E_CHECK_INT(e, e2e_json_int(s, "verify.memory_at_freeze.pages"),
		      GUEST_PAGES);
	E2E_CHECK(e, e2e_json_bool(s, "verify.passed"));
	E2E_CHECK_INT(e, e2e_json_len(s, "verify.violations"), 0);
	E2E_CHECK_INT(e, e2e_json_int(s, "guest.pause_calls"), 1);
	E2E_CHECK_INT(e, e2e_json_int(s, "guest.resume_calls"), 0);
	E2E_CHECK(e, e2e_json_bool(s, "guest.destroyed"));
	E2E_CHECK(e, e2e_json_int(s, "guest.page_writes") > 0);
	/* Round 0 read-only, 1 first pass, >= 1 dirty round, the final. */
	E2E_CHECK(e, e2e_json_int(s, "summary.max_round") >= 3);
	E2E_CHECK(e, e2e_json_int(s, "summary.pages_sent") >= GUEST_PAGES);
	/* The mix shows on the wire: zero pages, LZ4 pages, raw pages. */
	E2E_CHECK(e, e2e_json_int(s, "summary.zero_pages") > 0);
	E2E_CHECK(e, e2e_json_int(s, "summary.lz4_pages") > 0);
	E2E_CHECK(e, e2e_json_int(s, "summary.raw_pages") > 0);
	E2E_CHECK(e, e2e_json_int(s, "summary.wire_bytes") <
			 e2e_json_int(s, "summary.pages_sent") * 4096);
	E2E_CHECK(e, e2e_json_int(s, "summary.downtime_us") > 0);
	E2E_CHECK(e, e2e_json_int(s, "summary.state_bytes") > 0);
	/* The library's own JSON says the same as its struct. */
	E2E_CHECK_INT(e, e2e_json_int(s, "stats.pages_sent"),
		      e2e_json_int(s, "summary.pages_sent"));
	E2E_CHECK_INT(e, e2e_json_int(s, "stats.wire_bytes"),
		      e2e_json_int(s, "summary.wire_bytes"));
	E2E_CHECK_INT(e, e2e_json_len(s, "stats.rounds"),
		      e2e_json_int(s, "summary.rounds"));
}

static void check_target(struct e2e *e, json_object *t)
{
	E2E_CHECK_STR(e, e2e_json_str(t, "result"), "success");
	E2E_CHECK_STR(e, e2e_json_str(t, "summary.phase"), "done");
	E2E_CHECK_STR(e, e2e_json_str(t, "verify.hash_check"), "match");
	E2E_CHECK_INT(e, e2e_json_int(t, "verify.hash_compared"), GUEST_PAGES);
	E2E_CHECK_INT(e, e2e_json_int(t, "verify.hash_mismatches"), 0);
	E2E_CHECK(e, e2e_json_bool(t, "verify.state_verified"));
	E2E_CHECK(e, e2e_json_bool(t, "verify.memory_at_freeze.consistent"));
	E2E_CHECK(e, e2e_json_bool(t, "verify.guest_progressing"));
	E2E_CHECK(e, e2e_json_bool(t, "verify.memory_after.consistent"));
	E2E_CHECK(e, e2e_json_bool(t, "verify.passed"));
	E2E_CHECK_INT(e, e2e_json_len(t, "verify.violations"), 0);
	E2E_CHECK(e, e2e_json_bool(t, "guest.created"));
	E2E_CHECK(e, e2e_json_bool(t, "guest.started"));
	E2E_CHECK(e, !e2e_json_bool(t, "guest.destroyed"));
	E2E_CHECK_INT(e, e2e_json_int(t, "guest.ram_bytes"), 256 << 20);
	E2E_CHECK_INT(e, e2e_json_int(t, "guest.seed"), 7);
}

/* The two hash files (source at freeze, target on arrival) are equal. */
static void check_hash_files(struct e2e *e)
{
	size_t ls, lt;
	char *hs = e2e_slurp(e2e_path(e, "source.hash"), &ls);
	char *ht = e2e_slurp(e2e_path(e, "target.hash"), &lt);

	E2E_CHECK(e, hs && ht);
	E2E_CHECK_INT(e, ls, 24 + 16 * GUEST_PAGES);
	E2E_CHECK_INT(e, lt, ls);
	E2E_CHECK(e, memcmp(hs, ht, ls) == 0);
	free(hs);
	free(ht);
}

static void live(struct e2e *e, const char *listen)
{
	struct e2e_args ta, sa;
	struct e2e_proc *t, *s;
	char addr[512];

	e2e_synth_args(e, &ta, "target", "target");
	e2e_args_addv(&ta, "--listen", listen, "--hash-check",
		      e2e_path(e, "source.hash"), "--hash-out",
		      e2e_path(e, "target.hash"), "--dirty-rate", "4M",
		      "--dirty-threads", "1", "--run-ms", "300", NULL);
	t = e2e_start_target(e, "target", &ta, addr, sizeof(addr));
	e2e_args_fini(&ta);

	/*
	 * 16 MiB/s over a 16 MiB working set against a 20 ms limit, on a
	 * wire held to 128 MiB/s: the first pass leaves more dirty pages
	 * than 20 ms can carry, so at least one dirty round must follow it,
	 * on a fast machine as on a slow one.
	 */
	e2e_synth_args(e, &sa, "source", "source");
	e2e_args_addv(&sa, "--address", addr, "--size", "256M", "--mix",
		      "zero=30,text=40,random=30", "--seed", "7",
		      "--dirty-threads", "2", "--dirty-rate", "16M",
		      "--working-set", "16M", "--downtime-ms", "20",
		      "--bandwidth", "128M", "--hash-out",
		      e2e_path(e, "source.hash"), NULL);
	s = e2e_spawn(e, "source", &sa);
	e2e_args_fini(&sa);

	E2E_CHECK_INT(e, e2e_wait(s, 120000), 0);
	E2E_CHECK_INT(e, e2e_wait(t, 60000), 0);
	check_source(e, e2e_report(e, "source"));
	check_target(e, e2e_report(e, "target"));
	check_hash_files(e);
}

static void test_live_tcp(void **state)
{
	live(*state, "tcp:127.0.0.1:0");
}

static void test_live_unix(void **state)
{
	struct e2e *e = *state;
	char listen[600];

	snprintf(listen, sizeof(listen), "unix:%s", e2e_path(e, "mig.sock"));
	live(e, listen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_live_tcp, e2e_setup,
					    e2e_teardown),
	    cmocka_unit_test_setup_teardown(test_live_unix, e2e_setup,
					    e2e_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
