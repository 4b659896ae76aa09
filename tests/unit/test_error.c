/* test_error.c — error records (common/error.h): set, at, hint, prefix,
 * a second error replaces (and frees) the first, a NULL err is a no-op,
 * and the CLI's print format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static void test_set(void **state)
{
	(void)state;
	struct error *e = NULL;
	assert_int_equal(error_set(&e, "%s: %d", "x", 42), -1);
	assert_non_null(e);
	assert_string_equal(error_msg(e), "x: 42");
	assert_null(e->hint);
	assert_int_equal(e->loc.file, 0);
	error_free(e);
	assert_null(error_msg(NULL));
	error_free(NULL);
}

static void test_at(void **state)
{
	(void)state;
	struct error *e = NULL;
	assert_int_equal(error_at(&e, (struct loc){2, 10, 3}, "bad '%s'", "w"), -1);
	assert_string_equal(error_msg(e), "bad 'w'");
	assert_int_equal(e->loc.file, 2);
	assert_int_equal(e->loc.off, 10);
	assert_int_equal(e->loc.len, 3);
	error_clear(&e);
	assert_null(e);
}

static void test_hint(void **state)
{
	(void)state;
	struct error *e = NULL;
	error_hint(&e, "nothing to hang it on");
	assert_null(e);
	error_set(&e, "no such thing");
	error_hint(&e, "try %s", "this");
	assert_string_equal(e->hint, "try this");
	error_hint(&e, "or %s", "that"); /* replaces (ASan: the old one is freed) */
	assert_string_equal(e->hint, "or that");
	error_free(e);
}

static void test_prefix(void **state)
{
	(void)state;
	struct error *e = NULL;
	error_at(&e, (struct loc){1, 0, 1}, "No such file");
	error_hint(&e, "h");
	assert_int_equal(error_prefix(&e, "%s", "a/b"), -1);
	assert_string_equal(error_msg(e), "a/b: No such file");
	assert_string_equal(e->hint, "h");
	assert_int_equal(e->loc.file, 1);
	error_free(e);
	e = NULL;
	error_prefix(&e, "context only");
	assert_string_equal(error_msg(e), "context only");
	error_free(e);
}

static void test_replace(void **state)
{
	(void)state;
	struct error *e = NULL;
	error_set(&e, "first");
	error_hint(&e, "first hint");
	error_set(&e, "second"); /* the first record is freed (ASan/LSan) */
	assert_string_equal(error_msg(e), "second");
	assert_null(e->hint);
	char *m = error_take_msg(e);
	assert_string_equal(m, "second");
	free(m);
}

static void test_null_err(void **state)
{
	(void)state;
	assert_int_equal(error_set(NULL, "x"), -1);
	assert_int_equal(error_at(NULL, (struct loc){1, 0, 0}, "x"), -1);
	assert_int_equal(error_prefix(NULL, "x"), -1);
	error_hint(NULL, "x");
	error_clear(NULL);
	assert_null(error_take_msg(NULL));
}

static void test_print(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct error *e = NULL;
	error_set(&e, "store: %s", "locked");
	error_print(f, e);
	error_hint(&e, "wait");
	error_print(f, e);
	error_print(f, NULL);
	fclose(f);
	assert_string_equal(buf, "smolc: store: locked\nsmolc: store: locked\nsmolc: hint: wait\n");
	free(buf);
	error_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_at),
		cmocka_unit_test(test_hint),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_null_err),
		cmocka_unit_test(test_print),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
