/*
 * policy.h - when to stop iterating: the convergence policy, and the two
 * rate tools it needs (a windowed rate estimator and a token bucket for
 * the bandwidth limit).
 *
 * The switch-over rule follows QEMU and Cloud Hypervisor: stop when the
 * estimated pause, pending bytes / bandwidth + state bytes / bandwidth +
 * the round trips of the commit exchange, fits the downtime limit. Limits
 * (rounds, total time, no progress) end the iteration as the parameters
 * say: switch over anyway, or cancel.
 */
#ifndef MIG_POLICY_H
#define MIG_POLICY_H

#include "internal.h"

/* Rate over windows of at least `window_us`, smoothed (EWMA). */
struct mig__rate {
	uint64_t window_us;
	uint64_t win_start_us;
	uint64_t win_start_total;
	uint64_t rate;      /* bytes/s, 0 until the first window closes */
	int have_rate;
};

/* Starts estimating at `now_us` with counter value `total`. */
void mig__rate_init(struct mig__rate *r, uint64_t window_us, uint64_t now_us,
		    uint64_t total);
/* Feeds the running counter `total` at `now_us`; closes windows. */
void mig__rate_update(struct mig__rate *r, uint64_t total, uint64_t now_us);
/* The current estimate in bytes/s (0 if none yet). */
uint64_t mig__rate_get(const struct mig__rate *r);

/* Token bucket: at most `rate` bytes/s with a burst of `burst` bytes. */
struct mig__bucket {
	uint64_t rate;   /* 0 = unlimited */
	uint64_t burst;
	double tokens;
	uint64_t last_us;
};

void mig__bucket_init(struct mig__bucket *b, uint64_t rate, uint64_t now_us);
/*
 * Takes `bytes` from the bucket. Returns 0 if they may go now, else the
 * microseconds to wait before they may (nothing is taken then).
 */
uint64_t mig__bucket_take(struct mig__bucket *b, uint64_t bytes,
			  uint64_t now_us);

enum mig__decision {
	MIG__CONTINUE = 0,  /* another round */
	MIG__SWITCHOVER,    /* the pause fits the downtime limit */
	MIG__FORCE,         /* a limit was hit: switch over anyway */
	MIG__GIVE_UP,       /* a limit was hit: cancel */
};

struct mig__policy_input {
	uint32_t rounds_done;     /* dirty rounds done (the first pass is 1) */
	uint64_t elapsed_us;      /* since the migration started */
	uint64_t pending_pages;   /* dirty now, to be sent */
	uint64_t wire_per_page;   /* recent average wire bytes per page */
	uint64_t bandwidth;       /* bytes/s measured on the wire */
	uint64_t state_bytes;     /* expected final machine state */
	uint64_t rtt_us;          /* round trip to the target */
};

struct mig__policy {
	uint32_t downtime_limit_ms;
	uint32_t max_rounds;
	uint32_t max_total_ms;
	enum mig_on_limit on_limit;
	uint64_t best_pending;    /* lowest pending seen */
	uint32_t stalls;          /* rounds in a row with no new low */
};

void mig__policy_init(struct mig__policy *pol, const struct mig_params *p);

/* The estimated pause in microseconds if we switched over now. */
uint64_t mig__policy_expected_downtime(const struct mig__policy_input *in);

/*
 * Decides after a round. Sets *expected_us to the estimated pause and
 * *why to a static sentence saying what decided (for logs and reports).
 */
enum mig__decision mig__policy_decide(struct mig__policy *pol,
				      const struct mig__policy_input *in,
				      uint64_t *expected_us, const char **why);

#endif /* MIG_POLICY_H */
