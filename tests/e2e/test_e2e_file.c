/*
 * test_e2e_file.c - stop/restart migration through a file: "save" pauses
 * the running guest and writes it out, "load" reads it into a new guest
 * that must be byte for byte the saved one; a damaged image must be
 * refused cleanly (the half-loaded guest discarded).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e.h"
#include "migrate.h"

static void save(struct e2e *e, const char *size, const char *image,
		 const char *mix)
{
	struct e2e_args a;
	struct e2e_proc *p;
	json_object *r;

	e2e_synth_args(e, &a, "save", "save");
	e2e_args_addv(&a, "--address", image, "--size", size, "--mix", mix,
		      "--seed", "11", "--dirty-threads", "2", "--dirty-rate",
		      "16M", "--warmup-ms", "200", "--hash-out",
		      e2e_path(e, "save.hash"), NULL);
	p = e2e_spawn(e, "save", &a);
	e2e_args_fini(&a);
	E2E_CHECK_INT(e, e2e_wait(p, 120000), 0);
	r = e2e_report(e, "save");
	E2E_CHECK_STR(e, e2e_json_str(r, "result"), "success");
	E2E_CHECK(e, e2e_json_bool(r, "verify.memory_at_freeze.consistent"));
	E2E_CHECK(e, e2e_json_bool(r, "verify.passed"));
	E2E_CHECK_INT(e, e2e_json_int(r, "guest.pause_calls"), 1);
	E2E_CHECK_INT(e, e2e_json_int(r, "guest.resume_calls"), 0);
	/* Saved: never to run here again (destroyed, or left paused). */
	E2E_CHECK(e, strcmp(e2e_json_str(r, "guest.state"), "running"));
	E2E_CHECK(e, e2e_json_int(r, "guest.page_writes") > 0);
	E2E_CHECK(e, e2e_json_int(r, "summary.pages_sent") >=
			 e2e_json_int(r, "summary.guest_bytes") / 4096);
}

static struct e2e_proc *load(struct e2e *e, const char *image)
{
	struct e2e_args a;
	struct e2e_proc *p;

	e2e_synth_args(e, &a, "load", "load");
	e2e_args_addv(&a, "--listen", image, "--hash-check",
		      e2e_path(e, "save.hash"), "--dirty-rate", "4M",
		      "--dirty-threads", "1", "--run-ms", "200", "--timeout-ms",
		      "5000", NULL);
	p = e2e_spawn(e, "load", &a);
	e2e_args_fini(&a);
	return p;
}

static void test_save_load(void **state)
{
	struct e2e *e = *state;
	char image[600];
	json_object *r;

	snprintf(image, sizeof(image), "file:%s", e2e_path(e, "guest.img"));
	save(e, "256M", image, "zero=30,text=40,random=30");
	E2E_CHECK_INT(e, e2e_wait(load(e, image), 120000), 0);
	r = e2e_report(e, "load");
	E2E_CHECK_STR(e, e2e_json_str(r, "result"), "success");
	E2E_CHECK_STR(e, e2e_json_str(r, "verify.hash_check"), "match");
	E2E_CHECK_INT(e, e2e_json_int(r, "verify.hash_compared"), 65536 + 256);
	E2E_CHECK(e, e2e_json_bool(r, "verify.state_verified"));
	E2E_CHECK(e, e2e_json_bool(r, "verify.memory_at_freeze.consistent"));
	E2E_CHECK(e, e2e_json_bool(r, "verify.guest_progressing"));
	E2E_CHECK(e, e2e_json_bool(r, "verify.memory_after.consistent"));
	E2E_CHECK(e, e2e_json_bool(r, "verify.passed"));
	E2E_CHECK(e, e2e_json_bool(r, "guest.started"));
	E2E_CHECK_INT(e, e2e_json_int(r, "guest.seed"), 11);
}

/*
 * RAM over 3 GiB is split around the PCI hole: 3 GiB at 0, the rest at
 * 4 GiB. Mostly zero pages keep it quick; every page is still compared.
 */
static void test_save_load_split_layout(void **state)
{
	struct e2e *e = *state;
	char image[600];
	json_object *r;

	snprintf(image, sizeof(image), "file:%s", e2e_path(e, "guest.img"));
	save(e, "3136M", image, "zero=98,text=1,random=1");
	r = e2e_report(e, "save");
	E2E_CHECK_INT(e, e2e_json_int(r, "summary.guest_bytes"),
		      (3136ll << 20) + (1 << 20));
	E2E_CHECK_INT(e, e2e_wait(load(e, image), 120000), 0);
	r = e2e_report(e, "load");
	E2E_CHECK_STR(e, e2e_json_str(r, "verify.hash_check"), "match");
	E2E_CHECK_INT(e, e2e_json_int(r, "verify.hash_compared"),
		      (3136 << 8) + 256);
	E2E_CHECK(e, e2e_json_bool(r, "verify.state_verified"));
	E2E_CHECK(e, e2e_json_bool(r, "verify.passed"));
	E2E_CHECK_INT(e, e2e_json_int(r, "guest.ram_bytes"), 3136ll << 20);
}

/* Half an image: the load fails, and what was loaded is discarded. */
static void test_load_truncated(void **state)
{
	struct e2e *e = *state;
	const char *path = e2e_path(e, "guest.img");
	char image[600];
	size_t len;
	char *all;
	json_object *r;

	snprintf(image, sizeof(image), "file:%s", path);
	save(e, "64M", image, "zero=30,text=40,random=30");
	all = e2e_slurp(path, &len);
	E2E_CHECK(e, all && len > 1 << 20);
	free(all);
	E2E_CHECK(e, truncate(path, (off_t)(len / 2)) == 0);
	E2E_CHECK_INT(e, e2e_wait(load(e, image), 60000), 1);
	r = e2e_report(e, "load");
	E2E_CHECK_STR(e, e2e_json_str(r, "result"), "failed");
	E2E_CHECK_STR(e, e2e_json_str(r, "summary.phase"), "failed");
	E2E_CHECK(e, e2e_json_int(r, "error") != 0);
	E2E_CHECK(e, strlen(e2e_json_str(r, "summary.error_text")) > 0);
	E2E_CHECK(e, e2e_json_bool(r, "guest.created"));
	E2E_CHECK(e, e2e_json_bool(r, "guest.destroyed"));
	E2E_CHECK(e, !e2e_json_bool(r, "guest.started"));
	E2E_CHECK_INT(e, e2e_json_len(r, "verify.violations"), 0);
}

/* Not an image at all. */
static void test_load_garbage(void **state)
{
	struct e2e *e = *state;
	const char *path = e2e_path(e, "junk.img");
	char image[600];
	json_object *r;
	FILE *f;

	f = fopen(path, "wb");
	E2E_CHECK(e, f != NULL);
	for (int i = 0; i < 8192; i++)
		fputc((i * 131 + 7) & 0xff, f);
	fclose(f);
	snprintf(image, sizeof(image), "file:%s", path);
	E2E_CHECK_INT(e, e2e_wait(load(e, image), 60000), 1);
	r = e2e_report(e, "load");
	E2E_CHECK_STR(e, e2e_json_str(r, "result"), "failed");
	E2E_CHECK_INT(e, e2e_json_int(r, "error"), MIG_EPROTO_MAGIC);
	E2E_CHECK(e, !e2e_json_bool(r, "guest.created"));
	E2E_CHECK_INT(e, e2e_json_len(r, "verify.violations"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_save_load, e2e_setup,
					    e2e_teardown),
	    cmocka_unit_test_setup_teardown(test_save_load_split_layout,
					    e2e_setup, e2e_teardown),
	    cmocka_unit_test_setup_teardown(test_load_truncated, e2e_setup,
					    e2e_teardown),
	    cmocka_unit_test_setup_teardown(test_load_garbage, e2e_setup,
					    e2e_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
