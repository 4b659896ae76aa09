/* test_pkg_match.c — pkgsrc pattern matching with the real-world patterns
 * listed in TECH-NOTES §4. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pkg_match.h"
#include <stdio.h>

struct mcase {
	const char *pattern, *pkg;
	int want;
};

static const struct mcase cases[] = {
	/* plain */
	{ "nginx-1.25.3", "nginx-1.25.3", 1 },
	{ "nginx-1.25.3", "nginx-1.25.3nb1", 0 },
	/* bare names (smolc users; pkg_install does the same) */
	{ "nginx", "nginx-1.25.3", 1 },
	{ "nginx", "nginx-lua-1.0", 0 },
	{ "nginx", "nginxx-1.0", 0 },
	{ "7kaa-[0-9]*", "7kaa-2.15.6", 1 },
	{ "7kaa-[0-9]*", "7kaa-music-2.15", 0 },
	/* dewey */
	{ "GConf>=3.2.3nb18", "GConf-3.2.3nb18", 1 },
	{ "GConf>=3.2.3nb18", "GConf-3.2.3nb17", 0 },
	{ "GConf>=3.2.3nb18", "GConf-3.2.4", 1 },
	{ "GConf>=3.2.3nb18", "GConf2-3.2.4", 0 },
	{ "apache>=2.4.58nb1<2.5", "apache-2.4.58nb1", 1 },
	{ "apache>=2.4.58nb1<2.5", "apache-2.4.62", 1 },
	{ "apache>=2.4.58nb1<2.5", "apache-2.5", 0 },
	{ "apache>=2.4.58nb1<2.5", "apache-2.5.0rc1", 1 },   /* rc1 < 2.5 */
	{ "apache>=2.4.58nb1<2.5", "apache-2.4.58", 0 },
	{ "emacs29>=29.1<30", "emacs29-29.4nb2", 1 },
	{ "emacs29>=29.1<30", "emacs29-30.1", 0 },
	{ "emacs29>=29.1<30", "emacs-29.4", 0 },
	{ "adwaita-icon-theme>0", "adwaita-icon-theme-45.0", 1 },
	{ "foo<=1.0", "foo-1.0", 1 },
	{ "foo<=1.0", "foo-1.0nb1", 0 },
	{ "foo<1.0", "foo-1.0rc1", 1 },
	{ "foo>1.0<=2", "foo-2.0", 1 },
	{ "foo>1.0<=2", "foo-2.0nb1", 0 },
	/* globs */
	{ "ap2[0-9]-perl-[0-9]*", "ap24-perl-2.0.12", 1 },
	{ "ap2[0-9]-perl-[0-9]*", "ap13-perl-2.0.12", 0 },
	{ "py3[0-9]*-foo-[0-9]*", "py311-foo-1.0", 1 },
	{ "py3[0-9]*-foo-[0-9]*", "py27-foo-1.0", 0 },
	{ "boost-libs-1.85.*", "boost-libs-1.85.0nb2", 1 },
	{ "boost-libs-1.85.*", "boost-libs-1.86.0", 0 },
	/* alternates */
	{ "ap24-subversion-1.14.3{,nb[0-9]*}", "ap24-subversion-1.14.3", 1 },
	{ "ap24-subversion-1.14.3{,nb[0-9]*}", "ap24-subversion-1.14.3nb4", 1 },
	{ "ap24-subversion-1.14.3{,nb[0-9]*}", "ap24-subversion-1.14.31", 0 },
	{ "clang-18.1.8{,nb*}", "clang-18.1.8nb1", 1 },
	{ "clang-18.1.8{,nb*}", "clang-18.1.9", 0 },
	{ "dovecot>=2.3.21.1{nb*,}", "dovecot-2.3.21.1", 1 },
	{ "dovecot>=2.3.21.1{nb*,}", "dovecot-2.3.21.1nb3", 1 },
	{ "dovecot>=2.3.21.1{nb*,}", "dovecot-2.3.21", 0 },
	{ "{foo,bar}-[0-9]*", "bar-1.0", 1 },
	{ "{foo,{bar,baz}}-[0-9]*", "baz-1.0", 1 },
	{ "{foo,{bar,baz}}-[0-9]*", "qux-1.0", 0 },
	{ "php{82,83}-pdo>=8.2", "php83-pdo-8.3.1", 1 },
	{ "php{82,83}-pdo>=8.2", "php81-pdo-8.3.1", 0 },
	/* malformed: never match */
	{ "foo{a,b", "fooa-1", 0 },
	{ "", "foo-1", 0 },
};

static void test_match_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = pkg_match(cases[i].pattern, cases[i].pkg);
		if (got != cases[i].want)
			fail_msg("pkg_match(\"%s\", \"%s\") = %d, want %d", cases[i].pattern,
				 cases[i].pkg, got, cases[i].want);
	}
}

static void test_names(void **state)
{
	(void)state;
	struct { const char *pat, *name; } t[] = {
		{ "pcre2>=10.42", "pcre2" },
		{ "boost-libs-1.85.*", "boost-libs" },
		{ "clang-18.1.8{,nb*}", "clang" },
		{ "nginx", "nginx" },
		{ "nginx-1.2", "nginx" },
		{ "7kaa-[0-9]*", "7kaa" },
		{ "dovecot>=2.3.21.1{nb*,}", "dovecot" },
		{ "py3[0-9]*-foo-[0-9]*", NULL },
		{ "ap2[0-9]-perl-[0-9]*", NULL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *n = pkg_pattern_name(t[i].pat);
		if (t[i].name)
			assert_string_equal(n, t[i].name);
		else
			assert_null(n);
		free(n);
	}
	char *name = NULL;
	const char *ver = NULL;
	assert_int_equal(pkg_split_name("p5-Net-SSLeay-1.94nb1", &name, &ver), 0);
	assert_string_equal(name, "p5-Net-SSLeay");
	assert_string_equal(ver, "1.94nb1");
	free(name);
	assert_int_equal(pkg_split_name("noversion", &name, &ver), -1);
	assert_int_equal(pkg_split_name("trailing-", &name, &ver), -1);
	assert_int_equal(pkg_name_len("foo-bar-1.0"), 7);
	assert_int_equal(pkg_pattern_prefix_len("foo>=1"), 3);
	assert_int_equal(pkg_pattern_prefix_len("py3[0-9]*"), 3);
}

static void test_check(void **state)
{
	(void)state;
	struct error *err = NULL;
	assert_int_equal(pkg_pattern_check("dovecot>=2.3.21.1{nb*,}", &err), 0);
	assert_int_equal(pkg_pattern_check("nginx", &err), 0);
	assert_int_equal(pkg_pattern_check("foo{a,b", &err), -1);
	assert_string_equal(error_msg(err), "pattern \"foo{a,b\": unbalanced '{'");
	error_clear(&err);
	assert_int_equal(pkg_pattern_check("foo bar", &err), -1);
	assert_string_equal(error_msg(err), "pattern \"foo bar\": character (space or control) not allowed in a package pattern");
	error_clear(&err);
	assert_int_equal(pkg_pattern_check(">=1.0", &err), -1);
	assert_string_equal(error_msg(err), "pattern \">=1.0\": no package name before '>'");
	error_clear(&err);
	assert_int_equal(pkg_pattern_check("foo>=", &err), -1);
	assert_string_equal(error_msg(err), "pattern \"foo>=\": no version after '>='");
	error_clear(&err);
	assert_int_equal(pkg_pattern_check("", &err), -1);
	error_clear(&err);
}

/* 40 groups of two: 2^40 expansions. Rejected, and matched as nothing,
 * without expanding them (this test would never end otherwise). */
static void test_many_groups(void **state)
{
	(void)state;
	char pat[PKG_PATTERN_MAX];
	size_t n = 0;
	n += (size_t)snprintf(pat + n, sizeof(pat) - n, "foo");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(pat + n, sizeof(pat) - n, "{a,b}");
	struct error *err = NULL;
	assert_int_equal(pkg_pattern_check(pat, &err), -1);
	assert_non_null(strstr(error_msg(err), "groups expand to more than 256 alternatives; use fewer groups"));
	error_clear(&err);
	assert_false(pkg_match(pat, "fooaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1"));
	/* nested: {a0,{a1,{…,z}}} 100 deep is 101 alternatives: fine */
	n = 0;
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(pat + n, sizeof(pat) - n, "{a%d,", i);
	n += (size_t)snprintf(pat + n, sizeof(pat) - n, "z");
	for (int i = 0; i < 100; i++)
		pat[n++] = '}';
	memcpy(pat + n, "-[0-9]*", 8);
	assert_int_equal(pkg_pattern_check(pat, &err), 0);
	assert_true(pkg_match(pat, "z-1.0"));
	assert_true(pkg_match(pat, "a7-2"));
	/* 16 x 16 = 256: the limit itself is allowed */
	assert_int_equal(pkg_pattern_check("x{0,1,2,3,4,5,6,7,8,9,a,b,c,d,e,f}{0,1,2,3,4,5,6,7,8,9,a,b,c,d,e,f}", &err), 0);
	assert_int_equal(pkg_pattern_check("x{0,1,2,3,4,5,6,7,8,9,a,b,c,d,e,f}{0,1,2,3,4,5,6,7,8,9,a,b,c,d,e,f}{y,z}", &err),
			 -1);
	error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_many_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
