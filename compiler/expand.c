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

/* ---- glob patterns of ${X#p} ${X%p} ${X/p/r} ----
 *
 * A pattern is compiled to a list of tokens (a character, any character,
 * a class, a star) and run as an NFA over the value: a set of positions in
 * the token list, advanced one character at a time. That costs
 * O(value × pattern) per search, never backtracks, and a budget bounds the
 * whole word. Characters are UTF-8 code points; invalid bytes count as
 * one character each. */

enum gtok_kind { GT_CHAR, GT_ANY, GT_STAR, GT_CLASS };

struct gtok {
	enum gtok_kind kind;
	bool neg;            /* GT_CLASS: [!…] or [^…] */
	uint32_t cp;         /* GT_CHAR */
	uint32_t *ranges;    /* GT_CLASS: lo,hi pairs (into glob.ranges) */
	size_t nranges;
};

struct glob {
	struct gtok *t;
	size_t n;
	uint32_t *ranges;
	size_t nranges;
};

/* Decode one character at s[0..n) into *cp; returns its length (>= 1). */
static size_t utf8_get(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t l = diag_utf8_len(u, n);
	if (l <= 1) {
		*cp = u[0];
		return 1;
	}
	uint32_t v = u[0] & (0xff >> (l + 1));
	for (size_t i = 1; i < l; i++)
		v = (v << 6) | (u[i] & 0x3f);
	*cp = v;
	return l;
}

/* Length of the character that ends at s[n) (n > 0). */
static size_t utf8_back(const char *s, size_t n)
{
	size_t k = 1;
	while (k < 4 && k < n && ((unsigned char)s[n - k] & 0xc0) == 0x80)
		k++;
	uint32_t cp;
	if (utf8_get(s + n - k, k, &cp) == k)
		return k;
	return 1;
}

static void glob_free(struct glob *g)
{
	free(g->t);
	free(g->ranges);
	memset(g, 0, sizeof(*g));
}

/* Compile pat (escapes as '\'); false when it has more than
 * EXPAND_MAX_PATTERN tokens. */
static bool glob_compile(const char *pat, size_t len, struct glob *g)
{
	memset(g, 0, sizeof(*g));
	size_t cap = 0, rcap = 0;
	/* class ranges are stored as offsets first (ranges may move) */
	size_t *roff = NULL, roffcap = 0, nroff = 0;
	for (size_t i = 0; i < len;) {
		if (g->n >= EXPAND_MAX_PATTERN) {
			free(roff);
			glob_free(g);
			return false;
		}
		VEC_GROW(g->t, g->n, cap);
		struct gtok *t = &g->t[g->n];
		memset(t, 0, sizeof(*t));
		char c = pat[i];
		if (c == '*') {
			while (i < len && pat[i] == '*')
				i++;
			t->kind = GT_STAR;
		} else if (c == '?') {
			t->kind = GT_ANY;
			i++;
		} else if (c == '[') {
			/* find the closing ']' (one right after '[' or '[!' is literal) */
			size_t j = i + 1;
			if (j < len && (pat[j] == '!' || pat[j] == '^'))
				j++;
			if (j < len && pat[j] == ']')
				j++;
			while (j < len && pat[j] != ']') {
				if (pat[j] == '\\' && j + 1 < len)
					j++;
				j++;
			}
			if (j >= len) { /* no ']': a literal '[' */
				t->kind = GT_CHAR;
				t->cp = '[';
				i++;
				g->n++;
				continue;
			}
			t->kind = GT_CLASS;
			size_t k = i + 1;
			if (pat[k] == '!' || pat[k] == '^') {
				t->neg = true;
				k++;
			}
			VEC_GROW(roff, nroff, roffcap);
			roff[nroff++] = g->nranges;
			bool first = true;
			while (k < j || (first && k == j && pat[k] == ']')) {
				uint32_t lo, hi;
				if (pat[k] == '\\' && k + 1 < j)
					k++;
				k += utf8_get(pat + k, len - k, &lo);
				hi = lo;
				if (k + 1 < j && pat[k] == '-') {
					k++;
					if (pat[k] == '\\' && k + 1 < j)
						k++;
					k += utf8_get(pat + k, len - k, &hi);
				}
				first = false;
				if (g->nranges + 2 > rcap) {
					rcap = rcap ? 2 * rcap : 16;
					g->ranges = xrealloc(g->ranges, rcap * sizeof(*g->ranges));
				}
				g->ranges[g->nranges++] = lo;
				g->ranges[g->nranges++] = hi;
			}
			t->nranges = (g->nranges - roff[nroff - 1]) / 2;
			i = j + 1;
		} else {
			if (c == '\\' && i + 1 < len)
				i++;
			t->kind = GT_CHAR;
			i += utf8_get(pat + i, len - i, &t->cp);
		}
		g->n++;
	}
	for (size_t i = 0, r = 0; i < g->n; i++)
		if (g->t[i].kind == GT_CLASS)
			g->t[i].ranges = g->ranges + roff[r++];
	free(roff);
	return true;
}

static bool gtok_match(const struct gtok *t, uint32_t cp)
{
	switch (t->kind) {
	case GT_CHAR:
		return t->cp == cp;
	case GT_ANY:
		return true;
	case GT_CLASS: {
		bool in = false;
		for (size_t r = 0; r < t->nranges && !in; r++)
			in = cp >= t->ranges[2 * r] && cp <= t->ranges[2 * r + 1];
		return in != t->neg;
	}
	case GT_STAR:
	default:
		return false;
	}
}

/* The NFA state: for each token position, the start offset of the
 * earliest thread there (-1: none). */
struct gstate {
	const struct glob *g;
	long *cur, *nxt;
	uint64_t *budget;
};

static void gs_close(struct gstate *s)
{
	/* a star may match nothing: its position leads to the next one */
	for (size_t k = 0; k < s->g->n; k++)
		if (s->g->t[k].kind == GT_STAR && s->cur[k] >= 0 && (s->cur[k + 1] < 0 || s->cur[k] < s->cur[k + 1]))
			s->cur[k + 1] = s->cur[k];
}

/* Consume one character; returns false when no thread is left. */
static bool gs_step(struct gstate *s, uint32_t cp, bool reversed)
{
	size_t m = s->g->n;
	bool any = false;
	for (size_t k = 0; k <= m; k++)
		s->nxt[k] = -1;
	for (size_t k = 0; k < m; k++) {
		if (s->cur[k] < 0)
			continue;
		const struct gtok *t = &s->g->t[reversed ? m - 1 - k : k];
		size_t to;
		if (t->kind == GT_STAR)
			to = k;
		else if (gtok_match(t, cp))
			to = k + 1;
		else
			continue;
		if (s->nxt[to] < 0 || s->cur[k] < s->nxt[to])
			s->nxt[to] = s->cur[k];
		any = true;
	}
	*s->budget -= *s->budget >= m + 1 ? m + 1 : *s->budget;
	long *tmp = s->cur;
	s->cur = s->nxt;
	s->nxt = tmp;
	return any;
}

/* Anchored match of the pattern at the start (prefix) or the end
 * (suffix) of v: the shortest or longest length that matches, or -1. */
static long glob_affix(const struct glob *g, const char *v, size_t n, bool suffix, bool longest, uint64_t *budget)
{
	long *buf = xmalloc(2 * (g->n + 1) * sizeof(long));
	struct gstate s = {g, buf, buf + g->n + 1, budget};
	for (size_t k = 0; k <= g->n; k++)
		s.cur[k] = -1;
	s.cur[0] = 0;
	/* for a suffix, the tokens are run backwards over the value, read
	 * backwards: gs_close sees the reversed list through this copy */
	struct glob rev = *g;
	if (suffix) {
		rev.t = xmalloc((g->n + 1) * sizeof(*rev.t));
		for (size_t k = 0; k < g->n; k++)
			rev.t[k] = g->t[g->n - 1 - k];
		s.g = &rev;
	}
	long found = -1;
	size_t used = 0;
	for (;;) {
		gs_close(&s);
		if (s.cur[g->n] >= 0) {
			found = (long)used;
			if (!longest)
				break;
		}
		if (used >= n || !*budget)
			break;
		uint32_t cp;
		size_t l;
		if (suffix) {
			l = utf8_back(v, n - used);
			utf8_get(v + n - used - l, l, &cp);
		} else {
			l = utf8_get(v + used, n - used, &cp);
		}
		used += l;
		if (!gs_step(&s, cp, false))
			break;
	}
	if (suffix)
		free(rev.t);
	free(buf);
	return found;
}

/* Leftmost-longest match of the pattern in v[from..n): sets *ms, *me. */
static bool glob_find(const struct glob *g, const char *v, size_t n, size_t from, size_t *ms, size_t *me,
		      uint64_t *budget)
{
	long *buf = xmalloc(2 * (g->n + 1) * sizeof(long));
	struct gstate s = {g, buf, buf + g->n + 1, budget};
	for (size_t k = 0; k <= g->n; k++)
		s.cur[k] = -1;
	long best_s = -1, best_e = -1;
	size_t pos = from;
	for (;;) {
		if (best_s < 0 && (s.cur[0] < 0))
			s.cur[0] = (long)pos; /* a new thread starts here */
		gs_close(&s);
		if (s.cur[g->n] >= 0 && (best_s < 0 || s.cur[g->n] < best_s || (s.cur[g->n] == best_s && (long)pos > best_e))) {
			best_s = s.cur[g->n];
			best_e = (long)pos;
		}
		if (best_s >= 0) /* later starts cannot win any more */
			for (size_t k = 0; k <= g->n; k++)
				if (s.cur[k] > best_s)
					s.cur[k] = -1;
		if (pos >= n || !*budget)
			break;
		uint32_t cp;
		pos += utf8_get(v + pos, n - pos, &cp);
		if (!gs_step(&s, cp, false) && best_s >= 0)
			break;
	}
	free(buf);
	if (best_s < 0)
		return false;
	*ms = (size_t)best_s;
	*me = (size_t)best_e;
	return true;
}

/* ---- expansion ---- */

/* One word being expanded. `text` is the word with its continuations
 * removed; map[i] is the offset in the source of text[i] (NULL: the same). */
struct xp {
	struct diag_ctx *d;
	struct loc loc;
	const char *text;
	size_t len;
	const uint32_t *map;
	const struct var_env *env;
	char esc;
	bool no_quotes;      /* exec-form elements: quotes are ordinary characters */
	uint64_t budget;     /* pattern-matching work left */
};

static struct loc xp_at(const struct xp *x, size_t i, size_t n)
{
	if (i > x->len)
		i = x->len;
	if (i + n > x->len)
		n = x->len - i;
	uint32_t a = x->map ? x->map[i] : (uint32_t)i;
	uint32_t b = x->map ? (i + n < x->len ? x->map[i + n] : (uint32_t)x->loc.len) : (uint32_t)(i + n);
	if (b < a)
		b = a;
	return (struct loc){x->loc.file, x->loc.off + a, b - a};
}

enum xmode {
	XM_WORD,     /* quotes removed, escapes applied */
	XM_PATTERN,  /* like WORD, but escapes and quoted glob characters kept as \c */
};

static bool expand_range(struct xp *x, size_t from, size_t to, enum xmode mode, int depth, struct strbuf *sb);

static void undefined_hint(struct diag *g, const struct var_env *env, const char *name, bool no_value)
{
	const char *c = no_value ? NULL : closest_var(env, name);
	if (c)
		diag_hint(g, "did you mean '%s'?", c);
	else if (no_value)
		diag_hint(g, "give it a default (ARG %s=value) or pass --build-arg %s=value; "
			     "a Dockerfile would use an empty value: write ${%s:-} for that", name, name, name);
	else
		diag_hint(g, "declare it earlier with ARG %s=value or ENV %s=value; a Dockerfile would use an empty value: "
			     "write ${%s:-} for that, or \\$ for a literal '$'", name, name, name);
}

/* The end of the operand of ${NAME<op>…} starting at i: the index of the
 * '}' that closes the reference (or of the first `stop` character at the
 * same level, when stop is not 0), or x->len. */
static size_t operand_end(const struct xp *x, size_t i, char stop)
{
	int nest = 0;
	while (i < x->len) {
		char c = x->text[i];
		if (c == x->esc && i + 1 < x->len) {
			i += 2;
			continue;
		}
		if (!x->no_quotes && (c == '\'' || c == '"')) {
			size_t j = i + 1;
			while (j < x->len && x->text[j] != c) {
				if (c == '"' && x->text[j] == x->esc && j + 1 < x->len)
					j++;
				j++;
			}
			i = j < x->len ? j + 1 : j;
			continue;
		}
		if (c == '$' && i + 1 < x->len && x->text[i + 1] == '{') {
			nest++;
			i += 2;
			continue;
		}
		if (c == '}') {
			if (!nest)
				return i;
			nest--;
		} else if (c == stop && !nest) {
			return i;
		}
		i++;
	}
	return x->len;
}

static bool expand_sub(struct xp *x, size_t from, size_t to, enum xmode mode, int depth, struct loc at, char **out)
{
	if (depth >= EXPAND_MAX_NEST) { /* depth 0 is the first ${…} with an operand */
		struct diag *g = diag_error(x->d, at, "variable references nested too deeply (the limit is %d)", EXPAND_MAX_NEST);
		diag_hint(g, "set an intermediate variable with ARG or ENV");
		return false;
	}
	struct strbuf sb;
	sb_init(&sb);
	if (!expand_range(x, from, to, mode, depth + 1, &sb)) {
		sb_free(&sb);
		return false;
	}
	*out = sb_detach(&sb);
	return true;
}

/* Expand one $… reference at text[i] (== '$'). Appends to sb, sets *next
 * to the index after it; false on error (diagnosed). */
static bool expand_ref(struct xp *x, size_t i, int depth, struct strbuf *sb, size_t *next)
{
	const char *t = x->text;
	size_t len = x->len;
	if (!(i + 1 < len && t[i + 1] == '{')) {
		size_t nl = name_len(t + i + 1, len - i - 1);
		if (!nl) {
			sb_addc(sb, '$'); /* a lone '$' is literal */
			*next = i + 1;
			return true;
		}
		char *name = xstrndup(t + i + 1, nl);
		const struct var *v = var_get(x->env, name);
		if (!v || !v->value) {
			struct diag *g = diag_error(x->d, xp_at(x, i, nl + 1), v ? "ARG %s has no value" : "undefined variable '%s'", name);
			undefined_hint(g, x->env, name, v != NULL);
			free(name);
			return false;
		}
		sb_adds(sb, v->value);
		free(name);
		*next = i + 1 + nl;
		return true;
	}
	size_t j = i + 2;
	size_t nl = name_len(t + j, len - j);
	if (!nl) {
		struct diag *g = diag_error(x->d, xp_at(x, i, len - i > 3 ? 3 : len - i), "bad variable reference: expected a name after '${'");
		diag_hint(g, "names are letters, digits and '_', e.g. ${VERSION}; write \\$ for a literal '$'");
		return false;
	}
	char *name = xstrndup(t + j, nl);
	j += nl;
	/* the operator */
	char op[3] = {0};
	if (j < len && t[j] == ':' && j + 1 < len && strchr("-+?", t[j + 1])) {
		op[0] = ':';
		op[1] = t[j + 1];
		j += 2;
	} else if (j < len && strchr("-+?", t[j])) {
		op[0] = t[j++];
	} else if (j < len && (t[j] == '#' || t[j] == '%' || t[j] == '/')) {
		op[0] = t[j++];
		if (j < len && t[j] == op[0])
			op[1] = t[j++];
	} else if (j < len && t[j] != '}') {
		size_t e = operand_end(x, j, 0);
		struct loc at = xp_at(x, i, (e < len ? e + 1 : e) - i);
		struct diag *g = diag_error(x->d, at, "unsupported variable operator '%.*s' in '${%s…}'", t[j] == ':' && j + 1 < len ? 2 : 1,
					    t + j, name);
		diag_hint(g, "the forms are ${%s}, ${%s:-word} ${%s-word} ${%s:+word} ${%s+word} ${%s:?message} ${%s?message}, "
			     "${%s#pattern} ${%s##pattern} ${%s%%pattern} ${%s%%%%pattern}, ${%s/pattern/text} ${%s//pattern/text}",
			  name, name, name, name, name, name, name, name, name, name, name, name, name);
		free(name);
		return false;
	}
	size_t opnd = j, pat_end = 0;
	if (op[0] == '/') {
		pat_end = operand_end(x, j, '/');
		j = pat_end < len && t[pat_end] == '/' ? operand_end(x, pat_end + 1, 0) : pat_end;
	} else if (op[0]) {
		j = operand_end(x, j, 0);
	}
	if (j >= len || t[j] != '}') {
		struct diag *g = diag_error(x->d, xp_at(x, i, j - i), "unterminated variable reference '${%s'", name);
		diag_hint(g, "close it with '}'");
		free(name);
		return false;
	}
	struct loc at = xp_at(x, i, j + 1 - i);
	*next = j + 1;
	const struct var *v = var_get(x->env, name);
	bool set = v && v->value;
	bool nonempty = set && *v->value;
	char *w = NULL;
	bool ok = true;
	switch (op[0]) {
	case 0:
		break;
	case ':':
	case '-':
	case '+':
	case '?': {
		char o = op[0] == ':' ? op[1] : op[0];
		bool cond = op[0] == ':' ? nonempty : set; /* "is there a value" */
		if (o == '-') {
			if (cond) {
				sb_adds(sb, v->value);
			} else if ((ok = expand_sub(x, opnd, j, XM_WORD, depth, at, &w))) {
				sb_adds(sb, w);
			}
		} else if (o == '+') {
			if (cond && (ok = expand_sub(x, opnd, j, XM_WORD, depth, at, &w)))
				sb_adds(sb, w);
		} else {
			if (cond) {
				sb_adds(sb, v->value);
			} else if ((ok = expand_sub(x, opnd, j, XM_WORD, depth, at, &w))) {
				struct diag *g = *w ? diag_error(x->d, at, "%s: %s", name, w)
						    : diag_error(x->d, at, "variable '%s' is %s", name,
								 op[0] == ':' ? "not set or empty" : "not set");
				diag_hint(g, "the recipe asks for it: pass --build-arg %s=value or set it with ARG or ENV", name);
				ok = false;
			}
		}
		free(w);
		free(name);
		return ok;
	}
	default:
		break;
	}
	if (!set) {
		struct diag *g = diag_error(x->d, at, v ? "ARG %s has no value" : "undefined variable '%s'", name);
		undefined_hint(g, x->env, name, v != NULL);
		free(name);
		return false;
	}
	if (!op[0]) {
		sb_adds(sb, v->value);
		free(name);
		return true;
	}
	/* # ## % %% / // : the operand is a glob pattern */
	char *pat = NULL, *repl = NULL;
	size_t vlen = strlen(v->value);
	struct glob g = {0};
	ok = expand_sub(x, opnd, op[0] == '/' ? pat_end : j, XM_PATTERN, depth, at, &pat);
	if (ok && op[0] == '/') {
		if (pat_end < j)
			ok = expand_sub(x, pat_end + 1, j, XM_WORD, depth, at, &repl);
		else
			repl = xstrdup("");
	}
	if (ok && !glob_compile(pat, strlen(pat), &g)) {
		struct diag *dg = diag_error(x->d, at, "pattern in '${%s…}' is too long (more than %d tokens)", name, EXPAND_MAX_PATTERN);
		diag_hint(dg, "use a shorter pattern");
		ok = false;
	}
	if (ok && (op[0] == '#' || op[0] == '%')) {
		long l = glob_affix(&g, v->value, vlen, op[0] == '%', op[1] != 0, &x->budget);
		if (l < 0)
			sb_adds(sb, v->value);
		else if (op[0] == '#')
			sb_adds(sb, v->value + l);
		else
			sb_add(sb, v->value, vlen - (size_t)l);
	} else if (ok) {
		size_t p = 0, ms, me;
		if (g.n == 0) { /* an empty pattern replaces nothing */
			sb_adds(sb, v->value);
		} else {
			while (p <= vlen && glob_find(&g, v->value, vlen, p, &ms, &me, &x->budget) && me > ms) {
				sb_add(sb, v->value + p, ms - p);
				sb_adds(sb, repl);
				p = me;
				if (!op[1])
					break;
			}
			sb_add(sb, v->value + p, vlen - p);
		}
	}
	if (ok && !x->budget) {
		struct diag *dg = diag_error(x->d, at, "pattern matching in '${%s…}' needs too much work", name);
		diag_hint(dg, "use a simpler pattern or a shorter value");
		ok = false;
	}
	glob_free(&g);
	free(pat);
	free(repl);
	free(name);
	return ok;
}

static bool word_special(const struct xp *x, char c)
{
	return c == x->esc || c == '$' || (!x->no_quotes && (c == '\'' || c == '"'));
}

/* in a pattern, characters that came out of quotes or escapes are literal */
static void add_lit(struct strbuf *sb, enum xmode mode, char c)
{
	if (mode == XM_PATTERN && strchr("*?[]\\", c))
		sb_addc(sb, '\\');
	sb_addc(sb, c);
}

static bool expand_range(struct xp *x, size_t from, size_t to, enum xmode mode, int depth, struct strbuf *sb)
{
	const char *raw = x->text;
	for (size_t i = from; i < to;) {
		char c = raw[i];
		if (c == '\'' && !x->no_quotes) {
			size_t j = i + 1;
			while (j < to && raw[j] != '\'')
				add_lit(sb, mode, raw[j++]);
			i = j + 1;
		} else if (c == '"' && !x->no_quotes) {
			size_t j = i + 1;
			while (j < to && raw[j] != '"') {
				if (raw[j] == x->esc && j + 1 < to &&
				    (raw[j + 1] == '"' || raw[j + 1] == x->esc || raw[j + 1] == '$')) {
					add_lit(sb, mode, raw[j + 1]);
					j += 2;
				} else if (raw[j] == '$') {
					if (!expand_ref(x, j, depth, sb, &j))
						return false;
				} else {
					add_lit(sb, mode, raw[j++]);
				}
			}
			i = j + 1;
		} else if (c == x->esc && i + 1 < to) {
			add_lit(sb, mode, raw[i + 1]);
			i += 2;
		} else if (c == '$') {
			if (!expand_ref(x, i, depth, sb, &i))
				return false;
		} else {
			size_t j = i + 1; /* a run of plain characters */
			while (j < to && !word_special(x, raw[j]))
				j++;
			sb_add(sb, raw + i, j - i);
			i = j;
		}
		if (sb->len > EXPAND_MAX_LEN) {
			struct diag *g = diag_error(x->d, x->loc, "the expanded word is longer than %u bytes", EXPAND_MAX_LEN);
			diag_hint(g, "variables that double each other grow fast; keep values short");
			return false;
		}
	}
	return true;
}

size_t expand_continuation(const char *s, size_t len, size_t i, char esc)
{
	if (i >= len || s[i] != esc)
		return 0;
	size_t j = i + 1;
	while (j < len && (s[j] == ' ' || s[j] == '\t'))
		j++;
	if (j >= len || s[j] != '\n')
		return 0;
	j++;
	for (;;) { /* blank lines and comment lines inside the continuation */
		size_t k = j;
		while (k < len && (s[k] == ' ' || s[k] == '\t'))
			k++;
		if (k < len && s[k] == '#')
			while (k < len && s[k] != '\n')
				k++;
		if (k >= len || s[k] != '\n')
			break;
		j = k + 1;
	}
	return j - i;
}

char *expand_word_ex(struct diag_ctx *d, struct loc loc, const char *raw, size_t len, const struct var_env *env,
		     const struct expand_opts *o)
{
	struct xp x = {d, loc, raw, len, NULL, env, o && o->esc ? o->esc : '\\', o && o->no_quotes, EXPAND_PATTERN_BUDGET};
	size_t plain = 0;
	while (plain < len && !word_special(&x, raw[plain]))
		plain++;
	if (plain == len) /* no quotes, escapes or variables: most words */
		return xstrndup(raw, len);
	char *joined = NULL;
	uint32_t *map = NULL;
	if (memchr(raw, '\n', len)) { /* continuations inside the word join its lines */
		joined = xmalloc(len + 1);
		map = xmalloc((len + 1) * sizeof(*map));
		size_t n = 0;
		for (size_t i = 0; i < len;) {
			size_t c = expand_continuation(raw, len, i, x.esc);
			if (c) {
				i += c;
				continue;
			}
			size_t k = raw[i] == x.esc && i + 1 < len ? 2 : 1; /* an escape pair stays whole */
			for (size_t e = 0; e < k; e++) {
				map[n] = (uint32_t)(i + e);
				joined[n++] = raw[i + e];
			}
			i += k;
		}
		joined[n] = 0;
		x.text = joined;
		x.len = n;
		x.map = map;
	}
	struct strbuf sb;
	sb_init(&sb);
	bool ok = expand_range(&x, 0, x.len, XM_WORD, 0, &sb);
	free(joined);
	free(map);
	if (!ok) {
		sb_free(&sb);
		return NULL;
	}
	return sb_detach(&sb);
}

char *expand_word(struct diag_ctx *d, struct loc loc, const char *raw, size_t len, const struct var_env *env)
{
	return expand_word_ex(d, loc, raw, len, env, NULL);
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
