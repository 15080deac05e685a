/*
 * bounds.c - the LZ4 and memcpy bounds, and the guest preparation they
 * share with the migration.
 *
 * Both run on one thread over exactly the guest memory the migration then
 * sends, page by page for LZ4 (the codec compresses single pages) and in
 * batch-sized pieces for memcpy. The memcpy destination is resident before
 * the clock starts: the bound is the copy, not the kernel's page faults.
 * Those are measured on their own (bench_touch): the target must make its
 * fresh guest memory resident, which none of the bounds has to do.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include <lz4.h>

#include "bench.h"

/* Larger than any cache here, so the copy really goes to memory. */
#define MEMCPY_DST_MAX (256ull << 20)

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_usage_get(struct bench_usage *u)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	u->cpu_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u +
		    (uint64_t)ru.ru_utime.tv_usec +
		    (uint64_t)ru.ru_stime.tv_sec * 1000000u +
		    (uint64_t)ru.ru_stime.tv_usec;
	u->faults = (uint64_t)ru.ru_minflt;
}

void bench_usage_since(struct bench_usage *u)
{
	struct bench_usage now;

	bench_usage_get(&now);
	u->cpu_us = now.cpu_us - u->cpu_us;
	u->faults = now.faults - u->faults;
}

uint64_t bench_regions_bytes(const struct mig_region *r, size_t n)
{
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += r[i].size;
	return total;
}

int bench_guest_populate(const struct mig_region *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		volatile uint8_t *p = r[i].host;

		if (r[i].read_only)
			continue; /* filled page by page already */
		if (!madvise(r[i].host, r[i].size, MADV_POPULATE_WRITE))
			continue;
		if (errno != EINVAL)
			return -errno;
		/* Older kernels: a write that changes nothing, per page. */
		for (uint64_t off = 0; off < r[i].size; off += MIG_PAGE_SIZE)
			__atomic_fetch_add(&p[off], 0, __ATOMIC_RELAXED);
	}
	return 0;
}

int64_t bench_touch(uint64_t bytes, int thp)
{
	volatile uint8_t *p;
	uint64_t t0;

	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (thp)
		madvise((void *)p, bytes, MADV_HUGEPAGE);
	t0 = bench_now_ns();
	for (uint64_t off = 0; off < bytes; off += MIG_PAGE_SIZE)
		p[off] = 1;
	t0 = bench_now_ns() - t0;
	munmap((void *)p, bytes);
	return (int64_t)t0;
}

int64_t bench_lz4(const struct mig_region *r, size_t n, uint64_t *out_bytes)
{
	char *dst = malloc(LZ4_COMPRESSBOUND(MIG_PAGE_SIZE));
	uint64_t total = 0, t0;

	if (!dst)
		return -1;
	t0 = bench_now_ns();
	for (size_t i = 0; i < n; i++) {
		const char *p = r[i].host;

		for (uint64_t off = 0; off < r[i].size; off += MIG_PAGE_SIZE)
			total += (uint64_t)LZ4_compress_default(
			    p + off, dst, MIG_PAGE_SIZE,
			    LZ4_COMPRESSBOUND(MIG_PAGE_SIZE));
	}
	t0 = bench_now_ns() - t0;
	free(dst);
	*out_bytes = total;
	return (int64_t)t0;
}

int64_t bench_memcpy(const struct mig_region *r, size_t n)
{
	uint64_t total = bench_regions_bytes(r, n);
	size_t cap = total < MEMCPY_DST_MAX ? (size_t)total : MEMCPY_DST_MAX;
	size_t at = 0;
	uint8_t *dst;
	uint64_t t0;

	cap -= cap % BENCH_WRITE_SIZE;
	if (cap < BENCH_WRITE_SIZE)
		cap = BENCH_WRITE_SIZE;
	dst = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dst == MAP_FAILED)
		return -1;
	memset(dst, 1, cap);
	t0 = bench_now_ns();
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = r[i].host;

		for (uint64_t off = 0; off < r[i].size;) {
			uint64_t left = r[i].size - off;
			size_t len = left < BENCH_WRITE_SIZE ? (size_t)left
							     : BENCH_WRITE_SIZE;

			if (at + len > cap)
				at = 0;
			memcpy(dst + at, p + off, len);
			at += len;
			off += len;
		}
	}
	t0 = bench_now_ns() - t0;
	munmap(dst, cap);
	return (int64_t)t0;
}
