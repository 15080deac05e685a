/*
 * test_ctl_progress.c - migratectl's pure parts: sizes and numbers from the
 * command line, the status object read from hostile JSON, the percentage
 * and the progress line in every phase, the final report, the tables, and
 * what following a migration prints on a terminal, a pipe and with --json.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ctl_progress.h"

#define MiB (1024ull * 1024ull)

/* ---- helpers ---------------------------------------------------------- */

struct memout {
	FILE *f;
	char *text;
	size_t len;
};

static void mem_open(struct memout *m)
{
	m->text = NULL;
	m->len = 0;
	m->f = open_memstream(&m->text, &m->len);
	assert_non_null(m->f);
}

/* Closes the stream; the text stays in m->text for the caller to free. */
static const char *mem_close(struct memout *m)
{
	assert_int_equal(fclose(m->f), 0);
	return m->text;
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
		n++;
	return n;
}

static void mig(struct ctl_mig *m, const char *phase, uint64_t round,
		uint64_t remaining, uint64_t rate, double exp_ms)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->id, "m-1f3a");
	strcpy(m->vm, "vm1");
	strcpy(m->direction, "out");
	strcpy(m->peer, "hostb.test");
	strcpy(m->phase, phase);
	m->round = round;
	m->remaining_bytes = remaining;
	m->rate_bytes_per_s = rate;
	m->expected_downtime_ms = exp_ms;
}

/* ---- sizes and numbers ------------------------------------------------ */

static void test_size_suffixes(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{ "0", 0 },
		{ "512", 512 },
		{ "4k", 4096 },
		{ "4K", 4096 },
		{ "256M", 256 * MiB },
		{ "256MiB", 256 * MiB },
		{ "256mib", 256 * MiB },
		{ "2G", 2048 * MiB },
		{ "1T", 1024 * 1024 * MiB },
		{ "16777215T", 16777215ull << 40 },
		{ "18446744073709551615", UINT64_MAX },
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 1;
		assert_int_equal(ctl_parse_size(ok[i].s, &v), 0);
		assert_true(v == ok[i].v);
	}
}

static void test_size_errors(void **state)
{
	static const char *const bad[] = { "",    "M",    "-1",  "+5",
					   " 5",  "5 ",   "1.5G", "5X",
					   "5MB", "5Mi",  "0x10", "5KiBs",
					   "5M5", "1e9" };
	uint64_t v = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ctl_parse_size(bad[i], &v), -EINVAL);
	assert_int_equal(ctl_parse_size(NULL, &v), -EINVAL);
	assert_int_equal(ctl_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(ctl_parse_size("16777216T", &v), -ERANGE);
	assert_int_equal(ctl_parse_size("99999999999999999999999G", &v),
			 -ERANGE);
	/* A failed parse leaves the output alone. */
	assert_true(v == 7);
}

static void test_uint_bounds(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(ctl_parse_uint("1", 1, 255, &v), 0);
	assert_true(v == 1);
	assert_int_equal(ctl_parse_uint("255", 1, 255, &v), 0);
	assert_true(v == 255);
	assert_int_equal(ctl_parse_uint("0", 1, 255, &v), -ERANGE);
	assert_int_equal(ctl_parse_uint("256", 1, 255, &v), -ERANGE);
	assert_int_equal(ctl_parse_uint("2M", 1, 255, &v), -EINVAL);
	assert_int_equal(ctl_parse_uint("", 1, 255, &v), -EINVAL);
	assert_int_equal(ctl_parse_uint("-3", 0, 255, &v), -EINVAL);
	assert_int_equal(ctl_parse_uint("99999999999999999999", 0, UINT64_MAX,
					&v),
			 -ERANGE);
	assert_true(v == 255);
}

static void test_format_bytes(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(ctl_format_bytes(0, b, sizeof(b)), "0 B");
	assert_string_equal(ctl_format_bytes(1023, b, sizeof(b)), "1023 B");
	assert_string_equal(ctl_format_bytes(1536, b, sizeof(b)), "1.5 KiB");
	assert_string_equal(ctl_format_bytes(256 * MiB, b, sizeof(b)),
			    "256 MiB");
	assert_string_equal(ctl_format_bytes(1536 * MiB, b, sizeof(b)),
			    "1.5 GiB");
	assert_string_equal(ctl_format_bytes(UINT64_MAX, b, sizeof(b)),
			    "16777216.0 TiB");
}

/* ---- the status object ------------------------------------------------ */

static void test_mig_from_json(void **state)
{
	json_object *o = json_tokener_parse(
		"{\"id\":\"m-00ff\",\"vm\":\"vm1\",\"direction\":\"out\","
		"\"peer\":\"hostb.test\",\"phase\":\"perform\",\"round\":3,"
		"\"remaining_bytes\":104857600,\"rate_bytes_per_s\":52428800,"
		"\"expected_downtime_ms\":180.5,\"downtime_ms\":0,"
		"\"total_ms\":1200.25,\"bytes_sent\":314572800,\"error\":null,"
		"\"started_at\":1700000000,\"guest_bytes\":268435456}");
	struct ctl_mig m;

	(void)state;
	assert_non_null(o);
	assert_int_equal(ctl_mig_from_json(o, &m), 0);
	assert_string_equal(m.id, "m-00ff");
	assert_string_equal(m.vm, "vm1");
	assert_string_equal(m.direction, "out");
	assert_string_equal(m.peer, "hostb.test");
	assert_string_equal(m.phase, "perform");
	assert_true(m.round == 3);
	assert_true(m.remaining_bytes == 100 * MiB);
	assert_true(m.rate_bytes_per_s == 50 * MiB);
	assert_true(m.bytes_sent == 300 * MiB);
	assert_true(m.guest_bytes == 256 * MiB);
	assert_true(m.expected_downtime_ms == 180.5);
	assert_true(m.total_ms == 1200.25);
	assert_true(m.downtime_ms == 0);
	assert_true(m.started_at == 1700000000);
	assert_string_equal(m.error, "");
	json_object_put(o);
}

static void test_mig_from_json_hostile(void **state)
{
	char big[4096], text[5000];
	json_object *o;
	struct ctl_mig m;

	(void)state;
	/* Not an object, or without id or phase: refused. */
	o = json_tokener_parse("[1,2]");
	assert_int_equal(ctl_mig_from_json(o, &m), -EINVAL);
	json_object_put(o);
	o = json_tokener_parse("{\"id\":\"m-1\"}");
	assert_int_equal(ctl_mig_from_json(o, &m), -EINVAL);
	json_object_put(o);
	o = json_tokener_parse("{\"id\":7,\"phase\":\"done\"}");
	assert_int_equal(ctl_mig_from_json(o, &m), -EINVAL);
	json_object_put(o);
	assert_int_equal(ctl_mig_from_json(NULL, &m), -EINVAL);

	/* Overlong strings are cut, escapes cannot reach the terminal,
	 * negative or mistyped numbers read as 0. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "{\"id\":\"m-1\",\"phase\":\"failed\",\"vm\":\"%s\","
		 "\"error\":\"peer said \\u001b[2Jno\\r\",\"round\":-4,"
		 "\"remaining_bytes\":\"lots\",\"total_ms\":-3.5,"
		 "\"bytes_sent\":1e30,\"rate_bytes_per_s\":2.5e6}",
		 big);
	o = json_tokener_parse(text);
	assert_non_null(o);
	assert_int_equal(ctl_mig_from_json(o, &m), 0);
	assert_int_equal(strlen(m.vm), CTL_NAME_MAX - 1);
	assert_string_equal(m.error, "peer said ?[2Jno?");
	assert_true(m.round == 0);
	assert_true(m.remaining_bytes == 0);
	assert_true(m.total_ms == 0);
	assert_true(m.bytes_sent == 0);
	assert_true(m.rate_bytes_per_s == 2500000);
	json_object_put(o);
}

static void test_phase_exit(void **state)
{
	(void)state;
	assert_int_equal(ctl_phase_exit("done"), 0);
	assert_int_equal(ctl_phase_exit("failed"), 1);
	assert_int_equal(ctl_phase_exit("cancelled"), 1);
	assert_int_equal(ctl_phase_exit("undetermined"), 3);
	assert_int_equal(ctl_phase_exit("perform"), -1);
	assert_int_equal(ctl_phase_exit("begin"), -1);
	assert_int_equal(ctl_phase_exit(""), -1);
}

/* ---- percentage and progress line ------------------------------------- */

static void test_percent_edges(void **state)
{
	struct ctl_mig m;

	(void)state;
	mig(&m, "begin", 0, 0, 0, 0);
	assert_int_equal(ctl_percent(&m, 0), 0);
	mig(&m, "prepare", 0, 0, 0, 0);
	assert_int_equal(ctl_percent(&m, 256 * MiB), 0);
	/* 97 MiB of 256 left: 62 % sent. */
	mig(&m, "perform", 3, 97 * MiB, 0, 0);
	assert_int_equal(ctl_percent(&m, 256 * MiB), 62);
	/* Nothing left is 100 %, one byte left is not. */
	mig(&m, "perform", 4, 0, 0, 0);
	assert_int_equal(ctl_percent(&m, 256 * MiB), 100);
	mig(&m, "perform", 4, 1, 0, 0);
	assert_int_equal(ctl_percent(&m, 256 * MiB), 99);
	/* The first round starts with everything left; an estimate above
	 * the total stays at 0. */
	mig(&m, "perform", 1, 256 * MiB, 0, 0);
	assert_int_equal(ctl_percent(&m, 256 * MiB), 0);
	mig(&m, "perform", 1, 300 * MiB, 0, 0);
	assert_int_equal(ctl_percent(&m, 256 * MiB), 0);
	/* Unknown total while sending: unknown. */
	mig(&m, "perform", 2, 10 * MiB, 0, 0);
	assert_int_equal(ctl_percent(&m, 0), -1);
	/* From finish on everything is on the target. */
	mig(&m, "finish", 5, 3 * MiB, 0, 0);
	assert_int_equal(ctl_percent(&m, 0), 100);
	mig(&m, "confirm", 5, 0, 0, 0);
	assert_int_equal(ctl_percent(&m, 256 * MiB), 100);
	mig(&m, "done", 5, 0, 0, 0);
	assert_int_equal(ctl_percent(&m, 0), 100);
	mig(&m, "undetermined", 5, 0, 0, 0);
	assert_int_equal(ctl_percent(&m, 0), 100);
	/* Refused before sending: 0; failed while sending: as far as it got. */
	mig(&m, "failed", 0, 0, 0, 0);
	assert_int_equal(ctl_percent(&m, 0), 0);
	mig(&m, "cancelled", 2, 128 * MiB, 0, 0);
	assert_int_equal(ctl_percent(&m, 256 * MiB), 50);
	assert_int_equal(ctl_percent(&m, 0), -1);
}

static void test_progress_line_perform(void **state)
{
	struct ctl_mig m;
	char line[512];
	size_t n;

	(void)state;
	/* 97.3 MiB of 256 left: 61.99 % sent, shown as 61 (rounded down). */
	mig(&m, "perform", 3, 97 * MiB + 314573, 52 * MiB + 104858, 180.4);
	n = ctl_progress_line(&m, 256 * MiB, 100, line, sizeof(line));
	assert_string_equal(line,
			    "perform [#################------------]  61%"
			    "  round  3  97.3 MiB left  52.1 MiB/s"
			    "  downtime ~180 ms");
	assert_int_equal(n, strlen(line));
	assert_int_equal(n, 99); /* the last column stays free */

	/* 80 columns: the bar shrinks to make room, the line fits in 79. */
	n = ctl_progress_line(&m, 256 * MiB, 80, line, sizeof(line));
	assert_string_equal(line,
			    "perform [#####----]  61%"
			    "  round  3  97.3 MiB left  52.1 MiB/s"
			    "  downtime ~180 ms");
	assert_int_equal(n, 79);

	/* Very wide: the bar stops at 30 cells. */
	ctl_progress_line(&m, 256 * MiB, 300, line, sizeof(line));
	assert_non_null(strstr(line, "[##################------------]"));

	/* Narrow: the least important fields go, the bar keeps 6 cells. */
	n = ctl_progress_line(&m, 256 * MiB, 40, line, sizeof(line));
	assert_string_equal(line, "perform [###---]  61%  round  3");
	assert_int_equal(n, 31);

	/* Narrower than the bar itself: cut to the width. */
	n = ctl_progress_line(&m, 256 * MiB, 12, line, sizeof(line));
	assert_string_equal(line, "perform [##");
	assert_int_equal(n, 11);

	/* A small buffer is never overrun and stays terminated. */
	n = ctl_progress_line(&m, 256 * MiB, 100, line, 12);
	assert_int_equal(n, 11);
	assert_string_equal(line, "perform [##");
	assert_int_equal(ctl_progress_line(&m, 256 * MiB, 100, line, 0), 0);
}

static void test_progress_line_states(void **state)
{
	struct ctl_mig m;
	char line[512];

	(void)state;
	/* Before any round: the VM and where it goes, no figures; the bar
	 * already has the width it keeps in perform. */
	mig(&m, "prepare", 0, 0, 0, 0);
	ctl_progress_line(&m, 0, 80, line, sizeof(line));
	assert_string_equal(line, "prepare [---------]   0%  vm1 -> hostb.test");
	strcpy(m.direction, "in");
	strcpy(m.peer, "hosta.test");
	ctl_progress_line(&m, 0, 80, line, sizeof(line));
	assert_string_equal(line, "prepare [---------]   0%  vm1 <- hosta.test");

	/* Unknown total: no percentage, an empty bar, the figures; no
	 * expected downtime yet: left out. */
	mig(&m, "perform", 1, 200 * MiB, 0, 0);
	ctl_progress_line(&m, 0, 80, line, sizeof(line));
	assert_string_equal(line, "perform [---------]   ?%  round  1"
				  "   200 MiB left   0.0 MiB/s");

	/* Nothing left: a full bar. */
	mig(&m, "perform", 6, 0, 80 * MiB, 12);
	ctl_progress_line(&m, 256 * MiB, 80, line, sizeof(line));
	assert_string_equal(line, "perform [#########] 100%  round  6"
				  "   0.0 MiB left  80.0 MiB/s"
				  "  downtime  ~12 ms");

	/* 1 byte left of 256 MiB: never a full bar or 100 %. */
	mig(&m, "perform", 6, 1, 0, 0);
	ctl_progress_line(&m, 256 * MiB, 80, line, sizeof(line));
	assert_string_equal(line, "perform [########-]  99%  round  6"
				  "   0.0 MiB left   0.0 MiB/s");

	/* Big figures widen their fields instead of being cut. */
	mig(&m, "perform", 123, 20000 * MiB, 1500 * MiB, 2500);
	ctl_progress_line(&m, 32768 * MiB, 120, line, sizeof(line));
	assert_non_null(strstr(line, "  38%  round 123  20000 MiB left"
				     "  1500 MiB/s  downtime ~2500 ms"));

	/* A long phase name is not cut; the bar is at its minimum. */
	mig(&m, "undetermined", 6, 0, 0, 0);
	ctl_progress_line(&m, 0, 80, line, sizeof(line));
	assert_string_equal(line, "undetermined [######] 100%  round  6"
				  "   0.0 MiB left   0.0 MiB/s");
}

/* ---- the final report ------------------------------------------------- */

static void test_report_done(void **state)
{
	struct memout o;
	struct ctl_mig m;

	(void)state;
	mig(&m, "done", 5, 0, 0, 150);
	m.total_ms = 4210;
	m.downtime_ms = 182.4;
	m.bytes_sent = 301 * MiB + 209715;
	mem_open(&o);
	ctl_report(o.f, &m);
	assert_string_equal(mem_close(&o),
			    "migration m-1f3a (vm1 -> hostb.test): done\n"
			    "  total time   4.21 s\n"
			    "  downtime     182.4 ms (expected 150.0 ms)\n"
			    "  rounds       5\n"
			    "  sent         301.2 MiB\n");
	free(o.text);
}

static void test_report_refused(void **state)
{
	struct memout o;
	struct ctl_mig m;

	(void)state;
	/* Refused in prepare: the peer's reason, no figures of a transfer
	 * that never happened. */
	mig(&m, "failed", 0, 0, 0, 0);
	m.total_ms = 35.5;
	strcpy(m.error, "hostb.test refused: not enough memory (256 MiB "
			"asked, 128 MiB free)");
	mem_open(&o);
	ctl_report(o.f, &m);
	assert_string_equal(mem_close(&o),
			    "migration m-1f3a (vm1 -> hostb.test): failed\n"
			    "  error        hostb.test refused: not enough "
			    "memory (256 MiB asked, 128 MiB free)\n"
			    "  total time   35.5 ms\n");
	free(o.text);
}

static void test_report_undetermined(void **state)
{
	const char *t;
	struct memout o;
	struct ctl_mig m;

	(void)state;
	mig(&m, "undetermined", 4, 0, 0, 0);
	strcpy(m.error, "lost hostb.test after the switch-over");
	m.bytes_sent = 260 * MiB;
	mem_open(&o);
	ctl_report(o.f, &m);
	t = mem_close(&o);
	assert_non_null(strstr(t, "): undetermined\n"));
	assert_non_null(strstr(t, "vm1 is paused here: migrated could not learn"));
	assert_non_null(strstr(t, "migratectl resolve vm1 target-running"));
	assert_non_null(strstr(t, "migratectl resolve vm1 target-discarded"));
	free(o.text);

	/* Seen from the target: the source decides. */
	strcpy(m.direction, "in");
	strcpy(m.peer, "hosta.test");
	mem_open(&o);
	ctl_report(o.f, &m);
	t = mem_close(&o);
	assert_non_null(strstr(t, "(vm1 <- hosta.test)"));
	assert_non_null(strstr(t, "the source host decides"));
	assert_null(strstr(t, "is paused here"));
	free(o.text);
}

/* ---- tables ----------------------------------------------------------- */

static void test_vm_table(void **state)
{
	json_object *vms = json_tokener_parse(
		"[{\"name\":\"vm1\",\"state\":\"running\",\"memory\":268435456,"
		"\"cpus\":2,\"pid\":4242,"
		"\"serial\":\"/var/lib/migrated/vms/vm1/serial.log\","
		"\"migration\":null},"
		"{\"name\":\"database-7\",\"state\":\"migrating\","
		"\"memory\":4294967296,\"cpus\":16,\"pid\":17,"
		"\"serial\":\"/s.log\",\"migration\":\"m-00aa\"}]");
	struct memout o;

	(void)state;
	mem_open(&o);
	assert_int_equal(ctl_print_vms(o.f, vms), 0);
	assert_string_equal(
		mem_close(&o),
		"NAME        STATE       MEMORY  CPUS   PID  MIGRATION  SERIAL\n"
		"vm1         running    256 MiB     2  4242  -          "
		"/var/lib/migrated/vms/vm1/serial.log\n"
		"database-7  migrating    4 GiB    16    17  m-00aa     /s.log\n");
	free(o.text);
	json_object_put(vms);

	vms = json_object_new_object();
	mem_open(&o);
	assert_int_equal(ctl_print_vms(o.f, vms), -EINVAL);
	assert_string_equal(mem_close(&o), "");
	free(o.text);
	json_object_put(vms);
}

static void test_history_table(void **state)
{
	json_object *migs = json_tokener_parse(
		"[{\"id\":\"m-01\",\"vm\":\"vm1\",\"direction\":\"out\","
		"\"peer\":\"hostb.test\",\"phase\":\"done\",\"round\":5,"
		"\"total_ms\":4210,\"downtime_ms\":182.4,"
		"\"bytes_sent\":315783578,\"started_at\":1700000000,"
		"\"error\":null},"
		"{\"id\":\"m-02\",\"vm\":\"vm2\",\"direction\":\"in\","
		"\"peer\":\"hostc.test\",\"phase\":\"failed\",\"round\":0,"
		"\"total_ms\":35.5,\"bytes_sent\":0,\"started_at\":1700000100,"
		"\"error\":\"hostc.test: certificate from an unknown CA\"},"
		"{\"phase\":\"done\"}]");
	struct memout o;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	mem_open(&o);
	assert_int_equal(ctl_print_migrations(o.f, migs, 1), 0);
	/* The entry without an id is skipped; errors come under the table. */
	assert_string_equal(
		mem_close(&o),
		"ID    VM   DIR  PEER        RESULT  STARTED              "
		"  TOTAL  DOWNTIME  ROUNDS       SENT\n"
		"m-01  vm1  out  hostb.test  done    2023-11-14 22:13:20  "
		" 4.21 s  182.4 ms       5  301.2 MiB\n"
		"m-02  vm2  in   hostc.test  failed  2023-11-14 22:15:00  "
		"35.5 ms         -       0    0.0 MiB\n"
		"m-02: hostc.test: certificate from an unknown CA\n");
	free(o.text);
	json_object_put(migs);
}

static void test_status_table(void **state)
{
	json_object *migs = json_tokener_parse(
		"[{\"id\":\"m-03\",\"vm\":\"vm1\",\"direction\":\"out\","
		"\"peer\":\"hostb.test\",\"phase\":\"perform\",\"round\":2,"
		"\"remaining_bytes\":52428800,\"rate_bytes_per_s\":104857600,"
		"\"expected_downtime_ms\":95.25}]");
	struct memout o;

	(void)state;
	mem_open(&o);
	assert_int_equal(ctl_print_migrations(o.f, migs, 0), 0);
	assert_string_equal(
		mem_close(&o),
		"ID    VM   DIR  PEER        PHASE    ROUND      LEFT"
		"         RATE  EXP.DOWNTIME\n"
		"m-03  vm1  out  hostb.test  perform      2  50.0 MiB"
		"  100.0 MiB/s       95.2 ms\n");
	free(o.text);
	json_object_put(migs);
}

static void test_table_generic(void **state)
{
	static const char *const head[] = { "A", "LONG HEADER", "N" };
	static const int right[] = { 0, 0, 1 };
	const char *r1[] = { "\xc3\xa9t\xc3\xa9", NULL, "7" };
	const char *r2[] = { "x\ty", "b", "12345" };
	struct ctl_table t;
	struct memout o;

	(void)state;
	ctl_table_init(&t, 3, head, right);
	assert_int_equal(ctl_table_add(&t, r1), 0);
	assert_int_equal(ctl_table_add(&t, r2), 0);
	mem_open(&o);
	ctl_table_print(&t, o.f);
	/* UTF-8 counts as characters, NULL prints "-", a tab is replaced. */
	assert_string_equal(mem_close(&o),
			    "A    LONG HEADER      N\n"
			    "\xc3\xa9t\xc3\xa9  -                7\n"
			    "x?y  b            12345\n");
	free(o.text);
	ctl_table_free(&t);
	/* Reusable after free; many rows grow the storage. */
	ctl_table_init(&t, 3, head, right);
	for (int i = 0; i < 100; i++)
		assert_int_equal(ctl_table_add(&t, r2), 0);
	assert_int_equal(t.nrows, 100);
	ctl_table_free(&t);
}

/* ---- following -------------------------------------------------------- */

/* A migration's life as a series of snapshots. */
static const struct {
	const char *phase;
	uint64_t round, remaining;
} life[] = {
	{ "begin", 0, 0 },          { "prepare", 0, 0 },
	{ "prepare", 0, 0 },        { "perform", 1, 256 * MiB },
	{ "perform", 1, 128 * MiB }, { "perform", 2, 20 * MiB },
	{ "perform", 3, 2 * MiB },  { "finish", 3, 0 },
	{ "confirm", 3, 0 },        { "done", 3, 0 },
};

static int run_life(struct ctl_follow *f, FILE *out, int json)
{
	struct ctl_mig m;
	int rc = -1;

	for (size_t i = 0; i < sizeof(life) / sizeof(life[0]); i++) {
		json_object *raw = json_object_new_object();

		mig(&m, life[i].phase, life[i].round, life[i].remaining,
		    40 * MiB, 20);
		if (!strcmp(m.phase, "done")) {
			m.total_ms = 2500;
			m.downtime_ms = 31;
			m.bytes_sent = 290 * MiB;
		}
		json_object_object_add(raw, "phase",
				       json_object_new_string(m.phase));
		rc = ctl_follow_step(f, out, &m, json ? raw : NULL, 80);
		json_object_put(raw);
		if (i + 1 < sizeof(life) / sizeof(life[0]))
			assert_int_equal(rc, -1);
	}
	return rc;
}

static void test_follow_pipe(void **state)
{
	struct ctl_follow f;
	struct memout o;
	const char *t;

	(void)state;
	/* Not a terminal, total unknown: one line per phase, the bar sized
	 * by round 1's remaining (all memory), then the report. */
	ctl_follow_init(&f, 0, 0, 0);
	mem_open(&o);
	assert_int_equal(run_life(&f, o.f, 0), 0);
	t = mem_close(&o);
	assert_null(strchr(t, '\r'));
	assert_int_equal(count(t, "\nperform "), 1);
	assert_int_equal(count(t, "\nprepare "), 1);
	/* perform is printed once, at its first snapshot (0 %); finish,
	 * confirm and done have full bars. */
	assert_int_equal(count(t, "[#########]"), 3);
	assert_non_null(strstr(t, "\nperform [---------]   0%  round  1"
				  "   256 MiB left  40.0 MiB/s"
				  "  downtime  ~20 ms\n"));
	assert_non_null(strstr(t, "\nfinish  [#########] 100%"));
	assert_non_null(strstr(t, "\ndone    [#########] 100%"));
	assert_non_null(strstr(t, "migration m-1f3a (vm1 -> hostb.test): "
				  "done\n  total time   2.50 s\n"));
	assert_int_equal(t[0], 'b'); /* begin first, nothing before */
	free(o.text);
}

static void test_follow_tty(void **state)
{
	struct ctl_follow f;
	struct memout o;
	const char *t, *last;

	(void)state;
	/* Terminal, total known: redrawn in place for every snapshot, a
	 * newline only at the end, before the report. */
	ctl_follow_init(&f, 1, 0, 256 * MiB);
	mem_open(&o);
	assert_int_equal(run_life(&f, o.f, 0), 0);
	t = mem_close(&o);
	assert_int_equal(count(t, "\r"), sizeof(life) / sizeof(life[0]));
	assert_non_null(strstr(t, "\rperform [####-----]  50%"));
	assert_non_null(strstr(t, "\rperform [########-]  99%"));
	assert_non_null(strstr(t, "\rdone    [#########] 100%"));
	assert_int_equal(count(t, "\n"), 6); /* one ending the line, 5 report */
	assert_non_null(strstr(t, "~20 ms\nmigration m-1f3a"));
	free(o.text);

	/* A shorter line blanks the rest of the longer one before it. */
	ctl_follow_init(&f, 1, 0, 0);
	mem_open(&o);
	{
		struct ctl_mig m;

		mig(&m, "perform", 1, 10 * MiB, 0, 0);
		assert_int_equal(ctl_follow_step(&f, o.f, &m, NULL, 80), -1);
		mig(&m, "cancelled", 0, 0, 0, 0);
		assert_int_equal(ctl_follow_step(&f, o.f, &m, NULL, 80), 1);
	}
	t = mem_close(&o);
	last = strstr(t, "\rcancelled [");
	assert_non_null(last);
	/* "\r", the 43 columns of the new line, 18 blanks over the rest of
	 * the 61 of the old one (no expected downtime: 3 fields). */
	assert_int_equal(strchr(last, '\n') - last, 1 + 61);
	assert_memory_equal(last + 1 + 43 - 17, "vm1 -> hostb.test", 17);
	for (int i = 1 + 43; i < 1 + 61; i++)
		assert_int_equal(last[i], ' ');
	free(o.text);

	/* A break mid-way ends the line once; a second break adds nothing. */
	ctl_follow_init(&f, 1, 0, 0);
	mem_open(&o);
	{
		struct ctl_mig m;

		mig(&m, "perform", 1, 10 * MiB, 0, 0);
		assert_int_equal(ctl_follow_step(&f, o.f, &m, NULL, 80), -1);
	}
	ctl_follow_break(&f, o.f);
	ctl_follow_break(&f, o.f);
	t = mem_close(&o);
	assert_int_equal(count(t, "\n"), 1);
	free(o.text);
}

static void test_follow_json(void **state)
{
	struct ctl_follow f;
	struct memout o;
	const char *t;

	(void)state;
	/* --json on a terminal: no redrawing, one object per phase, no
	 * report (the last object is the result). */
	ctl_follow_init(&f, 1, 1, 0);
	mem_open(&o);
	assert_int_equal(run_life(&f, o.f, 1), 0);
	t = mem_close(&o);
	assert_string_equal(t, "{\"phase\":\"begin\"}\n"
			       "{\"phase\":\"prepare\"}\n"
			       "{\"phase\":\"perform\"}\n"
			       "{\"phase\":\"finish\"}\n"
			       "{\"phase\":\"confirm\"}\n"
			       "{\"phase\":\"done\"}\n");
	free(o.text);
}

static void test_follow_exit_codes(void **state)
{
	struct ctl_follow f;
	struct memout o;
	struct ctl_mig m;

	(void)state;
	ctl_follow_init(&f, 0, 0, 0);
	mem_open(&o);
	mig(&m, "perform", 2, MiB, 0, 0);
	assert_int_equal(ctl_follow_step(&f, o.f, &m, NULL, 80), -1);
	mig(&m, "cancelled", 2, MiB, 0, 0);
	assert_int_equal(ctl_follow_step(&f, o.f, &m, NULL, 80), 1);
	mig(&m, "undetermined", 4, 0, 0, 0);
	assert_int_equal(ctl_follow_step(&f, o.f, &m, NULL, 80), 3);
	free((char *)mem_close(&o));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_suffixes),
		cmocka_unit_test(test_size_errors),
		cmocka_unit_test(test_uint_bounds),
		cmocka_unit_test(test_format_bytes),
		cmocka_unit_test(test_mig_from_json),
		cmocka_unit_test(test_mig_from_json_hostile),
		cmocka_unit_test(test_phase_exit),
		cmocka_unit_test(test_percent_edges),
		cmocka_unit_test(test_progress_line_perform),
		cmocka_unit_test(test_progress_line_states),
		cmocka_unit_test(test_report_done),
		cmocka_unit_test(test_report_refused),
		cmocka_unit_test(test_report_undetermined),
		cmocka_unit_test(test_vm_table),
		cmocka_unit_test(test_history_table),
		cmocka_unit_test(test_status_table),
		cmocka_unit_test(test_table_generic),
		cmocka_unit_test(test_follow_pipe),
		cmocka_unit_test(test_follow_tty),
		cmocka_unit_test(test_follow_json),
		cmocka_unit_test(test_follow_exit_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
