/* inputs.c — answers to planning's requests, and their resolution
 * (inputs.h, resolve.h). */
#include "inputs.h"
#include "fetch.h"
#include "resolve.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One remote request, keyed by URL and pin. */
struct input_rec {
	char *url, *digest, *hint, *base_dir;
	enum input_state state;    /* MISSING until resolved */
	char *path, *sha256, *err; /* OK: path and sha256; FAILED: err */
};

struct inputs {
	bool resolving;
	struct fetch_ctx *reader;  /* offline: the cache and local files only; made on first use */
	struct cache *cache;
	struct input_rec *v;
	size_t n, cap;
	size_t next;               /* first request not resolved yet */
	struct strbuf key;         /* scratch */
	/* answers of local paths, so that their strings live as long as the
	 * object (struct input_file borrows them) */
	struct strvec keep;
};

struct inputs *inputs_new(struct cache *cache, bool resolving)
{
	struct inputs *in = xcalloc(1, sizeof(*in));
	in->resolving = resolving;
	in->cache = cache;
	sb_init(&in->key);
	return in;
}

/* The fetcher is in the backend (cli/backend.h): a plan whose inputs are
 * all answered already never loads it. */
static struct fetch_ctx *reader(struct inputs *in)
{
	if (!in->reader) {
		struct fetch_opts fo;
		memset(&fo, 0, sizeof(fo));
		fo.offline = true;
		fo.quiet = true;
		in->reader = fetch_new(in->cache, &fo);
	}
	return in->reader;
}

void inputs_free(struct inputs *in)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->n; i++) {
		struct input_rec *r = &in->v[i];
		free(r->url);
		free(r->digest);
		free(r->hint);
		free(r->base_dir);
		free(r->path);
		free(r->sha256);
		free(r->err);
	}
	free(in->v);
	fetch_free(in->reader);
	sb_free(&in->key);
	sv_free(&in->keep);
	free(in);
}

bool inputs_resolving(const struct inputs *in)
{
	return in && in->resolving;
}

static struct input_rec *find(struct inputs *in, const struct input_req *req)
{
	for (size_t i = 0; i < in->n; i++)
		if (!strcmp(in->v[i].url, req->url) && !strcmp(in->v[i].digest ? in->v[i].digest : "", req->digest ? req->digest : ""))
			return &in->v[i];
	return NULL;
}

static void record(struct inputs *in, const struct input_req *req)
{
	VEC_GROW(in->v, in->n, in->cap);
	struct input_rec *r = &in->v[in->n++];
	memset(r, 0, sizeof(*r));
	r->url = xstrdup(req->url);
	r->digest = req->digest ? xstrdup(req->digest) : NULL;
	r->hint = req->hint ? xstrdup(req->hint) : NULL;
	r->base_dir = req->base_dir ? xstrdup(req->base_dir) : NULL;
	r->state = INPUT_MISSING;
}

/* Keep a fetch result's strings for the object's lifetime. */
static void answer(struct inputs *in, struct fetch_result *res, struct input_file *out)
{
	sv_pushdup(&in->keep, res->path);
	out->path = in->keep.v[in->keep.n - 1];
	sv_pushdup(&in->keep, res->sha256);
	out->sha256 = in->keep.v[in->keep.n - 1];
	fetch_result_clear(res);
}

enum input_state inputs_file(struct inputs *in, const struct input_req *req, struct input_file *out, struct error **err)
{
	struct fetch_req fr = {req->url, req->digest, req->hint, req->base_dir, false};
	struct fetch_result res;
	memset(&res, 0, sizeof(res));
	struct error *e = NULL;
	if (!fetch_is_remote(req->url)) {
		/* read in place, never downloaded */
		if (fetch_file(reader(in), &fr, &res, &e) == 0) {
			answer(in, &res, out);
			return INPUT_OK;
		}
		if (in->resolving) {
			*err = e;
			return INPUT_FAILED;
		}
		error_clear(&e);
		return INPUT_MISSING;
	}
	struct input_rec *r = find(in, req);
	if (r && r->state == INPUT_OK) {
		out->path = r->path;
		out->sha256 = r->sha256;
		return INPUT_OK;
	}
	if (r && r->state == INPUT_FAILED) {
		error_set(err, "%s", r->err);
		return INPUT_FAILED;
	}
	if (r)
		return INPUT_MISSING; /* recorded this round already */
	if (!in->resolving || req->digest) {
		/* the cache answers for plan, and for a pin whose bytes it holds */
		if (fetch_file(reader(in), &fr, &res, &e) == 0) {
			answer(in, &res, out);
			return INPUT_OK;
		}
		error_clear(&e);
	}
	if (in->resolving)
		record(in, req);
	return INPUT_MISSING;
}

enum input_state inputs_text(struct inputs *in, const struct input_req *req, size_t max_bytes, char **text, size_t *len,
			     struct error **err)
{
	struct input_file f;
	enum input_state st = inputs_file(in, req, &f, err);
	if (st != INPUT_OK)
		return st;
	size_t n = 0;
	if (read_file(f.path, max_bytes ? max_bytes : 64u << 20, text, &n) < 0) {
		error_set(err, "fetch %s: cannot read %s: %s", req->url, f.path,
				 errno == EFBIG ? "file too large for a text list" : strerror(errno));
		return INPUT_FAILED;
	}
	if (len)
		*len = n;
	return INPUT_OK;
}

bool inputs_pending(const struct inputs *in)
{
	return in->next < in->n;
}

size_t inputs_resolve(struct inputs *in, struct fetch_ctx *f)
{
	size_t done = 0;
	for (; in->next < in->n; in->next++, done++) {
		struct input_rec *r = &in->v[in->next];
		struct fetch_req req = {r->url, r->digest, r->hint, r->base_dir, false};
		struct fetch_result res;
		memset(&res, 0, sizeof(res));
		struct error *e = NULL;
		if (fetch_file(f, &req, &res, &e) == 0) {
			r->state = INPUT_OK;
			r->path = xstrdup(res.path);
			r->sha256 = xstrdup(res.sha256);
			fetch_result_clear(&res);
		} else {
			r->state = INPUT_FAILED;
			r->err = error_take_msg(e);
		}
	}
	return done;
}
