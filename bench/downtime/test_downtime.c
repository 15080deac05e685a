/*
 * test_downtime.c - the parts of mig-downtime that decide a verdict
 * without a VMM: the guest's line format, the serial thread's stamps and
 * its joining of the two streams, the analysis (pause, continuity, BAD,
 * vCPUs), and the JSON stream splitter that reads QMP and vmm-lite.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "downtime.h"

static void test_parse(void **state)
{
	struct dt_line l;

	(void)state;
	dt_line_parse("c 12 3 2", 8, &l);
	assert_int_equal(l.kind, DT_LINE_COUNTER);
	assert_int_equal(l.value, 12);
	assert_int_equal(l.passes, 3);
	assert_int_equal(l.ncpu, 2);
	assert_int_equal(l.fields, 3);
	dt_line_parse("c 5", 3, &l);
	assert_int_equal(l.fields, 1);
	assert_int_equal(l.kind, DT_LINE_COUNTER);
	assert_int_equal(l.value, 5);
	assert_int_equal(l.ncpu, 0);
	dt_line_parse("BAD 300 7 123", 13, &l);
	assert_int_equal(l.kind, DT_LINE_BAD);
	dt_line_parse("c 5 6", 5, &l);
	assert_int_equal(l.kind, DT_LINE_COUNTER);
	assert_int_equal(l.passes, 6);
	assert_int_equal(l.fields, 2);
	/* Junk after the fields, overflow, other text. */
	dt_line_parse("c 5 6 2 1", 9, &l);
	assert_int_equal(l.kind, DT_LINE_OTHER);
	dt_line_parse("c 5 6 2x", 8, &l);
	assert_int_equal(l.kind, DT_LINE_OTHER);
	dt_line_parse("c 1 2 70000", 11, &l);
	assert_int_equal(l.kind, DT_LINE_OTHER);
	dt_line_parse("c 99999999999999999999999", 25, &l);
	assert_int_equal(l.kind, DT_LINE_OTHER);
	dt_line_parse("c -1", 4, &l);
	assert_int_equal(l.kind, DT_LINE_OTHER);
	dt_line_parse("hello", 5, &l);
	assert_int_equal(l.kind, DT_LINE_OTHER);
}

struct pipes {
	int src[2], tgt[2];
	struct dt_serial s;
};

static void put(int fd, const char *text)
{
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

static void start(struct pipes *p)
{
	assert_int_equal(pipe(p->src), 0);
	assert_int_equal(pipe(p->tgt), 0);
	assert_int_equal(dt_serial_start(&p->s, p->src[0], p->tgt[0], NULL, 0),
			 0);
}

static void stop(struct pipes *p)
{
	close(p->src[1]);
	close(p->tgt[1]);
	dt_serial_stop(&p->s);
}

static void finish(struct pipes *p)
{
	dt_serial_free(&p->s);
	close(p->src[0]);
	close(p->tgt[0]);
}

/* Source lines 1..n, 10 ms apart; the last one left half-written. */
static void source_run(struct pipes *p, int n)
{
	char line[64];

	for (int i = 1; i < n; i++) {
		snprintf(line, sizeof(line), "c %d %d 2\n", i, i);
		put(p->src[1], line);
		dt_sleep_ms(10);
	}
	snprintf(line, sizeof(line), "c %d", n);
	put(p->src[1], line);
}

static void test_switch(void **state)
{
	struct pipes p;
	struct dt_guest_view v;
	struct dt_line last;
	char why[DT_WHY] = "";
	uint64_t t0, t1;

	(void)state;
	start(&p);
	source_run(&p, 60);
	t0 = dt_now_ns();
	dt_sleep_ms(200); /* the pause */
	t1 = dt_now_ns();
	/* The target finishes the source's line: "c 60 60 2". */
	put(p.tgt[1], " 60 2\r\n");
	for (int i = 61; i < 70; i++) {
		char line[64];

		snprintf(line, sizeof(line), "c %d %d 2\n", i, i);
		put(p.tgt[1], line);
		dt_sleep_ms(10);
	}
	stop(&p);
	assert_int_equal(dt_serial_last(&p.s, DT_SRC, DT_LINE_COUNTER, &last),
			 59);
	assert_int_equal(last.value, 59);
	assert_int_equal(dt_serial_last(&p.s, DT_TGT, DT_LINE_COUNTER, &last),
			 10);
	assert_int_equal(
	    dt_serial_analyse(&p.s, t0, t1, 50000000u, 2, &v, why, sizeof(why)),
	    0);
	assert_int_equal(v.src_last, 59);
	assert_int_equal(v.tgt_first, 60);
	assert_int_equal(v.tgt_lines, 10);
	assert_int_equal(v.tgt_passes, 69);
	assert_int_equal(v.skipped, 0);
	assert_int_equal(v.ncpu, 2);
	/* The stamps are taken after the writes: never less than the gap. */
	assert_true(v.pause_us >= 200000);
	assert_true(v.pause_us < 2000000);
	/* Here the largest gap is the switch's. */
	assert_int_equal(v.switch_us, v.pause_us);
	assert_true(v.pause_at_us < 0 + 50000);
	assert_true(v.period_us >= 10000);
	assert_true(v.base_us >= 10000 && v.base_us < v.pause_us);
	/* One pass per line before; the source's lines stop at t0. */
	assert_int_equal(v.speed_pct, 0);
	finish(&p);
}

/* One scenario's target output after source_run(p, 10) + "\n". */
static int scenario(const char *target, uint32_t cpus, char *why, size_t len,
		    struct dt_guest_view *v)
{
	struct pipes p;
	uint64_t t0;
	int rc;

	start(&p);
	source_run(&p, 10);
	put(p.src[1], " 10 2\n");
	dt_sleep_ms(20);
	t0 = dt_now_ns();
	put(p.tgt[1], target);
	stop(&p);
	rc = dt_serial_analyse(&p.s, t0, dt_now_ns(), 500000000u, cpus, v, why,
			       len);
	finish(&p);
	return rc;
}

static void test_verdicts(void **state)
{
	struct dt_guest_view v;
	char why[DT_WHY];

	(void)state;
	/* The guest's clock jumped 5 periods: fine, and counted. */
	assert_int_equal(
	    scenario("c 16 11 2\nc 17 12 2\n", 2, why, sizeof(why), &v), 0);
	assert_int_equal(v.skipped, 5);
	/* A restarted guest counts from 1 again. */
	assert_int_equal(
	    scenario("c 1 0 2\nc 2 1 2\n", 2, why, sizeof(why), &v), -1);
	assert_non_null(strstr(why, "went back"));
	/* Passes going back are lost memory state as well. */
	assert_int_equal(scenario("c 11 3 2\n", 2, why, sizeof(why), &v), -1);
	assert_non_null(strstr(why, "went back"));
	assert_int_equal(
	    scenario("c 11 11 2\nBAD 300 11 12345\n", 2, why, sizeof(why), &v),
	    -1);
	assert_non_null(strstr(why, "BAD 300 11 12345"));
	assert_int_equal(v.bad, 1);
	assert_int_equal(scenario("", 2, why, sizeof(why), &v), -1);
	assert_non_null(strstr(why, "no counter line from the target"));
	assert_int_equal(scenario("c 11 11 1\n", 2, why, sizeof(why), &v), -1);
	assert_non_null(strstr(why, "1 vCPU(s) came up"));
}

static void test_long_line(void **state)
{
	struct pipes p;
	char big[3 * DT_LINE_MAX];
	struct dt_line last;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\n';
	start(&p);
	assert_int_equal(write(p.src[1], big, sizeof(big)),
			 (ssize_t)sizeof(big));
	put(p.src[1], "c 7 1 1\n");
	stop(&p);
	assert_int_equal(dt_serial_last(&p.s, DT_SRC, DT_LINE_OTHER, NULL), 1);
	assert_int_equal(dt_serial_last(&p.s, DT_SRC, DT_LINE_COUNTER, &last),
			 1);
	assert_int_equal(last.value, 7);
	finish(&p);
}

static int get_int(json_object *o, const char *key)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_int(v);
}

static void test_jconn(void **state)
{
	struct dt_jconn c;
	json_object *o;
	int sv[2], st;
	char *big;
	pid_t pid;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(&c, 0, sizeof(c));
	c.fd = sv[0];
	c.tok = json_tokener_new();
	/* Two objects in one write, one split over two, a bare number. */
	put(sv[1], "{\"a\":1}\n{\"b\":");
	assert_int_equal(dt_jconn_recv(&c, &o, 1000), 0);
	assert_int_equal(get_int(o, "a"), 1);
	json_object_put(o);
	assert_int_equal(dt_jconn_recv(&c, &o, 100), -ETIMEDOUT);
	put(sv[1], "2}\r\n3\n{\"c\":3}");
	assert_int_equal(dt_jconn_recv(&c, &o, 1000), 0);
	assert_int_equal(get_int(o, "b"), 2);
	json_object_put(o);
	assert_int_equal(dt_jconn_recv(&c, &o, 1000), 0);
	assert_int_equal(get_int(o, "c"), 3);
	json_object_put(o);
	/* Garbage is an error, not a hang. */
	put(sv[1], "}\n");
	assert_int_equal(dt_jconn_recv(&c, &o, 1000), -EPROTO);
	json_tokener_reset(c.tok);
	c.off = c.len = 0;
	/* An endless string is cut off at DT_JSON_MAX. */
	big = malloc(DT_JSON_MAX + 2);
	assert_non_null(big);
	big[0] = '"';
	memset(big + 1, 'y', DT_JSON_MAX + 1);
	put(sv[1], "{\"s\":");
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		ssize_t w = write(sv[1], big, DT_JSON_MAX + 2);

		_exit(w == (ssize_t)(DT_JSON_MAX + 2) ? 0 : 1);
	}
	assert_int_equal(dt_jconn_recv(&c, &o, 10000), -EMSGSIZE);
	free(big);
	close(sv[1]);
	dt_jconn_close(&c); /* the writer gets EPIPE and goes */
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),    cmocka_unit_test(test_switch),
	    cmocka_unit_test(test_verdicts), cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_jconn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
