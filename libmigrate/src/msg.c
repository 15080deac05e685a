/*
 * msg.c - protocol messages to and from frames, through protobuf-c.
 *
 * Every parse follows the same path: the frame type must be the one the
 * caller expects, the body is walked once to reject strings with NUL
 * bytes (protobuf-c keeps them, and C would silently cut them), then it
 * is unpacked and each value checked against the protocol's bounds. The
 * unpacked message is freed on every path; large byte fields (state
 * blobs, vmm_config) are taken over instead of copied.
 */
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "migrate.pb-c.h"
#include "msg.h"

/* More capability strings than any version will ever define. */
#define MAX_CAPS 64
/* Our messages nest three deep; anything deeper is not ours. */
#define MAX_DEPTH 8

static void *pb_alloc(void *opaque, size_t size)
{
	(void)opaque;
	return malloc(size);
}

static void pb_free(void *opaque, void *p)
{
	(void)opaque;
	free(p);
}

/*
 * Explicitly malloc/free, so that byte buffers the parsers take out of an
 * unpacked message may be freed with free() by their new owner.
 */
static ProtobufCAllocator pb_allocator = {
	.alloc = pb_alloc,
	.free = pb_free,
};

static const struct {
	const char *name;
	uint32_t bit;
} cap_names[] = {
	{ "zero-pages", MIG__CAP_ZERO_PAGES },
	{ "lz4", MIG__CAP_LZ4 },
};

static size_t caps_to_strings(uint32_t caps,
			      char *out[MIG__ARRAY_SIZE(cap_names)])
{
	size_t n = 0;

	for (size_t i = 0; i < MIG__ARRAY_SIZE(cap_names); i++)
		if (caps & cap_names[i].bit)
			out[n++] = (char *)cap_names[i].name;
	return n;
}

/* Unknown strings are a newer peer's features: ignored, not rejected. */
static int strings_to_caps(char **strs, size_t n, uint32_t *caps)
{
	if (n > MAX_CAPS)
		return MIG_EDECODE;
	*caps = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < MIG__ARRAY_SIZE(cap_names); j++)
			if (!strcmp(strs[i], cap_names[j].name))
				*caps |= cap_names[j].bit;
	return 0;
}

/* Copies a text with truncation; dst is always NUL-terminated. */
static void copy_text(char *dst, size_t dst_len, const char *src)
{
	size_t n;

	if (!dst_len)
		return;
	n = src ? strnlen(src, dst_len - 1) : 0;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * Copies a text for the wire, cut to MIG__TEXT_MAX - 1 bytes at a UTF-8
 * character boundary (a peer may check that strings are valid UTF-8).
 */
static void wire_text(char out[MIG__TEXT_MAX], const char *src)
{
	size_t n = src ? strnlen(src, MIG__TEXT_MAX) : 0;

	if (n == MIG__TEXT_MAX) {
		n = MIG__TEXT_MAX - 1;
		while (n && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(out, src, n);
	out[n] = '\0';
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*p == end)
			return -1;
		*v |= (uint64_t)(**p & 0x7f) << shift;
		if (!(*(*p)++ & 0x80))
			return 0;
	}
	return -1;
}

/*
 * Walks the wire encoding of a message of descriptor `d` and fails if a
 * string field (at any depth) holds a NUL byte, or if the encoding is
 * malformed.
 */
static int check_strings(const ProtobufCMessageDescriptor *d,
			 const uint8_t *p, size_t len, int depth)
{
	const uint8_t *end = p + len;

	if (depth > MAX_DEPTH)
		return -1;
	while (p < end) {
		const ProtobufCFieldDescriptor *fd;
		uint64_t key, v;

		if (get_varint(&p, end, &key) || key >> 3 > UINT32_MAX)
			return -1;
		switch (key & 7) {
		case PROTOBUF_C_WIRE_TYPE_VARINT:
			if (get_varint(&p, end, &v))
				return -1;
			break;
		case PROTOBUF_C_WIRE_TYPE_64BIT:
			if (end - p < 8)
				return -1;
			p += 8;
			break;
		case PROTOBUF_C_WIRE_TYPE_32BIT:
			if (end - p < 4)
				return -1;
			p += 4;
			break;
		case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
			if (get_varint(&p, end, &v) || v > (uint64_t)(end - p))
				return -1;
			fd = protobuf_c_message_descriptor_get_field(
				d, (unsigned)(key >> 3));
			if (fd && fd->type == PROTOBUF_C_TYPE_STRING &&
			    memchr(p, 0, v))
				return -1;
			if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE &&
			    check_strings(fd->descriptor, p, v, depth + 1))
				return -1;
			p += v;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

/*
 * The common front of every parse: frame type, bounds, string check,
 * unpack. Returns 0 and *out, MIG_EUNEXPECTED or MIG_EDECODE.
 */
static int unpack(const struct mig__frame *f, uint16_t type,
		  const ProtobufCMessageDescriptor *d, int check_nul,
		  ProtobufCMessage **out)
{
	if (f->type != type)
		return MIG_EUNEXPECTED;
	if (f->len > mig__frame_max_len(type) || (f->len && !f->body))
		return MIG_EDECODE;
	if (check_nul && check_strings(d, f->body, f->len, 0))
		return MIG_EDECODE;
	*out = protobuf_c_message_unpack(d, &pb_allocator, f->len, f->body);
	return *out ? 0 : MIG_EDECODE;
}

static void unpack_free(ProtobufCMessage *m)
{
	protobuf_c_message_free_unpacked(m, &pb_allocator);
}

/* Packs `m` behind a frame header into one malloc'd buffer. */
static int pack_frame(uint16_t type, const ProtobufCMessage *m,
		      uint8_t **out, size_t *len)
{
	size_t body = protobuf_c_message_get_packed_size(m);
	uint8_t *buf;

	if (body > mig__frame_max_len(type))
		return -E2BIG;
	buf = malloc(MIG__FRAME_HDR_LEN + body);
	if (!buf)
		return -ENOMEM;
	mig__frame_hdr_put(buf, type, 0, (uint32_t)body);
	protobuf_c_message_pack(m, buf + MIG__FRAME_HDR_LEN);
	*out = buf;
	*len = MIG__FRAME_HDR_LEN + body;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* HELLO                                                                  */

int mig__hello_frame(const struct mig__hello *h, uint8_t **out, size_t *len)
{
	const struct mig_guest_desc *g = &h->guest;
	Mig__V1__Hello msg = MIG__V1__HELLO__INIT;
	Mig__V1__GuestDesc gd = MIG__V1__GUEST_DESC__INIT;
	Mig__V1__Region regs[MIG_MAX_REGIONS];
	Mig__V1__Region *reg_ptrs[MIG_MAX_REGIONS];
	char *devs[MIG_MAX_DEVICES];
	char *caps[MIG__ARRAY_SIZE(cap_names)];

	if (g->region_count > MIG_MAX_REGIONS ||
	    g->device_count > MIG_MAX_DEVICES ||
	    g->vmm_config_len > MIG__VMM_CONFIG_MAX ||
	    (g->vmm_config_len && !g->vmm_config) ||
	    strnlen(g->cpu_fingerprint, sizeof(g->cpu_fingerprint)) ==
		    sizeof(g->cpu_fingerprint))
		return -EINVAL;
	for (uint32_t i = 0; i < g->region_count; i++) {
		mig__v1__region__init(&regs[i]);
		regs[i].gpa = g->regions[i].gpa;
		regs[i].size = g->regions[i].size;
		regs[i].read_only = !!g->regions[i].read_only;
		reg_ptrs[i] = &regs[i];
	}
	for (uint32_t i = 0; i < g->device_count; i++) {
		if (strnlen(g->devices[i], MIG_NAME_MAX) == MIG_NAME_MAX)
			return -EINVAL;
		devs[i] = (char *)g->devices[i];
	}
	gd.n_regions = g->region_count;
	gd.regions = reg_ptrs;
	gd.vcpu_count = g->vcpu_count;
	gd.cpu_fingerprint = (char *)g->cpu_fingerprint;
	gd.n_devices = g->device_count;
	gd.devices = devs;
	gd.vmm_config.len = g->vmm_config_len;
	gd.vmm_config.data = (uint8_t *)g->vmm_config;

	msg.protocol_version = h->protocol_version;
	msg.n_capabilities = caps_to_strings(h->caps, caps);
	msg.capabilities = caps;
	msg.migration_id.len = sizeof(h->migration_id);
	msg.migration_id.data = (uint8_t *)h->migration_id;
	msg.guest = &gd;
	msg.live = !!h->live;
	msg.state_bytes_hint = h->state_bytes_hint;
	return pack_frame(MIG__F_HELLO, &msg.base, out, len);
}

static int regions_check(const Mig__V1__GuestDesc *gd)
{
	if (!gd->n_regions || gd->n_regions > MIG_MAX_REGIONS)
		return MIG_EDECODE;
	for (size_t i = 0; i < gd->n_regions; i++) {
		const Mig__V1__Region *r = gd->regions[i];

		if (r->gpa % MIG_PAGE_SIZE || r->size % MIG_PAGE_SIZE ||
		    !r->size || r->size > UINT64_MAX - r->gpa)
			return MIG_EDECODE;
		for (size_t j = 0; j < i; j++) {
			const Mig__V1__Region *o = gd->regions[j];

			if (r->gpa < o->gpa + o->size &&
			    o->gpa < r->gpa + r->size)
				return MIG_EDECODE;
		}
	}
	return 0;
}

static int guest_parse(Mig__V1__GuestDesc *gd, struct mig__hello *h)
{
	struct mig_guest_desc *g = &h->guest;

	if (regions_check(gd) || !gd->vcpu_count ||
	    gd->vcpu_count > MIG_MAX_VCPUS ||
	    strlen(gd->cpu_fingerprint) >= sizeof(g->cpu_fingerprint) ||
	    gd->n_devices > MIG_MAX_DEVICES ||
	    gd->vmm_config.len > MIG__VMM_CONFIG_MAX)
		return MIG_EDECODE;
	for (size_t i = 0; i < gd->n_devices; i++)
		if (strlen(gd->devices[i]) >= MIG_NAME_MAX)
			return MIG_EDECODE;

	g->region_count = (uint32_t)gd->n_regions;
	for (size_t i = 0; i < gd->n_regions; i++) {
		g->regions[i].gpa = gd->regions[i]->gpa;
		g->regions[i].size = gd->regions[i]->size;
		g->regions[i].host = NULL;
		g->regions[i].read_only = !!gd->regions[i]->read_only;
	}
	g->vcpu_count = gd->vcpu_count;
	strcpy(g->cpu_fingerprint, gd->cpu_fingerprint);
	g->device_count = (uint32_t)gd->n_devices;
	for (size_t i = 0; i < gd->n_devices; i++)
		strcpy(g->devices[i], gd->devices[i]);
	/* Taken over, not copied: it may be a megabyte. */
	if (gd->vmm_config.len) {
		h->vmm_config_buf = gd->vmm_config.data;
		g->vmm_config = h->vmm_config_buf;
		g->vmm_config_len = gd->vmm_config.len;
		gd->vmm_config.data = NULL;
		gd->vmm_config.len = 0;
	}
	return 0;
}

int mig__hello_parse(const struct mig__frame *f, struct mig__hello *h)
{
	ProtobufCMessage *m;
	Mig__V1__Hello *msg;
	int rc;

	rc = unpack(f, MIG__F_HELLO, &mig__v1__hello__descriptor, 1, &m);
	if (rc < 0)
		return rc;
	msg = (Mig__V1__Hello *)m;
	memset(h, 0, sizeof(*h));
	rc = MIG_EDECODE;
	if (msg->migration_id.len != sizeof(h->migration_id) || !msg->guest)
		goto out_free;
	if (strings_to_caps(msg->capabilities, msg->n_capabilities,
			    &h->caps) < 0)
		goto out_free;
	h->protocol_version = msg->protocol_version;
	memcpy(h->migration_id, msg->migration_id.data,
	       sizeof(h->migration_id));
	h->live = !!msg->live;
	h->state_bytes_hint = msg->state_bytes_hint;
	rc = guest_parse(msg->guest, h);
out_free:
	unpack_free(m);
	if (rc < 0)
		memset(h, 0, sizeof(*h));
	return rc;
}

void mig__hello_fini(struct mig__hello *h)
{
	if (h->guest.vmm_config == h->vmm_config_buf) {
		h->guest.vmm_config = NULL;
		h->guest.vmm_config_len = 0;
	}
	free(h->vmm_config_buf);
	h->vmm_config_buf = NULL;
}

/* ---------------------------------------------------------------------- */
/* HELLO_REPLY                                                            */

int mig__hello_reply_frame(const struct mig__hello_reply *r, uint8_t **out,
			   size_t *len)
{
	Mig__V1__HelloReply msg = MIG__V1__HELLO_REPLY__INIT;
	char *caps[MIG__ARRAY_SIZE(cap_names)];
	char reason[MIG__TEXT_MAX];

	wire_text(reason, r->reason);
	msg.accept = !!r->accept;
	msg.reason = reason;
	msg.n_capabilities = caps_to_strings(r->caps, caps);
	msg.capabilities = caps;
	msg.protocol_version = r->protocol_version;
	return pack_frame(MIG__F_HELLO_REPLY, &msg.base, out, len);
}

int mig__hello_reply_parse(const struct mig__frame *f,
			   struct mig__hello_reply *r)
{
	ProtobufCMessage *m;
	Mig__V1__HelloReply *msg;
	uint32_t caps;
	int rc;

	rc = unpack(f, MIG__F_HELLO_REPLY, &mig__v1__hello_reply__descriptor,
		    1, &m);
	if (rc < 0)
		return rc;
	msg = (Mig__V1__HelloReply *)m;
	rc = strings_to_caps(msg->capabilities, msg->n_capabilities, &caps);
	if (rc < 0)
		goto out_free;
	r->accept = !!msg->accept;
	r->caps = caps;
	r->protocol_version = msg->protocol_version;
	copy_text(r->reason, sizeof(r->reason), msg->reason);
out_free:
	unpack_free(m);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* ROUND_END                                                              */

int mig__round_end_frame(const struct mig__round_end *r, uint8_t **out,
			 size_t *len)
{
	Mig__V1__RoundEnd msg = MIG__V1__ROUND_END__INIT;

	msg.round = r->round;
	msg.pages = r->pages;
	msg.bytes = r->bytes;
	return pack_frame(MIG__F_ROUND_END, &msg.base, out, len);
}

int mig__round_end_parse(const struct mig__frame *f, struct mig__round_end *r)
{
	ProtobufCMessage *m;
	Mig__V1__RoundEnd *msg;
	int rc;

	rc = unpack(f, MIG__F_ROUND_END, &mig__v1__round_end__descriptor, 1,
		    &m);
	if (rc < 0)
		return rc;
	msg = (Mig__V1__RoundEnd *)m;
	r->round = msg->round;
	r->pages = msg->pages;
	r->bytes = msg->bytes;
	unpack_free(m);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* FINAL_STATE                                                            */

int mig__final_state_frame(const mig_state *st, uint64_t pages_total,
			   uint32_t rounds, uint8_t **out, size_t *len)
{
	Mig__V1__FinalState msg = MIG__V1__FINAL_STATE__INIT;
	Mig__V1__StateBlob *blobs = NULL;
	Mig__V1__StateBlob **ptrs = NULL;
	int rc = -ENOMEM;

	if (st->count > MIG_STATE_MAX_BLOBS)
		return -E2BIG;
	if (st->count) {
		blobs = calloc(st->count, sizeof(*blobs));
		if (!blobs)
			goto out_free;
		ptrs = calloc(st->count, sizeof(*ptrs));
		if (!ptrs)
			goto out_free;
	}
	for (size_t i = 0; i < st->count; i++) {
		const struct mig__blob *b = &st->blobs[i];

		mig__v1__state_blob__init(&blobs[i]);
		blobs[i].kind = (uint32_t)b->kind;
		blobs[i].id = b->id;
		blobs[i].name = (char *)b->name;
		blobs[i].data.len = b->len;
		blobs[i].data.data = b->data;
		ptrs[i] = &blobs[i];
	}
	msg.n_blobs = st->count;
	msg.blobs = ptrs;
	msg.pages_total = pages_total;
	msg.rounds = rounds;
	rc = pack_frame(MIG__F_FINAL_STATE, &msg.base, out, len);
out_free:
	free(ptrs);
	free(blobs);
	return rc;
}

/* Moves one blob into `st`; its data buffer changes owner on success. */
static int blob_adopt(mig_state *st, Mig__V1__StateBlob *b)
{
	uint8_t *data = b->data.data;
	int rc;

	if (b->kind < MIG_STATE_VCPU || b->kind > MIG_STATE_MACHINE ||
	    strlen(b->name) >= MIG_NAME_MAX ||
	    b->data.len > MIG_STATE_MAX_BLOB_SIZE)
		return MIG_EDECODE;
	/* Empty blobs get a buffer too, as mig_state_add() gives them. */
	if (!data) {
		data = malloc(1);
		if (!data)
			return -ENOMEM;
	}
	rc = mig__state_adopt(st, (enum mig_state_kind)b->kind, b->id,
			      b->name, data, b->data.len);
	if (rc < 0) {
		if (data != b->data.data)
			free(data);
		return rc == -ENOMEM ? rc : MIG_EDECODE;
	}
	b->data.data = NULL;
	b->data.len = 0;
	return 0;
}

int mig__final_state_parse(const struct mig__frame *f, mig_state *st,
			   uint64_t *pages_total, uint32_t *rounds)
{
	ProtobufCMessage *m;
	Mig__V1__FinalState *msg;
	int rc;

	if (st->count)
		return -EINVAL;
	rc = unpack(f, MIG__F_FINAL_STATE, &mig__v1__final_state__descriptor,
		    1, &m);
	if (rc < 0)
		return rc;
	msg = (Mig__V1__FinalState *)m;
	rc = MIG_EDECODE;
	if (msg->n_blobs > MIG_STATE_MAX_BLOBS)
		goto out_free;
	for (size_t i = 0; i < msg->n_blobs; i++) {
		rc = blob_adopt(st, msg->blobs[i]);
		if (rc < 0)
			goto out_fini;
	}
	*pages_total = msg->pages_total;
	*rounds = msg->rounds;
	rc = 0;
	goto out_free;
out_fini:
	mig__state_fini(st);
out_free:
	unpack_free(m);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* GUEST_CREATED, READY, COMMIT, RUNNING                                  */

int mig__u64_msg_frame(uint16_t type, uint64_t value, uint8_t **out,
		       size_t *len)
{
	Mig__V1__GuestCreated gc = MIG__V1__GUEST_CREATED__INIT;
	Mig__V1__Ready ready = MIG__V1__READY__INIT;
	Mig__V1__Commit commit = MIG__V1__COMMIT__INIT;
	Mig__V1__Running running = MIG__V1__RUNNING__INIT;

	switch (type) {
	case MIG__F_GUEST_CREATED:
		gc.memory_bytes = value;
		return pack_frame(type, &gc.base, out, len);
	case MIG__F_READY:
		ready.pages_received = value;
		return pack_frame(type, &ready.base, out, len);
	case MIG__F_COMMIT:
		return pack_frame(type, &commit.base, out, len);
	case MIG__F_RUNNING:
		return pack_frame(type, &running.base, out, len);
	default:
		return -EINVAL;
	}
}

int mig__u64_msg_parse(const struct mig__frame *f, uint64_t *value)
{
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *m;
	int rc;

	switch (f->type) {
	case MIG__F_GUEST_CREATED:
		d = &mig__v1__guest_created__descriptor;
		break;
	case MIG__F_READY:
		d = &mig__v1__ready__descriptor;
		break;
	case MIG__F_COMMIT:
		d = &mig__v1__commit__descriptor;
		break;
	case MIG__F_RUNNING:
		d = &mig__v1__running__descriptor;
		break;
	default:
		return MIG_EUNEXPECTED;
	}
	rc = unpack(f, f->type, d, 1, &m);
	if (rc < 0)
		return rc;
	if (f->type == MIG__F_GUEST_CREATED)
		*value = ((Mig__V1__GuestCreated *)m)->memory_bytes;
	else if (f->type == MIG__F_READY)
		*value = ((Mig__V1__Ready *)m)->pages_received;
	else
		*value = 0;
	unpack_free(m);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* ABORT, ERROR                                                           */

int mig__error_frame(uint16_t type, int code, const char *text,
		     uint8_t **out, size_t *len)
{
	Mig__V1__Abort ab = MIG__V1__ABORT__INIT;
	Mig__V1__Error er = MIG__V1__ERROR__INIT;
	char buf[MIG__TEXT_MAX];

	wire_text(buf, text);
	switch (type) {
	case MIG__F_ABORT:
		ab.reason = buf;
		return pack_frame(type, &ab.base, out, len);
	case MIG__F_ERROR:
		er.code = code;
		er.text = buf;
		return pack_frame(type, &er.base, out, len);
	default:
		return -EINVAL;
	}
}

/*
 * No NUL check here: these texts are only shown to a user, and refusing
 * one would lose the peer's reason for failing, the one thing it tells.
 */
int mig__error_parse(const struct mig__frame *f, int *code, char *text,
		     size_t text_len)
{
	ProtobufCMessage *m;
	const char *t;
	int rc;

	if (f->type == MIG__F_ABORT) {
		rc = unpack(f, f->type, &mig__v1__abort__descriptor, 0, &m);
		if (rc < 0)
			return rc;
		*code = 0;
		t = ((Mig__V1__Abort *)m)->reason;
	} else if (f->type == MIG__F_ERROR) {
		rc = unpack(f, f->type, &mig__v1__error__descriptor, 0, &m);
		if (rc < 0)
			return rc;
		*code = ((Mig__V1__Error *)m)->code;
		t = ((Mig__V1__Error *)m)->text;
		/* An error code is negative; anything else is not one. */
		if (*code > 0) {
			*code = 0;
			unpack_free(m);
			return MIG_EDECODE;
		}
	} else {
		return MIG_EUNEXPECTED;
	}
	if (text)
		copy_text(text, text_len, t);
	unpack_free(m);
	return 0;
}
