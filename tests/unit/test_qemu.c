/* test_qemu.c — the QEMU argv a user gets for a run config: the anchor's
 * NetBSD flags exactly, the Linux profile (acpi=on, tsc_early_khz under
 * TCG, initrd), read-only root, 9p shares,
 * extra ports, consoles, aarch64, shell quoting for --dry-run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "qemu.h"
#include "runconf.h"
#include "util.h"

static struct runconf *conf(const char *profile, const char *arch)
{
	struct runconf *rc = runconf_new();
	rc->service = xstrdup("bozohttpd");
	rc->arch = xstrdup(arch);
	rc->profile = profile ? xstrdup(profile) : NULL;
	rc->kernel = xstrdup("bozohttpd-amd64.kernel");
	rc->image = xstrdup("bozohttpd-amd64.img");
	rc->dir = xstrdup("/imgs");
	runconf_add_port(rc, NULL, 8080, 80, RUNCONF_TCP);
	return rc;
}

static char *argv_of(const struct runconf *rc, const struct qemu_opts *o)
{
	struct strvec v = {0};
	struct error *err = NULL;
	assert_int_equal(qemu_build_argv(rc, o, &v, &err), 0);
	char *s = qemu_argv_string(&v);
	sv_free(&v);
	return s;
}

static void test_netbsd_anchor_flags(void **state)
{
	(void)state;
	struct runconf *rc = conf("netbsd", "amd64");
	struct qemu_opts o = {.accel = ACCEL_TCG};
	char *s = argv_of(rc, &o);
	assert_string_equal(s,
		"qemu-system-x86_64 -nodefaults -no-user-config -M microvm,rtc=on,acpi=off,pic=off "
		"-accel tcg -cpu qemu64 -m 256 -smp 1 -kernel /imgs/bozohttpd-amd64.kernel "
		"-append 'console=com root=NAME=bozohttpdroot -z' "
		"-drive if=none,file=/imgs/bozohttpd-amd64.img,format=raw,id=hd0 "
		"-device virtio-blk-device,drive=hd0 "
		"-netdev user,id=net0,ipv6=off,hostfwd=tcp:127.0.0.1:8080-:80 "
		"-device virtio-net-device,netdev=net0 "
		"-global virtio-mmio.force-legacy=false -display none -no-reboot "
		"-rtc base=utc,clock=host,driftfix=slew -serial mon:stdio");
	free(s);
	/* with KVM: the anchor's CPU model */
	o.accel = ACCEL_KVM;
	s = argv_of(rc, &o);
	assert_non_null(strstr(s, " -accel kvm -cpu host,+invtsc "));
	free(s);
	runconf_free(rc);
}

static void test_linux_readonly(void **state)
{
	(void)state;
	struct runconf *rc = conf("linux", "amd64");
	rc->readonly = true;
	struct qemu_opts o = {.accel = ACCEL_TCG, .extra_append = "panic=-1", .tsc_khz = 2694895};
	char *s = argv_of(rc, &o);
	assert_non_null(strstr(s, " -M microvm,rtc=on,acpi=on,pic=on "));
	assert_non_null(strstr(s, " -append 'console=ttyS0 root=PARTLABEL=bozohttpdroot ro reboot=t panic=-1 panic=-1 "
				  "tsc_early_khz=2694895' "));
	assert_non_null(strstr(s, " -drive if=none,file=/imgs/bozohttpd-amd64.img,format=raw,id=hd0,readonly=on "));
	assert_null(strstr(s, "-initrd"));
	free(s);
	rc->readonly = false;
	o.extra_append = NULL;
	s = argv_of(rc, &o);
	assert_non_null(strstr(s, " -append 'console=ttyS0 root=PARTLABEL=bozohttpdroot rw reboot=t panic=-1 "
				  "tsc_early_khz=2694895' "));
	free(s);
	/* a tsc_early_khz of the user's wins; with KVM there is none */
	o.extra_append = "tsc_early_khz=1000";
	s = argv_of(rc, &o);
	assert_non_null(strstr(s, " panic=-1 tsc_early_khz=1000' "));
	free(s);
	o.extra_append = NULL;
	o.accel = ACCEL_KVM;
	s = argv_of(rc, &o);
	assert_null(strstr(s, "tsc_early_khz"));
	free(s);
	runconf_free(rc);
}

static void test_initrd(void **state)
{
	(void)state;
	struct runconf *rc = conf("linux", "amd64");
	rc->initrd = xstrdup("bozohttpd-amd64.initrd");
	struct qemu_opts o = {.accel = ACCEL_TCG, .tsc_khz = 1000000};
	char *s = argv_of(rc, &o);
	assert_non_null(strstr(s, " -kernel /imgs/bozohttpd-amd64.kernel -initrd /imgs/bozohttpd-amd64.initrd -append "));
	free(s);
	/* --initrd replaces the run config's */
	o.initrd = "/other/initrd.gz";
	s = argv_of(rc, &o);
	assert_non_null(strstr(s, " -kernel /imgs/bozohttpd-amd64.kernel -initrd /other/initrd.gz -append "));
	assert_null(strstr(s, "bozohttpd-amd64.initrd"));
	free(s);
	runconf_free(rc);
	/* NetBSD keeps the anchor's machine; an initrd is passed all the same */
	rc = conf("netbsd", "amd64");
	s = argv_of(rc, &o);
	assert_non_null(strstr(s, " -M microvm,rtc=on,acpi=off,pic=off "));
	assert_non_null(strstr(s, " -initrd /other/initrd.gz "));
	assert_null(strstr(s, "tsc_early_khz"));
	free(s);
	runconf_free(rc);
	assert_string_equal(qemu_machine_options(NULL), "microvm,rtc=on,acpi=off,pic=off");
	assert_string_equal(qemu_machine_options("linux"), "microvm,rtc=on,acpi=on,pic=on");
}

static void test_ports_shares_options(void **state)
{
	(void)state;
	struct runconf *rc = conf(NULL, "amd64");
	runconf_add_share(rc, "data", "data", "/data", false);
	struct runconf_port extra[2] = {
		{.host_addr = "0.0.0.0", .host_port = 5353, .guest_port = 53, .proto = RUNCONF_UDP},
		{.host_addr = "127.0.0.1", .host_port = 2222, .guest_port = 22, .proto = RUNCONF_TCP},
	};
	struct runconf_share sh = {.host_path = "/srv/a,b", .tag = "web", .readonly = true};
	struct qemu_opts o = {
		.accel = ACCEL_TCG, .memory_mib = 1024, .cpus = 2,
		.ports = extra, .nports = 2, .shares = &sh, .nshares = 1,
		.pidfile = "/st/qemu.pid", .qmp_socket = "qmp.sock", .daemonize = true,
		.console = "file:console.log",
	};
	char *s = argv_of(rc, &o);
	assert_non_null(strstr(s, " -m 1024 -smp 2 "));
	assert_non_null(strstr(s, " -netdev user,id=net0,ipv6=off,hostfwd=tcp:127.0.0.1:8080-:80,"
				  "hostfwd=udp:0.0.0.0:5353-:53,hostfwd=tcp:127.0.0.1:2222-:22 "));
	assert_non_null(strstr(s, " -fsdev local,id=fs0,path=/imgs/data,security_model=none "
				  "-device virtio-9p-device,fsdev=fs0,mount_tag=data "));
	/* commas in paths are doubled for QEMU's option parser */
	assert_non_null(strstr(s, " -fsdev local,id=fs1,path=/srv/a,,b,security_model=none,readonly=on "
				  "-device virtio-9p-device,fsdev=fs1,mount_tag=web "));
	assert_non_null(strstr(s, " -chardev file,id=con0,path=console.log -serial chardev:con0 "));
	assert_true(str_endswith(s, " -pidfile /st/qemu.pid -qmp unix:qmp.sock,server=on,wait=off -daemonize"));
	free(s);
	runconf_free(rc);
}

static void test_consoles(void **state)
{
	(void)state;
	struct runconf *rc = conf(NULL, "amd64");
	struct qemu_opts o = {.accel = ACCEL_TCG, .console = "tcp:4444"};
	char *s = argv_of(rc, &o);
	assert_non_null(strstr(s, " -serial tcp:127.0.0.1:4444,server=on,wait=off"));
	free(s);
	o.console = "pty";
	s = argv_of(rc, &o);
	assert_true(str_endswith(s, " -serial pty"));
	free(s);
	o.console = "tcp:0";
	struct strvec v = {0};
	struct error *err = NULL;
	assert_int_equal(qemu_build_argv(rc, &o, &v, &err), -1);
	assert_string_equal(error_msg(err), "--console tcp:0: expected tcp:PORT with PORT from 1 to 65535");
	assert_int_equal(v.n, 0);
	error_clear(&err);
	o.console = "serial";
	assert_int_equal(qemu_build_argv(rc, &o, &v, &err), -1);
	assert_string_equal(error_msg(err), "--console serial: expected stdio, pty, none, tcp:PORT or file:PATH");
	error_clear(&err);
	runconf_free(rc);
}

static void test_i386_and_aarch64(void **state)
{
	(void)state;
	struct runconf *rc = conf(NULL, "i386");
	struct qemu_opts o = {.accel = ACCEL_TCG};
	char *s = argv_of(rc, &o);
	assert_true(str_startswith(s, "qemu-system-i386 "));
	assert_non_null(strstr(s, " -M microvm,rtc=on,acpi=off,pic=off -accel tcg -cpu qemu32 "));
	free(s);
	runconf_free(rc);
	rc = conf(NULL, "evbarm-aarch64");
	s = argv_of(rc, &o);
	assert_true(str_startswith(s, "qemu-system-aarch64 "));
	assert_non_null(strstr(s, " -M virt,highmem=off,gic-version=3 -accel tcg -cpu max "));
	assert_non_null(strstr(s, " -device virtio-blk-pci,drive=hd0 "));
	assert_non_null(strstr(s, " -device virtio-net-pci,netdev=net0 "));
	assert_non_null(strstr(s, " -device virtio-rng-pci "));
	free(s);
	o.accel = ACCEL_KVM;
	s = argv_of(rc, &o);
	assert_non_null(strstr(s, " -M virt,highmem=off,gic-version=host -accel kvm -cpu host "));
	free(s);
	runconf_free(rc);
	assert_string_equal(qemu_debian_package("evbarm-aarch64"), "qemu-system-arm");
	assert_string_equal(qemu_debian_package("amd64"), "qemu-system-x86");
}

static void test_shell_quote(void **state)
{
	(void)state;
	char *q = qemu_shell_quote("plain-word_1.2:3,4=5/6");
	assert_string_equal(q, "plain-word_1.2:3,4=5/6");
	free(q);
	q = qemu_shell_quote("it's a test");
	assert_string_equal(q, "'it'\\''s a test'");
	free(q);
	q = qemu_shell_quote("");
	assert_string_equal(q, "''");
	free(q);
}

static void test_find_binary(void **state)
{
	(void)state;
	char *p = qemu_find_binary("sh");
	assert_non_null(p);
	free(p);
	assert_null(qemu_find_binary("qemu-system-does-not-exist"));
	assert_null(qemu_find_binary("/nonexistent/qemu"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_netbsd_anchor_flags),
		cmocka_unit_test(test_linux_readonly),
		cmocka_unit_test(test_initrd),
		cmocka_unit_test(test_ports_shares_options),
		cmocka_unit_test(test_consoles),
		cmocka_unit_test(test_i386_and_aarch64),
		cmocka_unit_test(test_shell_quote),
		cmocka_unit_test(test_find_binary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
