/*
 * test_downtime.c - the parts of mig-downtime that decide a verdict
 * without a VMM: the guests' line formats (boot sector and Linux), the
 * serial thread's stamps and its joining of the two streams, the
 * analyses (pause, continuity, BAD, vCPUs; Linux: heartbeats, kernel
 * alarms, the console's answer), the Linux kernel's lookup and command
 * line, and the JSON stream splitter that reads QMP and vmm-lite.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

/* dt_line_parse() of one string. */
static struct dt_line parsed(const char *text)
{
	struct dt_line l;

	memset(&l, 0xa5, sizeof(l));
	dt_line_parse(text, strlen(text), &l);
	return l;
}

static void test_linux_parse(void **state)
{
	struct dt_line l;

	(void)state;
	l = parsed("hb 12 2192311481 3 26 0 0");
	assert_int_equal(l.kind, DT_LINE_HEARTBEAT);
	assert_int_equal(l.value, 12);
	assert_int_equal(l.mono_ns, 2192311481u);
	assert_int_equal(l.passes, 3);
	assert_int_equal(l.verified, 26);
	assert_int_equal(l.nbad, 0);
	assert_int_equal(l.nback, 0);
	assert_int_equal(l.fields, 6);
	/* After busybox's prompt and its cursor query, as it comes. */
	l = parsed("vmm# \033[6nhb 1 2192311481 1 26 4 5");
	assert_int_equal(l.kind, DT_LINE_HEARTBEAT);
	assert_int_equal(l.value, 1);
	assert_int_equal(l.nbad, 4);
	assert_int_equal(l.nback, 5);
	/* A line cut by something else, or with junk after, is no
	 * heartbeat; numbers that overflow neither. */
	assert_int_equal(parsed("hb 12 2192311481 3 26 0").kind, DT_LINE_OTHER);
	assert_int_equal(parsed("hb 12 2192311481 3 26 0 0 x").kind,
			 DT_LINE_OTHER);
	assert_int_equal(parsed("hb 12 21923echo 11481 3 26 0 0").kind,
			 DT_LINE_OTHER);
	assert_int_equal(parsed("hb 1 2 4294967296 4 0 0").kind, DT_LINE_OTHER);
	assert_int_equal(parsed("hb 99999999999999999999 2 3 4 0 0").kind,
			 DT_LINE_OTHER);
	/* A heartbeat begun, cut, and a whole one after it. */
	l = parsed("hb 12 21hb 13 300 3 27 0 0");
	assert_int_equal(l.kind, DT_LINE_HEARTBEAT);
	assert_int_equal(l.value, 13);
	/* The workload's alarms, after a prompt too. */
	assert_int_equal(parsed("BAD page=7 gen=3 off=96 prev=1").kind,
			 DT_LINE_BAD);
	assert_int_equal(parsed("vmm# BAD page=7 gen=3 off=96 prev=0").kind,
			 DT_LINE_BAD);
	assert_int_equal(parsed("BACKWARDS 2192311481 2192311000").kind,
			 DT_LINE_BAD);
	assert_int_equal(parsed("no BACKWARDS here").kind, DT_LINE_OTHER);
	/* The kernel's, even inside a heartbeat's line. */
	assert_int_equal(
	    parsed("[    1.2] WARNING: CPU: 0 PID: 1 at fpu/xstate.c").kind,
	    DT_LINE_KERNEL);
	assert_int_equal(
	    parsed("[    5.5] BUG: unable to handle page fault").kind,
	    DT_LINE_KERNEL);
	assert_int_equal(parsed("[    5.6] Oops: 0011 [#1] PREEMPT SMP").kind,
			 DT_LINE_KERNEL);
	assert_int_equal(
	    parsed("[    5.7] Kernel panic - not syncing: Fatal exception")
		.kind,
	    DT_LINE_KERNEL);
	assert_int_equal(
	    parsed("rcu: INFO: rcu_preempt self-detected stall on CPU").kind,
	    DT_LINE_KERNEL);
	assert_int_equal(parsed("hb 1 2 3 [ 9.1] Oops: 0002 4 0 0").kind,
			 DT_LINE_KERNEL);
	/* Boot chatter is none of them. */
	assert_int_equal(parsed("[    0.9] acpi PNP0A03:00: fail to add "
				"MMCONFIG information")
			     .kind,
			 DT_LINE_OTHER);
	assert_int_equal(parsed("vmm-guest: init ready").kind, DT_LINE_READY);
	/* The answer, not the echo of the command that asks for it. */
	l = parsed(DT_ANSWER_TAG "42");
	assert_int_equal(l.kind, DT_LINE_ANSWER);
	assert_int_equal(l.value, 42);
	assert_int_equal(parsed("vmm# echo " DT_ANSWER_TAG "$((6*7))").kind,
			 DT_LINE_OTHER);
	assert_int_equal(parsed(DT_ANSWER_TAG "42x").kind, DT_LINE_OTHER);
	/* The boot sectors' lines are still theirs. */
	assert_int_equal(parsed("c 5 6 2").kind, DT_LINE_COUNTER);
}

/* A file in `dir`. */
static void touch(const char *dir, const char *name)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);
}

static void test_linux_kernel(void **state)
{
	char dir[] = "/tmp/dt-boot.XXXXXX", buf[512], want[512];

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(dt_linux_kernel(dir, buf, sizeof(buf)), -ENOENT);
	touch(dir, "config-6.1.0-99-amd64");
	assert_int_equal(dt_linux_kernel(dir, buf, sizeof(buf)), -ENOENT);
	/* Version order: 56 after 9, 6.1 after 5.10. */
	touch(dir, "vmlinuz-6.1.0-9-amd64");
	touch(dir, "vmlinuz-6.1.0-56-amd64");
	touch(dir, "vmlinuz-5.10.0-30-amd64");
	assert_int_equal(dt_linux_kernel(dir, buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "%s/vmlinuz-6.1.0-56-amd64", dir);
	assert_string_equal(buf, want);
	dt_rmtree(dir);
	assert_int_equal(dt_linux_kernel(dir, buf, sizeof(buf)), -ENOENT);
}

static void test_linux_cmdline(void **state)
{
	struct dt_workload w = {.kind = DT_LINUX_WORK,
				.ws_mib = 24,
				.rate_mib = 1,
				.threads = 2,
				.period_ms = 100};
	struct dt_opts o = {.initrd = "/nonexistent/initramfs.cpio.gz",
			    .kernel = "/nonexistent/vmlinuz"};
	char buf[512], why[DT_WHY];

	(void)state;
	assert_int_equal(dt_linux_cmdline(&w, 1, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "console=ttyS0 reboot=k panic=-1 loglevel=6 "
				 "noxsave vmm.workload=\"--mib 24 --rate 1 "
				 "--threads 2 --period 100\"");
	assert_int_equal(dt_linux_cmdline(&w, 0, 1, buf, sizeof(buf)), 0);
	assert_null(strstr(buf, "noxsave"));
	assert_non_null(strstr(buf, "--period 100 --self-test\""));
	assert_int_equal(dt_linux_cmdline(&w, 0, 0, buf, 40), -1);
	/* What is missing is named, with what provides it. */
	assert_int_equal(dt_linux_prepare(&o, &w, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "/nonexistent/vmlinuz"));
	o.kernel = "/dev/null";
	assert_int_equal(dt_linux_prepare(&o, &w, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "vmm-linux-initramfs"));
	o.initrd = "/dev/null";
	setenv("KVM_VM_GUEST", "1", 1);
	assert_int_equal(dt_linux_prepare(&o, &w, why, sizeof(why)), 0);
	assert_non_null(strstr(w.cmdline, " noxsave "));
	assert_string_equal(w.kernel, "/dev/null");
	unsetenv("KVM_VM_GUEST");
	assert_int_equal(dt_linux_prepare(&o, &w, why, sizeof(why)), 0);
	assert_null(strstr(w.cmdline, "noxsave"));
}

/* Heartbeats FROM..TO, `period_ms` of guest time and 5 ms of ours apart. */
static void heartbeats(int fd, int from, int to, uint64_t mono0,
		       uint32_t period_ms)
{
	char line[128];

	for (int i = from; i <= to; i++) {
		snprintf(line, sizeof(line), "hb %d %llu %d %d 0 0\n", i,
			 (unsigned long long)(mono0 + (uint64_t)(i - 1) *
							  period_ms * 1000000u),
			 i / 4, i * 10);
		put(fd, line);
		dt_sleep_ms(5);
	}
}

/*
 * A Linux migration: heartbeats 1..10 on the source, a kernel message in
 * the pause, and half a heartbeat the target finishes with `target`.
 * With `answer`, the target answers the typed command.
 */
static int linux_scenario(const char *target, int answer,
			  struct dt_guest_view *v, char *why, size_t len)
{
	struct pipes p;
	uint64_t t0, t1;
	int rc;

	start(&p);
	put(p.src[1], "vmm-guest: init ready\n");
	heartbeats(p.src[1], 1, 10, 1000000000u, 100);
	t0 = dt_now_ns();
	dt_sleep_ms(100);
	/* Not a heartbeat: no clock for the pause. */
	put(p.src[1], "[   12.0] clocksource: timekeeping watchdog\n");
	dt_sleep_ms(100);
	put(p.src[1], "hb 11 2000000000");
	t1 = dt_now_ns();
	put(p.tgt[1], target);
	if (answer)
		put(p.tgt[1], "vmm# echo " DT_ANSWER_TAG
			      "$((6*7))\r\n" DT_ANSWER_TAG "42\r\n");
	stop(&p);
	rc =
	    dt_linux_analyse(&p.s, t0, t1, 500000000u, 100000000u, v, why, len);
	finish(&p);
	return rc;
}

static void test_linux_verdicts(void **state)
{
	struct dt_guest_view v;
	char why[DT_WHY];

	(void)state;
	/* The half line the source began is finished by the target; the
	 * guest's clock jumped 3 periods more than one. */
	assert_int_equal(
	    linux_scenario(" 3 110 0 0\nhb 12 2400000000 3 120 0 0\n"
			   "vmm# \033[6nhb 13 2500000000 3 130 0 0\n",
			   1, &v, why, sizeof(why)),
	    0);
	assert_int_equal(v.src_last, 10);
	assert_int_equal(v.tgt_first, 11);
	assert_int_equal(v.tgt_lines, 3);
	assert_int_equal(v.src_verified, 100);
	assert_int_equal(v.tgt_verified, 130);
	assert_int_equal(v.answered, 1);
	assert_int_equal(v.skipped, 0);
	/* The pause is from heartbeat to heartbeat, past the kernel's
	 * line in the middle. */
	assert_true(v.pause_us >= 200000);
	assert_int_equal(v.switch_us, v.pause_us);
	assert_true(v.period_us >= 5000 && v.period_us < v.pause_us);
	/* The guest's clock ran on through the pause: from 1.9 s in the
	 * source's last heartbeat to 2.6 s, 6 periods skipped. */
	assert_int_equal(linux_scenario("hb 11 2600000000 3 110 0 0\n"
					"hb 12 2700000000 3 120 0 0\n",
					1, &v, why, sizeof(why)),
			 0);
	assert_int_equal(v.skipped, 6);
	/* Every way it fails, with what it says. */
	assert_int_equal(linux_scenario("hb 11 2000000000 3 110 0 0\n", 0, &v,
					why, sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "did not answer"));
	assert_int_equal(linux_scenario("hb 1 100 0 0 0 0\nhb 2 200 0 5 0 0\n",
					1, &v, why, sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "went back"));
	assert_int_equal(linux_scenario("hb 11 1800000000 3 110 0 0\n", 1, &v,
					why, sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "went back"));
	assert_int_equal(linux_scenario("hb 11 2000000000 3 110 0 0\n"
					"vmm# \033[6nBAD page=3 gen=4 off=0 "
					"prev=1\n",
					1, &v, why, sizeof(why)),
			 -1);
	/* Quoted without the terminal query. */
	assert_non_null(strstr(why, "vmm# ?[6nBAD page=3 gen=4 off=0 prev=1"));
	assert_int_equal(linux_scenario("hb 11 2000000000 3 110 0 0\n"
					"[ 12.1] WARNING: CPU: 1 PID: 0 at x\n",
					1, &v, why, sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "kernel reported: [ 12.1] WARNING:"));
	assert_int_equal(v.kernel, 1);
	/* The counts in the last heartbeat, when the lines were held back. */
	assert_int_equal(linux_scenario("hb 11 2000000000 3 110 0 2\n", 1, &v,
					why, sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "0 bad page(s) and 2 backward"));
	assert_int_equal(linux_scenario("hb 11 2000000000 3 100 0 0\n", 1, &v,
					why, sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "verified no page on the target"));
	assert_int_equal(linux_scenario("", 1, &v, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "no heartbeat from the target"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_switch),
	    cmocka_unit_test(test_verdicts),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_jconn),
	    cmocka_unit_test(test_linux_parse),
	    cmocka_unit_test(test_linux_kernel),
	    cmocka_unit_test(test_linux_cmdline),
	    cmocka_unit_test(test_linux_verdicts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
