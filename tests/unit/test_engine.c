/*
 * test_engine.c - the source and target state machines in one process:
 * a small guest migrated between two threads over TLS on loopback, and
 * through a file, with a thread dirtying memory meanwhile. The separate-
 * process tests with a large guest live in tests/e2e; these are quick
 * and run under the sanitizers on every build.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate.h"

#define RAM_SIZE (16u << 20)
#define ROM_SIZE (64u << 10)
#define ROM_GPA 0xfffe0000ull

struct guest {
	struct mig_region regions[2];
	size_t nregions;
	mig_dirty *dirty;
	pthread_t dirtier;
	int dirtier_running;
	/* pause protocol between the engine and the dirtier */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pause_req;
	int paused_ack;
	int stop;
	uint64_t writes;
	int resumed;
	int destroyed;
	int started;
	int state_ok;
	uint32_t seed;
};

static const char *certs(void)
{
	const char *d = getenv("MIG_TEST_CERTS");

	if (!d)
		fail_msg("MIG_TEST_CERTS is not set: run through ctest");
	return d;
}

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void fill_page(uint8_t *p, uint32_t seed, uint64_t pageno)
{
	uint32_t s = seed ^ (uint32_t)(pageno * 2654435761u) ^ 0x9e3779b9u;

	switch (pageno % 3) {
	case 0:
		memset(p, 0, MIG_PAGE_SIZE);
		break;
	case 1:
		for (unsigned i = 0; i < MIG_PAGE_SIZE; i++)
			p[i] = "log line: all is well\n"[i % 22];
		memcpy(p, &pageno, sizeof(pageno));
		break;
	default:
		for (unsigned i = 0; i < MIG_PAGE_SIZE; i += 4) {
			uint32_t v = xorshift(&s);

			memcpy(p + i, &v, 4);
		}
		break;
	}
}

static void *map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

static void guest_init_source(struct guest *g, uint32_t seed)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->seed = seed;
	g->regions[0] = (struct mig_region){ .gpa = 0, .size = RAM_SIZE };
	g->regions[0].host = map(RAM_SIZE);
	g->regions[1] = (struct mig_region){ .gpa = ROM_GPA, .size = ROM_SIZE,
					     .read_only = 1 };
	g->regions[1].host = map(ROM_SIZE);
	g->nregions = 2;
	for (uint64_t p = 0; p < RAM_SIZE / MIG_PAGE_SIZE; p++)
		fill_page((uint8_t *)g->regions[0].host + p * MIG_PAGE_SIZE,
			  seed, p);
	for (uint64_t p = 0; p < ROM_SIZE / MIG_PAGE_SIZE; p++)
		fill_page((uint8_t *)g->regions[1].host + p * MIG_PAGE_SIZE,
			  seed + 1, p + 1);
	assert_int_equal(mig_dirty_new(&g->dirty, g->regions, 2), 0);
}

static void guest_fini(struct guest *g)
{
	for (size_t i = 0; i < g->nregions; i++)
		if (g->regions[i].host)
			munmap(g->regions[i].host, g->regions[i].size);
	mig_dirty_free(g->dirty);
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
}

static void *dirtier(void *arg)
{
	struct guest *g = arg;
	uint32_t s = g->seed | 1;

	for (;;) {
		uint64_t page;
		uint8_t *p;

		pthread_mutex_lock(&g->lock);
		while (g->pause_req && !g->stop) {
			g->paused_ack = 1;
			pthread_cond_broadcast(&g->cond);
			pthread_cond_wait(&g->cond, &g->lock);
		}
		g->paused_ack = 0;
		if (g->stop) {
			pthread_mutex_unlock(&g->lock);
			return NULL;
		}
		pthread_mutex_unlock(&g->lock);
		page = xorshift(&s) % (RAM_SIZE / MIG_PAGE_SIZE / 4);
		p = (uint8_t *)g->regions[0].host + page * MIG_PAGE_SIZE;
		fill_page(p, xorshift(&s), page);
		/* After the write: a fetch in between re-sends it next round. */
		mig_dirty_mark(g->dirty, page * MIG_PAGE_SIZE, MIG_PAGE_SIZE);
		__atomic_add_fetch(&g->writes, 1, __ATOMIC_RELAXED);
		if (page % 64 == 0)
			usleep(50);
	}
}

static void dirtier_start(struct guest *g)
{
	assert_int_equal(pthread_create(&g->dirtier, NULL, dirtier, g), 0);
	g->dirtier_running = 1;
}

static void dirtier_join(struct guest *g)
{
	if (!g->dirtier_running)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->dirtier, NULL);
	g->dirtier_running = 0;
}

/* ---- source ops ---- */

static int src_describe(void *vmm, struct mig_guest_desc *d)
{
	struct guest *g = vmm;

	memset(d, 0, sizeof(*d));
	d->region_count = (uint32_t)g->nregions;
	memcpy(d->regions, g->regions, sizeof(g->regions));
	d->vcpu_count = 2;
	snprintf(d->cpu_fingerprint, sizeof(d->cpu_fingerprint), "test-cpu");
	d->device_count = 1;
	snprintf(d->devices[0], MIG_NAME_MAX, "uart0");
	d->vmm_config = &g->seed;
	d->vmm_config_len = sizeof(g->seed);
	return 0;
}

static int src_pause(void *vmm)
{
	struct guest *g = vmm;

	pthread_mutex_lock(&g->lock);
	g->pause_req = 1;
	while (g->dirtier_running && !g->paused_ack && !g->stop)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static int src_resume(void *vmm)
{
	struct guest *g = vmm;

	pthread_mutex_lock(&g->lock);
	g->pause_req = 0;
	g->resumed++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void blob(uint8_t *b, size_t len, uint32_t seed)
{
	uint32_t s = seed | 1;

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)xorshift(&s);
}

static int src_save_state(void *vmm, mig_state *st)
{
	struct guest *g = vmm;
	uint8_t b[3000];
	int rc;

	for (uint32_t v = 0; v < 2; v++) {
		blob(b, sizeof(b), g->seed + v);
		rc = mig_state_add(st, MIG_STATE_VCPU, v, "vcpu", b, sizeof(b));
		if (rc < 0)
			return rc;
	}
	blob(b, 100, g->seed + 100);
	return mig_state_add(st, MIG_STATE_DEVICE, 0, "uart0", b, 100);
}

static int src_destroy(void *vmm)
{
	((struct guest *)vmm)->destroyed = 1;
	return 0;
}

static const struct mig_vmm_ops src_ops = {
	.describe = src_describe,
	.pause = src_pause,
	.resume = src_resume,
	.save_state = src_save_state,
	.destroy_guest = src_destroy,
};

/* ---- target ops ---- */

static int tgt_create(void *vmm, const struct mig_guest_desc *d, char *reason,
		      size_t len)
{
	struct guest *g = vmm;

	if (d->vmm_config_len != sizeof(g->seed)) {
		snprintf(reason, len, "unexpected configuration");
		return -EINVAL;
	}
	memcpy(&g->seed, d->vmm_config, sizeof(g->seed));
	for (uint32_t i = 0; i < d->region_count; i++) {
		g->regions[i] = d->regions[i];
		g->regions[i].host = map(d->regions[i].size);
	}
	g->nregions = d->region_count;
	return 0;
}

static int tgt_regions(void *vmm, const struct mig_region **r, size_t *n)
{
	struct guest *g = vmm;

	*r = g->regions;
	*n = g->nregions;
	return 0;
}

static int tgt_load(void *vmm, const mig_state *st)
{
	struct guest *g = vmm;
	uint8_t want[3000];
	const void *data;
	size_t len;

	g->state_ok = 0;
	if (mig_state_count(st) != 3)
		return -EINVAL;
	for (uint32_t v = 0; v < 2; v++) {
		if (mig_state_find(st, MIG_STATE_VCPU, v, &data, &len) < 0 ||
		    len != sizeof(want))
			return -EINVAL;
		blob(want, sizeof(want), g->seed + v);
		if (memcmp(want, data, len))
			return -EINVAL;
	}
	g->state_ok = 1;
	return 0;
}

static int tgt_start(void *vmm)
{
	((struct guest *)vmm)->started = 1;
	return 0;
}

static int tgt_destroy(void *vmm)
{
	struct guest *g = vmm;

	for (size_t i = 0; i < g->nregions; i++) {
		munmap(g->regions[i].host, g->regions[i].size);
		g->regions[i].host = NULL;
	}
	g->destroyed = 1;
	return 0;
}

static const struct mig_vmm_ops tgt_ops = {
	.create_guest = tgt_create,
	.memory_regions = tgt_regions,
	.load_state = tgt_load,
	.start_guest = tgt_start,
	.destroy_guest = tgt_destroy,
};

/* ---- harness ---- */

/* MIG_TEST_LOG=1 shows the library's log, for debugging a failure. */
static void log_sink(void *opaque, enum mig_log_level level, const char *msg)
{
	fprintf(stderr, "[%s %d] %s\n", (const char *)opaque, level, msg);
}

static void set_log(struct mig_params *p, const char *who)
{
	if (getenv("MIG_TEST_LOG")) {
		p->log = log_sink;
		p->log_opaque = (void *)who;
		p->log_level = MIG_LOG_DEBUG;
	}
}

static char cert_path[4][512];

static void tls_params(struct mig_params *p, int source)
{
	const char *d = certs();

	snprintf(cert_path[0], sizeof(cert_path[0]), "%s/ca.pem", d);
	snprintf(cert_path[1], sizeof(cert_path[1]), "%s/%s.pem", d,
		 source ? "source" : "target");
	snprintf(cert_path[2 + !source], sizeof(cert_path[2]), "%s/%s.key", d,
		 source ? "source" : "target");
	p->tls.ca_file = cert_path[0];
	p->tls.cert_file = cert_path[1];
	p->tls.key_file = cert_path[2 + !source];
	p->tls.peer_name = source ? "target.test" : "source.test";
	set_log(p, source ? "source" : "target");
}

struct src_run {
	struct guest *g;
	mig_source *s;
	char address[128];
	int rc;
	int cancel_after_ms;
};

struct tgt_run {
	mig_target *t;
	int rc;
};

static void *target_thread(void *arg)
{
	struct tgt_run *r = arg;

	r->rc = mig_target_run(r->t);
	return NULL;
}

static void *source_thread(void *arg)
{
	struct src_run *r = arg;

	r->rc = mig_source_run(r->s, r->address);
	return NULL;
}

static void assert_same_memory(struct guest *a, struct guest *b)
{
	assert_int_equal(a->nregions, b->nregions);
	for (size_t i = 0; i < a->nregions; i++) {
		assert_int_equal(a->regions[i].size, b->regions[i].size);
		for (uint64_t off = 0; off < a->regions[i].size;
		     off += MIG_PAGE_SIZE) {
			if (memcmp((uint8_t *)a->regions[i].host + off,
				   (uint8_t *)b->regions[i].host + off,
				   MIG_PAGE_SIZE))
				fail_msg("region %zu page %llu differs", i,
					 (unsigned long long)(off /
							      MIG_PAGE_SIZE));
		}
	}
}

static void live_migration(int unix_socket)
{
	struct guest src, tgt;
	struct mig_params sp, tp;
	struct src_run run;
	struct mig_stats st;
	mig_target *t;
	pthread_t th;
	char listen[128];
	int rc;

	guest_init_source(&src, 42);
	memset(&tgt, 0, sizeof(tgt));
	dirtier_start(&src);

	mig_params_init(&tp);
	tls_params(&tp, 0);
	assert_int_equal(mig_target_new(&t, &tp, &tgt_ops, &tgt), 0);
	if (unix_socket)
		snprintf(listen, sizeof(listen), "unix:/tmp/mig-engine-%d.sock",
			 getpid());
	else
		snprintf(listen, sizeof(listen), "tcp:127.0.0.1:0");
	assert_int_equal(mig_target_listen(t, listen), 0);

	mig_params_init(&sp);
	tls_params(&sp, 1);
	sp.downtime_limit_ms = 50;
	memset(&run, 0, sizeof(run));
	run.g = &src;
	assert_int_equal(mig_source_new(&run.s, &sp, &src_ops, &src,
					mig_dirty_ops(), src.dirty),
			 0);
	assert_int_equal(mig_target_address(t, run.address,
					    sizeof(run.address)),
			 0);
	assert_int_equal(pthread_create(&th, NULL, source_thread, &run), 0);
	rc = mig_target_run(t);
	pthread_join(th, NULL);
	mig_source_stats(run.s, &st);
	if (run.rc || rc)
		fail_msg("source: %s (%s); target: %s", mig_strerror(run.rc),
			 st.error_text, mig_strerror(rc));
	assert_int_equal(st.phase, MIG_PHASE_DONE);
	assert_true(st.rounds >= 3); /* read-only, first pass, final */
	assert_true(src.destroyed);
	assert_true(tgt.started);
	assert_true(tgt.state_ok);
	/* The source is frozen since the pause: its memory is the reference. */
	assert_same_memory(&src, &tgt);
	dirtier_join(&src);
	mig_source_free(run.s);
	mig_target_free(t);
	guest_fini(&src);
	guest_fini(&tgt);
}

static void test_live_tcp(void **state)
{
	(void)state;
	live_migration(0);
}

static void test_live_unix(void **state)
{
	(void)state;
	live_migration(1);
}

static void test_file_roundtrip(void **state)
{
	struct guest src, tgt;
	struct mig_params p;
	mig_source *s;
	mig_target *t;
	char path[128], addr[160];

	(void)state;
	guest_init_source(&src, 7);
	memset(&tgt, 0, sizeof(tgt));
	snprintf(path, sizeof(path), "/tmp/mig-engine-%d.img", getpid());
	snprintf(addr, sizeof(addr), "file:%s", path);
	mig_params_init(&p);
	set_log(&p, "file");
	assert_int_equal(mig_source_new(&s, &p, &src_ops, &src, NULL, NULL), 0);
	assert_int_equal(mig_source_run(s, addr), 0);
	assert_false(src.destroyed); /* an image leaves the guest paused */
	assert_int_equal(mig_target_new(&t, &p, &tgt_ops, &tgt), 0);
	assert_int_equal(mig_target_listen(t, addr), 0);
	assert_int_equal(mig_target_run(t), 0);
	assert_true(tgt.started);
	assert_true(tgt.state_ok);
	assert_same_memory(&src, &tgt);
	unlink(path);
	mig_source_free(s);
	mig_target_free(t);
	guest_fini(&src);
	guest_fini(&tgt);
}

static void test_truncated_file(void **state)
{
	struct guest src, tgt;
	struct mig_params p;
	struct mig_stats st;
	mig_source *s;
	mig_target *t;
	char path[128], addr[160];

	(void)state;
	guest_init_source(&src, 9);
	memset(&tgt, 0, sizeof(tgt));
	snprintf(path, sizeof(path), "/tmp/mig-engine-trunc-%d.img", getpid());
	snprintf(addr, sizeof(addr), "file:%s", path);
	mig_params_init(&p);
	set_log(&p, "file");
	assert_int_equal(mig_source_new(&s, &p, &src_ops, &src, NULL, NULL), 0);
	assert_int_equal(mig_source_run(s, addr), 0);
	assert_int_equal(truncate(path, RAM_SIZE / 3), 0);
	assert_int_equal(mig_target_new(&t, &p, &tgt_ops, &tgt), 0);
	assert_int_equal(mig_target_listen(t, addr), 0);
	assert_int_equal(mig_target_run(t), MIG_ETRUNCATED);
	mig_target_stats(t, &st);
	assert_int_equal(st.phase, MIG_PHASE_FAILED);
	assert_false(tgt.started);
	assert_true(tgt.destroyed); /* what was received is discarded */
	unlink(path);
	mig_source_free(s);
	mig_target_free(t);
	guest_fini(&src);
	guest_fini(&tgt);
}

/* Cancel while iterating: the guest keeps running on the source. */
static void test_cancel(void **state)
{
	struct guest src, tgt;
	struct mig_params sp, tp;
	struct src_run run;
	struct tgt_run trun;
	struct mig_stats st;
	pthread_t th, tth;
	uint64_t before;

	(void)state;
	guest_init_source(&src, 5);
	memset(&tgt, 0, sizeof(tgt));
	dirtier_start(&src);
	mig_params_init(&tp);
	tls_params(&tp, 0);
	assert_int_equal(mig_target_new(&trun.t, &tp, &tgt_ops, &tgt), 0);
	assert_int_equal(mig_target_listen(trun.t, "tcp:127.0.0.1:0"), 0);
	mig_params_init(&sp);
	tls_params(&sp, 1);
	sp.bandwidth_limit = 8u << 20; /* slow enough to cancel mid-way */
	memset(&run, 0, sizeof(run));
	assert_int_equal(mig_source_new(&run.s, &sp, &src_ops, &src,
					mig_dirty_ops(), src.dirty),
			 0);
	assert_int_equal(mig_target_address(trun.t, run.address,
					    sizeof(run.address)),
			 0);
	assert_int_equal(pthread_create(&tth, NULL, target_thread, &trun), 0);
	assert_int_equal(pthread_create(&th, NULL, source_thread, &run), 0);
	for (int i = 0; i < 500; i++) {
		mig_source_stats(run.s, &st);
		if (st.phase == MIG_PHASE_ITERATE)
			break;
		usleep(10000);
	}
	assert_int_equal(st.phase, MIG_PHASE_ITERATE);
	assert_int_equal(mig_source_cancel(run.s), 0);
	pthread_join(th, NULL);
	pthread_join(tth, NULL);
	assert_int_equal(run.rc, MIG_ECANCELED);
	assert_int_equal(trun.rc, MIG_EABORTED);
	mig_source_stats(run.s, &st);
	assert_int_equal(st.phase, MIG_PHASE_FAILED);
	assert_false(src.destroyed);
	assert_true(tgt.destroyed);
	assert_false(tgt.started);
	/* The dirtier still runs on the source. */
	before = __atomic_load_n(&src.writes, __ATOMIC_RELAXED);
	usleep(20000);
	assert_true(__atomic_load_n(&src.writes, __ATOMIC_RELAXED) > before);
	dirtier_join(&src);
	mig_source_free(run.s);
	mig_target_free(trun.t);
	guest_fini(&src);
	guest_fini(&tgt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_tcp),
		cmocka_unit_test(test_live_unix),
		cmocka_unit_test(test_file_roundtrip),
		cmocka_unit_test(test_truncated_file),
		cmocka_unit_test(test_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
