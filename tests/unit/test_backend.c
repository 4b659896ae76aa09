/* test_backend: the loader of libsmolc-backend.so, linked as ./smolc is
 * (the generated stubs, cli/backend.c, the front objects): a missing
 * backend, one that is not a shared object, one without the table, then
 * the real one, called through the stubs. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend.h"
#include "fetch_int.h"
#include "util.h"

#ifndef SMOLC_BACKEND_SO
#define SMOLC_BACKEND_SO "libsmolc-backend.so"
#endif

static char *built; /* the backend the build made: ../../ from this test */

static void fails_with(const char *env, const char *want)
{
	setenv("SMOLC_BACKEND", env, 1);
	const struct smolc_backend_v1 *b = NULL;
	struct error *err = NULL;
	assert_int_equal(backend_load(&b, &err), -1);
	assert_null(b);
	assert_non_null(err);
	if (!strstr(error_msg(err), want))
		fail_msg("'%s' does not contain '%s'", error_msg(err), want);
	assert_non_null(strstr(error_msg(err), env)); /* names the file */
	error_clear(&err);
}

static void test_missing(void **state)
{
	(void)state;
	fails_with("/nonexistent/libsmolc-backend.so", "cannot find the build backend");
	fails_with("/nonexistent/libsmolc-backend.so", "or set SMOLC_BACKEND");
}

static void test_not_a_library(void **state)
{
	(void)state;
	fails_with("/dev/null", "cannot load the build backend");
	fails_with("/dev/null", "reinstall smolc");
}

static void test_other_library(void **state)
{
	(void)state;
	/* a real shared object without the table: libcmocka, which this test links */
	char *p = NULL;
	const char *cands[] = {"/usr/lib/x86_64-linux-gnu/libcmocka.so.0", "/usr/lib/aarch64-linux-gnu/libcmocka.so.0",
			       "/usr/lib/libcmocka.so.0"};
	for (size_t i = 0; i < ARRAY_LEN(cands) && !p; i++)
		if (access(cands[i], R_OK) == 0)
			p = (char *)cands[i];
	if (!p)
		skip();
	fails_with(p, "is not the one this smolc (" SMOLC_VERSION ", build " SMOLC_BACKEND_ABI ") was built with "
		      "(it has no smolc_backend_v1 table)");
}

static void test_loads_and_calls(void **state)
{
	(void)state;
	setenv("SMOLC_BACKEND", built, 1);
	const struct smolc_backend_v1 *b = NULL;
	struct error *err = NULL;
	if (backend_load(&b, &err) < 0)
		fail_msg("%s", error_msg(err));
	assert_non_null(b);
	assert_string_equal(b->version, SMOLC_VERSION);
	assert_string_equal(b->abi, SMOLC_BACKEND_ABI);
	assert_ptr_equal(backend_get(), b); /* loaded once */
	assert_string_equal(backend_path(), built);
	/* a stub of ./smolc reaches the backend's function */
	assert_ptr_not_equal((void *)b->fetch_http_global_cleanup, (void *)fetch_http_global_cleanup);
	fetch_http_global_cleanup();
}

int main(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 1;
	exe[n] = '\0';
	char *dir = path_dirname(exe);
	built = xasprintf("%s/../../%s", dir, SMOLC_BACKEND_SO);
	free(dir);
	char *real = realpath(built, NULL);
	if (real) {
		free(built);
		built = real;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_not_a_library),
		cmocka_unit_test(test_other_library),
		cmocka_unit_test(test_loads_and_calls),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(built);
	return rc;
}
