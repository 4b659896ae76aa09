/* test_pkg_resolve.c — dependency resolution scenarios: newest pick,
 * diamond, a range forcing an older package, conflicts, missing and
 * unsatisfiable dependencies with their chain messages, install order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "pkg_resolve.h"
#include "util.h"

static const char repo[] =
	"PKGNAME=libc-1.0\n\n"
	"PKGNAME=libc-1.5\n\n"
	"PKGNAME=libc-2.0\nDEPENDS=zlib>=1.2\n\n"
	"PKGNAME=zlib-1.3.1\n\n"
	"PKGNAME=zlib-1.2.13\n\n"
	"PKGNAME=liba-1.0\nDEPENDS=libc>=1.0\n\n"
	"PKGNAME=libb-1.0\nDEPENDS=libc>=1.2\n\n"
	"PKGNAME=app-1.0\nDEPENDS=liba-[0-9]*\nDEPENDS=libb>=1.0\n\n"
	"PKGNAME=tool-3.0\nDEPENDS=libc<2\n\n"
	"PKGNAME=new-1.0\nDEPENDS=libc>=2\n\n"
	"PKGNAME=old-1.0\nDEPENDS=libc<1.5\n\n"
	"PKGNAME=pcre2-10.40\n\n"
	"PKGNAME=pcre2-10.39\n\n"
	"PKGNAME=nginx-1.25.3\nDEPENDS=pcre2>=10.42\n\n"
	"PKGNAME=libfoo-1.0\nDEPENDS=pcre2>=10.42\n\n"
	"PKGNAME=nginx2-1.0\nDEPENDS=libfoo>=1\n\n"
	"PKGNAME=x-1.0\nCONFLICTS=y-[0-9]*\n\n"
	"PKGNAME=y-2.0\n\n"
	"PKGNAME=perl-5.38.2\n\n"
	"PKGNAME=ap24-perl-2.0.12\nDEPENDS=perl>=5.38<5.40\n\n"
	"PKGNAME=web-1.0\nDEPENDS=ap2[0-9]-perl-[0-9]*\nDEPENDS=libc-1.5{,nb[0-9]*}\n\n"
	"PKGNAME=svc-2.0\nDEPENDS=gone>=1\n\n"
	"PKGNAME=svc-1.0\nDEPENDS=zlib-[0-9]*\n\n"
	"PKGNAME=dead-2\nDEPENDS=gone>=2\n\n"
	"PKGNAME=dead-1\nDEPENDS=gone>=1\n\n"
	"PKGNAME=uses-dead-1\nDEPENDS=dead>=1\n\n"
	"PKGNAME=cyc-a-1\nDEPENDS=cyc-b-[0-9]*\n\n"
	"PKGNAME=cyc-b-1\nDEPENDS=cyc-a-[0-9]*\n\n";

static int setup(void **state)
{
	struct error *err = NULL;
	struct pkg_summary *s = pkg_summary_parse_buffer("test-repo", repo, strlen(repo), &err);
	if (!s)
		return -1;
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	pkg_summary_free(*state);
	return 0;
}

/* Resolve and return "a-1 b-2 ..." in install order (caller frees), or the
 * error prefixed by "ERR: ". */
static char *run(struct pkg_summary *s, const char *const *pats, size_t n, struct pkg_resolution **keep)
{
	struct pkg_resolution *r = NULL;
	struct error *err = NULL;
	if (pkg_resolve(s, pats, n, "test-repo", &r, &err) < 0) {
		assert_null(r);
		char *m = xasprintf("ERR: %s", error_msg(err));
		error_clear(&err);
		return m;
	}
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < r->n; i++)
		sb_printf(&sb, "%s%s", i ? " " : "", r->v[i].pkg->pkgname);
	if (keep)
		*keep = r;
	else
		pkg_resolution_free(r);
	return sb_detach(&sb);
}

#define EXPECT(pats, want)                                                         \
	do {                                                                       \
		char *got_ = run(s, pats, ARRAY_LEN(pats), NULL);                  \
		assert_string_equal(got_, want);                                   \
		free(got_);                                                        \
	} while (0)

static void test_newest(void **state)
{
	struct pkg_summary *s = *state;
	const char *p[] = { "libc" };
	EXPECT(p, "zlib-1.3.1 libc-2.0");
	const char *p2[] = { "libc<2" };
	EXPECT(p2, "libc-1.5");
	const char *p3[] = { "libc-1.0" };
	EXPECT(p3, "libc-1.0");
}

static void test_diamond(void **state)
{
	struct pkg_summary *s = *state;
	const char *p[] = { "app" };
	struct pkg_resolution *r = NULL;
	char *got = run(s, p, 1, &r);
	/* one libc for both liba and libb; dependencies first, ties by name */
	assert_string_equal(got, "zlib-1.3.1 libc-2.0 liba-1.0 libb-1.0 app-1.0");
	free(got);
	assert_int_equal(r->restarts, 0);
	long app = pkg_resolution_find(r, "app");
	long libc = pkg_resolution_find(r, "libc");
	assert_int_equal(app, 4);
	assert_true(r->v[app].requested);
	assert_false(r->v[libc].requested);
	assert_int_equal(r->v[app].n_deps, 2);
	assert_string_equal(r->v[r->v[app].deps[0]].pkg->name, "liba");
	assert_string_equal(r->v[r->v[app].deps[1]].pkg->name, "libb");
	assert_string_equal(r->v[libc].chain, "app \u2192 liba-[0-9]* \u2192 libc>=1.0");
	for (size_t i = 0; i < r->n; i++)
		for (size_t d = 0; d < r->v[i].n_deps; d++)
			assert_true(r->v[i].deps[d] < i);
	assert_int_equal(pkg_resolution_find(r, "nope"), -1);
	pkg_resolution_free(r);
}

static void test_forced_older(void **state)
{
	struct pkg_summary *s = *state;
	/* app chooses libc-2.0 first; tool needs libc<2 -> libc-1.5, and
	 * libc-2.0's zlib dependency disappears */
	const char *p[] = { "app", "tool" };
	struct pkg_resolution *r = NULL;
	char *got = run(s, p, 2, &r);
	assert_string_equal(got, "libc-1.5 liba-1.0 libb-1.0 app-1.0 tool-3.0");
	pkg_resolution_free(r);
	free(got);
	/* "libc" alone picks libc-2.0 (and zlib); tool's libc<2 arrives later,
	 * forces a restart, and zlib is gone from the result */
	const char *p2[] = { "libc", "tool" };
	got = run(s, p2, 2, &r);
	assert_string_equal(got, "libc-1.5 tool-3.0");
	assert_int_equal(r->restarts, 1);
	assert_true(r->v[0].requested);
	pkg_resolution_free(r);
	free(got);
	/* incompatible ranges */
	const char *p3[] = { "new", "old" };
	EXPECT(p3, "ERR: new \u2192 libc>=2: no package in test-repo satisfies it together with "
		   "old \u2192 libc<1.5 (it matches libc-2.0)");
}

static void test_conflict(void **state)
{
	struct pkg_summary *s = *state;
	const char *p[] = { "x", "y" };
	EXPECT(p, "ERR: x-1.0 (x) conflicts with y-2.0 (y): CONFLICTS y-[0-9]*");
	const char *p2[] = { "x" };
	EXPECT(p2, "x-1.0");
}

static void test_missing(void **state)
{
	struct pkg_summary *s = *state;
	const char *p[] = { "nginx" };
	EXPECT(p, "ERR: nginx \u2192 pcre2>=10.42: no package in test-repo satisfies it; newest is pcre2-10.40");
	const char *p2[] = { "nginx2" };
	EXPECT(p2, "ERR: nginx2 \u2192 libfoo>=1 \u2192 pcre2>=10.42: no package in test-repo "
		   "satisfies it; newest is pcre2-10.40");
	const char *p3[] = { "libc", "nosuch" };
	EXPECT(p3, "ERR: nosuch: no package in test-repo satisfies it; there is no package named nosuch");
	const char *p4[] = { "libc>=3" };
	EXPECT(p4, "ERR: libc>=3: no package in test-repo satisfies it; newest is libc-2.0");
	const char *p6[] = { "ngnix" };
	EXPECT(p6, "ERR: ngnix: no package in test-repo satisfies it; there is no package named ngnix "
		   "(did you mean nginx?)");
	const char *p7[] = { "www/nginx" };
	EXPECT(p7, "ERR: pattern \"www/nginx\": '/' is not allowed; use the package name (\"nginx\"), "
		   "not its pkgsrc path");
	const char *p5[] = { "bad{pattern" };
	EXPECT(p5, "ERR: pattern \"bad{pattern\": unbalanced '{'");
}

/* The newest package's own dependencies cannot be met: fall back to an
 * older one; when none works, the first dead end is the message. */
static void test_backtrack(void **state)
{
	struct pkg_summary *s = *state;
	const char *p[] = { "svc" };
	EXPECT(p, "zlib-1.3.1 svc-1.0");
	const char *p2[] = { "uses-dead" };
	EXPECT(p2, "ERR: uses-dead \u2192 dead>=1 \u2192 gone>=2: no package in test-repo satisfies it; "
		   "there is no package named gone");
	const char *p3[] = { "svc-2.0" };
	EXPECT(p3, "ERR: svc-2.0 \u2192 gone>=1: no package in test-repo satisfies it; "
		   "there is no package named gone");
}

static void test_globs_and_alternates(void **state)
{
	struct pkg_summary *s = *state;
	const char *p[] = { "web" };
	EXPECT(p, "libc-1.5 perl-5.38.2 ap24-perl-2.0.12 web-1.0");
	/* requesting the same thing twice, and a dependency directly */
	const char *p2[] = { "liba", "libc>=1", "liba-1.0" };
	struct pkg_resolution *r = NULL;
	char *got = run(s, p2, 3, &r);
	assert_string_equal(got, "zlib-1.3.1 libc-2.0 liba-1.0");
	assert_true(r->v[1].requested);     /* libc asked for explicitly */
	assert_false(r->v[0].requested);
	free(got);
	pkg_resolution_free(r);
	/* a dependency cycle still yields every package once */
	const char *p3[] = { "cyc-a" };
	EXPECT(p3, "cyc-a-1 cyc-b-1");
	/* nothing requested: empty result */
	r = NULL;
	struct error *err = NULL;
	assert_int_equal(pkg_resolve(s, NULL, 0, NULL, &r, &err), 0);
	assert_int_equal(r->n, 0);
	pkg_resolution_free(r);
}

/* A 10,000-deep chain: p0 -> p1 -> ... -> p9999. Memory linear in the
 * depth (each package's chain is short: "p0 → p1 → … (n more) → …"), and
 * a dead end at the bottom is explained with the same short chain. */
static void test_deep_chain(void **state)
{
	(void)state;
	enum { N = 10000 };
	struct strbuf sb;
	sb_init(&sb);
	for (int i = 0; i < N; i++) {
		sb_printf(&sb, "PKGNAME=p%d-1.0\n", i);
		if (i + 1 < N)
			sb_printf(&sb, "DEPENDS=p%d>=1\n", i + 1);
		sb_adds(&sb, "\n");
	}
	struct error *err = NULL;
	struct pkg_summary *ds = pkg_summary_parse_buffer("deep", sb.buf, sb.len, &err);
	assert_non_null(ds);
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	const char *p[] = { "p0" };
	struct pkg_resolution *r = NULL;
	assert_int_equal(pkg_resolve(ds, p, 1, "deep", &r, &err), 0);
	getrusage(RUSAGE_SELF, &ru1);
	assert_int_equal(r->n, N);
	assert_string_equal(r->v[0].pkg->pkgname, "p9999-1.0"); /* dependencies first */
	assert_string_equal(r->v[0].chain, "p0 \u2192 p1>=1 \u2192 \u2026 (9994 more) \u2192 p9996>=1 \u2192 "
					   "p9997>=1 \u2192 p9998>=1 \u2192 p9999>=1");
	assert_string_equal(r->v[N - 1].chain, "p0");
#if !defined(__SANITIZE_ADDRESS__) && !defined(__has_feature)
	/* the quadratic chains took 1.27 GB here; linear is a few MB */
	assert_true(ru1.ru_maxrss - ru0.ru_maxrss < 64 * 1024);
#endif
	pkg_resolution_free(r);
	pkg_summary_free(ds);
	/* the bottom's dependency is missing: the message names a short chain */
	sb_adds(&sb, "PKGNAME=top-1.0\nDEPENDS=p0>=1\n\n");
	char *t = xstrdup(sb.buf);
	char *at = strstr(t, "PKGNAME=p9999-1.0\n");
	assert_non_null(at);
	sb_free(&sb);
	sb_init(&sb);
	sb_add(&sb, t, (size_t)(at - t));
	sb_adds(&sb, "PKGNAME=p9999-1.0\nDEPENDS=gone>=1\n\n");
	sb_adds(&sb, strstr(at, "PKGNAME=top-1.0"));
	free(t);
	ds = pkg_summary_parse_buffer("deep", sb.buf, sb.len, &err);
	assert_non_null(ds);
	const char *p2[] = { "top" };
	char *got = run(ds, p2, 1, NULL);
	assert_string_equal(got, "ERR: top \u2192 p0>=1 \u2192 \u2026 (9996 more) \u2192 p9997>=1 \u2192 p9998>=1 \u2192 p9999>=1 "
				 "\u2192 gone>=1: no package in test-repo satisfies it; there is no package named gone");
	free(got);
	pkg_summary_free(ds);
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diamond, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forced_older, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backtrack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_globs_and_alternates, setup, teardown),
		cmocka_unit_test(test_deep_chain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
