/*
 * linux_boot.h: booting a Linux bzImage the way the x86 boot protocol
 * (Documentation/arch/x86/boot.rst) describes for a 64-bit boot loader:
 * no firmware and no real-mode setup code run; the VMM fills the zero
 * page (boot_params) and enters the kernel's 64-bit entry point.
 */
#ifndef VMM_LINUX_BOOT_H
#define VMM_LINUX_BOOT_H

#include <stddef.h>

#include "vm.h"

/* What vmm-lite gives Linux when the user names no command line: the
 * console on COM1, and a panic or reboot that ends the VMM. */
#define VMM_LINUX_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1"

struct vmm_linux_boot {
	const char *kernel;   /* bzImage path */
	const char *initrd;   /* initramfs path, or NULL */
	const char *cmdline;  /* NUL-terminated, or NULL for the default */
};

/*
 * Loads the kernel's protected-mode part at 1 MiB and the initrd at the
 * top of low RAM, writes the zero page with the command line and an e820
 * map, identity page tables for the first 4 GiB, a GDT with the
 * protocol's __BOOT_CS/__BOOT_DS, and an MP table for the vCPUs; points
 * every local APIC's LINT0 at the PIC and LINT1 at NMI as a BIOS would;
 * and sets vCPU 0 in 64-bit mode at the 64-bit entry with RSI at the zero
 * page. Refuses kernels older than boot protocol 2.12 or without a
 * 64-bit entry, and RAM too small for the kernel's init_size plus the
 * initrd. Writes a reason into `err`. Returns 0 or a negative errno.
 */
int vmm_linux_load(struct vmm_vm *vm, const struct vmm_linux_boot *boot,
		   char *err, size_t err_len);

#endif
