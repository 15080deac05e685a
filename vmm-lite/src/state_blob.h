/*
 * state_blob.h - the small record format of vmm-lite's state blobs (one
 * per vCPU, one for the VM-wide devices), in the manner of Xen's migration
 * stream v2: typed, length-prefixed, versioned records.
 *
 * Layout, every integer little-endian:
 *
 *	header	u32 magic, u16 version, u16 reserved (0),
 *		u32 body length (the bytes after this 12-byte header)
 *	records	u16 tag, u16 reserved (0), u32 length, then `length` bytes
 *
 * A blob comes over the network, so the parser trusts nothing: the body
 * length must match the blob exactly (a blob cut at a record boundary is
 * not mistaken for one without its optional records), every record must
 * fit, every tag must be known, appear at most once and have a length in
 * its allowed range, and every required tag must be there. Payloads are
 * handed back as pointers into the blob; they may be unaligned.
 */
#ifndef VMM_STATE_BLOB_H
#define VMM_STATE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#define VMM_BLOB_HDR_LEN 12u
#define VMM_BLOB_REC_HDR_LEN 8u
/* Tags are 1..VMM_BLOB_TAG_MAX (a bitmask finds duplicates). */
#define VMM_BLOB_TAG_MAX 63u
/* No blob of ours comes near this; anything bigger is refused unread. */
#define VMM_BLOB_MAX_LEN (16u << 20)

/* Builds a blob in a growing buffer; the first error sticks. */
struct vmm_blob_writer {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err;
};

/* Starts a blob: writes the header (body length filled in by finish). */
void vmm_blob_begin(struct vmm_blob_writer *w, uint32_t magic, uint16_t version);

/*
 * Appends a record of `len` bytes and returns where its payload goes, for
 * the caller to fill before the next call; NULL after an error (which then
 * sticks: finish reports it). 1 <= tag <= VMM_BLOB_TAG_MAX.
 */
void *vmm_blob_reserve(struct vmm_blob_writer *w, uint16_t tag, size_t len);

/* Appends a record holding a copy of data[0..len). */
void vmm_blob_put(struct vmm_blob_writer *w, uint16_t tag, const void *data,
		  size_t len);

/*
 * Ends the blob. On success hands the buffer over (*blob, *len; the caller
 * frees) and returns 0; on a sticky error frees it and returns that error.
 */
int vmm_blob_finish(struct vmm_blob_writer *w, void **blob, size_t *len);

/* Drops a blob being built (after the caller's own error). */
void vmm_blob_abort(struct vmm_blob_writer *w);

/* What a blob of a kind may hold: one entry per known tag. */
struct vmm_blob_field {
	uint16_t tag;
	uint32_t min_len;
	uint32_t max_len;
	int required;
};

/* One parsed record: present, and where its payload is inside the blob. */
struct vmm_blob_rec {
	int present;
	const uint8_t *data;
	uint32_t len;
};

/*
 * Checks a whole blob against its kind (magic, version, fields[0..n)) and
 * fills recs[i] for fields[i]. Nothing is copied; recs point into `blob`.
 * Returns 0, -EPROTONOSUPPORT for another version of the format, or
 * -EINVAL for anything else malformed.
 */
int vmm_blob_parse(const void *blob, size_t len, uint32_t magic,
		   uint16_t version, const struct vmm_blob_field *fields,
		   size_t n, struct vmm_blob_rec *recs);

/* Little-endian loads and stores for record payloads of our own layout. */
static inline uint32_t vmm_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t vmm_le64(const uint8_t *p)
{
	return (uint64_t)vmm_le32(p) | (uint64_t)vmm_le32(p + 4) << 32;
}

static inline void vmm_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void vmm_put_le64(uint8_t *p, uint64_t v)
{
	vmm_put_le32(p, (uint32_t)v);
	vmm_put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
