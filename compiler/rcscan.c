/* rcscan.c — see rcscan.h. A tokenizer (words, operators, redirections,
 * heredocs skipped) and one pass that tracks where a command word may
 * stand. */
#include "rcscan.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

enum tok_kind { T_WORD, T_OP, T_REDIR };

struct tok {
	enum tok_kind kind;
	char *text;       /* T_WORD: unquoted value; T_OP/T_REDIR: the operator */
	bool dynamic;     /* T_WORD: holds $, `, a glob or an expansion */
	unsigned line;
};

struct toks {
	struct tok *v;
	size_t n, cap;
};

static void push(struct toks *t, enum tok_kind k, char *text, bool dyn, unsigned line)
{
	VEC_GROW(t->v, t->n, t->cap);
	t->v[t->n++] = (struct tok){k, text, dyn, line};
}

struct lexer {
	const char *s;
	size_t len, i;
	unsigned line;
	struct strvec heredocs;   /* delimiters waiting for the next newline */
	bool strip[64];           /* <<- for each (first 64) */
};

/* Skip the bodies of the heredocs opened on the line that just ended. */
static void skip_heredocs(struct lexer *lx)
{
	for (size_t h = 0; h < lx->heredocs.n; h++) {
		const char *delim = lx->heredocs.v[h];
		size_t dl = strlen(delim);
		while (lx->i < lx->len) {
			size_t e = lx->i;
			while (e < lx->len && lx->s[e] != '\n')
				e++;
			size_t b = lx->i;
			if (h < 64 && lx->strip[h])
				while (b < e && lx->s[b] == '\t')
					b++;
			bool end = e - b == dl && !memcmp(lx->s + b, delim, dl);
			lx->i = e < lx->len ? e + 1 : e;
			lx->line++;
			if (end)
				break;
		}
	}
	sv_free(&lx->heredocs);
}

static bool is_op_char(char c)
{
	return c == ';' || c == '&' || c == '|' || c == '(' || c == ')' || c == '\n' || c == '`';
}

/* Skip a balanced ${…} or $(…) starting at s[i] ('{' or '('); returns the
 * index after it. */
static size_t skip_balanced(const char *s, size_t len, size_t i)
{
	char open = s[i], close = open == '{' ? '}' : ')';
	int depth = 0;
	for (; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		else if (s[i] == open)
			depth++;
		else if (s[i] == close && --depth == 0)
			return i + 1;
	}
	return len;
}

static void lex(const char *text, size_t len, struct toks *out)
{
	struct lexer lx = {text, len, 0, 1, {0}, {false}};
	bool want_delim = false, strip = false;
	while (lx.i < len) {
		char c = text[lx.i];
		if (c == ' ' || c == '\t') {
			lx.i++;
			continue;
		}
		if (c == '\\' && lx.i + 1 < len && text[lx.i + 1] == '\n') {
			lx.i += 2;
			lx.line++;
			continue;
		}
		if (c == '#') {
			while (lx.i < len && text[lx.i] != '\n')
				lx.i++;
			continue;
		}
		if (c == '\n') {
			push(out, T_OP, xstrdup("\n"), false, lx.line);
			lx.i++;
			lx.line++;
			skip_heredocs(&lx);
			continue;
		}
		if (c == '$' && lx.i + 1 < len && text[lx.i + 1] == '(' && !(lx.i + 2 < len && text[lx.i + 2] == '(')) {
			push(out, T_OP, xstrdup("$("), false, lx.line);
			lx.i += 2;
			continue;
		}
		if (is_op_char(c)) {
			char op[3] = {c, 0, 0};
			if ((c == ';' || c == '&' || c == '|') && lx.i + 1 < len && text[lx.i + 1] == c)
				op[1] = c;
			lx.i += strlen(op);
			push(out, T_OP, xstrdup(op), false, lx.line);
			continue;
		}
		if (c == '<' || c == '>') {
			char op[4] = {c, 0, 0, 0};
			size_t k = 1;
			if (lx.i + 1 < len && strchr("<>&|", text[lx.i + 1]))
				op[k++] = text[lx.i + 1];
			if (!strcmp(op, "<<") && lx.i + 2 < len && text[lx.i + 2] == '-')
				op[k++] = '-';
			lx.i += k;
			want_delim = !strcmp(op, "<<") || !strcmp(op, "<<-");
			strip = !strcmp(op, "<<-");
			push(out, T_REDIR, xstrdup(op), false, lx.line);
			continue;
		}
		/* a word */
		struct strbuf w;
		sb_init(&w);
		bool dyn = false, digits = true;
		unsigned line = lx.line;
		while (lx.i < len) {
			c = text[lx.i];
			if (c == ' ' || c == '\t' || is_op_char(c) || c == '<' || c == '>')
				break;
			if (c == '\\' && lx.i + 1 < len) {
				if (text[lx.i + 1] == '\n') {
					lx.i += 2;
					lx.line++;
					continue;
				}
				sb_addc(&w, text[lx.i + 1]);
				lx.i += 2;
				digits = false;
				continue;
			}
			if (c == '\'') {
				size_t e = lx.i + 1;
				while (e < len && text[e] != '\'')
					e++;
				for (size_t k = lx.i + 1; k < e; k++)
					if (text[k] == '\n')
						lx.line++;
				sb_add(&w, text + lx.i + 1, e - lx.i - 1);
				lx.i = e < len ? e + 1 : e;
				digits = false;
				continue;
			}
			if (c == '"') {
				size_t e = lx.i + 1;
				while (e < len && text[e] != '"') {
					if (text[e] == '\\' && e + 1 < len)
						e++;
					else if (text[e] == '$' || text[e] == '`')
						dyn = true;
					if (text[e] == '\n')
						lx.line++;
					e++;
				}
				sb_add(&w, text + lx.i + 1, e - lx.i - 1);
				lx.i = e < len ? e + 1 : e;
				digits = false;
				continue;
			}
			if (c == '$') {
				dyn = true;
				if (lx.i + 1 < len && (text[lx.i + 1] == '{' || text[lx.i + 1] == '(')) {
					size_t e = skip_balanced(text, len, lx.i + 1);
					for (size_t k = lx.i; k < e; k++)
						if (text[k] == '\n')
							lx.line++;
					lx.i = e;
					continue;
				}
			}
			if (c == '*' || c == '?' || c == '[' || c == '~')
				dyn = true;
			if (c < '0' || c > '9')
				digits = false;
			sb_addc(&w, c);
			lx.i++;
		}
		if (lx.i < len && digits && w.len && (text[lx.i] == '<' || text[lx.i] == '>')) {
			sb_free(&w); /* 2>/dev/null: the fd of a redirection */
			continue;
		}
		char *word = sb_detach(&w);
		if (want_delim) {
			if (lx.heredocs.n < 1024) {
				if (lx.heredocs.n < 64)
					lx.strip[lx.heredocs.n] = strip;
				sv_pushdup(&lx.heredocs, word);
			}
			want_delim = false;
		}
		push(out, T_WORD, word, dyn, line);
	}
	sv_free(&lx.heredocs);
}

static bool in_list(const char *w, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(w, *list))
			return true;
	return false;
}

/* keywords after which a command may follow */
static const char *const keywords[] = {"if", "then", "else", "elif", "fi", "while", "until", "do", "done",
				       "{", "}", "!", "esac", NULL};
/* builtins of NetBSD's sh, busybox ash and dash: never a file */
static const char *const builtins[] = {
	":", "[", "alias", "bg", "break", "cd", "continue", "echo", "eval", "exit", "export", "false", "fc", "fg",
	"getopts", "hash", "jobs", "kill", "local", "printf", "pwd", "read", "readonly", "return", "set", "setvar",
	"shift", "test", "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "wait", "let",
	"ulimit", NULL};
/* words that run the next word as the command */
static const char *const prefixes[] = {"exec", "command", "nohup", "env", "time", "nice", NULL};

static bool is_assignment(const char *w)
{
	const char *eq = strchr(w, '=');
	if (!eq || eq == w)
		return false;
	for (const char *p = w; p < eq; p++)
		if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (p > w && *p >= '0' && *p <= '9')))
			return false;
	return true;
}

static void add_cmd(struct rcscan *out, const struct tok *t, bool sourced)
{
	VEC_GROW(out->v, out->n, out->cap);
	out->v[out->n++] = (struct rcscan_cmd){xstrdup(t->text), t->line, sourced};
}

void rcscan_text(const char *text, size_t len, struct rcscan *out)
{
	struct toks t = {0};
	lex(text, len, &t);
	struct strvec funcs = {0};
	size_t first = out->n;
	enum { S_CMD, S_ARGS, S_PREFIX, S_SOURCE, S_CASE_WORD, S_CASE_IN, S_PATTERN, S_FOR } st = S_CMD;
	unsigned case_depth = 0;
	for (size_t i = 0; i < t.n; i++) {
		struct tok *k = &t.v[i];
		if (k->kind == T_REDIR) {
			if (i + 1 < t.n && t.v[i + 1].kind == T_WORD)
				i++; /* its target */
			continue;
		}
		if (k->kind == T_OP) {
			if (st == S_PATTERN) {
				if (!strcmp(k->text, ")"))
					st = S_CMD;
				continue;
			}
			if (st == S_CASE_WORD || st == S_CASE_IN)
				continue;
			if (!strcmp(k->text, ";;"))
				st = case_depth ? S_PATTERN : S_CMD;
			else if (st == S_FOR && strcmp(k->text, ";") && strcmp(k->text, "\n"))
				continue;
			else
				st = S_CMD;
			continue;
		}
		switch (st) {
		case S_CASE_WORD:
			st = S_CASE_IN;
			continue;
		case S_CASE_IN:
			if (!strcmp(k->text, "in"))
				st = S_PATTERN;
			continue;
		case S_PATTERN:
			if (!strcmp(k->text, "esac") && case_depth) {
				case_depth--;
				st = S_ARGS;
			}
			continue;
		case S_FOR:
		case S_ARGS:
			continue;
		case S_SOURCE:
			if (!k->dynamic)
				add_cmd(out, k, true);
			st = S_ARGS;
			continue;
		case S_CMD:
		case S_PREFIX:
			break;
		}
		/* a word where a command may stand */
		if (st == S_CMD && i + 2 < t.n && t.v[i + 1].kind == T_OP && !strcmp(t.v[i + 1].text, "(") &&
		    t.v[i + 2].kind == T_OP && !strcmp(t.v[i + 2].text, ")")) {
			sv_pushdup(&funcs, k->text); /* name() { … } */
			i += 2;
			continue;
		}
		if (st == S_PREFIX && k->text[0] == '-') /* exec -a, nice -n 5 … */
			continue;
		if (st == S_PREFIX && k->text[0] >= '0' && k->text[0] <= '9')
			continue;
		if (is_assignment(k->text))
			continue;
		if (k->dynamic) {
			st = S_ARGS;
			continue;
		}
		if (st == S_CMD && in_list(k->text, keywords))
			continue;
		if (st == S_CMD && !strcmp(k->text, "case")) {
			case_depth++;
			st = S_CASE_WORD;
			continue;
		}
		if (st == S_CMD && (!strcmp(k->text, "for") || !strcmp(k->text, "select"))) {
			st = S_FOR;
			continue;
		}
		if (!strcmp(k->text, ".") || !strcmp(k->text, "source")) {
			st = S_SOURCE;
			continue;
		}
		if (in_list(k->text, prefixes)) {
			st = S_PREFIX;
			continue;
		}
		if (in_list(k->text, builtins)) {
			st = S_ARGS;
			continue;
		}
		add_cmd(out, k, false);
		st = S_ARGS;
	}
	/* functions the script defines are not programs */
	size_t o = first;
	for (size_t i = first; i < out->n; i++) {
		bool fn = false;
		for (size_t f = 0; f < funcs.n && !fn && !out->v[i].sourced; f++)
			fn = !strcmp(funcs.v[f], out->v[i].word);
		if (fn)
			free(out->v[i].word);
		else
			out->v[o++] = out->v[i];
	}
	out->n = o;
	sv_free(&funcs);
	for (size_t i = 0; i < t.n; i++)
		free(t.v[i].text);
	free(t.v);
}

void rcscan_free(struct rcscan *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].word);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
