/* fetch_int.h — what fetch.c (the cache, local files: in ./smolc) and
 * fetch_http.c (downloads with libcurl: in libsmolc-backend.so) share. */
#ifndef SMOLC_FETCH_INT_H
#define SMOLC_FETCH_INT_H

#include "fetch.h"

struct fetch_ctx {
	struct cache *cache;
	struct fetch_opts o;
	FILE *log;
	void *curl; /* fetch_http.c's CURL easy handle, made on the first download */
};

/* downloads/<k>/meta: what the cached file is, and where it came from */
struct meta {
	char *url, *etag, *last_modified;
	char sha256[65], sha512[129];
	uint64_t size;
	long long mtime_s, mtime_ns;
};
void fetch_meta_clear(struct meta *m);
/* Write meta for `file` (its size and mtime as they are now); 0 or -1. */
int fetch_meta_write(const char *path, const char *file, const struct meta *m);
/* The digest of the pinned algorithm among the two. Borrowed. */
const char *fetch_pin_of(const char *alg, const char *s256, const char *s512);

enum attempt { ATT_OK, ATT_NOT_MODIFIED, ATT_RETRY, ATT_FAIL };

/* fetch_http.c. Download req->url into `file` (a cache entry; the caller
 * holds its lock), with retries. Returns ATT_OK (res filled), ATT_NOT_MODIFIED
 * (cond given, the cached copy is still good) or ATT_FAIL (*err). */
enum attempt fetch_download(struct fetch_ctx *f, const struct fetch_req *req, const char *alg, const char *pin,
			    const struct meta *cond, const char *file, const char *metapath,
			    struct fetch_result *res, struct error **err);
/* Free a handle fetch_download made (f->curl). */
void fetch_http_close(void *curl);
/* curl_global_cleanup, when fetch_download initialised libcurl. */
void fetch_http_global_cleanup(void);

#endif
