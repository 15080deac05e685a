/* session.c - parameters, loop, cancel and statistics of one migration. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "session.h"

int mig__session_init(struct mig__session *s, const struct mig_params *p,
		      const struct mig_vmm_ops *ops, void *vmm)
{
	memset(s, 0, sizeof(*s));
	if (!ops)
		return -EINVAL;
	if (p)
		s->params = *p;
	else
		mig_params_init(&s->params);
	if (!s->params.downtime_limit_ms)
		return -EINVAL; /* a zero limit could never be met */
	s->ops = ops;
	s->vmm = vmm;
	s->log.fn = s->params.log;
	s->log.opaque = s->params.log_opaque;
	s->log.level = s->params.log_level;
	atomic_init(&s->cancel_requested, 0);
	atomic_init(&s->committed, 0);
	atomic_init(&s->running, 0);
	if (pthread_mutex_init(&s->lock, NULL) != 0)
		return -ENOMEM;
	return 0;
}

void mig__session_fini(struct mig__session *s)
{
	pthread_mutex_destroy(&s->lock);
}

/*
 * libuv asserts (aborts) when one of its own descriptors turns out to be
 * 0, 1 or 2, which happens if the process runs with stdin, stdout or
 * stderr closed. Refuse cleanly instead of letting it.
 */
static int stdio_open(struct mig__session *s)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) < 0) {
			mig__session_error(s, -EBADF,
					   "file descriptor %d is closed; "
					   "libmigrate needs 0, 1 and 2 open "
					   "(on /dev/null if nothing else)",
					   fd);
			return -EBADF;
		}
	}
	return 0;
}

int mig__session_loop_open(struct mig__session *s, uv_async_cb cancel_cb,
			   uv_timer_cb tick_cb, void *owner)
{
	int rc = stdio_open(s);

	if (rc < 0)
		return rc;
	rc = uv_loop_init(&s->loop);
	if (rc < 0)
		return rc;
	rc = uv_async_init(&s->loop, &s->cancel_async, cancel_cb);
	if (rc < 0)
		goto close_loop;
	s->cancel_async.data = owner;
	uv_timer_init(&s->loop, &s->tick);
	s->tick.data = owner;
	uv_timer_start(&s->tick, tick_cb, 100, 100);
	s->loop_ready = 1;
	s->t_start_us = mig__now_us();
	atomic_store(&s->running, 1);
	/* A cancel that raced with the start is honoured now. */
	if (atomic_load(&s->cancel_requested))
		uv_async_send(&s->cancel_async);
	return 0;

close_loop:
	uv_loop_close(&s->loop);
	return rc;
}

void mig__session_loop_stop(struct mig__session *s)
{
	if (!s->loop_ready)
		return;
	s->loop_ready = 0;
	atomic_store(&s->running, 0);
	uv_close((uv_handle_t *)&s->tick, NULL);
	/* Close the async under the lock so cancel() never sends to it. */
	pthread_mutex_lock(&s->lock);
	uv_close((uv_handle_t *)&s->cancel_async, NULL);
	pthread_mutex_unlock(&s->lock);
}

void mig__session_loop_run(struct mig__session *s)
{
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_loop_close(&s->loop);
}

int mig__session_cancel(struct mig__session *s)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (atomic_load(&s->committed)) {
		rc = MIG_ECOMMITTED;
	} else {
		atomic_store(&s->cancel_requested, 1);
		if (s->loop_ready)
			uv_async_send(&s->cancel_async);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void mig__session_phase(struct mig__session *s, enum mig_phase phase)
{
	pthread_mutex_lock(&s->lock);
	s->stats.phase = phase;
	pthread_mutex_unlock(&s->lock);
	mig__info(&s->log, "phase: %s", mig_phase_name(phase));
	mig__session_progress(s);
}

void mig__session_progress(struct mig__session *s)
{
	struct mig_progress p;

	if (!s->ops->progress)
		return;
	/* The callback reads the stats on this very thread: no lock needed. */
	p.phase = s->stats.phase;
	p.stats = &s->stats;
	s->ops->progress(s->vmm, &p);
}

void mig__session_error(struct mig__session *s, int err, const char *fmt,
			...)
{
	va_list ap;

	pthread_mutex_lock(&s->lock);
	if (!s->error_set) {
		s->error_set = 1;
		s->stats.error = err;
		va_start(ap, fmt);
		vsnprintf(s->stats.error_text, sizeof(s->stats.error_text),
			  fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&s->lock);
	mig__err(&s->log, "%s (%s)", s->stats.error_text, mig_strerror(err));
}

void mig__session_stats(struct mig__session *s, struct mig_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->lock);
}

void mig__session_lock(struct mig__session *s)
{
	pthread_mutex_lock(&s->lock);
}

void mig__session_unlock(struct mig__session *s)
{
	pthread_mutex_unlock(&s->lock);
}
