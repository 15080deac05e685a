/*
 * machine_state.h - the VM-wide state KVM keeps in the kernel: both PICs,
 * the IOAPIC, the PIT (KVM_GET_PIT2) and the KVM clock, saved into one blob
 * (state_blob.h format, magic "VMST", records of enum vmm_machine_tag,
 * each one KVM structure in the kernel's x86-64 layout).
 *
 * The VM must have its in-kernel irqchip and PIT2, and every vCPU must be
 * out of KVM_RUN.
 *
 * Guest time across the pause: the KVM clock does NOT advance while the
 * guest is paused or in flight (QEMU's default). The load sets the clock
 * to the value saved at the pause, so the guest sees no jump, only a halt;
 * its wall clock then lags by the downtime until NTP or an agent corrects
 * it. The guest TSC behaves the same way (MSR_IA32_TSC is restored to its
 * saved value by vcpu_state). KVM_CLOCK_REALTIME, which would advance the
 * clock by the host wall-clock time elapsed since the save, is not used:
 * it is only right when both hosts' clocks agree, and after a long pause
 * it gives the guest a large monotonic jump.
 */
#ifndef VMM_MACHINE_STATE_H
#define VMM_MACHINE_STATE_H

#include <stddef.h>

#define VMM_MACHINE_STATE_MAGIC 0x54534d56u /* "VMST" as little-endian bytes */
#define VMM_MACHINE_STATE_VERSION 1u

/* The record tags of a machine blob (part of the format: never renumber). */
enum vmm_machine_tag {
	VMM_MACHINE_TAG_PIC_MASTER = 1, /* struct kvm_pic_state */
	VMM_MACHINE_TAG_PIC_SLAVE = 2,  /* struct kvm_pic_state */
	VMM_MACHINE_TAG_IOAPIC = 3,     /* struct kvm_ioapic_state */
	VMM_MACHINE_TAG_PIT2 = 4,       /* struct kvm_pit_state2 */
	VMM_MACHINE_TAG_CLOCK = 5,      /* struct kvm_clock_data, as read */
};

/*
 * Saves the PICs, IOAPIC, PIT and KVM clock of the VM into a new blob
 * (*blob, *len; the caller frees). Call it at the pause: the clock value
 * read here is what the guest resumes with. Returns 0 or -errno.
 */
int vmm_machine_state_save(int vm_fd, void **blob, size_t *len);

/*
 * Loads a blob of vmm_machine_state_save into a new VM with its irqchip
 * and PIT2. The blob is hostile input, checked whole before the first
 * ioctl. Order: PIT, PIC master, PIC slave, IOAPIC, and the clock last.
 * Best called after every vCPU's state is loaded and right before the
 * vCPUs resume: KVM_SET_IRQCHIP re-delivers the IOAPIC's pending
 * level-triggered lines to the LAPICs, which should then already hold
 * their saved state, and the clock starts running at the load (the time
 * until the resume counts as guest time). Returns 0, -EINVAL for a
 * malformed blob or state KVM refuses, -EPROTONOSUPPORT for another
 * format version, or -errno.
 */
int vmm_machine_state_load(int vm_fd, const void *blob, size_t len);

#endif
