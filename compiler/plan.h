/* plan.h — what a build will do: the ordered layer-producing steps, their
 * inputs with digests, and the cache key of every layer.
 *
 * Steps, in order: the base (FROM scratch / netbsd-<version> / the base
 * recipe's whole chain), one step per set of each SETS instruction (or the
 * release's default sets when a netbsd base has no SETS), PKGS, COPY and
 * POSTINST in source order, then `gen` (skeleton directories, /etc/fstab,
 * /etc/include/) and `rc` (/etc/rc from RC + ENV + CMD).
 *
 * Key of a layer = SHA-256 over "smolc-layer-v1", the parent's key, the
 * step's canonical text and the digest of each input. A step whose input
 * digest is unknown (not fetched yet and not pinned) is "pending", and so
 * is every step after it. The plan owns its steps; it borrows the recipe. */
#ifndef SMOLC_PLAN_H
#define SMOLC_PLAN_H

#include "ir.h"

struct cache;
struct catalog;
struct fetch_ctx;
struct catalog_target;
struct pkgs_state;
struct lockfile;

enum step_kind { STEP_BASE, STEP_SET, STEP_PKGS, STEP_COPY, STEP_POSTINST, STEP_GEN, STEP_RC };
const char *step_kind_name(enum step_kind k);

struct plan_input {
	char *what;        /* "set base", "file www/index.html", "script" */
	char *source;      /* URL or path as resolved (for display and for the build) */
	char *path;        /* local file with the content, when known (cache or disk) */
	char *digest;      /* "sha512:<hex>" / "sha256:<hex>", or NULL = pending */
	unsigned mode;     /* files of COPY: permission bits */
	const void *pkg;   /* PKGS: the struct pkg_entry (borrowed from plan->pkgs) */
};

struct plan_step {
	enum step_kind kind;
	const struct recipe *recipe;   /* the recipe the step comes from */
	const struct ir_node *node;    /* NULL for implicit steps */
	struct loc loc;
	char *title;                   /* "SETS base", "RC", "gen" */
	char *canon;                   /* canonical text hashed into the key */
	struct plan_input *in;
	size_t nin, capin;
	char key[65];                  /* "" when pending */
	/* step-specific data for the build */
	const struct ir_set *set;      /* STEP_SET */
	char *text;                    /* STEP_RC: the generated /etc/rc; STEP_GEN: fstab */
};

/* Append an input to a step (plan.c, pkgs.c). */
struct plan_input *plan_add_input(struct plan_step *s, const char *what, const char *source);

struct plan_env {
	struct catalog *catalog;       /* may be NULL: sets by name stay unresolved */
	struct fetch_ctx *fetch;       /* NULL: never look anything up */
	struct cache *cache;
	const char *mirror;            /* --mirror / SMOLC_MIRROR, or NULL */
	bool fetch_inputs;             /* build: download what is missing; plan: cache only */
	const char *datadir;           /* where services/common lives */
	struct lockfile *lock;         /* Smolfile.lock to honour, or NULL */
	bool index_only;               /* smolc lock: fetch indexes, not the inputs they pin */
	struct dmemo *memo;            /* set by plan_make: local file digests (digestmemo.h) */
};

struct plan {
	struct recipe *recipe;         /* borrowed */
	struct plan_step *v;
	size_t n, cap;
	struct catalog_target *target; /* netbsd base: the release on this arch */
	struct plan_input kernel;      /* the kernel to boot */
	struct plan_input initrd;      /* INITRD; .what NULL when the recipe has none */
	char image_key[65];            /* "" when pending */
	uint64_t epoch;                /* SOURCE_DATE_EPOCH used for the image */
	bool rescue_only;
	struct pkgs_state *pkgs;       /* parsed package repositories (pkgs.c) */
	size_t recipe_errors;          /* errors that are the recipe's fault (PKGS that
	                                  cannot be resolved, no package repository) */
	bool recipe_only;              /* plan_make failed and every error was one of those */
};

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

/* JSON string escaping helper (shared with build --json). */
void json_str(FILE *out, const char *s);

#endif
