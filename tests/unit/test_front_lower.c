/* test_front_lower.c — lowering: each instruction's typed IR node, from an
 * in-memory recipe (recipe_load_buffer) whose build context is a scratch
 * directory holding the files the recipe names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "check.h"
#include "lower.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
	char dir[64];
	char *name;          /* <dir>/Smolfile */
	struct diag_ctx d;
	struct recipe *r;
	char *diags;         /* rendered diagnostics */
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
	strcpy(x->dir, "/tmp/smolc-test-lower.XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	x->name = path_join(x->dir, "Smolfile");
	put(x, "rc.sh", "#!/bin/sh\necho from a file\n");
	put(x, "www/index.html", "hi\n");
	put(x, "inc/vars.inc", "ENV INCLUDED=yes\nINCLUDE more.inc\n");
	put(x, "inc/more.inc", "LABEL from=more\n");
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
	free(x->name);
	free(x);
	return 0;
}

/* Load src; returns the number of errors. */
static size_t load(struct fx *x, const char *src, const char *build_arg)
{
	unload(x);
	diag_init(&x->d);
	x->d.color = false;
	struct strvec ba = {0};
	if (build_arg)
		sv_pushdup(&ba, build_arg);
	x->r = recipe_load_buffer(&x->d, x->name, src, strlen(src), &ba);
	sv_free(&ba);
	size_t errors = x->d.errors;
	size_t len = 0;
	FILE *f = open_memstream(&x->diags, &len);
	diag_print(&x->d, f);
	fclose(f);
	return errors;
}

static const struct ir_node *node(struct fx *x, enum ir_kind k, size_t nth)
{
	for (size_t i = 0; i < x->r->n; i++)
		if (x->r->v[i].kind == k && nth-- == 0)
			return &x->r->v[i];
	fail_msg("no node of kind %d", (int)k);
	return NULL;
}

static void test_from_kinds(void **state)
{
	struct fx *x = *state;
	assert_int_equal(load(x, "FROM scratch\n", NULL), 0);
	assert_int_equal(node(x, IR_FROM, 0)->u.from.kind, BASE_SCRATCH);
	assert_int_equal(load(x, "ARG V=10.1\nFROM netbsd-${V}\n", NULL), 0);
	const struct ir_node *n = node(x, IR_FROM, 0);
	assert_int_equal(n->u.from.kind, BASE_NETBSD);
	assert_string_equal(n->u.from.version, "10.1");
	assert_string_equal(n->u.from.name, "netbsd-10.1");
	assert_int_equal(load(x, "FROM netbsd-daily\n", NULL), 0);
	assert_string_equal(node(x, IR_FROM, 0)->u.from.version, "daily");
	assert_int_equal(load(x, "FROM netbsd-10.\n", NULL), 1);
	assert_non_null(strstr(x->diags, "bad NetBSD release 'netbsd-10.'"));
}

static void test_sets(void **state)
{
	struct fx *x = *state;
	const char *pin = "sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789";
	char *src = xasprintf("FROM netbsd-10.1\nSETS base %s comp:/usr/bin/strip,/usr/bin/ld https://example.invalid/x.tgz\n", pin);
	assert_int_equal(load(x, src, NULL), 0);
	free(src);
	const struct ir_node *n = node(x, IR_SETS, 0);
	assert_int_equal(n->u.sets.n, 3);
	assert_string_equal(n->u.sets.v[0].ref, "base");
	assert_int_equal(n->u.sets.v[0].src, SRC_NAME);
	assert_string_equal(n->u.sets.v[0].sha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
	assert_string_equal(n->u.sets.v[1].ref, "comp");
	assert_int_equal(n->u.sets.v[1].globs.n, 2);
	assert_string_equal(n->u.sets.v[1].globs.v[1], "/usr/bin/ld");
	assert_null(n->u.sets.v[1].sha256);
	assert_int_equal(n->u.sets.v[2].src, SRC_URL);
	assert_string_equal(n->u.sets.v[2].ref, "https://example.invalid/x.tgz");
	assert_int_equal(n->u.sets.v[2].globs.n, 0);
	/* a URL's ":port" is not a filter; a filter after the URL's path is */
	assert_int_equal(load(x, "FROM netbsd-10.1\nSETS https://h.invalid:8080/a/comp.tgz:/usr/bin/strip\n", NULL), 0);
	n = node(x, IR_SETS, 0);
	assert_string_equal(n->u.sets.v[0].ref, "https://h.invalid:8080/a/comp.tgz");
	assert_int_equal(n->u.sets.v[0].globs.n, 1);
	assert_string_equal(n->u.sets.v[0].globs.v[0], "/usr/bin/strip");
}

static void test_ports(void **state)
{
	struct fx *x = *state;
	assert_int_equal(load(x, "FROM scratch\nPORTS 8080:80 0.0.0.0:53:53/udp [::1]:2222:22/tcp\n", NULL), 0);
	const struct ir_node *n = node(x, IR_PORTS, 0);
	assert_int_equal(n->u.ports.n, 3);
	assert_string_equal(n->u.ports.v[0].host_addr, "127.0.0.1");
	assert_int_equal(n->u.ports.v[0].host, 8080);
	assert_int_equal(n->u.ports.v[0].guest, 80);
	assert_false(n->u.ports.v[0].udp);
	assert_string_equal(n->u.ports.v[1].host_addr, "0.0.0.0");
	assert_true(n->u.ports.v[1].udp);
	assert_string_equal(n->u.ports.v[2].host_addr, "[::1]");
	assert_int_equal(n->u.ports.v[2].guest, 22);
	assert_int_equal(load(x, "FROM scratch\nPORTS 1:2:3:4 80:0 x:80 8080:80/icmp\n", NULL), 4);
	assert_non_null(strstr(x->diags, "bad host address '1:2'"));
	assert_non_null(strstr(x->diags, "port 0 is out of range"));
	assert_non_null(strstr(x->diags, "bad port mapping 'x:80'"));
	assert_non_null(strstr(x->diags, "bad protocol 'icmp'"));
}

static void test_scripts(void **state)
{
	struct fx *x = *state;
	assert_int_equal(load(x, "ARG WHO=you\nFROM scratch\nRC <<EOF\n#!/bin/sh\necho ${WHO} $HOME\nEOF\n"
				 "POSTINST --network --timeout=30 <<'EOF'\necho ${WHO}\nEOF\nPOSTINST rc.sh\n",
			     NULL),
			0);
	const struct ir_node *rc = node(x, IR_RC, 0);
	assert_string_equal(rc->u.script->text, "#!/bin/sh\necho you $HOME\n");
	assert_null(rc->u.script->path);
	const struct ir_node *p = node(x, IR_POSTINST, 0);
	assert_true(p->u.script->network);
	assert_int_equal(p->u.script->timeout, 30);
	assert_string_equal(p->u.script->text, "echo ${WHO}\n"); /* quoted: no expansion */
	assert_null(p->u.script->chown.spec);
	p = node(x, IR_POSTINST, 1);
	assert_string_equal(p->u.script->path, "rc.sh");
	assert_string_equal(p->u.script->text, "#!/bin/sh\necho from a file\n");
	/* --chown: COPY's syntax, its place is kept; given twice, it is a
	 * duplicate flag (as in a Dockerfile) */
	assert_int_equal(load(x, "ARG U=www\nFROM scratch\nPOSTINST --network --chown=${U}:81 rc.sh\n", NULL), 0);
	p = node(x, IR_POSTINST, 0);
	assert_string_equal(p->u.script->chown.spec, "www:81");
	assert_int_equal(p->u.script->chown.loc.off, strlen("ARG U=www\nFROM scratch\nPOSTINST --network "));
	assert_int_equal(load(x, "FROM scratch\nPOSTINST --chown=1:2 --chown=3 rc.sh\n", NULL), 1);
	assert_non_null(strstr(x->diags, "error: POSTINST: duplicate flag --chown"));
	assert_int_equal(load(x, "FROM scratch\nPOSTINST --chown=a:b:c rc.sh\nPOSTINST --chown=4294967295 rc.sh\n"
				 "POSTINST --chown=-1 rc.sh\nPOSTINST --chown=u: rc.sh\nRC --chown=0 rc.sh\n",
			     NULL),
			 5);
	assert_non_null(strstr(x->diags, "bad owner '--chown=a:b:c'"));
	assert_non_null(strstr(x->diags, "bad owner '--chown=4294967295'"));
	assert_non_null(strstr(x->diags, "bad owner '--chown=-1'"));
	assert_non_null(strstr(x->diags, "bad owner '--chown=u:'"));
	assert_non_null(strstr(x->diags, "RC: unknown option '--chown=0'"));
}

static void test_vars_and_build_args(void **state)
{
	struct fx *x = *state;
	assert_int_equal(load(x, "ARG A=1\nARG B\nFROM scratch\nENV X=${A} Y=\"${B} z\"\nLABEL a=$A b=$X\n", "B=from-cli"), 0);
	assert_string_equal(node(x, IR_ARG, 0)->u.var.value, "1");
	assert_string_equal(node(x, IR_ARG, 1)->u.var.value, "from-cli");
	assert_string_equal(node(x, IR_ENV, 0)->u.var.name, "X");
	assert_string_equal(node(x, IR_ENV, 1)->u.var.value, "from-cli z");
	assert_string_equal(node(x, IR_LABEL, 0)->u.label.value, "1");
	assert_string_equal(node(x, IR_LABEL, 1)->u.label.key, "b");
	assert_string_equal(node(x, IR_LABEL, 1)->u.label.value, "1");
	/* --build-arg overrides a default; an unused one is a warning */
	assert_int_equal(load(x, "ARG A=1\nFROM scratch\nLABEL a=$A\n", "A=2"), 0);
	assert_string_equal(node(x, IR_LABEL, 0)->u.label.value, "2");
	assert_int_equal(load(x, "FROM scratch\n", "NOPE=1"), 0);
	assert_non_null(strstr(x->diags, "warning: --build-arg NOPE: the recipe declares no ARG NOPE"));
	/* a variable is usable only after its declaration */
	assert_int_equal(load(x, "FROM scratch\nLABEL a=$LATE\nARG LATE=1\n", NULL), 1);
}

static void test_copy(void **state)
{
	struct fx *x = *state;
	assert_int_equal(load(x, "FROM scratch\nCOPY --chown=www:www --mode=0640 www/index.html rc.sh /var/www/\n", NULL), 0);
	const struct ir_node *n = node(x, IR_COPY, 0);
	assert_int_equal(n->u.copy->srcs.n, 2);
	assert_string_equal(n->u.copy->srcs.v[1], "rc.sh");
	assert_string_equal(n->u.copy->dst, "/var/www/");
	assert_string_equal(n->u.copy->chown.spec, "www:www");
	assert_int_equal(n->u.copy->mode, 0640);
	assert_int_equal(load(x, "FROM scratch\nCOPY www/index.html /x\n", NULL), 0);
	assert_int_equal(node(x, IR_COPY, 0)->u.copy->mode, -1);
}

static void test_scalars(void **state)
{
	struct fx *x = *state;
	assert_int_equal(load(x, "FROM scratch\nSERVICE web-1\nARCH evbarm-aarch64\nSIZE 1G\nMEM 2G\nCPUS 4\n"
				 "SHARE ./data:/mnt/data\nREADONLY\nPROFILE netbsd\nPKGSITE https://pkgs.invalid/All\n"
				 "KERNEL netbsd-SMOL\nAPPEND -v \\\n  -s\nCMD /bin/echo   'a  b' $HOME\n",
			     NULL),
			0);
	assert_string_equal(node(x, IR_SERVICE, 0)->u.str, "web-1");
	assert_string_equal(x->r->set.service, "web-1");
	assert_string_equal(x->r->set.arch, "evbarm-aarch64");
	assert_false(x->r->set.size_auto);
	assert_int_equal(x->r->set.size_bytes, 1ull << 30);
	assert_int_equal(x->r->set.mem_mib, 2048);
	assert_int_equal(x->r->set.cpus, 4);
	assert_true(x->r->set.readonly);
	assert_string_equal(node(x, IR_SHARE, 0)->u.share.host, "./data");
	assert_string_equal(node(x, IR_SHARE, 0)->u.share.guest, "/mnt/data");
	assert_int_equal(node(x, IR_KERNEL, 0)->u.kernel.src, SRC_NAME);
	/* CMD and APPEND keep the text as written; a continuation is removed
	 * and the lines joined as they are (Dockerfile) */
	assert_string_equal(x->r->set.append, "-v   -s");
	assert_string_equal(x->r->set.cmd, "/bin/echo   'a  b' $HOME");
	assert_string_equal(x->r->set.pkgsite, "https://pkgs.invalid/All");
}

/* ENTRYPOINT and CMD as Docker composes them; USER and WORKDIR around */
static void test_boot_command(void **state)
{
	struct fx *x = *state;
	assert_int_equal(load(x, "FROM scratch\nENTRYPOINT [\"/bin/echo\", \"a\"]\nCMD echo $HOME\n", NULL), 0);
	assert_string_equal(x->r->set.cmd, "'/bin/echo' 'a' /bin/sh -c 'echo $HOME'");
	assert_int_equal(load(x, "FROM scratch\nENTRYPOINT exec /bin/app\nCMD [\"ignored\"]\n", NULL), 0);
	assert_string_equal(x->r->set.cmd, "exec /bin/app");
	assert_int_equal(load(x, "FROM scratch\nUSER root\nWORKDIR /srv\nWORKDIR www\nCMD [\"ls\"]\n", NULL), 0);
	assert_string_equal(x->r->set.cmd, "cd '/srv/www' && 'ls'");
	assert_string_equal(x->r->set.workdir, "/srv/www");
	assert_int_equal(load(x, "FROM scratch\nUSER www:www\nCMD echo 'hi'\n", NULL), 0);
	assert_string_equal(x->r->set.cmd, "su 'www' -c 'echo '\\''hi'\\'''");
	assert_int_equal(load(x, "FROM scratch\nCMD echo plain\n", NULL), 0);
	assert_string_equal(x->r->set.cmd, "echo plain");
	assert_null(x->r->boot_cmd);
	/* the smolbsd labels: nodes of the instructions that do the same */
	assert_int_equal(load(x, "FROM base,etc\nLABEL smolbsd.service=svc smolbsd.imgsize=64 smolbsd.publish=\"1:2 3:4\"\n"
				 "LABEL smolbsd.addpkgs=\"a b\" smolbsd.imgtag=t smolbsd.use_pty=y\n",
			     NULL),
			0);
	assert_string_equal(x->r->set.service, "svc");
	assert_int_equal(x->r->set.size_bytes, 64ull << 20);
	assert_false(x->r->set.size_auto);
	assert_string_equal(x->r->set.tag, "t");
	assert_string_equal(x->r->set.console, "pty");
	assert_int_equal(node(x, IR_PORTS, 0)->u.ports.n, 2);
	assert_int_equal(node(x, IR_PKGS, 0)->u.pkgs.pats.n, 2);
	assert_int_equal(node(x, IR_SETS, 0)->u.sets.n, 2);
	assert_int_equal(node(x, IR_FROM, 0)->u.from.kind, BASE_NETBSD);
}

static void test_defaults(void **state)
{
	struct fx *x = *state;
	assert_int_equal(load(x, "FROM scratch\n", NULL), 0);
	assert_string_equal(x->r->set.arch, "amd64");
	assert_string_equal(x->r->set.profile, "netbsd");
	assert_int_equal(x->r->set.mem_mib, 256);
	assert_int_equal(x->r->set.cpus, 1);
	assert_true(x->r->set.size_auto);
	assert_int_equal(x->r->set.size_bytes, 32ull << 20);
	assert_false(x->r->set.readonly);
	assert_null(x->r->set.kernel);
	/* the service defaults to the directory's name */
	assert_string_equal(x->r->set.service, path_basename(x->dir));
	assert_int_equal(load(x, "FROM scratch\nSIZE auto+64M\n", NULL), 0);
	assert_true(x->r->set.size_auto);
	assert_int_equal(x->r->set.size_bytes, 64ull << 20);
}

static void test_include(void **state)
{
	struct fx *x = *state;
	assert_int_equal(load(x, "FROM scratch\nINCLUDE inc/vars.inc\nLABEL inc=${INCLUDED}\n", NULL), 0);
	assert_string_equal(node(x, IR_ENV, 0)->u.var.value, "yes");
	assert_string_equal(node(x, IR_LABEL, 0)->u.label.value, "more"); /* inc/more.inc, relative to inc/ */
	assert_string_equal(node(x, IR_LABEL, 1)->u.label.value, "yes");
	/* an error in an included file names the INCLUDE line */
	put(x, "inc/bad.inc", "BOGUS\n");
	assert_int_equal(load(x, "FROM scratch\nINCLUDE inc/bad.inc\n", NULL), 1);
	assert_non_null(strstr(x->diags, "inc/bad.inc:1:1: error: unknown instruction 'BOGUS'"));
	assert_non_null(strstr(x->diags, "note: included from "));
	assert_non_null(strstr(x->diags, "Smolfile:2:1\n"));
}

static void test_include_limits(void **state)
{
	struct fx *x = *state;
	/* a directory or a device is refused, not read (no hang) */
	assert_int_equal(load(x, "FROM scratch\nINCLUDE inc\nINCLUDE /dev/zero\nRC /dev/null\n", NULL), 3);
	assert_non_null(strstr(x->diags, "not a regular file"));
	/* diamonds multiply: capped */
	put(x, "d/0.inc", "LABEL leaf=1\n");
	for (int i = 1; i <= 10; i++) {
		char name[32], body[64];
		snprintf(name, sizeof(name), "d/%d.inc", i);
		snprintf(body, sizeof(body), "INCLUDE %d.inc\nINCLUDE %d.inc\n", i - 1, i - 1);
		put(x, name, body);
	}
	assert_true(load(x, "FROM scratch\nINCLUDE d/10.inc\n", NULL) >= 1);
	assert_non_null(strstr(x->diags, "more than 256 INCLUDEs in one recipe"));
}

static void test_keywords_case_and_suggestions(void **state)
{
	(void)state;
	assert_non_null(ir_lookup("from"));
	assert_int_equal(ir_lookup("Ports")->kind, IR_PORTS);
	assert_null(ir_lookup("PORT"));
	assert_string_equal(ir_suggest("PORT"), "PORTS");
	assert_string_equal(ir_suggest("COPYY"), "COPY");
	assert_int_equal(ir_lookup("run")->kind, IR_RUN); /* RUN is an instruction now */
	assert_int_equal(ir_lookup("user")->kind, IR_USER); /* and USER, of the smoler dialect */
	assert_null(ir_suggest("XYZZYQ"));
	for (int k = 0; k < IR__COUNT; k++)
		assert_int_equal(ir_lookup(ir_info((enum ir_kind)k)->name)->kind, k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_kinds),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_vars_and_build_args),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_boot_command),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_include_limits),
		cmocka_unit_test(test_keywords_case_and_suggestions),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
