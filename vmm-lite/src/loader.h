/*
 * loader.h: putting a guest image into a fresh VM and setting the boot
 * vCPU's registers the way the image expects.
 */
#ifndef VMM_LOADER_H
#define VMM_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "vm.h"

#define VMM_BOOT_SECTOR_ADDR 0x7c00
#define VMM_BOOT_SECTOR_SIZE 512
#define VMM_FLAT_DEFAULT_ADDR 0x100000

/*
 * Loads the first 512 bytes of a raw disk image at 0x7c00 and sets vCPU 0
 * as a PC BIOS hands over: real mode, CS:IP = 0000:7c00, DL = 0x80 (first
 * hard disk), SS:SP = 0000:7c00. Refuses an image without the 55 AA boot
 * signature. Writes a reason into err. Returns 0 or a negative errno.
 */
int vmm_load_boot_sector(struct vmm_vm *vm, const char *path, char *err,
			 size_t err_len);
/*
 * Loads a flat binary at `gpa` and starts vCPU 0 there in 32-bit protected
 * mode with flat 4 GiB code and data segments, interrupts off, ESP = gpa
 * (the stack grows down below the image). Returns 0 or a negative errno.
 */
int vmm_load_flat(struct vmm_vm *vm, const char *path, uint64_t gpa,
		  char *err, size_t err_len);

/*
 * Opens a regular file read-only for loading; sets *size. Returns the fd
 * (the caller closes it) or a negative errno, with a reason in err.
 */
int vmm_image_open(const char *path, uint64_t *size, char *err, size_t err_len);
/* Reads exactly len bytes. Returns 0, a negative errno, or -EIO at EOF. */
int vmm_read_exact(int fd, void *buf, size_t len);

#endif
