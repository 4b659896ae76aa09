/* opt.h — the one option parser of every smolc command.
 *
 * Each command describes its options in a table (like git's
 * parse-options): long name, short letter, the name of its argument (NULL
 * for a flag), help text, and where the value goes. opt_parse() reads
 * argv with that table, and opt_usage() prints `smolc CMD --help` (and
 * `smolc help CMD`) from the same table, so the two cannot drift.
 *
 * Accepted forms: --name, --name VALUE, --name=VALUE, -x, -x VALUE,
 * -xVALUE, clustered flags (-df), and `--` to end the options. Options
 * and arguments may come in any order. Every parse error is one line on
 * stderr naming the command and the option, then a pointer to its help,
 * and exit code 2:
 *   smolc: build: unknown option '--bogus'
 *   smolc: build: option '--build-arg' needs a value
 *   smolc: build: takes one Smolfile, got also 'Other'
 *   Run 'smolc help build' for its options.
 *
 * The options several commands share are defined once below
 * (OPT_BUILD_ARG, OPT_JSON, OPT_QUIET, OPT_CACHE_DIR, OPT_MIRROR ...). */
#ifndef SMOLC_OPT_H
#define SMOLC_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util.h"

enum opt_kind {
	OPT_END,     /* the table's terminator */
	OPT_FLAG,    /* bool *value = true */
	OPT_STRING,  /* const char **value = the argument (borrowed from argv) */
	OPT_CALL,    /* cb(cmd, arg, value); arg NULL for a flag */
};

struct opt_cmd;

/* Callback of an OPT_CALL option. Returns 0, or an exit code after having
 * printed what is wrong with the value (opt_error()). */
typedef int (*opt_cb)(const struct opt_cmd *cmd, const char *arg, void *value);

struct opt {
	enum opt_kind kind;
	const char *name;   /* long name without "--" */
	char short_name;    /* 0: none */
	const char *argh;   /* argument shown in help ("DIR"); NULL: a flag */
	const char *help;   /* one line; "\n" continues it on the next line */
	void *value;
	opt_cb cb;
};

/* A command: what its usage line, text and arguments are. */
struct opt_cmd {
	const char *name;      /* "build" */
	const char *synopsis;  /* after "usage: smolc <name> ": "[options] [Smolfile]" */
	const char *about;     /* paragraphs between the usage line and the options */
	const char *footer;    /* text after the options, or NULL */
	const char *arg_name;  /* "Smolfile": names the argument in "takes one Smolfile" */
	size_t max_args;       /* positional arguments allowed */
};

#define OPT_FLAG_(l, s, h, v) {OPT_FLAG, (l), (s), NULL, (h), (v), NULL}
#define OPT_STRING_(l, s, a, h, v) {OPT_STRING, (l), (s), (a), (h), (v), NULL}
#define OPT_CALL_(l, s, a, h, v, f) {OPT_CALL, (l), (s), (a), (h), (v), (f)}
#define OPT_END_() {OPT_END, NULL, 0, NULL, NULL, NULL, NULL}

/* --build-arg NAME=VALUE, repeatable, into a struct strvec of
 * "NAME=VALUE". A bare NAME takes its value from the environment (as
 * Docker does); it is an error when NAME is not set there. */
int opt_build_arg_cb(const struct opt_cmd *cmd, const char *arg, void *value);
#define OPT_BUILD_ARG(sv)                                                                                   \
	OPT_CALL_("build-arg", 0, "NAME[=VALUE]", "set ARG NAME (repeatable); a bare NAME takes its value\n"   \
		  "from the environment", (sv), opt_build_arg_cb)
#define OPT_JSON(b, h) OPT_FLAG_("json", 0, (h), (b))
#define OPT_QUIET(b) OPT_FLAG_("quiet", 'q', "print only errors", (b))
#define OPT_CACHE_DIR(s)                                                                                    \
	OPT_STRING_("cache-dir", 0, "DIR", "cache directory (default: $SMOLC_CACHE, $XDG_CACHE_HOME/smolc,\n" \
		    "~/.cache/smolc)", (s))
#define OPT_MIRROR(s) OPT_STRING_("mirror", 0, "URL", "NetBSD mirror (default: the catalog's, or $SMOLC_MIRROR)", (s))
#define OPT_OFFLINE(b, h) OPT_FLAG_("offline", 0, (h), (b))
#define OPT_UPDATE_LOCK(b, h) OPT_FLAG_("update-lock", 0, (h), (b))
#define OPT_RECIPE_FILE(s)                                                                                  \
	OPT_STRING_("file", 'f', "FILE", "the recipe (a Smolfile, Dockerfile or SMOLerfile); the argument is\n" \
		    "then the build context (default: the current directory)", (s))

/* `smolc --dump-man` / `--dump-completion` (hidden; `make` writes
 * build/smolc.1 and build/smolc.bash with them, so the manual and the
 * completion come from the same tables as --help and cannot drift): main
 * sets the mode and calls each command with `--help`; opt_parse then writes
 * the command's options in that format on stdout (opt_dump) instead of its
 * help, and returns 0. */
enum opt_dump_mode { OPT_DUMP_NONE, OPT_DUMP_MAN, OPT_DUMP_BASH };
extern enum opt_dump_mode opt_dump_mode;
/* The command's options: in mdoc (its synopsis, about text, an .Bl -tag
 * list of options, footer; the caller writes the .Ss line), or as the bash completion's case arm
 * "NAME) opts='…'; argopts='…' ;;" (argopts: the options taking a value). */
void opt_dump(const struct opt_cmd *cmd, const struct opt *opts, FILE *out);
/* Text as mdoc text lines: backslashes as \e, a '.' or '\'' that starts a
 * line made literal (\&); one trailing newline. */
void opt_man_text(FILE *out, const char *s);

/* Parse argv (argv[0] = the command name) with opts. Positional
 * arguments go to args[0 .. *nargs) (borrowed from argv; args has room for
 * cmd->max_args). Returns -1 to go on, 0 after printing the help for
 * --help/-h, or 2 after a usage error (message printed). */
int opt_parse(const struct opt_cmd *cmd, const struct opt *opts, int argc, char **argv, const char **args,
	      size_t *nargs);

/* The command's help, generated from the table. */
void opt_usage(const struct opt_cmd *cmd, const struct opt *opts, FILE *out);

/* "smolc: <cmd>: <message>\nRun 'smolc help <cmd>' for its options." on
 * stderr; returns 2 (EXIT_USAGE). */
int opt_error(const struct opt_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
