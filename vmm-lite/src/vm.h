/*
 * vm.h: one KVM virtual machine: its memory slots, the in-kernel irqchip
 * and PIT, its vCPU threads with a clean pause, and its port-I/O devices.
 *
 * Threads: each vCPU has its own thread (vcpu.c). Everything else here is
 * called from the VMM's main thread or the migration thread; the run
 * control (pause, resume, stop) is guarded by vm->lock.
 */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "migrate.h"

#define VMM_MAX_VCPUS 64
#define VMM_MAX_SLOTS 3

/* Sent to a vCPU thread to take it out of KVM_RUN. */
#define VMM_KICK_SIGNAL SIGUSR1

/* Guest-physical layout: RAM from 0 up to the PCI hole, the rest above
 * 4 GiB; an optional ROM ends at 4 GiB like a BIOS flash. */
#define VMM_LOW_RAM_MAX 0xc0000000ull
#define VMM_HIGH_RAM_START 0x100000000ull
#define VMM_ROM_END 0x100000000ull
#define VMM_ROM_MAX (16ull << 20)
/* Pages KVM keeps for itself on Intel (real-mode TSS, EPT identity map);
 * inside the hole, below the ROM's largest extent. */
#define VMM_IDENTITY_MAP_ADDR 0xfeffc000ull
#define VMM_TSS_ADDR 0xfeffd000ull

#define VMM_RAM_MIN (1ull << 20)
#define VMM_RAM_MAX (1ull << 40)

struct vmm_slot {
	uint32_t slot;   /* KVM slot number, also the migration region index */
	uint32_t flags;  /* KVM_MEM_READONLY or 0 */
	uint64_t gpa;
	uint64_t size;
	void *host;      /* mmap'd by vmm_vm_new, unmapped by vmm_vm_free */
};

struct vmm_vm;

struct vmm_vcpu {
	struct vmm_vm *vm;
	uint32_t index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	int thread_started;
	int paused;      /* acknowledged a pause (vm->lock) */
	int stopped;     /* left its loop for good (vm->lock) */
};

/* Why the VM stopped running, once it has. */
enum vmm_stop_kind {
	VMM_STOP_NONE = 0,
	VMM_STOP_GUEST_EXIT,  /* debug-exit port: code is the guest's */
	VMM_STOP_ERROR,       /* unhandled exit, triple fault, KVM error */
	VMM_STOP_REQUESTED,   /* quit, or the guest left after a migration */
};

struct vmm_uart;
struct mig_kvm_dirty;

/* Called (from a vCPU thread) once, when the VM stops for good. */
typedef void (*vmm_stop_fn)(void *opaque);

struct vmm_config {
	uint64_t ram_size;
	uint32_t vcpus;
	const char *rom_path;          /* ROM image; NULL: none, or see rom_size */
	uint64_t rom_size;             /* without rom_path: an empty ROM slot of this
					* size (a target; the contents migrate) */
	enum mig_kvm_dirty_mode dirty_mode;
	int serial_fd;                 /* -1: the UART's output is dropped */
	mig_log_fn log;
	void *log_opaque;
};

struct vmm_vm {
	int kvm_fd;
	int vm_fd;
	uint64_t ram_size;
	uint32_t slot_count;
	struct vmm_slot slots[VMM_MAX_SLOTS];
	uint32_t vcpu_count;
	struct vmm_vcpu vcpus[VMM_MAX_VCPUS];
	struct kvm_cpuid2 *cpuid;     /* what every vCPU gets, owned */
	struct kvm_msr_list *msrs;    /* the MSRs that migrate, owned */
	char cpu_fingerprint[40];     /* hash of cpuid, for the peer */
	struct vmm_uart *uart;        /* COM1, owned */
	struct mig_kvm_dirty *dirty;  /* dirty tracker, owned */
	mig_log_fn log;
	void *log_opaque;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pause_requested;
	int stop_requested;
	enum vmm_stop_kind stop_kind;
	int stop_code;
	char stop_reason[256];
	vmm_stop_fn on_stop;
	void *on_stop_opaque;
};

/*
 * Creates a VM of cfg's shape: KVM, memory slots (zeroed anonymous
 * memory), the ROM if any, irqchip, PIT, the dirty tracker, and the
 * vCPUs with their CPUID, all paused (no thread runs the guest before
 * vmm_vm_start). On failure writes a reason into `err` (may be NULL).
 * Returns 0 and sets *out, or a negative errno.
 */
int vmm_vm_new(struct vmm_vm **out, const struct vmm_config *cfg,
	       char *err, size_t err_len);
/* Starts the vCPU threads (running unless paused before). */
int vmm_vm_start(struct vmm_vm *vm);
/*
 * Takes every vCPU out of KVM_RUN (pending I/O completed) and waits for
 * each to acknowledge. Idempotent. Returns 0 or -ESHUTDOWN if stopped.
 */
int vmm_vm_pause(struct vmm_vm *vm);
/* Lets paused vCPUs run again. */
int vmm_vm_resume(struct vmm_vm *vm);
/* 1 when vmm_vm_pause is in force. */
int vmm_vm_paused(struct vmm_vm *vm);
/*
 * Stops the VM for good with the given kind, code and reason (the first
 * stop wins) and wakes every vCPU so its thread ends. Any thread.
 */
void vmm_vm_stop(struct vmm_vm *vm, enum vmm_stop_kind kind, int code,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Sets the callback run once when the VM stops. */
void vmm_vm_on_stop(struct vmm_vm *vm, vmm_stop_fn fn, void *opaque);
/* Joins every vCPU thread, then frees all. NULL is a no-op. */
void vmm_vm_free(struct vmm_vm *vm);

/* Host address of [gpa, gpa + len) in RAM, or NULL if not all RAM. */
void *vmm_vm_ram(struct vmm_vm *vm, uint64_t gpa, uint64_t len);

/* Logs through the VM's callback (printf style). */
void vmm_log(struct vmm_vm *vm, enum mig_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* vcpu.c: the thread body of one vCPU. */
void *vmm_vcpu_thread(void *arg);

#endif
