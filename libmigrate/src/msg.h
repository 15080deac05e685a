/*
 * msg.h - the protocol's messages as C structs, and their conversion to
 * and from frames (protobuf-c underneath; proto/migrate.proto).
 *
 * Every *_frame() builds a complete frame (frame header + body) in a
 * malloc'd buffer the caller frees. Every *_parse() treats the frame as
 * hostile: it checks each count, length and value against the protocol's
 * bounds, and returns MIG_EDECODE (nothing allocated left behind) when
 * anything is off. Source and target code never touch protobuf-c types.
 */
#ifndef MIG_MSG_H
#define MIG_MSG_H

#include "frame.h"
#include "state.h"

/* Capability bits; on the wire they are strings ("zero-pages", "lz4"). */
#define MIG__CAP_ZERO_PAGES 0x1u
#define MIG__CAP_LZ4 0x2u
#define MIG__CAPS_ALL (MIG__CAP_ZERO_PAGES | MIG__CAP_LZ4)

#define MIG__VMM_CONFIG_MAX (1u << 20)
#define MIG__TEXT_MAX 1024 /* reasons and error texts */

struct mig__hello {
	uint32_t protocol_version;
	uint32_t caps;
	uint8_t migration_id[16];
	int live;
	uint64_t state_bytes_hint;
	/*
	 * guest.vmm_config points into vmm_config_buf after a parse (owned,
	 * freed by mig__hello_fini); when building, it is the caller's.
	 */
	struct mig_guest_desc guest;
	void *vmm_config_buf;
};

/*
 * Parse checks on the guest: 1..MIG_MAX_REGIONS regions, each with
 * page-aligned gpa and size, size > 0, no overflow, no two overlapping;
 * 1..MIG_MAX_VCPUS vCPUs; at most MIG_MAX_DEVICES device names, each
 * shorter than MIG_NAME_MAX; fingerprint fits; vmm_config at most
 * MIG__VMM_CONFIG_MAX. Unknown capability strings are ignored.
 */
int mig__hello_frame(const struct mig__hello *h, uint8_t **out, size_t *len);
int mig__hello_parse(const struct mig__frame *f, struct mig__hello *h);
/* Frees what a parse allocated. */
void mig__hello_fini(struct mig__hello *h);

struct mig__hello_reply {
	int accept;
	uint32_t caps;
	uint32_t protocol_version;
	char reason[MIG__TEXT_MAX];
};
int mig__hello_reply_frame(const struct mig__hello_reply *r, uint8_t **out,
			   size_t *len);
int mig__hello_reply_parse(const struct mig__frame *f,
			   struct mig__hello_reply *r);

struct mig__round_end {
	uint32_t round;
	uint64_t pages;
	uint64_t bytes;
};
int mig__round_end_frame(const struct mig__round_end *r, uint8_t **out,
			 size_t *len);
int mig__round_end_parse(const struct mig__frame *f, struct mig__round_end *r);

/*
 * FINAL_STATE: the blobs of `st` plus totals. The parse fills an empty,
 * initialised `st` (kinds valid, ids unique, counts and sizes in bounds).
 */
int mig__final_state_frame(const mig_state *st, uint64_t pages_total,
			   uint32_t rounds, uint8_t **out, size_t *len);
int mig__final_state_parse(const struct mig__frame *f, mig_state *st,
			   uint64_t *pages_total, uint32_t *rounds);

/* Messages with one number or none: GUEST_CREATED, READY, COMMIT, RUNNING. */
int mig__u64_msg_frame(uint16_t type, uint64_t value, uint8_t **out,
		       size_t *len);
int mig__u64_msg_parse(const struct mig__frame *f, uint64_t *value);

/* ABORT (code unused, 0) and ERROR: a code and a text for the peer's user. */
int mig__error_frame(uint16_t type, int code, const char *text,
		     uint8_t **out, size_t *len);
int mig__error_parse(const struct mig__frame *f, int *code, char *text,
		     size_t text_len);

#endif /* MIG_MSG_H */
