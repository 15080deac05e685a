/*
 * mptable.h: the Intel MultiProcessor Specification 1.4 tables that tell
 * a guest without ACPI how many CPUs it has, where its I/O APIC is and
 * how the ISA interrupts reach it. Linux reads them to start its
 * application processors and to route IRQs through the I/O APIC.
 */
#ifndef VMM_MPTABLE_H
#define VMM_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#define VMM_LAPIC_ADDR 0xfee00000u
#define VMM_IOAPIC_ADDR 0xfec00000u

/* What the processor entries carry (CPUID leaf 1's EAX and EDX). */
struct vmm_mp_cpu {
	uint32_t count;       /* vCPUs, APIC IDs 0..count-1; vCPU 0 boots */
	uint32_t signature;   /* family/model/stepping */
	uint32_t features;    /* feature flags */
};

/*
 * Writes the floating pointer and, right after it, the configuration
 * table into `dst`, which the guest sees at guest-physical `gpa` (16-byte
 * aligned, below 1 MiB so the guest's scan finds it). The I/O APIC gets
 * the ID after the last CPU; ISA IRQ n goes to its pin n, which is how
 * KVM's default routing wires the in-kernel PIC and I/O APIC. Returns
 * the bytes written, or -ENOSPC if `cap` is too small or -EINVAL for a
 * CPU count the table cannot express (0 or more than 254).
 */
int vmm_mptable_write(void *dst, size_t cap, uint32_t gpa,
		      const struct vmm_mp_cpu *cpus);

#endif
