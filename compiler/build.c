/* build.c — `smolc build`: execute the plan.
 *
 * For each step of the plan, in order: if layers/<key> is in the cache the
 * step is CACHED; otherwise the layer is written into a temp directory of
 * the cache and renamed to its key (under an exclusive per-key lock, so
 * two builds sharing a cache never build the same layer twice at once and
 * a killed build leaves nothing under a final name). Every layer is then
 * applied, in order, to an in-memory tree, and the tree is written into a
 * GPT + ext2 disk image (temp file, then rename), beside the kernel and
 * the run config.
 *
 * No-op rebuilds: images/<service>-<arch>.stamp records the image key and
 * the identity (size, mtime, inode) of the image written for it; when both
 * still match, nothing is applied or written.
 *
 * Small changes: images/<service>-<arch>.layout records where the image
 * holds each file's blocks (image.h); when it still describes the image
 * (same identity, no other hard link) and the new tree has the same
 * geometry, the image is updated in place: files whose content and place
 * did not change are not written again. While it changes, nothing trusts
 * it: the stamp and the layout are removed first (and that is synced), so
 * an update that is interrupted leaves an image no later build or run
 * takes as up to date or updates in place (the next build writes it anew,
 * to a temp file renamed over it). */
#include "build.h"
#include "cache.h"
#include "catalog.h"
#include "check.h"
#include "digest.h"
#include "digestmemo.h"
#include "exitcode.h"
#include "fstree.h"
#include "image.h"
#include "jout.h"
#include "layer.h"
#include "lockfile.h"
#include "session.h"
#include "runconf.h"
#include "step.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct build {
	struct build_opts *o;
	struct session env;
	struct diag_ctx *d;
	struct recipe *r;
	struct plan *p;
	struct fstree *tree;
	struct strvec layer_dirs;   /* applied layers, in order */
	bool *cached;               /* per step */
	bool *remote;               /* per step: fetched from the remote cache */
	double *secs;               /* per step */
	char *out_base;             /* <outdir>/<service>-<arch> */
	char *stored_as;            /* NAME:TAG in the image store, once recorded */
	struct lockfile *lock;
	FILE *log;                  /* progress (stderr) or NULL when quiet */
};

static void logf_(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct build *b, const char *fmt, ...)
{
	if (!b->log)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(b->log, fmt, ap);
	va_end(ap);
	fflush(b->log);
}

/* Queue an error record (at its own loc when it has one, else at `at`)
 * and free it. */
static int fail(struct build *b, struct loc at, struct error *e)
{
	diag_error_record(b->d, at, e);
	error_clear(&e);
	return -1;
}

static void build_ctx(struct build *b, struct step_build_ctx *bc)
{
	memset(bc, 0, sizeof(*bc));
	bc->p = b->p;
	bc->env = &b->env.penv;
	bc->cache = b->env.cache;
	bc->tree = b->tree;
	bc->log = b->log;
	bc->verbose = b->o->verbose;
	bc->launcher = b->o->launcher;
	bc->d = b->d;
}

static int build_layer(struct build *b, struct plan_step *s, const char *tmpdir, struct error **err)
{
	struct layer_writer *w = layer_writer_new(tmpdir, s->title, err);
	if (!w)
		return -1;
	struct step_build_ctx bc;
	build_ctx(b, &bc);
	int rc = step_ops_of(s->kind)->build(&bc, s, w, err);
	if (rc < 0) {
		layer_writer_abort(w);
		return -1;
	}
	struct layer_info info;
	if (layer_writer_finish(w, &info, err) < 0)
		return -1;
	/* a human description for `smolc cache ls` */
	char *desc = path_join(tmpdir, "desc");
	char *text = xasprintf("%s (%s)\n", s->title, b->r->set.service);
	write_file_atomic(desc, text, strlen(text), 0644);
	free(text);
	free(desc);
	return 0;
}

static int run_step(struct build *b, size_t i)
{
	struct plan_step *s = &b->p->v[i];
	double t0 = now_monotonic();
	struct error *err = NULL;
	struct cache_lock *lk = NULL;
	if (cache_lock(b->env.cache, "layer", s->key, CACHE_LOCK_EXCLUSIVE, true, &lk, &err) < 0)
		return fail(b, s->loc, err);
	bool exists = cache_layer_exists(b->env.cache, s->key);
	char *final = NULL;
	if (exists && !b->o->no_cache) {
		/* a cached layer is about to be written into an image: check it
		 * against its recorded digest (size and mtime first, then the
		 * digest of both files); a damaged one is a cache miss */
		char *lp = cache_layer_path(b->env.cache, s->key, NULL);
		struct error *why = NULL;
		if (lp && layer_verify(lp, true, true, &why) != 0) {
			diag_warning(b->d, s->loc, "%s: the cached layer %.12s is damaged (%s); building it again",
				     s->title, s->key, why ? error_msg(why) : "unreadable");
			remove_tree(lp);
			exists = false;
		}
		error_clear(&why);
		free(lp);
	}
	if (exists && b->o->no_cache) {
		/* --no-cache: build it again and replace the cached one */
		char *old = cache_layer_path(b->env.cache, s->key, NULL);
		if (old)
			remove_tree(old);
		free(old);
		exists = false;
	}
	if (!exists && !b->o->no_cache && b->o->remote && b->o->remote->fetch) {
		/* --cache-from: the remote cache's layer (verified on the way)
		 * instead of running the step; any trouble is a warning */
		struct error *werr = NULL;
		int fr = b->o->remote->fetch(b->o->remote->ctx, b->env.cache, s->key, s->title, &werr);
		if (werr)
			diag_warning(b->d, s->loc, "%s: %s; building it", s->title, error_msg(werr));
		error_clear(&werr);
		if (fr == 1 && cache_layer_exists(b->env.cache, s->key))
			exists = b->remote[i] = true;
	}
	if (exists) {
		b->cached[i] = true;
		final = cache_layer_path(b->env.cache, s->key, &err);
	} else {
		if (b->log && isatty(fileno(b->log)))
			logf_(b, "[%zu/%zu] %s …\n", i + 1, b->p->n, s->title);
		char *tmp = NULL;
		if (cache_mktemp_dir(b->env.cache, "layer", &tmp, &err) < 0) {
			cache_unlock(lk);
			return fail(b, s->loc, err);
		}
		/* the writer creates the directory itself */
		rmdir(tmp);
		if (build_layer(b, s, tmp, &err) < 0) {
			remove_tree(tmp);
			free(tmp);
			cache_unlock(lk);
			return fail(b, s->loc, err);
		}
		if (cache_commit_layer(b->env.cache, tmp, s->key, &final, &err) < 0) {
			remove_tree(tmp);
			free(tmp);
			cache_unlock(lk);
			return fail(b, s->loc, err);
		}
		free(tmp);
	}
	if (!final) {
		cache_unlock(lk);
		if (!err)
			error_set(&err, "layer path unavailable");
		return fail(b, s->loc, err);
	}
	if (b->o->explain && step_ops_of(s->kind)->explain) {
		struct step_build_ctx bc;
		build_ctx(b, &bc);
		step_ops_of(s->kind)->explain(&bc, s, stdout);
		fflush(stdout);
	}
	int rc = layer_apply(final, b->tree, &err);
	cache_unlock(lk);
	if (rc < 0) {
		free(final);
		return fail(b, s->loc, err);
	}
	sv_push(&b->layer_dirs, final);
	/* a fixed SIZE the files alone already exceed: say so now, not after
	 * every later step (the image writer checks the exact need) */
	const struct recipe_settings *rs = &b->r->set;
	if (!rs->size_auto && rs->size_bytes) {
		struct fstree_stats st;
		fstree_get_stats(b->tree, &st);
		if (st.bytes > rs->size_bytes) {
			struct loc at = s->loc;
			for (size_t k = 0; k < b->r->n; k++)
				if (b->r->v[k].kind == IR_SIZE)
					at = b->r->v[k].loc;
			struct error *e = NULL;
			error_set(&e, "the image needs at least %" PRIu64 " MiB: after %s its files alone take %" PRIu64
				      " MiB, more than SIZE %" PRIu64 " MiB",
				  (st.bytes + (1u << 20) - 1) >> 20, s->title, (st.bytes + (1u << 20) - 1) >> 20,
				  rs->size_bytes >> 20);
			error_hint(&e, "give SIZE more, or SIZE auto");
			return fail(b, at, e);
		}
	}
	b->secs[i] = now_monotonic() - t0;
	if (b->remote[i])
		logf_(b, "[%zu/%zu] %-50s CACHED (remote)\n", i + 1, b->p->n, s->title);
	else if (b->cached[i])
		logf_(b, "[%zu/%zu] %-50s CACHED\n", i + 1, b->p->n, s->title);
	else
		logf_(b, "[%zu/%zu] %-50s built in %.2fs\n", i + 1, b->p->n, s->title, b->secs[i]);
	return 0;
}

/* ---- outputs ---- */

/* Outputs are written as <name>.<ext>.tmp.<pid> and renamed. A build that
 * was killed leaves its temp files behind (a 300 MB image among them):
 * remove those whose process is gone. Another build's live temp file is
 * left alone. */
static void sweep_stale_outputs(const char *out_base)
{
	static const char *const exts[] = {"img", "kernel", "initrd", "yaml", "stamp", "layout"};
	char *pattern = xasprintf("%s.*.tmp.*", out_base);
	glob_t gl;
	memset(&gl, 0, sizeof(gl));
	if (glob(pattern, GLOB_NOSORT, NULL, &gl) == 0) {
		size_t bl = strlen(out_base);
		for (size_t i = 0; i < gl.gl_pathc; i++) {
			const char *p = gl.gl_pathv[i] + bl + 1; /* "<ext>.tmp.<pid>" */
			for (size_t k = 0; k < ARRAY_LEN(exts); k++) {
				size_t el = strlen(exts[k]);
				if (strncmp(p, exts[k], el) || strncmp(p + el, ".tmp.", 5))
					continue;
				const char *num = p + el + 5;
				char *end;
				long pid = strtol(num, &end, 10);
				if (end == num || *end || pid <= 0)
					continue;
				if (kill((pid_t)pid, 0) < 0 && errno == ESRCH && unlink(gl.gl_pathv[i]) == 0)
					debugf("removed %s, left by a build that died", gl.gl_pathv[i]);
			}
		}
	}
	globfree(&gl);
	free(pattern);
}

static char *stamp_path(const struct build *b)
{
	return xasprintf("%s.stamp", b->out_base);
}

/* Whether images/<name>.stamp names this plan's image key and the image
 * file is still the one written for it (size, inode, mtime). */
static bool stamp_matches(const struct build *b, const char *img)
{
	char *sp = stamp_path(b);
	char *text = NULL;
	size_t len;
	bool ok = false;
	if (read_file(sp, 4096, &text, &len) == 0) {
		char key[65];
		unsigned long long size, ino;
		long long mt;
		struct stat s;
		ok = sscanf(text, "key %64s size %llu ino %llu mtime_ns %lld", key, &size, &ino, &mt) == 4 &&
		     !strcmp(key, b->p->image_key) && stat(img, &s) == 0 && (uint64_t)s.st_size == size &&
		     (uint64_t)s.st_ino == ino && (int64_t)s.st_mtim.tv_sec * 1000000000 + s.st_mtim.tv_nsec == mt;
	}
	free(text);
	free(sp);
	return ok;
}

static void stamp_write(const struct build *b, const char *img)
{
	struct stat s;
	if (stat(img, &s) < 0)
		return;
	char *sp = stamp_path(b);
	char *text = xasprintf("key %s size %llu ino %llu mtime_ns %lld\n", b->p->image_key,
			       (unsigned long long)s.st_size, (unsigned long long)s.st_ino,
			       (long long)s.st_mtim.tv_sec * 1000000000 + s.st_mtim.tv_nsec);
	write_file_atomic(sp, text, strlen(text), 0644);
	free(text);
	free(sp);
}

static int copy_file_atomic(const char *src, const char *dst, struct error **err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		error_set(err, "%s: %s", src, strerror(errno));
		return -1;
	}
	char *tmp = xasprintf("%s.tmp.%ld", dst, (long)getpid());
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		error_set(err, "%s: %s", tmp, strerror(errno));
		close(in);
		free(tmp);
		return -1;
	}
	char buf[1 << 16];
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			rc = -1;
			break;
		}
	}
	if (n < 0)
		rc = -1;
	if (close(out) < 0)
		rc = -1;
	close(in);
	if (rc == 0 && rename(tmp, dst) < 0)
		rc = -1;
	if (rc < 0) {
		error_set(err, "writing %s: %s", dst, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

static void image_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct build *b = ctx;
	if (!b->log || !isatty(fileno(b->log)) || !total)
		return;
	fprintf(b->log, "\r      writing image %3u%%", (unsigned)(done * 100 / total));
	if (done >= total)
		fputc('\n', b->log);
	fflush(b->log);
}

/* The kernel (or initrd) beside the image, copied only when it changed. */
static int write_kernel(struct build *b, const struct plan_input *in, const char *kern)
{
	struct error *err = NULL;
	char have[65];
	const char *want = in->digest && str_startswith(in->digest, "sha256:") ? in->digest + 7 : NULL;
	if (want && path_exists(kern)) {
		/* the copy's digest, remembered under its identity: a no-op
		 * build does not read a 20 MB kernel again */
		struct dmemo *m = dmemo_open(b->env.cache ? cache_root(b->env.cache) : NULL, kern);
		bool same = dmemo_digest(m, kern, NULL, have) == 0 && !strcmp(have, want);
		dmemo_close(m, true);
		if (same)
			return 0;
	}
	if (copy_file_atomic(in->path, kern, &err) < 0) {
		diag_error_record(b->d, (struct loc){0, 0, 0}, err);
		error_clear(&err);
		return -1;
	}
	return 0;
}

/* The run config: everything `smolc run` needs, naming the image, the
 * kernel and the initrd (NULL: none) as `img`, `kern` and `initrd`
 * (relative to the YAML's directory). */
static struct runconf *make_runconf(struct build *b, const char *img, const char *kern, const char *initrd)
{
	const struct recipe_settings *rs = &b->r->set;
	struct runconf *rcf = runconf_new();
	rcf->service = xstrdup(rs->service);
	rcf->arch = xstrdup(rs->arch);
	rcf->profile = xstrdup(rs->profile);
	rcf->machine = xstrdup(!strcmp(rs->arch, "evbarm-aarch64") ? "virt" : "microvm");
	rcf->kernel = xstrdup(kern);
	rcf->kernel_sha256 = b->p->kernel.digest && str_startswith(b->p->kernel.digest, "sha256:")
				     ? xstrdup(b->p->kernel.digest + 7) : NULL;
	rcf->image = xstrdup(img);
	if (initrd) {
		rcf->initrd = xstrdup(initrd);
		rcf->initrd_sha256 = b->p->initrd.digest && str_startswith(b->p->initrd.digest, "sha256:")
					     ? xstrdup(b->p->initrd.digest + 7) : NULL;
	}
	rcf->memory_mib = (unsigned)rs->mem_mib;
	rcf->cpus = rs->cpus;
	rcf->readonly = rs->readonly;
	if (rs->console) /* LABEL smolbsd.use_pty=y */
		rcf->console = xstrdup(rs->console);
	char *cmdline = runconf_default_cmdline(rs->profile, rs->service, rs->readonly);
	rcf->cmdline = rs->append ? xasprintf("%s %s", cmdline, rs->append) : xstrdup(cmdline);
	free(cmdline);
	size_t nshare = 0;
	for (const struct recipe *r = b->r; r; r = r->parent) {
		for (size_t i = 0; i < r->n; i++) {
			const struct ir_node *n = &r->v[i];
			if (n->kind == IR_PORTS && r == b->r)
				for (size_t k = 0; k < n->u.ports.n; k++)
					runconf_add_port(rcf, n->u.ports.v[k].host_addr, n->u.ports.v[k].host, n->u.ports.v[k].guest,
							 n->u.ports.v[k].udp ? RUNCONF_UDP : RUNCONF_TCP);
			if (n->kind == IR_SHARE && r == b->r && n->u.share.host) {
				char *host = n->u.share.host[0] == '/' ? xstrdup(n->u.share.host) : realpath(r->dir, NULL);
				if (n->u.share.host[0] != '/' && host) {
					char *j = path_join(host, n->u.share.host);
					free(host);
					host = j;
					char *rp = realpath(host, NULL); /* tidy "./" when it exists */
					if (rp) {
						free(host);
						host = rp;
					}
				}
				char tag[32];
				snprintf(tag, sizeof(tag), "share%zu", nshare++);
				runconf_add_share(rcf, host ? host : n->u.share.host, tag, n->u.share.guest, false);
				free(host);
			}
			if (n->kind == IR_FWCFG && r == b->r && n->u.fwcfg.name) {
				/* a file: its absolute path (check.c saw it exists) */
				char *v = NULL;
				if (n->u.fwcfg.is_file) {
					char *j = path_join(r->dir, n->u.fwcfg.value);
					v = realpath(j, NULL);
					if (!v)
						v = j;
					else
						free(j);
				}
				runconf_set_fwcfg(rcf, n->u.fwcfg.name, v ? v : n->u.fwcfg.value, n->u.fwcfg.is_file);
				free(v);
			}
		}
	}
	/* labels: the bases' first, so that a recipe's own LABEL wins */
	size_t depth = 0;
	for (const struct recipe *r = b->r; r; r = r->parent)
		depth++;
	while (depth--) {
		const struct recipe *r = b->r;
		for (size_t k = 0; k < depth; k++)
			r = r->parent;
		for (size_t i = 0; i < r->n; i++)
			if (r->v[i].kind == IR_LABEL && r->v[i].u.label.key)
				runconf_set_label(rcf, r->v[i].u.label.key, r->v[i].u.label.value);
	}
	rcf->build_key = xstrdup(b->p->image_key);
	for (size_t i = 0; i < b->o->build_args.n; i++)
		sv_pushdup(&rcf->build_args, b->o->build_args.v[i]);
	return rcf;
}

/* Cheap, so it is written on every build (PORTS, MEM … are not part of
 * the image). */
static int write_runconf(struct build *b, const char *img, const char *kern, const char *initrd, const char *yaml)
{
	struct error *err = NULL;
	struct runconf *rcf =
		make_runconf(b, path_basename(img), path_basename(kern), initrd ? path_basename(initrd) : NULL);
	int rc = 0;
	if (runconf_write(rcf, yaml, &err) < 0) {
		diag_error_record(b->d, (struct loc){0, 0, 0}, err);
		error_clear(&err);
		rc = -1;
	}
	runconf_free(rcf);
	return rc;
}

/* Hand the image to the caller's record function (the image store). */
static int record_image(struct build *b)
{
	if (!b->o->record)
		return 0;
	const struct recipe_settings *rs = &b->r->set;
	struct error *err = NULL;
	char *yaml = NULL;
	char *img = xasprintf("%s.img", b->out_base), *kern = xasprintf("%s.kernel", b->out_base);
	char *initrd = b->p->initrd.what ? xasprintf("%s.initrd", b->out_base) : NULL;
	struct runconf *rcf = make_runconf(b, "disk.img", "kernel", initrd ? "initrd" : NULL);
	int rc = runconf_to_yaml(rcf, &yaml, &err);
	runconf_free(rcf);
	if (rc == 0) {
		struct build_result r = {
			.key = b->p->image_key,
			.service = rs->service,
			.arch = rs->arch,
			.readonly = rs->readonly,
			.image = img,
			.kernel = kern,
			.kernel_sha256 = b->p->kernel.digest && str_startswith(b->p->kernel.digest, "sha256:")
						 ? b->p->kernel.digest + 7 : NULL,
			.initrd = initrd,
			.initrd_sha256 = initrd && b->p->initrd.digest && str_startswith(b->p->initrd.digest, "sha256:")
						 ? b->p->initrd.digest + 7 : NULL,
			.store_run_config = yaml,
		};
		rc = b->o->record(b->o->record_ctx, &r, &b->stored_as, &err);
	}
	if (rc < 0 && b->o->tag) {
		diag_error_plain(b->d, "recording the image in the image store: %s", error_msg(err));
	} else if (rc < 0) {
		/* no -t: the image files are what was asked for; the store is a
		 * convenience (SPEC §8.3) */
		char *e = str_escape(err ? error_msg(err) : "");
		fprintf(stderr, "warning: the image was not recorded in the image store: %s\n"
				"  hint: set SMOLC_DATA to a writable directory to record it\n", e);
		free(e);
		rc = 0;
	}
	error_clear(&err);
	free(yaml);
	free(img);
	free(kern);
	free(initrd);
	return rc;
}

/* Before the image is changed in place: remove what makes a later build
 * trust it (the stamp: up to date; the layout: fit to update), and sync
 * the directory, so that an update interrupted at any point (kill -9,
 * power loss) leaves an image nothing trusts. */
static int invalidate_image(struct build *b, const char *img, const char *lay_path)
{
	char *sp = stamp_path(b);
	int rc = 0;
	if ((unlink(sp) < 0 && errno != ENOENT) || (unlink(lay_path) < 0 && errno != ENOENT))
		rc = -1;
	free(sp);
	char *dir = path_dirname(img);
	int dfd = rc == 0 ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dfd < 0 || fsync(dfd) < 0)
		rc = -1;
	if (dfd >= 0)
		close(dfd);
	free(dir);
	return rc;
}

static int write_outputs(struct build *b, bool image_up_to_date)
{
	const struct recipe_settings *rs = &b->r->set;
	struct error *err = NULL;
	char *img = xasprintf("%s.img", b->out_base);
	char *kern = xasprintf("%s.kernel", b->out_base);
	char *initrd = b->p->initrd.what ? xasprintf("%s.initrd", b->out_base) : NULL;
	char *yaml = xasprintf("%s.yaml", b->out_base);
	int rc = -1;
	char *tmp = xasprintf("%s.tmp.%ld", img, (long)getpid());
	char *lay_path = xasprintf("%s.layout", b->out_base);
	struct image_layout *lay = NULL;
	if (image_up_to_date)
		goto config;
	struct image_opts io;
	memset(&io, 0, sizeof(io));
	io.service = rs->service;
	io.seed = b->p->image_key;
	io.epoch = (int64_t)b->p->epoch;
	io.size_bytes = rs->size_auto ? 0 : rs->size_bytes;
	io.headroom_bytes = rs->size_auto ? rs->size_bytes : 0;
	io.profile = !strcmp(rs->profile, "linux") ? IMAGE_PROFILE_LINUX : IMAGE_PROFILE_NETBSD;
	io.progress = image_progress;
	io.progress_ctx = b;
	double t0 = now_monotonic();
	/* an earlier build's image, updated in place when it fits */
	struct image_layout *prev = b->o->no_cache ? NULL : image_layout_load(lay_path, img);
	bool in_place = prev && image_layout_fits(prev, b->tree, &io);
	if (in_place && invalidate_image(b, img, lay_path) < 0) {
		in_place = false;
		debugf("%s: cannot mark it as changing: writing it anew", img);
	}
	if (in_place)
		fault_point("update-start");
	const char *target = in_place ? img : tmp;
	int wr = in_place ? image_update(img, b->tree, &io, prev, &lay, &err)
			  : image_write_layout(tmp, b->tree, &io, &lay, &err);
	image_layout_free(prev);
	if (wr < 0) {
		const struct ir_node *sz = NULL;
		for (size_t i = 0; i < b->r->n; i++)
			if (b->r->v[i].kind == IR_SIZE)
				sz = &b->r->v[i];
		/* name the image, not its temp file */
		const char *msg = error_msg(err);
		size_t tl = strlen(target);
		if (!strncmp(msg, target, tl) && msg[tl] == ':')
			msg += tl + 1 + (msg[tl + 1] == ' ');
		if (sz)
			diag_error(b->d, sz->loc, "%s: %s", img, msg);
		else
			diag_error_plain(b->d, "writing %s: %s", img, msg);
		/* a half-updated image is neither the old one nor the new one */
		unlink(target);
		goto out;
	}
	int ifd = open(target, O_RDONLY | O_CLOEXEC);
	if (ifd >= 0) {
		fsync(ifd); /* the image is complete on disk before it gets its final name */
		close(ifd);
	}
	/* no SHA-256 of the whole image: builds are reproducible, so the
	 * image key names its bytes (hashing 300 MB would double the cost of
	 * a small change); `sha256sum` gives the file's digest when wanted */
	if (!in_place && rename(tmp, img) < 0) {
		diag_error_plain(b->d, "writing %s: %s", img, strerror(errno));
		unlink(tmp);
		goto out;
	}
	fault_point("image-written");
	if (lay && image_layout_save(lay, lay_path, img, &err) < 0) {
		/* only the next small change is slower */
		debugf("cannot save the image layout: %s", error_msg(err));
		error_clear(&err);
	}
	if (in_place)
		logf_(b, "      image updated in place in %.2fs\n", now_monotonic() - t0);
	else
	logf_(b, "      image written in %.2fs\n", now_monotonic() - t0);
config:
	if (write_kernel(b, &b->p->kernel, kern) < 0 || (initrd && write_kernel(b, &b->p->initrd, initrd) < 0) ||
	    write_runconf(b, img, kern, initrd, yaml) < 0)
		goto out;
	if (!image_up_to_date) {
		fault_point("before-stamp");
		stamp_write(b, img);
	}
	if (record_image(b) < 0)
		goto out;
	rc = 0;
out:
	image_layout_free(lay);
	free(lay_path);
	error_clear(&err);
	free(tmp);
	free(img);
	free(kern);
	free(initrd);
	free(yaml);
	return rc;
}

static void print_summary(struct build *b, bool up_to_date, double total)
{
	char *img = xasprintf("%s.img", b->out_base);
	char *yaml = xasprintf("%s.yaml", b->out_base);
	struct stat s;
	uint64_t size = stat(img, &s) == 0 ? (uint64_t)s.st_size : 0;
	uint64_t used = stat(img, &s) == 0 ? (uint64_t)s.st_blocks * 512 : 0;
	size_t ncached = 0, nremote = 0;
	for (size_t i = 0; i < b->p->n; i++) {
		ncached += b->cached[i];
		nremote += b->remote[i];
	}
	if (b->o->json) {
		json_t *steps = json_array();
		for (size_t i = 0; i < b->p->n; i++)
			json_array_append_new(steps, json_pack("{s:o,s:s,s:b,s:b,s:o}", "title", jout_str(b->p->v[i].title),
							       "layer", b->p->v[i].key, "cached", b->cached[i], "remote",
							       b->remote[i], "seconds", jout_secs(b->secs[i])));
		json_t *o = json_pack("{s:o,s:o,s:o,s:I,s:I,s:s,s:b,s:o,s:o}", "image", jout_str(img), "run_config",
				      jout_str(yaml), "tag", jout_str(b->stored_as), "size", (json_int_t)size, "allocated",
				      (json_int_t)used, "key", b->p->image_key, "up_to_date", up_to_date, "seconds",
				      jout_secs(total), "steps", steps);
		jout_print(stdout, o, "\n");
	} else if (!b->o->quiet) {
		char h1[32], h2[32];
		char rem[64] = "";
		if (nremote)
			snprintf(rem, sizeof(rem), " (%zu from the remote cache)", nremote);
		fprintf(stderr, "%s: %zu steps, %zu cached%s%s, %.2fs\n", b->r->path, b->p->n, ncached, rem,
			up_to_date ? ", image up to date" : "", total);
		fprintf(stderr, "  image   %s (%s, %s allocated)\n  key     %s\n  config  %s\n", img,
			human_bytes(size, h1, sizeof(h1)), human_bytes(used, h2, sizeof(h2)), b->p->image_key, yaml);
		if (b->stored_as)
			fprintf(stderr, "  tagged  %s\n", b->stored_as);
	}
	free(img);
	free(yaml);
}

/* The build-args string "A=1 B=2" for messages (caller frees). */
static char *args_text(const struct strvec *args)
{
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < args->n; i++)
		sb_printf(&sb, " --build-arg %s", args->v[i]);
	sb_cstr(&sb);
	return sb_detach(&sb);
}

/* `smolc run Smolfile`, after planning: is the image there and built for
 * this plan's key (stamp)? Returns EXIT_OK with *yaml_out when it is (no
 * build); -1 to go on building (after saying so); an exit code when
 * --dry-run finds no image. */
static int run_check_image(struct build *b, char **yaml_out)
{
	const struct recipe_settings *rs = &b->r->set;
	b->out_base = xasprintf("%s/%s-%s", b->o->outdir, rs->service, rs->arch);
	char *img = xasprintf("%s.img", b->out_base), *yaml = xasprintf("%s.yaml", b->out_base);
	bool have = access(img, F_OK) == 0 && access(yaml, F_OK) == 0;
	bool up = have && b->p->image_key[0] && stamp_matches(b, img);
	char *args = args_text(&b->o->build_args);
	int rc = -1;
	if (up) {
		debugf("%s is up to date", img);
		*yaml_out = yaml;
		yaml = NULL;
		rc = EXIT_OK;
	} else if (b->o->for_run_dry && have) {
		fprintf(stderr, "smolc: warning: %s is stale (%s changed since it was built); `smolc run` "
				"would rebuild it first\n", img, b->r->path);
		*yaml_out = yaml;
		yaml = NULL;
		rc = EXIT_OK;
	} else if (b->o->for_run_dry) {
		fprintf(stderr, "smolc: run --dry-run: %s is not built; build it first: smolc build%s %s\n", img, args,
			b->r->path);
		rc = EXIT_FAIL;
	} else {
		fprintf(stderr, "smolc: building %s (%s)%s%s\n", b->r->path,
			have ? "the image is stale" : "no image yet", args[0] ? " with" : "", args);
	}
	free(args);
	free(img);
	free(yaml);
	free(b->out_base);
	b->out_base = NULL;
	return rc;
}

/* --cache-to: hand every layer of the plan to the remote cache, once the
 * image is written (a failure is an error, the image stays). */
static int export_layers(struct build *b)
{
	struct build_layer *v = xcalloc(b->p->n + 1, sizeof(*v));
	for (size_t i = 0; i < b->p->n; i++)
		v[i] = (struct build_layer){b->p->v[i].key, b->p->v[i].title};
	struct error *err = NULL;
	int rc = b->o->remote->export(b->o->remote->ctx, b->env.cache, v, b->p->n, &err);
	if (rc < 0) {
		char *img = xasprintf("%s.img", b->out_base);
		if (!err)
			error_set(&err, "exporting the build cache failed");
		error_hint(&err, "the image was written (%s); %s", img,
			   "check that the registry is up and that you may push there "
			   "(smolc login REGISTRY), or build without --cache-to");
		fail(b, (struct loc){0, 0, 0}, err);
		err = NULL;
		free(img);
	}
	error_clear(&err);
	free(v);
	return rc < 0 ? -1 : 0;
}

static int build_run(struct build *b, char **yaml_out)
{
	double t0 = now_monotonic();
	const struct recipe_settings *rs = &b->r->set;
	/* A build needs every input: with --offline the fetcher itself refuses
	 * the network and says which URL is not in the cache; a
	 * run --dry-run never builds: it only looks in the cache. */
	if (session_open(&b->env, b->o->cache_dir, b->o->mirror, !b->o->for_run_dry, b->o->offline, b->o->quiet) < 0)
		return EXIT_FAIL;
	char *lpath = lockfile_path_for(b->r->path);
	struct error *lerr = NULL;
	if (!b->o->update_lock) {
		b->lock = lockfile_read(lpath, &lerr);
		if (lerr) {
			diag_error_record(b->d, (struct loc){0, 0, 0}, lerr);
			error_clear(&lerr);
			free(lpath);
			return EXIT_FAIL;
		}
	}
	b->env.penv.lock = b->lock;
	if (session_plan(&b->env, b->d, b->r, &b->p) < 0) {
		free(lpath);
		return plan_exit_code(b->p);
	}
	if (b->lock) {
		size_t stale = 0;
		for (size_t i = 0; i < b->lock->n; i++)
			stale += !b->lock->used[i];
		if (stale)
			diag_warning(b->d, (struct loc){0, 0, 0},
				     "%s: %zu entr%s no longer match%s the recipe; run 'smolc lock' to refresh it", lpath,
				     stale, stale == 1 ? "y" : "ies", stale == 1 ? "es" : "");
	}
	if (b->o->update_lock) {
		struct error *err = NULL;
		if (lockfile_write(lpath, b->p, &err) < 0) {
			diag_error_record(b->d, (struct loc){0, 0, 0}, err);
			error_clear(&err);
			free(lpath);
			return EXIT_FAIL;
		}
		logf_(b, "wrote %s\n", lpath);
	}
	free(lpath);
	if (b->o->for_run) {
		int r = run_check_image(b, yaml_out);
		if (r != -1)
			return r;
	}
	if (!b->p->kernel.path)
		return diag_error(b->d, rs->kernel ? rs->kernel->arg_loc : rs->from->loc, "the kernel could not be fetched"), EXIT_FAIL;
	if (b->p->initrd.what && !b->p->initrd.path)
		return diag_error(b->d, rs->initrd->arg_loc, "the initrd could not be fetched"), EXIT_FAIL;
	if (!b->p->image_key[0])
		return diag_error(b->d, (struct loc){0, 0, 0}, "some inputs could not be resolved"), EXIT_FAIL;
	if (mkdir_p(b->o->outdir, 0755) < 0) {
		diag_error_plain(b->d, "cannot create output directory %s: %s", b->o->outdir, strerror(errno));
		return EXIT_FAIL;
	}
	/* the output files: <service>-<arch>, or the smoler dialect's
	 * LABEL smolbsd.imgtag (-t names the image in the store) */
	b->out_base = b->r->set.tag ? path_join(b->o->outdir, b->r->set.tag)
				    : xasprintf("%s/%s-%s", b->o->outdir, rs->service, rs->arch);
	b->cached = xcalloc(b->p->n + 1, sizeof(bool));
	b->secs = xcalloc(b->p->n + 1, sizeof(double));
	b->remote = xcalloc(b->p->n + 1, sizeof(bool));
	sweep_stale_outputs(b->out_base);
	char *img = xasprintf("%s.img", b->out_base);
	bool up = !b->o->no_cache && !b->o->explain && stamp_matches(b, img);
	/* --cache-to exports the layers: an up-to-date image whose layers
	 * were pruned since is built the normal way (they come back) */
	for (size_t i = 0; up && b->o->remote && b->o->remote->export && i < b->p->n; i++)
		up = cache_layer_exists(b->env.cache, b->p->v[i].key);
	int rc = EXIT_OK;
	if (up) {
		/* every layer is in the cache and the image is the one for this key */
		for (size_t i = 0; i < b->p->n; i++) {
			b->cached[i] = true;
			logf_(b, "[%zu/%zu] %-50s CACHED\n", i + 1, b->p->n, b->p->v[i].title);
		}
		if (write_outputs(b, true) < 0)
			rc = EXIT_FAIL;
	} else {
		b->tree = fstree_new();
		for (size_t i = 0; i < b->p->n && rc == EXIT_OK; i++)
			if (run_step(b, i) < 0)
				rc = EXIT_FAIL;
		if (rc == EXIT_OK && write_outputs(b, false) < 0)
			rc = EXIT_FAIL;
	}
	if (rc == EXIT_OK && b->o->remote && b->o->remote->export && export_layers(b) < 0)
		rc = EXIT_FAIL;
	if (rc == EXIT_OK) {
		print_summary(b, up, now_monotonic() - t0);
		if (yaml_out)
			*yaml_out = xasprintf("%s.yaml", b->out_base);
	}
	free(img);
	return rc;
}

static void build_fini(struct build *b)
{
	fstree_free(b->tree);
	sv_free(&b->layer_dirs);
	lockfile_free(b->lock);
	plan_free(b->p);
	session_close(&b->env);
	recipe_free(b->r);
	free(b->cached);
	free(b->remote);
	free(b->secs);
	free(b->out_base);
	free(b->stored_as);
}


int build_main(struct build_opts *o, const char *path, char **yaml_out)
{
	struct diag_ctx d;
	diag_init(&d);
	struct build b;
	memset(&b, 0, sizeof(b));
	b.o = o;
	b.d = &d;
	b.log = o->quiet || o->json ? NULL : stderr;
	int rc;
	b.r = recipe_load_in(&d, path, o->context, &o->build_args);
	if (!b.r || d.errors)
		rc = EXIT_USAGE;
	else
		rc = build_run(&b, yaml_out);
	diag_print(&d, stderr);
	if (rc != EXIT_OK && !d.errors && !d.n && !o->for_run_dry)
		fprintf(stderr, "smolc: build failed\n");
	build_fini(&b);
	diag_fini(&d);
	return rc;
}

/* "NAME" of "NAME=VALUE" equals that of b? */
static bool same_arg_name(const char *a, const char *b)
{
	size_t na = strcspn(a, "="), nb = strcspn(b, "=");
	return na == nb && !strncmp(a, b, na);
}

int build_for_run(struct build_opts *o, const char *smolfile, bool dry_run, char **runconf_path_out)
{
	o->for_run = true;
	o->for_run_dry = dry_run;
	/* The build-args the existing image was built with (its run config),
	 * so that `smolc run` neither rebuilds it with defaults nor
	 * overwrites the run config the user built; run's own --build-arg
	 * win over them. */
	struct strvec given = {0};
	for (size_t i = 0; i < o->build_args.n; i++)
		sv_pushdup(&given, o->build_args.v[i]);
	struct diag_ctx d;
	diag_init(&d);
	struct recipe *r = recipe_load(&d, smolfile, &given);
	if (r && !d.errors) {
		char *yaml = xasprintf("%s/%s-%s.yaml", o->outdir, r->set.service, r->set.arch);
		struct runconf *rc = NULL;
		struct error *err = NULL;
		if (access(yaml, F_OK) == 0 && runconf_read(yaml, &rc, NULL, &err) == 0) {
			sv_free(&o->build_args);
			for (size_t i = 0; i < rc->build_args.n; i++) {
				bool overridden = false;
				for (size_t j = 0; j < given.n && !overridden; j++)
					overridden = same_arg_name(rc->build_args.v[i], given.v[j]);
				if (!overridden)
					sv_pushdup(&o->build_args, rc->build_args.v[i]);
			}
			for (size_t j = 0; j < given.n; j++)
				sv_pushdup(&o->build_args, given.v[j]);
		}
		error_clear(&err);
		runconf_free(rc);
		free(yaml);
	}
	recipe_free(r);
	diag_print(&d, stderr);
	diag_fini(&d);
	sv_free(&given);
	return build_main(o, smolfile, runconf_path_out);
}
