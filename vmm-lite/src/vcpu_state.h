/*
 * vcpu_state.h - everything KVM keeps for one x86 vCPU, saved into a blob
 * on the source and loaded into a fresh vCPU on the target.
 *
 * The blob is the record format of state_blob.h with magic "VCPU" and the
 * records of enum vmm_vcpu_tag, each one KVM structure as the kernel's
 * x86-64 ABI lays it out (the target must be x86-64 too), except MSRS and
 * TSC_KHZ, which are our own little-endian layouts.
 *
 * Preconditions for both directions (the KVM API's, not ours):
 *  - every vCPU of the VM is out of KVM_RUN (KVM_GET/SET_VCPU_EVENTS and
 *    the MP state are not safe while another vCPU runs);
 *  - after an exit for port or MMIO I/O, the vCPU was entered once more
 *    with kvm_run->immediate_exit = 1 (KVM_RUN returns -EINTR): KVM
 *    finishes the instruction only on the next KVM_RUN, and that pending
 *    completion is in no state userspace can read. Saving without it
 *    replays or loses the instruction on the target.
 */
#ifndef VMM_VCPU_STATE_H
#define VMM_VCPU_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#define VMM_VCPU_STATE_MAGIC 0x55504356u /* "VCPU" as little-endian bytes */
#define VMM_VCPU_STATE_VERSION 1u
/* Most MSRs a vCPU blob (and a probe) holds; KVM lists a few hundred. */
#define VMM_VCPU_MSRS_MAX 1024u
/* Bounds of the XSAVE record: KVM's area is never smaller than struct
 * kvm_xsave, and with AMX it is about 11 KiB. */
#define VMM_VCPU_XSAVE_MIN 4096u
#define VMM_VCPU_XSAVE_MAX (256u << 10)

/* The record tags of a vCPU blob (part of the format: never renumber). */
enum vmm_vcpu_tag {
	VMM_VCPU_TAG_MP_STATE = 1,  /* struct kvm_mp_state */
	VMM_VCPU_TAG_REGS = 2,      /* struct kvm_regs */
	VMM_VCPU_TAG_SREGS = 3,     /* struct kvm_sregs */
	VMM_VCPU_TAG_XSAVE = 4,     /* KVM's XSAVE area, 4 KiB..256 KiB */
	VMM_VCPU_TAG_FPU = 5,       /* struct kvm_fpu, when KVM has no XSAVE */
	VMM_VCPU_TAG_XCRS = 6,      /* struct kvm_xcrs */
	VMM_VCPU_TAG_DEBUGREGS = 7, /* struct kvm_debugregs */
	VMM_VCPU_TAG_LAPIC = 8,     /* struct kvm_lapic_state */
	VMM_VCPU_TAG_MSRS = 9,      /* u32 n, u32 0, n x {u32 index, u32 0, u64 value} */
	VMM_VCPU_TAG_EVENTS = 10,   /* struct kvm_vcpu_events */
	VMM_VCPU_TAG_TSC_KHZ = 11,  /* u32 kHz; absent when KVM could not say */
};

/*
 * Which MSRs of `all` (KVM_GET_MSR_INDEX_LIST) this vCPU can read and also
 * write back: KVM lists MSRs that a given CPUID makes unreadable, and
 * KVM_GET_MSRS stops at the first one. Call once per VM, on a vCPU whose
 * CPUID is set and that has not run (it writes each value it read back).
 * On success *savable is a new allocation the caller frees. Returns 0,
 * -E2BIG if `all` has more than VMM_VCPU_MSRS_MAX entries, or -errno.
 */
int vmm_vcpu_msrs_probe(int vcpu_fd, const struct kvm_msr_list *all,
			struct kvm_msr_list **savable);

/*
 * Saves the vCPU into a new blob (*blob, *len; the caller frees): MP state,
 * regs, sregs, XSAVE (FPU when KVM has no XSAVE), XCRs, debug registers,
 * LAPIC, TSC frequency, the MSRs in `msrs` (NULL: none), vCPU events. See
 * the preconditions above. Opens /dev/kvm for a moment to learn the size
 * of KVM's XSAVE area (KVM_CAP_XSAVE2 is not asked on a vCPU fd). Returns
 * 0 or -errno (-EIO if an MSR of `msrs` cannot be read any more).
 */
int vmm_vcpu_state_save(int vcpu_fd, const struct kvm_msr_list *msrs,
			void **blob, size_t *len);

/*
 * Loads a blob of vmm_vcpu_state_save into a fresh vCPU whose CPUID was set
 * exactly as on the source, in the order explained in vcpu_state.c. The
 * blob is hostile input: it is checked whole before the first ioctl.
 * Returns 0; -EINVAL for a malformed blob or state KVM refuses (then the
 * vCPU is half loaded and must be discarded); -EPROTONOSUPPORT for another
 * format version; -EOPNOTSUPP when this host cannot take the state (XSAVE
 * components or a TSC frequency it lacks); other -errno from KVM.
 * The guest's kvmclock is told it was paused (KVM_KVMCLOCK_CTRL).
 */
int vmm_vcpu_state_load(int vcpu_fd, const void *blob, size_t len);

#endif
