/*
 * machine_state.c - save and load of the VM-wide in-kernel devices and the
 * KVM clock (machine_state.h).
 */
#include <errno.h>
#include <string.h>

#include "kvm.h"
#include "machine_state.h"
#include "state_blob.h"

#ifndef KVM_CLOCK_REALTIME
#define KVM_CLOCK_REALTIME (1 << 2)
#endif
#ifndef KVM_CLOCK_HOST_TSC
#define KVM_CLOCK_HOST_TSC (1 << 3)
#endif
#ifndef KVM_PIT_FLAGS_SPEAKER_DATA_ON
#define KVM_PIT_FLAGS_SPEAKER_DATA_ON 0x00000002
#endif

#define CLOCK_KNOWN_FLAGS (KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC)
#define PIT_KNOWN_FLAGS (KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON)

enum { F_PIC_MASTER, F_PIC_SLAVE, F_IOAPIC, F_PIT2, F_CLOCK, F_COUNT };

#define EXACT(tag, type) {(tag), sizeof(type), sizeof(type), 1}

static const struct vmm_blob_field fields[F_COUNT] = {
	[F_PIC_MASTER] = EXACT(VMM_MACHINE_TAG_PIC_MASTER, struct kvm_pic_state),
	[F_PIC_SLAVE] = EXACT(VMM_MACHINE_TAG_PIC_SLAVE, struct kvm_pic_state),
	[F_IOAPIC] = EXACT(VMM_MACHINE_TAG_IOAPIC, struct kvm_ioapic_state),
	[F_PIT2] = EXACT(VMM_MACHINE_TAG_PIT2, struct kvm_pit_state2),
	[F_CLOCK] = EXACT(VMM_MACHINE_TAG_CLOCK, struct kvm_clock_data),
};

static int save_chip(int vm_fd, uint32_t id, struct vmm_blob_writer *w, uint16_t tag)
{
	struct kvm_irqchip chip;
	int r;

	memset(&chip, 0, sizeof(chip));
	chip.chip_id = id;
	r = vmm_kvm_get_irqchip(vm_fd, &chip);
	if (r)
		return r;
	if (id == KVM_IRQCHIP_IOAPIC)
		vmm_blob_put(w, tag, &chip.chip.ioapic, sizeof(chip.chip.ioapic));
	else
		vmm_blob_put(w, tag, &chip.chip.pic, sizeof(chip.chip.pic));
	return 0;
}

int vmm_machine_state_save(int vm_fd, void **blob, size_t *len)
{
	struct vmm_blob_writer w;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	int r;

	memset(&pit, 0, sizeof(pit));
	memset(&clock, 0, sizeof(clock));
	vmm_blob_begin(&w, VMM_MACHINE_STATE_MAGIC, VMM_MACHINE_STATE_VERSION);
	/* The clock first: it is the guest's time at the pause. */
	r = vmm_kvm_get_clock(vm_fd, &clock);
	if (r)
		goto fail;
	vmm_blob_put(&w, VMM_MACHINE_TAG_CLOCK, &clock, sizeof(clock));
	r = vmm_kvm_get_pit2(vm_fd, &pit);
	if (r)
		goto fail;
	vmm_blob_put(&w, VMM_MACHINE_TAG_PIT2, &pit, sizeof(pit));
	r = save_chip(vm_fd, KVM_IRQCHIP_PIC_MASTER, &w, VMM_MACHINE_TAG_PIC_MASTER);
	if (r)
		goto fail;
	r = save_chip(vm_fd, KVM_IRQCHIP_PIC_SLAVE, &w, VMM_MACHINE_TAG_PIC_SLAVE);
	if (r)
		goto fail;
	r = save_chip(vm_fd, KVM_IRQCHIP_IOAPIC, &w, VMM_MACHINE_TAG_IOAPIC);
	if (r)
		goto fail;
	return vmm_blob_finish(&w, blob, len);

fail:
	vmm_blob_abort(&w);
	return r;
}

static int all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/*
 * Flags and reserved words, and each channel's count, which feeds KVM's
 * timer arithmetic: a 16-bit counter where 0 means 65536, so KVM itself
 * never reports more. (Other channel fields are not range-checked: a
 * channel never programmed reads back with mode 0xff.)
 */
static int check_pit(const struct kvm_pit_state2 *pit)
{
	if ((pit->flags & ~(uint32_t)PIT_KNOWN_FLAGS) ||
	    !all_zero(pit->reserved, sizeof(pit->reserved)))
		return -EINVAL;
	for (int i = 0; i < 3; i++)
		if (pit->channels[i].count > 0x10000)
			return -EINVAL;
	return 0;
}

static int check_clock(const struct kvm_clock_data *clock)
{
	if (clock->flags & ~(uint32_t)CLOCK_KNOWN_FLAGS)
		return -EINVAL;
	if (clock->pad0 || !all_zero(clock->pad, sizeof(clock->pad)))
		return -EINVAL;
	return 0;
}

static int load_chip(int vm_fd, uint32_t id, const struct vmm_blob_rec *rec)
{
	struct kvm_irqchip chip;

	memset(&chip, 0, sizeof(chip));
	chip.chip_id = id;
	memcpy(&chip.chip, rec->data, rec->len); /* len is exact: checked by parse */
	return vmm_kvm_set_irqchip(vm_fd, &chip);
}

int vmm_machine_state_load(int vm_fd, const void *blob, size_t len)
{
	struct vmm_blob_rec rec[F_COUNT];
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	int r;

	r = vmm_blob_parse(blob, len, VMM_MACHINE_STATE_MAGIC, VMM_MACHINE_STATE_VERSION,
			   fields, F_COUNT, rec);
	if (r)
		return r;
	memcpy(&pit, rec[F_PIT2].data, sizeof(pit));
	memcpy(&clock, rec[F_CLOCK].data, sizeof(clock));
	r = check_pit(&pit);
	if (!r)
		r = check_clock(&clock);
	if (r)
		return r;

	/* KVM restarts the PIT's timer from the count at this moment. */
	r = vmm_kvm_set_pit2(vm_fd, &pit);
	if (r)
		return r;
	r = load_chip(vm_fd, KVM_IRQCHIP_PIC_MASTER, &rec[F_PIC_MASTER]);
	if (r)
		return r;
	r = load_chip(vm_fd, KVM_IRQCHIP_PIC_SLAVE, &rec[F_PIC_SLAVE]);
	if (r)
		return r;
	/* Re-delivers pending level-triggered lines to the LAPICs. */
	r = load_chip(vm_fd, KVM_IRQCHIP_IOAPIC, &rec[F_IOAPIC]);
	if (r)
		return r;
	/*
	 * The clock last, with no flags: without KVM_CLOCK_REALTIME, KVM sets
	 * the guest's clock to exactly the saved value, so the pause does not
	 * count as guest time (see machine_state.h). realtime and host_tsc of
	 * the record are the source's, kept for diagnosis only.
	 */
	clock.flags = 0;
	clock.realtime = 0;
	clock.host_tsc = 0;
	return vmm_kvm_set_clock(vm_fd, &clock);
}
