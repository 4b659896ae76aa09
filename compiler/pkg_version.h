/* pkg_version.h — pkgsrc "dewey" version comparison.
 *
 * Design: a version string is read as a sequence of integer components,
 * the way pkg_install's dewey.c does: a run of digits is one component;
 * "alpha" = -3, "beta" = -2, "pre"/"rc" = -1, "pl", "_" and "." = 0;
 * any other letter X becomes the two components 0, (X - 'a' + 1)
 * (so "1.0a" == "1.0.1" > "1.0"; "." itself is a 0 component); "nbN" sets the pkgsrc revision, which
 * is compared only after every other component; other characters are
 * skipped. Shorter vectors are padded with 0, so "1.0" == "1.0.0" and
 * "1.0rc1" < "1.0". Keywords are case-insensitive.
 * The comparison streams over both strings: no allocation. */
#ifndef SMOLC_PKG_VERSION_H
#define SMOLC_PKG_VERSION_H

#include <stdbool.h>
#include <stddef.h>

/* Relational operators of dewey patterns. */
enum pkg_op { PKG_OP_LT, PKG_OP_LE, PKG_OP_EQ, PKG_OP_NE, PKG_OP_GE, PKG_OP_GT };

/* Compare two version strings (the part after the last '-' of a PKGNAME).
 * Returns <0, 0 or >0. NULL sorts as "". */
int pkg_version_cmp(const char *a, const char *b);

/* Same, but the versions are the first alen / blen bytes (no NUL needed). */
int pkg_version_ncmp(const char *a, size_t alen, const char *b, size_t blen);

/* True when `lhs op rhs` holds in dewey order. */
bool pkg_version_test(const char *lhs, enum pkg_op op, const char *rhs);

/* Parse an operator at s ("<=", "<", ">=", ">", "==", "!="). Returns its
 * length (1 or 2) and sets *op, or 0 when s does not start with one. */
size_t pkg_op_parse(const char *s, enum pkg_op *op);

#endif
