/* diag.h — source files, locations and diagnostics.
 *
 * Every token and IR node carries a `struct loc` (file index, byte offset,
 * length). Line and column are computed only when a message is printed.
 * Diagnostics are queued as records and printed once, in source order
 * (by file, then offset; a note stays after the record it belongs to):
 *
 *   Smolfile:4:6: error: unknown instruction 'PORT'
 *       4 | PORT 8080:80
 *         | ^~~~
 *     hint: did you mean 'PORTS'?
 *
 * The diag context owns the source files it loaded. */
#ifndef SMOLC_DIAG_H
#define SMOLC_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "loc.h"


struct srcfile {
	char *path;          /* as the user named it (for messages) */
	char *realpath;      /* canonical path, for include-cycle detection; may be NULL */
	char *data;          /* NUL-terminated contents */
	size_t len;
	uint32_t *lines;     /* byte offset of each line start */
	size_t nlines;
	struct loc included_from; /* the INCLUDE/FROM line that pulled it in, or {0} */
	bool from_base;      /* pulled in by FROM <recipe> (else by INCLUDE) */
	bool rejected;       /* not a text recipe (NUL, CRLF, bad UTF-8 …): nothing was parsed */
};

enum diag_level { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE };

struct diag {
	enum diag_level level;
	struct loc loc;
	char *msg;
	char *hint;          /* may be NULL */
};

struct diag_ctx {
	struct srcfile *files;   /* files[0] is a dummy "no file" */
	size_t nfiles, capfiles;
	struct diag *v;
	size_t n, cap;
	size_t errors, warnings;
	size_t max_errors;       /* stop recording after this many (default 20) */
	bool capped;
	bool color;
};

void diag_init(struct diag_ctx *d);
void diag_fini(struct diag_ctx *d);

/* Register a file's contents (takes ownership of data). Returns its index. */
uint32_t diag_add_file(struct diag_ctx *d, const char *path, const char *realpath,
		       char *data, size_t len, struct loc included_from);
const struct srcfile *diag_file(const struct diag_ctx *d, uint32_t idx);

/* Line (1-based) and column (1-based, in characters: UTF-8 sequences
 * count as one column, so do tabs and invalid bytes) of an offset. */
void diag_linecol(const struct diag_ctx *d, struct loc l, size_t *line, size_t *col);

/* Length of the UTF-8 sequence at s (1..4; n bytes available), or 0 when
 * it is not valid UTF-8 (overlong, surrogate, truncated …). */
size_t diag_utf8_len(const unsigned char *s, size_t n);

/* Raise a diagnostic; returns the record so a hint can be attached. */
struct diag *diag_error(struct diag_ctx *d, struct loc l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct diag *diag_warning(struct diag_ctx *d, struct loc l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct diag *diag_note(struct diag_ctx *d, struct loc l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void diag_hint(struct diag *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A location-less error about a path (e.g. "Smolfile: No such file"). */
struct diag *diag_error_plain(struct diag_ctx *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Queue an error record (error.h) as an error: at the record's loc when
 * it has one, else at fallback (a plain error when that is {0} too); its
 * hint becomes the diag's hint. The record stays the caller's. */
struct diag *diag_error_record(struct diag_ctx *d, struct loc fallback, const struct error *e);

bool diag_full(const struct diag_ctx *d);  /* error cap reached */

/* Forget what was queued after a mark (a planning round whose results are
 * superseded by the next one). The mark must come from this context and
 * no diag_print may have run since. */
struct diag_mark {
	size_t n, errors, warnings;
	bool capped;
};
struct diag_mark diag_mark(const struct diag_ctx *d);
void diag_rollback(struct diag_ctx *d, struct diag_mark m);

/* Print every queued diagnostic to f, then forget them. */
void diag_print(struct diag_ctx *d, FILE *f);

/* Span covering a..b. */
struct loc loc_span(struct loc a, struct loc b);

#endif
