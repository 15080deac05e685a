/*
 * vstate_guest.c - the test VMs and guest of vstate_guest.h.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvm.h"
#include "vstate_guest.h"

#define GDT_GPA 0x1000u
#define CODE_GPA 0x2000u
#define BREAK_GPA 0x1ff000u
#define OUT_PORT 0x10

/*
 * .code32, entered with ECX = APIC timer divide, EDI = initial count,
 * ESI = data area, EBX = 0, XMM2 = {1, 0}:
 *	fldpi
 *	movl $0x1ff, 0xfee000f0		; SVR: APIC on, spurious vector 0xff
 *	movl %ecx, 0xfee003e0		; timer divide
 *	movl $0x40, 0xfee00320		; LVT timer: vector 0x40, one-shot
 *	movl %edi, 0xfee00380		; initial count: starts the timer
 * loop: incl (%esi) ; incl %ebx ; paddq %xmm2, %xmm1
 *	testl $0xfff, %ebx ; jnz loop
 *	movdqu %xmm1, 16(%esi) ; movl %ebx, %eax ; outl %eax, $0x10 ; jmp loop
 */
static const uint8_t guest_code[] = {
	0xd9, 0xeb, 0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00,
	0x89, 0x0d, 0xe0, 0x03, 0xe0, 0xfe, 0xc7, 0x05, 0x20, 0x03, 0xe0, 0xfe,
	0x40, 0x00, 0x00, 0x00, 0x89, 0x3d, 0x80, 0x03, 0xe0, 0xfe, 0xff, 0x06,
	0x43, 0x66, 0x0f, 0xd4, 0xca, 0xf7, 0xc3, 0xff, 0x0f, 0x00, 0x00, 0x75,
	0xf1, 0xf3, 0x0f, 0x7f, 0x4e, 0x10, 0x89, 0xd8, 0xe7, 0x10, 0xeb, 0xe6,
};
#define AFTER_OUT 0x3au /* offset of the jmp after the OUT */

/* Null, flat code, flat data, 32-bit TSS (busy). */
static const uint64_t gdt[] = {
	0, 0x00cf9b000000ffffull, 0x00cf93000000ffffull, 0x00008b0000000067ull,
};

int vg_kvm_fd = -1;
struct kvm_cpuid2 *vg_cpuid;
static int vg_run_size;

static void on_alarm(int sig)
{
	(void)sig; /* only to make KVM_RUN return -EINTR */
}

uint32_t vg_rd32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

uint64_t vg_rd64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static const struct kvm_cpuid_entry2 *cpuid_leaf(uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < vg_cpuid->nent; i++)
		if (vg_cpuid->entries[i].function == fn && vg_cpuid->entries[i].index == idx)
			return &vg_cpuid->entries[i];
	return NULL;
}

static int has_xsave(void)
{
	const struct kvm_cpuid_entry2 *e = cpuid_leaf(1, 0);

	return e && (e->ecx >> 26 & 1);
}

uint64_t vg_guest_xcr0(void)
{
	const struct kvm_cpuid_entry2 *e1 = cpuid_leaf(1, 0), *ed = cpuid_leaf(0xd, 0);

	if (e1 && ed && (e1->ecx >> 28 & 1) && (ed->eax & 4))
		return 7; /* x87, SSE, AVX */
	return 3;
}

void vg_vm_create(struct vg_vm *t)
{
	size_t sz = sizeof(*vg_cpuid) + vg_cpuid->nent * sizeof(vg_cpuid->entries[0]);

	memset(t, 0, sizeof(*t));
	t->vm_fd = vmm_kvm_create_vm(vg_kvm_fd);
	assert_true(t->vm_fd >= 0);
	assert_int_equal(vmm_kvm_set_identity_map_addr(t->vm_fd, 0xfffbc000), 0);
	assert_int_equal(vmm_kvm_set_tss_addr(t->vm_fd, 0xfffbd000), 0);
	assert_int_equal(vmm_kvm_create_irqchip(t->vm_fd), 0);
	assert_int_equal(vmm_kvm_create_pit2(t->vm_fd), 0);
	t->ram = mmap(NULL, VG_RAM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(t->ram != MAP_FAILED);
	assert_int_equal(vmm_kvm_set_memory(t->vm_fd, 0, 0, 0, VG_RAM_SIZE, t->ram), 0);
	for (uint32_t i = 0; i < VG_NVCPU; i++) {
		struct kvm_cpuid2 *c = malloc(sz);

		assert_non_null(c);
		t->fd[i] = vmm_kvm_create_vcpu(t->vm_fd, i);
		assert_true(t->fd[i] >= 0);
		assert_int_equal(vmm_kvm_map_run(t->fd[i], (size_t)vg_run_size, &t->run[i]), 0);
		memcpy(c, vg_cpuid, sz);
		for (uint32_t k = 0; k < c->nent; k++) {
			struct kvm_cpuid_entry2 *e = &c->entries[k];

			if (e->function == 1)
				e->ebx = (e->ebx & 0x00ffffffu) | i << 24;
			if (e->function == 0xb || e->function == 0x1f)
				e->edx = i;
		}
		assert_int_equal(vmm_kvm_set_cpuid2(t->fd[i], c), 0);
		free(c);
	}
}

void vg_vm_destroy(struct vg_vm *t)
{
	for (uint32_t i = 0; i < VG_NVCPU; i++) {
		munmap(t->run[i], (size_t)vg_run_size);
		close(t->fd[i]);
	}
	close(t->vm_fd);
	munmap(t->ram, VG_RAM_SIZE);
}

static void flat(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->db = 1;
	s->s = 1;
	s->g = 1;
}

/*
 * XMM2 = 1 and MXCSR "round toward zero". Through XSAVE when KVM has it:
 * KVM_SET_FPU writes the legacy area but not XSTATE_BV, so XRSTOR would
 * bring the SSE registers back in their init state (zero).
 */
static void set_sse(int fd)
{
	int size = vmm_kvm_xsave_size(vg_kvm_fd);
	uint32_t mxcsr = 0x7f80;
	uint64_t bv;
	uint8_t *x;

	if (!has_xsave()) {
		struct kvm_fpu f;

		assert_int_equal(vmm_kvm_get_fpu(fd, &f), 0);
		f.xmm[2][0] = 1;
		f.mxcsr = mxcsr;
		assert_int_equal(vmm_kvm_set_fpu(fd, &f), 0);
		return;
	}
	assert_true(size >= 4096);
	x = calloc(1, (size_t)size);
	assert_non_null(x);
	assert_int_equal(vmm_kvm_get_xsave2(fd, (struct kvm_xsave *)x), 0);
	memcpy(x + 24, &mxcsr, 4);	 /* legacy area: MXCSR */
	memset(x + 160, 0, 16 * 16);	 /* XMM0..15 */
	x[160 + 2 * 16] = 1;		 /* XMM2 = 1 */
	bv = vg_rd64(x + 512) | 3;		 /* XSTATE_BV: x87, SSE */
	memcpy(x + 512, &bv, 8);
	assert_int_equal(vmm_kvm_set_xsave(fd, (struct kvm_xsave *)x), 0);
	free(x);
}

static void set_msr(int fd, uint32_t index, uint64_t value)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + sizeof(m->entries[0]));

	assert_non_null(m);
	m->nmsrs = 1;
	m->entries[0].index = index;
	m->entries[0].data = value;
	assert_int_equal(vmm_kvm_set_msrs(fd, m), 1);
	free(m);
}

/* Everything the guest starts with, set from the host. */
void vg_guest_setup(struct vg_vm *t)
{
	memcpy(t->ram + CODE_GPA, guest_code, sizeof(guest_code));
	memcpy(t->ram + GDT_GPA, gdt, sizeof(gdt));
	for (uint32_t i = 0; i < VG_NVCPU; i++) {
		struct kvm_sregs s;
		struct kvm_mp_state mp = {.mp_state = KVM_MP_STATE_RUNNABLE};
		struct kvm_regs r;
		struct kvm_debugregs d;

		assert_int_equal(vmm_kvm_get_sregs(t->fd[i], &s), 0);
		flat(&s.cs, 0x08, 0xb);
		flat(&s.ds, 0x10, 0x3);
		s.es = s.fs = s.gs = s.ss = s.ds;
		memset(&s.tr, 0, sizeof(s.tr));
		s.tr.selector = 0x18;
		s.tr.limit = 0x67;
		s.tr.type = 0xb;
		s.tr.present = 1;
		s.gdt.base = GDT_GPA;
		s.gdt.limit = sizeof(gdt) - 1;
		s.idt.base = 0;
		s.idt.limit = 0;
		s.cr0 = 0x33; /* PE, MP, ET, NE */
		s.cr4 = 0x600 | (has_xsave() ? 0x40000u : 0); /* OSFXSR, OSXMMEXCPT, OSXSAVE */
		s.efer = 0;
		assert_int_equal(vmm_kvm_set_sregs(t->fd[i], &s), 0);

		memset(&r, 0, sizeof(r));
		r.rip = CODE_GPA;
		r.rflags = 0x2; /* IF=0: the timer interrupt stays pending */
		r.rsi = VG_DATA_GPA + 0x100 * i;
		r.rdi = i == 0 ? 0xffffffffu : 1000;	/* long, or fires at once */
		r.rcx = i == 0 ? 0xa : 0xb;		/* divide by 128, by 1 */
		assert_int_equal(vmm_kvm_set_regs(t->fd[i], &r), 0);

		set_sse(t->fd[i]);

		if (has_xsave()) {
			struct kvm_xcrs x;

			memset(&x, 0, sizeof(x));
			x.nr_xcrs = 1;
			x.xcrs[0].xcr = 0;
			x.xcrs[0].value = vg_guest_xcr0();
			assert_int_equal(vmm_kvm_set_xcrs(t->fd[i], &x), 0);
		}

		memset(&d, 0, sizeof(d));
		d.db[0] = BREAK_GPA; /* execute breakpoint, never reached */
		d.db[1] = 0x12345678;
		d.db[2] = 0x2468ace0;
		d.db[3] = 0x0badf00d;
		d.dr6 = 0xffff0ff0;
		d.dr7 = 0x401; /* L0 */
		assert_int_equal(vmm_kvm_set_debugregs(t->fd[i], &d), 0);
		/*
		 * A TSC as after ~9 minutes of uptime. A fresh VM's TSC is below
		 * 1 s, and KVM before 6.7 takes a host write within 1 s of the
		 * TSC it expects (the one it set at vCPU creation, run on) for
		 * an attempt to synchronize and keeps its own offset; see
		 * vcpu_state.c. This test checks the exact restore.
		 */
		set_msr(t->fd[i], VG_MSR_IA32_TSC, 1ull << 40);
		/* APs wait for INIT/SIPI with an in-kernel LAPIC; start them now. */
		assert_int_equal(vmm_kvm_set_mp_state(t->fd[i], &mp), 0);
	}
}

/* Runs vCPU i through n OUT exits, checking the three counters at each. */
void vg_run_outs(struct vg_vm *t, uint32_t i, int n)
{
	const uint8_t *data = t->ram + VG_DATA_GPA + 0x100 * i;

	for (int k = 0; k < n;) {
		struct kvm_run *run = t->run[i];
		uint32_t val;
		int r;

		alarm(30); /* a guest that stops exiting must not hang the test */
		r = vmm_kvm_run(t->fd[i]);
		alarm(0);
		if (r) {
			struct kvm_regs g;

			vmm_kvm_get_regs(t->fd[i], &g);
			fail_msg("vCPU %u, OUT %d: KVM_RUN %d (exit %u), rip %#llx ebx %#llx", i, k,
				 r, run->exit_reason, (unsigned long long)g.rip,
				 (unsigned long long)g.rbx);
		}
		if (run->exit_reason != KVM_EXIT_IO)
			fail_msg("vCPU %u: exit reason %u", i, run->exit_reason);
		assert_int_equal(run->io.port, OUT_PORT);
		assert_int_equal(run->io.direction, KVM_EXIT_IO_OUT);
		assert_int_equal(run->io.size, 4);
		val = vg_rd32((const uint8_t *)run + run->io.data_offset);
		assert_int_equal(val % VG_OUT_EVERY, 0);
		assert_int_equal(vg_rd32(data), val);	 /* memory counter */
		assert_int_equal(vg_rd64(data + 16), val); /* XMM1 counter */
		if (t->last_out[i])
			assert_int_equal(val, t->last_out[i] + VG_OUT_EVERY);
		t->last_out[i] = val;
		k++;
	}
}

/* Lets KVM finish the pending OUT without running further (KVM API). */
void vg_complete_io(struct vg_vm *t, uint32_t i)
{
	struct kvm_regs r;

	t->run[i]->immediate_exit = 1;
	assert_int_equal(vmm_kvm_run(t->fd[i]), -EINTR);
	t->run[i]->immediate_exit = 0;
	assert_int_equal(vmm_kvm_get_regs(t->fd[i], &r), 0);
	assert_int_equal(r.rip, CODE_GPA + AFTER_OUT);
}


int vg_env_open(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN must return */
	sigaction(SIGALRM, &sa, NULL);
	vg_kvm_fd = vmm_kvm_open();
	if (vg_kvm_fd < 0) {
		fprintf(stderr, "/dev/kvm: %s (run through tests/kvm/run-in-kvm-vm.sh)\n",
			strerror(-vg_kvm_fd));
		return -1;
	}
	vg_run_size = vmm_kvm_vcpu_mmap_size(vg_kvm_fd);
	if (vg_run_size <= 0 || vmm_kvm_check_extension(vg_kvm_fd, KVM_CAP_IRQCHIP) <= 0 ||
	    vmm_kvm_check_extension(vg_kvm_fd, KVM_CAP_PIT2) <= 0 ||
	    vmm_kvm_supported_cpuid(vg_kvm_fd, &vg_cpuid)) {
		fprintf(stderr, "KVM lacks the irqchip, the PIT or CPUID\n");
		return -1;
	}
	return 0;
}

void vg_env_close(void)
{
	free(vg_cpuid);
	vg_cpuid = NULL;
	if (vg_kvm_fd >= 0)
		close(vg_kvm_fd);
	vg_kvm_fd = -1;
}
