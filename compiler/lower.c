/* lower.c — see lower.h. One function per instruction, dispatched by a
 * switch on the IR kind; the keyword table is the single list of
 * instructions. */
#include "lower.h"
#include "parse.h"
#include "runconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct ir_info infos[IR__COUNT] = {
	[IR_FROM] = {"FROM", IR_FROM, true, "FROM scratch | netbsd-<version> | <service or Smolfile path>"},
	[IR_SETS] = {"SETS", IR_SETS, false, "SETS <set>[:<glob>[,<glob>…]] [sha256:<hex>] …"},
	[IR_PKGS] = {"PKGS", IR_PKGS, false, "PKGS [--no-scripts] <name-or-pattern> …"},
	[IR_RC] = {"RC", IR_RC, true, "RC <<EOF … EOF | RC <file>"},
	[IR_POSTINST] = {"POSTINST", IR_POSTINST, false, "POSTINST [--network] [--timeout=<seconds>] [--chown=<user>[:<group>]] <<EOF … EOF | <file>"},
	[IR_PORTS] = {"PORTS", IR_PORTS, false, "PORTS [<host-addr>:]<host-port>:<guest-port>[/tcp|/udp] …"},
	[IR_KERNEL] = {"KERNEL", IR_KERNEL, true, "KERNEL <name|URL|path> [sha256:<hex>]"},
	[IR_ARG] = {"ARG", IR_ARG, false, "ARG <NAME>[=<default>]"},
	[IR_ENV] = {"ENV", IR_ENV, false, "ENV <NAME>=<value> …"},
	[IR_COPY] = {"COPY", IR_COPY, false, "COPY [--chown=<user>[:<group>]] [--mode=<octal>] <src>… <dst>"},
	[IR_SERVICE] = {"SERVICE", IR_SERVICE, true, "SERVICE <name>"},
	[IR_ARCH] = {"ARCH", IR_ARCH, true, "ARCH amd64 | i386 | evbarm-aarch64"},
	[IR_SIZE] = {"SIZE", IR_SIZE, true, "SIZE <n>M | <n>G | auto | auto+<n>M"},
	[IR_MEM] = {"MEM", IR_MEM, true, "MEM <n>M | <n>G"},
	[IR_CPUS] = {"CPUS", IR_CPUS, true, "CPUS <n>"},
	[IR_SHARE] = {"SHARE", IR_SHARE, false, "SHARE <host-dir>:<guest-dir>"},
	[IR_READONLY] = {"READONLY", IR_READONLY, true, "READONLY"},
	[IR_INCLUDE] = {"INCLUDE", IR_INCLUDE, false, "INCLUDE <file>"},
	[IR_LABEL] = {"LABEL", IR_LABEL, false, "LABEL <key>=<value> …"},
	[IR_CMD] = {"CMD", IR_CMD, true, "CMD <command>"},
	[IR_PROFILE] = {"PROFILE", IR_PROFILE, true, "PROFILE netbsd | linux"},
	[IR_APPEND] = {"APPEND", IR_APPEND, true, "APPEND <kernel arguments>"},
	[IR_PKGSITE] = {"PKGSITE", IR_PKGSITE, true, "PKGSITE <url>"},
	[IR_RUN] = {"RUN", IR_RUN, false, "RUN [--network] [--timeout=<seconds>] [--mem=<size>] <<EOF … EOF | RUN <command line>"},
	[IR_INITRD] = {"INITRD", IR_INITRD, true, "INITRD <URL|path> [sha256:<hex>]"},
	[IR_EXPOSE] = {"EXPOSE", IR_EXPOSE, false, "EXPOSE <port>[/tcp|/udp] …"},
	[IR_USER] = {"USER", IR_USER, false, "USER <user>[:<group>]"},
	[IR_WORKDIR] = {"WORKDIR", IR_WORKDIR, false, "WORKDIR <dir>"},
	[IR_VOLUME] = {"VOLUME", IR_VOLUME, false, "VOLUME <guest-dir> … | VOLUME [\"<guest-dir>\", …]"},
	[IR_ENTRYPOINT] = {"ENTRYPOINT", IR_ENTRYPOINT, true, "ENTRYPOINT <command> | ENTRYPOINT [\"prog\", \"arg\"]"},
	[IR_KEEP] = {"KEEP", IR_KEEP, false, "KEEP <path|glob|pkg:name> …"},
	[IR_MINIMIZE] = {"MINIMIZE", IR_MINIMIZE, true, "MINIMIZE [auto|off]"},
	[IR_FWCFG] = {"FWCFG", IR_FWCFG, false, "FWCFG [--file] <NAME>=<value> …"},
};

const struct ir_info *ir_info(enum ir_kind k)
{
	if ((unsigned)k >= IR__COUNT)
		abort();
	return &infos[k];
}

const struct ir_info *ir_lookup(const char *kw)
{
	for (size_t i = 0; i < IR__COUNT; i++)
		if (str_ieq(kw, infos[i].name))
			return &infos[i];
	return NULL;
}

/* Dockerfile words people type out of habit, and what smolc calls them.
 * A plain keyword is a typo ("did you mean"); a sentence explains. */
static const struct {
	const char *word, *instead;
} aliases[] = {
	{"PORT", "PORTS"},
	{"SET", "SETS"},
	{"PKG", "PKGS"},
	{"PACKAGES", "PKGS"},
	{"IMGSIZE", "SIZE"},
	{"FW_CFG", "FWCFG"},
};

const char *ir_suggest(const char *kw)
{
	for (size_t i = 0; i < ARRAY_LEN(aliases); i++)
		if (str_ieq(kw, aliases[i].word))
			return aliases[i].instead;
	const char *best = NULL;
	size_t bd = strlen(kw) <= 3 ? 2 : 3;
	for (size_t i = 0; i < IR__COUNT; i++) {
		size_t d = levenshtein(kw, infos[i].name);
		if (d < bd) {
			bd = d;
			best = infos[i].name;
		}
	}
	return best;
}

struct ir_node *recipe_push(struct recipe *r, enum ir_kind k, struct loc loc)
{
	VEC_GROW(r->v, r->n, r->cap);
	struct ir_node *n = &r->v[r->n++];
	memset(n, 0, sizeof(*n));
	n->kind = k;
	n->loc = loc;
	n->arg_loc = loc;
	if (k == IR_COPY)
		n->u.copy = xcalloc(1, sizeof(*n->u.copy));
	else if (k == IR_RC || k == IR_POSTINST || k == IR_RUN)
		n->u.script = xcalloc(1, sizeof(*n->u.script));
	return n;
}

const char *recipe_pkgsite(const struct recipe_settings *s)
{
	const char *env = getenv("PKGSITE");
	return s->pkgsite ? s->pkgsite : env && *env ? env : NULL;
}

static void node_free(struct ir_node *n)
{
	switch (n->kind) {
	case IR_FROM:
		free(n->u.from.name);
		free(n->u.from.version);
		break;
	case IR_SETS:
		for (size_t i = 0; i < n->u.sets.n; i++) {
			free(n->u.sets.v[i].ref);
			sv_free(&n->u.sets.v[i].globs);
			free(n->u.sets.v[i].sha256);
		}
		free(n->u.sets.v);
		break;
	case IR_PKGS:
	case IR_KEEP:
		sv_free(&n->u.pkgs.pats);
		free(n->u.pkgs.locs);
		break;
	case IR_RC:
	case IR_POSTINST:
	case IR_RUN:
		free(n->u.script->text);
		free(n->u.script->path);
		free(n->u.script->chown.spec);
		free(n->u.script);
		break;
	case IR_PORTS:
		for (size_t i = 0; i < n->u.ports.n; i++)
			free(n->u.ports.v[i].host_addr);
		free(n->u.ports.v);
		break;
	case IR_KERNEL:
	case IR_INITRD:
		free(n->u.kernel.ref);
		free(n->u.kernel.sha256);
		break;
	case IR_ARG:
	case IR_ENV:
		free(n->u.var.name);
		free(n->u.var.value);
		break;
	case IR_COPY:
		sv_free(&n->u.copy->srcs);
		free(n->u.copy->src_locs);
		free(n->u.copy->src_st);
		free(n->u.copy->dst);
		free(n->u.copy->chown.spec);
		free(n->u.copy->url);
		free(n->u.copy->checksum);
		free(n->u.copy);
		break;
	case IR_SERVICE:
	case IR_ARCH:
	case IR_PROFILE:
	case IR_CMD:
	case IR_ENTRYPOINT:
		free(n->u.cmd.text);
		break;
	case IR_EXPOSE:
		free(n->u.expose);
		break;
	case IR_USER:
	case IR_WORKDIR:
	case IR_VOLUME:
		free(n->u.str);
		break;
	case IR_APPEND:
	case IR_PKGSITE:
	case IR_INCLUDE:
		free(n->u.str);
		break;
	case IR_SHARE:
		free(n->u.share.host);
		free(n->u.share.guest);
		break;
	case IR_LABEL:
		free(n->u.label.key);
		free(n->u.label.value);
		break;
	case IR_FWCFG:
		free(n->u.fwcfg.name);
		free(n->u.fwcfg.value);
		break;
	case IR_SIZE:
	case IR_MEM:
	case IR_CPUS:
	case IR_READONLY:
	case IR_MINIMIZE:
		break;
	case IR__COUNT:
	default:
		abort();
	}
}

void recipe_free(struct recipe *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		node_free(&r->v[i]);
	free(r->v);
	free(r->path);
	free(r->dir);
	free(r->boot_cmd);
	sv_free(&r->build_args);
	recipe_free(r->parent);
	free(r);
}

/* ---- helpers over argument words ---- */

struct lw {
	struct lower_ctx *lc;
	const struct ast *ast;
	const struct ainstr *in;
	const struct ir_info *info;
	const struct srcfile *f;
};

static const char *raw_at(const struct lw *w, struct loc l)
{
	return w->f->data + l.off;
}

/* Expanded argument i, or NULL (diagnosed). Heredocs are rejected. */
static char *arg_word(const struct lw *w, size_t i)
{
	const struct aword *a = &w->in->args[i];
	if (a->kind == AW_HEREDOC) {
		struct diag *g = diag_error(w->lc->diag, a->loc, "%s does not take a heredoc", w->info->name);
		diag_hint(g, "usage: %s", w->info->usage);
		return NULL;
	}
	struct expand_opts o = {w->ast->esc, false};
	return expand_word_ex(w->lc->diag, a->loc, raw_at(w, a->loc), a->loc.len, &w->lc->env, &o);
}

static void usage_error(const struct lw *w, struct loc at, const char *fmt, const char *what)
{
	struct diag *g = diag_error(w->lc->diag, at, fmt, w->info->name, what);
	diag_hint(g, "usage: %s", w->info->usage);
}

/* Expanded argument i that must not be empty, or NULL (diagnosed). */
static char *arg_nonempty(const struct lw *w, size_t i)
{
	char *s = arg_word(w, i);
	if (s && !*s) {
		usage_error(w, w->in->args[i].loc, "%s: %s is empty", "the argument");
		free(s);
		return NULL;
	}
	return s;
}

static bool want_args(const struct lw *w, size_t min, size_t max)
{
	size_t n = w->in->nargs;
	if (n < min) {
		struct loc at = w->in->line;
		at.off += at.len;
		at.len = 0;
		usage_error(w, at, "%s needs %s", min == 1 ? "an argument" : "more arguments");
		return false;
	}
	if (n > max) {
		struct loc at = loc_span(w->in->args[max].loc, w->in->args[n - 1].loc);
		usage_error(w, at, "%s takes %s", max == 0 ? "no arguments" : max == 1 ? "one argument" : "fewer arguments");
		return false;
	}
	return true;
}

/* Parse "<n>[K|M|G|T]" (binary units; bare number = `bare_unit`).
 * Returns false on syntax error. */
static bool parse_size(const char *s, uint64_t bare_unit, uint64_t *out)
{
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return false;
	uint64_t unit = bare_unit;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K':
			unit = 1ull << 10;
			break;
		case 'M':
			unit = 1ull << 20;
			break;
		case 'G':
			unit = 1ull << 30;
			break;
		case 'T':
			unit = 1ull << 40;
			break;
		default:
			return false;
		}
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return false;
	}
	if (v > UINT64_MAX / unit)
		return false;
	*out = v * unit;
	return true;
}

static bool looks_like_url(const char *s)
{
	return strstr(s, "://") != NULL;
}

static bool looks_like_path(const char *s)
{
	return strchr(s, '/') || str_endswith(s, ".tgz") || str_endswith(s, ".tar.xz") || str_endswith(s, ".tar") ||
	       str_endswith(s, ".tar.gz") || str_endswith(s, ".tar.zst") || str_endswith(s, ".tar.bz2");
}

static bool is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* "sha256:<64 hex>" → lower-case hex, or NULL (diagnosed). */
static char *parse_pin(const struct lw *w, struct loc at, const char *s)
{
	const char *hex = s + 7;
	if (!is_hex(hex, 64)) {
		struct diag *g = diag_error(w->lc->diag, at, "bad digest '%s': expected sha256: and 64 hex digits", s);
		diag_hint(g, "compute it with: sha256sum FILE");
		return NULL;
	}
	char *p = xstrdup(hex);
	for (char *c = p; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return p;
}

/* Text of the arguments from args[from] on, as written, with the
 * continuations removed and the lines joined as they are, as in a
 * Dockerfile ("echo light\" + "ning" is "echo lightning"). */
static void joined_args(const struct lw *w, size_t from, struct strbuf *sb)
{
	const struct ainstr *in = w->in;
	struct loc first = in->args[from].loc, last = in->args[in->nargs - 1].loc;
	const char *s = raw_at(w, first);
	size_t len = last.off + last.len - first.off;
	char esc = w->ast->esc ? w->ast->esc : '\\';
	for (size_t i = 0; i < len;) {
		size_t c = expand_continuation(s, len, i, esc);
		if (c) {
			i += c;
		} else if (s[i] == esc && i + 1 < len) { /* an escaped character: keep both */
			sb_add(sb, s + i, 2);
			i += 2;
		} else {
			sb_addc(sb, s[i++]);
		}
	}
}

/* Text of the whole argument list as written (for CMD and APPEND). */
static char *rest_of_line(const struct lw *w, size_t from)
{
	struct strbuf sb;
	sb_init(&sb);
	joined_args(w, from, &sb);
	char *out = expand_shell_text(sb.buf, sb.len, &w->lc->env);
	sb_free(&sb);
	return out;
}

/* ---- the JSON (exec) form: ["prog", "arg"] ---- */

/* Does the text ask for the exec form? '[' then '"' or ']' (blanks
 * between): `[ -f x ] && y` stays shell text, as in a Dockerfile. */
static bool exec_form_wanted(const char *s)
{
	if (*s != '[')
		return false;
	s++;
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '"' || *s == ']';
}

static void utf8_put(struct strbuf *sb, uint32_t cp)
{
	if (cp < 0x80) {
		sb_addc(sb, (char)cp);
	} else if (cp < 0x800) {
		sb_addc(sb, (char)(0xc0 | (cp >> 6)));
		sb_addc(sb, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		sb_addc(sb, (char)(0xe0 | (cp >> 12)));
		sb_addc(sb, (char)(0x80 | ((cp >> 6) & 0x3f)));
		sb_addc(sb, (char)(0x80 | (cp & 0x3f)));
	} else {
		sb_addc(sb, (char)(0xf0 | (cp >> 18)));
		sb_addc(sb, (char)(0x80 | ((cp >> 12) & 0x3f)));
		sb_addc(sb, (char)(0x80 | ((cp >> 6) & 0x3f)));
		sb_addc(sb, (char)(0x80 | (cp & 0x3f)));
	}
}

static bool hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		if (!isxdigit((unsigned char)c))
			return false;
		v = v * 16 + (uint32_t)(isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) - 'a' + 10));
	}
	*out = v;
	return true;
}

/* Parse a JSON array of strings. Returns NULL, or a message saying what
 * is wrong (and *at, the offset where). */
static const char *parse_json_strings(const char *s, struct strvec *out, size_t *at)
{
	size_t i = 0;
#define WS() while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') i++
	WS();
	if (s[i] != '[')
		return *at = i, "expected '['";
	i++;
	WS();
	if (s[i] == ']') {
		i++;
		goto end;
	}
	for (;;) {
		if (s[i] != '"')
			return *at = i, "expected a string in double quotes";
		i++;
		struct strbuf e;
		sb_init(&e);
		while (s[i] != '"') {
			unsigned char c = (unsigned char)s[i];
			if (!c || c < 0x20) {
				sb_free(&e);
				return *at = i, c ? "a control character in a string (write it as \\n, \\t …)" : "unterminated string";
			}
			if (c != '\\') {
				sb_addc(&e, (char)c);
				i++;
				continue;
			}
			char x = s[i + 1];
			const char *map = strchr("\"\\/bfnrt", x ? x : '?');
			if (map && x) {
				static const char to[] = "\"\\/\b\f\n\r\t";
				sb_addc(&e, to[map - "\"\\/bfnrt"]);
				i += 2;
				continue;
			}
			uint32_t cp, lo;
			if (x != 'u' || !hex4(s + i + 2, &cp)) {
				sb_free(&e);
				return *at = i, "bad escape in a string (JSON has \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)";
			}
			i += 6;
			if (cp >= 0xd800 && cp < 0xdc00 && s[i] == '\\' && s[i + 1] == 'u' && hex4(s + i + 2, &lo) && lo >= 0xdc00 &&
			    lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			}
			if (!cp || (cp >= 0xd800 && cp < 0xe000)) {
				sb_free(&e);
				return *at = i - 6, "\\u0000 or a lone surrogate in a string";
			}
			utf8_put(&e, cp);
		}
		i++;
		sv_push(out, sb_detach(&e));
		WS();
		if (s[i] == ']') {
			i++;
			break;
		}
		if (s[i] != ',')
			return *at = i, "expected ',' or ']' after a string";
		i++;
		WS();
	}
end:
	WS();
	if (s[i])
		return *at = i, "text after the closing ']'";
#undef WS
	return NULL;
}

/* The exec form of args[from…] as a list, or false (diagnosed). */
static bool exec_form(const struct lw *w, size_t from, const char *text, struct strvec *out)
{
	size_t at = 0;
	const char *why = parse_json_strings(text, out, &at);
	if (!why)
		return true;
	struct loc l = loc_span(w->in->args[from].loc, w->in->args[w->in->nargs - 1].loc);
	struct diag *g = diag_error(w->lc->diag, l, "%s: bad exec form (a JSON array of strings): %s", w->info->name, why);
	diag_hint(g, "write it as [\"prog\", \"arg\"] with double quotes and commas, or as shell text without the brackets");
	sv_free(out);
	return false;
}

/* ---- one function per instruction ---- */

static bool is_netbsd_version(const char *v)
{
	if (!strcmp(v, "daily") || !strcmp(v, "current"))
		return true;
	if (!isdigit((unsigned char)*v))
		return false;
	for (const char *c = v; *c; c++)
		if (!isdigit((unsigned char)*c) && *c != '.')
			return false;
	return v[strlen(v) - 1] != '.';
}

static void lower_from(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, 1))
		return;
	char *s = arg_nonempty(w, 0);
	if (!s)
		return;
	n->u.from.name = s;
	if (!strcmp(s, "scratch")) {
		n->u.from.kind = BASE_SCRATCH;
	} else if (str_startswith(s, "netbsd-") || str_startswith(s, "NetBSD-")) {
		n->u.from.kind = BASE_NETBSD;
		n->u.from.version = xstrdup(s + 7);
		if (!is_netbsd_version(n->u.from.version)) {
			struct diag *g = diag_error(w->lc->diag, n->arg_loc, "bad NetBSD release '%s'", s);
			diag_hint(g, "write it as netbsd-<version>, e.g. netbsd-10.1, or netbsd-daily");
		}
	} else if (strchr(s, ',')) {
		/* smoler: FROM base,etc[,comp…] — sets of the default release */
		n->u.from.kind = BASE_NETBSD;
		size_t idx = (size_t)(n - w->lc->recipe->v);
		struct ir_node *sn = recipe_push(w->lc->recipe, IR_SETS, n->loc);
		sn->arg_loc = w->in->args[0].loc;
		n = &w->lc->recipe->v[idx];
		char *list = xstrdup(s);
		char *save = NULL;
		for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			sn->u.sets.v = xrealloc(sn->u.sets.v, (sn->u.sets.n + 1) * sizeof(*sn->u.sets.v));
			struct ir_set *set = &sn->u.sets.v[sn->u.sets.n++];
			memset(set, 0, sizeof(*set));
			set->loc = w->in->args[0].loc;
			set->ref = xstrdup(tok);
			set->src = SRC_NAME;
		}
		free(list);
		if (s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,")) {
			struct diag *g = diag_error(w->lc->diag, n->arg_loc, "empty set name in the list '%s'", s);
			diag_hint(g, "write the NetBSD sets separated by commas, e.g. FROM base,etc,comp");
		}
	} else if (str_endswith(s, ".img")) {
		struct diag *g = diag_error(w->lc->diag, n->arg_loc, "FROM an image ('%s') is not supported yet", s);
		diag_hint(g, "smolc builds from recipes and sets: name the image's recipe (FROM <recipe>) or its sets "
			     "(FROM base,etc); there is no image store yet to look '%s' up in", s);
	} else {
		n->u.from.kind = BASE_RECIPE;
	}
}

static void lower_sets(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, SIZE_MAX))
		return;
	for (size_t i = 0; i < w->in->nargs; i++) {
		struct loc at = w->in->args[i].loc;
		char *s = arg_word(w, i);
		if (!s)
			continue;
		if (str_startswith(s, "sha256:")) {
			char *pin = parse_pin(w, at, s);
			if (pin && !n->u.sets.n) {
				struct diag *g = diag_error(w->lc->diag, at, "a digest must follow the set it pins");
				diag_hint(g, "write it after the set, e.g. SETS base sha256:<64 hex digits>");
				free(pin);
			} else if (pin) {
				free(n->u.sets.v[n->u.sets.n - 1].sha256);
				n->u.sets.v[n->u.sets.n - 1].sha256 = pin;
			}
			free(s);
			continue;
		}
		n->u.sets.v = xrealloc(n->u.sets.v, (n->u.sets.n + 1) * sizeof(*n->u.sets.v));
		struct ir_set *set = &n->u.sets.v[n->u.sets.n++];
		memset(set, 0, sizeof(*set));
		set->loc = at;
		/* the filter list starts at the first ':' — in a URL, the first
		 * one after the path begins (not the "://", not a ":port") */
		char *scheme = strstr(s, "://");
		char *from = scheme ? strchr(scheme + 3, '/') : s;
		char *colon = from ? strchr(from, ':') : NULL;
		if (colon) {
			*colon = 0;
			char *g = colon + 1;
			if (!*g) {
				struct diag *dg = diag_error(w->lc->diag, at, "empty extraction filter after ':' in '%s:'", s);
				diag_hint(dg, "write e.g. comp:/usr/bin/strip, or drop the ':'");
			}
			for (char *tok = strtok(g, ","); tok; tok = strtok(NULL, ",")) {
				if (tok[0] != '/') {
					struct diag *dg = diag_error(w->lc->diag, at, "extraction filter '%s' must be an absolute path or glob", tok);
					diag_hint(dg, "paths inside a set start with '/', e.g. comp:/usr/bin/strip");
				}
				sv_pushdup(&set->globs, tok);
			}
		}
		set->ref = xstrdup(s);
		if (looks_like_url(s))
			set->src = SRC_URL;
		else if (looks_like_path(s))
			set->src = SRC_PATH;
		else
			set->src = SRC_NAME;
		free(s);
	}
}

static void lower_pkgs(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, SIZE_MAX))
		return;
	n->u.pkgs.locs = xcalloc(w->in->nargs, sizeof(struct loc));
	size_t i = 0;
	for (; i < w->in->nargs; i++) {
		const struct aword *a = &w->in->args[i];
		if (a->kind != AW_WORD || strncmp(raw_at(w, a->loc), "--", 2))
			break;
		char *opt = arg_word(w, i);
		if (opt && !strcmp(opt, "--no-scripts"))
			n->u.pkgs.no_scripts = true;
		else if (opt)
			usage_error(w, a->loc, "%s: unknown option '%s'", opt);
		free(opt);
	}
	if (i == w->in->nargs) {
		struct loc at = w->in->line;
		at.off += at.len;
		at.len = 0;
		usage_error(w, at, "%s needs %s", "at least one package");
		return;
	}
	for (; i < w->in->nargs; i++) {
		char *s = arg_word(w, i);
		if (!s)
			continue;
		if (!*s || strchr(s, '/') || strchr(s, ' ')) {
			struct diag *g = diag_error(w->lc->diag, w->in->args[i].loc, "bad package name or pattern '%s'", s);
			diag_hint(g, "write a pkgsrc name or pattern, e.g. nginx, 'php>=8.2<8.4', 'py3[0-9]*-foo-[0-9]*'");
			free(s);
			continue;
		}
		n->u.pkgs.locs[n->u.pkgs.pats.n] = w->in->args[i].loc;
		sv_push(&n->u.pkgs.pats, s);
	}
}

/* ---- leading --options (COPY, POSTINST) ---- */

/* One side of --chown=<user>[:<group>]: a name (not starting with '-',
 * no ':' or blanks) or a number that fits a 32-bit id. */
static bool owner_part_ok(const char *s, size_t n)
{
	if (!n || s[0] == '-')
		return false;
	bool digits = true;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ':' || isspace(c) || iscntrl(c))
			return false;
		digits = digits && isdigit(c);
	}
	if (digits) {
		if (n > 10)
			return false;
		char buf[11];
		memcpy(buf, s, n);
		buf[n] = 0;
		return strtoull(buf, NULL, 10) <= UINT32_MAX - 1; /* (uint32_t)-1 means "no id" */
	}
	return true;
}

/* --chown=<user>[:<group>], the same for COPY and POSTINST. */
static void opt_chown(const struct lw *w, struct loc at, const char *opt, struct ir_chown *out)
{
	const char *v = opt + strlen("--chown=");
	const char *colon = strchr(v, ':');
	size_t ul = colon ? (size_t)(colon - v) : strlen(v);
	if (!owner_part_ok(v, ul) || (colon && !owner_part_ok(colon + 1, strlen(colon + 1)))) {
		usage_error(w, at, "%s: bad owner '%s': expected <user>[:<group>] (names or numbers)", opt);
		return;
	}
	free(out->spec);
	out->spec = xstrdup(v);
	out->loc = at;
}

/* Handles one expanded option word; false = not an option of this
 * instruction. A bad value is diagnosed here and still returns true. */
typedef bool (*opt_fn)(const struct lw *w, struct ir_node *n, struct loc at, const char *opt);

/* The leading `--` words of an instruction, each given to `one` (NULL:
 * the instruction takes none); an unknown one is an error. Returns the
 * index of the first other argument. */
static size_t lower_options(const struct lw *w, struct ir_node *n, opt_fn one)
{
	size_t i = 0;
	for (; i < w->in->nargs; i++) {
		const struct aword *a = &w->in->args[i];
		if (a->kind != AW_WORD || strncmp(raw_at(w, a->loc), "--", 2))
			break;
		char *opt = arg_word(w, i);
		if (!opt)
			continue;
		/* a flag given twice is an error, as Dockerfile's "duplicate flag" */
		size_t nl = strcspn(opt, "=");
		bool dup = false;
		for (size_t k = 0; k < i && !dup; k++) {
			const struct loc pl = w->in->args[k].loc;
			const char *p = raw_at(w, pl);
			size_t pn = 0;
			while (pn < pl.len && p[pn] != '=')
				pn++;
			dup = pn == nl && !memcmp(p, opt, nl);
		}
		if (dup) {
			struct diag *g = diag_error(w->lc->diag, a->loc, "%s: duplicate flag %.*s", w->info->name, (int)nl, opt);
			diag_hint(g, "give %.*s once", (int)nl, opt);
		} else if (!one || !one(w, n, a->loc, opt)) {
			usage_error(w, a->loc, "%s: unknown option '%s'", opt);
		}
		free(opt);
	}
	return i;
}

static bool postinst_option(const struct lw *w, struct ir_node *n, struct loc at, const char *opt)
{
	if (!strcmp(opt, "--network")) {
		n->u.script->network = true;
	} else if (str_startswith(opt, "--timeout=")) {
		char *end;
		errno = 0;
		unsigned long t = strtoul(opt + 10, &end, 10);
		if (errno || *end || !isdigit((unsigned char)opt[10]) || t == 0 || t > 86400)
			usage_error(w, at, "%s: bad timeout '%s': expected seconds from 1 to 86400", opt);
		else
			n->u.script->timeout = (unsigned)t;
	} else if (str_startswith(opt, "--chown=")) {
		opt_chown(w, at, opt, &n->u.script->chown);
	} else {
		return false;
	}
	return true;
}

static bool copy_option(const struct lw *w, struct ir_node *n, struct loc at, const char *opt)
{
	if (str_startswith(opt, "--chown=")) {
		opt_chown(w, at, opt, &n->u.copy->chown);
	} else if (str_startswith(opt, "--checksum=") && w->info->name[0] == 'A') {
		/* ADD --checksum=sha256:<hex>: the URL's content is pinned */
		const char *v = opt + 11;
		if (!str_startswith(v, "sha256:") || strlen(v + 7) != 64 || strspn(v + 7, "0123456789abcdef") != 64)
			usage_error(w, at, "%s: expected --checksum=sha256:<64 lowercase hex digits>", opt);
		else {
			free(n->u.copy->checksum);
			n->u.copy->checksum = xstrdup(v);
		}
	} else if (str_startswith(opt, "--mode=")) {
		char *end;
		errno = 0;
		unsigned long m = strtoul(opt + 7, &end, 8);
		if (errno || *end || !isdigit((unsigned char)opt[7]) || m > 07777)
			usage_error(w, at, "%s: bad mode '%s': expected octal permissions, e.g. --mode=0755", opt);
		else
			n->u.copy->mode = (int)m;
	} else {
		return false;
	}
	return true;
}

/* The script of RC, POSTINST or RUN from argument i on (after the options). */
static void lower_script_at(struct lw *w, struct ir_node *n, size_t i)
{
	const struct aword *a;
	if (i == w->in->nargs) {
		struct loc at = w->in->line;
		at.off += at.len;
		at.len = 0;
		usage_error(w, at, "%s needs %s", "a heredoc or a file");
		return;
	}
	if (i + 1 < w->in->nargs) {
		const struct aword *x = &w->in->args[i + 1];
		struct loc rest = loc_span(x->loc, w->in->args[w->in->nargs - 1].loc);
		if (w->in->args[i].kind == AW_HEREDOC && x->kind == AW_HEREDOC) {
			struct diag *g = diag_error(w->lc->diag, x->loc, "%s takes one heredoc; this is a second one", w->info->name);
			diag_hint(g, n->kind == IR_RC ? "put the whole script in one heredoc"
						      : "put the scripts in one heredoc, or write one POSTINST per script");
		} else if (w->in->args[i].kind == AW_HEREDOC) {
			/* Dockerfile's RUN <<EOF python3: a command that reads the heredoc */
			struct diag *g = diag_error(w->lc->diag, rest, "%s: a command after the heredoc is not supported", w->info->name);
			diag_hint(g, n->kind == IR_RC ? "RC runs the script with the interpreter of its #! line: start the body with "
							"e.g. #!/usr/pkg/bin/python3"
						      : "POSTINST runs the script with /bin/sh -e; call the interpreter inside it, "
							"e.g. python3 <<'PY' … PY");
		} else {
			usage_error(w, rest, "%s takes %s", "one heredoc or one file");
		}
		return;
	}
	a = &w->in->args[i];
	n->arg_loc = a->loc;
	if (a->kind == AW_HEREDOC) {
		const struct heredoc *h = &w->ast->heredocs[a->heredoc];
		if (!h->complete)
			return; /* diagnosed by the scanner */
		if (h->body_len == 0 || strspn(h->body, " \t\n") == h->body_len) {
			struct diag *g = diag_error(w->lc->diag, a->loc, "empty heredoc for %s", w->info->name);
			diag_hint(g, "write the script between '%s' and the closing '%s' line, or remove the instruction",
				  w->info->name, h->delim);
			return;
		}
		n->u.script->text = h->quoted ? xstrdup(h->body) : expand_shell_text(h->body, h->body_len, &w->lc->env);
		n->u.script->body_loc = h->body_loc;
		return;
	}
	char *rel = arg_word(w, i);
	if (!rel)
		return;
	char *full = path_join(w->lc->recipe->dir, rel);
	char *data;
	size_t len;
	struct stat st;
	if (stat(full, &st) == 0 && !S_ISREG(st.st_mode)) {
		struct diag *g = diag_error(w->lc->diag, a->loc, "%s file '%s' is not a regular file", w->info->name, rel);
		diag_hint(g, "name a script file; paths are relative to the Smolfile's directory (%s)", w->lc->recipe->dir);
		free(full);
		free(rel);
		return;
	}
	if (read_file(full, 4u << 20, &data, &len) < 0) {
		struct diag *g = diag_error(w->lc->diag, a->loc, "cannot read %s file '%s': %s", w->info->name, rel,
					    errno == EFBIG ? "larger than 4 MiB" : strerror(errno));
		diag_hint(g, "paths are relative to the Smolfile's directory (%s)", w->lc->recipe->dir);
		free(full);
		free(rel);
		return;
	}
	if (memchr(data, 0, len)) {
		diag_error(w->lc->diag, a->loc, "%s file '%s' is binary (it contains NUL bytes); a script must be text",
			   w->info->name, rel);
		free(data);
		free(full);
		free(rel);
		return;
	}
	n->u.script->text = data;
	n->u.script->path = rel;
	free(full);
}

static void lower_script(struct lw *w, struct ir_node *n)
{
	lower_script_at(w, n, lower_options(w, n, n->kind == IR_POSTINST ? postinst_option : NULL));
}

static bool run_option(const struct lw *w, struct ir_node *n, struct loc at, const char *opt)
{
	if (str_startswith(opt, "--mem=")) {
		uint64_t bytes;
		if (!parse_size(opt + 6, 1ull << 20, &bytes) || bytes < (16ull << 20) || bytes > (1ull << 40))
			usage_error(w, at, "%s: bad memory size '%s': expected 16M to 1T (e.g. --mem=1G)", opt);
		else
			n->u.script->mem_mib = bytes >> 20;
		return true;
	}
	if (!strcmp(opt, "--network") || str_startswith(opt, "--timeout="))
		return postinst_option(w, n, at, opt);
	return false;
}

/* RUN [options] <<EOF … EOF, or RUN <command line> (the text as written,
 * expanded like a heredoc body, as CMD). */
static void lower_run(struct lw *w, struct ir_node *n)
{
	size_t i = lower_options(w, n, run_option);
	if (i == w->in->nargs) {
		struct loc at = w->in->line;
		at.off += at.len;
		at.len = 0;
		usage_error(w, at, "%s needs %s", "a heredoc or a command line");
		return;
	}
	const struct aword *a = &w->in->args[i];
	n->arg_loc = a->loc;
	if (a->kind == AW_HEREDOC) {
		if (i + 1 < w->in->nargs) {
			usage_error(w, loc_span(w->in->args[i + 1].loc, w->in->args[w->in->nargs - 1].loc), "%s takes %s",
				    "one heredoc, or a command line");
			return;
		}
		lower_script_at(w, n, i);
		return;
	}
	for (size_t k = i; k < w->in->nargs; k++)
		if (w->in->args[k].kind == AW_HEREDOC) {
			usage_error(w, w->in->args[k].loc, "%s takes %s", "a heredoc or a command line, not both");
			return;
		}
	n->u.script->text = rest_of_line(w, i);
	n->u.script->shell_form = true;
}

/* A port number: 1 = ok, 0 = not a number, -1 = a number out of range. */
static int parse_port_num(const char *s, unsigned *out)
{
	if (!*s)
		return 0;
	for (const char *c = s; *c; c++)
		if (!isdigit((unsigned char)*c))
			return 0;
	if (strlen(s) > 5)
		return -1;
	unsigned long v = strtoul(s, NULL, 10);
	if (v < 1 || v > 65535)
		return -1;
	*out = (unsigned)v;
	return 1;
}

/* Host address of a port mapping: dotted IPv4 or [IPv6]. */
static bool host_addr_valid(const char *a)
{
	unsigned char buf[16];
	size_t n = strlen(a);
	if (n > 2 && a[0] == '[' && a[n - 1] == ']') {
		char *in = xstrndup(a + 1, n - 2);
		bool ok = inet_pton(AF_INET6, in, buf) == 1;
		free(in);
		return ok;
	}
	return inet_pton(AF_INET, a, buf) == 1;
}

static const char port_hint[] = "write [<host-addr>:]<host-port>:<guest-port>[/tcp|/udp] with ports from 1 to 65535, e.g. 8080:80";

/* One port mapping (PORTS, LABEL smolbsd.publish): false after a
 * diagnostic at `at`. */
static bool parse_port_word(struct lower_ctx *lc, struct loc at, const char *word, struct ir_port *out)
{
	char *s = xstrdup(word);
	const char *orig = word;
	struct ir_port p = {at, NULL, 0, 0, false};
	bool bad = true;
	struct diag *g;
	char *proto = strrchr(s, '/');
	char *last = strrchr(s, ':');
	if (proto && last && proto < last)
		proto = NULL; /* a '/' inside the address part */
	if (proto)
		*proto++ = 0;
	if (proto && strcmp(proto, "udp") && strcmp(proto, "tcp")) {
		g = diag_error(lc->diag, at, "bad protocol '%s' in port mapping '%s': expected tcp or udp", proto, orig);
		diag_hint(g, "%s", port_hint);
	} else if (!last) {
		g = diag_error(lc->diag, at, "bad port mapping '%s': expected <host-port>:<guest-port>", orig);
		diag_hint(g, "%s", port_hint);
	} else {
		p.udp = proto && !strcmp(proto, "udp");
		/* [addr:]host:guest — addr is dotted IPv4 or [IPv6] */
		*last = 0;
		char *guest = last + 1;
		char *mid = strrchr(s, ':');
		char *host = s;
		if (mid) {
			*mid = 0;
			host = mid + 1;
			p.host_addr = xstrdup(s);
		}
		int hr = parse_port_num(host, &p.host), gr = parse_port_num(guest, &p.guest);
		if (p.host_addr && !host_addr_valid(p.host_addr)) {
			g = diag_error(lc->diag, at, "bad host address '%s' in port mapping '%s'", p.host_addr, orig);
			diag_hint(g, "write a dotted IPv4 address or an IPv6 address in brackets, e.g. 0.0.0.0:8080:80 or [::1]:8080:80");
		} else if (!hr || !gr) {
			g = diag_error(lc->diag, at, "bad port mapping '%s'", orig);
			diag_hint(g, "%s", port_hint);
		} else if (hr < 0 || gr < 0) {
			g = diag_error(lc->diag, at, "port %s is out of range in '%s'", hr < 0 ? host : guest, orig);
			diag_hint(g, "ports go from 1 to 65535");
		} else {
			bad = false;
		}
	}
	free(s);
	if (bad) {
		free(p.host_addr);
		return false;
	}
	if (!p.host_addr)
		p.host_addr = xstrdup("127.0.0.1");
	*out = p;
	return true;
}

static void ports_push(struct ir_node *n, const struct ir_port *p)
{
	n->u.ports.v = xrealloc(n->u.ports.v, (n->u.ports.n + 1) * sizeof(*n->u.ports.v));
	n->u.ports.v[n->u.ports.n++] = *p;
}

static void lower_ports(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, SIZE_MAX))
		return;
	for (size_t i = 0; i < w->in->nargs; i++) {
		struct loc at = w->in->args[i].loc;
		char *s = arg_word(w, i);
		if (!s)
			continue;
		struct ir_port p;
		if (parse_port_word(w->lc, at, s, &p))
			ports_push(n, &p);
		free(s);
	}
}

static void lower_kernel(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, 2))
		return;
	char *s = arg_nonempty(w, 0);
	if (!s)
		return;
	bool initrd = n->kind == IR_INITRD;
	n->u.kernel.ref = s;
	/* a kernel without '/' is a catalog name; an initrd is always a file */
	n->u.kernel.src = looks_like_url(s) ? SRC_URL : strchr(s, '/') || initrd ? SRC_PATH : SRC_NAME;
	if (w->in->nargs == 2) {
		char *p = arg_word(w, 1);
		if (p && str_startswith(p, "sha256:"))
			n->u.kernel.sha256 = parse_pin(w, w->in->args[1].loc, p);
		else if (p)
			usage_error(w, w->in->args[1].loc, initrd ? "%s: expected sha256:<hex> after the initrd, not '%s'"
							       : "%s: expected sha256:<hex> after the kernel, not '%s'", p);
		free(p);
	}
}

static void lower_var(struct lw *w, struct ir_node *n)
{
	bool env = n->kind == IR_ENV;
	if (!want_args(w, 1, env ? SIZE_MAX : 1))
		return;
	/* ENV a=1 b=$a: every value is expanded with the variables as they
	 * were before the instruction (as Dockerfile does); they are set
	 * after the whole instruction is read */
	size_t first = (size_t)(n - w->lc->recipe->v);
	for (size_t i = 0; i < w->in->nargs; i++) {
		const struct aword *a = &w->in->args[i];
		if (a->kind != AW_WORD) {
			arg_word(w, i);
			continue;
		}
		const char *raw = raw_at(w, a->loc);
		size_t nl = 0;
		while (nl < a->loc.len && raw[nl] != '=')
			nl++;
		struct loc nloc = {a->loc.file, a->loc.off, (uint32_t)nl};
		if (!var_name_valid(raw, nl)) {
			struct diag *g = diag_error(w->lc->diag, nloc, "bad variable name '%.*s'", (int)nl, raw);
			diag_hint(g, "names are letters, digits and '_', not starting with a digit");
			continue;
		}
		char *name = xstrndup(raw, nl);
		char *value = NULL;
		if (nl < a->loc.len) {
			struct loc vloc = {a->loc.file, a->loc.off + (uint32_t)nl + 1, a->loc.len - (uint32_t)nl - 1};
			struct expand_opts o = {w->ast->esc, false};
			value = expand_word_ex(w->lc->diag, vloc, raw + nl + 1, vloc.len, &w->lc->env, &o);
			if (!value) {
				free(name);
				continue;
			}
		} else if (env) {
			struct diag *g = diag_error(w->lc->diag, a->loc, "ENV %s needs a value", name);
			diag_hint(g, "write ENV %s=value", name);
			free(name);
			continue;
		}
		if (!env) {
			/* --build-arg overrides the default */
			for (size_t k = 0; k < w->lc->build_args.n; k++) {
				const char *ba = w->lc->build_args.v[k];
				size_t bl = strcspn(ba, "=");
				if (bl == nl && !memcmp(ba, name, nl)) {
					free(value);
					value = xstrdup(ba + bl + (ba[bl] ? 1 : 0));
					w->lc->build_arg_used[k] = true;
				}
			}
		}
		struct ir_node *target = n;
		if (i > 0) { /* ENV A=1 B=2: one node per pair */
			target = recipe_push(w->lc->recipe, n->kind, n->loc);
			n = &w->lc->recipe->v[w->lc->recipe->n - 2]; /* realloc may move n */
		}
		target->arg_loc = a->loc;
		target->u.var.name = name;
		target->u.var.value = value;
	}
	for (size_t k = first; k < w->lc->recipe->n; k++) {
		const struct ir_node *t = &w->lc->recipe->v[k];
		if (t->u.var.name)
			var_set(&w->lc->env, t->u.var.name, t->u.var.value, env, t->arg_loc);
	}
}

static void lower_copy(struct lw *w, struct ir_node *n)
{
	n->u.copy->mode = -1;
	size_t i = lower_options(w, n, copy_option);
	if (w->in->nargs - i < 2) {
		struct loc at = w->in->line;
		at.off += at.len;
		at.len = 0;
		usage_error(w, at, "%s needs %s", "at least one source and a destination");
		return;
	}
	n->u.copy->src_locs = xcalloc(w->in->nargs, sizeof(struct loc));
	const struct aword *a0 = &w->in->args[i];
	if (a0->kind == AW_WORD && raw_at(w, a0->loc)[0] == '[') {
		/* COPY ["a b", "/dst"]: sources with blanks; variables are
		 * expanded in each string, quotes are ordinary characters */
		struct strbuf sb;
		sb_init(&sb);
		joined_args(w, i, &sb);
		struct strvec v = {0};
		struct loc l = loc_span(a0->loc, w->in->args[w->in->nargs - 1].loc);
		bool ok = exec_form(w, i, sb_cstr(&sb), &v);
		sb_free(&sb);
		if (ok && v.n < 2) {
			usage_error(w, l, "%s needs %s", "at least one source and a destination");
			ok = false;
		}
		struct expand_opts o = {w->ast->esc, true};
		for (size_t k = 0; ok && k < v.n; k++) {
			char *e = expand_word_ex(w->lc->diag, l, v.v[k], strlen(v.v[k]), &w->lc->env, &o);
			if (!e)
				continue;
			if (k + 1 < v.n) {
				n->u.copy->src_locs[n->u.copy->srcs.n] = l;
				sv_push(&n->u.copy->srcs, e);
			} else {
				n->u.copy->dst = e;
			}
		}
		sv_free(&v);
		if (n->u.copy->dst && n->u.copy->dst[0] != '/') {
			struct diag *g = diag_error(w->lc->diag, l, "COPY destination '%s' must be an absolute path in the image",
						    n->u.copy->dst);
			diag_hint(g, "e.g. COPY [\"my file.html\", \"/var/www/\"]");
		}
		return;
	}
	for (size_t k = i; k + 1 < w->in->nargs; k++) {
		char *s = arg_nonempty(w, k);
		if (!s)
			continue;
		bool is_add = w->info->name[0] == 'A';
		if (is_add && looks_like_url(s)) {
			/* ADD <url> <dst>: one download, as Docker does; one URL per ADD */
			if (w->in->nargs - i != 2) {
				struct diag *g = diag_error(w->lc->diag, w->in->args[k].loc,
							    "ADD of a URL takes one source and a destination");
				diag_hint(g, "write one ADD per URL");
				free(s);
				continue;
			}
			if (!str_startswith(s, "http://") && !str_startswith(s, "https://")) {
				struct diag *g = diag_error(w->lc->diag, w->in->args[k].loc, "ADD: '%s' is not an http(s) URL", s);
				diag_hint(g, "ADD downloads over http:// or https://");
				free(s);
				continue;
			}
			n->u.copy->url = s;
			n->u.copy->url_loc = w->in->args[k].loc;
			continue;
		}
		if (is_add && (str_endswith(s, ".tgz") || str_endswith(s, ".tar.gz") || str_endswith(s, ".tar.xz") ||
						str_endswith(s, ".tar") || str_endswith(s, ".tar.bz2") || str_endswith(s, ".tar.zst"))) {
			struct diag *g = diag_error(w->lc->diag, w->in->args[k].loc,
						    "ADD of a local archive ('%s'): a Dockerfile would unpack it, smolc does not", s);
			diag_hint(g, "unpack it at / with SETS %s, or copy the file as it is with COPY", s);
			free(s);
			continue;
		}
		n->u.copy->src_locs[n->u.copy->srcs.n] = w->in->args[k].loc;
		sv_push(&n->u.copy->srcs, s);
	}
	n->u.copy->dst = arg_word(w, w->in->nargs - 1);
	if (n->u.copy->dst && n->u.copy->dst[0] != '/') {
		struct diag *g = diag_error(w->lc->diag, w->in->args[w->in->nargs - 1].loc,
					    "COPY destination '%s' must be an absolute path in the image", n->u.copy->dst);
		diag_hint(g, "e.g. COPY index.html /var/www/");
	}
	if (n->u.copy->checksum && !n->u.copy->url) {
		struct diag *g = diag_error(w->lc->diag, w->in->line, "ADD --checksum is only for a URL source");
		diag_hint(g, "a file of the build context needs no checksum: its content is part of the key");
	}
	if (n->u.copy->url && n->u.copy->dst && str_endswith(n->u.copy->dst, "/")) {
		/* ADD <url> <dir>/: the file is named after the URL's last path
		 * component, as Docker does */
		const char *p = strstr(n->u.copy->url, "://") + 3;
		p += strcspn(p, "/");
		size_t pl = strcspn(p, "?#");
		const char *b = p + pl;
		while (b > p && b[-1] != '/')
			b--;
		size_t bl = (size_t)(p + pl - b);
		if (!bl || (bl == 1 && *b == '.') || (bl == 2 && !memcmp(b, "..", 2))) {
			struct diag *g = diag_error(w->lc->diag, n->u.copy->url_loc,
						    "ADD: cannot name the file after '%s' (no file name in its path)", n->u.copy->url);
			diag_hint(g, "give the destination as a file path, e.g. ADD <url> /opt/file");
		} else {
			char *d = xasprintf("%s%.*s", n->u.copy->dst, (int)bl, b);
			free(n->u.copy->dst);
			n->u.copy->dst = d;
		}
	}
}

static const char *const arches[] = {"amd64", "i386", "evbarm-aarch64"};
static const char *const profiles[] = {"netbsd", "linux"};

static void lower_choice(struct lw *w, struct ir_node *n, const char *const *choices, size_t nch)
{
	if (!want_args(w, 1, 1))
		return;
	char *s = arg_word(w, 0);
	if (!s)
		return;
	for (size_t i = 0; i < nch; i++) {
		if (!strcmp(s, choices[i])) {
			n->u.str = s;
			return;
		}
	}
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < nch; i++)
		sb_printf(&sb, "%s%s", i ? ", " : "", choices[i]);
	struct diag *g = diag_error(w->lc->diag, n->arg_loc, "unknown %s '%s'", n->kind == IR_ARCH ? "architecture" : "profile", s);
	if (n->kind == IR_ARCH && (!strcmp(s, "aarch64") || !strcmp(s, "arm64")))
		diag_hint(g, "did you mean 'evbarm-aarch64'?");
	else if (n->kind == IR_ARCH && (!strcmp(s, "x86_64") || !strcmp(s, "x86-64")))
		diag_hint(g, "NetBSD calls it 'amd64'");
	else
		diag_hint(g, "expected one of: %s", sb_cstr(&sb));
	sb_free(&sb);
	free(s);
}

static bool service_name_ok(const char *s)
{
	bool ok = *s && strlen(s) <= 32 && isalnum((unsigned char)s[0]);
	for (const char *c = s; ok && *c; c++)
		ok = isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.';
	return ok;
}

static void lower_service(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, 1))
		return;
	char *s = arg_word(w, 0);
	if (!s)
		return;
	if (!service_name_ok(s)) {
		struct diag *g = diag_error(w->lc->diag, n->arg_loc, "bad service name '%s'", s);
		diag_hint(g, "use up to 32 letters, digits, '-', '_' or '.', starting with a letter or digit "
			     "(the partition is named <service>root)");
		free(s);
		return;
	}
	n->u.str = s;
}

static void lower_size(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, 1))
		return;
	char *s = arg_word(w, 0);
	if (!s)
		return;
	bool ok = true;
	if (!strcmp(s, "auto")) {
		n->u.size.is_auto = true;
	} else if (str_startswith(s, "auto+")) {
		n->u.size.is_auto = true;
		ok = parse_size(s + 5, 1ull << 20, &n->u.size.bytes);
	} else {
		ok = parse_size(s, 1ull << 20, &n->u.size.bytes);
		if (ok && (n->u.size.bytes < (2ull << 20) || n->u.size.bytes > (2ull << 40))) {
			struct diag *g = diag_error(w->lc->diag, n->arg_loc, "image size %s is out of range", s);
			diag_hint(g, "sizes go from 2M to 2T; or use SIZE auto");
			free(s);
			return;
		}
	}
	if (!ok) {
		struct diag *g = diag_error(w->lc->diag, n->arg_loc, "bad size '%s'", s);
		diag_hint(g, "write <n>M or <n>G (e.g. 512M), auto, or auto+<n>M");
	}
	free(s);
}

static void lower_mem(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, 1))
		return;
	char *s = arg_word(w, 0);
	if (!s)
		return;
	uint64_t b;
	if (!parse_size(s, 1ull << 20, &b) || b < (16ull << 20) || b > (1ull << 40)) {
		struct diag *g = diag_error(w->lc->diag, n->arg_loc, "bad memory size '%s'", s);
		diag_hint(g, "write <n>M or <n>G, from 16M (e.g. MEM 256M)");
	} else {
		n->u.mem_mib = b >> 20;
	}
	free(s);
}

static void lower_cpus(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, 1))
		return;
	char *s = arg_word(w, 0);
	if (!s)
		return;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || !*s || !isdigit((unsigned char)*s) || v < 1 || v > 64) {
		struct diag *g = diag_error(w->lc->diag, n->arg_loc, "bad CPU count '%s'", s);
		diag_hint(g, "expected a number from 1 to 64");
	} else {
		n->u.cpus = (unsigned)v;
	}
	free(s);
}

static void lower_share(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, 1))
		return;
	char *s = arg_word(w, 0);
	if (!s)
		return;
	char *c = strrchr(s, ':');
	if (!c || c == s || !c[1] || c[1] != '/') {
		struct diag *g = diag_error(w->lc->diag, n->arg_loc, "bad share '%s'", s);
		diag_hint(g, "write <host-dir>:<guest-dir>, e.g. SHARE ./data:/mnt/data");
		free(s);
		return;
	}
	*c = 0;
	n->u.share.host = xstrdup(s);
	n->u.share.guest = xstrdup(c + 1);
	free(s);
}

static bool is_yes(const char *v)
{
	return !strcmp(v, "y") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "true");
}

/* smoler's LABEL smolbsd.<key>=<value>: the anchor's build variables,
 * as the instructions that do the same here (SPEC.md §9). `n` is the
 * LABEL node being lowered; returns it (pushing nodes may move it). */
static struct ir_node *smolbsd_label(struct lw *w, struct ir_node *n, struct loc at, const char *key, const char *val)
{
	struct lower_ctx *lc = w->lc;
	size_t idx = (size_t)(n - lc->recipe->v);
	struct diag *g;
	if (!strcmp(key, "service")) {
		if (!service_name_ok(val)) {
			g = diag_error(lc->diag, at, "bad service name '%s'", val);
			diag_hint(g, "use up to 32 letters, digits, '-', '_' or '.', starting with a letter or digit");
		} else {
			struct ir_node *t = recipe_push(lc->recipe, IR_SERVICE, at);
			t->u.str = xstrdup(val);
		}
	} else if (!strcmp(key, "publish")) {
		/* "H:G", several separated by blanks or commas */
		char *list = xstrdup(val), *save = NULL;
		struct ir_node *t = recipe_push(lc->recipe, IR_PORTS, at);
		for (char *tok = strtok_r(list, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
			struct ir_port p;
			if (parse_port_word(lc, at, tok, &p))
				ports_push(t, &p);
		}
		free(list);
	} else if (!strcmp(key, "imgsize")) {
		uint64_t b;
		if (!parse_size(val, 1ull << 20, &b) || b < (2ull << 20) || b > (2ull << 40)) {
			g = diag_error(lc->diag, at, "bad image size '%s' in smolbsd.imgsize", val);
			diag_hint(g, "give megabytes, e.g. smolbsd.imgsize=512 (from 2 to 2097152)");
		} else {
			struct ir_node *t = recipe_push(lc->recipe, IR_SIZE, at);
			t->u.size.bytes = b;
		}
	} else if (!strcmp(key, "addpkgs")) {
		char *list = xstrdup(val), *save = NULL;
		struct ir_node *t = recipe_push(lc->recipe, IR_PKGS, at);
		size_t cap = 0;
		for (char *tok = strtok_r(list, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
			if (strchr(tok, '/')) {
				g = diag_error(lc->diag, at, "bad package name or pattern '%s' in smolbsd.addpkgs", tok);
				diag_hint(g, "write pkgsrc names separated by blanks, e.g. smolbsd.addpkgs=\"nginx curl\"");
				continue;
			}
			if (t->u.pkgs.pats.n + 1 > cap) {
				cap = cap ? 2 * cap : 8;
				t->u.pkgs.locs = xrealloc(t->u.pkgs.locs, cap * sizeof(*t->u.pkgs.locs));
			}
			t->u.pkgs.locs[t->u.pkgs.pats.n] = at;
			sv_pushdup(&t->u.pkgs.pats, tok);
		}
		free(list);
		if (!t->u.pkgs.pats.n) {
			g = diag_error(lc->diag, at, "smolbsd.addpkgs names no package");
			diag_hint(g, "write pkgsrc names separated by blanks, or remove the label");
		}
	} else if (!strcmp(key, "imgtag")) {
		if (!*val || strchr(val, '/') || !strcmp(val, ".") || !strcmp(val, "..")) {
			g = diag_error(lc->diag, at, "bad image tag '%s' in smolbsd.imgtag", val);
			diag_hint(g, "the tag names the output files <tag>.img, <tag>.yaml: no '/'");
		}
	} else if (!strcmp(key, "minimize")) {
		/* MINIMIZE auto or off; a second MINIMIZE is check.c's error */
		struct ir_node *t = recipe_push(lc->recipe, IR_MINIMIZE, at);
		t->u.minimize = is_yes(val);
	} else if (!strcmp(key, "use_pty")) {
		/* read by check.c: the run config's console */
	} else {
		g = diag_warning(lc->diag, at, "unknown smolbsd label 'smolbsd.%s': kept as a label, it changes nothing", key);
		diag_hint(g, "smolc maps smolbsd.service, publish, imgsize, addpkgs, imgtag, minimize and use_pty");
	}
	return &lc->recipe->v[idx];
}

static void lower_label(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, SIZE_MAX))
		return;
	size_t idx = (size_t)(n - w->lc->recipe->v);
	for (size_t i = 0; i < w->in->nargs; i++) {
		char *s = arg_word(w, i);
		if (!s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq || eq == s) {
			struct diag *g = diag_error(w->lc->diag, w->in->args[i].loc, "bad label '%s'", s);
			diag_hint(g, "write LABEL key=value");
			free(s);
			continue;
		}
		*eq = 0;
		struct ir_node *t = n;
		if (i > 0) {
			t = recipe_push(w->lc->recipe, IR_LABEL, n->loc);
			n = &w->lc->recipe->v[idx]; /* realloc may move n */
		}
		t->arg_loc = w->in->args[i].loc;
		t->u.label.key = xstrdup(s);
		t->u.label.value = xstrdup(eq + 1);
		if (str_startswith(s, "smolbsd."))
			n = smolbsd_label(w, n, w->in->args[i].loc, s + 8, eq + 1);
		free(s);
	}
}

static bool fwcfg_option(const struct lw *w, struct ir_node *n, struct loc at, const char *opt)
{
	(void)w;
	(void)at;
	if (strcmp(opt, "--file"))
		return false;
	n->u.fwcfg.is_file = true;
	return true;
}

/* FWCFG [--file] NAME=VALUE …: one node per entry, as LABEL. */
static void lower_fwcfg(struct lw *w, struct ir_node *n)
{
	size_t first = lower_options(w, n, fwcfg_option);
	if (first == w->in->nargs) {
		struct loc at = w->in->line;
		at.off += at.len;
		at.len = 0;
		usage_error(w, at, "%s needs %s", "at least one NAME=VALUE");
		return;
	}
	bool is_file = n->u.fwcfg.is_file;
	size_t idx = (size_t)(n - w->lc->recipe->v);
	bool used = false;
	for (size_t i = first; i < w->in->nargs; i++) {
		char *s = arg_word(w, i);
		if (!s)
			continue;
		char *eq = strchr(s, '=');
		if (eq)
			*eq = 0;
		if (!eq || !runconf_fwcfg_name_ok(s) || (is_file && !eq[1])) {
			if (eq)
				*eq = '=';
			struct diag *g = diag_error(w->lc->diag, w->in->args[i].loc, "bad fw_cfg entry '%s'", s);
			diag_hint(g, is_file ? "write FWCFG --file NAME=<path>, NAME of 1-40 letters, digits or '_'"
					     : "write FWCFG NAME=VALUE, NAME of 1-40 letters, digits or '_'");
			free(s);
			continue;
		}
		struct ir_node *t = n;
		if (used) {
			t = recipe_push(w->lc->recipe, IR_FWCFG, n->loc);
			n = &w->lc->recipe->v[idx]; /* realloc may move n */
		}
		used = true;
		t->arg_loc = w->in->args[i].loc;
		t->u.fwcfg.name = xstrdup(s);
		t->u.fwcfg.value = xstrdup(eq + 1);
		t->u.fwcfg.is_file = is_file;
		free(s);
	}
}

static void lower_str(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, 1))
		return;
	n->u.str = arg_nonempty(w, 0);
}

static void lower_text(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, SIZE_MAX))
		return;
	for (size_t i = 0; i < w->in->nargs; i++)
		if (w->in->args[i].kind == AW_HEREDOC) {
			usage_error(w, w->in->args[i].loc, "%s does not take %s", "a heredoc");
			return;
		}
	if (n->kind == IR_APPEND) {
		n->u.str = rest_of_line(w, 0);
		return;
	}
	/* CMD: shell text, or the exec form ["prog", "arg"] whose words are
	 * taken as they are (no variables), quoted for the guest's shell */
	struct strbuf sb;
	sb_init(&sb);
	joined_args(w, 0, &sb);
	if (exec_form_wanted(sb_cstr(&sb))) {
		struct strvec v = {0};
		if (exec_form(w, 0, sb_cstr(&sb), &v)) {
			struct strbuf q;
			sb_init(&q);
			for (size_t i = 0; i < v.n; i++) {
				if (i)
					sb_addc(&q, ' ');
				sb_add_shquoted(&q, v.v[i]);
			}
			n->u.cmd.text = sb_detach(&q);
			n->u.cmd.exec = true;
			if (!v.n) {
				struct diag *g = diag_error(w->lc->diag, n->arg_loc, "%s [] runs nothing", w->info->name);
				diag_hint(g, "name the program: %s [\"prog\", \"arg\"]", w->info->name);
			}
		}
		sv_free(&v);
	} else {
		n->u.cmd.text = expand_shell_text(sb.buf, sb.len, &w->lc->env);
	}
	sb_free(&sb);
}

/* EXPOSE <port>[/tcp|/udp] …: documentation, as in Docker (a port is
 * published by PORTS or LABEL smolbsd.publish). Checked, then kept. */
static void lower_expose(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, SIZE_MAX))
		return;
	for (size_t i = 0; i < w->in->nargs; i++) {
		char *s = arg_word(w, i);
		if (!s)
			continue;
		char *slash = strchr(s, '/');
		if (slash)
			*slash = 0;
		unsigned port = 0;
		bool ok = parse_port_num(s, &port) == 1 && (!slash || !strcmp(slash + 1, "tcp") || !strcmp(slash + 1, "udp"));
		if (!ok) {
			if (slash)
				*slash = '/';
			struct diag *g = diag_error(w->lc->diag, w->in->args[i].loc, "bad port '%s' in EXPOSE", s);
			diag_hint(g, "write <port>[/tcp|/udp] with a port from 1 to 65535, e.g. EXPOSE 80");
		} else if (!n->u.expose) {
			n->u.expose = xcalloc(1, sizeof(*n->u.expose));
			n->u.expose->guest = port;
			n->u.expose->udp = slash && !strcmp(slash + 1, "udp");
			n->u.expose->loc = w->in->args[i].loc;
		}
		free(s);
	}
}

/* USER <user>[:<group>]: who CMD runs as (and later RUN). */
static void lower_user(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, 1))
		return;
	char *s = arg_nonempty(w, 0);
	if (!s)
		return;
	const char *colon = strchr(s, ':');
	size_t ul = colon ? (size_t)(colon - s) : strlen(s);
	if (!owner_part_ok(s, ul) || (colon && !owner_part_ok(colon + 1, strlen(colon + 1))) ||
	    strchr(s, '\'') || strchr(s, '/')) {
		usage_error(w, n->arg_loc, "%s: bad user '%s': expected <user>[:<group>] (names or numbers)", s);
		free(s);
		return;
	}
	n->u.str = s;
}

/* WORKDIR <dir>: absolute, or relative to the WORKDIR before it. */
static void lower_workdir(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, 1))
		return;
	char *s = arg_nonempty(w, 0);
	if (!s)
		return;
	if (s[0] != '/') {
		const char *prev = "/";
		for (size_t i = 0; i + 1 < w->lc->recipe->n; i++)
			if (w->lc->recipe->v[i].kind == IR_WORKDIR && w->lc->recipe->v[i].u.str)
				prev = w->lc->recipe->v[i].u.str;
		char *abs = path_join(prev, s);
		free(s);
		s = abs;
	}
	n->u.str = s;
}

/* VOLUME <dir> … or VOLUME ["<dir>", …]: guest mount points for SHAREs. */
static void lower_volume(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, SIZE_MAX))
		return;
	struct strvec v = {0};
	struct strbuf sb;
	sb_init(&sb);
	joined_args(w, 0, &sb);
	if (exec_form_wanted(sb_cstr(&sb))) {
		if (!exec_form(w, 0, sb_cstr(&sb), &v)) {
			sb_free(&sb);
			return;
		}
	} else {
		for (size_t i = 0; i < w->in->nargs; i++) {
			char *s = arg_nonempty(w, i);
			if (s)
				sv_push(&v, s);
		}
	}
	sb_free(&sb);
	size_t idx = (size_t)(n - w->lc->recipe->v);
	for (size_t i = 0; i < v.n; i++) {
		if (v.v[i][0] != '/') {
			struct diag *g = diag_error(w->lc->diag, n->arg_loc, "VOLUME '%s' must be an absolute path in the image", v.v[i]);
			diag_hint(g, "e.g. VOLUME /data");
			continue;
		}
		struct ir_node *t = &w->lc->recipe->v[idx];
		if (t->u.str) {
			t = recipe_push(w->lc->recipe, IR_VOLUME, t->loc);
			t->arg_loc = w->lc->recipe->v[idx].arg_loc;
		}
		t->u.str = xstrdup(v.v[i]);
	}
	sv_free(&v);
}

/* KEEP <path|glob|pkg:name> …: absolute paths or fnmatch globs in the
 * image, or a package by name. */
static void lower_keep(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, SIZE_MAX))
		return;
	n->u.pkgs.locs = xcalloc(w->in->nargs, sizeof(struct loc));
	for (size_t i = 0; i < w->in->nargs; i++) {
		char *s = arg_nonempty(w, i);
		if (!s)
			continue;
		bool ok;
		if (str_startswith(s, "pkg:"))
			ok = s[4] && !strchr(s + 4, '/') && !strchr(s + 4, ' ');
		else
			ok = s[0] == '/' && !strstr(s, "/../") && !str_endswith(s, "/..");
		if (!ok) {
			struct diag *g = diag_error(w->lc->diag, w->in->args[i].loc, "bad KEEP '%s'", s);
			diag_hint(g, "name an absolute path or glob in the image (KEEP /usr/bin/curl /etc/ssl/*) or a package "
				     "(KEEP pkg:curl)");
			free(s);
			continue;
		}
		n->u.pkgs.locs[n->u.pkgs.pats.n] = w->in->args[i].loc;
		sv_push(&n->u.pkgs.pats, s);
	}
}

static void lower_minimize(struct lw *w, struct ir_node *n)
{
	n->u.minimize = true;
	if (!want_args(w, 0, 1) || !w->in->nargs)
		return;
	char *s = arg_word(w, 0);
	if (!s)
		return;
	if (!strcmp(s, "off"))
		n->u.minimize = false;
	else if (strcmp(s, "auto")) {
		struct diag *g = diag_error(w->lc->diag, n->arg_loc, "unknown MINIMIZE mode '%s'", s);
		diag_hint(g, "write MINIMIZE, MINIMIZE auto or MINIMIZE off");
	}
	free(s);
}

static int lower_file(struct lower_ctx *lc, const char *path, struct loc included_from);

static void lower_include(struct lw *w, struct ir_node *n)
{
	if (!want_args(w, 1, 1))
		return;
	char *rel = arg_nonempty(w, 0);
	if (!rel)
		return;
	n->u.str = rel;
	/* relative to the including file's directory */
	char *dir = path_dirname(w->f->path);
	char *full = strcmp(dir, ".") ? path_join(dir, rel) : xstrdup(rel);
	free(dir);
	char *rp = realpath(full, NULL);
	if (!rp && errno == ENOENT && rel[0] != '/') {
		/* smoler's files INCLUDE relative to the build context
		 * (INCLUDE smolerfiles/x.inc, built with -f from the root) */
		char *alt = path_join(w->lc->recipe->dir, rel);
		rp = realpath(alt, NULL);
		if (rp) {
			free(full);
			full = alt;
		} else {
			free(alt);
			errno = ENOENT;
		}
	}
	if (!rp) {
		struct diag *g = diag_error(w->lc->diag, n->arg_loc, "cannot INCLUDE '%s': %s", rel, strerror(errno));
		diag_hint(g, "paths are relative to the including file's directory, then to the build context");
		free(full);
		return;
	}
	for (size_t i = 0; i < w->lc->include_stack.n; i++) {
		if (!strcmp(w->lc->include_stack.v[i], rp)) {
			struct diag *g = diag_error(w->lc->diag, n->arg_loc, "INCLUDE cycle: '%s' is already being included", rel);
			diag_hint(g, "remove one of the INCLUDE lines that form the loop");
			free(rp);
			free(full);
			return;
		}
	}
	if (w->lc->include_stack.n >= LOWER_MAX_DEPTH) {
		diag_error(w->lc->diag, n->arg_loc, "INCLUDE nested more than %d deep", LOWER_MAX_DEPTH);
		free(rp);
		free(full);
		return;
	}
	if (++w->lc->nincludes > LOWER_MAX_INCLUDES) {
		struct diag *g = diag_error(w->lc->diag, n->arg_loc, "more than %d INCLUDEs in one recipe", LOWER_MAX_INCLUDES);
		diag_hint(g, "a file that INCLUDEs the same fragment several times multiplies: include each fragment once");
		free(rp);
		free(full);
		return;
	}
	free(rp);
	lower_file(w->lc, full, n->loc);
	free(full);
}

static void lower_instr(struct lower_ctx *lc, const struct ast *ast, const struct ainstr *in)
{
	const struct srcfile *f = diag_file(lc->diag, ast->file);
	char *kw = xstrndup(f->data + in->kw.off, in->kw.len);
	const struct ir_info *info = ir_lookup(kw);
	/* ADD: COPY of local files, as a Dockerfile's ADD does with them */
	static const struct ir_info add_info = {"ADD", IR_COPY, false,
						"ADD [--chown=<user>[:<group>]] [--mode=<octal>] <src>… <dst> | "
						"ADD [--checksum=sha256:<hex>] [--chown=…] [--mode=…] <url> <dst>"};
	if (!info && str_ieq(kw, "ADD"))
		info = &add_info;
	if (!info) {
		const char *sug = ir_suggest(kw);
		/* quote at most 64 bytes, cut at a character boundary */
		size_t shown = 0;
		while (kw[shown] && shown < 64) {
			size_t cl = diag_utf8_len((const unsigned char *)kw + shown, strlen(kw + shown));
			if (!cl || shown + cl > 64)
				break;
			shown += cl;
		}
		struct diag *g = diag_error(lc->diag, in->kw, "unknown instruction '%.*s%s'", (int)shown, kw,
					    kw[shown] ? "…" : "");
		if (sug && isupper((unsigned char)sug[0]) && !strchr(sug, ' '))
			diag_hint(g, "did you mean '%s'?", sug);
		else if (sug)
			diag_hint(g, "smolc has no %s; use %s", kw, sug);
		else
			diag_hint(g, "see SPEC.md for the instructions (FROM, SETS, PKGS, RC, POSTINST, PORTS, KERNEL, …)");
		free(kw);
		return;
	}
	free(kw);
	struct ir_node *n = recipe_push(lc->recipe, info->kind, in->line);
	if (in->nargs)
		n->arg_loc = in->args[0].loc;
	struct lw w = {lc, ast, in, info, f};
	switch (info->kind) {
	case IR_FROM:
		lower_from(&w, n);
		break;
	case IR_SETS:
		lower_sets(&w, n);
		break;
	case IR_PKGS:
		lower_pkgs(&w, n);
		break;
	case IR_RC:
	case IR_POSTINST:
		lower_script(&w, n);
		break;
	case IR_RUN:
		lower_run(&w, n);
		break;
	case IR_PORTS:
		lower_ports(&w, n);
		break;
	case IR_KERNEL:
	case IR_INITRD:
		lower_kernel(&w, n);
		break;
	case IR_ARG:
	case IR_ENV:
		lower_var(&w, n);
		break;
	case IR_COPY:
		lower_copy(&w, n);
		break;
	case IR_SERVICE:
		lower_service(&w, n);
		break;
	case IR_ARCH:
		lower_choice(&w, n, arches, ARRAY_LEN(arches));
		break;
	case IR_PROFILE:
		lower_choice(&w, n, profiles, ARRAY_LEN(profiles));
		break;
	case IR_SIZE:
		lower_size(&w, n);
		break;
	case IR_MEM:
		lower_mem(&w, n);
		break;
	case IR_CPUS:
		lower_cpus(&w, n);
		break;
	case IR_SHARE:
		lower_share(&w, n);
		break;
	case IR_FWCFG:
		lower_fwcfg(&w, n);
		break;
	case IR_READONLY:
		want_args(&w, 0, 0);
		break;
	case IR_INCLUDE:
		lower_include(&w, n);
		break;
	case IR_LABEL:
		lower_label(&w, n);
		break;
	case IR_CMD:
	case IR_APPEND:
		lower_text(&w, n);
		break;
	case IR_PKGSITE:
		lower_str(&w, n);
		break;
	case IR_EXPOSE:
		lower_expose(&w, n);
		break;
	case IR_USER:
		lower_user(&w, n);
		break;
	case IR_WORKDIR:
		lower_workdir(&w, n);
		break;
	case IR_VOLUME:
		lower_volume(&w, n);
		break;
	case IR_ENTRYPOINT:
		lower_text(&w, n);
		break;
	case IR_KEEP:
		lower_keep(&w, n);
		break;
	case IR_MINIMIZE:
		lower_minimize(&w, n);
		break;
	case IR__COUNT:
	default:
		abort();
	}
}

/* Lower a parsed file (ast->file registered in the diag context). */
static void lower_ast(struct lower_ctx *lc, struct ast *ast, const char *path)
{
	const struct srcfile *f = ast->file ? diag_file(lc->diag, ast->file) : NULL;
	if (f)
		sv_pushdup(&lc->include_stack, f->realpath ? f->realpath : path);
	/* about one IR node per instruction: size the array once */
	struct recipe *r = lc->recipe;
	if (r->cap < r->n + ast->n) {
		r->cap = r->n + ast->n;
		r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	for (size_t i = 0; i < ast->n; i++) {
		if (diag_full(lc->diag)) {
			lc->diag->capped = true; /* say so: instructions were skipped */
			break;
		}
		lower_instr(lc, ast, &ast->v[i]);
	}
	if (f) {
		free(lc->include_stack.v[--lc->include_stack.n]);
		lc->include_stack.v[lc->include_stack.n] = NULL;
	}
}

static int lower_file(struct lower_ctx *lc, const char *path, struct loc included_from)
{
	struct ast ast;
	size_t before = lc->diag->errors;
	parse_file(lc->diag, path, included_from, &ast);
	lower_ast(lc, &ast, path);
	ast_free(&ast);
	return lc->diag->errors == before ? 0 : -1;
}

static void lower_ctx_init(struct lower_ctx *lc, struct diag_ctx *d, struct recipe *r, const struct strvec *build_args)
{
	memset(lc, 0, sizeof(*lc));
	lc->diag = d;
	lc->recipe = r;
	size_t nba = build_args ? build_args->n : 0;
	lc->build_arg_used = xcalloc(nba + 1, sizeof(bool));
	for (size_t i = 0; i < nba; i++)
		sv_pushdup(&lc->build_args, build_args->v[i]);
}

/* Warn about unused --build-args (top-level recipe only), free lc. */
static void lower_ctx_fini(struct lower_ctx *lc, bool top)
{
	/* A --build-arg no ARG declares is most likely a typo. */
	for (size_t i = 0; top && i < lc->build_args.n; i++) {
		if (!lc->build_arg_used[i]) {
			size_t bl = strcspn(lc->build_args.v[i], "=");
			diag_warning(lc->diag, (struct loc){0, 0, 0}, "--build-arg %.*s: the recipe declares no ARG %.*s", (int)bl,
				     lc->build_args.v[i], (int)bl, lc->build_args.v[i]);
		}
	}
	free(lc->build_arg_used);
	sv_free(&lc->build_args);
	sv_free(&lc->include_stack);
	var_env_free(&lc->env);
}

int lower_recipe(struct diag_ctx *d, struct recipe *r, const char *path, struct loc included_from,
		 const struct strvec *build_args)
{
	struct lower_ctx lc;
	lower_ctx_init(&lc, d, r, build_args);
	int rc = lower_file(&lc, path, included_from);
	lower_ctx_fini(&lc, !included_from.file);
	return rc;
}

int lower_buffer(struct diag_ctx *d, struct recipe *r, const char *name, const char *data, size_t len,
		 const struct strvec *build_args)
{
	struct lower_ctx lc;
	struct ast ast;
	lower_ctx_init(&lc, d, r, build_args);
	size_t before = d->errors;
	parse_buffer(d, name, data, len, &ast);
	lower_ast(&lc, &ast, name);
	ast_free(&ast);
	lower_ctx_fini(&lc, true);
	return d->errors == before ? 0 : -1;
}
