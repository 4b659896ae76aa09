/* test_front_lexer.c — scanner and parser: the syntax tree parse_buffer()
 * builds (instructions, words as source spans, heredocs), continuations,
 * comments, heredoc variants and lexical errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parse.h"

#include <stdlib.h>
#include <string.h>

struct fx {
	struct diag_ctx d;
	struct ast a;
	int rc;
};

static void parse(struct fx *x, const char *src)
{
	diag_init(&x->d);
	x->d.color = false;
	x->rc = parse_buffer(&x->d, "Smolfile", src, strlen(src), &x->a);
}

static void done(struct fx *x)
{
	ast_free(&x->a);
	diag_fini(&x->d);
}

/* Text of a location in the parsed file. */
static char *text(struct fx *x, struct loc l)
{
	const struct srcfile *f = diag_file(&x->d, l.file);
	return xstrndup(f->data + l.off, l.len);
}

static void assert_loc_text(struct fx *x, struct loc l, const char *want)
{
	char *t = text(x, l);
	assert_string_equal(t, want);
	free(t);
}

__attribute__((noinline)) static char *render(struct diag_ctx *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	diag_print(d, f);
	fclose(f);
	return buf;
}

static void test_words_and_lines(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "FROM scratch\n\n  ports 8080:80   1:2\t\nCMD a \"b c\" 'd e' f\\ g\n");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.a.n, 3);
	assert_loc_text(&x, x.a.v[0].kw, "FROM");
	assert_int_equal(x.a.v[0].nargs, 1);
	assert_loc_text(&x, x.a.v[0].args[0].loc, "scratch");
	assert_loc_text(&x, x.a.v[1].kw, "ports");
	assert_int_equal(x.a.v[1].nargs, 2);
	assert_loc_text(&x, x.a.v[1].args[1].loc, "1:2");
	assert_loc_text(&x, x.a.v[1].line, "ports 8080:80   1:2");
	/* quotes and escapes stay in the raw word */
	assert_int_equal(x.a.v[2].nargs, 4);
	assert_loc_text(&x, x.a.v[2].args[1].loc, "\"b c\"");
	assert_loc_text(&x, x.a.v[2].args[2].loc, "'d e'");
	assert_loc_text(&x, x.a.v[2].args[3].loc, "f\\ g");
	done(&x);
}

static void test_no_final_newline(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "FROM scratch\nCMD x");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.a.n, 2);
	assert_loc_text(&x, x.a.v[1].args[0].loc, "x");
	done(&x);
}

static void test_comments(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "# leading\nFROM scratch # trailing\n   # indented\nLABEL a=b#c #d\n");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.a.n, 2);
	assert_int_equal(x.a.v[0].nargs, 1);
	/* '#' inside a word is not a comment */
	assert_int_equal(x.a.v[1].nargs, 1);
	assert_loc_text(&x, x.a.v[1].args[0].loc, "a=b#c");
	done(&x);
}

static void test_continuations(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "SETS base \\\n  etc \\   \n# a comment line inside\n    # another\n  comp\nFROM scratch\n");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.a.n, 2);
	assert_int_equal(x.a.v[0].nargs, 3);
	assert_loc_text(&x, x.a.v[0].args[2].loc, "comp");
	/* the second instruction starts on line 6 */
	size_t line, col;
	diag_linecol(&x.d, x.a.v[1].kw, &line, &col);
	assert_int_equal(line, 6);
	assert_int_equal(col, 1);
	done(&x);
}

/* As in a Dockerfile: a continuation joins the lines as they are (a word
 * goes on across it), and blank lines inside one are skipped. */
static void test_continuations_dockerfile(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "ENV X=goodbye\\\nfrog\nCMD echo light\\\n\n   \n# c\nning\nFROM scratch\n");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.a.n, 3);
	assert_int_equal(x.a.v[0].nargs, 1);
	assert_loc_text(&x, x.a.v[0].args[0].loc, "X=goodbye\\\nfrog");
	assert_int_equal(x.a.v[1].nargs, 2);
	size_t line, col;
	diag_linecol(&x.d, x.a.v[2].kw, &line, &col);
	assert_int_equal(line, 8);
	done(&x);
}

/* "# escape=`" makes '`' the escape character; '\\' is then ordinary. */
static void test_escape_directive(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "# escape=`\nCOPY C:\\dir\\sub `\n  /x\nLABEL a=`\"b\n");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.a.esc, '`');
	assert_int_equal(x.a.n, 2);
	assert_int_equal(x.a.v[0].nargs, 2);
	assert_loc_text(&x, x.a.v[0].args[0].loc, "C:\\dir\\sub");
	assert_loc_text(&x, x.a.v[1].args[0].loc, "a=`\"b");
	done(&x);
	/* after the first other line, it is a comment */
	parse(&x, "FROM scratch\n# escape=`\nLABEL a=\\\n  b\n");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.a.esc, '\\');
	assert_int_equal(x.a.n, 2);
	done(&x);
}

/* A byte-order mark is not part of the first instruction. */
static void test_bom(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "\xef\xbb\xbf" "FROM scratch\n");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.a.n, 1);
	assert_loc_text(&x, x.a.v[0].kw, "FROM");
	size_t line, col;
	diag_linecol(&x.d, x.a.v[0].kw, &line, &col);
	assert_int_equal(col, 1);
	done(&x);
}

static void test_heredoc_dockerfile_forms(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "RC << EOF\na\nEOF\nPOSTINST <<-\tE\"N\"D\nb\nEND\nCMD x << EOF;\n");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.a.nheredocs, 2);
	assert_string_equal(x.a.heredocs[0].delim, "EOF");
	assert_false(x.a.heredocs[0].quoted);
	assert_string_equal(x.a.heredocs[0].body, "a\n");
	assert_string_equal(x.a.heredocs[1].delim, "END");
	assert_true(x.a.heredocs[1].quoted);
	assert_true(x.a.heredocs[1].strip_tabs);
	/* "<< EOF;" is two words, not a heredoc */
	assert_int_equal(x.a.v[2].nargs, 3);
	assert_loc_text(&x, x.a.v[2].args[1].loc, "<<");
	assert_loc_text(&x, x.a.v[2].args[2].loc, "EOF;");
	done(&x);
}

static void test_heredoc_variants(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "RC <<EOF\nline ${X}\n\tkept tab\nEOF\n"
		  "POSTINST <<-END\n\tstripped\n\t\tEND\n"
		  "POSTINST <<'Q'\n$raw\nQ\n"
		  "POSTINST <<\"DQ\"\nx\nDQ\n");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.a.n, 4);
	assert_int_equal(x.a.nheredocs, 4);
	const struct heredoc *h = x.a.heredocs;
	assert_string_equal(h[0].delim, "EOF");
	assert_false(h[0].strip_tabs);
	assert_false(h[0].quoted);
	assert_true(h[0].complete);
	assert_string_equal(h[0].body, "line ${X}\n\tkept tab\n");
	assert_string_equal(h[1].delim, "END");
	assert_true(h[1].strip_tabs);
	assert_string_equal(h[1].body, "stripped\n");
	assert_true(h[2].quoted);
	assert_string_equal(h[2].delim, "Q");
	assert_string_equal(h[2].body, "$raw\n");
	assert_true(h[3].quoted);
	assert_string_equal(h[3].delim, "DQ");
	/* the argument refers to its heredoc */
	assert_int_equal(x.a.v[0].args[0].kind, AW_HEREDOC);
	assert_int_equal(x.a.v[0].args[0].heredoc, 0);
	assert_int_equal(x.a.v[3].args[0].heredoc, 3);
	assert_loc_text(&x, x.a.v[1].args[0].loc, "<<-END");
	done(&x);
}

static void test_two_heredocs_one_line(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "RC <<A <<B\nbody a\nA\nbody b\nB\nFROM scratch\n");
	assert_int_equal(x.a.n, 2);
	assert_int_equal(x.a.v[0].nargs, 2);
	assert_string_equal(x.a.heredocs[0].body, "body a\n");
	assert_string_equal(x.a.heredocs[1].body, "body b\n");
	assert_true(x.a.heredocs[1].complete);
	assert_loc_text(&x, x.a.v[1].kw, "FROM");
	done(&x);
}

static void test_heredoc_at_eof_without_newline(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "RC <<EOF\nx\nEOF");
	assert_int_equal(x.rc, 0);
	assert_true(x.a.heredocs[0].complete);
	assert_string_equal(x.a.heredocs[0].body, "x\n");
	done(&x);
}

static void test_unterminated_heredoc(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "FROM scratch\nRC <<EOF\nbody\n");
	assert_int_equal(x.rc, -1);
	assert_false(x.a.heredocs[0].complete);
	char *out = render(&x.d);
	assert_non_null(strstr(out, "Smolfile:2:4: error: unterminated heredoc: no line 'EOF' before the end of the file\n"));
	assert_non_null(strstr(out, "    2 | RC <<EOF\n      |    ^~~~~\n"));
	free(out);
	done(&x);
}

static void test_unterminated_quote_drops_line(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "FROM scratch\nLABEL a=\"open\nCMD ok\n");
	assert_int_equal(x.rc, -1);
	assert_int_equal(x.d.errors, 1);
	/* the bad line is dropped, parsing goes on */
	assert_int_equal(x.a.n, 2);
	assert_loc_text(&x, x.a.v[1].kw, "CMD");
	done(&x);
}

static void test_heredoc_at_line_start(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "<<EOF\nx\nEOF\nFROM scratch\n");
	assert_int_equal(x.rc, -1);
	assert_int_equal(x.d.errors, 1);
	assert_int_equal(x.a.n, 1); /* recovered at the next line */
	char *out = render(&x.d);
	assert_non_null(strstr(out, "Smolfile:1:1: error: expected an instruction at the start of the line"));
	free(out);
	done(&x);
}

static void test_bad_bytes(void **state)
{
	(void)state;
	static const struct {
		const char *src;
		size_t len;
		const char *msg;
	} cases[] = {
		{"FROM scratch\nCMD a\0b\n", 20, "Smolfile:2:6: error: NUL byte in the recipe"},
		{"FROM scratch\r\n", 14, "Smolfile:1:13: error: carriage return (CRLF line endings)"},
		{"FROM caf\xc3\n", 10, "Smolfile:1:9: error: invalid UTF-8 (byte 0xc3)"},
		{"FROM \xc0\xaf\n", 8, "Smolfile:1:6: error: invalid UTF-8 (byte 0xc0)"}, /* overlong */
		{"FROM \x1b[0m\n", 10, "Smolfile:1:6: error: control character 0x1b"},
		{"FROM \x7f\n", 7, "Smolfile:1:6: error: control character 0x7f"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct diag_ctx d;
		struct ast a;
		diag_init(&d);
		d.color = false;
		assert_int_equal(parse_buffer(&d, "Smolfile", cases[i].src, cases[i].len, &a), -1);
		assert_int_equal(d.errors, 1);
		assert_int_equal(a.n, 0);
		char *out = render(&d);
		assert_non_null(strstr(out, cases[i].msg));
		free(out);
		ast_free(&a);
		diag_fini(&d);
	}
}

static void test_megabyte_line(void **state)
{
	(void)state;
	size_t n = 1u << 20;
	char *src = malloc(n + 32);
	assert_non_null(src);
	memcpy(src, "FROM scratch\nCMD ", 17);
	memset(src + 17, 'x', n);
	src[17 + n] = '\n';
	struct diag_ctx d;
	struct ast a;
	diag_init(&d);
	d.color = false;
	assert_int_equal(parse_buffer(&d, "Smolfile", src, 18 + n, &a), -1);
	char *out = render(&d);
	assert_non_null(strstr(out, "Smolfile:2:1: error: line is 1048580 bytes long; the limit is 65536\n"));
	/* the excerpt is cut, not a megabyte of x */
	assert_true(strlen(out) < 1000);
	free(out);
	ast_free(&a);
	diag_fini(&d);
	free(src);
}

static void test_columns_tabs_utf8(void **state)
{
	(void)state;
	struct fx x;
	parse(&x, "LABEL\tk=\xc3\xa9t\xc3\xa9 BAD\n");
	assert_int_equal(x.a.v[0].nargs, 2);
	size_t line, col;
	diag_linecol(&x.d, x.a.v[0].args[1].loc, &line, &col);
	assert_int_equal(line, 1);
	assert_int_equal(col, 13); /* "LABEL" tab "k=été" space: 12 characters */
	diag_error(&x.d, x.a.v[0].args[1].loc, "boom");
	diag_error(&x.d, x.a.v[0].args[0].loc, "wide");
	char *out = render(&x.d);
	/* the caret is under BAD: a tab stays a tab, é takes one column;
	 * a span over UTF-8 text is as wide as its characters */
	assert_non_null(strstr(out, "Smolfile:1:13: error: boom\n    1 | LABEL\tk=\xc3\xa9t\xc3\xa9 BAD\n      |      \t      ^~~\n"));
	assert_non_null(strstr(out, "      |      \t^~~~~\n"));
	free(out);
	done(&x);
}

static void test_long_line_excerpt_utf8(void **state)
{
	(void)state;
	/* 100 two-byte characters: the excerpt is cut after 160 bytes, at a
	 * character boundary, and the caret past the cut is not printed */
	struct strbuf sb;
	sb_init(&sb);
	sb_adds(&sb, "LABEL a=");
	for (int i = 0; i < 100; i++)
		sb_adds(&sb, "\xc3\xa9");
	sb_adds(&sb, " x\n");
	struct fx x;
	parse(&x, sb_cstr(&sb));
	sb_free(&sb);
	assert_int_equal(x.a.v[0].nargs, 2);
	diag_error(&x.d, x.a.v[0].args[0].loc, "first");
	diag_error(&x.d, x.a.v[0].args[1].loc, "second");
	char *out = render(&x.d);
	const char *line = strstr(out, "    1 | LABEL a=");
	assert_non_null(line);
	const char *cut = strstr(line, " \xe2\x80\xa6\n"); /* " …" */
	assert_non_null(cut);
	/* 8 ASCII bytes + 76 characters of 2 bytes = 160 bytes shown */
	assert_int_equal(cut - (line + 8), 160);
	/* the span ("a=" and the é's) is clipped to the shown part: from
	 * column 7, 2 + 76 characters, '^' and 77 '~' */
	char want[128] = "      |       ^";
	for (int i = 0; i < 77; i++)
		strcat(want, "~");
	strcat(want, "\n");
	assert_non_null(strstr(out, want));
	/* "x" is past the cut: the record has no excerpt */
	const char *second = strstr(out, "Smolfile:1:110: error: second\n");
	assert_non_null(second);
	assert_string_equal(second, "Smolfile:1:110: error: second\n");
	free(out);
	done(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_words_and_lines),
		cmocka_unit_test(test_no_final_newline),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_continuations),
		cmocka_unit_test(test_continuations_dockerfile),
		cmocka_unit_test(test_escape_directive),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_heredoc_dockerfile_forms),
		cmocka_unit_test(test_heredoc_variants),
		cmocka_unit_test(test_two_heredocs_one_line),
		cmocka_unit_test(test_heredoc_at_eof_without_newline),
		cmocka_unit_test(test_unterminated_heredoc),
		cmocka_unit_test(test_unterminated_quote_drops_line),
		cmocka_unit_test(test_heredoc_at_line_start),
		cmocka_unit_test(test_bad_bytes),
		cmocka_unit_test(test_megabyte_line),
		cmocka_unit_test(test_columns_tabs_utf8),
		cmocka_unit_test(test_long_line_excerpt_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
