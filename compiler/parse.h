/* parse.h — from a Smolfile on disk to its syntax tree.
 *
 * parse_file() reads the file, rejects what is not a text recipe (NUL
 * bytes, invalid UTF-8, CRLF line endings, control characters, absurdly
 * long lines) with one clear diagnostic, then runs the scanner and parser.
 * All diagnostics go to the diag context. */
#ifndef SMOLC_PARSE_H
#define SMOLC_PARSE_H

#include "ast.h"

#define PARSE_MAX_FILE  (16u << 20)   /* 16 MiB */
#define PARSE_MAX_LINE  65536u        /* bytes per physical line, outside heredocs too */

/* Parse `path` into *out (caller calls ast_free). `included_from` is the
 * location of the INCLUDE/FROM that named it (or {0}). Returns 0 when the
 * file was read and parsed without errors, -1 otherwise (diagnostics
 * queued; *out is still valid and may be partial). */
int parse_file(struct diag_ctx *d, const char *path, struct loc included_from, struct ast *out);

/* Parse an in-memory buffer (fuzzing, tests). Takes a copy. */
int parse_buffer(struct diag_ctx *d, const char *name, const char *data, size_t len, struct ast *out);

#endif
