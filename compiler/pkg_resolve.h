/* pkg_resolve.h — transitive DEPENDS resolution over a pkg_summary.
 *
 * Design: requested patterns and every DEPENDS pattern of every chosen
 * package are processed breadth-first. One package per base name:
 *   - a pattern already satisfied by a chosen package reuses it (diamonds
 *     resolve to one copy);
 *   - otherwise the newest package (dewey order, ties by PKGNAME) matching
 *     the pattern and every constraint recorded for its base name wins;
 *   - when the chosen package of that name does not satisfy a new pattern,
 *     the pattern becomes a constraint on the name and resolution restarts
 *     (so "foo<2" forces an older foo even when "foo>=1" chose foo-2.5
 *     first); all clashes met in one pass are learnt before restarting;
 *   - when a DEPENDS of a chosen package cannot be met at all, that exact
 *     package is ruled out and resolution restarts, so an older version
 *     with meetable dependencies can win; if the user's pattern runs out of
 *     packages, the first dead end met is the error.
 * Every restart adds a constraint or an exclusion, so it ends (capped at
 * 2000 passes). Constraints are kept even if the package that caused
 * them drops out later, so a result is always valid but not always the
 * newest possible; there is no general backtracking search.
 * Then CONFLICTS of every chosen package are checked against the others.
 * Errors name the dependency chain, from the user's pattern down:
 *   `nginx → pcre2>=10.42: no package in <repo> satisfies it; newest is pcre2-10.40`
 * The result is in install order: dependencies first, ties by PKGNAME.
 *
 * Ownership: a pkg_resolution borrows the pkg_entry pointers of the
 * pkg_summary it was computed from (free it first or together). */
#ifndef SMOLC_PKG_RESOLVE_H
#define SMOLC_PKG_RESOLVE_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

#include "pkg_summary.h"

/* One chosen package. deps are indexes into pkg_resolution.v of the
 * packages its DEPENDS resolved to (each < its own index: install order). */
struct pkg_resolved {
	const struct pkg_entry *pkg;  /* borrowed from the summary */
	bool requested;               /* matched a user pattern (not automatic) */
	char *chain;                  /* how it was reached: "nginx → pcre2>=10" */
	size_t *deps;
	size_t n_deps;
};

struct pkg_resolution {
	struct pkg_resolved *v;      /* install order */
	size_t n;
	unsigned restarts;           /* how many constraint restarts it took */
};

/* Resolve `patterns` (n of them) against `s`. `repo` names the repository
 * in messages (NULL: s->label). Returns 0 and *out (caller frees with
 * pkg_resolution_free), or -1 and *err (error.h): unknown package,
 * unsatisfiable dependency, incompatible constraints, conflict, malformed
 * pattern. */
int pkg_resolve(const struct pkg_summary *s, const char *const *patterns, size_t n,
		const char *repo, struct pkg_resolution **out, struct error **err);
void pkg_resolution_free(struct pkg_resolution *r);

/* Index in r->v of the package with base name `name`, or -1. */
long pkg_resolution_find(const struct pkg_resolution *r, const char *name);

#endif
