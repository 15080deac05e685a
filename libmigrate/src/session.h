/*
 * session.h - what a source and a target migration have in common: the
 * caller's parameters, the libuv loop that runs on the caller's thread,
 * the cross-thread cancel request, and the statistics that other threads
 * may read while the migration runs.
 */
#ifndef MIG_SESSION_H
#define MIG_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "internal.h"

struct mig__session {
	struct mig_params params;
	struct mig__log log;
	const struct mig_vmm_ops *ops;
	void *vmm;

	uv_loop_t loop;
	uv_async_t cancel_async;   /* mig_*_cancel() wakes the loop */
	uv_timer_t tick;           /* periodic statistics refresh */
	int loop_ready;
	atomic_int cancel_requested;
	atomic_int committed;      /* past the point of no return */
	atomic_int running;

	pthread_mutex_t lock;      /* guards stats */
	struct mig_stats stats;
	uint64_t t_start_us;
	int error_set;             /* the first error is the one reported */
};

/*
 * Copies the parameters (filling defaults for zero fields that must not
 * be zero) and prepares the lock. Returns 0 or -EINVAL.
 */
int mig__session_init(struct mig__session *s, const struct mig_params *p,
		      const struct mig_vmm_ops *ops, void *vmm);

/* Releases what init made. The loop must be closed already. */
void mig__session_fini(struct mig__session *s);

/*
 * Creates the loop and the cancel/tick handles on the calling thread;
 * `cancel_cb` and `tick_cb` run on the loop with the session in
 * handle->data. Returns 0 or a negative errno.
 */
int mig__session_loop_open(struct mig__session *s, uv_async_cb cancel_cb,
			   uv_timer_cb tick_cb, void *owner);

/* Closes the session's own handles (the loop keeps running to finish). */
void mig__session_loop_stop(struct mig__session *s);

/* Runs the loop to completion and closes it. */
void mig__session_loop_run(struct mig__session *s);

/*
 * Asks for cancellation from any thread. Returns 0, or MIG_ECOMMITTED if
 * the migration is past the point of no return, or -EINVAL if not running.
 */
int mig__session_cancel(struct mig__session *s);

/* Sets the phase and tells the VMM's progress callback. Loop thread. */
void mig__session_phase(struct mig__session *s, enum mig_phase phase);

/* Reports progress without a phase change (after a round). */
void mig__session_progress(struct mig__session *s);

/*
 * Records the migration's error (the first one wins) with a sentence for
 * the user, and logs it.
 */
void mig__session_error(struct mig__session *s, int err, const char *fmt,
			...) MIG__PRINTF(3, 4);

/* Copies the statistics under the lock. */
void mig__session_stats(struct mig__session *s, struct mig_stats *out);

/* Locks/unlocks the statistics for an update on the loop thread. */
void mig__session_lock(struct mig__session *s);
void mig__session_unlock(struct mig__session *s);

#endif /* MIG_SESSION_H */
