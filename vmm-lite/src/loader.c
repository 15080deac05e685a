/* loader.c: boot-sector and flat-binary images (see loader.h). */
#include "loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm.h"

int vmm_read_exact(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (uint8_t *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

int vmm_image_open(const char *path, uint64_t *size, char *err, size_t err_len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int r = -errno;

		snprintf(err, err_len, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static void real_mode_segment(struct kvm_segment *s, uint16_t sel)
{
	s->selector = sel;
	s->base = (uint64_t)sel << 4;
	s->limit = 0xffff;
}

int vmm_load_boot_sector(struct vmm_vm *vm, const char *path, char *err,
			 size_t err_len)
{
	uint8_t sector[VMM_BOOT_SECTOR_SIZE];
	struct vmm_vcpu *v = &vm->vcpus[0];
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint64_t size;
	void *dst;
	int fd, r;

	fd = vmm_image_open(path, &size, err, err_len);
	if (fd < 0)
		return fd;
	if (size < VMM_BOOT_SECTOR_SIZE) {
		snprintf(err, err_len, "%s: %llu bytes, a boot sector needs 512", path,
			 (unsigned long long)size);
		close(fd);
		return -EINVAL;
	}
	r = vmm_read_exact(fd, sector, sizeof(sector));
	close(fd);
	if (r) {
		snprintf(err, err_len, "%s: %s", path, strerror(-r));
		return r;
	}
	if (sector[510] != 0x55 || sector[511] != 0xaa) {
		snprintf(err, err_len, "%s: no boot signature (55 AA at byte 510)", path);
		return -EINVAL;
	}
	dst = vmm_vm_ram(vm, VMM_BOOT_SECTOR_ADDR, sizeof(sector));
	if (!dst) {
		snprintf(err, err_len, "no RAM at 0x7c00");
		return -EINVAL;
	}
	memcpy(dst, sector, sizeof(sector));

	r = vmm_kvm_get_sregs(v->fd, &sregs);
	if (r)
		goto fail_regs;
	real_mode_segment(&sregs.cs, 0);
	real_mode_segment(&sregs.ds, 0);
	real_mode_segment(&sregs.es, 0);
	real_mode_segment(&sregs.fs, 0);
	real_mode_segment(&sregs.gs, 0);
	real_mode_segment(&sregs.ss, 0);
	r = vmm_kvm_set_sregs(v->fd, &sregs);
	if (r)
		goto fail_regs;
	memset(&regs, 0, sizeof(regs));
	regs.rip = VMM_BOOT_SECTOR_ADDR;
	regs.rsp = VMM_BOOT_SECTOR_ADDR;
	regs.rdx = 0x80;
	regs.rflags = 0x2; /* bit 1 is always set */
	r = vmm_kvm_set_regs(v->fd, &regs);
	if (r)
		goto fail_regs;
	return 0;
fail_regs:
	snprintf(err, err_len, "setting the boot vCPU's registers: %s", strerror(-r));
	return r;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->db = 1;
	s->s = 1;
	s->g = 1;
}

int vmm_load_flat(struct vmm_vm *vm, const char *path, uint64_t gpa,
		  char *err, size_t err_len)
{
	struct vmm_vcpu *v = &vm->vcpus[0];
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint64_t size;
	void *dst;
	int fd, r;

	if (gpa >= 0x100000000ull || gpa < 0x1000) {
		snprintf(err, err_len, "flat image address 0x%llx: must be 4 KiB to 4 GiB",
			 (unsigned long long)gpa);
		return -EINVAL;
	}
	fd = vmm_image_open(path, &size, err, err_len);
	if (fd < 0)
		return fd;
	if (!size || size > 0x100000000ull - gpa ||
	    !(dst = vmm_vm_ram(vm, gpa, size))) {
		snprintf(err, err_len, "%s: %llu bytes at 0x%llx do not fit in RAM",
			 path, (unsigned long long)size, (unsigned long long)gpa);
		close(fd);
		return -EINVAL;
	}
	r = vmm_read_exact(fd, dst, size);
	close(fd);
	if (r) {
		snprintf(err, err_len, "%s: %s", path, strerror(-r));
		return r;
	}
	r = vmm_kvm_get_sregs(v->fd, &sregs);
	if (r)
		goto fail_regs;
	flat_segment(&sregs.cs, 0x08, 0xb); /* code, execute/read, accessed */
	flat_segment(&sregs.ds, 0x10, 0x3); /* data, read/write, accessed */
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr0 |= 0x1; /* PE */
	r = vmm_kvm_set_sregs(v->fd, &sregs);
	if (r)
		goto fail_regs;
	memset(&regs, 0, sizeof(regs));
	regs.rip = gpa;
	regs.rsp = gpa;
	regs.rflags = 0x2;
	r = vmm_kvm_set_regs(v->fd, &regs);
	if (r)
		goto fail_regs;
	return 0;
fail_regs:
	snprintf(err, err_len, "setting the boot vCPU's registers: %s", strerror(-r));
	return r;
}
