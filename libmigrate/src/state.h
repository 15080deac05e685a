/*
 * state.h - machine state as blobs (the opaque mig_state of migrate.h).
 */
#ifndef MIG_STATE_H
#define MIG_STATE_H

#include "internal.h"

struct mig__blob {
	enum mig_state_kind kind;
	uint32_t id;
	char name[MIG_NAME_MAX];
	uint8_t *data; /* owned by the state */
	size_t len;
};

struct mig_state {
	struct mig__blob *blobs;
	size_t count;
	size_t cap;
	uint64_t total_bytes; /* sum of blob lengths */
};

/* Prepares an empty state. */
void mig__state_init(mig_state *st);

/* Frees every blob; the state is empty (and reusable) afterwards. */
void mig__state_fini(mig_state *st);

/*
 * Adds a blob whose buffer the state takes over (it was malloc'd by the
 * caller), instead of copying it. On error the caller still owns `data`.
 * Returns 0, -E2BIG, -EEXIST (same kind and id twice) or -ENOMEM.
 */
int mig__state_adopt(mig_state *st, enum mig_state_kind kind, uint32_t id,
		     const char *name, uint8_t *data, size_t len);

#endif /* MIG_STATE_H */
