/* lower.h — syntax tree → typed IR.
 *
 * lower_file() parses a Smolfile (and, recursively, the files it INCLUDEs)
 * and appends one ir_node per instruction to the recipe, in source order,
 * with variables expanded (ARG/ENV in order of appearance, --build-arg
 * overriding ARG defaults) and arguments parsed and typed. Per-argument
 * errors (bad port, bad size, unknown keyword …) are diagnosed here;
 * cross-instruction checks live in check.c. */
#ifndef SMOLC_LOWER_H
#define SMOLC_LOWER_H

#include "expand.h"
#include "ir.h"

struct lower_ctx {
	struct diag_ctx *diag;
	struct recipe *recipe;
	struct var_env env;
	struct strvec include_stack;   /* realpaths of files being lowered */
	struct strvec build_args;      /* NAME=VALUE (borrowed copies) */
	bool *build_arg_used;
	size_t nincludes;              /* INCLUDEs followed so far */
};

#define LOWER_MAX_DEPTH     32     /* INCLUDE nesting */
#define LOWER_MAX_INCLUDES  256    /* INCLUDEs per recipe (diamonds multiply) */

/* Lower `path` into r. Returns 0 if no error was raised. */
int lower_recipe(struct diag_ctx *d, struct recipe *r, const char *path, struct loc included_from,
		 const struct strvec *build_args);

/* The same for an in-memory recipe named `name` (tests, fuzzing); files it
 * names (INCLUDE, RC <file> …) are still looked up relative to r->dir. */
int lower_buffer(struct diag_ctx *d, struct recipe *r, const char *name, const char *data, size_t len,
		 const struct strvec *build_args);

#endif
