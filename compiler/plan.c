/* plan.c — see plan.h. */
#include "plan.h"
#include "cache.h"
#include "catalog.h"
#include "digest.h"
#include "digestmemo.h"
#include "fetch.h"
#include "lockfile.h"
#include "pkgs.h"
#include "exitcode.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_EPOCH 1735689600ull /* 2025-01-01T00:00:00Z */

const char *step_kind_name(enum step_kind k)
{
	switch (k) {
	case STEP_BASE:
		return "base";
	case STEP_SET:
		return "sets";
	case STEP_PKGS:
		return "pkgs";
	case STEP_COPY:
		return "copy";
	case STEP_POSTINST:
		return "postinst";
	case STEP_GEN:
		return "gen";
	case STEP_RC:
		return "rc";
	}
	abort();
}

static void input_free(struct plan_input *in)
{
	free(in->what);
	free(in->source);
	free(in->path);
	free(in->digest);
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		struct plan_step *s = &p->v[i];
		free(s->title);
		free(s->canon);
		for (size_t k = 0; k < s->nin; k++)
			input_free(&s->in[k]);
		free(s->in);
		free(s->text);
	}
	free(p->v);
	input_free(&p->kernel);
	catalog_target_free(p->target);
	pkgs_state_free(p->pkgs);
	free(p);
}

/* The rescue set: by name, or a URL or path whose file is rescue.<ext>
 * (…/amd64/binary/sets/rescue.tar.xz), as the anchor links by the set. */
static bool set_is_rescue(const struct ir_set *set)
{
	if (set->src == SRC_NAME)
		return !strcmp(set->ref, "rescue");
	const char *end = set->ref + strcspn(set->ref, "?#");
	if (set->src != SRC_URL)
		end = set->ref + strlen(set->ref);
	const char *base = end;
	while (base > set->ref && base[-1] != '/')
		base--;
	static const char *const exts[] = {".tgz", ".tar.xz", ".tar", ".tar.gz", ".tar.zst", ".tar.bz2", ".txz"};
	size_t n = (size_t)(end - base);
	if (n < 7 || memcmp(base, "rescue.", 7))
		return false;
	for (size_t i = 0; i < ARRAY_LEN(exts); i++)
		if (n == 6 + strlen(exts[i]) && !memcmp(base + 6, exts[i], strlen(exts[i])))
			return true;
	return false;
}

static struct plan_step *add_step(struct plan *p, enum step_kind k, const struct recipe *r, const struct ir_node *n,
				  struct loc loc, char *title)
{
	VEC_GROW(p->v, p->n, p->cap);
	struct plan_step *s = &p->v[p->n++];
	memset(s, 0, sizeof(*s));
	s->kind = k;
	s->recipe = r;
	s->node = n;
	s->loc = loc;
	s->title = title;
	return s;
}

/* sha256 of a local file, through the digest memo (digestmemo.h). `st`:
 * the file's stat when the caller has it, else NULL. */
static void input_local_file_st(const struct plan_env *env, struct plan_input *in, const char *path,
				const struct stat *st)
{
	char hex[65];
	free(in->path);
	in->path = xstrdup(path);
	if (dmemo_digest(env->memo, path, st, hex) == 0)
		in->digest = xasprintf("sha256:%s", hex);
}

static void input_local_file(const struct plan_env *env, struct plan_input *in, const char *path)
{
	input_local_file_st(env, in, path, NULL);
}

/* Fetch (or, in plan mode, look up in the cache) a remote input. */
static int input_fetch(const struct plan_env *env, struct plan_input *in, const char *pin, const char *hint,
		       const char *base_dir, struct diag_ctx *d, struct loc at)
{
	if (pin && !in->digest)
		in->digest = xstrdup(pin);
	if (!env->fetch || (env->index_only && in->digest))
		return 0;
	struct fetch_req req = {in->source, pin, hint, base_dir, false};
	struct fetch_result res;
	memset(&res, 0, sizeof(res));
	char *err = NULL;
	if (fetch_file(env->fetch, &req, &res, &err) < 0) {
		if (env->fetch_inputs) {
			diag_error(d, at, "%s", err);
			free(err);
			return -1;
		}
		free(err);
		return 0; /* plan: not in the cache yet → pending (unless pinned) */
	}
	free(in->path);
	in->path = xstrdup(res.path);
	if (!in->digest)
		in->digest = xasprintf("sha256:%s", res.sha256);
	fetch_result_clear(&res);
	return 0;
}

/* The release's SHA512 list (cached, or fetched in build mode). */
static struct catalog_sums *release_sums(const struct plan_env *env, const struct catalog_target *t, struct diag_ctx *d,
					 struct loc at, bool *failed)
{
	*failed = false;
	if (!env->fetch || !t)
		return NULL;
	struct fetch_req req = {t->sha512_url, NULL, "check the NetBSD version in FROM", NULL, false};
	char *text = NULL, *err = NULL;
	size_t len = 0;
	if (fetch_text(env->fetch, &req, 0, &text, &len, NULL, &err) < 0) {
		if (env->fetch_inputs) {
			diag_error(d, at, "%s", err);
			*failed = true;
		}
		free(err);
		return NULL;
	}
	struct catalog_sums *s = catalog_sums_parse(text, len, t->sha512_url, &err);
	if (!s) {
		diag_error(d, at, "%s", err);
		*failed = true;
		free(err);
	}
	free(text);
	return s;
}

static int plan_set(struct diag_ctx *d, struct plan *p, const struct recipe *r, const struct plan_env *env,
		    const struct ir_set *set, const struct ir_node *n, struct loc loc, struct catalog_sums **sums, int *sums_state)
{
	struct strbuf title, canon;
	sb_init(&title);
	sb_init(&canon);
	sb_printf(&title, "SETS %s", set->ref);
	for (size_t g = 0; g < set->globs.n; g++)
		sb_printf(&title, "%s%s", g ? "," : ":", set->globs.v[g]);
	sb_printf(&canon, "set %s", set->ref);
	for (size_t g = 0; g < set->globs.n; g++)
		sb_printf(&canon, " filter=%s", set->globs.v[g]);
	struct plan_step *s = add_step(p, STEP_SET, r, n, set->loc, sb_detach(&title));
	s->set = set;
	s->canon = sb_detach(&canon);
	char *pin = set->sha256 ? xasprintf("sha256:%s", set->sha256) : NULL;
	int rc = 0;
	char *what = xasprintf("set %s", set->ref);
	switch (set->src) {
	case SRC_PATH: {
		char *full = path_join(r->dir, set->ref);
		struct plan_input *in = plan_add_input(s, what, set->ref);
		input_local_file(env, in, full);
		if (pin && in->digest && strcmp(pin, in->digest)) {
			struct diag *g = diag_error(d, set->loc, "set file '%s' does not match its pinned digest: expected %s, got %s",
						    set->ref, pin, in->digest);
			diag_hint(g, "update the sha256: pin or restore the file");
			rc = -1;
		}
		free(full);
		break;
	}
	case SRC_URL: {
		struct plan_input *in = plan_add_input(s, what, set->ref);
		const struct lock_rec *lr = pin ? NULL : lockfile_input(env->lock, s->title, what);
		rc = input_fetch(env, in, pin ? pin : lr && !strcmp(lr->url, set->ref) ? lr->digest : NULL, "check the set URL",
				 r->dir, d, set->loc);
		break;
	}
	case SRC_NAME: {
		if (!p->target) {
			plan_add_input(s, what, NULL);
			break;
		}
		char *local = catalog_local_set(p->target, r->dir, env->datadir, set->ref, NULL);
		if (local) {
			struct plan_input *in = plan_add_input(s, what, local);
			input_local_file(env, in, local);
			free(local);
			break;
		}
		const struct lock_rec *lr = pin ? NULL : lockfile_input(env->lock, s->title, what);
		if (lr) {
			struct plan_input *in = plan_add_input(s, what, lr->url);
			rc = input_fetch(env, in, lr->digest, "check the NetBSD version and set name (pinned by the lock file)",
					 NULL, d, set->loc);
			break;
		}
		/* *sums_state: 0 not fetched yet, 1 fetched, 2 failed (reported once;
		 * the sets are then not fetched unverified) */
		if (*sums_state == 0) {
			bool failed;
			*sums = release_sums(env, p->target, d, loc, &failed);
			*sums_state = failed ? 2 : 1;
		}
		if (*sums_state == 2)
			rc = -1;
		char *url = NULL;
		const struct catalog_sum *sum = NULL;
		if (*sums) {
			char *err = NULL;
			sum = catalog_sums_find_set(*sums, set->ref, p->target->sha512_url, &err);
			if (!sum) {
				struct diag *g = diag_error(d, set->loc, "%s", err);
				diag_hint(g, "check the set name and the release in FROM");
				free(err);
				rc = -1;
			}
		}
		url = catalog_set_url(p->target, sum ? sum->name : set->ref);
		struct plan_input *in = plan_add_input(s, what, url);
		if (sum && !pin)
			in->digest = xasprintf("%s:%s", sum->alg, sum->hex);
		if (rc == 0) {
			char *dg = pin ? xstrdup(pin) : in->digest ? xstrdup(in->digest) : NULL;
			rc = input_fetch(env, in, dg, "check the NetBSD version and set name", NULL, d, set->loc);
			free(dg);
		}
		free(url);
		break;
	}
	}
	free(what);
	free(pin);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file found under the build context, with its lstat. */
struct ctxent {
	char *rel;
	struct stat st;
};
struct ctxents {
	struct ctxent *v;
	size_t n, cap;
};

static void ctxents_free(struct ctxents *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].rel);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

/* Collect the entries under a context path (itself first, then what a
 * directory holds, sorted by name), each with its lstat. One lstat per
 * entry; nothing when rel does not exist. */
static void walk_context(const char *root, const char *rel, const struct stat *known, struct ctxents *out)
{
	char *full = path_join(root, rel);
	struct stat st;
	if (known && known->st_nlink)
		st = *known; /* check_recipe's lstat of it */
	else if (lstat(full, &st) < 0) {
		free(full);
		return;
	}
	VEC_GROW(out->v, out->n, out->cap);
	out->v[out->n++] = (struct ctxent){xstrdup(rel), st};
	if (!S_ISDIR(st.st_mode)) {
		free(full);
		return;
	}
	DIR *dir = opendir(full);
	free(full);
	if (!dir)
		return;
	struct strvec names = {0};
	struct dirent *de;
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			sv_pushdup(&names, de->d_name);
	closedir(dir);
	if (names.n)
		qsort(names.v, names.n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < names.n; i++) {
		char *sub = path_join(rel, names.v[i]);
		walk_context(root, sub, NULL, out);
		free(sub);
	}
	sv_free(&names);
}

static void plan_copy(struct plan *p, const struct recipe *r, const struct ir_node *n, const struct plan_env *env)
{
	const struct ir_copy *c = n->u.copy;
	struct strbuf title, canon;
	sb_init(&title);
	sb_init(&canon);
	sb_adds(&title, "COPY");
	sb_printf(&canon, "copy dst=%s chown=%s mode=%o", c->dst ? c->dst : "", c->chown.spec ? c->chown.spec : "-",
		  c->mode < 0 ? 0u : (unsigned)c->mode);
	for (size_t i = 0; i < c->srcs.n; i++) {
		sb_printf(&title, " %s", c->srcs.v[i]);
		sb_printf(&canon, " src=%s", c->srcs.v[i]);
	}
	sb_printf(&title, " %s", c->dst ? c->dst : "?");
	struct plan_step *s = add_step(p, STEP_COPY, r, n, n->loc, sb_detach(&title));
	s->canon = sb_detach(&canon);
	for (size_t i = 0; i < c->srcs.n; i++) {
		struct ctxents ents = {0};
		if (!strpbrk(c->srcs.v[i], "*?[")) {
			walk_context(r->dir, c->srcs.v[i], c->src_st ? &c->src_st[i] : NULL, &ents);
		} else {
			char *pattern = path_join(r->dir, c->srcs.v[i]);
			glob_t gl;
			memset(&gl, 0, sizeof(gl));
			if (glob(pattern, 0, NULL, &gl) == 0) {
				size_t dl = strlen(r->dir);
				for (size_t k = 0; k < gl.gl_pathc; k++) {
					const char *m = gl.gl_pathv[k];
					walk_context(r->dir, strncmp(m, r->dir, dl) == 0 && m[dl] == '/' ? m + dl + 1 : m, NULL,
						     &ents);
				}
			}
			globfree(&gl);
			free(pattern);
		}
		for (size_t f = 0; f < ents.n; f++) {
			const struct ctxent *e = &ents.v[f];
			char *full = path_join(r->dir, e->rel);
			char *what = xasprintf("file %s", e->rel);
			struct plan_input *in = plan_add_input(s, what, e->rel);
			free(what);
			in->mode = (unsigned)e->st.st_mode;
			char *digest = NULL;
			if (S_ISREG(e->st.st_mode)) {
				input_local_file_st(env, in, full, &e->st);
				digest = in->digest;
			} else if (S_ISLNK(e->st.st_mode)) {
				char buf[4096];
				ssize_t l = readlink(full, buf, sizeof(buf) - 1);
				buf[l < 0 ? 0 : l] = 0;
				char hex[65];
				sha256_hex(buf, strlen(buf), hex);
				digest = xasprintf("symlink:%s", hex);
				in->path = xstrdup(full);
			} else {
				digest = xasprintf("dir:%o", (unsigned)e->st.st_mode & 07777);
				in->path = xstrdup(full);
			}
			/* content and mode, not mtime */
			in->digest = xasprintf("%s mode=%o", digest ? digest : "pending", (unsigned)e->st.st_mode & 07777);
			free(digest);
			free(full);
		}
		ctxents_free(&ents);
	}
}

static void sh_quote(struct strbuf *sb, const char *s)
{
	sb_addc(sb, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sb_adds(sb, "'\\''");
		else
			sb_addc(sb, *s);
	}
	sb_addc(sb, '\'');
}

/* The /etc/rc smolc writes: RC text with ENV exports after its #! line,
 * then CMD. NULL when the recipe says nothing about rc. */
static char *make_rc(const struct recipe *r)
{
	const struct recipe_settings *st = &r->set;
	bool has_env = false;
	for (size_t i = 0; i < r->n; i++)
		has_env = has_env || r->v[i].kind == IR_ENV;
	if (!st->rc && !st->cmd && !has_env)
		return NULL;
	const char *body = st->rc && st->rc->u.script->text ? st->rc->u.script->text : "";
	struct strbuf sb;
	sb_init(&sb);
	if (str_startswith(body, "#!")) {
		size_t l = strcspn(body, "\n");
		sb_add(&sb, body, l);
		sb_addc(&sb, '\n');
		body += l + (body[l] ? 1 : 0);
	} else {
		sb_adds(&sb, "#!/bin/sh\n");
	}
	sb_printf(&sb, "# /etc/rc generated by smolc from %s — edit the Smolfile, not this file\n", path_basename(r->path));
	for (size_t i = 0; i < r->n; i++) {
		const struct ir_node *n = &r->v[i];
		if (n->kind != IR_ENV || !n->u.var.name)
			continue;
		sb_printf(&sb, "export %s=", n->u.var.name);
		sh_quote(&sb, n->u.var.value ? n->u.var.value : "");
		sb_addc(&sb, '\n');
	}
	if (!st->rc && !strcmp(st->profile, "netbsd"))
		sb_adds(&sb, ". /etc/include/basicrc\n");
	sb_adds(&sb, body);
	if (sb.len && sb.buf[sb.len - 1] != '\n')
		sb_addc(&sb, '\n');
	if (st->cmd)
		sb_printf(&sb, "%s\n", st->cmd);
	return sb_detach(&sb);
}

static char *make_fstab(const struct recipe *r)
{
	const struct recipe_settings *st = &r->set;
	if (!strcmp(st->profile, "linux"))
		return xasprintf("/dev/vda1 / ext2 %s 0 1\n", st->readonly ? "ro" : "rw");
	return xasprintf("NAME=%sroot / ext2fs %s 1 1\n", st->service, st->readonly ? "ro" : "rw");
}

static int plan_recipe(struct diag_ctx *d, struct plan *p, const struct recipe *r, const struct plan_env *env)
{
	int rc = 0;
	const struct ir_node *from = r->set.from;
	if (!from)
		return -1;
	if (from->u.from.kind == BASE_RECIPE) {
		if (!r->parent)
			return -1;
		if (plan_recipe(d, p, r->parent, env) < 0)
			rc = -1;
	} else {
		char *title = xasprintf("FROM %s", from->u.from.name);
		struct plan_step *s = add_step(p, STEP_BASE, r, from, from->loc, title);
		s->canon = xasprintf("base %s arch=%s", from->u.from.name, r->set.arch);
		if (from->u.from.kind == BASE_NETBSD && env->catalog) {
			char *err = NULL;
			catalog_target_free(p->target);
			p->target = catalog_target(env->catalog, from->u.from.version, r->set.arch, env->mirror, &err);
			if (!p->target) {
				struct diag *g = diag_error(d, from->arg_loc, "%s", err);
				diag_hint(g, "the releases smolc knows are listed in sets/catalog.yaml");
				free(err);
				rc = -1;
			}
		}
	}

	struct catalog_sums *sums = NULL;
	int sums_state = 0;
	bool any_sets = false;
	for (size_t i = 0; i < r->n; i++)
		any_sets = any_sets || r->v[i].kind == IR_SETS;
	/* a netbsd base without SETS gets the release's default sets */
	struct ir_set *defaults = NULL;
	size_t ndefaults = 0;
	if (!any_sets && from->u.from.kind == BASE_NETBSD && p->target) {
		ndefaults = p->target->default_sets.n;
		defaults = xcalloc(ndefaults + 1, sizeof(*defaults));
		for (size_t k = 0; k < ndefaults; k++) {
			defaults[k].loc = from->loc;
			defaults[k].src = SRC_NAME;
			defaults[k].ref = p->target->default_sets.v[k];
		}
		for (size_t k = 0; k < ndefaults; k++)
			if (plan_set(d, p, r, env, &defaults[k], from, from->loc, &sums, &sums_state) < 0)
				rc = -1;
	}

	size_t nsets = 0;
	char envs[65] = ""; /* sha256 of every ENV and ARG value, for POSTINST keys */
	for (size_t i = 0; i < r->n; i++) {
		const struct ir_node *n = &r->v[i];
		switch (n->kind) {
		case IR_SETS:
			for (size_t k = 0; k < n->u.sets.n; k++) {
				nsets++;
				if (plan_set(d, p, r, env, &n->u.sets.v[k], n, n->loc, &sums, &sums_state) < 0)
					rc = -1;
			}
			break;
		case IR_PKGS: {
			struct strbuf title, canon;
			sb_init(&title);
			sb_init(&canon);
			sb_adds(&title, "PKGS");
			sb_adds(&canon, "pkgs");
			for (size_t k = 0; k < n->u.pkgs.pats.n; k++) {
				sb_printf(&title, " %s", n->u.pkgs.pats.v[k]);
				sb_printf(&canon, " %s", n->u.pkgs.pats.v[k]);
			}
			struct plan_step *s = add_step(p, STEP_PKGS, r, n, n->loc, sb_detach(&title));
			s->canon = sb_detach(&canon);
			const char *site = recipe_pkgsite(&r->set);
			if (!site && p->target)
				site = p->target->pkgsrc_url;
			if (!site) {
				diag_error(d, n->loc, "PKGS: no package repository (no NetBSD release, no PKGSITE and no $PKGSITE)");
				p->recipe_errors++;
				rc = -1;
				break;
			}
			char *repo = str_endswith(site, "/") ? xstrdup(site) : xasprintf("%s/", site);
			if (pkgs_plan(d, p, s, n, repo, env) < 0)
				rc = -1;
			free(repo);
			break;
		}
		case IR_COPY:
			plan_copy(p, r, n, env);
			break;
		case IR_POSTINST: {
			struct plan_step *s = add_step(p, STEP_POSTINST, r, n, n->loc,
						       xasprintf("POSTINST%s", n->u.script->path ? " " : ""));
			if (n->u.script->path) {
				free(s->title);
				s->title = xasprintf("POSTINST %s", n->u.script->path);
			}
			struct strbuf canon;
			sb_init(&canon);
			sb_printf(&canon, "postinst network=%d timeout=%u service=%s arch=%s", n->u.script->network,
				  n->u.script->timeout, r->set.service, r->set.arch);
			if (n->u.script->chown.spec)
				sb_printf(&canon, " chown=%s", n->u.script->chown.spec);
			/* the key covers every ENV and ARG of the recipe (the
			 * script's environment, postinst_argv) through one digest
			 * made once for all its POSTINSTs */
			if (!envs[0]) {
				struct strbuf sb;
				sb_init(&sb);
				for (size_t k = 0; k < r->n; k++) {
					const struct ir_node *v = &r->v[k];
					if ((v->kind == IR_ENV || v->kind == IR_ARG) && v->u.var.name && v->u.var.value)
						sb_printf(&sb, " %s:%s=%s", v->kind == IR_ENV ? "env" : "arg",
							  v->u.var.name, v->u.var.value);
				}
				sha256_hex(sb_cstr(&sb), sb.len, envs);
				sb_free(&sb);
			}
			sb_printf(&canon, " env=sha256:%s", envs);
			s->canon = sb_detach(&canon);
			struct plan_input *in = plan_add_input(s, "script", n->u.script->path ? n->u.script->path : "(inline)");
			char hex[65];
			const char *t = n->u.script->text ? n->u.script->text : "";
			sha256_hex(t, strlen(t), hex);
			in->digest = xasprintf("sha256:%s", hex);
			break;
		}
		default:
			break;
		}
	}
	(void)nsets;

	/* gen: skeleton, fstab, /etc/include */
	{
		bool rescue_only = false;
		size_t n_named = 0, n_other = 0;
		for (size_t i = 0; i < p->n; i++) {
			if (p->v[i].kind != STEP_SET)
				continue;
			if (set_is_rescue(p->v[i].set))
				rescue_only = true, n_named++;
			else
				n_other++;
		}
		rescue_only = rescue_only && n_other == 0 && !strcmp(r->set.profile, "netbsd");
		p->rescue_only = rescue_only;
		struct plan_step *s = add_step(p, STEP_GEN, r, NULL, from->loc,
					       xstrdup(rescue_only ? "gen /etc/fstab /etc/include (rescue)"
								   : "gen /etc/fstab /etc/include"));
		s->text = make_fstab(r);
		s->canon = xasprintf("gen service=%s profile=%s readonly=%d rescue=%d\nfstab=%s", r->set.service, r->set.profile,
				     r->set.readonly, rescue_only, s->text);
		if (env->datadir && !strcmp(r->set.profile, "netbsd")) {
			char *common = path_join(env->datadir, "services/common");
			struct ctxents files = {0};
			walk_context(common, ".", NULL, &files);
			for (size_t k = 0; k < files.n; k++) {
				char *full = path_join(common, files.v[k].rel);
				struct stat st;
				if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
					const char *name = files.v[k].rel + (str_startswith(files.v[k].rel, "./") ? 2 : 0);
					char *what = xasprintf("include %s", name);
					char *src = xasprintf("services/common/%s", name);
					struct plan_input *in = plan_add_input(s, what, src);
					input_local_file_st(env, in, full, &st);
					free(what);
					free(src);
				}
				free(full);
			}
			ctxents_free(&files);
			free(common);
		}
	}
	char *rctext = make_rc(r);
	if (rctext) {
		struct plan_step *s = add_step(p, STEP_RC, r, r->set.rc, r->set.rc ? r->set.rc->loc : from->loc,
					       xstrdup("RC /etc/rc"));
		s->text = rctext;
		s->canon = xstrdup("rc /etc/rc mode=0755");
		struct plan_input *in = plan_add_input(s, "script /etc/rc", r->set.rc && r->set.rc->u.script->path
								      ? r->set.rc->u.script->path : "(generated)");
		char hex[65];
		sha256_hex(rctext, strlen(rctext), hex);
		in->digest = xasprintf("sha256:%s", hex);
	}
	free(defaults);
	catalog_sums_free(sums);
	return rc;
}

static int plan_kernel(struct diag_ctx *d, struct plan *p, const struct plan_env *env)
{
	const struct recipe *r = p->recipe;
	const struct ir_node *k = r->set.kernel;
	struct plan_input *in = &p->kernel;
	in->what = xstrdup("kernel");
	const struct recipe *kr = r;
	while (k && kr && !(kr->set.kernel == k && (kr->parent == NULL || kr->parent->set.kernel != k)))
		kr = kr->parent;
	const char *kdir = kr ? kr->dir : r->dir;
	if (k && k->u.kernel.src == SRC_PATH) {
		in->source = xstrdup(k->u.kernel.ref);
		char *full = path_join(kdir, k->u.kernel.ref);
		input_local_file(env, in, full);
		free(full);
		return 0;
	}
	char *pin = k && k->u.kernel.sha256 ? xasprintf("sha256:%s", k->u.kernel.sha256) : NULL;
	const struct lock_rec *lr = pin ? NULL : lockfile_input(env->lock, "KERNEL", "kernel");
	if (lr && (!k || k->u.kernel.src != SRC_URL || !strcmp(lr->url, k->u.kernel.ref))) {
		in->source = xstrdup(lr->url);
		return input_fetch(env, in, lr->digest, "check the kernel (pinned by the lock file)", kdir, d,
				   k ? k->arg_loc : r->set.from->loc);
	}
	if (k && k->u.kernel.src == SRC_URL) {
		in->source = xstrdup(k->u.kernel.ref);
		int rc = input_fetch(env, in, pin, "check the KERNEL URL", kdir, d, k->arg_loc);
		free(pin);
		return rc;
	}
	/* by name, or the catalog's default for the arch */
	if (!env->catalog) {
		in->source = xstrdup(k ? k->u.kernel.ref : "(default)");
		free(pin);
		return 0;
	}
	struct catalog_target *t = p->target;
	struct catalog_target *own = NULL;
	char *err = NULL;
	if (!t) {
		t = own = catalog_target(env->catalog, catalog_default_release(env->catalog), r->set.arch, env->mirror, &err);
		if (!t) {
			diag_error(d, k ? k->arg_loc : r->set.from->loc, "%s", err);
			free(err);
			free(pin);
			return -1;
		}
	}
	char *url = NULL, *sumurl = NULL;
	int rc = 0;
	if (catalog_kernel(env->catalog, t, k ? k->u.kernel.ref : NULL, &url, &sumurl, &err) < 0) {
		struct diag *g = diag_error(d, k ? k->arg_loc : r->set.from->loc, "%s", err);
		diag_hint(g, "name a kernel the catalog knows, or give KERNEL a URL or a path");
		free(err);
		rc = -1;
	} else {
		in->source = xstrdup(url);
		if (!pin && sumurl && env->fetch) {
			struct fetch_req req = {sumurl, NULL, "the kernel's .sha256 file is missing", NULL, false};
			char *text = NULL;
			size_t len = 0;
			if (fetch_text(env->fetch, &req, 1 << 16, &text, &len, NULL, &err) == 0) {
				char hex[65];
				if (catalog_parse_sha256(text, len, path_basename(url), sumurl, hex, &err) == 0)
					pin = xasprintf("sha256:%s", hex);
				else if (env->fetch_inputs)
					diag_error(d, k ? k->arg_loc : r->set.from->loc, "%s", err), rc = -1;
				free(err);
				err = NULL;
			} else {
				if (env->fetch_inputs)
					diag_error(d, k ? k->arg_loc : r->set.from->loc, "%s", err), rc = -1;
				free(err);
				err = NULL;
			}
			free(text);
		}
		if (rc == 0)
			rc = input_fetch(env, in, pin, "check the kernel name", NULL, d, k ? k->arg_loc : r->set.from->loc);
	}
	free(url);
	free(sumurl);
	free(pin);
	catalog_target_free(own);
	return rc;
}

void plan_rekey(struct plan *p)
{
	const char *parent = "";
	bool pending = false;
	for (size_t i = 0; i < p->n; i++) {
		struct plan_step *s = &p->v[i];
		for (size_t k = 0; k < s->nin; k++)
			if (!s->in[k].digest)
				pending = true;
		if (pending) {
			s->key[0] = 0;
			continue;
		}
		struct digest *dg = digest_new(DIGEST_SHA256);
		digest_update_str(dg, "smolc-layer-v1");
		digest_update_str(dg, parent);
		digest_update_str(dg, step_kind_name(s->kind));
		digest_update_str(dg, s->canon ? s->canon : "");
		if (s->kind == STEP_COPY || s->kind == STEP_GEN || s->kind == STEP_RC || s->kind == STEP_POSTINST ||
		    s->kind == STEP_PKGS) {
			/* these layers stamp their files with the build epoch */
			char eb[48];
			snprintf(eb, sizeof(eb), "epoch=%" PRIu64, p->epoch);
			digest_update_str(dg, eb);
		}
		for (size_t k = 0; k < s->nin; k++) {
			digest_update_str(dg, s->in[k].what);
			digest_update_str(dg, s->in[k].digest ? s->in[k].digest : "");
		}
		digest_final_hex(dg, s->key);
		parent = s->key;
	}
	p->image_key[0] = 0;
	if (!pending && p->n) {
		const struct recipe_settings *st = &p->recipe->set;
		struct digest *dg = digest_new(DIGEST_SHA256);
		char buf[256];
		digest_update_str(dg, "smolc-image-v1");
		digest_update_str(dg, p->v[p->n - 1].key);
		snprintf(buf, sizeof(buf), "service=%s arch=%s profile=%s size=%s%" PRIu64 " epoch=%" PRIu64, st->service, st->arch,
			 st->profile, st->size_auto ? "auto+" : "", st->size_bytes, p->epoch);
		digest_update_str(dg, buf);
		digest_final_hex(dg, p->image_key);
	}
}

int plan_make(struct diag_ctx *d, struct recipe *r, const struct plan_env *env, struct plan **out)
{
	struct plan *p = xcalloc(1, sizeof(*p));
	p->recipe = r;
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	p->epoch = DEFAULT_EPOCH;
	if (sde && *sde) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(sde, &end, 10);
		if (errno || *end)
			diag_warning(d, (struct loc){0, 0, 0}, "SOURCE_DATE_EPOCH='%s' is not a number of seconds; using %llu", sde,
				     (unsigned long long)DEFAULT_EPOCH);
		else
			p->epoch = v;
	}
	size_t before = d->errors;
	struct plan_env e = *env;
	e.memo = dmemo_open(env->cache ? cache_root(env->cache) : NULL, r->path);
	plan_recipe(d, p, r, &e);
	plan_kernel(d, p, &e);
	dmemo_close(e.memo, d->errors == before);
	plan_rekey(p);
	*out = p;
	if (d->errors == before)
		return 0;
	p->recipe_only = p->recipe_errors > 0 && d->errors - before == p->recipe_errors;
	return -1;
}

int plan_exit_code(const struct plan *p)
{
	return p && p->recipe_only ? EXIT_USAGE : EXIT_FAIL;
}

/* ---- output ---- */

static void where(const struct diag_ctx *d, struct loc l, char *buf, size_t n)
{
	const struct srcfile *f = diag_file(d, l.file);
	if (!f) {
		snprintf(buf, n, "-");
		return;
	}
	size_t line, col;
	diag_linecol(d, l, &line, &col);
	snprintf(buf, n, "%s:%zu", f->path, line);
}

void plan_print_text(const struct plan *p, const struct diag_ctx *d, FILE *out)
{
	const struct recipe *r = p->recipe;
	const struct recipe_settings *st = &r->set;
	char hb[32];
	fprintf(out, "plan for %s\n", r->path);
	fprintf(out, "  service  %s\n", st->service);
	fprintf(out, "  arch     %s\n", st->arch);
	fprintf(out, "  profile  %s\n", st->profile);
	fprintf(out, "  base     %s%s%s\n", st->from->u.from.name, p->target ? "  release " : "",
		p->target ? p->target->release : "");
	fprintf(out, "  kernel   %s  %s\n", p->kernel.source ? p->kernel.source : "?", p->kernel.digest ? p->kernel.digest : "pending");
	if (st->size_auto)
		fprintf(out, "  size     auto (content + 10%% + %s)\n", human_bytes(st->size_bytes, hb, sizeof(hb)));
	else
		fprintf(out, "  size     %s\n", human_bytes(st->size_bytes, hb, sizeof(hb)));
	fprintf(out, "  memory   %" PRIu64 " MiB, %u CPU%s%s\n", st->mem_mib, st->cpus, st->cpus > 1 ? "s" : "",
		st->readonly ? ", read-only root" : "");
	for (size_t i = 0; i < r->n; i++) {
		const struct ir_node *n = &r->v[i];
		if (n->kind == IR_PORTS)
			for (size_t k = 0; k < n->u.ports.n; k++)
				fprintf(out, "  port     %s:%u -> %u/%s\n", n->u.ports.v[k].host_addr, n->u.ports.v[k].host,
					n->u.ports.v[k].guest, n->u.ports.v[k].udp ? "udp" : "tcp");
		if (n->kind == IR_SHARE)
			fprintf(out, "  share    %s -> %s\n", n->u.share.host, n->u.share.guest);
	}
	fprintf(out, "steps\n");
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->v[i];
		char w[256];
		where(d, s->loc, w, sizeof(w));
		fprintf(out, "  %2zu  %-44s %s\n", i + 1, s->title, w);
		for (size_t k = 0; k < s->nin; k++)
			fprintf(out, "        input  %s  %s  %s\n", s->in[k].what, s->in[k].source ? s->in[k].source : "-",
				s->in[k].digest ? s->in[k].digest : "pending");
		fprintf(out, "        layer  %s\n", s->key[0] ? s->key : "pending");
	}
	fprintf(out, "image  images/%s-%s.img  %s\n", st->service, st->arch, p->image_key[0] ? p->image_key : "pending");
}

void json_str(FILE *out, const char *s)
{
	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		switch (*c) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*c < 0x20)
				fprintf(out, "\\u%04x", *c);
			else
				fputc(*c, out);
		}
	}
	fputc('"', out);
}

void plan_print_json(const struct plan *p, const struct diag_ctx *d, FILE *out)
{
	const struct recipe *r = p->recipe;
	const struct recipe_settings *st = &r->set;
	fputs("{\"recipe\":", out);
	json_str(out, r->path);
	fputs(",\"service\":", out);
	json_str(out, st->service);
	fputs(",\"arch\":", out);
	json_str(out, st->arch);
	fputs(",\"profile\":", out);
	json_str(out, st->profile);
	fputs(",\"base\":", out);
	json_str(out, st->from->u.from.name);
	fputs(",\"release\":", out);
	json_str(out, p->target ? p->target->release : NULL);
	fputs(",\"kernel\":{\"source\":", out);
	json_str(out, p->kernel.source);
	fputs(",\"digest\":", out);
	json_str(out, p->kernel.digest);
	fprintf(out, "},\"size\":{\"auto\":%s,\"bytes\":%" PRIu64 "},\"memory_mib\":%" PRIu64 ",\"cpus\":%u,\"readonly\":%s",
		st->size_auto ? "true" : "false", st->size_bytes, st->mem_mib, st->cpus, st->readonly ? "true" : "false");
	fputs(",\"ports\":[", out);
	bool first = true;
	for (size_t i = 0; i < r->n; i++) {
		const struct ir_node *n = &r->v[i];
		if (n->kind != IR_PORTS)
			continue;
		for (size_t k = 0; k < n->u.ports.n; k++) {
			fprintf(out, "%s{\"host_addr\":", first ? "" : ",");
			json_str(out, n->u.ports.v[k].host_addr);
			fprintf(out, ",\"host\":%u,\"guest\":%u,\"proto\":\"%s\"}", n->u.ports.v[k].host, n->u.ports.v[k].guest,
				n->u.ports.v[k].udp ? "udp" : "tcp");
			first = false;
		}
	}
	fputs("],\"steps\":[", out);
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->v[i];
		char w[256];
		where(d, s->loc, w, sizeof(w));
		fprintf(out, "%s{\"n\":%zu,\"kind\":\"%s\",\"title\":", i ? "," : "", i + 1, step_kind_name(s->kind));
		json_str(out, s->title);
		fputs(",\"at\":", out);
		json_str(out, w);
		fputs(",\"inputs\":[", out);
		for (size_t k = 0; k < s->nin; k++) {
			fputs(k ? ",{\"what\":" : "{\"what\":", out);
			json_str(out, s->in[k].what);
			fputs(",\"source\":", out);
			json_str(out, s->in[k].source);
			fputs(",\"digest\":", out);
			json_str(out, s->in[k].digest);
			fputc('}', out);
		}
		fputs("],\"layer\":", out);
		json_str(out, s->key[0] ? s->key : NULL);
		fputc('}', out);
	}
	fputs("],\"image\":", out);
	json_str(out, p->image_key[0] ? p->image_key : NULL);
	fputs("}\n", out);
}
