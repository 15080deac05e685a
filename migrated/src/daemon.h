/*
 * daemon.h: the state of one migrated: its VMs, its migrations, and the
 * threads that touch them.
 *
 * Threads: the main thread runs the libuv loop (control socket, a 1 s
 * tick that watches the VMs, signals). Each outgoing migration runs on a
 * thread of its own (migration.c), and each request from a peer daemon
 * on the peer server's connection thread. All of them share `lock`,
 * which guards the VM list and the migration records; nobody holds it
 * across a call to a VMM or a peer.
 */
#ifndef MIGD_DAEMON_H
#define MIGD_DAEMON_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "config.h"
#include "metrics.h"
#include "migrate.h"
#include "vms.h"

#define MIGD_ID_MAX 32
#define MIGD_HISTORY_MAX 200



/* libvirt's version-3 phases, then the outcomes. */
enum migd_phase {
	MIGD_PH_BEGIN,
	MIGD_PH_PREPARE,
	MIGD_PH_PERFORM,
	MIGD_PH_FINISH,
	MIGD_PH_CONFIRM,
	MIGD_PH_DONE,
	MIGD_PH_FAILED,
	MIGD_PH_CANCELLED,
	MIGD_PH_UNDETERMINED,
};

struct migd_mig {
	char id[MIGD_ID_MAX];
	char vm[MIGD_VM_NAME_MAX];
	enum migd_dir dir;
	char peer[MIGD_NAME_MAX + 1];
	enum migd_phase phase;
	uint32_t downtime_limit_ms;
	uint64_t bandwidth;
	char address[320];          /* the target VMM's, once prepared */
	/* Progress, from the source VMM's statistics. */
	uint32_t round;
	uint64_t remaining_bytes, guest_bytes, rate, bytes_sent;
	double expected_downtime_ms, downtime_ms, total_ms;
	char error[512];
	time_t started_at, ended_at;
	int cancel_requested;
	int resumed;                /* picked up again after a daemon restart */
	struct migd_mig *next;
};

struct migd_metrics;
struct migd_peer_server;
struct vmm_control;

struct migd {
	struct migd_config *cfg;
	struct migd_vm_env env;
	struct mig_tls_params tls;
	uv_loop_t *loop;
	struct vmm_control *control;
	struct migd_peer_server *peer;
	struct migd_metrics *metrics;
	uv_timer_t tick;
	uv_signal_t sigint, sigterm, sighup;
	gid_t control_gid;          /* (gid_t)-1: owner only */

	pthread_mutex_t lock;
	pthread_cond_t cond;        /* a migration thread ended */
	struct migd_vm *vms;
	struct migd_mig *migs;      /* newest first; finished ones are history */
	unsigned threads;           /* migration threads running */
	uint16_t next_port;
	int stopping;
};

/* records.c */
/* Finds a VM or a migration by name/id; with d->lock held. */
struct migd_vm *migd_find_vm(struct migd *d, const char *name);
struct migd_mig *migd_find_mig(struct migd *d, const char *id);
/* A new migration record at the head of the list (lock held), with the
 * given id or (NULL) a fresh one; counted as started. NULL on ENOMEM. */
struct migd_mig *migd_mig_new(struct migd *d, enum migd_dir dir, const char *vm,
			      const char *peer, const char *id);
/* Ends a record with `phase` and an optional sentence, counts it in the
 * metrics and appends it to the history file (lock held). */
void migd_mig_end(struct migd *d, struct migd_mig *m, enum migd_phase phase,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Adds/removes a VM to/from the list (lock held). */
void migd_add_vm(struct migd *d, struct migd_vm *vm);
void migd_drop_vm(struct migd *d, struct migd_vm *vm);
const char *migd_phase_name(enum migd_phase p);
/* A record as the control socket shows it (a new object). */
struct json_object *migd_mig_json(const struct migd_mig *m);
/* Reads the finished migrations of earlier runs (at start, no threads yet). */
void migd_history_load(struct migd *d);
/* Memory of the VMs that are not stopped, incoming ones included (lock
 * held): what max_memory bounds. */
uint64_t migd_memory_in_use(struct migd *d);
/* Recomputes the gauges (lock held). */
void migd_update_gauges(struct migd *d);

/* daemon.c */
/* Answers one control-socket request (the loop thread). */
struct json_object *migd_on_command(void *opaque, struct json_object *req);

/* migration.c */
/* Starts the thread of an outgoing migration (lock held, m new). */
int migd_migration_start(struct migd *d, struct migd_mig *m);
/* A request from peer daemon `peer` (any thread, takes the lock). */
struct json_object *migd_peer_request(void *opaque, const char *peer,
				      struct json_object *req);

#endif
