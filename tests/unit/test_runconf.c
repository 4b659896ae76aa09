/* test_runconf.c — run config YAML: round trip, defaults, quoting, and
 * error/warning positions (file:line:column) a user would see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runconf.h"
#include "util.h"

static char *tmpdir_new(void)
{
	char *t = xstrdup("/tmp/test_runconf.XXXXXX");
	assert_non_null(mkdtemp(t));
	return t;
}

static struct runconf *sample(void)
{
	struct runconf *rc = runconf_new();
	rc->service = xstrdup("bozohttpd");
	rc->arch = xstrdup("amd64");
	rc->profile = xstrdup("netbsd");
	rc->kernel = xstrdup("bozohttpd-amd64.kernel");
	rc->kernel_sha256 = xstrdup("ec59d1198dad7de81771bfb93f50425241bc51331b4c50ba7a163ca4d6acd427");
	rc->image = xstrdup("bozohttpd-amd64.img");
	rc->initrd = xstrdup("bozohttpd-amd64.initrd");
	rc->initrd_sha256 = xstrdup("1c59d1198dad7de81771bfb93f50425241bc51331b4c50ba7a163ca4d6acd427");
	rc->memory_mib = 256;
	rc->cpus = 2;
	rc->readonly = true;
	runconf_add_port(rc, NULL, 8080, 80, RUNCONF_TCP);
	runconf_add_port(rc, "0.0.0.0", 5353, 53, RUNCONF_UDP);
	runconf_add_share(rc, "/srv/data", "data", "/data", false);
	runconf_set_label(rc, "version", "1.0");
	runconf_set_label(rc, "enabled", "yes");
	rc->build_key = xstrdup("0123");
	return rc;
}

static void test_roundtrip(void **state)
{
	(void)state;
	char *dir = tmpdir_new();
	char *path = path_join(dir, "bozohttpd-amd64.yaml");
	struct runconf *rc = sample(), *back = NULL;
	struct error *err = NULL;
	assert_int_equal(runconf_write(rc, path, &err), 0);
	struct strvec warn = {0};
	assert_int_equal(runconf_read(path, &back, &warn, &err), 0);
	assert_int_equal(warn.n, 0);
	assert_string_equal(back->service, "bozohttpd");
	assert_string_equal(back->arch, "amd64");
	assert_string_equal(runconf_machine(back), "microvm");
	assert_string_equal(runconf_profile(back), "netbsd");
	assert_string_equal(back->kernel_sha256, rc->kernel_sha256);
	assert_string_equal(back->initrd, "bozohttpd-amd64.initrd");
	assert_string_equal(back->initrd_sha256, rc->initrd_sha256);
	assert_null(back->image_sha256);
	assert_int_equal(runconf_memory(back), 256);
	assert_int_equal(runconf_cpus(back), 2);
	assert_true(back->readonly);
	assert_string_equal(back->cmdline, "console=com root=NAME=bozohttpdroot -z");
	assert_string_equal(runconf_console(back), "stdio");
	assert_int_equal(back->nports, 2);
	assert_string_equal(back->ports[0].host_addr, "127.0.0.1");
	assert_int_equal(back->ports[0].host_port, 8080);
	assert_int_equal(back->ports[0].guest_port, 80);
	assert_int_equal(back->ports[1].proto, RUNCONF_UDP);
	assert_string_equal(back->ports[1].host_addr, "0.0.0.0");
	assert_int_equal(back->nshares, 1);
	assert_string_equal(back->shares[0].tag, "data");
	assert_string_equal(back->shares[0].guest_path, "/data");
	assert_int_equal(back->nlabels, 2);
	/* labels that look like numbers/booleans stay strings */
	assert_string_equal(back->labels[0].value, "1.0");
	assert_string_equal(back->labels[1].value, "yes");
	/* relative paths resolve against the yaml's directory */
	char *k = runconf_resolve(back, back->kernel);
	char *want = path_join(dir, "bozohttpd-amd64.kernel");
	assert_string_equal(k, want);
	free(k);
	free(want);
	/* strings YAML could retype are double-quoted in the file */
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(read_file(path, 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, "\"1.0\""));
	assert_non_null(strstr(text, "\"yes\""));
	assert_non_null(strstr(text, "service: \"bozohttpd\""));
	assert_non_null(strstr(text, "memory: 256"));
	/* no temp file left behind */
	char *tmpglob = xasprintf("%s.tmp.%ld", path, (long)getpid());
	assert_false(path_exists(tmpglob));
	free(tmpglob);
	free(text);
	runconf_free(rc);
	runconf_free(back);
	sv_free(&warn);
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

static void test_linux_cmdline(void **state)
{
	(void)state;
	char *c = runconf_default_cmdline("linux", "hello", false);
	assert_string_equal(c, "console=ttyS0 root=PARTLABEL=helloroot rw reboot=t panic=-1");
	free(c);
	c = runconf_default_cmdline("linux", "hello", true);
	assert_string_equal(c, "console=ttyS0 root=PARTLABEL=helloroot ro reboot=t panic=-1");
	free(c);
	c = runconf_default_cmdline(NULL, "hello", true);
	assert_string_equal(c, "console=com root=NAME=helloroot -z");
	free(c);
}

/* Parse text; return the error (caller frees) or NULL on success. */
static char *parse_err(const char *text, struct strvec *warn)
{
	struct runconf *rc = NULL;
	struct error *err = NULL;
	if (runconf_parse("run.yaml", "/x", text, strlen(text), &rc, warn, &err) == 0) {
		runconf_free(rc);
		return NULL;
	}
	assert_non_null(err);
	return error_take_msg(err);
}

#define BASE "service: s\narch: amd64\nkernel: k\nimage: i\n"

static void test_errors(void **state)
{
	(void)state;
	char *e;
	e = parse_err("service: s\narch: amd64\nkernel: k\n", NULL);
	assert_string_equal(e, "run.yaml:1:1: missing required key 'image'");
	free(e);
	e = parse_err(BASE "memory: lots\n", NULL);
	assert_string_equal(e, "run.yaml:5:9: 'memory' must be a number from 16 to 1048576, not \"lots\"");
	free(e);
	e = parse_err("service: s\narch: sparc\nkernel: k\nimage: i\n", NULL);
	assert_string_equal(e, "run.yaml:2:7: 'arch' must be one of amd64, i386, evbarm-aarch64, not \"sparc\"");
	free(e);
	e = parse_err(BASE "ports:\n  - {host: 8080, guest: 99999}\n", NULL);
	assert_non_null(strstr(e, "run.yaml:6:25: 'guest' must be a number from 1 to 65535"));
	free(e);
	e = parse_err(BASE "ports:\n  - {host: 8080, guest: 80}\n  - \"8080:81\"\n", NULL);
	assert_string_equal(e, "run.yaml:1:1: ports: host port 8080 is published twice");
	free(e);
	e = parse_err(BASE "kernel_sha256: abc\n", NULL);
	assert_string_equal(e, "run.yaml:5:16: 'kernel_sha256' must be 64 lowercase hex digits");
	free(e);
	e = parse_err(BASE "initrd_sha256: abc\n", NULL);
	assert_string_equal(e, "run.yaml:5:16: 'initrd_sha256' must be 64 lowercase hex digits");
	free(e);
	e = parse_err(BASE "initrd: \"\"\n", NULL);
	assert_string_equal(e, "run.yaml:5:9: 'initrd' must not be empty");
	free(e);
	e = parse_err("service: [unclosed\n", NULL);
	assert_true(str_startswith(e, "run.yaml:2:1: invalid YAML: "));
	free(e);
	e = parse_err("", NULL);
	assert_string_equal(e, "run.yaml:1:1: the run config is empty");
	free(e);
	e = parse_err("- a\n- b\n", NULL);
	assert_string_equal(e, "run.yaml:1:1: the run config must be a mapping of keys");
	free(e);
	e = parse_err(BASE "readonly: maybe\n", NULL);
	assert_string_equal(e, "run.yaml:5:11: 'readonly' must be true or false");
	free(e);
	e = parse_err(BASE "console: serial\n", NULL);
	assert_non_null(strstr(e, "run.yaml:5:10: 'console' must be stdio, pty, none, tcp:PORT or file:PATH"));
	free(e);
}

static void test_unknown_key_warns(void **state)
{
	(void)state;
	struct strvec warn = {0};
	char *e = parse_err(BASE "colour: blue\nports:\n  - {host: 1, guest: 2, extra: 3}\n", &warn);
	assert_null(e);
	assert_int_equal(warn.n, 2);
	assert_string_equal(warn.v[0], "run.yaml:5:1: warning: unknown key 'colour'");
	assert_string_equal(warn.v[1], "run.yaml:7:25: warning: unknown key 'extra' in a port");
	sv_free(&warn);
}

static void test_unreadable(void **state)
{
	(void)state;
	struct runconf *rc = NULL;
	struct error *err = NULL;
	assert_int_equal(runconf_read("/nonexistent/x.yaml", &rc, NULL, &err), -1);
	assert_string_equal(error_msg(err), "/nonexistent/x.yaml: cannot read the run config: No such file or directory");
	error_clear(&err);
}

static void test_write_rejects_invalid(void **state)
{
	(void)state;
	struct runconf *rc = sample();
	free(rc->arch);
	rc->arch = xstrdup("vax");
	struct error *err = NULL;
	assert_int_equal(runconf_write(rc, "/tmp/never-written.yaml", &err), -1);
	assert_string_equal(error_msg(err), "/tmp/never-written.yaml: arch \"vax\": expected amd64, i386 or evbarm-aarch64");
	assert_false(path_exists("/tmp/never-written.yaml"));
	error_clear(&err);
	runconf_free(rc);
}

static void test_parse_port(void **state)
{
	(void)state;
	struct runconf_port p;
	struct error *err = NULL;
	assert_int_equal(runconf_parse_port("8080:80", &p, &err), 0);
	assert_string_equal(p.host_addr, "127.0.0.1");
	assert_int_equal(p.host_port, 8080);
	assert_int_equal(p.guest_port, 80);
	assert_int_equal(p.proto, RUNCONF_TCP);
	runconf_port_clear(&p);
	assert_int_equal(runconf_parse_port("0.0.0.0:53:53/udp", &p, &err), 0);
	assert_string_equal(p.host_addr, "0.0.0.0");
	assert_int_equal(p.proto, RUNCONF_UDP);
	runconf_port_clear(&p);
	assert_int_equal(runconf_parse_port("[::1]:8443:443", &p, &err), 0);
	assert_string_equal(p.host_addr, "::1");
	runconf_port_clear(&p);
	assert_int_equal(runconf_parse_port("80", &p, &err), -1);
	assert_string_equal(error_msg(err), "port \"80\": expected [ADDR:]HOST:GUEST[/tcp|/udp]");
	error_clear(&err);
	assert_int_equal(runconf_parse_port("70000:80", &p, &err), -1);
	assert_string_equal(error_msg(err), "port \"70000:80\": ports must be numbers from 1 to 65535");
	error_clear(&err);
	assert_int_equal(runconf_parse_port("80:80/sctp", &p, &err), -1);
	assert_string_equal(error_msg(err), "port \"80:80/sctp\": protocol must be tcp or udp, not \"sctp\"");
	error_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_linux_cmdline),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_unknown_key_warns),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_write_rejects_invalid),
		cmocka_unit_test(test_parse_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
