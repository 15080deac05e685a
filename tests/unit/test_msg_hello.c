/* test_msg_hello.c - HELLO and HELLO_REPLY: round trips and hostile input. */
#include "msg_test.h"

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
		cmocka_unit_test(test_hello_corrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
