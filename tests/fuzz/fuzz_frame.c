/*
 * fuzz_frame.c - the frame reader over hostile bytes.
 *
 * The first input byte chooses how the stream hands out the rest (chunks
 * of 1..64 bytes, or of 256..16384) and whether a stream header comes
 * first; every frame the reader yields is checked and freed.
 */
#include <stdint.h>
#include <stdlib.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int expected_end(int rc)
{
	return rc == 0 || rc == MIG_ETRUNCATED || rc == MIG_EPROTO_MAGIC ||
	       rc == MIG_EFRAME_TYPE || rc == MIG_EFRAME_SIZE ||
	       rc == MIG_EFRAME_UNKNOWN || rc == -ENOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mig__frame_reader r;
	struct mig__stream *s;
	struct mig__frame f;
	size_t chunk;
	int rc;

	if (size < 1)
		return 0;
	chunk = (size_t)(data[0] & 0x3f) + 1;
	if (data[0] & 0x40)
		chunk <<= 8;
	if (mig__stream_buf_new(&s, data + 1, size - 1, chunk) < 0)
		return 0;
	mig__frame_reader_init(&r, data[0] >> 7);
	while ((rc = mig__frame_read(&r, s, &f)) == 1) {
		volatile uint8_t sink = 0;

		/* A frame handed out is a known type within its bound. */
		if (!f.type || f.type >= MIG__F_COUNT ||
		    f.len > mig__frame_max_len(f.type) || (!f.len != !f.body))
			__builtin_trap();
		/* Touch both ends so that ASan checks the allocation. */
		if (f.len)
			sink = f.body[0] ^ f.body[f.len - 1];
		(void)sink;
		free(f.body);
	}
	if (!expected_end(rc))
		__builtin_trap();
	mig__frame_reader_fini(&r);
	mig__stream_destroy(s);
	return 0;
}
