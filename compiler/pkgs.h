/* pkgs.h — the PKGS step: pkgsrc binary packages, dependencies resolved
 * on the build host.
 *
 * Planning (pkgs_plan): fetch (build) or look up in the cache (plan) the
 * repository's pkg_summary (.xz, .bz2 or .gz, the first that exists) and
 * its SHA512 list when there is one, resolve the patterns with
 * pkg_resolve() (newest match, transitive DEPENDS, CONFLICTS), and add
 * one input per package, in install order, with its SHA512 from the list.
 * Building (pkgs_build_layer): each package is fetched, verified (size and
 * SHA512), unpacked under its LOCALBASE (from +BUILD_INFO; the +* files
 * are skipped, entries escaping LOCALBASE are refused) and registered in
 * <PKG_DBDIR>/<pkgname>/ as pkg_add does (+CONTENTS, +COMMENT, +DESC,
 * +BUILD_INFO, +SIZE_PKG, +REQUIRED_BY …). */
#ifndef SMOLC_PKGS_H
#define SMOLC_PKGS_H

#include "plan_types.h"

struct layer_writer;

/* Holds the parsed repositories a plan refers to. */
struct pkgs_state;
void pkgs_state_free(struct pkgs_state *s);

/* Fill step s (kind STEP_PKGS) for node n. repo = the repository URL
 * (ending in '/'). Returns 0, or -1 with a diagnostic queued. */
int pkgs_plan(struct diag_ctx *d, struct plan *p, struct plan_step *s, const struct ir_node *n, const char *repo,
	      const struct plan_env *env);

int pkgs_build_layer(struct plan *p, struct plan_step *s, struct layer_writer *w, const struct plan_env *env,
		     FILE *log, char **err);

#endif
