/* xalloc.h — allocation that aborts with a message on out-of-memory.
 * The bottom of common/: util.h and error.h both use it. */
#ifndef SMOLC_XALLOC_H
#define SMOLC_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);
/* "smolc: out of memory" and abort(): for allocators of other libraries
 * (jansson) whose NULL means the same. */
_Noreturn void xalloc_oom(void);

#endif
