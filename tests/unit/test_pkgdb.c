/* test_pkgdb.c — +CONTENTS / +BUILD_INFO parsing and the files pkg_add
 * would register under PKG_DBDIR. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pkgdb.h"
#include "util.h"

static const char contents[] =
	"@comment $NetBSD$\n"
	"@name nginx-1.25.3nb2\n"
	"@comment ORIGIN:www/nginx\n"
	"@cwd /usr/pkg\n"
	"@pkgdep pcre2>=10.42\n"
	"@pkgdep openssl>=3.0.0\n"
	"@blddep pcre2-10.42nb1\n"
	"@pkgcfl nginx-devel-[0-9]*\n"
	"@option preserve\n"
	"@ignore\n"
	"+BUILD_INFO\n"
	"sbin/nginx\n"
	"@comment MD5:0123456789abcdef0123456789abcdef\n"
	"@mode 0640\n"
	"@owner nginx\n"
	"@group www\n"
	"share/examples/nginx/nginx.conf\n"
	"@mode\n"
	"@owner\n"
	"@group\n"
	"@exec mkdir -p %D/var/log/nginx\n"
	"@unexec rmdir %D/var/log/nginx 2>/dev/null || true\n"
	"@display MESSAGE\n"
	"@dirrm share/examples/nginx\n"
	"@pkgdir var/log/nginx\n"
	"@frobnicate   something odd\n"
	"man/man8/nginx.8\r\n";

static void test_plist(void **state)
{
	(void)state;
	struct pkg_plist pl;
	struct error *err = NULL;
	assert_int_equal(pkg_plist_parse(contents, strlen(contents), &pl, &err), 0);
	assert_string_equal(pl.name, "nginx-1.25.3nb2");
	assert_string_equal(pl.first_cwd, "/usr/pkg");
	assert_int_equal(pl.n_files, 3);
	size_t deps = 0, files = 0;
	const struct pkg_plist_entry *conf = NULL, *nginx = NULL, *ign = NULL, *man = NULL, *unk = NULL;
	for (size_t i = 0; i < pl.n; i++) {
		const struct pkg_plist_entry *e = &pl.v[i];
		if (e->kind == PLIST_PKGDEP)
			deps++;
		if (e->kind == PLIST_FILE) {
			files++;
			if (strcmp(e->arg, "share/examples/nginx/nginx.conf") == 0)
				conf = e;
			if (strcmp(e->arg, "sbin/nginx") == 0)
				nginx = e;
			if (strcmp(e->arg, "+BUILD_INFO") == 0)
				ign = e;
			if (strcmp(e->arg, "man/man8/nginx.8") == 0)
				man = e;
		}
		if (e->kind == PLIST_UNKNOWN)
			unk = e;
		if (e->kind == PLIST_BLDDEP)
			assert_string_equal(e->arg, "pcre2-10.42nb1");
		if (e->kind == PLIST_PKGCFL)
			assert_string_equal(e->arg, "nginx-devel-[0-9]*");
		if (e->kind == PLIST_OPTION)
			assert_string_equal(e->arg, "preserve");
		if (e->kind == PLIST_EXEC)
			assert_string_equal(e->arg, "mkdir -p %D/var/log/nginx");
		if (e->kind == PLIST_DIRRM)
			assert_string_equal(e->arg, "share/examples/nginx");
		if (e->kind == PLIST_PKGDIR)
			assert_string_equal(e->arg, "var/log/nginx");
	}
	assert_int_equal(deps, 2);
	assert_int_equal(files, 4);
	assert_non_null(conf);
	assert_string_equal(conf->mode, "0640");
	assert_string_equal(conf->owner, "nginx");
	assert_string_equal(conf->group, "www");
	assert_string_equal(conf->cwd, "/usr/pkg");
	assert_null(conf->md5);
	assert_non_null(nginx);
	assert_string_equal(nginx->md5, "0123456789abcdef0123456789abcdef");
	assert_null(nginx->mode);
	assert_true(ign->ignored);
	assert_false(nginx->ignored);
	assert_null(man->mode);
	assert_null(man->owner);
	assert_string_equal(man->arg, "man/man8/nginx.8");
	assert_non_null(unk);
	assert_string_equal(unk->directive, "frobnicate");
	assert_string_equal(unk->arg, "something odd");
	pkg_plist_free(&pl);
	pkg_plist_free(NULL);
}

static void test_plist_escape(void **state)
{
	(void)state;
	struct pkg_plist pl;
	struct error *err = NULL;
	const char *bad = "@name evil-1.0\n@cwd /usr/pkg\nbin/ok\n../../etc/passwd\n";
	assert_int_equal(pkg_plist_parse(bad, strlen(bad), &pl, &err), -1);
	assert_string_equal(error_msg(err), "+CONTENTS: line 4: file \"../../etc/passwd\" escapes the prefix");
	error_clear(&err);
	const char *abs = "@name evil-1.0\n/etc/passwd\n";
	assert_int_equal(pkg_plist_parse(abs, strlen(abs), &pl, &err), -1);
	assert_string_equal(error_msg(err), "+CONTENTS: line 2: file \"/etc/passwd\" escapes the prefix");
	error_clear(&err);
	const char *pd = "@name evil-1.0\n@cwd /usr/pkg\n@pkgdir ../../var\n";
	assert_int_equal(pkg_plist_parse(pd, strlen(pd), &pl, &err), -1);
	assert_string_equal(error_msg(err), "+CONTENTS: line 3: @pkgdir \"../../var\" escapes the prefix");
	error_clear(&err);
	const char *cwd = "@name evil-1.0\n@cwd usr/pkg\n";
	assert_int_equal(pkg_plist_parse(cwd, strlen(cwd), &pl, &err), -1);
	assert_string_equal(error_msg(err), "+CONTENTS: line 2: @cwd \"usr/pkg\" is not an absolute path");
	error_clear(&err);
	assert_true(pkg_path_is_safe("share/a..b/c"));
	assert_true(pkg_path_is_safe("a/./b"));
	assert_false(pkg_path_is_safe("a/../../b"));
	assert_false(pkg_path_is_safe(".."));
	assert_false(pkg_path_is_safe(""));
}

static void test_build_info(void **state)
{
	(void)state;
	const char *bi_text = "ABI=64\nLOCALBASE=/usr/pkg\nOPSYS=NetBSD\nOS_VERSION=10.0\r\n"
			      "MACHINE_ARCH=x86_64\nPKGTOOLS_VERSION=20091115\nLOCALBASE=/opt/ignored\n";
	struct pkg_build_info bi;
	struct error *err = NULL;
	assert_int_equal(pkg_build_info_parse(bi_text, strlen(bi_text), &bi, &err), 0);
	assert_string_equal(bi.localbase, "/usr/pkg");
	assert_string_equal(bi.opsys, "NetBSD");
	assert_string_equal(bi.os_version, "10.0");
	assert_string_equal(bi.machine_arch, "x86_64");
	assert_string_equal(bi.pkgtools_version, "20091115");
	assert_null(bi.pkg_dbdir);
	char *db = pkgdb_default_dir(bi.localbase);
	assert_string_equal(db, "/usr/pkg/pkgdb");
	free(db);
	db = pkgdb_default_dir(NULL);
	assert_string_equal(db, "/usr/pkg/pkgdb");
	free(db);
	assert_int_equal(pkg_build_info_check("nginx-1.25.3", &bi, "NetBSD", "x86_64", &err), 0);
	assert_int_equal(pkg_build_info_check("nginx-1.25.3", &bi, NULL, NULL, &err), 0);
	assert_int_equal(pkg_build_info_check("nginx-1.25.3", &bi, "NetBSD", "aarch64", &err), -1);
	assert_string_equal(error_msg(err), "nginx-1.25.3: built for NetBSD/x86_64, the image is NetBSD/aarch64; "
				 "use a repository for this ARCH");
	error_clear(&err);
	pkg_build_info_free(&bi);
	const char *with_db = "PKG_DBDIR=/var/db/pkg\n";
	assert_int_equal(pkg_build_info_parse(with_db, strlen(with_db), &bi, &err), 0);
	assert_string_equal(bi.pkg_dbdir, "/var/db/pkg");
	assert_int_equal(pkg_build_info_check("x-1", &bi, NULL, NULL, &err), -1);
	assert_string_equal(error_msg(err), "x-1: +BUILD_INFO has no OPSYS; the package is damaged or not for pkg_add");
	error_clear(&err);
	pkg_build_info_free(&bi);
}

#define META(n, d) { n, d, sizeof(d) - 1 }

static const char c_pcre[] = "@name pcre2-10.42\n@cwd /usr/pkg\nlib/libpcre2-8.so\n";
static const char c_ssl[] = "@name openssl-3.1.4\n@cwd /usr/pkg\n@pkgdep pcre2>=10\nbin/openssl\n";
static const char c_nginx[] = "@name nginx-1.25.3\n@cwd /usr/pkg\n@pkgdep pcre2>=10.42\n"
			      "@pkgdep openssl>=3.0.0\n@pkgdep zlib>=1.2\nsbin/nginx\n";

static const struct pkg_meta_file m_pcre[] = {
	META("+CONTENTS", c_pcre), META("+COMMENT", "regex\n"), META("+DESC", "PCRE2\n"),
	META("+SIZE_PKG", "1234\n"),
};
static const struct pkg_meta_file m_ssl[] = {
	META("./+CONTENTS", c_ssl), META("+COMMENT", "tls\n"), META("+DESC", "OpenSSL\n"),
	META("+INSTALL", "#!/bin/sh\nexit 0\n"), META("+REQUIRED_BY", "stale-1.0\n"),
};
static const struct pkg_meta_file m_nginx[] = {
	META("+CONTENTS", c_nginx), META("+COMMENT", "http\n"), META("+DESC", "nginx\n"),
	META("+DEINSTALL", "#!/bin/sh\n"), META("+BUILD_INFO", "LOCALBASE=/usr/pkg\n"),
};

static void test_register(void **state)
{
	(void)state;
	struct pkgdb_pkg pkgs[] = {
		{ NULL, m_pcre, ARRAY_LEN(m_pcre), true },
		{ "openssl-3.1.4", m_ssl, ARRAY_LEN(m_ssl), true },
		{ NULL, m_nginx, ARRAY_LEN(m_nginx), false },
	};
	struct pkgdb_files out = { 0 };
	struct error *err = NULL;
	assert_int_equal(pkgdb_register("/usr/pkg/pkgdb", pkgs, 3, &out, &err), 0);
	struct { const char *path; unsigned mode; const char *data; } want[] = {
		{ "/usr/pkg/pkgdb/nginx-1.25.3/+BUILD_INFO", 0444, "LOCALBASE=/usr/pkg\n" },
		{ "/usr/pkg/pkgdb/nginx-1.25.3/+COMMENT", 0444, "http\n" },
		{ "/usr/pkg/pkgdb/nginx-1.25.3/+CONTENTS", 0644, c_nginx },
		{ "/usr/pkg/pkgdb/nginx-1.25.3/+DEINSTALL", 0555, "#!/bin/sh\n" },
		{ "/usr/pkg/pkgdb/nginx-1.25.3/+DESC", 0444, "nginx\n" },
		{ "/usr/pkg/pkgdb/openssl-3.1.4/+COMMENT", 0444, "tls\n" },
		{ "/usr/pkg/pkgdb/openssl-3.1.4/+CONTENTS", 0644, c_ssl },
		{ "/usr/pkg/pkgdb/openssl-3.1.4/+DESC", 0444, "OpenSSL\n" },
		{ "/usr/pkg/pkgdb/openssl-3.1.4/+INSTALL", 0555, "#!/bin/sh\nexit 0\n" },
		{ "/usr/pkg/pkgdb/openssl-3.1.4/+INSTALLED_INFO", 0644, "automatic=yes\n" },
		{ "/usr/pkg/pkgdb/openssl-3.1.4/+REQUIRED_BY", 0644, "nginx-1.25.3\n" },
		{ "/usr/pkg/pkgdb/pcre2-10.42/+COMMENT", 0444, "regex\n" },
		{ "/usr/pkg/pkgdb/pcre2-10.42/+CONTENTS", 0644, c_pcre },
		{ "/usr/pkg/pkgdb/pcre2-10.42/+DESC", 0444, "PCRE2\n" },
		{ "/usr/pkg/pkgdb/pcre2-10.42/+INSTALLED_INFO", 0644, "automatic=yes\n" },
		{ "/usr/pkg/pkgdb/pcre2-10.42/+REQUIRED_BY", 0644, "openssl-3.1.4\nnginx-1.25.3\n" },
		{ "/usr/pkg/pkgdb/pcre2-10.42/+SIZE_PKG", 0444, "1234\n" },
	};
	assert_int_equal(out.n, ARRAY_LEN(want));
	for (size_t i = 0; i < out.n; i++) {
		assert_string_equal(out.v[i].path, want[i].path);
		if (out.v[i].mode != want[i].mode)
			fail_msg("%s: mode %o, want %o", out.v[i].path, out.v[i].mode, want[i].mode);
		assert_int_equal(out.v[i].len, strlen(want[i].data));
		assert_memory_equal(out.v[i].data, want[i].data, out.v[i].len);
	}
	pkgdb_files_free(&out);
	pkgdb_files_free(NULL);
}

static void test_register_errors(void **state)
{
	(void)state;
	struct pkgdb_files out = { 0 };
	struct error *err = NULL;
	static const struct pkg_meta_file no_desc[] = { META("+CONTENTS", c_pcre), META("+COMMENT", "x\n") };
	struct pkgdb_pkg p1 = { NULL, no_desc, 2, false };
	assert_int_equal(pkgdb_register("/usr/pkg/pkgdb", &p1, 1, &out, &err), -1);
	assert_string_equal(error_msg(err), "pcre2-10.42: package has no +DESC; it is not a pkgsrc binary package");
	error_clear(&err);
	struct pkgdb_pkg p2 = { "pcre2-10.40", m_pcre, ARRAY_LEN(m_pcre), false };
	assert_int_equal(pkgdb_register("/usr/pkg/pkgdb", &p2, 1, &out, &err), -1);
	assert_string_equal(error_msg(err), "pcre2-10.40: +CONTENTS says @name pcre2-10.42; the package file does "
				 "not match its catalogue entry");
	error_clear(&err);
	static const char evil[] = "@name evil-1.0\n@cwd /usr/pkg\n../../etc/passwd\n";
	static const struct pkg_meta_file m_evil[] = { META("+CONTENTS", evil), META("+COMMENT", "x"), META("+DESC", "y") };
	struct pkgdb_pkg p3 = { "evil-1.0", m_evil, 3, false };
	assert_int_equal(pkgdb_register("/usr/pkg/pkgdb", &p3, 1, &out, &err), -1);
	assert_string_equal(error_msg(err), "evil-1.0: +CONTENTS: line 3: file \"../../etc/passwd\" escapes the prefix");
	error_clear(&err);
	static const struct pkg_meta_file m_badname[] = {
		META("+CONTENTS", c_pcre), META("+COMMENT", "x"), META("+DESC", "y"), META("+X/../../etc", "z"),
	};
	struct pkgdb_pkg p4 = { NULL, m_badname, 4, false };
	assert_int_equal(pkgdb_register("/usr/pkg/pkgdb", &p4, 1, &out, &err), -1);
	assert_string_equal(error_msg(err), "pcre2-10.42: metadata entry \"+X/../../etc\" is not a +FILE name");
	error_clear(&err);
	static const char nocwd[] = "@name nocwd-1.0\nbin/x\n";
	static const struct pkg_meta_file m_nocwd[] = { META("+CONTENTS", nocwd), META("+COMMENT", "x"), META("+DESC", "y") };
	struct pkgdb_pkg p5 = { NULL, m_nocwd, 3, false };
	assert_int_equal(pkgdb_register("/usr/pkg/pkgdb", &p5, 1, &out, &err), -1);
	assert_string_equal(error_msg(err), "nocwd-1.0: +CONTENTS has no @cwd line; it is not a pkgsrc binary package");
	error_clear(&err);
	assert_int_equal(pkgdb_register("pkgdb", &p4, 1, &out, &err), -1);
	assert_string_equal(error_msg(err), "PKG_DBDIR \"pkgdb\" must be an absolute path");
	error_clear(&err);
	assert_int_equal(out.n, 0);
	assert_true(pkgdb_is_meta_name("+CONTENTS"));
	assert_true(pkgdb_is_meta_name("./+DESC"));
	assert_false(pkgdb_is_meta_name("bin/+x"));
	assert_false(pkgdb_is_meta_name("+"));
	assert_int_equal(pkgdb_meta_mode("+DISPLAY"), 0444);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plist),
		cmocka_unit_test(test_plist_escape),
		cmocka_unit_test(test_build_info),
		cmocka_unit_test(test_register),
		cmocka_unit_test(test_register_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
