/*
 * test_vmm_state.c - vmm-lite's vCPU and machine state save/load against a
 * real KVM (run it through tests/kvm/run-in-kvm-vm.sh on hosts without
 * /dev/kvm).
 *
 * The guest of vstate_guest.h runs on two vCPUs of VM A with state in
 * every part of a blob: x87, SSE and MXCSR, XCR0, debug registers, a LAPIC
 * timer armed (vCPU 0) or fired and pending (vCPU 1), a large TSC. A stops
 * after a completed OUT and is saved; VM B is built from scratch, gets A's
 * RAM and the state, and must (a) read back exactly the state loaded,
 * except the fields that move with time, (b) not count the pause in its
 * clocks, and (c) go on counting from where A stopped. Malformed blobs of
 * each kind must be refused with an error and no crash.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvm.h"
#include "machine_state.h"
#include "state_blob.h"
#include "vcpu_state.h"
#include "vstate_guest.h"

#define PAUSE_MS 500 /* the guest "in flight" between A and B */
#define HV_VP_RUNTIME 0x40000010u     /* Hyper-V: vCPU thread CPU time */
#define HV_TIME_REF_COUNT 0x40000020u /* Hyper-V: partition reference time */
#define APIC_IRR_VEC40 0x220 /* IRR bits 64..95 */
#define APIC_TMICT 0x380
#define APIC_TMCCT 0x390
#define MSR_IA32_TSC VG_MSR_IA32_TSC

static struct kvm_msr_list *msr_all;
static struct kvm_msr_list *msr_savable;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Finds record `tag` in a blob: its payload and length, or NULL. */
static const uint8_t *rec_get(const void *blob, size_t len, uint16_t tag, uint32_t *rlen)
{
	const uint8_t *b = blob;

	for (size_t off = VMM_BLOB_HDR_LEN; off + VMM_BLOB_REC_HDR_LEN <= len;) {
		uint16_t t = (uint16_t)(b[off] | b[off + 1] << 8);
		uint32_t l = vg_rd32(b + off + 4);

		if (t == tag) {
			*rlen = l;
			return b + off + VMM_BLOB_REC_HDR_LEN;
		}
		off += VMM_BLOB_REC_HDR_LEN + l;
	}
	return NULL;
}

static void expect_same_rec(const void *a, size_t alen, const void *b, size_t blen,
			    uint16_t tag, const char *what)
{
	uint32_t la = 0, lb = 0;
	const uint8_t *pa = rec_get(a, alen, tag, &la), *pb = rec_get(b, blen, tag, &lb);

	if (!pa && !pb)
		return;
	assert_non_null(pa);
	assert_non_null(pb);
	assert_int_equal(la, lb);
	for (uint32_t k = 0; k < la; k++)
		if (pa[k] != pb[k])
			fail_msg("%s differs at byte %u: %02x -> %02x", what, k, pa[k], pb[k]);
}

/* The vCPU blob saved from B right after loading A's: what may differ. */
static void compare_vcpu(const void *a, size_t alen, const void *b, size_t blen,
			 uint32_t i, double pause_ms)
{
	static const struct {
		uint16_t tag;
		const char *what;
	} same[] = {
		{VMM_VCPU_TAG_MP_STATE, "MP state"}, {VMM_VCPU_TAG_REGS, "regs"},
		{VMM_VCPU_TAG_SREGS, "sregs"},	     {VMM_VCPU_TAG_XSAVE, "XSAVE"},
		{VMM_VCPU_TAG_FPU, "FPU"},	     {VMM_VCPU_TAG_XCRS, "XCRs"},
		{VMM_VCPU_TAG_DEBUGREGS, "debug registers"},
		{VMM_VCPU_TAG_EVENTS, "events"},     {VMM_VCPU_TAG_TSC_KHZ, "TSC kHz"},
	};
	uint32_t la, lb, khz = 0, n;
	const uint8_t *pa, *pb;

	for (size_t k = 0; k < sizeof(same) / sizeof(same[0]); k++)
		expect_same_rec(a, alen, b, blen, same[k].tag, same[k].what);

	/* LAPIC: all but the current count, which runs down. */
	pa = rec_get(a, alen, VMM_VCPU_TAG_LAPIC, &la);
	pb = rec_get(b, blen, VMM_VCPU_TAG_LAPIC, &lb);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_int_equal(la, sizeof(struct kvm_lapic_state));
	assert_int_equal(lb, la);
	for (uint32_t k = 0; k < la; k++)
		if (pa[k] != pb[k] && (k < APIC_TMCCT || k >= APIC_TMCCT + 4))
			fail_msg("LAPIC of vCPU %u differs at 0x%x", i, k);
	if (i == 0) {
		uint32_t tmict = vg_rd32(pa + APIC_TMICT), ca = vg_rd32(pa + APIC_TMCCT),
			 cb = vg_rd32(pb + APIC_TMCCT);

		print_message("vCPU 0 LAPIC timer: TMICT %#x, TMCCT saved %#x, after load %#x\n",
			      tmict, ca, cb);
		assert_true(ca > 0 && cb > 0 && cb <= tmict);
	} else {
		assert_true(pb[APIC_IRR_VEC40] & 1); /* the fired timer, still pending */
	}

	/* MSRs: the same list and values, except the TSC, which ran on. */
	pa = rec_get(a, alen, VMM_VCPU_TAG_TSC_KHZ, &la);
	if (pa)
		khz = vg_rd32(pa);
	pa = rec_get(a, alen, VMM_VCPU_TAG_MSRS, &la);
	pb = rec_get(b, blen, VMM_VCPU_TAG_MSRS, &lb);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_int_equal(la, lb);
	n = vg_rd32(pa);
	assert_int_equal(n, msr_savable->nmsrs);
	for (uint32_t k = 0; k < n; k++) {
		const uint8_t *ea = pa + 8 + 16 * k, *eb = pb + 8 + 16 * k;
		uint64_t va = vg_rd64(ea + 8), vb = vg_rd64(eb + 8);

		assert_int_equal(vg_rd32(ea), vg_rd32(eb));
		if (vg_rd32(ea) == HV_TIME_REF_COUNT || vg_rd32(ea) == HV_VP_RUNTIME) {
			/* 100 ns units of the KVM clock, or of the vCPU thread's CPU
			 * time: they move with time, and the first can even go back
			 * (A read it later than the clock was saved). */
			double ms = ((double)vb - (double)va) / 1e4;

			assert_true(ms > -pause_ms / 2 && ms < pause_ms / 2);
			continue;
		}
		if (vg_rd32(ea) != VG_MSR_IA32_TSC) {
			if (va != vb)
				fail_msg("MSR %#x of vCPU %u: %#llx -> %#llx", vg_rd32(ea), i,
					 (unsigned long long)va, (unsigned long long)vb);
			continue;
		}
		print_message("vCPU %u TSC: saved %#llx, after load %#llx (%+.3f ms at %u kHz; pause %.0f ms)\n",
			      i, (unsigned long long)va, (unsigned long long)vb,
			      khz ? ((double)vb - (double)va) / khz : 0.0, khz, pause_ms);
		/* The pause is not guest time. vCPU 1's write is matched to
		 * vCPU 0's offset by KVM, so it may land a little behind. */
		assert_true(i != 0 || vb >= va);
		if (khz)
			assert_true(fabs(((double)vb - (double)va) / khz) < pause_ms / 2);
	}
}

static void compare_machine(const void *a, size_t alen, const void *b, size_t blen,
			    double pause_ms)
{
	struct kvm_pit_state2 pa, pb;
	struct kvm_clock_data ca, cb;
	const uint8_t *p;
	uint32_t l;

	expect_same_rec(a, alen, b, blen, VMM_MACHINE_TAG_PIC_MASTER, "PIC master");
	expect_same_rec(a, alen, b, blen, VMM_MACHINE_TAG_PIC_SLAVE, "PIC slave");
	expect_same_rec(a, alen, b, blen, VMM_MACHINE_TAG_IOAPIC, "IOAPIC");
	p = rec_get(a, alen, VMM_MACHINE_TAG_PIT2, &l);
	assert_non_null(p);
	memcpy(&pa, p, sizeof(pa));
	p = rec_get(b, blen, VMM_MACHINE_TAG_PIT2, &l);
	assert_non_null(p);
	memcpy(&pb, p, sizeof(pb));
	/* count_load_time is the host's clock when KVM (re)loaded the count. */
	for (int k = 0; k < 3; k++)
		pa.channels[k].count_load_time = pb.channels[k].count_load_time = 0;
	assert_memory_equal(&pa, &pb, sizeof(pa));

	p = rec_get(a, alen, VMM_MACHINE_TAG_CLOCK, &l);
	assert_non_null(p);
	memcpy(&ca, p, sizeof(ca));
	p = rec_get(b, blen, VMM_MACHINE_TAG_CLOCK, &l);
	assert_non_null(p);
	memcpy(&cb, p, sizeof(cb));
	print_message("KVM clock: saved %llu ns, after load %llu ns (+%.3f ms; pause %.0f ms)\n",
		      (unsigned long long)ca.clock, (unsigned long long)cb.clock,
		      (double)(cb.clock - ca.clock) / 1e6, pause_ms);
	assert_true(cb.clock >= ca.clock);
	assert_true((double)(cb.clock - ca.clock) / 1e6 < pause_ms / 2);
}

static void test_msrs_probe(void **state)
{
	struct kvm_msr_list *big, *out = NULL;
	struct vg_vm t;
	int found_tsc = 0;

	(void)state;
	assert_true(msr_savable->nmsrs > 0);
	assert_true(msr_savable->nmsrs <= msr_all->nmsrs);
	for (uint32_t i = 0; i < msr_savable->nmsrs; i++)
		found_tsc |= msr_savable->indices[i] == VG_MSR_IA32_TSC;
	assert_true(found_tsc);
	print_message("MSRs: %u listed by KVM, %u savable\n", msr_all->nmsrs,
		      msr_savable->nmsrs);

	/* An index no CPU has is dropped; a list over the bound is refused. */
	vg_vm_create(&t);
	big = calloc(1, sizeof(*big) + (VMM_VCPU_MSRS_MAX + 1) * sizeof(big->indices[0]));
	assert_non_null(big);
	big->nmsrs = 2;
	big->indices[0] = 0x4b4d0000u - 1; /* below KVM's own range: nobody's */
	big->indices[1] = VG_MSR_IA32_TSC;
	assert_int_equal(vmm_vcpu_msrs_probe(t.fd[0], big, &out), 0);
	assert_int_equal(out->nmsrs, 1);
	assert_int_equal(out->indices[0], VG_MSR_IA32_TSC);
	free(out);
	big->nmsrs = VMM_VCPU_MSRS_MAX + 1;
	assert_int_equal(vmm_vcpu_msrs_probe(t.fd[0], big, &out), -E2BIG);
	free(big);
	vg_vm_destroy(&t);
}

static void test_roundtrip(void **state)
{
	void *va[VG_NVCPU], *vb[VG_NVCPU], *ma, *mb;
	size_t vla[VG_NVCPU], vlb[VG_NVCPU], mla, mlb;
	struct vg_vm a, b;
	double t0, t1, pause_ms;

	(void)state;
	vg_vm_create(&a);
	vg_guest_setup(&a);
	for (uint32_t i = 0; i < VG_NVCPU; i++) {
		vg_run_outs(&a, i, 20);
		vg_complete_io(&a, i);
	}
	/* The source as vmm-lite saves it: machine first, then vCPUs. */
	t0 = now_ms();
	assert_int_equal(vmm_machine_state_save(a.vm_fd, &ma, &mla), 0);
	for (uint32_t i = 0; i < VG_NVCPU; i++)
		assert_int_equal(vmm_vcpu_state_save(a.fd[i], msr_savable, &va[i], &vla[i]), 0);
	t1 = now_ms();
	print_message("saved in %.1f ms: machine %zu bytes, vCPU %zu bytes; A's counters %#x %#x\n",
		      t1 - t0, mla, vla[0], a.last_out[0], a.last_out[1]);
	t0 = t1;

	usleep(PAUSE_MS * 1000); /* the guest "in flight" */
	vg_vm_create(&b);
	memcpy(b.ram, a.ram, VG_RAM_SIZE);
	t1 = now_ms();
	for (uint32_t i = 0; i < VG_NVCPU; i++)
		assert_int_equal(vmm_vcpu_state_load(b.fd[i], va[i], vla[i]), 0);
	assert_int_equal(vmm_machine_state_load(b.vm_fd, ma, mla), 0);
	pause_ms = now_ms() - t0;
	print_message("loaded in %.1f ms\n", now_ms() - t1);

	/* Saved again at once, B must hold what was loaded. */
	assert_int_equal(vmm_machine_state_save(b.vm_fd, &mb, &mlb), 0);
	for (uint32_t i = 0; i < VG_NVCPU; i++)
		assert_int_equal(vmm_vcpu_state_save(b.fd[i], msr_savable, &vb[i], &vlb[i]), 0);
	compare_machine(ma, mla, mb, mlb, pause_ms);
	for (uint32_t i = 0; i < VG_NVCPU; i++)
		compare_vcpu(va[i], vla[i], vb[i], vlb[i], i, pause_ms);

	/* And the guest goes on from its next iteration: no reset, no replay. */
	for (uint32_t i = 0; i < VG_NVCPU; i++) {
		b.last_out[i] = a.last_out[i];
		vg_run_outs(&b, i, 10);
		print_message("vCPU %u continued in B: %#x -> %#x\n", i, a.last_out[i],
			      b.last_out[i]);
	}
	for (uint32_t i = 0; i < VG_NVCPU; i++) {
		free(va[i]);
		free(vb[i]);
	}
	free(ma);
	free(mb);
	vg_vm_destroy(&a);
	vg_vm_destroy(&b);
}

/* ---- malformed blobs ------------------------------------------------------ */

struct valid {
	uint8_t *vcpu, *machine;
	size_t vlen, mlen;
};

static void make_valid(struct valid *v)
{
	struct vg_vm t;
	void *p;

	vg_vm_create(&t);
	vg_guest_setup(&t);
	vg_run_outs(&t, 0, 2);
	vg_complete_io(&t, 0);
	assert_int_equal(vmm_vcpu_state_save(t.fd[0], msr_savable, &p, &v->vlen), 0);
	v->vcpu = p;
	assert_int_equal(vmm_machine_state_save(t.vm_fd, &p, &v->mlen), 0);
	v->machine = p;
	vg_vm_destroy(&t);
}

/* Record-level surgery on a copy; every result has a consistent header. */
static uint8_t *edit(const uint8_t *b, size_t len, size_t *out_len, uint16_t drop,
		     const uint8_t *extra, size_t extra_len)
{
	uint8_t *o = malloc(len + extra_len);
	size_t n = VMM_BLOB_HDR_LEN;

	assert_non_null(o);
	memcpy(o, b, VMM_BLOB_HDR_LEN);
	for (size_t off = VMM_BLOB_HDR_LEN; off < len;) {
		size_t rl = VMM_BLOB_REC_HDR_LEN + vg_rd32(b + off + 4);

		if ((uint16_t)(b[off] | b[off + 1] << 8) != drop) {
			memcpy(o + n, b + off, rl);
			n += rl;
		}
		off += rl;
	}
	if (extra_len)
		memcpy(o + n, extra, extra_len);
	n += extra_len;
	vmm_put_le32(o + 8, (uint32_t)(n - VMM_BLOB_HDR_LEN));
	*out_len = n;
	return o;
}

typedef int (*load_fn)(int fd, const void *blob, size_t len);

/* The refusals every blob kind must make; `fd` is a scratch target. */
static void common_refusals(load_fn load, int fd, const uint8_t *good, size_t len,
			    uint16_t some_tag, uint16_t required_tag)
{
	uint8_t *c, rec[12];
	uint32_t rl = 0;
	const uint8_t *some = rec_get(good, len, some_tag, &rl);
	size_t n;

	assert_non_null(some);
	assert_int_equal(load(fd, NULL, 0), -EINVAL);
	/* Truncated anywhere (the header's body length no longer matches). */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(load(fd, good, cut), -EINVAL);
	c = malloc(len);
	assert_non_null(c);
	/* Truncated inside a record, with a header that agrees. */
	for (size_t cut = VMM_BLOB_HDR_LEN + 1; cut < len; cut += 97) {
		memcpy(c, good, cut);
		vmm_put_le32(c + 8, (uint32_t)(cut - VMM_BLOB_HDR_LEN));
		assert_int_equal(load(fd, c, cut), -EINVAL);
	}
	memcpy(c, good, len);
	c[0] ^= 0xff; /* bad magic */
	assert_int_equal(load(fd, c, len), -EINVAL);
	memcpy(c, good, len);
	c[4] = 2; /* a version we do not speak */
	assert_int_equal(load(fd, c, len), -EPROTONOSUPPORT);
	memcpy(c, good, len);
	c[6] = 1; /* reserved header bits */
	assert_int_equal(load(fd, c, len), -EINVAL);
	/* Length overflow: the first record claims more than the blob has. */
	{
		const uint32_t bad[] = {0xffffffffu, 0xfffffff8u, 0x80000000u,
					(uint32_t)(len - VMM_BLOB_HDR_LEN - VMM_BLOB_REC_HDR_LEN + 1)};

		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			memcpy(c, good, len);
			vmm_put_le32(c + VMM_BLOB_HDR_LEN + 4, bad[k]);
			assert_int_equal(load(fd, c, len), -EINVAL);
		}
	}
	free(c);

	/* Duplicate record. */
	c = edit(good, len, &n, 0, some - VMM_BLOB_REC_HDR_LEN, VMM_BLOB_REC_HDR_LEN + rl);
	assert_int_equal(load(fd, c, n), -EINVAL);
	free(c);
	/* Unknown tags: one not in the format, 0, one beyond the tag space. */
	for (int k = 0; k < 3; k++) {
		static const uint16_t tags[] = {50, 0, 64};

		memset(rec, 0, sizeof(rec));
		rec[0] = (uint8_t)tags[k];
		rec[4] = 4;
		c = edit(good, len, &n, 0, rec, sizeof(rec));
		assert_int_equal(load(fd, c, n), -EINVAL);
		free(c);
	}
	/* A required record missing. */
	c = edit(good, len, &n, required_tag, NULL, 0);
	assert_int_equal(load(fd, c, n), -EINVAL);
	free(c);
	/* A fixed-size record one byte short (dropped, re-added shorter). */
	{
		uint8_t *shortrec = malloc(VMM_BLOB_REC_HDR_LEN + rl);

		assert_non_null(shortrec);
		memcpy(shortrec, some - VMM_BLOB_REC_HDR_LEN, VMM_BLOB_REC_HDR_LEN + rl - 1);
		vmm_put_le32(shortrec + 4, rl - 1);
		c = edit(good, len, &n, some_tag, shortrec, VMM_BLOB_REC_HDR_LEN + rl - 1);
		assert_int_equal(load(fd, c, n), -EINVAL);
		free(c);
		free(shortrec);
	}
	/* The untouched blob still loads: the refusals above were real ones. */
	assert_int_equal(load(fd, good, len), 0);
}

/* Payload edits that must each be refused: a u32 written into a record. */
struct patch {
	uint16_t tag;
	size_t at;
	uint32_t value;
};

static void refuse_patches(load_fn load, int fd, const uint8_t *good, size_t len,
			   const struct patch *p, size_t n)
{
	uint8_t *c = malloc(len);

	assert_non_null(c);
	for (size_t k = 0; k < n; k++) {
		uint32_t rl = 0;
		const uint8_t *r = rec_get(good, len, p[k].tag, &rl);

		assert_non_null(r);
		assert_true(p[k].at + 4 <= rl);
		memcpy(c, good, len);
		vmm_put_le32(c + (r - good) + p[k].at, p[k].value);
		if (load(fd, c, len) != -EINVAL)
			fail_msg("patch %zu (tag %u, +%zu = %#x) not refused", k, p[k].tag,
				 p[k].at, p[k].value);
	}
	free(c);
}

/* Refused after a record is replaced by (tag, payload) or added. */
static void refuse_record(int fd, const struct valid *v, uint16_t drop, uint16_t tag,
			  const uint8_t *payload, uint32_t plen)
{
	uint8_t *r = calloc(1, VMM_BLOB_REC_HDR_LEN + plen), *c;
	size_t n;

	assert_non_null(r);
	r[0] = (uint8_t)tag;
	vmm_put_le32(r + 4, plen);
	memcpy(r + VMM_BLOB_REC_HDR_LEN, payload, plen);
	c = edit(v->vcpu, v->vlen, &n, drop, r, VMM_BLOB_REC_HDR_LEN + plen);
	assert_int_equal(vmm_vcpu_state_load(fd, c, n), -EINVAL);
	free(c);
	free(r);
}

static void test_vcpu_malformed(void **state)
{
	const struct patch patches[] = {
		{VMM_VCPU_TAG_MSRS, 0, 0x10000000u},	    /* count vs length */
		{VMM_VCPU_TAG_MSRS, 0, VMM_VCPU_MSRS_MAX + 1}, /* count over bound */
		{VMM_VCPU_TAG_MSRS, 4, 1},		    /* reserved word */
		{VMM_VCPU_TAG_MSRS, 8 + 4, 1},		    /* entry's reserved word */
		{VMM_VCPU_TAG_XCRS, 0, KVM_MAX_XCRS + 1},
		{VMM_VCPU_TAG_XCRS, 4, 1},
		{VMM_VCPU_TAG_EVENTS, offsetof(struct kvm_vcpu_events, flags), 0x80000000u},
		{VMM_VCPU_TAG_DEBUGREGS, offsetof(struct kvm_debugregs, flags), 1},
		{VMM_VCPU_TAG_TSC_KHZ, 0, 0},
	};
	uint8_t msrs[8 + 16 * 2] = {2}, fpu[sizeof(struct kvm_fpu)] = {0}, *c, *d;
	struct valid v;
	struct vg_vm t;
	size_t n;

	(void)state;
	make_valid(&v);
	vg_vm_create(&t);
	common_refusals(vmm_vcpu_state_load, t.fd[0], v.vcpu, v.vlen, VMM_VCPU_TAG_REGS,
			VMM_VCPU_TAG_LAPIC);
	refuse_patches(vmm_vcpu_state_load, t.fd[0], v.vcpu, v.vlen, patches,
		       sizeof(patches) / sizeof(patches[0]));
	/* The same MSR twice. */
	msrs[8] = msrs[24] = VG_MSR_IA32_TSC;
	refuse_record(t.fd[0], &v, VMM_VCPU_TAG_MSRS, VMM_VCPU_TAG_MSRS, msrs, sizeof(msrs));
	/* Both FPU forms, or neither. */
	refuse_record(t.fd[0], &v, 0, VMM_VCPU_TAG_FPU, fpu, sizeof(fpu));
	c = edit(v.vcpu, v.vlen, &n, VMM_VCPU_TAG_XSAVE, NULL, 0);
	d = edit(c, n, &n, VMM_VCPU_TAG_FPU, NULL, 0);
	assert_int_equal(vmm_vcpu_state_load(t.fd[0], d, n), -EINVAL);
	free(d);
	free(c);
	/* A machine blob is not a vCPU blob. */
	assert_int_equal(vmm_vcpu_state_load(t.fd[0], v.machine, v.mlen), -EINVAL);
	/* Random damage: any answer but a crash (KVM checks what we cannot). */
	c = malloc(v.vlen);
	assert_non_null(c);
	srand(12345);
	for (int k = 0; k < 300; k++) {
		memcpy(c, v.vcpu, v.vlen);
		for (int m = 1 + rand() % 4; m > 0; m--)
			c[(size_t)rand() % v.vlen] = (uint8_t)rand();
		assert_true(vmm_vcpu_state_load(t.fd[1], c, v.vlen) <= 0);
	}
	free(c);
	free(v.vcpu);
	free(v.machine);
	vg_vm_destroy(&t);
}

static void test_machine_malformed(void **state)
{
	const struct patch patches[] = {
		{VMM_MACHINE_TAG_PIT2, offsetof(struct kvm_pit_state2, flags), 0x100},
		{VMM_MACHINE_TAG_PIT2, offsetof(struct kvm_pit_state2, reserved), 1},
		{VMM_MACHINE_TAG_PIT2, 0, 0x10001}, /* channel 0 count */
		{VMM_MACHINE_TAG_CLOCK, offsetof(struct kvm_clock_data, flags), 0x100},
		{VMM_MACHINE_TAG_CLOCK, offsetof(struct kvm_clock_data, pad0), 1},
		{VMM_MACHINE_TAG_CLOCK, offsetof(struct kvm_clock_data, pad), 1},
	};
	struct valid v;
	struct vg_vm t;

	(void)state;
	make_valid(&v);
	vg_vm_create(&t);
	common_refusals(vmm_machine_state_load, t.vm_fd, v.machine, v.mlen,
			VMM_MACHINE_TAG_IOAPIC, VMM_MACHINE_TAG_CLOCK);
	refuse_patches(vmm_machine_state_load, t.vm_fd, v.machine, v.mlen, patches,
		       sizeof(patches) / sizeof(patches[0]));
	assert_int_equal(vmm_machine_state_load(t.vm_fd, v.vcpu, v.vlen), -EINVAL);
	free(v.vcpu);
	free(v.machine);
	vg_vm_destroy(&t);
}

static int group_setup(void **state)
{
	struct vg_vm t;

	(void)state;
	if (vg_env_open() || vmm_kvm_msr_index_list(vg_kvm_fd, &msr_all))
		return -1;
	/* As vmm-lite does: probe once, on a vCPU with its CPUID, not yet run. */
	vg_vm_create(&t);
	if (vmm_vcpu_msrs_probe(t.fd[0], msr_all, &msr_savable))
		return -1;
	vg_vm_destroy(&t);
	print_message("XSAVE area %d bytes, XCR0 for the guest %#llx\n",
		      vmm_kvm_xsave_size(vg_kvm_fd), (unsigned long long)vg_guest_xcr0());
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(msr_all);
	free(msr_savable);
	vg_env_close();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msrs_probe),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_vcpu_malformed),
		cmocka_unit_test(test_machine_malformed),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
