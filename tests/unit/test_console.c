/*
 * test_console.c: vmm-lite's console input: bytes reach the guest in
 * order however little the UART takes at a time, a full backlog refuses
 * rather than truncates, and a pipe on standard input feeds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "console.h"

struct guest {
	uint8_t got[256 << 10];
	size_t len;
	unsigned calls;
	size_t fifo;       /* bytes taken per call, every other call none */
	int quits;
};

static size_t sink(void *opaque, const uint8_t *buf, size_t len)
{
	struct guest *g = opaque;
	size_t n = len < g->fifo ? len : g->fifo;

	if (g->calls++ % 2)
		return 0;  /* the FIFO is full this time */
	memcpy(g->got + g->len, buf, n);
	g->len += n;
	return n;
}

static void quit(void *opaque)
{
	((struct guest *)opaque)->quits++;
}

static void run_until(uv_loop_t *loop, struct guest *g, size_t want)
{
	for (int i = 0; i < 20000 && g->len < want; i++)
		uv_run(loop, UV_RUN_ONCE);
	assert_int_equal(g->len, want);
}

static void close_all(uv_loop_t *loop, struct vmm_console *c)
{
	vmm_console_stop(c);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void test_backlog_in_order(void **state)
{
	static struct guest g = { .fifo = 7 };
	struct vmm_console *c;
	uint8_t text[3000];
	uv_loop_t loop;

	(void)state;
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)(i * 31 + 7);
	uv_loop_init(&loop);
	assert_int_equal(vmm_console_start(&c, &loop, 0, sink, quit, &g), 0);
	assert_int_equal(vmm_console_write(c, text, 1000), 0);
	assert_int_equal(vmm_console_write(c, text + 1000, 2000), 0);
	run_until(&loop, &g, sizeof(text));
	assert_memory_equal(g.got, text, sizeof(text));
	assert_int_equal(g.quits, 0);
	close_all(&loop, c);
}

static size_t sink_never(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	(void)len;
	return 0;
}

static void test_full_backlog_refuses(void **state)
{
	static uint8_t big[VMM_CONSOLE_BACKLOG];
	struct vmm_console *c;
	uv_loop_t loop;

	(void)state;
	uv_loop_init(&loop);
	assert_int_equal(vmm_console_start(&c, &loop, 0, sink_never, quit, NULL), 0);
	assert_int_equal(vmm_console_write(c, big, sizeof(big) - 1), 0);
	assert_int_equal(vmm_console_write(c, big, 2), -ENOBUFS);
	assert_int_equal(vmm_console_write(c, big, 1), 0);
	assert_int_equal(vmm_console_write(c, big, 1), -ENOBUFS);
	close_all(&loop, c);
}

/* More than the backlog through a pipe: reading pauses, nothing is lost. */
static void test_stdin_pipe(void **state)
{
	static struct guest g = { .fifo = 4096 };
	static uint8_t text[VMM_CONSOLE_BACKLOG + 50000];
	struct vmm_console *c;
	int fds[2], saved = dup(STDIN_FILENO);
	uv_loop_t loop;
	size_t off = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)(i % 251);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
	close(fds[0]);
	assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	uv_loop_init(&loop);
	assert_int_equal(vmm_console_start(&c, &loop, 1, sink, quit, &g), 0);
	/* Feed the pipe from the loop's side: write what fits, run, repeat. */
	while (off < sizeof(text)) {
		size_t n = sizeof(text) - off < 4096 ? sizeof(text) - off : 4096;
		ssize_t w = write(fds[1], text + off, n);

		if (w < 0) {
			assert_int_equal(errno, EAGAIN);  /* the pipe is full */
			uv_run(&loop, UV_RUN_ONCE);
			continue;
		}
		off += (size_t)w;
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	close(fds[1]);
	run_until(&loop, &g, sizeof(text));
	assert_memory_equal(g.got, text, sizeof(text));
	close_all(&loop, c);
	dup2(saved, STDIN_FILENO);
	close(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backlog_in_order),
		cmocka_unit_test(test_full_backlog_refuses),
		cmocka_unit_test(test_stdin_pipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
