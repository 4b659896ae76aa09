/* pkgs.h — the PKGS step: pkgsrc binary packages, dependencies resolved
 * on the build host.
 *
 * Planning: fetch (build) or look up in the cache (plan) the
 * repository's pkg_summary (.xz, .bz2 or .gz, the first that exists) and
 * its SHA512 list when there is one, resolve the patterns with
 * pkg_resolve() (newest match, transitive DEPENDS, CONFLICTS), and add
 * one input per package, in install order, with its SHA512 from the list.
 * Building: each package is fetched, verified (size and
 * SHA512), unpacked under its LOCALBASE (from +BUILD_INFO; the +* files
 * are skipped, entries escaping LOCALBASE are refused) and registered in
 * <PKG_DBDIR>/<pkgname>/ as pkg_add does (+CONTENTS, +COMMENT, +DESC,
 * +BUILD_INFO, +SIZE_PKG, +REQUIRED_BY …). */
#ifndef SMOLC_PKGS_H
#define SMOLC_PKGS_H

#include "plan_types.h"

/* Holds the parsed repositories a plan refers to. */
struct pkgs_state;
void pkgs_state_free(struct pkgs_state *s);

/* The PKGS step kind, step_pkgs_ops (step.h), is defined here: planning
 * (canon, inputs) and building as described above. */

#endif
