/* pkg_version.c — dewey comparison, streamed (see pkg_version.h).
 *
 * A `struct dewey_it` walks one version string and yields its components
 * one at a time; a letter yields two (0 then its rank), kept in `pending`.
 * "nbN" never yields a component: it only records the revision, which is
 * compared after the component vectors are found equal. Components are
 * long long and saturate instead of overflowing. */
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

struct dewey_it {
	const char *p, *end;
	long long nb;         /* pkgsrc revision (last "nb" wins) */
	long long pending;    /* second component of a letter */
	int has_pending;
};

static long long read_number(const char **pp, const char *end)
{
	const char *p = *pp;
	long long n = 0;
	while (p < end && isdigit((unsigned char)*p)) {
		if (n <= (LLONG_MAX - 9) / 10)
			n = n * 10 + (*p - '0');
		p++;
	}
	*pp = p;
	return n;
}

/* Next component into *v; 0 when the string is exhausted (it->nb final). */
static int dewey_next(struct dewey_it *it, long long *v)
{
	if (it->has_pending) {
		it->has_pending = 0;
		*v = it->pending;
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
				*v = m->val;
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
			*v = DEWEY_DOT;
			return 1;
		}
		/* any other character is skipped */
	}
	return 0;
}

int pkg_version_ncmp(const char *a, size_t alen, const char *b, size_t blen)
{
	struct dewey_it ia = { a ? a : "", (a ? a : "") + (a ? alen : 0), 0, 0, 0 };
	struct dewey_it ib = { b ? b : "", (b ? b : "") + (b ? blen : 0), 0, 0, 0 };
	for (;;) {
		long long va = 0, vb = 0;
		int ha = dewey_next(&ia, &va);
		int hb = dewey_next(&ib, &vb);
		if (!ha && !hb)
			break;
		if (va != vb)
			return va < vb ? -1 : 1;
	}
	if (ia.nb != ib.nb)
		return ia.nb < ib.nb ? -1 : 1;
	return 0;
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
