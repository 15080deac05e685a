/*
 * json.h: reading the daemon's JSON requests and answers (json-c).
 */
#ifndef MIGD_JSON_H
#define MIGD_JSON_H

#include <json-c/json.h>

/* The string member `key` of `o`, or NULL if absent or not a string. The
 * pointer lives as long as `o`. */
static inline const char *migd_jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v) : NULL;
}

#endif
