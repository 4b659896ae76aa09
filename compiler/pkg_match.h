/* pkg_match.h — pkgsrc package patterns, as pkg_install's pkg_match().
 *
 * Design: a pattern is tried, in this order, as
 *   1. csh alternates  "a-1.0{,nb[0-9]*}": the first top-level {...} group
 *      is expanded one alternative at a time (recursively, nested groups
 *      allowed) and the pattern matches when any expansion matches;
 *   2. a dewey range   "name>=1.0", "name>1<2", "name<=3": the name must be
 *      exactly the PKGNAME's base name, the version is compared in dewey
 *      order (upper bound after the lower, only '<'/'<=' may follow);
 *   3. a shell glob    "py3[0-9]*-foo-[0-9]*" (fnmatch, FNM_PERIOD);
 *   4. an exact PKGNAME "name-1.0";
 *   5. a bare name     "nginx", which means "nginx-[0-9]*" (pkg_install does
 *      this too for any pattern that did not match as a glob/exact name).
 * No allocation on the non-alternate paths; alternates use a small stack
 * buffer (patterns are capped at PKG_PATTERN_MAX bytes). */
#ifndef SMOLC_PKG_MATCH_H
#define SMOLC_PKG_MATCH_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

#define PKG_PATTERN_MAX 1024
/* At most this many patterns from the {…} groups of one pattern (pkgsrc's
 * own use a handful): a pattern beyond it matches nothing and
 * pkg_pattern_check rejects it. Bounds the work of hostile patterns. */
#define PKG_ALTERNATIVES_MAX 256

/* True when `pkgname` (e.g. "pcre2-10.42nb1") matches `pattern`.
 * A malformed pattern (see pkg_pattern_check) matches nothing. */
bool pkg_match(const char *pattern, const char *pkgname);

/* Validate a pattern: non-empty, shorter than PKG_PATTERN_MAX, balanced
 * braces expanding to at most PKG_ALTERNATIVES_MAX patterns, no
 * whitespace/control characters, no '/'. Returns 0, or -1 with
 * *err set (error.h), e.g. `pattern "foo{a,b": unbalanced '{'`. */
int pkg_pattern_check(const char *pattern, struct error **err);

/* Length of the base name in a PKGNAME ("foo-bar-1.0" -> 3+1+3 = 7): the
 * text before the last '-'. When there is no '-', returns strlen (no
 * version). */
size_t pkg_name_len(const char *pkgname);

/* Split a PKGNAME at its last '-': *name (caller frees) and *version
 * (borrowed, inside pkgname, "" when there is no '-'). Returns 0, or -1
 * when pkgname has no '-' or an empty name/version (outputs untouched). */
int pkg_split_name(const char *pkgname, char **name, const char **version);

/* Length of the literal prefix of a pattern: the bytes before the first
 * of "*?[]{}<>\\". Every PKGNAME the pattern can match starts with this
 * prefix (used to narrow candidate lists). */
size_t pkg_pattern_prefix_len(const char *pattern);

/* The package base name a pattern is about, when it can be told without a
 * repository: "pcre2>=10.42" -> "pcre2", "boost-libs-1.85.*" ->
 * "boost-libs", "clang-18.1.8{,nb*}" -> "clang", "nginx" -> "nginx",
 * "nginx-1.2" -> "nginx". Returns NULL when the name itself is a glob
 * ("py3[0-9]*-foo-[0-9]*"). Caller frees. */
char *pkg_pattern_name(const char *pattern);

#endif
