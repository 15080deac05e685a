/*
 * mptable.c: MP specification 1.4 tables (see mptable.h). Written field by
 * field in little-endian order, so the layout is the specification's and
 * not whatever a compiler makes of a packed struct.
 */
#include "mptable.h"

#include <errno.h>
#include <string.h>

#define MP_SPEC_REV 4
#define MP_APIC_VERSION 0x14     /* an integrated local APIC */
#define MP_IOAPIC_VERSION 0x11
#define MP_ISA_IRQS 16

enum mp_entry_type {
	MP_PROCESSOR = 0,
	MP_BUS = 1,
	MP_IOAPIC = 2,
	MP_IOINTR = 3,
	MP_LINTR = 4,
};

enum mp_irq_type { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

#define MP_FLOATING_SIZE 16
#define MP_HEADER_SIZE 44
#define MP_PROCESSOR_SIZE 20
#define MP_SHORT_ENTRY_SIZE 8

struct writer {
	uint8_t *p;
	size_t len;
};

static void put8(struct writer *w, uint8_t v)
{
	w->p[w->len++] = v;
}

static void put16(struct writer *w, uint16_t v)
{
	put8(w, (uint8_t)v);
	put8(w, (uint8_t)(v >> 8));
}

static void put32(struct writer *w, uint32_t v)
{
	put16(w, (uint16_t)v);
	put16(w, (uint16_t)(v >> 16));
}

static void put_text(struct writer *w, const char *s, size_t width)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < width; i++)
		put8(w, i < n ? (uint8_t)s[i] : ' ');
}

/* The byte that makes the bytes of [p, p + len) sum to zero. */
static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

static void irq_entry(struct writer *w, uint8_t type, uint8_t kind,
		      uint8_t src_irq, uint8_t dst_apic, uint8_t dst_pin)
{
	put8(w, type);
	put8(w, kind);
	put16(w, 0);  /* polarity and trigger conform to the bus (ISA) */
	put8(w, 0);   /* source bus: the ISA bus, ID 0 */
	put8(w, src_irq);
	put8(w, dst_apic);
	put8(w, dst_pin);
}

int vmm_mptable_write(void *dst, size_t cap, uint32_t gpa,
		      const struct vmm_mp_cpu *cpus)
{
	/* Every ISA IRQ but 2 (the PIC cascade) goes to the I/O APIC. */
	const uint32_t io_irqs = MP_ISA_IRQS - 1;
	const uint32_t entries = cpus->count + 1 /* bus */ + 1 /* I/O APIC */ +
				 io_irqs + 2 /* LINT0, LINT1 */;
	struct writer w = { .p = dst, .len = 0 };
	size_t table_len, header;
	uint8_t ioapic_id;

	if (!cpus->count || cpus->count > 254)
		return -EINVAL;
	table_len = MP_HEADER_SIZE + cpus->count * MP_PROCESSOR_SIZE +
		    (entries - cpus->count) * MP_SHORT_ENTRY_SIZE;
	if (cap < MP_FLOATING_SIZE + table_len || table_len > UINT16_MAX || (gpa & 15))
		return -ENOSPC;
	ioapic_id = (uint8_t)cpus->count;
	memset(dst, 0, MP_FLOATING_SIZE + table_len);

	/* The floating pointer: where the table is; feature byte 1 = 0 says
	 * "a table follows", byte 2 bit 7 clear says virtual-wire mode (no
	 * IMCR to switch), which is what KVM's PIC and LAPIC give. */
	memcpy(w.p, "_MP_", 4);
	w.len = 4;
	put32(&w, gpa + MP_FLOATING_SIZE);
	put8(&w, 1);  /* length in 16-byte units */
	put8(&w, MP_SPEC_REV);
	w.len = MP_FLOATING_SIZE;
	w.p[10] = checksum(w.p, MP_FLOATING_SIZE);

	header = w.len;
	memcpy(w.p + w.len, "PCMP", 4);
	w.len += 4;
	put16(&w, (uint16_t)table_len);
	put8(&w, MP_SPEC_REV);
	put8(&w, 0);  /* checksum, below */
	put_text(&w, "VMMLITE", 8);
	put_text(&w, "KVM", 12);
	put32(&w, 0);  /* no OEM table */
	put16(&w, 0);
	put16(&w, (uint16_t)entries);
	put32(&w, VMM_LAPIC_ADDR);
	put16(&w, 0);  /* no extended table */
	put8(&w, 0);
	put8(&w, 0);

	for (uint32_t i = 0; i < cpus->count; i++) {
		put8(&w, MP_PROCESSOR);
		put8(&w, (uint8_t)i);  /* APIC ID = vCPU index, as CPUID says */
		put8(&w, MP_APIC_VERSION);
		put8(&w, (uint8_t)(1 | (i == 0 ? 2 : 0)));  /* enabled, boot CPU */
		put32(&w, cpus->signature);
		put32(&w, cpus->features);
		put32(&w, 0);
		put32(&w, 0);
	}
	put8(&w, MP_BUS);
	put8(&w, 0);
	put_text(&w, "ISA", 6);

	put8(&w, MP_IOAPIC);
	put8(&w, ioapic_id);
	put8(&w, MP_IOAPIC_VERSION);
	put8(&w, 1);  /* usable */
	put32(&w, VMM_IOAPIC_ADDR);

	for (uint8_t irq = 0; irq < MP_ISA_IRQS; irq++)
		if (irq != 2)
			irq_entry(&w, MP_IOINTR, MP_INT, irq, ioapic_id, irq);
	/* The PIC reaches every local APIC's LINT0 and NMI their LINT1,
	 * which is how vmm_linux_load programs the LVTs. */
	irq_entry(&w, MP_LINTR, MP_EXTINT, 0, 0xff, 0);
	irq_entry(&w, MP_LINTR, MP_NMI, 0, 0xff, 1);

	w.p[header + 7] = checksum(w.p + header, table_len);
	return (int)w.len;
}
