/* catalog.c — sets/catalog.yaml and checksum lists (see catalog.h).
 *
 * Design note: the YAML is loaded with libyaml's document API into plain
 * structs once; unknown keys and malformed values are errors that carry
 * file:line:column, so a typo in the catalog is caught at load time rather
 * than as a 404 later. Templates are also expanded once at load time with
 * dummy values to reject unknown placeholders. catalog_target() expands
 * them for real. Checksum-list parsing is line based and needs no YAML. */
#include "catalog.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#ifndef SMOLC_PREFIX
#define SMOLC_PREFIX "/usr/local"
#endif

struct cat_kernel {
	char *name, *url, *sha256;
};
struct cat_ext_rule {
	char *since; /* NULL: any version */
	char *ext;
};
struct cat_arch {
	char *name, *machine, *default_kernel;
	struct cat_ext_rule *ext;
	size_t next, cext;
	struct cat_kernel *k;
	size_t nk, ck;
};
struct cat_release {
	char *name, *version, *branch, *pkgversion, *mirror;
	char *sets, *kernel_dir, *pkgsrc; /* template overrides or NULL */
	bool daily;
};
struct catalog {
	char *path, *datadir;
	char *mirror, *default_release;
	char *tpl_sets, *tpl_kernel_dir, *tpl_pkgsrc, *checksums;
	struct strvec default_sets, tiny_sets, known_sets;
	struct strvec release_names, arch_names;
	struct cat_release *rel;
	size_t nrel, crel;
	struct cat_arch *arch;
	size_t narch, carch;
};

/* ---- locating ---- */

char *catalog_locate(const char *explicit_path, struct error **err)
{
	if (explicit_path) {
		if (path_exists(explicit_path))
			return xstrdup(explicit_path);
		error_set(err, "catalog %s: %s", explicit_path, strerror(ENOENT));
		return NULL;
	}
	struct strvec tried = {0};
	const char *dd = getenv("SMOLC_DATADIR");
	if (dd && *dd)
		sv_push(&tried, xasprintf("%s/sets/catalog.yaml", dd));
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *dir = path_dirname(exe);
		sv_push(&tried, xasprintf("%s/sets/catalog.yaml", dir));
		sv_push(&tried, xasprintf("%s/../sets/catalog.yaml", dir));
		sv_push(&tried, xasprintf("%s/../share/smolc/sets/catalog.yaml", dir));
		free(dir);
	}
	sv_push(&tried, xstrdup(SMOLC_PREFIX "/share/smolc/sets/catalog.yaml"));
	char *found = NULL;
	for (size_t i = 0; i < tried.n && !found; i++)
		if (path_exists(tried.v[i]))
			found = xstrdup(tried.v[i]);
	if (!found) {
		struct strbuf sb;
		sb_init(&sb);
		for (size_t i = 0; i < tried.n; i++)
			sb_printf(&sb, "%s%s", i ? ", " : "", tried.v[i]);
		error_set(err, "cannot find sets/catalog.yaml (tried %s); set SMOLC_DATADIR to the directory "
			     "that holds sets/", sb_cstr(&sb));
		sb_free(&sb);
	}
	sv_free(&tried);
	return found;
}

/* ---- YAML helpers ---- */

struct ld {
	yaml_document_t *doc;
	const char *origin;
	struct error **err;
	bool failed;
};

static bool fail_at(struct ld *l, yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail_at(struct ld *l, yaml_node_t *n, const char *fmt, ...)
{
	if (l->failed)
		return false;
	l->failed = true;
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	if (n)
		error_set(l->err, "%s:%zu:%zu: %s", l->origin, n->start_mark.line + 1, n->start_mark.column + 1, m);
	else
		error_set(l->err, "%s: %s", l->origin, m);
	free(m);
	return false;
}

static yaml_node_t *node(struct ld *l, int id)
{
	return yaml_document_get_node(l->doc, id);
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Scalar value as a new string, or fail with "<what> must be a string". */
static bool get_str(struct ld *l, yaml_node_t *n, const char *what, char **out)
{
	const char *s = scalar(n);
	if (!s)
		return fail_at(l, n, "%s must be a string", what);
	free(*out);
	*out = xstrdup(s);
	return true;
}

static bool get_bool(struct ld *l, yaml_node_t *n, const char *what, bool *out)
{
	const char *s = scalar(n);
	if (s && (!strcmp(s, "true") || !strcmp(s, "yes"))) {
		*out = true;
		return true;
	}
	if (s && (!strcmp(s, "false") || !strcmp(s, "no"))) {
		*out = false;
		return true;
	}
	return fail_at(l, n, "%s must be true or false", what);
}

static bool get_list(struct ld *l, yaml_node_t *n, const char *what, struct strvec *out)
{
	if (!n || n->type != YAML_SEQUENCE_NODE)
		return fail_at(l, n, "%s must be a list of names", what);
	sv_free(out);
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = node(l, *it);
		if (!scalar(e))
			return fail_at(l, e, "%s: entries must be names", what);
		sv_pushdup(out, scalar(e));
	}
	return true;
}

static bool want_map(struct ld *l, yaml_node_t *n, const char *what)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return fail_at(l, n, "%s must be a mapping", what);
	return true;
}

#define FOR_PAIRS(l, n, k, v)                                                                   \
	for (yaml_node_pair_t *k##_p = (n)->data.mapping.pairs.start; k##_p < (n)->data.mapping.pairs.top; \
	     k##_p++)                                                                           \
		for (yaml_node_t *k = node(l, k##_p->key), *v = node(l, k##_p->value); k; k = NULL)

/* Check a template for unknown placeholders. */
static const char *const PLACEHOLDERS[] = {"mirror", "main_mirror", "version", "branch", "arch",
					   "machine", "pkgversion", "kernel_dir"};

static bool check_template(struct ld *l, yaml_node_t *n, const char *t)
{
	for (const char *p = strchr(t, '{'); p; p = strchr(p + 1, '{')) {
		const char *e = strchr(p, '}');
		if (!e)
			return fail_at(l, n, "unclosed '{' in template \"%s\"", t);
		bool ok = false;
		for (size_t i = 0; i < ARRAY_LEN(PLACEHOLDERS); i++)
			if (strlen(PLACEHOLDERS[i]) == (size_t)(e - p - 1) &&
			    !strncmp(PLACEHOLDERS[i], p + 1, (size_t)(e - p - 1)))
				ok = true;
		if (!ok)
			return fail_at(l, n, "unknown placeholder {%.*s} in template (known: mirror main_mirror "
					     "version branch arch machine pkgversion kernel_dir)",
				       (int)(e - p - 1), p + 1);
	}
	return true;
}

static bool get_tpl(struct ld *l, yaml_node_t *n, const char *what, char **out)
{
	return get_str(l, n, what, out) && check_template(l, n, *out);
}

static bool load_templates(struct ld *l, struct catalog *c, yaml_node_t *n)
{
	if (!want_map(l, n, "templates"))
		return false;
	FOR_PAIRS(l, n, k, v)
	{
		const char *key = scalar(k);
		if (!key)
			return fail_at(l, k, "templates: keys must be names");
		if (!strcmp(key, "sets")) {
			if (!get_tpl(l, v, "templates.sets", &c->tpl_sets))
				return false;
		} else if (!strcmp(key, "kernel_dir")) {
			if (!get_tpl(l, v, "templates.kernel_dir", &c->tpl_kernel_dir))
				return false;
		} else if (!strcmp(key, "pkgsrc")) {
			if (!get_tpl(l, v, "templates.pkgsrc", &c->tpl_pkgsrc))
				return false;
		} else if (!strcmp(key, "checksums")) {
			if (!get_str(l, v, "templates.checksums", &c->checksums))
				return false;
		} else {
			return fail_at(l, k, "unknown key '%s' in templates (known: sets kernel_dir pkgsrc checksums)",
				       key);
		}
	}
	return true;
}

static bool load_sets(struct ld *l, struct catalog *c, yaml_node_t *n)
{
	if (!want_map(l, n, "sets"))
		return false;
	FOR_PAIRS(l, n, k, v)
	{
		const char *key = scalar(k);
		if (key && !strcmp(key, "default")) {
			if (!get_list(l, v, "sets.default", &c->default_sets))
				return false;
		} else if (key && !strcmp(key, "tiny")) {
			if (!get_list(l, v, "sets.tiny", &c->tiny_sets))
				return false;
		} else if (key && !strcmp(key, "known")) {
			if (!get_list(l, v, "sets.known", &c->known_sets))
				return false;
		} else {
			return fail_at(l, k, "unknown key '%s' in sets (known: default tiny known)", key ? key : "?");
		}
	}
	return true;
}

static bool load_kernels(struct ld *l, struct cat_arch *a, yaml_node_t *n)
{
	if (!want_map(l, n, "kernels"))
		return false;
	FOR_PAIRS(l, n, k, v)
	{
		const char *key = scalar(k);
		if (!key)
			return fail_at(l, k, "kernels: keys must be names");
		if (!strcmp(key, "default")) {
			if (!get_str(l, v, "kernels.default", &a->default_kernel))
				return false;
			continue;
		}
		if (!want_map(l, v, "a kernel entry"))
			return false;
		VEC_GROW(a->k, a->nk, a->ck);
		struct cat_kernel *kk = &a->k[a->nk++];
		memset(kk, 0, sizeof(*kk));
		kk->name = xstrdup(key);
		FOR_PAIRS(l, v, k2, v2)
		{
			const char *f = scalar(k2);
			if (f && !strcmp(f, "url")) {
				if (!get_tpl(l, v2, "kernel url", &kk->url))
					return false;
			} else if (f && !strcmp(f, "sha256")) {
				if (!get_tpl(l, v2, "kernel sha256", &kk->sha256))
					return false;
			} else {
				return fail_at(l, k2, "unknown key '%s' in kernel %s (known: url sha256)", f ? f : "?",
					       key);
			}
		}
		if (!kk->url)
			return fail_at(l, v, "kernel %s has no url", key);
	}
	if (!a->default_kernel && a->nk)
		a->default_kernel = xstrdup(a->k[0].name);
	for (size_t i = 0; a->default_kernel && i < a->nk; i++)
		if (!strcmp(a->k[i].name, a->default_kernel))
			return true;
	return fail_at(l, n, "arch %s: default kernel '%s' is not listed", a->name,
		       a->default_kernel ? a->default_kernel : "(none)");
}

static bool load_ext(struct ld *l, struct cat_arch *a, yaml_node_t *n)
{
	if (scalar(n)) {
		VEC_GROW(a->ext, a->next, a->cext);
		a->ext[a->next++] = (struct cat_ext_rule){NULL, xstrdup(scalar(n))};
		return true;
	}
	if (!n || n->type != YAML_SEQUENCE_NODE)
		return fail_at(l, n, "ext must be a string or a list of {since, ext}");
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = node(l, *it);
		if (!want_map(l, e, "an ext rule"))
			return false;
		VEC_GROW(a->ext, a->next, a->cext);
		struct cat_ext_rule *r = &a->ext[a->next++];
		memset(r, 0, sizeof(*r));
		FOR_PAIRS(l, e, k, v)
		{
			const char *f = scalar(k);
			if (f && !strcmp(f, "since")) {
				if (!get_str(l, v, "since", &r->since))
					return false;
			} else if (f && !strcmp(f, "ext")) {
				if (!get_str(l, v, "ext", &r->ext))
					return false;
			} else {
				return fail_at(l, k, "unknown key '%s' in an ext rule (known: since ext)", f ? f : "?");
			}
		}
		if (!r->ext)
			return fail_at(l, e, "ext rule without ext");
	}
	return true;
}

static bool load_arches(struct ld *l, struct catalog *c, yaml_node_t *n)
{
	if (!want_map(l, n, "arches"))
		return false;
	FOR_PAIRS(l, n, k, v)
	{
		const char *key = scalar(k);
		if (!key)
			return fail_at(l, k, "arches: keys must be names");
		if (!want_map(l, v, "an arch entry"))
			return false;
		for (size_t i = 0; i < c->narch; i++)
			if (!strcmp(c->arch[i].name, key))
				return fail_at(l, k, "arch '%s' is listed twice", key);
		VEC_GROW(c->arch, c->narch, c->carch);
		struct cat_arch *a = &c->arch[c->narch++];
		memset(a, 0, sizeof(*a));
		a->name = xstrdup(key);
		sv_pushdup(&c->arch_names, key);
		FOR_PAIRS(l, v, k2, v2)
		{
			const char *f = scalar(k2);
			if (f && !strcmp(f, "machine")) {
				if (!get_str(l, v2, "machine", &a->machine))
					return false;
			} else if (f && !strcmp(f, "ext")) {
				if (!load_ext(l, a, v2))
					return false;
			} else if (f && !strcmp(f, "kernels")) {
				if (!load_kernels(l, a, v2))
					return false;
			} else {
				return fail_at(l, k2, "unknown key '%s' in arch %s (known: machine ext kernels)",
					       f ? f : "?", key);
			}
		}
		if (!a->machine)
			a->machine = xstrdup(key);
		if (!a->next)
			return fail_at(l, v, "arch %s has no ext", key);
	}
	return true;
}

static bool load_releases(struct ld *l, struct catalog *c, yaml_node_t *n)
{
	if (!want_map(l, n, "releases"))
		return false;
	FOR_PAIRS(l, n, k, v)
	{
		const char *key = scalar(k);
		if (!key)
			return fail_at(l, k, "releases: keys must be names");
		if (!want_map(l, v, "a release entry"))
			return false;
		for (size_t i = 0; i < c->nrel; i++)
			if (!strcmp(c->rel[i].name, key))
				return fail_at(l, k, "release '%s' is listed twice", key);
		VEC_GROW(c->rel, c->nrel, c->crel);
		struct cat_release *r = &c->rel[c->nrel++];
		memset(r, 0, sizeof(*r));
		r->name = xstrdup(key);
		sv_pushdup(&c->release_names, key);
		FOR_PAIRS(l, v, k2, v2)
		{
			const char *f = scalar(k2);
			bool ok;
			if (!f)
				ok = fail_at(l, k2, "release %s: keys must be names", key);
			else if (!strcmp(f, "version"))
				ok = get_str(l, v2, "version", &r->version);
			else if (!strcmp(f, "branch"))
				ok = get_str(l, v2, "branch", &r->branch);
			else if (!strcmp(f, "pkgversion"))
				ok = get_str(l, v2, "pkgversion", &r->pkgversion);
			else if (!strcmp(f, "mirror"))
				ok = get_str(l, v2, "mirror", &r->mirror);
			else if (!strcmp(f, "sets"))
				ok = get_tpl(l, v2, "sets", &r->sets);
			else if (!strcmp(f, "kernel_dir"))
				ok = get_tpl(l, v2, "kernel_dir", &r->kernel_dir);
			else if (!strcmp(f, "pkgsrc"))
				ok = get_tpl(l, v2, "pkgsrc", &r->pkgsrc);
			else if (!strcmp(f, "daily"))
				ok = get_bool(l, v2, "daily", &r->daily);
			else
				ok = fail_at(l, k2,
					     "unknown key '%s' in release %s (known: version branch pkgversion "
					     "mirror sets kernel_dir pkgsrc daily)",
					     f, key);
			if (!ok)
				return false;
		}
		if (!r->version)
			r->version = xstrdup(key);
		if (!r->pkgversion)
			r->pkgversion = xstrdup(r->version);
		if (!r->branch)
			r->branch = xasprintf("netbsd-%.*s", (int)strcspn(r->version, "."), r->version);
	}
	return true;
}

static bool load_root(struct ld *l, struct catalog *c, yaml_node_t *root)
{
	if (!root)
		return fail_at(l, NULL, "empty catalog");
	if (!want_map(l, root, "the catalog"))
		return false;
	FOR_PAIRS(l, root, k, v)
	{
		const char *key = scalar(k);
		bool ok;
		if (!key)
			ok = fail_at(l, k, "keys must be names");
		else if (!strcmp(key, "format")) {
			const char *s = scalar(v);
			ok = s && !strcmp(s, "1") ? true : fail_at(l, v, "unsupported catalog format (this smolc reads format 1)");
		} else if (!strcmp(key, "mirror"))
			ok = get_str(l, v, "mirror", &c->mirror);
		else if (!strcmp(key, "default_release"))
			ok = get_str(l, v, "default_release", &c->default_release);
		else if (!strcmp(key, "templates"))
			ok = load_templates(l, c, v);
		else if (!strcmp(key, "sets"))
			ok = load_sets(l, c, v);
		else if (!strcmp(key, "arches"))
			ok = load_arches(l, c, v);
		else if (!strcmp(key, "releases"))
			ok = load_releases(l, c, v);
		else
			ok = fail_at(l, k,
				     "unknown key '%s' (known: format mirror default_release templates sets arches "
				     "releases)",
				     key);
		if (!ok)
			return false;
	}
	if (!c->mirror)
		return fail_at(l, root, "no mirror");
	if (!c->tpl_sets || !c->tpl_kernel_dir || !c->tpl_pkgsrc)
		return fail_at(l, root, "templates: sets, kernel_dir and pkgsrc are required");
	if (!c->checksums)
		c->checksums = xstrdup("SHA512");
	if (!c->narch)
		return fail_at(l, root, "no arches");
	if (!c->nrel)
		return fail_at(l, root, "no releases");
	if (!c->default_release)
		c->default_release = xstrdup(c->rel[c->nrel - 1].name);
	return true;
}

struct catalog *catalog_load_string(const char *text, size_t len, const char *origin, struct error **err)
{
	yaml_parser_t p;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&p)) {
		error_set(err, "%s: cannot initialise the YAML parser", origin);
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &doc)) {
		yaml_mark_t m = p.problem_mark.line || p.problem_mark.column ? p.problem_mark : p.context_mark;
		error_set(err, "%s:%zu:%zu: %s%s%s", origin, m.line + 1, m.column + 1,
			p.problem ? p.problem : "YAML error", p.context ? " " : "", p.context ? p.context : "");
		yaml_parser_delete(&p);
		return NULL;
	}
	struct catalog *c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(origin);
	c->datadir = xstrdup("");
	struct ld l = {&doc, origin, err, false};
	bool ok = load_root(&l, c, yaml_document_get_root_node(&doc));
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	if (!ok) {
		catalog_free(c);
		return NULL;
	}
	size_t ml = strlen(c->mirror);
	while (ml && c->mirror[ml - 1] == '/')
		c->mirror[--ml] = 0;
	return c;
}

struct catalog *catalog_load(const char *path, struct error **err)
{
	char *text;
	size_t len;
	if (read_file(path, 4 << 20, &text, &len) < 0) {
		error_set(err, "catalog %s: %s", path, strerror(errno));
		return NULL;
	}
	struct catalog *c = catalog_load_string(text, len, path, err);
	free(text);
	if (c) {
		/* datadir = the directory holding sets/ */
		char *setsdir = path_dirname(path);
		free(c->datadir);
		c->datadir = path_dirname(setsdir);
		free(setsdir);
	}
	return c;
}

void catalog_free(struct catalog *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->datadir);
	free(c->mirror);
	free(c->default_release);
	free(c->tpl_sets);
	free(c->tpl_kernel_dir);
	free(c->tpl_pkgsrc);
	free(c->checksums);
	sv_free(&c->default_sets);
	sv_free(&c->tiny_sets);
	sv_free(&c->known_sets);
	sv_free(&c->release_names);
	sv_free(&c->arch_names);
	for (size_t i = 0; i < c->nrel; i++) {
		struct cat_release *r = &c->rel[i];
		free(r->name);
		free(r->version);
		free(r->branch);
		free(r->pkgversion);
		free(r->mirror);
		free(r->sets);
		free(r->kernel_dir);
		free(r->pkgsrc);
	}
	free(c->rel);
	for (size_t i = 0; i < c->narch; i++) {
		struct cat_arch *a = &c->arch[i];
		free(a->name);
		free(a->machine);
		free(a->default_kernel);
		for (size_t j = 0; j < a->next; j++) {
			free(a->ext[j].since);
			free(a->ext[j].ext);
		}
		free(a->ext);
		for (size_t j = 0; j < a->nk; j++) {
			free(a->k[j].name);
			free(a->k[j].url);
			free(a->k[j].sha256);
		}
		free(a->k);
	}
	free(c->arch);
	free(c);
}

const char *catalog_datadir(const struct catalog *c)
{
	return c->datadir;
}

const char *catalog_mirror_override(const char *option)
{
	if (option && *option)
		return option;
	const char *e = getenv("SMOLC_MIRROR");
	return e && *e ? e : NULL;
}

const char *catalog_default_release(const struct catalog *c)
{
	return c->default_release;
}

/* ---- targets ---- */

/* Compare dotted numeric versions ("9.0" < "10.1" < "11.99"); a missing
 * component counts as 0 and anything after the digits of a component
 * ("0_2024Q4") is ignored. */
static int vcmp(const char *a, const char *b)
{
	while (*a || *b) {
		long x = 0, y = 0;
		if (*a) {
			x = strtol(a, NULL, 10);
			a += strcspn(a, ".");
			if (*a == '.')
				a++;
		}
		if (*b) {
			y = strtol(b, NULL, 10);
			b += strcspn(b, ".");
			if (*b == '.')
				b++;
		}
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

struct vars {
	const char *mirror, *main_mirror, *version, *branch, *arch, *machine, *pkgversion, *kernel_dir;
};

static char *expand(const char *t, const struct vars *v)
{
	struct strbuf sb;
	sb_init(&sb);
	for (const char *p = t; *p;) {
		if (*p == '{') {
			const char *e = strchr(p, '}');
			const char *val = NULL;
			if (e) {
				size_t n = (size_t)(e - p - 1);
#define V(name)                                                        \
	if (n == strlen(#name) && !strncmp(p + 1, #name, n))               \
		val = v->name ? v->name : "";
				V(mirror) V(main_mirror) V(version) V(branch) V(arch) V(machine) V(pkgversion)
					V(kernel_dir)
#undef V
			}
			if (val) {
				sb_adds(&sb, val);
				p = e + 1;
				continue;
			}
		}
		sb_addc(&sb, *p++);
	}
	return sb_detach(&sb);
}

static char *known_list(const struct strvec *sv)
{
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < sv->n; i++)
		sb_printf(&sb, "%s%s", i ? " " : "", sv->v[i]);
	return sb_detach(&sb);
}

static const struct cat_release *find_release(const struct catalog *c, const char *name)
{
	if (!strncasecmp(name, "netbsd-", 7))
		name += 7;
	for (size_t i = 0; i < c->nrel; i++)
		if (!strcasecmp(c->rel[i].name, name))
			return &c->rel[i];
	return NULL;
}

static const struct cat_arch *find_arch(const struct catalog *c, const char *name)
{
	for (size_t i = 0; i < c->narch; i++)
		if (!strcmp(c->arch[i].name, name))
			return &c->arch[i];
	return NULL;
}

static char *strip_slash(const char *m)
{
	char *s = xstrdup(m);
	size_t n = strlen(s);
	while (n && s[n - 1] == '/')
		s[--n] = 0;
	return s;
}

static void fill_vars(const struct catalog *c, const struct cat_release *r, const struct cat_arch *a,
		      const char *mirror, const char *main_mirror, struct vars *v)
{
	v->mirror = mirror;
	v->main_mirror = main_mirror;
	v->version = r->version;
	v->branch = r->branch;
	v->arch = a->name;
	v->machine = a->machine;
	v->pkgversion = r->pkgversion;
	v->kernel_dir = NULL;
}

struct catalog_target *catalog_target(const struct catalog *c, const char *release, const char *arch,
				      const char *mirror, struct error **err)
{
	if (!release || !*release)
		release = c->default_release;
	const struct cat_release *r = find_release(c, release);
	if (!r) {
		char *k = known_list(&c->release_names);
		error_set(err, "unknown NetBSD release '%s' (known: %s)", release, k);
		free(k);
		return NULL;
	}
	if (!arch || !*arch)
		arch = c->arch[0].name;
	const struct cat_arch *a = find_arch(c, arch);
	if (!a) {
		char *k = known_list(&c->arch_names);
		error_set(err, "unknown architecture '%s' (known: %s)", arch, k);
		free(k);
		return NULL;
	}
	struct catalog_target *t = xcalloc(1, sizeof(*t));
	t->release = xstrdup(r->name);
	t->version = xstrdup(r->version);
	t->arch = xstrdup(a->name);
	t->machine = xstrdup(a->machine);
	t->pkg_version = xstrdup(r->pkgversion);
	t->daily = r->daily;
	char *main_mirror = strip_slash(mirror && *mirror ? mirror : c->mirror);
	t->mirror = strip_slash(mirror && *mirror ? mirror : r->mirror ? r->mirror : c->mirror);
	struct vars v;
	fill_vars(c, r, a, t->mirror, main_mirror, &v);
	t->sets_url = expand(r->sets ? r->sets : c->tpl_sets, &v);
	t->sha512_url = xasprintf("%s%s", t->sets_url, c->checksums);
	t->kernel_dir_url = expand(r->kernel_dir ? r->kernel_dir : c->tpl_kernel_dir, &v);
	t->pkgsrc_url = expand(r->pkgsrc ? r->pkgsrc : c->tpl_pkgsrc, &v);
	for (size_t i = 0; i < a->next; i++) {
		if (!a->ext[i].since || vcmp(a->ext[i].since, r->version) <= 0) {
			t->set_ext = xstrdup(a->ext[i].ext);
			break;
		}
	}
	if (!t->set_ext)
		t->set_ext = xstrdup(a->ext[a->next - 1].ext);
	v.kernel_dir = t->kernel_dir_url;
	for (size_t i = 0; i < a->nk; i++) {
		if (!strcmp(a->k[i].name, a->default_kernel)) {
			t->kernel_url = expand(a->k[i].url, &v);
			t->kernel_sha256_url = a->k[i].sha256 ? expand(a->k[i].sha256, &v) : NULL;
			t->kernel_name = xstrdup(path_basename(t->kernel_url));
		}
	}
	for (size_t i = 0; i < c->default_sets.n; i++)
		sv_pushdup(&t->default_sets, c->default_sets.v[i]);
	for (size_t i = 0; i < c->tiny_sets.n; i++)
		sv_pushdup(&t->tiny_sets, c->tiny_sets.v[i]);
	for (size_t i = 0; i < c->known_sets.n; i++)
		sv_pushdup(&t->known_sets, c->known_sets.v[i]);
	free(main_mirror);
	return t;
}

void catalog_target_free(struct catalog_target *t)
{
	if (!t)
		return;
	free(t->release);
	free(t->version);
	free(t->arch);
	free(t->machine);
	free(t->mirror);
	free(t->sets_url);
	free(t->sha512_url);
	free(t->set_ext);
	free(t->kernel_name);
	free(t->kernel_url);
	free(t->kernel_sha256_url);
	free(t->kernel_dir_url);
	free(t->pkgsrc_url);
	free(t->pkg_version);
	sv_free(&t->default_sets);
	sv_free(&t->tiny_sets);
	sv_free(&t->known_sets);
	free(t);
}

static bool has_ext(const char *file)
{
	return strchr(file, '.') != NULL;
}

char *catalog_set_url(const struct catalog_target *t, const char *file)
{
	if (has_ext(file))
		return xasprintf("%s%s", t->sets_url, file);
	return xasprintf("%s%s.%s", t->sets_url, file, t->set_ext);
}

int catalog_kernel(const struct catalog *c, const struct catalog_target *t, const char *name,
		   char **url, char **sha256_url, struct error **err)
{
	*url = *sha256_url = NULL;
	const struct cat_release *r = find_release(c, t->release);
	const struct cat_arch *a = find_arch(c, t->arch);
	if (!r || !a) {
		error_set(err, "kernel: target %s/%s is not from this catalog", t->release, t->arch);
		return -1;
	}
	struct vars v;
	char *main_mirror = strip_slash(c->mirror);
	fill_vars(c, r, a, t->mirror, main_mirror, &v);
	v.kernel_dir = t->kernel_dir_url;
	if (!name || !*name)
		name = a->default_kernel;
	int rc = -1;
	for (size_t i = 0; i < a->nk; i++) {
		char *u = expand(a->k[i].url, &v);
		bool match = !strcasecmp(a->k[i].name, name) || !strcmp(path_basename(u), name) ||
			     (!strncmp(name, "netbsd-", 7) && !strcasecmp(a->k[i].name, name + 7));
		if (match) {
			*url = u;
			*sha256_url = a->k[i].sha256 ? expand(a->k[i].sha256, &v) : NULL;
			rc = 0;
			goto out;
		}
		free(u);
	}
	if (!strncmp(name, "netbsd-", 7) && !strchr(name, '/')) {
		*url = xasprintf("%s%s", t->kernel_dir_url, name);
		rc = 0;
		goto out;
	}
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < a->nk; i++)
		sb_printf(&sb, "%s%s", i ? " " : "", a->k[i].name);
	error_set(err, "unknown kernel '%s' for %s (known: %s; or a file name like netbsd-GENERIC.gz from %s, "
		     "a URL or a path)",
		name, a->name, sb_cstr(&sb), t->kernel_dir_url);
	sb_free(&sb);
out:
	free(main_mirror);
	return rc;
}

static const char *const SET_EXTS[] = {"tar.xz", "tgz", "tar.gz", "tar.zst", "tar"};

char *catalog_local_set(const struct catalog_target *t, const char *recipe_dir, const char *datadir,
			const char *set, const char *file_name)
{
	const char *dirs[2] = {recipe_dir, datadir};
	for (size_t d = 0; d < 2; d++) {
		if (!dirs[d] || !*dirs[d])
			continue;
		if (file_name) {
			char *p = xasprintf("%s/sets/%s/%s", dirs[d], t->arch, file_name);
			if (path_exists(p))
				return p;
			free(p);
			continue;
		}
		char *p = xasprintf("%s/sets/%s/%s.%s", dirs[d], t->arch, set, t->set_ext);
		if (path_exists(p))
			return p;
		free(p);
		for (size_t i = 0; i < ARRAY_LEN(SET_EXTS); i++) {
			p = xasprintf("%s/sets/%s/%s.%s", dirs[d], t->arch, set, SET_EXTS[i]);
			if (path_exists(p))
				return p;
			free(p);
		}
	}
	return NULL;
}

/* ---- checksum lists ---- */

static const char *alg_for_len(size_t n)
{
	switch (n) {
	case 32:
		return "md5";
	case 40:
		return "sha1";
	case 64:
		return "sha256";
	case 128:
		return "sha512";
	default:
		return NULL;
	}
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return n > 0;
}

static char *lower_dup(const char *s, size_t n)
{
	char *r = xstrndup(s, n);
	for (char *p = r; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

static const char *skip_dot_slash(const char *s)
{
	while (s[0] == '.' && s[1] == '/')
		s += 2;
	return s;
}

/* Parse one trimmed line into e. Returns false when malformed. */
static bool parse_sum_line(const char *s, size_t n, struct catalog_sum *e)
{
	/* BSD tag form: ALG (name) = hex */
	const char *paren = memchr(s, '(', n);
	const char *eq = NULL;
	for (size_t i = n; i > 0; i--)
		if (s[i - 1] == '=') {
			eq = s + i - 1;
			break;
		}
	if (paren && eq && eq > paren) {
		const char *close = eq;
		while (close > paren && *close != ')')
			close--;
		size_t al = (size_t)(paren - s);
		while (al && s[al - 1] == ' ')
			al--;
		const char *h = eq + 1;
		while (*h == ' ' && h < s + n)
			h++;
		size_t hl = (size_t)(s + n - h);
		if (close > paren && al && all_hex(h, hl)) {
			char *alg = lower_dup(s, al);
			const char *expect = alg_for_len(hl);
			bool known = !strcmp(alg, "md5") || !strcmp(alg, "sha1") || !strcmp(alg, "sha256") ||
				     !strcmp(alg, "sha512");
			if (known && (!expect || strcmp(expect, alg))) {
				free(alg);
				return false;
			}
			e->alg = alg;
			/* "SHA512" → "sha512"; "SHA2-256"-style names are kept lowercased */
			e->name = xstrndup(paren + 1, (size_t)(close - paren - 1));
			e->hex = lower_dup(h, hl);
			return true;
		}
		return false;
	}
	/* hex [ws [*]name] */
	size_t hl = 0;
	while (hl < n && isxdigit((unsigned char)s[hl]))
		hl++;
	const char *alg = alg_for_len(hl);
	if (!alg || (hl < n && s[hl] != ' ' && s[hl] != '\t'))
		return false;
	const char *p = s + hl;
	while (p < s + n && (*p == ' ' || *p == '\t'))
		p++;
	if (p < s + n && *p == '*')
		p++;
	e->alg = xstrdup(alg);
	e->hex = lower_dup(s, hl);
	e->name = xstrndup(p, (size_t)(s + n - p));
	return true;
}

struct catalog_sums *catalog_sums_parse(const char *text, size_t len, const char *origin, struct error **err)
{
	struct catalog_sums *s = xcalloc(1, sizeof(*s));
	size_t cap = 0, lineno = 0;
	const char *end = text + len;
	for (const char *line = text; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *le = nl ? nl : end;
		lineno++;
		const char *a = line, *b = le;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == '\r' || b[-1] == ' ' || b[-1] == '\t'))
			b--;
		line = nl ? nl + 1 : end;
		if (a == b || *a == '#')
			continue;
		struct catalog_sum e = {0};
		if (!parse_sum_line(a, (size_t)(b - a), &e)) {
			error_set(err, "%s:%zu: not a checksum line: \"%.*s\" (want 'SHA512 (name) = <hex>' or "
				     "'<hex>  name')",
				origin, lineno, (int)(b - a > 80 ? 80 : b - a), a);
			free(e.alg);
			free(e.name);
			free(e.hex);
			catalog_sums_free(s);
			return NULL;
		}
		VEC_GROW(s->v, s->n, cap);
		s->v[s->n++] = e;
	}
	return s;
}

void catalog_sums_free(struct catalog_sums *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].alg);
		free(s->v[i].hex);
	}
	free(s->v);
	free(s);
}

static int alg_rank(const char *alg)
{
	if (!strcmp(alg, "sha512"))
		return 3;
	if (!strcmp(alg, "sha256"))
		return 2;
	return 1;
}

const struct catalog_sum *catalog_sums_lookup(const struct catalog_sums *s, const char *name, const char *alg)
{
	const struct catalog_sum *best = NULL;
	const char *n = skip_dot_slash(name);
	for (size_t i = 0; i < s->n; i++) {
		const struct catalog_sum *e = &s->v[i];
		if (strcmp(skip_dot_slash(e->name), n))
			continue;
		if (alg) {
			if (!strcasecmp(e->alg, alg))
				return e;
			continue;
		}
		if (!best || alg_rank(e->alg) > alg_rank(best->alg))
			best = e;
	}
	return best;
}

const struct catalog_sum *catalog_sums_find_set(const struct catalog_sums *s, const char *set,
						const char *origin, struct error **err)
{
	const struct catalog_sum *e = NULL;
	if (has_ext(set)) {
		e = catalog_sums_lookup(s, set, NULL);
	} else {
		for (size_t i = 0; i < ARRAY_LEN(SET_EXTS) && !e; i++) {
			char *f = xasprintf("%s.%s", set, SET_EXTS[i]);
			e = catalog_sums_lookup(s, f, NULL);
			free(f);
		}
	}
	if (e)
		return e;
	/* list the set names the file knows */
	struct strbuf sb;
	sb_init(&sb);
	struct strvec seen = {0};
	for (size_t i = 0; i < s->n; i++) {
		const char *nm = skip_dot_slash(s->v[i].name);
		size_t base = strcspn(nm, ".");
		bool isset = false;
		for (size_t k = 0; k < ARRAY_LEN(SET_EXTS); k++)
			if (nm[base] == '.' && !strcmp(nm + base + 1, SET_EXTS[k]))
				isset = true;
		if (!isset)
			continue;
		bool dup = false;
		for (size_t k = 0; k < seen.n; k++)
			if (strlen(seen.v[k]) == base && !strncmp(seen.v[k], nm, base))
				dup = true;
		if (dup)
			continue;
		sv_push(&seen, xstrndup(nm, base));
		sb_printf(&sb, "%s%.*s", seen.n > 1 ? " " : "", (int)base, nm);
	}
	error_set(err, "set '%s' is not in %s (sets: %s)", set, origin, seen.n ? sb_cstr(&sb) : "none");
	sv_free(&seen);
	sb_free(&sb);
	return NULL;
}

int catalog_parse_sha256(const char *text, size_t len, const char *name, const char *origin, char hex[65],
			 struct error **err)
{
	struct catalog_sums *s = catalog_sums_parse(text, len, origin, err);
	if (!s)
		return -1;
	const struct catalog_sum *hit = NULL;
	size_t n256 = 0;
	const struct catalog_sum *only = NULL;
	for (size_t i = 0; i < s->n; i++) {
		const struct catalog_sum *e = &s->v[i];
		if (strcmp(e->alg, "sha256") || strlen(e->hex) != 64)
			continue;
		n256++;
		only = e;
		if (name && (!strcmp(skip_dot_slash(e->name), skip_dot_slash(name)) ||
			     !strcmp(path_basename(e->name), path_basename(name))))
			hit = e;
	}
	if (!hit && n256 == 1)
		hit = only;
	int rc = -1;
	if (hit) {
		memcpy(hex, hit->hex, 65);
		rc = 0;
	} else if (!n256) {
		error_set(err, "%s: no sha256 digest in the file", origin);
	} else {
		error_set(err, "%s: no sha256 digest for '%s'", origin, name ? name : "");
	}
	catalog_sums_free(s);
	return rc;
}
