/* step.h — the table of step kinds.
 *
 * Every kind of layer-producing step (base, sets, pkgs, copy, postinst, gen,
 * rc, …) is one module that fills one `struct step_ops` and is registered
 * in step_kinds[] (step.c), the way NetBSD's makefs registers file-system
 * types: plan.c and build.c know no kind by name, they walk the table.
 *
 * Planning one recipe (plan.c, plan_recipe) is three passes over the table:
 *   1. for each kind with STEP_BEFORE, in table order: canon(c, NULL)
 *   2. for each instruction n of the recipe, in source order: canon(c, n)
 *      of the kind whose `instr` is n->kind (STEP_ON_INSTR)
 *   3. for each kind with STEP_AFTER, in table order: canon(c, NULL)
 * and after every canon() call, inputs(c, s) for each step it added, in
 * order. A FROM <recipe> plans the base recipe's whole chain first. The
 * key of each step (plan_rekey) is SHA-256 over "smolc-layer-v1", the
 * parent's key, the kind's name, the step's canon, whatever key() adds,
 * then each input's `what` and digest. Building a step that is not cached
 * (build.c) calls build() with a fresh layer writer, then commits the layer.
 *
 * Adding a kind: one file with its callbacks and its `const struct
 * step_ops`, a STEP_* value in plan_types.h, its line in step_kinds[] and
 * its `extern` below. Nothing else in plan.c or build.c changes.
 *
 * Ownership: the plan owns its steps (plan_free frees title, canon, text,
 * inputs); callbacks fill them with heap strings and never free a step.
 * The recipe, its nodes and the plan_env are borrowed for the whole plan. */
#ifndef SMOLC_STEP_H
#define SMOLC_STEP_H

#include "error.h"

#include <stdio.h>
#include <sys/stat.h>

#include "fstree.h"
#include "plan_types.h"

struct builder_launcher;
struct builder_opts;
struct catalog_sums;
struct digest;
struct layer_writer;

/* Planning one recipe of the FROM chain. The fields up to `env` are set
 * by plan.c; the rest is state the kinds keep for the length of the
 * recipe (zeroed at its start, released by plan.c at its end). */
struct step_plan_ctx {
	struct diag_ctx *d;              /* diagnostics of the plan */
	struct plan *p;                  /* the plan being made (steps are appended to p->v) */
	const struct recipe *r;          /* the recipe being planned */
	const struct plan_env *env;      /* catalog, fetcher, cache, lock file, memo */
	struct catalog_sums *sums;       /* sets: the release's SHA512 list (plan.c frees it) */
	int sums_state;                  /* sets: 0 not looked up yet, 1 looked up, 2 failed (reported once), 3 not resolved yet */
	char envs[65];                   /* postinst: sha256 of every ENV and ARG; "" until made */
};

/* Building one step's layer (build.c). Everything is borrowed. */
struct step_build_ctx {
	struct plan *p;                  /* the plan (epoch, rescue_only, the steps) */
	const struct plan_env *env;      /* as the plan was made with it (pkgs refetch through it) */
	struct cache *cache;             /* the layer cache (POSTINST stages in it) */
	struct fstree *tree;             /* the image so far: every earlier layer applied */
	FILE *log;                       /* progress, or NULL when quiet */
	bool verbose;                    /* builder VMs print their QEMU argv and whole console */
	const struct builder_launcher *launcher; /* how to boot a builder VM (builder.h); NULL: RUN fails */
	struct diag_ctx *d;              /* for warnings (and errors after the one returned) */
};

enum step_when {
	STEP_BEFORE = 1,                 /* canon(c, NULL) once, before the instructions */
	STEP_ON_INSTR = 2,               /* canon(c, n) for each instruction n of kind `instr` */
	STEP_AFTER = 4,                  /* canon(c, NULL) once, after the instructions */
};

struct step_ops {
	const char *name;                /* "sets": plan --json's "kind", hashed into the key */
	enum step_kind kind;
	unsigned when;                   /* STEP_BEFORE | STEP_ON_INSTR | STEP_AFTER (a kind
	                                    never has both BEFORE and AFTER) */
	enum ir_kind instr;              /* with STEP_ON_INSTR: the instruction it plans */
	/* Add this kind's steps for instruction n (NULL: the BEFORE/AFTER
	 * pass) with step_add(): title, canonical text and the step data the
	 * build needs (set, text); possibly none. Returns 0, or -1 with a
	 * diagnostic queued (the plan goes on, to report every error). */
	int (*canon)(struct step_plan_ctx *c, const struct ir_node *n);
	/* Resolve the inputs of step s (one that canon added): plan_add_input
	 * with their source, local path and digest — NULL while unknown
	 * ("pending"). Remote inputs are looked up through c->env->inputs
	 * (inputs.h): the planner cannot download; a session resolves what it
	 * asked for and plans again. NULL: the step has no inputs.
	 * Returns 0, or -1 with a diagnostic queued. */
	int (*inputs)(struct step_plan_ctx *c, struct plan_step *s);
	/* Extra key material, hashed after the canon and before the inputs
	 * (e.g. step_key_epoch). Returns false when it is not known yet (the
	 * step and those after it stay pending). NULL: none. */
	bool (*key)(const struct plan *p, const struct plan_step *s, struct digest *dg);
	/* Write step s's files into w (created empty, in a temp dir of the
	 * cache; the caller finishes or aborts it). b->tree is read-only here.
	 * Returns 0, or -1 with *err (error.h: its hint, and its loc when the
	 * error is about one word rather than the instruction, e.g. --chown=…). */
	int (*build)(struct step_build_ctx *b, struct plan_step *s, struct layer_writer *w, struct error **err);
	/* `smolc build --explain-minimize`: say on out what step s keeps and
	 * drops and why, from b->tree as it is before s's layer (called
	 * whether the layer was cached or not). NULL: nothing to explain. */
	void (*explain)(struct step_build_ctx *b, struct plan_step *s, FILE *out);
};

/* The table (step.c), indexed by enum step_kind. */
extern const struct step_ops *const step_kinds[STEP_NKINDS];
const struct step_ops *step_ops_of(enum step_kind k);

extern const struct step_ops step_base_ops;     /* step_base.c: FROM */
extern const struct step_ops step_set_ops;      /* step_set.c: SETS, and a release's default sets */
extern const struct step_ops step_pkgs_ops;     /* pkgs.c: PKGS */
extern const struct step_ops step_copy_ops;     /* step_copy.c: COPY */
extern const struct step_ops step_postinst_ops; /* step_postinst.c: POSTINST */
extern const struct step_ops step_gen_ops;      /* step_gen.c: skeleton dirs, /etc/fstab, /etc/include */
extern const struct step_ops step_rc_ops;       /* step_rc.c: /etc/rc */
extern const struct step_ops step_run_ops;      /* step_run.c: RUN, in a builder VM */
extern const struct step_ops step_minimize_ops; /* step_minimize.c: MINIMIZE, KEEP */

/* ---- helpers for the kinds (step.c) ---- */

/* Append a step of kind k to c->p (title is taken over). The pointer is
 * valid until the next step_add. */
struct plan_step *step_add(struct step_plan_ctx *c, enum step_kind k, const struct ir_node *n, struct loc loc,
			   char *title);

/* sha256 of a local file into in->digest (through the digest memo), and
 * in->path = path. st: the file's lstat when the caller has it, or NULL.
 * An unreadable file leaves in->digest NULL. */
void step_input_local(const struct plan_env *env, struct plan_input *in, const char *path, const struct stat *st);

/* Fetch (build) or look up in the cache (plan) in->source; pin: the
 * expected digest or NULL; hint: said when the download fails; base_dir:
 * where a relative path source is. Sets in->path and in->digest (pin, or
 * the download's sha256). Returns 0 (also for a plan that does not find
 * it cached: the input stays pending), or -1 with a diagnostic at `at`. */
int step_input_fetch(const struct plan_env *env, struct plan_input *in, const char *pin, const char *hint,
		     const char *base_dir, struct diag_ctx *d, struct loc at);

/* The entries under root/rel (rel itself first, then a directory's
 * contents, sorted by name, recursively), each with its lstat. `known`:
 * rel's lstat when the caller has it (st_nlink 0: unknown), or NULL.
 * Nothing when rel does not exist. Free with step_ctxents_free. */
struct step_ctxent {
	char *rel;
	struct stat st;
};
struct step_ctxents {
	struct step_ctxent *v;
	size_t n, cap;
};
void step_walk_context(const char *root, const char *rel, const struct stat *known, struct step_ctxents *out);
void step_ctxents_free(struct step_ctxents *e);

/* key(): "epoch=<p->epoch>", for layers that stamp their files with it. */
bool step_key_epoch(const struct plan *p, const struct plan_step *s, struct digest *dg);

/* The owner named by COPY or POSTINST --chown=<user>[:<group>] (the group
 * defaults to 0), looked up in b->tree's /etc/passwd and /etc/group.
 * Returns 0, or -1 with *err (a hint, and its loc at the option). */
int step_owner(struct step_build_ctx *b, const char *what, const struct ir_chown *c, int64_t *uid, int64_t *gid,
	       struct error **err);

/* inputs(): the script of a POSTINST or RUN node (its text's sha256). */
int step_script_input(struct step_plan_ctx *c, struct plan_step *s);

/* The sha256 (hex) of every ENV and ARG of c->r, made once per recipe:
 * the environment of POSTINST and RUN scripts, part of their keys. */
const char *step_envs_digest(struct step_plan_ctx *c);

/* Builder VMs (step_run.c; RUN and PKGS +INSTALL scripts). can_boot: 0
 * when b->tree has a shell and an init and the kernel was fetched, else
 * -1 with *err naming `what` and saying to add it before `where`.
 * defaults: the builder options of step s from the image's recipe
 * (profile, kernel, memory, disk size, ENV and ARG of s's recipe into
 * env, which the caller frees with sv_free). */
int step_builder_can_boot(struct step_build_ctx *b, const char *what, const char *where, struct error **err);
void step_builder_defaults(struct step_build_ctx *b, const struct plan_step *s, struct builder_opts *bo,
			   struct strvec *env);

/* The content of a regular file of tree t of at most 1 MiB (malloc'd, NUL
 * terminated), or NULL (no such file, too big, unreadable). */
char *step_tree_read_small(struct fstree *t, const char *path);

/* root:wheel metadata stamped with mtime: a 0755 directory, a file of perm. */
struct fs_meta step_dir_meta(int64_t mtime);
struct fs_meta step_file_meta(unsigned perm, int64_t mtime);

#endif
