/* test_msg.c - protocol messages: round trips and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migrate.pb-c.h"
#include "msg.h"

#define ASSERT_OK(x) assert_int_equal((x), 0)

/* A frame as the reader would hand it over, over a built buffer. */
struct built {
	uint8_t *buf;
	size_t len;
	struct mig__frame f;
};

static void built_frame(struct built *b, uint16_t want_type)
{
	assert_true(b->len >= MIG__FRAME_HDR_LEN);
	assert_int_equal(mig__frame_hdr_get(b->buf, &b->f), 0);
	assert_int_equal(b->f.type, want_type);
	assert_int_equal(b->f.len, b->len - MIG__FRAME_HDR_LEN);
	b->f.body = b->f.len ? b->buf + MIG__FRAME_HDR_LEN : NULL;
}

/* Packs a protobuf-c message as the body of a frame of `type`. */
static void raw_frame(struct built *b, uint16_t type, const void *msg)
{
	const ProtobufCMessage *m = msg;
	size_t n = protobuf_c_message_get_packed_size(m);

	b->buf = malloc(n + 1);
	assert_non_null(b->buf);
	protobuf_c_message_pack(m, b->buf);
	b->len = n;
	b->f.type = type;
	b->f.flags = 0;
	b->f.len = (uint32_t)n;
	b->f.body = b->buf;
}

/* ---------------------------------------------------------------------- */
/* HELLO                                                                  */

static uint8_t config[MIG__VMM_CONFIG_MAX];

static void hello_fill(struct mig__hello *h)
{
	struct mig_guest_desc *g = &h->guest;

	memset(h, 0, sizeof(*h));
	h->protocol_version = MIG_PROTOCOL_VERSION;
	h->caps = MIG__CAPS_ALL;
	for (int i = 0; i < 16; i++)
		h->migration_id[i] = (uint8_t)(0xa0 + i);
	h->live = 1;
	h->state_bytes_hint = 123456789012ull;
	g->region_count = 3;
	g->regions[0] = (struct mig_region){ 0, 0xa0000, NULL, 0 };
	g->regions[1] = (struct mig_region){ 0xa0000, 0x20000, NULL, 1 };
	g->regions[2] = (struct mig_region){ 1ull << 32, 1ull << 30, NULL, 0 };
	g->vcpu_count = 4;
	strcpy(g->cpu_fingerprint, "GenuineIntel-6-85-7");
	g->device_count = 2;
	strcpy(g->devices[0], "virtio-blk");
	strcpy(g->devices[1], "serial");
}

static void hello_build(const struct mig__hello *h, struct built *b)
{
	assert_int_equal(mig__hello_frame(h, &b->buf, &b->len), 0);
	built_frame(b, MIG__F_HELLO);
}

/* Builds `h`, parses it back, returns the parse result (h2 on success). */
static int hello_reparse(const struct mig__hello *h, struct mig__hello *h2)
{
	struct built b;
	int rc;

	hello_build(h, &b);
	rc = mig__hello_parse(&b.f, h2);
	free(b.buf);
	return rc;
}

static void test_hello_roundtrip(void **state)
{
	struct mig__hello h, h2;
	const struct mig_guest_desc *g = &h.guest, *g2 = &h2.guest;

	(void)state;
	hello_fill(&h);
	for (size_t i = 0; i < sizeof(config); i++)
		config[i] = (uint8_t)(i * 13 + 5);
	h.guest.vmm_config = config;
	h.guest.vmm_config_len = sizeof(config);
	assert_int_equal(hello_reparse(&h, &h2), 0);
	assert_int_equal(h2.protocol_version, MIG_PROTOCOL_VERSION);
	assert_int_equal(h2.caps, MIG__CAPS_ALL);
	assert_memory_equal(h2.migration_id, h.migration_id, 16);
	assert_int_equal(h2.live, 1);
	assert_int_equal(h2.state_bytes_hint, 123456789012ull);
	assert_int_equal(g2->region_count, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g2->regions[i].gpa, g->regions[i].gpa);
		assert_int_equal(g2->regions[i].size, g->regions[i].size);
		assert_int_equal(g2->regions[i].read_only,
				 g->regions[i].read_only);
		assert_null(g2->regions[i].host);
	}
	assert_int_equal(g2->vcpu_count, 4);
	assert_string_equal(g2->cpu_fingerprint, g->cpu_fingerprint);
	assert_int_equal(g2->device_count, 2);
	assert_string_equal(g2->devices[0], "virtio-blk");
	assert_string_equal(g2->devices[1], "serial");
	assert_int_equal(g2->vmm_config_len, sizeof(config));
	assert_ptr_equal(g2->vmm_config, h2.vmm_config_buf);
	assert_memory_equal(g2->vmm_config, config, sizeof(config));
	mig__hello_fini(&h2);
	assert_null(h2.vmm_config_buf);
	assert_null(h2.guest.vmm_config);
	assert_int_equal(h2.guest.vmm_config_len, 0);
}

static void test_hello_minimal(void **state)
{
	struct mig__hello h, h2;

	(void)state;
	hello_fill(&h);
	h.caps = 0;
	h.live = 0;
	h.guest.device_count = 0;
	h.guest.cpu_fingerprint[0] = '\0';
	h.guest.region_count = 1;
	h.guest.vcpu_count = MIG_MAX_VCPUS;
	assert_int_equal(hello_reparse(&h, &h2), 0);
	assert_int_equal(h2.caps, 0);
	assert_int_equal(h2.live, 0);
	assert_int_equal(h2.guest.device_count, 0);
	assert_string_equal(h2.guest.cpu_fingerprint, "");
	assert_int_equal(h2.guest.vcpu_count, MIG_MAX_VCPUS);
	assert_null(h2.guest.vmm_config);
	assert_int_equal(h2.guest.vmm_config_len, 0);
	mig__hello_fini(&h2);
}

static void test_hello_limits_ok(void **state)
{
	struct mig__hello h, h2;
	struct mig_guest_desc *g = &h.guest;

	(void)state;
	hello_fill(&h);
	g->region_count = MIG_MAX_REGIONS;
	for (uint32_t i = 0; i < MIG_MAX_REGIONS; i++) {
		/* Adjacent regions touch but do not overlap. */
		g->regions[i].gpa = (uint64_t)i * 0x10000;
		g->regions[i].size = 0x10000;
	}
	g->device_count = MIG_MAX_DEVICES;
	for (uint32_t i = 0; i < MIG_MAX_DEVICES; i++) {
		memset(g->devices[i], 'd', MIG_NAME_MAX - 1);
		g->devices[i][MIG_NAME_MAX - 1] = '\0';
	}
	memset(g->cpu_fingerprint, 'f', sizeof(g->cpu_fingerprint) - 1);
	g->cpu_fingerprint[sizeof(g->cpu_fingerprint) - 1] = '\0';
	assert_int_equal(hello_reparse(&h, &h2), 0);
	assert_int_equal(h2.guest.region_count, MIG_MAX_REGIONS);
	assert_int_equal(h2.guest.device_count, MIG_MAX_DEVICES);
	assert_string_equal(h2.guest.devices[255], g->devices[255]);
	assert_string_equal(h2.guest.cpu_fingerprint, g->cpu_fingerprint);
	mig__hello_fini(&h2);

	/* The highest region the address space can hold. */
	hello_fill(&h);
	g->region_count = 1;
	g->regions[0].gpa = UINT64_MAX - 2 * MIG_PAGE_SIZE + 1;
	g->regions[0].size = MIG_PAGE_SIZE;
	assert_int_equal(hello_reparse(&h, &h2), 0);
	mig__hello_fini(&h2);
}

static void test_hello_frame_rejects(void **state)
{
	struct mig__hello h;
	uint8_t *buf = NULL;
	size_t len;

	(void)state;
	hello_fill(&h);
	h.guest.region_count = MIG_MAX_REGIONS + 1;
	assert_int_equal(mig__hello_frame(&h, &buf, &len), -EINVAL);
	hello_fill(&h);
	h.guest.device_count = MIG_MAX_DEVICES + 1;
	assert_int_equal(mig__hello_frame(&h, &buf, &len), -EINVAL);
	hello_fill(&h);
	h.guest.vmm_config = config;
	h.guest.vmm_config_len = MIG__VMM_CONFIG_MAX + 1;
	assert_int_equal(mig__hello_frame(&h, &buf, &len), -EINVAL);
	hello_fill(&h);
	h.guest.vmm_config_len = 4; /* and no pointer */
	assert_int_equal(mig__hello_frame(&h, &buf, &len), -EINVAL);
	hello_fill(&h);
	memset(h.guest.devices[1], 'x', MIG_NAME_MAX);
	assert_int_equal(mig__hello_frame(&h, &buf, &len), -EINVAL);
	hello_fill(&h);
	memset(h.guest.cpu_fingerprint, 'x', sizeof(h.guest.cpu_fingerprint));
	assert_int_equal(mig__hello_frame(&h, &buf, &len), -EINVAL);
	assert_null(buf);
}

/* Each region rule, through the real builder. */
static void test_hello_bad_regions(void **state)
{
	static const struct {
		uint64_t gpa0, size0, gpa1, size1;
	} cases[] = {
		{ 0x800, 0x1000, 0x100000, 0x1000 },   /* gpa unaligned */
		{ 0, 0x1800, 0x100000, 0x1000 },       /* size unaligned */
		{ 0, 0, 0x100000, 0x1000 },            /* empty */
		{ 0xfffffffffffff000ull, 0x2000, 0, 0x1000 }, /* overflow */
		{ 0xfffffffffffff000ull, 0x1000, 0, 0x1000 }, /* ends at 2^64 */
		{ 0, 0x3000, 0x2000, 0x1000 },         /* overlap, inside */
		{ 0x2000, 0x2000, 0x1000, 0x2000 },    /* overlap, before */
		{ 0x1000, 0x1000, 0x1000, 0x1000 },    /* identical */
		{ 0x1000, 0x1000, 0, 0x10000 },        /* containing */
	};
	struct mig__hello h, h2;

	(void)state;
	for (size_t i = 0; i < MIG__ARRAY_SIZE(cases); i++) {
		hello_fill(&h);
		h.guest.region_count = 2;
		h.guest.regions[0].gpa = cases[i].gpa0;
		h.guest.regions[0].size = cases[i].size0;
		h.guest.regions[1].gpa = cases[i].gpa1;
		h.guest.regions[1].size = cases[i].size1;
		if (hello_reparse(&h, &h2) != MIG_EDECODE)
			fail_msg("region case %zu was accepted", i);
	}
	hello_fill(&h);
	h.guest.region_count = 0;
	assert_int_equal(hello_reparse(&h, &h2), MIG_EDECODE);
}

static void test_hello_bad_vcpus(void **state)
{
	struct mig__hello h, h2;

	(void)state;
	hello_fill(&h);
	h.guest.vcpu_count = 0;
	assert_int_equal(hello_reparse(&h, &h2), MIG_EDECODE);
	h.guest.vcpu_count = MIG_MAX_VCPUS + 1;
	assert_int_equal(hello_reparse(&h, &h2), MIG_EDECODE);
	h.guest.vcpu_count = UINT32_MAX;
	assert_int_equal(hello_reparse(&h, &h2), MIG_EDECODE);
}

/* A valid hello made with protobuf-c directly, to break what C cannot. */
struct raw_hello {
	Mig__V1__Hello h;
	Mig__V1__GuestDesc g;
	Mig__V1__Region regs[MIG_MAX_REGIONS + 1];
	Mig__V1__Region *rp[MIG_MAX_REGIONS + 1];
	char *devs[MIG_MAX_DEVICES + 1];
	char *caps[80];
	uint8_t id[17];
};

static void raw_hello_init(struct raw_hello *r)
{
	mig__v1__hello__init(&r->h);
	mig__v1__guest_desc__init(&r->g);
	for (size_t i = 0; i < MIG__ARRAY_SIZE(r->regs); i++) {
		mig__v1__region__init(&r->regs[i]);
		r->regs[i].gpa = i * 0x100000;
		r->regs[i].size = 0x100000;
		r->rp[i] = &r->regs[i];
	}
	for (size_t i = 0; i < MIG__ARRAY_SIZE(r->devs); i++)
		r->devs[i] = "dev";
	for (size_t i = 0; i < MIG__ARRAY_SIZE(r->caps); i++)
		r->caps[i] = "future-cap";
	r->caps[0] = "lz4";
	memset(r->id, 7, sizeof(r->id));
	r->g.n_regions = 2;
	r->g.regions = r->rp;
	r->g.vcpu_count = 2;
	r->g.cpu_fingerprint = "fp";
	r->g.n_devices = 1;
	r->g.devices = r->devs;
	r->h.protocol_version = 1;
	r->h.n_capabilities = 1;
	r->h.capabilities = r->caps;
	r->h.migration_id.len = 16;
	r->h.migration_id.data = r->id;
	r->h.guest = &r->g;
}

static int raw_hello_parse(struct raw_hello *r, struct mig__hello *out)
{
	struct built b;
	int rc;

	raw_frame(&b, MIG__F_HELLO, &r->h);
	rc = mig__hello_parse(&b.f, out);
	free(b.buf);
	return rc;
}

static void test_hello_raw_valid(void **state)
{
	struct raw_hello r;
	struct mig__hello h;

	(void)state;
	raw_hello_init(&r);
	/* Unknown capabilities are a newer peer's: ignored. */
	r.h.n_capabilities = 3;
	assert_int_equal(raw_hello_parse(&r, &h), 0);
	assert_int_equal(h.caps, MIG__CAP_LZ4);
	assert_int_equal(h.guest.region_count, 2);
	assert_int_equal(h.guest.regions[1].gpa, 0x100000);
	assert_string_equal(h.guest.devices[0], "dev");
	mig__hello_fini(&h);
}

static void test_hello_raw_invalid(void **state)
{
	static char long_name[MIG_NAME_MAX + 1];
	static char long_fp[129];
	static uint8_t big[MIG__VMM_CONFIG_MAX + 1];
	struct raw_hello r;
	struct mig__hello h;

	(void)state;
	memset(long_name, 'n', MIG_NAME_MAX);
	memset(long_fp, 'f', 128);

	raw_hello_init(&r);
	r.g.n_regions = MIG_MAX_REGIONS + 1;
	for (size_t i = 0; i < r.g.n_regions; i++)
		r.regs[i].size = 0x1000;
	assert_int_equal(raw_hello_parse(&r, &h), MIG_EDECODE);

	raw_hello_init(&r);
	r.g.n_devices = MIG_MAX_DEVICES + 1;
	assert_int_equal(raw_hello_parse(&r, &h), MIG_EDECODE);

	raw_hello_init(&r);
	r.devs[0] = long_name;
	assert_int_equal(raw_hello_parse(&r, &h), MIG_EDECODE);

	raw_hello_init(&r);
	r.g.cpu_fingerprint = long_fp;
	assert_int_equal(raw_hello_parse(&r, &h), MIG_EDECODE);

	raw_hello_init(&r);
	r.g.vmm_config.data = big;
	r.g.vmm_config.len = sizeof(big);
	assert_int_equal(raw_hello_parse(&r, &h), MIG_EDECODE);

	raw_hello_init(&r);
	r.h.migration_id.len = 15;
	assert_int_equal(raw_hello_parse(&r, &h), MIG_EDECODE);
	r.h.migration_id.len = 17;
	assert_int_equal(raw_hello_parse(&r, &h), MIG_EDECODE);
	r.h.migration_id.len = 0;
	assert_int_equal(raw_hello_parse(&r, &h), MIG_EDECODE);

	raw_hello_init(&r);
	r.h.guest = NULL;
	assert_int_equal(raw_hello_parse(&r, &h), MIG_EDECODE);

	raw_hello_init(&r);
	r.h.n_capabilities = 65;
	assert_int_equal(raw_hello_parse(&r, &h), MIG_EDECODE);
	r.h.n_capabilities = 64;
	assert_int_equal(raw_hello_parse(&r, &h), 0);
	mig__hello_fini(&h);
}

/* A string with a NUL inside, which protobuf-c would keep: refused. */
static void test_hello_raw_nul(void **state)
{
	static const char *const targets[] = { "device", "cap", "fp" };
	struct raw_hello r;
	struct mig__hello h;

	(void)state;
	for (size_t t = 0; t < MIG__ARRAY_SIZE(targets); t++) {
		/* protobuf-c packs strings with strlen: patch the wire. */
		struct built b;
		const char *mark = "@@@@";
		uint8_t *p;

		raw_hello_init(&r);
		if (t == 0)
			r.devs[0] = (char *)mark;
		else if (t == 1)
			r.caps[0] = (char *)mark;
		else
			r.g.cpu_fingerprint = (char *)mark;
		raw_frame(&b, MIG__F_HELLO, &r.h);
		p = memmem(b.buf, b.len, mark, 4);
		assert_non_null(p);
		assert_int_equal(mig__hello_parse(&b.f, &h), 0);
		mig__hello_fini(&h);
		p[2] = '\0';
		if (mig__hello_parse(&b.f, &h) != MIG_EDECODE)
			fail_msg("NUL in %s accepted", targets[t]);
		free(b.buf);
	}
}

/* ---------------------------------------------------------------------- */
/* HELLO_REPLY                                                            */

static int reply_reparse(const struct mig__hello_reply *r,
			 struct mig__hello_reply *r2)
{
	struct built b;
	int rc;

	assert_int_equal(mig__hello_reply_frame(r, &b.buf, &b.len), 0);
	built_frame(&b, MIG__F_HELLO_REPLY);
	memset(r2, 0x55, sizeof(*r2));
	rc = mig__hello_reply_parse(&b.f, r2);
	free(b.buf);
	return rc;
}

static void test_hello_reply_roundtrip(void **state)
{
	struct mig__hello_reply r = { 0 }, r2;

	(void)state;
	r.accept = 1;
	r.caps = MIG__CAP_ZERO_PAGES;
	r.protocol_version = 1;
	assert_int_equal(reply_reparse(&r, &r2), 0);
	assert_int_equal(r2.accept, 1);
	assert_int_equal(r2.caps, MIG__CAP_ZERO_PAGES);
	assert_int_equal(r2.protocol_version, 1);
	assert_string_equal(r2.reason, "");

	r.accept = 0;
	r.caps = MIG__CAPS_ALL | 0x100;
	strcpy(r.reason, "not enough memory on this host");
	assert_int_equal(reply_reparse(&r, &r2), 0);
	assert_int_equal(r2.accept, 0);
	assert_int_equal(r2.caps, MIG__CAPS_ALL);
	assert_string_equal(r2.reason, r.reason);
}

/* An unterminated reason is cut, at a character boundary. */
static void test_hello_reply_long_reason(void **state)
{
	struct mig__hello_reply r = { 0 }, r2;

	(void)state;
	memset(r.reason, 'r', sizeof(r.reason));
	assert_int_equal(reply_reparse(&r, &r2), 0);
	assert_int_equal(strlen(r2.reason), MIG__TEXT_MAX - 1);
	/* "é" (2 bytes) straddling the cut is dropped whole. */
	r.reason[MIG__TEXT_MAX - 2] = (char)0xc3;
	r.reason[MIG__TEXT_MAX - 1] = (char)0xa9;
	assert_int_equal(reply_reparse(&r, &r2), 0);
	assert_int_equal(strlen(r2.reason), MIG__TEXT_MAX - 2);
}

static void test_hello_reply_raw(void **state)
{
	static char long_reason[5000];
	static char *caps[70];
	Mig__V1__HelloReply m = MIG__V1__HELLO_REPLY__INIT;
	struct mig__hello_reply r;
	struct built b;

	(void)state;
	memset(long_reason, 'z', sizeof(long_reason) - 1);
	for (size_t i = 0; i < MIG__ARRAY_SIZE(caps); i++)
		caps[i] = "zero-pages";
	m.accept = 1;
	m.reason = long_reason;
	m.capabilities = caps;
	m.n_capabilities = 64;
	raw_frame(&b, MIG__F_HELLO_REPLY, &m);
	assert_int_equal(mig__hello_reply_parse(&b.f, &r), 0);
	assert_int_equal(r.caps, MIG__CAP_ZERO_PAGES);
	assert_int_equal(strlen(r.reason), MIG__TEXT_MAX - 1);
	free(b.buf);

	m.n_capabilities = 65;
	raw_frame(&b, MIG__F_HELLO_REPLY, &m);
	assert_int_equal(mig__hello_reply_parse(&b.f, &r), MIG_EDECODE);
	free(b.buf);
}

/* ---------------------------------------------------------------------- */
/* ROUND_END, u64 messages                                                */

static void test_round_end_roundtrip(void **state)
{
	struct mig__round_end re = { 7, 1000000, 4096000000ull }, re2;
	struct built b;

	(void)state;
	assert_int_equal(mig__round_end_frame(&re, &b.buf, &b.len), 0);
	built_frame(&b, MIG__F_ROUND_END);
	assert_int_equal(mig__round_end_parse(&b.f, &re2), 0);
	assert_int_equal(re2.round, 7);
	assert_int_equal(re2.pages, 1000000);
	assert_int_equal(re2.bytes, 4096000000ull);
	free(b.buf);

	re = (struct mig__round_end){ UINT32_MAX, UINT64_MAX, UINT64_MAX };
	assert_int_equal(mig__round_end_frame(&re, &b.buf, &b.len), 0);
	built_frame(&b, MIG__F_ROUND_END);
	assert_int_equal(mig__round_end_parse(&b.f, &re2), 0);
	assert_int_equal(re2.round, UINT32_MAX);
	assert_int_equal(re2.pages, UINT64_MAX);
	assert_int_equal(re2.bytes, UINT64_MAX);
	free(b.buf);
}

static void test_u64_roundtrip(void **state)
{
	static const struct {
		uint16_t type;
		uint64_t in, out;
	} cases[] = {
		{ MIG__F_GUEST_CREATED, 8ull << 30, 8ull << 30 },
		{ MIG__F_READY, 123456, 123456 },
		{ MIG__F_READY, UINT64_MAX, UINT64_MAX },
		{ MIG__F_COMMIT, 99, 0 },
		{ MIG__F_RUNNING, 5, 0 },
	};

	(void)state;
	for (size_t i = 0; i < MIG__ARRAY_SIZE(cases); i++) {
		struct built b;
		uint64_t v = 42;

		ASSERT_OK(mig__u64_msg_frame(cases[i].type, cases[i].in,
					     &b.buf, &b.len));
		built_frame(&b, cases[i].type);
		assert_int_equal(mig__u64_msg_parse(&b.f, &v), 0);
		assert_int_equal(v, cases[i].out);
		free(b.buf);
	}
}

static void test_u64_bad_type(void **state)
{
	uint8_t *buf = NULL;
	size_t len;

	(void)state;
	assert_int_equal(mig__u64_msg_frame(MIG__F_HELLO, 1, &buf, &len),
			 -EINVAL);
	assert_int_equal(mig__u64_msg_frame(MIG__F_ERROR, 1, &buf, &len),
			 -EINVAL);
	assert_int_equal(mig__u64_msg_frame(0, 1, &buf, &len), -EINVAL);
	assert_null(buf);
}

/* ---------------------------------------------------------------------- */
/* FINAL_STATE                                                            */

static void test_final_state_roundtrip(void **state)
{
	static uint8_t big[100000];
	mig_state st, st2;
	uint64_t pages = 0;
	uint32_t rounds = 0;
	struct built b;

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i ^ (i >> 8));
	mig__state_init(&st);
	ASSERT_OK(mig_state_add(&st, MIG_STATE_VCPU, 0, "cpu0", "r0", 2));
	ASSERT_OK(mig_state_add(&st, MIG_STATE_VCPU, 1, "cpu1", "r1!", 3));
	ASSERT_OK(mig_state_add(&st, MIG_STATE_DEVICE, 0, "serial", NULL, 0));
	ASSERT_OK(mig_state_add(&st, MIG_STATE_MACHINE, 0, "irqchip", big,
				sizeof(big)));
	ASSERT_OK(mig__final_state_frame(&st, 777, 5, &b.buf, &b.len));
	built_frame(&b, MIG__F_FINAL_STATE);
	mig__state_init(&st2);
	ASSERT_OK(mig__final_state_parse(&b.f, &st2, &pages, &rounds));
	assert_int_equal(pages, 777);
	assert_int_equal(rounds, 5);
	assert_int_equal(mig_state_count(&st2), 4);
	assert_int_equal(st2.total_bytes, st.total_bytes);
	for (size_t i = 0; i < 4; i++) {
		enum mig_state_kind k1, k2;
		uint32_t id1, id2;
		const char *n1, *n2;
		const void *d1, *d2;
		size_t l1, l2;

		ASSERT_OK(mig_state_get(&st, i, &k1, &id1, &n1, &d1, &l1));
		ASSERT_OK(mig_state_get(&st2, i, &k2, &id2, &n2, &d2, &l2));
		assert_int_equal(k1, k2);
		assert_int_equal(id1, id2);
		assert_string_equal(n1, n2);
		assert_int_equal(l1, l2);
		assert_non_null(d2);
		if (l1)
			assert_memory_equal(d1, d2, l1);
	}
	free(b.buf);
	mig__state_fini(&st2);

	/* A state with no blobs at all. */
	mig__state_fini(&st);
	assert_int_equal(mig__final_state_frame(&st, 0, 0, &b.buf, &b.len), 0);
	built_frame(&b, MIG__F_FINAL_STATE);
	ASSERT_OK(mig__final_state_parse(&b.f, &st2, &pages, &rounds));
	assert_int_equal(mig_state_count(&st2), 0);
	assert_int_equal(pages, 0);
	free(b.buf);

	/* The parse wants an empty state. */
	ASSERT_OK(mig_state_add(&st2, MIG_STATE_VCPU, 0, "x", "x", 1));
	assert_int_equal(mig__final_state_frame(&st, 0, 0, &b.buf, &b.len), 0);
	built_frame(&b, MIG__F_FINAL_STATE);
	assert_int_equal(mig__final_state_parse(&b.f, &st2, &pages, &rounds),
			 -EINVAL);
	assert_int_equal(mig_state_count(&st2), 1);
	free(b.buf);
	mig__state_fini(&st2);
}

/* Parses a FINAL_STATE of `n` raw blobs; the state must end up empty. */
static int raw_state_parse(Mig__V1__StateBlob **blobs, size_t n)
{
	Mig__V1__FinalState m = MIG__V1__FINAL_STATE__INIT;
	uint64_t pages;
	uint32_t rounds;
	struct built b;
	mig_state st;
	int rc;

	m.n_blobs = n;
	m.blobs = blobs;
	raw_frame(&b, MIG__F_FINAL_STATE, &m);
	mig__state_init(&st);
	rc = mig__final_state_parse(&b.f, &st, &pages, &rounds);
	if (rc < 0)
		assert_int_equal(mig_state_count(&st), 0);
	mig__state_fini(&st);
	free(b.buf);
	return rc;
}

static void test_final_state_invalid(void **state)
{
	static char long_name[MIG_NAME_MAX + 1];
	Mig__V1__StateBlob b[2], *bp[2] = { &b[0], &b[1] };
	uint8_t *huge;

	(void)state;
	memset(long_name, 'n', MIG_NAME_MAX);
	for (int i = 0; i < 2; i++) {
		mig__v1__state_blob__init(&b[i]);
		b[i].kind = MIG_STATE_VCPU;
		b[i].id = (uint32_t)i;
		b[i].name = "cpu";
		b[i].data.data = (uint8_t *)"abcd";
		b[i].data.len = 4;
	}
	assert_int_equal(raw_state_parse(bp, 2), 0);

	b[1].kind = 0;
	assert_int_equal(raw_state_parse(bp, 2), MIG_EDECODE);
	b[1].kind = 4;
	assert_int_equal(raw_state_parse(bp, 2), MIG_EDECODE);
	b[1].kind = MIG_STATE_VCPU;
	b[1].id = 0; /* same (kind, id) twice */
	assert_int_equal(raw_state_parse(bp, 2), MIG_EDECODE);
	b[1].kind = MIG_STATE_DEVICE; /* same id, other kind: fine */
	assert_int_equal(raw_state_parse(bp, 2), 0);
	b[1].name = long_name;
	assert_int_equal(raw_state_parse(bp, 2), MIG_EDECODE);
	long_name[MIG_NAME_MAX - 1] = '\0';
	assert_int_equal(raw_state_parse(bp, 2), 0);

	huge = calloc(1, MIG_STATE_MAX_BLOB_SIZE + 1);
	assert_non_null(huge);
	b[1].data.data = huge;
	b[1].data.len = MIG_STATE_MAX_BLOB_SIZE + 1;
	assert_int_equal(raw_state_parse(bp, 2), MIG_EDECODE);
	b[1].data.len = MIG_STATE_MAX_BLOB_SIZE;
	assert_int_equal(raw_state_parse(bp, 2), 0);
	free(huge);
}

static void test_final_state_too_many(void **state)
{
	size_t n = MIG_STATE_MAX_BLOBS + 1;
	Mig__V1__StateBlob *b = calloc(n, sizeof(*b));
	Mig__V1__StateBlob **bp = calloc(n, sizeof(*bp));

	(void)state;
	assert_non_null(b);
	assert_non_null(bp);
	for (size_t i = 0; i < n; i++) {
		mig__v1__state_blob__init(&b[i]);
		b[i].kind = MIG_STATE_DEVICE;
		b[i].id = (uint32_t)i;
		bp[i] = &b[i];
	}
	assert_int_equal(raw_state_parse(bp, n - 1), 0);
	assert_int_equal(raw_state_parse(bp, n), MIG_EDECODE);
	free(bp);
	free(b);
}

/* A name with a NUL inside is not a name. */
static void test_final_state_nul_name(void **state)
{
	Mig__V1__StateBlob b, *bp = &b;
	Mig__V1__FinalState m = MIG__V1__FINAL_STATE__INIT;
	mig_state st;
	uint64_t pages;
	uint32_t rounds;
	struct built bb;
	uint8_t *p;

	(void)state;
	mig__v1__state_blob__init(&b);
	b.kind = MIG_STATE_MACHINE;
	b.name = "clk@";
	m.n_blobs = 1;
	m.blobs = &bp;
	raw_frame(&bb, MIG__F_FINAL_STATE, &m);
	p = memmem(bb.buf, bb.len, "clk@", 4);
	assert_non_null(p);
	p[3] = '\0';
	mig__state_init(&st);
	assert_int_equal(mig__final_state_parse(&bb.f, &st, &pages, &rounds),
			 MIG_EDECODE);
	assert_int_equal(mig_state_count(&st), 0);
	free(bb.buf);
}

/* ---------------------------------------------------------------------- */
/* ABORT, ERROR                                                           */

static void test_error_roundtrip(void **state)
{
	char text[MIG__TEXT_MAX];
	struct built b;
	int code = 1;

	(void)state;
	ASSERT_OK(mig__error_frame(MIG__F_ERROR, MIG_ESHAPE,
				   "guest shape mismatch", &b.buf, &b.len));
	built_frame(&b, MIG__F_ERROR);
	assert_int_equal(mig__error_parse(&b.f, &code, text, sizeof(text)), 0);
	assert_int_equal(code, MIG_ESHAPE);
	assert_string_equal(text, "guest shape mismatch");
	/* A small buffer gets a cut, terminated text. */
	assert_int_equal(mig__error_parse(&b.f, &code, text, 6), 0);
	assert_string_equal(text, "guest");
	free(b.buf);

	ASSERT_OK(mig__error_frame(MIG__F_ABORT, -EIO, "cancelled", &b.buf,
				   &b.len));
	built_frame(&b, MIG__F_ABORT);
	assert_int_equal(mig__error_parse(&b.f, &code, text, sizeof(text)), 0);
	assert_int_equal(code, 0);
	assert_string_equal(text, "cancelled");
	free(b.buf);

	ASSERT_OK(mig__error_frame(MIG__F_ERROR, -ENOMEM, NULL, &b.buf,
				   &b.len));
	built_frame(&b, MIG__F_ERROR);
	strcpy(text, "junk");
	assert_int_equal(mig__error_parse(&b.f, &code, text, sizeof(text)), 0);
	assert_int_equal(code, -ENOMEM);
	assert_string_equal(text, "");
	free(b.buf);
}

static void test_error_long_text(void **state)
{
	char *long_text = malloc(5000);
	char text[2 * MIG__TEXT_MAX];
	struct built b;
	int code;

	(void)state;
	assert_non_null(long_text);
	memset(long_text, 'e', 4999);
	long_text[4999] = '\0';
	ASSERT_OK(mig__error_frame(MIG__F_ERROR, MIG_EPEER, long_text,
				   &b.buf, &b.len));
	built_frame(&b, MIG__F_ERROR);
	assert_true(b.len < 2 * MIG__TEXT_MAX);
	assert_int_equal(mig__error_parse(&b.f, &code, text, sizeof(text)), 0);
	assert_int_equal(strlen(text), MIG__TEXT_MAX - 1);
	free(b.buf);
	free(long_text);
	assert_int_equal(mig__error_frame(MIG__F_READY, 0, "x", &b.buf,
					  &b.len),
			 -EINVAL);
}

static void test_error_raw(void **state)
{
	Mig__V1__Error m = MIG__V1__ERROR__INIT;
	char text[64];
	struct built b;
	int code;
	uint8_t *p;

	(void)state;
	m.code = 5; /* not an error code */
	m.text = "why@";
	raw_frame(&b, MIG__F_ERROR, &m);
	assert_int_equal(mig__error_parse(&b.f, &code, text, sizeof(text)),
			 MIG_EDECODE);
	free(b.buf);
	/* A NUL in a text for the user is not worth losing the error. */
	m.code = MIG_ETLS;
	raw_frame(&b, MIG__F_ERROR, &m);
	p = memmem(b.buf, b.len, "why@", 4);
	assert_non_null(p);
	p[1] = '\0';
	assert_int_equal(mig__error_parse(&b.f, &code, text, sizeof(text)), 0);
	assert_int_equal(code, MIG_ETLS);
	assert_string_equal(text, "w");
	free(b.buf);
}

/* ---------------------------------------------------------------------- */
/* Wrong frames, garbage                                                  */

/* Runs every parser on `f`; each result goes into rc[]. */
static void parse_all(const struct mig__frame *f, int rc[6])
{
	struct mig__hello h;
	struct mig__hello_reply r;
	struct mig__round_end re;
	mig_state st;
	uint64_t v, pages;
	uint32_t rounds;
	char text[32];
	int code;

	rc[0] = mig__hello_parse(f, &h);
	if (!rc[0])
		mig__hello_fini(&h);
	rc[1] = mig__hello_reply_parse(f, &r);
	rc[2] = mig__round_end_parse(f, &re);
	mig__state_init(&st);
	rc[3] = mig__final_state_parse(f, &st, &pages, &rounds);
	mig__state_fini(&st);
	rc[4] = mig__u64_msg_parse(f, &v);
	rc[5] = mig__error_parse(f, &code, text, sizeof(text));
}

static void test_wrong_type(void **state)
{
	static const uint16_t parser_type[6] = {
		MIG__F_HELLO, MIG__F_HELLO_REPLY, MIG__F_ROUND_END,
		MIG__F_FINAL_STATE, MIG__F_READY, MIG__F_ERROR,
	};
	struct mig__frame f = { 0 };
	int rc[6];

	(void)state;
	/* An empty body parses as any message: only the type can fail. */
	for (uint16_t t = 0; t <= MIG__F_COUNT; t++) {
		f.type = t;
		parse_all(&f, rc);
		for (int i = 0; i < 6; i++) {
			int ok_type = t == parser_type[i];

			if (i == 4)
				ok_type = t == MIG__F_GUEST_CREATED ||
					  t == MIG__F_READY ||
					  t == MIG__F_COMMIT ||
					  t == MIG__F_RUNNING;
			if (i == 5)
				ok_type = t == MIG__F_ERROR ||
					  t == MIG__F_ABORT;
			if (ok_type && i == 0)
				assert_int_equal(rc[i], MIG_EDECODE);
			else if (ok_type)
				assert_int_equal(rc[i], 0);
			else
				assert_int_equal(rc[i], MIG_EUNEXPECTED);
		}
	}
}

static void test_garbage(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
	} bad[] = {
		{ "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11 },
		{ "\x08", 1 },                 /* varint cut */
		{ "\x0b\x00", 2 },             /* group start */
		{ "\x0f", 1 },                 /* wire type 7 */
		{ "\x12\x7f" "abc", 5 },       /* length past the end */
		{ "\x11\x01\x02", 3 },         /* fixed64 cut */
		{ "\x00\x01", 2 },             /* field number 0 */
	};
	static const uint16_t types[] = {
		MIG__F_HELLO, MIG__F_HELLO_REPLY, MIG__F_ROUND_END,
		MIG__F_FINAL_STATE, MIG__F_GUEST_CREATED, MIG__F_READY,
		MIG__F_COMMIT, MIG__F_RUNNING, MIG__F_ABORT, MIG__F_ERROR,
	};
	struct mig__frame f = { 0 };
	int rc[6];

	(void)state;
	for (size_t i = 0; i < MIG__ARRAY_SIZE(bad); i++) {
		for (size_t t = 0; t < MIG__ARRAY_SIZE(types); t++) {
			f.type = types[t];
			f.len = (uint32_t)bad[i].len;
			f.body = (uint8_t *)bad[i].bytes;
			parse_all(&f, rc);
			for (int p = 0; p < 6; p++)
				if (rc[p] != MIG_EUNEXPECTED &&
				    rc[p] != MIG_EDECODE)
					fail_msg("garbage %zu type %u parser "
						 "%d: %d",
						 i, types[t], p, rc[p]);
		}
	}
	/* A length without its body. */
	f.type = MIG__F_READY;
	f.len = 4;
	f.body = NULL;
	parse_all(&f, rc);
	assert_int_equal(rc[4], MIG_EDECODE);
}

/* Every prefix and random corruption of a real hello: no crash, no leak. */
static void test_hello_corrupt(void **state)
{
	struct mig__hello h, h2;
	struct built b;
	uint32_t seed = 12345;

	(void)state;
	hello_fill(&h);
	h.guest.vmm_config = "config";
	h.guest.vmm_config_len = 6;
	hello_build(&h, &b);
	for (uint32_t cut = 0; cut < b.f.len; cut++) {
		struct mig__frame f = b.f;
		int rc;

		f.len = cut;
		rc = mig__hello_parse(&f, &h2);
		assert_true(rc == 0 || rc == MIG_EDECODE);
		if (!rc)
			mig__hello_fini(&h2);
	}
	for (int i = 0; i < 20000; i++) {
		uint8_t *copy = malloc(b.f.len);
		struct mig__frame f = b.f;
		int rc;

		assert_non_null(copy);
		memcpy(copy, b.f.body, b.f.len);
		for (int k = 0; k < 3; k++) {
			seed = seed * 1103515245u + 12345u;
			copy[(seed >> 8) % b.f.len] ^= (uint8_t)(seed >> 24);
		}
		f.body = copy;
		rc = mig__hello_parse(&f, &h2);
		assert_true(rc == 0 || rc == MIG_EDECODE);
		if (!rc)
			mig__hello_fini(&h2);
		free(copy);
	}
	free(b.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_roundtrip),
		cmocka_unit_test(test_hello_minimal),
		cmocka_unit_test(test_hello_limits_ok),
		cmocka_unit_test(test_hello_frame_rejects),
		cmocka_unit_test(test_hello_bad_regions),
		cmocka_unit_test(test_hello_bad_vcpus),
		cmocka_unit_test(test_hello_raw_valid),
		cmocka_unit_test(test_hello_raw_invalid),
		cmocka_unit_test(test_hello_raw_nul),
		cmocka_unit_test(test_hello_reply_roundtrip),
		cmocka_unit_test(test_hello_reply_long_reason),
		cmocka_unit_test(test_hello_reply_raw),
		cmocka_unit_test(test_round_end_roundtrip),
		cmocka_unit_test(test_u64_roundtrip),
		cmocka_unit_test(test_u64_bad_type),
		cmocka_unit_test(test_final_state_roundtrip),
		cmocka_unit_test(test_final_state_invalid),
		cmocka_unit_test(test_final_state_too_many),
		cmocka_unit_test(test_final_state_nul_name),
		cmocka_unit_test(test_error_roundtrip),
		cmocka_unit_test(test_error_long_text),
		cmocka_unit_test(test_error_raw),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_hello_corrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
