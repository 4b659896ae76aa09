/* cli_common.c — message printing of the runtime's commands. */
#include "cli_common.h"

#include <stdarg.h>
#include <stdio.h>

void cli_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("smolc: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
