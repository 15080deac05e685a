/*
 * kvm.c - the KVM ioctl wrappers of kvm.h: each one is a single ioctl (two
 * where the kernel wants a size first) that turns -1/errno into -errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm.h"

#ifndef KVM_CAP_XSAVE2
#define KVM_CAP_XSAVE2 208
#endif
#ifndef KVM_GET_XSAVE2
#define KVM_GET_XSAVE2 _IOR(KVMIO, 0xcf, struct kvm_xsave)
#endif

/*
 * Bounds on what the kernel may ask us to allocate. KVM's own limits are
 * far lower (KVM_MAX_CPUID_ENTRIES is 256, the MSR index list holds a few
 * hundred); these only keep a confused kernel from making us overflow.
 */
#define CPUID_MAX_ENTRIES 4096u
#define MSR_LIST_MAX 16384u

/* The ioctl, with EINTR retried except for KVM_RUN, where it is the news
 * (a kick, or the end of an immediate_exit entry). */
static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do {
		r = ioctl(fd, req, arg);
	} while (r < 0 && errno == EINTR && req != KVM_RUN);
	return r < 0 ? -errno : r;
}

/* The same for an ioctl whose argument is a plain integer. */
static int xioctl_val(int fd, unsigned long req, unsigned long val)
{
	int r;

	do {
		r = ioctl(fd, req, val);
	} while (r < 0 && errno == EINTR && req != KVM_RUN);
	return r < 0 ? -errno : r;
}

/* ---- system ------------------------------------------------------------ */

int vmm_kvm_open(void)
{
	int fd, r;

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = xioctl_val(fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		close(fd);
		return r < 0 ? r : -EPROTO;
	}
	return fd;
}

int vmm_kvm_check_extension(int fd, long cap)
{
	return xioctl_val(fd, KVM_CHECK_EXTENSION, (unsigned long)cap);
}

int vmm_kvm_vcpu_mmap_size(int kvm_fd)
{
	int r = xioctl_val(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);

	return r == 0 ? -EIO : r;
}

int vmm_kvm_xsave_size(int fd)
{
	int r = vmm_kvm_check_extension(fd, KVM_CAP_XSAVE2);

	if (r < 0)
		return r;
	/* 0: a kernel before 5.17, where the area is always struct kvm_xsave. */
	return r < (int)sizeof(struct kvm_xsave) ? (int)sizeof(struct kvm_xsave) : r;
}

int vmm_kvm_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c;
	uint32_t n = 64;
	int r;

	/* KVM says only "too small" (E2BIG), never how big: grow until it fits. */
	for (;;) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		r = xioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c);
		if (r >= 0)
			break;
		free(c);
		if (r != -E2BIG || n >= CPUID_MAX_ENTRIES)
			return r;
		n *= 2;
	}
	if (c->nent > n) {
		free(c);
		return -EIO;
	}
	*out = c;
	return 0;
}

int vmm_kvm_msr_index_list(int kvm_fd, struct kvm_msr_list **out)
{
	struct kvm_msr_list probe = {.nmsrs = 0};
	struct kvm_msr_list *l;
	uint32_t n;
	int r;

	/* With nmsrs too small, KVM fails with E2BIG and stores the count. */
	r = xioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe);
	if (r < 0 && r != -E2BIG)
		return r;
	n = probe.nmsrs;
	if (n > MSR_LIST_MAX)
		return -EIO;
	l = calloc(1, sizeof(*l) + (n ? n : 1) * sizeof(l->indices[0]));
	if (!l)
		return -ENOMEM;
	l->nmsrs = n;
	if (n) {
		r = xioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l);
		if (r < 0 || l->nmsrs > n) {
			free(l);
			return r < 0 ? r : -EIO;
		}
	}
	*out = l;
	return 0;
}

/* ---- VM ------------------------------------------------------------------ */

int vmm_kvm_create_vm(int kvm_fd)
{
	return xioctl_val(kvm_fd, KVM_CREATE_VM, 0);
}

int vmm_kvm_enable_cap(int vm_fd, uint32_t cap, uint64_t arg0)
{
	struct kvm_enable_cap c = {.cap = cap, .args = {arg0}};
	int r = xioctl(vm_fd, KVM_ENABLE_CAP, &c);

	return r < 0 ? r : 0;
}

int vmm_kvm_set_tss_addr(int vm_fd, uint64_t addr)
{
	int r = xioctl_val(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)addr);

	return r < 0 ? r : 0;
}

int vmm_kvm_set_identity_map_addr(int vm_fd, uint64_t addr)
{
	int r = xioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &addr);

	return r < 0 ? r : 0;
}

int vmm_kvm_set_memory(int vm_fd, uint32_t slot, uint32_t flags, uint64_t gpa,
		       uint64_t size, void *host)
{
	struct kvm_userspace_memory_region m = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	int r = xioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &m);

	return r < 0 ? r : 0;
}

int vmm_kvm_create_irqchip(int vm_fd)
{
	int r = xioctl_val(vm_fd, KVM_CREATE_IRQCHIP, 0);

	return r < 0 ? r : 0;
}

int vmm_kvm_create_pit2(int vm_fd)
{
	/*
	 * Despite its name, KVM_PIT_SPEAKER_DUMMY is what makes KVM emulate
	 * port 0x61 in the kernel: channel 2's gate and output, which guests
	 * use to calibrate their TSC. Without it the port exits to us.
	 */
	struct kvm_pit_config c = {.flags = KVM_PIT_SPEAKER_DUMMY};
	int r = xioctl(vm_fd, KVM_CREATE_PIT2, &c);

	return r < 0 ? r : 0;
}

int vmm_kvm_irq_line(int vm_fd, uint32_t irq, int level)
{
	struct kvm_irq_level l = {.irq = irq, .level = level ? 1 : 0};
	int r = xioctl(vm_fd, KVM_IRQ_LINE, &l);

	return r < 0 ? r : 0;
}

/* The caller's struct straight through; the kernel's _IOR/_IOW numbers say
 * in which direction it is copied (const only casts away for the call). */
static int pass(int fd, unsigned long req, const void *p)
{
	int r = xioctl(fd, req, (void *)p);

	return r < 0 ? r : 0;
}

int vmm_kvm_get_irqchip(int vm_fd, struct kvm_irqchip *chip)
{
	return pass(vm_fd, KVM_GET_IRQCHIP, chip);
}

int vmm_kvm_set_irqchip(int vm_fd, const struct kvm_irqchip *chip)
{
	return pass(vm_fd, KVM_SET_IRQCHIP, chip);
}

int vmm_kvm_get_pit2(int vm_fd, struct kvm_pit_state2 *pit)
{
	return pass(vm_fd, KVM_GET_PIT2, pit);
}

int vmm_kvm_set_pit2(int vm_fd, const struct kvm_pit_state2 *pit)
{
	return pass(vm_fd, KVM_SET_PIT2, pit);
}

int vmm_kvm_get_clock(int vm_fd, struct kvm_clock_data *clock)
{
	return pass(vm_fd, KVM_GET_CLOCK, clock);
}

int vmm_kvm_set_clock(int vm_fd, const struct kvm_clock_data *clock)
{
	return pass(vm_fd, KVM_SET_CLOCK, clock);
}

/* ---- vCPU ---------------------------------------------------------------- */

int vmm_kvm_create_vcpu(int vm_fd, uint32_t id)
{
	return xioctl_val(vm_fd, KVM_CREATE_VCPU, id);
}

int vmm_kvm_map_run(int vcpu_fd, size_t size, struct kvm_run **out)
{
	void *p;

	if (size < sizeof(struct kvm_run))
		return -EINVAL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

int vmm_kvm_run(int vcpu_fd)
{
	int r = xioctl_val(vcpu_fd, KVM_RUN, 0);

	return r < 0 ? r : 0;
}

int vmm_kvm_set_cpuid2(int vcpu_fd, const struct kvm_cpuid2 *cpuid)
{
	return pass(vcpu_fd, KVM_SET_CPUID2, cpuid);
}

int vmm_kvm_get_regs(int vcpu_fd, struct kvm_regs *r)
{
	return pass(vcpu_fd, KVM_GET_REGS, r);
}

int vmm_kvm_set_regs(int vcpu_fd, const struct kvm_regs *r)
{
	return pass(vcpu_fd, KVM_SET_REGS, r);
}

int vmm_kvm_get_sregs(int vcpu_fd, struct kvm_sregs *s)
{
	return pass(vcpu_fd, KVM_GET_SREGS, s);
}

int vmm_kvm_set_sregs(int vcpu_fd, const struct kvm_sregs *s)
{
	return pass(vcpu_fd, KVM_SET_SREGS, s);
}

int vmm_kvm_get_fpu(int vcpu_fd, struct kvm_fpu *f)
{
	return pass(vcpu_fd, KVM_GET_FPU, f);
}

int vmm_kvm_set_fpu(int vcpu_fd, const struct kvm_fpu *f)
{
	return pass(vcpu_fd, KVM_SET_FPU, f);
}

int vmm_kvm_get_xsave(int vcpu_fd, struct kvm_xsave *x)
{
	return pass(vcpu_fd, KVM_GET_XSAVE, x);
}

int vmm_kvm_get_xsave2(int vcpu_fd, struct kvm_xsave *x)
{
	return pass(vcpu_fd, KVM_GET_XSAVE2, x);
}

int vmm_kvm_set_xsave(int vcpu_fd, const struct kvm_xsave *x)
{
	return pass(vcpu_fd, KVM_SET_XSAVE, x);
}

int vmm_kvm_get_xcrs(int vcpu_fd, struct kvm_xcrs *x)
{
	return pass(vcpu_fd, KVM_GET_XCRS, x);
}

int vmm_kvm_set_xcrs(int vcpu_fd, const struct kvm_xcrs *x)
{
	return pass(vcpu_fd, KVM_SET_XCRS, x);
}

int vmm_kvm_get_msrs(int vcpu_fd, struct kvm_msrs *m)
{
	return xioctl(vcpu_fd, KVM_GET_MSRS, m);
}

int vmm_kvm_set_msrs(int vcpu_fd, const struct kvm_msrs *m)
{
	return xioctl(vcpu_fd, KVM_SET_MSRS, (void *)m);
}

int vmm_kvm_get_lapic(int vcpu_fd, struct kvm_lapic_state *l)
{
	return pass(vcpu_fd, KVM_GET_LAPIC, l);
}

int vmm_kvm_set_lapic(int vcpu_fd, const struct kvm_lapic_state *l)
{
	return pass(vcpu_fd, KVM_SET_LAPIC, l);
}

int vmm_kvm_get_vcpu_events(int vcpu_fd, struct kvm_vcpu_events *e)
{
	return pass(vcpu_fd, KVM_GET_VCPU_EVENTS, e);
}

int vmm_kvm_set_vcpu_events(int vcpu_fd, const struct kvm_vcpu_events *e)
{
	return pass(vcpu_fd, KVM_SET_VCPU_EVENTS, e);
}

int vmm_kvm_get_mp_state(int vcpu_fd, struct kvm_mp_state *m)
{
	return pass(vcpu_fd, KVM_GET_MP_STATE, m);
}

int vmm_kvm_set_mp_state(int vcpu_fd, const struct kvm_mp_state *m)
{
	return pass(vcpu_fd, KVM_SET_MP_STATE, m);
}

int vmm_kvm_get_debugregs(int vcpu_fd, struct kvm_debugregs *d)
{
	return pass(vcpu_fd, KVM_GET_DEBUGREGS, d);
}

int vmm_kvm_set_debugregs(int vcpu_fd, const struct kvm_debugregs *d)
{
	return pass(vcpu_fd, KVM_SET_DEBUGREGS, d);
}

int vmm_kvm_get_tsc_khz(int vcpu_fd)
{
	int r = xioctl_val(vcpu_fd, KVM_GET_TSC_KHZ, 0);

	return r == 0 ? -EIO : r;
}

int vmm_kvm_set_tsc_khz(int vcpu_fd, uint32_t khz)
{
	int r = xioctl_val(vcpu_fd, KVM_SET_TSC_KHZ, khz);

	return r < 0 ? r : 0;
}

int vmm_kvm_kvmclock_ctrl(int vcpu_fd)
{
	int r = xioctl_val(vcpu_fd, KVM_KVMCLOCK_CTRL, 0);

	return r < 0 ? r : 0;
}
