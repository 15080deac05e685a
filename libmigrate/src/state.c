/* state.c - machine state blobs, owned by the library. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "state.h"

void mig__state_init(mig_state *st)
{
	memset(st, 0, sizeof(*st));
}

void mig__state_fini(mig_state *st)
{
	for (size_t i = 0; i < st->count; i++)
		free(st->blobs[i].data);
	free(st->blobs);
	mig__state_init(st);
}

int mig__state_adopt(mig_state *st, enum mig_state_kind kind, uint32_t id,
		     const char *name, uint8_t *data, size_t len)
{
	struct mig__blob *b;

	if (kind < MIG_STATE_VCPU || kind > MIG_STATE_MACHINE)
		return -EINVAL;
	if (len > MIG_STATE_MAX_BLOB_SIZE || st->count >= MIG_STATE_MAX_BLOBS)
		return -E2BIG;
	/* Blob ids are few (vCPUs + devices); a linear check is cheap. */
	for (size_t i = 0; i < st->count; i++)
		if (st->blobs[i].kind == kind && st->blobs[i].id == id)
			return -EEXIST;
	if (st->count == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 16;
		struct mig__blob *nb = realloc(st->blobs, cap * sizeof(*nb));

		if (!nb)
			return -ENOMEM;
		st->blobs = nb;
		st->cap = cap;
	}
	b = &st->blobs[st->count++];
	b->kind = kind;
	b->id = id;
	snprintf(b->name, sizeof(b->name), "%s", name ? name : "");
	b->data = data;
	b->len = len;
	st->total_bytes += len;
	return 0;
}

int mig_state_add(mig_state *st, enum mig_state_kind kind, uint32_t id,
		  const char *name, const void *data, size_t len)
{
	uint8_t *copy;
	int rc;

	if (!st || (len && !data))
		return -EINVAL;
	if (len > MIG_STATE_MAX_BLOB_SIZE)
		return -E2BIG;
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);
	rc = mig__state_adopt(st, kind, id, name, copy, len);
	if (rc < 0)
		free(copy);
	return rc;
}

size_t mig_state_count(const mig_state *st)
{
	return st ? st->count : 0;
}

int mig_state_get(const mig_state *st, size_t index,
		  enum mig_state_kind *kind, uint32_t *id, const char **name,
		  const void **data, size_t *len)
{
	const struct mig__blob *b;

	if (!st || index >= st->count)
		return -ENOENT;
	b = &st->blobs[index];
	if (kind)
		*kind = b->kind;
	if (id)
		*id = b->id;
	if (name)
		*name = b->name;
	if (data)
		*data = b->data;
	if (len)
		*len = b->len;
	return 0;
}

int mig_state_find(const mig_state *st, enum mig_state_kind kind,
		   uint32_t id, const void **data, size_t *len)
{
	for (size_t i = 0; st && i < st->count; i++) {
		if (st->blobs[i].kind == kind && st->blobs[i].id == id) {
			if (data)
				*data = st->blobs[i].data;
			if (len)
				*len = st->blobs[i].len;
			return 0;
		}
	}
	return -ENOENT;
}
