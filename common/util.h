/* util.h — small helpers shared by every stage: checked allocation,
 * growable strings and arrays, file reading, atomic writes.
 *
 * Ownership rule: a function returning `char *` or a pointer to a struct
 * hands ownership to the caller unless its comment says "borrowed".
 * Every *_free() accepts NULL. */
#ifndef SMOLC_UTIL_H
#define SMOLC_UTIL_H

/* The version (the Makefile passes -DSMOLC_VERSION from VERSION). */
#ifndef SMOLC_VERSION
#define SMOLC_VERSION "0.0.0"
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#include "error.h"
#include "xalloc.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))



/* Growable byte string; always NUL-terminated when len > 0 or after sb_cstr. */
struct strbuf {
	char *buf;
	size_t len, cap;
};
void sb_init(struct strbuf *sb);
void sb_add(struct strbuf *sb, const char *s, size_t n);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addc(struct strbuf *sb, char c);
void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sb_cstr(struct strbuf *sb);       /* borrowed, "" when empty */
char *sb_detach(struct strbuf *sb);            /* caller owns; sb is reset */
void sb_reset(struct strbuf *sb);
void sb_free(struct strbuf *sb);

/* Vector of owned strings. */
struct strvec {
	char **v;
	size_t n, cap;
};
void sv_push(struct strvec *sv, char *s);      /* takes ownership of s */
void sv_pushdup(struct strvec *sv, const char *s);
void sv_free(struct strvec *sv);

/* Generic array growth: ensures room for one more element. */
#define VEC_GROW(ptr, n, cap)                                                   \
	do {                                                                    \
		if ((n) >= (cap)) {                                             \
			(cap) = (cap) ? (cap) * 2 : 8;                          \
			(ptr) = xrealloc((ptr), (cap) * sizeof(*(ptr)));        \
		}                                                               \
	} while (0)

/* Read a whole file. Returns 0 and sets *data (NUL-terminated, caller
 * frees) and *len, or -1 with errno set. Refuses files above max bytes
 * (errno = EFBIG). */
int read_file(const char *path, size_t max, char **data, size_t *len);

/* Write `len` bytes to `path` atomically: temp file in the same directory,
 * fsync, rename. Returns 0 or -1 with errno set. */
int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* The same without fsync: for memos of derived data that are checked when
 * read (a torn one fails its check and is ignored, never trusted). */
int write_file_atomic_nosync(const char *path, const void *data, size_t len, unsigned mode);

/* mkdir -p; returns 0 or -1 with errno set. */
int mkdir_p(const char *path, unsigned mode);

/* rm -rf of a directory tree we own; returns 0 or -1. */
int remove_tree(const char *path);

/* Path helpers (results owned by caller). */
char *path_join(const char *a, const char *b);
char *path_dirname(const char *p);
const char *path_basename(const char *p);     /* borrowed, inside p */
bool path_exists(const char *p);
bool str_startswith(const char *s, const char *prefix);
bool str_endswith(const char *s, const char *suffix);

/* Case-insensitive ASCII equality. */
bool str_ieq(const char *a, const char *b);

/* Untrusted text (archive entry names, URLs, server messages) made safe
 * for a terminal: control characters become C escapes (\n \r \t \a \b
 * \f \v, others \xNN, e.g. ESC is \x1b), DEL and C1 controls (U+0080..
 * U+009F) \xNN per byte, bytes that are not valid UTF-8 \xNN; other
 * UTF-8 passes. keep_nl: leave '\n' as is (a message's own line breaks).
 * str_escape returns a new string; sb_add_escaped appends. */
char *str_escape(const char *s);
void sb_add_escaped(struct strbuf *sb, const char *s, bool keep_nl);

/* Append s as one /bin/sh word: '…', with each ' as '\''. */
void sb_add_shquoted(struct strbuf *sb, const char *s);

/* Edit distance (for "did you mean"). */
size_t levenshtein(const char *a, const char *b);

/* Monotonic clock in seconds. */
double now_monotonic(void);

/* Human-readable byte count into buf ("12.3 MiB"). */
const char *human_bytes(uint64_t n, char *buf, size_t bufsz);

/* Verbose/debug output routed through one place (--debug). */
extern int smol_debug_enabled;
void debugf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fault injection for the crash tests: when $SMOLC_FAULT is "NAME" or
 * "NAME@N", the process kills itself with SIGKILL at the first (the Nth)
 * call of fault_point(NAME). Costs one getenv per call otherwise. */
void fault_point(const char *name);

/* Length of the valid UTF-8 sequence at s (1..4), 0 if it is not one. */
size_t utf8_seq(const unsigned char *s);

#endif
