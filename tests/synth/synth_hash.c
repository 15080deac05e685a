/*
 * synth_hash.c - per-page hashes of a whole guest, their file and their
 * comparison: how the target proves that it holds, byte for byte, the
 * memory the source had at freeze.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "synth.h"

static const char hash_magic[8] = {'S', 'Y', 'N', 'T', 'H', 'H', 'S', '1'};

/* Bound on a hash file we read: 1 TiB of guest. */
#define MAX_HASHES (SYNTH_RAM_MAX / MIG_PAGE_SIZE + 1024)

void synth_hashes_fini(struct synth_hashes *h)
{
	free(h->gpa);
	free(h->hash);
	memset(h, 0, sizeof(*h));
}

static int write_u64s(FILE *f, const uint64_t *v, size_t n)
{
	/* The file is little-endian; so is every host this project targets. */
	return fwrite(v, sizeof(*v), n, f) == n ? 0 : -EIO;
}

int synth_hashes_write(const struct synth_hashes *h, const char *path)
{
	uint64_t hdr[2] = {h->seed, h->count};
	uint64_t pair[2];
	char tmp[4096];
	FILE *f;
	int err;

	/* Written aside, then renamed: a reader never sees half a file. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "wb");
	if (!f)
		return -errno;
	err = fwrite(hash_magic, 1, 8, f) == 8 ? 0 : -EIO;
	if (!err)
		err = write_u64s(f, hdr, 2);
	for (uint64_t i = 0; !err && i < h->count; i++) {
		pair[0] = h->gpa[i];
		pair[1] = h->hash[i];
		err = write_u64s(f, pair, 2);
	}
	if (fclose(f) && !err)
		err = -EIO;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int synth_hashes_read(struct synth_hashes *h, const char *path)
{
	char magic[8];
	uint64_t hdr[2];
	uint64_t pair[2];
	FILE *f;
	int err = -EINVAL;

	memset(h, 0, sizeof(*h));
	f = fopen(path, "rb");
	if (!f)
		return -errno;
	if (fread(magic, 1, 8, f) != 8 || memcmp(magic, hash_magic, 8) ||
	    fread(hdr, 8, 2, f) != 2 || hdr[1] > MAX_HASHES)
		goto out_close;
	h->seed = hdr[0];
	h->gpa = calloc(hdr[1] ? hdr[1] : 1, sizeof(uint64_t));
	h->hash = calloc(hdr[1] ? hdr[1] : 1, sizeof(uint64_t));
	if (!h->gpa || !h->hash) {
		err = -ENOMEM;
		goto out_free;
	}
	for (uint64_t i = 0; i < hdr[1]; i++) {
		if (fread(pair, 8, 2, f) != 2)
			goto out_free;
		h->gpa[i] = pair[0];
		h->hash[i] = pair[1];
	}
	h->count = hdr[1];
	fclose(f);
	return 0;

out_free:
	synth_hashes_fini(h);
out_close:
	fclose(f);
	return err;
}

__attribute__((format(printf, 2, 3))) static void
diff_append(struct synth_hash_diff *d, const char *fmt, ...)
{
	size_t used = strlen(d->text);
	va_list ap;

	if (used + 1 >= sizeof(d->text))
		return;
	va_start(ap, fmt);
	vsnprintf(d->text + used, sizeof(d->text) - used, fmt, ap);
	va_end(ap);
}

int synth_hashes_compare(const struct synth_hashes *mine,
			 const struct synth_hashes *theirs,
			 struct synth_hash_diff *diff)
{
	uint64_t n = mine->count < theirs->count ? mine->count : theirs->count;

	memset(diff, 0, sizeof(*diff));
	if (mine->count != theirs->count || mine->seed != theirs->seed) {
		diff->layout_differs = 1;
		diff_append(diff,
			    "layout differs: %" PRIu64 " pages here, %" PRIu64
			    " in the file (seed 0x%" PRIx64 ")",
			    mine->count, theirs->count, theirs->seed);
	}
	for (uint64_t i = 0; i < n; i++) {
		diff->compared++;
		if (mine->gpa[i] != theirs->gpa[i]) {
			if (!diff->layout_differs)
				diff_append(diff,
					    "layout differs at entry %" PRIu64
					    ": gpa 0x%" PRIx64 " vs 0x%" PRIx64,
					    i, mine->gpa[i], theirs->gpa[i]);
			diff->layout_differs = 1;
			diff->mismatches++;
			continue;
		}
		if (mine->hash[i] == theirs->hash[i])
			continue;
		if (diff->mismatches < 8)
			diff_append(diff,
				    "%spage gpa 0x%" PRIx64 ": here %016" PRIx64
				    ", source %016" PRIx64,
				    diff->text[0] ? "; " : "", mine->gpa[i],
				    mine->hash[i], theirs->hash[i]);
		diff->mismatches++;
	}
	return diff->mismatches || diff->layout_differs;
}
