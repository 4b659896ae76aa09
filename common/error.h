/* error.h — the one error contract below the diagnostics queue.
 *
 * A function that can fail takes `struct error **err` last, and on
 * failure returns -1 (or NULL) with *err set to a record: the message
 * (one line, already escaped where it quotes untrusted text), an
 * optional hint, and an optional source location. Every record is made
 * here, through error_set()/error_at(); a caller that adds context
 * wraps the callee's message with error_prefix(). err may be NULL (the
 * caller does not want the message); setting an error over an earlier
 * one frees the earlier one. The caller owns *err: error_free() it, or
 * hand it to the diag queue (compiler/diag.h: diag_error_record) or to
 * error_print() (the CLI's "smolc: message" line).
 *
 *   if (stat(path, &st) < 0)
 *       return error_set(err, "%s: %s", path, strerror(errno));
 */
#ifndef SMOLC_ERROR_H
#define SMOLC_ERROR_H

#include <stdarg.h>
#include <stdio.h>

#include "loc.h"

struct error {
	char *msg;
	char *hint;      /* may be NULL */
	struct loc loc;  /* {0} = none */
};

/* Set *err to a new record (freeing an earlier one); returns -1. A no-op
 * (but still -1) when err is NULL. */
int error_set(struct error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int error_vset(struct error **err, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* The same, about one place in a source file. */
int error_at(struct error **err, struct loc at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Add (or replace) the hint of *err; a no-op when err or *err is NULL. */
void error_hint(struct error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "context: old message" (the hint and loc stay); when *err is NULL the
 * context alone becomes the message. Returns -1. */
int error_prefix(struct error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A message followed by lines of a program's output (each starting with
 * "\n", e.g. "; last lines of its output:\n    | …"): the first line
 * is the message, the lines below it the hint (printed under it). */
int error_lines(struct error **err, const char *lines, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void error_free(struct error *e);     /* accepts NULL */
void error_clear(struct error **err); /* frees *err and sets it to NULL */

/* The message (borrowed), or NULL when e is NULL. */
const char *error_msg(const struct error *e);
/* Take the message out of the record and free the record; the caller
 * owns the string (NULL when e is NULL). */
char *error_take_msg(struct error *e);

/* "smolc: message\n" and, with a hint, "smolc: hint: hint\n". */
void error_print(FILE *f, const struct error *e);

#endif
