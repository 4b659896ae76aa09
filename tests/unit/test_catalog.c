/* test_catalog.c — sets/catalog.yaml expansion, errors, checksum lists.
 * Runs from the repository root (tests/run.sh does cd "$ROOT"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "util.h"

static struct catalog *load_repo_catalog(void)
{
	struct error *err = NULL;
	char *path = catalog_locate("sets/catalog.yaml", &err);
	assert_non_null(path);
	struct catalog *c = catalog_load(path, &err);
	if (!c)
		fail_msg("%s", err);
	free(path);
	return c;
}

static struct catalog_target *target(struct catalog *c, const char *rel, const char *arch, const char *mirror)
{
	struct error *err = NULL;
	struct catalog_target *t = catalog_target(c, rel, arch, mirror, &err);
	if (!t)
		fail_msg("%s", err);
	return t;
}

static void test_release_urls(void **state)
{
	(void)state;
	struct catalog *c = load_repo_catalog();
	struct catalog_target *t = target(c, "10.1", "amd64", NULL);
	assert_string_equal(t->sets_url, "https://cdn.netbsd.org/pub/NetBSD/NetBSD-10.1/amd64/binary/sets/");
	assert_string_equal(t->sha512_url, "https://cdn.netbsd.org/pub/NetBSD/NetBSD-10.1/amd64/binary/sets/SHA512");
	assert_string_equal(t->set_ext, "tar.xz");
	char *u = catalog_set_url(t, "base");
	assert_string_equal(u, "https://cdn.netbsd.org/pub/NetBSD/NetBSD-10.1/amd64/binary/sets/base.tar.xz");
	free(u);
	u = catalog_set_url(t, "comp.tgz");
	assert_string_equal(u, "https://cdn.netbsd.org/pub/NetBSD/NetBSD-10.1/amd64/binary/sets/comp.tgz");
	free(u);
	assert_string_equal(t->kernel_url, "https://smolbsd.org/assets/netbsd-SMOL");
	assert_string_equal(t->kernel_sha256_url, "https://smolbsd.org/assets/netbsd-SMOL.sha256");
	assert_string_equal(t->kernel_name, "netbsd-SMOL");
	assert_string_equal(t->pkgsrc_url, "https://cdn.netbsd.org/pub/pkgsrc/packages/NetBSD/x86_64/10.1/All/");
	assert_string_equal(t->machine, "x86_64");
	assert_false(t->daily);
	assert_int_equal(t->default_sets.n, 2);
	assert_string_equal(t->default_sets.v[0], "base");
	assert_string_equal(t->default_sets.v[1], "etc");
	assert_int_equal(t->tiny_sets.n, 1);
	assert_string_equal(t->tiny_sets.v[0], "rescue");
	catalog_target_free(t);

	t = target(c, "netbsd-9.3", "amd64", NULL);
	assert_string_equal(t->release, "9.3");
	assert_string_equal(t->set_ext, "tar.xz");
	catalog_target_free(t);

	t = target(c, "9.4", "i386", NULL);
	assert_string_equal(t->set_ext, "tgz");
	assert_string_equal(t->machine, "i386");
	assert_string_equal(t->kernel_url, "https://smolbsd.org/assets/netbsd-SMOL386");
	assert_string_equal(t->pkgsrc_url, "https://cdn.netbsd.org/pub/pkgsrc/packages/NetBSD/i386/9.4/All/");
	u = catalog_set_url(t, "base");
	assert_string_equal(u, "https://cdn.netbsd.org/pub/NetBSD/NetBSD-9.4/i386/binary/sets/base.tgz");
	free(u);
	catalog_target_free(t);

	t = target(c, "10.0", "evbarm-aarch64", NULL);
	assert_string_equal(t->set_ext, "tar.xz");
	assert_string_equal(t->machine, "aarch64");
	assert_string_equal(t->kernel_url, "https://smolbsd.org/assets/netbsd-GENERIC64.img");
	assert_string_equal(t->sets_url, "https://cdn.netbsd.org/pub/NetBSD/NetBSD-10.0/evbarm-aarch64/binary/sets/");
	assert_string_equal(t->pkgsrc_url, "https://cdn.netbsd.org/pub/pkgsrc/packages/NetBSD/aarch64/10.0/All/");
	catalog_target_free(t);

	t = target(c, "11.0", NULL, NULL);
	assert_string_equal(t->arch, "amd64");
	catalog_target_free(t);

	t = target(c, "daily", "amd64", NULL);
	assert_true(t->daily);
	assert_string_equal(t->sets_url, "https://nycdn.netbsd.org/pub/NetBSD-daily/netbsd-11/latest/amd64/binary/sets/");
	assert_string_equal(t->pkgsrc_url, "https://cdn.netbsd.org/pub/pkgsrc/packages/NetBSD/x86_64/11.0/All/");
	catalog_target_free(t);

	t = target(c, "head", "evbarm-aarch64", NULL);
	assert_string_equal(t->sets_url, "https://nycdn.netbsd.org/pub/NetBSD-daily/HEAD/latest/evbarm-aarch64/binary/sets/");
	catalog_target_free(t);

	t = target(c, NULL, NULL, NULL);
	assert_string_equal(t->release, catalog_default_release(c));
	catalog_target_free(t);
	catalog_free(c);
}

static void test_unknown_names(void **state)
{
	(void)state;
	struct catalog *c = load_repo_catalog();
	struct error *err = NULL;
	assert_null(catalog_target(c, "10.9", "amd64", NULL, &err));
	assert_string_equal(error_msg(err), "unknown NetBSD release '10.9' (known: 9.3 9.4 10.0 10.1 11.0 daily head)");
	error_clear(&err);
	assert_null(catalog_target(c, "10.1", "sparc", NULL, &err));
	assert_string_equal(error_msg(err), "unknown architecture 'sparc' (known: amd64 i386 evbarm-aarch64)");
	error_clear(&err);
	struct catalog_target *t = catalog_target(c, "10.1", "amd64", NULL, &err);
	catalog_target_free(t);
	catalog_free(c);
}

static void test_mirror_override(void **state)
{
	(void)state;
	struct catalog *c = load_repo_catalog();
	unsetenv("SMOLC_MIRROR");
	assert_null(catalog_mirror_override(NULL));
	assert_null(catalog_mirror_override(""));
	setenv("SMOLC_MIRROR", "http://127.0.0.1:8000/m", 1);
	assert_string_equal(catalog_mirror_override(NULL), "http://127.0.0.1:8000/m");
	assert_string_equal(catalog_mirror_override("http://other/"), "http://other/");
	struct catalog_target *t = target(c, "10.1", "amd64", catalog_mirror_override(NULL));
	assert_string_equal(t->sets_url, "http://127.0.0.1:8000/m/pub/NetBSD/NetBSD-10.1/amd64/binary/sets/");
	assert_string_equal(t->pkgsrc_url, "http://127.0.0.1:8000/m/pub/pkgsrc/packages/NetBSD/x86_64/10.1/All/");
	/* the smolBSD kernel does not come from the mirror */
	assert_string_equal(t->kernel_url, "https://smolbsd.org/assets/netbsd-SMOL");
	catalog_target_free(t);
	t = target(c, "daily", "amd64", "http://127.0.0.1:8000/m/");
	assert_string_equal(t->sets_url, "http://127.0.0.1:8000/m/pub/NetBSD-daily/netbsd-11/latest/amd64/binary/sets/");
	assert_string_equal(t->pkgsrc_url, "http://127.0.0.1:8000/m/pub/pkgsrc/packages/NetBSD/x86_64/11.0/All/");
	catalog_target_free(t);
	unsetenv("SMOLC_MIRROR");
	catalog_free(c);
}

static void test_kernels(void **state)
{
	(void)state;
	struct catalog *c = load_repo_catalog();
	struct catalog_target *t = target(c, "10.1", "amd64", NULL);
	struct error *err = NULL;
	char *url, *sha;
	assert_int_equal(catalog_kernel(c, t, NULL, &url, &sha, &err), 0);
	assert_string_equal(url, "https://smolbsd.org/assets/netbsd-SMOL");
	assert_string_equal(sha, "https://smolbsd.org/assets/netbsd-SMOL.sha256");
	free(url);
	free(sha);
	assert_int_equal(catalog_kernel(c, t, "GENERIC", &url, &sha, &err), 0);
	assert_string_equal(url, "https://cdn.netbsd.org/pub/NetBSD/NetBSD-10.1/amd64/binary/kernel/netbsd-GENERIC.gz");
	assert_null(sha);
	free(url);
	assert_int_equal(catalog_kernel(c, t, "netbsd-SMOL", &url, &sha, &err), 0);
	assert_string_equal(url, "https://smolbsd.org/assets/netbsd-SMOL");
	free(url);
	free(sha);
	assert_int_equal(catalog_kernel(c, t, "netbsd-INSTALL.gz", &url, &sha, &err), 0);
	assert_string_equal(url, "https://cdn.netbsd.org/pub/NetBSD/NetBSD-10.1/amd64/binary/kernel/netbsd-INSTALL.gz");
	free(url);
	assert_int_equal(catalog_kernel(c, t, "TINY", &url, &sha, &err), -1);
	assert_non_null(strstr(error_msg(err), "unknown kernel 'TINY' for amd64 (known: SMOL GENERIC"));
	error_clear(&err);
	catalog_target_free(t);
	catalog_free(c);
}

static void test_ext_rules_and_yaml_errors(void **state)
{
	(void)state;
	const char *y = "format: 1\n"
			"mirror: http://m/\n"
			"templates:\n"
			"  sets: \"{mirror}/NetBSD-{version}/{arch}/\"\n"
			"  kernel_dir: \"{mirror}/k/\"\n"
			"  pkgsrc: \"{mirror}/p/{machine}/{pkgversion}/\"\n"
			"arches:\n"
			"  amd64:\n"
			"    machine: x86_64\n"
			"    ext: [{since: \"9.0\", ext: tar.xz}, {ext: tgz}]\n"
			"    kernels: {K: {url: \"{kernel_dir}netbsd-K\"}}\n"
			"releases:\n"
			"  \"8.2\": {}\n"
			"  \"9.0\": {pkgversion: \"9.0_2024Q4\"}\n";
	struct error *err = NULL;
	struct catalog *c = catalog_load_string(y, strlen(y), "mem.yaml", &err);
	if (!c)
		fail_msg("%s", err);
	struct catalog_target *t = target(c, "8.2", NULL, NULL);
	assert_string_equal(t->set_ext, "tgz");
	assert_string_equal(t->sets_url, "http://m/NetBSD-8.2/amd64/");
	assert_string_equal(t->kernel_url, "http://m/k/netbsd-K");
	catalog_target_free(t);
	t = target(c, "9.0", NULL, NULL);
	assert_string_equal(t->set_ext, "tar.xz");
	assert_string_equal(t->pkgsrc_url, "http://m/p/x86_64/9.0_2024Q4/");
	catalog_target_free(t);
	assert_string_equal(catalog_default_release(c), "9.0");
	catalog_free(c);

	/* versions compare numerically */
	const char *y2 = "format: 1\nmirror: m\ntemplates: {sets: s, kernel_dir: k, pkgsrc: p}\n"
			 "arches: {amd64: {ext: [{since: \"10.0\", ext: new}, {ext: old}]}}\n"
			 "releases: {\"9.99\": {}, \"10.0\": {}, x: {version: \"11.99\"}, y: {version: \"9.0_2024Q4\"}}\n";
	c = catalog_load_string(y2, strlen(y2), "v.yaml", &err);
	if (!c)
		fail_msg("%s", err);
	const char *exp[][2] = {{"9.99", "old"}, {"10.0", "new"}, {"x", "new"}, {"y", "old"}};
	for (size_t i = 0; i < 4; i++) {
		t = target(c, exp[i][0], NULL, NULL);
		assert_string_equal(t->set_ext, exp[i][1]);
		assert_string_equal(t->machine, "amd64");
		catalog_target_free(t);
	}
	catalog_free(c);

	/* duplicate release */
	const char *dup = "format: 1\nmirror: m\nreleases:\n  \"10.1\": {}\n  \"10.1\": {}\n";
	assert_null(catalog_load_string(dup, strlen(dup), "dup.yaml", &err));
	assert_string_equal(error_msg(err), "dup.yaml:5:3: release '10.1' is listed twice");
	error_clear(&err);

	/* syntax error: file:line:column */
	const char *bad = "format: 1\nmirror: [unclosed\n";
	assert_null(catalog_load_string(bad, strlen(bad), "bad.yaml", &err));
	assert_true(str_startswith(error_msg(err), "bad.yaml:"));
	int line = 0, col = 0;
	assert_int_equal(sscanf(error_msg(err), "bad.yaml:%d:%d:", &line, &col), 2);
	assert_true(line >= 2);
	error_clear(&err);

	/* unknown key with its location */
	const char *typo = "format: 1\nmirorr: http://m\n";
	assert_null(catalog_load_string(typo, strlen(typo), "typo.yaml", &err));
	assert_true(str_startswith(error_msg(err), "typo.yaml:2:1: unknown key 'mirorr'"));
	error_clear(&err);

	/* unknown placeholder */
	const char *ph = "format: 1\nmirror: m\ntemplates:\n  sets: \"{mirror}/{relase}/\"\n";
	assert_null(catalog_load_string(ph, strlen(ph), "ph.yaml", &err));
	assert_true(str_startswith(error_msg(err), "ph.yaml:4:9: unknown placeholder {relase}"));
	error_clear(&err);
}

static const char SHA512_FILE[] =
	"SHA512 (base.tar.xz) = "
	"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90\n"
	"SHA512 (comp.tar.xz) = "
	"00000000000000000000000000000000000000000000000000000000000000000"
	"000000000000000000000000000000000000000000000000000000000000000\n"
	"SHA512 (etc.tar.xz) = "
	"1111111111111111111111111111111111111111111111111111111111111111"
	"1111111111111111111111111111111111111111111111111111111111111111\n"
	"SHA512 (kern-GENERIC.tar.xz) = "
	"2222222222222222222222222222222222222222222222222222222222222222"
	"2222222222222222222222222222222222222222222222222222222222222222\n";

static void test_sha512_parsing(void **state)
{
	(void)state;
	struct error *err = NULL;
	struct catalog_sums *s = catalog_sums_parse(SHA512_FILE, strlen(SHA512_FILE), "SHA512", &err);
	if (!s)
		fail_msg("%s", err);
	assert_int_equal(s->n, 4);
	assert_string_equal(s->v[0].alg, "sha512");
	assert_string_equal(s->v[0].name, "base.tar.xz");
	const struct catalog_sum *e = catalog_sums_find_set(s, "base", "SHA512", &err);
	assert_non_null(e);
	assert_string_equal(e->name, "base.tar.xz");
	assert_true(str_startswith(e->hex, "a1b2c3d4"));
	assert_int_equal(strlen(e->hex), 128);
	e = catalog_sums_find_set(s, "etc.tar.xz", "SHA512", &err);
	assert_non_null(e);
	assert_null(catalog_sums_find_set(s, "bsae", "https://m/sets/SHA512", &err));
	assert_string_equal(error_msg(err), "set 'bsae' is not in https://m/sets/SHA512 (sets: base comp etc kern-GENERIC)");
	error_clear(&err);
	assert_non_null(catalog_sums_lookup(s, "./etc.tar.xz", "SHA512"));
	assert_null(catalog_sums_lookup(s, "etc.tar.xz", "md5"));
	catalog_sums_free(s);

	/* sha512sum format on a tgz release: extension from the file */
	struct strbuf sb;
	sb_init(&sb);
	for (int i = 0; i < 128; i++)
		sb_addc(&sb, "ABCDEF"[i % 6]);
	sb_adds(&sb, "  base.tgz\n");
	for (int i = 0; i < 128; i++)
		sb_addc(&sb, '3');
	sb_adds(&sb, " *etc.tgz\r\n\n# comment\n");
	s = catalog_sums_parse(sb.buf, sb.len, "SHA512", &err);
	if (!s)
		fail_msg("%s", err);
	assert_int_equal(s->n, 2);
	e = catalog_sums_find_set(s, "base", "SHA512", &err);
	assert_non_null(e);
	assert_string_equal(e->name, "base.tgz");
	assert_true(str_startswith(e->hex, "abcdef"));
	e = catalog_sums_find_set(s, "etc", "SHA512", &err);
	assert_string_equal(e->name, "etc.tgz");
	catalog_sums_free(s);
	sb_free(&sb);

	const char *bad = "SHA512 (base.tar.xz) = abc\nnonsense here\n";
	assert_null(catalog_sums_parse(bad, strlen(bad), "SHA512", &err));
	assert_true(str_startswith(error_msg(err), "SHA512:1: not a checksum line"));
	error_clear(&err);
}

static void test_sha256_files(void **state)
{
	(void)state;
	const char *hex = "ec59d1198dad7de81771bfb93f50425241bc51331b4c50ba7a163ca4d6acd427";
	struct error *err = NULL;
	char out[65];
	char *t = xasprintf("%s  netbsd-SMOL\n", hex);
	assert_int_equal(catalog_parse_sha256(t, strlen(t), "netbsd-SMOL", "x.sha256", out, &err), 0);
	assert_string_equal(out, hex);
	free(t);
	t = xasprintf("SHA256 (netbsd-SMOL) = %s\n", hex);
	assert_int_equal(catalog_parse_sha256(t, strlen(t), "netbsd-SMOL", "x.sha256", out, &err), 0);
	assert_string_equal(out, hex);
	free(t);
	t = xasprintf("%s\n", hex);
	assert_int_equal(catalog_parse_sha256(t, strlen(t), "netbsd-SMOL", "x.sha256", out, &err), 0);
	assert_string_equal(out, hex);
	free(t);
	t = xasprintf("%s  other\n%s  more\n", hex, hex);
	assert_int_equal(catalog_parse_sha256(t, strlen(t), "netbsd-SMOL", "x.sha256", out, &err), -1);
	assert_string_equal(error_msg(err), "x.sha256: no sha256 digest for 'netbsd-SMOL'");
	error_clear(&err);
	free(t);
}

static void test_local_sets_and_locate(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/smolc-catalog-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	char *recipe = path_join(tmpl, "recipe"), *data = path_join(tmpl, "data");
	char *d1 = xasprintf("%s/sets/amd64", recipe), *d2 = xasprintf("%s/sets/amd64", data);
	assert_int_equal(mkdir_p(d1, 0755), 0);
	assert_int_equal(mkdir_p(d2, 0755), 0);
	char *f1 = path_join(d1, "base.tar.xz"), *f2 = path_join(d2, "etc.tgz"), *f3 = path_join(d2, "base.tar.xz");
	assert_int_equal(write_file_atomic(f1, "x", 1, 0644), 0);
	assert_int_equal(write_file_atomic(f2, "x", 1, 0644), 0);
	assert_int_equal(write_file_atomic(f3, "x", 1, 0644), 0);

	struct catalog *c = load_repo_catalog();
	struct catalog_target *t = target(c, "10.1", "amd64", NULL);
	char *p = catalog_local_set(t, recipe, data, "base", NULL);
	assert_string_equal(p, f1); /* the recipe's directory first */
	free(p);
	p = catalog_local_set(t, recipe, data, "etc", NULL);
	assert_string_equal(p, f2);
	free(p);
	p = catalog_local_set(t, recipe, data, "etc", "etc.tgz");
	assert_string_equal(p, f2);
	free(p);
	assert_null(catalog_local_set(t, recipe, data, "comp", NULL));
	assert_null(catalog_local_set(t, NULL, NULL, "base", NULL));
	catalog_target_free(t);
	catalog_free(c);

	/* SMOLC_DATADIR */
	char *sd = path_join(data, "sets/catalog.yaml");
	assert_int_equal(write_file_atomic(sd, "format: 1\n", 10, 0644), 0);
	setenv("SMOLC_DATADIR", data, 1);
	struct error *err = NULL;
	char *loc = catalog_locate(NULL, &err);
	assert_string_equal(loc, sd);
	free(loc);
	unsetenv("SMOLC_DATADIR");
	assert_null(catalog_locate("/nonexistent/catalog.yaml", &err));
	assert_non_null(strstr(error_msg(err), "/nonexistent/catalog.yaml"));
	error_clear(&err);
	c = catalog_load("sets/catalog.yaml", &err);
	assert_non_null(c);
	assert_string_equal(catalog_datadir(c), ".");
	catalog_free(c);

	free(sd);
	free(f1);
	free(f2);
	free(f3);
	free(d1);
	free(d2);
	free(recipe);
	free(data);
	remove_tree(tmpl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release_urls),
		cmocka_unit_test(test_unknown_names),
		cmocka_unit_test(test_mirror_override),
		cmocka_unit_test(test_kernels),
		cmocka_unit_test(test_ext_rules_and_yaml_errors),
		cmocka_unit_test(test_sha512_parsing),
		cmocka_unit_test(test_sha256_files),
		cmocka_unit_test(test_local_sets_and_locate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
