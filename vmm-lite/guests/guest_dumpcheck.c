/*
 * vmm-guest-dumpcheck: checks a dump of a dirtier's or checker's working
 * set (e.g. QEMU "pmemsave 0x100000 SIZE FILE", or a VMM's guest RAM from
 * 1 MiB on) against the page contents the guest writes.
 *
 *   vmm-guest-dumpcheck IMG DUMP [--first-pfn N] [--torn N]
 *
 * Every page must hold the content of some pass k: dword i of page pfn in
 * pass k is (bswap(x_i) & AND) | OR, x_0 = (k mod 4096) << 20 ^ pfn,
 * x_{i+1} = x_i * 1664525 + 1 (x_1 is the first dword written). A vCPU
 * stopped in the middle of a page leaves it "torn": a prefix of pass k and
 * the rest of pass k-1; up to --torn such pages (default: cpus) pass.
 * Exit status 0 when every page passes, 1 otherwise, 2 on usage errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMG_SIZE 512
#define PB_OFF 0x1dc
#define PAGE 4096
#define DWORDS (PAGE / 4)
#define PASSES 4096 /* the seed keeps k mod 4096 */

struct pattern {
	uint32_t and_mask;
	uint32_t or_value;
};

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t dword_of(uint32_t x, const struct pattern *pat)
{
	return (__builtin_bswap32(x) & pat->and_mask) | pat->or_value;
}

/* How many leading dwords of page[from..] match pass k from dword `from`. */
static unsigned int match_len(const uint32_t *page, uint32_t pfn, uint32_t k,
			      unsigned int from, const struct pattern *pat)
{
	uint32_t x = (k % PASSES) << 20 ^ pfn;
	unsigned int i;

	for (i = 0; i < from; i++)
		x = x * 1664525u + 1;
	for (i = from; i < DWORDS; i++) {
		x = x * 1664525u + 1;
		if (page[i] != dword_of(x, pat))
			break;
	}
	return i - from;
}

enum verdict { PAGE_OK, PAGE_TORN, PAGE_BAD };

/* Classifies one page; *k_out is the (newest) pass found. */
static enum verdict check_page(const uint32_t *page, uint32_t pfn,
			       const struct pattern *pat, uint32_t *k_out)
{
	unsigned int best = 0, len;
	uint32_t best_k = 0;

	for (uint32_t k = 0; k < PASSES; k++) {
		len = match_len(page, pfn, k, 0, pat);
		if (len > best) {
			best = len;
			best_k = k;
		}
		if (len == DWORDS || pat->and_mask == 0)
			break; /* a constant pattern has no pass */
	}
	*k_out = best_k;
	if (best == DWORDS)
		return PAGE_OK;
	if (best > 0 &&
	    match_len(page, pfn, (best_k + PASSES - 1) % PASSES, best, pat) ==
		DWORDS - best)
		return PAGE_TORN;
	return PAGE_BAD;
}

/* Reads the 512-byte image whole. */
static int read_image(const char *path, unsigned char img[IMG_SIZE])
{
	FILE *f = fopen(path, "rb");
	unsigned char extra;
	int rc = 0;

	if (!f) {
		rc = -errno;
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return rc;
	}
	if (fread(img, 1, IMG_SIZE, f) != IMG_SIZE || fread(&extra, 1, 1, f) ||
	    memcmp(img + PB_OFF, "VMGP", 4)) {
		rc = -EINVAL;
		fprintf(stderr, "%s: not a guest image\n", path);
	}
	fclose(f);
	return rc;
}

static int parse_u32(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned char img[IMG_SIZE];
	uint32_t first_pfn = 256, torn_max, k_min = UINT32_MAX, k_max = 0;
	size_t ok = 0, torn = 0, bad = 0, pages = 0, n;
	struct pattern pat;
	int have_torn = 0, rc = 2;
	uint32_t page[DWORDS];
	FILE *dump;

	if (argc < 3 || (argc - 3) % 2) {
		fputs("usage: vmm-guest-dumpcheck IMG DUMP [--first-pfn N] "
		      "[--torn N]\n",
		      stderr);
		return 2;
	}
	for (int i = 3; i < argc; i += 2) {
		if (!strcmp(argv[i], "--first-pfn") &&
		    !parse_u32(argv[i + 1], &first_pfn) && first_pfn < 1u << 20)
			continue;
		if (!strcmp(argv[i], "--torn") &&
		    !parse_u32(argv[i + 1], &torn_max)) {
			have_torn = 1;
			continue;
		}
		fprintf(stderr, "bad option %s %s\n", argv[i], argv[i + 1]);
		return 2;
	}
	if (read_image(argv[1], img))
		return 2;
	pat.and_mask = get32(img + PB_OFF + 8);
	pat.or_value = get32(img + PB_OFF + 12);
	if (!have_torn)
		torn_max = get32(img + PB_OFF + 24);
	dump = fopen(argv[2], "rb");
	if (!dump) {
		fprintf(stderr, "%s: %s\n", argv[2], strerror(errno));
		return 2;
	}
	/* The seed holds 20 bits of pfn: stop where they would wrap. */
	while ((n = fread(page, 1, PAGE, dump)) == PAGE &&
	       first_pfn + pages < 1u << 20) {
		uint32_t pfn = first_pfn + (uint32_t)pages++, k;
		enum verdict v = check_page(page, pfn, &pat, &k);

		if (v == PAGE_BAD) {
			if (bad < 10)
				printf("bad page %" PRIu32 "\n", pfn);
			bad++;
			continue;
		}
		if (v == PAGE_TORN)
			torn++;
		else
			ok++;
		k_min = k < k_min ? k : k_min;
		k_max = k > k_max ? k : k_max;
	}
	if (ferror(dump) || n % PAGE || !feof(dump) || !pages) {
		fprintf(stderr, "%s: want a whole number of pages (at most up "
			"to pfn 2^20)\n", argv[2]);
		goto close_dump;
	}
	printf("pages=%zu ok=%zu torn=%zu bad=%zu pass_min=%" PRIu32
	       " pass_max=%" PRIu32 "\n",
	       pages, ok, torn, bad, ok + torn ? k_min : 0, k_max);
	rc = bad || torn > torn_max ? 1 : 0;
close_dump:
	fclose(dump);
	return rc;
}
