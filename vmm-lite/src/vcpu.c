/*
 * vcpu.c: the thread that runs one vCPU: KVM_RUN in a loop, each exit
 * dispatched (port I/O to the UART and the debug-exit port, dirty-ring
 * full, shutdown, errors), and the pause handshake with vm.c.
 *
 * Pausing: vm.c sets pause_requested, stores run->immediate_exit = 1 and
 * sends a signal. This thread then re-enters KVM_RUN once with
 * immediate_exit still set, which completes an I/O instruction whose exit
 * it just handled (KVM finishes it on the next entry) and returns at once
 * with -EINTR, so the saved state never holds half an instruction; then it
 * acknowledges and sleeps until resumed or stopped.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "kvm.h"
#include "uart.h"
#include "vm.h"

/* QEMU's isa-debug-exit default, so guests end the same way under both. */
#define DEBUG_EXIT_PORT 0x501
#define DEBUG_EXIT_SIZE 2
/* The keyboard controller's command port: 0xfe pulses the CPU reset
 * line, which is how Linux reboots with reboot=k. vmm-lite has no
 * firmware to reset into, so a reset ends the VM, as in Firecracker. */
#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET 0xfe

static void io_exit(struct vmm_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vmm_vm *vm = v->vm;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	int is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint16_t port = run->io.port;

	if (run->io.data_offset >= v->run_size ||
	    (uint64_t)run->io.size * run->io.count > v->run_size - run->io.data_offset) {
		vmm_vm_stop(vm, VMM_STOP_ERROR, 1, "vCPU %u: bad I/O exit layout", v->index);
		return;
	}
	for (uint32_t n = 0; n < run->io.count; n++, data += run->io.size) {
		if (port >= VMM_UART_COM1_BASE &&
		    port < VMM_UART_COM1_BASE + VMM_UART_PORTS) {
			/* Wider accesses reach the first register only. */
			vmm_uart_io(vm->uart, port - VMM_UART_COM1_BASE, is_write, data);
			if (!is_write)
				memset(data + 1, 0xff, run->io.size - 1u);
		} else if (port >= DEBUG_EXIT_PORT &&
			   port < DEBUG_EXIT_PORT + DEBUG_EXIT_SIZE) {
			uint32_t val = 0;

			if (!is_write) {
				memset(data, 0xff, run->io.size);
				continue;
			}
			memcpy(&val, data, run->io.size <= 4 ? run->io.size : 4);
			vmm_vm_stop(vm, VMM_STOP_GUEST_EXIT, (int)(val & 0xff),
				    "guest wrote %u to the debug-exit port", val);
		} else if (port == I8042_COMMAND_PORT && is_write &&
			   data[0] == I8042_CMD_RESET) {
			vmm_vm_stop(vm, VMM_STOP_GUEST_EXIT, 0,
				    "the guest reset the machine (keyboard controller)");
		} else {
			/* Nothing decodes this port: the bus floats high, as on a
			 * PC. Said once per port, for whoever debugs a guest. */
			static _Atomic uint64_t seen[65536 / 64];
			uint64_t bit = 1ull << (port % 64);

			if (!(atomic_fetch_or(&seen[port / 64], bit) & bit))
				vmm_log(vm, MIG_LOG_DEBUG, "vCPU %u: %s of unclaimed port 0x%x",
					v->index, is_write ? "write" : "read", port);
			if (!is_write)
				memset(data, 0xff, run->io.size);
		}
	}
}

/* Returns 1 to keep running, 0 when the VM stopped. */
static int handle_exit(struct vmm_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vmm_vm *vm = v->vm;
	int r;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		io_exit(v);
		return 1;
	case KVM_EXIT_MMIO:
		/* No MMIO devices: reads float high, writes (to the ROM too)
		 * are dropped, as on a PC without a device there. RAM never
		 * exits here; if it does, KVM lost a slot: say so loudly. */
		if (vmm_vm_ram(vm, run->mmio.phys_addr, 1))
			vmm_log(vm, MIG_LOG_WARN, "vCPU %u: MMIO exit inside RAM at 0x%llx (%s)",
				v->index, (unsigned long long)run->mmio.phys_addr,
				run->mmio.is_write ? "write" : "read");
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
		return 1;
	case KVM_EXIT_INTR:
		return 1;
	case KVM_EXIT_DIRTY_RING_FULL:
		r = mig_kvm_dirty_ring_full(vm->dirty, v->index);
		if (r) {
			vmm_vm_stop(vm, VMM_STOP_ERROR, 1, "vCPU %u: dirty ring: %s",
				    v->index, mig_strerror(r));
			return 0;
		}
		return 1;
	case KVM_EXIT_SHUTDOWN:
		vmm_vm_stop(vm, VMM_STOP_ERROR, 1,
			    "vCPU %u: the guest triple-faulted (shutdown)", v->index);
		return 0;
	case KVM_EXIT_SYSTEM_EVENT:
		vmm_vm_stop(vm, VMM_STOP_ERROR, 1, "vCPU %u: system event %u (%s)",
			    v->index, run->system_event.type,
			    run->system_event.type == KVM_SYSTEM_EVENT_RESET ? "reset"
											 : "shutdown or crash");
		return 0;
	case KVM_EXIT_FAIL_ENTRY:
		vmm_vm_stop(vm, VMM_STOP_ERROR, 1,
			    "vCPU %u: KVM could not enter the guest (hardware reason 0x%llx)",
			    v->index,
			    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return 0;
	case KVM_EXIT_INTERNAL_ERROR:
		vmm_vm_stop(vm, VMM_STOP_ERROR, 1, "vCPU %u: KVM internal error, suberror %u",
			    v->index, run->internal.suberror);
		return 0;
	case KVM_EXIT_HLT:
		/* The in-kernel irqchip handles HLT; seeing it means a guest
		 * halted with nothing that could wake it. */
		vmm_vm_stop(vm, VMM_STOP_ERROR, 1, "vCPU %u halted for good", v->index);
		return 0;
	default:
		vmm_vm_stop(vm, VMM_STOP_ERROR, 1,
			    "vCPU %u: unhandled KVM exit reason %u", v->index,
			    run->exit_reason);
		return 0;
	}
}

/*
 * Called with vm->lock held when a pause or stop is pending. Returns 1 to
 * run on, 0 to leave the loop.
 */
static int park(struct vmm_vcpu *v)
{
	struct vmm_vm *vm = v->vm;

	if (vm->stop_requested)
		return 0;
	/* Complete the instruction of the last exit, with nothing after it. */
	pthread_mutex_unlock(&vm->lock);
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	vmm_kvm_run(v->fd);
	pthread_mutex_lock(&vm->lock);
	v->paused = 1;
	pthread_cond_broadcast(&vm->cond);
	while (vm->pause_requested && !vm->stop_requested)
		pthread_cond_wait(&vm->cond, &vm->lock);
	v->paused = 0;
	if (vm->stop_requested)
		return 0;
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	return 1;
}

void *vmm_vcpu_thread(void *arg)
{
	struct vmm_vcpu *v = arg;
	struct vmm_vm *vm = v->vm;
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, VMM_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	for (;;) {
		int r;

		pthread_mutex_lock(&vm->lock);
		if ((vm->pause_requested || vm->stop_requested) && !park(v)) {
			pthread_mutex_unlock(&vm->lock);
			break;
		}
		pthread_mutex_unlock(&vm->lock);

		r = vmm_kvm_run(v->fd);
		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r) {
			vmm_vm_stop(vm, VMM_STOP_ERROR, 1, "vCPU %u: KVM_RUN: %s",
				    v->index, strerror(-r));
			break;
		}
		if (!handle_exit(v))
			break;
	}
	pthread_mutex_lock(&vm->lock);
	v->stopped = 1;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}
