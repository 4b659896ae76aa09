/* plan.h — what a build will do: the ordered layer-producing steps, their
 * inputs with digests, and the cache key of every layer.
 *
 * Steps, in order: the base (FROM scratch / netbsd-<version> / the base
 * recipe's whole chain), one step per set of each SETS instruction (or the
 * release's default sets when a netbsd base has no SETS), PKGS, COPY,
 * POSTINST and RUN in source order, then `gen` (skeleton directories, /etc/fstab,
 * /etc/include/) and `rc` (/etc/rc from RC + ENV + CMD). Each kind of step
 * is a module registered in the table of step.h; plan_make walks it.
 *
 * Key of a layer = SHA-256 over "smolc-layer-v1", the parent's key, the
 * step's canonical text and the digest of each input. A step whose input
 * digest is unknown (not fetched yet and not pinned) is "pending", and so
 * is every step after it. The plan owns its steps; it borrows the recipe. */
#ifndef SMOLC_PLAN_H
#define SMOLC_PLAN_H

#include "plan_types.h"

const char *step_kind_name(enum step_kind k);

/* Build the plan. Returns 0, or -1 with diagnostics queued (bad inputs
 * that can be detected without a download: unknown release, a set not in
 * the release's SHA512 list …). *out is set in both cases; after a
 * failure, (*out)->recipe_only says the recipe itself is wrong (exit 2,
 * see plan_exit_code) rather than a download or the repository (exit 1). */
int plan_make(struct diag_ctx *d, struct recipe *r, const struct plan_env *env, struct plan **out);
void plan_free(struct plan *p);
/* Exit code for a failed plan_make: EXIT_USAGE (2) when only the recipe
 * is at fault, else EXIT_FAIL (1). */
int plan_exit_code(const struct plan *p);

/* Recompute keys from step i on (after the build learned digests). */
void plan_rekey(struct plan *p);

void plan_print_text(const struct plan *p, const struct diag_ctx *d, FILE *out);
void plan_print_json(const struct plan *p, const struct diag_ctx *d, FILE *out);


#endif
