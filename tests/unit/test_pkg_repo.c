/* test_pkg_repo.c — end to end over a synthetic repository made by
 * tests/lib/mkpkgrepo.py: compressed pkg_summary and SHA512, resolution
 * scenarios, digest verification, and pkgdb records built from the
 * metadata inside the real .tgz files (read with libarchive). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkg_resolve.h"
#include "pkgdb.h"
#include "util.h"

struct repo {
	char *dir, *all;
	struct pkg_summary *sum;
	struct pkg_digests dig;
};

static int setup(void **state)
{
	const char *root = getenv("ROOT") ? getenv("ROOT") : ".";
	struct repo *r = xcalloc(1, sizeof(*r));
	r->dir = xstrdup("/tmp/test_pkg_repo.XXXXXX");
	if (!mkdtemp(r->dir))
		return -1;
	char *cmd = xasprintf("%s/tests/lib/fixture pkgrepo %s --all", root, r->dir);
	int rc = system(cmd);
	free(cmd);
	if (rc != 0) {
		fprintf(stderr, "tests/lib/fixture pkgrepo failed (python3 missing?)\n");
		return -1;
	}
	r->all = path_join(r->dir, "All");
	struct error *err = NULL;
	char *p = path_join(r->all, "pkg_summary.xz");
	r->sum = pkg_summary_parse_file(p, &err);
	free(p);
	if (!r->sum) {
		fprintf(stderr, "%s\n", error_msg(err));
		return -1;
	}
	p = path_join(r->all, "SHA512.bz2");
	rc = pkg_digests_parse_file(p, &r->dig, &err);
	free(p);
	if (rc < 0) {
		fprintf(stderr, "%s\n", error_msg(err));
		return -1;
	}
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct repo *r = *state;
	pkg_summary_free(r->sum);
	pkg_digests_free(&r->dig);
	remove_tree(r->dir);
	free(r->dir);
	free(r->all);
	free(r);
	return 0;
}

static char *resolve_str(struct repo *r, const char *const *pats, size_t n)
{
	struct pkg_resolution *res = NULL;
	struct error *err = NULL;
	if (pkg_resolve(r->sum, pats, n, "file:///repo/All", &res, &err) < 0) {
		char *m = xasprintf("ERR: %s", error_msg(err));
		error_clear(&err);
		return m;
	}
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < res->n; i++)
		sb_printf(&sb, "%s%s", i ? " " : "", res->v[i].pkg->pkgname);
	pkg_resolution_free(res);
	return sb_detach(&sb);
}

#define EXPECT(want, ...)                                                          \
	do {                                                                       \
		const char *pats_[] = { __VA_ARGS__ };                             \
		char *got_ = resolve_str(r, pats_, ARRAY_LEN(pats_));              \
		assert_string_equal(got_, want);                                   \
		free(got_);                                                        \
	} while (0)

static void test_scenarios(void **state)
{
	struct repo *r = *state;
	assert_int_equal(r->sum->n, 17);
	assert_int_equal(r->dig.n, 17);
	EXPECT("pcre2-10.42nb1 zlib-1.3.1 openssl-3.1.4 nginx-1.25.3nb2", "nginx");
	EXPECT("libc-2.0 liba-1.0 libb-1.0 app-1.0", "app");                     /* diamond */
	EXPECT("libc-1.5 tool-3.0", "libc", "tool");                              /* forced older */
	EXPECT("libc-1.5 liba-1.0 libb-1.0 app-1.0 tool-3.0", "tool", "app");
	EXPECT("ERR: x-1.0 (x) conflicts with y-2.0 (y): CONFLICTS y-[0-9]*", "x", "y");
	EXPECT("ERR: needy \u2192 pcre2>=10.50: no package in file:///repo/All satisfies it; "
	       "newest is pcre2-10.42nb1", "needy");
	const struct pkg_entry *e = pkg_summary_lookup(r->sum, "nginx-1.25.3nb2");
	assert_non_null(e);
	assert_string_equal(e->file_name, "nginx-1.25.3nb2.tgz");
	assert_true(e->file_size > 0);
	assert_string_equal(e->opsys, "NetBSD");
}

static void test_digests(void **state)
{
	struct repo *r = *state;
	size_t bad = 0;
	for (size_t i = 0; i < r->sum->n; i++) {
		const struct pkg_entry *e = &r->sum->pkgs[i];
		char *p = path_join(r->all, e->file_name);
		struct error *err = NULL;
		if (pkg_verify_file(p, e, &r->dig, &err) < 0) {
			assert_string_equal(e->pkgname, "corrupt-1.0");
			assert_true(str_startswith(error_msg(err), "corrupt-1.0.tgz: SHA512 mismatch (expected "));
			assert_non_null(strstr(error_msg(err), "the download is corrupt or the repository's SHA512 list is stale"));
			error_clear(&err);
			bad++;
		}
		assert_int_equal(pkg_verify_file(p, e, NULL, &err), 0);   /* size still right */
		free(p);
	}
	assert_int_equal(bad, 1);

	/* size check, unlisted file, missing file */
	struct pkg_entry fake = *pkg_summary_lookup(r->sum, "zlib-1.3.1");
	char *p = path_join(r->all, "zlib-1.3.1.tgz");
	struct error *err = NULL;
	fake.file_size += 1;
	assert_int_equal(pkg_verify_file(p, &fake, &r->dig, &err), -1);
	assert_non_null(strstr(error_msg(err), "zlib-1.3.1.tgz: size "));
	assert_non_null(strstr(error_msg(err), "the download is truncated"));
	error_clear(&err);
	fake.file_size = 0;
	fake.file_name = "renamed.tgz";
	assert_int_equal(pkg_verify_file(p, &fake, &r->dig, &err), -1);
	assert_string_equal(error_msg(err), "renamed.tgz: not listed in the repository's SHA512 file; refusing an unverified package");
	error_clear(&err);
	free(p);
	p = path_join(r->all, "nope.tgz");
	assert_int_equal(pkg_verify_file(p, &fake, &r->dig, &err), -1);
	assert_non_null(strstr(error_msg(err), "nope.tgz: No such file or directory"));
	error_clear(&err);
	free(p);
}

static void test_pkgdb_from_archives(void **state)
{
	struct repo *r = *state;
	const char *pats[] = { "nginx" };
	struct pkg_resolution *res = NULL;
	struct error *err = NULL;
	assert_int_equal(pkg_resolve(r->sum, pats, 1, NULL, &res, &err), 0);
	struct pkgdb_pkg *pk = xcalloc(res->n, sizeof(*pk));
	struct pkg_meta_set *sets = xcalloc(res->n, sizeof(*sets));
	char *localbase = NULL;
	for (size_t i = 0; i < res->n; i++) {
		char *p = path_join(r->all, res->v[i].pkg->file_name);
		if (pkgdb_read_meta(p, &sets[i], &err) < 0)
			fail_msg("%s", err);
		const struct pkg_meta_file *meta = sets[i].v;
		pk[i].n_meta = sets[i].n;
		pk[i].meta = meta;
		pk[i].pkgname = res->v[i].pkg->pkgname;
		pk[i].automatic = !res->v[i].requested;
		free(p);
		for (size_t m = 0; m < pk[i].n_meta; m++) {
			if (strcmp(meta[m].name, "+BUILD_INFO") != 0 || localbase)
				continue;
			struct pkg_build_info bi;
			assert_int_equal(pkg_build_info_parse(meta[m].data, meta[m].len, &bi, &err), 0);
			localbase = xstrdup(bi.localbase);
			assert_string_equal(bi.opsys, "NetBSD");
			assert_string_equal(bi.machine_arch, "x86_64");
			pkg_build_info_free(&bi);
		}
	}
	assert_string_equal(localbase, "/usr/pkg");
	char *dbdir = pkgdb_default_dir(localbase);
	struct pkgdb_files out = { 0 };
	if (pkgdb_register(dbdir, pk, res->n, &out, &err) < 0)
		fail_msg("%s", err);
	/* 4 packages x 5 metadata files + 3 +INSTALLED_INFO + 3 +REQUIRED_BY */
	assert_int_equal(out.n, 26);
	bool saw = false;
	for (size_t i = 0; i < out.n; i++) {
		if (strcmp(out.v[i].path, "/usr/pkg/pkgdb/zlib-1.3.1/+REQUIRED_BY") == 0) {
			assert_string_equal(out.v[i].data, "openssl-3.1.4\n");
			saw = true;
		}
		if (str_endswith(out.v[i].path, "/+CONTENTS"))
			assert_int_equal(out.v[i].mode, 0644);
		if (str_endswith(out.v[i].path, "/+DESC"))
			assert_int_equal(out.v[i].mode, 0444);
	}
	assert_true(saw);
	pkgdb_files_free(&out);
	for (size_t i = 0; i < res->n; i++)
		pkg_meta_set_free(&sets[i]);
	free(pk);
	free(sets);
	free(dbdir);
	free(localbase);
	pkg_resolution_free(res);
}

/* Write a gzip'd tar with the given (name, text) entries. */
static void write_tgz(const char *path, const char *const (*ents)[2], size_t n)
{
	struct archive *a = archive_write_new();
	archive_write_add_filter_gzip(a);
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, ents[i][0]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)strlen(ents[i][1]));
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, ents[i][1], strlen(ents[i][1])), (la_ssize_t)strlen(ents[i][1]));
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

static void test_read_meta_damaged(void **state)
{
	struct repo *r = *state;
	struct pkg_meta_set m = { 0 };
	struct error *err = NULL;
	char *p = path_join(r->dir, "dup.tgz");
	const char *const dup[][2] = { { "+CONTENTS", "@name a-1\n" }, { "+COMMENT", "c" },
				       { "+COMMENT", "again" }, { "bin/a", "x" } };
	write_tgz(p, dup, 4);
	assert_int_equal(pkgdb_read_meta(p, &m, &err), -1);
	assert_non_null(strstr(error_msg(err), "dup.tgz: metadata entry \"+COMMENT\" appears twice"));
	error_clear(&err);
	free(p);
	p = path_join(r->dir, "order.tgz");
	const char *const order[][2] = { { "+COMMENT", "c" }, { "+CONTENTS", "@name a-1\n" } };
	write_tgz(p, order, 2);
	assert_int_equal(pkgdb_read_meta(p, &m, &err), -1);
	assert_non_null(strstr(error_msg(err), "order.tgz: does not start with +CONTENTS"));
	error_clear(&err);
	free(p);
	/* unknown +FILE: metadata reading stops there, like pkg_add */
	p = path_join(r->dir, "unknown.tgz");
	const char *const unk[][2] = { { "+CONTENTS", "@name a-1\n" }, { "+COMMENT", "c" },
				       { "+WHATEVER", "?" }, { "+DESC", "d" } };
	write_tgz(p, unk, 4);
	assert_int_equal(pkgdb_read_meta(p, &m, &err), 0);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.v[1].data, "c");
	pkg_meta_set_free(&m);
	free(p);
}

static void test_escape_rejected(void **state)
{
	struct repo *r = *state;
	char *p = path_join(r->all, "evil-1.0.tgz");
	struct pkg_meta_set m = { 0 };
	struct error *err = NULL;
	assert_int_equal(pkgdb_read_meta(p, &m, &err), 0);
	free(p);
	assert_int_equal(m.n, 5);
	assert_string_equal(m.v[0].name, "+CONTENTS");
	assert_string_equal(m.v[4].name, "+SIZE_PKG");
	struct pkgdb_pkg pk = { "evil-1.0", m.v, m.n, false };
	struct pkgdb_files out = { 0 };
	assert_int_equal(pkgdb_register("/usr/pkg/pkgdb", &pk, 1, &out, &err), -1);
	assert_string_equal(error_msg(err), "evil-1.0: +CONTENTS: line 9: file \"../../etc/passwd\" escapes the prefix");
	error_clear(&err);
	pkg_meta_set_free(&m);

	/* not a package at all */
	p = path_join(r->all, "pkg_summary.gz");
	assert_int_equal(pkgdb_read_meta(p, &m, &err), -1);
	assert_non_null(strstr(error_msg(err), "pkg_summary.gz: "));
	error_clear(&err);
	free(p);
	p = path_join(r->all, "missing.tgz");
	assert_int_equal(pkgdb_read_meta(p, &m, &err), -1);
	assert_non_null(strstr(error_msg(err), "missing.tgz: cannot open package"));
	error_clear(&err);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_pkgdb_from_archives),
		cmocka_unit_test(test_escape_rejected),
		cmocka_unit_test(test_read_meta_damaged),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
