/*
 * kvm.h: the only place vmm-lite talks to /dev/kvm. Every KVM ioctl the VMM
 * makes goes through one of these wrappers (kvm.c); nothing else in
 * vmm-lite includes <sys/ioctl.h> for KVM.
 *
 * Every function returns 0 (or a non-negative value where said) or a
 * negative errno. None of them print; callers report.
 */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

/* ---- system ---------------------------------------------------------- */

/* Opens /dev/kvm (O_RDWR|O_CLOEXEC) and checks KVM_GET_API_VERSION == 12.
 * Returns the fd, -ENOENT when there is no /dev/kvm, or -errno. */
int vmm_kvm_open(void);
/* KVM_CHECK_EXTENSION on a system or VM fd: the value (>= 0) or -errno. */
int vmm_kvm_check_extension(int fd, long cap);
/* KVM_GET_VCPU_MMAP_SIZE: the size (> 0) or -errno. */
int vmm_kvm_vcpu_mmap_size(int kvm_fd);
/* KVM_GET_SUPPORTED_CPUID into a new allocation the caller frees. */
int vmm_kvm_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out);
/* KVM_GET_MSR_INDEX_LIST into a new allocation the caller frees. */
int vmm_kvm_msr_index_list(int kvm_fd, struct kvm_msr_list **out);
/* The bytes KVM_GET_XSAVE2 writes and KVM_SET_XSAVE reads at most for any
 * vCPU of this process: KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) on a system or
 * VM fd, raised to sizeof(struct kvm_xsave) (4096) when the kernel predates
 * it. Added for vcpu_state.c. Returns the size (>= 4096) or -errno. */
int vmm_kvm_xsave_size(int fd);

/* ---- VM --------------------------------------------------------------- */

/* KVM_CREATE_VM (type 0): the VM fd or -errno. */
int vmm_kvm_create_vm(int kvm_fd);
/* KVM_ENABLE_CAP on a VM fd with args[0] = arg0. */
int vmm_kvm_enable_cap(int vm_fd, uint32_t cap, uint64_t arg0);
int vmm_kvm_set_tss_addr(int vm_fd, uint64_t addr);
int vmm_kvm_set_identity_map_addr(int vm_fd, uint64_t addr);
/* KVM_SET_USER_MEMORY_REGION; size 0 deletes the slot. */
int vmm_kvm_set_memory(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa,
		       uint64_t size, void *host);
int vmm_kvm_create_irqchip(int vm_fd);
/* KVM_CREATE_PIT2, with port 0x61 (PIT channel 2 gate and output) in KVM. */
int vmm_kvm_create_pit2(int vm_fd);
int vmm_kvm_irq_line(int vm_fd, uint32_t irq, int level);
/* chip_id: KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE or _IOAPIC. */
int vmm_kvm_get_irqchip(int vm_fd, struct kvm_irqchip *chip);
int vmm_kvm_set_irqchip(int vm_fd, const struct kvm_irqchip *chip);
int vmm_kvm_get_pit2(int vm_fd, struct kvm_pit_state2 *pit);
int vmm_kvm_set_pit2(int vm_fd, const struct kvm_pit_state2 *pit);
int vmm_kvm_get_clock(int vm_fd, struct kvm_clock_data *clock);
int vmm_kvm_set_clock(int vm_fd, const struct kvm_clock_data *clock);

/* ---- vCPU ------------------------------------------------------------- */

/* KVM_CREATE_VCPU: the vCPU fd or -errno. */
int vmm_kvm_create_vcpu(int vm_fd, uint32_t id);
/* mmap of the vCPU's struct kvm_run (size from vmm_kvm_vcpu_mmap_size). */
int vmm_kvm_map_run(int vcpu_fd, size_t size, struct kvm_run **out);
/* KVM_RUN. -EINTR when a signal kicked it out (immediate_exit or not). */
int vmm_kvm_run(int vcpu_fd);
int vmm_kvm_set_cpuid2(int vcpu_fd, const struct kvm_cpuid2 *cpuid);
int vmm_kvm_get_regs(int vcpu_fd, struct kvm_regs *r);
int vmm_kvm_set_regs(int vcpu_fd, const struct kvm_regs *r);
int vmm_kvm_get_sregs(int vcpu_fd, struct kvm_sregs *s);
int vmm_kvm_set_sregs(int vcpu_fd, const struct kvm_sregs *s);
int vmm_kvm_get_fpu(int vcpu_fd, struct kvm_fpu *f);
int vmm_kvm_set_fpu(int vcpu_fd, const struct kvm_fpu *f);
int vmm_kvm_get_xsave(int vcpu_fd, struct kvm_xsave *x);
/* KVM_GET_XSAVE2: x must have vmm_kvm_xsave_size() bytes (the kernel writes
 * its whole area, whatever the struct says). Added for vcpu_state.c. */
int vmm_kvm_get_xsave2(int vcpu_fd, struct kvm_xsave *x);
/* KVM_SET_XSAVE reads the vCPU's whole area, which may exceed 4096 bytes:
 * x must have vmm_kvm_xsave_size() bytes. */
int vmm_kvm_set_xsave(int vcpu_fd, const struct kvm_xsave *x);
int vmm_kvm_get_xcrs(int vcpu_fd, struct kvm_xcrs *x);
int vmm_kvm_set_xcrs(int vcpu_fd, const struct kvm_xcrs *x);
/* KVM_GET_MSRS/KVM_SET_MSRS: the number of MSRs processed (>= 0). */
int vmm_kvm_get_msrs(int vcpu_fd, struct kvm_msrs *m);
int vmm_kvm_set_msrs(int vcpu_fd, const struct kvm_msrs *m);
int vmm_kvm_get_lapic(int vcpu_fd, struct kvm_lapic_state *l);
int vmm_kvm_set_lapic(int vcpu_fd, const struct kvm_lapic_state *l);
int vmm_kvm_get_vcpu_events(int vcpu_fd, struct kvm_vcpu_events *e);
int vmm_kvm_set_vcpu_events(int vcpu_fd, const struct kvm_vcpu_events *e);
int vmm_kvm_get_mp_state(int vcpu_fd, struct kvm_mp_state *m);
int vmm_kvm_set_mp_state(int vcpu_fd, const struct kvm_mp_state *m);
int vmm_kvm_get_debugregs(int vcpu_fd, struct kvm_debugregs *d);
int vmm_kvm_set_debugregs(int vcpu_fd, const struct kvm_debugregs *d);
/* KVM_GET_TSC_KHZ: the vCPU's TSC frequency (> 0) or -errno. Added for
 * vcpu_state.c. */
int vmm_kvm_get_tsc_khz(int vcpu_fd);
/* KVM_SET_TSC_KHZ (needs KVM_CAP_TSC_CONTROL): scales the guest TSC. */
int vmm_kvm_set_tsc_khz(int vcpu_fd, uint32_t khz);
/* KVM_KVMCLOCK_CTRL: tells the guest's kvmclock it was paused. */
int vmm_kvm_kvmclock_ctrl(int vcpu_fd);

#endif
