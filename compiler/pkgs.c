/* pkgs.c — see pkgs.h. */
#include "pkgs.h"
#include "fetch.h"
#include "layer.h"
#include "lockfile.h"
#include "pkg_resolve.h"
#include "pkg_summary.h"
#include "pkgdb.h"

#include <stdlib.h>
#include <string.h>

struct pkgs_repo {
	char *url;
	struct pkg_summary *summary;
	struct pkg_digests digests;
	bool have_digests;
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
		pkg_summary_free(s->v[i].summary);
		if (s->v[i].have_digests)
			pkg_digests_free(&s->v[i].digests);
	}
	free(s->v);
	free(s);
}

/* The repository's summary, parsed once per plan. NULL when it is not
 * available (plan mode, nothing cached) or failed (diagnosed, *failed). */
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
	struct pkg_summary *sum = pkg_summary_parse_file(res.path, &err);
	fetch_result_clear(&res);
	if (!sum) {
		diag_error(d, at, "%s%s: %s", url, "pkg_summary", err);
		free(err);
		*failed = true;
		return NULL;
	}
	free(sum->label);
	sum->label = xstrdup(url);
	p->pkgs->v = xrealloc(p->pkgs->v, (p->pkgs->n + 1) * sizeof(*p->pkgs->v));
	struct pkgs_repo *r = &p->pkgs->v[p->pkgs->n++];
	memset(r, 0, sizeof(*r));
	r->url = xstrdup(url);
	r->summary = sum;
	/* the SHA512 list is optional: verify against it when published */
	char *su = xasprintf("%sSHA512", url);
	struct fetch_req req = {su, NULL, NULL, NULL, false};
	if (fetch_file(env->fetch, &req, &res, &err) == 0) {
		if (pkg_digests_parse_file(res.path, &r->digests, &err) == 0)
			r->have_digests = true;
		fetch_result_clear(&res);
	}
	free(err);
	free(su);
	return r;
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
		if (env->fetch && !(env->index_only && in->digest)) {
			struct fetch_req req = {url, in->digest, "the package is listed in pkg_summary but missing", NULL, false};
			struct fetch_result fr;
			memset(&fr, 0, sizeof(fr));
			if (fetch_file(env->fetch, &req, &fr, &err) == 0) {
				if (pkg_verify_file(fr.path, e, r->have_digests ? &r->digests : NULL, &err) < 0) {
					diag_error(d, n->loc, "%s%s: %s", repo, e->file_name, err);
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
			err = NULL;
		}
		free(what);
		free(url);
	}
	pkg_resolution_free(res);
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
		     FILE *log, char **err)
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
