/*
 * migration.h: vmm-lite as libmigrate sees it. A vmm_machine is the one
 * guest this process runs (or will run, on a migration target), and the
 * mig_vmm_ops callbacks that describe, pause, save, build and start it.
 */
#ifndef VMM_MIGRATION_H
#define VMM_MIGRATION_H

#include "migrate.h"
#include "vm.h"

/* The vmm_config blob sent in the hello is at most this long. */
#define VMM_MIG_CONFIG_MAX 1024

struct vmm_machine {
	struct vmm_config cfg;   /* shape: from the command line, or received */
	struct vmm_vm *vm;       /* NULL on a target before create_guest */
	char config_blob[VMM_MIG_CONFIG_MAX];
	size_t config_len;
	int is_target;           /* built by an incoming migration */
	struct mig_region regions[VMM_MAX_SLOTS]; /* for memory_regions() */
	/* Set by the callbacks, read after mig_*_run returns. */
	int migrated_away;       /* source: the target runs the guest now */
	int started;             /* target: start_guest ran */
	/* Hooked to a VM that create_guest builds (see vmm_vm_on_stop). */
	vmm_stop_fn on_stop;
	void *on_stop_opaque;
	/* Called (from the migration thread) after each progress report. */
	void (*on_progress)(void *opaque, const struct mig_progress *p);
	void *on_progress_opaque;
};

/* The callbacks; pass a struct vmm_machine * as `vmm`. */
const struct mig_vmm_ops *vmm_mig_ops(void);

#endif
