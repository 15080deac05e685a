/*
 * test_mptable.c: vmm-lite's MP tables as Linux's mpparse reads them:
 * checksums, the pointer to the table, one processor entry per vCPU with
 * the boot CPU flagged, the bus, the I/O APIC after the CPUs, ISA IRQs
 * on their own pins, and the limits.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mptable.h"

#define GPA 0xf0000u

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void table_for_cpus(uint32_t ncpus)
{
	struct vmm_mp_cpu cpus = { .count = ncpus, .signature = 0x860f01, .features = 0x178bfbff };
	uint8_t buf[8192];
	const uint8_t *t, *e;
	uint32_t seen_cpus = 0, seen_irqs = 0, seen_lint = 0, ioapic_id = 0xff;
	int n;

	memset(buf, 0xa5, sizeof(buf));
	n = vmm_mptable_write(buf, sizeof(buf), GPA, &cpus);
	assert_true(n > 16);
	assert_memory_equal(buf, "_MP_", 4);
	assert_int_equal(buf[8], 1);            /* 16 bytes */
	assert_int_equal(buf[9], 4);            /* spec 1.4 */
	assert_int_equal(sum(buf, 16), 0);
	assert_int_equal(le32(buf + 4), GPA + 16);
	assert_int_equal(buf[12] & 0x80, 0);    /* virtual-wire mode */

	t = buf + 16;
	assert_memory_equal(t, "PCMP", 4);
	assert_int_equal(le16(t + 4), n - 16);
	assert_int_equal(sum(t, le16(t + 4)), 0);
	assert_int_equal(le32(t + 36), VMM_LAPIC_ADDR);

	e = t + 44;
	for (uint16_t i = 0; i < le16(t + 34); i++) {
		assert_true(e < buf + n);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], seen_cpus);            /* APIC ID */
			assert_int_equal(e[3], seen_cpus ? 1 : 3);    /* enabled (+BSP) */
			assert_int_equal(le32(e + 4), cpus.signature);
			seen_cpus++;
			e += 20;
			break;
		case 1:
			assert_memory_equal(e + 2, "ISA   ", 6);
			e += 8;
			break;
		case 2:
			ioapic_id = e[1];
			assert_int_equal(e[3], 1);
			assert_int_equal(le32(e + 4), VMM_IOAPIC_ADDR);
			e += 8;
			break;
		case 3:
			assert_int_equal(e[6], ioapic_id);
			assert_int_equal(e[7], e[5]);   /* IRQ n on pin n */
			assert_int_not_equal(e[5], 2);  /* the cascade */
			seen_irqs++;
			e += 8;
			break;
		case 4:
			assert_int_equal(e[6], 0xff);   /* every local APIC */
			assert_int_equal(e[7], seen_lint);
			assert_int_equal(e[1], seen_lint ? 1 : 3);  /* NMI, ExtINT */
			seen_lint++;
			e += 8;
			break;
		default:
			fail_msg("entry type %u", e[0]);
		}
	}
	assert_ptr_equal(e, buf + n);
	assert_int_equal(seen_cpus, ncpus);
	assert_int_equal(ioapic_id, ncpus);
	assert_int_equal(seen_irqs, 15);
	assert_int_equal(seen_lint, 2);
	assert_int_equal(buf[n], 0xa5);  /* nothing written past the end */
}

static void test_one_cpu(void **state)
{
	(void)state;
	table_for_cpus(1);
}

static void test_many_cpus(void **state)
{
	(void)state;
	table_for_cpus(2);
	table_for_cpus(64);
	table_for_cpus(254);
}

static void test_limits(void **state)
{
	struct vmm_mp_cpu cpus = { .count = 2 };
	uint8_t buf[512];

	(void)state;
	assert_int_equal(vmm_mptable_write(buf, sizeof(buf), GPA, &cpus) > 0, 1);
	assert_int_equal(vmm_mptable_write(buf, 100, GPA, &cpus), -ENOSPC);
	assert_int_equal(vmm_mptable_write(buf, sizeof(buf), GPA + 8, &cpus), -ENOSPC);
	cpus.count = 0;
	assert_int_equal(vmm_mptable_write(buf, sizeof(buf), GPA, &cpus), -EINVAL);
	cpus.count = 255;
	assert_int_equal(vmm_mptable_write(buf, sizeof(buf), GPA, &cpus), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_many_cpus),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
