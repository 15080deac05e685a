/* test_stream.c - stream dispatchers and the in-memory backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stream.h"

/* ---------------------------------------------------------------------- */
/* A scripted backend that counts its calls                               */

struct fake {
	struct mig__stream base;
	int calls;
	ssize_t next_rc;     /* what read/write return */
	int next_int_rc;     /* what handshake/flush/shutdown return */
};

static ssize_t fake_read(struct mig__stream *s, void *buf, size_t len)
{
	struct fake *f = (struct fake *)s;

	f->calls++;
	if (f->next_rc > 0)
		memset(buf, 'x', MIG__MIN(len, (size_t)f->next_rc));
	return f->next_rc;
}

static ssize_t fake_write(struct mig__stream *s, const void *buf, size_t len)
{
	struct fake *f = (struct fake *)s;

	(void)buf;
	(void)len;
	f->calls++;
	return f->next_rc;
}

static int fake_int(struct mig__stream *s)
{
	struct fake *f = (struct fake *)s;

	f->calls++;
	return f->next_int_rc;
}

static void fake_destroy(struct mig__stream *s)
{
	free(s);
}

static const struct mig__stream_ops fake_ops = {
	.name = "fake",
	.read = fake_read,
	.write = fake_write,
	.handshake = fake_int,
	.flush = fake_int,
	.shutdown = fake_int,
	.destroy = fake_destroy,
};

static const struct mig__stream_ops fake_min_ops = {
	.name = "fake",
	.read = fake_read,
	.write = fake_write,
	.destroy = fake_destroy,
};

static struct fake *fake_new(const struct mig__stream_ops *ops)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->base.ops = ops;
	f->base.fd = -1;
	return f;
}

static void test_counters(void **state)
{
	struct fake *f = fake_new(&fake_ops);
	char buf[16];

	(void)state;
	f->next_rc = 5;
	assert_int_equal(mig__stream_read(&f->base, buf, sizeof(buf)), 5);
	assert_int_equal(mig__stream_write(&f->base, buf, 5), 5);
	f->next_rc = 3;
	assert_int_equal(mig__stream_write(&f->base, buf, 5), 3);
	assert_int_equal(f->base.bytes_in, 5);
	assert_int_equal(f->base.bytes_out, 8);
	/* A zero-length write never reaches the backend. */
	assert_int_equal(mig__stream_write(&f->base, buf, 0), 0);
	assert_int_equal(f->calls, 3);
	/* EOF counts nothing and is not an error. */
	f->next_rc = 0;
	assert_int_equal(mig__stream_read(&f->base, buf, sizeof(buf)), 0);
	assert_int_equal(f->base.error, 0);
	mig__stream_destroy(&f->base);
}

static void test_again_not_sticky(void **state)
{
	struct fake *f = fake_new(&fake_ops);
	char buf[16];

	(void)state;
	f->next_rc = MIG__AGAIN;
	assert_int_equal(mig__stream_read(&f->base, buf, sizeof(buf)),
			 MIG__AGAIN);
	assert_int_equal(mig__stream_write(&f->base, buf, 4), MIG__AGAIN);
	f->next_int_rc = MIG__AGAIN;
	assert_int_equal(mig__stream_handshake(&f->base), MIG__AGAIN);
	assert_int_equal(f->base.error, 0);
	f->next_rc = 4;
	assert_int_equal(mig__stream_read(&f->base, buf, sizeof(buf)), 4);
	f->next_int_rc = 0;
	assert_int_equal(mig__stream_handshake(&f->base), 0);
	assert_int_equal(f->calls, 5);
	mig__stream_destroy(&f->base);
}

static void test_sticky_error(void **state)
{
	struct fake *f = fake_new(&fake_ops);
	char buf[16];

	(void)state;
	f->next_rc = -EIO;
	assert_int_equal(mig__stream_read(&f->base, buf, sizeof(buf)), -EIO);
	assert_int_equal(f->base.error, -EIO);
	assert_true(strstr(f->base.error_text, "fake") != NULL);
	/* Later calls fail the same way without calling the backend. */
	f->next_rc = 4;
	f->next_int_rc = 0;
	assert_int_equal(mig__stream_read(&f->base, buf, sizeof(buf)), -EIO);
	assert_int_equal(mig__stream_write(&f->base, buf, 4), -EIO);
	assert_int_equal(mig__stream_handshake(&f->base), -EIO);
	assert_int_equal(mig__stream_flush(&f->base), -EIO);
	assert_int_equal(mig__stream_shutdown(&f->base), -EIO);
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->base.bytes_in, 0);
	mig__stream_destroy(&f->base);
}

static void test_sticky_keeps_backend_text(void **state)
{
	struct fake *f = fake_new(&fake_ops);

	(void)state;
	strcpy(f->base.error_text, "certificate expired");
	f->next_int_rc = MIG_ECERT;
	assert_int_equal(mig__stream_handshake(&f->base), MIG_ECERT);
	assert_string_equal(f->base.error_text, "certificate expired");
	/* The first error stays, a later one does not replace it. */
	assert_int_equal(mig__stream_flush(&f->base), MIG_ECERT);
	mig__stream_destroy(&f->base);
}

static void test_optional_ops(void **state)
{
	struct fake *f = fake_new(&fake_min_ops);

	(void)state;
	assert_int_equal(mig__stream_handshake(&f->base), 0);
	assert_int_equal(mig__stream_flush(&f->base), 0);
	assert_int_equal(mig__stream_shutdown(&f->base), 0);
	assert_int_equal(f->calls, 0);
	mig__stream_destroy(&f->base);
	mig__stream_destroy(NULL);
}

/* ---------------------------------------------------------------------- */
/* Memory pair                                                            */

static void test_mem_basic(void **state)
{
	struct mig__stream *a, *b;
	char buf[16];

	(void)state;
	assert_int_equal(mig__stream_mem_pair(&a, &b, 64), 0);
	assert_int_equal(a->fd, -1);
	assert_string_equal(a->ops->name, "mem");
	assert_int_equal(mig__stream_read(b, buf, sizeof(buf)), MIG__AGAIN);
	assert_int_equal(b->want, MIG__WANT_READ);
	assert_int_equal(mig__stream_write(a, "hello", 5), 5);
	assert_int_equal(mig__stream_write(b, "back", 4), 4);
	assert_int_equal(mig__stream_read(b, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(mig__stream_read(a, buf, 2), 2);
	assert_memory_equal(buf, "ba", 2);
	assert_int_equal(mig__stream_read(a, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "ck", 2);
	assert_int_equal(mig__stream_read(a, buf, sizeof(buf)), MIG__AGAIN);
	assert_int_equal(a->bytes_out, 5);
	assert_int_equal(a->bytes_in, 4);
	assert_int_equal(b->bytes_in, 5);
	assert_int_equal(b->bytes_out, 4);
	mig__stream_destroy(a);
	mig__stream_destroy(b);
}

static void test_mem_capacity(void **state)
{
	struct mig__stream *a, *b;
	char buf[32];

	(void)state;
	assert_int_equal(mig__stream_mem_pair(&a, &b, 10), 0);
	/* Short write at the bound, then MIG__AGAIN until it drains. */
	assert_int_equal(mig__stream_write(a, "0123456789abcdef", 16), 10);
	assert_int_equal(mig__stream_write(a, "x", 1), MIG__AGAIN);
	assert_int_equal(a->want, MIG__WANT_WRITE);
	assert_int_equal(a->error, 0);
	assert_int_equal(mig__stream_read(b, buf, 4), 4);
	assert_memory_equal(buf, "0123", 4);
	/* Wraps around the ring. */
	assert_int_equal(mig__stream_write(a, "ABCDEFGH", 8), 4);
	assert_int_equal(mig__stream_read(b, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "456789ABCD", 10);
	assert_int_equal(mig__stream_read(b, buf, sizeof(buf)), MIG__AGAIN);
	mig__stream_destroy(b);
	mig__stream_destroy(a);
}

static void test_mem_bulk(void **state)
{
	enum { TOTAL = 300000, CAP = 70000 };
	uint8_t *src = malloc(TOTAL), *dst = malloc(TOTAL);
	struct mig__stream *a, *b;
	size_t wr = 0, rd = 0, step = 1;

	(void)state;
	assert_non_null(src);
	assert_non_null(dst);
	for (size_t i = 0; i < TOTAL; i++)
		src[i] = (uint8_t)(i * 7 + i / 251);
	assert_int_equal(mig__stream_mem_pair(&a, &b, CAP), 0);
	/* Odd, growing sizes on both sides exercise growth and wrap. */
	while (rd < TOTAL) {
		size_t wlen = MIG__MIN(TOTAL - wr, step * 97 % 9000 + 1);
		size_t rlen = step * 131 % 7000 + 1;
		ssize_t n;

		if (wlen) {
			n = mig__stream_write(a, src + wr, wlen);
			assert_true(n > 0 || n == MIG__AGAIN);
			if (n > 0)
				wr += (size_t)n;
		}
		n = mig__stream_read(b, dst + rd, MIG__MIN(rlen, TOTAL - rd));
		assert_true(n > 0 || n == MIG__AGAIN);
		if (n > 0)
			rd += (size_t)n;
		step++;
	}
	assert_memory_equal(src, dst, TOTAL);
	assert_int_equal(a->bytes_out, TOTAL);
	assert_int_equal(b->bytes_in, TOTAL);
	mig__stream_destroy(a);
	mig__stream_destroy(b);
	free(src);
	free(dst);
}

static void test_mem_shutdown_eof(void **state)
{
	struct mig__stream *a, *b;
	char buf[16];

	(void)state;
	assert_int_equal(mig__stream_mem_pair(&a, &b, 64), 0);
	assert_int_equal(mig__stream_write(a, "last", 4), 4);
	assert_int_equal(mig__stream_shutdown(a), 0);
	/* Queued data first, then a clean EOF, again and again. */
	assert_int_equal(mig__stream_read(b, buf, sizeof(buf)), 4);
	assert_int_equal(mig__stream_read(b, buf, sizeof(buf)), 0);
	assert_int_equal(mig__stream_read(b, buf, sizeof(buf)), 0);
	/* Half close: the other direction still works. */
	assert_int_equal(mig__stream_write(b, "ack", 3), 3);
	assert_int_equal(mig__stream_read(a, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "ack", 3);
	/* Writing after our own shutdown is an error, and sticks. */
	assert_int_equal(mig__stream_write(a, "x", 1), -EPIPE);
	assert_int_equal(a->error, -EPIPE);
	assert_int_equal(mig__stream_read(a, buf, sizeof(buf)), -EPIPE);
	mig__stream_destroy(a);
	mig__stream_destroy(b);
}

/* Destroying `first` leaves `second` with the data, then EOF. */
static void check_destroy_order(int a_first)
{
	struct mig__stream *a, *b, *first, *second;
	char buf[16];

	assert_int_equal(mig__stream_mem_pair(&a, &b, 64), 0);
	first = a_first ? a : b;
	second = a_first ? b : a;
	assert_int_equal(mig__stream_write(first, "bye", 3), 3);
	assert_int_equal(mig__stream_write(second, "unread", 6), 6);
	mig__stream_destroy(first);
	assert_int_equal(mig__stream_read(second, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "bye", 3);
	assert_int_equal(mig__stream_read(second, buf, sizeof(buf)), 0);
	assert_int_equal(mig__stream_write(second, "x", 1), -EPIPE);
	assert_int_equal(second->error, -EPIPE);
	mig__stream_destroy(second);
}

static void test_mem_destroy_a_first(void **state)
{
	(void)state;
	check_destroy_order(1);
}

static void test_mem_destroy_b_first(void **state)
{
	(void)state;
	check_destroy_order(0);
}

static void test_mem_bad_capacity(void **state)
{
	struct mig__stream *a = NULL, *b = NULL;

	(void)state;
	assert_int_equal(mig__stream_mem_pair(&a, &b, 0), -EINVAL);
	assert_null(a);
	assert_null(b);
}

/* ---------------------------------------------------------------------- */
/* Read-only buffer                                                       */

static void test_buf_chunks(void **state)
{
	static const char data[] = "abcdefghij";
	struct mig__stream *s;
	char buf[16];

	(void)state;
	assert_int_equal(mig__stream_buf_new(&s, data, 10, 3), 0);
	assert_int_equal(s->fd, -1);
	assert_int_equal(mig__stream_read(s, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);
	/* A read smaller than the chunk takes what it asks for. */
	assert_int_equal(mig__stream_read(s, buf, 2), 2);
	assert_memory_equal(buf, "de", 2);
	assert_int_equal(mig__stream_read(s, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "fgh", 3);
	assert_int_equal(mig__stream_read(s, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "ij", 2);
	assert_int_equal(mig__stream_read(s, buf, sizeof(buf)), 0);
	assert_int_equal(mig__stream_read(s, buf, sizeof(buf)), 0);
	assert_int_equal(s->bytes_in, 10);
	assert_int_equal(s->error, 0);
	mig__stream_destroy(s);
}

static void test_buf_one_byte(void **state)
{
	static const char data[] = "xyz";
	struct mig__stream *s;
	char c;

	(void)state;
	assert_int_equal(mig__stream_buf_new(&s, data, 3, 1), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mig__stream_read(s, &c, 1), 1);
		assert_int_equal(c, data[i]);
	}
	assert_int_equal(mig__stream_read(s, &c, 1), 0);
	mig__stream_destroy(s);
}

static void test_buf_write_fails(void **state)
{
	static const char data[] = "abc";
	struct mig__stream *s;
	char buf[4];

	(void)state;
	assert_int_equal(mig__stream_buf_new(&s, data, 3, 8), 0);
	assert_int_equal(mig__stream_write(s, "x", 1), -EBADF);
	assert_int_equal(s->error, -EBADF);
	assert_true(s->error_text[0] != '\0');
	/* Sticky: the unread data is no longer reachable. */
	assert_int_equal(mig__stream_read(s, buf, sizeof(buf)), -EBADF);
	assert_int_equal(s->bytes_in, 0);
	mig__stream_destroy(s);
}

static void test_buf_empty_and_invalid(void **state)
{
	struct mig__stream *s;
	char buf[4];

	(void)state;
	assert_int_equal(mig__stream_buf_new(&s, NULL, 0, 4), 0);
	assert_int_equal(mig__stream_read(s, buf, sizeof(buf)), 0);
	mig__stream_destroy(s);
	assert_int_equal(mig__stream_buf_new(&s, "a", 1, 0), -EINVAL);
	assert_int_equal(mig__stream_buf_new(&s, NULL, 1, 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_again_not_sticky),
		cmocka_unit_test(test_sticky_error),
		cmocka_unit_test(test_sticky_keeps_backend_text),
		cmocka_unit_test(test_optional_ops),
		cmocka_unit_test(test_mem_basic),
		cmocka_unit_test(test_mem_capacity),
		cmocka_unit_test(test_mem_bulk),
		cmocka_unit_test(test_mem_shutdown_eof),
		cmocka_unit_test(test_mem_destroy_a_first),
		cmocka_unit_test(test_mem_destroy_b_first),
		cmocka_unit_test(test_mem_bad_capacity),
		cmocka_unit_test(test_buf_chunks),
		cmocka_unit_test(test_buf_one_byte),
		cmocka_unit_test(test_buf_write_fails),
		cmocka_unit_test(test_buf_empty_and_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
