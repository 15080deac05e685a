/*
 * mig_synth_opts.c - mig-synth's command line: --help and the options,
 * checked and turned into struct opts.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mig_synth.h"

static void usage(FILE *f)
{
	fputs(
	    "usage: mig-synth source|save   --address ADDR [options]\n"
	    "       mig-synth target|load   --listen ADDR  [options]\n"
	    "\n"
	    "Migrates a synthetic guest with libmigrate and checks the "
	    "result.\n"
	    "  source   live-migrate a new guest to a listening target\n"
	    "  target   wait for one incoming guest, check it, run it briefly\n"
	    "  save     stop the guest and write it to file:PATH\n"
	    "  load     read a guest from file:PATH, check it, run it briefly\n"
	    "\n"
	    "Addresses: tcp:HOST:PORT (port 0 picks one), unix:PATH, "
	    "file:PATH.\n"
	    "Network addresses always run TLS 1.3 with mutual authentication.\n"
	    "\n"
	    "  --address, --listen ADDR  where to migrate to / listen on\n"
	    "  --certs DIR        DIR/ca.pem, DIR/source.pem+.key (source),\n"
	    "                     DIR/target.pem+.key (target)\n"
	    "  --ca FILE --cert FILE --key FILE   override one of them\n"
	    "  --peer-name NAME   name the peer's certificate must carry\n"
	    "                     (source default: target.test; target: any)\n"
	    "Guest (source; the target learns it from the source):\n"
	    "  --size SIZE        RAM, e.g. 256M, 4G (default 256M)\n"
	    "  --mix SPEC         page kinds in percent (default\n"
	    "                     zero=30,text=40,random=30)\n"
	    "  --seed N           content seed (default 1)\n"
	    "  --vcpus N --devices N   machine shape (default 2 and 3)\n"
	    "Guest activity (both sides; the target's runs after the "
	    "migration):\n"
	    "  --dirty-rate RATE  bytes/s written, e.g. 20M; 0 = idle; max = "
	    "flat\n"
	    "                     out (default 8M)\n"
	    "  --dirty-threads N  writer threads (default 2)\n"
	    "  --warmup-ms MS     source: let the guest run before migrating "
	    "(0)\n"
	    "  --working-set SIZE pages written, from the start of RAM "
	    "(default all)\n"
	    "Migration:\n"
	    "  --downtime-ms MS   downtime limit (default 300)\n"
	    "  --bandwidth RATE   wire limit in bytes/s, e.g. 100M (default "
	    "none)\n"
	    "  --max-rounds N     iterative rounds limit (default 30)\n"
	    "  --max-time-ms MS   total time limit (default none)\n"
	    "  --on-limit switchover|cancel   at a limit (default switchover)\n"
	    "  --timeout-ms MS    every wait for the peer (default 30000)\n"
	    "  --no-compress      no LZ4\n"
	    "  --encode-threads N page encoders (default: one per core)\n"
	    "Checks and reports:\n"
	    "  --report-json FILE the library's statistics and every check, as "
	    "JSON\n"
	    "  --hash-out FILE    page hashes: source at freeze, target on "
	    "arrival\n"
	    "  --hash-check FILE  target: compare with the source's "
	    "--hash-out\n"
	    "  --port-file FILE   target: write the bound address once "
	    "listening\n"
	    "  --max-memory SIZE  target: refuse guests with more RAM\n"
	    "  --run-ms MS        target: run the arrived guest this long "
	    "(300)\n"
	    "  --verify-after-failure   source: after a failure, prove the "
	    "guest\n"
	    "                     runs again and its memory is untouched\n"
	    "Test hooks (in this program, not in the library):\n"
	    "  --die-in-phase PHASE[:N] SIGKILL ourselves when PHASE begins "
	    "(with :N,\n"
	    "                     at the first report in PHASE once N rounds "
	    "are done)\n"
	    "  --cancel-in-phase PHASE  source: mig_source_cancel() from "
	    "another\n"
	    "                     thread when PHASE begins (--cancel-delay-ms "
	    "MS)\n"
	    "  PHASE: setup, readonly, iterate, frozen, commit; and for "
	    "--die-in-phase\n"
	    "  on a target also start: inside start_guest, after the commit "
	    "arrived\n"
	    "  and before the target confirms (the source's undetermined "
	    "window)\n"
	    "  --quiet            only the final report; --verbose: library "
	    "debug\n"
	    "\n"
	    "Exit: 0 success, 1 migration failed (guest safe on the source),\n"
	    "2 usage, 3 outcome undetermined (source paused), 4 a check "
	    "failed.\n",
	    f);
}

static int parse_phase(const char *s, enum mig_phase *out)
{
	for (int p = MIG_PHASE_SETUP; p <= MIG_PHASE_COMMIT; p++) {
		if (!strcmp(s, mig_phase_name((enum mig_phase)p))) {
			*out = (enum mig_phase)p;
			return 0;
		}
	}
	return -1;
}

enum {
	OPT_ADDRESS = 256,
	OPT_CERTS,
	OPT_CA,
	OPT_CERT,
	OPT_KEY,
	OPT_PEER,
	OPT_SIZE,
	OPT_MIX,
	OPT_SEED,
	OPT_VCPUS,
	OPT_DEVICES,
	OPT_RATE,
	OPT_THREADS,
	OPT_WS,
	OPT_DOWNTIME,
	OPT_BW,
	OPT_ROUNDS,
	OPT_TIME,
	OPT_ON_LIMIT,
	OPT_TIMEOUT,
	OPT_NO_COMPRESS,
	OPT_ENCODERS,
	OPT_JSON,
	OPT_HASH_OUT,
	OPT_HASH_CHECK,
	OPT_PORT_FILE,
	OPT_MAX_MEM,
	OPT_DIE,
	OPT_CANCEL,
	OPT_CANCEL_DELAY,
	OPT_RUN_MS,
	OPT_VERIFY,
	OPT_QUIET,
	OPT_VERBOSE,
	OPT_HELP,
	OPT_WARMUP,
};

static const struct option long_opts[] = {
    {"address", required_argument, NULL, OPT_ADDRESS},
    {"listen", required_argument, NULL, OPT_ADDRESS},
    {"certs", required_argument, NULL, OPT_CERTS},
    {"ca", required_argument, NULL, OPT_CA},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"peer-name", required_argument, NULL, OPT_PEER},
    {"size", required_argument, NULL, OPT_SIZE},
    {"mix", required_argument, NULL, OPT_MIX},
    {"seed", required_argument, NULL, OPT_SEED},
    {"vcpus", required_argument, NULL, OPT_VCPUS},
    {"devices", required_argument, NULL, OPT_DEVICES},
    {"dirty-rate", required_argument, NULL, OPT_RATE},
    {"dirty-threads", required_argument, NULL, OPT_THREADS},
    {"working-set", required_argument, NULL, OPT_WS},
    {"downtime-ms", required_argument, NULL, OPT_DOWNTIME},
    {"bandwidth", required_argument, NULL, OPT_BW},
    {"max-rounds", required_argument, NULL, OPT_ROUNDS},
    {"max-time-ms", required_argument, NULL, OPT_TIME},
    {"on-limit", required_argument, NULL, OPT_ON_LIMIT},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"no-compress", no_argument, NULL, OPT_NO_COMPRESS},
    {"encode-threads", required_argument, NULL, OPT_ENCODERS},
    {"report-json", required_argument, NULL, OPT_JSON},
    {"hash-out", required_argument, NULL, OPT_HASH_OUT},
    {"hash-check", required_argument, NULL, OPT_HASH_CHECK},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"max-memory", required_argument, NULL, OPT_MAX_MEM},
    {"die-in-phase", required_argument, NULL, OPT_DIE},
    {"cancel-in-phase", required_argument, NULL, OPT_CANCEL},
    {"cancel-delay-ms", required_argument, NULL, OPT_CANCEL_DELAY},
    {"run-ms", required_argument, NULL, OPT_RUN_MS},
    {"warmup-ms", required_argument, NULL, OPT_WARMUP},
    {"verify-after-failure", no_argument, NULL, OPT_VERIFY},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int bad(const char *opt, const char *val)
{
	fprintf(stderr, "mig-synth: invalid value for --%s: \"%s\"\n", opt,
		val);
	return -1;
}

static int parse_rate(const char *val, struct opts *o)
{
	o->idle = 0;
	if (!strcmp(val, "max")) {
		o->dirty.rate = 0; /* synth's "flat out" */
		return 0;
	}
	if (synth_size_parse(val, &o->dirty.rate))
		return -1;
	o->idle = !o->dirty.rate;
	return 0;
}

/* One option; returns 0, 1 for --help, -1 for an error. */
static int parse_one(struct opts *o, int c, const char *v, int *threads_set,
		     uint32_t *threads)
{
	uint64_t u;
	uint32_t n;

	switch (c) {
	case OPT_ADDRESS:
		o->address = v;
		break;
	case OPT_CERTS:
		o->certs = v;
		break;
	case OPT_CA:
		o->ca = v;
		break;
	case OPT_CERT:
		o->cert = v;
		break;
	case OPT_KEY:
		o->key = v;
		break;
	case OPT_PEER:
		o->peer_name = v;
		break;
	case OPT_SIZE:
		if (synth_size_parse(v, &u) || u % MIG_PAGE_SIZE ||
		    u < SYNTH_RAM_MIN || u > SYNTH_RAM_MAX)
			return bad("size", v);
		o->cfg.ram_size = u;
		break;
	case OPT_MIX:
		if (synth_mix_parse(v, &o->cfg.mix))
			return bad("mix", v);
		break;
	case OPT_SEED:
		if (synth_size_parse(v, &o->cfg.seed))
			return bad("seed", v);
		break;
	case OPT_VCPUS:
		if (synth_u32_parse(v, &o->cfg.vcpus) || o->cfg.vcpus > MIG_MAX_VCPUS)
			return bad("vcpus", v);
		break;
	case OPT_DEVICES:
		if (synth_u32_parse(v, &o->cfg.devices) ||
		    o->cfg.devices > MIG_MAX_DEVICES)
			return bad("devices", v);
		break;
	case OPT_RATE:
		if (parse_rate(v, o))
			return bad("dirty-rate", v);
		break;
	case OPT_THREADS:
		if (synth_u32_parse(v, threads) || *threads > 64)
			return bad("dirty-threads", v);
		*threads_set = 1;
		break;
	case OPT_WS:
		if (synth_size_parse(v, &o->dirty.working_set))
			return bad("working-set", v);
		break;
	case OPT_DOWNTIME:
		if (synth_u32_parse(v, &o->downtime_ms))
			return bad("downtime-ms", v);
		break;
	case OPT_BW:
		if (synth_size_parse(v, &o->bandwidth))
			return bad("bandwidth", v);
		break;
	case OPT_ROUNDS:
		if (synth_u32_parse(v, &o->max_rounds))
			return bad("max-rounds", v);
		break;
	case OPT_TIME:
		if (synth_u32_parse(v, &o->max_time_ms))
			return bad("max-time-ms", v);
		break;
	case OPT_ON_LIMIT:
		if (!strcmp(v, "switchover"))
			o->on_limit = MIG_ON_LIMIT_SWITCHOVER;
		else if (!strcmp(v, "cancel"))
			o->on_limit = MIG_ON_LIMIT_CANCEL;
		else
			return bad("on-limit", v);
		break;
	case OPT_TIMEOUT:
		if (synth_u32_parse(v, &o->timeout_ms))
			return bad("timeout-ms", v);
		break;
	case OPT_NO_COMPRESS:
		o->no_compress = 1;
		break;
	case OPT_ENCODERS:
		if (synth_u32_parse(v, &n) || n > 256)
			return bad("encode-threads", v);
		o->encode_threads = (int)n;
		break;
	case OPT_JSON:
		o->report_json = v;
		break;
	case OPT_HASH_OUT:
		o->hash_out = v;
		break;
	case OPT_HASH_CHECK:
		o->hash_check = v;
		break;
	case OPT_PORT_FILE:
		o->port_file = v;
		break;
	case OPT_MAX_MEM:
		if (synth_size_parse(v, &o->max_memory))
			return bad("max-memory", v);
		break;
	case OPT_DIE: {
		char name[32];
		const char *colon = strchr(v, ':');
		size_t len = colon ? (size_t)(colon - v) : strlen(v);

		if (len >= sizeof(name))
			return bad("die-in-phase", v);
		memcpy(name, v, len);
		name[len] = '\0';
		if (colon && synth_u32_parse(colon + 1, &o->die_round))
			return bad("die-in-phase", v);
		if (!strcmp(name, "start") && !colon)
			o->die_in_start = 1;
		else if (parse_phase(name, &o->die_phase))
			return bad("die-in-phase", v);
		break;
	}
	case OPT_CANCEL:
		if (parse_phase(v, &o->cancel_phase))
			return bad("cancel-in-phase", v);
		break;
	case OPT_CANCEL_DELAY:
		if (synth_u32_parse(v, &o->cancel_delay_ms))
			return bad("cancel-delay-ms", v);
		break;
	case OPT_RUN_MS:
		if (synth_u32_parse(v, &o->run_ms))
			return bad("run-ms", v);
		break;
	case OPT_WARMUP:
		if (synth_u32_parse(v, &o->warmup_ms))
			return bad("warmup-ms", v);
		break;
	case OPT_VERIFY:
		o->verify_after_failure = 1;
		break;
	case OPT_QUIET:
		o->quiet = 1;
		break;
	case OPT_VERBOSE:
		o->verbose = 1;
		break;
	case OPT_HELP:
		return 1;
	default:
		return -1;
	}
	return 0;
}

static const char *cert_path(struct opts *o, int slot, const char *name)
{
	snprintf(o->path_buf[slot], sizeof(o->path_buf[slot]), "%s/%s",
		 o->certs, name);
	return o->path_buf[slot];
}

/* Returns 0, 1 after --help, or -1 on a usage error (already said). */
int parse_opts(int argc, char **argv, struct opts *o)
{
	int threads_set = 0, c, err;
	uint32_t threads = 0;
	const char *me;

	memset(o, 0, sizeof(*o));
	synth_config_default(&o->cfg);
	o->dirty.rate = 8u << 20;
	o->dirty.threads = 2;
	o->downtime_ms = 300;
	o->max_rounds = 30;
	o->timeout_ms = 30000;
	o->run_ms = 300;
	if (argc < 2) {
		usage(stderr);
		return -1;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 1;
	}
	o->command = argv[1];
	if (!strcmp(o->command, "target") || !strcmp(o->command, "load"))
		o->target = 1;
	else if (strcmp(o->command, "source") && strcmp(o->command, "save"))
		return fprintf(stderr, "mig-synth: unknown command \"%s\"\n",
			       o->command),
		       -1;
	o->file_io = !strcmp(o->command, "save") || !strcmp(o->command, "load");
	optind = 2;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		err = parse_one(o, c, optarg, &threads_set, &threads);
		if (err == 1) {
			usage(stdout);
			return 1;
		}
		if (err)
			return -1;
	}
	if (optind < argc)
		return fprintf(stderr, "mig-synth: unexpected \"%s\"\n",
			       argv[optind]),
		       -1;
	if (threads_set)
		o->dirty.threads = threads;
	if (o->idle)
		o->dirty.threads = 0;
	if (!o->address)
		return fprintf(stderr, "mig-synth: %s needs --%s ADDR\n",
			       o->command, o->target ? "listen" : "address"),
		       -1;
	if (o->file_io && strncmp(o->address, "file:", 5))
		return fprintf(stderr,
			       "mig-synth: %s needs a file:PATH "
			       "address\n",
			       o->command),
		       -1;
	me = o->target ? "target" : "source";
	if (o->certs) {
		char n[64];

		if (!o->ca)
			o->ca = cert_path(o, 0, "ca.pem");
		snprintf(n, sizeof(n), "%s.pem", me);
		if (!o->cert)
			o->cert = cert_path(o, 1, n);
		snprintf(n, sizeof(n), "%s.key", me);
		if (!o->key)
			o->key = cert_path(o, 2, n);
	}
	if (!o->target && !o->peer_name)
		o->peer_name = "target.test";
	return 0;
}
