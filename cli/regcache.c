/* regcache.c — the remote layer cache of `smolc build` (--cache-from,
 * --cache-to): the build's struct build_remote (build.h) on top of the
 * registry client (oci/registry.h) and the local cache (compiler/cache.h,
 * layer.h "transport").
 *
 * Wire format (SPEC.md §8.5): one OCI image manifest per cache reference,
 *   artifactType application/vnd.smolc.cache.v1, the empty config, and one
 *   layer per cached step:
 *     mediaType   application/vnd.smolc.layer.v1+zstd (layer.h: a zstd
 *                 stream of a header, the entry list and the data file)
 *     annotations dev.smolc.layer.key     the step's layer key (SPEC §5)
 *                 dev.smolc.layer.digest  the layer's digest (layer.h)
 *                 dev.smolc.layer.title   the step, for humans
 *   the annotations are the index: layer key → blob.
 *
 * Import: the manifest of each --cache-from is fetched once, on the first
 * step the local cache lacks; a reference that cannot be read is one
 * warning and is not asked again. A layer is streamed from the registry
 * into a temp directory of the cache (layer_blob_reader), checked (blob
 * digest and size, then the layer digest against the header and the
 * index), and committed with cache_commit_layer; anything wrong removes
 * the temp directory and the step is built.
 *
 * Export: after the image is written, each layer of the build is encoded
 * into a temp file of the cache (layer_blob_write, which checks the layer
 * against its digest), uploaded unless the registry has it (HEAD), and a
 * new manifest is PUT under the tag: this build's layers first, then the
 * previous manifest's other layers, up to REGCACHE_MAX_LAYERS. A layer
 * the previous manifest already lists with a blob the registry still has
 * is not encoded again. */
#include "build.h"
#include "cache.h"
#include "cli.h"
#include "layer.h"
#include "opt.h"
#include "registry.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CACHE_ARTIFACT "application/vnd.smolc.cache.v1"
#define ANN_KEY "dev.smolc.layer.key"
#define ANN_DIGEST "dev.smolc.layer.digest"
#define ANN_TITLE "dev.smolc.layer.title"
#define REGCACHE_MAX_LAYERS 1000

struct rc_src {
	char *text;               /* the reference as given */
	struct reg_ref ref;
	struct reg *r;
	bool tried, dead;
	json_t *index;            /* key → layer descriptor */
};

struct regcache {
	struct build_remote api;  /* first: the build's handle is &rc->api */
	struct reg_opts ro;
	struct rc_src *src;
	size_t nsrc;
	char *to;
	bool quiet;
};

int cli_cache_ref_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	struct reg_ref ref;
	struct error *err = NULL;
	if (reg_ref_parse(arg, &ref, &err) < 0) {
		int rc = opt_error(cmd, "--cache-from %s: %s", arg, error_msg(err));
		error_clear(&err);
		return rc;
	}
	reg_ref_clear(&ref);
	sv_pushdup(value, arg);
	return 0;
}

int cli_cache_to_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	struct reg_ref ref;
	struct error *err = NULL;
	if (reg_ref_parse(arg, &ref, &err) < 0) {
		int rc = opt_error(cmd, "--cache-to %s: %s", arg, error_msg(err));
		error_clear(&err);
		return rc;
	}
	bool digest = ref.digest != NULL;
	reg_ref_clear(&ref);
	if (digest)
		return opt_error(cmd, "--cache-to %s: give a tag to push the cache to, not a digest", arg);
	*(const char **)value = arg;
	return 0;
}

/* The key → descriptor map of a cache manifest (NULL with *err if it is
 * not one). */
static json_t *index_of(const char *data, size_t len, const char *refstr, struct error **err)
{
	json_error_t je;
	json_t *m = json_loadb(data, len, 0, &je);
	json_t *layers = m ? json_object_get(m, "layers") : NULL;
	const char *at = m ? json_string_value(json_object_get(m, "artifactType")) : NULL;
	if (!json_is_array(layers) || !at || strcmp(at, CACHE_ARTIFACT)) {
		error_set(err, "%s is not a smolc build cache (no manifest with artifactType " CACHE_ARTIFACT ")", refstr);
		json_decref(m);
		return NULL;
	}
	json_t *idx = json_object();
	for (size_t i = 0; i < json_array_size(layers); i++) {
		json_t *l = json_array_get(layers, i);
		json_t *ann = json_object_get(l, "annotations");
		const char *key = json_string_value(json_object_get(ann, ANN_KEY));
		const char *mt = json_string_value(json_object_get(l, "mediaType"));
		const char *dg = json_string_value(json_object_get(l, "digest"));
		json_t *sz = json_object_get(l, "size");
		/* entries this version cannot use are skipped, not errors */
		if (!key || !cache_key_valid(key) || !mt || strcmp(mt, LAYER_BLOB_MEDIA_TYPE) || !dg ||
		    !reg_digest_valid(dg) || !json_is_integer(sz) || json_integer_value(sz) < 0)
			continue;
		if (!json_object_get(idx, key))
			json_object_set(idx, key, l);
	}
	json_decref(m);
	return idx;
}

/* Read the manifest of a --cache-from once. */
static void src_load(struct regcache *rc, struct rc_src *s, struct strbuf *warn)
{
	s->tried = true;
	s->dead = true;
	struct error *err = NULL;
	char *data = NULL, *mt = NULL, *dg = NULL;
	size_t len = 0;
	if (!(s->r = reg_new(s->ref.host, s->ref.repo, &rc->ro, &err)))
		goto out;
	int g = reg_manifest_get(s->r, s->ref.digest ? s->ref.digest : s->ref.tag, &data, &len, &mt, &dg, &err);
	if (g == 1) {
		error_set(&err, "%s has no build cache yet (manifest unknown)", s->text);
		goto out;
	}
	if (g < 0 || !(s->index = index_of(data, len, s->text, &err)))
		goto out;
	debugf("regcache: %s: %zu layers", s->text, json_object_size(s->index));
	s->dead = false;
out:
	if (err) {
		sb_printf(warn, "%s--cache-from %s: %s", warn->len ? "; " : "", s->text, error_msg(err));
		error_clear(&err);
	}
	free(data);
	free(mt);
	free(dg);
}

static int feed_cb(void *ctx, const void *buf, size_t n, struct error **err)
{
	return layer_blob_feed(ctx, buf, n, err);
}

static int reset_cb(void *ctx, struct error **err)
{
	return layer_blob_reset(ctx, err);
}

/* Download one layer into the cache. 1 committed, -1 refused (*err). */
static int fetch_layer(struct regcache *rc, struct rc_src *s, struct cache *c, const char *key, const char *title,
		       json_t *d, struct error **err)
{
	const char *dg = json_string_value(json_object_get(d, "digest"));
	uint64_t size = (uint64_t)json_integer_value(json_object_get(d, "size"));
	const char *want = json_string_value(json_object_get(json_object_get(d, "annotations"), ANN_DIGEST));
	char *tmp = NULL;
	struct error *e = NULL;
	int rv = -1;
	if (cache_mktemp_dir(c, "remote", &tmp, &e) < 0)
		goto out;
	rmdir(tmp); /* the reader creates it */
	char *label = xasprintf("%s@%.19s…", s->text, dg);
	struct layer_blob_reader *br = layer_blob_reader_new(tmp, label, &e);
	free(label);
	if (!br)
		goto out;
	if (reg_blob_get_stream(s->r, dg, size, feed_cb, reset_cb, br, rc->quiet ? NULL : title, &e) < 0) {
		layer_blob_abort(br);
		goto out;
	}
	if (layer_blob_finish(br, want && strlen(want) == 64 ? want : NULL, NULL, &e) < 0)
		goto out;
	char *desc = path_join(tmp, "desc");
	char *text = xasprintf("%s (from %s)\n", title, s->text);
	write_file_atomic(desc, text, strlen(text), 0644);
	free(text);
	free(desc);
	if (cache_commit_layer(c, tmp, key, NULL, &e) < 0)
		goto out;
	rv = 1;
out:
	if (rv < 0) {
		error_set(err, "the layer %.12s from --cache-from %s was refused: %s", key, s->text, e ? error_msg(e) : "unknown error");
		if (tmp)
			remove_tree(tmp);
	}
	error_clear(&e);
	free(tmp);
	return rv;
}

static int rc_fetch(void *ctx, struct cache *c, const char *key, const char *title, struct error **err)
{
	struct regcache *rc = ctx;
	struct strbuf warn;
	sb_init(&warn);
	size_t alive = 0;
	int rv = 0;
	for (size_t i = 0; i < rc->nsrc && rv != 1; i++) {
		struct rc_src *s = &rc->src[i];
		if (!s->tried)
			src_load(rc, s, &warn);
		if (s->dead)
			continue;
		alive++;
		json_t *d = json_object_get(s->index, key);
		if (!d)
			continue;
		struct error *e = NULL;
		rv = fetch_layer(rc, s, c, key, title, d, &e);
		if (e) {
			sb_printf(&warn, "%s%s", warn.len ? "; " : "", error_msg(e));
			error_clear(&e);
		}
	}
	if (rv != 1 && alive && !warn.len) {
		/* say which caches were asked */
		sb_printf(&warn, "the layer %.12s is not in the remote cache (", key);
		size_t k = 0;
		for (size_t i = 0; i < rc->nsrc; i++)
			if (!rc->src[i].dead)
				sb_printf(&warn, "%s%s", k++ ? ", " : "", rc->src[i].text);
		sb_adds(&warn, ")");
	}
	if (warn.len) {
		error_set(err, "%s", sb_cstr(&warn));
	}
	sb_free(&warn);
	return rv;
}

/* ---- export ---- */

static json_t *layer_desc(const char *digest, uint64_t size, const char *key, const char *ldigest, const char *title)
{
	json_t *d = json_object();
	json_object_set_new(d, "mediaType", json_string(LAYER_BLOB_MEDIA_TYPE));
	json_object_set_new(d, "digest", json_string(digest));
	json_object_set_new(d, "size", json_integer((json_int_t)size));
	json_t *a = json_object();
	json_object_set_new(a, ANN_KEY, json_string(key));
	json_object_set_new(a, ANN_DIGEST, json_string(ldigest));
	json_object_set_new(a, ANN_TITLE, json_string(title));
	json_object_set_new(d, "annotations", a);
	return d;
}

static void say(const struct regcache *rc, const char *title, uint64_t size, const char *digest, const char *what)
{
	if (rc->quiet)
		return;
	char h[32];
	char *t = str_escape(title);
	fprintf(stderr, "  %-40.40s %10s %.19s… %s\n", t, human_bytes(size, h, sizeof(h)), digest, what);
	free(t);
}

/* Encode and upload one layer (under a shared lock: prune must not take
 * it away meanwhile). *desc = its descriptor; *sent = uploaded. */
static int export_one(struct regcache *rc, struct reg *r, struct cache *c, const struct build_layer *l,
		      json_t **desc, bool *sent, struct error **err)
{
	struct cache_lock *lk = NULL;
	char *lp = NULL, *tp = NULL;
	int fd = -1, rv = -1;
	if (cache_lock(c, "layer", l->key, CACHE_LOCK_SHARED, true, &lk, err) < 0)
		return -1;
	if (!cache_layer_exists(c, l->key)) {
		error_set(err, "the layer %.12s of %s is not in the local cache", l->key, l->title);
		goto out;
	}
	if (!(lp = cache_layer_path(c, l->key, err)) || cache_mktemp_file(c, "blob", &tp, &fd, err) < 0)
		goto out;
	struct layer_blob_info bi;
	if (layer_blob_write(lp, fd, 0, &bi, err) < 0)
		goto out;
	char *dg = xasprintf("sha256:%s", bi.sha256);
	int ex = reg_blob_exists(r, dg, err);
	if (ex == 0 && reg_blob_put_file(r, tp, dg, bi.size, rc->quiet ? NULL : l->title, err) < 0)
		ex = -1;
	if (ex >= 0) {
		*desc = layer_desc(dg, bi.size, l->key, bi.layer.digest, l->title);
		*sent = ex == 0;
		say(rc, l->title, bi.size, dg, ex ? "exists" : "uploaded");
		rv = 0;
	}
	free(dg);
out:
	if (fd >= 0)
		close(fd);
	if (tp)
		unlink(tp);
	free(tp);
	free(lp);
	cache_unlock(lk);
	return rv;
}

static int rc_export(void *ctx, struct cache *c, const struct build_layer *v, size_t n, struct error **err)
{
	struct regcache *rc = ctx;
	struct reg_ref ref;
	struct error *e = NULL;
	char *data = NULL, *mt = NULL, *dg = NULL, *manifest = NULL, *mdig = NULL;
	size_t len = 0, uploaded = 0;
	struct reg *r = NULL;
	json_t *old = NULL, *layers = json_array(), *seen = json_object();
	int rv = -1;
	memset(&ref, 0, sizeof(ref));
	if (reg_ref_parse(rc->to, &ref, &e) < 0 || !(r = reg_new(ref.host, ref.repo, &rc->ro, &e)))
		goto out;
	if (!rc->quiet)
		fprintf(stderr, "smolc: exporting the build cache to %s\n", rc->to);
	/* the cache this one replaces: its layers are not sent again */
	int g = reg_manifest_get(r, ref.tag, &data, &len, &mt, &dg, &e);
	if (g < 0)
		goto out;
	if (g == 0) {
		struct error *ie = NULL;
		old = index_of(data, len, rc->to, &ie);
		if (!old)
			debugf("regcache: %s", error_msg(ie)); /* replaced */
		error_clear(&ie);
	}
	for (size_t i = 0; i < n; i++) {
		if (json_object_get(seen, v[i].key))
			continue;
		json_t *d = NULL;
		json_t *od = old ? json_object_get(old, v[i].key) : NULL;
		const char *odg = od ? json_string_value(json_object_get(od, "digest")) : NULL;
		if (odg && cache_layer_exists(c, v[i].key)) {
			int ex = reg_blob_exists(r, odg, &e);
			if (ex < 0)
				goto out;
			if (ex == 1) {
				d = json_deep_copy(od);
				say(rc, v[i].title, (uint64_t)json_integer_value(json_object_get(od, "size")), odg, "exists");
			}
		}
		bool sent = false;
		if (!d && export_one(rc, r, c, &v[i], &d, &sent, &e) < 0)
			goto out;
		uploaded += sent;
		json_object_set_new(seen, v[i].key, json_true());
		json_array_append_new(layers, d);
	}
	/* then what the previous cache held for other builds, bounded */
	if (old) {
		const char *k;
		json_t *d;
		json_object_foreach(old, k, d) {
			if (json_array_size(layers) >= REGCACHE_MAX_LAYERS)
				break;
			if (json_object_get(seen, k))
				continue;
			json_object_set_new(seen, k, json_true());
			json_array_append(layers, d);
		}
	}
	int ce = reg_blob_exists(r, OCI_EMPTY_DIGEST, &e);
	if (ce < 0 || (ce == 0 && reg_blob_put_mem(r, "{}", 2, OCI_EMPTY_DIGEST, &e) < 0))
		goto out;
	json_t *m = json_object();
	json_object_set_new(m, "schemaVersion", json_integer(2));
	json_object_set_new(m, "mediaType", json_string(OCI_MANIFEST_TYPE));
	json_object_set_new(m, "artifactType", json_string(CACHE_ARTIFACT));
	json_t *cfg = json_object();
	json_object_set_new(cfg, "mediaType", json_string(OCI_EMPTY_TYPE));
	json_object_set_new(cfg, "digest", json_string(OCI_EMPTY_DIGEST));
	json_object_set_new(cfg, "size", json_integer(2));
	json_object_set_new(cfg, "data", json_string("e30="));
	json_object_set_new(m, "config", cfg);
	json_object_set(m, "layers", layers);
	char now[32];
	time_t t = time(NULL);
	struct tm tm;
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	json_t *ann = json_object();
	json_object_set_new(ann, "org.opencontainers.image.created", json_string(now));
	json_object_set_new(m, "annotations", ann);
	manifest = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	if (!manifest) {
		error_set(&e, "cannot encode the cache manifest");
		goto out;
	}
	if (reg_manifest_put(r, ref.tag, OCI_MANIFEST_TYPE, manifest, strlen(manifest), &mdig, &e) < 0)
		goto out;
	if (!rc->quiet)
		fprintf(stderr, "smolc: exported %zu layer%s to %s@%s (%zu uploaded, %zu in all)\n", n, n == 1 ? "" : "s",
			rc->to, mdig, uploaded, json_array_size(layers));
	rv = 0;
out:
	if (rv < 0)
		error_set(err, "--cache-to %s: %s", rc->to, e ? error_msg(e) : "failed");
	json_decref(old);
	json_decref(layers);
	json_decref(seen);
	reg_free(r);
	reg_ref_clear(&ref);
	error_clear(&e);
	free(data);
	free(mt);
	free(dg);
	free(manifest);
	free(mdig);
	return rv;
}

/* ---- setup ---- */

struct build_remote *regcache_new(const struct strvec *from, const char *to, const char *ca_cert, bool insecure,
				  bool quiet)
{
	if (!from->n && !to)
		return NULL;
	struct regcache *rc = xcalloc(1, sizeof(*rc));
	rc->ro.ca_cert = ca_cert;
	rc->ro.insecure = insecure;
	rc->ro.quiet = quiet;
	rc->ro.log = stderr;
	rc->quiet = quiet;
	rc->nsrc = from->n;
	rc->src = xcalloc(from->n + 1, sizeof(*rc->src));
	for (size_t i = 0; i < from->n; i++) {
		rc->src[i].text = xstrdup(from->v[i]);
		if (reg_ref_parse(from->v[i], &rc->src[i].ref, NULL) < 0) /* checked by cli_cache_ref_cb */
			rc->src[i].tried = rc->src[i].dead = true;
	}
	rc->to = to ? xstrdup(to) : NULL;
	rc->api.fetch = from->n ? rc_fetch : NULL;
	rc->api.export = to ? rc_export : NULL;
	rc->api.ctx = rc;
	return &rc->api;
}

void regcache_free(struct build_remote *api)
{
	if (!api)
		return;
	struct regcache *rc = api->ctx;
	for (size_t i = 0; i < rc->nsrc; i++) {
		free(rc->src[i].text);
		reg_ref_clear(&rc->src[i].ref);
		reg_free(rc->src[i].r);
		json_decref(rc->src[i].index);
	}
	free(rc->src);
	free(rc->to);
	free(rc);
}
