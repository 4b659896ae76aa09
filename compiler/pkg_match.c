/* pkg_match.c — pkgsrc pattern matching (see pkg_match.h).
 *
 * Alternates are expanded into a stack buffer one alternative at a time
 * and the result is matched recursively, so "{a,{b,c}}x" works and no heap
 * is touched. Dewey ranges compare the name byte for byte and then the
 * version with pkg_version_ncmp, without copying the bounds. */
#include "pkg_match.h"
#include "pkg_version.h"
#include "util.h"

#include <ctype.h>
#include <fnmatch.h>
#include <string.h>

size_t pkg_name_len(const char *pkgname)
{
	const char *dash = strrchr(pkgname, '-');
	return dash ? (size_t)(dash - pkgname) : strlen(pkgname);
}

int pkg_split_name(const char *pkgname, char **name, const char **version)
{
	const char *dash = pkgname ? strrchr(pkgname, '-') : NULL;
	if (!dash || dash == pkgname || dash[1] == '\0')
		return -1;
	*name = xstrndup(pkgname, (size_t)(dash - pkgname));
	*version = dash + 1;
	return 0;
}

size_t pkg_pattern_prefix_len(const char *pattern)
{
	return strcspn(pattern, "*?[]{}<>\\");
}

/* "name>=1.0<2.0" against pkgname. */
static bool dewey_match(const char *pattern, const char *pkg)
{
	const char *dash = strrchr(pkg, '-');
	const char *sep = strpbrk(pattern, "<>");
	if (!dash || !sep)
		return false;
	if (sep - pattern != dash - pkg || strncmp(pkg, pattern, (size_t)(dash - pkg)) != 0)
		return false;
	const char *version = dash + 1;
	size_t vlen = strlen(version);
	enum pkg_op op, op2;
	size_t n = pkg_op_parse(sep, &op);
	if (n == 0)
		return false;
	const char *lo = sep + n;
	const char *hi = NULL;
	size_t lolen = strlen(lo);
	if (op == PKG_OP_GT || op == PKG_OP_GE) {
		hi = strchr(lo, '<');
		if (hi) {
			size_t n2 = pkg_op_parse(hi, &op2);
			if (n2 == 0)
				return false;
			lolen = (size_t)(hi - lo);
			hi += n2;
			int c2 = pkg_version_ncmp(version, vlen, hi, strlen(hi));
			bool ok = op2 == PKG_OP_LE ? c2 <= 0 : c2 < 0;
			if (!ok)
				return false;
		}
	}
	int c = pkg_version_ncmp(version, vlen, lo, lolen);
	switch (op) {
	case PKG_OP_LT: return c < 0;
	case PKG_OP_LE: return c <= 0;
	case PKG_OP_EQ: return c == 0;
	case PKG_OP_NE: return c != 0;
	case PKG_OP_GE: return c >= 0;
	case PKG_OP_GT: return c > 0;
	}
	return false;
}

static bool alternate_match(const char *pattern, const char *pkg);

/* How many patterns the {…} groups of [p, end) expand to, saturated at
 * cap + 1 (so that 40 groups of two cost nothing to count). */
static size_t count_expansions(const char *p, const char *end, size_t cap)
{
	size_t total = 1;
	while (p < end) {
		if (*p != '{') {
			p++;
			continue;
		}
		const char *close = NULL;
		int depth = 0;
		for (const char *q = p; q < end; q++) {
			if (*q == '{')
				depth++;
			else if (*q == '}' && --depth == 0) {
				close = q;
				break;
			}
		}
		if (!close)
			return total; /* unbalanced: pkg_pattern_check says so */
		size_t sum = 0;
		const char *alt = p + 1;
		for (;;) {
			const char *ae = alt;
			depth = 0;
			while (ae < close && (depth > 0 || *ae != ',')) {
				if (*ae == '{')
					depth++;
				else if (*ae == '}')
					depth--;
				ae++;
			}
			sum += count_expansions(alt, ae, cap);
			if (sum > cap)
				return cap + 1;
			if (ae >= close)
				break;
			alt = ae + 1;
		}
		if (sum && total > (cap + 1) / sum + 1)
			return cap + 1;
		total *= sum ? sum : 1;
		if (total > cap)
			return cap + 1;
		p = close + 1;
	}
	return total;
}

static bool match_rec(const char *pattern, const char *pkg)
{
	/* quick reject on literal leading bytes */
	size_t pre = pkg_pattern_prefix_len(pattern);
	if (pre > 2)
		pre = 2;
	if (strncmp(pattern, pkg, pre) != 0)
		return false;
	if (strchr(pattern, '{'))
		return alternate_match(pattern, pkg);
	if (strpbrk(pattern, "<>"))
		return dewey_match(pattern, pkg);
	if (strpbrk(pattern, "*?[]") && fnmatch(pattern, pkg, FNM_PERIOD) == 0)
		return true;
	if (strcmp(pattern, pkg) == 0)
		return true;
	/* no version given: "name" means "name-[0-9]*" */
	char buf[PKG_PATTERN_MAX + 16];
	size_t len = strlen(pattern);
	if (len >= PKG_PATTERN_MAX)
		return false;
	memcpy(buf, pattern, len);
	memcpy(buf + len, "-[0-9]*", sizeof("-[0-9]*"));
	return fnmatch(buf, pkg, FNM_PERIOD) == 0;
}

static bool alternate_match(const char *pattern, const char *pkg)
{
	const char *open = strchr(pattern, '{');
	const char *close = NULL;
	int depth = 0;
	for (const char *p = open; *p; p++) {
		if (*p == '{')
			depth++;
		else if (*p == '}' && --depth == 0) {
			close = p;
			break;
		}
	}
	if (!close)
		return false;           /* unbalanced: matches nothing */
	size_t head = (size_t)(open - pattern);
	const char *tail = close + 1;
	size_t tail_len = strlen(tail);
	char buf[PKG_PATTERN_MAX];
	const char *alt = open + 1;
	for (;;) {
		const char *end = alt;
		depth = 0;
		while (end < close && (depth > 0 || (*end != ',' && *end != '}'))) {
			if (*end == '{')
				depth++;
			else if (*end == '}')
				depth--;
			end++;
		}
		size_t alen = (size_t)(end - alt);
		if (head + alen + tail_len < sizeof(buf)) {
			memcpy(buf, pattern, head);
			memcpy(buf + head, alt, alen);
			memcpy(buf + head + alen, tail, tail_len + 1);
			if (match_rec(buf, pkg))
				return true;
		}
		if (end >= close)
			break;
		alt = end + 1;
	}
	return false;
}

bool pkg_match(const char *pattern, const char *pkgname)
{
	if (!pattern || !pkgname || !*pattern || strlen(pattern) >= PKG_PATTERN_MAX)
		return false;
	/* bounded work: a pattern of too many alternatives matches nothing
	 * (pkg_pattern_check rejects it with a message) */
	if (strchr(pattern, '{') && count_expansions(pattern, pattern + strlen(pattern), PKG_ALTERNATIVES_MAX) >
					    PKG_ALTERNATIVES_MAX)
		return false;
	return match_rec(pattern, pkgname);
}

int pkg_pattern_check(const char *pattern, struct error **err)
{
	if (!pattern || !*pattern) {
		error_set(err, "empty package pattern");
		return -1;
	}
	size_t len = strlen(pattern);
	if (len >= PKG_PATTERN_MAX) {
		error_set(err, "pattern \"%.40s...\": longer than %d bytes", pattern, PKG_PATTERN_MAX - 1);
		return -1;
	}
	int depth = 0;
	for (const char *p = pattern; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '/') {
			error_set(err, "pattern \"%s\": '/' is not allowed; use the package name "
					 "(\"%s\"), not its pkgsrc path", pattern, strrchr(pattern, '/') + 1);
			return -1;
		}
		if (c <= ' ' || c == 0x7f) {
			error_set(err, "pattern \"%s\": character (space or control) not allowed in a package pattern",
					 pattern);
			return -1;
		}
		if (c == '{')
			depth++;
		else if (c == '}' && --depth < 0) {
			error_set(err, "pattern \"%s\": unbalanced '}'", pattern);
			return -1;
		}
	}
	if (depth != 0) {
		error_set(err, "pattern \"%s\": unbalanced '{'", pattern);
		return -1;
	}
	if (strchr(pattern, '{') && count_expansions(pattern, pattern + len, PKG_ALTERNATIVES_MAX) > PKG_ALTERNATIVES_MAX) {
		error_set(err, "pattern \"%s\": its {…} groups expand to more than %d alternatives; "
				 "use fewer groups, or a glob such as [0-9]*", pattern, PKG_ALTERNATIVES_MAX);
		return -1;
	}
	const char *rel = strpbrk(pattern, "<>");
	if (rel) {
		if (rel == pattern) {
			error_set(err, "pattern \"%s\": no package name before '%c'", pattern, *rel);
			return -1;
		}
		enum pkg_op op;
		size_t n = pkg_op_parse(rel, &op);
		const char *v = rel + n;
		if (*v == '\0' || *v == '<' || *v == '>' || *v == '=') {
			error_set(err, "pattern \"%s\": no version after '%.*s'", pattern, (int)n, rel);
			return -1;
		}
	}
	return 0;
}

/* A "-" that starts a version: followed by a digit or a glob char. */
static bool version_dash(const char *p)
{
	return p[0] == '-' && (isdigit((unsigned char)p[1]) || p[1] == '[' || p[1] == '*' || p[1] == '?' || p[1] == '{');
}

char *pkg_pattern_name(const char *pattern)
{
	if (!pattern || !*pattern)
		return NULL;
	size_t pre = pkg_pattern_prefix_len(pattern);
	char stop = pattern[pre];
	if (stop == '<' || stop == '>')
		return pre ? xstrndup(pattern, pre) : NULL;
	/* the version starts at the last "-<digit or glob>" within the literal
	 * prefix, or right at the stop character after a '-' */
	const char *cut = NULL;
	for (const char *p = pattern; p < pattern + pre; p++)
		if (version_dash(p))
			cut = p;
	if (cut)
		return cut == pattern ? NULL : xstrndup(pattern, (size_t)(cut - pattern));
	if (stop == '\0')
		return xstrdup(pattern);          /* bare name */
	if (stop == '{') {
		/* "name{,-extra}-1.0": unknown; "name-1.0{,nb*}" was handled above */
		return NULL;
	}
	return NULL;                              /* glob inside the name */
}
