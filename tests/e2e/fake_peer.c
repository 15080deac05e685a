/*
 * fake_peer.c - mig-fake-peer, a deliberately wrong migration peer for the
 * end-to-end tests.
 *
 * It speaks the real transport (TLS 1.3 with mutual authentication, the
 * stream header, typed frames) through libmigrate's internal helpers, and
 * then breaks the protocol in exactly one way, chosen by MODE. Whatever
 * the real peer answers is printed ("fake: received ...") so that the test
 * can check what the other side was told. Exit: 0 when the scenario ran to
 * its end (whatever the peer did), 1 when it could not be set up, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "frame.h"
#include "migrate.pb-c.h"
#include "msg.h"
#include "synth.h"
#include "tls.h"

struct fake {
	const char *mode;
	const char *address;
	int listen;
	const char *port_file;
	const char *certs;
	uint32_t timeout_ms;
	uint64_t size;
	struct mig__stream *s;
	struct mig__frame_reader rd;
	struct synth_config cfg;
};

static const char *const source_modes[] = {
    "source-v2",     "garbage",	 "bad-hello",  "truncated", "oversized",
    "unknown-frame", "bad-page", "bad-region", "bad-lz4",   NULL,
};

static void usage(FILE *f)
{
	fputs("usage: mig-fake-peer MODE --address ADDR --certs DIR [--size "
	      "SIZE]\n"
	      "       mig-fake-peer target-v2 --listen ADDR --port-file FILE "
	      "--certs DIR\n"
	      "As a source, to a real target (MODE):\n"
	      "  source-v2      stream header and hello of protocol version 2\n"
	      "  garbage        random bytes where the stream header belongs\n"
	      "  bad-hello      a hello frame whose body is not a message\n"
	      "  truncated      a valid hello, then a page batch cut short by "
	      "the end\n"
	      "                 of the stream\n"
	      "  oversized      a valid hello, then a frame longer than its "
	      "type allows\n"
	      "  unknown-frame  a valid hello, then a mandatory frame of "
	      "unknown type\n"
	      "  bad-page       a valid hello, then a batch with a page past "
	      "its region\n"
	      "  bad-region     a valid hello, then a batch for a region that "
	      "is not\n"
	      "  bad-lz4        a valid hello, then an LZ4 page that does not "
	      "inflate\n"
	      "As a target, for a real source:\n"
	      "  target-v2      answers with a version 2 stream header and "
	      "hello reply\n"
	      "  --timeout-ms MS  every wait (default 20000)\n",
	      f);
}

/* ---- blocking I/O over the non-blocking stream ----------------------- */

static int wait_stream(struct fake *fk)
{
	struct pollfd p = {.fd = fk->s->fd};
	int r;

	if (fk->s->want & MIG__WANT_READ)
		p.events |= POLLIN;
	if (fk->s->want & MIG__WANT_WRITE)
		p.events |= POLLOUT;
	if (!p.events)
		p.events = POLLIN;
	r = poll(&p, 1, (int)fk->timeout_ms);
	if (r < 0)
		return -errno;
	return r ? 0 : -ETIMEDOUT;
}

static int write_all(struct fake *fk, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = mig__stream_write(fk->s, p, len);

		if (n == MIG__AGAIN) {
			int err = wait_stream(fk);

			if (err)
				return err;
			continue;
		}
		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_frame(struct fake *fk, struct mig__frame *f)
{
	for (;;) {
		int rc = mig__frame_read(&fk->rd, fk->s, f);

		if (rc != MIG__AGAIN)
			return rc;
		rc = wait_stream(fk);
		if (rc)
			return rc;
	}
}

/* Prints a frame the real peer sent; returns its type. */
static uint16_t show_frame(const struct mig__frame *f)
{
	struct mig__hello_reply r;
	char text[MIG__TEXT_MAX];
	int code;

	switch (f->type) {
	case MIG__F_HELLO_REPLY:
		if (mig__hello_reply_parse(f, &r)) {
			printf("fake: received a malformed hello-reply\n");
			break;
		}
		printf("fake: received hello-reply accept=%d version=%u "
		       "reason=\"%s\"\n",
		       r.accept, r.protocol_version, r.reason);
		break;
	case MIG__F_ERROR:
	case MIG__F_ABORT:
		if (mig__error_parse(f, &code, text, sizeof(text)))
			snprintf(text, sizeof(text), "(malformed)");
		printf("fake: received %s code=%d text=\"%s\"\n",
		       mig__frame_type_name(f->type), code, text);
		break;
	default:
		printf("fake: received %s (%u bytes)\n",
		       mig__frame_type_name(f->type), (unsigned int)f->len);
		break;
	}
	return f->type;
}

/* Reads and prints until the peer ends the stream, or `until` arrives. */
static int drain(struct fake *fk, uint16_t until)
{
	for (;;) {
		struct mig__frame f;
		uint16_t type;
		int rc = read_frame(fk, &f);

		if (rc == 0) {
			printf("fake: the peer closed the stream\n");
			return 0;
		}
		if (rc < 0) {
			printf("fake: stream ended: %s%s%s\n", mig_strerror(rc),
			       fk->s->error_text[0] ? ": " : "",
			       fk->s->error_text);
			return rc;
		}
		type = show_frame(&f);
		free(f.body);
		if (until && type == until)
			return 1;
		if (type == MIG__F_ERROR || type == MIG__F_ABORT)
			until = 0; /* the peer gave up: read to the end */
	}
}

/* ---- connection set-up ----------------------------------------------- */

static int tls_stream(struct fake *fk, int fd, int server)
{
	struct mig_tls_params tp;
	char ca[4096], cert[4096], key[4096], err[512];
	const char *me = server ? "target" : "source";
	SSL_CTX *ctx;
	int rc;

	snprintf(ca, sizeof(ca), "%s/ca.pem", fk->certs);
	snprintf(cert, sizeof(cert), "%s/%s.pem", fk->certs, me);
	snprintf(key, sizeof(key), "%s/%s.key", fk->certs, me);
	memset(&tp, 0, sizeof(tp));
	tp.ca_file = ca;
	tp.cert_file = cert;
	tp.key_file = key;
	tp.peer_name = server ? NULL : "target.test";
	rc = mig__tls_ctx_new(&ctx, &tp, server, err, sizeof(err));
	if (rc) {
		close(fd);
		fprintf(stderr, "fake: TLS set-up: %s\n", err);
		return rc;
	}
	rc = mig__stream_tls_new(&fk->s, ctx, fd, server, tp.peer_name);
	SSL_CTX_free(ctx); /* the stream holds its own reference */
	if (rc)
		return rc;
	while ((rc = mig__stream_handshake(fk->s)) == MIG__AGAIN) {
		rc = wait_stream(fk);
		if (rc)
			break;
	}
	if (rc)
		fprintf(stderr, "fake: TLS handshake: %s %s\n",
			mig_strerror(rc), fk->s->error_text);
	return rc;
}

static int connect_to(struct fake *fk)
{
	struct mig__addr a;
	int fd, rc;

	rc = mig__addr_parse(fk->address, &a);
	if (!rc)
		rc = mig__addr_connect(&a, fk->timeout_ms, &fd);
	if (rc) {
		fprintf(stderr, "fake: cannot connect to %s: %s\n", fk->address,
			mig_strerror(rc));
		return rc;
	}
	return tls_stream(fk, fd, 0);
}

static int accept_one(struct fake *fk)
{
	struct mig__addr a;
	struct pollfd p;
	char bound[512];
	int lfd, fd, rc;
	FILE *f;

	rc = mig__addr_parse(fk->address, &a);
	if (!rc)
		rc = mig__addr_listen(&a, &lfd);
	if (rc) {
		fprintf(stderr, "fake: cannot listen on %s: %s\n", fk->address,
			mig_strerror(rc));
		return rc;
	}
	if (mig__addr_format_bound(lfd, bound, sizeof(bound)) == 0 &&
	    fk->port_file) {
		char tmp[4096];

		snprintf(tmp, sizeof(tmp), "%s.tmp", fk->port_file);
		f = fopen(tmp, "w");
		if (f) {
			fprintf(f, "%s\n", bound);
			fclose(f);
			rename(tmp, fk->port_file);
		}
	}
	printf("fake: listening on %s\n", bound);
	fflush(stdout);
	p.fd = lfd;
	p.events = POLLIN;
	for (;;) {
		rc = poll(&p, 1, (int)fk->timeout_ms);
		if (rc <= 0) {
			close(lfd);
			fprintf(stderr, "fake: nobody connected\n");
			return -ETIMEDOUT;
		}
		rc = mig__addr_accept(lfd, &fd);
		if (rc != MIG__AGAIN)
			break;
	}
	close(lfd);
	if (rc)
		return rc;
	return tls_stream(fk, fd, 1);
}

/* ---- what we send ---------------------------------------------------- */

static int send_stream_hdr(struct fake *fk, uint32_t version)
{
	uint8_t hdr[MIG__STREAM_HDR_LEN];

	mig__stream_hdr_put(hdr, version);
	return write_all(fk, hdr, sizeof(hdr));
}

static int send_owned(struct fake *fk, int rc, uint8_t *buf, size_t len)
{
	if (rc)
		return rc;
	rc = write_all(fk, buf, len);
	free(buf);
	return rc;
}

static int send_hello(struct fake *fk, uint32_t version)
{
	uint8_t cfg[SYNTH_CONFIG_LEN];
	struct mig__hello h;
	uint8_t *buf;
	size_t len;
	int rc;

	memset(&h, 0, sizeof(h));
	h.protocol_version = version;
	h.caps = MIG__CAPS_ALL;
	for (size_t i = 0; i < sizeof(h.migration_id); i++)
		h.migration_id[i] = (uint8_t)(0xa5 ^ i);
	h.live = 1;
	synth_desc_build(&fk->cfg, &h.guest, cfg);
	rc = mig__hello_frame(&h, &buf, &len);
	return send_owned(fk, rc, buf, len);
}

/*
 * A PAGE_BATCH body as the protocol lays it out: u32 LE header length,
 * the PageBatch message, then one page's payload.
 */
static int send_batch(struct fake *fk, uint32_t region, uint64_t page,
		      uint8_t enc, const uint8_t *payload, uint32_t size)
{
	Mig__V1__PageBatch pb = MIG__V1__PAGE_BATCH__INIT;
	uint8_t hdr[MIG__FRAME_HDR_LEN];
	uint8_t *body;
	size_t hlen, blen;
	int rc;

	pb.region = region;
	pb.round = 1;
	pb.n_pages = 1;
	pb.pages = &page;
	pb.encodings.len = 1;
	pb.encodings.data = &enc;
	pb.n_sizes = 1;
	pb.sizes = &size;
	hlen = mig__v1__page_batch__get_packed_size(&pb);
	blen = 4 + hlen + size;
	body = malloc(blen);
	if (!body)
		return -ENOMEM;
	for (int i = 0; i < 4; i++)
		body[i] = (uint8_t)(hlen >> (8 * i));
	mig__v1__page_batch__pack(&pb, body + 4);
	memcpy(body + 4 + hlen, payload, size);
	mig__frame_hdr_put(hdr, MIG__F_PAGE_BATCH, 0, (uint32_t)blen);
	rc = write_all(fk, hdr, sizeof(hdr));
	if (!rc)
		rc = write_all(fk, body, blen);
	free(body);
	return rc;
}

/* Hello, then wait for the target to accept and create the guest. */
static int handshake_v1(struct fake *fk)
{
	int rc = send_stream_hdr(fk, MIG_PROTOCOL_VERSION);

	if (!rc)
		rc = send_hello(fk, MIG_PROTOCOL_VERSION);
	if (rc)
		return rc;
	printf("fake: sent a valid hello\n");
	rc = drain(fk, MIG__F_GUEST_CREATED);
	if (rc != 1) {
		fprintf(stderr, "fake: the target did not create the guest\n");
		return rc ? rc : -EPROTO;
	}
	return 0;
}

static void fill_random(uint8_t *p, size_t len, uint64_t x)
{
	for (size_t i = 0; i < len; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(x >> 56);
	}
}

static int run_breakage(struct fake *fk)
{
	static uint8_t page[MIG_PAGE_SIZE];
	uint8_t hdr[MIG__FRAME_HDR_LEN];
	const char *m = fk->mode;
	uint64_t low_pages;
	int rc;

	fill_random(page, sizeof(page), 42);
	if (!strcmp(m, "garbage")) {
		rc = write_all(fk, page, 64);
		printf("fake: sent 64 random bytes\n");
		return rc;
	}
	if (!strcmp(m, "source-v2")) {
		rc = send_stream_hdr(fk, 2);
		if (!rc)
			rc = send_hello(fk, 2);
		printf("fake: sent a version 2 stream header and hello\n");
		return rc;
	}
	if (!strcmp(m, "bad-hello")) {
		rc = send_stream_hdr(fk, MIG_PROTOCOL_VERSION);
		mig__frame_hdr_put(hdr, MIG__F_HELLO, 0, 64);
		if (!rc)
			rc = write_all(fk, hdr, sizeof(hdr));
		memset(page, 0xff, 64);
		if (!rc)
			rc = write_all(fk, page, 64);
		printf("fake: sent a hello of 64 bytes 0xff\n");
		return rc;
	}
	rc = handshake_v1(fk);
	if (rc)
		return rc;
	low_pages = (fk->cfg.ram_size < SYNTH_LOW_MAX ? fk->cfg.ram_size
						      : SYNTH_LOW_MAX) /
		    MIG_PAGE_SIZE;
	if (!strcmp(m, "truncated")) {
		mig__frame_hdr_put(hdr, MIG__F_PAGE_BATCH, 0, 8192);
		rc = write_all(fk, hdr, sizeof(hdr));
		if (!rc)
			rc = write_all(fk, page, 100);
		if (!rc)
			rc = mig__stream_shutdown(fk->s);
		printf("fake: sent 100 of a page batch's 8192 bytes, then "
		       "ended the stream\n");
	} else if (!strcmp(m, "oversized")) {
		uint32_t len = mig__frame_max_len(MIG__F_PAGE_BATCH) + 1;

		mig__frame_hdr_put(hdr, MIG__F_PAGE_BATCH, 0, len);
		rc = write_all(fk, hdr, sizeof(hdr));
		if (!rc)
			rc = write_all(fk, page, sizeof(page));
		printf("fake: sent a page batch header of %u bytes\n", len);
	} else if (!strcmp(m, "unknown-frame")) {
		mig__frame_hdr_put(hdr, 200, 0, 16);
		rc = write_all(fk, hdr, sizeof(hdr));
		if (!rc)
			rc = write_all(fk, page, 16);
		printf("fake: sent a mandatory frame of type 200\n");
	} else if (!strcmp(m, "bad-page")) {
		rc = send_batch(fk, 0, low_pages + 10, 1, page, MIG_PAGE_SIZE);
		printf("fake: sent page %" PRIu64 " of a %" PRIu64
		       "-page region\n",
		       low_pages + 10, low_pages);
	} else if (!strcmp(m, "bad-region")) {
		rc = send_batch(fk, 7, 0, 1, page, MIG_PAGE_SIZE);
		printf("fake: sent a page of region 7\n");
	} else if (!strcmp(m, "bad-lz4")) {
		rc = send_batch(fk, 0, 1, 2, page, 100);
		printf("fake: sent an LZ4 page of 100 random bytes\n");
	}
	return rc;
}

/* The real source connects; we answer as a version 2 target would. */
static int run_target_v2(struct fake *fk)
{
	struct mig__hello_reply r;
	struct mig__frame f;
	uint8_t *buf;
	size_t len;
	int rc;

	rc = accept_one(fk);
	if (rc)
		return rc;
	rc = read_frame(fk, &f);
	if (rc != 1) {
		fprintf(stderr, "fake: no hello from the source: %s\n",
			mig_strerror(rc));
		return rc ? rc : -EPROTO;
	}
	printf("fake: the source's stream is version %u, first frame %s\n",
	       fk->rd.peer_version, mig__frame_type_name(f.type));
	free(f.body);
	rc = send_stream_hdr(fk, 2);
	memset(&r, 0, sizeof(r));
	r.accept = 1;
	r.caps = MIG__CAPS_ALL;
	r.protocol_version = 2;
	if (!rc) {
		rc = mig__hello_reply_frame(&r, &buf, &len);
		rc = send_owned(fk, rc, buf, len);
	}
	printf("fake: answered with a version 2 stream header and reply\n");
	return rc;
}

static int is_source_mode(const char *m)
{
	for (size_t i = 0; source_modes[i]; i++)
		if (!strcmp(m, source_modes[i]))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"address", required_argument, NULL, 'a'},
	    {"listen", required_argument, NULL, 'l'},
	    {"port-file", required_argument, NULL, 'p'},
	    {"certs", required_argument, NULL, 'c'},
	    {"size", required_argument, NULL, 's'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct fake fk;
	int c, rc;

	memset(&fk, 0, sizeof(fk));
	fk.timeout_ms = 20000;
	synth_config_default(&fk.cfg);
	fk.cfg.ram_size = 64ull << 20;
	if (argc < 2 || argv[1][0] == '-') {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	fk.mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
			fk.address = optarg;
			break;
		case 'l':
			fk.address = optarg;
			fk.listen = 1;
			break;
		case 'p':
			fk.port_file = optarg;
			break;
		case 'c':
			fk.certs = optarg;
			break;
		case 's':
			if (synth_size_parse(optarg, &fk.cfg.ram_size))
				return usage(stderr), 2;
			break;
		case 't':
			fk.timeout_ms = (uint32_t)atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!strcmp(fk.mode, "target-v2")
		? !fk.listen
		: !is_source_mode(fk.mode) || fk.listen)
		fk.address = NULL;
	if (!fk.address || !fk.certs) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	mig__frame_reader_init(&fk.rd, 1);
	if (fk.listen) {
		rc = run_target_v2(&fk);
	} else {
		rc = connect_to(&fk);
		if (!rc)
			rc = run_breakage(&fk);
	}
	if (fk.s && (rc == 0 || rc == -EPIPE || rc == -ECONNRESET)) {
		/* Whatever the peer says about it, to the end of the stream. */
		drain(&fk, 0);
		rc = 0;
	}
	mig__frame_reader_fini(&fk.rd);
	mig__stream_destroy(fk.s);
	printf("fake: done (%s)\n", rc ? mig_strerror(rc) : "scenario ran");
	return rc ? 1 : 0;
}
