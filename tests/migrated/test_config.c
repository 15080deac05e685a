/*
 * test_config.c - migrated.conf: every key, the defaults, and one test per
 * kind of error, each checked for the file:line and key it names.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../migrated/src/config.h"

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

static char dir[] = "/tmp/test_config.XXXXXX";
static char conf[PATH_MAX];
static char err[512];

/* The required keys only: lines 1-8; tests append from line 9 on. */
static const char base[] = "[host]\n"
			   "name = hosta.test\n"
			   "[tls]\n"
			   "ca = $D/ca.pem\n"
			   "cert = $D/host.pem\n"
			   "key = $D/host.key\n"
			   "[peer]\n"
			   "migration_address = 10.0.0.1\n";

static void touch(const char *name)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("x\n", f);
	fclose(f);
}

static int group_setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(conf, sizeof(conf), "%s/m.conf", dir);
	touch("ca.pem");
	touch("host.pem");
	touch("host.key");
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* Writes `text` to the test's file, each "$D" replaced by the dir. */
static void write_conf(const char *text)
{
	FILE *f = fopen(conf, "w");
	const char *p;

	assert_non_null(f);
	for (p = text; *p; p++) {
		if (p[0] == '$' && p[1] == 'D') {
			fputs(dir, f);
			p++;
		} else {
			fputc(*p, f);
		}
	}
	assert_int_equal(fclose(f), 0);
}

static struct migd_config *load_ok(const char *text)
{
	struct migd_config *c;
	int rc;

	write_conf(text);
	rc = migd_config_load(&c, conf, err, sizeof(err));
	if (rc)
		fail_msg("unexpected error %d: %s", rc, err);
	assert_non_null(c);
	return c;
}

/* A load of the file as it is that must fail with `rc`, `want` in err. */
static void load_fails(int rc, const char *want)
{
	struct migd_config *c = (void *)1;

	assert_int_equal(migd_config_load(&c, conf, err, sizeof(err)), rc);
	assert_null(c);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

/* The same with the file holding base + extra. */
static void load_bad(const char *extra, int rc, const char *want)
{
	char text[8192];

	snprintf(text, sizeof(text), "%s%s", base, extra);
	write_conf(text);
	load_fails(rc, want);
}

/* "PATH:LINE: " + rest, as every error starts. */
static const char *at(int line, const char *rest)
{
	static char buf[PATH_MAX + 256];

	snprintf(buf, sizeof(buf), "%s:%d: %s", conf, line, rest);
	return buf;
}

/* ---------------------------------------------------------------------- */
/* Good files                                                             */

static void test_full(void **state)
{
	struct migd_config *c;

	(void)state;
	c = load_ok("; every key\n"
		    "[host]\n"
		    "name = hosta.test   ; this host\n"
		    "state_dir = /srv/migrated\n"
		    "run_dir = /run/m\n"
		    "vmm = /opt/vmm-lite\n"
		    "max_memory = 3G\n"
		    "[control]\n"
		    "socket = /run/m/ctl.sock\n"
		    "group = migrated\n"
		    "[tls]\n"
		    "ca = $D/ca.pem\n"
		    "cert = $D/host.pem\n"
		    "key = $D/host.key\n"
		    "[peer]\n"
		    "listen = [::]:7711\n"
		    "migration_address = fd00::1\n"
		    "migration_ports = 8000-8009\n"
		    "accept = hostb.test, hostc.test\n"
		    "[peers]\n"
		    "hostb.test = 10.0.0.2:7710\n"
		    "hostc.test = [fd00::3]:7712\n"
		    "[metrics]\n"
		    "listen = 0.0.0.0:9000\n"
		    "[migration]\n"
		    "downtime_ms = 150\n"
		    "bandwidth = 100M\n");
	assert_string_equal(c->path, conf);
	assert_string_equal(c->host.name, "hosta.test");
	assert_string_equal(c->host.state_dir, "/srv/migrated");
	assert_string_equal(c->host.run_dir, "/run/m");
	assert_string_equal(c->host.vmm, "/opt/vmm-lite");
	assert_true(c->host.max_memory == (uint64_t)3 << 30);
	assert_string_equal(c->control.socket, "/run/m/ctl.sock");
	assert_string_equal(c->control.group, "migrated");
	assert_true(!strncmp(c->tls.ca, dir, strlen(dir)));
	assert_string_equal(c->tls.ca + strlen(dir), "/ca.pem");
	assert_string_equal(c->tls.cert + strlen(dir), "/host.pem");
	assert_string_equal(c->tls.key + strlen(dir), "/host.key");
	assert_string_equal(c->peer.listen.host, "::");
	assert_int_equal(c->peer.listen.port, 7711);
	assert_string_equal(c->peer.migration_address, "fd00::1");
	assert_int_equal(c->peer.port_min, 8000);
	assert_int_equal(c->peer.port_max, 8009);
	assert_int_equal(c->peer.n_accept, 2);
	assert_string_equal(c->peer.accept[0], "hostb.test");
	assert_string_equal(c->peer.accept[1], "hostc.test");
	assert_int_equal(c->n_peers, 2);
	assert_string_equal(c->peers[1].name, "hostc.test");
	assert_string_equal(c->peers[1].addr.host, "fd00::3");
	assert_int_equal(c->peers[1].addr.port, 7712);
	assert_true(c->metrics.enabled);
	assert_string_equal(c->metrics.listen.host, "0.0.0.0");
	assert_int_equal(c->metrics.listen.port, 9000);
	assert_int_equal(c->migration.downtime_ms, 150);
	assert_true(c->migration.bandwidth == 100u << 20);
	migd_config_free(c);
}

static void test_defaults(void **state)
{
	struct migd_config *c;

	(void)state;
	c = load_ok(base);
	assert_string_equal(c->host.state_dir, "/var/lib/migrated");
	assert_string_equal(c->host.run_dir, "/run/migrated");
	assert_string_equal(c->host.vmm, "/usr/bin/vmm-lite");
	assert_true(c->host.max_memory == (uint64_t)16 << 30);
	assert_string_equal(c->control.socket, "/run/migrated/control.sock");
	assert_string_equal(c->control.group, "");
	assert_string_equal(c->peer.listen.host, "0.0.0.0");
	assert_int_equal(c->peer.listen.port, 7710);
	assert_int_equal(c->peer.port_min, 7720);
	assert_int_equal(c->peer.port_max, 7799);
	assert_int_equal(c->peer.n_accept, 0);
	assert_int_equal(c->n_peers, 0);
	assert_true(c->metrics.enabled);
	assert_string_equal(c->metrics.listen.host, "127.0.0.1");
	assert_int_equal(c->metrics.listen.port, 9464);
	assert_int_equal(c->migration.downtime_ms, 300);
	assert_true(c->migration.bandwidth == 0);
	migd_config_free(c);
}

/* The socket's default follows run_dir wherever run_dir is set. */
static void test_socket_follows_run_dir(void **state)
{
	char text[1024];
	struct migd_config *c;

	(void)state;
	snprintf(text, sizeof(text), "%s[host]\nrun_dir = /tmp/r\n", base);
	c = load_ok(text);
	assert_string_equal(c->control.socket, "/tmp/r/control.sock");
	migd_config_free(c);
}

static void test_values(void **state)
{
	char text[1024];
	struct migd_config *c;

	(void)state;
	snprintf(text, sizeof(text),
		 "%s"
		 "  accept =\n" /* indentation is cosmetic, "" = any */
		 "  migration_ports = 7000\n"
		 "[metrics]\nlisten = off\n"
		 "[host]\nmax_memory = 512k\n"
		 "[migration]\nbandwidth = 12345\n",
		 base);
	c = load_ok(text);
	assert_int_equal(c->peer.n_accept, 0);
	assert_int_equal(c->peer.port_min, 7000);
	assert_int_equal(c->peer.port_max, 7000);
	assert_false(c->metrics.enabled);
	assert_true(c->host.max_memory == 512u << 10);
	assert_true(c->migration.bandwidth == 12345);
	migd_config_free(c);
}

/* ---------------------------------------------------------------------- */
/* Errors                                                                 */

static void test_unknown(void **state)
{
	(void)state;
	load_bad("[hots]\nname = x\n", -EINVAL,
		 at(10, "[hots] name: unknown section [hots]"));
	load_bad("[host]\n\nnmae = x\n", -EINVAL,
		 at(11, "[host] nmae: unknown key"));
	write_conf("stray = 1\n[host]\nname = a\n");
	load_fails(-EINVAL, at(1, "stray: key outside any [section]"));
}

static void test_bad_size(void **state)
{
	(void)state;
	load_bad("[host]\nmax_memory = 16X\n", -EINVAL,
		 at(10, "[host] max_memory: \"16X\" is not a size"));
	load_bad("[host]\nmax_memory = -1\n", -EINVAL,
		 at(10, "[host] max_memory"));
	load_bad("[host]\nmax_memory = 99999999999999G\n", -EINVAL,
		 at(10, "[host] max_memory"));
	load_bad("[migration]\nbandwidth = 1 G\n", -EINVAL,
		 at(10, "[migration] bandwidth: \"1 G\""));
	load_bad("[migration]\ndowntime_ms = 0\n", -EINVAL,
		 at(10, "[migration] downtime_ms: \"0\" is not a number of "
			"milliseconds"));
	load_bad("[migration]\ndowntime_ms = 3600001\n", -EINVAL,
		 at(10, "[migration] downtime_ms"));
}

static void test_bad_ports(void **state)
{
	static const char *const bad[] = {"7799-7720", "0-10",  "70000",
					  "a-b",       "7720-", "-7720",
					  "7720-7799-7800", ""};
	char extra[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(extra, sizeof(extra), "migration_ports = %s\n",
			 bad[i]);
		load_bad(extra, -EINVAL,
			 at(9, "[peer] migration_ports: \""));
	}
}

static void test_bad_hostport(void **state)
{
	(void)state;
	load_bad("[peers]\nhostb.test = 10.0.0.2\n", -EINVAL,
		 at(10, "[peers] hostb.test: \"10.0.0.2\" is not HOST:PORT"));
	load_bad("[peers]\nhostb.test = ::1:7710\n", -EINVAL,
		 at(10, "[peers] hostb.test"));
	load_bad("[peers]\nhost/b = 10.0.0.2:1\n", -EINVAL,
		 at(10, "[peers] host/b: not a host name"));
	load_bad("listen = 1.2.3.4:0\n", -EINVAL,
		 at(9, "[peer] listen: \"1.2.3.4:0\" is not HOST:PORT"));
	load_bad("[metrics]\nlisten = yes\n", -EINVAL,
		 at(10, "[metrics] listen: \"yes\" is not HOST:PORT or off"));
	write_conf("[host]\nname = a b\n");
	load_fails(-EINVAL, at(2, "[host] name: \"a b\" is not a name"));
	write_conf("[peer]\nmigration_address = 10.0.0.1:7720\n");
	load_fails(-EINVAL, at(2, "[peer] migration_address: \"10.0.0.1:7720\" "
				  "is not a host name or an IP address"));
	load_bad("accept = hostb, host c\n", -EINVAL,
		 at(9, "[peer] accept: \"host c\" is not a name"));
	load_bad("accept = hostb,\n", -EINVAL,
		 at(9, "[peer] accept: the list ends with a comma"));
}

static void test_missing(void **state)
{
	static const char *const keys[] = {"[host] name", "[tls] ca",
					   "[tls] cert", "[tls] key",
					   "[peer] migration_address"};
	static const int lines[] = {2, 4, 5, 6, 8};
	char text[sizeof(base)], want[PATH_MAX + 128];
	const char *p;
	size_t i;
	int line;

	(void)state;
	for (i = 0; i < 5; i++) {
		/* base without line lines[i], replaced by a blank one */
		text[0] = '\0';
		for (p = base, line = 1; *p; line++) {
			size_t n = strcspn(p, "\n") + 1;

			strncat(text, line == lines[i] ? "\n" : p,
				line == lines[i] ? 1 : n);
			p += n;
		}
		write_conf(text);
		snprintf(want, sizeof(want), "%s: %s: missing; it is required",
			 conf, keys[i]);
		load_fails(-EINVAL, want);
		assert_string_equal(err, want);
	}
}

static void test_tls_unreadable(void **state)
{
	(void)state;
	write_conf("[tls]\ncert = $D/nothere.pem\n");
	load_fails(-ENOENT, at(2, "[tls] cert: cannot read "));
	assert_non_null(strstr(err, "/nothere.pem: No such file"));
	write_conf("[tls]\nkey = $D\n");
	load_fails(-EISDIR, at(2, "[tls] key: cannot read "));
	write_conf("[tls]\nca = relative/ca.pem\n");
	load_fails(-EINVAL,
		   at(2, "[tls] ca: \"relative/ca.pem\" is not an absolute"));
}

static void test_syntax_and_lines(void **state)
{
	char extra[512];
	FILE *f;

	(void)state;
	load_bad("[host]\nthis line has no equals sign\n", -EINVAL,
		 at(10, "expected \"[section]\" or \"key = value\""));
	load_bad("[host\n", -EINVAL, at(9, "expected"));
	/* The first error in file order wins, whoever found it. */
	load_bad("oops\n[host]\nmax_memory = x\n", -EINVAL, at(9, "expected"));
	load_bad("[host]\nmax_memory = x\noops\n", -EINVAL,
		 at(10, "[host] max_memory"));
	load_bad("name = b\n", -EINVAL,
		 at(9, "[peer] name: unknown key"));
	load_bad("[host]\nvmm = /a\n\nvmm = /b\n", -EINVAL,
		 at(12, "[host] vmm: set twice (first on line 10)"));
	load_bad("[peers]\nB = b:1\nb = b:2\n", -EINVAL,
		 at(11, "[peers] b: set twice (first on line 10)"));
	/* A line too long for inih, and one with a NUL, are refused whole;
	 * the lines after them keep their numbers. */
	memset(extra, 'x', 300);
	memcpy(extra, "vmm = /", 7);
	strcpy(extra + 300, "\n[host]\nvmm = rel\n");
	load_bad(extra, -EINVAL, at(9, "the line is longer than 198 "));
	write_conf("[host]\n");
	f = fopen(conf, "a");
	assert_non_null(f);
	fwrite("name = a\0b\n", 1, 11, f);
	fclose(f);
	load_fails(-EINVAL, at(2, "the line holds a NUL byte"));
}

static void test_too_many(void **state)
{
	char extra[64 * 40 + 64], text[sizeof(extra) + sizeof(base)];
	size_t n = 0;
	int i;

	(void)state;
	n += (size_t)sprintf(extra, "[peers]\n");
	for (i = 0; i < MIGD_MAX_PEERS; i++)
		n += (size_t)sprintf(extra + n, "p%d = 10.0.0.%d:7710\n", i,
				     i + 1);
	strcpy(extra + n, "p64 = 10.0.1.1:7710\n");
	load_bad(extra, -EINVAL, at(74, "[peers] p64: more than 64 peers"));
	extra[n] = '\0'; /* 64 are fine */
	snprintf(text, sizeof(text), "%s%s", base, extra);
	migd_config_free(load_ok(text));

	/* one-letter names: 65 of them fit in inih's 200-byte line */
	n = (size_t)sprintf(extra, "accept = a");
	for (i = 1; i <= MIGD_MAX_ACCEPT; i++)
		n += (size_t)sprintf(extra + n, ",%c", 'a' + i % 26);
	strcpy(extra + n, "\n");
	load_bad(extra, -EINVAL, at(9, "[peer] accept: more than 64 names"));
}

static void test_path_limits(void **state)
{
	char extra[256];

	(void)state;
	snprintf(extra, sizeof(extra), "[control]\nsocket = /%0120d\n", 0);
	load_bad(extra, -ENAMETOOLONG,
		 at(10, "[control] socket: the path is longer than 107 bytes"));
	snprintf(extra, sizeof(extra), "[host]\nrun_dir = /%0100d\n", 0);
	load_bad(extra, -ENAMETOOLONG, "[control] socket: the default");
}

static void test_no_file(void **state)
{
	struct migd_config *c = (void *)1;
	char path[PATH_MAX + 16];

	(void)state;
	snprintf(path, sizeof(path), "%s/absent.conf", dir);
	assert_int_equal(migd_config_load(&c, path, err, sizeof(err)),
			 -ENOENT);
	assert_null(c);
	assert_non_null(strstr(err, "cannot open "));
	assert_non_null(strstr(err, "absent.conf: No such file"));
	/* A directory opens but does not read. */
	assert_int_equal(migd_config_load(&c, dir, err, sizeof(err)), -EISDIR);
	/* A short buffer gets a cut message, never an overflow. */
	assert_int_equal(migd_config_load(&c, path, err, 8), -ENOENT);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(migd_config_load(&c, path, NULL, 0), -ENOENT);
}

/* ---------------------------------------------------------------------- */
/* Queries                                                                */

static void test_peers_and_accept(void **state)
{
	char text[1024];
	struct migd_config *c;
	const struct migd_peer_addr *p;

	(void)state;
	c = load_ok(base);
	assert_null(migd_config_peer(c, "hostb.test"));
	assert_true(migd_config_accepts(c, "anyone.test"));
	migd_config_free(c);

	snprintf(text, sizeof(text),
		 "%saccept = HostB.test,hostc.test\n"
		 "[peers]\nhostb.test = 10.0.0.2:7710\n"
		 "HostD.test = hostd.example:1\n",
		 base);
	c = load_ok(text);
	p = migd_config_peer(c, "HOSTB.TEST");
	assert_non_null(p);
	assert_string_equal(p->name, "hostb.test");
	assert_string_equal(p->addr.host, "10.0.0.2");
	assert_int_equal(p->addr.port, 7710);
	p = migd_config_peer(c, "hostd.test");
	assert_non_null(p);
	assert_string_equal(p->addr.host, "hostd.example");
	assert_null(migd_config_peer(c, "hoste.test"));
	assert_null(migd_config_peer(c, ""));
	assert_true(migd_config_accepts(c, "hostb.test"));
	assert_true(migd_config_accepts(c, "HOSTC.test"));
	assert_false(migd_config_accepts(c, "hostd.test"));
	assert_false(migd_config_accepts(c, ""));
	assert_false(migd_config_accepts(c, "hostb.test.evil"));
	migd_config_free(c);
	migd_config_free(NULL);
}

static void test_parse_hostport(void **state)
{
	static const char *const bad[] = {
		"", ":1", "h", "h:", "h:0", "h:65536", "h:+1", "h:1x",
		"h: 1", "a b:1", "::1:1", "[::1]", "[::1]1", "[nope]:1",
		"[]:1", "h:123456"};
	char host[16];
	uint16_t port = 7;
	size_t i;

	(void)state;
	assert_int_equal(migd_parse_hostport("h.example:65535", host,
					     sizeof(host), &port),
			 0);
	assert_string_equal(host, "h.example");
	assert_int_equal(port, 65535);
	assert_int_equal(migd_parse_hostport("[fd00::a:1]:1", host,
					     sizeof(host), &port),
			 0);
	assert_string_equal(host, "fd00::a:1");
	assert_int_equal(port, 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(host, "unchanged");
		port = 7;
		if (migd_parse_hostport(bad[i], host, sizeof(host), &port) !=
		    -EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_string_equal(host, "unchanged");
		assert_int_equal(port, 7);
	}
	/* The host must fit the caller's buffer with its '\0'. */
	assert_int_equal(migd_parse_hostport("0123456789abcdef:1", host,
					     sizeof(host), &port),
			 -EINVAL);
	assert_int_equal(migd_parse_hostport("0123456789abcde:1", host,
					     sizeof(host), &port),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_socket_follows_run_dir),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_bad_size),
		cmocka_unit_test(test_bad_ports),
		cmocka_unit_test(test_bad_hostport),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_tls_unreadable),
		cmocka_unit_test(test_syntax_and_lines),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_path_limits),
		cmocka_unit_test(test_no_file),
		cmocka_unit_test(test_peers_and_accept),
		cmocka_unit_test(test_parse_hostport),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
