/* test_front_expand.c — variables and word expansion: $X ${X} ${X:-d},
 * quoting and escapes, undefined names, and the shell-text rule used for
 * heredoc bodies and CMD/APPEND (only declared ${NAME} is replaced). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "expand.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct fx {
	struct diag_ctx d;
	struct var_env env;
	uint32_t file;
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	diag_init(&x->d);
	x->d.color = false;
	var_set(&x->env, "NAME", "world", false, (struct loc){0, 0, 0});
	var_set(&x->env, "EMPTY", "", false, (struct loc){0, 0, 0});
	var_set(&x->env, "NOVAL", NULL, false, (struct loc){0, 0, 0});
	var_set(&x->env, "VERSION", "10.1", true, (struct loc){0, 0, 0});
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	var_env_free(&x->env);
	diag_fini(&x->d);
	free(x);
	return 0;
}

/* Expand `raw` as an argument word registered as a one-line file. */
static char *word(struct fx *x, const char *raw)
{
	x->file = diag_add_file(&x->d, "Smolfile", NULL, xstrdup(raw), strlen(raw), (struct loc){0, 0, 0});
	struct loc l = {x->file, 0, (uint32_t)strlen(raw)};
	return expand_word(&x->d, l, raw, strlen(raw), &x->env);
}

static void expect(struct fx *x, const char *raw, const char *want)
{
	char *got = word(x, raw);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static char *first_message(struct fx *x)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	diag_print(&x->d, f);
	fclose(f);
	return buf;
}

static void test_plain_references(void **state)
{
	struct fx *x = *state;
	expect(x, "$NAME", "world");
	expect(x, "${NAME}", "world");
	expect(x, "a${NAME}b", "aworldb");
	expect(x, "$NAME.txt", "world.txt");
	expect(x, "netbsd-${VERSION}", "netbsd-10.1");
	expect(x, "${EMPTY}x", "x");
	expect(x, "$", "$");          /* a lone '$' is literal */
	expect(x, "a$ b", "a$ b");
	expect(x, "$1", "$1");         /* not a name */
}

static void test_defaults(void **state)
{
	struct fx *x = *state;
	expect(x, "${UNSET:-dflt}", "dflt");
	expect(x, "${NAME:-dflt}", "world");
	expect(x, "${NOVAL:-dflt}", "dflt");
	expect(x, "${UNSET:-}", "");
	expect(x, "${UNSET:-${NAME}}", "world");      /* the default expands */
	expect(x, "${UNSET:-${ALSO:-deep}}", "deep");
	expect(x, "${EMPTY:-x}", "x");                 /* empty counts as unset, as in sh */
}

static void test_quotes_and_escapes(void **state)
{
	struct fx *x = *state;
	expect(x, "'$NAME'", "$NAME");                 /* single quotes: literal */
	expect(x, "\"$NAME\"", "world");               /* double quotes: expand */
	expect(x, "\"a b\"", "a b");
	expect(x, "\"\\\"q\\\" \\$NAME \\\\\"", "\"q\" $NAME \\");
	expect(x, "\"\\n\"", "\\n");                   /* other escapes kept in "" */
	expect(x, "\\$NAME", "$NAME");
	expect(x, "a\\ b", "a b");
	expect(x, "it'''s'", "its");
	expect(x, "x\"${NAME}\"'${NAME}'", "xworld${NAME}");
}

static void test_undefined(void **state)
{
	struct fx *x = *state;
	assert_null(word(x, "LABEL=${NAMEE}"));
	char *out = first_message(x);
	assert_non_null(strstr(out, "Smolfile:1:7: error: undefined variable 'NAMEE'\n"));
	assert_non_null(strstr(out, "      |       ^~~~~~~~\n"));
	assert_non_null(strstr(out, "hint: did you mean 'NAME'?"));
	free(out);

	assert_null(word(x, "$ZZZZZZZ"));
	out = first_message(x);
	assert_non_null(strstr(out, "error: undefined variable 'ZZZZZZZ'"));
	assert_non_null(strstr(out, "declare it earlier with ARG ZZZZZZZ=value"));
	free(out);

	assert_null(word(x, "${NOVAL}"));
	out = first_message(x);
	assert_non_null(strstr(out, "error: ARG NOVAL has no value"));
	assert_non_null(strstr(out, "--build-arg NOVAL=value"));
	free(out);

	assert_null(word(x, "${}"));
	assert_null(word(x, "${NAME"));
	assert_null(word(x, "\"${UNSET}\""));
	out = first_message(x);
	assert_non_null(strstr(out, "expected a name after '${'"));
	assert_non_null(strstr(out, "unterminated variable reference '${NAME'"));
	assert_non_null(strstr(out, "undefined variable 'UNSET'"));
	free(out);
}

static void test_deep_defaults(void **state)
{
	struct fx *x = *state;
	/* defaults nested past the limit are an error, not a stack overflow */
	struct strbuf sb;
	sb_init(&sb);
	for (int i = 0; i < 20; i++)
		sb_adds(&sb, "${U:-");
	for (int i = 0; i < 20; i++)
		sb_addc(&sb, '}');
	assert_null(word(x, sb_cstr(&sb)));
	char *out = first_message(x);
	assert_non_null(strstr(out, "nested too deeply"));
	free(out);
	sb_free(&sb);

	/* the limit is EXPAND_MAX_NEST (8) references, as SPEC.md says */
	for (int n = EXPAND_MAX_NEST; n <= EXPAND_MAX_NEST + 1; n++) {
		sb_init(&sb);
		for (int i = 0; i < n; i++)
			sb_printf(&sb, "${U%d:-", i);
		sb_addc(&sb, 'x');
		for (int i = 0; i < n; i++)
			sb_addc(&sb, '}');
		char *got = word(x, sb_cstr(&sb));
		if (n == EXPAND_MAX_NEST) {
			assert_non_null(got);
			assert_string_equal(got, "x");
		} else {
			assert_null(got);
		}
		free(got);
		sb_free(&sb);
	}
}

static void test_escape_in_default(void **state)
{
	struct fx *x = *state;
	expect(x, "${UNSET:-\\$PWD}", "$PWD");        /* \$ stays a literal $ */
	expect(x, "${UNSET:-a\\}b}", "a}b");
	expect(x, "\"${UNSET:-\\$NAME}\"", "$NAME");
	expect(x, "${UNSET:-\\${NAME}}", "${NAME}");
}

/* The Dockerfile (BuildKit) parameter forms, with their meaning there. */
static void test_operators(void **state)
{
	struct fx *x = *state;
	var_set(&x->env, "P", "/usr/local/bin/tool.tar.gz", false, (struct loc){0, 0, 0});
	var_set(&x->env, "U", "ünï/cödé", false, (struct loc){0, 0, 0});
	expect(x, "${NAME:+set}", "set");
	expect(x, "${EMPTY:+set}", "");
	expect(x, "${UNSET:+set}", "");
	expect(x, "${NOVAL:+set}", "");
	expect(x, "${EMPTY+set}", "set");           /* set, even empty */
	expect(x, "${UNSET+set}", "");
	expect(x, "${EMPTY-dflt}", "");             /* only unset takes the default */
	expect(x, "${UNSET-dflt}", "dflt");
	expect(x, "${NOVAL-dflt}", "dflt");
	expect(x, "${NAME-dflt}", "world");
	expect(x, "${NAME:?must be set}", "world");
	expect(x, "${EMPTY?must be set}", "");
	expect(x, "${P#*/}", "usr/local/bin/tool.tar.gz");
	expect(x, "${P##*/}", "tool.tar.gz");
	expect(x, "${P%.*}", "/usr/local/bin/tool.tar");
	expect(x, "${P%%.*}", "/usr/local/bin/tool");
	expect(x, "${P#nomatch}", "/usr/local/bin/tool.tar.gz");
	expect(x, "${P%/usr*}", "");
	expect(x, "${P/o/0}", "/usr/l0cal/bin/tool.tar.gz");
	expect(x, "${P//o/0}", "/usr/l0cal/bin/t00l.tar.gz");
	expect(x, "${P//[a-c]/X}", "/usr/loXXl/Xin/tool.tXr.gz");
	expect(x, "${P//[!a-z]/}", "usrlocalbintooltargz");
	expect(x, "${P/l*l/L}", "/usr/L.tar.gz");    /* leftmost, longest */
	expect(x, "${P/?/}", "usr/local/bin/tool.tar.gz");
	expect(x, "${P//o}", "/usr/lcal/bin/tl.tar.gz"); /* no replacement: removed */
	expect(x, "${P#\\/usr}", "/local/bin/tool.tar.gz");
	expect(x, "${NAME/\\*/x}", "world");
	expect(x, "${NAME#'w'*}", "orld");
	expect(x, "${NAME##'w'*}", "");
	expect(x, "${NAME#\"w*\"}", "world");       /* quoted: a literal '*' */
	expect(x, "${NAME/o/${VERSION}}", "w10.1rld");
	expect(x, "${NAME/${NAME}/all}", "all");
	expect(x, "${U#?}", "nï/cödé");             /* ? is one character, not a byte */
	expect(x, "${U%%/*}", "ünï");
	expect(x, "${U//[ï-ö]/_}", "ün_/c_dé");
	expect(x, "${UNSET:-a}${NAME:+b}${EMPTY-c}", "ab");
	expect(x, "${NAME/[/x}", "world");          /* an unclosed '[' is literal */

	assert_null(word(x, "${EMPTY:?give EMPTY a value}"));
	assert_null(word(x, "${UNSET?}"));
	assert_null(word(x, "${UNSET#x}"));
	assert_null(word(x, "${NAME^^}"));
	char *out = first_message(x);
	assert_non_null(strstr(out, "error: EMPTY: give EMPTY a value\n"));
	assert_non_null(strstr(out, "error: variable 'UNSET' is not set\n"));
	assert_non_null(strstr(out, "error: undefined variable 'UNSET'\n"));
	assert_non_null(strstr(out, "error: unsupported variable operator '^' in '${NAME…}'\n"));
	free(out);
}

/* Patterns cannot cost exponential time: an NFA, a bounded budget. */
static void test_pattern_cost(void **state)
{
	struct fx *x = *state;
	struct strbuf sb;
	sb_init(&sb);
	for (int i = 0; i < 60000; i++)
		sb_addc(&sb, 'a');
	var_set(&x->env, "LONG", sb_cstr(&sb), false, (struct loc){0, 0, 0});
	sb_free(&sb);
	/* the classic backtracking killer: a*a*a*…b against aaaa… */
	sb_init(&sb);
	sb_adds(&sb, "${LONG//");
	for (int i = 0; i < 30; i++)
		sb_adds(&sb, "a*");
	sb_adds(&sb, "b/x}");
	double t0 = now_monotonic();
	char *got = word(x, sb_cstr(&sb));
	sb_free(&sb);
	if (got) {
		assert_int_equal(strlen(got), 60000);
		free(got);
	} else {
		char *out = first_message(x);
		assert_non_null(strstr(out, "needs too much work"));
		free(out);
	}
	assert_true(now_monotonic() - t0 < 20.0); /* a sanity bound, not a speed target */
	expect(x, "${LONG##*a}", "");
	/* a pattern over the token cap is an error, not a slow match */
	sb_init(&sb);
	sb_adds(&sb, "${NAME#");
	for (int i = 0; i < EXPAND_MAX_PATTERN + 1; i++)
		sb_adds(&sb, "?");
	sb_adds(&sb, "}");
	assert_null(word(x, sb_cstr(&sb)));
	sb_free(&sb);
	char *out = first_message(x);
	assert_non_null(strstr(out, "is too long"));
	free(out);
}

static void test_continuations(void **state)
{
	struct fx *x = *state;
	expect(x, "X=goodbye\\\nfrog", "X=goodbyefrog");
	expect(x, "light\\  \n  # a comment\n\n\tning", "light\tning");
	expect(x, "\"a \\\nb\"", "a b");
	expect(x, "a\\\\\nb", "a\\\nb");  /* an escaped escape is no continuation */
	struct expand_opts bt = {'`', false};
	const char *raw = "C:\\dir\\sub `$NAME ${NAME}";
	x->file = diag_add_file(&x->d, "Smolfile", NULL, xstrdup(raw), strlen(raw), (struct loc){0, 0, 0});
	char *got = expand_word_ex(&x->d, (struct loc){x->file, 0, (uint32_t)strlen(raw)}, raw, strlen(raw), &x->env, &bt);
	assert_string_equal(got, "C:\\dir\\sub $NAME world");
	free(got);
	struct expand_opts nq = {0, true};
	raw = "it's \"$NAME\"";
	got = expand_word_ex(&x->d, (struct loc){x->file, 0, (uint32_t)strlen(raw)}, raw, strlen(raw), &x->env, &nq);
	assert_string_equal(got, "it's \"world\"");
	free(got);
}

static void shell(struct fx *x, const char *in, const char *want)
{
	char *got = expand_shell_text(in, strlen(in), &x->env);
	assert_string_equal(got, want);
	free(got);
}

static void test_shell_text(void **state)
{
	struct fx *x = *state;
	shell(x, "echo ${NAME}", "echo world");
	shell(x, "echo $NAME", "echo $NAME");                  /* $NAME: the guest's shell */
	shell(x, "echo ${HOME} ${UNSET:-x}", "echo ${HOME} ${UNSET:-x}"); /* undeclared: kept */
	shell(x, "echo ${NOVAL:-d} ${NAME:-d} ${EMPTY:-e}", "echo d world e");
	shell(x, "echo ${NOVAL}", "echo ${NOVAL}");            /* declared, no value: kept */
	shell(x, "echo \\${NAME}", "echo ${NAME}");            /* \${ escapes */
	shell(x, "a ${NAME", "a ${NAME");
	shell(x, "'${NAME}'", "'world'");                       /* quotes do not matter here */
	shell(x, "$", "$");
}

static void test_var_env(void **state)
{
	(void)state;
	struct var_env e = {0};
	var_set(&e, "A", "1", false, (struct loc){0, 0, 0});
	var_set(&e, "A", "2", true, (struct loc){0, 0, 0});
	const struct var *v = var_get(&e, "A");
	assert_non_null(v);
	assert_string_equal(v->value, "2");
	assert_true(v->is_env);
	assert_null(var_get(&e, "B"));
	assert_int_equal(e.n, 1);
	var_env_free(&e);
	assert_true(var_name_valid("_a1", 3));
	assert_false(var_name_valid("1a", 2));
	assert_false(var_name_valid("a-b", 3));
	assert_false(var_name_valid("", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_references, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quotes_and_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undefined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escape_in_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_operators, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pattern_cost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_continuations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shell_text, setup, teardown),
		cmocka_unit_test(test_var_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
