/*
 * downtime.h - mig-downtime: the same boot-sector guest migrated live
 * under two VMMs, vmm-lite (libmigrate) and QEMU, on one machine, with
 * the pause the guest itself saw measured the same way for both.
 *
 *   main.c    options, the workload list, the run loop
 *   setup.c   work directory, certificates, guest images, ports, lo bytes
 *   proc.c    child processes: spawn with stdout piped, wait, kill
 *   serial.c  the guest's serial lines, timestamped on arrival, analysed
 *   jconn.c   JSON objects over a UNIX stream socket (QMP, vmm-lite)
 *   qemu.c    one migration between two QEMU processes over QMP
 *   lite.c    one migration between two vmm-lite processes
 *   run.c     one run, either VMM: warm-up, migrate, verify
 *   report.c  medians, the side-by-side table, the JSON file
 */
#ifndef MIG_DOWNTIME_H
#define MIG_DOWNTIME_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <json-c/json.h>

#define DT_PATH 4096
#define DT_WHY	512

/* ---- options and workloads -------------------------------------------- */

enum dt_kind {
	DT_IDLE,       /* the counter guest */
	DT_HOT,	       /* the checker, working set rewritten flat out */
	DT_RATE,       /* the checker at a bounded rate */
	DT_LINUX_IDLE, /* Linux, only the workload's heartbeat (linux.c) */
	DT_LINUX_WORK, /* Linux, vmm-workload rewriting its working set */
	DT_IMAGE       /* --image: a boot sector used as it is */
};

/* Linux guests boot a kernel; the others a boot sector. */
#define DT_IS_LINUX(k) ((k) == DT_LINUX_IDLE || (k) == DT_LINUX_WORK)

enum dt_vmm_id { DT_OURS, DT_QEMU, DT_NVMM };

struct dt_workload {
	char name[64];
	enum dt_kind kind;
	uint32_t ws_mib;     /* working set (hot, rate, Linux) */
	uint32_t rate_mib;   /* MiB/s (rate, Linux); 0: unbounded */
	uint32_t threads;    /* Linux: vmm-workload's threads */
	uint32_t period_ms;  /* the guest's line period */
	char pattern[16];    /* zero, text, random; "" for Linux */
	char image[DT_PATH]; /* the prepared image, filled by setup */
	/* Linux, filled by setup: what both VMMs boot */
	char kernel[DT_PATH];
	char initrd[DT_PATH];
	char cmdline[512];
};

struct dt_opts {
	uint64_t mem_mib;
	uint32_t cpus;
	uint32_t runs;
	uint32_t downtime_ms; /* the limit given to both VMMs */
	const char *set;      /* "default", "quick", "light", "linux";
				 NULL: one */
	struct dt_workload one;
	int vmm[DT_NVMM]; /* which VMMs run */
	const char *json;
	const char *certs;	 /* NULL: generated into the work dir */
	const char *vmm_lite;	 /* the binary */
	const char *tracker;	 /* --dirty-tracker for vmm-lite, or NULL */
	const char *qemu;	 /* the binary */
	const char *qemu_accel;	 /* kvm; tcg only to test the harness */
	int auto_converge;	 /* QEMU's auto-converge capability */
	const char *guest_dir;	 /* counter.img, dirtier.img, checker.img */
	const char *guest_tool;	 /* vmm-guest-config */
	const char *image;	 /* --image: skip the guest tool */
	const char *kernel;	 /* Linux: NULL: the newest in /boot */
	const char *initrd;	 /* Linux: the initramfs */
	uint32_t period_ms;	 /* the guest's line period; 0: per guest */
	uint32_t warmup_ms;	 /* guest running before the migration */
	uint32_t after_ms;	 /* guest running on the target after it */
	uint32_t margin_ms;	 /* pause window beyond the migration */
	uint32_t timeout_s;	 /* one migration, one wait for passes */
	const char *workdir_arg; /* --workdir: kept */
	int keep;
	int self_test_bad; /* the checker reports BAD: every run must fail */
	uint32_t linux_ws_mib, linux_rate_mib; /* linux-work in the sets */
};

/* Where a session's files are. */
struct dt_env {
	char workdir[DT_PATH / 2]; /* what is kept; any fs (9p too) */
	char localdir[64];	   /* sockets, images, logs: a local fs */
	char certs[DT_PATH];	   /* ours: ca.pem, source.pem, ... */
	char qcerts[DT_PATH];	   /* QEMU's names for the same files */
};

/* ---- proc.c ------------------------------------------------------------- */

struct dt_proc {
	pid_t pid;  /* 0: none */
	int out_fd; /* read end of the child's stdout, -1 when closed */
	int in_fd;  /* write end of its stdin, or -1 (/dev/null) */
	int exited;
	int status; /* waitpid status, once exited */
	char name[32];
};

/*
 * Starts argv[0] (PATH searched) with stdout into a pipe whose read end
 * becomes p->out_fd, stderr appended to `errlog`, and stdin /dev/null or,
 * with `stdin_pipe`, a pipe whose write end becomes p->in_fd. The child
 * is remembered so that a signal to the harness kills it. Returns 0 or
 * -errno.
 */
int dt_proc_spawn(struct dt_proc *p, const char *name, char *const argv[],
		  const char *errlog, int stdin_pipe);

/* Writes all of `text` to the child's stdin. Returns 0 or -errno. */
int dt_proc_type(struct dt_proc *p, const char *text);

/* Reaps the child if it has exited, without waiting. Returns p->exited. */
int dt_proc_poll(struct dt_proc *p);

/* Waits up to `ms` for the child to exit. Returns 0 or -ETIMEDOUT. */
int dt_proc_wait(struct dt_proc *p, uint32_t ms);

/*
 * Ends the child if it still runs (SIGTERM, SIGKILL after 3 s) and reaps
 * it. Safe on a zeroed or already finished proc. out_fd stays open: the
 * serial thread may still be reading what the child wrote last.
 */
void dt_proc_end(struct dt_proc *p);

/* Closes out_fd (after the serial thread has stopped) and in_fd. */
void dt_proc_close(struct dt_proc *p);

/* "exited with status 3", "killed by signal 9" or "still running". */
void dt_proc_describe(const struct dt_proc *p, char *buf, size_t len);

/* Kills every child still registered (for fatal signals and atexit). */
void dt_proc_kill_all(void);

/* ---- serial.c ----------------------------------------------------------- */

/*
 * The boot-sector guests' lines (vmm-lite/guests/README.md): "c COUNT
 * PASSES" every period (COUNT: periods elapsed on the guest's TSC;
 * PASSES: passes over the working set, all vCPUs), and "BAD ..." when the
 * checker finds a page it did not write. "c COUNT" alone, and a third
 * field NCPU (vCPUs that came up) are understood too. The Linux guest's
 * lines are linux.c's (heartbeats, its workload's BAD and BACKWARDS, the
 * kernel's alarms, init's marker, the answer to a typed command).
 */
enum dt_line_kind {
	DT_LINE_OTHER,
	DT_LINE_COUNTER,
	DT_LINE_BAD, /* corruption: BAD, or Linux's BACKWARDS */
	DT_LINE_HEARTBEAT,
	DT_LINE_KERNEL, /* a kernel warning, oops, panic, lockup, stall */
	DT_LINE_READY,	/* "vmm-guest: init ready" */
	DT_LINE_ANSWER	/* DT_ANSWER_TAG NUMBER: a typed command answered */
};

enum dt_side { DT_SRC, DT_TGT };

struct dt_line {
	uint64_t t_ns;	   /* CLOCK_MONOTONIC when its newline arrived */
	uint64_t value;	   /* COUNT; heartbeat: SEQ; answer: NUMBER */
	uint64_t mono_ns;  /* heartbeat: the guest's CLOCK_MONOTONIC */
	uint64_t verified; /* heartbeat: pages verified so far */
	uint32_t passes;   /* PASSES */
	uint32_t nbad;	   /* heartbeat: BAD count */
	uint32_t nback;	   /* heartbeat: BACKWARDS count */
	uint16_t ncpu;	   /* NCPU */
	uint8_t fields;	   /* numbers on the line: 1 to 3, heartbeat 6 */
	uint8_t side;	   /* enum dt_side: whose stdout delivered it */
	uint8_t kind;	   /* enum dt_line_kind */
};

/* Bounds what a misbehaving guest can make the harness store. */
#define DT_LINE_MAX  256
#define DT_LINES_MAX (1u << 20)

struct dt_serial {
	pthread_t thread;
	int running;
	int wake[2];
	int fd[2]; /* indexed by enum dt_side; -1 at EOF */
	pthread_mutex_t mu;
	struct dt_line *lines; /* under mu */
	size_t n, cap;
	uint64_t dropped;	/* lines beyond DT_LINES_MAX */
	char part[DT_LINE_MAX]; /* the line being assembled */
	size_t part_len;
	size_t part_lost;	       /* bytes beyond DT_LINE_MAX in it */
	char bad_text[DT_LINE_MAX];    /* the first BAD line */
	char kernel_text[DT_LINE_MAX]; /* the first DT_LINE_KERNEL line */
	FILE *log;		       /* every line with its time and side */
	uint64_t t_base;	       /* log times are relative to it */
};

/*
 * Starts the thread that reads both fds (the source's and the target's
 * stdout; either may be -1) and timestamps each line. The fds stay the
 * caller's. `logpath` (may be NULL) gets a copy of every line, with its
 * time in ms since `t_base`. Returns 0 or -errno.
 */
int dt_serial_start(struct dt_serial *s, int src_fd, int tgt_fd,
		    const char *logpath, uint64_t t_base);

/* Stops and joins the thread; the lines stay until dt_serial_free(). */
void dt_serial_stop(struct dt_serial *s);

void dt_serial_free(struct dt_serial *s);

/*
 * Under the lock: how many lines of `kind` came from `side` so far, and
 * a copy of the last one into *last (may be NULL; zeroed if none).
 */
size_t dt_serial_last(struct dt_serial *s, int side, int kind,
		      struct dt_line *last);

/* What the guest's own output says about one migration. */
struct dt_guest_view {
	/* Timing: from the counter lines, or Linux's heartbeats. */
	uint64_t pause_us;   /* largest gap between consecutive lines */
	uint64_t switch_us;  /* the gap from the source's last line to the
				target's first */
	int64_t pause_at_us; /* its start, from the migration command */
	uint64_t period_us;  /* median gap before the migration */
	uint64_t base_us;    /* largest gap in the same length before it */
	uint64_t speed_pct;  /* PASSES/s on the source while migrating, in %
				of the same before (0: unknown) */
	uint64_t src_last;   /* last COUNT the source printed */
	uint64_t tgt_first;  /* first COUNT the target printed */
	uint64_t skipped;    /* periods the guest's clock skipped there */
	uint64_t tgt_lines;  /* counter lines from the target */
	uint32_t src_passes; /* PASSES in the source's last line */
	uint32_t tgt_passes; /* PASSES in the target's last line */
	uint32_t ncpu;	     /* NCPU in the target's last line, if any */
	uint32_t bad;	     /* BAD lines, anywhere */
	uint32_t backwards;  /* COUNT or PASSES that went back */
	/* Linux only */
	uint32_t kernel;       /* kernel alarm lines, anywhere */
	uint32_t answered;     /* answers to a typed command, from the target */
	uint64_t src_verified; /* VERIFIED in the source's last heartbeat */
	uint64_t tgt_verified; /* and in the target's last */
	uint32_t last_bad;     /* BAD in the last heartbeat */
	uint32_t last_back;    /* BACKWARDS in the last heartbeat */
};

/*
 * Analyses the lines after dt_serial_stop(): the pause in the window
 * [t0 - margin, max(t1, first target line) + margin] and, for comparison,
 * the largest gap in a window as long just before it; the counter's
 * continuity, BAD lines, the vCPUs that ran (`cpus` expected; 0: not
 * checked). Returns 0 when the guest's output shows a correct migration,
 * else -1 with a sentence in `why`.
 */
int dt_serial_analyse(const struct dt_serial *s, uint64_t t0_ns, uint64_t t1_ns,
		      uint64_t margin_ns, uint32_t cpus,
		      struct dt_guest_view *v, char *why, size_t why_len);

/*
 * The checks both guests' verdicts share, on a filled view: every line
 * was kept, both sides printed `line`s, and the target's first follows
 * the source's last with nothing going back (`noun` names what went
 * back, `fields` which fields, for the sentence in `why`). 0 or -1.
 */
int dt_view_continuity(const struct dt_serial *s, const struct dt_guest_view *v,
		       const char *line, const char *noun, const char *fields,
		       char *why, size_t why_len);
/*
 * The figures of struct dt_guest_view that both kinds of guest share,
 * from the lines of kind `kind` (DT_LINE_COUNTER or DT_LINE_HEARTBEAT):
 * the pause in the window [t0 - margin, max(t1, the target's first such
 * line) + margin] and the largest gap in a window as long just before it
 * (the boot-sector guests' gaps are between lines of any kind, Linux's
 * between heartbeats only: kernel messages are no clock), the gap at the
 * switch, the line period, the speed, and the sequence's continuity
 * (src_last, tgt_first, tgt_lines, passes, backwards). Zeroes *v first.
 */
void dt_view_fill(const struct dt_serial *s, int kind, uint64_t t0_ns,
		  uint64_t t1_ns, uint64_t margin_ns, struct dt_guest_view *v);

/*
 * Parses one complete line (no newline) into l->kind and the numbers
 * its kind has (the rest of *l is left alone): the boot-sector guests'
 * lines here, Linux's by dt_linux_line_parse().
 */
void dt_line_parse(const char *text, size_t len, struct dt_line *l);

/* ---- linux.c ------------------------------------------------------------ */

/* What the harness types on the target's console, and the answer's tag. */
#define DT_ANSWER_TAG	  "dt-answer-"
#define DT_ANSWER_CMD	  "echo " DT_ANSWER_TAG "$((6*7))\r"
#define DT_ANSWER_VALUE	  42
#define DT_LINUX_HB_READY 5 /* heartbeats before the migration, and after */
/* linux-idle's workload only prints heartbeats: its least, 1 MiB at
 * 1 MiB/s, one thread. */
#define DT_LINUX_IDLE_MIB  1u
#define DT_LINUX_IDLE_RATE 1u

/*
 * Recognises the Linux guest's lines in `text` (NUL-terminated, at most
 * DT_LINE_MAX): "hb SEQ MONO_NS PASSES VERIFIED BAD BACKWARDS" (possibly
 * after a shell prompt), vmm-workload's "BAD page=" and "BACKWARDS",
 * the kernel's alarms, init's marker, the answer. Sets l->kind and its
 * numbers; returns 1, or 0 (l untouched) when the line is none of them.
 */
int dt_linux_line_parse(const char *text, struct dt_line *l);

/*
 * The newest "vmlinuz-*" in `dir` (version order, as sort -V) into buf.
 * Returns 0, or -ENOENT when there is none.
 */
int dt_linux_kernel(const char *dir, char *buf, size_t len);

/*
 * The kernel command line for workload `w` into buf: the console on the
 * UART, no reboot loop, `noxsave` when `nested` (the KVM test VM, whose
 * TCG does not intercept a nested guest's XSETBV), and vmm.workload for
 * vmm-workload (with --self-test when `self_test`). Returns 0 or -1
 * when it does not fit.
 */
int dt_linux_cmdline(const struct dt_workload *w, int nested, int self_test,
		     char *buf, size_t len);

/*
 * Fills w->kernel (o->kernel or the newest in /boot), w->initrd and
 * w->cmdline, checking that both files can be read. Returns 0 or -1 with
 * a sentence naming what to install or build in `why`.
 */
int dt_linux_prepare(const struct dt_opts *o, struct dt_workload *w, char *why,
		     size_t why_len);

/*
 * The Linux guest's verdict after dt_serial_stop(): dt_view_fill() on
 * its heartbeats, then: no BAD or BACKWARDS line and none counted in the
 * last heartbeat, no kernel alarm, heartbeats from both sides with the
 * target's SEQ after the source's and every sequence going forward (SEQ,
 * MONO_NS, PASSES, VERIFIED), the workload verified pages on the target,
 * and the target answered the typed command. `period_ns` turns the jump
 * of the guest's clock at the switch into periods (v->skipped). Returns
 * 0, or -1 with a sentence in `why`.
 */
int dt_linux_analyse(const struct dt_serial *s, uint64_t t0_ns, uint64_t t1_ns,
		     uint64_t margin_ns, uint64_t period_ns,
		     struct dt_guest_view *v, char *why, size_t why_len);

/* ---- jconn.c ------------------------------------------------------------ */

#define DT_JSON_MAX (1u << 20) /* one object from a peer, at most */

struct dt_jconn {
	int fd;
	json_tokener *tok;
	char buf[16384];
	size_t off, len;  /* unparsed bytes are buf[off, len) */
	size_t obj_bytes; /* fed into the object being parsed */
};

/*
 * Connects to the UNIX socket `path`, retrying for up to `ms` while the
 * server starts; gives up early if `owner` (may be NULL) has exited.
 * Returns 0 or -errno.
 */
int dt_jconn_connect(struct dt_jconn *c, const char *path, uint32_t ms,
		     struct dt_proc *owner);

/*
 * Writes `o` as one line. Does not take ownership. Returns 0, -EPIPE
 * (closed) or another -errno.
 */
int dt_jconn_send(struct dt_jconn *c, json_object *o);

/*
 * Reads the next JSON object, waiting up to `ms`. The caller owns *o.
 * Returns 0, -ETIMEDOUT, -EPIPE (closed), -EMSGSIZE or -EPROTO.
 */
int dt_jconn_recv(struct dt_jconn *c, json_object **o, uint32_t ms);

void dt_jconn_close(struct dt_jconn *c);

/* ---- setup.c ------------------------------------------------------------ */

/* Monotonic time in nanoseconds. */
uint64_t dt_now_ns(void);

void dt_sleep_ms(uint32_t ms);

/* A TCP port on 127.0.0.1 that was free a moment ago. Returns 0 or -errno. */
int dt_free_port(uint16_t *port);

/* Bytes received on the loopback interface so far (0 if unknown). */
uint64_t dt_lo_bytes(void);

/*
 * Makes the certificates (scripts/gen-test-certs.sh) into
 * env->workdir/certs unless o->certs names them, and QEMU's view of them
 * (ca-cert.pem, server-*, client-*) in env->workdir/qemu-certs; sets
 * env->certs and env->qcerts. Returns 0 or -1 with a message on stderr.
 */
int dt_certs_setup(const struct dt_opts *o, struct dt_env *env);

/*
 * Writes the image workload `w` boots to env->localdir/<name>.img
 * (through vmm-guest-config, or a copy of --image) and sets w->image;
 * the tool's output goes to env->workdir/<name>.config.log. A Linux
 * workload gets its kernel, initramfs and command line instead
 * (dt_linux_prepare). Returns 0 or -1 with a sentence in `why`.
 */
int dt_guest_prepare(const struct dt_opts *o, struct dt_workload *w,
		     const struct dt_env *env, char *why, size_t why_len);

/* Copies the file `from` to `to`. Returns 0 or -errno. */
int dt_copy_file(const char *from, const char *to);

/* Reads a JSON file of at most DT_JSON_MAX bytes. Returns it or NULL. */
json_object *dt_json_file(const char *path);

/* Removes DIR and everything under it. */
void dt_rmtree(const char *dir);

/* Parses "256", "256M", "1G" into MiB. Returns 0 or -1. */
int dt_mib_parse(const char *s, uint64_t *mib);

/* Parses a decimal u32. Returns 0 or -1. */
int dt_u32_parse(const char *s, uint32_t *v);

/* ---- run.c, qemu.c, lite.c ---------------------------------------------- */

/* One run's figures, either VMM. */
struct dt_run {
	int ok;		  /* completed and verified */
	char why[DT_WHY]; /* when not */
	/* as the VMM reports them */
	uint64_t total_us;
	uint64_t downtime_us;
	uint64_t expected_us; /* expected downtime at the switch-over */
	uint64_t setup_us;
	uint64_t wire_bytes; /* migration stream bytes the VMM counted */
	uint32_t rounds;     /* ours: rounds; QEMU: dirty-sync-count */
	int forced;	     /* ours: forced switch-over */
	/* as the harness measured them */
	uint64_t wall_us;  /* migrate command to completion seen */
	uint64_t lo_bytes; /* loopback bytes meanwhile, TLS and TCP incl. */
	struct dt_guest_view guest;
};

/* One migration in progress, either VMM. */
struct dt_mig {
	const struct dt_opts *o;
	const struct dt_workload *w;
	const char *certs;
	const char *qcerts;
	char dir[DT_PATH / 2 + 256]; /* this run's files */
	char local[128];	     /* its sockets and stamped logs, local */
	uint16_t port;
	struct dt_proc src, tgt;
	struct dt_jconn src_ctl, tgt_ctl;
	int src_ctl_open, tgt_ctl_open;
	json_object *last;    /* the VMM's last migration status (owned) */
	FILE *log;	      /* control.log: requests and replies, or NULL */
	uint64_t log_t0;      /* its times are relative to it */
	uint64_t log_poll;    /* when a poll was last logged */
	int poll_logged;      /* the poll under way is */
	uint64_t expected_us; /* the last expected downtime polled */
};

/* What the run loop needs from a VMM. Each returns 0 or -1 with `why`. */
struct dt_vmm {
	const char *name;
	/* Starts the target and the source; the source's guest runs. */
	int (*start)(struct dt_mig *m, char *why, size_t len);
	/* Starts the migration. */
	int (*migrate)(struct dt_mig *m, char *why, size_t len);
	/* *state: 0 under way, 1 completed, -1 failed (why says). */
	int (*poll)(struct dt_mig *m, int *state, char *why, size_t len);
	/* Gives up on a migration that ran out of time. */
	void (*cancel)(struct dt_mig *m);
	/* After completion: the VMM's figures into r. */
	int (*stats)(struct dt_mig *m, struct dt_run *r, char *why, size_t len);
	/* The target still runs the guest (and the source let go of it). */
	int (*check)(struct dt_mig *m, char *why, size_t len);
	/* Types `text` on the target's serial console. */
	int (*console)(struct dt_mig *m, const char *text, char *why,
		       size_t len);
	/* Ends both processes. */
	void (*stop)(struct dt_mig *m);
};

extern const struct dt_vmm dt_vmm_qemu;

/* QEMU's version from its QMP greeting ("7.2.22"), "" before one. */
const char *dt_qemu_version(void);
extern const struct dt_vmm dt_vmm_lite;

/* Paths of files in m->dir, and of sockets and logs in m->local. */
void dt_mig_path(const struct dt_mig *m, const char *name, char *buf,
		 size_t len);
void dt_mig_local(const struct dt_mig *m, const char *name, char *buf,
		  size_t len);

/*
 * Logs one request (`out`) or reply to control.log, with `who`: "src" or
 * "tgt". A poll (its request and reply) is logged once a second at most.
 */
void dt_mig_log(struct dt_mig *m, const char *who, int out, int poll,
		json_object *o);

/*
 * One run of workload `w` under `vmm`, in fresh subdirectories of the
 * work and socket directories. Never fails as a function: *r says ok or
 * why not.
 */
void dt_run_one(const struct dt_opts *o, const struct dt_vmm *vmm,
		const struct dt_workload *w, const struct dt_env *env,
		uint32_t index, struct dt_run *r);

/* ---- report.c ----------------------------------------------------------- */

struct dt_result {
	const struct dt_workload *w;
	struct dt_run *runs[DT_NVMM]; /* o->runs each */
	uint32_t nruns[DT_NVMM];      /* done */
	uint32_t nok[DT_NVMM];
	uint32_t nforced[DT_NVMM];     /* verified runs with a forced switch */
	struct dt_run median[DT_NVMM]; /* over the verified runs */
};

extern const char *const dt_vmm_label[DT_NVMM];

void dt_median(struct dt_result *r, int vmm);

/* The table: one block per workload, both VMMs and ours/QEMU. */
void dt_report_print(const struct dt_opts *o, const struct dt_result *res,
		     size_t n);

/* Everything as JSON to o->json. Returns 0 or -1. */
int dt_report_json(const struct dt_opts *o, const struct dt_result *res,
		   size_t n);

/* One run as JSON: its figures, verdict and the guest's numbers. */
json_object *dt_run_json(const struct dt_run *r);

#endif /* MIG_DOWNTIME_H */
