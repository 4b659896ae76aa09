/* pkg_summary.h — pkg_summary(5) repository catalogue and SHA512 lists.
 *
 * Design: the catalogue is parsed as a stream (pkg_summary_parser_feed
 * takes arbitrary chunks), so a compressed pkg_summary.{xz,bz2,gz} is
 * decoded with libarchive's raw format + all filters and never held whole.
 * Every string lives in one arena owned by the pkg_summary; short values
 * that repeat across records (DEPENDS patterns, OPSYS, LICENSE, ...) are
 * interned, so 20,000 packages cost a few MiB. After parsing, packages are
 * sorted by (base name, dewey version descending, PKGNAME) so every base
 * name is one contiguous run (pkg_summary_find), and a second index sorted
 * by PKGNAME answers "which PKGNAMEs start with this prefix"
 * (pkg_summary_candidates). A duplicate PKGNAME keeps its first record.
 *
 * Ownership: struct pkg_summary owns everything reachable from it; the
 * `const char *` fields of struct pkg_entry are borrowed from it and live
 * until pkg_summary_free. */
#ifndef SMOLC_PKG_SUMMARY_H
#define SMOLC_PKG_SUMMARY_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One package of the repository. Unset text fields are NULL, except
 * file_name, which defaults to "<pkgname>.tgz". */
struct pkg_entry {
	const char *pkgname;      /* "pcre2-10.42nb1" */
	const char *name;         /* base name "pcre2" */
	const char *version;      /* "10.42nb1", inside pkgname */
	const char *const *depends;   /* n_depends patterns */
	size_t n_depends;
	const char *const *conflicts; /* n_conflicts patterns */
	size_t n_conflicts;
	const char *file_name;    /* FILE_NAME, default pkgname + ".tgz" */
	uint64_t file_size;       /* FILE_SIZE, 0 when absent */
	const char *file_cksum;   /* FILE_CKSUM "sha256 <hex>" as written */
	uint64_t size_pkg;        /* SIZE_PKG, 0 when absent */
	const char *comment;
	const char *description;  /* DESCRIPTION lines joined with '\n' */
	const char *pkgpath;
	const char *machine_arch;
	const char *opsys;
	const char *os_version;
	const char *build_date;
	const char *homepage;
	const char *license;
	const char *categories;
	const char *pkgtools_version;
};

/* A parsed catalogue. `pkgs` is sorted by (name, version newest first,
 * pkgname); `label` names the source in messages (path or URL). */
struct pkg_skipped {
	size_t line;              /* where the record starts */
	char *pkgname;            /* its PKGNAME when it had one, else NULL */
	char *reason;             /* "line 12: FILE_SIZE=\"x\" is not a number" */
};

struct pkg_summary {
	struct pkg_entry *pkgs;
	size_t n;
	struct pkg_skipped *skipped; /* malformed records, left out (in order) */
	size_t n_skipped;
	char *label;
	struct pkg_summary_priv *priv;   /* arena, intern table, indexes */
};

/* Incremental parser. */
struct pkg_summary_parser;
/* label is copied; it prefixes error messages. */
struct pkg_summary_parser *pkg_summary_parser_new(const char *label);
/* Feed any chunk of the text. Returns 0, or -1 with *err set (caller
 * frees), e.g. `pkg_summary.xz: line 12: expected VARIABLE=VALUE, got "x"`. */
int pkg_summary_parser_feed(struct pkg_summary_parser *p, const char *buf, size_t len, struct error **err);
/* Finish: returns the catalogue (caller frees with pkg_summary_free) or
 * NULL with *err set. A malformed record (no PKGNAME, a bad number, a
 * line that is not VARIABLE=VALUE, a NUL byte) is left out and listed in
 * `skipped`; a text with malformed records and no good one is an error
 * (the first record's reason): it is not a catalogue. The parser is freed
 * in both cases. */
struct pkg_summary *pkg_summary_parser_finish(struct pkg_summary_parser *p, struct error **err);
void pkg_summary_parser_free(struct pkg_summary_parser *p);

/* One-shot helpers. parse_buffer reads plain text; parse_file reads a
 * plain, .gz, .bz2, .xz or .zst file (detected by content). */
struct pkg_summary *pkg_summary_parse_buffer(const char *label, const char *data, size_t len, struct error **err);
struct pkg_summary *pkg_summary_parse_file(const char *path, struct error **err);
void pkg_summary_free(struct pkg_summary *s);

/* All packages with base name `name`: returns the index of the newest in
 * s->pkgs and sets *count (0 and returns SIZE_MAX when none). */
size_t pkg_summary_find(const struct pkg_summary *s, const char *name, size_t *count);

/* The package with this exact PKGNAME, or NULL (borrowed). */
const struct pkg_entry *pkg_summary_lookup(const struct pkg_summary *s, const char *pkgname);

/* Every package matching `pattern` (pkg_match), as indexes into s->pkgs
 * in s->pkgs order (so per name newest first). *out is malloc'd (caller
 * frees, NULL when none). Returns the count. */
size_t pkg_summary_candidates(const struct pkg_summary *s, const char *pattern, size_t **out);

/* ---- SHA512 digest list: lines "SHA512 (All/foo-1.0.tgz) = <hex>" (BSD
 * style, as in a repository's SHA512[.bz2]) or "<hex>  foo-1.0.tgz"
 * (GNU style). Only the base name of the file is kept. */
struct pkg_digest {
	char *file;     /* "foo-1.0.tgz" */
	char *sha512;   /* 128 lowercase hex digits */
};
struct pkg_digests {
	struct pkg_digest *v;   /* sorted by file */
	size_t n;
};
/* Parse text. Returns 0, or -1 with *err naming label and line. */
int pkg_digests_parse(const char *label, const char *data, size_t len, struct pkg_digests *out, struct error **err);
/* Same from a plain or compressed file. */
int pkg_digests_parse_file(const char *path, struct pkg_digests *out, struct error **err);
/* Expected hex for a file name (base name compared), or NULL (borrowed). */
const char *pkg_digests_get(const struct pkg_digests *d, const char *file);
void pkg_digests_free(struct pkg_digests *d);   /* frees the content, not d */

/* Check a downloaded package file against its catalogue entry: FILE_SIZE
 * (when known) and the SHA512 listed in `d` for e->file_name (when d is
 * given; a package missing from a given list is an error). Returns 0, or
 * -1 with *err, e.g. `nginx-1.25.3nb2.tgz: SHA512 mismatch (expected
 * 1a2b3c4d..., got 5e6f7a8b...): the download is corrupt or the
 * repository's SHA512 list is stale; delete it and fetch again`. */
int pkg_verify_file(const char *path, const struct pkg_entry *e, const struct pkg_digests *d, struct error **err);

#endif
