/*
 * stream.h - the one byte-stream interface under the migration stream.
 *
 * In the manner of redis' rio.h: a small vtable with pluggable backends
 * (plain socket, TLS over a socket, file, in-memory pair), a sticky error
 * with its text, and byte counters. Streams are non-blocking: a call that
 * cannot progress returns MIG__AGAIN and sets `want` to the poll events
 * (MIG__WANT_READ / MIG__WANT_WRITE) it waits for, which the caller's
 * event loop polls on `fd`. Backends without a pollable fd (file, memory)
 * have fd == -1 and never return MIG__AGAIN for I/O they can complete.
 */
#ifndef MIG_STREAM_H
#define MIG_STREAM_H

#include <sys/types.h>

#include "internal.h"

#define MIG__WANT_READ 1
#define MIG__WANT_WRITE 2

struct mig__stream;

struct mig__stream_ops {
	const char *name; /* "tcp", "unix", "tls", "file", "mem" */
	/*
	 * Reads up to `len` bytes. Returns the count (> 0), 0 at a clean end
	 * of stream, MIG__AGAIN, or a negative error.
	 */
	ssize_t (*read)(struct mig__stream *s, void *buf, size_t len);
	/*
	 * Writes up to `len` bytes. Returns the count (> 0; may be short),
	 * MIG__AGAIN, or a negative error.
	 */
	ssize_t (*write)(struct mig__stream *s, const void *buf, size_t len);
	/*
	 * Advances the connection set-up (TLS handshake). Returns 0 once
	 * done, MIG__AGAIN while in progress, or an error (MIG_ETLS,
	 * MIG_ECERT with error_text saying why). NULL: nothing to set up.
	 */
	int (*handshake)(struct mig__stream *s);
	/* Makes written data durable or sent (file: fdatasync). May be NULL. */
	int (*flush)(struct mig__stream *s);
	/*
	 * Starts an orderly close of our sending side (TLS close_notify,
	 * shutdown(SHUT_WR)). Best effort; may be NULL.
	 */
	int (*shutdown)(struct mig__stream *s);
	/* Closes the fd and frees the stream, including `s` itself. */
	void (*destroy)(struct mig__stream *s);
};

struct mig__stream {
	const struct mig__stream_ops *ops;
	int fd;                /* pollable fd, or -1 */
	int want;              /* events the last MIG__AGAIN waits for */
	int error;             /* sticky: first error seen, 0 if none */
	uint64_t bytes_in;     /* payload bytes read */
	uint64_t bytes_out;    /* payload bytes written */
	char error_text[256];  /* detail for `error`, "" if none */
};

/* Thin dispatchers that keep the counters and the sticky error. */
ssize_t mig__stream_read(struct mig__stream *s, void *buf, size_t len);
ssize_t mig__stream_write(struct mig__stream *s, const void *buf,
			  size_t len);
int mig__stream_handshake(struct mig__stream *s);
int mig__stream_flush(struct mig__stream *s);
int mig__stream_shutdown(struct mig__stream *s);
/* Destroys the stream; NULL is a no-op. */
void mig__stream_destroy(struct mig__stream *s);

/*
 * A plain connected socket (TCP or UNIX). Takes ownership of `fd` (it is
 * closed even when this fails) and makes it non-blocking. Returns 0 and
 * *out, or -ENOMEM, -ENOTSOCK, -EBADF.
 */
int mig__stream_fd_new(struct mig__stream **out, int fd);

/*
 * A file for stop/restart images, blocking and buffered; `writing` creates
 * or truncates it (mode 0600), else opens it for reading. Returns 0 and
 * *out, or a negative errno.
 */
int mig__stream_file_new(struct mig__stream **out, const char *path,
			 int writing);

/*
 * Two in-memory streams connected to each other (what one writes the
 * other reads), for tests and fuzzing. Reads of an empty pipe return
 * MIG__AGAIN, or 0 once the peer shut down or was destroyed. Each pipe
 * holds at most `capacity` bytes (writes beyond it are short/MIG__AGAIN).
 */
int mig__stream_mem_pair(struct mig__stream **a, struct mig__stream **b,
			 size_t capacity);

/*
 * A read-only stream over a caller-owned buffer (fuzzing): yields `len`
 * bytes in chunks of at most `chunk` bytes, then EOF.
 */
int mig__stream_buf_new(struct mig__stream **out, const void *data,
			size_t len, size_t chunk);

#endif /* MIG_STREAM_H */
