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
 * or NULL after queuing a diagnostic. Besides $NAME and ${NAME}, the
 * Dockerfile forms ${NAME:-w} ${NAME-w} ${NAME:+w} ${NAME+w}
 * ${NAME:?msg} ${NAME?msg} ${NAME#p} ${NAME##p} ${NAME%p} ${NAME%%p}
 * ${NAME/p/r} ${NAME//p/r} (p a glob: * ? [...]); an escape followed by
 * the end of the line (a continuation) is removed. */
char *expand_word(struct diag_ctx *d, struct loc loc, const char *raw, size_t len, const struct var_env *env);

struct expand_opts {
	char esc;           /* the escape character ('\\' when 0; '`' after "# escape=`") */
	bool no_quotes;     /* quotes are ordinary characters (exec-form elements) */
};
char *expand_word_ex(struct diag_ctx *d, struct loc loc, const char *raw, size_t len, const struct var_env *env,
		     const struct expand_opts *o);

/* Length of the continuation (escape, blanks, newline, then any blank or
 * comment lines) at s[i], or 0 when there is none. */
size_t expand_continuation(const char *s, size_t len, size_t i, char esc);

/* Expand declared ${NAME} in shell text. Never fails. */
char *expand_shell_text(const char *text, size_t len, const struct var_env *env);

bool var_name_valid(const char *s, size_t n);

#define EXPAND_MAX_NEST 8   /* ${A:-${B:-…}} references nested in one another */
#define EXPAND_MAX_PATTERN 1024          /* tokens in a ${X#pattern} glob */
#define EXPAND_MAX_LEN (1u << 20)         /* bytes of one expanded word */
#define EXPAND_PATTERN_BUDGET (64u << 20) /* NFA steps for the patterns of one word */

#endif
