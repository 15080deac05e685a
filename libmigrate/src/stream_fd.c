/*
 * stream_fd.c - the plain backends: a connected socket (non-blocking) and
 * a stop/restart image file (blocking, buffered).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream.h"

/* Big enough that an image is written in few, large system calls. */
#define FILE_BUF_SIZE (1u << 20)

/* Keeps the first error's detail, as the dispatchers keep the first code. */
static int set_error(struct mig__stream *s, int err, const char *what)
{
	char buf[128];

	if (!s->error_text[0])
		snprintf(s->error_text, sizeof(s->error_text), "%s: %s", what,
			 strerror_r(-err, buf, sizeof(buf)));
	return err;
}

/* ---------------------------------------------------------------------- */
/* Sockets                                                                */

static ssize_t sock_read(struct mig__stream *s, void *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(s->fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		s->want = MIG__WANT_READ;
		return MIG__AGAIN;
	}
	return set_error(s, -errno, "receiving from the peer failed");
}

static ssize_t sock_write(struct mig__stream *s, const void *buf, size_t len)
{
	ssize_t n;

	/* MSG_NOSIGNAL: a vanished peer is an EPIPE, never a SIGPIPE. */
	do
		n = send(s->fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		s->want = MIG__WANT_WRITE;
		return MIG__AGAIN;
	}
	return set_error(s, -errno, "sending to the peer failed");
}

static int sock_shutdown(struct mig__stream *s)
{
	if (shutdown(s->fd, SHUT_WR) < 0)
		return -errno;
	return 0;
}

static void sock_destroy(struct mig__stream *s)
{
	close(s->fd);
	free(s);
}

static const struct mig__stream_ops tcp_ops = {
	.name = "tcp",
	.read = sock_read,
	.write = sock_write,
	.shutdown = sock_shutdown,
	.destroy = sock_destroy,
};

static const struct mig__stream_ops unix_ops = {
	.name = "unix",
	.read = sock_read,
	.write = sock_write,
	.shutdown = sock_shutdown,
	.destroy = sock_destroy,
};

int mig__stream_fd_new(struct mig__stream **out, int fd)
{
	struct mig__stream *s;
	int domain = AF_UNSPEC;
	socklen_t dlen = sizeof(domain);
	int flags, rc;

	/* The fd is ours from here on, also when we fail. */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = -errno;
		goto close_fd;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) < 0) {
		rc = -errno;
		goto close_fd;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		rc = -ENOMEM;
		goto close_fd;
	}
	s->ops = domain == AF_UNIX ? &unix_ops : &tcp_ops;
	s->fd = fd;
	*out = s;
	return 0;

close_fd:
	close(fd);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Files                                                                  */

/*
 * One buffer serves both directions, since a file stream is opened either
 * for writing or for reading: pending bytes [0, len) when writing, unread
 * bytes [pos, len) when reading.
 */
struct file_stream {
	struct mig__stream s;
	int fd;
	int writing;
	size_t pos;
	size_t len;
	unsigned char *buf;
};

static int write_all(struct file_stream *f, const unsigned char *p,
		     size_t len)
{
	ssize_t n;

	while (len) {
		n = write(f->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return set_error(&f->s, -errno,
					 "writing the image file failed");
		}
		if (!n) /* cannot happen for len > 0; never spin on it */
			return set_error(&f->s, -EIO,
					 "writing the image file failed");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int file_drain(struct file_stream *f)
{
	int rc;

	rc = write_all(f, f->buf, f->len);
	if (rc)
		return rc;
	f->len = 0;
	return 0;
}

static ssize_t file_write(struct mig__stream *s, const void *buf, size_t len)
{
	struct file_stream *f = (struct file_stream *)s;
	const unsigned char *p = buf;
	size_t left, chunk;
	int rc;

	if (!f->writing)
		return set_error(s, -EBADF, "image file is open for reading");
	len = MIG__MIN(len, (size_t)SSIZE_MAX);
	left = len;
	while (left) {
		/* What would only pass through the buffer skips it. */
		if (!f->len && left >= FILE_BUF_SIZE) {
			rc = write_all(f, p, left);
			if (rc)
				return rc;
			break;
		}
		chunk = MIG__MIN(left, FILE_BUF_SIZE - f->len);
		memcpy(f->buf + f->len, p, chunk);
		f->len += chunk;
		p += chunk;
		left -= chunk;
		if (f->len == FILE_BUF_SIZE) {
			rc = file_drain(f);
			if (rc)
				return rc;
		}
	}
	return (ssize_t)len;
}

static ssize_t raw_read(struct file_stream *f, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(f->fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return set_error(&f->s, -errno,
				 "reading the image file failed");
	return n;
}

static ssize_t file_read(struct mig__stream *s, void *buf, size_t len)
{
	struct file_stream *f = (struct file_stream *)s;
	ssize_t n;

	if (f->writing)
		return set_error(s, -EBADF, "image file is open for writing");
	len = MIG__MIN(len, (size_t)SSIZE_MAX);
	if (f->pos == f->len) {
		/* Large reads bypass the buffer rather than copy through it. */
		if (len >= FILE_BUF_SIZE)
			return raw_read(f, buf, len);
		n = raw_read(f, f->buf, FILE_BUF_SIZE);
		if (n <= 0)
			return n;
		f->pos = 0;
		f->len = (size_t)n;
	}
	len = MIG__MIN(len, f->len - f->pos);
	memcpy(buf, f->buf + f->pos, len);
	f->pos += len;
	return (ssize_t)len;
}

static int file_flush(struct mig__stream *s)
{
	struct file_stream *f = (struct file_stream *)s;
	int rc;

	if (!f->writing)
		return 0;
	rc = file_drain(f);
	if (rc)
		return rc;
	if (fdatasync(f->fd) < 0)
		return set_error(s, -errno, "syncing the image file failed");
	return 0;
}

/*
 * Unflushed data is dropped, not written: an image whose writer did not
 * get as far as flushing is incomplete anyway, and destroy has no way to
 * report a failed write.
 */
static void file_destroy(struct mig__stream *s)
{
	struct file_stream *f = (struct file_stream *)s;

	close(f->fd);
	free(f->buf);
	free(f);
}

static const struct mig__stream_ops file_ops = {
	.name = "file",
	.read = file_read,
	.write = file_write,
	.flush = file_flush,
	.destroy = file_destroy,
};

int mig__stream_file_new(struct mig__stream **out, const char *path,
			 int writing)
{
	struct file_stream *f;
	int flags = O_CLOEXEC;
	int rc;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->buf = malloc(FILE_BUF_SIZE);
	if (!f->buf) {
		rc = -ENOMEM;
		goto free_stream;
	}
	flags |= writing ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY;
	f->fd = open(path, flags, 0600);
	if (f->fd < 0) {
		rc = -errno;
		goto free_buf;
	}
	f->s.ops = &file_ops;
	f->s.fd = -1; /* files are not pollable */
	f->writing = !!writing;
	*out = &f->s;
	return 0;

free_buf:
	free(f->buf);
free_stream:
	free(f);
	return rc;
}
