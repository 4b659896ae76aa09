/* opt.c — the option parser and help generator of every command (opt.h). */
#include "opt.h"
#include "exitcode.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum opt_dump_mode opt_dump_mode = OPT_DUMP_NONE;

void opt_man_text(FILE *out, const char *s)
{
	bool bol = true;
	for (; *s; s++) {
		if (bol && (*s == '.' || *s == '\''))
			fputs("\\&", out);
		bol = false;
		if (*s == '\\') {
			fputs("\\e", out);
		} else if (*s == '\n') {
			if (!s[1])
				break;
			fputc('\n', out);
			bol = true;
		} else {
			fputc(*s, out);
		}
	}
	fputc('\n', out);
}

/* An option's names as mdoc: "Fl d , Fl \-detach" (with "Ar X"). */
static void man_item(FILE *out, const struct opt *o)
{
	fputs(".It", out);
	if (o->short_name)
		fprintf(out, " Fl %c ,", o->short_name);
	fprintf(out, " Fl \\-%s", o->name);
	if (o->argh)
		fprintf(out, " Ar \"%s\"", o->argh);
	fputc('\n', out);
}

void opt_dump(const struct opt_cmd *cmd, const struct opt *opts, FILE *out)
{
	if (opt_dump_mode == OPT_DUMP_BASH) {
		fprintf(out, "\t%s) opts='", cmd->name);
		for (const struct opt *o = opts; o->kind != OPT_END; o++) {
			if (o->short_name)
				fprintf(out, "-%c ", o->short_name);
			fprintf(out, "--%s ", o->name);
		}
		fputs("-h --help'; argopts='", out);
		bool first = true;
		for (const struct opt *o = opts; o->kind != OPT_END; o++) {
			if (!o->argh)
				continue;
			if (o->short_name)
				fprintf(out, "%s-%c", first ? "" : " ", o->short_name);
			fprintf(out, "%s--%s", first && !o->short_name ? "" : " ", o->name);
			first = false;
		}
		fputs("' ;;\n", out);
		return;
	}
	fprintf(out, ".Nm\n.Cm %s\n", cmd->name);
	opt_man_text(out, cmd->synopsis);
	if (cmd->about) {
		fputs(".Bd -literal -offset indent\n", out);
		opt_man_text(out, cmd->about);
		fputs(".Ed\n", out);
	}
	fputs(".Bl -tag -width Ds\n", out);
	for (const struct opt *o = opts; o->kind != OPT_END; o++) {
		man_item(out, o);
		opt_man_text(out, o->help);
	}
	fputs(".It Fl h , Fl \\-help\nthis help\n.El\n", out);
	if (cmd->footer) {
		fputs(".Bd -literal -offset indent\n", out);
		opt_man_text(out, cmd->footer);
		fputs(".Ed\n", out);
	}
}

int opt_error(const struct opt_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "smolc: %s: ", cmd->name);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nRun 'smolc help %s' for its options.\n", cmd->name);
	va_end(ap);
	return EXIT_USAGE;
}

int opt_build_arg_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	struct strvec *sv = value;
	size_t nl = strcspn(arg, "=");
	if (nl == 0)
		return opt_error(cmd, "--build-arg takes NAME=VALUE or NAME, not '%s'", arg);
	if (arg[nl]) {
		sv_pushdup(sv, arg);
		return 0;
	}
	const char *env = getenv(arg);
	if (!env) {
		fprintf(stderr,
			"smolc: %s: --build-arg %s: %s is not set in the environment; give --build-arg %s=VALUE\n",
			cmd->name, arg, arg, arg);
		return EXIT_USAGE;
	}
	sv_push(sv, xasprintf("%s=%s", arg, env));
	return 0;
}

/* Store a value (arg NULL for a flag). Returns 0 or an exit code. */
static int apply(const struct opt_cmd *cmd, const struct opt *o, const char *arg)
{
	switch (o->kind) {
	case OPT_FLAG:
		*(bool *)o->value = true;
		return 0;
	case OPT_STRING:
		*(const char **)o->value = arg;
		return 0;
	case OPT_CALL:
		return o->cb(cmd, arg, o->value);
	case OPT_END:
		break;
	}
	abort();
}

static const struct opt *find_long(const struct opt *opts, const char *name, size_t len)
{
	for (const struct opt *o = opts; o->kind != OPT_END; o++)
		if (strlen(o->name) == len && !memcmp(o->name, name, len))
			return o;
	return NULL;
}

static const struct opt *find_short(const struct opt *opts, char c)
{
	for (const struct opt *o = opts; o->kind != OPT_END; o++)
		if (o->short_name && o->short_name == c)
			return o;
	return NULL;
}

static int positional(const struct opt_cmd *cmd, const char *a, const char **args, size_t *nargs)
{
	if (*nargs >= cmd->max_args) {
		if (!cmd->max_args)
			return opt_error(cmd, "takes no arguments, got '%s'", a);
		return opt_error(cmd, "takes %s %s, got also '%s'", cmd->max_args == 1 ? "one" : "at most these",
				 cmd->arg_name, a);
	}
	args[(*nargs)++] = a;
	return 0;
}

int opt_parse(const struct opt_cmd *cmd, const struct opt *opts, int argc, char **argv, const char **args,
	      size_t *nargs)
{
	*nargs = 0;
	if (opt_dump_mode != OPT_DUMP_NONE) {
		opt_dump(cmd, opts, stdout);
		return EXIT_OK;
	}
	bool only_args = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int rc;
		if (only_args || a[0] != '-' || !a[1]) {
			if ((rc = positional(cmd, a, args, nargs)))
				return rc;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_args = true;
			continue;
		}
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			if (len == 4 && !memcmp(name, "help", 4) && !eq && !find_long(opts, "help", 4)) {
				opt_usage(cmd, opts, stdout);
				return EXIT_OK;
			}
			const struct opt *o = find_long(opts, name, len);
			if (!o)
				return opt_error(cmd, "unknown option '%.*s'", (int)len + 2, a);
			const char *val = NULL;
			if (o->argh) {
				if (eq)
					val = eq + 1;
				else if (i + 1 < argc)
					val = argv[++i];
				else
					return opt_error(cmd, "option '--%s' needs a value (%s)", o->name, o->argh);
			} else if (eq) {
				return opt_error(cmd, "option '--%s' takes no value", o->name);
			}
			if ((rc = apply(cmd, o, val)))
				return rc;
			continue;
		}
		/* one or more short options: -d, -df, -p80:80, -p 80:80 */
		for (const char *p = a + 1; *p; p++) {
			if (*p == 'h' && !find_short(opts, 'h')) {
				opt_usage(cmd, opts, stdout);
				return EXIT_OK;
			}
			const struct opt *o = find_short(opts, *p);
			if (!o)
				return opt_error(cmd, "unknown option '-%c'", *p);
			if (!o->argh) {
				if ((rc = apply(cmd, o, NULL)))
					return rc;
				continue;
			}
			const char *val;
			if (p[1])
				val = p + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return opt_error(cmd, "option '-%c' needs a value (%s)", *p, o->argh);
			if ((rc = apply(cmd, o, val)))
				return rc;
			break;
		}
	}
	return -1;
}

void opt_usage(const struct opt_cmd *cmd, const struct opt *opts, FILE *out)
{
	fprintf(out, "usage: smolc %s %s\n", cmd->name, cmd->synopsis);
	if (cmd->about)
		fprintf(out, "\n%s", cmd->about);
	fputs("\noptions:\n", out);
	for (const struct opt *o = opts; o->kind != OPT_END; o++) {
		char left[64];
		snprintf(left, sizeof(left), "%s%c%s--%s%s%s", o->short_name ? "-" : " ", o->short_name ? o->short_name : ' ',
			 o->short_name ? ", " : "  ", o->name, o->argh ? " " : "", o->argh ? o->argh : "");
		const char *h = o->help;
		size_t w = strlen(left);
		fprintf(out, "  %s", left);
		/* the help column starts at 28; a longer left part gets its own line */
		if (w > 24)
			fprintf(out, "\n%28s", "");
		else
			fprintf(out, "%*s", (int)(26 - w), "");
		for (;;) {
			const char *nl = strchr(h, '\n');
			if (!nl) {
				fprintf(out, "%s\n", h);
				break;
			}
			fprintf(out, "%.*s\n%28s", (int)(nl - h), h, "");
			h = nl + 1;
		}
	}
	fprintf(out, "  -h, --help                this help\n");
	if (cmd->footer)
		fprintf(out, "\n%s", cmd->footer);
}
