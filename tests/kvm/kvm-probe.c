// SPDX-License-Identifier: MIT
/*
 * kvm-probe: prove that /dev/kvm works before any test relies on it.
 *
 * It checks the API version, reports the capabilities libmigrate cares
 * about, runs a tiny real-mode guest through KVM_RUN (an OUT, a timed
 * countdown loop, a store and a HLT), and checks that the store shows up
 * in the dirty bitmap and, when the kernel offers one, in the dirty ring.
 * The same loop is timed natively so that the cost of (nested)
 * virtualization can be read as a ratio in a single run.
 *
 * Usage: kvm-probe [-n LOOP_ITERATIONS]
 * Exit status: 0 if everything checked works, 1 otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#ifndef KVM_CAP_XSAVE2
#define KVM_CAP_XSAVE2 208
#endif
#ifndef KVM_CAP_DIRTY_LOG_RING_ACQ_REL
#define KVM_CAP_DIRTY_LOG_RING_ACQ_REL 223
#endif

#define GUEST_MEM_SIZE	0x10000UL
#define GUEST_CODE_GPA	0x1000UL
#define GUEST_DIRTY_PFN	3
#define PROBE_PORT	0x10
#define PROBE_BYTE	0x42
#define RING_ENTRIES	4096U

/*
 * Real mode, loaded at GUEST_CODE_GPA, ECX preset to the loop count:
 *	mov al, 0x42 ; out 0x10, al ; 1: dec ecx ; jnz 1b
 *	mov [0x3000], al ; hlt
 */
static const uint8_t guest_code[] = {
	0xb0, PROBE_BYTE,	/* mov al, PROBE_BYTE */
	0xe6, PROBE_PORT,	/* out PROBE_PORT, al */
	0x66, 0x49,		/* dec ecx */
	0x75, 0xfc,		/* jnz dec */
	0xa2, 0x00, 0x30,	/* mov [0x3000], al */
	0xf4,			/* hlt */
};

struct probe_vm {
	int vm_fd;
	int vcpu_fd;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
	struct kvm_dirty_gfn *ring;
	size_t ring_bytes;
};

static int failures;

static void check(int ok, const char *what, const char *detail)
{
	printf("%-40s %s%s%s\n", what, ok ? "ok" : "FAIL",
	       detail ? "  " : "", detail ? detail : "");
	if (!ok)
		failures++;
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void native_loop(uint32_t n)
{
	__asm__ volatile("1: dec %0\n\tjnz 1b" : "+c"(n) : : "cc");
}

static void report_caps(int vm_fd)
{
	static const struct {
		const char *name;
		long cap;
	} caps[] = {
		{ "KVM_CAP_DIRTY_LOG_RING", KVM_CAP_DIRTY_LOG_RING },
		{ "KVM_CAP_DIRTY_LOG_RING_ACQ_REL",
		  KVM_CAP_DIRTY_LOG_RING_ACQ_REL },
		{ "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2",
		  KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 },
		{ "KVM_CAP_READONLY_MEM", KVM_CAP_READONLY_MEM },
		{ "KVM_CAP_IRQCHIP", KVM_CAP_IRQCHIP },
		{ "KVM_CAP_PIT2", KVM_CAP_PIT2 },
		{ "KVM_CAP_XSAVE2", KVM_CAP_XSAVE2 },
		{ "KVM_CAP_ADJUST_CLOCK", KVM_CAP_ADJUST_CLOCK },
	};
	size_t i;

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		int r = ioctl(vm_fd, KVM_CHECK_EXTENSION, caps[i].cap);

		printf("%-40s %d\n", caps[i].name, r);
	}
}

static void vm_close(struct probe_vm *vm)
{
	if (vm->ring)
		munmap(vm->ring, vm->ring_bytes);
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->mem)
		munmap(vm->mem, GUEST_MEM_SIZE);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
}

/* ring_cap: 0 for bitmap dirty logging, else the ring capability to use */
static int vm_open(struct probe_vm *vm, int kvm_fd, long ring_cap,
		   uint32_t loops)
{
	struct kvm_userspace_memory_region region;
	struct kvm_enable_cap ecap;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	long mmap_size;

	memset(vm, 0, sizeof(*vm));
	vm->vcpu_fd = -1;
	vm->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		printf("KVM_CREATE_VM: %s\n", strerror(errno));
		return -1;
	}
	if (ring_cap) {
		memset(&ecap, 0, sizeof(ecap));
		ecap.cap = (uint32_t)ring_cap;
		ecap.args[0] = RING_ENTRIES * sizeof(struct kvm_dirty_gfn);
		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &ecap) < 0) {
			printf("KVM_ENABLE_CAP(dirty ring): %s\n",
			       strerror(errno));
			return -1;
		}
	}
	/* Needed by VMX without unrestricted guest; harmless elsewhere. */
	ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);

	vm->mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		return -1;
	}
	memcpy(vm->mem + GUEST_CODE_GPA, guest_code, sizeof(guest_code));
	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.flags = KVM_MEM_LOG_DIRTY_PAGES;
	region.guest_phys_addr = 0;
	region.memory_size = GUEST_MEM_SIZE;
	region.userspace_addr = (uintptr_t)vm->mem;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		printf("KVM_SET_USER_MEMORY_REGION: %s\n", strerror(errno));
		return -1;
	}

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0) {
		printf("KVM_CREATE_VCPU: %s\n", strerror(errno));
		return -1;
	}
	mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0)
		return -1;
	vm->run_size = (size_t)mmap_size;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		return -1;
	}
	if (ring_cap) {
		vm->ring_bytes = RING_ENTRIES * sizeof(struct kvm_dirty_gfn);
		vm->ring = mmap(NULL, vm->ring_bytes, PROT_READ | PROT_WRITE,
				MAP_SHARED, vm->vcpu_fd,
				KVM_DIRTY_LOG_PAGE_OFFSET * getpagesize());
		if (vm->ring == MAP_FAILED) {
			vm->ring = NULL;
			printf("mmap(dirty ring): %s\n", strerror(errno));
			return -1;
		}
	}

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -1;
	memset(&regs, 0, sizeof(regs));
	regs.rip = GUEST_CODE_GPA;
	regs.rflags = 0x2;
	regs.rcx = loops;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -1;
	return 0;
}

static int run_until_exit(struct probe_vm *vm)
{
	int r;

	do {
		r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		printf("KVM_RUN: %s\n", strerror(errno));
		return -1;
	}
	return (int)vm->run->exit_reason;
}

/* Runs the guest program; returns seconds spent in the loop, < 0 on error. */
static double run_guest(struct probe_vm *vm)
{
	char detail[96];
	uint8_t *io;
	double t0, t1;
	int reason;

	reason = run_until_exit(vm);
	io = (uint8_t *)vm->run + vm->run->io.data_offset;
	snprintf(detail, sizeof(detail), "exit_reason=%d port=0x%x byte=0x%x",
		 reason, reason == KVM_EXIT_IO ? vm->run->io.port : 0,
		 reason == KVM_EXIT_IO ? *io : 0);
	if (reason != KVM_EXIT_IO || vm->run->io.direction != KVM_EXIT_IO_OUT ||
	    vm->run->io.port != PROBE_PORT || *io != PROBE_BYTE) {
		check(0, "KVM_RUN: guest OUT exits to userspace", detail);
		return -1;
	}
	check(1, "KVM_RUN: guest OUT exits to userspace", detail);

	t0 = now_sec();
	reason = run_until_exit(vm);
	t1 = now_sec();
	snprintf(detail, sizeof(detail), "exit_reason=%d", reason);
	check(reason == KVM_EXIT_HLT, "KVM_RUN: guest loop + HLT", detail);
	return reason == KVM_EXIT_HLT ? t1 - t0 : -1;
}

static void probe_bitmap(int kvm_fd, uint32_t loops)
{
	uint64_t bitmap[GUEST_MEM_SIZE / 4096 / 64 + 1];
	struct kvm_dirty_log log;
	struct probe_vm vm;
	char detail[96];
	double guest_s, t0, native_s;
	int r;

	if (vm_open(&vm, kvm_fd, 0, loops) < 0) {
		check(0, "guest setup (bitmap dirty log)", NULL);
		goto out_close;
	}
	guest_s = run_guest(&vm);
	if (guest_s < 0)
		goto out_close;

	memset(bitmap, 0, sizeof(bitmap));
	memset(&log, 0, sizeof(log));
	log.slot = 0;
	log.dirty_bitmap = bitmap;
	r = ioctl(vm.vm_fd, KVM_GET_DIRTY_LOG, &log);
	snprintf(detail, sizeof(detail), "r=%d bitmap=0x%" PRIx64, r,
		 bitmap[0]);
	check(r == 0 && (bitmap[0] & (1ULL << GUEST_DIRTY_PFN)),
	      "KVM_GET_DIRTY_LOG sees the guest store", detail);

	t0 = now_sec();
	native_loop(loops);
	native_s = now_sec() - t0;
	printf("loop of %" PRIu32 " iterations: guest %.3f s (%.2f ns/iter), "
	       "native %.3f s (%.2f ns/iter), guest/native %.2f\n",
	       loops, guest_s, guest_s * 1e9 / loops, native_s,
	       native_s * 1e9 / loops, native_s > 0 ? guest_s / native_s : 0);
out_close:
	vm_close(&vm);
}

static void probe_ring(int kvm_fd, long ring_cap)
{
	struct kvm_dirty_gfn *gfn;
	struct probe_vm vm;
	char detail[96];
	unsigned int i, seen = 0, found = 0;
	int r;

	if (vm_open(&vm, kvm_fd, ring_cap, 1) < 0) {
		check(0, "guest setup (dirty ring)", NULL);
		goto out_close;
	}
	if (run_guest(&vm) < 0)
		goto out_close;
	for (i = 0; i < RING_ENTRIES; i++) {
		gfn = &vm.ring[i];
		if (!(__atomic_load_n(&gfn->flags, __ATOMIC_ACQUIRE) &
		      KVM_DIRTY_GFN_F_DIRTY))
			break;
		seen++;
		if (gfn->slot == 0 && gfn->offset == GUEST_DIRTY_PFN)
			found = 1;
		__atomic_store_n(&gfn->flags, KVM_DIRTY_GFN_F_RESET,
				 __ATOMIC_RELEASE);
	}
	snprintf(detail, sizeof(detail), "%u entries harvested", seen);
	check(found, "dirty ring sees the guest store", detail);
	r = ioctl(vm.vm_fd, KVM_RESET_DIRTY_RINGS, 0);
	snprintf(detail, sizeof(detail), "returned %d", r);
	check(r == (int)seen, "KVM_RESET_DIRTY_RINGS", detail);
out_close:
	vm_close(&vm);
}

int main(int argc, char **argv)
{
	unsigned long loops = 50000000UL;
	long ring_cap = 0;
	char detail[64];
	int kvm_fd, vm_fd, api, opt;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n')
			goto usage;
		loops = strtoul(optarg, NULL, 0);
		if (loops == 0 || loops > UINT32_MAX)
			goto usage;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		printf("open /dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	api = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	snprintf(detail, sizeof(detail), "%d", api);
	check(api == KVM_API_VERSION, "KVM_GET_API_VERSION == 12", detail);
	if (api != KVM_API_VERSION)
		return 1;

	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	check(vm_fd >= 0, "KVM_CREATE_VM", vm_fd < 0 ? strerror(errno) : NULL);
	if (vm_fd < 0)
		return 1;
	report_caps(vm_fd);
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL) >
	    0)
		ring_cap = KVM_CAP_DIRTY_LOG_RING_ACQ_REL;
	else if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING) > 0)
		ring_cap = KVM_CAP_DIRTY_LOG_RING;
	close(vm_fd);

	probe_bitmap(kvm_fd, (uint32_t)loops);
	if (ring_cap)
		probe_ring(kvm_fd, ring_cap);
	else
		printf("%-40s %s\n", "dirty ring", "not offered, skipped");

	close(kvm_fd);
	printf("kvm-probe: %s\n", failures ? "FAILED" : "all checks passed");
	return failures ? 1 : 0;
usage:
	fprintf(stderr, "usage: %s [-n LOOP_ITERATIONS (1..%" PRIu32 ")]\n",
		argv[0], UINT32_MAX);
	return 1;
}
