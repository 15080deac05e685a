/* error.c - error strings and the library version. */
#include <string.h>

#include "internal.h"

const char *mig_strerror(int err)
{
	if (err == 0)
		return "success";
	switch (err) {
#define MIG__ERR_CASE(name, value, msg)                                       \
	case (value):                                                          \
		return msg;
		MIG_ERRNO_MAP(MIG__ERR_CASE)
#undef MIG__ERR_CASE
	default:
		break;
	}
	/* strerror() is not thread-safe for unknown values; errnos are known. */
	if (err < 0 && err > -4000)
		return strerror(-err);
	return "unknown error";
}

unsigned int mig_version(void)
{
	return MIG_VERSION_HEX;
}
