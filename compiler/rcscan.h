/* rcscan.h — the programs a shell script runs, found without running it:
 * the command word of every simple command (after assignments,
 * redirections and the prefixes exec, command, nohup, env, time, nice),
 * in the script and in its $( ) and ` ` substitutions, and the files it
 * sources with `.` or `source`. For MINIMIZE (SPEC.md): a program a boot
 * script names must stay in the image.
 *
 * Not found, by design: words built at run time (with $, `, globs or
 * quotes around a variable), shell builtins and keywords, functions the
 * script defines, commands run through eval or another interpreter's
 * arguments (sh -c '…'). Heredoc bodies are data, not commands.
 *
 * Bounded: one pass over the text, linear in its length. */
#ifndef SMOLC_RCSCAN_H
#define SMOLC_RCSCAN_H

#include <stdbool.h>
#include <stddef.h>

struct rcscan_cmd {
	char *word;        /* the program as written ("/usr/bin/curl", "httpd") */
	unsigned line;     /* 1-based line of the script */
	bool sourced;      /* `. file` / `source file`: a script read by the shell */
};

struct rcscan {
	struct rcscan_cmd *v;
	size_t n, cap;
};

/* Append the commands of text[0..len) to out, in order (duplicates kept). */
void rcscan_text(const char *text, size_t len, struct rcscan *out);
void rcscan_free(struct rcscan *s); /* frees contents, not s */

#endif
