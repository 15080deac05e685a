/*
 * control.h: the control socket. A UNIX stream socket where each request
 * is one JSON object on one line and each answer one JSON object on one
 * line. This file does the transport (accept, line framing, parsing,
 * bounds); the commands themselves belong to the caller.
 */
#ifndef VMM_CONTROL_H
#define VMM_CONTROL_H

#include <json-c/json.h>
#include <sys/types.h>
#include <uv.h>

/* Longest request line accepted; a longer one closes the connection. */
#define VMM_CONTROL_LINE_MAX 4096

/*
 * Answers one request (a JSON object) with a new JSON object the control
 * code frees after sending. Runs on the loop's thread.
 */
typedef struct json_object *(*vmm_control_fn)(void *opaque,
					     struct json_object *request);

struct vmm_control;

/*
 * Decides whether the process at the other end of a new connection
 * (its credentials from SO_PEERCRED) may send commands; on refusal
 * writes why into `why`, which the client receives as its answer.
 * Returns 1 to accept, 0 to refuse.
 */
typedef int (*vmm_control_auth_fn)(void *opaque, pid_t pid, uid_t uid, gid_t gid,
				   char *why, size_t why_len);

/*
 * Listens on `path` (an existing socket file there is replaced; the
 * socket is made 0600: only this user may drive the VMM). Returns 0 and
 * sets *out, or a negative errno (libuv's codes are negative errnos).
 */
int vmm_control_start(struct vmm_control **out, uv_loop_t *loop,
		      const char *path, vmm_control_fn fn, void *opaque);
/*
 * Makes the socket mode 0660 with group `gid` (the group's members may
 * connect too; (gid_t)-1 keeps it 0600) and checks every new connection
 * with `auth` (NULL: the file mode alone decides). Call right after vmm_control_start. Returns
 * 0 or a negative errno (the socket stays 0600 then).
 */
int vmm_control_share(struct vmm_control *c, gid_t gid, vmm_control_auth_fn auth,
		      void *opaque);
/* Closes the listener and every client, removes the socket file, and
 * frees `c` once libuv has closed the handles. NULL is a no-op. */
void vmm_control_stop(struct vmm_control *c);

/* Helpers for answers: {"ok":true} and {"ok":false,"error":msg}. */
struct json_object *vmm_control_ok(void);
struct json_object *vmm_control_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
