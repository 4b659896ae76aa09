/* test_accel.c — accelerator choice: explicit choices, QEMU_ACCEL, bad
 * names, and `auto` falling back to TCG with a reason (on this project's
 * machines /dev/kvm is kvm_pvm, so auto must end on TCG). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accel.h"
#include "util.h"

static void test_explicit(void **state)
{
	(void)state;
	struct accel_choice c;
	bool bad;
	struct error *err = NULL;
	unsetenv("QEMU_ACCEL");
	assert_int_equal(accel_choose(NULL, "tcg", "amd64", &c, &bad, &err), 0);
	assert_int_equal(c.kind, ACCEL_TCG);
	assert_false(c.automatic);
	assert_string_equal(c.reason, "requested by --accel");
	assert_int_equal(accel_choose(NULL, "warp", "amd64", &c, &bad, &err), -1);
	assert_true(bad);
	assert_string_equal(error_msg(err), "--accel: unknown accelerator \"warp\" (expected auto, kvm, tcg, hvf or nvmm)");
	error_clear(&err);
	setenv("QEMU_ACCEL", "tcg", 1);
	assert_int_equal(accel_choose(NULL, NULL, "amd64", &c, &bad, &err), 0);
	assert_int_equal(c.kind, ACCEL_TCG);
	assert_string_equal(c.reason, "requested by QEMU_ACCEL");
	unsetenv("QEMU_ACCEL");
	struct accel_env env = {.kvm_dev = "/nonexistent/kvm"};
	assert_int_equal(accel_choose(&env, "kvm", "amd64", &c, &bad, &err), -1);
	assert_false(bad);
	assert_string_equal(error_msg(err), "--accel=kvm: /nonexistent/kvm: No such file or directory; use --accel tcg");
	error_clear(&err);
	assert_int_equal(accel_choose(NULL, "hvf", "amd64", &c, &bad, &err), -1);
	assert_non_null(strstr(error_msg(err), "hvf (macOS) is not available on Linux"));
	error_clear(&err);
	assert_string_equal(accel_name(ACCEL_NVMM), "nvmm");
}

static void test_auto_no_device(void **state)
{
	(void)state;
	struct accel_choice c;
	bool bad;
	struct error *err = NULL;
	struct accel_env env = {.kvm_dev = "/nonexistent/kvm"};
	assert_int_equal(accel_choose(&env, "auto", "amd64", &c, &bad, &err), 0);
	assert_int_equal(c.kind, ACCEL_TCG);
	assert_true(c.automatic);
	assert_string_equal(c.reason, "kvm: /nonexistent/kvm: No such file or directory");
}

static void test_auto_cross_arch(void **state)
{
	(void)state;
	struct accel_choice c;
	bool bad;
	struct error *err = NULL;
#if defined(__x86_64__)
	assert_int_equal(accel_choose(NULL, "auto", "evbarm-aarch64", &c, &bad, &err), 0);
	assert_int_equal(c.kind, ACCEL_TCG);
	assert_string_equal(c.reason, "kvm: the host is x86_64 and the guest is evbarm-aarch64");
#else
	skip();
#endif
}

/* A fake /sys/module with kvm_pvm: rejected even if /dev/kvm works. */
static void test_auto_pvm_module(void **state)
{
	(void)state;
	if (access("/dev/kvm", R_OK | W_OK) < 0)
		skip();
	char dir[] = "/tmp/test_accel.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *pvm = path_join(dir, "kvm_pvm");
	assert_int_equal(mkdir(pvm, 0755), 0);
	struct accel_env env = {.sys_module_dir = dir};
	char why[256];
	assert_false(accel_kvm_usable(&env, "amd64", why, sizeof(why)));
	assert_string_equal(why, "/dev/kvm is the paravirtual kvm_pvm, which cannot run ordinary guests");
	rmdir(pvm);
	free(pvm);
	/* without the module dir entry, a real KVM passes the probe guest */
	env.sys_module_dir = dir;
	bool ok = accel_kvm_usable(&env, "amd64", why, sizeof(why));
	if (ok)
		assert_string_equal(why, "/dev/kvm runs a probe guest");
	rmdir(dir);
}

/* This machine: whatever /dev/kvm is, auto must name its choice and why;
 * with no /dev/kvm, or with kvm_pvm loaded, it must be TCG. (The time is
 * printed, not asserted: figures belong in bench/.) */
static void test_auto_this_machine(void **state)
{
	(void)state;
	struct accel_choice c;
	bool bad;
	struct error *err = NULL;
	double t0 = now_monotonic();
	assert_int_equal(accel_choose(NULL, "auto", "amd64", &c, &bad, &err), 0);
	double ms = (now_monotonic() - t0) * 1000;
	assert_true(c.reason[0] != 0);
	print_message("auto: %s (%s) in %.2f ms\n", accel_name(c.kind), c.reason, ms);
	if (!path_exists("/dev/kvm")) {
		assert_int_equal(c.kind, ACCEL_TCG);
		assert_string_equal(c.reason, "kvm: /dev/kvm: No such file or directory");
	} else if (path_exists("/sys/module/kvm_pvm")) {
		assert_int_equal(c.kind, ACCEL_TCG);
		assert_string_equal(c.reason, "kvm: /dev/kvm is the paravirtual kvm_pvm, which cannot run ordinary guests");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_explicit),
		cmocka_unit_test(test_auto_no_device),
		cmocka_unit_test(test_auto_cross_arch),
		cmocka_unit_test(test_auto_pvm_module),
		cmocka_unit_test(test_auto_this_machine),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
