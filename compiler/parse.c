/* parse.c — parser glue: input validation, parse_state callbacks, driver. */
#include "parse.h"

#include "parser.h"
#include "lexer.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void ast_free(struct ast *a)
{
	if (!a)
		return;
	free(a->v);
	free(a->args);
	for (size_t i = 0; i < a->nheredocs; i++) {
		free(a->heredocs[i].delim);
		free(a->heredocs[i].body);
	}
	free(a->heredocs);
	memset(a, 0, sizeof(*a));
}

void ps_begin_instr(struct parse_state *ps, struct loc kw)
{
	memset(&ps->cur, 0, sizeof(ps->cur));
	ps->cur.kw = kw;
	ps->cur.line = kw;
	ps->cur.first = (uint32_t)ps->ast->nargs;
	ps->in_instr = true;
}

static void ps_push_arg(struct parse_state *ps, struct aword w)
{
	if (!ps->in_instr)
		return;
	struct ast *a = ps->ast;
	VEC_GROW(a->args, a->nargs, a->capargs);
	a->args[a->nargs++] = w;
	ps->cur.nargs++;
	ps->cur.line = loc_span(ps->cur.line, w.loc);
}

void ps_add_word(struct parse_state *ps, struct loc w)
{
	ps_push_arg(ps, (struct aword){AW_WORD, w, 0});
}

void ps_add_heredoc(struct parse_state *ps, struct loc w, uint32_t idx)
{
	ps_push_arg(ps, (struct aword){AW_HEREDOC, w, idx});
}

void ps_end_instr(struct parse_state *ps)
{
	if (!ps->in_instr)
		return;
	if (ps->has_bad && ps->bad_off >= ps->cur.line.off && ps->bad_off < ps->cur.line.off + ps->cur.line.len) {
		/* already diagnosed by the scanner: lowering it would only
		 * repeat the error in other words */
		ps_abort_instr(ps);
		return;
	}
	struct ast *a = ps->ast;
	VEC_GROW(a->v, a->n, a->cap);
	a->v[a->n++] = ps->cur;
	memset(&ps->cur, 0, sizeof(ps->cur));
	ps->in_instr = false;
}

void ps_abort_instr(struct parse_state *ps)
{
	if (ps->in_instr)
		ps->ast->nargs = ps->cur.first; /* drop its arguments */
	memset(&ps->cur, 0, sizeof(ps->cur));
	ps->in_instr = false;
}

uint32_t ps_new_heredoc(struct parse_state *ps, struct loc op, const char *text, size_t len)
{
	struct ast *a = ps->ast;
	VEC_GROW(a->heredocs, a->nheredocs, a->caphd);
	struct heredoc *h = &a->heredocs[a->nheredocs];
	memset(h, 0, sizeof(*h));
	h->op = op;
	size_t i = 2;
	if (i < len && text[i] == '-') {
		h->strip_tabs = true;
		i++;
	}
	while (i < len && (text[i] == ' ' || text[i] == '\t'))
		i++; /* "<< EOF" */
	/* the delimiter without its quotes: <<'EOF', <<"EOF", <<E"OF" */
	struct strbuf d;
	sb_init(&d);
	for (; i < len; i++) {
		if (text[i] == '\'' || text[i] == '"')
			h->quoted = true;
		else
			sb_addc(&d, text[i]);
	}
	h->delim = sb_detach(&d);
	if (!*h->delim || isdigit((unsigned char)h->delim[0])) {
		struct diag *g = diag_error(ps->diag, op, "bad heredoc delimiter '%.*s'", (int)len, text);
		diag_hint(g, "the delimiter is a name (letters, digits, '_', not starting with a digit), e.g. <<EOF or <<'EOF'");
	}
	return (uint32_t)a->nheredocs++;
}

/* Reject input that is not a text recipe. One diagnostic, then stop. */
static int validate_text(struct diag_ctx *d, uint32_t file, const char *data, size_t len)
{
	const unsigned char *s = (const unsigned char *)data;
	size_t line_start = 0;
	/* a NUL anywhere means a binary file: say that, not "bad byte" */
	const char *nul = memchr(data, 0, len);
	if (nul) {
		struct diag *g = diag_error(d, (struct loc){file, (uint32_t)(nul - data), 1},
					    "NUL byte in the recipe: this looks like a binary file, not a Smolfile");
		diag_hint(g, "a Smolfile is UTF-8 text; check the file name you passed");
		return -1;
	}
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		if ((c >= 0x20 && c < 0x7f) || c == '\t') { /* plain ASCII: the common case */
			i++;
			continue;
		}
		struct loc at = {file, (uint32_t)i, 1};
		if (c == '\r') {
			struct diag *g = diag_error(d, at, "carriage return (CRLF line endings): Smolfiles use Unix line endings");
			diag_hint(g, "convert the file, e.g. with: sed -i 's/\\r$//' FILE (or dos2unix)");
			return -1;
		}
		if (c == '\n') {
			if (i - line_start > PARSE_MAX_LINE) {
				struct diag *g = diag_error(d, (struct loc){file, (uint32_t)line_start, 1},
							    "line is %zu bytes long; the limit is %u", i - line_start, PARSE_MAX_LINE);
				diag_hint(g, "split it with '\\' continuations, or move the text into a file (RC <file>, COPY)");
				return -1;
			}
			line_start = i + 1;
			i++;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			struct diag *g = diag_error(d, at, "control character 0x%02x in the recipe", c);
			diag_hint(g, "remove it; a Smolfile is plain text");
			return -1;
		}
		size_t n = diag_utf8_len(s + i, len - i);
		if (!n) {
			struct diag *g = diag_error(d, at, "invalid UTF-8 (byte 0x%02x)", c);
			diag_hint(g, "save the file as UTF-8");
			return -1;
		}
		i += n;
	}
	if (len - line_start > PARSE_MAX_LINE) {
		diag_error(d, (struct loc){file, (uint32_t)line_start, 1},
			   "line is %zu bytes long; the limit is %u", len - line_start, PARSE_MAX_LINE);
		return -1;
	}
	return 0;
}

/* Parser directives: "# name=value" lines at the very top of the file
 * (after an optional byte-order mark), before any other line, as in a
 * Dockerfile. `escape` sets the escape character; `syntax` (a BuildKit
 * frontend) is accepted and ignored with a warning; the first line that
 * is not a known directive ends them. Returns -1 after an error (the
 * escape character is then left as it was). */
static int parse_directives(struct diag_ctx *d, uint32_t file, const char *src, size_t len, size_t start, char *esc)
{
	bool seen_escape = false, seen_syntax = false;
	size_t i = start;
	while (i < len) {
		size_t eol = i;
		while (eol < len && src[eol] != '\n')
			eol++;
		size_t k = i;
		if (src[k] != '#')
			break;
		k++;
		while (k < eol && (src[k] == ' ' || src[k] == '\t'))
			k++;
		size_t ns = k;
		while (k < eol && isalpha((unsigned char)src[k]))
			k++;
		size_t nl = k - ns;
		while (k < eol && (src[k] == ' ' || src[k] == '\t'))
			k++;
		if (!nl || k >= eol || src[k] != '=')
			break;
		k++;
		while (k < eol && (src[k] == ' ' || src[k] == '\t'))
			k++;
		size_t vs = k, ve = eol;
		while (ve > vs && (src[ve - 1] == ' ' || src[ve - 1] == '\t'))
			ve--;
		struct loc at = {file, (uint32_t)i, (uint32_t)(eol - i)};
		if (nl == 6 && !strncasecmp(src + ns, "escape", 6)) {
			if (seen_escape) {
				struct diag *g = diag_error(d, at, "the escape directive is given twice");
				diag_hint(g, "keep one '# escape=' line");
				return -1;
			}
			seen_escape = true;
			if (ve - vs != 1 || (src[vs] != '\\' && src[vs] != '`')) {
				struct diag *g = diag_error(d, at, "invalid escape character '%.*s'", (int)(ve - vs), src + vs);
				diag_hint(g, "the escape directive takes \\ (the default) or ` (a backtick)");
				return -1;
			}
			*esc = src[vs];
		} else if (nl == 6 && !strncasecmp(src + ns, "syntax", 6)) {
			if (!seen_syntax) {
				struct diag *g = diag_warning(d, at, "the syntax directive is ignored: smolc reads the file with its own parser");
				diag_hint(g, "remove the line, or keep it for docker build; it changes nothing here");
			}
			seen_syntax = true;
		} else {
			break; /* an ordinary comment */
		}
		i = eol + 1;
	}
	return 0;
}

static int parse_registered(struct diag_ctx *d, uint32_t file, struct ast *out)
{
	const struct srcfile *f = diag_file(d, file);
	memset(out, 0, sizeof(*out));
	out->file = file;
	size_t before = d->errors;
	if (validate_text(d, file, f->data, f->len) < 0) {
		d->files[file].rejected = true;
		return -1;
	}
	/* an instruction starts a line: size the arrays once, not by doubling */
	out->cap = f->nlines;
	out->v = xmalloc(out->cap * sizeof(*out->v));
	out->capargs = 2 * f->nlines;
	out->args = xmalloc(out->capargs * sizeof(*out->args));

	struct parse_state ps;
	memset(&ps, 0, sizeof(ps));
	ps.diag = d;
	ps.file = file;
	ps.src = f->data;
	ps.len = f->len;
	ps.ast = out;
	ps.esc = '\\';
	/* a UTF-8 byte-order mark before the first line is not part of it */
	if (f->len >= 3 && !memcmp(f->data, "\xef\xbb\xbf", 3))
		ps.off = 3, ps.in_off = 3;
	parse_directives(d, file, f->data, f->len, ps.off, &ps.esc); /* on an error, the default stays */
	out->esc = ps.esc;
	sb_init(&ps.body);

	yyscan_t scanner;
	if (yylex_init_extra(&ps, &scanner)) {
		diag_error_plain(d, "cannot initialise the scanner: %s", strerror(errno));
		return -1;
	}
	YY_BUFFER_STATE buf = yy_create_buffer(NULL, 16384, scanner); /* fed by YY_INPUT */
	yy_switch_to_buffer(buf, scanner);
	int rc = yyparse(scanner, &ps);
	yy_delete_buffer(buf, scanner);
	yylex_destroy(scanner);
	ps_abort_instr(&ps);
	sb_free(&ps.body);
	for (size_t i = 0; i < out->n; i++)
		out->v[i].args = out->args + out->v[i].first;
	if (rc == 2)
		diag_error_plain(d, "out of memory while parsing %s", f->path);
	return rc == 0 && d->errors == before ? 0 : -1;
}

int parse_file(struct diag_ctx *d, const char *path, struct loc included_from, struct ast *out)
{
	char *data;
	size_t len;
	struct stat st;
	memset(out, 0, sizeof(*out));
	if (included_from.file && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		/* a FIFO or a device could block forever or never end */
		struct diag *g = diag_error(d, included_from, "cannot read '%s': not a regular file", path);
		diag_hint(g, "INCLUDE and FROM name Smolfiles, not directories or devices");
		return -1;
	}
	if (read_file(path, PARSE_MAX_FILE, &data, &len) < 0) {
		int e = errno;
		struct diag *g;
		if (included_from.file)
			g = diag_error(d, included_from, "cannot read '%s': %s", path,
				       e == EFBIG ? "file larger than 16 MiB" : strerror(e));
		else
			g = diag_error_plain(d, "cannot read '%s': %s", path,
					     e == EFBIG ? "file larger than 16 MiB" : strerror(e));
		if (e == ENOENT && !included_from.file)
			diag_hint(g, "pass the path of a Smolfile, or run smolc in the directory that holds one");
		return -1;
	}
	char *rp = realpath(path, NULL);
	uint32_t file = diag_add_file(d, path, rp, data, len, included_from);
	free(rp);
	return parse_registered(d, file, out);
}

int parse_buffer(struct diag_ctx *d, const char *name, const char *data, size_t len, struct ast *out)
{
	char *copy = xmalloc(len + 1);
	memcpy(copy, data, len);
	copy[len] = 0;
	uint32_t file = diag_add_file(d, name, NULL, copy, len, (struct loc){0, 0, 0});
	return parse_registered(d, file, out);
}
