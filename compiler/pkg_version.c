/* pkg_version.c — dewey comparison, streamed (see pkg_version.h).
 *
 * A `struct dewey_it` walks one version string and yields its components
 * one at a time; a letter yields two (0 then its rank), kept in `pending`.
 * "nbN" never yields a component: it only records the revision, which is
 * compared after the component vectors are found equal. Numbers are
 * compared exactly as digit strings (leading zeros dropped, then length,
 * then digits), so no length of number is misordered. */
#include "pkg_version.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

enum { DEWEY_ALPHA = -3, DEWEY_BETA = -2, DEWEY_RC = -1, DEWEY_DOT = 0 };

struct dewey_mod {
	const char *s;
	size_t len;
	int val;
};

/* Order matters: the first prefix that matches wins. */
static const struct dewey_mod dewey_mods[] = {
	{ "alpha", 5, DEWEY_ALPHA },
	{ "beta", 4, DEWEY_BETA },
	{ "pre", 3, DEWEY_RC },
	{ "rc", 2, DEWEY_RC },
	{ "pl", 2, DEWEY_DOT },
	{ "_", 1, DEWEY_DOT },
	{ ".", 1, DEWEY_DOT },
};

/* One component: a number as its digits (d, n: no leading zeros; n == 0
 * is zero), or a small value (a modifier or a letter's rank) when !d. */
struct comp {
	const char *d;
	size_t n;
	long long small;
};

struct dewey_it {
	const char *p, *end;
	struct comp nb;       /* pkgsrc revision (last "nb" wins) */
	long long pending;    /* second component of a letter */
	int has_pending;
};

static struct comp read_number(const char **pp, const char *end)
{
	const char *p = *pp;
	while (p < end && *p == '0')
		p++;
	const char *d = p;
	while (p < end && isdigit((unsigned char)*p))
		p++;
	*pp = p;
	return (struct comp){d, (size_t)(p - d), 0};
}

static int comp_cmp(struct comp a, struct comp b)
{
	if (a.d && b.d) {
		if (a.n != b.n)
			return a.n < b.n ? -1 : 1;
		int c = memcmp(a.d, b.d, a.n);
		return c < 0 ? -1 : c > 0;
	}
	/* a number against a small value: small values are below 100 */
	long long va = a.small, vb = b.small;
	if (a.d) {
		if (a.n > 2)
			return 1;
		va = 0;
		for (size_t i = 0; i < a.n; i++)
			va = va * 10 + (a.d[i] - '0');
	}
	if (b.d) {
		if (b.n > 2)
			return -1;
		vb = 0;
		for (size_t i = 0; i < b.n; i++)
			vb = vb * 10 + (b.d[i] - '0');
	}
	return va < vb ? -1 : va > vb;
}

/* Next component into *v; 0 when the string is exhausted (it->nb final). */
static int dewey_next(struct dewey_it *it, struct comp *v)
{
	if (it->has_pending) {
		it->has_pending = 0;
		*v = (struct comp){NULL, 0, it->pending};
		return 1;
	}
	while (it->p < it->end) {
		const char *p = it->p;
		size_t left = (size_t)(it->end - p);
		unsigned char c = (unsigned char)*p;
		if (isdigit(c)) {
			*v = read_number(&it->p, it->end);
			return 1;
		}
		for (size_t i = 0; i < sizeof(dewey_mods) / sizeof(dewey_mods[0]); i++) {
			const struct dewey_mod *m = &dewey_mods[i];
			if (left >= m->len && strncasecmp(p, m->s, m->len) == 0) {
				it->p += m->len;
				*v = (struct comp){NULL, 0, m->val};
				return 1;
			}
		}
		if (left >= 2 && strncasecmp(p, "nb", 2) == 0) {
			it->p += 2;
			it->nb = read_number(&it->p, it->end);
			continue;
		}
		it->p++;
		if (isalpha(c)) {
			it->pending = tolower(c) - 'a' + 1;
			it->has_pending = 1;
			*v = (struct comp){NULL, 0, DEWEY_DOT};
			return 1;
		}
		/* any other character is skipped */
	}
	return 0;
}

int pkg_version_ncmp(const char *a, size_t alen, const char *b, size_t blen)
{
	const struct comp zero = {NULL, 0, 0};
	struct dewey_it ia = { a ? a : "", (a ? a : "") + (a ? alen : 0), {"", 0, 0}, 0, 0 };
	struct dewey_it ib = { b ? b : "", (b ? b : "") + (b ? blen : 0), {"", 0, 0}, 0, 0 };
	for (;;) {
		struct comp va = zero, vb = zero;
		int ha = dewey_next(&ia, &va);
		int hb = dewey_next(&ib, &vb);
		if (!ha && !hb)
			break;
		int c = comp_cmp(va, vb);
		if (c)
			return c;
	}
	return comp_cmp(ia.nb, ib.nb);
}

int pkg_version_cmp(const char *a, const char *b)
{
	return pkg_version_ncmp(a, a ? strlen(a) : 0, b, b ? strlen(b) : 0);
}

static bool op_result(int cmp, enum pkg_op op)
{
	switch (op) {
	case PKG_OP_LT: return cmp < 0;
	case PKG_OP_LE: return cmp <= 0;
	case PKG_OP_EQ: return cmp == 0;
	case PKG_OP_NE: return cmp != 0;
	case PKG_OP_GE: return cmp >= 0;
	case PKG_OP_GT: return cmp > 0;
	}
	return false;
}

bool pkg_version_test(const char *lhs, enum pkg_op op, const char *rhs)
{
	return op_result(pkg_version_cmp(lhs, rhs), op);
}

size_t pkg_op_parse(const char *s, enum pkg_op *op)
{
	if (!s)
		return 0;
	if (s[0] == '<')
		return s[1] == '=' ? (*op = PKG_OP_LE, 2) : (*op = PKG_OP_LT, 1);
	if (s[0] == '>')
		return s[1] == '=' ? (*op = PKG_OP_GE, 2) : (*op = PKG_OP_GT, 1);
	if (s[0] == '=' && s[1] == '=')
		return *op = PKG_OP_EQ, 2;
	if (s[0] == '!' && s[1] == '=')
		return *op = PKG_OP_NE, 2;
	return 0;
}
