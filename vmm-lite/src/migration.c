/*
 * migration.c: the mig_vmm_ops of vmm-lite.
 *
 * What migrates: every RAM slot and the ROM (regions in slot order), one
 * MIG_STATE_VCPU blob per vCPU (vcpu_state.c), one MIG_STATE_MACHINE blob
 * with the irqchip, PIT and KVM clock (machine_state.c), and one
 * MIG_STATE_DEVICE blob per device (the UART, id 0). The hello's
 * vmm_config is a small JSON object with the machine's shape.
 *
 * Load order on the target, and why:
 *   1. each vCPU (vcpu_state.c documents the order inside a vCPU): the
 *      LAPICs must hold their state before the IOAPIC is loaded;
 *   2. machine state (PIC, IOAPIC, PIT, KVM clock): loading the IOAPIC
 *      re-delivers pending level-triggered interrupts to those LAPICs,
 *      and the KVM clock runs from the moment it is set, so it goes last
 *      among the KVM state to keep the guest's lost time short;
 *   3. devices (the UART may raise its line, which needs the irqchip).
 */
#include "migration.h"

#include <errno.h>
#include <signal.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine_state.h"
#include "uart.h"
#include "vcpu_state.h"

#define UART_DEVICE_NAME "uart0"
#define CONFIG_VERSION 1

static int encode_config(struct vmm_machine *m)
{
	uint64_t rom = 0;
	int n;

	for (uint32_t i = 0; i < m->vm->slot_count; i++)
		if (m->vm->slots[i].flags & KVM_MEM_READONLY)
			rom = m->vm->slots[i].size;
	n = snprintf(m->config_blob, sizeof(m->config_blob),
		     "{\"vmm\":\"vmm-lite\",\"version\":%d,\"ram\":%llu,"
		     "\"cpus\":%u,\"rom\":%llu}",
		     CONFIG_VERSION, (unsigned long long)m->vm->ram_size,
		     m->vm->vcpu_count, (unsigned long long)rom);
	if (n < 0 || (size_t)n >= sizeof(m->config_blob))
		return -E2BIG;
	m->config_len = (size_t)n;
	return 0;
}

static int describe(void *vmm, struct mig_guest_desc *d)
{
	struct vmm_machine *m = vmm;
	struct vmm_vm *vm = m->vm;
	int r;

	r = encode_config(m);
	if (r)
		return r;
	memset(d, 0, sizeof(*d));
	d->region_count = vm->slot_count;
	for (uint32_t i = 0; i < vm->slot_count; i++) {
		d->regions[i].gpa = vm->slots[i].gpa;
		d->regions[i].size = vm->slots[i].size;
		d->regions[i].host = vm->slots[i].host;
		d->regions[i].read_only = !!(vm->slots[i].flags & KVM_MEM_READONLY);
	}
	d->vcpu_count = vm->vcpu_count;
	snprintf(d->cpu_fingerprint, sizeof(d->cpu_fingerprint), "%s",
		 vm->cpu_fingerprint);
	d->device_count = 1;
	snprintf(d->devices[0], sizeof(d->devices[0]), UART_DEVICE_NAME);
	d->vmm_config = m->config_blob;
	d->vmm_config_len = m->config_len;
	return 0;
}

static int pause_vm(void *vmm)
{
	struct vmm_machine *m = vmm;

	return vmm_vm_pause(m->vm);
}

static int resume_vm(void *vmm)
{
	struct vmm_machine *m = vmm;

	return vmm_vm_resume(m->vm);
}

static int save_state(void *vmm, mig_state *st)
{
	struct vmm_machine *m = vmm;
	struct vmm_vm *vm = m->vm;
	uint8_t uart[256];
	size_t len;
	void *blob;
	int r;

	r = vmm_machine_state_save(vm->vm_fd, &blob, &len);
	if (r)
		return r;
	r = mig_state_add(st, MIG_STATE_MACHINE, 0, "kvm-machine", blob, len);
	free(blob);
	if (r)
		return r;
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		r = vmm_vcpu_state_save(vm->vcpus[i].fd, vm->msrs, &blob, &len);
		if (r)
			return r;
		r = mig_state_add(st, MIG_STATE_VCPU, i, "kvm-vcpu", blob, len);
		free(blob);
		if (r)
			return r;
	}
	r = vmm_uart_save(vm->uart, uart, sizeof(uart));
	if (r < 0)
		return r;
	return mig_state_add(st, MIG_STATE_DEVICE, 0, UART_DEVICE_NAME, uart, (size_t)r);
}

/* Reads a non-negative integer member within [lo, hi]. */
static int config_u64(struct json_object *o, const char *key, uint64_t lo,
		      uint64_t hi, uint64_t *out)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -EINVAL;
	x = json_object_get_int64(v);
	if (x < 0 || (uint64_t)x < lo || (uint64_t)x > hi)
		return -EINVAL;
	*out = (uint64_t)x;
	return 0;
}

static int parse_config(const struct mig_guest_desc *d, struct vmm_config *cfg,
			char *reason, size_t reason_len)
{
	struct json_tokener *tok;
	struct json_object *o, *v;
	uint64_t ver, ram, cpus, rom;
	int r = -EINVAL;

	if (!d->vmm_config || !d->vmm_config_len || d->vmm_config_len > VMM_MIG_CONFIG_MAX) {
		snprintf(reason, reason_len, "no vmm-lite configuration in the hello");
		return -EINVAL;
	}
	tok = json_tokener_new_ex(4);
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, d->vmm_config, (int)d->vmm_config_len);
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "vmm", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "vmm-lite")) {
		snprintf(reason, reason_len, "the source is not a vmm-lite VMM");
		goto out;
	}
	if (config_u64(o, "version", CONFIG_VERSION, CONFIG_VERSION, &ver)) {
		snprintf(reason, reason_len, "unsupported vmm-lite configuration version");
		goto out;
	}
	if (config_u64(o, "ram", VMM_RAM_MIN, VMM_RAM_MAX, &ram) || ram % 4096 ||
	    config_u64(o, "cpus", 1, VMM_MAX_VCPUS, &cpus) ||
	    config_u64(o, "rom", 0, VMM_ROM_MAX, &rom) || rom % 4096) {
		snprintf(reason, reason_len, "bad machine shape in the vmm-lite configuration");
		goto out;
	}
	if (cpus != d->vcpu_count) {
		snprintf(reason, reason_len, "vCPU count %u disagrees with the configuration",
			 d->vcpu_count);
		goto out;
	}
	cfg->ram_size = ram;
	cfg->vcpus = (uint32_t)cpus;
	cfg->rom_path = NULL;
	cfg->rom_size = rom;
	r = 0;
out:
	json_object_put(o);
	return r;
}

/* The regions the source announced must be exactly this VM's slots. */
static int check_regions(const struct vmm_vm *vm, const struct mig_guest_desc *d,
			 char *reason, size_t reason_len)
{
	if (d->region_count != vm->slot_count) {
		snprintf(reason, reason_len, "%u memory regions announced, %u expected",
			 d->region_count, vm->slot_count);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < vm->slot_count; i++) {
		const struct mig_region *g = &d->regions[i];
		const struct vmm_slot *s = &vm->slots[i];

		if (g->gpa != s->gpa || g->size != s->size ||
		    !!g->read_only != !!(s->flags & KVM_MEM_READONLY)) {
			snprintf(reason, reason_len, "memory region %u does not match the layout", i);
			return -EINVAL;
		}
	}
	return 0;
}

static int create_guest(void *vmm, const struct mig_guest_desc *d, char *reason,
			size_t reason_len)
{
	struct vmm_machine *m = vmm;
	struct vmm_config cfg = m->cfg;
	int r;

	if (m->vm) {
		snprintf(reason, reason_len, "this VMM already runs a guest");
		return -EBUSY;
	}
	if (d->device_count != 1 || strcmp(d->devices[0], UART_DEVICE_NAME)) {
		snprintf(reason, reason_len, "unknown device set (vmm-lite has only %s)",
			 UART_DEVICE_NAME);
		return -EINVAL;
	}
	r = parse_config(d, &cfg, reason, reason_len);
	if (r)
		return r;
	r = vmm_vm_new(&m->vm, &cfg, reason, reason_len);
	if (r)
		return r;
	vmm_vm_on_stop(m->vm, m->on_stop, m->on_stop_opaque);
	if (strcmp(d->cpu_fingerprint, m->vm->cpu_fingerprint)) {
		snprintf(reason, reason_len, "CPU differs: source %.60s, here %s",
			 d->cpu_fingerprint, m->vm->cpu_fingerprint);
		r = -EINVAL;
		goto fail;
	}
	r = check_regions(m->vm, d, reason, reason_len);
	if (r)
		goto fail;
	m->cfg = cfg;
	return 0;
fail:
	vmm_vm_free(m->vm);
	m->vm = NULL;
	return r;
}

static int memory_regions(void *vmm, const struct mig_region **regions, size_t *count)
{
	struct vmm_machine *m = vmm;
	struct mig_region *rs = m->regions;

	if (!m->vm)
		return -EINVAL;
	for (uint32_t i = 0; i < m->vm->slot_count; i++) {
		rs[i].gpa = m->vm->slots[i].gpa;
		rs[i].size = m->vm->slots[i].size;
		rs[i].host = m->vm->slots[i].host;
		rs[i].read_only = !!(m->vm->slots[i].flags & KVM_MEM_READONLY);
	}
	*regions = rs;
	*count = m->vm->slot_count;
	return 0;
}

static int load_state(void *vmm, const mig_state *st)
{
	struct vmm_machine *m = vmm;
	struct vmm_vm *vm = m->vm;
	const void *data;
	size_t len;
	int r;

	if (!vm)
		return -EINVAL;
	if (mig_state_count(st) != vm->vcpu_count + 2u)
		return -EINVAL;
	for (uint32_t i = 0; i < vm->vcpu_count; i++) {
		r = mig_state_find(st, MIG_STATE_VCPU, i, &data, &len);
		if (!r)
			r = vmm_vcpu_state_load(vm->vcpus[i].fd, data, len);
		if (r)
			return r;
	}
	r = mig_state_find(st, MIG_STATE_MACHINE, 0, &data, &len);
	if (!r)
		r = vmm_machine_state_load(vm->vm_fd, data, len);
	if (r)
		return r;
	r = mig_state_find(st, MIG_STATE_DEVICE, 0, &data, &len);
	if (!r)
		r = vmm_uart_load(vm->uart, data, len);
	return r;
}

/*
 * Fault injection for the tests of what runs above the VMM (the daemon's
 * undetermined migrations, tests/migrated): VMM_LITE_TEST_FAULT names one
 * fault of the target, right after the source's commit:
 *   die-before-start     the process dies before the guest runs here;
 *   stall-after-start=S  the guest runs here, but the confirmation to
 *                        the source leaves S seconds later.
 * Unset, nothing changes.
 */
static void test_fault_before_start(void)
{
	const char *f = getenv("VMM_LITE_TEST_FAULT");

	if (f && !strcmp(f, "die-before-start"))
		raise(SIGKILL);
}

static void test_fault_after_start(void)
{
	const char *f = getenv("VMM_LITE_TEST_FAULT");
	unsigned s;

	if (f && sscanf(f, "stall-after-start=%u", &s) == 1 && s <= 3600)
		sleep(s);
}

static int start_guest(void *vmm)
{
	struct vmm_machine *m = vmm;
	int r;

	if (!m->vm)
		return -EINVAL;
	test_fault_before_start();
	r = vmm_vm_start(m->vm);
	if (!r)
		r = vmm_vm_resume(m->vm);
	if (!r) {
		m->started = 1;
		test_fault_after_start();
	}
	return r;
}

/*
 * Source: the target runs the guest now; stop this copy for good (the
 * process then exits). Target: the migration failed before commit;
 * discard what arrived.
 */
static int destroy_guest(void *vmm)
{
	struct vmm_machine *m = vmm;

	if (!m->vm)
		return 0;
	if (!m->is_target) {
		m->migrated_away = 1;
		vmm_vm_stop(m->vm, VMM_STOP_REQUESTED, 0,
			    "the guest migrated away and runs on the target");
		return 0;
	}
	vmm_vm_free(m->vm);
	m->vm = NULL;
	m->started = 0;
	return 0;
}

static void progress(void *vmm, const struct mig_progress *p)
{
	struct vmm_machine *m = vmm;

	if (m->on_progress)
		m->on_progress(m->on_progress_opaque, p);
}

static const struct mig_vmm_ops ops = {
	.describe = describe,
	.memory_regions = memory_regions,
	.pause = pause_vm,
	.resume = resume_vm,
	.save_state = save_state,
	.load_state = load_state,
	.create_guest = create_guest,
	.start_guest = start_guest,
	.destroy_guest = destroy_guest,
	.progress = progress,
};

const struct mig_vmm_ops *vmm_mig_ops(void)
{
	return &ops;
}
