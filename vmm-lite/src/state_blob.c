/*
 * state_blob.c - writer and strict parser of the state blob records
 * (format in state_blob.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "state_blob.h"

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Makes room for `more` bytes; sets the sticky error when it cannot. */
static int grow(struct vmm_blob_writer *w, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (w->err)
		return w->err;
	if (more > VMM_BLOB_MAX_LEN || w->len + more > VMM_BLOB_MAX_LEN) {
		w->err = -E2BIG;
		return w->err;
	}
	if (w->len + more <= w->cap)
		return 0;
	cap = w->cap ? w->cap : 4096;
	while (cap < w->len + more)
		cap *= 2;
	p = realloc(w->buf, cap);
	if (!p) {
		w->err = -ENOMEM;
		return w->err;
	}
	w->buf = p;
	w->cap = cap;
	return 0;
}

void vmm_blob_begin(struct vmm_blob_writer *w, uint32_t magic, uint16_t version)
{
	memset(w, 0, sizeof(*w));
	if (grow(w, VMM_BLOB_HDR_LEN))
		return;
	vmm_put_le32(w->buf, magic);
	put_le16(w->buf + 4, version);
	put_le16(w->buf + 6, 0);
	vmm_put_le32(w->buf + 8, 0);
	w->len = VMM_BLOB_HDR_LEN;
}

void *vmm_blob_reserve(struct vmm_blob_writer *w, uint16_t tag, size_t len)
{
	uint8_t *rec;

	if (!w->err && (tag == 0 || tag > VMM_BLOB_TAG_MAX))
		w->err = -EINVAL;
	if (grow(w, VMM_BLOB_REC_HDR_LEN + len))
		return NULL;
	rec = w->buf + w->len;
	put_le16(rec, tag);
	put_le16(rec + 2, 0);
	vmm_put_le32(rec + 4, (uint32_t)len);
	w->len += VMM_BLOB_REC_HDR_LEN + len;
	return rec + VMM_BLOB_REC_HDR_LEN;
}

void vmm_blob_put(struct vmm_blob_writer *w, uint16_t tag, const void *data,
		  size_t len)
{
	void *p = vmm_blob_reserve(w, tag, len);

	if (p && len)
		memcpy(p, data, len);
}

int vmm_blob_finish(struct vmm_blob_writer *w, void **blob, size_t *len)
{
	int r = w->err;

	if (r) {
		vmm_blob_abort(w);
		return r;
	}
	vmm_put_le32(w->buf + 8, (uint32_t)(w->len - VMM_BLOB_HDR_LEN));
	*blob = w->buf;
	*len = w->len;
	memset(w, 0, sizeof(*w));
	return 0;
}

void vmm_blob_abort(struct vmm_blob_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

int vmm_blob_parse(const void *blob, size_t len, uint32_t magic,
		   uint16_t version, const struct vmm_blob_field *fields,
		   size_t n, struct vmm_blob_rec *recs)
{
	const uint8_t *p = blob;
	uint64_t seen = 0;
	size_t off, i;

	for (i = 0; i < n; i++)
		memset(&recs[i], 0, sizeof(recs[i]));
	if (!blob || len < VMM_BLOB_HDR_LEN || len > VMM_BLOB_MAX_LEN)
		return -EINVAL;
	if (vmm_le32(p) != magic)
		return -EINVAL;
	if (le16(p + 4) != version)
		return -EPROTONOSUPPORT;
	if (le16(p + 6) != 0 || vmm_le32(p + 8) != len - VMM_BLOB_HDR_LEN)
		return -EINVAL;

	for (off = VMM_BLOB_HDR_LEN; off < len;) {
		uint16_t tag;
		uint32_t rlen;

		if (len - off < VMM_BLOB_REC_HDR_LEN)
			return -EINVAL;
		tag = le16(p + off);
		rlen = vmm_le32(p + off + 4);
		if (le16(p + off + 2) != 0)
			return -EINVAL;
		off += VMM_BLOB_REC_HDR_LEN;
		/* Compared against what is left, so no sum can overflow. */
		if (rlen > len - off)
			return -EINVAL;
		if (tag == 0 || tag > VMM_BLOB_TAG_MAX || (seen >> tag & 1))
			return -EINVAL;
		seen |= 1ull << tag;
		for (i = 0; i < n && fields[i].tag != tag; i++)
			;
		if (i == n)
			return -EINVAL;
		if (rlen < fields[i].min_len || rlen > fields[i].max_len)
			return -EINVAL;
		recs[i].present = 1;
		recs[i].data = p + off;
		recs[i].len = rlen;
		off += rlen;
	}
	for (i = 0; i < n; i++)
		if (fields[i].required && !recs[i].present)
			return -EINVAL;
	return 0;
}
