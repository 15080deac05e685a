/*
 * synth_gen.c - the synthetic guest's pure functions: page content,
 * configuration encoding, memory layout and machine state blobs. Nothing
 * here calls libmigrate, so a tool that links the internal library (the
 * fake peer) can use it too.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "synth.h"

#define PAGE MIG_PAGE_SIZE

enum page_kind { KIND_ZERO = 0, KIND_TEXT = 1, KIND_RANDOM = 2 };

/* The stamp at the start of every non-zero page. */
struct stamp {
	uint64_t tag;
	uint64_t pfn;
	uint32_t gen;
	uint32_t kind;
};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t x = a;

	x ^= splitmix(&x) + b * 0xd6e8feb86659fd93ull;
	x ^= splitmix(&x) + c * 0xa0761d6478bd642full;
	return splitmix(&x);
}

void synth_config_default(struct synth_config *c)
{
	memset(c, 0, sizeof(*c));
	c->seed = 1;
	c->ram_size = 256ull << 20;
	c->mix.zero = 30;
	c->mix.text = 40;
	c->mix.random = 30;
	c->vcpus = 2;
	c->devices = 3;
}

int synth_mix_parse(const char *s, struct synth_mix *m)
{
	struct synth_mix r = {0, 0, 0};
	const char *p = s;

	while (*p) {
		const char *eq = strchr(p, '=');
		uint32_t *slot;
		char *end;
		unsigned long v;
		size_t n;

		if (!eq)
			return -1;
		n = (size_t)(eq - p);
		if (n == 4 && !strncmp(p, "zero", 4))
			slot = &r.zero;
		else if (n == 4 && !strncmp(p, "text", 4))
			slot = &r.text;
		else if (n == 6 && !strncmp(p, "random", 6))
			slot = &r.random;
		else
			return -1;
		if (!isdigit((unsigned char)eq[1]))
			return -1;
		errno = 0;
		v = strtoul(eq + 1, &end, 10);
		if (errno || v > 100 || (*end && *end != ','))
			return -1;
		*slot = (uint32_t)v;
		p = *end ? end + 1 : end;
	}
	if (r.zero + r.text + r.random != 100)
		return -1;
	*m = r;
	return 0;
}

int synth_u32_parse(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int synth_size_parse(const char *s, uint64_t *out)
{
	unsigned long long v;
	uint64_t mul = 1;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		mul = 1ull << 10;
		break;
	case 'M':
		mul = 1ull << 20;
		break;
	case 'G':
		mul = 1ull << 30;
		break;
	case 'T':
		mul = 1ull << 40;
		break;
	default:
		break;
	}
	if (mul != 1)
		end++;
	if (mul != 1 && !strcmp(end, "iB"))
		end += 2;
	else if (!strcmp(end, "B"))
		end++;
	if (*end)
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

void synth_size_format(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	unsigned int u = 0;

	while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		u++;
	}
	if (v == (double)(uint64_t)v)
		snprintf(buf, len, "%" PRIu64 " %s", (uint64_t)v, unit[u]);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
}

/* ---- configuration: fixed little-endian layout ----------------------- */

static const char cfg_magic[8] = {'S', 'Y', 'N', 'T', 'H', 'C', 'F', '1'};

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void synth_config_encode(const struct synth_config *c,
			 uint8_t buf[SYNTH_CONFIG_LEN])
{
	memcpy(buf, cfg_magic, 8);
	put64(buf + 8, c->seed);
	put64(buf + 16, c->ram_size);
	put32(buf + 24, c->mix.zero);
	put32(buf + 28, c->mix.text);
	put32(buf + 32, c->mix.random);
	put32(buf + 36, c->vcpus);
	put32(buf + 40, c->devices);
	put32(buf + 44, 0);
}

int synth_config_decode(const void *buf, size_t len, struct synth_config *c,
			char *why, size_t why_len)
{
	const uint8_t *p = buf;
	struct synth_config r;

	if (!buf || len != SYNTH_CONFIG_LEN) {
		snprintf(why, why_len,
			 "vmm_config is %zu bytes, a synth guest's is %d", len,
			 SYNTH_CONFIG_LEN);
		return -1;
	}
	if (memcmp(p, cfg_magic, 8)) {
		snprintf(why, why_len, "vmm_config is not a synth guest's");
		return -1;
	}
	r.seed = get64(p + 8);
	r.ram_size = get64(p + 16);
	r.mix.zero = get32(p + 24);
	r.mix.text = get32(p + 28);
	r.mix.random = get32(p + 32);
	r.vcpus = get32(p + 36);
	r.devices = get32(p + 40);
	if (r.mix.zero > 100 || r.mix.text > 100 || r.mix.random > 100 ||
	    r.mix.zero + r.mix.text + r.mix.random != 100) {
		snprintf(why, why_len, "page mix does not add up to 100");
		return -1;
	}
	if (r.ram_size % PAGE || r.ram_size < SYNTH_RAM_MIN ||
	    r.ram_size > SYNTH_RAM_MAX) {
		snprintf(why, why_len, "RAM size %" PRIu64 " out of bounds",
			 r.ram_size);
		return -1;
	}
	if (r.vcpus > MIG_MAX_VCPUS || r.devices > MIG_MAX_DEVICES) {
		snprintf(why, why_len, "%u vCPUs, %u devices: too many",
			 r.vcpus, r.devices);
		return -1;
	}
	*c = r;
	return 0;
}

uint32_t synth_layout(const struct synth_config *c,
		      struct mig_region regions[3])
{
	uint64_t low =
	    c->ram_size < SYNTH_LOW_MAX ? c->ram_size : SYNTH_LOW_MAX;
	uint32_t n = 0;

	memset(regions, 0, 3 * sizeof(regions[0]));
	regions[n].gpa = 0;
	regions[n++].size = low;
	if (c->ram_size > low) {
		regions[n].gpa = SYNTH_HIGH_GPA;
		regions[n++].size = c->ram_size - low;
	}
	regions[n].gpa = SYNTH_ROM_GPA;
	regions[n].size = SYNTH_ROM_SIZE;
	regions[n++].read_only = 1;
	return n;
}

void synth_device_name(uint32_t i, char *buf, size_t len)
{
	static const char *const first[] = {"serial0",	   "rtc0",
					    "virtio-blk0", "virtio-net0",
					    "virtio-rng0", "i8042"};
	const size_t nfirst = sizeof(first) / sizeof(first[0]);

	if (i < nfirst)
		snprintf(buf, len, "%s", first[i]);
	else
		snprintf(buf, len, "virtio-blk%u",
			 (unsigned int)(i - nfirst + 1));
}

void synth_desc_build(const struct synth_config *c, struct mig_guest_desc *d,
		      uint8_t cfg_buf[SYNTH_CONFIG_LEN])
{
	memset(d, 0, sizeof(*d));
	d->region_count = synth_layout(c, d->regions);
	d->vcpu_count = c->vcpus;
	snprintf(d->cpu_fingerprint, sizeof(d->cpu_fingerprint), "%s",
		 SYNTH_CPU_FINGERPRINT);
	d->device_count = c->devices;
	for (uint32_t i = 0; i < c->devices && i < MIG_MAX_DEVICES; i++)
		synth_device_name(i, d->devices[i], MIG_NAME_MAX);
	synth_config_encode(c, cfg_buf);
	d->vmm_config = cfg_buf;
	d->vmm_config_len = SYNTH_CONFIG_LEN;
}

/* ---- page content ---------------------------------------------------- */

void synth_content_init(struct synth_content *ct, uint64_t seed,
			const struct synth_mix *mix)
{
	ct->seed = seed;
	ct->tag = hash3(seed, 0x5359544850472131ull, 0); /* "SYNTHPG!" */
	ct->mix = *mix;
}

void synth_content_rom(struct synth_content *ct, uint64_t seed)
{
	struct synth_mix rom = {0, 50, 50};

	synth_content_init(ct, seed ^ 0x524f4d524f4d524full, &rom);
}

static enum page_kind page_kind(const struct synth_content *ct, uint64_t pfn,
				uint32_t gen)
{
	uint32_t r = (uint32_t)((hash3(ct->seed, pfn, gen) >> 32) % 100);

	if (r < ct->mix.zero)
		return KIND_ZERO;
	if (r < ct->mix.zero + ct->mix.text)
		return KIND_TEXT;
	return KIND_RANDOM;
}

/* Words of the log lines that make a text page compress like real text. */
#define W(s)                                                                   \
	{                                                                      \
		s, sizeof(s) - 1                                               \
	}
static const struct word {
	char s[16]; /* copied whole: a fixed-size copy is one instruction */
	size_t len;
} words[64] = {
    W("kernel:"),     W("eth0"),	W("link"),	 W("is"),
    W("up"),	      W("down"),	W("page"),	 W("alloc"),
    W("free"),	      W("the"),		W("of"),	 W("block"),
    W("request"),     W("completed"),	W("error"),	 W("retry"),
    W("virtio"),      W("queue"),	W("net"),	 W("disk"),
    W("sector"),      W("read"),	W("write"),	 W("flush"),
    W("cpu0"),	      W("cpu1"),	W("timer"),	 W("interrupt"),
    W("task"),	      W("migrate"),	W("memory"),	 W("cache"),
    W("hit"),	      W("miss"),	W("user"),	 W("login"),
    W("session"),     W("opened"),	W("closed"),	 W("GET"),
    W("/index.html"), W("HTTP/1.1"),	W("200"),	 W("404"),
    W("ms"),	      W("bytes"),	W("client"),	 W("server"),
    W("connection"),  W("accepted"),	W("from"),	 W("to"),
    W("for"),	      W("systemd[1]:"), W("Started"),	 W("Stopped"),
    W("service"),     W("nginx:"),	W("sshd[812]:"), W("postgres:"),
    W("checkpoint"),  W("starting"),	W("WAL"),	 W("done"),
};
#undef W

/* Log lines: "[ 12345.678901] word word ...\n", until the page is full. */
static void fill_text(uint64_t x, char *p, size_t len)
{
	char line[192]; /* 12 words of <= 16 bytes, and the stamp */
	size_t off = 0;

	while (off < len) {
		uint64_t r = splitmix(&x);
		unsigned int nw = 5 + (unsigned int)(r >> 61);
		uint64_t ts = r >> 20; /* 11 digits: "sssss.uuuuuu" */
		size_t n = 0, take;

		line[n++] = '[';
		for (int d = 11; d >= 0; d--) {
			if (d == 5) {
				line[n + (size_t)d] = '.';
				continue;
			}
			line[n + (size_t)d] = (char)('0' + ts % 10);
			ts /= 10;
		}
		n += 12;
		line[n++] = ']';
		for (unsigned int w = 0; w < nw; w++) {
			const struct word *wd;

			if (w % 10 == 0)
				r = splitmix(&x);
			wd = &words[r & 63];
			r >>= 6;
			line[n++] = ' ';
			memcpy(line + n, wd->s, sizeof(wd->s));
			n += wd->len;
		}
		line[n++] = '\n';
		take = n < len - off ? n : len - off;
		memcpy(p + off, line, take);
		off += take;
	}
}

static void fill_random(uint64_t x, uint8_t *p, size_t len)
{
	size_t off = 0;

	for (; off + 8 <= len; off += 8) {
		uint64_t r = splitmix(&x);

		memcpy(p + off, &r, 8);
	}
	if (off < len) {
		uint64_t r = splitmix(&x);

		memcpy(p + off, &r, len - off);
	}
}

void synth_page_fill(const struct synth_content *ct, uint64_t pfn, uint32_t gen,
		     void *page)
{
	enum page_kind k;
	struct stamp st;
	uint8_t *p = page;
	uint64_t x;

	if (gen == SYNTH_GEN_ZERO) {
		memset(page, 0, PAGE);
		return;
	}
	k = page_kind(ct, pfn, gen);
	if (k == KIND_ZERO) {
		memset(page, 0, PAGE);
		return;
	}
	st.tag = ct->tag;
	st.pfn = pfn;
	st.gen = gen;
	st.kind = (uint32_t)k;
	memcpy(p, &st, sizeof(st));
	x = hash3(ct->seed ^ 0x636f6e74656e74ull, pfn, gen);
	if (k == KIND_TEXT)
		fill_text(x, (char *)p + sizeof(st), PAGE - sizeof(st));
	else
		fill_random(x, p + sizeof(st), PAGE - sizeof(st));
}

static int page_is_zero(const void *page)
{
	const uint64_t *w = page;

	for (size_t i = 0; i < PAGE / 8; i++)
		if (w[i])
			return 0;
	return 1;
}

int synth_page_zero(const struct synth_content *ct, uint64_t pfn, uint32_t gen)
{
	return gen == SYNTH_GEN_ZERO || page_kind(ct, pfn, gen) == KIND_ZERO;
}

int synth_page_equal(const struct synth_content *ct, uint64_t pfn, uint32_t gen,
		     const void *page)
{
	uint64_t want[PAGE / 8];

	if (gen == SYNTH_GEN_ZERO || page_kind(ct, pfn, gen) == KIND_ZERO)
		return page_is_zero(page);
	synth_page_fill(ct, pfn, gen, want);
	return !memcmp(want, page, PAGE);
}

int synth_page_identify(const struct synth_content *ct, uint64_t pfn,
			const void *page, uint32_t *gen)
{
	struct stamp st;

	memcpy(&st, page, sizeof(st));
	if (st.tag != ct->tag) {
		if (!page_is_zero(page))
			return -1;
		*gen = SYNTH_GEN_ZERO;
		return 0;
	}
	if (st.pfn != pfn || st.gen == SYNTH_GEN_ZERO ||
	    st.kind != (uint32_t)page_kind(ct, pfn, st.gen))
		return -1;
	if (!synth_page_equal(ct, pfn, st.gen, page))
		return -1;
	*gen = st.gen;
	return 0;
}

uint64_t synth_page_hash(const void *page)
{
	return XXH3_64bits(page, PAGE);
}

/* ---- machine state blobs --------------------------------------------- */

size_t synth_blob_len(enum mig_state_kind kind, uint32_t id)
{
	switch (kind) {
	case MIG_STATE_VCPU:
		return 6144 +
		       (id % 4) * 256; /* registers, XSAVE, MSRs, LAPIC */
	case MIG_STATE_DEVICE:
		return 1024 + (id % 8) * 384;
	case MIG_STATE_MACHINE:
		return 12288; /* irqchip, PIT, clock */
	}
	return 0;
}

void synth_blob_name(enum mig_state_kind kind, uint32_t id, char *buf,
		     size_t len)
{
	if (kind == MIG_STATE_VCPU)
		snprintf(buf, len, "vcpu%u", (unsigned int)id);
	else if (kind == MIG_STATE_DEVICE)
		synth_device_name(id, buf, len);
	else
		snprintf(buf, len, "machine");
}

void synth_blob_fill(uint64_t seed, enum mig_state_kind kind, uint32_t id,
		     uint8_t *buf)
{
	size_t len = synth_blob_len(kind, id);
	char name[MIG_NAME_MAX];
	int n;

	synth_blob_name(kind, id, name, sizeof(name));
	/* A readable header helps whoever looks at a hex dump of the stream. */
	n = snprintf((char *)buf, len, "synth state %s seed %016" PRIx64 "\n",
		     name, seed);
	if (n < 0 || (size_t)n >= len)
		n = 0;
	fill_random(hash3(seed ^ 0x7374617465ull, (uint64_t)kind, id), buf + n,
		    len - (size_t)n);
}
