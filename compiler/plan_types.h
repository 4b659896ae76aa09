/* plan_types.h — the data of a plan: steps, their inputs and the
 * environment a plan is made in. Shared by plan.c, which makes plans, and
 * the modules that fill steps of their own kind (pkgs.c) or read a finished
 * plan (lockfile.c, build.c), so that none of them includes another's
 * functions to get at the types. See plan.h for what the fields mean. */
#ifndef SMOLC_PLAN_TYPES_H
#define SMOLC_PLAN_TYPES_H

#include "ir.h"

struct cache;
struct catalog;
struct inputs;
struct catalog_target;
struct pkgs_state;
struct lockfile;

/* The kinds of step; each is one module registered in step_kinds[]
 * (step.h). STEP_NKINDS counts them. */
enum step_kind { STEP_BASE, STEP_SET, STEP_PKGS, STEP_COPY, STEP_POSTINST, STEP_GEN, STEP_RC, STEP_RUN, STEP_MINIMIZE, STEP_NKINDS };

struct plan_input {
	char *what;        /* "set base", "file www/index.html", "script" */
	const char *key_name; /* static; what the key hashes instead of `what` (NULL: `what`):
			       * a set is content-addressed, its name or path is not in the key */
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

/* Append an input to a step (plan_types.c; used by plan.c and pkgs.c). */
struct plan_input *plan_add_input(struct plan_step *s, const char *what, const char *source);

struct plan_env {
	struct catalog *catalog;       /* may be NULL: sets by name stay unresolved */
	struct inputs *inputs;         /* remote inputs (inputs.h); NULL: never look anything up.
	                                  Planning has no fetcher: it cannot download. */
	struct cache *cache;
	const char *mirror;            /* --mirror / SMOLC_MIRROR, or NULL */
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
	struct ir_set *default_sets;   /* a netbsd base without SETS: the release's
	                                  sets, which those steps point to */
	struct pkgs_state *pkgs;       /* parsed package repositories (pkgs.c) */
	size_t recipe_errors;          /* errors that are the recipe's fault (PKGS that
	                                  cannot be resolved, no package repository) */
	bool recipe_only;              /* plan_make failed and every error was one of those */
};

#endif
