/* test_pkg_summary.c — pkg_summary(5) parsing (plain, chunked, compressed),
 * lookups, and SHA512 digest lists. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkg_summary.h"
#include "util.h"

static const char summary[] =
	"PKGNAME=pcre2-10.42\n"
	"COMMENT=Perl Compatible Regular Expressions library, v2\n"
	"SIZE_PKG=2345678\n"
	"FILE_SIZE=812345\n"
	"FILE_CKSUM=sha256 0123abcd\n"
	"PKGPATH=devel/pcre2\n"
	"MACHINE_ARCH=x86_64\n"
	"OPSYS=NetBSD\n"
	"OS_VERSION=10.0\n"
	"LICENSE=modified-bsd\n"
	"CATEGORIES=devel\n"
	"HOMEPAGE=https://example.invalid/pcre2\n"
	"BUILD_DATE=2024-05-01 10:00:00 +0000\n"
	"DESCRIPTION=The PCRE2 library is a set of functions that implement\n"
	"DESCRIPTION=regular expression pattern matching.\n"
	"DESCRIPTION=\n"
	"DESCRIPTION=Third line after a blank one.\n"
	"\n"
	"PKGNAME=nginx-1.25.3nb2\n"
	"DEPENDS=pcre2>=10.42\n"
	"DEPENDS=openssl>=3.0.0\n"
	"CONFLICTS=nginx-devel-[0-9]*\n"
	"FILE_NAME=nginx-1.25.3nb2.tgz\n"
	"COMMENT=Lightweight HTTP server\n"
	"SUPERSEDES=ignored\n"
	"\n\n"
	"PKGNAME=pcre2-10.40\n"
	"COMMENT=old\n"
	"\n"
	"PKGNAME=pcre2-10.42nb1\r\n"
	"COMMENT=revised\r\n"
	"\r\n"
	"PKGNAME=openssl-3.1.4\n"
	"DEPENDS=pcre2>=10.42\n";   /* no final newline or blank line */

static void check_summary(struct pkg_summary *s)
{
	assert_non_null(s);
	assert_int_equal(s->n, 5);
	size_t cnt;
	size_t first = pkg_summary_find(s, "pcre2", &cnt);
	assert_int_equal(cnt, 3);
	/* newest first */
	assert_string_equal(s->pkgs[first].pkgname, "pcre2-10.42nb1");
	assert_string_equal(s->pkgs[first + 1].pkgname, "pcre2-10.42");
	assert_string_equal(s->pkgs[first + 2].pkgname, "pcre2-10.40");
	assert_string_equal(s->pkgs[first].comment, "revised");
	const struct pkg_entry *p = &s->pkgs[first + 1];
	assert_string_equal(p->name, "pcre2");
	assert_string_equal(p->version, "10.42");
	assert_int_equal(p->size_pkg, 2345678);
	assert_int_equal(p->file_size, 812345);
	assert_string_equal(p->file_cksum, "sha256 0123abcd");
	assert_string_equal(p->file_name, "pcre2-10.42.tgz");   /* default */
	assert_string_equal(p->pkgpath, "devel/pcre2");
	assert_string_equal(p->machine_arch, "x86_64");
	assert_string_equal(p->opsys, "NetBSD");
	assert_string_equal(p->os_version, "10.0");
	assert_string_equal(p->license, "modified-bsd");
	assert_string_equal(p->categories, "devel");
	assert_string_equal(p->homepage, "https://example.invalid/pcre2");
	assert_string_equal(p->build_date, "2024-05-01 10:00:00 +0000");
	assert_string_equal(p->description,
			    "The PCRE2 library is a set of functions that implement\n"
			    "regular expression pattern matching.\n\nThird line after a blank one.");
	assert_int_equal(p->n_depends, 0);

	const struct pkg_entry *n = pkg_summary_lookup(s, "nginx-1.25.3nb2");
	assert_non_null(n);
	assert_int_equal(n->n_depends, 2);
	assert_string_equal(n->depends[0], "pcre2>=10.42");
	assert_string_equal(n->depends[1], "openssl>=3.0.0");
	assert_int_equal(n->n_conflicts, 1);
	assert_string_equal(n->conflicts[0], "nginx-devel-[0-9]*");
	assert_null(pkg_summary_lookup(s, "nginx-1.25.3"));
	/* interned: the same pattern string is stored once */
	const struct pkg_entry *o = pkg_summary_lookup(s, "openssl-3.1.4");
	assert_non_null(o);
	assert_ptr_equal(o->depends[0], n->depends[0]);
	assert_int_equal(pkg_summary_find(s, "nope", &cnt), SIZE_MAX);
	assert_int_equal(cnt, 0);

	size_t *c = NULL;
	size_t nc = pkg_summary_candidates(s, "pcre2>=10.41", &c);
	assert_int_equal(nc, 2);
	assert_string_equal(s->pkgs[c[0]].pkgname, "pcre2-10.42nb1");
	free(c);
	nc = pkg_summary_candidates(s, "pcre2", &c);
	assert_int_equal(nc, 3);
	free(c);
	nc = pkg_summary_candidates(s, "*-1.25*", &c);   /* no literal prefix */
	assert_int_equal(nc, 1);
	free(c);
	nc = pkg_summary_candidates(s, "zzz", &c);
	assert_int_equal(nc, 0);
	assert_null(c);
}

static void test_parse_buffer(void **state)
{
	(void)state;
	struct error *err = NULL;
	struct pkg_summary *s = pkg_summary_parse_buffer("mem", summary, strlen(summary), &err);
	assert_null(err);
	check_summary(s);
	pkg_summary_free(s);
}

/* Every split point of the stream gives the same result. */
static void test_parse_chunked(void **state)
{
	(void)state;
	size_t len = strlen(summary);
	for (size_t step = 1; step < 40; step += 3) {
		struct error *err = NULL;
		struct pkg_summary_parser *p = pkg_summary_parser_new("chunks");
		for (size_t off = 0; off < len; off += step) {
			size_t n = len - off < step ? len - off : step;
			assert_int_equal(pkg_summary_parser_feed(p, summary + off, n, &err), 0);
		}
		struct pkg_summary *s = pkg_summary_parser_finish(p, &err);
		assert_null(err);
		check_summary(s);
		pkg_summary_free(s);
	}
}

static void test_parse_errors(void **state)
{
	(void)state;
	struct error *err = NULL;
	const char *bad1 = "PKGNAME=foo-1.0\nthis is not a variable\n";
	assert_null(pkg_summary_parse_buffer("repo/pkg_summary.gz", bad1, strlen(bad1), &err));
	assert_string_equal(error_msg(err), "repo/pkg_summary.gz: line 2: expected VARIABLE=VALUE, got \"this is not a variable\"");
	error_clear(&err);
	/* one malformed record among good ones: left out, and listed */
	const char *bad2 = "PKGNAME=foo-1.0\n\nCOMMENT=orphan\n\nPKGNAME=bar-2\nFILE_SIZE=x\nCOMMENT=c\n\n"
			   "PKGNAME=baz-3\n\x1b[31m\nDEPENDS=foo>=1\n\nPKGNAME=qux-4\n";
	struct pkg_summary *ks = pkg_summary_parse_buffer("s", bad2, strlen(bad2), &err);
	assert_non_null(ks);
	assert_null(err);
	assert_int_equal(ks->n, 2);
	assert_string_equal(ks->pkgs[0].pkgname, "foo-1.0");
	assert_string_equal(ks->pkgs[1].pkgname, "qux-4");
	assert_int_equal(ks->n_skipped, 3);
	assert_int_equal(ks->skipped[0].line, 3);
	assert_null(ks->skipped[0].pkgname);
	assert_string_equal(ks->skipped[0].reason, "the record at line 3 has no PKGNAME");
	assert_string_equal(ks->skipped[1].pkgname, "bar-2");
	assert_string_equal(ks->skipped[1].reason, "line 6: FILE_SIZE=\"x\" is not a number");
	assert_string_equal(ks->skipped[2].pkgname, "baz-3");
	/* untrusted text is escaped */
	assert_string_equal(ks->skipped[2].reason, "line 10: expected VARIABLE=VALUE, got \"\\x1b[31m\"");
	pkg_summary_free(ks);
	/* only malformed records: not a catalogue */
	const char *bad2b = "COMMENT=orphan\n";
	assert_null(pkg_summary_parse_buffer("s", bad2b, strlen(bad2b), &err));
	assert_string_equal(error_msg(err), "s: the record at line 1 has no PKGNAME");
	error_clear(&err);
	const char *bad3 = "PKGNAME=foo-1.0\nFILE_SIZE=12x\n";
	assert_null(pkg_summary_parse_buffer("s", bad3, strlen(bad3), &err));
	assert_string_equal(error_msg(err), "s: line 2: FILE_SIZE=\"12x\" is not a number");
	error_clear(&err);
	const char *bad4 = "PKGNAME=noversion\n";
	assert_null(pkg_summary_parse_buffer("s", bad4, strlen(bad4), &err));
	assert_string_equal(error_msg(err), "s: line 1: PKGNAME \"noversion\" is not <name>-<version>");
	error_clear(&err);
	/* empty catalogue is fine */
	struct pkg_summary *s = pkg_summary_parse_buffer("s", "", 0, &err);
	assert_non_null(s);
	assert_int_equal(s->n, 0);
	pkg_summary_free(s);
	/* duplicates keep the first record */
	const char *dup = "PKGNAME=a-1\nCOMMENT=first\n\nPKGNAME=a-1\nCOMMENT=second\n";
	s = pkg_summary_parse_buffer("s", dup, strlen(dup), &err);
	assert_int_equal(s->n, 1);
	assert_string_equal(s->pkgs[0].comment, "first");
	pkg_summary_free(s);
}

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/test_pkg_summary.XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

/* gzip / xz / bzip2 through libarchive's raw reader (shells out to the
 * compressors to make the fixtures, as tests may). */
static void test_parse_compressed(void **state)
{
	(void)state;
	char *dir = tmpdir();
	char *plain = path_join(dir, "pkg_summary");
	assert_int_equal(write_file_atomic(plain, summary, strlen(summary), 0644), 0);
	const char *tools[][2] = { { "gzip -kf", ".gz" }, { "xz -kf", ".xz" }, { "bzip2 -kf", ".bz2" } };
	for (size_t i = 0; i < 3; i++) {
		char *cmd = xasprintf("%s %s 2>/dev/null", tools[i][0], plain);
		int rc = system(cmd);
		free(cmd);
		if (rc != 0)
			continue;   /* compressor not installed */
		char *path = xasprintf("%s%s", plain, tools[i][1]);
		struct error *err = NULL;
		struct pkg_summary *s = pkg_summary_parse_file(path, &err);
		if (!s)
			fail_msg("%s: %s", path, err);
		check_summary(s);
		assert_string_equal(s->label, path);
		pkg_summary_free(s);
		free(path);
	}
	struct error *err = NULL;
	struct pkg_summary *s = pkg_summary_parse_file(plain, &err);
	check_summary(s);
	pkg_summary_free(s);
	char *missing = path_join(dir, "nope.xz");
	assert_null(pkg_summary_parse_file(missing, &err));
	assert_non_null(strstr(error_msg(err), "nope.xz: cannot open"));
	error_clear(&err);
	free(missing);
	/* truncated xz */
	char *trunc = path_join(dir, "trunc.xz");
	char *cmd = xasprintf("xz -c %s | head -c 40 > %s", plain, trunc);
	if (system(cmd) == 0) {
		assert_null(pkg_summary_parse_file(trunc, &err));
		assert_non_null(strstr(error_msg(err), "trunc.xz"));
		error_clear(&err);
	}
	free(cmd);
	free(trunc);
	remove_tree(dir);
	free(plain);
	free(dir);
}

static void test_digests(void **state)
{
	(void)state;
	char h1[129], h2[129];
	memset(h1, 'a', 128);
	h1[128] = 0;
	memset(h2, 'B', 128);
	h2[128] = 0;
	char *text = xasprintf("SHA512 (All/zlib-1.3.1.tgz) = %s\n"
			       "SHA512 (odd name (1).tgz) = %s\n"
			       "# comment\n\n"
			       "%s  gnu-style-1.0.tgz\n", h1, h1, h2);
	struct pkg_digests d;
	struct error *err = NULL;
	assert_int_equal(pkg_digests_parse("SHA512", text, strlen(text), &d, &err), 0);
	assert_int_equal(d.n, 3);
	assert_string_equal(pkg_digests_get(&d, "zlib-1.3.1.tgz"), h1);
	assert_string_equal(pkg_digests_get(&d, "All/zlib-1.3.1.tgz"), h1);
	assert_string_equal(pkg_digests_get(&d, "odd name (1).tgz"), h1);
	char lower[129];
	memset(lower, 'b', 128);
	lower[128] = 0;
	assert_string_equal(pkg_digests_get(&d, "gnu-style-1.0.tgz"), lower);
	assert_null(pkg_digests_get(&d, "other.tgz"));
	pkg_digests_free(&d);
	free(text);

	const char *bad = "SHA512 (x.tgz) = 1234\n";
	assert_int_equal(pkg_digests_parse("All/SHA512", bad, strlen(bad), &d, &err), -1);
	assert_string_equal(error_msg(err), "All/SHA512: line 1: expected \"SHA512 (file) = <128 hex digits>\"");
	error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_buffer),
		cmocka_unit_test(test_parse_chunked),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_compressed),
		cmocka_unit_test(test_digests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
