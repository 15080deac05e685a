/*
 * vm.c: building a VM (memory, irqchip, PIT, tracker, vCPUs with their
 * CPUID), its run control (start, pause with acknowledgement, resume,
 * stop) and its teardown.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "kvm.h"
#include "uart.h"
#include "vcpu_state.h"

void vmm_log(struct vmm_vm *vm, enum mig_log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!vm->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vm->log(vm->log_opaque, level, line);
}

static void kick_handler(int sig)
{
	(void)sig; /* only there to make KVM_RUN return -EINTR */
}

static int install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	return sigaction(VMM_KICK_SIGNAL, &sa, NULL) ? -errno : 0;
}

static void uart_irq(void *opaque, int level)
{
	struct vmm_vm *vm = opaque;

	vmm_kvm_irq_line(vm->vm_fd, VMM_UART_COM1_IRQ, level);
}

static void *map_anon(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int add_slot(struct vmm_vm *vm, uint32_t flags, uint64_t gpa,
		    uint64_t size, void *host)
{
	struct vmm_slot *s = &vm->slots[vm->slot_count];
	int r;

	r = vmm_kvm_set_memory(vm->vm_fd, vm->slot_count, flags, gpa, size, host);
	if (r)
		return r;
	s->slot = vm->slot_count++;
	s->flags = flags;
	s->gpa = gpa;
	s->size = size;
	s->host = host;
	return 0;
}

static int setup_ram(struct vmm_vm *vm, char *err, size_t err_len)
{
	uint64_t low = vm->ram_size < VMM_LOW_RAM_MAX ? vm->ram_size : VMM_LOW_RAM_MAX;
	uint64_t high = vm->ram_size - low;
	void *p;
	int r;

	p = map_anon(low);
	if (!p) {
		snprintf(err, err_len, "cannot map %llu MiB of guest RAM",
			 (unsigned long long)(low >> 20));
		return -ENOMEM;
	}
	r = add_slot(vm, 0, 0, low, p);
	if (r) {
		munmap(p, low);
		snprintf(err, err_len, "KVM_SET_USER_MEMORY_REGION: %s", strerror(-r));
		return r;
	}
	if (!high)
		return 0;
	p = map_anon(high);
	if (!p) {
		snprintf(err, err_len, "cannot map %llu MiB of high guest RAM",
			 (unsigned long long)(high >> 20));
		return -ENOMEM;
	}
	r = add_slot(vm, 0, VMM_HIGH_RAM_START, high, p);
	if (r) {
		munmap(p, high);
		snprintf(err, err_len, "KVM_SET_USER_MEMORY_REGION: %s", strerror(-r));
	}
	return r;
}

/*
 * The ROM: a read-only slot ending at 4 GiB, filled from the file, or
 * left empty at `size` bytes when there is no file (a migration target:
 * the contents arrive with the read-only pass).
 */
static int setup_rom(struct vmm_vm *vm, const char *path, uint64_t size,
		     char *err, size_t err_len)
{
	uint64_t file_size = 0;
	struct stat st;
	int fd = -1, r;
	void *p;

	if (path) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			snprintf(err, err_len, "ROM %s: %s", path, strerror(-r));
			return r;
		}
		if (fstat(fd, &st) || st.st_size <= 0) {
			snprintf(err, err_len, "ROM %s: empty or unreadable", path);
			r = -EINVAL;
			goto out_close;
		}
		file_size = (uint64_t)st.st_size;
		size = (file_size + 4095) & ~4095ull;
	}
	if (!size || size % 4096 || size > VMM_ROM_MAX) {
		snprintf(err, err_len, "ROM: size must be 1 byte to %llu MiB",
			 (unsigned long long)(VMM_ROM_MAX >> 20));
		r = -EINVAL;
		goto out_close;
	}
	p = map_anon(size);
	if (!p) {
		r = -ENOMEM;
		snprintf(err, err_len, "ROM: out of memory");
		goto out_close;
	}
	/* The image sits at the top: its last byte is at 4 GiB - 1. */
	uint8_t *dst = (uint8_t *)p + (size - file_size);
	for (uint64_t done = 0; done < file_size;) {
		ssize_t n = pread(fd, dst + done, (size_t)(file_size - done), (off_t)done);

		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			snprintf(err, err_len, "ROM %s: read failed", path);
			goto out_unmap;
		}
		done += (uint64_t)n;
	}
	r = add_slot(vm, KVM_MEM_READONLY, VMM_ROM_END - size, size, p);
	if (r) {
		snprintf(err, err_len, "ROM slot: %s", strerror(-r));
		goto out_unmap;
	}
	if (fd >= 0)
		close(fd);
	return 0;
out_unmap:
	munmap(p, size);
out_close:
	if (fd >= 0)
		close(fd);
	return r;
}

#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)

/*
 * Leaf 1 bits that KVM_GET_SUPPORTED_CPUID leaves to the VMM: "running
 * under a hypervisor", without which a guest never looks at KVM's leaves
 * from 0x40000000 (Linux then runs without kvmclock), and the
 * TSC-deadline timer, which KVM emulates when it has the capability.
 */
static void complete_cpuid(struct vmm_vm *vm)
{
	uint32_t add = CPUID_1_ECX_HYPERVISOR;

	if (vmm_kvm_check_extension(vm->kvm_fd, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		add |= CPUID_1_ECX_TSC_DEADLINE;
	for (uint32_t i = 0; i < vm->cpuid->nent; i++)
		if (vm->cpuid->entries[i].function == 1)
			vm->cpuid->entries[i].ecx |= add;
}

/*
 * CPUID for vCPU `index`: the VM's, with the APIC ID in leaf 1 and the
 * x2APIC ID in leaves 0xb and 0x1f set to the vCPU's index.
 */
static void cpuid_for_vcpu(struct kvm_cpuid2 *c, uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1) {
			e->ebx = (e->ebx & 0x00ffffffu) | (index << 24);
		} else if (e->function == 0xb || e->function == 0x1f) {
			e->edx = index;
		}
	}
}

/* A hash of the CPUID every vCPU sees (APIC IDs zeroed): two hosts with
 * equal fingerprints present the same CPU to a guest. */
static void fingerprint(struct vmm_vm *vm)
{
	size_t sz = sizeof(*vm->cpuid) + vm->cpuid->nent * sizeof(vm->cpuid->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	uint64_t h;

	if (!c) {
		snprintf(vm->cpu_fingerprint, sizeof(vm->cpu_fingerprint), "?");
		return;
	}
	memcpy(c, vm->cpuid, sz);
	cpuid_for_vcpu(c, 0);
	h = XXH3_64bits(c->entries, c->nent * sizeof(c->entries[0]));
	snprintf(vm->cpu_fingerprint, sizeof(vm->cpu_fingerprint),
		 "kvm-x86-cpuid:%016llx", (unsigned long long)h);
	free(c);
}

static int setup_vcpu(struct vmm_vm *vm, uint32_t index, int mmap_size,
		      char *err, size_t err_len)
{
	struct vmm_vcpu *v = &vm->vcpus[index];
	size_t sz = sizeof(*vm->cpuid) + vm->cpuid->nent * sizeof(vm->cpuid->entries[0]);
	struct kvm_cpuid2 *c;
	int r;

	v->vm = vm;
	v->index = index;
	v->fd = vmm_kvm_create_vcpu(vm->vm_fd, index);
	if (v->fd < 0) {
		snprintf(err, err_len, "KVM_CREATE_VCPU %u: %s", index, strerror(-v->fd));
		return v->fd;
	}
	vm->vcpu_count = index + 1;
	r = vmm_kvm_map_run(v->fd, (size_t)mmap_size, &v->run);
	if (r) {
		snprintf(err, err_len, "mmap of vCPU %u: %s", index, strerror(-r));
		return r;
	}
	v->run_size = (size_t)mmap_size;
	c = malloc(sz);
	if (!c)
		return -ENOMEM;
	memcpy(c, vm->cpuid, sz);
	cpuid_for_vcpu(c, index);
	r = vmm_kvm_set_cpuid2(v->fd, c);
	free(c);
	if (r) {
		snprintf(err, err_len, "KVM_SET_CPUID2 %u: %s", index, strerror(-r));
		return r;
	}
	r = mig_kvm_dirty_add_vcpu(vm->dirty, index, v->fd);
	if (r) {
		snprintf(err, err_len, "dirty ring of vCPU %u: %s", index, mig_strerror(r));
		return r;
	}
	if (index == 0) {
		struct kvm_msr_list *all = NULL;

		r = vmm_kvm_msr_index_list(vm->kvm_fd, &all);
		if (!r) {
			r = vmm_vcpu_msrs_probe(v->fd, all, &vm->msrs);
			free(all);
		}
		if (r) {
			snprintf(err, err_len, "MSR list: %s", strerror(-r));
			return r;
		}
	}
	return 0;
}

static int setup_tracker(struct vmm_vm *vm, enum mig_kvm_dirty_mode mode,
			 char *err, size_t err_len)
{
	struct mig_kvm_slot slots[VMM_MAX_SLOTS];
	struct mig_kvm_dirty_config cfg;
	int r;

	for (uint32_t i = 0; i < vm->slot_count; i++) {
		slots[i].slot = vm->slots[i].slot;
		slots[i].flags = vm->slots[i].flags;
		slots[i].gpa = vm->slots[i].gpa;
		slots[i].size = vm->slots[i].size;
		slots[i].host = vm->slots[i].host;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.vm_fd = vm->vm_fd;
	cfg.mode = mode;
	cfg.slot_count = vm->slot_count;
	cfg.slots = slots;
	cfg.log = vm->log;
	cfg.log_opaque = vm->log_opaque;
	r = mig_kvm_dirty_new(&vm->dirty, &cfg);
	if (r)
		snprintf(err, err_len, "dirty tracker: %s", mig_strerror(r));
	return r;
}

int vmm_vm_new(struct vmm_vm **out, const struct vmm_config *cfg, char *err,
	       size_t err_len)
{
	char dummy[8];
	struct vmm_vm *vm;
	int mmap_size, r;

	if (!err) {
		err = dummy;
		err_len = sizeof(dummy);
	}
	err[0] = '\0';
	if (cfg->ram_size < VMM_RAM_MIN || cfg->ram_size > VMM_RAM_MAX ||
	    cfg->ram_size % 4096) {
		snprintf(err, err_len, "memory must be a multiple of 4 KiB from 1 MiB to 1 TiB");
		return -EINVAL;
	}
	if (cfg->vcpus < 1 || cfg->vcpus > VMM_MAX_VCPUS) {
		snprintf(err, err_len, "vCPU count must be 1 to %d", VMM_MAX_VCPUS);
		return -EINVAL;
	}
	r = install_kick_handler();
	if (r)
		return r;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->ram_size = cfg->ram_size;
	vm->log = cfg->log;
	vm->log_opaque = cfg->log_opaque;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	/* Paused until the caller says run: a target loads state first. */
	vm->pause_requested = 1;

	vm->kvm_fd = vmm_kvm_open();
	if (vm->kvm_fd < 0) {
		r = vm->kvm_fd;
		snprintf(err, err_len, r == -ENOENT ? "/dev/kvm does not exist (no KVM on this host)"
						    : "/dev/kvm: %s", strerror(-r));
		goto fail;
	}
	vm->vm_fd = vmm_kvm_create_vm(vm->kvm_fd);
	if (vm->vm_fd < 0) {
		r = vm->vm_fd;
		snprintf(err, err_len, "KVM_CREATE_VM: %s", strerror(-r));
		goto fail;
	}
	mmap_size = vmm_kvm_vcpu_mmap_size(vm->kvm_fd);
	if (mmap_size <= 0) {
		r = mmap_size ? mmap_size : -EINVAL;
		snprintf(err, err_len, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(-r));
		goto fail;
	}
	/* Intel needs these two pages before the first vCPU; AMD ignores them. */
	r = vmm_kvm_set_identity_map_addr(vm->vm_fd, VMM_IDENTITY_MAP_ADDR);
	if (!r)
		r = vmm_kvm_set_tss_addr(vm->vm_fd, VMM_TSS_ADDR);
	if (r) {
		snprintf(err, err_len, "KVM_SET_TSS_ADDR: %s", strerror(-r));
		goto fail;
	}
	r = setup_ram(vm, err, err_len);
	if (r)
		goto fail;
	if (cfg->rom_path || cfg->rom_size) {
		r = setup_rom(vm, cfg->rom_path, cfg->rom_size, err, err_len);
		if (r)
			goto fail;
	}
	r = vmm_kvm_create_irqchip(vm->vm_fd);
	if (!r)
		r = vmm_kvm_create_pit2(vm->vm_fd);
	if (r) {
		snprintf(err, err_len, "in-kernel irqchip/PIT: %s", strerror(-r));
		goto fail;
	}
	r = vmm_uart_new(&vm->uart, cfg->serial_fd, uart_irq, vm);
	if (r)
		goto fail;
	/* The ring must exist before the first vCPU does. */
	r = setup_tracker(vm, cfg->dirty_mode, err, err_len);
	if (r)
		goto fail;
	r = vmm_kvm_supported_cpuid(vm->kvm_fd, &vm->cpuid);
	if (r) {
		snprintf(err, err_len, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
		goto fail;
	}
	complete_cpuid(vm);
	fingerprint(vm);
	for (uint32_t i = 0; i < cfg->vcpus; i++) {
		r = setup_vcpu(vm, i, mmap_size, err, err_len);
		if (r)
			goto fail;
	}
	*out = vm;
	return 0;
fail:
	if (!err[0])
		snprintf(err, err_len, "%s", strerror(-r));
	vmm_vm_free(vm);
	return r;
}

static void kick_all(struct vmm_vm *vm)
{
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		struct vmm_vcpu *v = &vm->vcpus[i];

		/* immediate_exit covers a vCPU just about to enter KVM_RUN;
		 * the signal covers one already inside. */
		if (v->run)
			__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (v->thread_started && !v->stopped)
			pthread_kill(v->thread, VMM_KICK_SIGNAL);
	}
}

int vmm_vm_start(struct vmm_vm *vm)
{
	sigset_t all, old;
	int r = 0;

	/* vCPU threads take the kick signal; others block it. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		struct vmm_vcpu *v = &vm->vcpus[i];

		r = -pthread_create(&v->thread, NULL, vmm_vcpu_thread, v);
		if (r)
			break;
		v->thread_started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		vmm_vm_stop(vm, VMM_STOP_ERROR, 1, "cannot start vCPU threads: %s",
			    strerror(-r));
	return r;
}

static int all_paused(struct vmm_vm *vm)
{
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		const struct vmm_vcpu *v = &vm->vcpus[i];

		if (v->thread_started && !v->paused && !v->stopped)
			return 0;
	}
	return 1;
}

int vmm_vm_pause(struct vmm_vm *vm)
{
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	vm->pause_requested = 1;
	kick_all(vm);
	while (!all_paused(vm))
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (vm->stop_kind != VMM_STOP_NONE)
		r = -ESHUTDOWN;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vmm_vm_resume(struct vmm_vm *vm)
{
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->stop_kind != VMM_STOP_NONE)
		r = -ESHUTDOWN;
	vm->pause_requested = 0;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vmm_vm_paused(struct vmm_vm *vm)
{
	int p;

	pthread_mutex_lock(&vm->lock);
	p = vm->pause_requested;
	pthread_mutex_unlock(&vm->lock);
	return p;
}

void vmm_vm_on_stop(struct vmm_vm *vm, vmm_stop_fn fn, void *opaque)
{
	pthread_mutex_lock(&vm->lock);
	vm->on_stop = fn;
	vm->on_stop_opaque = opaque;
	pthread_mutex_unlock(&vm->lock);
}

void vmm_vm_stop(struct vmm_vm *vm, enum vmm_stop_kind kind, int code,
		 const char *fmt, ...)
{
	vmm_stop_fn fn = NULL;
	void *opaque = NULL;
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (vm->stop_kind == VMM_STOP_NONE) {
		vm->stop_kind = kind;
		vm->stop_code = code;
		va_start(ap, fmt);
		vsnprintf(vm->stop_reason, sizeof(vm->stop_reason), fmt, ap);
		va_end(ap);
		fn = vm->on_stop;
		opaque = vm->on_stop_opaque;
	}
	vm->stop_requested = 1;
	kick_all(vm);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	if (fn)
		fn(opaque);
}

void *vmm_vm_ram(struct vmm_vm *vm, uint64_t gpa, uint64_t len)
{
	for (uint32_t i = 0; i < vm->slot_count; i++) {
		const struct vmm_slot *s = &vm->slots[i];

		if (s->flags & KVM_MEM_READONLY)
			continue;
		if (gpa >= s->gpa && len <= s->size && gpa - s->gpa <= s->size - len)
			return (uint8_t *)s->host + (gpa - s->gpa);
	}
	return NULL;
}

void vmm_vm_free(struct vmm_vm *vm)
{
	if (!vm)
		return;
	pthread_mutex_lock(&vm->lock);
	vm->stop_requested = 1;
	kick_all(vm);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (uint32_t i = 0; i < vm->vcpu_count; i++)
		if (vm->vcpus[i].thread_started)
			pthread_join(vm->vcpus[i].thread, NULL);
	/* The tracker unmaps its rings before the vCPU fds go. */
	mig_kvm_dirty_free(vm->dirty);
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		struct vmm_vcpu *v = &vm->vcpus[i];

		if (v->run)
			munmap(v->run, v->run_size);
		if (v->fd >= 0)
			close(v->fd);
	}
	vmm_uart_free(vm->uart);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	for (uint32_t i = 0; i < vm->slot_count; i++)
		munmap(vm->slots[i].host, vm->slots[i].size);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	free(vm->cpuid);
	free(vm->msrs);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}
