/* pkg_resolve.c — DEPENDS resolution (see pkg_resolve.h for the rules).
 *
 * One pass is a breadth-first walk from the requested patterns. Chosen
 * packages live in `slots`; `slot_of[i]` maps the first index of a base
 * name's run in the summary to its slot (-1: none yet), and `first_of`
 * maps every package to that first index, so "is this name chosen?" is two
 * array reads. Candidate lists are cached per pattern pointer. Constraints
 * (name, pattern, chain) and exclusions survive across passes; a pass that
 * learns one asks for a restart. Chains are stored once per chosen
 * package and extended only when a message needs them. */
#include "pkg_resolve.h"
#include "pkg_match.h"
#include "pkg_version.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESTARTS 2000

struct constraint {
	const char *name;       /* interned base name (summary's pointer) */
	const char *pattern;    /* borrowed: summary or caller */
	char *chain;
};

struct slot {
	size_t idx;             /* index into summary->pkgs */
	long parent;            /* the slot whose DEPENDS brought it, -1: requested */
	const char *pattern;    /* the pattern it was chosen for (borrowed) */
	bool requested;
	size_t *deps;           /* slot numbers */
	size_t n_deps, cap_deps;
};

struct qitem {
	const char *pattern;
	long parent;            /* slot, or -1 for a user request */
};

/* Candidate lists per pattern pointer (DEPENDS strings are interned by the
 * summary, so the same pattern is one pointer), kept across passes. */
struct cand_slot {
	const char *pattern;     /* NULL: empty */
	size_t off, n;           /* into ctx.pool */
};

struct ctx {
	const struct pkg_summary *s;
	struct cand_slot *cache;
	size_t cache_n, cache_cap;
	size_t *pool;
	size_t pool_n, pool_cap;
	const char *repo;
	struct constraint *cons;
	size_t n_cons, cap_cons;
	/* per pass */
	struct slot *slots;
	size_t n_slots, cap_slots;
	size_t *first_of;       /* package index -> first index of its name run */
	bool *excluded;         /* packages ruled out (unmeetable dependencies) */
	char *first_err;        /* first dead end met, for the final message */
	long *slot_of;
	struct qitem *q;
	size_t q_head, q_n, q_cap;
};

static void pass_reset(struct ctx *c)
{
	for (size_t i = 0; i < c->n_slots; i++)
		free(c->slots[i].deps);
	c->n_slots = 0;
	for (size_t i = 0; i < c->s->n; i++)
		c->slot_of[i] = -1;
	c->q_head = c->q_n = 0;
}

static void ctx_free(struct ctx *c)
{
	pass_reset(c);
	free(c->cache);
	free(c->pool);
	free(c->slots);
	free(c->slot_of);
	free(c->first_of);
	free(c->excluded);
	free(c->first_err);
	free(c->q);
	for (size_t i = 0; i < c->n_cons; i++)
		free(c->cons[i].chain);
	free(c->cons);
}

static void cache_insert(struct cand_slot *tab, size_t cap, struct cand_slot e)
{
	size_t k = ((uintptr_t)e.pattern >> 3) * 2654435761u & (cap - 1);
	while (tab[k].pattern)
		k = (k + 1) & (cap - 1);
	tab[k] = e;
}

/* Candidates of `pattern` (borrowed from the pool; valid until the next
 * call, as the pool may move). */
static size_t candidates(struct ctx *c, const char *pattern, const size_t **out)
{
	if (c->cache_cap) {
		size_t k = ((uintptr_t)pattern >> 3) * 2654435761u & (c->cache_cap - 1);
		while (c->cache[k].pattern) {
			if (c->cache[k].pattern == pattern) {
				*out = c->pool ? c->pool + c->cache[k].off : NULL; /* none yet: NULL, n 0 */
				return c->cache[k].n;
			}
			k = (k + 1) & (c->cache_cap - 1);
		}
	}
	size_t *v = NULL;
	size_t n = pkg_summary_candidates(c->s, pattern, &v);
	if ((c->cache_n + 1) * 2 > c->cache_cap) {
		size_t ncap = c->cache_cap ? c->cache_cap * 2 : 256;
		struct cand_slot *nt = xcalloc(ncap, sizeof(*nt));
		for (size_t i = 0; i < c->cache_cap; i++)
			if (c->cache[i].pattern)
				cache_insert(nt, ncap, c->cache[i]);
		free(c->cache);
		c->cache = nt;
		c->cache_cap = ncap;
	}
	while (c->pool_n + n > c->pool_cap) {
		c->pool_cap = c->pool_cap ? c->pool_cap * 2 : 1024;
		c->pool = xrealloc(c->pool, c->pool_cap * sizeof(size_t));
	}
	if (n)
		memcpy(c->pool + c->pool_n, v, n * sizeof(size_t));
	free(v);
	cache_insert(c->cache, c->cache_cap, (struct cand_slot){ pattern, c->pool_n, n });
	c->cache_n++;
	*out = c->pool ? c->pool + c->pool_n : NULL;
	c->pool_n += n;
	return n;
}

/* "nginx → pcre2>=10": the patterns from the user's request down to
 * `pattern` (reached from slot `parent`, -1: the request itself). A deep
 * chain shows its first two and last four links around "…", so that every
 * chain is short and memory stays linear in the depth. */
#define CHAIN_HEAD 2
#define CHAIN_TAIL 4
static char *chain_of(const struct ctx *c, long parent, const char *pattern)
{
	size_t depth = 1;
	for (long p = parent; p >= 0; p = c->slots[p].parent)
		depth++;
	const char **v = xmalloc(depth * sizeof(*v));
	size_t i = depth;
	v[--i] = pattern;
	for (long p = parent; p >= 0; p = c->slots[p].parent)
		v[--i] = c->slots[p].pattern;
	struct strbuf sb;
	sb_init(&sb);
	for (i = 0; i < depth; i++) {
		if (depth > CHAIN_HEAD + CHAIN_TAIL + 1 && i == CHAIN_HEAD) {
			sb_printf(&sb, " \u2192 \u2026 (%zu more)", depth - CHAIN_HEAD - CHAIN_TAIL);
			i = depth - CHAIN_TAIL - 1;
			continue;
		}
		sb_printf(&sb, "%s%s", i ? " \u2192 " : "", v[i]);
	}
	free(v);
	sb_cstr(&sb);
	return sb_detach(&sb);
}

static char *item_chain(const struct ctx *c, const struct qitem *it)
{
	return chain_of(c, it->parent, it->pattern);
}

static char *slot_chain(const struct ctx *c, size_t slot)
{
	return chain_of(c, c->slots[slot].parent, c->slots[slot].pattern);
}

static size_t run_first(const struct ctx *c, size_t idx)
{
	return c->first_of[idx];
}

static bool satisfies_constraints(const struct ctx *c, const struct pkg_entry *e, const struct constraint **failed)
{
	for (size_t i = 0; i < c->n_cons; i++) {
		if (c->cons[i].name == e->name && !pkg_match(c->cons[i].pattern, e->pkgname)) {
			if (failed)
				*failed = &c->cons[i];
			return false;
		}
	}
	return true;
}

/* Index of the (name, pattern) constraint, or -1. */
static long find_constraint(const struct ctx *c, const char *name, const char *pattern)
{
	for (size_t i = 0; i < c->n_cons; i++)
		if (c->cons[i].name == name && strcmp(c->cons[i].pattern, pattern) == 0)
			return (long)i;
	return -1;
}

/* pkg_install's pkg_order: newer version first, then smaller PKGNAME. */
static bool better(const struct pkg_entry *a, const struct pkg_entry *b)
{
	int v = pkg_version_cmp(a->version, b->version);
	if (v)
		return v > 0;
	return strcmp(a->pkgname, b->pkgname) < 0;
}

/* ", newest is X" / ", there is no package named X" tail for messages. */
static char *newest_hint(const struct ctx *c, const char *pattern)
{
	char *name = pkg_pattern_name(pattern);
	char *hint;
	if (!name)
		return xstrdup("");
	size_t cnt;
	size_t first = pkg_summary_find(c->s, name, &cnt);
	if (cnt) {
		hint = xasprintf("; newest is %s", c->s->pkgs[first].pkgname);
	} else {
		/* did you mean: the closest base name, if it is close enough */
		const char *best = NULL;
		size_t bestd = (strlen(name) <= 4 ? 1 : 2) + 1;   /* accept distance < bestd */
		for (size_t i = 0; i < c->s->n; i++) {
			if (i > 0 && c->s->pkgs[i].name == c->s->pkgs[i - 1].name)
				continue;
			const char *cand = c->s->pkgs[i].name;
			size_t la = strlen(cand), lb = strlen(name);
			if ((la > lb ? la - lb : lb - la) > bestd)
				continue;
			size_t d = levenshtein(name, cand);
			if (d < bestd) {          /* ties: the first name in sorted order */
				bestd = d;
				best = cand;
			}
		}
		if (best)
			hint = xasprintf("; there is no package named %s (did you mean %s?)", name, best);
		else
			hint = xasprintf("; there is no package named %s", name);
	}
	free(name);
	return hint;
}

static void add_edge(struct slot *from, size_t to)
{
	for (size_t i = 0; i < from->n_deps; i++)
		if (from->deps[i] == to)
			return;
	VEC_GROW(from->deps, from->n_deps, from->cap_deps);
	from->deps[from->n_deps++] = to;
}

static void enqueue(struct ctx *c, const char *pattern, long parent)
{
	VEC_GROW(c->q, c->q_n, c->q_cap);
	c->q[c->q_n++] = (struct qitem){ pattern, parent };
}

/* A dependency of the package in slot `parent` cannot be met: rule that
 * exact package out and ask for a restart (an older version of it may
 * have satisfiable dependencies). The first such message is kept (takes
 * msg): if nothing works in the end, it is the one that explains why. */
static void backtrack(struct ctx *c, long parent, char *msg, bool *restart)
{
	if (!c->first_err)
		c->first_err = msg;
	else
		free(msg);
	/* and the packages above it that are left with no candidate at all:
	 * a chain of dead ends is ruled out in one pass, not one per restart */
	for (long p = parent; p >= 0; p = c->slots[p].parent) {
		c->excluded[c->slots[p].idx] = true;
		const size_t *cands = NULL;
		size_t nc = candidates(c, c->slots[p].pattern, &cands);
		bool left = false;
		for (size_t k = 0; k < nc && !left; k++)
			left = !c->excluded[cands[k]];
		if (left)
			break;
	}
	*restart = true;
}

/* Returns 0 done, 1 restart, -1 error. */
static int resolve_pass(struct ctx *c, const char *const *patterns, size_t n, struct error **err)
{
	const size_t *cands = NULL;
	size_t cons_before = c->n_cons;   /* constraints learnt before this pass */
	bool restart = false;
	pass_reset(c);
	for (size_t i = 0; i < n; i++)
		enqueue(c, patterns[i], -1);
	while (c->q_head < c->q_n) {
		struct qitem it = c->q[c->q_head++];
		if (it.parent >= 0 && c->excluded[c->slots[it.parent].idx])
			continue;         /* its package is already ruled out */
		size_t nc = candidates(c, it.pattern, &cands);
		char *msg = NULL;
		if (nc == 0) {
			char *chain = item_chain(c, &it);
			char *hint = newest_hint(c, it.pattern);
			msg = xasprintf("%s: no package in %s satisfies it%s", chain, c->repo, hint);
			free(chain);
			free(hint);
			goto failed;
		}
		long reuse = -1, clash = -1;
		for (size_t k = 0; k < nc && reuse < 0; k++) {
			long sl = c->slot_of[run_first(c, cands[k])];
			if (sl >= 0 && c->slots[sl].idx == cands[k])
				reuse = sl;
			else if (sl >= 0 && clash < 0)
				clash = sl;
		}
		if (reuse >= 0) {
			if (it.parent >= 0 && it.parent != reuse)
				add_edge(&c->slots[it.parent], (size_t)reuse);
			if (it.parent < 0)
				c->slots[reuse].requested = true;
			continue;
		}
		if (clash >= 0) {
			const struct pkg_entry *have = &c->s->pkgs[c->slots[clash].idx];
			char *chain = item_chain(c, &it);
			long known = find_constraint(c, have->name, it.pattern);
			if (known >= (long)cons_before) {
				free(chain);      /* learnt earlier in this pass */
				continue;
			}
			if (known >= 0) {         /* cannot happen: choices honour constraints */
				char *cc = slot_chain(c, (size_t)clash);
				msg = xasprintf("%s: %s was chosen for %s but does not satisfy it", chain, have->pkgname, cc);
				free(cc);
				free(chain);
				goto failed;
			}
			VEC_GROW(c->cons, c->n_cons, c->cap_cons);
			c->cons[c->n_cons++] = (struct constraint){ have->name, it.pattern, chain };
			restart = true;   /* keep going: learn every clash of this pass at once */
			continue;
		}
		long best = -1;
		const struct constraint *failc = NULL;
		size_t n_excl = 0;
		for (size_t k = 0; k < nc; k++) {
			const struct pkg_entry *e = &c->s->pkgs[cands[k]];
			if (c->excluded[cands[k]]) {
				n_excl++;
				continue;
			}
			if (!satisfies_constraints(c, e, &failc))
				continue;
			if (best < 0 || better(e, &c->s->pkgs[best]))
				best = (long)cands[k];
		}
		if (best < 0) {
			char *chain = item_chain(c, &it);
			struct strbuf sb;
			sb_init(&sb);
			for (size_t k = 0; k < nc && k < 5; k++)
				sb_printf(&sb, "%s%s", k ? ", " : "", c->s->pkgs[cands[k]].pkgname);
			if (nc > 5)
				sb_adds(&sb, ", ...");
			char *list = sb_detach(&sb);
			if (failc)
				msg = xasprintf("%s: no package in %s satisfies it together with %s "
						"(it matches %s)", chain, c->repo, failc->chain, list);
			else
				msg = xasprintf("%s: every package in %s that matches it (%s) has "
						"dependencies that cannot be met", chain, c->repo, list);
			free(list);
			free(chain);
			goto failed;
		}
		VEC_GROW(c->slots, c->n_slots, c->cap_slots);
		struct slot *sl = &c->slots[c->n_slots];
		memset(sl, 0, sizeof(*sl));
		sl->idx = (size_t)best;
		sl->parent = it.parent;
		sl->pattern = it.pattern;
		sl->requested = it.parent < 0;
		long me = (long)c->n_slots++;
		c->slot_of[run_first(c, (size_t)best)] = me;
		if (it.parent >= 0)
			add_edge(&c->slots[it.parent], (size_t)me);
		const struct pkg_entry *e = &c->s->pkgs[best];
		for (size_t d = 0; d < e->n_depends; d++)
			enqueue(c, e->depends[d], me);
		continue;
	failed:
		if (it.parent >= 0) {
			backtrack(c, it.parent, msg, &restart);
			continue;
		}
		/* a user request cannot be met: the first dead end explains why */
		if (c->first_err) {
			error_set(err, "%s", c->first_err);
			free(c->first_err);
			c->first_err = NULL;
		} else {
			error_set(err, "%s", msg);
		}
		free(msg);
		return -1;
	}
	return restart ? 1 : 0;
}

static int check_conflicts(const struct ctx *c, struct error **err)
{
	for (size_t i = 0; i < c->n_slots; i++) {
		const struct pkg_entry *a = &c->s->pkgs[c->slots[i].idx];
		for (size_t k = 0; k < a->n_conflicts; k++) {
			for (size_t j = 0; j < c->n_slots; j++) {
				if (j == i)
					continue;
				const struct pkg_entry *b = &c->s->pkgs[c->slots[j].idx];
				if (pkg_match(a->conflicts[k], b->pkgname)) {
					char *ca = slot_chain(c, i), *cb = slot_chain(c, j);
					error_set(err, "%s (%s) conflicts with %s (%s): CONFLICTS %s", a->pkgname, ca,
							 b->pkgname, cb, a->conflicts[k]);
					free(ca);
					free(cb);
					return -1;
				}
			}
		}
	}
	return 0;
}

/* Min-heap of slot numbers ordered by PKGNAME. */
struct heap {
	size_t *v;
	size_t n;
	const struct ctx *c;
};

static bool heap_less(const struct heap *h, size_t a, size_t b)
{
	const struct pkg_entry *pk = h->c->s->pkgs;
	return strcmp(pk[h->c->slots[a].idx].pkgname, pk[h->c->slots[b].idx].pkgname) < 0;
}

static void heap_push(struct heap *h, size_t x)
{
	size_t i = h->n++;
	h->v[i] = x;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!heap_less(h, h->v[i], h->v[p]))
			break;
		size_t t = h->v[i];
		h->v[i] = h->v[p];
		h->v[p] = t;
		i = p;
	}
}

static size_t heap_pop(struct heap *h)
{
	size_t top = h->v[0];
	h->v[0] = h->v[--h->n];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && heap_less(h, h->v[l], h->v[m]))
			m = l;
		if (r < h->n && heap_less(h, h->v[r], h->v[m]))
			m = r;
		if (m == i)
			break;
		size_t t = h->v[i];
		h->v[i] = h->v[m];
		h->v[m] = t;
		i = m;
	}
	return top;
}

/* Kahn's algorithm; among ready packages the smallest PKGNAME goes first;
 * a cycle (never in a sane repository) is broken at its smallest PKGNAME. */
static struct pkg_resolution *install_order(const struct ctx *c)
{
	size_t n = c->n_slots, nn = n ? n : 1;
	size_t *missing = xcalloc(nn, sizeof(size_t));   /* unplaced deps */
	size_t *pos = xmalloc(nn * sizeof(size_t));
	bool *placed = xcalloc(nn, sizeof(bool));
	/* reverse edges: rstart/rlist (CSR) */
	size_t *rcount = xcalloc(nn + 1, sizeof(size_t));
	size_t edges = 0;
	for (size_t i = 0; i < n; i++) {
		missing[i] = c->slots[i].n_deps;
		for (size_t d = 0; d < c->slots[i].n_deps; d++)
			rcount[c->slots[i].deps[d] + 1]++;
		edges += c->slots[i].n_deps;
	}
	for (size_t i = 0; i < n; i++)
		rcount[i + 1] += rcount[i];
	size_t *rlist = xmalloc((edges ? edges : 1) * sizeof(size_t));
	size_t *fill = xcalloc(nn, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < c->slots[i].n_deps; d++) {
			size_t to = c->slots[i].deps[d];
			rlist[rcount[to] + fill[to]++] = i;
		}
	struct heap h = { xmalloc(nn * sizeof(size_t)), 0, c };
	for (size_t i = 0; i < n; i++)
		if (missing[i] == 0)
			heap_push(&h, i);
	struct pkg_resolution *r = xcalloc(1, sizeof(*r));
	r->v = xcalloc(nn, sizeof(*r->v));
	for (size_t k = 0; k < n; k++) {
		size_t pick;
		if (h.n) {
			pick = heap_pop(&h);
		} else {
			long fb = -1;
			for (size_t i = 0; i < n; i++)
				if (!placed[i] && (fb < 0 || heap_less(&h, i, (size_t)fb)))
					fb = (long)i;
			pick = (size_t)fb;
		}
		placed[pick] = true;
		pos[pick] = k;
		r->v[k].pkg = &c->s->pkgs[c->slots[pick].idx];
		r->v[k].requested = c->slots[pick].requested;
		r->v[k].chain = slot_chain(c, pick);
		for (size_t e = rcount[pick]; e < rcount[pick + 1]; e++) {
			size_t up = rlist[e];
			if (!placed[up] && missing[up] > 0 && --missing[up] == 0)
				heap_push(&h, up);
		}
	}
	r->n = n;
	for (size_t i = 0; i < n; i++) {
		struct pkg_resolved *rv = &r->v[pos[i]];
		rv->n_deps = c->slots[i].n_deps;
		rv->deps = xmalloc((rv->n_deps ? rv->n_deps : 1) * sizeof(size_t));
		for (size_t d = 0; d < rv->n_deps; d++)
			rv->deps[d] = pos[c->slots[i].deps[d]];
	}
	free(missing);
	free(pos);
	free(placed);
	free(rcount);
	free(rlist);
	free(fill);
	free(h.v);
	return r;
}

int pkg_resolve(const struct pkg_summary *s, const char *const *patterns, size_t n,
		const char *repo, struct pkg_resolution **out, struct error **err)
{
	*out = NULL;
	for (size_t i = 0; i < n; i++)
		if (pkg_pattern_check(patterns[i], err) < 0)
			return -1;
	struct ctx c = { 0 };
	c.s = s;
	c.repo = repo ? repo : s->label;
	c.slot_of = xmalloc((s->n ? s->n : 1) * sizeof(long));
	c.first_of = xmalloc((s->n ? s->n : 1) * sizeof(size_t));
	c.excluded = xcalloc(s->n ? s->n : 1, sizeof(bool));
	for (size_t i = 0; i < s->n; i++)   /* names are interned: runs compare by pointer */
		c.first_of[i] = (i > 0 && s->pkgs[i].name == s->pkgs[i - 1].name) ? c.first_of[i - 1] : i;
	int rc;
	unsigned restarts = 0;
	while ((rc = resolve_pass(&c, patterns, n, err)) == 1) {
		if (++restarts > MAX_RESTARTS) {
			error_set(err, "dependency resolution in %s did not settle after %d restarts",
					 c.repo, MAX_RESTARTS);
			rc = -1;
			break;
		}
	}
	if (rc == 0)
		rc = check_conflicts(&c, err);
	if (rc == 0) {
		*out = install_order(&c);
		(*out)->restarts = restarts;
	}
	ctx_free(&c);
	return rc;
}

void pkg_resolution_free(struct pkg_resolution *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].chain);
		free(r->v[i].deps);
	}
	free(r->v);
	free(r);
}

long pkg_resolution_find(const struct pkg_resolution *r, const char *name)
{
	if (!r || !name)
		return -1;
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].pkg->name, name) == 0)
			return (long)i;
	return -1;
}
