/*
 * linux_boot.c: the x86 Linux boot protocol for a 64-bit loader (see
 * linux_boot.h). Field offsets are the protocol's, within both the
 * bzImage's first sectors and the zero page, which share the setup
 * header's layout.
 *
 * Guest-physical layout below 1 MiB, all of it in the first RAM slot:
 *   0x00500  GDT (null, null, __BOOT_CS 0x10, __BOOT_DS 0x18)
 *   0x07000  zero page (struct boot_params)
 *   0x09000  PML4, 0x0a000 PDPT, 0x0b000-0x0efff four page directories
 *            mapping 0-4 GiB with 2 MiB pages
 *   0x20000  command line
 *   0x9fc00-0x9ffff, 0xf0000-0xfffff  reserved in e820; the MP table at
 *            0xf0000, where Linux scans for it
 *   0x100000 the kernel's protected-mode part; the initrd at the top of
 *            low RAM
 * The kernel copies the zero page and command line before it reuses low
 * memory, and builds its own page tables and GDT.
 */
#include "linux_boot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm.h"
#include "loader.h"
#include "mptable.h"

#define GDT_ADDR 0x500ull
#define ZERO_PAGE_ADDR 0x7000ull
#define PML4_ADDR 0x9000ull
#define PDPT_ADDR 0xa000ull
#define PD_ADDR 0xb000ull
#define CMDLINE_ADDR 0x20000ull
#define EBDA_ADDR 0x9fc00ull
#define BIOS_AREA_ADDR 0xf0000ull
#define MPTABLE_ADDR BIOS_AREA_ADDR
#define KERNEL_ADDR 0x100000ull
/* Where a relocatable kernel decompresses itself when loaded lower
 * (CONFIG_PHYSICAL_START's default): RAM must reach past it. */
#define KERNEL_RUN_ADDR 0x1000000ull

/* Setup header offsets (bzImage file and zero page alike). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_INIT_SIZE 0x260
#define HDR_END_MAX 0x290          /* past every field this protocol has */
/* Zero-page fields outside the setup header. */
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define BP_SIZE 4096

#define HDRS_MAGIC 0x53726448u     /* "HdrS" */
#define BOOT_PROTOCOL_MIN 0x020c   /* 2.12: xloadflags, 64-bit entry */
#define LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x01
#define LOADER_TYPE_UNDEFINED 0xff
#define ENTRY_64_OFFSET 0x200

#define E820_RAM 1
#define E820_RESERVED 2

#define SETUP_MAX_BYTES (256 * 512) /* setup_sects is one byte */
#define CMDLINE_MAX 65536

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_DM_MASK 0x700u
#define APIC_DM_NMI 0x400u
#define APIC_DM_EXTINT 0x700u

static uint32_t get32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, 4);
	return v;
}

static uint16_t get16(const uint8_t *p, size_t off)
{
	uint16_t v;

	memcpy(&v, p + off, 2);
	return v;
}

static void set32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, 4);
}

static void set64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, 8);
}

struct e820 {
	uint8_t *table;
	unsigned count;
};

static void e820_add(struct e820 *e, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t *ent = e->table + (size_t)e->count * 20;

	set64(ent, 0, addr);
	set64(ent, 8, size);
	set32(ent, 16, type);
	e->count++;
}

/* The parsed setup header: what the rest of loading needs. */
struct bzimage {
	uint8_t setup[SETUP_MAX_BYTES];
	size_t setup_len;      /* bytes before the protected-mode kernel */
	size_t header_end;     /* zero-page bytes the header covers */
	uint64_t kernel_len;
	uint32_t init_size;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
};

static int read_setup(struct bzimage *bz, int fd, uint64_t file_size,
		      const char *path, char *err, size_t err_len)
{
	unsigned sects;
	uint16_t version;
	int r;

	if (file_size < 1024) {
		snprintf(err, err_len, "%s: too small for a bzImage", path);
		return -EINVAL;
	}
	r = vmm_read_exact(fd, bz->setup, 1024);
	if (r)
		goto fail_read;
	if (get16(bz->setup, HDR_BOOT_FLAG) != 0xaa55 ||
	    get32(bz->setup, HDR_MAGIC) != HDRS_MAGIC) {
		snprintf(err, err_len, "%s: not a bzImage (no HdrS setup header)", path);
		return -EINVAL;
	}
	version = get16(bz->setup, HDR_VERSION);
	if (version < BOOT_PROTOCOL_MIN ||
	    !(bz->setup[HDR_LOADFLAGS] & LOADED_HIGH) ||
	    !(get16(bz->setup, HDR_XLOADFLAGS) & XLF_KERNEL_64)) {
		snprintf(err, err_len,
			 "%s: boot protocol %u.%02u without a 64-bit entry point (need 2.12 and a 64-bit kernel)",
			 path, version >> 8, version & 0xff);
		return -EINVAL;
	}
	sects = bz->setup[HDR_SETUP_SECTS] ? bz->setup[HDR_SETUP_SECTS] : 4;
	bz->setup_len = (size_t)(sects + 1) * 512;
	bz->header_end = HDR_MAGIC + bz->setup[HDR_JUMP + 1];
	if (bz->setup_len >= file_size || bz->header_end > HDR_END_MAX) {
		snprintf(err, err_len, "%s: setup header out of bounds", path);
		return -EINVAL;
	}
	r = vmm_read_exact(fd, bz->setup + 1024, bz->setup_len - 1024);
	if (r)
		goto fail_read;
	bz->kernel_len = file_size - bz->setup_len;
	bz->init_size = get32(bz->setup, HDR_INIT_SIZE);
	bz->cmdline_size = get32(bz->setup, HDR_CMDLINE_SIZE);
	bz->initrd_addr_max = get32(bz->setup, HDR_INITRD_ADDR_MAX);
	if (bz->init_size < bz->kernel_len)
		bz->init_size = (uint32_t)(bz->kernel_len < UINT32_MAX ? bz->kernel_len : UINT32_MAX);
	return 0;
fail_read:
	snprintf(err, err_len, "%s: %s", path, strerror(-r));
	return r;
}

static uint64_t low_ram_end(const struct vmm_vm *vm)
{
	return vm->ram_size < VMM_LOW_RAM_MAX ? vm->ram_size : VMM_LOW_RAM_MAX;
}

/* Reads the initrd into the top of low RAM, below the kernel's limit and
 * above where the kernel runs. Sets *addr. */
static int load_initrd(struct vmm_vm *vm, const struct bzimage *bz,
		       const char *path, uint64_t *addr, uint64_t *size,
		       char *err, size_t err_len)
{
	uint64_t top = low_ram_end(vm), floor = KERNEL_RUN_ADDR + bz->init_size;
	void *dst;
	int fd, r;

	fd = vmm_image_open(path, size, err, err_len);
	if (fd < 0)
		return fd;
	if ((uint64_t)bz->initrd_addr_max + 1 < top)
		top = (uint64_t)bz->initrd_addr_max + 1;
	if (!*size || *size > top || ((top - *size) & ~0xfffull) < floor) {
		snprintf(err, err_len,
			 "%s: %llu bytes do not fit between the kernel (up to %llu MiB) and the end of low RAM (%llu MiB): give the guest more memory",
			 path, (unsigned long long)*size,
			 (unsigned long long)(floor >> 20), (unsigned long long)(top >> 20));
		close(fd);
		return -ENOSPC;
	}
	*addr = (top - *size) & ~0xfffull;
	dst = vmm_vm_ram(vm, *addr, *size);
	r = dst ? vmm_read_exact(fd, dst, *size) : -EFAULT;
	close(fd);
	if (r)
		snprintf(err, err_len, "%s: %s", path, strerror(-r));
	return r;
}

static void write_zero_page(struct vmm_vm *vm, const struct bzimage *bz,
			    uint64_t initrd_addr, uint64_t initrd_size)
{
	uint8_t *bp = vmm_vm_ram(vm, ZERO_PAGE_ADDR, BP_SIZE);
	struct e820 e = { .table = bp + BP_E820_TABLE, .count = 0 };
	uint64_t low = low_ram_end(vm);

	memset(bp, 0, BP_SIZE);
	memcpy(bp + HDR_SETUP_SECTS, bz->setup + HDR_SETUP_SECTS,
	       bz->header_end - HDR_SETUP_SECTS);
	bp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
	set32(bp, HDR_CMD_LINE_PTR, (uint32_t)CMDLINE_ADDR);
	set32(bp, HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
	set32(bp, HDR_RAMDISK_SIZE, (uint32_t)initrd_size);

	e820_add(&e, 0, EBDA_ADDR, E820_RAM);
	e820_add(&e, EBDA_ADDR, 0xa0000 - EBDA_ADDR, E820_RESERVED);
	e820_add(&e, BIOS_AREA_ADDR, KERNEL_ADDR - BIOS_AREA_ADDR, E820_RESERVED);
	e820_add(&e, KERNEL_ADDR, low - KERNEL_ADDR, E820_RAM);
	if (vm->ram_size > low)
		e820_add(&e, VMM_HIGH_RAM_START, vm->ram_size - low, E820_RAM);
	bp[BP_E820_ENTRIES] = (uint8_t)e.count;
}

/* Identity map of 0-4 GiB with 2 MiB pages: all the protocol asks
 * (kernel, zero page, command line, initrd) lies below 4 GiB. */
static void write_page_tables(struct vmm_vm *vm)
{
	uint8_t *pml4 = vmm_vm_ram(vm, PML4_ADDR, 4096);
	uint8_t *pdpt = vmm_vm_ram(vm, PDPT_ADDR, 4096);
	uint8_t *pd = vmm_vm_ram(vm, PD_ADDR, 4 * 4096);
	const uint64_t present_rw = 0x3, large = 0x80;

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	set64(pml4, 0, PDPT_ADDR | present_rw);
	for (uint64_t g = 0; g < 4; g++)
		set64(pdpt, g * 8, (PD_ADDR + g * 4096) | present_rw);
	for (uint64_t i = 0; i < 4 * 512; i++)
		set64(pd, i * 8, (i << 21) | present_rw | large);
}

static void write_gdt(struct vmm_vm *vm)
{
	uint8_t *gdt = vmm_vm_ram(vm, GDT_ADDR, 32);

	set64(gdt, 0, 0);
	set64(gdt, 8, 0);
	set64(gdt, 16, 0x00af9b000000ffffull);  /* 0x10: 64-bit code, DPL 0 */
	set64(gdt, 24, 0x00cf93000000ffffull);  /* 0x18: flat data, DPL 0 */
}

static void segment(struct kvm_segment *s, uint16_t sel, uint8_t type, int code64)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code64 ? 1 : 0;
	s->db = code64 ? 0 : 1;
}

static int enter_64bit(struct vmm_vcpu *v)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int r;

	r = vmm_kvm_get_sregs(v->fd, &sregs);
	if (r)
		return r;
	segment(&sregs.cs, 0x10, 0xb, 1);
	segment(&sregs.ds, 0x18, 0x3, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = GDT_ADDR;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.cr3 = PML4_ADDR;
	sregs.cr4 |= 0x20;                  /* PAE */
	sregs.cr0 |= 0x80000001;            /* PG, PE */
	sregs.efer |= 0x500;                /* LMA, LME */
	r = vmm_kvm_set_sregs(v->fd, &sregs);
	if (r)
		return r;
	memset(&regs, 0, sizeof(regs));
	regs.rip = KERNEL_ADDR + ENTRY_64_OFFSET;
	regs.rsi = ZERO_PAGE_ADDR;
	regs.rflags = 0x2;
	return vmm_kvm_set_regs(v->fd, &regs);
}

/* LINT0 from the PIC (ExtINT), LINT1 as NMI, masks kept: what firmware
 * leaves and the MP table describes. */
static int wire_lints(struct vmm_vcpu *v)
{
	struct kvm_lapic_state l;
	uint32_t lvt;
	int r;

	r = vmm_kvm_get_lapic(v->fd, &l);
	if (r)
		return r;
	memcpy(&lvt, l.regs + APIC_LVT0, 4);
	lvt = (lvt & ~APIC_DM_MASK) | APIC_DM_EXTINT;
	memcpy(l.regs + APIC_LVT0, &lvt, 4);
	memcpy(&lvt, l.regs + APIC_LVT1, 4);
	lvt = (lvt & ~APIC_DM_MASK) | APIC_DM_NMI;
	memcpy(l.regs + APIC_LVT1, &lvt, 4);
	return vmm_kvm_set_lapic(v->fd, &l);
}

static int write_mptable(struct vmm_vm *vm)
{
	struct vmm_mp_cpu cpus = { .count = vm->vcpu_count };
	size_t cap = KERNEL_ADDR - MPTABLE_ADDR;
	int n;

	for (uint32_t i = 0; i < vm->cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &vm->cpuid->entries[i];

		if (e->function == 1) {
			cpus.signature = e->eax;
			cpus.features = e->edx;
		}
	}
	n = vmm_mptable_write(vmm_vm_ram(vm, MPTABLE_ADDR, cap), cap,
			      (uint32_t)MPTABLE_ADDR, &cpus);
	return n < 0 ? n : 0;
}

int vmm_linux_load(struct vmm_vm *vm, const struct vmm_linux_boot *boot,
		   char *err, size_t err_len)
{
	const char *cmdline = boot->cmdline ? boot->cmdline : VMM_LINUX_DEFAULT_CMDLINE;
	uint64_t size, initrd_addr = 0, initrd_size = 0;
	struct bzimage *bz;
	size_t cmd_len = strlen(cmdline);
	void *dst;
	int fd, r;

	if (low_ram_end(vm) < KERNEL_RUN_ADDR) {
		snprintf(err, err_len, "Linux needs more than %llu MiB of RAM",
			 (unsigned long long)(KERNEL_RUN_ADDR >> 20));
		return -EINVAL;
	}
	bz = malloc(sizeof(*bz));
	if (!bz)
		return -ENOMEM;
	fd = vmm_image_open(boot->kernel, &size, err, err_len);
	if (fd < 0) {
		r = fd;
		goto out_free;
	}
	r = read_setup(bz, fd, size, boot->kernel, err, err_len);
	if (r)
		goto out_close;
	if (cmd_len >= bz->cmdline_size || cmd_len >= CMDLINE_MAX) {
		snprintf(err, err_len, "command line of %zu bytes: this kernel takes at most %u",
			 cmd_len, bz->cmdline_size ? bz->cmdline_size - 1 : 0);
		r = -E2BIG;
		goto out_close;
	}
	if (KERNEL_RUN_ADDR + bz->init_size > low_ram_end(vm)) {
		snprintf(err, err_len, "%s needs %llu MiB of low RAM to unpack itself",
			 boot->kernel,
			 (unsigned long long)((KERNEL_RUN_ADDR + bz->init_size + (1 << 20) - 1) >> 20));
		r = -ENOSPC;
		goto out_close;
	}
	dst = vmm_vm_ram(vm, KERNEL_ADDR, bz->kernel_len);
	r = dst ? vmm_read_exact(fd, dst, bz->kernel_len) : -EFAULT;
	if (r) {
		snprintf(err, err_len, "%s: %s", boot->kernel, strerror(-r));
		goto out_close;
	}
	if (boot->initrd) {
		r = load_initrd(vm, bz, boot->initrd, &initrd_addr, &initrd_size,
				err, err_len);
		if (r)
			goto out_close;
	}
	memcpy(vmm_vm_ram(vm, CMDLINE_ADDR, cmd_len + 1), cmdline, cmd_len + 1);
	write_zero_page(vm, bz, initrd_addr, initrd_size);
	write_page_tables(vm);
	write_gdt(vm);
	r = write_mptable(vm);
	if (r) {
		snprintf(err, err_len, "MP table for %u vCPUs: %s", vm->vcpu_count,
			 strerror(-r));
		goto out_close;
	}
	for (uint32_t i = 0; i < vm->vcpu_count && !r; i++)
		r = wire_lints(&vm->vcpus[i]);
	if (!r)
		r = enter_64bit(&vm->vcpus[0]);
	if (r)
		snprintf(err, err_len, "setting up the boot vCPU: %s", strerror(-r));
out_close:
	close(fd);
out_free:
	free(bz);
	return r;
}
