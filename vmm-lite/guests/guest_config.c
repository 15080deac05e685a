/*
 * vmm-guest-config: prints or patches the parameter block of a vmm-lite
 * test guest image (counter.img, dirtier.img, checker.img).
 *
 *   vmm-guest-config IN                 print IN's parameters
 *   vmm-guest-config IN OUT [OPTIONS]   copy IN to OUT with OPTIONS applied
 *
 * The block layout is in README.md and guest.S; the bounds below keep the
 * guest's 32-bit arithmetic exact (see "Limits" in README.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IMG_SIZE 512
#define PB_OFF 0x1dc
#define PB_MAGIC "VMGP"

#define FLAG_VERIFY 0x8000u
#define FLAG_BREAK 0x0001u

#define WS_MIB_MAX 3071u     /* working set ends below 3 GiB */
#define RATE_MIB_MAX 1048576u /* rate * 1024 fits in 32 bits */
#define PERIOD_MS_MAX 60000u  /* period in TSC/256 fits in 32 bits */
#define CPUS_MAX 16u          /* AP stacks: index * 256 below 4 KiB */

struct params {
	uint32_t ws_mib;
	uint32_t pat_and;
	uint32_t pat_or;
	uint32_t rate_mib;
	uint32_t period_ms;
	uint32_t cpus;
	uint32_t run_ms;
	uint16_t flags;
};

static const struct pattern {
	const char *name;
	uint32_t and_mask;
	uint32_t or_value;
} patterns[] = {
	{"zero", 0x00000000u, 0x00000000u},
	/* letters a-d and spaces, "aca cca aaa ": LZ4 about 2:1 like text */
	{"text", 0x00010303u, 0x20616161u},
	{"random", 0xffffffffu, 0x00000000u},
};

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void params_decode(const unsigned char *img, struct params *p)
{
	const unsigned char *b = img + PB_OFF;

	p->ws_mib = get32(b + 4);
	p->pat_and = get32(b + 8);
	p->pat_or = get32(b + 12);
	p->rate_mib = get32(b + 16);
	p->period_ms = get32(b + 20);
	p->cpus = get32(b + 24);
	p->run_ms = get32(b + 28);
	p->flags = (uint16_t)(b[32] | b[33] << 8);
}

static void params_encode(const struct params *p, unsigned char *img)
{
	unsigned char *b = img + PB_OFF;

	put32(b + 4, p->ws_mib);
	put32(b + 8, p->pat_and);
	put32(b + 12, p->pat_or);
	put32(b + 16, p->rate_mib);
	put32(b + 20, p->period_ms);
	put32(b + 24, p->cpus);
	put32(b + 28, p->run_ms);
	b[32] = (unsigned char)(p->flags & 0xff);
	b[33] = (unsigned char)(p->flags >> 8);
}

/* The reason the parameters are unusable, or NULL. */
static const char *params_invalid(const struct params *p)
{
	if (p->ws_mib > WS_MIB_MAX)
		return "ws_mib above 3071";
	if (p->rate_mib > RATE_MIB_MAX)
		return "rate_mib above 1048576";
	if (p->period_ms < 1 || p->period_ms > PERIOD_MS_MAX)
		return "period_ms outside 1..60000";
	if (p->cpus < 1 || p->cpus > CPUS_MAX)
		return "cpus outside 1..16";
	if (p->run_ms && p->run_ms < p->period_ms)
		return "run_ms shorter than period_ms";
	if (p->flags & ~(FLAG_VERIFY | FLAG_BREAK))
		return "unknown flags";
	if ((p->flags & FLAG_BREAK) && !(p->flags & FLAG_VERIFY))
		return "--self-test-corrupt needs --verify on";
	if ((p->flags & FLAG_BREAK) && p->ws_mib == 0)
		return "--self-test-corrupt needs a working set";
	return NULL;
}

static const char *pattern_name(const struct params *p)
{
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		if (patterns[i].and_mask == p->pat_and &&
		    patterns[i].or_value == p->pat_or)
			return patterns[i].name;
	return "custom";
}

static void params_print(FILE *f, const struct params *p)
{
	const char *kind = p->ws_mib == 0		  ? "counter"
			   : (p->flags & FLAG_VERIFY) ? "checker"
						  : "dirtier";

	fprintf(f, "kind=%s\n", kind);
	fprintf(f, "ws_mib=%" PRIu32 "\n", p->ws_mib);
	fprintf(f, "pattern=%s\n", pattern_name(p));
	fprintf(f, "pattern_and=0x%08" PRIx32 "\n", p->pat_and);
	fprintf(f, "pattern_or=0x%08" PRIx32 "\n", p->pat_or);
	fprintf(f, "rate_mib=%" PRIu32 "\n", p->rate_mib);
	fprintf(f, "period_ms=%" PRIu32 "\n", p->period_ms);
	fprintf(f, "cpus=%" PRIu32 "\n", p->cpus);
	fprintf(f, "run_ms=%" PRIu32 "\n", p->run_ms);
	fprintf(f, "verify=%d\n", !!(p->flags & FLAG_VERIFY));
	fprintf(f, "self_test_corrupt=%d\n", !!(p->flags & FLAG_BREAK));
}

/* Reads a guest image whole: exactly 512 bytes, 55 AA, the magic. */
static int image_read(const char *path, unsigned char img[IMG_SIZE])
{
	unsigned char extra;
	size_t n;
	FILE *f;
	int rc = 0;

	f = fopen(path, "rb");
	if (!f) {
		rc = -errno;
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return rc;
	}
	n = fread(img, 1, IMG_SIZE, f);
	if (ferror(f)) {
		rc = -EIO;
		fprintf(stderr, "%s: read error\n", path);
		goto close_f;
	}
	if (n != IMG_SIZE || fread(&extra, 1, 1, f) != 0) {
		rc = -EINVAL;
		fprintf(stderr, "%s: not a 512-byte guest image\n", path);
		goto close_f;
	}
	if (img[510] != 0x55 || img[511] != 0xaa) {
		rc = -EINVAL;
		fprintf(stderr, "%s: no 55 AA boot signature\n", path);
		goto close_f;
	}
	if (memcmp(img + PB_OFF, PB_MAGIC, 4) != 0) {
		rc = -EINVAL;
		fprintf(stderr, "%s: no VMGP parameter block at 0x%x\n", path,
			PB_OFF);
		goto close_f;
	}
close_f:
	fclose(f);
	return rc;
}

static int image_write(const char *path, const unsigned char img[IMG_SIZE])
{
	FILE *f;
	int rc = 0;

	f = fopen(path, "wb");
	if (!f) {
		rc = -errno;
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return rc;
	}
	if (fwrite(img, 1, IMG_SIZE, f) != IMG_SIZE)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc) {
		fprintf(stderr, "%s: write error\n", path);
		unlink(path);
	}
	return rc;
}

/* Decimal without sign or junk, at most max. */
static int parse_u32(const char *opt, const char *s, uint32_t max,
		     uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9') {
		fprintf(stderr, "%s: want a number\n", opt);
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max) {
		fprintf(stderr, "%s: %s is not a number in 0..%" PRIu32 "\n",
			opt, s, max);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_pattern(const char *s, struct params *p)
{
	for (size_t i = 0; s && i < sizeof(patterns) / sizeof(patterns[0]);
	     i++) {
		if (!strcmp(s, patterns[i].name)) {
			p->pat_and = patterns[i].and_mask;
			p->pat_or = patterns[i].or_value;
			return 0;
		}
	}
	fprintf(stderr, "--pattern: want zero, text or random\n");
	return -EINVAL;
}

static int parse_onoff(const char *opt, const char *s, int *out)
{
	if (s && !strcmp(s, "on")) {
		*out = 1;
		return 0;
	}
	if (s && !strcmp(s, "off")) {
		*out = 0;
		return 0;
	}
	fprintf(stderr, "%s: want on or off\n", opt);
	return -EINVAL;
}

/* Applies argv[i..] to p; returns 0 or -EINVAL after a message. */
static int apply_options(int argc, char **argv, int i, struct params *p,
			 int *quiet)
{
	for (; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint32_t n;
		int on, rc = 0;

		if (!strcmp(o, "-q")) {
			*quiet = 1;
			continue;
		}
		if (!strcmp(o, "--self-test-corrupt")) {
			p->flags |= FLAG_BREAK;
			continue;
		}
		if (!strcmp(o, "--ws-mib"))
			rc = parse_u32(o, v, WS_MIB_MAX, &p->ws_mib);
		else if (!strcmp(o, "--pattern"))
			rc = parse_pattern(v, p);
		else if (!strcmp(o, "--rate-mib"))
			rc = parse_u32(o, v, RATE_MIB_MAX, &p->rate_mib);
		else if (!strcmp(o, "--period-ms"))
			rc = parse_u32(o, v, PERIOD_MS_MAX, &p->period_ms);
		else if (!strcmp(o, "--cpus"))
			rc = parse_u32(o, v, CPUS_MAX, &p->cpus);
		else if (!strcmp(o, "--run-ms"))
			rc = parse_u32(o, v, UINT32_MAX, &p->run_ms);
		else if (!strcmp(o, "--run-s")) {
			rc = parse_u32(o, v, UINT32_MAX / 1000, &n);
			if (!rc)
				p->run_ms = n * 1000;
		} else if (!strcmp(o, "--verify")) {
			rc = parse_onoff(o, v, &on);
			if (!rc && on)
				p->flags |= FLAG_VERIFY;
			else if (!rc)
				p->flags &= (uint16_t)~FLAG_VERIFY;
		} else {
			fprintf(stderr, "unknown option %s (try --help)\n", o);
			return -EINVAL;
		}
		if (rc)
			return rc;
		i++;
	}
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: vmm-guest-config IN                print IN's parameters\n"
	      "       vmm-guest-config IN OUT [OPTION]...  copy IN to OUT, "
	      "patched\n"
	      "options:\n"
	      "  --ws-mib N         working set in MiB from 1 MiB, 0..3071 "
	      "(0: counter)\n"
	      "  --pattern P        zero, text or random\n"
	      "  --rate-mib N       write-rate bound in MiB/s over all "
	      "vCPUs, 0 = none\n"
	      "  --period-ms N      ms between counter lines, 1..60000\n"
	      "  --cpus N           vCPUs that dirty memory, 1..16\n"
	      "  --run-s N          exit with code 0 after N s; 0 = run "
	      "forever\n"
	      "  --run-ms N         the same in ms\n"
	      "  --verify on|off    verify each pass (what makes a checker)\n"
	      "  --self-test-corrupt  every verification expects the wrong "
	      "pass:\n"
	      "                     the checker reports BAD (self-test)\n"
	      "  -q                 do not print the resulting parameters\n",
	      f);
}

int main(int argc, char **argv)
{
	unsigned char img[IMG_SIZE];
	struct params p;
	const char *why;
	int quiet = 0;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (image_read(argv[1], img))
		return 1;
	params_decode(img, &p);
	if (argc == 2) {
		params_print(stdout, &p);
		why = params_invalid(&p);
		if (why) {
			fprintf(stderr, "%s: invalid parameters: %s\n", argv[1],
				why);
			return 1;
		}
		return 0;
	}
	if (argv[2][0] == '-') {
		fprintf(stderr, "want OUT before the options\n");
		usage(stderr);
		return 2;
	}
	if (apply_options(argc, argv, 3, &p, &quiet))
		return 2;
	why = params_invalid(&p);
	if (why) {
		fprintf(stderr, "invalid parameters: %s\n", why);
		return 1;
	}
	params_encode(&p, img);
	if (image_write(argv[2], img))
		return 1;
	if (!quiet)
		params_print(stdout, &p);
	return 0;
}
