/* fetch.c — inputs from the cache, local files and downloads (see fetch.h);
 * the downloading itself, with libcurl, is fetch_http.c (in the backend:
 * an input answered from the cache or the disk loads no library).
 *
 * Design note: one CURL easy handle per fetch_ctx (connection reuse), reset
 * before every attempt. Each attempt streams into a fresh cache tmp file
 * while sha256 and sha512 are computed in the write callback; only a
 * complete, verified file is renamed to downloads/<k>/file, then `meta` is
 * rewritten atomically. meta records size and mtime (ns) of the file it
 * describes, so a file replaced behind meta's back is never trusted. The
 * whole decision for one URL runs under the cache lock "dl-<urlkey>". */
#include "fetch.h"
#include "fetch_int.h"
#include "digest.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* Set by the first download: only then is there libcurl state to clean up
 * (and a backend to call: cli/backend.h). */
static bool http_used;

void fetch_global_cleanup(void)
{
	if (http_used)
		fetch_http_global_cleanup();
	http_used = false;
}

struct fetch_ctx *fetch_new(struct cache *cache, const struct fetch_opts *opts)
{
	struct fetch_ctx *f = xcalloc(1, sizeof(*f));
	f->cache = cache;
	if (opts)
		f->o = *opts;
	if (!f->o.tries)
		f->o.tries = 3;
	if (!f->o.backoff_ms)
		f->o.backoff_ms = 500;
	if (!f->o.connect_timeout_s)
		f->o.connect_timeout_s = 30;
	/* bounded waits: a server that trickles (under 1 KiB/s for 30 s) or a
	 * download that takes more than an hour is stopped; the environment
	 * may change both (a slow link, a huge set) */
	static const struct {
		const char *env;
		long def, max;
	} lim[] = {{"SMOLC_DOWNLOAD_SLOW_TIME", 30, 86400}, {"SMOLC_DOWNLOAD_MIN_SPEED", 1024, 1L << 30},
		   {"SMOLC_DOWNLOAD_DEADLINE", 3600, 7 * 86400}};
	long *dst[] = {&f->o.stall_timeout_s, &f->o.min_speed_bps, &f->o.deadline_s};
	for (size_t i = 0; i < ARRAY_LEN(lim); i++) {
		if (*dst[i])
			continue;
		const char *v = getenv(lim[i].env);
		char *end = NULL;
		long n = v && *v ? strtol(v, &end, 10) : 0;
		*dst[i] = v && *v && !*end && n > 0 && n <= lim[i].max ? n : lim[i].def;
	}
	if (f->o.quiet)
		f->o.progress = FETCH_PROGRESS_NONE;
	f->log = f->o.log ? f->o.log : stderr;
	if (f->o.progress == FETCH_PROGRESS_AUTO)
		f->o.progress = isatty(fileno(f->log)) ? FETCH_PROGRESS_BAR : FETCH_PROGRESS_LINES;
	return f;
}

void fetch_free(struct fetch_ctx *f)
{
	if (!f)
		return;
	if (f->curl)
		fetch_http_close(f->curl);
	free(f);
}

void fetch_result_clear(struct fetch_result *r)
{
	if (!r)
		return;
	free(r->path);
	free(r->url);
	cache_unlock(r->lock);
	memset(r, 0, sizeof(*r));
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

int fetch_parse_digest(const char *spec, const char **alg, char hex[129], struct error **err)
{
	const char *h = spec;
	const char *want = NULL;
	if (!strncasecmp(spec, "sha256:", 7)) {
		want = "sha256";
		h = spec + 7;
	} else if (!strncasecmp(spec, "sha512:", 7)) {
		want = "sha512";
		h = spec + 7;
	}
	size_t n = strlen(h);
	if (!want)
		want = n == 64 ? "sha256" : n == 128 ? "sha512" : NULL;
	size_t need = want && !strcmp(want, "sha256") ? 64 : 128;
	if (!want || n != need || !is_hex(h, n)) {
		error_set(err, "bad digest '%s': expected sha256:<64 hex digits> or sha512:<128 hex digits>", spec);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		hex[i] = (char)((h[i] >= 'A' && h[i] <= 'F') ? h[i] - 'A' + 'a' : h[i]);
	hex[n] = 0;
	*alg = want;
	return 0;
}

/* ---- meta file ---- */

void fetch_meta_clear(struct meta *m)
{
	free(m->url);
	free(m->etag);
	free(m->last_modified);
	memset(m, 0, sizeof(*m));
}

static void meta_read(const char *path, struct meta *m)
{
	memset(m, 0, sizeof(*m));
	char *data;
	size_t len;
	if (read_file(path, 1 << 16, &data, &len) < 0)
		return;
	for (char *line = data; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		char *sp = strchr(line, ' ');
		if (sp) {
			*sp = 0;
			const char *v = sp + 1;
			if (!strcmp(line, "url"))
				m->url = xstrdup(v);
			else if (!strcmp(line, "etag"))
				m->etag = xstrdup(v);
			else if (!strcmp(line, "last-modified"))
				m->last_modified = xstrdup(v);
			else if (!strcmp(line, "sha256") && strlen(v) == 64)
				memcpy(m->sha256, v, 65);
			else if (!strcmp(line, "sha512") && strlen(v) == 128)
				memcpy(m->sha512, v, 129);
			else if (!strcmp(line, "size"))
				m->size = strtoull(v, NULL, 10);
			else if (!strcmp(line, "mtime"))
				sscanf(v, "%lld.%lld", &m->mtime_s, &m->mtime_ns);
		}
		line = nl ? nl + 1 : NULL;
	}
	free(data);
}

/* Does meta describe the file at `path` as it is now? */
static bool meta_matches(const struct meta *m, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	return m->sha256[0] && m->sha512[0] && (uint64_t)st.st_size == m->size &&
	       (long long)st.st_mtim.tv_sec == m->mtime_s && (long long)st.st_mtim.tv_nsec == m->mtime_ns;
}

int fetch_meta_write(const char *path, const char *file, const struct meta *m)
{
	struct stat st;
	if (stat(file, &st) < 0)
		return -1;
	struct strbuf sb;
	sb_init(&sb);
	sb_printf(&sb, "url %s\n", m->url);
	if (m->etag && *m->etag)
		sb_printf(&sb, "etag %s\n", m->etag);
	if (m->last_modified && *m->last_modified)
		sb_printf(&sb, "last-modified %s\n", m->last_modified);
	sb_printf(&sb, "sha256 %s\nsha512 %s\nsize %llu\nmtime %lld.%09lld\n", m->sha256, m->sha512,
		  (unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec);
	int r = write_file_atomic(path, sb.buf, sb.len, 0644);
	sb_free(&sb);
	return r;
}

/* sha256 + sha512 of a file in one pass. */
static int hash_file(const char *path, char s256[65], char s512[129], uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct digest *a = digest_new(DIGEST_SHA256), *b = digest_new(DIGEST_SHA512);
	char *buf = xmalloc(1 << 16);
	uint64_t n = 0;
	int rc = 0;
	for (;;) {
		ssize_t r = read(fd, buf, 1 << 16);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -1;
			break;
		}
		if (r == 0)
			break;
		digest_update(a, buf, (size_t)r);
		digest_update(b, buf, (size_t)r);
		n += (uint64_t)r;
	}
	int e = errno;
	free(buf);
	close(fd);
	if (rc < 0) {
		digest_free(a);
		digest_free(b);
		errno = e;
		return -1;
	}
	digest_final_hex(a, s256);
	digest_final_hex(b, s512);
	if (size)
		*size = n;
	return 0;
}

const char *fetch_pin_of(const char *alg, const char *s256, const char *s512)
{
	return !strcmp(alg, "sha256") ? s256 : s512;
}

/* ---- local files ---- */

static char *percent_decode(const char *s)
{
	struct strbuf sb;
	sb_init(&sb);
	for (const char *p = s; *p; p++) {
		if (p[0] == '%' && p[1] && p[2] && is_hex(p + 1, 2)) {
			char h[3] = {p[1], p[2], 0};
			sb_addc(&sb, (char)strtol(h, NULL, 16));
			p += 2;
		} else {
			sb_addc(&sb, *p);
		}
	}
	return sb_detach(&sb);
}

static int fetch_local(const struct fetch_req *req, const char *alg, const char *pin,
		       struct fetch_result *res, struct error **err)
{
	char *path;
	if (!strncasecmp(req->url, "file://", 7)) {
		const char *p = req->url + 7;
		if (!strncasecmp(p, "localhost/", 10))
			p += 9;
		if (*p != '/') {
			error_set(err, "fetch %s: only file:///absolute/path URLs are supported", req->url);
			return -1;
		}
		path = percent_decode(p);
	} else if (req->url[0] == '/' || !req->base_dir) {
		path = xstrdup(req->url);
	} else {
		path = path_join(req->base_dir, req->url);
	}
	if (path[0] != '/') {
		char *cwd = getcwd(NULL, 0);
		if (cwd) {
			char *a = path_join(cwd, path);
			free(path);
			path = a;
			free(cwd);
		}
	}
	struct stat st;
	if (stat(path, &st) < 0) {
		error_set(err, "fetch %s: %s (%s)", req->url, strerror(errno), path);
		free(path);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		error_set(err, "fetch %s: %s is not a regular file", req->url, path);
		free(path);
		return -1;
	}
	char s256[65], s512[129];
	uint64_t size;
	if (hash_file(path, s256, s512, &size) < 0) {
		error_set(err, "fetch %s: cannot read %s: %s", req->url, path, strerror(errno));
		free(path);
		return -1;
	}
	if (pin && strcmp(pin, fetch_pin_of(alg, s256, s512))) {
		error_set(err, "fetch %s: %s mismatch: expected %s, got %s", req->url, alg, pin,
			fetch_pin_of(alg, s256, s512));
		free(path);
		return -1;
	}
	res->path = path;
	res->url = xstrdup(path);
	memcpy(res->sha256, s256, 65);
	memcpy(res->sha512, s512, 129);
	res->size = size;
	res->status = FETCH_LOCAL;
	return 0;
}

static int fetch_remote(struct fetch_ctx *f, const struct fetch_req *req, const char *alg,
			const char *pin, struct fetch_result *res, struct error **err)
{
	if (!f->cache) {
		error_set(err, "fetch %s: no cache directory to download into", req->url);
		return -1;
	}
	char key[65];
	cache_url_key(req->url, key);
	struct cache_lock *lock = NULL;
	if (cache_lock(f->cache, "dl", key, CACHE_LOCK_EXCLUSIVE, true, &lock, err) != 0)
		return -1;
	char *dir = cache_download_dir(f->cache, req->url);
	char *file = cache_download_file(f->cache, req->url);
	char *metapath = cache_download_meta(f->cache, req->url);
	struct meta m;
	meta_read(metapath, &m);
	bool have = meta_matches(&m, file);
	if (!have && path_exists(file)) {
		/* file without (valid) meta: trust only its content */
		char s256[65], s512[129];
		uint64_t size;
		if (hash_file(file, s256, s512, &size) == 0 && pin && !strcmp(pin, fetch_pin_of(alg, s256, s512))) {
			free(m.etag);
			free(m.last_modified);
			m.etag = m.last_modified = NULL;
			free(m.url);
			m.url = xstrdup(req->url);
			memcpy(m.sha256, s256, 65);
			memcpy(m.sha512, s512, 129);
			fetch_meta_write(metapath, file, &m);
			have = true;
		}
	}
	int rc = -1;
	enum fetch_status st = FETCH_CACHED;
	if (have && pin && strcmp(pin, fetch_pin_of(alg, m.sha256, m.sha512))) {
		if (f->o.offline) {
			error_set(err, "fetch %s: the cached copy has %s %s, expected %s, and --offline is set",
				req->url, alg, fetch_pin_of(alg, m.sha256, m.sha512), pin);
			goto out;
		}
		have = false; /* pin changed: download again */
	}
	if (have && (pin || f->o.offline)) {
		st = FETCH_CACHED;
	} else if (f->o.offline) {
		error_set(err, "fetch %s: not in the cache and --offline is set (drop --offline, or put the file "
			     "in the cache with an online build first)", req->url);
		goto out;
	} else {
		http_used = true;
		enum attempt a = fetch_download(f, req, alg, pin, have ? &m : NULL, file, metapath, res, err);
		if (a == ATT_FAIL)
			goto out;
		st = a == ATT_NOT_MODIFIED ? FETCH_REVALIDATED : FETCH_DOWNLOADED;
		if (a == ATT_OK) {
			res->path = file;
			file = NULL;
			res->url = xstrdup(req->url);
			cache_touch(dir);
			rc = 0;
			goto out;
		}
	}
	res->path = file;
	file = NULL;
	res->url = xstrdup(req->url);
	memcpy(res->sha256, m.sha256, 65);
	memcpy(res->sha512, m.sha512, 129);
	res->size = m.size;
	res->status = st;
	cache_touch(dir);
	rc = 0;
out:
	fetch_meta_clear(&m);
	free(dir);
	free(file);
	free(metapath);
	if (rc == 0 && req->hold && cache_lock_downgrade(lock) == 0) {
		res->lock = lock;
		lock = NULL;
	}
	cache_unlock(lock);
	return rc;
}

int fetch_file(struct fetch_ctx *f, const struct fetch_req *req, struct fetch_result *res, struct error **err)
{
	memset(res, 0, sizeof(*res));
	if (!req || !req->url || !*req->url) {
		error_set(err, "fetch: empty URL");
		return -1;
	}
	const char *alg = NULL;
	char pin[129];
	bool pinned = req->digest && *req->digest;
	if (pinned && fetch_parse_digest(req->digest, &alg, pin, err) < 0) {
		return error_prefix(err, "fetch %s", req->url);
	}
	if (!fetch_is_remote(req->url)) {
		if (!strncasecmp(req->url, "ftp://", 6) || (strstr(req->url, "://") && !fetch_is_url(req->url))) {
			error_set(err, "fetch %s: unsupported URL scheme (smolc fetches http, https and file URLs)",
				req->url);
			return -1;
		}
		return fetch_local(req, alg, pinned ? pin : NULL, res, err);
	}
	int r = fetch_remote(f, req, alg, pinned ? pin : NULL, res, err);
	if (r < 0)
		fetch_result_clear(res);
	return r;
}

