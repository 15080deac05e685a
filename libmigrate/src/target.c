/*
 * target.c - the incoming migration's handle: listening, accepting its one
 * source, running the loop, and discarding the guest once no worker can
 * write into it. The protocol steps are in target_steps.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target.h"
#include "tls.h"

static void accept_cb(uv_poll_t *h, int status, int events)
{
	struct mig_target *t = h->data;
	struct mig__stream *stream;
	int fd, rc;

	(void)events;
	if (status < 0) {
		mig__target_fail(t, status, "waiting for the source failed: %s",
				 mig_strerror(status));
		return;
	}
	rc = mig__addr_accept(t->lfd, &fd);
	if (rc == MIG__AGAIN)
		return;
	if (rc < 0) {
		mig__target_fail(t, rc, "accepting the source failed: %s",
				 mig_strerror(rc));
		return;
	}
	/* One source per target: stop listening. */
	t->lpoll_open = 0;
	uv_poll_stop(&t->lpoll);
	uv_close((uv_handle_t *)&t->lpoll, NULL);
	rc = mig__stream_tls_new(&stream, t->tls, fd, 1,
				 t->ses.params.tls.peer_name);
	if (rc == 0)
		rc = mig__target_start_conn(t, stream);
	if (rc < 0)
		mig__target_fail(t, rc, "setting up the connection failed: %s",
				 mig_strerror(rc));
}

/* ------------------------------------------------------------------ */
/* Public API                                                         */

int mig_target_new(mig_target **out, const struct mig_params *params,
		   const struct mig_vmm_ops *ops, void *vmm)
{
	struct mig_target *t;
	int rc;

	if (!out || !ops || !ops->create_guest || !ops->memory_regions ||
	    !ops->load_state || !ops->start_guest || !ops->destroy_guest)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	rc = mig__session_init(&t->ses, params, ops, vmm);
	if (rc < 0) {
		free(t);
		return rc;
	}
	t->lfd = -1;
	*out = t;
	return 0;
}

int mig_target_listen(mig_target *t, const char *address)
{
	char err[256] = "";
	int rc;

	if (!t || !address)
		return -EINVAL;
	if (t->lfd >= 0 || t->file_mode)
		return MIG_EBUSY;
	rc = mig__addr_parse(address, &t->addr);
	if (rc < 0)
		return rc;
	if (t->addr.kind == MIG__ADDR_FILE) {
		t->file_mode = 1;
		return 0;
	}
	rc = mig__tls_ctx_new(&t->tls, &t->ses.params.tls, 1, err, sizeof(err));
	if (rc < 0) {
		mig__session_error(&t->ses, rc, "TLS set-up failed: %s", err);
		return rc;
	}
	rc = mig__addr_listen(&t->addr, &t->lfd);
	if (rc < 0) {
		mig__session_error(&t->ses, rc, "cannot listen on %s: %s",
				   address, mig_strerror(rc));
		SSL_CTX_free(t->tls);
		t->tls = NULL;
	}
	return rc;
}

int mig_target_address(mig_target *t, char *buf, size_t len)
{
	if (!t || !buf || !len)
		return -EINVAL;
	if (t->file_mode)
		return snprintf(buf, len, "file:%s", t->addr.path) < (int)len
			   ? 0
			   : -ENOSPC;
	if (t->lfd < 0)
		return -ENOTCONN;
	return mig__addr_format_bound(t->lfd, buf, len);
}

int mig_target_run(mig_target *t)
{
	struct mig__stream *stream;
	int rc;

	if (!t)
		return -EINVAL;
	if (t->lfd < 0 && !t->file_mode)
		return -ENOTCONN;
	if (atomic_load(&t->ses.running) || t->finished)
		return MIG_EBUSY;
	rc = mig__session_loop_open(&t->ses, mig__target_cancel_cb,
				    mig__target_tick_cb, t);
	if (rc < 0)
		return rc;
	mig__session_phase(&t->ses, MIG_PHASE_SETUP);
	if (t->file_mode) {
		rc = mig__stream_file_new(&stream, t->addr.path, 0);
		if (rc == 0)
			rc = mig__target_start_conn(t, stream);
		if (rc < 0)
			mig__target_fail(t, rc, "cannot read the image %s: %s",
					 t->addr.path, mig_strerror(rc));
	} else {
		rc = uv_poll_init(&t->ses.loop, &t->lpoll, t->lfd);
		if (rc < 0) {
			mig__target_fail(
			    t, rc, "cannot watch the listening socket: %s",
			    mig_strerror(rc));
		} else {
			t->lpoll.data = t;
			t->lpoll_open = 1;
			uv_poll_start(&t->lpoll, UV_READABLE, accept_cb);
		}
	}

	mig__session_loop_run(&t->ses);

	/* No worker can touch the guest's memory any more. */
	if (t->discard && t->guest_created) {
		t->ses.ops->destroy_guest(t->ses.vmm);
		t->guest_created = 0;
	}
	mig__target_free_pool(t);
	for (size_t i = 0; i < MIG_MAX_REGIONS; i++) {
		free((void *)t->written[i]);
		t->written[i] = NULL;
	}
	if (t->lfd >= 0) {
		close(t->lfd);
		t->lfd = -1;
	}
	SSL_CTX_free(t->tls);
	t->tls = NULL;
	return t->result;
}

int mig_target_cancel(mig_target *t)
{
	if (!t)
		return -EINVAL;
	return mig__session_cancel(&t->ses);
}

void mig_target_stats(mig_target *t, struct mig_stats *out)
{
	mig__session_stats(&t->ses, out);
}

void mig_target_free(mig_target *t)
{
	if (!t)
		return;
	if (t->lfd >= 0)
		close(t->lfd);
	SSL_CTX_free(t->tls);
	mig__session_fini(&t->ses);
	free(t);
}
