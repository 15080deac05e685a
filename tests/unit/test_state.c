/* test_state.c - machine state blobs: ownership, lookup, bounds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "state.h"

static void test_add_copies_and_finds(void **state)
{
	mig_state st;
	uint8_t data[100];
	const void *got;
	size_t len;
	enum mig_state_kind kind;
	uint32_t id;
	const char *name;

	(void)state;
	mig__state_init(&st);
	memset(data, 0xab, sizeof(data));
	assert_int_equal(mig_state_add(&st, MIG_STATE_VCPU, 3, "vcpu3", data,
				       sizeof(data)),
			 0);
	/* The state holds a copy: the caller's buffer may change. */
	memset(data, 0, sizeof(data));
	assert_int_equal(mig_state_count(&st), 1);
	assert_int_equal(mig_state_find(&st, MIG_STATE_VCPU, 3, &got, &len),
			 0);
	assert_int_equal(len, 100);
	assert_int_equal(((const uint8_t *)got)[99], 0xab);
	assert_int_equal(mig_state_get(&st, 0, &kind, &id, &name, NULL, NULL),
			 0);
	assert_int_equal(kind, MIG_STATE_VCPU);
	assert_int_equal(id, 3);
	assert_string_equal(name, "vcpu3");
	assert_int_equal(st.total_bytes, 100);
	assert_int_equal(mig_state_find(&st, MIG_STATE_DEVICE, 3, NULL, NULL),
			 -ENOENT);
	assert_int_equal(mig_state_get(&st, 1, NULL, NULL, NULL, NULL, NULL),
			 -ENOENT);
	mig__state_fini(&st);
	assert_int_equal(mig_state_count(&st), 0);
}

static void test_rejects(void **state)
{
	mig_state st;
	uint8_t b = 1;

	(void)state;
	mig__state_init(&st);
	assert_int_equal(mig_state_add(&st, MIG_STATE_DEVICE, 1, "uart", &b, 1),
			 0);
	/* The same kind and id twice would make a restore ambiguous. */
	assert_int_equal(mig_state_add(&st, MIG_STATE_DEVICE, 1, "uart", &b, 1),
			 -EEXIST);
	/* Another kind with the same id is a different blob. */
	assert_int_equal(mig_state_add(&st, MIG_STATE_VCPU, 1, "vcpu1", &b, 1),
			 0);
	assert_int_equal(mig_state_add(&st, (enum mig_state_kind)0, 2, "x",
				       &b, 1),
			 -EINVAL);
	assert_int_equal(mig_state_add(&st, (enum mig_state_kind)4, 2, "x",
				       &b, 1),
			 -EINVAL);
	assert_int_equal(mig_state_add(&st, MIG_STATE_VCPU, 9, "x", NULL, 5),
			 -EINVAL);
	assert_int_equal(mig_state_add(&st, MIG_STATE_VCPU, 9, "x", &b,
				       MIG_STATE_MAX_BLOB_SIZE + 1u),
			 -E2BIG);
	assert_int_equal(mig_state_count(&st), 2);
	mig__state_fini(&st);
}

static void test_count_bound_and_adopt(void **state)
{
	mig_state st;
	uint8_t *own;

	(void)state;
	mig__state_init(&st);
	for (uint32_t i = 0; i < MIG_STATE_MAX_BLOBS; i++)
		assert_int_equal(mig_state_add(&st, MIG_STATE_DEVICE, i, "d",
					       NULL, 0),
				 0);
	assert_int_equal(mig_state_add(&st, MIG_STATE_DEVICE, 99999, "d",
				       NULL, 0),
			 -E2BIG);
	/* On failure, an adopted buffer stays the caller's to free. */
	own = malloc(8);
	assert_non_null(own);
	assert_int_equal(mig__state_adopt(&st, MIG_STATE_VCPU, 0, "v", own, 8),
			 -E2BIG);
	free(own);
	mig__state_fini(&st);

	mig__state_init(&st);
	own = malloc(8);
	assert_non_null(own);
	assert_int_equal(mig__state_adopt(&st, MIG_STATE_VCPU, 0, "v", own, 8),
			 0);
	assert_int_equal(st.total_bytes, 8);
	mig__state_fini(&st); /* frees `own`: ASan would report a leak */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_copies_and_finds),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_count_bound_and_adopt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
