/* test_pkg_version.c — dewey ordering as pkg_install's dewey.c defines it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "pkg_version.h"

static int sign(int x) { return (x > 0) - (x < 0); }

/* Strictly increasing chains. */
static const char *const chains[][8] = {
	{ "1.0", "1.0nb1", "1.0nb2", "1.0.1", NULL },
	{ "1.0alpha1", "1.0alpha2", "1.0beta", "1.0beta1", "1.0rc1", "1.0", "1.0pl1", NULL },
	{ "1.0pre1", "1.0rc2", "1.0", NULL },
	{ "1.99", "2.0", "2.0.0.1", "10", NULL },
	{ "1.0", "1.0a", "1.0b", "1.0z", "1.0.27", NULL },
	{ "0.9", "1.0_1", "1.0_2", "1.1", NULL },
	{ "2.3.21", "2.3.21.1", "2.3.21.1nb1", "2.3.21.1nb12", "2.3.22", NULL },
	{ "9.9nb100", "10.0", NULL },
	{ "1.14.3", "1.14.3nb1", "1.14.4", NULL },
	{ "29.1", "29.1nb3", "30", NULL },
	/* numbers past any integer type are compared exactly (issue 10) */
	{ "1.2.3nb999999999999999999", "1.2.3nb9223372036854775807", "1.2.3nb9223372036854775808",
	  "1.2.3nb99999999999999999999999", NULL },
	{ "1.99999999999999999999", "1.100000000000000000000", "2", NULL },
	{ "1.0rc1", "1.0", "1.0.000000000000000000000000001", NULL },
};

static void test_chains(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(chains) / sizeof(chains[0]); c++) {
		for (size_t i = 0; chains[c][i]; i++) {
			for (size_t j = 0; chains[c][j]; j++) {
				int want = sign((int)i - (int)j);
				int got = sign(pkg_version_cmp(chains[c][i], chains[c][j]));
				if (want != got)
					fail_msg("cmp(%s, %s) = %d, want %d", chains[c][i], chains[c][j], got, want);
			}
		}
	}
}

static void test_equalities(void **state)
{
	(void)state;
	const char *eq[][2] = {
		{ "1.0", "1.0.0" },          /* padding with zeros */
		{ "1.0", "1.0nb0" },
		{ "1.0pl1", "1.0.1" },       /* pl == . */
		{ "1.0_1", "1.0.1" },        /* _ == . */
		{ "1.0a", "1.0.1" },         /* letter = Dot + rank, like ".1" */
		{ "1.0A", "1.0a" },          /* case-insensitive */
		{ "1.0RC1", "1.0rc1" },
		{ "1.0pre1", "1.0rc1" },     /* pre == rc */
		{ "1.0+", "1.0" },           /* unknown characters are skipped */
		{ "", "0" },
		{ "1.0007", "1.7" },         /* leading zeros */
		{ "1.2nb00000000000000000000000000000005", "1.2nb5" },
	};
	for (size_t i = 0; i < sizeof(eq) / sizeof(eq[0]); i++)
		if (pkg_version_cmp(eq[i][0], eq[i][1]) != 0)
			fail_msg("%s should equal %s", eq[i][0], eq[i][1]);
}

static void test_ops(void **state)
{
	(void)state;
	assert_true(pkg_version_test("1.0", PKG_OP_LT, "1.0nb1"));
	assert_true(pkg_version_test("1.0nb1", PKG_OP_LE, "1.0nb1"));
	assert_true(pkg_version_test("2.0", PKG_OP_GT, "1.99"));
	assert_true(pkg_version_test("2.0", PKG_OP_GE, "2.0.0"));
	assert_true(pkg_version_test("2.0", PKG_OP_EQ, "2.0"));
	assert_true(pkg_version_test("2.0", PKG_OP_NE, "2.0nb1"));
	assert_false(pkg_version_test("1.0rc1", PKG_OP_GE, "1.0"));
	/* the case: it saturated into a wrong answer */
	assert_false(pkg_version_test("1.2.3nb999999999999999999", PKG_OP_GE, "1.2.3nb9223372036854775807"));
	enum pkg_op op;
	assert_int_equal(pkg_op_parse(">=1", &op), 2);
	assert_int_equal(op, PKG_OP_GE);
	assert_int_equal(pkg_op_parse("<1", &op), 1);
	assert_int_equal(op, PKG_OP_LT);
	assert_int_equal(pkg_op_parse("1", &op), 0);
	/* huge components saturate instead of overflowing */
	assert_true(pkg_version_cmp("99999999999999999999999", "1") > 0);
	assert_int_equal(pkg_version_ncmp("1.0xyz", 3, "1.0", 3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chains),
		cmocka_unit_test(test_equalities),
		cmocka_unit_test(test_ops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
