/* test_front_check.c — semantic checks (check.c) and diagnostics (diag.c):
 * cross-instruction errors, FROM <recipe> chains, the error cap, the
 * printed record format. Recipes live in a scratch directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
	char dir[64];
	struct diag_ctx d;
	struct recipe *r;
	char *diags;
};

static void put(struct fx *x, const char *rel, const char *text)
{
	char *p = path_join(x->dir, rel);
	char *dir = path_dirname(p);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
	free(dir);
	free(p);
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	strcpy(x->dir, "/tmp/smolc-test-check.XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	put(x, "ctx/file.txt", "x\n");
	*state = x;
	return 0;
}

static void unload(struct fx *x)
{
	recipe_free(x->r);
	x->r = NULL;
	free(x->diags);
	x->diags = NULL;
	diag_fini(&x->d);
}

static int teardown(void **state)
{
	struct fx *x = *state;
	unload(x);
	remove_tree(x->dir);
	free(x);
	return 0;
}

/* Write rel, load it from the scratch directory (paths in messages are
 * then relative), render the diagnostics; returns the error count. */
static size_t load(struct fx *x, const char *rel, const char *src)
{
	unload(x);
	put(x, rel, src);
	diag_init(&x->d);
	x->d.color = false;
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(x->dir), 0);
	x->r = recipe_load(&x->d, rel, NULL);
	size_t errors = x->d.errors;
	size_t len = 0;
	FILE *f = open_memstream(&x->diags, &len);
	diag_print(&x->d, f);
	fclose(f);
	assert_int_equal(chdir(cwd), 0);
	return errors;
}

static void test_duplicates_with_note(void **state)
{
	struct fx *x = *state;
	assert_int_equal(load(x, "Smolfile", "FROM scratch\nMEM 128M\nCPUS 2\nMEM 256M\nPORTS 80:80\nPORTS 80:80\n"), 2);
	assert_string_equal(x->diags,
			    "Smolfile:4:1: error: duplicate MEM: a recipe has one\n"
			    "    4 | MEM 256M\n"
			    "      | ^~~~~~~~\n"
			    "  hint: remove one of them\n"
			    "Smolfile:2:1: note: first MEM is here\n"
			    "    2 | MEM 128M\n"
			    "      | ^~~~~~~~\n"
			    "Smolfile:6:7: error: host port 80/tcp is forwarded twice\n"
			    "    6 | PORTS 80:80\n"
			    "      |       ^~~~~\n"
			    "  hint: each host port can forward to one guest port\n"
			    "Smolfile:5:7: note: first forwarded here\n"
			    "    5 | PORTS 80:80\n"
			    "      |       ^~~~~\n");
	/* the first value wins */
	assert_int_equal(x->r->set.mem_mib, 128);
	/* multi-valued instructions may repeat */
	assert_int_equal(load(x, "Smolfile", "FROM scratch\nLABEL a=1\nLABEL b=2\nSHARE a:/a\nSHARE b:/b\n"), 0);
}

static void test_from_required_and_first(void **state)
{
	struct fx *x = *state;
	assert_int_equal(load(x, "Smolfile", "# c\nCMD x\n"), 1);
	assert_non_null(strstr(x->diags, "Smolfile:2:1: error: no FROM instruction\n"));
	assert_int_equal(load(x, "Smolfile", ""), 1);
	assert_non_null(strstr(x->diags, "Smolfile:1:1: error: empty recipe: no FROM instruction\n"));
	assert_int_equal(load(x, "Smolfile", "ARG A=1\nPKGS x\nPOSTINST <<E\nx\nE\nFROM netbsd-10.1\n"), 1);
	assert_non_null(strstr(x->diags, "Smolfile:2:1: error: PKGS before FROM\n"));
	/* bad bytes: one error, no "no FROM" on top */
	assert_int_equal(load(x, "Smolfile", "FROM scratch\r\n"), 1);
}

static void test_scratch_rules(void **state)
{
	struct fx *x = *state;
	assert_int_equal(load(x, "Smolfile", "FROM scratch\nSETS base\nPKGS nginx\nPROFILE linux\n"), 3);
	assert_non_null(strstr(x->diags, "set 'base' needs a NetBSD release, but the recipe is FROM scratch"));
	assert_non_null(strstr(x->diags, "PKGS needs a package repository"));
	assert_non_null(strstr(x->diags, "PROFILE linux needs a KERNEL"));
	assert_int_equal(load(x, "Smolfile", "FROM scratch\nPKGSITE https://pkgs.invalid/All\nPKGS nginx\n"), 0);
	/* an unknown set is reported once, with a suggestion */
	assert_int_equal(load(x, "Smolfile", "FROM scratch\nSETS bsae\n"), 1);
	assert_non_null(strstr(x->diags, "did you mean 'base'?"));
}

static void test_copy_context(void **state)
{
	struct fx *x = *state;
	char *link = path_join(x->dir, "ctx/out");
	assert_int_equal(symlink("/tmp", link), 0);
	free(link);
	assert_int_equal(load(x, "ctx/Smolfile", "FROM scratch\nCOPY file.txt out ../x /abs missing *.none /dst/\n"), 5);
	assert_non_null(strstr(x->diags, "COPY source 'out' leads outside the build context through a symlink"));
	assert_non_null(strstr(x->diags, "COPY source '../x' leaves the build context"));
	assert_non_null(strstr(x->diags, "COPY source '/abs' is an absolute path"));
	assert_non_null(strstr(x->diags, "COPY source 'missing' does not exist"));
	assert_non_null(strstr(x->diags, "COPY source '*.none' matches no file"));
	assert_null(strstr(x->diags, "source 'file.txt'"));
}

static void test_from_chain(void **state)
{
	struct fx *x = *state;
	put(x, "services/base/Smolfile", "FROM scratch\nMEM 512M\nREADONLY\nARCH i386\n");
	assert_int_equal(load(x, "Smolfile", "FROM base\nCPUS 2\n"), 0);
	assert_non_null(x->r->parent);
	assert_string_equal(x->r->parent->set.service, "base");
	assert_int_equal(x->r->set.mem_mib, 512);     /* inherited */
	assert_true(x->r->set.readonly);
	assert_string_equal(x->r->set.arch, "i386");
	assert_int_equal(x->r->set.cpus, 2);
	/* the architecture must match the base's */
	assert_int_equal(load(x, "Smolfile", "FROM base\nARCH amd64\n"), 1);
	assert_non_null(strstr(x->diags, "ARCH amd64 differs from the base recipe's ARCH i386"));
	/* an error in the base names the FROM line */
	put(x, "services/broken/Smolfile", "FROM scratch\nCPUS many\n");
	assert_int_equal(load(x, "Smolfile", "FROM broken\n"), 1);
	assert_non_null(strstr(x->diags, "services/broken/Smolfile:2:6: error: bad CPU count 'many'"));
	assert_non_null(strstr(x->diags, "note: base recipe named by FROM at Smolfile:1:1\n"));
	/* cycles end */
	put(x, "a/Smolfile", "FROM ../b\n");
	put(x, "b/Smolfile", "FROM ../a\n");
	assert_int_equal(load(x, "Smolfile", "FROM a\n"), 1);
	assert_non_null(strstr(x->diags, "FROM cycle"));
	assert_int_equal(load(x, "Smolfile", "FROM Smolfile\n"), 1);
	assert_non_null(strstr(x->diags, "FROM cycle"));
	assert_int_equal(load(x, "Smolfile", "FROM nowhere\n"), 1);
	assert_non_null(strstr(x->diags, "error: no recipe named 'nowhere'"));
}

static void test_error_cap(void **state)
{
	struct fx *x = *state;
	struct strbuf sb;
	sb_init(&sb);
	sb_adds(&sb, "FROM scratch\n");
	for (int i = 0; i < 40; i++)
		sb_printf(&sb, "BAD%d\n", i);
	load(x, "Smolfile", sb_cstr(&sb));
	sb_free(&sb);
	assert_non_null(strstr(x->diags, "Smolfile:21:1: error: unknown instruction 'BAD19'"));
	assert_null(strstr(x->diags, "BAD20'"));
	assert_non_null(strstr(x->diags, "\nsmolc: too many errors; stopped after the first 20\n"));
	/* the cap holds for errors the scanner raises too */
	sb_init(&sb);
	for (int i = 0; i < 40; i++)
		sb_adds(&sb, "LABEL \"x\n");
	load(x, "Smolfile", sb_cstr(&sb));
	sb_free(&sb);
	assert_non_null(strstr(x->diags, "smolc: too many errors"));
}

static void test_print_order_and_color(void **state)
{
	(void)state;
	struct diag_ctx d;
	diag_init(&d);
	d.color = true;
	const char *src = "AAA\nBBB\n";
	uint32_t f = diag_add_file(&d, "S", NULL, xstrdup(src), strlen(src), (struct loc){0, 0, 0});
	diag_error(&d, (struct loc){f, 4, 3}, "second");
	diag_note(&d, (struct loc){f, 0, 1}, "its note");
	diag_warning(&d, (struct loc){f, 0, 3}, "first");
	diag_error_plain(&d, "plain");
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	diag_print(&d, out);
	fclose(out);
	/* location-less first, then source order; a note follows its record */
	const char *p0 = strstr(buf, "plain"), *p1 = strstr(buf, "first"), *p2 = strstr(buf, "second"),
		   *p3 = strstr(buf, "its note");
	assert_true(p0 && p1 && p2 && p3 && p0 < p1 && p1 < p2 && p2 < p3);
	assert_non_null(strstr(buf, "\033[1;31merror:"));
	free(buf);
	assert_int_equal(d.n, 0); /* printed once, then forgotten */
	diag_fini(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duplicates_with_note),
		cmocka_unit_test(test_from_required_and_first),
		cmocka_unit_test(test_scratch_rules),
		cmocka_unit_test(test_copy_context),
		cmocka_unit_test(test_from_chain),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_print_order_and_color),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
