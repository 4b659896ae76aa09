/* pkgs.c — see pkgs.h. */
#include "pkgs.h"
#include "builder.h"
#include "cache.h"
#include "inputs.h"
#include "step.h"
#include "catalog.h"
#include "util.h"
#include "digest.h"
#include "digestmemo.h"
#include "layer.h"
#include "lockfile.h"
#include "pkg_match.h"
#include "pkg_resolve.h"
#include "pkg_summary.h"
#include "pkgdb.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The repository's summary and SHA512 list, looked up (inputs.h) once per
 * plan; parsing waits for repo_parse. NULL when the summary is not known
 * yet (plan mode and not cached, or not resolved yet) or failed
 * (diagnosed, *failed). */
static struct pkgs_repo *repo_get(struct diag_ctx *d, struct plan *p, const char *url, const struct plan_env *env,
				  struct loc at, bool *failed)
{
	*failed = false;
	if (!p->pkgs)
		p->pkgs = xcalloc(1, sizeof(*p->pkgs));
	for (size_t i = 0; i < p->pkgs->n; i++)
		if (!strcmp(p->pkgs->v[i].url, url))
			return &p->pkgs->v[i];
	if (!env->inputs)
		return NULL;
	bool resolving = inputs_resolving(env->inputs);
	static const char *const names[] = {"pkg_summary.xz", "pkg_summary.bz2", "pkg_summary.gz"};
	struct input_file f;
	struct error *err = NULL;
	char *first_err = NULL;
	bool got = false, later = false;
	/* the first of the names that exists: in resolving mode, the next is
	 * asked for only once the one before is known to fail */
	for (size_t i = 0; i < ARRAY_LEN(names) && !got && !later; i++) {
		char *u = xasprintf("%s%s", url, names[i]);
		struct input_req req = {u, NULL, "check PKGSITE or the NetBSD release", NULL};
		enum input_state st = inputs_file(env->inputs, &req, &f, &err);
		if (st == INPUT_OK)
			got = true;
		else if (st == INPUT_MISSING && resolving)
			later = true;
		else if (!first_err)
			first_err = error_take_msg(err), err = NULL;
		error_clear(&err);
		free(u);
	}
	if (!got) {
		if (resolving && !later) {
			struct diag *g = diag_error(d, at, "no pkg_summary in the package repository %s", url);
			diag_hint(g, "%s", first_err ? first_err : "tried pkg_summary.xz, .bz2 and .gz");
			*failed = true;
		}
		free(first_err);
		return NULL;
	}
	free(first_err);
	char *summary_path = xstrdup(f.path), summary_sha[65];
	memcpy(summary_sha, f.sha256, sizeof(summary_sha));
	/* the SHA512 list is optional: verify against it when published */
	char *su = xasprintf("%sSHA512", url);
	struct input_req req = {su, NULL, NULL, NULL};
	enum input_state st = inputs_file(env->inputs, &req, &f, &err);
	error_clear(&err);
	free(su);
	if (st == INPUT_MISSING && resolving) {
		free(summary_path); /* the packages' pins wait for it */
		return NULL;
	}
	p->pkgs->v = xrealloc(p->pkgs->v, (p->pkgs->n + 1) * sizeof(*p->pkgs->v));
	struct pkgs_repo *r = &p->pkgs->v[p->pkgs->n++];
	memset(r, 0, sizeof(*r));
	r->url = xstrdup(url);
	r->summary_path = summary_path;
	memcpy(r->summary_sha, summary_sha, sizeof(r->summary_sha));
	if (st == INPUT_OK) {
		r->sums_path = xstrdup(f.path);
		memcpy(r->sums_sha, f.sha256, sizeof(r->sums_sha));
	}
	return r;
}

/* Parse the summary (and the SHA512 list) of a repository. 0 or -1
 * (diagnosed). */
static int repo_parse(struct diag_ctx *d, struct pkgs_repo *r, struct loc at)
{
	if (r->parsed)
		return r->summary ? 0 : -1;
	r->parsed = true;
	struct error *err = NULL;
	r->summary = pkg_summary_parse_file(r->summary_path, &err);
	if (!r->summary) {
		diag_error(d, at, "%s%s: %s", r->url, "pkg_summary", error_msg(err));
		error_clear(&err);
		return -1;
	}
	free(r->summary->label);
	r->summary->label = xstrdup(r->url);
	/* malformed records are left out: say which (a few) */
	const struct pkg_summary *ps = r->summary;
	for (size_t i = 0; i < ps->n_skipped && i < 3; i++) {
		char *pn = ps->skipped[i].pkgname ? str_escape(ps->skipped[i].pkgname) : NULL;
		struct diag *g = diag_warning(d, at, "%spkg_summary: skipped a malformed record%s%s%s: %s", r->url,
					      pn ? " (" : "", pn ? pn : "", pn ? ")" : "", ps->skipped[i].reason);
		if (i == 2 && ps->n_skipped > 3)
			diag_hint(g, "and %zu more malformed records", ps->n_skipped - 3);
		free(pn);
	}
	if (r->sums_path && pkg_digests_parse_file(r->sums_path, &r->digests, &err) == 0)
		r->have_digests = true;
	error_clear(&err);
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
	if (!env->inputs || (env->index_only && in->digest))
		return 0;
	int rc = 0;
	struct error *err = NULL;
	struct input_req req = {in->source, in->digest, "the package is listed in pkg_summary but missing", NULL};
	struct input_file f;
	enum input_state st = inputs_file(env->inputs, &req, &f, &err);
	if (st == INPUT_OK) {
		if (e && pkg_verify_file(f.path, e, digests, &err) < 0) {
			diag_error(d, n->loc, "%s: %s", in->source, error_msg(err));
			rc = -1;
		} else {
			in->path = xstrdup(f.path);
			if (!in->digest)
				in->digest = xasprintf("sha256:%s", f.sha256);
		}
	} else if (st == INPUT_FAILED) {
		struct diag *g = diag_error_record(d, n->loc, err);
		if (strstr(error_msg(err), " mismatch: "))
			diag_hint(g, "the package does not match the repository's SHA512 list: the download "
				  "is corrupt or the repository is being updated; try again later, or tell "
				  "the repository's maintainers");
		rc = -1;
	}
	error_clear(&err);
	return rc;
}

/* Fill step s for node n. repo = the repository URL (ending in '/').
 * Returns 0, or -1 with a diagnostic queued. */
static int pkgs_plan(struct diag_ctx *d, struct plan *p, struct plan_step *s, const struct ir_node *n, const char *repo,
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
			if (!env->inputs || env->index_only)
				continue;
			struct input_req req = {locked[i].url, locked[i].digest, "the locked package is gone from the repository; "
				"run smolc lock --update-lock", NULL};
			struct input_file f;
			struct error *err = NULL;
			enum input_state st = inputs_file(env->inputs, &req, &f, &err);
			if (st == INPUT_OK) {
				in->path = xstrdup(f.path);
			} else if (st == INPUT_FAILED) {
				struct diag *g = diag_error_record(d, n->loc, err);
				if (strstr(error_msg(err), " mismatch: "))
					diag_hint(g, "%s pins %s to that digest, but the repository's file changed; "
						  "run 'smolc lock --update-lock' (or 'smolc build --update-lock') to move to it",
						  env->lock->path, locked[i].what + (str_startswith(locked[i].what, "pkg ") ? 4 : 0));
				rc = -1;
			}
			error_clear(&err);
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
	for (size_t i = 0; hit && inputs_resolving(env->inputs) && i < nml; i++)
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
	struct error *err = NULL;
	if (pkg_resolve(r->summary, (const char *const *)n->u.pkgs.pats.v, n->u.pkgs.pats.n, repo, &res, &err) < 0) {
		/* point at the pattern the chain starts from when we can tell */
		struct loc at = n->loc;
		for (size_t i = 0; i < n->u.pkgs.pats.n; i++) {
			size_t l = strlen(n->u.pkgs.pats.v[i]);
			const char *em = error_msg(err);
			if (!strncmp(em, n->u.pkgs.pats.v[i], l) && (em[l] == ' ' || em[l] == ':')) {
				at = n->u.pkgs.locs[i];
				break;
			}
		}
		struct diag *g = diag_error_record(d, at, err);
		/* a package the recipe asks for whose record was left out */
		const struct pkg_skipped *sk = NULL;
		for (size_t i = 0; i < n->u.pkgs.pats.n && !sk; i++) {
			char *name = pkg_pattern_name(n->u.pkgs.pats.v[i]);
			for (size_t k = 0; name && k < r->summary->n_skipped && !sk; k++) {
				const char *pn = r->summary->skipped[k].pkgname;
				if (pn && pkg_name_len(pn) == strlen(name) && !strncmp(pn, name, strlen(name)))
					sk = &r->summary->skipped[k];
			}
			free(name);
		}
		if (sk) {
			char *pn = str_escape(sk->pkgname);
			diag_hint(g, "the repository's record of %s is malformed (%s), so it was left out; the repository "
				     "must fix it", pn, sk->reason);
			free(pn);
		} else {
			diag_hint(g, "check the names and versions in the repository %s", repo);
		}
		p->recipe_errors++;   /* the recipe asks for what cannot be: exit 2 */
		error_clear(&err);
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
	/* no memo for a summary with malformed records: every plan parses it
	 * again, so that its warnings are said every time */
	if (!r->summary->n_skipped)
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

/* The packages' files and their pkgdb entries into w. scripts (may be
 * NULL): for each package that has a +INSTALL script, in install order,
 * "<pkgname> <LOCALBASE> <PKG_DBDIR>" (what the builder VM needs to run it
 * as pkg_add would). log: progress, or NULL. */
static int pkgs_write(struct step_build_ctx *b, struct plan_step *s, struct layer_writer *w, FILE *log,
		      struct strvec *scripts, struct error **err)
{
	struct pkg_meta_set *metas = xcalloc(s->nin + 1, sizeof(*metas));
	struct pkgdb_pkg *pk = xcalloc(s->nin + 1, sizeof(*pk));
	char **names = xcalloc(s->nin + 1, sizeof(char *));
	char *dbdir = NULL;
	int rc = -1;
	size_t n = 0;
	for (size_t i = 0; i < s->nin; i++, n++) {
		const struct plan_input *in = &s->in[i];
		if (!in->path || !str_startswith(in->what, "pkg ")) {
			error_set(err, "%s: package not fetched", in->source ? in->source : in->what);
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
			struct error *perr = NULL;
			memset(&pl, 0, sizeof(pl));
			if (pkg_plist_parse(ct, cl, &pl, &perr) < 0) {
				error_set(err, "%s: %s (LOCALBASE %s); refusing to install this package: "
						 "it is broken or malicious, remove it from PKGS", file, error_msg(perr), localbase);
				error_clear(&perr);
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
		m.mtime = (int64_t)b->p->epoch;
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

/* The runner of a PKGS step's +INSTALL scripts: for each package, in
 * install order, `+INSTALL <pkgname> PRE-INSTALL` then `POST-INSTALL`, in
 * its metadata directory, with pkg_add's environment. Exit status k: the
 * k-th package's script failed. */
static char *install_script(const struct strvec *scripts)
{
	struct strbuf sb;
	sb_init(&sb);
	sb_adds(&sb, "# the +INSTALL scripts of a PKGS step, as pkg_add runs them\n"
		     "inst() { # pkgname LOCALBASE PKG_DBDIR\n"
		     "\tPKG_PREFIX=$2 PKG_METADATA_DIR=$3/$1 PKG_DBDIR=$3 PKG_REFCOUNT_DBDIR=$3.refcount\n"
		     "\texport PKG_PREFIX PKG_METADATA_DIR PKG_DBDIR PKG_REFCOUNT_DBDIR\n"
		     "\tcd \"$PKG_METADATA_DIR\" || return 1\n"
		     "\tfor stage in PRE-INSTALL POST-INSTALL; do\n"
		     "\t\techo \"$1: +INSTALL $stage\"\n"
		     "\t\t/bin/sh ./+INSTALL \"$1\" $stage || { echo \"$1: +INSTALL $stage failed with exit status $?\"; return 1; }\n"
		     "\tdone\n"
		     "}\n");
	for (size_t i = 0; i < scripts->n; i++) {
		/* names and paths come from the package's metadata: quote them */
		char *f[3] = {NULL, NULL, NULL};
		char *copy = xstrdup(scripts->v[i]);
		char *save = NULL;
		for (int k = 0; k < 3; k++)
			f[k] = strtok_r(k ? NULL : copy, " ", &save);
		sb_adds(&sb, "inst");
		for (int k = 0; k < 3; k++) {
			sb_addc(&sb, ' ');
			sb_add_shquoted(&sb, f[k] ? f[k] : "");
		}
		sb_printf(&sb, " || exit %zu\n", i + 1 < 250 ? i + 1 : 250);
		free(copy);
	}
	sb_cstr(&sb);
	return sb_detach(&sb);
}

/* The packages, then (unless --no-scripts) their +INSTALL scripts in a
 * builder VM booted from the image with the packages installed: what the
 * scripts change is part of the layer. */
static int pkgs_build(struct step_build_ctx *b, struct plan_step *s, struct layer_writer *w, struct error **err)
{
	bool want = !s->node->u.pkgs.no_scripts;
	struct strvec scripts = {0};
	if (pkgs_write(b, s, w, b->log, want ? &scripts : NULL, err) < 0) {
		sv_free(&scripts);
		return -1;
	}
	if (!scripts.n)
		return 0; /* no +INSTALL: nothing boots */
	int rc = -1;
	char *tmp = NULL;
	struct strvec env = {0}, names = {0};
	char *script = NULL;
	char *what = xasprintf("%s: %.*s has a +INSTALL script", s->title, (int)strcspn(scripts.v[0], " "), scripts.v[0]);
	int can = step_builder_can_boot(b, what, "the PKGS (or use PKGS --no-scripts)", err);
	free(what);
	if (can < 0)
		goto out;
	/* the packages' files, as a layer of their own applied to the tree:
	 * the scripts run against the image with the packages installed */
	if (cache_mktemp_dir(b->cache, "pkgfiles", &tmp, err) < 0)
		goto out;
	rmdir(tmp);
	struct layer_writer *fw = layer_writer_new(tmp, s->title, err);
	if (!fw)
		goto out;
	if (pkgs_write(b, s, fw, NULL, NULL, err) < 0) {
		layer_writer_abort(fw);
		goto out;
	}
	if (layer_writer_finish(fw, NULL, err) < 0 || layer_apply(tmp, b->tree, err) < 0)
		goto out;
	for (size_t i = 0; i < scripts.n; i++)
		sv_push(&names, xasprintf("the +INSTALL script of %.*s", (int)strcspn(scripts.v[i], " "), scripts.v[i]));
	sv_push(&names, NULL);
	script = install_script(&scripts);
	struct builder_opts bo;
	step_builder_defaults(b, s, &bo, &env);
	bo.script = script;
	bo.status_names = (const char *const *)names.v;
	bo.hint_timeout = "the +INSTALL scripts ran for 600 s; use PKGS --no-scripts and a RUN with --timeout";
	if (b->log)
		fprintf(b->log, "      running the +INSTALL scripts of %zu package%s in the builder VM\n", scripts.n,
			scripts.n == 1 ? "" : "s");
	rc = builder_run(b->cache, b->tree, w, &bo, err);
out:
	if (tmp)
		remove_tree(tmp);
	free(tmp);
	free(script);
	sv_free(&env);
	sv_free(&names);
	sv_free(&scripts);
	return rc;
}

/* ---- the PKGS step kind (step.h) ---- */

static int pkgs_canon(struct step_plan_ctx *c, const struct ir_node *n)
{
	struct strbuf title, canon;
	sb_init(&title);
	sb_init(&canon);
	sb_adds(&title, "PKGS");
	sb_adds(&canon, "pkgs");
	for (size_t k = 0; k < n->u.pkgs.pats.n; k++) {
		sb_printf(&title, " %s", n->u.pkgs.pats.v[k]);
		sb_printf(&canon, " %s", n->u.pkgs.pats.v[k]);
	}
	/* the +INSTALL scripts run unless --no-scripts (which is part of the
	 * key, so both layers can be cached) */
	if (n->u.pkgs.no_scripts)
		sb_adds(&canon, " no-scripts");
	struct plan_step *s = step_add(c, STEP_PKGS, n, n->loc, sb_detach(&title));
	s->canon = sb_detach(&canon);
	return 0;
}

/* the repository: the recipe's PKGSITE or $PKGSITE, else the release's */
static int pkgs_inputs(struct step_plan_ctx *c, struct plan_step *s)
{
	const struct ir_node *n = s->node;
	const char *site = recipe_pkgsite(&c->r->set);
	if (!site && c->p->target)
		site = c->p->target->pkgsrc_url;
	if (!site) {
		diag_error(c->d, n->loc, "PKGS: no package repository (no NetBSD release, no PKGSITE and no $PKGSITE)");
		c->p->recipe_errors++;
		return -1;
	}
	char *repo = str_endswith(site, "/") ? xstrdup(site) : xasprintf("%s/", site);
	int rc = pkgs_plan(c->d, c->p, s, n, repo, c->env);
	free(repo);
	return rc;
}

const struct step_ops step_pkgs_ops = {
	.name = "pkgs",
	.kind = STEP_PKGS,
	.when = STEP_ON_INSTR,
	.instr = IR_PKGS,
	.canon = pkgs_canon,
	.inputs = pkgs_inputs,
	.key = step_key_epoch,
	.build = pkgs_build,
};
