/* expand.h — variables (ARG, ENV, --build-arg) and word expansion.
 *
 * Arguments: quotes are removed ('…' literal, "…" with expansion and
 * \" \\ \$ escapes, \x outside quotes is x), and $NAME, ${NAME},
 * ${NAME:-default} are replaced. An undefined name is an error.
 * Heredoc bodies and CMD/APPEND text keep shell syntax: only ${NAME} and
 * ${NAME:-default} whose NAME is a declared ARG/ENV are replaced; any
 * other '$' text is left for the guest's shell. */
#ifndef SMOLC_EXPAND_H
#define SMOLC_EXPAND_H

#include "diag.h"

struct var {
	char *name;
	char *value;        /* NULL: declared (ARG NAME) but without a value */
	bool is_env;
	struct loc loc;
};

struct var_env {
	struct var *v;
	size_t n, cap;
	/* open-addressing index over v by name: slot holds index+1, 0 = free;
	 * nslots is 0 or a power of two. Zero-initialised = empty. */
	size_t *slot;
	size_t nslots;
};

void var_set(struct var_env *e, const char *name, const char *value, bool is_env, struct loc loc);
const struct var *var_get(const struct var_env *e, const char *name);
void var_env_free(struct var_env *e);

/* Expand an argument word (raw source text at loc). Returns the new string,
 * or NULL after queuing a diagnostic. */
char *expand_word(struct diag_ctx *d, struct loc loc, const char *raw, size_t len, const struct var_env *env);

/* Expand declared ${NAME} in shell text. Never fails. */
char *expand_shell_text(const char *text, size_t len, const struct var_env *env);

bool var_name_valid(const char *s, size_t n);

#define EXPAND_MAX_NEST 8   /* ${A:-${B:-…}} references nested in one another */

#endif
