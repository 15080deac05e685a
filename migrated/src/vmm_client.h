/*
 * vmm_client.h: one request to a vmm-lite control socket (JSON lines),
 * blocking, with a deadline. The daemon's migration and peer threads use
 * it; a VMM that does not answer in time is an error, never a hang.
 */
#ifndef MIGD_VMM_CLIENT_H
#define MIGD_VMM_CLIENT_H

#include <json-c/json.h>
#include <stddef.h>

/*
 * Sends `req` to the vmm-lite at `sock` and waits up to `timeout_ms` for
 * its one-line answer. Sets *answer (the caller puts it) and returns 0
 * when the VMM answered {"ok":true,...}; returns -EPROTO with the VMM's
 * own error sentence in `err` when it answered "ok":false (*answer is set
 * then too), or a negative errno (not running, timeout) with a sentence.
 */
int migd_vmm_call(const char *sock, struct json_object *req,
		  struct json_object **answer, int timeout_ms, char *err,
		  size_t err_len);

/* Shorthand for {"cmd":CMD} requests; same contract. */
int migd_vmm_cmd(const char *sock, const char *cmd, struct json_object **answer,
		 int timeout_ms, char *err, size_t err_len);

#endif
