/*
 * vms.h: the VMs a daemon owns. Each is a vmm-lite process of its own
 * session, not the daemon's child: restarting the daemon leaves it
 * running, and the daemon finds it again from its directory,
 * state_dir/vms/NAME/ (vm.json: what it is; serial.log; vmm.log;
 * report.json), and its control socket, run_dir/vms/NAME.sock.
 *
 * The registry is guarded by the daemon's lock (daemon.h); these
 * functions do not lock.
 */
#ifndef MIGD_VMS_H
#define MIGD_VMS_H

#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define MIGD_VM_NAME_MAX 64

enum migd_vm_state {
	MIGD_VM_RUNNING,
	MIGD_VM_PAUSED,
	MIGD_VM_MIGRATING,     /* an outgoing migration runs */
	MIGD_VM_INCOMING,      /* a vmm-lite waits for, or receives, the guest */
	MIGD_VM_UNDETERMINED,  /* committed, unconfirmed: paused here */
	MIGD_VM_STOPPED,       /* the process is gone */
};

struct migd_vm {
	char name[MIGD_VM_NAME_MAX];
	uint64_t memory;
	uint32_t cpus;
	struct json_object *boot;   /* kernel/initrd/append or boot; owned */
	char dir[PATH_MAX];
	char sock[PATH_MAX];
	char serial[PATH_MAX + 16];
	pid_t pid;
	enum migd_vm_state state;
	char mig_id[32];            /* the migration that owns it, or "" */
	char mig_peer[256];         /* the other host of that migration */
	int mig_out;                /* 1: it leaves this host, 0: it arrives */
	time_t arrived_at;          /* incoming: when its VMM first ran it */
	int spawning;               /* its VMM is being started: pid and paths
				     * belong to the starting thread, and the
				     * record may not be dropped */
	struct migd_vm *next;
};

/* Where the VMs live, and how to start their VMMs. */
struct migd_vm_env {
	const char *state_dir;
	const char *run_dir;
	const char *vmm;            /* the vmm-lite binary */
	const char *tls_ca, *tls_cert, *tls_key;
	uint32_t downtime_ms;
	uint64_t bandwidth;
};

const char *migd_vm_state_name(enum migd_vm_state s);
/* 1 if `name` may name a VM: 1-63 of [A-Za-z0-9._-], not starting with a dot. */
int migd_vm_name_ok(const char *name);

/*
 * Allocates a VM record named `name` with its paths under env's
 * directories (nothing is created yet). `boot` is taken (may be NULL for
 * an incoming VM). Returns NULL on ENOMEM.
 */
struct migd_vm *migd_vm_new(const struct migd_vm_env *env, const char *name,
			    uint64_t memory, uint32_t cpus, struct json_object *boot);
void migd_vm_free(struct migd_vm *vm);

/*
 * Creates the VM's directory and starts its vmm-lite, detached (its own
 * session, reparented away from the daemon), booting vm->boot, or with
 * `incoming` ("tcp:IP:PORT") waiting for a migration from a host whose
 * certificate says `peer`. Waits until the VMM answers on its control
 * socket (it listens by then), up to 30 s. Writes vm.json. Returns 0 or
 * a negative errno with a sentence in `err` (the VMM's own log tail when
 * it died).
 */
int migd_vm_spawn(const struct migd_vm_env *env, struct migd_vm *vm,
		  const char *incoming, const char *peer, char *err, size_t err_len);

/* Rewrites vm.json (after a state change the next daemon must know). */
int migd_vm_save(const struct migd_vm *vm);

/*
 * What identifies the VM's process (name, pid, socket, directory), for a
 * call to its VMM made without the daemon's lock: the record itself may
 * change or go meanwhile. Owns nothing.
 */
struct migd_vm migd_vm_probe(const struct migd_vm *vm);

/* mkdir -p: every missing directory of `path` with `mode`. 0 or -errno. */
int migd_mkdir_p(const char *path, mode_t mode);

/* 1 if the VM's process is alive (and is the same process). */
int migd_vm_alive(const struct migd_vm *vm);

/* Stops the VMM (quit, then SIGKILL after `grace_ms`). */
void migd_vm_kill(struct migd_vm *vm, int grace_ms);

/* Removes the VM's directory and socket (stopped, or never started). */
void migd_vm_remove_files(const struct migd_vm *vm);
/* After the VM left this host by migration `id`: its directory moves to
 * state_dir/departed/ID (its serial and VMM logs stay for the record)
 * and its socket goes. */
void migd_vm_retire(const struct migd_vm_env *env, const struct migd_vm *vm, const char *id);

/*
 * Finds the VMs a previous daemon left in env->state_dir/vms: each whose
 * process still answers on its socket comes back with the state the VMM
 * reports; the others come back STOPPED. Returns the list (NULL if none)
 * through *out; the caller owns it.
 */
int migd_vms_adopt(const struct migd_vm_env *env, struct migd_vm **out);

/* The VM's state as its VMM reports it now (status), or STOPPED. */
enum migd_vm_state migd_vm_query(const struct migd_vm *vm);

#endif
