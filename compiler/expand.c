/* expand.c — see expand.h. */
#include "expand.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static size_t name_hash(const char *s)
{
	size_t h = 14695981039346656037u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/* slot of NAME in e's index: the one holding it, or the free one where it goes */
static size_t *var_slot(const struct var_env *e, const char *name)
{
	size_t mask = e->nslots - 1;
	for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask)
		if (!e->slot[i] || !strcmp(e->v[e->slot[i] - 1].name, name))
			return &e->slot[i];
}

static void var_reindex(struct var_env *e)
{
	free(e->slot);
	e->nslots = 16;
	while (e->nslots < 2 * (e->n + 1))
		e->nslots *= 2;
	e->slot = xcalloc(e->nslots, sizeof(*e->slot));
	for (size_t i = 0; i < e->n; i++)
		*var_slot(e, e->v[i].name) = i + 1;
}

void var_set(struct var_env *e, const char *name, const char *value, bool is_env, struct loc loc)
{
	if (2 * (e->n + 1) > e->nslots)
		var_reindex(e);
	size_t *sl = var_slot(e, name);
	if (*sl) {
		struct var *v = &e->v[*sl - 1];
		free(v->value);
		v->value = value ? xstrdup(value) : NULL;
		v->is_env = v->is_env || is_env;
		v->loc = loc;
		return;
	}
	VEC_GROW(e->v, e->n, e->cap);
	e->v[e->n++] = (struct var){xstrdup(name), value ? xstrdup(value) : NULL, is_env, loc};
	*sl = e->n;
}

const struct var *var_get(const struct var_env *e, const char *name)
{
	if (!e->nslots)
		return NULL;
	size_t *sl = var_slot(e, name);
	return *sl ? &e->v[*sl - 1] : NULL;
}

void var_env_free(struct var_env *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].name);
		free(e->v[i].value);
	}
	free(e->v);
	free(e->slot);
	memset(e, 0, sizeof(*e));
}

bool var_name_valid(const char *s, size_t n)
{
	if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

static size_t name_len(const char *s, size_t n)
{
	size_t i = 0;
	if (i < n && (isalpha((unsigned char)s[i]) || s[i] == '_'))
		for (i = 1; i < n && (isalnum((unsigned char)s[i]) || s[i] == '_'); i++)
			;
	return i;
}

static const char *closest_var(const struct var_env *env, const char *name)
{
	const char *best = NULL;
	size_t bd = 3;
	for (size_t i = 0; i < env->n; i++) {
		size_t dd = levenshtein(name, env->v[i].name);
		if (dd < bd) {
			bd = dd;
			best = env->v[i].name;
		}
	}
	return best;
}

/* Expand one $… reference at raw[i] (raw[i] == '$'). Appends to sb and
 * returns the number of bytes consumed, or 0 on error (diagnosed). */
static size_t expand_ref(struct diag_ctx *d, struct loc loc, const char *raw, size_t len, size_t i,
			 const struct var_env *env, struct strbuf *sb, int depth)
{
	struct loc at = {loc.file, loc.off + (uint32_t)i, 1};
	if (i + 1 < len && raw[i + 1] == '{') {
		size_t j = i + 2;
		size_t nl = name_len(raw + j, len - j);
		if (!nl) {
			at.len = (uint32_t)(len - i > 3 ? 3 : len - i);
			struct diag *g = diag_error(d, at, "bad variable reference: expected a name after '${'");
			diag_hint(g, "names are letters, digits and '_', e.g. ${VERSION}; write \\$ for a literal '$'");
			return 0;
		}
		char *name = xstrndup(raw + j, nl);
		j += nl;
		const char *deflt = NULL;
		size_t deflt_len = 0, deflt_off = 0;
		if (j + 1 < len && raw[j] == ':' && raw[j + 1] == '-') {
			j += 2;
			deflt_off = j;
			int nest = 0;
			while (j < len && (raw[j] != '}' || nest)) {
				if (raw[j] == '\\' && j + 1 < len)
					j++; /* an escaped character: \} does not close */
				else if (raw[j] == '{')
					nest++;
				else if (raw[j] == '}')
					nest--;
				j++;
			}
			deflt = raw + deflt_off;
			deflt_len = j - deflt_off;
		}
		if (j >= len || raw[j] != '}') {
			at.len = (uint32_t)(j - i);
			struct diag *g = diag_error(d, at, "unterminated variable reference '${%s'", name);
			diag_hint(g, "close it with '}'");
			free(name);
			return 0;
		}
		j++;
		at.len = (uint32_t)(j - i);
		const struct var *v = var_get(env, name);
		if (v && v->value && (*v->value || !deflt)) {
			sb_adds(sb, v->value); /* ${X:-d}: d when X is unset or empty, as in sh */
		} else if (deflt) {
			if (depth >= EXPAND_MAX_NEST) { /* depth 0 is the first ${…:-…} */
				diag_error(d, at, "variable defaults nested too deeply");
				free(name);
				return 0;
			}
			/* the default is itself expanded */
			struct loc dl = {loc.file, loc.off + (uint32_t)deflt_off, (uint32_t)deflt_len};
			for (size_t k = 0; k < deflt_len;) {
				if (deflt[k] == '\\' && k + 1 < deflt_len) {
					sb_addc(sb, deflt[k + 1]); /* \$ is a literal '$', as in a word */
					k += 2;
				} else if (deflt[k] == '$') {
					size_t used = expand_ref(d, dl, deflt, deflt_len, k, env, sb, depth + 1);
					if (!used) {
						free(name);
						return 0;
					}
					k += used;
				} else {
					sb_addc(sb, deflt[k++]);
				}
			}
		} else {
			struct diag *g;
			if (v) {
				g = diag_error(d, at, "ARG %s has no value", name);
				diag_hint(g, "give it a default (ARG %s=value) or pass --build-arg %s=value", name, name);
			} else {
				g = diag_error(d, at, "undefined variable '%s'", name);
				const char *c = closest_var(env, name);
				if (c)
					diag_hint(g, "did you mean '%s'?", c);
				else
					diag_hint(g, "declare it earlier with ARG %s=value or ENV %s=value, or use ${%s:-default}",
						  name, name, name);
			}
			free(name);
			return 0;
		}
		free(name);
		return j - i;
	}
	size_t nl = name_len(raw + i + 1, len - i - 1);
	if (!nl) {
		sb_addc(sb, '$'); /* a lone '$' is literal */
		return 1;
	}
	char *name = xstrndup(raw + i + 1, nl);
	at.len = (uint32_t)(nl + 1);
	const struct var *v = var_get(env, name);
	if (!v || !v->value) {
		struct diag *g = diag_error(d, at, v ? "ARG %s has no value" : "undefined variable '%s'", name);
		const char *c = v ? NULL : closest_var(env, name);
		if (c)
			diag_hint(g, "did you mean '%s'?", c);
		else
			diag_hint(g, "declare it earlier with ARG %s=value (or pass --build-arg %s=value); write \\$ for a literal '$'",
				  name, name);
		free(name);
		return 0;
	}
	sb_adds(sb, v->value);
	free(name);
	return nl + 1;
}

static bool word_special(char c)
{
	return c == '\'' || c == '"' || c == '\\' || c == '$';
}

char *expand_word(struct diag_ctx *d, struct loc loc, const char *raw, size_t len, const struct var_env *env)
{
	size_t plain = 0;
	while (plain < len && !word_special(raw[plain]))
		plain++;
	if (plain == len) /* no quotes, escapes or variables: most words */
		return xstrndup(raw, len);
	struct strbuf sb;
	sb_init(&sb);
	sb_add(&sb, raw, plain);
	bool ok = true;
	for (size_t i = plain; i < len && ok;) {
		char c = raw[i];
		if (c == '\'') {
			size_t j = i + 1;
			while (j < len && raw[j] != '\'')
				j++;
			sb_add(&sb, raw + i + 1, j - i - 1);
			i = j + 1;
		} else if (c == '"') {
			size_t j = i + 1;
			while (j < len && raw[j] != '"' && ok) {
				if (raw[j] == '\\' && j + 1 < len &&
				    (raw[j + 1] == '"' || raw[j + 1] == '\\' || raw[j + 1] == '$')) {
					sb_addc(&sb, raw[j + 1]);
					j += 2;
				} else if (raw[j] == '$') {
					size_t used = expand_ref(d, loc, raw, len, j, env, &sb, 0);
					if (!used)
						ok = false;
					j += used;
				} else {
					sb_addc(&sb, raw[j++]);
				}
			}
			i = j + 1;
		} else if (c == '\\' && i + 1 < len) {
			sb_addc(&sb, raw[i + 1]);
			i += 2;
		} else if (c == '$') {
			size_t used = expand_ref(d, loc, raw, len, i, env, &sb, 0);
			if (!used)
				ok = false;
			i += used;
		} else {
			size_t j = i + 1; /* a run of plain characters */
			while (j < len && !word_special(raw[j]))
				j++;
			sb_add(&sb, raw + i, j - i);
			i = j;
		}
	}
	if (!ok) {
		sb_free(&sb);
		return NULL;
	}
	return sb_detach(&sb);
}

char *expand_shell_text(const char *text, size_t len, const struct var_env *env)
{
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < len;) {
		if (text[i] == '\\' && i + 2 < len && text[i + 1] == '$' && text[i + 2] == '{') {
			sb_add(&sb, "${", 2); /* \${ keeps a literal ${ */
			i += 3;
			continue;
		}
		if (text[i] == '$' && i + 1 < len && text[i + 1] == '{') {
			size_t nl = name_len(text + i + 2, len - i - 2);
			size_t j = i + 2 + nl;
			if (nl) {
				char *name = xstrndup(text + i + 2, nl);
				const struct var *v = var_get(env, name);
				free(name);
				if (v && j < len && text[j] == '}' && v->value) {
					sb_adds(&sb, v->value);
					i = j + 1;
					continue;
				}
				if (v && j + 1 < len && text[j] == ':' && text[j + 1] == '-') {
					size_t k = j + 2;
					while (k < len && text[k] != '}' && text[k] != '\n')
						k++;
					if (k < len && text[k] == '}') {
						if (v->value && *v->value)
							sb_adds(&sb, v->value);
						else
							sb_add(&sb, text + j + 2, k - j - 2);
						i = k + 1;
						continue;
					}
				}
			}
		}
		size_t j = i + 1; /* up to the next '\\' or '$' */
		while (j < len && text[j] != '\\' && text[j] != '$')
			j++;
		sb_add(&sb, text + i, j - i);
		i = j;
	}
	return sb_detach(&sb);
}
