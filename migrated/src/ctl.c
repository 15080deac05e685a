/*
 * ctl.c - migratectl, the command-line client of migrated: one JSON line
 * per request on the daemon's UNIX control socket, one answer line back
 * (the protocol is in the design of issue 5). `migrate` and `status
 * --watch` poll the migration's status five times a second and draw the
 * progress line (ctl_progress.c) until it ends.
 *
 * Exit status: 0 done / success, 1 the daemon refused or the migration
 * failed or was cancelled, 2 usage error or daemon unreachable,
 * 3 migration undetermined, 130 stopped watching with Ctrl-C.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl_conn.h"
#include "ctl_progress.h"

#define DEFAULT_SOCKET  "/run/migrated/control.sock"
#define POLL_NS         200000000L  /* five status polls a second */
#define EXIT_USAGE      CTL_EXIT_USAGE
#define EXIT_INTERRUPT  130

static volatile sig_atomic_t interrupts;

static const char usage_text[] =
	"usage: migratectl [--socket PATH] [--json] COMMAND ...\n"
	"\n"
	"  vm start NAME --memory SIZE --cpus N\n"
	"           (--kernel FILE [--initrd FILE] [--append CMDLINE] | --boot IMAGE)\n"
	"  vm list\n"
	"  vm stop NAME\n"
	"  vm console NAME [--lines N]     the tail of the VM's serial log (50 lines)\n"
	"  vm type NAME TEXT...            types TEXT and a newline on its console\n"
	"  migrate NAME HOST [--downtime-ms N] [--bandwidth BYTES/S] [--detach]\n"
	"                                  follows the migration to its end unless\n"
	"                                  --detach (then prints its id); Ctrl-C\n"
	"                                  cancels it, a second Ctrl-C stops watching\n"
	"  status [ID] [--watch]           current migrations; --watch follows one\n"
	"  cancel ID\n"
	"  history                         finished migrations, newest last\n"
	"  resolve NAME target-running|target-discarded\n"
	"                                  settles an undetermined migration\n"
	"\n"
	"SIZE: a number with K, M, G or T (powers of 1024), e.g. 256M or 2G.\n"
	"--downtime-ms and --bandwidth default to the daemon's [migration] settings;\n"
	"--bandwidth 0 is unlimited.\n"
	"The socket is $MIGRATED_SOCKET, else " DEFAULT_SOCKET ".\n"
	"--json prints the daemon's answers as JSON (one object per line when\n"
	"following a migration: one per phase).\n"
	"\n"
	"Exit status: 0 success, 1 refused by the daemon or migration failed or\n"
	"cancelled, 2 usage error or daemon unreachable, 3 migration undetermined\n"
	"(see `migratectl resolve`), 130 stopped watching.\n";

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* Says what is wrong with the command line; returns the exit status. */
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("migratectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(migratectl --help lists the commands)\n", stderr);
	return EXIT_USAGE;
}

static void put_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void put_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

/* ---- command-line options --------------------------------------------- */

struct opt {
	const char *name;  /* "--memory" */
	int has_arg;
	const char *val;   /* set when given; "" for flags */
};

/*
 * Splits argv into the options of opts (and the global --json/--socket,
 * accepted anywhere) and up to maxpos positional words. Returns 0 or the
 * usage exit status after saying what is wrong.
 */
static int parse_args(struct ctl_conn *c, int argc, char **argv, struct opt *opts,
		      const char **pos, int maxpos, int *npos)
{
	int only_pos = 0;

	*npos = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *eq, *val = NULL;
		struct opt *o = NULL;
		size_t nl;

		if (only_pos || a[0] != '-' || !a[1]) {
			if (*npos >= maxpos)
				return usage_error("unexpected argument: %s", a);
			pos[(*npos)++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = 1;
			continue;
		}
		eq = strchr(a, '=');
		nl = eq ? (size_t)(eq - a) : strlen(a);
		if (!strncmp(a, "--json", nl) && nl == 6 && !eq) {
			c->json = 1;
			continue;
		}
		for (struct opt *p = opts; p && p->name; p++)
			if (strlen(p->name) == nl && !strncmp(a, p->name, nl))
				o = p;
		if (!o && !strncmp(a, "--socket", nl) && nl == 8) {
			static struct opt sock = { "--socket", 1, NULL };

			o = &sock;
		}
		if (!o)
			return usage_error("unknown option: %s", a);
		if (o->has_arg) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return usage_error("%s needs a value", o->name);
		} else if (eq) {
			return usage_error("%s takes no value", o->name);
		}
		o->val = val ? val : "";
		if (!strcmp(o->name, "--socket"))
			c->path = val;
	}
	return 0;
}

static int size_arg(const char *name, const char *s, uint64_t *out)
{
	int rc = ctl_parse_size(s, out);

	if (rc == -ERANGE)
		return usage_error("%s: too large", name);
	if (rc)
		return usage_error("%s: a size is a whole number with an "
				   "optional K, M, G or T suffix, e.g. 256M",
				   name);
	return 0;
}

static int uint_arg(const char *name, const char *s, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	int rc = ctl_parse_uint(s, min, max, out);

	if (rc)
		return usage_error("%s wants a whole number from %llu to "
				   "%llu, not \"%s\"",
				   name, (unsigned long long)min,
				   (unsigned long long)max, s);
	return 0;
}

/* migrated has its own working directory: relative paths are made absolute
 * here, where the operator meant them. */
static json_object *abs_path(const char *p)
{
	char cwd[PATH_MAX], *full;
	json_object *o;

	if (p[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return json_object_new_string(p);
	if (asprintf(&full, "%s/%s", cwd, p) < 0)
		return NULL;
	o = json_object_new_string(full);
	free(full);
	return o;
}

/* ---- following a migration -------------------------------------------- */

static void on_sigint(int sig)
{
	(void)sig;
	interrupts++;
}

static int term_cols(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || !ws.ws_col)
		return 80;
	return ws.ws_col;
}

/* The guest's memory from vm-list, for the bar; 0 when not found. */
static uint64_t vm_memory(struct ctl_conn *c, const char *name)
{
	json_object *ans, *vms, *v, *n, *mem;
	uint64_t bytes = 0;

	if (ctl_call(c, ctl_req_new("vm-list"), &ans))
		return 0;
	if (ctl_answer_ok(ans) && json_object_object_get_ex(ans, "vms", &vms) &&
	    json_object_is_type(vms, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(vms); i++) {
			v = json_object_array_get_idx(vms, i);
			if (json_object_object_get_ex(v, "name", &n) &&
			    json_object_is_type(n, json_type_string) &&
			    !strcmp(json_object_get_string(n), name) &&
			    json_object_object_get_ex(v, "memory", &mem) &&
			    json_object_is_type(mem, json_type_int) &&
			    json_object_get_int64(mem) > 0)
				bytes = (uint64_t)json_object_get_int64(mem);
		}
	}
	json_object_put(ans);
	return bytes;
}

/* The MIG object of id in a status or history answer (borrowed), or NULL. */
static json_object *find_mig(json_object *ans, const char *id)
{
	json_object *migs, *m, *v;
	json_object *found = NULL;

	if (!json_object_object_get_ex(ans, "migrations", &migs) ||
	    !json_object_is_type(migs, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(migs); i++) {
		m = json_object_array_get_idx(migs, i);
		if (json_object_object_get_ex(m, "id", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    !strcmp(json_object_get_string(v), id))
			found = m; /* history: the newest entry wins */
	}
	return found;
}

/*
 * One status snapshot of id into *ans (the caller's) and *mig (borrowed
 * from it). A migration the daemon no longer lists as current is looked up
 * in its history. Returns 0, 1 after printing the daemon's refusal, or 2.
 */
static int snapshot(struct ctl_conn *c, const char *id, json_object **ans,
		    json_object **mig)
{
	json_object *req = ctl_req_new("status"), *a;

	put_str(req, "id", id);
	if (ctl_call(c, req, &a))
		return EXIT_USAGE;
	if (ctl_answer_ok(a) && (*mig = find_mig(a, id))) {
		*ans = a;
		return 0;
	}
	if (ctl_call(c, ctl_req_new("history"), ans)) {
		json_object_put(a);
		return EXIT_USAGE;
	}
	if (ctl_answer_ok(*ans) && (*mig = find_mig(*ans, id))) {
		json_object_put(a);
		return 0;
	}
	json_object_put(*ans);
	*ans = NULL;
	if (ctl_answer_ok(a))
		fprintf(stderr, "migratectl: migrated knows no migration %s\n",
			id);
	else if (c->json)
		ctl_print_json(a);
	else
		ctl_print_error(a);
	json_object_put(a);
	return 1;
}

static void cancel_on_interrupt(struct ctl_conn *c, const char *id)
{
	json_object *req = ctl_req_new("cancel"), *ans;

	put_str(req, "id", id);
	fprintf(stderr,
		"migratectl: cancelling %s (Ctrl-C again stops watching; the "
		"migration would carry on)\n",
		id);
	if (ctl_call(c, req, &ans))
		return;
	if (!ctl_answer_ok(ans))
		ctl_print_error(ans);
	json_object_put(ans);
}

/*
 * Polls id's status until the migration ends, printing as ctl_follow says.
 * cancel_first: the first Ctrl-C cancels (migrate), else it stops watching.
 * Returns the exit status.
 */
static int follow(struct ctl_conn *c, const char *id, int cancel_first)
{
	struct sigaction sa = { .sa_handler = on_sigint }, old;
	int tty = isatty(STDOUT_FILENO), handled = 0, asked_size = 0, rc = -1;
	struct ctl_mig m = { .vm = "" };
	struct ctl_follow f;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	ctl_follow_init(&f, tty, c->json, 0);
	while (rc < 0) {
		struct timespec ts = { 0, POLL_NS };
		json_object *ans, *raw;
		int s = snapshot(c, id, &ans, &raw);

		if (s) {
			ctl_follow_break(&f, stdout);
			if (s == EXIT_USAGE)
				fprintf(stderr,
					"migratectl: lost track of %s, which "
					"may go on: migratectl status %s\n",
					id, id);
			rc = s;
			break;
		}
		if (ctl_mig_from_json(raw, &m)) {
			ctl_follow_break(&f, stdout);
			fprintf(stderr, "migratectl: migrated's status of %s "
					"has no id or phase\n", id);
			json_object_put(ans);
			rc = EXIT_USAGE;
			break;
		}
		/* Once: the VM's size when the status does not carry it. */
		if (!asked_size && !m.guest_bytes && m.vm[0]) {
			f.total = vm_memory(c, m.vm);
			asked_size = 1;
		}
		rc = ctl_follow_step(&f, stdout, &m, raw, term_cols());
		json_object_put(ans);
		if (rc >= 0)
			break;
		if (interrupts > handled && cancel_first && handled == 0) {
			ctl_follow_break(&f, stdout);
			cancel_on_interrupt(c, id);
			handled = 1;
		} else if (interrupts > handled) {
			ctl_follow_break(&f, stdout);
			fprintf(stderr,
				"migratectl: stopped watching %s; it carries on "
				"(migratectl status %s --watch)\n",
				id, id);
			rc = EXIT_INTERRUPT;
			break;
		}
		nanosleep(&ts, NULL);
	}
	sigaction(SIGINT, &old, NULL);
	/* For whoever reads only stderr: the report is on stdout. */
	if (rc == 3)
		fprintf(stderr,
			"migratectl: migration %s of %s is undetermined: "
			"migratectl resolve %s target-running|target-discarded "
			"settles it\n",
			id, m.vm, m.vm);
	return rc;
}

/* ---- the commands ----------------------------------------------------- */

static int cmd_vm_start(struct ctl_conn *c, int argc, char **argv)
{
	struct opt o[] = { { "--memory", 1, NULL }, { "--cpus", 1, NULL },
			   { "--kernel", 1, NULL }, { "--initrd", 1, NULL },
			   { "--append", 1, NULL }, { "--boot", 1, NULL },
			   { NULL, 0, NULL } };
	json_object *req, *ans, *vm, *v;
	uint64_t mem, cpus;
	const char *pos[1];
	int np, rc;

	if ((rc = parse_args(c, argc, argv, o, pos, 1, &np)))
		return rc;
	if (np != 1)
		return usage_error("vm start needs a NAME");
	if (!o[0].val || !o[1].val)
		return usage_error("vm start needs --memory and --cpus");
	if (!o[2].val == !o[5].val)
		return usage_error("vm start needs --kernel FILE or --boot "
				   "IMAGE (one of them)");
	if (o[5].val && (o[3].val || o[4].val))
		return usage_error("--initrd and --append go with --kernel");
	if ((rc = size_arg("--memory", o[0].val, &mem)) ||
	    (rc = uint_arg("--cpus", o[1].val, 1, 255, &cpus)))
		return rc;
	if (!mem)
		return usage_error("--memory cannot be 0");
	req = ctl_req_new("vm-start");
	put_str(req, "name", pos[0]);
	put_u64(req, "memory", mem);
	put_u64(req, "cpus", cpus);
	if (o[2].val)
		json_object_object_add(req, "kernel", abs_path(o[2].val));
	if (o[3].val)
		json_object_object_add(req, "initrd", abs_path(o[3].val));
	if (o[4].val)
		put_str(req, "append", o[4].val);
	if (o[5].val)
		json_object_object_add(req, "boot", abs_path(o[5].val));
	if ((rc = ctl_request(c, req, &ans)))
		return rc;
	if (!c->json) {
		char b[32];

		printf("%s started: %s, %llu vCPU%s", pos[0],
		       ctl_format_bytes(mem, b, sizeof(b)),
		       (unsigned long long)cpus, cpus > 1 ? "s" : "");
		if (json_object_object_get_ex(ans, "vm", &vm) &&
		    json_object_object_get_ex(vm, "pid", &v))
			printf(", pid %s", json_object_get_string(v));
		if (json_object_object_get_ex(ans, "vm", &vm) &&
		    json_object_object_get_ex(vm, "serial", &v) &&
		    json_object_is_type(v, json_type_string))
			printf("; serial log %s", json_object_get_string(v));
		putchar('\n');
	}
	json_object_put(ans);
	return 0;
}

/* vm list, history, status without --watch: a table or the raw answer. */
static int cmd_table(struct ctl_conn *c, json_object *req, const char *member,
		     int history, const char *empty)
{
	json_object *ans, *arr;
	int rc = ctl_request(c, req, &ans);

	if (rc || c->json)
		goto out;
	if (!json_object_object_get_ex(ans, member, &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		fprintf(stderr, "migratectl: migrated's answer has no \"%s\"\n",
			member);
		rc = EXIT_USAGE;
	} else if (!json_object_array_length(arr)) {
		puts(empty);
	} else if (!strcmp(member, "vms")) {
		rc = ctl_print_vms(stdout, arr) ? 1 : 0;
	} else {
		rc = ctl_print_migrations(stdout, arr, history) ? 1 : 0;
	}
out:
	json_object_put(ans);
	return rc;
}

/* vm stop, cancel, resolve: one request, a sentence when it worked. */
static int cmd_simple(struct ctl_conn *c, json_object *req, const char *done,
		      const char *what)
{
	json_object *ans;
	int rc = ctl_request(c, req, &ans);

	if (!rc && !c->json)
		printf(done, what);
	json_object_put(ans);
	return rc;
}

static int cmd_vm_console(struct ctl_conn *c, int argc, char **argv)
{
	struct opt o[] = { { "--lines", 1, NULL }, { NULL, 0, NULL } };
	json_object *req, *ans, *text;
	const char *pos[1], *s;
	uint64_t lines = 50;
	int np, rc;

	if ((rc = parse_args(c, argc, argv, o, pos, 1, &np)))
		return rc;
	if (np != 1)
		return usage_error("vm console needs a NAME");
	if (o[0].val && (rc = uint_arg("--lines", o[0].val, 1, 100000, &lines)))
		return rc;
	req = ctl_req_new("vm-console");
	put_str(req, "name", pos[0]);
	put_u64(req, "lines", lines);
	if ((rc = ctl_request(c, req, &ans)) || c->json)
		goto out;
	if (json_object_object_get_ex(ans, "text", &text) &&
	    json_object_is_type(text, json_type_string)) {
		s = json_object_get_string(text);
		fwrite(s, 1, (size_t)json_object_get_string_len(text), stdout);
		if (*s && s[strlen(s) - 1] != '\n')
			putchar('\n');
	}
out:
	json_object_put(ans);
	return rc;
}

static int cmd_vm_type(struct ctl_conn *c, int argc, char **argv)
{
	json_object *req, *ans;
	size_t n = 0;
	char *data;
	int rc, i = 1;

	if (argc < 2)
		return usage_error("vm type needs a NAME and TEXT");
	if (!strcmp(argv[1], "--"))
		i = 2;
	for (int k = i; k < argc; k++)
		n += strlen(argv[k]) + 1;
	data = malloc(n + 1);
	if (!data)
		return 1;
	data[0] = '\0';
	for (int k = i; k < argc; k++) {
		strcat(data, argv[k]);
		strcat(data, k + 1 < argc ? " " : "\n");
	}
	if (i == argc)
		strcpy(data, "\n");
	req = ctl_req_new("vm-type");
	put_str(req, "name", argv[0]);
	put_str(req, "data", data);
	free(data);
	rc = ctl_request(c, req, &ans);
	json_object_put(ans);
	return rc;
}

/* The "id" string of a migrate or status answer, copied into buf. */
static const char *answer_id(json_object *ans, char *buf, size_t len)
{
	json_object *id;

	if (!json_object_object_get_ex(ans, "id", &id) ||
	    !json_object_is_type(id, json_type_string))
		return NULL;
	snprintf(buf, len, "%s", json_object_get_string(id));
	return buf;
}

static int cmd_migrate(struct ctl_conn *c, int argc, char **argv)
{
	struct opt o[] = { { "--downtime-ms", 1, NULL },
			   { "--bandwidth", 1, NULL },
			   { "--detach", 0, NULL },
			   { NULL, 0, NULL } };
	char idbuf[CTL_ID_MAX];
	json_object *req, *ans;
	uint64_t dt = 0, bw = 0;
	const char *pos[2], *id;
	int np, rc;

	if ((rc = parse_args(c, argc, argv, o, pos, 2, &np)))
		return rc;
	if (np != 2)
		return usage_error("migrate needs a NAME and a HOST");
	if ((o[0].val &&
	     (rc = uint_arg("--downtime-ms", o[0].val, 1, 600000, &dt))) ||
	    (o[1].val && (rc = size_arg("--bandwidth", o[1].val, &bw))))
		return rc;
	req = ctl_req_new("migrate");
	put_str(req, "name", pos[0]);
	put_str(req, "host", pos[1]);
	/* Left out, the daemon applies its [migration] settings. */
	if (o[0].val)
		put_u64(req, "downtime_ms", dt);
	if (o[1].val)
		put_u64(req, "bandwidth", bw);
	if ((rc = ctl_request(c, req, &ans)))
		return rc;
	id = answer_id(ans, idbuf, sizeof(idbuf));
	json_object_put(ans);
	if (!id) {
		fprintf(stderr, "migratectl: migrated's answer has no "
				"migration id\n");
		return EXIT_USAGE;
	}
	if (o[2].val) {
		if (!c->json)
			printf("%s\n", id);
		return 0;
	}
	if (!c->json && !isatty(STDOUT_FILENO))
		printf("migration %s: %s -> %s\n", id, pos[0], pos[1]);
	return follow(c, id, 1);
}

/* status ID: a running migration as a table row, a finished one as its
 * report (from the history once the daemon no longer lists it). */
static int status_one(struct ctl_conn *c, const char *id)
{
	json_object *ans, *raw, *arr;
	struct ctl_mig m;
	int rc = snapshot(c, id, &ans, &raw);

	if (rc)
		return rc;
	if (c->json) {
		json_object *out = json_object_new_object();

		arr = json_object_new_array();
		json_object_array_add(arr, json_object_get(raw));
		json_object_object_add(out, "ok", json_object_new_boolean(1));
		json_object_object_add(out, "migrations", arr);
		ctl_print_json(out);
		json_object_put(out);
	} else if (!ctl_mig_from_json(raw, &m) && ctl_phase_exit(m.phase) >= 0) {
		ctl_report(stdout, &m);
	} else {
		arr = json_object_new_array();
		json_object_array_add(arr, json_object_get(raw));
		rc = ctl_print_migrations(stdout, arr, 0) ? 1 : 0;
		json_object_put(arr);
	}
	json_object_put(ans);
	return rc;
}

static int cmd_status(struct ctl_conn *c, int argc, char **argv)
{
	struct opt o[] = { { "--watch", 0, NULL }, { NULL, 0, NULL } };
	json_object *req, *ans, *migs;
	const char *pos[1], *id = NULL;
	char idbuf[CTL_ID_MAX];
	int np, rc;

	if ((rc = parse_args(c, argc, argv, o, pos, 1, &np)))
		return rc;
	if (np && o[0].val)
		return follow(c, pos[0], 0);
	if (np)
		return status_one(c, pos[0]);
	req = ctl_req_new("status");
	if (!o[0].val)
		return cmd_table(c, req, "migrations", 0,
				 "no migration is running");
	/* --watch without an id: the one migration there is. */
	if (ctl_call(c, req, &ans))
		return EXIT_USAGE;
	if (!ctl_answer_ok(ans))
		ctl_print_error(ans);
	else if (json_object_object_get_ex(ans, "migrations", &migs) &&
		 json_object_is_type(migs, json_type_array) &&
		 json_object_array_length(migs) == 1)
		id = answer_id(json_object_array_get_idx(migs, 0), idbuf,
			       sizeof(idbuf));
	else
		fprintf(stderr, "migratectl: status --watch wants an ID when "
				"not exactly one migration runs (see "
				"migratectl status)\n");
	json_object_put(ans);
	return id ? follow(c, id, 0) : 1;
}

/* Commands with only positional words: cmd-name, count, request keys. */
static int cmd_fixed(struct ctl_conn *c, int argc, char **argv, const char *cmd,
		     const char *k1, const char *k2, const char *done)
{
	int want = !!k1 + !!k2, np, rc;
	const char *pos[2];
	json_object *req;

	if ((rc = parse_args(c, argc, argv, NULL, pos, want, &np)))
		return rc;
	if (np != want)
		return usage_error("%s: wrong number of arguments", cmd);
	if (!strcmp(cmd, "resolve") && strcmp(pos[1], "target-running") &&
	    strcmp(pos[1], "target-discarded"))
		return usage_error("resolve: say target-running or "
				   "target-discarded, not %s", pos[1]);
	req = ctl_req_new(cmd);
	if (k1)
		put_str(req, k1, pos[0]);
	if (k2)
		put_str(req, k2, pos[1]);
	if (!strcmp(cmd, "vm-list"))
		return cmd_table(c, req, "vms", 0, "no VMs on this host");
	if (!strcmp(cmd, "history"))
		return cmd_table(c, req, "migrations", 1, "no migration yet");
	return cmd_simple(c, req, done, pos[0]);
}

static int dispatch(struct ctl_conn *c, int argc, char **argv)
{
	const char *w = argv[0];

	if (!strcmp(w, "vm") && argc >= 2) {
		const char *s = argv[1];

		argc -= 2;
		argv += 2;
		if (!strcmp(s, "start"))
			return cmd_vm_start(c, argc, argv);
		if (!strcmp(s, "list"))
			return cmd_fixed(c, argc, argv, "vm-list", NULL, NULL,
					 NULL);
		if (!strcmp(s, "stop"))
			return cmd_fixed(c, argc, argv, "vm-stop", "name", NULL,
					 "%s stopped\n");
		if (!strcmp(s, "console"))
			return cmd_vm_console(c, argc, argv);
		if (!strcmp(s, "type"))
			return cmd_vm_type(c, argc, argv);
		return usage_error("unknown command: vm %s", s);
	}
	argc--;
	argv++;
	if (!strcmp(w, "migrate"))
		return cmd_migrate(c, argc, argv);
	if (!strcmp(w, "status"))
		return cmd_status(c, argc, argv);
	if (!strcmp(w, "cancel"))
		return cmd_fixed(c, argc, argv, "cancel", "id", NULL,
				 "cancel of %s requested\n");
	if (!strcmp(w, "history"))
		return cmd_fixed(c, argc, argv, "history", NULL, NULL, NULL);
	if (!strcmp(w, "resolve"))
		return cmd_fixed(c, argc, argv, "resolve", "name", "how",
				 "%s resolved\n");
	return usage_error("unknown command: %s", w);
}

int main(int argc, char **argv)
{
	const char *path = getenv("MIGRATED_SOCKET");
	struct ctl_conn c;
	int i, rc;

	ctl_conn_init(&c, path && *path ? path : DEFAULT_SOCKET, 0);
	/* Global options before the command; dispatch takes them after too. */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			c.json = 1;
		} else if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			c.path = argv[++i];
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			c.path = argv[i] + 9;
		} else {
			return usage_error("unknown option: %s", argv[i]);
		}
	}
	if (i == argc || !strcmp(argv[i], "help")) {
		fputs(usage_text, i == argc ? stderr : stdout);
		return i == argc ? EXIT_USAGE : 0;
	}
	/* The first request connects: usage errors come before any. */
	rc = dispatch(&c, argc - i, argv + i);
	ctl_conn_close(&c);
	return rc;
}
