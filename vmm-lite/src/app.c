/*
 * app.c: the vmm-lite process. The main thread runs a libuv loop with the
 * control socket, signals, and a wake-up that vCPU and migration threads
 * send when the VM stops or a migration ends. A migration runs on its own
 * thread (mig_source_run / mig_target_run block), and the commands read
 * its statistics through libmigrate's thread-safe accessors.
 */
#include "app.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "console.h"
#include "control.h"
#include "linux_boot.h"
#include "loader.h"
#include "migration.h"
#include "uart.h"
#include "vm.h"

enum mig_role { ROLE_NONE, ROLE_SOURCE, ROLE_TARGET };

struct app {
	const struct vmm_app_opts *opts;
	uv_loop_t loop;
	uv_async_t wake;
	uv_signal_t sigint, sigterm;
	struct vmm_control *control;
	struct vmm_console *console;
	struct vmm_machine machine;
	int serial_fd;
	int owns_serial_fd;

	/* The migration in flight (or the last one), loop thread only,
	 * except `mig_done` which the migration thread sets. */
	enum mig_role role;
	mig_source *src;
	mig_target *tgt;
	pthread_t mig_thread;
	int mig_running;
	_Atomic int mig_done;
	int mig_result;
	int undetermined;
	char address[256];
	struct mig_params base;   /* opts' parameters with our log sink */
	struct mig_params params; /* this migration's: strings point into
				   * opts or below */
	char peer_name[256];

	int quit_requested;
	int exiting;
	int exit_code;
};

/* ---- logging ----------------------------------------------------------- */

static void log_stderr(void *opaque, enum mig_log_level level, const char *msg)
{
	const struct vmm_app_opts *o = opaque;
	static const char *names[] = { "error", "warning", "info", "debug" };

	if ((int)level > (int)o->log_level)
		return;
	fprintf(stderr, "vmm-lite: %s: %s\n",
		(unsigned)level < 4 ? names[level] : "log", msg);
}

static void say(struct app *a, enum mig_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct app *a, enum mig_log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_stderr((void *)a->opts, level, line);
}

static void on_progress(void *opaque, const struct mig_progress *p)
{
	struct app *a = opaque;
	const struct mig_stats *s = p->stats;
	const struct mig_round_stats *r;

	if (a->opts->quiet || !s)
		return;
	if (p->phase == MIG_PHASE_ITERATE && s->rounds) {
		r = &s->round[s->rounds - 1];
		say(a, MIG_LOG_INFO,
		    "migration: round %u: %.1f MiB sent, %.1f MiB dirty, %.0f MiB/s, expected downtime %.1f ms",
		    r->round, r->raw_bytes / 1048576.0, r->dirty_pages * 4096 / 1048576.0,
		    r->bandwidth / 1048576.0, r->expected_downtime_us / 1000.0);
	} else {
		say(a, MIG_LOG_INFO, "migration: %s", mig_phase_name(p->phase));
	}
}

/* ---- the migration thread ------------------------------------------------ */

static void *migration_thread(void *arg)
{
	struct app *a = arg;

	if (a->role == ROLE_SOURCE)
		a->mig_result = mig_source_run(a->src, a->address);
	else
		a->mig_result = mig_target_run(a->tgt);
	a->mig_done = 1;
	uv_async_send(&a->wake);
	return NULL;
}

static int start_migration_thread(struct app *a)
{
	int r = -pthread_create(&a->mig_thread, NULL, migration_thread, a);

	if (!r)
		a->mig_running = 1;
	return r;
}

static void stats_of(struct app *a, struct mig_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (a->src)
		mig_source_stats(a->src, st);
	else if (a->tgt)
		mig_target_stats(a->tgt, st);
}

static void write_report(struct app *a, const struct mig_stats *st)
{
	char *json = NULL;
	FILE *f;

	if (!a->opts->report_path)
		return;
	if (mig_stats_to_json(st, &json)) {
		say(a, MIG_LOG_ERROR, "report: out of memory");
		return;
	}
	f = fopen(a->opts->report_path, "w");
	if (!f || fprintf(f, "%s\n", json) < 0 || fclose(f)) {
		say(a, MIG_LOG_ERROR, "report %s: %s", a->opts->report_path, strerror(errno));
	}
	free(json);
}

static void summarize(struct app *a, const struct mig_stats *st)
{
	/* The target does not see the pause: the source measures it. */
	if (a->role == ROLE_TARGET) {
		say(a, MIG_LOG_INFO,
		    "incoming migration %s: total %.1f ms, %u rounds, %.1f MiB on the wire",
		    a->mig_result ? "failed" : "done", st->total_us / 1000.0, st->rounds,
		    st->wire_bytes / 1048576.0);
		return;
	}
	say(a, MIG_LOG_INFO,
	    "migration %s: total %.1f ms, downtime %.1f ms (expected %.1f), %u rounds, %.1f MiB on the wire",
	    a->mig_result ? "failed" : "done", st->total_us / 1000.0,
	    st->downtime_us / 1000.0, st->expected_downtime_us / 1000.0, st->rounds,
	    st->wire_bytes / 1048576.0);
}

static void begin_exit(struct app *a, int code);

/* The migration thread ended: settle what it means for this process. */
static void migration_ended(struct app *a)
{
	struct mig_stats st;

	pthread_join(a->mig_thread, NULL);
	a->mig_running = 0;
	stats_of(a, &st);
	write_report(a, &st);
	summarize(a, &st);
	if (a->role == ROLE_TARGET) {
		if (a->mig_result) {
			say(a, MIG_LOG_ERROR, "incoming migration failed: %s",
			    st.error_text[0] ? st.error_text : mig_strerror(a->mig_result));
			begin_exit(a, VMM_EXIT_INCOMING_FAILED);
			return;
		}
		say(a, MIG_LOG_INFO, "the guest arrived and runs here");
		return;
	}
	if (!a->mig_result) {
		say(a, MIG_LOG_INFO, "the guest migrated to %s; exiting", a->address);
		begin_exit(a, 0);
		return;
	}
	if (a->mig_result == MIG_EUNDETERMINED) {
		a->undetermined = 1;
		say(a, MIG_LOG_ERROR,
		    "migration undetermined: the target may run the guest; it stays paused here. "
		    "Find out, then send {\"cmd\":\"resolve\",\"how\":\"target-running\"|\"target-discarded\"}");
		return;
	}
	say(a, MIG_LOG_ERROR, "migration to %s failed: %s; the guest keeps running here",
	    a->address, st.error_text[0] ? st.error_text : mig_strerror(a->mig_result));
}

/* ---- lifecycle -------------------------------------------------------------- */

static void on_vm_stop(void *opaque)
{
	struct app *a = opaque;

	uv_async_send(&a->wake);
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Ends the loop once no migration thread runs any more. */
static void begin_exit(struct app *a, int code)
{
	if (!a->exiting) {
		a->exiting = 1;
		a->exit_code = code;
	}
	if (a->mig_running) {
		if (a->src)
			mig_source_cancel(a->src);
		if (a->tgt)
			mig_target_cancel(a->tgt);
		return; /* migration_ended() comes back here */
	}
	if (a->machine.vm)
		vmm_vm_stop(a->machine.vm, VMM_STOP_REQUESTED, code, "the VMM is exiting");
	vmm_control_stop(a->control);
	a->control = NULL;
	vmm_console_stop(a->console);
	a->console = NULL;
	close_handle((uv_handle_t *)&a->wake);
	close_handle((uv_handle_t *)&a->sigint);
	close_handle((uv_handle_t *)&a->sigterm);
}

static void on_wake(uv_async_t *h)
{
	struct app *a = h->data;
	struct vmm_vm *vm;

	if (a->mig_running && a->mig_done)
		migration_ended(a);
	if (a->quit_requested && !a->exiting) {
		say(a, MIG_LOG_INFO, "quit requested");
		begin_exit(a, 0);
	}
	vm = a->role == ROLE_TARGET && a->mig_running ? NULL : a->machine.vm;
	if (vm && !a->exiting) {
		enum vmm_stop_kind kind;
		int code;

		pthread_mutex_lock(&vm->lock);
		kind = vm->stop_kind;
		code = vm->stop_code;
		pthread_mutex_unlock(&vm->lock);
		if (kind == VMM_STOP_GUEST_EXIT) {
			say(a, MIG_LOG_INFO, "%s; exiting with %d", vm->stop_reason, code);
			begin_exit(a, code);
		} else if (kind == VMM_STOP_ERROR) {
			say(a, MIG_LOG_ERROR, "the VM stopped: %s", vm->stop_reason);
			begin_exit(a, VMM_EXIT_FAILURE);
		} else if (kind == VMM_STOP_REQUESTED && !a->machine.migrated_away) {
			begin_exit(a, code);
		}
	}
	if (a->exiting && !a->mig_running)
		begin_exit(a, a->exit_code);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct app *a = h->data;

	say(a, MIG_LOG_INFO, "signal %d: stopping", signum);
	if (a->undetermined) {
		say(a, MIG_LOG_ERROR, "an undetermined migration is pending: resolve it first");
		return;
	}
	begin_exit(a, VMM_EXIT_FAILURE);
}

/* ---- commands ------------------------------------------------------------------ */

static const char *vm_state(struct app *a)
{
	if (a->undetermined)
		return "undetermined";
	/* An incoming migration builds and may discard the VM on its own
	 * thread: nothing here looks at it until the migration ends. */
	if (a->mig_running)
		return a->role == ROLE_TARGET ? "incoming" : "migrating";
	if (a->machine.migrated_away)
		return "migrated";
	if (!a->machine.vm)
		return a->role == ROLE_TARGET ? "incoming" : "stopped";
	if (a->machine.vm->stop_kind != VMM_STOP_NONE)
		return "stopped";
	return vmm_vm_paused(a->machine.vm) ? "paused" : "running";
}

static struct json_object *cmd_status(struct app *a)
{
	struct json_object *o = vmm_control_ok(), *m = NULL;
	struct mig_stats st;
	char *json;

	json_object_object_add(o, "vm", json_object_new_string(vm_state(a)));
	if (a->role != ROLE_NONE) {
		stats_of(a, &st);
		if (!mig_stats_to_json(&st, &json)) {
			m = json_tokener_parse(json);
			free(json);
		}
		json_object_object_add(o, "role", json_object_new_string(
			a->role == ROLE_SOURCE ? "source" : "target"));
	}
	json_object_object_add(o, "migration", m);
	if (a->machine.vm && !(a->role == ROLE_TARGET && a->mig_running)) {
		json_object_object_add(o, "memory", json_object_new_uint64(a->machine.vm->ram_size));
		json_object_object_add(o, "cpus", json_object_new_int((int)a->machine.vm->vcpu_count));
	}
	return o;
}

static int get_u64(struct json_object *req, const char *key, uint64_t max, uint64_t *out)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(req, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	x = json_object_get_int64(v);
	if (x < 0 || (uint64_t)x > max)
		return -EINVAL;
	*out = (uint64_t)x;
	return 1;
}

static struct json_object *cmd_migrate(struct app *a, struct json_object *req)
{
	struct json_object *v;
	uint64_t x;
	const char *addr, *s;
	int r;

	if (a->mig_running || a->undetermined)
		return vmm_control_error("a migration is already in progress");
	if (!a->machine.vm || a->machine.vm->stop_kind != VMM_STOP_NONE)
		return vmm_control_error("no running guest to migrate");
	if (!json_object_object_get_ex(req, "address", &v) ||
	    !json_object_is_type(v, json_type_string))
		return vmm_control_error("migrate needs \"address\": tcp:HOST:PORT, unix:PATH or file:PATH");
	addr = json_object_get_string(v);
	if (strlen(addr) >= sizeof(a->address))
		return vmm_control_error("address too long");
	a->params = a->base;
	if ((r = get_u64(req, "downtime_ms", 600000, &x)) < 0 || (r > 0 && x == 0))
		return vmm_control_error("downtime_ms must be 1 to 600000");
	if (r > 0)
		a->params.downtime_limit_ms = (uint32_t)x;
	if ((r = get_u64(req, "bandwidth", UINT64_MAX >> 1, &x)) < 0)
		return vmm_control_error("bandwidth must be bytes per second, 0 for no limit");
	if (r > 0)
		a->params.bandwidth_limit = x;
	if ((r = get_u64(req, "max_rounds", 100000, &x)) < 0)
		return vmm_control_error("max_rounds must be 0 to 100000");
	if (r > 0)
		a->params.max_rounds = (uint32_t)x;
	if ((r = get_u64(req, "max_total_ms", UINT32_MAX, &x)) < 0)
		return vmm_control_error("max_total_ms must be 0 to 4294967295");
	if (r > 0)
		a->params.max_total_ms = (uint32_t)x;
	if (json_object_object_get_ex(req, "on_limit", &v)) {
		s = json_object_get_string(v);
		if (s && !strcmp(s, "switchover"))
			a->params.on_limit = MIG_ON_LIMIT_SWITCHOVER;
		else if (s && !strcmp(s, "cancel"))
			a->params.on_limit = MIG_ON_LIMIT_CANCEL;
		else
			return vmm_control_error("on_limit is \"switchover\" or \"cancel\"");
	}
	if (json_object_object_get_ex(req, "peer", &v)) {
		s = json_object_get_string(v);
		if (!s || strlen(s) >= sizeof(a->peer_name))
			return vmm_control_error("bad peer name");
		snprintf(a->peer_name, sizeof(a->peer_name), "%s", s);
		a->params.tls.peer_name = a->peer_name;
	}
	if (a->src) {
		mig_source_free(a->src);
		a->src = NULL;
	}
	r = mig_source_new(&a->src, &a->params, vmm_mig_ops(), &a->machine,
			   mig_kvm_dirty_ops(), a->machine.vm->dirty);
	if (r)
		return vmm_control_error("cannot start a migration: %s", mig_strerror(r));
	snprintf(a->address, sizeof(a->address), "%s", addr);
	a->role = ROLE_SOURCE;
	a->mig_done = 0;
	r = start_migration_thread(a);
	if (r)
		return vmm_control_error("cannot start the migration thread: %s", strerror(-r));
	say(a, MIG_LOG_INFO, "migrating to %s (downtime limit %u ms)", addr,
	    a->params.downtime_limit_ms);
	return vmm_control_ok();
}

static struct json_object *cmd_resolve(struct app *a, struct json_object *req)
{
	struct json_object *v;
	const char *how;
	int r;

	if (!a->undetermined || !a->src)
		return vmm_control_error("no undetermined migration here");
	how = json_object_object_get_ex(req, "how", &v) ? json_object_get_string(v) : NULL;
	if (how && !strcmp(how, "target-running"))
		r = mig_source_resolve(a->src, MIG_RESOLVE_TARGET_RUNNING);
	else if (how && !strcmp(how, "target-discarded"))
		r = mig_source_resolve(a->src, MIG_RESOLVE_TARGET_DISCARDED);
	else
		return vmm_control_error("how is \"target-running\" or \"target-discarded\"");
	if (r)
		return vmm_control_error("resolve: %s", mig_strerror(r));
	a->undetermined = 0;
	if (!strcmp(how, "target-running")) {
		say(a, MIG_LOG_INFO, "resolved: the guest runs on the target; exiting");
		a->quit_requested = 1;
		uv_async_send(&a->wake);
	} else {
		say(a, MIG_LOG_INFO, "resolved: the target discarded its copy; the guest runs here");
	}
	return vmm_control_ok();
}

/* The VM whose console input lands here: none while an incoming
 * migration builds it, after it left, or while it is paused (input then
 * waits rather than changing a UART whose state may be in flight). */
static struct vmm_vm *console_vm(struct app *a)
{
	struct vmm_vm *vm = a->machine.vm;

	if (!vm || (a->role == ROLE_TARGET && a->mig_running) || a->machine.migrated_away)
		return NULL;
	return vm;
}

static size_t console_sink(void *opaque, const uint8_t *buf, size_t len)
{
	struct app *a = opaque;
	struct vmm_vm *vm = console_vm(a);

	if (!vm)
		return len;  /* nobody to type to: dropped */
	if (vmm_vm_paused(vm))
		return 0;
	return vmm_uart_input(vm->uart, buf, len);
}

static void console_quit(void *opaque)
{
	struct app *a = opaque;

	if (a->undetermined) {
		say(a, MIG_LOG_ERROR, "an undetermined migration is pending: resolve it first");
		return;
	}
	say(a, MIG_LOG_INFO, "quit from the console (Ctrl-A x)");
	a->quit_requested = 1;
	uv_async_send(&a->wake);
}

static struct json_object *cmd_console(struct app *a, struct json_object *req)
{
	struct json_object *v;
	const char *data;
	size_t len;

	if (!json_object_object_get_ex(req, "data", &v) ||
	    !json_object_is_type(v, json_type_string))
		return vmm_control_error("console needs \"data\": the bytes to type");
	if (!console_vm(a) || a->machine.vm->stop_kind != VMM_STOP_NONE)
		return vmm_control_error("no guest runs here to type to");
	data = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (vmm_console_write(a->console, (const uint8_t *)data, len))
		return vmm_control_error("console input backlog full (%u bytes): the guest is not reading",
					 VMM_CONSOLE_BACKLOG);
	return vmm_control_ok();
}

static struct json_object *on_command(void *opaque, struct json_object *req)
{
	struct app *a = opaque;
	struct json_object *v;
	const char *cmd;
	int r;

	if (!json_object_object_get_ex(req, "cmd", &v) ||
	    !(cmd = json_object_get_string(v)))
		return vmm_control_error("missing \"cmd\"");
	if (!strcmp(cmd, "status"))
		return cmd_status(a);
	if (!strcmp(cmd, "migrate"))
		return cmd_migrate(a, req);
	if (!strcmp(cmd, "resolve"))
		return cmd_resolve(a, req);
	if (!strcmp(cmd, "console"))
		return cmd_console(a, req);
	if (!strcmp(cmd, "cancel")) {
		if (!a->mig_running)
			return vmm_control_error("no migration is running");
		r = a->src ? mig_source_cancel(a->src) : mig_target_cancel(a->tgt);
		if (r)
			return vmm_control_error("cannot cancel: %s", mig_strerror(r));
		return vmm_control_ok();
	}
	if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume")) {
		if (a->mig_running || a->undetermined)
			return vmm_control_error("a migration owns the VM's run state now");
		if (!a->machine.vm || a->machine.vm->stop_kind != VMM_STOP_NONE)
			return vmm_control_error("no running guest");
		r = cmd[0] == 'p' ? vmm_vm_pause(a->machine.vm) : vmm_vm_resume(a->machine.vm);
		if (r)
			return vmm_control_error("%s: %s", cmd, strerror(-r));
		return vmm_control_ok();
	}
	if (!strcmp(cmd, "quit")) {
		if (a->undetermined)
			return vmm_control_error("an undetermined migration is pending: resolve it first");
		/* After this answer is on its way: the loop comes back. */
		a->quit_requested = 1;
		uv_async_send(&a->wake);
		return vmm_control_ok();
	}
	return vmm_control_error("unknown command \"%.64s\"", cmd);
}

/* ---- setup --------------------------------------------------------------------- */

static int open_serial(struct app *a, const char *spec)
{
	a->owns_serial_fd = 0;
	if (!spec || !strcmp(spec, "stdio")) {
		a->serial_fd = STDOUT_FILENO;
	} else if (!strcmp(spec, "none")) {
		a->serial_fd = -1;
	} else if (!strncmp(spec, "file:", 5) && spec[5]) {
		a->serial_fd = open(spec + 5, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (a->serial_fd < 0) {
			say(a, MIG_LOG_ERROR, "serial %s: %s", spec + 5, strerror(errno));
			return -errno;
		}
		a->owns_serial_fd = 1;
	} else {
		say(a, MIG_LOG_ERROR, "serial: use stdio, none or file:PATH");
		return -EINVAL;
	}
	return 0;
}

static int load_image(struct vmm_vm *vm, const struct vmm_app_opts *o,
		      char *err, size_t err_len)
{
	struct vmm_linux_boot lb = {
		.kernel = o->kernel, .initrd = o->initrd, .cmdline = o->cmdline,
	};

	if (o->kernel)
		return vmm_linux_load(vm, &lb, err, err_len);
	if (o->boot_image)
		return vmm_load_boot_sector(vm, o->boot_image, err, err_len);
	return vmm_load_flat(vm, o->flat_image, o->flat_addr, err, err_len);
}

static int boot_guest(struct app *a)
{
	const struct vmm_app_opts *o = a->opts;
	struct vmm_config *cfg = &a->machine.cfg;
	char err[256];
	int r;

	r = vmm_vm_new(&a->machine.vm, cfg, err, sizeof(err));
	if (r) {
		say(a, MIG_LOG_ERROR, "cannot create the VM: %s", err);
		return r;
	}
	r = load_image(a->machine.vm, o, err, sizeof(err));
	if (r) {
		say(a, MIG_LOG_ERROR, "cannot load the guest: %s", err);
		return r;
	}
	vmm_vm_on_stop(a->machine.vm, on_vm_stop, a);
	r = vmm_vm_start(a->machine.vm);
	if (!r)
		r = vmm_vm_resume(a->machine.vm);
	if (r)
		return r;
	say(a, MIG_LOG_INFO, "guest running: %llu MiB, %u vCPUs, dirty tracking by %s",
	    (unsigned long long)(cfg->ram_size >> 20), cfg->vcpus,
	    mig_kvm_dirty_mode(a->machine.vm->dirty) == MIG_KVM_DIRTY_RING ? "the dirty ring"
									    : "the dirty bitmap");
	return 0;
}

static int await_guest(struct app *a)
{
	char where[300];
	int r;

	a->machine.is_target = 1;
	a->role = ROLE_TARGET;
	r = mig_target_new(&a->tgt, &a->base, vmm_mig_ops(), &a->machine);
	if (!r)
		r = mig_target_listen(a->tgt, a->opts->incoming);
	if (r) {
		say(a, MIG_LOG_ERROR, "cannot wait for a migration on %s: %s", a->opts->incoming,
		    mig_strerror(r));
		return r;
	}
	if (!mig_target_address(a->tgt, where, sizeof(where)))
		say(a, MIG_LOG_INFO, "waiting for a migration on %s", where);
	return start_migration_thread(a);
}

int vmm_app_run(const struct vmm_app_opts *opts)
{
	struct app *a;
	int code = VMM_EXIT_FAILURE, r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return VMM_EXIT_FAILURE;
	a->opts = opts;
	a->base = opts->params;
	a->base.log = log_stderr;
	a->base.log_opaque = (void *)opts;
	if (open_serial(a, opts->serial))
		goto out_free;
	a->machine.cfg.ram_size = opts->ram_size;
	a->machine.cfg.vcpus = opts->vcpus;
	a->machine.cfg.rom_path = opts->rom_image;
	a->machine.cfg.dirty_mode = opts->dirty_mode;
	a->machine.cfg.serial_fd = a->serial_fd;
	a->machine.cfg.log = log_stderr;
	a->machine.cfg.log_opaque = (void *)opts;
	a->machine.on_progress = on_progress;
	a->machine.on_stop = on_vm_stop;
	a->machine.on_stop_opaque = a;
	a->machine.on_progress_opaque = a;

	r = uv_loop_init(&a->loop);
	if (r)
		goto out_serial;
	uv_async_init(&a->loop, &a->wake, on_wake);
	a->wake.data = a;
	uv_signal_init(&a->loop, &a->sigint);
	uv_signal_init(&a->loop, &a->sigterm);
	a->sigint.data = a->sigterm.data = a;
	uv_signal_start(&a->sigint, on_signal, SIGINT);
	uv_signal_start(&a->sigterm, on_signal, SIGTERM);
	if (opts->control_path) {
		r = vmm_control_start(&a->control, &a->loop, opts->control_path, on_command, a);
		if (r) {
			say(a, MIG_LOG_ERROR, "control socket %s: %s", opts->control_path,
			    uv_strerror(r));
			begin_exit(a, VMM_EXIT_FAILURE);
			goto run;
		}
	}
	/* Standard input types to the guest only when the console is on
	 * standard output too. */
	r = vmm_console_start(&a->console, &a->loop,
			      !opts->serial || !strcmp(opts->serial, "stdio"),
			      console_sink, console_quit, a);
	if (r) {
		say(a, MIG_LOG_ERROR, "console input: %s", strerror(-r));
		begin_exit(a, VMM_EXIT_FAILURE);
		goto run;
	}
	r = opts->incoming ? await_guest(a) : boot_guest(a);
	if (r)
		begin_exit(a, VMM_EXIT_FAILURE);
run:
	uv_run(&a->loop, UV_RUN_DEFAULT);
	code = a->exit_code;
	if (uv_loop_close(&a->loop))
		say(a, MIG_LOG_DEBUG, "event loop closed with handles open");
	mig_source_free(a->src);
	mig_target_free(a->tgt);
	vmm_vm_free(a->machine.vm);
out_serial:
	if (a->owns_serial_fd)
		close(a->serial_fd);
out_free:
	free(a);
	return code;
}
