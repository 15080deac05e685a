/* main.c: vmm-lite's command line (see usage()). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "linux_boot.h"
#include "loader.h"
#include "vm.h"

static void usage(FILE *f)
{
	fputs(
"usage: vmm-lite [OPTIONS] --kernel BZIMAGE | --boot IMAGE | --flat IMAGE[@ADDR]\n"
"                          | --incoming ADDRESS\n"
"\n"
"A small KVM VMM whose guests migrate live through libmigrate.\n"
"\n"
"Guest:\n"
"  -m, --memory SIZE        RAM, with K, M or G suffix (default 256M)\n"
"  -c, --cpus N             vCPUs (default 1)\n"
"      --kernel BZIMAGE     a 64-bit Linux kernel, booted by the x86 boot protocol\n"
"                           (64-bit entry, e820 map, MP table; no firmware)\n"
"      --initrd FILE        its initramfs\n"
"      --append CMDLINE     its command line (default \"" VMM_LINUX_DEFAULT_CMDLINE "\")\n"
"      --boot IMAGE         raw disk image: its boot sector runs at 0x7c00 in\n"
"                           real mode with DL=0x80, as a PC BIOS starts it\n"
"      --flat IMAGE[@ADDR]  flat binary at ADDR (default 0x100000), entered in\n"
"                           32-bit protected mode with flat segments\n"
"      --rom IMAGE          read-only ROM ending at 4 GiB\n"
"      --serial WHERE       COM1 output: stdio (default), file:PATH or none\n"
"      --dirty-tracker T    auto (default: the ring if KVM has it), bitmap, ring\n"
"\n"
"Control and migration:\n"
"      --control PATH       control socket (JSON lines; see vmm-lite/README.md)\n"
"      --incoming ADDRESS   wait for a migration and run the guest it brings:\n"
"                           tcp:HOST:PORT, unix:PATH or file:PATH\n"
"      --tls-ca FILE        CA the peer's certificate must chain to\n"
"      --tls-cert FILE      this host's certificate\n"
"      --tls-key FILE       its private key\n"
"      --tls-peer NAME      name the peer's certificate must carry\n"
"      --downtime-ms N      default downtime limit of a migration (300)\n"
"      --bandwidth BYTES/S  default bandwidth limit, 0 = none (0)\n"
"      --report FILE        write the migration's statistics (JSON) here\n"
"  -q, --quiet              no progress lines\n"
"  -v, --verbose            debug logging\n"
"  -h, --help\n"
"\n"
"Exit status: the guest's debug-exit code (port 0x501), 0 after the guest\n"
"migrated away, 124 when an incoming migration failed, 125 on other errors.\n",
	      f);
}

/* Parses "512M", "2G", "4096K" or plain bytes; 0 on error. */
static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	case '\0': break;
	default: return 0;
	}
	if (*end || v > UINT64_MAX / mul)
		return 0;
	return v * mul;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

enum {
	OPT_BOOT = 256, OPT_FLAT, OPT_ROM, OPT_SERIAL, OPT_DIRTY, OPT_CONTROL,
	OPT_INCOMING, OPT_TLS_CA, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_PEER,
	OPT_DOWNTIME, OPT_BANDWIDTH, OPT_REPORT, OPT_KERNEL, OPT_INITRD, OPT_APPEND,
};

static const struct option longopts[] = {
	{ "memory", required_argument, NULL, 'm' },
	{ "cpus", required_argument, NULL, 'c' },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "append", required_argument, NULL, OPT_APPEND },
	{ "boot", required_argument, NULL, OPT_BOOT },
	{ "flat", required_argument, NULL, OPT_FLAT },
	{ "rom", required_argument, NULL, OPT_ROM },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "dirty-tracker", required_argument, NULL, OPT_DIRTY },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "incoming", required_argument, NULL, OPT_INCOMING },
	{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "tls-peer", required_argument, NULL, OPT_TLS_PEER },
	{ "downtime-ms", required_argument, NULL, OPT_DOWNTIME },
	{ "bandwidth", required_argument, NULL, OPT_BANDWIDTH },
	{ "report", required_argument, NULL, OPT_REPORT },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "vmm-lite: bad %s: %s (try --help)\n", what, arg);
	return VMM_EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	struct vmm_app_opts o;
	static char flat_path[4096];
	uint64_t x;
	int c;

	memset(&o, 0, sizeof(o));
	o.ram_size = 256ull << 20;
	o.vcpus = 1;
	o.serial = "stdio";
	o.dirty_mode = MIG_KVM_DIRTY_AUTO;
	o.log_level = MIG_LOG_INFO;
	mig_params_init(&o.params);

	while ((c = getopt_long(argc, argv, "m:c:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o.ram_size = parse_size(optarg);
			if (!o.ram_size)
				return bad("memory size", optarg);
			break;
		case 'c':
			if (parse_u64(optarg, VMM_MAX_VCPUS, &x) || !x)
				return bad("vCPU count (1-64)", optarg);
			o.vcpus = (uint32_t)x;
			break;
		case OPT_KERNEL: o.kernel = optarg; break;
		case OPT_INITRD: o.initrd = optarg; break;
		case OPT_APPEND: o.cmdline = optarg; break;
		case OPT_BOOT: o.boot_image = optarg; break;
		case OPT_FLAT: {
			char *at = strrchr(optarg, '@');

			snprintf(flat_path, sizeof(flat_path), "%s", optarg);
			o.flat_addr = VMM_FLAT_DEFAULT_ADDR;
			if (at) {
				flat_path[at - optarg] = '\0';
				if (parse_u64(at + 1, 0xffffffffu, &o.flat_addr))
					return bad("flat image address", at + 1);
			}
			o.flat_image = flat_path;
			break;
		}
		case OPT_ROM: o.rom_image = optarg; break;
		case OPT_SERIAL: o.serial = optarg; break;
		case OPT_DIRTY:
			if (!strcmp(optarg, "auto"))
				o.dirty_mode = MIG_KVM_DIRTY_AUTO;
			else if (!strcmp(optarg, "bitmap"))
				o.dirty_mode = MIG_KVM_DIRTY_BITMAP;
			else if (!strcmp(optarg, "ring"))
				o.dirty_mode = MIG_KVM_DIRTY_RING;
			else
				return bad("dirty tracker (auto, bitmap, ring)", optarg);
			break;
		case OPT_CONTROL: o.control_path = optarg; break;
		case OPT_INCOMING: o.incoming = optarg; break;
		case OPT_TLS_CA: o.params.tls.ca_file = optarg; break;
		case OPT_TLS_CERT: o.params.tls.cert_file = optarg; break;
		case OPT_TLS_KEY: o.params.tls.key_file = optarg; break;
		case OPT_TLS_PEER: o.params.tls.peer_name = optarg; break;
		case OPT_DOWNTIME:
			if (parse_u64(optarg, 600000, &x) || !x)
				return bad("downtime limit (1-600000 ms)", optarg);
			o.params.downtime_limit_ms = (uint32_t)x;
			break;
		case OPT_BANDWIDTH:
			if (parse_u64(optarg, UINT64_MAX >> 1, &x))
				return bad("bandwidth", optarg);
			o.params.bandwidth_limit = x;
			break;
		case OPT_REPORT: o.report_path = optarg; break;
		case 'q': o.quiet = 1; break;
		case 'v': o.log_level = MIG_LOG_DEBUG; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return VMM_EXIT_FAILURE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vmm-lite: unexpected argument %s (try --help)\n", argv[optind]);
		return VMM_EXIT_FAILURE;
	}
	if (!!o.kernel + !!o.boot_image + !!o.flat_image + !!o.incoming != 1) {
		fprintf(stderr, "vmm-lite: give exactly one of --kernel, --boot, --flat, --incoming (try --help)\n");
		return VMM_EXIT_FAILURE;
	}
	if ((o.initrd || o.cmdline) && !o.kernel) {
		fprintf(stderr, "vmm-lite: --initrd and --append go with --kernel\n");
		return VMM_EXIT_FAILURE;
	}
	if (o.incoming && o.rom_image) {
		fprintf(stderr, "vmm-lite: --rom comes with the migration, not with --incoming\n");
		return VMM_EXIT_FAILURE;
	}
	o.params.log_level = o.log_level;
	/* A control client or console reader gone mid-answer must not take
	 * the guest down with it. */
	signal(SIGPIPE, SIG_IGN);
	return vmm_app_run(&o);
}
