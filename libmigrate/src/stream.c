/*
 * stream.c - the stream dispatchers (counters, sticky error) and the two
 * in-memory backends: a connected pair of pipes and a read-only buffer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

/*
 * Records the first error a stream sees, so that every later call fails
 * the same way without touching a backend that is already broken.
 */
static int stream_fail(struct mig__stream *s, int err)
{
	if (!s->error) {
		s->error = err;
		if (!s->error_text[0])
			snprintf(s->error_text, sizeof(s->error_text),
				 "%s: %s", s->ops->name, mig_strerror(err));
	}
	return err;
}

ssize_t mig__stream_read(struct mig__stream *s, void *buf, size_t len)
{
	ssize_t n;

	if (s->error)
		return s->error;
	n = s->ops->read(s, buf, len);
	if (n > 0)
		s->bytes_in += (uint64_t)n;
	else if (n < 0 && n != MIG__AGAIN)
		return stream_fail(s, (int)n);
	return n;
}

ssize_t mig__stream_write(struct mig__stream *s, const void *buf, size_t len)
{
	ssize_t n;

	if (s->error)
		return s->error;
	/* A zero-length write has nothing to report but "nothing written". */
	if (!len)
		return 0;
	n = s->ops->write(s, buf, len);
	if (n > 0)
		s->bytes_out += (uint64_t)n;
	else if (n < 0 && n != MIG__AGAIN)
		return stream_fail(s, (int)n);
	return n;
}

int mig__stream_handshake(struct mig__stream *s)
{
	int rc;

	if (s->error)
		return s->error;
	if (!s->ops->handshake)
		return 0;
	rc = s->ops->handshake(s);
	if (rc < 0 && rc != MIG__AGAIN)
		return stream_fail(s, rc);
	return rc;
}

int mig__stream_flush(struct mig__stream *s)
{
	int rc;

	if (s->error)
		return s->error;
	if (!s->ops->flush)
		return 0;
	rc = s->ops->flush(s);
	if (rc < 0 && rc != MIG__AGAIN)
		return stream_fail(s, rc);
	return rc;
}

int mig__stream_shutdown(struct mig__stream *s)
{
	int rc;

	if (s->error)
		return s->error;
	if (!s->ops->shutdown)
		return 0;
	rc = s->ops->shutdown(s);
	if (rc < 0 && rc != MIG__AGAIN)
		return stream_fail(s, rc);
	return rc;
}

void mig__stream_destroy(struct mig__stream *s)
{
	if (s)
		s->ops->destroy(s);
}

/* ---------------------------------------------------------------------- */
/* In-memory pair                                                         */

/*
 * One direction of the pair: a ring buffer that grows on demand up to
 * `capacity`, so that a large bound costs nothing until it is used.
 */
struct mem_pipe {
	uint8_t *buf;
	size_t alloc;   /* bytes allocated in buf */
	size_t head;    /* offset of the oldest byte */
	size_t used;    /* bytes queued */
	int closed;     /* the writer shut down or is gone */
	int reader_gone;
};

/*
 * Shared by both ends and freed by the last one destroyed, so either end
 * may go first. The lock lets the two ends live on different threads.
 */
struct mem_shared {
	pthread_mutex_t lock;
	int refs;
	size_t capacity;
	struct mem_pipe pipe[2]; /* pipe[i] carries what end i writes */
};

struct mem_stream {
	struct mig__stream base;
	struct mem_shared *sh;
	int side;
};

static struct mem_stream *to_mem(struct mig__stream *s)
{
	return (struct mem_stream *)s;
}

/* Grows p to hold `need` bytes, unwrapping the ring into the new buffer. */
static int pipe_grow(struct mem_pipe *p, size_t need, size_t capacity)
{
	size_t alloc = p->alloc ? p->alloc : 4096;
	size_t first;
	uint8_t *nb;

	while (alloc < need && alloc < capacity / 2)
		alloc *= 2;
	if (alloc < need)
		alloc = capacity;
	alloc = MIG__MIN(alloc, capacity);
	nb = malloc(alloc);
	if (!nb)
		return -ENOMEM;
	first = MIG__MIN(p->used, p->alloc - p->head);
	if (p->used) {
		memcpy(nb, p->buf + p->head, first);
		memcpy(nb + first, p->buf, p->used - first);
	}
	free(p->buf);
	p->buf = nb;
	p->alloc = alloc;
	p->head = 0;
	return 0;
}

static ssize_t mem_read(struct mig__stream *s, void *buf, size_t len)
{
	struct mem_stream *m = to_mem(s);
	struct mem_pipe *p = &m->sh->pipe[!m->side];
	size_t n, first;

	pthread_mutex_lock(&m->sh->lock);
	if (!p->used) {
		pthread_mutex_unlock(&m->sh->lock);
		if (p->closed)
			return 0;
		s->want = MIG__WANT_READ;
		return MIG__AGAIN;
	}
	n = MIG__MIN(len, p->used);
	first = MIG__MIN(n, p->alloc - p->head);
	memcpy(buf, p->buf + p->head, first);
	memcpy((uint8_t *)buf + first, p->buf, n - first);
	p->head = (p->head + n) % p->alloc;
	p->used -= n;
	pthread_mutex_unlock(&m->sh->lock);
	return (ssize_t)n;
}

static ssize_t mem_write(struct mig__stream *s, const void *buf, size_t len)
{
	struct mem_stream *m = to_mem(s);
	struct mem_shared *sh = m->sh;
	struct mem_pipe *p = &sh->pipe[m->side];
	size_t n, tail, first;
	ssize_t rc;

	pthread_mutex_lock(&sh->lock);
	if (p->closed || p->reader_gone) {
		rc = -EPIPE;
		goto out_unlock;
	}
	n = MIG__MIN(len, sh->capacity - p->used);
	if (!n) {
		s->want = MIG__WANT_WRITE;
		rc = MIG__AGAIN;
		goto out_unlock;
	}
	if (p->used + n > p->alloc) {
		rc = pipe_grow(p, p->used + n, sh->capacity);
		if (rc < 0)
			goto out_unlock;
	}
	tail = (p->head + p->used) % p->alloc;
	first = MIG__MIN(n, p->alloc - tail);
	memcpy(p->buf + tail, buf, first);
	memcpy(p->buf, (const uint8_t *)buf + first, n - first);
	p->used += n;
	rc = (ssize_t)n;
out_unlock:
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

static int mem_shutdown(struct mig__stream *s)
{
	struct mem_stream *m = to_mem(s);

	pthread_mutex_lock(&m->sh->lock);
	m->sh->pipe[m->side].closed = 1;
	pthread_mutex_unlock(&m->sh->lock);
	return 0;
}

static void mem_destroy(struct mig__stream *s)
{
	struct mem_stream *m = to_mem(s);
	struct mem_shared *sh = m->sh;
	int last;

	pthread_mutex_lock(&sh->lock);
	/* The peer reads what we wrote, then EOF; its writes now fail. */
	sh->pipe[m->side].closed = 1;
	sh->pipe[!m->side].reader_gone = 1;
	last = --sh->refs == 0;
	pthread_mutex_unlock(&sh->lock);
	free(m);
	if (!last)
		return;
	pthread_mutex_destroy(&sh->lock);
	free(sh->pipe[0].buf);
	free(sh->pipe[1].buf);
	free(sh);
}

static const struct mig__stream_ops mem_ops = {
	.name = "mem",
	.read = mem_read,
	.write = mem_write,
	.shutdown = mem_shutdown,
	.destroy = mem_destroy,
};

static struct mem_stream *mem_end_new(struct mem_shared *sh, int side)
{
	struct mem_stream *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->base.ops = &mem_ops;
	m->base.fd = -1;
	m->sh = sh;
	m->side = side;
	return m;
}

int mig__stream_mem_pair(struct mig__stream **a, struct mig__stream **b,
			 size_t capacity)
{
	struct mem_shared *sh;
	struct mem_stream *ea, *eb;

	if (!capacity)
		return -EINVAL;
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	if (pthread_mutex_init(&sh->lock, NULL))
		goto err_free_shared;
	sh->capacity = capacity;
	ea = mem_end_new(sh, 0);
	if (!ea)
		goto err_destroy_lock;
	eb = mem_end_new(sh, 1);
	if (!eb)
		goto err_free_a;
	sh->refs = 2;
	*a = &ea->base;
	*b = &eb->base;
	return 0;

err_free_a:
	free(ea);
err_destroy_lock:
	pthread_mutex_destroy(&sh->lock);
err_free_shared:
	free(sh);
	return -ENOMEM;
}

/* ---------------------------------------------------------------------- */
/* Read-only buffer                                                       */

struct buf_stream {
	struct mig__stream base;
	const uint8_t *data;
	size_t len;
	size_t pos;
	size_t chunk;
};

static ssize_t buf_read(struct mig__stream *s, void *buf, size_t len)
{
	struct buf_stream *b = (struct buf_stream *)s;
	size_t n = MIG__MIN(MIG__MIN(len, b->chunk), b->len - b->pos);

	if (n)
		memcpy(buf, b->data + b->pos, n);
	b->pos += n;
	return (ssize_t)n;
}

static ssize_t buf_write(struct mig__stream *s, const void *buf, size_t len)
{
	(void)s;
	(void)buf;
	(void)len;
	return -EBADF;
}

static void buf_destroy(struct mig__stream *s)
{
	free(s);
}

static const struct mig__stream_ops buf_ops = {
	.name = "mem",
	.read = buf_read,
	.write = buf_write,
	.destroy = buf_destroy,
};

int mig__stream_buf_new(struct mig__stream **out, const void *data,
			size_t len, size_t chunk)
{
	struct buf_stream *b;

	if (!chunk || (len && !data))
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->base.ops = &buf_ops;
	b->base.fd = -1;
	b->data = data;
	b->len = len;
	b->chunk = chunk;
	*out = &b->base;
	return 0;
}
