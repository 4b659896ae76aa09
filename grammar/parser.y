/* parser.y — pure bison grammar for Smolfiles.
 *
 * The language is line-oriented: a file is a list of lines, each an
 * instruction (a keyword and its words) or empty. Which keywords exist and
 * what their arguments mean is decided by lower.c, so the grammar stays
 * small, conflict-free (%expect 0) and recovers at every newline. The
 * instruction under construction lives in the parse_state, so no semantic
 * value owns memory and error recovery cannot leak. */
%define api.pure full
%define parse.error detailed
%define api.location.type {struct loc}
%locations
%expect 0

%code requires {
#include "ast.h"
typedef void *yyscan_t;
}

%param {yyscan_t scanner}
%parse-param {struct parse_state *ps}

%code {
#include "lexer.h"
static void yyerror(YYLTYPE *loc, yyscan_t scanner, struct parse_state *ps, const char *msg);
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                          \
	do {                                                                 \
		if (N) (Cur) = loc_span(YYRHSLOC(Rhs, 1), YYRHSLOC(Rhs, N)); \
		else { (Cur) = YYRHSLOC(Rhs, 0); (Cur).off += (Cur).len; (Cur).len = 0; } \
	} while (0)
}

%union {
	uint32_t heredoc;
}

%token WORD "word"
%token <heredoc> HEREDOC "heredoc"
%token NEWLINE "end of line"

%%

file
	: %empty
	| file line
	;

line
	: NEWLINE
	| instr NEWLINE         { ps_end_instr(ps); }
	| error NEWLINE         { ps_abort_instr(ps); yyerrok; }
	;

instr
	: WORD                  { ps_begin_instr(ps, @1); }
	| instr WORD            { ps_add_word(ps, @2); }
	| instr HEREDOC         { ps_add_heredoc(ps, @2, $2); }
	;

%%

static void yyerror(YYLTYPE *loc, yyscan_t scanner, struct parse_state *ps, const char *msg)
{
	(void)scanner;
	(void)msg;
	/* The only syntax error the grammar admits is a line that does not
	 * start with an instruction word (it starts with a heredoc). */
	struct diag *g = diag_error(ps->diag, *loc, "expected an instruction at the start of the line");
	diag_hint(g, "a heredoc must follow an instruction, as in 'RC <<EOF'");
}
