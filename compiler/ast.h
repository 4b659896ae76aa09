/* ast.h — the syntax tree the grammar builds: a list of instructions, each
 * a keyword and its argument words, with heredoc bodies attached.
 *
 * Words are not copied: a word is a location in the source (raw text,
 * quotes included); lower.c unquotes and expands it. Heredoc bodies are
 * owned by the ast (ast->heredocs); an argument refers to one by index.
 * parse_state is the reentrant scanner's and pure parser's shared state:
 * no globals anywhere in the front end. */
#ifndef SMOLC_AST_H
#define SMOLC_AST_H

#include "diag.h"
#include "util.h"

struct heredoc {
	struct loc op;        /* the "<<EOF" operator */
	char *delim;          /* delimiter word, unquoted */
	bool strip_tabs;      /* <<-EOF */
	bool quoted;          /* <<'EOF' or <<"EOF": no expansion */
	bool complete;        /* the closing delimiter was found */
	char *body;           /* text (lines joined with \n, trailing \n kept) */
	size_t body_len;
	struct loc body_loc;  /* the body lines, for diagnostics */
};

enum aword_kind { AW_WORD, AW_HEREDOC };

struct aword {
	enum aword_kind kind;
	struct loc loc;
	uint32_t heredoc;     /* AW_HEREDOC: index into ast.heredocs */
};

struct ainstr {
	struct loc kw;        /* the instruction keyword */
	struct loc line;      /* keyword through last argument */
	struct aword *args;   /* into ast.args; set when parsing ends */
	uint32_t first;       /* index of args[0] in ast.args */
	uint32_t nargs;
};

/* All instructions' arguments live in one array (ast.args): one
 * allocation for the file, not one per instruction. */
struct ast {
	uint32_t file;
	struct ainstr *v;
	size_t n, cap;
	struct aword *args;
	size_t nargs, capargs;
	struct heredoc *heredocs;
	size_t nheredocs, caphd;
	char esc;             /* the escape character: '\\', or '`' ("# escape=`") */
};

void ast_free(struct ast *a);  /* frees contents, not a itself */

/* Shared by the scanner and the parser (see grammar/). */
struct parse_state {
	struct diag_ctx *diag;
	uint32_t file;
	const char *src;
	size_t len;
	uint32_t off;             /* scanner position (bytes) */
	size_t in_off;            /* how much of src YY_INPUT has handed over */
	struct ast *ast;
	struct ainstr cur;        /* instruction being built */
	bool in_instr;
	bool at_eof_newline;      /* synthetic final NEWLINE emitted */
	size_t hd_next;           /* next heredoc awaiting its body */
	struct strbuf body;
	uint32_t body_start;
	bool has_bad;             /* a token with a lexical error was seen … */
	uint32_t bad_off;         /* … the last one starts here */
	char esc;                 /* the escape character ('\\' or '`') */
	bool started;             /* the scanner has run once (start condition set) */
};

void ps_begin_instr(struct parse_state *ps, struct loc kw);
void ps_add_word(struct parse_state *ps, struct loc w);
void ps_add_heredoc(struct parse_state *ps, struct loc w, uint32_t idx);
void ps_end_instr(struct parse_state *ps);
void ps_abort_instr(struct parse_state *ps);
/* Called by the scanner when it sees a heredoc operator: registers it and
 * returns its index. */
uint32_t ps_new_heredoc(struct parse_state *ps, struct loc op, const char *text, size_t len);

#endif
