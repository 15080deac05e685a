/* params.c - the defaults every migration starts from. */
#include <string.h>

#include "internal.h"

void mig_params_init(struct mig_params *p)
{
	memset(p, 0, sizeof(*p));
	p->downtime_limit_ms = 300; /* QEMU's and Cloud Hypervisor's default */
	p->bandwidth_limit = 0;
	p->max_rounds = 30;
	p->max_total_ms = 0;
	p->on_limit = MIG_ON_LIMIT_SWITCHOVER;
	p->peer_timeout_ms = 30000;
	p->compress = 1;
	p->encode_threads = 0;
	p->log_level = MIG_LOG_INFO;
}
