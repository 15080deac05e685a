/*
 * migrate.h - libmigrate, live migration of KVM guests.
 *
 * This is the library's only public header. The library knows the VMM that
 * links it through two small tables of callbacks: struct mig_vmm_ops (memory,
 * pause/resume, state, guest lifecycle) and struct mig_dirty_ops (dirty page
 * tracking). Everything else, the wire protocol, TLS, page encoding and the
 * convergence policy, lives behind the opaque handles below.
 *
 * Conventions, as in libuv: functions return 0 on success or a negative error
 * code (a negative errno for system failures, or one of the MIG_E* codes of
 * the project range below); mig_strerror() names any of them. The library
 * never prints and never exits: it logs through the callback in
 * struct mig_params.
 */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Only the functions declared here are exported from the shared library. */
#if defined(__GNUC__)
#define MIG_EXTERN __attribute__((visibility("default")))
#else
#define MIG_EXTERN
#endif

#define MIG_VERSION_MAJOR 0
#define MIG_VERSION_MINOR 1
#define MIG_VERSION_PATCH 0
#define MIG_VERSION_HEX                                                      \
	((MIG_VERSION_MAJOR << 16) | (MIG_VERSION_MINOR << 8) | MIG_VERSION_PATCH)

/* The wire protocol version this library speaks (proto/migrate.proto). */
#define MIG_PROTOCOL_VERSION 1

/* Guest pages are 4 KiB everywhere in the protocol. */
#define MIG_PAGE_SHIFT 12
#define MIG_PAGE_SIZE (1u << MIG_PAGE_SHIFT)

/*
 * Project error codes. They live below -4000 so that they never collide
 * with a negative errno. XX(name, value, message).
 */
#define MIG_ERRNO_MAP(XX)                                                    \
	XX(EPROTO_MAGIC, -4001, "not a migration stream (bad magic)")          \
	XX(EPROTO_VERSION, -4002, "unsupported protocol version")              \
	XX(EFRAME_TYPE, -4003, "invalid frame type")                           \
	XX(EFRAME_SIZE, -4004, "frame length out of bounds")                   \
	XX(EFRAME_UNKNOWN, -4005, "unknown mandatory frame")                   \
	XX(EDECODE, -4006, "malformed message")                                \
	XX(EUNEXPECTED, -4007, "message not valid in this phase")              \
	XX(ETRUNCATED, -4008, "stream ended in the middle of a migration")     \
	XX(EREFUSED, -4009, "target refused the migration")                    \
	XX(EPEER, -4010, "peer reported an error")                             \
	XX(EABORTED, -4011, "peer aborted the migration")                      \
	XX(ECANCELED, -4012, "migration cancelled")                            \
	XX(ETIMEDOUT, -4013, "timed out waiting for the peer")                 \
	XX(ETLS, -4014, "TLS failure")                                         \
	XX(ECERT, -4015, "peer certificate rejected")                          \
	XX(ENOCONVERGE, -4016, "migration did not converge within its limits") \
	XX(EUNDETERMINED, -4017,                                               \
	   "outcome undetermined: committed, but the target never confirmed")  \
	XX(ECOMMITTED, -4018, "too late: the migration is already committed")  \
	XX(ESHAPE, -4019, "guest shape does not match")                        \
	XX(EVMM, -4020, "VMM callback failed")                                 \
	XX(EBUSY, -4021, "migration already running")                          \
	XX(EADDRESS, -4022, "malformed migration address")

enum {
#define MIG__ERR_ENUM(name, value, msg) MIG_##name = (value),
	MIG_ERRNO_MAP(MIG__ERR_ENUM)
#undef MIG__ERR_ENUM
};

/*
 * Returns a static, human-readable string for any code this library
 * returns: 0, a negative errno, or a MIG_E* code. Never returns NULL.
 */
MIG_EXTERN const char *mig_strerror(int err);

/* Returns the library's version as MIG_VERSION_HEX of the built library. */
MIG_EXTERN unsigned int mig_version(void);

/* ---------------------------------------------------------------------- */
/* Logging                                                                */

enum mig_log_level {
	MIG_LOG_ERROR = 0,
	MIG_LOG_WARN = 1,
	MIG_LOG_INFO = 2,
	MIG_LOG_DEBUG = 3,
};

/*
 * Log sink. `msg` is a NUL-terminated line without a trailing newline,
 * valid only during the call. May be called from any library thread, so it
 * must be thread-safe.
 */
typedef void (*mig_log_fn)(void *opaque, enum mig_log_level level,
			   const char *msg);

/* ---------------------------------------------------------------------- */
/* The guest as the library sees it                                      */

/*
 * One guest-physical memory region. `host` is where the VMM mapped it in
 * its own address space; the VMM keeps it mapped for the whole migration.
 * Read-only regions (ROM, KVM_MEM_READONLY slots) are sent once and never
 * dirty-tracked. gpa and size are multiples of MIG_PAGE_SIZE.
 */
struct mig_region {
	uint64_t gpa;
	uint64_t size;
	void *host;
	int read_only;
};

#define MIG_MAX_REGIONS 64
#define MIG_MAX_VCPUS 1024
#define MIG_MAX_DEVICES 256
#define MIG_NAME_MAX 64

/*
 * What the source tells the target about the guest in its hello, and what
 * the target's create_guest() receives. Strings are NUL-terminated.
 * `vmm_config` is opaque to the library (the VMM's own configuration
 * encoding); it is carried as is.
 */
struct mig_guest_desc {
	uint32_t region_count;
	struct mig_region regions[MIG_MAX_REGIONS]; /* host is NULL on target */
	uint32_t vcpu_count;
	char cpu_fingerprint[128];
	uint32_t device_count;
	char devices[MIG_MAX_DEVICES][MIG_NAME_MAX];
	const void *vmm_config;
	size_t vmm_config_len;
};

/*
 * Machine state saved at freeze: opaque blobs by kind and id (a vCPU
 * number, a device index). The library owns the blobs; the VMM adds them
 * with mig_state_add() in save_state() and reads them with
 * mig_state_count()/mig_state_get() in load_state().
 */
typedef struct mig_state mig_state;

enum mig_state_kind {
	MIG_STATE_VCPU = 1,
	MIG_STATE_DEVICE = 2,
	MIG_STATE_MACHINE = 3, /* irqchip, PIT, clock: VM-wide state */
};

#define MIG_STATE_MAX_BLOBS 4096
#define MIG_STATE_MAX_BLOB_SIZE (16u << 20)

/*
 * Copies `len` bytes of `data` into the state as a blob (kind, id, name).
 * The caller keeps ownership of `data`. Returns 0, -ENOMEM, or -E2BIG when
 * the blob or the blob count is over the protocol's bounds.
 */
MIG_EXTERN int mig_state_add(mig_state *st, enum mig_state_kind kind, uint32_t id,
		  const char *name, const void *data, size_t len);

/* Returns the number of blobs in the state. */
MIG_EXTERN size_t mig_state_count(const mig_state *st);

/*
 * Looks up blob `index` (0 .. count-1). Out-parameters may be NULL.
 * Pointers stay valid until load_state() returns. Returns 0 or -ENOENT.
 */
MIG_EXTERN int mig_state_get(const mig_state *st, size_t index,
		  enum mig_state_kind *kind, uint32_t *id, const char **name,
		  const void **data, size_t *len);

/* Finds the blob of (kind, id); returns 0 or -ENOENT. */
MIG_EXTERN int mig_state_find(const mig_state *st, enum mig_state_kind kind,
		   uint32_t id, const void **data, size_t *len);

struct mig_progress;

/*
 * The VMM as the library sees it. Every callback returns 0 or a negative
 * error code; `vmm` is the opaque pointer given to mig_source_new() or
 * mig_target_new(). Callbacks run on the migration's own thread (the one
 * that called mig_source_run()/mig_target_run()), except progress, which
 * also runs there. A NULL callback means "nothing to do" where that makes
 * sense (progress, destroy_guest on the source); the others are required
 * for the role that uses them.
 *
 * Source role: describe, pause, resume, save_state, destroy_guest, progress.
 * Target role: create_guest, memory_regions, load_state, start_guest,
 *              destroy_guest, progress.
 */
struct mig_vmm_ops {
	/* Source: fill `desc` (regions with host addresses, vCPUs, ...). */
	int (*describe)(void *vmm, struct mig_guest_desc *desc);
	/*
	 * Target: the regions after create_guest(), with host addresses. The
	 * array stays owned by the VMM and valid until destroy or return.
	 */
	int (*memory_regions)(void *vmm, const struct mig_region **regions,
			      size_t *count);
	/* Source: every vCPU out of the guest and acknowledged. */
	int (*pause)(void *vmm);
	/* Source: resume after a failure before commit. */
	int (*resume)(void *vmm);
	/* Source, guest paused: add every vCPU/device blob to `st`. */
	int (*save_state)(void *vmm, mig_state *st);
	/* Target: load the complete machine state; guest stays paused. */
	int (*load_state)(void *vmm, const mig_state *st);
	/*
	 * Target: create an empty, paused guest of this shape. Its memory
	 * must read as zero (fresh anonymous memory does): pages the source
	 * reports as zero are then never touched, so they cost nothing. On
	 * refusal return a negative code and write a reason into `reason`
	 * (the source shows it to its user).
	 */
	int (*create_guest)(void *vmm, const struct mig_guest_desc *desc,
			    char *reason, size_t reason_len);
	/* Target: run the guest (after commit). */
	int (*start_guest)(void *vmm);
	/*
	 * Target: discard what was received (failure before commit).
	 * Source: the migration succeeded; the copy here may be destroyed.
	 */
	int (*destroy_guest)(void *vmm);
	/* Both: statistics after each round and at each phase change. */
	void (*progress)(void *vmm, const struct mig_progress *p);
};

/*
 * Dirty page tracking. Bitmaps are arrays of uint64_t, bit i of word w
 * meaning page (w * 64 + i) of the region, i.e. the layout of
 * KVM_GET_DIRTY_LOG on little-endian hosts.
 */
struct mig_dirty_ops {
	/* Starts tracking every writable region. */
	int (*start)(void *tracker);
	/*
	 * ORs the pages of region `region` (index into the describe() regions)
	 * written since the last call (or since start) into `bitmap`, which
	 * has room for `npages` bits, and clears them in the tracker.
	 */
	int (*fetch_and_clear)(void *tracker, uint32_t region,
			       uint64_t *bitmap, uint64_t npages);
	/* Stops tracking. */
	int (*stop)(void *tracker);
};

/*
 * The tracker that ships with the library: the VMM marks the pages it (or
 * its synthetic guest) writes. mig_dirty_mark() is safe from any number of
 * threads at once, and against a concurrent fetch_and_clear.
 */
typedef struct mig_dirty mig_dirty;

/*
 * Creates a tracker for `count` regions (their gpa and size are copied).
 * Returns 0 and sets *out, or -EINVAL / -ENOMEM.
 */
MIG_EXTERN int mig_dirty_new(mig_dirty **out, const struct mig_region *regions,
		  size_t count);
/*
 * Marks [gpa, gpa + len) dirty; addresses outside every region are ignored.
 * Call it after the write, never before: a fetch between a mark and its
 * write would send the old bytes and forget the page.
 */
MIG_EXTERN void mig_dirty_mark(mig_dirty *d, uint64_t gpa, uint64_t len);
/* The ops table that drives this tracker (pass `d` as the tracker). */
MIG_EXTERN const struct mig_dirty_ops *mig_dirty_ops(void);
/* Frees the tracker. NULL is a no-op. */
MIG_EXTERN void mig_dirty_free(mig_dirty *d);

/* ---------------------------------------------------------------------- */
/* KVM dirty tracking                                                     */
/*
 * A tracker that asks KVM which pages the guest wrote: the per-slot dirty
 * bitmap (KVM_GET_DIRTY_LOG, with manual re-protection when the kernel
 * offers it) or the per-vCPU dirty ring (KVM_CAP_DIRTY_LOG_RING), ORed with
 * the pages the VMM wrote itself (mig_kvm_dirty_mark()). Drive it with
 * mig_kvm_dirty_ops(), passing the mig_kvm_dirty as the tracker.
 *
 * A page a vCPU wrote is reported once that vCPU has left KVM_RUN at least
 * once since the write (hardware dirty buffers such as Intel PML are
 * flushed on exits): the final round, with every vCPU paused, misses none.
 */

enum mig_kvm_dirty_mode {
	MIG_KVM_DIRTY_AUTO = 0,   /* the ring if KVM offers it, else bitmap */
	MIG_KVM_DIRTY_BITMAP = 1, /* KVM_GET_DIRTY_LOG per slot */
	MIG_KVM_DIRTY_RING = 2,   /* KVM_CAP_DIRTY_LOG_RING per vCPU */
};

/*
 * One KVM memory slot, as the VMM gave it to KVM_SET_USER_MEMORY_REGION:
 * `slot` is that call's slot field (address space << 16 | slot id), `flags`
 * its flags (KVM_MEM_READONLY, KVM_MEM_LOG_DIRTY_PAGES from <linux/kvm.h>;
 * the tracker adds and removes KVM_MEM_LOG_DIRTY_PAGES itself). gpa and
 * size are multiples of MIG_PAGE_SIZE.
 */
struct mig_kvm_slot {
	uint32_t slot;
	uint32_t flags;
	uint64_t gpa;
	uint64_t size;
	void *host;
};

/* Default dirty ring size, in entries (64 KiB per vCPU). */
#define MIG_KVM_DIRTY_RING_DEFAULT 4096u
/* Bitmap mode: do not enable KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2. */
#define MIG_KVM_DIRTY_F_NO_MANUAL_PROTECT (1u << 0)
/* Bitmap mode: manual protection without KVM_DIRTY_LOG_INITIALLY_SET. */
#define MIG_KVM_DIRTY_F_NO_INITIALLY_SET (1u << 1)

/*
 * slots[i] is region i of the VMM's describe() (same order, same count);
 * read-only slots (flags & KVM_MEM_READONLY) are never tracked. The slots
 * are copied; vm_fd must stay open until mig_kvm_dirty_free().
 */
struct mig_kvm_dirty_config {
	int vm_fd;
	enum mig_kvm_dirty_mode mode;
	uint32_t ring_entries; /* power of two; 0 = MIG_KVM_DIRTY_RING_DEFAULT */
	uint32_t flags;        /* MIG_KVM_DIRTY_F_*; 0 = the best KVM offers */
	size_t slot_count;     /* 1 .. MIG_MAX_REGIONS */
	const struct mig_kvm_slot *slots;
	mig_log_fn log;        /* optional, with log_opaque */
	void *log_opaque;
};

typedef struct mig_kvm_dirty mig_kvm_dirty;

/*
 * Creates the tracker. Call it after creating the VM and its memory slots
 * and BEFORE creating any vCPU: the ring must be enabled before vCPUs
 * exist. AUTO picks the ring when KVM offers KVM_CAP_DIRTY_LOG_RING (or its
 * _ACQ_REL variant) and falls back to the bitmap if KVM refuses to enable
 * it; RING fails instead. Bitmap mode enables
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (with KVM_DIRTY_LOG_INITIALLY_SET when
 * offered) unless cfg->flags says not to. Returns 0 and *out; -EINVAL for
 * a bad config (slots overlapping, unaligned, duplicated, too many; ring
 * size not a power of two), -EOPNOTSUPP when RING is asked for and KVM has
 * no ring, -ENOMEM, or KVM's error.
 */
MIG_EXTERN int mig_kvm_dirty_new(mig_kvm_dirty **out,
		      const struct mig_kvm_dirty_config *cfg);

/* Returns the mode in use: MIG_KVM_DIRTY_BITMAP or MIG_KVM_DIRTY_RING. */
MIG_EXTERN enum mig_kvm_dirty_mode mig_kvm_dirty_mode(const mig_kvm_dirty *d);

/*
 * Call after each KVM_CREATE_VCPU, with the same index (0 ..
 * MIG_MAX_VCPUS - 1). Ring mode maps the vCPU's ring (vcpu_fd stays the
 * caller's): a vCPU left out would have its writes never reported. Bitmap
 * mode records nothing. Returns 0, -EINVAL (index out of range), -EEXIST
 * (index already added), -ENOMEM, or mmap's error.
 */
MIG_EXTERN int mig_kvm_dirty_add_vcpu(mig_kvm_dirty *d, uint32_t index,
			   int vcpu_fd);

/*
 * On the vCPU's own thread, when KVM_RUN returned KVM_EXIT_DIRTY_RING_FULL:
 * harvests that vCPU's ring and resets it, so that the vCPU can enter
 * again. Safe against a concurrent fetch_and_clear. Returns 0, -EINVAL
 * (not ring mode, unknown index), or -EIO if the ring held an entry
 * outside every tracked slot (logged; the ring is still reset).
 */
MIG_EXTERN int mig_kvm_dirty_ring_full(mig_kvm_dirty *d, uint32_t index);

/*
 * The VMM wrote guest memory itself (device DMA, a loader): marks
 * [gpa, gpa + len) dirty. Any thread, after the write (as
 * mig_dirty_mark()). Ignored outside tracked slots and while not tracking.
 */
MIG_EXTERN void mig_kvm_dirty_mark(mig_kvm_dirty *d, uint64_t gpa,
			uint64_t len);

/*
 * The ops table: start() adds KVM_MEM_LOG_DIRTY_PAGES to every writable
 * slot (and, with KVM_DIRTY_LOG_INITIALLY_SET, clears the initial all-dirty
 * log, since the first pass sends every page anyway); fetch_and_clear()
 * reports slot `region`'s pages written since the last call or start() and
 * re-protects them before returning; stop() removes the flag again. Errors
 * are negative errno (-EIO for a corrupt ring entry).
 */
MIG_EXTERN const struct mig_dirty_ops *mig_kvm_dirty_ops(void);

/* Unmaps the rings and frees the tracker; closes no fd. NULL is a no-op. */
MIG_EXTERN void mig_kvm_dirty_free(mig_kvm_dirty *d);

/* ---------------------------------------------------------------------- */
/* Parameters                                                             */

enum mig_on_limit {
	MIG_ON_LIMIT_SWITCHOVER = 0, /* pause and finish anyway */
	MIG_ON_LIMIT_CANCEL = 1,     /* give up, guest keeps running here */
};

struct mig_tls_params {
	const char *ca_file;   /* PEM CA the peer must chain to */
	const char *cert_file; /* our certificate (PEM) */
	const char *key_file;  /* our private key (PEM) */
	/*
	 * Name the peer's certificate must carry (subjectAltName DNS, or CN if
	 * it has no SAN). Required on the source; on the target, NULL accepts
	 * any client certificate that chains to the CA.
	 */
	const char *peer_name;
};

struct mig_params {
	uint32_t downtime_limit_ms;   /* default 300 */
	uint64_t bandwidth_limit;     /* bytes/s on the wire; 0 = none */
	uint32_t max_rounds;          /* iterative rounds; default 30 */
	uint32_t max_total_ms;        /* 0 = none; default 0 */
	enum mig_on_limit on_limit;   /* default MIG_ON_LIMIT_SWITCHOVER */
	uint32_t peer_timeout_ms;     /* every wait for the peer; default 30000 */
	int compress;                 /* LZ4 for pages that shrink; default 1 */
	int encode_threads;           /* page encoders; 0 = number of cores */
	struct mig_tls_params tls;
	mig_log_fn log;
	void *log_opaque;
	enum mig_log_level log_level; /* default MIG_LOG_INFO */
};

/* Fills `p` with the defaults listed above. */
MIG_EXTERN void mig_params_init(struct mig_params *p);

/* ---------------------------------------------------------------------- */
/* Statistics                                                             */

enum mig_phase {
	MIG_PHASE_NONE = 0,
	MIG_PHASE_SETUP,     /* connect, TLS, hello, target guest creation */
	MIG_PHASE_READONLY,  /* read-only regions, sent once */
	MIG_PHASE_ITERATE,   /* first pass and dirty rounds */
	MIG_PHASE_FROZEN,    /* guest paused: last pages and machine state */
	MIG_PHASE_COMMIT,    /* ready received, commit sent */
	MIG_PHASE_DONE,      /* target runs the guest */
	MIG_PHASE_FAILED,    /* failed before commit: source guest runs */
	MIG_PHASE_UNDETERMINED, /* committed, no confirmation: source paused */
};

/* Returns a short lowercase name for a phase ("iterate", "frozen", ...). */
MIG_EXTERN const char *mig_phase_name(enum mig_phase phase);

struct mig_round_stats {
	uint32_t round;          /* 0 = read-only pass, 1 = first RW pass */
	uint64_t pages;          /* pages sent this round */
	uint64_t zero_pages;     /* of which zero (no payload) */
	uint64_t lz4_pages;      /* of which LZ4-compressed */
	uint64_t raw_bytes;      /* page bytes before encoding */
	uint64_t wire_bytes;     /* bytes on the wire for this round */
	uint64_t dirty_pages;    /* pages found dirty at the end of it */
	uint64_t dirty_rate;     /* bytes/s the guest dirtied meanwhile */
	uint64_t bandwidth;      /* bytes/s measured on the wire */
	uint64_t duration_us;
	uint64_t expected_downtime_us; /* if we switched over after it */
};

#define MIG_STATS_MAX_ROUNDS 128

struct mig_stats {
	enum mig_phase phase;
	int error;                  /* final error code, 0 on success */
	uint32_t rounds;            /* entries used in round[] */
	struct mig_round_stats round[MIG_STATS_MAX_ROUNDS];
	uint64_t guest_bytes;       /* total guest memory */
	uint64_t remaining_bytes;   /* dirty bytes not yet sent (estimate) */
	uint64_t setup_us;          /* start to first page */
	uint64_t total_us;          /* start to end */
	uint64_t downtime_us;       /* freeze to the target's "running" */
	uint64_t expected_downtime_us; /* estimate at the switch-over decision */
	uint64_t state_bytes;       /* machine state size */
	uint64_t wire_bytes;        /* all bytes sent on the wire */
	uint64_t pages_sent;
	uint64_t zero_pages;
	uint64_t lz4_pages;
	uint64_t raw_pages;
	int forced_switchover;      /* a limit was hit, switched over anyway */
	char error_text[256];       /* what went wrong, for a user */
};

/* Progress report passed to mig_vmm_ops.progress. */
struct mig_progress {
	enum mig_phase phase;
	const struct mig_stats *stats; /* valid during the call only */
};

/*
 * Renders `st` as a JSON object into a newly allocated string that the
 * caller frees with free(). Returns 0 or -ENOMEM.
 */
MIG_EXTERN int mig_stats_to_json(const struct mig_stats *st, char **json);

/* ---------------------------------------------------------------------- */
/* Addresses                                                              */
/*
 * "tcp:HOST:PORT" (HOST may be [v6]), "unix:PATH" or "file:PATH". Network
 * addresses always run TLS 1.3 with mutual authentication; "file:" writes
 * or reads a stop/restart image (the guest is paused for the whole save).
 */

/* ---------------------------------------------------------------------- */
/* Source                                                                 */

typedef struct mig_source mig_source;

/*
 * Creates an outgoing migration. Copies `params` (the strings in it must
 * stay valid until mig_source_free()). `dirty`/`tracker` may be NULL only
 * for a "file:" save, which pauses the guest first. Returns 0 and *out, or
 * -EINVAL / -ENOMEM.
 */
MIG_EXTERN int mig_source_new(mig_source **out, const struct mig_params *params,
		   const struct mig_vmm_ops *ops, void *vmm,
		   const struct mig_dirty_ops *dirty, void *tracker);

/*
 * Runs the migration to `address` on the calling thread; blocks until it
 * ends. Returns 0 when the target runs the guest (the source guest was
 * destroyed through destroy_guest). Before commit, any failure resumes the
 * guest here and returns the error. After commit without confirmation it
 * returns MIG_EUNDETERMINED and leaves the guest paused: settle it with
 * mig_source_resolve(). Can run once per handle.
 *
 * For a "file:" image the guest is paused first; 0 means the image is
 * complete and durable (fdatasync), and the guest stays paused, neither
 * resumed nor destroyed: the caller decides (usually: quit, and load the
 * image elsewhere). On failure the guest resumes.
 */
MIG_EXTERN int mig_source_run(mig_source *s, const char *address);

/*
 * Asks a running migration to stop; safe from any thread, at any time.
 * Returns 0 if the request will be honoured (the guest keeps running
 * here), MIG_ECOMMITTED if the migration is already past the point of no
 * return.
 */
MIG_EXTERN int mig_source_cancel(mig_source *s);

enum mig_resolution {
	MIG_RESOLVE_TARGET_RUNNING = 1,   /* destroy the paused source copy */
	MIG_RESOLVE_TARGET_DISCARDED = 2, /* resume the guest here */
};

/*
 * Settles an undetermined migration once the operator or the daemons know
 * what the target did. Returns 0, or -EINVAL if the migration is not
 * undetermined, or the VMM callback's error.
 */
MIG_EXTERN int mig_source_resolve(mig_source *s, enum mig_resolution how);

/* Copies a consistent snapshot of the statistics; any thread. */
MIG_EXTERN void mig_source_stats(mig_source *s, struct mig_stats *out);

/* Frees the handle. It must not be running. NULL is a no-op. */
MIG_EXTERN void mig_source_free(mig_source *s);

/* ---------------------------------------------------------------------- */
/* Target                                                                 */

typedef struct mig_target mig_target;

/* Creates an incoming migration; as mig_source_new() without a tracker. */
MIG_EXTERN int mig_target_new(mig_target **out, const struct mig_params *params,
		   const struct mig_vmm_ops *ops, void *vmm);

/*
 * Binds and listens on `address` ("tcp:HOST:PORT", port 0 picks one;
 * "unix:PATH"), or opens a "file:" image for reading. Returns 0 or an
 * error. After it, mig_target_address() tells the bound address.
 */
MIG_EXTERN int mig_target_listen(mig_target *t, const char *address);

/* Writes the bound address ("tcp:127.0.0.1:40123") into buf. */
MIG_EXTERN int mig_target_address(mig_target *t, char *buf, size_t len);

/*
 * Accepts one source and runs the incoming migration on the calling
 * thread; blocks until the guest runs here (0) or the migration failed
 * (the guest was discarded through destroy_guest, error returned). The
 * wait for the source to connect has no timeout (mig_target_cancel()
 * ends it); from the connection on, every wait has peer_timeout_ms.
 */
MIG_EXTERN int mig_target_run(mig_target *t);

/* Stops a running target from any thread (before commit only). */
MIG_EXTERN int mig_target_cancel(mig_target *t);

/* Copies a snapshot of the statistics; any thread. */
MIG_EXTERN void mig_target_stats(mig_target *t, struct mig_stats *out);

/* Frees the handle. NULL is a no-op. */
MIG_EXTERN void mig_target_free(mig_target *t);

#ifdef __cplusplus
}
#endif

#endif /* MIGRATE_H */
