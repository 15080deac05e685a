/* vms.c: the VMs a daemon owns, as detached vmm-lite processes (vms.h). */
#include "vms.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "vmm_client.h"

#define VM_JSON_MAX (64u << 10)
#define READY_TIMEOUT_MS 30000
#define ARGV_MAX 40

const char *migd_vm_state_name(enum migd_vm_state s)
{
	static const char *const names[] = {
		[MIGD_VM_RUNNING] = "running",
		[MIGD_VM_PAUSED] = "paused",
		[MIGD_VM_MIGRATING] = "migrating",
		[MIGD_VM_INCOMING] = "incoming",
		[MIGD_VM_UNDETERMINED] = "undetermined",
		[MIGD_VM_STOPPED] = "stopped",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

int migd_vm_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (!n || n >= MIGD_VM_NAME_MAX || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

struct migd_vm *migd_vm_new(const struct migd_vm_env *env, const char *name,
			    uint64_t memory, uint32_t cpus, struct json_object *boot)
{
	struct migd_vm *vm = calloc(1, sizeof(*vm));

	if (!vm) {
		json_object_put(boot);
		return NULL;
	}
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	vm->memory = memory;
	vm->cpus = cpus;
	vm->boot = boot;
	snprintf(vm->dir, sizeof(vm->dir), "%s/vms/%s", env->state_dir, name);
	snprintf(vm->sock, sizeof(vm->sock), "%s/vms/%s.sock", env->run_dir, name);
	snprintf(vm->serial, sizeof(vm->serial), "%s/serial.log", vm->dir);
	vm->state = MIGD_VM_STOPPED;
	return vm;
}

void migd_vm_free(struct migd_vm *vm)
{
	if (!vm)
		return;
	json_object_put(vm->boot);
	free(vm);
}

struct migd_vm migd_vm_probe(const struct migd_vm *vm)
{
	struct migd_vm p = { .pid = vm->pid, .state = vm->state };

	memcpy(p.name, vm->name, sizeof(p.name));
	memcpy(p.sock, vm->sock, sizeof(p.sock));
	memcpy(p.dir, vm->dir, sizeof(p.dir));
	return p;
}

int migd_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

int migd_vm_save(const struct migd_vm *vm)
{
	struct json_object *o = json_object_new_object();
	char path[PATH_MAX + 16], tmp[PATH_MAX + 16];
	const char *text;
	FILE *f;
	int r = 0;

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "name", json_object_new_string(vm->name));
	json_object_object_add(o, "memory", json_object_new_uint64(vm->memory));
	json_object_object_add(o, "cpus", json_object_new_int((int)vm->cpus));
	json_object_object_add(o, "pid", json_object_new_int((int)vm->pid));
	json_object_object_add(o, "migration", json_object_new_string(vm->mig_id));
	json_object_object_add(o, "migration_peer", json_object_new_string(vm->mig_peer));
	json_object_object_add(o, "migration_out", json_object_new_boolean(vm->mig_out));
	if (vm->boot)
		json_object_object_add(o, "boot", json_object_get(vm->boot));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	snprintf(path, sizeof(path), "%s/vm.json", vm->dir);
	snprintf(tmp, sizeof(tmp), "%s/vm.json.tmp", vm->dir);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s\n", text) < 0 || fflush(f) || fsync(fileno(f)))
		r = -errno;
	if (f && fclose(f) && !r)
		r = -errno;
	if (!r && rename(tmp, path))
		r = -errno;
	json_object_put(o);
	return r;
}

/* The VM's process, checked by its command line naming the VM's socket:
 * a recycled pid is not our VM. */
int migd_vm_alive(const struct migd_vm *vm)
{
	char path[64], buf[8192];
	ssize_t n;
	int fd;

	if (vm->pid <= 0 || kill(vm->pid, 0))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)vm->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[n] = '\0';
	return strstr(buf, vm->sock) != NULL;
}

/* The last line of the VMM's log: why it died. */
static void log_tail(const struct migd_vm *vm, char *out, size_t len)
{
	char path[PATH_MAX + 16], buf[4096], *last, *end;
	ssize_t n;
	off_t size;
	int fd;

	snprintf(path, sizeof(path), "%s/vmm.log", vm->dir);
	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof(buf) - 1)
		lseek(fd, size - (off_t)sizeof(buf) + 1, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	last = strrchr(buf, '\n');
	last = last ? last + 1 : buf;
	if (!strncmp(last, "vmm-lite: ", 10))
		last += 10;
	end = last + strlen(last);
	snprintf(out, len, "%.*s", (int)(end - last), last);
}

/*
 * fork, setsid, fork, exec: the VMM ends up in its own session with no
 * parent but init (or the service manager's subreaper), so neither a
 * daemon restart nor its signals reach it. Only async-signal-safe calls
 * between fork and exec; argv was built before. The middle process sends
 * the VMM's pid through one pipe; the exec's errno, if it fails, comes
 * through another that the exec closes.
 */
static int spawn_detached(char *const argv[], const char *log_path, pid_t *pid)
{
	int pid_pipe[2], exec_pipe[2], exec_errno, r = 0;
	pid_t child, got = -1;

	if (pipe2(pid_pipe, O_CLOEXEC))
		return -errno;
	if (pipe2(exec_pipe, O_CLOEXEC)) {
		r = -errno;
		goto out_pid_pipe;
	}
	child = fork();
	if (child < 0) {
		r = -errno;
		goto out_exec_pipe;
	}
	if (child == 0) {
		pid_t g;

		setsid();
		g = fork();
		if (g == 0) {
			int in = open("/dev/null", O_RDONLY);
			int out = open("/dev/null", O_WRONLY);
			int lg = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0640);
			sigset_t none;

			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			signal(SIGPIPE, SIG_DFL);
			if (in >= 0 && out >= 0 && lg >= 0 && dup2(in, 0) >= 0 &&
			    dup2(out, 1) >= 0 && dup2(lg, 2) >= 0)
				execv(argv[0], argv);
			exec_errno = errno;
			(void)!write(exec_pipe[1], &exec_errno, sizeof(exec_errno));
			_exit(127);
		}
		(void)!write(pid_pipe[1], &g, sizeof(g));
		_exit(g < 0 ? 127 : 0);
	}
	close(pid_pipe[1]);
	close(exec_pipe[1]);
	pid_pipe[1] = exec_pipe[1] = -1;
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	if (read(pid_pipe[0], &got, sizeof(got)) != (ssize_t)sizeof(got) || got <= 0) {
		r = -EAGAIN;
		goto out_exec_pipe;
	}
	/* EOF: the exec happened and closed the pipe. */
	if (read(exec_pipe[0], &exec_errno, sizeof(exec_errno)) == (ssize_t)sizeof(exec_errno)) {
		r = -exec_errno;
		goto out_exec_pipe;
	}
	*pid = got;
out_exec_pipe:
	close(exec_pipe[0]);
	if (exec_pipe[1] >= 0)
		close(exec_pipe[1]);
out_pid_pipe:
	close(pid_pipe[0]);
	if (pid_pipe[1] >= 0)
		close(pid_pipe[1]);
	return r;
}

int migd_vm_spawn(const struct migd_vm_env *env, struct migd_vm *vm,
		  const char *incoming, const char *peer, char *err, size_t err_len)
{
	char mem[32], cpus[16], serial[PATH_MAX + 32], report[PATH_MAX + 16];
	char downtime[16], bandwidth[32], log_path[PATH_MAX + 16], why[512];
	const char *argv[ARGV_MAX];
	struct json_object *answer = NULL;
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	int argc = 0, r;

	r = migd_mkdir_p(vm->dir, 0750);
	if (!r) {
		char run[PATH_MAX + 8];

		snprintf(run, sizeof(run), "%s/vms", env->run_dir);
		r = migd_mkdir_p(run, 0750);
	}
	if (r) {
		snprintf(err, err_len, "cannot create the directories of VM %s: %s", vm->name,
			 strerror(-r));
		return r;
	}
	snprintf(mem, sizeof(mem), "%" PRIu64, vm->memory);
	snprintf(cpus, sizeof(cpus), "%u", vm->cpus);
	snprintf(serial, sizeof(serial), "file:%s", vm->serial);
	snprintf(report, sizeof(report), "%s/report.json", vm->dir);
	snprintf(downtime, sizeof(downtime), "%u", env->downtime_ms);
	snprintf(bandwidth, sizeof(bandwidth), "%" PRIu64, env->bandwidth);
	snprintf(log_path, sizeof(log_path), "%s/vmm.log", vm->dir);

	argv[argc++] = env->vmm;
	argv[argc++] = "--control";
	argv[argc++] = vm->sock;
	argv[argc++] = "--serial";
	argv[argc++] = serial;
	argv[argc++] = "--report";
	argv[argc++] = report;
	argv[argc++] = "--tls-ca";
	argv[argc++] = env->tls_ca;
	argv[argc++] = "--tls-cert";
	argv[argc++] = env->tls_cert;
	argv[argc++] = "--tls-key";
	argv[argc++] = env->tls_key;
	argv[argc++] = "--downtime-ms";
	argv[argc++] = downtime;
	argv[argc++] = "--bandwidth";
	argv[argc++] = bandwidth;
	argv[argc++] = "--quiet";
	if (incoming) {
		argv[argc++] = "--incoming";
		argv[argc++] = incoming;
		argv[argc++] = "--tls-peer";
		argv[argc++] = peer;
	} else {
		const char *kernel = migd_jstr(vm->boot, "kernel"), *boot = migd_jstr(vm->boot, "boot");

		argv[argc++] = "-m";
		argv[argc++] = mem;
		argv[argc++] = "-c";
		argv[argc++] = cpus;
		if (kernel) {
			const char *initrd = migd_jstr(vm->boot, "initrd");
			const char *append = migd_jstr(vm->boot, "append");

			argv[argc++] = "--kernel";
			argv[argc++] = kernel;
			if (initrd) {
				argv[argc++] = "--initrd";
				argv[argc++] = initrd;
			}
			if (append) {
				argv[argc++] = "--append";
				argv[argc++] = append;
			}
		} else if (boot) {
			argv[argc++] = "--boot";
			argv[argc++] = boot;
		} else {
			snprintf(err, err_len, "VM %s has neither a kernel nor a boot image", vm->name);
			return -EINVAL;
		}
	}
	argv[argc] = NULL;

	unlink(vm->sock);
	r = spawn_detached((char *const *)argv, log_path, &vm->pid);
	if (r) {
		snprintf(err, err_len, "cannot start %s: %s", env->vmm, strerror(-r));
		return r;
	}
	vm->state = incoming ? MIGD_VM_INCOMING : MIGD_VM_RUNNING;
	for (int waited = 0; waited < READY_TIMEOUT_MS; waited += 100) {
		if (!migd_vm_alive(vm) && kill(vm->pid, 0)) {
			log_tail(vm, why, sizeof(why));
			snprintf(err, err_len, "the VMM of %s exited at start: %s", vm->name,
				 why[0] ? why : "no message");
			vm->state = MIGD_VM_STOPPED;
			return -ECHILD;
		}
		if (!migd_vmm_cmd(vm->sock, "status", &answer, 2000, why, sizeof(why))) {
			json_object_put(answer);
			return migd_vm_save(vm);
		}
		json_object_put(answer);
		answer = NULL;
		nanosleep(&pause, NULL);
	}
	migd_vm_kill(vm, 0);
	snprintf(err, err_len, "the VMM of %s did not answer within %d s", vm->name,
		 READY_TIMEOUT_MS / 1000);
	return -ETIMEDOUT;
}

void migd_vm_kill(struct migd_vm *vm, int grace_ms)
{
	struct json_object *answer = NULL;
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	char err[256];

	if (!migd_vm_alive(vm))
		goto out;
	if (grace_ms > 0 && !migd_vmm_cmd(vm->sock, "quit", &answer, 2000, err, sizeof(err)))
		for (int t = 0; t < grace_ms && migd_vm_alive(vm); t += 50)
			nanosleep(&pause, NULL);
	json_object_put(answer);
	if (migd_vm_alive(vm))
		kill(vm->pid, SIGKILL);
	for (int t = 0; t < 5000 && !kill(vm->pid, 0); t += 50)
		nanosleep(&pause, NULL);
out:
	vm->state = MIGD_VM_STOPPED;
}

void migd_vm_remove_files(const struct migd_vm *vm)
{
	static const char *const files[] = {
		"vm.json", "vm.json.tmp", "serial.log", "vmm.log", "report.json",
	};
	char path[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", vm->dir, files[i]);
		unlink(path);
	}
	rmdir(vm->dir);
	unlink(vm->sock);
}

void migd_vm_retire(const struct migd_vm_env *env, const struct migd_vm *vm, const char *id)
{
	char dir[PATH_MAX + 16], to[PATH_MAX + 64];

	snprintf(dir, sizeof(dir), "%s/departed", env->state_dir);
	snprintf(to, sizeof(to), "%s/%s", dir, id);
	if ((mkdir(dir, 0750) && errno != EEXIST) || rename(vm->dir, to))
		migd_vm_remove_files(vm);
	unlink(vm->sock);
}

enum migd_vm_state migd_vm_query(const struct migd_vm *vm)
{
	struct json_object *answer = NULL, *v;
	enum migd_vm_state s = MIGD_VM_STOPPED;
	const char *state;
	char err[256];

	if (!migd_vm_alive(vm))
		return MIGD_VM_STOPPED;
	if (migd_vmm_cmd(vm->sock, "status", &answer, 5000, err, sizeof(err)))
		goto out;
	state = json_object_object_get_ex(answer, "vm", &v) ? json_object_get_string(v) : "";
	if (!strcmp(state, "running"))
		s = MIGD_VM_RUNNING;
	else if (!strcmp(state, "paused"))
		s = MIGD_VM_PAUSED;
	else if (!strcmp(state, "migrating"))
		s = MIGD_VM_MIGRATING;
	else if (!strcmp(state, "incoming"))
		s = MIGD_VM_INCOMING;
	else if (!strcmp(state, "undetermined"))
		s = MIGD_VM_UNDETERMINED;
out:
	json_object_put(answer);
	return s;
}

static struct migd_vm *adopt_one(const struct migd_vm_env *env, const char *name)
{
	char path[PATH_MAX + 80], *text = NULL;
	struct json_object *o = NULL, *v;
	struct migd_vm *vm = NULL;
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/vms/%s/vm.json", env->state_dir, name);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) || st.st_size <= 0 || st.st_size > VM_JSON_MAX ||
	    !(text = calloc(1, (size_t)st.st_size + 1)) ||
	    fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		goto out;
	o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object))
		goto out;
	vm = migd_vm_new(env, name,
			 json_object_object_get_ex(o, "memory", &v) ? json_object_get_uint64(v) : 0,
			 json_object_object_get_ex(o, "cpus", &v) ? (uint32_t)json_object_get_int(v) : 0,
			 json_object_object_get_ex(o, "boot", &v) ? json_object_get(v) : NULL);
	if (!vm)
		goto out;
	vm->pid = json_object_object_get_ex(o, "pid", &v) ? json_object_get_int(v) : 0;
	if (json_object_object_get_ex(o, "migration", &v))
		snprintf(vm->mig_id, sizeof(vm->mig_id), "%s", json_object_get_string(v));
	vm->mig_out = json_object_object_get_ex(o, "migration_out", &v) && json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "migration_peer", &v))
		snprintf(vm->mig_peer, sizeof(vm->mig_peer), "%s", json_object_get_string(v));
	vm->state = migd_vm_query(vm);
out:
	json_object_put(o);
	free(text);
	fclose(f);
	return vm;
}

int migd_vms_adopt(const struct migd_vm_env *env, struct migd_vm **out)
{
	char path[PATH_MAX + 8];
	struct migd_vm *list = NULL, *vm;
	struct dirent *e;
	DIR *d;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/vms", env->state_dir);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		if (!migd_vm_name_ok(e->d_name))
			continue;
		vm = adopt_one(env, e->d_name);
		if (!vm)
			continue;
		vm->next = list;
		list = vm;
	}
	closedir(d);
	*out = list;
	return 0;
}
