/*
 * source.c - the outgoing migration's handle: its lifecycle, the checks
 * on what the VMM describes, and the connection set-up. The protocol
 * steps themselves are in source_steps.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source.h"
#include "tls.h"

static int check_desc(struct mig_source *s)
{
	const struct mig_guest_desc *d = &s->desc;
	uint64_t total = 0;

	if (!d->region_count || d->region_count > MIG_MAX_REGIONS ||
	    !d->vcpu_count || d->vcpu_count > MIG_MAX_VCPUS ||
	    d->device_count > MIG_MAX_DEVICES)
		return -EINVAL;
	for (uint32_t r = 0; r < d->region_count; r++) {
		const struct mig_region *g = &d->regions[r];

		if (!g->host || !g->size || g->gpa % MIG_PAGE_SIZE ||
		    g->size % MIG_PAGE_SIZE)
			return -EINVAL;
		total += g->size;
	}
	s->ses.stats.guest_bytes = total;
	/* vCPU state is a few KiB with XSAVE; devices are small. */
	s->state_bytes_est = (uint64_t)d->vcpu_count * 16384u +
			     (uint64_t)d->device_count * 4096u + 65536u;
	return 0;
}

static int open_stream(struct mig_source *s, struct mig__stream **out)
{
	char err[256] = "";
	int fd, rc;

	if (s->file_mode) {
		rc = mig__stream_file_new(out, s->addr.path, 1);
		if (rc < 0)
			mig__session_error(&s->ses, rc, "cannot create %s: %s",
					   s->addr.path, mig_strerror(rc));
		return rc;
	}
	rc = mig__tls_ctx_new(&s->tls, &s->ses.params.tls, 0, err, sizeof(err));
	if (rc < 0) {
		mig__session_error(&s->ses, rc, "TLS set-up failed: %s", err);
		return rc;
	}
	rc = mig__addr_connect(&s->addr, s->ses.params.peer_timeout_ms, &fd);
	if (rc < 0) {
		mig__session_error(&s->ses, rc,
				   "cannot connect to the target: "
				   "%s",
				   mig_strerror(rc));
		return rc;
	}
	rc = mig__stream_tls_new(out, s->tls, fd, 0,
				 s->ses.params.tls.peer_name);
	if (rc < 0)
		mig__session_error(&s->ses, rc, "TLS set-up failed: %s",
				   mig_strerror(rc));
	return rc;
}

static int workers(const struct mig_params *p)
{
	long n;

	if (p->encode_threads > 0)
		return p->encode_threads;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)MIG__MIN(n, 16) : 2;
}

int mig_source_new(mig_source **out, const struct mig_params *params,
		   const struct mig_vmm_ops *ops, void *vmm,
		   const struct mig_dirty_ops *dirty, void *tracker)
{
	struct mig_source *s;
	int rc;

	if (!out || !ops || !ops->describe || !ops->pause || !ops->resume ||
	    !ops->save_state)
		return -EINVAL;
	if (dirty && (!dirty->start || !dirty->fetch_and_clear || !dirty->stop))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	rc = mig__session_init(&s->ses, params, ops, vmm);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->dops = dirty;
	s->tracker = tracker;
	*out = s;
	return 0;
}

int mig_source_run(mig_source *s, const char *address)
{
	struct mig__stream *stream = NULL;
	int rc;

	if (!s || !address)
		return -EINVAL;
	if (s->ran)
		return MIG_EBUSY;
	s->ran = 1;
	s->ses.t_start_us = mig__now_us();
	rc = mig__addr_parse(address, &s->addr);
	if (rc < 0) {
		mig__session_error(&s->ses, rc, "malformed address '%s'",
				   address);
		goto fail_early;
	}
	s->file_mode = s->addr.kind == MIG__ADDR_FILE;
	if (!s->file_mode && !s->dops) {
		mig__session_error(&s->ses, -EINVAL,
				   "a live migration needs "
				   "a dirty page tracker");
		rc = -EINVAL;
		goto fail_early;
	}
	rc = s->ses.ops->describe(s->ses.vmm, &s->desc);
	if (rc == 0)
		rc = check_desc(s);
	if (rc < 0) {
		mig__session_error(&s->ses, MIG_EVMM,
				   "the VMM's guest "
				   "description is unusable: %s",
				   mig_strerror(rc));
		rc = MIG_EVMM;
		goto fail_early;
	}
	mig__policy_init(&s->policy, &s->ses.params);
	mig__session_phase(&s->ses, MIG_PHASE_SETUP);

	if (s->file_mode) {
		/* A stop/restart image is taken of a paused guest. */
		rc = s->ses.ops->pause(s->ses.vmm);
		if (rc < 0) {
			mig__session_error(&s->ses, MIG_EVMM,
					   "pausing the guest failed: %s",
					   mig_strerror(rc));
			rc = MIG_EVMM;
			goto fail_early;
		}
		s->paused = 1;
		s->t_freeze_us = mig__now_us();
	}
	rc = open_stream(s, &stream);
	if (rc < 0)
		goto fail_early;
	rc = mig__session_loop_open(&s->ses, mig__source_cancel_cb,
				    mig__source_tick_cb, s);
	if (rc < 0) {
		mig__stream_destroy(stream);
		goto fail_early;
	}
	rc = mig__conn_start(&s->conn, &s->ses.loop, stream, !s->file_mode,
			     &mig__source_conn_cbs, s, &s->ses.log,
			     s->ses.params.peer_timeout_ms);
	if (rc < 0) {
		mig__session_loop_stop(&s->ses);
		mig__session_loop_run(&s->ses);
		goto fail_early;
	}
	s->conn_open = 1;
	if (s->file_mode)
		mig__conn_read_enable(&s->conn, 0); /* a write-only file */
	mig__bucket_init(&s->bucket, s->ses.params.bandwidth_limit,
			 mig__now_us());
	if (s->ses.params.bandwidth_limit)
		s->conn.bucket = &s->bucket;
	mig__rate_init(&s->bw, 100000, mig__now_us(), 0);
	rc = mig__sender_init(&s->snd, &s->ses.loop, &s->conn, &s->ses.log,
			      s->desc.regions, s->desc.region_count,
			      workers(&s->ses.params), s->ses.params.compress);
	if (rc < 0) {
		mig__source_fail(s, rc, 0, "out of memory for the page pump");
	} else {
		s->snd_ready = 1;
		s->snd.owner = s;
		s->snd.on_round_sent = mig__source_round_sent;
	}

	mig__session_loop_run(&s->ses);

	if (s->snd_ready)
		mig__sender_fini(&s->snd);
	s->snd_ready = 0;
	SSL_CTX_free(s->tls);
	s->tls = NULL;
	return s->result;

fail_early:
	SSL_CTX_free(s->tls);
	s->tls = NULL;
	if (s->paused && s->ses.ops->resume(s->ses.vmm) == 0)
		s->paused = 0;
	mig__session_phase(&s->ses, MIG_PHASE_FAILED);
	return rc;
}

int mig_source_cancel(mig_source *s)
{
	if (!s)
		return -EINVAL;
	return mig__session_cancel(&s->ses);
}

int mig_source_resolve(mig_source *s, enum mig_resolution how)
{
	int rc;

	if (!s || s->result != MIG_EUNDETERMINED)
		return -EINVAL;
	if (how == MIG_RESOLVE_TARGET_RUNNING) {
		rc = s->ses.ops->destroy_guest
			 ? s->ses.ops->destroy_guest(s->ses.vmm)
			 : 0;
		if (rc < 0)
			return rc;
		s->result = 0;
		mig__session_phase(&s->ses, MIG_PHASE_DONE);
		return 0;
	}
	if (how == MIG_RESOLVE_TARGET_DISCARDED) {
		rc = s->ses.ops->resume(s->ses.vmm);
		if (rc < 0)
			return rc;
		s->paused = 0;
		s->result = MIG_EABORTED;
		mig__session_phase(&s->ses, MIG_PHASE_FAILED);
		return 0;
	}
	return -EINVAL;
}

void mig_source_stats(mig_source *s, struct mig_stats *out)
{
	mig__session_stats(&s->ses, out);
}

void mig_source_free(mig_source *s)
{
	if (!s)
		return;
	mig__session_fini(&s->ses);
	free(s);
}
