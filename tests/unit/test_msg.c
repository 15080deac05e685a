/*
 * test_msg.c - the protocol messages after the handshake (round end,
 * final state, the one-number messages, errors) and hostile input common
 * to all; HELLO and HELLO_REPLY are in test_msg_hello.c.
 */
#include "msg_test.h"

/* ---------------------------------------------------------------------- */
/* ROUND_END, u64 messages                                                */

static void test_round_end_roundtrip(void **state)
{
	struct mig__round_end re = { 7, 1000000, 4096000000ull }, re2;
	struct built b;

	(void)state;
	assert_int_equal(mig__round_end_frame(&re, &b.buf, &b.len), 0);
	built_frame(&b, MIG__F_ROUND_END);
	assert_int_equal(mig__round_end_parse(&b.f, &re2), 0);
	assert_int_equal(re2.round, 7);
	assert_int_equal(re2.pages, 1000000);
	assert_int_equal(re2.bytes, 4096000000ull);
	free(b.buf);

	re = (struct mig__round_end){ UINT32_MAX, UINT64_MAX, UINT64_MAX };
	assert_int_equal(mig__round_end_frame(&re, &b.buf, &b.len), 0);
	built_frame(&b, MIG__F_ROUND_END);
	assert_int_equal(mig__round_end_parse(&b.f, &re2), 0);
	assert_int_equal(re2.round, UINT32_MAX);
	assert_int_equal(re2.pages, UINT64_MAX);
	assert_int_equal(re2.bytes, UINT64_MAX);
	free(b.buf);
}

static void test_u64_roundtrip(void **state)
{
	static const struct {
		uint16_t type;
		uint64_t in, out;
	} cases[] = {
		{ MIG__F_GUEST_CREATED, 8ull << 30, 8ull << 30 },
		{ MIG__F_READY, 123456, 123456 },
		{ MIG__F_READY, UINT64_MAX, UINT64_MAX },
		{ MIG__F_COMMIT, 99, 0 },
		{ MIG__F_RUNNING, 5, 0 },
	};

	(void)state;
	for (size_t i = 0; i < MIG__ARRAY_SIZE(cases); i++) {
		struct built b;
		uint64_t v = 42;

		ASSERT_OK(mig__u64_msg_frame(cases[i].type, cases[i].in,
					     &b.buf, &b.len));
		built_frame(&b, cases[i].type);
		assert_int_equal(mig__u64_msg_parse(&b.f, &v), 0);
		assert_int_equal(v, cases[i].out);
		free(b.buf);
	}
}

static void test_u64_bad_type(void **state)
{
	uint8_t *buf = NULL;
	size_t len;

	(void)state;
	assert_int_equal(mig__u64_msg_frame(MIG__F_HELLO, 1, &buf, &len),
			 -EINVAL);
	assert_int_equal(mig__u64_msg_frame(MIG__F_ERROR, 1, &buf, &len),
			 -EINVAL);
	assert_int_equal(mig__u64_msg_frame(0, 1, &buf, &len), -EINVAL);
	assert_null(buf);
}

/* ---------------------------------------------------------------------- */
/* FINAL_STATE                                                            */

static void test_final_state_roundtrip(void **state)
{
	static uint8_t big[100000];
	mig_state st, st2;
	uint64_t pages = 0;
	uint32_t rounds = 0;
	struct built b;

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i ^ (i >> 8));
	mig__state_init(&st);
	ASSERT_OK(mig_state_add(&st, MIG_STATE_VCPU, 0, "cpu0", "r0", 2));
	ASSERT_OK(mig_state_add(&st, MIG_STATE_VCPU, 1, "cpu1", "r1!", 3));
	ASSERT_OK(mig_state_add(&st, MIG_STATE_DEVICE, 0, "serial", NULL, 0));
	ASSERT_OK(mig_state_add(&st, MIG_STATE_MACHINE, 0, "irqchip", big,
				sizeof(big)));
	ASSERT_OK(mig__final_state_frame(&st, 777, 5, &b.buf, &b.len));
	built_frame(&b, MIG__F_FINAL_STATE);
	mig__state_init(&st2);
	ASSERT_OK(mig__final_state_parse(&b.f, &st2, &pages, &rounds));
	assert_int_equal(pages, 777);
	assert_int_equal(rounds, 5);
	assert_int_equal(mig_state_count(&st2), 4);
	assert_int_equal(st2.total_bytes, st.total_bytes);
	for (size_t i = 0; i < 4; i++) {
		enum mig_state_kind k1, k2;
		uint32_t id1, id2;
		const char *n1, *n2;
		const void *d1, *d2;
		size_t l1, l2;

		ASSERT_OK(mig_state_get(&st, i, &k1, &id1, &n1, &d1, &l1));
		ASSERT_OK(mig_state_get(&st2, i, &k2, &id2, &n2, &d2, &l2));
		assert_int_equal(k1, k2);
		assert_int_equal(id1, id2);
		assert_string_equal(n1, n2);
		assert_int_equal(l1, l2);
		assert_non_null(d2);
		if (l1)
			assert_memory_equal(d1, d2, l1);
	}
	free(b.buf);
	mig__state_fini(&st2);

	/* A state with no blobs at all. */
	mig__state_fini(&st);
	assert_int_equal(mig__final_state_frame(&st, 0, 0, &b.buf, &b.len), 0);
	built_frame(&b, MIG__F_FINAL_STATE);
	ASSERT_OK(mig__final_state_parse(&b.f, &st2, &pages, &rounds));
	assert_int_equal(mig_state_count(&st2), 0);
	assert_int_equal(pages, 0);
	free(b.buf);

	/* The parse wants an empty state. */
	ASSERT_OK(mig_state_add(&st2, MIG_STATE_VCPU, 0, "x", "x", 1));
	assert_int_equal(mig__final_state_frame(&st, 0, 0, &b.buf, &b.len), 0);
	built_frame(&b, MIG__F_FINAL_STATE);
	assert_int_equal(mig__final_state_parse(&b.f, &st2, &pages, &rounds),
			 -EINVAL);
	assert_int_equal(mig_state_count(&st2), 1);
	free(b.buf);
	mig__state_fini(&st2);
}

/* Parses a FINAL_STATE of `n` raw blobs; the state must end up empty. */
static int raw_state_parse(Mig__V1__StateBlob **blobs, size_t n)
{
	Mig__V1__FinalState m = MIG__V1__FINAL_STATE__INIT;
	uint64_t pages;
	uint32_t rounds;
	struct built b;
	mig_state st;
	int rc;

	m.n_blobs = n;
	m.blobs = blobs;
	raw_frame(&b, MIG__F_FINAL_STATE, &m);
	mig__state_init(&st);
	rc = mig__final_state_parse(&b.f, &st, &pages, &rounds);
	if (rc < 0)
		assert_int_equal(mig_state_count(&st), 0);
	mig__state_fini(&st);
	free(b.buf);
	return rc;
}

static void test_final_state_invalid(void **state)
{
	static char long_name[MIG_NAME_MAX + 1];
	Mig__V1__StateBlob b[2], *bp[2] = { &b[0], &b[1] };
	uint8_t *huge;

	(void)state;
	memset(long_name, 'n', MIG_NAME_MAX);
	for (int i = 0; i < 2; i++) {
		mig__v1__state_blob__init(&b[i]);
		b[i].kind = MIG_STATE_VCPU;
		b[i].id = (uint32_t)i;
		b[i].name = "cpu";
		b[i].data.data = (uint8_t *)"abcd";
		b[i].data.len = 4;
	}
	assert_int_equal(raw_state_parse(bp, 2), 0);

	b[1].kind = 0;
	assert_int_equal(raw_state_parse(bp, 2), MIG_EDECODE);
	b[1].kind = 4;
	assert_int_equal(raw_state_parse(bp, 2), MIG_EDECODE);
	b[1].kind = MIG_STATE_VCPU;
	b[1].id = 0; /* same (kind, id) twice */
	assert_int_equal(raw_state_parse(bp, 2), MIG_EDECODE);
	b[1].kind = MIG_STATE_DEVICE; /* same id, other kind: fine */
	assert_int_equal(raw_state_parse(bp, 2), 0);
	b[1].name = long_name;
	assert_int_equal(raw_state_parse(bp, 2), MIG_EDECODE);
	long_name[MIG_NAME_MAX - 1] = '\0';
	assert_int_equal(raw_state_parse(bp, 2), 0);

	huge = calloc(1, MIG_STATE_MAX_BLOB_SIZE + 1);
	assert_non_null(huge);
	b[1].data.data = huge;
	b[1].data.len = MIG_STATE_MAX_BLOB_SIZE + 1;
	assert_int_equal(raw_state_parse(bp, 2), MIG_EDECODE);
	b[1].data.len = MIG_STATE_MAX_BLOB_SIZE;
	assert_int_equal(raw_state_parse(bp, 2), 0);
	free(huge);
}

static void test_final_state_too_many(void **state)
{
	size_t n = MIG_STATE_MAX_BLOBS + 1;
	Mig__V1__StateBlob *b = calloc(n, sizeof(*b));
	Mig__V1__StateBlob **bp = calloc(n, sizeof(*bp));

	(void)state;
	assert_non_null(b);
	assert_non_null(bp);
	for (size_t i = 0; i < n; i++) {
		mig__v1__state_blob__init(&b[i]);
		b[i].kind = MIG_STATE_DEVICE;
		b[i].id = (uint32_t)i;
		bp[i] = &b[i];
	}
	assert_int_equal(raw_state_parse(bp, n - 1), 0);
	assert_int_equal(raw_state_parse(bp, n), MIG_EDECODE);
	free(bp);
	free(b);
}

/* A name with a NUL inside is not a name. */
static void test_final_state_nul_name(void **state)
{
	Mig__V1__StateBlob b, *bp = &b;
	Mig__V1__FinalState m = MIG__V1__FINAL_STATE__INIT;
	mig_state st;
	uint64_t pages;
	uint32_t rounds;
	struct built bb;
	uint8_t *p;

	(void)state;
	mig__v1__state_blob__init(&b);
	b.kind = MIG_STATE_MACHINE;
	b.name = "clk@";
	m.n_blobs = 1;
	m.blobs = &bp;
	raw_frame(&bb, MIG__F_FINAL_STATE, &m);
	p = memmem(bb.buf, bb.len, "clk@", 4);
	assert_non_null(p);
	p[3] = '\0';
	mig__state_init(&st);
	assert_int_equal(mig__final_state_parse(&bb.f, &st, &pages, &rounds),
			 MIG_EDECODE);
	assert_int_equal(mig_state_count(&st), 0);
	free(bb.buf);
}

/* ---------------------------------------------------------------------- */
/* ABORT, ERROR                                                           */

static void test_error_roundtrip(void **state)
{
	char text[MIG__TEXT_MAX];
	struct built b;
	int code = 1;

	(void)state;
	ASSERT_OK(mig__error_frame(MIG__F_ERROR, MIG_ESHAPE,
				   "guest shape mismatch", &b.buf, &b.len));
	built_frame(&b, MIG__F_ERROR);
	assert_int_equal(mig__error_parse(&b.f, &code, text, sizeof(text)), 0);
	assert_int_equal(code, MIG_ESHAPE);
	assert_string_equal(text, "guest shape mismatch");
	/* A small buffer gets a cut, terminated text. */
	assert_int_equal(mig__error_parse(&b.f, &code, text, 6), 0);
	assert_string_equal(text, "guest");
	free(b.buf);

	ASSERT_OK(mig__error_frame(MIG__F_ABORT, -EIO, "cancelled", &b.buf,
				   &b.len));
	built_frame(&b, MIG__F_ABORT);
	assert_int_equal(mig__error_parse(&b.f, &code, text, sizeof(text)), 0);
	assert_int_equal(code, 0);
	assert_string_equal(text, "cancelled");
	free(b.buf);

	ASSERT_OK(mig__error_frame(MIG__F_ERROR, -ENOMEM, NULL, &b.buf,
				   &b.len));
	built_frame(&b, MIG__F_ERROR);
	strcpy(text, "junk");
	assert_int_equal(mig__error_parse(&b.f, &code, text, sizeof(text)), 0);
	assert_int_equal(code, -ENOMEM);
	assert_string_equal(text, "");
	free(b.buf);
}

static void test_error_long_text(void **state)
{
	char *long_text = malloc(5000);
	char text[2 * MIG__TEXT_MAX];
	struct built b;
	int code;

	(void)state;
	assert_non_null(long_text);
	memset(long_text, 'e', 4999);
	long_text[4999] = '\0';
	ASSERT_OK(mig__error_frame(MIG__F_ERROR, MIG_EPEER, long_text,
				   &b.buf, &b.len));
	built_frame(&b, MIG__F_ERROR);
	assert_true(b.len < 2 * MIG__TEXT_MAX);
	assert_int_equal(mig__error_parse(&b.f, &code, text, sizeof(text)), 0);
	assert_int_equal(strlen(text), MIG__TEXT_MAX - 1);
	free(b.buf);
	free(long_text);
	assert_int_equal(mig__error_frame(MIG__F_READY, 0, "x", &b.buf,
					  &b.len),
			 -EINVAL);
}

static void test_error_raw(void **state)
{
	Mig__V1__Error m = MIG__V1__ERROR__INIT;
	char text[64];
	struct built b;
	int code;
	uint8_t *p;

	(void)state;
	m.code = 5; /* not an error code */
	m.text = "why@";
	raw_frame(&b, MIG__F_ERROR, &m);
	assert_int_equal(mig__error_parse(&b.f, &code, text, sizeof(text)),
			 MIG_EDECODE);
	free(b.buf);
	/* A NUL in a text for the user is not worth losing the error. */
	m.code = MIG_ETLS;
	raw_frame(&b, MIG__F_ERROR, &m);
	p = memmem(b.buf, b.len, "why@", 4);
	assert_non_null(p);
	p[1] = '\0';
	assert_int_equal(mig__error_parse(&b.f, &code, text, sizeof(text)), 0);
	assert_int_equal(code, MIG_ETLS);
	assert_string_equal(text, "w");
	free(b.buf);
}

/* ---------------------------------------------------------------------- */
/* Wrong frames, garbage                                                  */

/* Runs every parser on `f`; each result goes into rc[]. */
static void parse_all(const struct mig__frame *f, int rc[6])
{
	struct mig__hello h;
	struct mig__hello_reply r;
	struct mig__round_end re;
	mig_state st;
	uint64_t v, pages;
	uint32_t rounds;
	char text[32];
	int code;

	rc[0] = mig__hello_parse(f, &h);
	if (!rc[0])
		mig__hello_fini(&h);
	rc[1] = mig__hello_reply_parse(f, &r);
	rc[2] = mig__round_end_parse(f, &re);
	mig__state_init(&st);
	rc[3] = mig__final_state_parse(f, &st, &pages, &rounds);
	mig__state_fini(&st);
	rc[4] = mig__u64_msg_parse(f, &v);
	rc[5] = mig__error_parse(f, &code, text, sizeof(text));
}

static void test_wrong_type(void **state)
{
	static const uint16_t parser_type[6] = {
		MIG__F_HELLO, MIG__F_HELLO_REPLY, MIG__F_ROUND_END,
		MIG__F_FINAL_STATE, MIG__F_READY, MIG__F_ERROR,
	};
	struct mig__frame f = { 0 };
	int rc[6];

	(void)state;
	/* An empty body parses as any message: only the type can fail. */
	for (uint16_t t = 0; t <= MIG__F_COUNT; t++) {
		f.type = t;
		parse_all(&f, rc);
		for (int i = 0; i < 6; i++) {
			int ok_type = t == parser_type[i];

			if (i == 4)
				ok_type = t == MIG__F_GUEST_CREATED ||
					  t == MIG__F_READY ||
					  t == MIG__F_COMMIT ||
					  t == MIG__F_RUNNING;
			if (i == 5)
				ok_type = t == MIG__F_ERROR ||
					  t == MIG__F_ABORT;
			if (ok_type && i == 0)
				assert_int_equal(rc[i], MIG_EDECODE);
			else if (ok_type)
				assert_int_equal(rc[i], 0);
			else
				assert_int_equal(rc[i], MIG_EUNEXPECTED);
		}
	}
}

static void test_garbage(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
	} bad[] = {
		{ "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11 },
		{ "\x08", 1 },                 /* varint cut */
		{ "\x0b\x00", 2 },             /* group start */
		{ "\x0f", 1 },                 /* wire type 7 */
		{ "\x12\x7f" "abc", 5 },       /* length past the end */
		{ "\x11\x01\x02", 3 },         /* fixed64 cut */
		{ "\x00\x01", 2 },             /* field number 0 */
	};
	static const uint16_t types[] = {
		MIG__F_HELLO, MIG__F_HELLO_REPLY, MIG__F_ROUND_END,
		MIG__F_FINAL_STATE, MIG__F_GUEST_CREATED, MIG__F_READY,
		MIG__F_COMMIT, MIG__F_RUNNING, MIG__F_ABORT, MIG__F_ERROR,
	};
	struct mig__frame f = { 0 };
	int rc[6];

	(void)state;
	for (size_t i = 0; i < MIG__ARRAY_SIZE(bad); i++) {
		for (size_t t = 0; t < MIG__ARRAY_SIZE(types); t++) {
			f.type = types[t];
			f.len = (uint32_t)bad[i].len;
			f.body = (uint8_t *)bad[i].bytes;
			parse_all(&f, rc);
			for (int p = 0; p < 6; p++)
				if (rc[p] != MIG_EUNEXPECTED &&
				    rc[p] != MIG_EDECODE)
					fail_msg("garbage %zu type %u parser "
						 "%d: %d",
						 i, types[t], p, rc[p]);
		}
	}
	/* A length without its body. */
	f.type = MIG__F_READY;
	f.len = 4;
	f.body = NULL;
	parse_all(&f, rc);
	assert_int_equal(rc[4], MIG_EDECODE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_end_roundtrip),
		cmocka_unit_test(test_u64_roundtrip),
		cmocka_unit_test(test_u64_bad_type),
		cmocka_unit_test(test_final_state_roundtrip),
		cmocka_unit_test(test_final_state_invalid),
		cmocka_unit_test(test_final_state_too_many),
		cmocka_unit_test(test_final_state_nul_name),
		cmocka_unit_test(test_error_roundtrip),
		cmocka_unit_test(test_error_long_text),
		cmocka_unit_test(test_error_raw),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
