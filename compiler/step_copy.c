/* step_copy.c — COPY: files of the build context into the image. The
 * inputs are every file under each source (each glob match, a directory
 * walked in name order) with its content digest and mode, not its mtime;
 * the files get the build epoch as mtime, root:wheel or --chown's owner
 * (looked up in the image built so far) and --chmod's mode. */
#include "step.h"
#include "digest.h"
#include "inputs.h"
#include "layer.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int copy_canon(struct step_plan_ctx *ctx, const struct ir_node *n)
{
	const struct ir_copy *c = n->u.copy;
	struct strbuf title, canon;
	sb_init(&title);
	sb_init(&canon);
	sb_adds(&title, c->url ? "ADD" : "COPY");
	sb_printf(&canon, "copy dst=%s chown=%s mode=%o", c->dst ? c->dst : "", c->chown.spec ? c->chown.spec : "-",
		  c->mode < 0 ? 0u : (unsigned)c->mode);
	if (c->url) {
		sb_printf(&title, " %s", c->url);
		sb_printf(&canon, " url=%s", c->url);
	}
	for (size_t i = 0; i < c->srcs.n; i++) {
		sb_printf(&title, " %s", c->srcs.v[i]);
		sb_printf(&canon, " src=%s", c->srcs.v[i]);
	}
	sb_printf(&title, " %s", c->dst ? c->dst : "?");
	struct plan_step *s = step_add(ctx, STEP_COPY, n, n->loc, sb_detach(&title));
	s->canon = sb_detach(&canon);
	return 0;
}

/* The digest of a context entry that is neither a file nor a symlink: its
 * type (and device number), so that an empty directory never stands for a
 * FIFO of the same mode. */
static char *special_digest(const struct stat *st)
{
	if (S_ISDIR(st->st_mode))
		return xstrdup("dir");
	if (S_ISFIFO(st->st_mode))
		return xstrdup("fifo");
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		return xasprintf("%s:%u,%u", S_ISCHR(st->st_mode) ? "chr" : "blk", major(st->st_rdev), minor(st->st_rdev));
	return xstrdup("sock");
}

/* One input per context entry under each source (each glob match),
 * digested by content (files), target (symlinks) or type (the rest), and
 * mode, not mtime. An entry that cannot be read stays pending (no digest:
 * the step has no key); a build (resolving inputs) reports it at the
 * instruction. */
static int copy_inputs(struct step_plan_ctx *ctx, struct plan_step *s)
{
	int rc = 0;
	const struct recipe *r = ctx->r;
	const struct plan_env *env = ctx->env;
	const struct ir_node *n = s->node;
	const struct ir_copy *c = n->u.copy;
	if (c->url) {
		/* ADD <url>: a remote input, pinned by --checksum when given (else
		 * by the download's sha256, like SETS <url>) */
		struct plan_input *in = plan_add_input(s, "url", c->url);
		return step_input_fetch(env, in, c->checksum, "check the ADD URL", r->dir, ctx->d, c->url_loc);
	}
	for (size_t i = 0; i < c->srcs.n; i++) {
		struct step_ctxents ents = {0};
		if (!strpbrk(c->srcs.v[i], "*?[")) {
			step_walk_context(r->dir, c->srcs.v[i], c->src_st ? &c->src_st[i] : NULL, &ents);
		} else {
			char *pattern = path_join(r->dir, c->srcs.v[i]);
			glob_t gl;
			memset(&gl, 0, sizeof(gl));
			if (glob(pattern, 0, NULL, &gl) == 0) {
				size_t dl = strlen(r->dir);
				for (size_t k = 0; k < gl.gl_pathc; k++) {
					const char *m = gl.gl_pathv[k];
					step_walk_context(r->dir, strncmp(m, r->dir, dl) == 0 && m[dl] == '/' ? m + dl + 1 : m,
							  NULL, &ents);
				}
			}
			globfree(&gl);
			free(pattern);
		}
		for (size_t f = 0; f < ents.n; f++) {
			const struct step_ctxent *e = &ents.v[f];
			char *full = path_join(r->dir, e->rel);
			char *what = xasprintf("file %s", e->rel);
			struct plan_input *in = plan_add_input(s, what, e->rel);
			free(what);
			in->mode = (unsigned)e->st.st_mode;
			char *digest = NULL;
			int why = 0;
			if (S_ISREG(e->st.st_mode)) {
				step_input_local(env, in, full, &e->st);
				digest = in->digest;
				in->digest = NULL;
				if (!digest) {
					/* why: the digest memo does not keep errno */
					int fd = open(full, O_RDONLY | O_CLOEXEC);
					why = fd < 0 ? errno : EIO;
					if (fd >= 0)
						close(fd);
				}
			} else if (S_ISLNK(e->st.st_mode)) {
				char buf[4096];
				ssize_t l = readlink(full, buf, sizeof(buf) - 1);
				if (l >= 0) {
					buf[l] = 0;
					char hex[65];
					sha256_hex(buf, (size_t)l, hex);
					digest = xasprintf("symlink:%s", hex);
				} else {
					why = errno;
				}
				in->path = xstrdup(full);
			} else {
				digest = special_digest(&e->st);
				in->path = xstrdup(full);
			}
			/* content (or type) and mode, not mtime; unknown: pending */
			if (digest)
				in->digest = xasprintf("%s mode=%o", digest, (unsigned)e->st.st_mode & 07777);
			else if (inputs_resolving(env->inputs)) {
				struct diag *g = diag_error(ctx->d, n->loc, "COPY: cannot read %s: %s", full, strerror(why));
				diag_hint(g, "make it readable by the user running smolc, or leave it out of the COPY");
				rc = -1;
			}
			free(digest);
			free(full);
		}
		step_ctxents_free(&ents);
	}
	return rc;
}

static int copy_build(struct step_build_ctx *b, struct plan_step *s, struct layer_writer *w, struct error **err)
{
	const struct ir_copy *c = s->node->u.copy;
	int64_t uid, gid;
	if (step_owner(b, "COPY", &c->chown, &uid, &gid, err) < 0)
		return -1;
	const struct recipe *r = s->recipe;
	if (c->url) {
		/* the downloaded file, 0600 unless --mode (Docker's ADD <url>) */
		const struct plan_input *in = s->nin ? &s->in[0] : NULL;
		if (!in || !in->path) {
			error_set(err, "ADD %s: the file was not downloaded", c->url);
			return -1;
		}
		struct layer_path_opts po;
		memset(&po, 0, sizeof(po));
		po.label = c->url;
		po.dest = c->dst;
		po.uid = uid;
		po.gid = gid;
		po.perm = c->mode < 0 ? 0600 : c->mode;
		po.mtime = (int64_t)b->p->epoch;
		return layer_import_path(w, in->path, &po, err);
	}
	bool to_dir = str_endswith(c->dst, "/") || c->srcs.n > 1;
	for (size_t i = 0; i < c->srcs.n; i++) {
		/* each glob match; plan_copy has walked them — re-glob here */
		char *pattern = path_join(r->dir, c->srcs.v[i]);
		glob_t gl;
		memset(&gl, 0, sizeof(gl));
		if (glob(pattern, 0, NULL, &gl) != 0) {
			error_set(err, "COPY %s: no such file in %s", c->srcs.v[i], r->dir);
			free(pattern);
			globfree(&gl);
			return -1;
		}
		if (gl.gl_pathc > 1)
			to_dir = true;
		int rc = 0;
		for (size_t k = 0; k < gl.gl_pathc && rc == 0; k++) {
			struct stat st;
			if (lstat(gl.gl_pathv[k], &st) < 0)
				continue;
			char *dest;
			if (S_ISDIR(st.st_mode))
				dest = xstrdup(c->dst); /* a directory's contents go into dst */
			else if (to_dir)
				dest = path_join(c->dst, path_basename(gl.gl_pathv[k]));
			else
				dest = xstrdup(c->dst);
			struct layer_path_opts po;
			memset(&po, 0, sizeof(po));
			po.label = gl.gl_pathv[k];
			po.dest = dest;
			po.uid = uid;
			po.gid = gid;
			po.perm = c->mode;
			po.mtime = (int64_t)b->p->epoch;
			rc = layer_import_path(w, gl.gl_pathv[k], &po, err);
			free(dest);
		}
		globfree(&gl);
		free(pattern);
		if (rc < 0)
			return -1;
	}
	return 0;
}

const struct step_ops step_copy_ops = {
	.name = "copy",
	.kind = STEP_COPY,
	.when = STEP_ON_INSTR,
	.instr = IR_COPY,
	.canon = copy_canon,
	.inputs = copy_inputs,
	.key = step_key_epoch,
	.build = copy_build,
};
