/* error.c — error records (error.h): every error message below the
 * diagnostics queue is built here. */
#include "error.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct error *error_new(char *msg)
{
	struct error *e = xcalloc(1, sizeof(*e));
	e->msg = msg;
	return e;
}

int error_vset(struct error **err, const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	error_free(*err);
	*err = error_new(xvasprintf(fmt, ap));
	return -1;
}

int error_set(struct error **err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, fmt, ap);
	va_end(ap);
	return -1;
}

int error_at(struct error **err, struct loc at, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, fmt, ap);
	va_end(ap);
	(*err)->loc = at;
	return -1;
}

void error_hint(struct error **err, const char *fmt, ...)
{
	if (!err || !*err)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *h = xvasprintf(fmt, ap);
	va_end(ap);
	free((*err)->hint);
	(*err)->hint = h;
}

int error_prefix(struct error **err, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	char *ctx = xvasprintf(fmt, ap);
	va_end(ap);
	if (!*err) {
		*err = error_new(ctx);
		return -1;
	}
	char *m = xasprintf("%s: %s", ctx, (*err)->msg);
	free(ctx);
	free((*err)->msg);
	(*err)->msg = m;
	return -1;
}

int error_lines(struct error **err, const char *lines, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	char *head = xvasprintf(fmt, ap);
	va_end(ap);
	char *all = xasprintf("%s%s", head, lines ? lines : "");
	free(head);
	char *nl = strchr(all, '\n');
	char *hint = NULL;
	if (nl) {
		*nl = 0;
		hint = xasprintf("%s", nl + 1);
	}
	error_free(*err);
	*err = error_new(all);
	(*err)->hint = hint;
	return -1;
}

void error_free(struct error *e)
{
	if (!e)
		return;
	free(e->msg);
	free(e->hint);
	free(e);
}

void error_clear(struct error **err)
{
	if (!err)
		return;
	error_free(*err);
	*err = NULL;
}

const char *error_msg(const struct error *e)
{
	return e ? e->msg : NULL;
}

char *error_take_msg(struct error *e)
{
	if (!e)
		return NULL;
	char *m = e->msg;
	free(e->hint);
	free(e);
	return m;
}

void error_print(FILE *f, const struct error *e)
{
	if (!e)
		return;
	fprintf(f, "smolc: %s\n", e->msg);
	if (e->hint)
		fprintf(f, "smolc: hint: %s\n", e->hint);
}
