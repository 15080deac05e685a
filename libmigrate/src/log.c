/* log.c - the library's only way to say anything: the caller's sink. */
#include <stdio.h>

#include "internal.h"

void mig__log(const struct mig__log *log, enum mig_log_level level,
	      const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!log || !log->fn || level > log->level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log->fn(log->opaque, level, line);
}
