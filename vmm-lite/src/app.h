/*
 * app.h: the vmm-lite process: one guest (booted here or arriving by
 * migration), its control socket, and at most one migration at a time.
 */
#ifndef VMM_APP_H
#define VMM_APP_H

#include <stdint.h>

#include "migrate.h"

/* Exit statuses besides the guest's own debug-exit code (0-255 below
 * these, by convention small) and 0 after the guest migrated away. */
#define VMM_EXIT_INCOMING_FAILED 124 /* --incoming: no guest arrived */
#define VMM_EXIT_FAILURE 125         /* bad usage, setup or VM error */

struct vmm_app_opts {
	uint64_t ram_size;
	uint32_t vcpus;
	const char *kernel;        /* Linux bzImage */
	const char *initrd;        /* its initramfs, or NULL */
	const char *cmdline;       /* its command line, or NULL: the default */
	const char *boot_image;    /* raw boot-sector disk image */
	const char *flat_image;    /* flat binary */
	uint64_t flat_addr;
	const char *rom_image;
	const char *serial;        /* "stdio", "file:PATH" or "none" */
	const char *control_path;  /* NULL: no control socket */
	const char *incoming;      /* NULL: boot an image */
	const char *report_path;   /* migration statistics (JSON) */
	enum mig_kvm_dirty_mode dirty_mode;
	struct mig_params params;  /* TLS, limits, log: defaults for migrate */
	enum mig_log_level log_level;
	int quiet;                 /* no progress lines on stderr */
};

/* Runs the VMM until the guest ends or migrates away. Returns the process
 * exit status. */
int vmm_app_run(const struct vmm_app_opts *opts);

#endif
