/*
 * vcpu_state.c - save and load of one x86 vCPU's KVM state (vcpu_state.h).
 *
 * The orders below follow the KVM API documentation and Firecracker's
 * vCPU save/restore (src/vmm/src/arch/x86_64/vcpu.rs), whose comments
 * record why each constraint exists; the reasons are repeated where the
 * calls are made.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm.h"
#include "state_blob.h"
#include "vcpu_state.h"

#ifndef KVM_CAP_XSAVE2
#define KVM_CAP_XSAVE2 208
#endif
#ifndef KVM_VCPUEVENT_VALID_PAYLOAD
#define KVM_VCPUEVENT_VALID_PAYLOAD 0x00000010
#endif
#ifndef KVM_VCPUEVENT_VALID_TRIPLE_FAULT
#define KVM_VCPUEVENT_VALID_TRIPLE_FAULT 0x00000020
#endif

#define MSR_IA32_TSC_DEADLINE 0x000006e0u

/* KVM refuses 256 or more MSRs in one KVM_GET/SET_MSRS (MAX_IO_MSRS). */
#define MSR_CHUNK 128u
#define MSR_REC_HDR 8u
#define MSR_REC_ENTRY 16u

/* Frequencies this close count as equal, as in QEMU and Firecracker: two
 * hosts' TSC calibrations differ by that much. */
#define TSC_KHZ_TOLERANCE_PPM 250u
#define TSC_KHZ_MAX 100000000u /* 100 GHz: anything above is garbage */

#define EVENTS_KNOWN_FLAGS                                                     \
	(KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |   \
	 KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |                \
	 KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT)

enum {
	F_MP,
	F_REGS,
	F_SREGS,
	F_XSAVE,
	F_FPU,
	F_XCRS,
	F_DEBUGREGS,
	F_LAPIC,
	F_MSRS,
	F_EVENTS,
	F_TSC_KHZ,
	F_COUNT
};

#define EXACT(tag, type, req) {(tag), sizeof(type), sizeof(type), (req)}

static const struct vmm_blob_field fields[F_COUNT] = {
	[F_MP] = EXACT(VMM_VCPU_TAG_MP_STATE, struct kvm_mp_state, 1),
	[F_REGS] = EXACT(VMM_VCPU_TAG_REGS, struct kvm_regs, 1),
	[F_SREGS] = EXACT(VMM_VCPU_TAG_SREGS, struct kvm_sregs, 1),
	[F_XSAVE] = {VMM_VCPU_TAG_XSAVE, VMM_VCPU_XSAVE_MIN, VMM_VCPU_XSAVE_MAX, 0},
	[F_FPU] = EXACT(VMM_VCPU_TAG_FPU, struct kvm_fpu, 0),
	[F_XCRS] = EXACT(VMM_VCPU_TAG_XCRS, struct kvm_xcrs, 1),
	[F_DEBUGREGS] = EXACT(VMM_VCPU_TAG_DEBUGREGS, struct kvm_debugregs, 1),
	[F_LAPIC] = EXACT(VMM_VCPU_TAG_LAPIC, struct kvm_lapic_state, 1),
	[F_MSRS] = {VMM_VCPU_TAG_MSRS, MSR_REC_HDR,
		    MSR_REC_HDR + MSR_REC_ENTRY * VMM_VCPU_MSRS_MAX, 1},
	[F_EVENTS] = EXACT(VMM_VCPU_TAG_EVENTS, struct kvm_vcpu_events, 1),
	[F_TSC_KHZ] = EXACT(VMM_VCPU_TAG_TSC_KHZ, uint32_t, 0),
};

static struct kvm_msrs *msrs_alloc(uint32_t n)
{
	return calloc(1, sizeof(struct kvm_msrs) + n * sizeof(struct kvm_msr_entry));
}

/* What this host's KVM offers for the FPU/SSE/AVX... state. */
struct fp_area {
	int has_xsave;
	int has_xsave2;
	size_t size; /* bytes KVM may write or read for one vCPU */
};

/*
 * KVM answers KVM_CAP_XSAVE2 on a system or VM fd only, and the area's
 * size is per process (it grows with arch_prctl(ARCH_REQ_XCOMP_GUEST_PERM)),
 * so a system fd of our own gives the same answer as the VM's.
 */
static int fp_area_query(struct fp_area *a)
{
	int kvm, r;

	kvm = vmm_kvm_open();
	if (kvm < 0)
		return kvm;
	r = vmm_kvm_check_extension(kvm, KVM_CAP_XSAVE);
	if (r < 0)
		goto out_close;
	a->has_xsave = r > 0;
	r = vmm_kvm_check_extension(kvm, KVM_CAP_XSAVE2);
	if (r < 0)
		goto out_close;
	a->has_xsave2 = r > 0;
	r = vmm_kvm_xsave_size(kvm);
	if (r < 0)
		goto out_close;
	if ((unsigned)r > VMM_VCPU_XSAVE_MAX) {
		r = -EOPNOTSUPP;
		goto out_close;
	}
	a->size = (size_t)r;
	r = 0;
out_close:
	close(kvm);
	return r;
}

/*
 * Keeps in m->entries the MSRs that KVM_GET_MSRS (or, with `set`,
 * KVM_SET_MSRS) accepts. Both take entries in order and stop at the first
 * they refuse, returning how many they took: so one call per refused MSR
 * plus one, not one per MSR (which costs a second in a nested VM).
 */
static int msrs_filter(int vcpu_fd, struct kvm_msrs *m, struct kvm_msrs *batch,
		       int set)
{
	uint32_t n = m->nmsrs, next = 0, keep = 0;
	int r;

	while (next < n) {
		batch->nmsrs = n - next;
		memcpy(batch->entries, m->entries + next,
		       batch->nmsrs * sizeof(batch->entries[0]));
		r = set ? vmm_kvm_set_msrs(vcpu_fd, batch) : vmm_kvm_get_msrs(vcpu_fd, batch);
		if (r < 0)
			return r;
		if ((uint32_t)r > batch->nmsrs)
			return -EIO;
		/* A read fills in the values the write-back then uses. */
		memmove(m->entries + keep, batch->entries, (uint32_t)r * sizeof(m->entries[0]));
		keep += (uint32_t)r;
		next += (uint32_t)r + 1; /* skip the one refused */
	}
	m->nmsrs = keep;
	return 0;
}

int vmm_vcpu_msrs_probe(int vcpu_fd, const struct kvm_msr_list *all,
			struct kvm_msr_list **savable)
{
	struct kvm_msrs *m = NULL, *batch = NULL;
	struct kvm_msr_list *out = NULL;
	int r;

	if (all->nmsrs > VMM_VCPU_MSRS_MAX)
		return -E2BIG;
	out = calloc(1, sizeof(*out) + (all->nmsrs + 1) * sizeof(out->indices[0]));
	m = msrs_alloc(all->nmsrs + 1);
	batch = msrs_alloc(all->nmsrs + 1);
	if (!out || !m || !batch) {
		r = -ENOMEM;
		goto out_free;
	}
	m->nmsrs = all->nmsrs;
	for (uint32_t i = 0; i < all->nmsrs; i++)
		m->entries[i].index = all->indices[i];
	/* Readable, then writable with the same value back: harmless on a
	 * vCPU that has not run yet. */
	r = msrs_filter(vcpu_fd, m, batch, 0);
	if (!r)
		r = msrs_filter(vcpu_fd, m, batch, 1);
	if (r)
		goto out_free;
	for (uint32_t i = 0; i < m->nmsrs; i++)
		out->indices[i] = m->entries[i].index;
	out->nmsrs = m->nmsrs;
	*savable = out;
	out = NULL;
out_free:
	free(batch);
	free(m);
	free(out);
	return r;
}

static int save_fp(int vcpu_fd, struct vmm_blob_writer *w)
{
	struct fp_area a = {0};
	struct kvm_fpu fpu;
	void *x;
	int r;

	r = fp_area_query(&a);
	if (r)
		return r;
	if (!a.has_xsave) {
		memset(&fpu, 0, sizeof(fpu));
		r = vmm_kvm_get_fpu(vcpu_fd, &fpu);
		if (!r)
			vmm_blob_put(w, VMM_VCPU_TAG_FPU, &fpu, sizeof(fpu));
		return r;
	}
	x = calloc(1, a.size);
	if (!x)
		return -ENOMEM;
	/* KVM_GET_XSAVE refuses areas above 4 KiB (AMX); XSAVE2 writes it all. */
	r = a.has_xsave2 ? vmm_kvm_get_xsave2(vcpu_fd, x) : vmm_kvm_get_xsave(vcpu_fd, x);
	if (!r)
		vmm_blob_put(w, VMM_VCPU_TAG_XSAVE, x, a.size);
	free(x);
	return r;
}

static int save_msrs(int vcpu_fd, const struct kvm_msr_list *msrs,
		     struct vmm_blob_writer *w)
{
	uint32_t n = msrs ? msrs->nmsrs : 0;
	uint32_t done, c, i;
	struct kvm_msrs *m;
	uint8_t *rec;
	int r = 0;

	if (n > VMM_VCPU_MSRS_MAX)
		return -E2BIG;
	m = msrs_alloc(MSR_CHUNK);
	if (!m)
		return -ENOMEM;
	/* Filled right away: the pointer lives only until the next record. */
	rec = vmm_blob_reserve(w, VMM_VCPU_TAG_MSRS, MSR_REC_HDR + (size_t)n * MSR_REC_ENTRY);
	if (!rec) {
		r = w->err;
		goto out_free;
	}
	vmm_put_le32(rec, n);
	vmm_put_le32(rec + 4, 0);
	for (done = 0; done < n; done += c) {
		c = n - done < MSR_CHUNK ? n - done : MSR_CHUNK;
		memset(m->entries, 0, c * sizeof(m->entries[0]));
		m->nmsrs = c;
		for (i = 0; i < c; i++)
			m->entries[i].index = msrs->indices[done + i];
		r = vmm_kvm_get_msrs(vcpu_fd, m);
		if (r < 0)
			goto out_free;
		/* The probe said they all read: one that stopped is news. */
		if ((uint32_t)r != c) {
			r = -EIO;
			goto out_free;
		}
		for (i = 0; i < c; i++) {
			uint8_t *e = rec + MSR_REC_HDR + (size_t)(done + i) * MSR_REC_ENTRY;

			vmm_put_le32(e, m->entries[i].index);
			vmm_put_le32(e + 4, 0);
			vmm_put_le64(e + 8, m->entries[i].data);
		}
	}
	r = 0;
out_free:
	free(m);
	return r;
}

int vmm_vcpu_state_save(int vcpu_fd, const struct kvm_msr_list *msrs,
			void **blob, size_t *len)
{
	struct kvm_mp_state mp = {0};
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dbg;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	struct vmm_blob_writer w;
	uint32_t khz;
	int r;

	memset(&regs, 0, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	memset(&xcrs, 0, sizeof(xcrs));
	memset(&dbg, 0, sizeof(dbg));
	memset(&lapic, 0, sizeof(lapic));
	memset(&ev, 0, sizeof(ev));
	vmm_blob_begin(&w, VMM_VCPU_STATE_MAGIC, VMM_VCPU_STATE_VERSION);

	/*
	 * MP state first: KVM_GET_MP_STATE makes the LAPIC accept pending
	 * INIT/SIPI events, which changes the MP state, registers and LAPIC
	 * that every later GET reads.
	 */
	r = vmm_kvm_get_mp_state(vcpu_fd, &mp);
	if (r)
		goto fail;
	vmm_blob_put(&w, VMM_VCPU_TAG_MP_STATE, &mp, sizeof(mp));
	r = vmm_kvm_get_regs(vcpu_fd, &regs);
	if (r)
		goto fail;
	vmm_blob_put(&w, VMM_VCPU_TAG_REGS, &regs, sizeof(regs));
	r = vmm_kvm_get_sregs(vcpu_fd, &sregs);
	if (r)
		goto fail;
	vmm_blob_put(&w, VMM_VCPU_TAG_SREGS, &sregs, sizeof(sregs));
	r = save_fp(vcpu_fd, &w);
	if (r)
		goto fail;
	r = vmm_kvm_get_xcrs(vcpu_fd, &xcrs);
	if (r)
		goto fail;
	vmm_blob_put(&w, VMM_VCPU_TAG_XCRS, &xcrs, sizeof(xcrs));
	r = vmm_kvm_get_debugregs(vcpu_fd, &dbg);
	if (r)
		goto fail;
	vmm_blob_put(&w, VMM_VCPU_TAG_DEBUGREGS, &dbg, sizeof(dbg));
	/* KVM_GET_LAPIC folds posted interrupts into the IRR it returns. */
	r = vmm_kvm_get_lapic(vcpu_fd, &lapic);
	if (r)
		goto fail;
	vmm_blob_put(&w, VMM_VCPU_TAG_LAPIC, &lapic, sizeof(lapic));
	/* Unknown when the host's TSC frequency is: the target then keeps its own. */
	r = vmm_kvm_get_tsc_khz(vcpu_fd);
	if (r > 0) {
		uint8_t b[4];

		khz = (uint32_t)r;
		vmm_put_le32(b, khz);
		vmm_blob_put(&w, VMM_VCPU_TAG_TSC_KHZ, b, sizeof(b));
	}
	r = save_msrs(vcpu_fd, msrs, &w);
	if (r)
		goto fail;
	/*
	 * Events last: they are what the GETs above may still have changed
	 * (KVM_GET_VCPU_EVENTS also folds queued NMIs into nmi.pending and
	 * delivers deferred exception payloads first).
	 */
	r = vmm_kvm_get_vcpu_events(vcpu_fd, &ev);
	if (r)
		goto fail;
	vmm_blob_put(&w, VMM_VCPU_TAG_EVENTS, &ev, sizeof(ev));
	return vmm_blob_finish(&w, blob, len);

fail:
	vmm_blob_abort(&w);
	return r;
}

/* ---- load ---------------------------------------------------------------- */

/* The blob's fixed-size records, copied out to aligned structs. */
struct vcpu_image {
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dbg;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	uint32_t tsc_khz; /* 0: not in the blob */
	void *xsave;      /* this host's XSAVE area size, NULL with the FPU record */
	const uint8_t *msrs;
	uint32_t nmsrs;
};

/* The MSR record: count, size, reserved words, no index twice. */
static int check_msrs(const struct vmm_blob_rec *rec, struct vcpu_image *img)
{
	const uint8_t *p = rec->data;
	uint32_t n, i, j;

	n = vmm_le32(p);
	if (n > VMM_VCPU_MSRS_MAX || vmm_le32(p + 4) != 0 ||
	    rec->len != MSR_REC_HDR + (size_t)n * MSR_REC_ENTRY)
		return -EINVAL;
	p += MSR_REC_HDR;
	for (i = 0; i < n; i++) {
		if (vmm_le32(p + i * MSR_REC_ENTRY + 4) != 0)
			return -EINVAL;
		/* n <= 1024: the quadratic scan stays under a millisecond. */
		for (j = 0; j < i; j++)
			if (vmm_le32(p + j * MSR_REC_ENTRY) == vmm_le32(p + i * MSR_REC_ENTRY))
				return -EINVAL;
	}
	img->msrs = p;
	img->nmsrs = n;
	return 0;
}

/*
 * The XSAVE record into a buffer of this host's area size. A bigger area
 * from the source is accepted only if the excess is all zero (components
 * the guest never used).
 */
static int prepare_xsave(const struct vmm_blob_rec *rec, struct vcpu_image *img)
{
	struct fp_area a = {0};
	size_t i;
	int r;

	r = fp_area_query(&a);
	if (r)
		return r;
	if (!a.has_xsave)
		return -EOPNOTSUPP;
	for (i = a.size; i < rec->len; i++)
		if (rec->data[i])
			return -EOPNOTSUPP;
	img->xsave = calloc(1, a.size);
	if (!img->xsave)
		return -ENOMEM;
	memcpy(img->xsave, rec->data, rec->len < a.size ? rec->len : a.size);
	return 0;
}

/* Checks everything that can be checked without KVM, copying it out. */
static int decode(const void *blob, size_t len, struct vcpu_image *img)
{
	struct vmm_blob_rec rec[F_COUNT];
	int r;

	r = vmm_blob_parse(blob, len, VMM_VCPU_STATE_MAGIC, VMM_VCPU_STATE_VERSION,
			   fields, F_COUNT, rec);
	if (r)
		return r;
	/* Exactly one of the two FPU state forms. */
	if (rec[F_XSAVE].present == rec[F_FPU].present)
		return -EINVAL;
	memcpy(&img->mp, rec[F_MP].data, sizeof(img->mp));
	memcpy(&img->regs, rec[F_REGS].data, sizeof(img->regs));
	memcpy(&img->sregs, rec[F_SREGS].data, sizeof(img->sregs));
	memcpy(&img->xcrs, rec[F_XCRS].data, sizeof(img->xcrs));
	memcpy(&img->dbg, rec[F_DEBUGREGS].data, sizeof(img->dbg));
	memcpy(&img->lapic, rec[F_LAPIC].data, sizeof(img->lapic));
	memcpy(&img->ev, rec[F_EVENTS].data, sizeof(img->ev));
	if (img->xcrs.nr_xcrs > KVM_MAX_XCRS || img->xcrs.flags != 0)
		return -EINVAL;
	if (img->dbg.flags != 0)
		return -EINVAL;
	if (img->ev.flags & ~(uint32_t)EVENTS_KNOWN_FLAGS)
		return -EINVAL;
	if (rec[F_TSC_KHZ].present) {
		img->tsc_khz = vmm_le32(rec[F_TSC_KHZ].data);
		if (img->tsc_khz == 0 || img->tsc_khz > TSC_KHZ_MAX)
			return -EINVAL;
	}
	r = check_msrs(&rec[F_MSRS], img);
	if (r)
		return r;
	if (rec[F_FPU].present) {
		memcpy(&img->fpu, rec[F_FPU].data, sizeof(img->fpu));
		return 0;
	}
	return prepare_xsave(&rec[F_XSAVE], img);
}

/* Writes the MSRs whose index is (or, with deadline 0, is not) TSC_DEADLINE. */
static int load_msrs(int vcpu_fd, const struct vcpu_image *img, int deadline)
{
	struct kvm_msrs *m;
	uint32_t i, c = 0;
	int r = 0;

	m = msrs_alloc(MSR_CHUNK);
	if (!m)
		return -ENOMEM;
	for (i = 0; i <= img->nmsrs; i++) {
		if (i < img->nmsrs) {
			const uint8_t *e = img->msrs + (size_t)i * MSR_REC_ENTRY;
			uint32_t index = vmm_le32(e);

			if ((index == MSR_IA32_TSC_DEADLINE) != !!deadline)
				continue;
			m->entries[c].index = index;
			m->entries[c].reserved = 0;
			m->entries[c].data = vmm_le64(e + 8);
			c++;
		}
		if (c == MSR_CHUNK || (i == img->nmsrs && c > 0)) {
			m->nmsrs = c;
			r = vmm_kvm_set_msrs(vcpu_fd, m);
			if (r < 0)
				goto out_free;
			/* KVM stops at the first MSR it refuses: this host cannot take it. */
			if ((uint32_t)r != c) {
				r = -EINVAL;
				goto out_free;
			}
			c = 0;
		}
	}
	r = 0;
out_free:
	free(m);
	return r;
}

/* Scales the guest TSC when this host's frequency differs noticeably. */
static int load_tsc_khz(int vcpu_fd, uint32_t want)
{
	int have = vmm_kvm_get_tsc_khz(vcpu_fd);

	if (have > 0) {
		uint64_t diff = (uint64_t)have > want ? (uint64_t)have - want
						      : (uint64_t)want - (uint64_t)have;

		if (diff * 1000000u <= (uint64_t)want * TSC_KHZ_TOLERANCE_PPM)
			return 0;
	}
	/* Without TSC scaling the guest would see its TSC run at another rate. */
	return vmm_kvm_set_tsc_khz(vcpu_fd, want) ? -EOPNOTSUPP : 0;
}

/*
 * The restore order, and why:
 *
 *  0. (CPUID, by the caller, before anything: KVM checks CR4, XCR0, the
 *     XSAVE header and many MSRs against it.)
 *  1. TSC frequency, before the MSRs and the LAPIC: KVM converts the
 *     written MSR_IA32_TSC into an offset through the scaling ratio, and a
 *     TSC-deadline timer into nanoseconds through the guest frequency.
 *  2. MP state, before the events: a latched INIT or SMM restored by
 *     KVM_SET_VCPU_EVENTS makes KVM refuse the INIT/SIPI-received states.
 *  3. Regs, before the events: KVM_SET_REGS drops a queued exception,
 *     which only the events bring back.
 *  4. Sregs, before the LAPIC and the events: they carry the APIC base
 *     (enable and x2APIC mode decide how KVM_SET_LAPIC reads its page),
 *     and their interrupt bitmap queues an interrupt that the events then
 *     state exactly.
 *  5. XSAVE (or FPU), then XCRs: both checked against CPUID only; the
 *     order is QEMU's and Firecracker's.
 *  6. Debug registers.
 *  7. LAPIC, after the sregs (4) and before the MSRs: KVM takes a write
 *     of MSR_IA32_TSC_DEADLINE only while the LVT timer is in TSC-deadline
 *     mode, which the LAPIC state sets.
 *  8. MSRs, with MSR_IA32_TSC_DEADLINE in a second call after all others:
 *     KVM arms the deadline relative to the guest TSC at the moment of the
 *     write, so MSR_IA32_TSC must already hold its saved value, or the
 *     timer fires at the wrong time or never. (MSR_IA32_TSC_ADJUST needs
 *     no place: with KVM's default quirks, host writes of either TSC MSR
 *     leave the other alone.)
 *     KVM treats a host write of MSR_IA32_TSC within one second of the
 *     value it expects from the VM's last TSC write as an attempt to
 *     synchronize, and then keeps that write's offset instead: that is
 *     what keeps the vCPUs of a target in step (all but the first load
 *     match the first). Before Linux 6.7 (commit bf328e22e472) the write
 *     KVM makes itself at vCPU creation counts too, so a guest whose TSC
 *     is under about a second (plus the target VM's age) gets "time since
 *     the target vCPU was created" instead of its saved TSC. Exact
 *     per-vCPU offsets would need KVM_VCPU_TSC_OFFSET (Linux 5.16+) and a
 *     VM-wide step; not done.
 *  9. Events last: they restore the pending and injected exception, NMI,
 *     interrupt, interrupt shadow and SMM state that steps 3 and 4 clear
 *     or approximate. KVM_GET_VCPU_EVENTS never sets the NMI_PENDING and
 *     SIPI_VECTOR "valid" flags, so they are added here to restore those
 *     two fields too.
 * 10. KVM_KVMCLOCK_CTRL: after the MSRs, which re-enable the guest's
 *     kvmclock; tells it the vCPU was paused, so that its soft-lockup
 *     watchdog ignores the gap. -EINVAL means the guest does not use
 *     kvmclock, and is no error.
 */
int vmm_vcpu_state_load(int vcpu_fd, const void *blob, size_t len)
{
	struct vcpu_image *img;
	int r;

	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	r = decode(blob, len, img);
	if (r)
		goto out_free;

	if (img->tsc_khz) {
		r = load_tsc_khz(vcpu_fd, img->tsc_khz);
		if (r)
			goto out_free;
	}
	r = vmm_kvm_set_mp_state(vcpu_fd, &img->mp);
	if (r)
		goto out_free;
	r = vmm_kvm_set_regs(vcpu_fd, &img->regs);
	if (r)
		goto out_free;
	r = vmm_kvm_set_sregs(vcpu_fd, &img->sregs);
	if (r)
		goto out_free;
	if (img->xsave)
		r = vmm_kvm_set_xsave(vcpu_fd, img->xsave);
	else
		r = vmm_kvm_set_fpu(vcpu_fd, &img->fpu);
	if (r)
		goto out_free;
	r = vmm_kvm_set_xcrs(vcpu_fd, &img->xcrs);
	if (r)
		goto out_free;
	r = vmm_kvm_set_debugregs(vcpu_fd, &img->dbg);
	if (r)
		goto out_free;
	r = vmm_kvm_set_lapic(vcpu_fd, &img->lapic);
	if (r)
		goto out_free;
	r = load_msrs(vcpu_fd, img, 0);
	if (r)
		goto out_free;
	r = load_msrs(vcpu_fd, img, 1);
	if (r)
		goto out_free;
	img->ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	r = vmm_kvm_set_vcpu_events(vcpu_fd, &img->ev);
	if (r)
		goto out_free;
	r = vmm_kvm_kvmclock_ctrl(vcpu_fd);
	if (r == -EINVAL)
		r = 0;
out_free:
	free(img->xsave);
	free(img);
	return r;
}
