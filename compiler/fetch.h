/* fetch.h — getting build inputs (sets, kernels, packages, checksum lists)
 * from http://, https://, file:// URLs and plain local paths.
 *
 * Design
 * ------
 * Remote inputs land in the cache (cache.h): downloads/<sha256(url)>/file
 * with a `meta` file beside it (ETag, Last-Modified, sha256, sha512, size,
 * mtime). A download streams to a temp file under the cache's tmp/ while
 * sha256 and sha512 are computed; it is verified and only then renamed to
 * `file`. A failed or mismatching download leaves nothing behind.
 *
 * Decision table for a remote URL (per call, under an exclusive cache lock
 * "dl-<urlkey>" so two builds never download the same URL at once):
 *   pinned (digest given) + cached file whose recorded digest matches
 *       -> FETCH_CACHED, no network request at all (also when offline)
 *   unpinned + cached + offline -> FETCH_CACHED
 *   unpinned + cached + online  -> conditional GET (If-None-Match /
 *       If-Modified-Since from meta): 304 -> FETCH_REVALIDATED, 200 ->
 *       FETCH_DOWNLOADED (replaces the cached file)
 *   not cached (or cached but mismatching the pin) + online -> download,
 *       FETCH_DOWNLOADED
 *   not usable from the cache + offline -> error:
 *       "fetch <url>: not in the cache and --offline is set"
 * Local paths and file:// URLs are read in place (never copied):
 *   FETCH_LOCAL, path = the local file, digest checked when given.
 *
 * Retries: transient failures (HTTP 5xx/408/429, connection reset, timeout,
 * truncated transfer, empty reply) are retried `tries` times in total with
 * exponential backoff (backoff_ms, 2x, 4x …). Permanent failures (404 and
 * other 4xx, DNS failure, connection refused, TLS errors) fail at once.
 * Every failure is ONE line naming the URL, e.g.
 *   fetch https://…/base.tar.xz: HTTP 404 Not Found — check the NetBSD version and set name
 *   fetch http://127.0.0.1:9/x: connection refused by 127.0.0.1 port 9 — is the server running?
 *   fetch <url>: sha256 mismatch: expected <hex>, got <hex> (download discarded)
 *
 * Progress goes to opts.log (default stderr): a \r-redrawn bar (bytes, rate,
 * ETA) when that stream is a terminal, else a plain line every ~10 s and
 * one at the end of each download, nothing when quiet. Retries are
 * announced on the same stream ("base.tar.xz: HTTP 503 …; retrying (2/3)"). Status lines
 * ("cached", "downloaded") are NOT printed here: callers print them from
 * struct fetch_result.
 *
 * Process-wide: call fetch_global_cleanup() when the last fetcher is freed
 * (session.c does). curl_global_init runs on the first download, so a run
 * served from the cache never initialises libcurl. */
#ifndef SMOLC_FETCH_H
#define SMOLC_FETCH_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <strings.h>

#include "cache.h"

void fetch_global_cleanup(void);

enum fetch_progress {
	FETCH_PROGRESS_AUTO,   /* bar if isatty(fileno(log)), else plain lines */
	FETCH_PROGRESS_BAR,
	FETCH_PROGRESS_LINES,
	FETCH_PROGRESS_NONE,
};

/* Options; zero-initialise and set what you need — 0 means "default". */
struct fetch_opts {
	bool offline;              /* never touch the network */
	bool quiet;                /* same as progress = NONE */
	enum fetch_progress progress;
	FILE *log;                 /* progress output; NULL = stderr */
	unsigned tries;            /* total attempts for transient errors; 0 = 3 */
	unsigned backoff_ms;       /* first retry delay; 0 = 500 (then 1 s, 2 s) */
	long connect_timeout_s;    /* 0 = 30 */
	long stall_timeout_s;      /* abort when slower than min_speed for this long; 0 = 30
	                              ($SMOLC_DOWNLOAD_SLOW_TIME) */
	long min_speed_bps;        /* bytes/s; 0 = 1024 ($SMOLC_DOWNLOAD_MIN_SPEED) */
	long deadline_s;           /* a whole download's limit; 0 = 3600 ($SMOLC_DOWNLOAD_DEADLINE) */
	const char *user_agent;    /* NULL = "smolc/<version>" */
};

struct fetch_ctx;

/* Create a fetcher. `cache` is borrowed and must outlive the fetcher; it
 * may be NULL only if every fetch is a local path / file:// URL. `opts`
 * is copied (may be NULL for defaults). */
struct fetch_ctx *fetch_new(struct cache *cache, const struct fetch_opts *opts);
void fetch_free(struct fetch_ctx *f);          /* NULL-safe */

/* What to fetch. */
struct fetch_req {
	const char *url;     /* http(s)://, file://, or a local path */
	/* Expected digest or NULL (unpinned): "sha256:<64 hex>",
	 * "sha512:<128 hex>", or bare hex (the algorithm is taken from the
	 * length: 64 = sha256, 128 = sha512). Case-insensitive. */
	const char *digest;
	/* Hint appended to a 404 message, e.g. "check the NetBSD version and
	 * set name". NULL = "check the URL". */
	const char *hint;
	/* Local paths: directory a relative path is relative to (e.g. the
	 * recipe's directory). NULL = current directory. */
	const char *base_dir;
	/* Keep the downloaded file safe from a concurrent `smolc cache prune`
	 * until fetch_result_clear(): the result then holds a shared lock on
	 * the download ("dl", urlkey). Do not take that lock yourself before
	 * calling fetch_file: flock locks of one process conflict too. */
	bool hold;
};

enum fetch_status {
	FETCH_CACHED,        /* from the cache, no network request */
	FETCH_REVALIDATED,   /* from the cache after a 304 */
	FETCH_DOWNLOADED,    /* downloaded now */
	FETCH_LOCAL,         /* local path or file:// URL, read in place */
};

/* Result of a successful fetch. Strings owned; clear with fetch_result_clear. */
struct fetch_result {
	char *path;            /* file to read: the cache's downloads/<k>/file or the local file */
	char *url;             /* the URL as given (normalised: file:// and local paths as absolute paths) */
	char sha256[65];       /* lowercase hex of the content (always filled) */
	char sha512[129];      /* lowercase hex of the content (always filled) */
	uint64_t size;
	enum fetch_status status;
	struct cache_lock *lock;  /* with req.hold on a remote URL; released by fetch_result_clear */
};
void fetch_result_clear(struct fetch_result *r);  /* NULL-safe, frees strings, releases the lock, zeroes */

/* Fetch one input. 0 on success (res filled), -1 with *err (one line).
 * The file at res->path stays valid until the cache is pruned; set
 * req.hold to keep prune away from it while you read it. */
int fetch_file(struct fetch_ctx *f, const struct fetch_req *req,
	       struct fetch_result *res, struct error **err);

/* Is `s` an http(s):// or file:// URL (as opposed to a local path)? Inline:
 * a question of syntax, asked by the planner, costs no backend load. */
static inline bool fetch_is_remote(const char *s) /* http:// or https:// */
{
	return s && (!strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8));
}
static inline bool fetch_is_url(const char *s)
{
	return fetch_is_remote(s) || (s && !strncasecmp(s, "file://", 7));
}

/* Parse a digest spec as accepted in fetch_req.digest. Returns 0 and fills
 * alg ("sha256"/"sha512", static) and hex (lowercase), or -1 with *err. */
int fetch_parse_digest(const char *spec, const char **alg, char hex[129], struct error **err);

#endif
