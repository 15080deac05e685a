/*
 * test_log.c - log.c's lines, read back from stderr through a pipe (or a
 * pseudo-terminal): prefixes, logfmt quoting, levels, truncation, and
 * whole lines from several threads at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../migrated/src/log.h"

/* ---------------------------------------------------------------------- */
/* Capturing stderr                                                       */

static int saved_stderr = -1;
static int pipe_rd = -1;

/* From here on, stderr goes into a pipe that end_capture() reads. */
static void begin_capture(void)
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	close(p[1]);
	pipe_rd = p[0];
}

static void restore_stderr(void)
{
	assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
}

static size_t read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return len;
}

/* Restores stderr; returns what was written since begin_capture(). */
static size_t end_capture(char *buf, size_t size)
{
	size_t len;

	restore_stderr();
	len = read_all(pipe_rd, buf, size);
	close(pipe_rd);
	return len;
}

static int setup(void **state)
{
	(void)state;
	migd_log_set_style(MIGD_LOG_JOURNAL);
	migd_log_set_level(LOG_INFO);
	return 0;
}

/* After a failed assertion, so that cmocka's report can be seen. */
static int teardown(void **state)
{
	(void)state;
	if (saved_stderr >= 0)
		restore_stderr();
	return 0;
}

static int ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && !memcmp(s + len - n, suffix, n);
}

/* ---------------------------------------------------------------------- */
/* Tests                                                                  */

static void test_journal_prefix(void **state)
{
	char out[256];

	(void)state;
	begin_capture();
	migd_log(LOG_ERR, "disk %s is %d%% full", "sda", 99);
	migd_log(LOG_WARNING, "plain");
	migd_log(LOG_INFO | LOG_DAEMON, "facility bits are dropped");
	end_capture(out, sizeof(out));
	assert_string_equal(out, "<3>msg=\"disk sda is 99% full\"\n"
				 "<4>msg=\"plain\"\n"
				 "<6>msg=\"facility bits are dropped\"\n");
}

static void test_fields(void **state)
{
	char out[512];

	(void)state;
	begin_capture();
	migd_logkv(LOG_INFO, "migration started", "vm", "vm1", "id", "m-12",
		   "phase", "prepare", NULL);
	migd_logkv(LOG_NOTICE, "round done", "round", MIGD_LOG_FMT("%u", 7u),
		   "rate", MIGD_LOG_FMT("%.1f", 2.25), NULL);
	migd_logkv(LOG_INFO, "", NULL);
	end_capture(out, sizeof(out));
	assert_string_equal(
		out,
		"<6>msg=\"migration started\" vm=vm1 id=m-12 phase=prepare\n"
		"<5>msg=\"round done\" round=7 rate=2.2\n"
		"<6>msg=\"\"\n");
}

/* Hostile text cannot add a field or a line. */
static void test_quoting(void **state)
{
	char out[1024];

	(void)state;
	begin_capture();
	migd_logkv(LOG_INFO, "say \"hi\"\nfake=1",
		   "a", "two words", "b", "x=y", "c", "back\\slash",
		   "d", "tab\there", "e", "\x1b[31mred", "f", "", "g", NULL,
		   "h", "h\xc3\xa9llo", "bad key!", "v", "", "empty key",
		   "i", "del\x7f", NULL);
	migd_log(LOG_INFO, "line1\nline2\r");
	end_capture(out, sizeof(out));
	assert_string_equal(
		out,
		"<6>msg=\"say \\\"hi\\\"\\nfake=1\" a=\"two words\" b=\"x=y\" "
		"c=\"back\\\\slash\" d=\"tab\\there\" e=\"\\x1b[31mred\" "
		"f=\"\" g=\"\" h=h\xc3\xa9llo bad_key_=v _=\"empty key\" "
		"i=\"del\\x7f\"\n"
		"<6>msg=\"line1\\nline2\\x0d\"\n");
}

static void test_levels(void **state)
{
	char out[256];

	(void)state;
	begin_capture();
	migd_log(LOG_DEBUG, "hidden by default");
	migd_log_set_level(LOG_WARNING);
	migd_log(LOG_NOTICE, "hidden");
	migd_logkv(LOG_INFO, "hidden", "k", "v", NULL);
	migd_log(LOG_WARNING, "shown");
	migd_log_set_level(LOG_DEBUG);
	migd_log(LOG_DEBUG, "debug");
	migd_log_set_level(LOG_INFO);
	end_capture(out, sizeof(out));
	assert_string_equal(out, "<4>msg=\"shown\"\n<7>msg=\"debug\"\n");
}

static void test_errno_kept(void **state)
{
	char out[64];

	(void)state;
	begin_capture();
	errno = EADDRINUSE;
	migd_log(LOG_ERR, "x");
	assert_int_equal(errno, EADDRINUSE);
	migd_logkv(LOG_ERR, "y", "k", "v", NULL);
	assert_int_equal(errno, EADDRINUSE);
	end_capture(out, sizeof(out));
}

/* An over-long line is cut to MIGD_LOG_LINE_MAX, its quote closed. */
static void check_cut(const char *suffix)
{
	static char out[4 * MIGD_LOG_LINE_MAX];
	size_t len = end_capture(out, sizeof(out));

	assert_true(len <= MIGD_LOG_LINE_MAX);
	assert_true(len > MIGD_LOG_LINE_MAX - 20);
	assert_ptr_equal(strchr(out, '\n'), out + len - 1);
	if (!ends_with(out, len, suffix))
		fail_msg("line ends \"%s\", not \"%s\"", out + len - 20,
			 suffix);
}

static void test_truncation(void **state)
{
	static char big[3 * MIGD_LOG_LINE_MAX];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	begin_capture();
	migd_log(LOG_INFO, "%s", big);
	check_cut("a\" truncated=1\n");

	begin_capture();
	migd_logkv(LOG_INFO, "m", "k", big, "k2", "v", NULL);
	check_cut("aa truncated=1\n"); /* a bare value */

	big[0] = ' ';
	begin_capture();
	migd_logkv(LOG_INFO, "m", "k", "a b", "k2", big, NULL);
	check_cut("a\" truncated=1\n");

	memset(big, '\x01', sizeof(big) - 1);
	begin_capture();
	migd_log(LOG_INFO, "%s", big);
	check_cut("\\x01\" truncated=1\n"); /* no escape cut in half */
}

static void test_terminal(void **state)
{
	char out[256];
	regex_t re;
	int master, slave;
	ssize_t n;

	(void)state;
	assert_int_equal(regcomp(&re,
				 "^[0-9]{4}-[0-9]{2}-[0-9]{2} "
				 "[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "
				 "err    msg=\"boom\" vm=vm1\n$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	migd_log_set_style(MIGD_LOG_TERMINAL);
	begin_capture();
	migd_logkv(LOG_ERR, "boom", "vm", "vm1", NULL);
	end_capture(out, sizeof(out));
	assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);

	/* AUTO: a pipe is journald's side, a terminal gets the time. */
	migd_log_set_style(MIGD_LOG_AUTO);
	begin_capture();
	migd_log(LOG_ERR, "boom");
	end_capture(out, sizeof(out));
	assert_string_equal(out, "<3>msg=\"boom\"\n");

	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(master >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(slave >= 0);
	saved_stderr = dup(STDERR_FILENO);
	assert_int_equal(dup2(slave, STDERR_FILENO), STDERR_FILENO);
	migd_log_set_style(MIGD_LOG_AUTO);
	migd_logkv(LOG_ERR, "boom", "vm", "vm1", NULL);
	restore_stderr();
	close(slave);
	n = read(master, out, sizeof(out) - 1);
	assert_true(n > 0);
	out[n] = '\0';
	close(master);
	/* the terminal's line discipline turns "\n" into "\r\n" */
	assert_non_null(strstr(out, "\r\n"));
	strcpy(strstr(out, "\r\n"), "\n");
	assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);
	regfree(&re);
	migd_log_set_style(MIGD_LOG_JOURNAL);
}

/* ---------------------------------------------------------------------- */
/* Threads                                                                */

#define THREADS 4
#define LINES 200

static char pad[1500];

static void *writer(void *arg)
{
	int t = (int)(intptr_t)arg, i;

	for (i = 0; i < LINES; i++)
		migd_logkv(LOG_INFO, "worker", "t", MIGD_LOG_FMT("%d", t), "i",
			   MIGD_LOG_FMT("%d", i), "pad", pad, NULL);
	return NULL;
}

struct drain {
	int fd;
	char *buf;
	size_t size, len;
};

static void *drainer(void *arg)
{
	struct drain *d = arg;

	d->len = read_all(d->fd, d->buf, d->size);
	return NULL;
}

/* Lines of 1.5 KB from four threads come out whole and in order. */
static void test_threads(void **state)
{
	static char out[THREADS * LINES * 1600];
	struct drain d = {.buf = out, .size = sizeof(out)};
	pthread_t th[THREADS], rd;
	int next[THREADS] = {0}, t, i, lines = 0;
	char *line, *save = NULL, want[64];

	(void)state;
	memset(pad, 'p', sizeof(pad) - 1);
	begin_capture();
	d.fd = pipe_rd;
	assert_int_equal(pthread_create(&rd, NULL, drainer, &d), 0);
	for (t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, writer,
						(void *)(intptr_t)t),
				 0);
	for (t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	restore_stderr();
	pthread_join(rd, NULL);
	close(pipe_rd);

	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), lines++) {
		assert_int_equal(sscanf(line, "<6>msg=\"worker\" t=%d i=%d", &t,
					&i),
				 2);
		assert_true(t >= 0 && t < THREADS);
		assert_int_equal(i, next[t]++);
		snprintf(want, sizeof(want), " i=%d pad=", i);
		assert_non_null(strstr(line, want));
		assert_int_equal(strlen(strstr(line, " pad=") + 5),
				 sizeof(pad) - 1);
	}
	assert_int_equal(lines, THREADS * LINES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_journal_prefix, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fields, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_quoting, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_levels, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errno_kept, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_truncation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_terminal, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
