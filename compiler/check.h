/* check.h — semantic checks over a lowered recipe, and recipe loading.
 *
 * recipe_load() parses and lowers a Smolfile, follows FROM <recipe> to
 * its parent (recursively, cycles are errors), then check_recipe()
 * validates the whole and fills recipe->set (resolved settings with
 * defaults, inherited from the parent where the child is silent). */
#ifndef SMOLC_CHECK_H
#define SMOLC_CHECK_H

#include "ir.h"

/* Returns the recipe (caller frees with recipe_free) — also when errors
 * were raised, so callers can still inspect it — or NULL when the file
 * could not be read at all. Check d->errors. */
struct recipe *recipe_load(struct diag_ctx *d, const char *path, const struct strvec *build_args);
/* The same with the build context `context` (NULL: the recipe's
 * directory), as `smolc build -f FILE [DIR]`. */
struct recipe *recipe_load_in(struct diag_ctx *d, const char *path, const char *context, const struct strvec *build_args);

/* The same for an in-memory recipe (tests, fuzzing): `name` stands for its
 * path (its directory is the build context). Never returns NULL. */
struct recipe *recipe_load_buffer(struct diag_ctx *d, const char *name, const char *data, size_t len,
				  const struct strvec *build_args);

int check_recipe(struct diag_ctx *d, struct recipe *r);

/* Known NetBSD set names (NULL-terminated). */
extern const char *const check_known_sets[];

#endif
