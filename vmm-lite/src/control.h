/*
 * control.h: the control socket. A UNIX stream socket where each request
 * is one JSON object on one line and each answer one JSON object on one
 * line. This file does the transport (accept, line framing, parsing,
 * bounds); the commands themselves belong to the caller.
 */
#ifndef VMM_CONTROL_H
#define VMM_CONTROL_H

#include <json-c/json.h>
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
 * Listens on `path` (an existing socket file there is replaced; the
 * socket is made 0600: only this user may drive the VMM). Returns 0 and
 * sets *out, or a negative errno (libuv's codes are negative errnos).
 */
int vmm_control_start(struct vmm_control **out, uv_loop_t *loop,
		      const char *path, vmm_control_fn fn, void *opaque);
/* Closes the listener and every client, removes the socket file, and
 * frees `c` once libuv has closed the handles. NULL is a no-op. */
void vmm_control_stop(struct vmm_control *c);

/* Helpers for answers: {"ok":true} and {"ok":false,"error":msg}. */
struct json_object *vmm_control_ok(void);
struct json_object *vmm_control_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
