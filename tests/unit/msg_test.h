/*
 * msg_test.h - what the protocol message tests share: frames built in
 * memory as the reader would hand them over.
 */
#ifndef MSG_TEST_H
#define MSG_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migrate.pb-c.h"
#include "msg.h"

#define ASSERT_OK(x) assert_int_equal((x), 0)

/* A frame as the reader would hand it over, over a built buffer. */
struct built {
	uint8_t *buf;
	size_t len;
	struct mig__frame f;
};

static inline void built_frame(struct built *b, uint16_t want_type)
{
	assert_true(b->len >= MIG__FRAME_HDR_LEN);
	assert_int_equal(mig__frame_hdr_get(b->buf, &b->f), 0);
	assert_int_equal(b->f.type, want_type);
	assert_int_equal(b->f.len, b->len - MIG__FRAME_HDR_LEN);
	b->f.body = b->f.len ? b->buf + MIG__FRAME_HDR_LEN : NULL;
}

/* Packs a protobuf-c message as the body of a frame of `type`. */
static inline void raw_frame(struct built *b, uint16_t type, const void *msg)
{
	const ProtobufCMessage *m = msg;
	size_t n = protobuf_c_message_get_packed_size(m);

	b->buf = malloc(n + 1);
	assert_non_null(b->buf);
	protobuf_c_message_pack(m, b->buf);
	b->len = n;
	b->f.type = type;
	b->f.flags = 0;
	b->f.len = (uint32_t)n;
	b->f.body = b->buf;
}

#endif /* MSG_TEST_H */
