/*
 * ctl_conn.h - migratectl's connection to migrated's control socket: one
 * JSON request per line, one answer line back, with the errors a person
 * can act on (daemon not running, socket permissions, no answer).
 */
#ifndef MIGD_CTL_CONN_H
#define MIGD_CTL_CONN_H

#include <stddef.h>

#include <json-c/json.h>

#define CTL_ANSWER_MAX     (16u << 20) /* console tails can be long */
#define CTL_ANSWER_TIMEOUT 60000       /* ms; vm-start waits for a VMM */
#define CTL_EXIT_USAGE     2

struct ctl_conn {
	const char *path;  /* the socket; borrowed */
	int json;          /* --json: answers are printed as they are */
	int fd;            /* -1 until the first request connects */
	char *buf;         /* received bytes not yet consumed */
	size_t len, cap;
};

/* Sets up c for path (borrowed); connects on the first request. */
void ctl_conn_init(struct ctl_conn *c, const char *path, int json);

/* Closes the socket and frees the buffer. */
void ctl_conn_close(struct ctl_conn *c);

/*
 * Sends req (the caller's reference is taken) and waits for its answer.
 * Returns 0 with *ans (a new reference) whatever its "ok" says, or a
 * negative errno after printing to stderr why migrated could not be asked
 * (not running, permission denied, closed, timed out, garbage).
 */
int ctl_call(struct ctl_conn *c, json_object *req, json_object **ans);

/*
 * ctl_call for the usual command: prints the daemon's refusal (or, with
 * --json, every answer). Returns 0 with *ans when "ok" is true, else the
 * exit status (1 refused, 2 unreachable) with *ans NULL.
 */
int ctl_request(struct ctl_conn *c, json_object *req, json_object **ans);

/* Returns 1 when ans says "ok":true. */
int ctl_answer_ok(json_object *ans);

/* Prints the daemon's error sentence of ans to stderr, as it is. */
void ctl_print_error(json_object *ans);

/* Prints o as one line of plain JSON on stdout. */
void ctl_print_json(json_object *o);

/* Returns a new request object {"cmd":cmd} (the caller's reference). */
json_object *ctl_req_new(const char *cmd);

#endif
