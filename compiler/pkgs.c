/* pkgs.c — see pkgs.h. */
#include "pkgs.h"
#include "fetch.h"
#include "util.h"
#include "digest.h"
#include "digestmemo.h"
#include "layer.h"
#include "lockfile.h"
#include "pkg_resolve.h"
#include "pkg_summary.h"
#include "pkgdb.h"

#include <stdlib.h>
#include <string.h>

struct pkgs_repo {
	char *url;
	char *summary_path;        /* the cached pkg_summary.{xz,bz2,gz} */
	char summary_sha[65];
	char *sums_path;           /* the repository's SHA512 list, or NULL */
	char sums_sha[65];
	struct pkg_summary *summary; /* parsed on first need (repo_parse) */
	struct pkg_digests digests;
	bool have_digests;
	bool parsed;
};

struct pkgs_state {
	struct pkgs_repo *v;
	size_t n;
};

void pkgs_state_free(struct pkgs_state *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].url);
		free(s->v[i].summary_path);
		free(s->v[i].sums_path);
		pkg_summary_free(s->v[i].summary);
		if (s->v[i].have_digests)
			pkg_digests_free(&s->v[i].digests);
	}
	free(s->v);
	free(s);
}

/* The repository's summary and SHA512 list, fetched (or found in the
 * cache) once per plan; parsing waits for repo_parse. NULL when the summary
 * is not available (plan mode, nothing cached) or failed (diagnosed,
 * *failed). */
static struct pkgs_repo *repo_get(struct diag_ctx *d, struct plan *p, const char *url, const struct plan_env *env,
				  struct loc at, bool *failed)
{
	*failed = false;
	if (!p->pkgs)
		p->pkgs = xcalloc(1, sizeof(*p->pkgs));
	for (size_t i = 0; i < p->pkgs->n; i++)
		if (!strcmp(p->pkgs->v[i].url, url))
			return &p->pkgs->v[i];
	if (!env->fetch)
		return NULL;
	static const char *const names[] = {"pkg_summary.xz", "pkg_summary.bz2", "pkg_summary.gz"};
	struct fetch_result res;
	memset(&res, 0, sizeof(res));
	char *err = NULL, *first_err = NULL;
	bool got = false;
	for (size_t i = 0; i < ARRAY_LEN(names) && !got; i++) {
		char *u = xasprintf("%s%s", url, names[i]);
		struct fetch_req req = {u, NULL, "check PKGSITE or the NetBSD release", NULL, false};
		if (fetch_file(env->fetch, &req, &res, &err) == 0)
			got = true;
		else if (!first_err)
			first_err = err, err = NULL;
		free(err);
		err = NULL;
		free(u);
	}
	if (!got) {
		if (env->fetch_inputs) {
			struct diag *g = diag_error(d, at, "no pkg_summary in the package repository %s", url);
			diag_hint(g, "%s", first_err ? first_err : "tried pkg_summary.xz, .bz2 and .gz");
			*failed = true;
		}
		free(first_err);
		return NULL;
	}
	free(first_err);
	p->pkgs->v = xrealloc(p->pkgs->v, (p->pkgs->n + 1) * sizeof(*p->pkgs->v));
	struct pkgs_repo *r = &p->pkgs->v[p->pkgs->n++];
	memset(r, 0, sizeof(*r));
	r->url = xstrdup(url);
	r->summary_path = xstrdup(res.path);
	memcpy(r->summary_sha, res.sha256, sizeof(r->summary_sha));
	fetch_result_clear(&res);
	/* the SHA512 list is optional: verify against it when published */
	char *su = xasprintf("%sSHA512", url);
	struct fetch_req req = {su, NULL, NULL, NULL, false};
	if (fetch_file(env->fetch, &req, &res, &err) == 0) {
		r->sums_path = xstrdup(res.path);
		memcpy(r->sums_sha, res.sha256, sizeof(r->sums_sha));
		fetch_result_clear(&res);
	}
	free(err);
	free(su);
	return r;
}

/* Parse the summary (and the SHA512 list) of a repository. 0 or -1
 * (diagnosed). */
static int repo_parse(struct diag_ctx *d, struct pkgs_repo *r, struct loc at)
{
	if (r->parsed)
		return r->summary ? 0 : -1;
	r->parsed = true;
	char *err = NULL;
	r->summary = pkg_summary_parse_file(r->summary_path, &err);
	if (!r->summary) {
		diag_error(d, at, "%s%s: %s", r->url, "pkg_summary", err);
		free(err);
		return -1;
	}
	free(r->summary->label);
	r->summary->label = xstrdup(r->url);
	if (r->sums_path && pkg_digests_parse_file(r->sums_path, &r->digests, &err) == 0)
		r->have_digests = true;
	free(err);
	return 0;
}

/* ---- the resolution memo ----
 * Resolving PKGS means parsing a pkg_summary of ~20,000 packages (most of
 * the time is xz decompression): ~0.3 s on every plan and every no-op
 * build. The result depends only on the summary, the SHA512 list, the
 * repository URL and the patterns, so it is remembered in
 * <cache>/resolved/<key>, key = sha256 of those (the files by digest):
 *   smolc-resolved 1
 *   <digest or -> <url> <what>      one line per package, in order
 *   sum <sha256 of the lines above>
 * A torn or foreign file fails its sum and is ignored. */
static char *memo_path(const struct plan_env *env, const struct pkgs_repo *r, const struct ir_node *n)
{
	if (!env->cache)
		return NULL;
	struct digest *dg = digest_new(DIGEST_SHA256);
	digest_update_str(dg, "smolc-pkgs-resolved-v1 " SMOLC_VERSION);
	digest_update_str(dg, r->url);
	digest_update_str(dg, r->summary_sha);
	digest_update_str(dg, r->sums_path ? r->sums_sha : "-");
	for (size_t i = 0; i < n->u.pkgs.pats.n; i++)
		digest_update_str(dg, n->u.pkgs.pats.v[i]);
	char key[129];
	digest_final_hex(dg, key);
	return xasprintf("%s/resolved/%s", cache_root(env->cache), key);
}

struct memo_line {
	char *digest; /* NULL: none known */
	char *url;
	char *what;
};

static void memo_lines_free(struct memo_line *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].digest);
		free(v[i].url);
		free(v[i].what);
	}
	free(v);
}

#define RESOLVED_FORMAT "smolc-resolved 1"

/* Read a memo: 0 and the lines, or -1 (absent, torn, foreign). */
static int memo_read(const char *path, struct memo_line **out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	char *text = memo_file_read(path, RESOLVED_FORMAT);
	if (!text)
		return -1;
	struct memo_line *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (char *p = text; *p && rc == 0;) {
		char *nl = strchr(p, '\n');
		*nl = 0;
		char *t1 = strchr(p, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		/* the digest is the repository's "sha512:<hex>", or "-" */
		bool none = t1 == p + 1 && *p == '-';
		if (!t2 || (!none && strncmp(p, "sha512:", 7))) {
			rc = -1;
			break;
		}
		VEC_GROW(v, n, cap);
		v[n].digest = none ? NULL : xstrndup(p, (size_t)(t1 - p));
		v[n].url = xstrndup(t1 + 1, (size_t)(t2 - t1 - 1));
		v[n].what = xstrdup(t2 + 1);
		n++;
		p = nl + 1;
	}
	free(text);
	if (rc < 0) {
		memo_lines_free(v, n);
		return -1;
	}
	*out = v;
	*nout = n;
	return 0;
}

/* Write a memo for the inputs of step s. */
static void memo_write(const char *path, const struct plan_step *s)
{
	if (!path)
		return;
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < s->nin; i++) {
		const struct plan_input *in = &s->in[i];
		if (strchr(in->what, '\n') || strchr(in->what, '\t') || strchr(in->source, '\n') ||
		    strchr(in->source, '\t')) {
			sb_free(&sb);
			return;
		}
		/* only the repository's own digest: a sha256 the fetch learned
		 * is not part of the resolution */
		const char *dg = in->digest && str_startswith(in->digest, "sha512:") ? in->digest : "-";
		sb_printf(&sb, "%s\t%s\t%s\n", dg, in->source, in->what);
	}
	memo_file_write(path, RESOLVED_FORMAT, sb.len ? sb.buf : "", sb.len);
	sb_free(&sb);
}

/* Fetch (build) or look up (plan) the package file of an input and record
 * where it is and its digest. `e`: the summary's entry, to check the file
 * against the catalogue and the SHA512 list when just resolved; NULL when
 * the input comes from the resolution memo (its digest is then pinned,
 * or the file was checked when first fetched). 0 or -1 (diagnosed). */
static int fetch_package(struct diag_ctx *d, const struct plan_env *env, const struct ir_node *n, struct plan_input *in,
			 const struct pkg_entry *e, const struct pkg_digests *digests)
{
	if (!env->fetch || (env->index_only && in->digest))
		return 0;
	int rc = 0;
	char *err = NULL;
	struct fetch_req req = {in->source, in->digest, "the package is listed in pkg_summary but missing", NULL, false};
	struct fetch_result fr;
	memset(&fr, 0, sizeof(fr));
	if (fetch_file(env->fetch, &req, &fr, &err) == 0) {
		if (e && pkg_verify_file(fr.path, e, digests, &err) < 0) {
			diag_error(d, n->loc, "%s: %s", in->source, err);
			rc = -1;
		} else {
			in->path = xstrdup(fr.path);
			if (!in->digest)
				in->digest = xasprintf("sha256:%s", fr.sha256);
		}
		fetch_result_clear(&fr);
	} else if (env->fetch_inputs) {
		struct diag *g = diag_error(d, n->loc, "%s", err);
		if (strstr(err, " mismatch: "))
			diag_hint(g, "the package does not match the repository's SHA512 list: the download "
				  "is corrupt or the repository is being updated; try again later, or tell "
				  "the repository's maintainers");
		rc = -1;
	}
	free(err);
	return rc;
}

int pkgs_plan(struct diag_ctx *d, struct plan *p, struct plan_step *s, const struct ir_node *n, const char *repo,
	      const struct plan_env *env)
{
	size_t nlocked = 0;
	const struct lock_rec *locked = lockfile_step(env->lock, s->title, &nlocked);
	if (nlocked) {
		/* install exactly what the lock file names */
		int rc = 0;
		for (size_t i = 0; i < nlocked; i++) {
			struct plan_input *in = plan_add_input(s, locked[i].what, locked[i].url);
			in->digest = xstrdup(locked[i].digest);
			if (!env->fetch || env->index_only)
				continue;
			struct fetch_req req = {locked[i].url, locked[i].digest, "the locked package is gone from the repository; "
				"run smolc lock --update-lock", NULL, false};
			struct fetch_result fr;
			memset(&fr, 0, sizeof(fr));
			char *err = NULL;
			if (fetch_file(env->fetch, &req, &fr, &err) == 0) {
				in->path = xstrdup(fr.path);
				fetch_result_clear(&fr);
			} else if (env->fetch_inputs) {
				struct diag *g = diag_error(d, n->loc, "%s", err);
				if (strstr(err, " mismatch: "))
					diag_hint(g, "%s pins %s to that digest, but the repository's file changed; "
						  "run 'smolc lock --update-lock' (or 'smolc build --update-lock') to move to it",
						  env->lock->path, locked[i].what + (str_startswith(locked[i].what, "pkg ") ? 4 : 0));
				rc = -1;
			}
			free(err);
		}
		return rc;
	}
	bool failed;
	struct pkgs_repo *r = repo_get(d, p, repo, env, n->loc, &failed);
	if (!r) {
		plan_add_input(s, "packages", repo);
		return failed ? -1 : 0;
	}
	char *memo = memo_path(env, r, n);
	struct memo_line *ml = NULL;
	size_t nml = 0;
	bool hit = memo_read(memo, &ml, &nml) == 0;
	/* a package without the repository's SHA512 is checked against the
	 * catalogue's size when it is downloaded: that needs the summary */
	for (size_t i = 0; hit && env->fetch_inputs && i < nml; i++)
		hit = ml[i].digest != NULL;
	if (!hit) {
		memo_lines_free(ml, nml);
		ml = NULL;
		nml = 0;
	}
	if (hit) {
		/* resolved before against these very files */
		debugf("PKGS %s: %zu packages from the resolution memo %s", repo, nml, memo);
		int rc = 0;
		for (size_t i = 0; i < nml; i++) {
			struct plan_input *in = plan_add_input(s, ml[i].what, ml[i].url);
			in->digest = ml[i].digest ? xstrdup(ml[i].digest) : NULL;
			if (fetch_package(d, env, n, in, NULL, NULL) < 0)
				rc = -1;
		}
		memo_lines_free(ml, nml);
		free(memo);
		return rc;
	}
	if (repo_parse(d, r, n->loc) < 0) {
		free(memo);
		return -1;
	}
	struct pkg_resolution *res = NULL;
	char *err = NULL;
	if (pkg_resolve(r->summary, (const char *const *)n->u.pkgs.pats.v, n->u.pkgs.pats.n, repo, &res, &err) < 0) {
		/* point at the pattern the chain starts from when we can tell */
		struct loc at = n->loc;
		for (size_t i = 0; i < n->u.pkgs.pats.n; i++) {
			size_t l = strlen(n->u.pkgs.pats.v[i]);
			if (!strncmp(err, n->u.pkgs.pats.v[i], l) && (err[l] == ' ' || err[l] == ':')) {
				at = n->u.pkgs.locs[i];
				break;
			}
		}
		struct diag *g = diag_error(d, at, "%s", err);
		diag_hint(g, "check the names and versions in the repository %s", repo);
		p->recipe_errors++;   /* the recipe asks for what cannot be: exit 2 */
		free(err);
		free(memo);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < res->n; i++) {
		const struct pkg_entry *e = res->v[i].pkg;
		char *what = xasprintf("pkg %s%s", e->pkgname, res->v[i].requested ? "" : " (dependency)");
		char *url = xasprintf("%s%s", repo, e->file_name);
		struct plan_input *in = plan_add_input(s, what, url);
		in->pkg = e;
		const char *sha = r->have_digests ? pkg_digests_get(&r->digests, e->file_name) : NULL;
		if (sha)
			in->digest = xasprintf("sha512:%s", sha);
		if (fetch_package(d, env, n, in, e, r->have_digests ? &r->digests : NULL) < 0)
			rc = -1;
		free(what);
		free(url);
	}
	pkg_resolution_free(res);
	memo_write(memo, s);
	free(memo);
	return rc;
}

static const char *meta_get(const struct pkg_meta_set *m, const char *name, size_t *len)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->v[i].name, name)) {
			if (len)
				*len = m->v[i].len;
			return m->v[i].data;
		}
	return NULL;
}

int pkgs_build_layer(struct plan *p, struct plan_step *s, struct layer_writer *w, const struct plan_env *env,
		     FILE *log, struct strvec *scripts, char **err)
{
	(void)p;
	(void)env;
	struct pkg_meta_set *metas = xcalloc(s->nin + 1, sizeof(*metas));
	struct pkgdb_pkg *pk = xcalloc(s->nin + 1, sizeof(*pk));
	char **names = xcalloc(s->nin + 1, sizeof(char *));
	char *dbdir = NULL;
	int rc = -1;
	size_t n = 0;
	for (size_t i = 0; i < s->nin; i++, n++) {
		const struct plan_input *in = &s->in[i];
		if (!in->path || !str_startswith(in->what, "pkg ")) {
			*err = xasprintf("%s: package not fetched", in->source ? in->source : in->what);
			goto out;
		}
		if (pkgdb_read_meta(in->path, &metas[i], err) < 0)
			goto out;
		names[i] = xstrndup(in->what + 4, strcspn(in->what + 4, " "));
		const char *file = path_basename(in->source ? in->source : in->path);
		size_t bl = 0;
		const char *bi = meta_get(&metas[i], "+BUILD_INFO", &bl);
		struct pkg_build_info info;
		memset(&info, 0, sizeof(info));
		if (bi && pkg_build_info_parse(bi, bl, &info, err) < 0)
			goto out;
		const char *localbase = info.localbase && info.localbase[0] == '/' ? info.localbase : "/usr/pkg";
		if (!dbdir)
			dbdir = info.pkg_dbdir ? xstrdup(info.pkg_dbdir) : pkgdb_default_dir(localbase);
		/* the packing list first: a package that lists a file outside
		 * LOCALBASE is refused before anything of it is written */
		size_t cl = 0;
		const char *ct = meta_get(&metas[i], "+CONTENTS", &cl);
		if (ct) {
			struct pkg_plist pl;
			char *perr = NULL;
			memset(&pl, 0, sizeof(pl));
			if (pkg_plist_parse(ct, cl, &pl, &perr) < 0) {
				*err = xasprintf("%s: %s (LOCALBASE %s); refusing to install this package: "
						 "it is broken or malicious, remove it from PKGS", file, perr, localbase);
				free(perr);
				pkg_build_info_free(&info);
				goto out;
			}
			pkg_plist_free(&pl);
		}
		if (log)
			fprintf(log, "      installing %s under %s\n", names[i], localbase);
		size_t il = 0;
		if (scripts && meta_get(&metas[i], "+INSTALL", &il))
			sv_push(scripts, xasprintf("%s %s %s", names[i], localbase, dbdir));
		static const char *const skip[] = {"+*", NULL};
		struct layer_import_opts io;
		memset(&io, 0, sizeof(io));
		io.label = file;
		io.prefix = localbase;
		io.skip = skip;
		char *rootname = xasprintf("LOCALBASE %s", localbase);
		io.root_name = rootname;
		int r = layer_import_archive(w, in->path, &io, err);
		free(rootname);
		pkg_build_info_free(&info);
		if (r < 0)
			goto out;
		pk[i].pkgname = names[i];
		pk[i].meta = (const struct pkg_meta_file *)metas[i].v;
		pk[i].n_meta = metas[i].n;
		pk[i].automatic = strstr(in->what, "(dependency)") != NULL;
	}
	struct pkgdb_files files;
	memset(&files, 0, sizeof(files));
	if (pkgdb_register(dbdir ? dbdir : "/usr/pkg/pkgdb", pk, n, &files, err) < 0)
		goto out;
	for (size_t i = 0; i < files.n && rc != -2; i++) {
		struct fs_meta m;
		memset(&m, 0, sizeof(m));
		m.type = FS_REG;
		m.perm = files.v[i].mode;
		m.uname = "root";
		m.gname = "wheel";
		m.mtime = (int64_t)p->epoch;
		if (layer_add_file_buf(w, files.v[i].path, &m, files.v[i].data, files.v[i].len, err) < 0)
			rc = -2;
	}
	pkgdb_files_free(&files);
	if (rc != -2)
		rc = 0;
	else
		rc = -1;
out:
	for (size_t i = 0; i < s->nin; i++)
		pkg_meta_set_free(&metas[i]);
	free(metas);
	for (size_t i = 0; i < s->nin; i++)
		free(names[i]);
	free(names);
	free(pk);
	free(dbdir);
	return rc;
}
