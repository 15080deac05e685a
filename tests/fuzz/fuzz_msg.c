/*
 * fuzz_msg.c - every message parser over hostile bodies.
 *
 * First byte: bits 0-3 pick the frame type (some values are types no
 * parser takes); bit 7 set means "mutate a valid message" (the rest of
 * the input is XORed over a valid body of that type, which reaches the
 * deep checks without a seed corpus), clear means "the rest is the body".
 * Whatever parses is built again and must parse back to the same value.
 */
#include <stdlib.h>
#include <string.h>

#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t types[16] = {
	MIG__F_HELLO, MIG__F_HELLO_REPLY, MIG__F_GUEST_CREATED,
	MIG__F_ROUND_END, MIG__F_FINAL_STATE, MIG__F_READY, MIG__F_COMMIT,
	MIG__F_RUNNING, MIG__F_ABORT, MIG__F_ERROR, MIG__F_HELLO,
	MIG__F_FINAL_STATE, MIG__F_HELLO_REPLY, MIG__F_ERROR,
	MIG__F_PAGE_BATCH, 0,
};

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond))                                                 \
			__builtin_trap();                                    \
	} while (0)

/* Turns a built frame into the struct the reader would give. */
static void as_frame(uint8_t *buf, size_t len, struct mig__frame *f)
{
	CHECK(!mig__frame_hdr_get(buf, f));
	CHECK(f->len == len - MIG__FRAME_HDR_LEN);
	f->body = f->len ? buf + MIG__FRAME_HDR_LEN : NULL;
}

static void hello_same(const struct mig__hello *a, const struct mig__hello *b)
{
	const struct mig_guest_desc *x = &a->guest, *y = &b->guest;

	CHECK(a->protocol_version == b->protocol_version);
	CHECK(a->caps == b->caps && a->live == b->live);
	CHECK(!memcmp(a->migration_id, b->migration_id, 16));
	CHECK(a->state_bytes_hint == b->state_bytes_hint);
	CHECK(x->region_count == y->region_count);
	for (uint32_t i = 0; i < x->region_count; i++)
		CHECK(x->regions[i].gpa == y->regions[i].gpa &&
		      x->regions[i].size == y->regions[i].size &&
		      x->regions[i].read_only == y->regions[i].read_only);
	CHECK(x->vcpu_count == y->vcpu_count);
	CHECK(!strcmp(x->cpu_fingerprint, y->cpu_fingerprint));
	CHECK(x->device_count == y->device_count);
	for (uint32_t i = 0; i < x->device_count; i++)
		CHECK(!strcmp(x->devices[i], y->devices[i]));
	CHECK(x->vmm_config_len == y->vmm_config_len);
	CHECK(!x->vmm_config_len ||
	      !memcmp(x->vmm_config, y->vmm_config, x->vmm_config_len));
}

static void fuzz_hello(const struct mig__frame *f)
{
	struct mig__hello h, h2;
	struct mig__frame f2;
	uint8_t *buf;
	size_t len;

	if (mig__hello_parse(f, &h))
		return;
	CHECK(!mig__hello_frame(&h, &buf, &len));
	as_frame(buf, len, &f2);
	CHECK(!mig__hello_parse(&f2, &h2));
	hello_same(&h, &h2);
	mig__hello_fini(&h2);
	mig__hello_fini(&h);
	free(buf);
}

static void fuzz_hello_reply(const struct mig__frame *f)
{
	struct mig__hello_reply r, r2;
	struct mig__frame f2;
	uint8_t *buf;
	size_t len;

	if (mig__hello_reply_parse(f, &r))
		return;
	CHECK(!mig__hello_reply_frame(&r, &buf, &len));
	as_frame(buf, len, &f2);
	CHECK(!mig__hello_reply_parse(&f2, &r2));
	CHECK(r.accept == r2.accept && r.caps == r2.caps &&
	      r.protocol_version == r2.protocol_version);
	CHECK(!strcmp(r.reason, r2.reason));
	free(buf);
}

static void fuzz_round_end(const struct mig__frame *f)
{
	struct mig__round_end r, r2;
	struct mig__frame f2;
	uint8_t *buf;
	size_t len;

	if (mig__round_end_parse(f, &r))
		return;
	CHECK(!mig__round_end_frame(&r, &buf, &len));
	as_frame(buf, len, &f2);
	CHECK(!mig__round_end_parse(&f2, &r2));
	CHECK(r.round == r2.round && r.pages == r2.pages &&
	      r.bytes == r2.bytes);
	free(buf);
}

static void fuzz_final_state(const struct mig__frame *f)
{
	mig_state st, st2;
	uint64_t pages, pages2;
	uint32_t rounds, rounds2;
	struct mig__frame f2;
	uint8_t *buf;
	size_t len;

	mig__state_init(&st);
	mig__state_init(&st2);
	if (mig__final_state_parse(f, &st, &pages, &rounds)) {
		CHECK(st.count == 0);
		return;
	}
	CHECK(!mig__final_state_frame(&st, pages, rounds, &buf, &len));
	as_frame(buf, len, &f2);
	CHECK(!mig__final_state_parse(&f2, &st2, &pages2, &rounds2));
	CHECK(pages == pages2 && rounds == rounds2 && st.count == st2.count);
	for (size_t i = 0; i < st.count; i++) {
		const struct mig__blob *a = &st.blobs[i], *b = &st2.blobs[i];

		CHECK(a->kind == b->kind && a->id == b->id &&
		      a->len == b->len && !strcmp(a->name, b->name));
		CHECK(a->data && b->data);
		CHECK(!a->len || !memcmp(a->data, b->data, a->len));
	}
	mig__state_fini(&st2);
	mig__state_fini(&st);
	free(buf);
}

static void fuzz_u64(const struct mig__frame *f)
{
	struct mig__frame f2;
	uint64_t v, v2;
	uint8_t *buf;
	size_t len;

	if (mig__u64_msg_parse(f, &v))
		return;
	CHECK(!mig__u64_msg_frame(f->type, v, &buf, &len));
	as_frame(buf, len, &f2);
	CHECK(!mig__u64_msg_parse(&f2, &v2));
	CHECK(v == v2);
	free(buf);
}

static void fuzz_error(const struct mig__frame *f)
{
	char text[MIG__TEXT_MAX], text2[MIG__TEXT_MAX];
	struct mig__frame f2;
	int code, code2;
	uint8_t *buf;
	size_t len;

	if (mig__error_parse(f, &code, text, sizeof(text)))
		return;
	CHECK(code <= 0 && strlen(text) < sizeof(text));
	CHECK(!mig__error_frame(f->type, code, text, &buf, &len));
	as_frame(buf, len, &f2);
	CHECK(!mig__error_parse(&f2, &code2, text2, sizeof(text2)));
	CHECK(code == code2 && !strcmp(text, text2));
	free(buf);
}

/* A valid body of `type` to mutate; 0 if none could be built. */
static size_t template_body(uint16_t type, uint8_t **out)
{
	static const char cfg[] = "vmm-config";
	struct mig__hello h;
	struct mig__hello_reply r = { 1, MIG__CAPS_ALL, 1, "reason" };
	struct mig__round_end re = { 3, 100, 409600 };
	mig_state st;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	switch (type) {
	case MIG__F_HELLO:
		memset(&h, 0, sizeof(h));
		h.protocol_version = 1;
		h.caps = MIG__CAPS_ALL;
		memset(h.migration_id, 0x11, sizeof(h.migration_id));
		h.guest.region_count = 2;
		h.guest.regions[0].size = 0x100000;
		h.guest.regions[1].gpa = 0x100000;
		h.guest.regions[1].size = 0x2000;
		h.guest.regions[1].read_only = 1;
		h.guest.vcpu_count = 2;
		strcpy(h.guest.cpu_fingerprint, "fp");
		h.guest.device_count = 2;
		strcpy(h.guest.devices[0], "blk");
		strcpy(h.guest.devices[1], "net");
		h.guest.vmm_config = cfg;
		h.guest.vmm_config_len = sizeof(cfg);
		rc = mig__hello_frame(&h, &buf, &len);
		break;
	case MIG__F_HELLO_REPLY:
		rc = mig__hello_reply_frame(&r, &buf, &len);
		break;
	case MIG__F_ROUND_END:
		rc = mig__round_end_frame(&re, &buf, &len);
		break;
	case MIG__F_FINAL_STATE:
		mig__state_init(&st);
		mig_state_add(&st, MIG_STATE_VCPU, 0, "cpu0", "regs", 4);
		mig_state_add(&st, MIG_STATE_DEVICE, 1, "blk", NULL, 0);
		mig_state_add(&st, MIG_STATE_MACHINE, 0, "pit", "pit!", 4);
		rc = mig__final_state_frame(&st, 10, 2, &buf, &len);
		mig__state_fini(&st);
		break;
	case MIG__F_GUEST_CREATED:
	case MIG__F_READY:
	case MIG__F_COMMIT:
	case MIG__F_RUNNING:
		rc = mig__u64_msg_frame(type, 12345, &buf, &len);
		break;
	case MIG__F_ABORT:
	case MIG__F_ERROR:
		rc = mig__error_frame(type, MIG_EPEER, "text", &buf, &len);
		break;
	default:
		return 0;
	}
	if (rc < 0)
		return 0;
	/* An exact copy, so that ASan sees any read past the end. */
	len -= MIG__FRAME_HDR_LEN;
	*out = len ? malloc(len) : NULL;
	if (*out)
		memcpy(*out, buf + MIG__FRAME_HDR_LEN, len);
	free(buf);
	return *out ? len : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mig__frame f = { 0 };
	uint8_t *body = NULL;
	size_t len;

	if (size < 1)
		return 0;
	f.type = types[data[0] & 0x0f];
	if (data[0] & 0x80) {
		len = template_body(f.type, &body);
		for (size_t i = 1; len && i < size; i++)
			body[(i - 1) % len] ^= data[i];
	} else {
		/* An exact copy, so that ASan sees any read past the end. */
		len = size - 1;
		body = malloc(len ? len : 1);
		if (!body)
			return 0;
		memcpy(body, data + 1, len);
	}
	f.len = (uint32_t)len;
	f.body = len ? body : NULL;
	fuzz_hello(&f);
	fuzz_hello_reply(&f);
	fuzz_round_end(&f);
	fuzz_final_state(&f);
	fuzz_u64(&f);
	fuzz_error(&f);
	free(body);
	return 0;
}
