/*
 * vstate_guest.h - the KVM test VMs of test_vmm_state.c, built with
 * vmm-lite's kvm.c wrappers only: RAM, in-kernel irqchip and PIT2, two
 * vCPUs with KVM's supported CPUID, and a small 32-bit guest that counts in
 * memory, in EBX and in XMM1, and reports every VG_OUT_EVERY iterations
 * with an OUT. Every helper fails the running cmocka test on an error.
 */
#ifndef VSTATE_GUEST_H
#define VSTATE_GUEST_H

#include <stdint.h>

#include <linux/kvm.h>

#define VG_NVCPU 2
#define VG_RAM_SIZE (2u << 20)
#define VG_DATA_GPA 0x5000u /* + 0x100 per vCPU: counter at +0, XMM1 at +16 */
#define VG_OUT_EVERY 0x1000u /* loop iterations between two OUTs */
#define VG_MSR_IA32_TSC 0x10u

/* One test VM; last_out[i] is the value of vCPU i's last OUT (0: none). */
struct vg_vm {
	int vm_fd;
	uint8_t *ram;
	int fd[VG_NVCPU];
	struct kvm_run *run[VG_NVCPU];
	uint32_t last_out[VG_NVCPU];
};


extern int vg_kvm_fd;               /* /dev/kvm, from vg_env_open */
extern struct kvm_cpuid2 *vg_cpuid; /* KVM_GET_SUPPORTED_CPUID */

/* Opens /dev/kvm and checks what the VMs need; 0, or -1 with a message. */
int vg_env_open(void);
void vg_env_close(void);

uint32_t vg_rd32(const void *p);
uint64_t vg_rd64(const void *p);
/* The XCR0 the guest gets: x87 and SSE, plus AVX when KVM offers it. */
uint64_t vg_guest_xcr0(void);

/* A VM with no guest yet: vCPUs have CPUID (APIC IDs 0..) and nothing else. */
void vg_vm_create(struct vg_vm *t);
void vg_vm_destroy(struct vg_vm *t);
/*
 * The guest and its starting state on every vCPU: 32-bit protected mode,
 * IF=0, XMM2 = 1, MXCSR round-toward-zero, XCR0, debug registers with an
 * execute breakpoint that is never reached, a TSC of 2^40, RUNNABLE. On
 * its first instructions the guest arms its LAPIC timer (vector 0x40,
 * one-shot): for about 9 minutes on vCPU 0, for 1 us on vCPU 1 (which then
 * stays pending in the IRR, IF being 0).
 */
void vg_guest_setup(struct vg_vm *t);
/* Runs vCPU i through n OUT exits, checking its three counters at each. */
void vg_run_outs(struct vg_vm *t, uint32_t i, int n);
/* Re-enters vCPU i with immediate_exit so that KVM completes the OUT. */
void vg_complete_io(struct vg_vm *t, uint32_t i);

#endif
