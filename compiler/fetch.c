/* fetch.c — downloads into the cache with libcurl (see fetch.h).
 *
 * Design note: one CURL easy handle per fetch_ctx (connection reuse), reset
 * before every attempt. Each attempt streams into a fresh cache tmp file
 * while sha256 and sha512 are computed in the write callback; only a
 * complete, verified file is renamed to downloads/<k>/file, then `meta` is
 * rewritten atomically. meta records size and mtime (ns) of the file it
 * describes, so a file replaced behind meta's back is never trusted. The
 * whole decision for one URL runs under the cache lock "dl-<urlkey>". */
#include "fetch.h"
#include "digest.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


struct fetch_ctx {
	struct cache *cache;
	struct fetch_opts o;
	FILE *log;
	CURL *curl;
};

/* libcurl is initialised on the first download, not before: a build or
 * plan served from the cache never loads it (see lazylib.c). */
static bool curl_inited;

int fetch_global_init(struct error **err)
{
	return 0;
}

static int curl_init_once(struct error **err)
{
	if (curl_inited)
		return 0;
	CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (c != CURLE_OK) {
		error_set(err, "cannot initialise libcurl: %s", curl_easy_strerror(c));
		return -1;
	}
	curl_inited = true;
	return 0;
}

void fetch_global_cleanup(void)
{
	if (curl_inited)
		curl_global_cleanup();
	curl_inited = false;
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
		curl_easy_cleanup(f->curl);
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

bool fetch_is_remote(const char *s)
{
	return s && (!strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8));
}

bool fetch_is_url(const char *s)
{
	return fetch_is_remote(s) || (s && !strncasecmp(s, "file://", 7));
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

struct meta {
	char *url, *etag, *last_modified;
	char sha256[65], sha512[129];
	uint64_t size;
	long long mtime_s, mtime_ns;
};

static void meta_clear(struct meta *m)
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

static int meta_write(const char *path, const char *file, const struct meta *m)
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

static const char *pin_of(const char *alg, const char *s256, const char *s512)
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
	if (pin && strcmp(pin, pin_of(alg, s256, s512))) {
		error_set(err, "fetch %s: %s mismatch: expected %s, got %s", req->url, alg, pin,
			pin_of(alg, s256, s512));
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

/* ---- one HTTP attempt ---- */

struct xfer {
	struct fetch_ctx *f;
	const char *url;
	const char *label;
	int fd;
	struct digest *d256, *d512;
	uint64_t bytes;
	long status;          /* status of the last response header block */
	char *reason;         /* its reason phrase */
	char *etag, *last_modified;
	int write_errno;
	double t0, last_draw, last_line;
	bool drew;
};

static char *trim_dup(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return xstrndup(s, n);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nitems;
	if (n >= 5 && !strncmp(buf, "HTTP/", 5)) {
		/* a new response (redirects, 100-continue): start over */
		free(x->reason);
		free(x->etag);
		free(x->last_modified);
		x->reason = x->etag = x->last_modified = NULL;
		const char *sp = memchr(buf, ' ', n);
		if (sp) {
			x->status = strtol(sp + 1, NULL, 10);
			const char *sp2 = memchr(sp + 1, ' ', n - (size_t)(sp + 1 - buf));
			if (sp2)
				x->reason = trim_dup(sp2 + 1, n - (size_t)(sp2 + 1 - buf));
		}
	} else if (n > 5 && !strncasecmp(buf, "etag:", 5)) {
		free(x->etag);
		x->etag = trim_dup(buf + 5, n - 5);
	} else if (n > 14 && !strncasecmp(buf, "last-modified:", 14)) {
		free(x->last_modified);
		x->last_modified = trim_dup(buf + 14, n - 14);
	}
	return n;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	if (x->status < 200 || x->status >= 300)
		return n; /* error page or 304: not content */
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(x->fd, buf + off, n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			x->write_errno = errno;
			return 0; /* CURLE_WRITE_ERROR */
		}
		off += (size_t)w;
	}
	digest_update(x->d256, buf, n);
	digest_update(x->d512, buf, n);
	x->bytes += n;
	return n;
}

static void fmt_eta(double s, char *buf, size_t n)
{
	if (s < 0 || s > 359999) {
		snprintf(buf, n, "--:--");
		return;
	}
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
	else
		snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw_progress(struct xfer *x, curl_off_t total, bool final)
{
	double now = now_monotonic(), el = now - x->t0;
	double rate = el > 0 ? (double)x->bytes / el : 0;
	char a[32], b[32], r[32], eta[32];
	human_bytes(x->bytes, a, sizeof(a));
	human_bytes((uint64_t)rate, r, sizeof(r));
	FILE *out = x->f->log;
	if (x->f->o.progress == FETCH_PROGRESS_BAR) {
		if (!final && now - x->last_draw < 0.1)
			return;
		x->last_draw = now;
		x->drew = true;
		if (total > 0) {
			human_bytes((uint64_t)total, b, sizeof(b));
			double frac = (double)x->bytes / (double)total;
			if (frac > 1)
				frac = 1;
			char bar[21];
			int fill = (int)(frac * 20);
			for (int i = 0; i < 20; i++)
				bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
			bar[20] = 0;
			fmt_eta(rate > 0 ? ((double)total - (double)x->bytes) / rate : -1, eta, sizeof(eta));
			fprintf(out, "\r\033[K  %-24.24s [%s] %3d%% %s/%s %s/s ETA %s", x->label, bar,
				(int)(frac * 100), a, b, r, eta);
		} else {
			fprintf(out, "\r\033[K  %-24.24s %s %s/s", x->label, a, r);
		}
		fflush(out);
	} else if (x->f->o.progress == FETCH_PROGRESS_LINES) {
		if (!final && now - x->last_line < 10)
			return;
		x->last_line = now;
		if (total > 0) {
			human_bytes((uint64_t)total, b, sizeof(b));
			fprintf(out, "  %s: %s of %s (%s/s)\n", x->label, a, b, r);
		} else {
			fprintf(out, "  %s: %s (%s/s)\n", x->label, a, r);
		}
		fflush(out);
	}
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = ud;
	if (x->status >= 200 && x->status < 300 && dlnow > 0)
		draw_progress(x, dltotal, false);
	return 0;
}

/* Outcome of one attempt. */
enum attempt { ATT_OK, ATT_NOT_MODIFIED, ATT_RETRY, ATT_FAIL };

static const char *reason_for(long code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 410: return "Gone";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

static void url_host_port(const char *url, char **host, long *port)
{
	*host = NULL;
	*port = 0;
	CURLU *u = curl_url();
	if (!u)
		return;
	char *h = NULL, *p = NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
		if (curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && h)
			*host = xstrdup(h);
		if (curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK && p)
			*port = strtol(p, NULL, 10);
	}
	curl_free(h);
	curl_free(p);
	curl_url_cleanup(u);
}

/* Run one GET into fd. On failure, *msg gets the reason (no URL prefix). */
static enum attempt attempt_get(struct fetch_ctx *f, struct xfer *x, const struct meta *cond,
				const char *hint, struct error **msg)
{
	CURL *c = f->curl;
	curl_easy_reset(c);
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	if (cond && cond->etag && *cond->etag) {
		char *h = xasprintf("If-None-Match: %s", cond->etag);
		hdrs = curl_slist_append(hdrs, h);
		free(h);
	}
	if (cond && cond->last_modified && *cond->last_modified) {
		char *h = xasprintf("If-Modified-Since: %s", cond->last_modified);
		hdrs = curl_slist_append(hdrs, h);
		free(h);
	}
	char *ua = f->o.user_agent ? xstrdup(f->o.user_agent) : xstrdup("smolc/" SMOLC_VERSION);
	bool setup_ok =
		curl_easy_setopt(c, CURLOPT_URL, x->url) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_USERAGENT, ua) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, f->o.connect_timeout_s) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, f->o.min_speed_bps) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, f->o.stall_timeout_s) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_TIMEOUT, f->o.deadline_s) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_HEADERDATA, x) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_WRITEDATA, x) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, x) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) == CURLE_OK &&
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) == CURLE_OK;
	if (!setup_ok) {
		curl_slist_free_all(hdrs);
		free(ua);
		error_set(msg, "libcurl rejected an option (libcurl too old?)");
		return ATT_FAIL;
	}
	double t_start = now_monotonic();
	CURLcode rc = curl_easy_perform(c);
	double t_spent = now_monotonic() - t_start;
	long os_errno = 0;
	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
	curl_off_t clen = -1;
	curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	free(ua);

	if (x->drew || (x->bytes && f->o.progress == FETCH_PROGRESS_LINES))
		draw_progress(x, clen, true);
	if (x->drew) {
		fputs("\r\033[K", f->log);
		fflush(f->log);
		x->drew = false;
	}

	const char *eb = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	char *host = NULL;
	long port = 0;
	enum attempt out = ATT_FAIL;
	switch (rc) {
	case CURLE_OK:
		if (x->status == 304 && cond)
			return ATT_NOT_MODIFIED;
		if (x->status >= 200 && x->status < 300)
			return ATT_OK;
		{
			const char *r = x->reason && *x->reason ? x->reason : reason_for(x->status);
			bool transient = x->status >= 500 || x->status == 408 || x->status == 429;
			if (x->status == 404 || x->status == 410)
				error_set(msg, "HTTP %ld %s — %s", x->status, r, hint ? hint : "check the URL");
			else
				error_set(msg, "HTTP %ld%s%s", x->status, *r ? " " : "", r);
			return transient ? ATT_RETRY : ATT_FAIL;
		}
	case CURLE_COULDNT_RESOLVE_HOST:
		url_host_port(x->url, &host, &port);
		error_set(msg, "cannot resolve host '%s' — check the URL and your network or DNS "
				 "(or use --offline with a filled cache)", host ? host : "?");
		break;
	case CURLE_COULDNT_CONNECT:
		url_host_port(x->url, &host, &port);
		if (os_errno == ECONNREFUSED)
			error_set(msg, "connection refused by %s port %ld — is the server running? "
					 "(check the mirror: --mirror / SMOLC_MIRROR)", host ? host : "?", port);
		else
			error_set(msg, "cannot connect to %s port %ld: %s", host ? host : "?", port,
					 os_errno ? strerror((int)os_errno) : eb);
		break;
	case CURLE_OPERATION_TIMEDOUT: {
		/* which limit tripped: the connection, the whole download's
		 * deadline, or the low-speed limit */
		double ct = 0;
		curl_easy_getinfo(c, CURLINFO_CONNECT_TIME, &ct);
		if (ct <= 0 && t_spent < (double)f->o.deadline_s - 0.5)
			error_set(msg, "timed out connecting after %ld s (%s) — check your network or try another mirror",
					 f->o.connect_timeout_s, eb);
		else if (t_spent >= (double)f->o.deadline_s - 0.5)
			error_set(msg, "took longer than the %ld s a download may take (got %llu bytes) — set "
					 "SMOLC_DOWNLOAD_DEADLINE=<seconds> for a longer one, or try another mirror",
					 f->o.deadline_s, (unsigned long long)x->bytes);
		else
			error_set(msg, "slower than %ld bytes/s for %ld s (got %llu bytes) — the server stalls; try "
					 "another mirror, or set SMOLC_DOWNLOAD_MIN_SPEED=<bytes/s> and "
					 "SMOLC_DOWNLOAD_SLOW_TIME=<seconds> for a slow link",
					 f->o.min_speed_bps, f->o.stall_timeout_s, (unsigned long long)x->bytes);
		out = ATT_RETRY;
		break;
	}
	case CURLE_PARTIAL_FILE:
		if (clen > 0)
			error_set(msg, "transfer truncated: got %llu of %lld bytes",
					 (unsigned long long)x->bytes, (long long)clen);
		else
			error_set(msg, "transfer truncated: %s", eb);
		out = ATT_RETRY;
		break;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		error_set(msg, "connection lost: %s", eb);
		out = ATT_RETRY;
		break;
	case CURLE_WRITE_ERROR:
		error_set(msg, "cannot write into the cache: %s",
				 x->write_errno ? strerror(x->write_errno) : eb);
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_USE_SSL_FAILED:
		error_set(msg, "TLS error: %s — check the system clock, the CA certificates "
				 "(ca-certificates) and the mirror", eb);
		break;
	case CURLE_TOO_MANY_REDIRECTS:
		error_set(msg, "too many redirects: %s", eb);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		error_set(msg, "unsupported protocol: %s (smolc fetches http, https and file URLs)", eb);
		break;
	default:
		error_set(msg, "%s", eb);
		break;
	}
	free(host);
	return out;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Download url into the cache entry. Returns ATT_OK (res filled),
 * ATT_NOT_MODIFIED (cond given, cache still good) or ATT_FAIL (*err). */
static enum attempt download(struct fetch_ctx *f, const struct fetch_req *req, const char *alg,
			     const char *pin, const struct meta *cond, const char *file,
			     const char *metapath, struct fetch_result *res, struct error **err)
{
	if (!f->curl && curl_init_once(err) < 0)
		return ATT_FAIL;
	if (!f->curl && !(f->curl = curl_easy_init())) {
		error_set(err, "fetch %s: cannot create a libcurl handle", req->url);
		return ATT_FAIL;
	}
	const char *label = path_basename(req->url);
	if (!*label)
		label = req->url;
	struct error *last = NULL;
	unsigned tries = f->o.tries, made = 0;
	for (unsigned i = 0; i < tries; i++) {
		made++;
		if (i) {
			unsigned delay = f->o.backoff_ms << (i - 1 < 16 ? i - 1 : 16);
			debugf("fetch %s: %s; retrying in %u ms", req->url, error_msg(last), delay);
			if (f->o.progress != FETCH_PROGRESS_NONE)
				fprintf(f->log, "  %s: %s; retrying (%u/%u)\n", label, error_msg(last), i + 1, tries);
			sleep_ms(delay);
		}
		error_clear(&last);
		char *tmp = NULL;
		int fd = -1;
		if (cache_mktemp_file(f->cache, "fetch", &tmp, &fd, err) < 0) {
			error_clear(&last);
			return ATT_FAIL;
		}
		struct xfer x = {.f = f, .url = req->url, .label = label, .fd = fd};
		x.d256 = digest_new(DIGEST_SHA256);
		x.d512 = digest_new(DIGEST_SHA512);
		x.t0 = x.last_draw = x.last_line = now_monotonic();
		x.last_draw -= 1;
		enum attempt a = attempt_get(f, &x, cond, req->hint, &last);
		char s256[65], s512[129];
		digest_final_hex(x.d256, s256);
		digest_final_hex(x.d512, s512);
		/* durable before it gets its final name: meta vouches for it later */
		bool synced = a != ATT_OK || fsync(fd) == 0;
		bool closed_ok = close(fd) == 0 && synced;
		free(x.reason);
		if (a == ATT_OK && !closed_ok) {
			error_set(&last, "cannot write into the cache: %s", strerror(errno));
			a = ATT_FAIL;
		}
		if (a != ATT_OK) {
			unlink(tmp);
			free(tmp);
			free(x.etag);
			free(x.last_modified);
			if (a == ATT_NOT_MODIFIED)
				return a;
			if (a == ATT_FAIL)
				break;
			continue;
		}
		if (pin && strcmp(pin, pin_of(alg, s256, s512))) {
			error_set(err, "fetch %s: %s mismatch: expected %s, got %s (download discarded)",
				req->url, alg, pin, pin_of(alg, s256, s512));
			unlink(tmp);
			free(tmp);
			free(x.etag);
			free(x.last_modified);
			return ATT_FAIL;
		}
		char *dir = path_dirname(file);
		int r = mkdir_p(dir, 0755);
		if (r == 0)
			r = rename(tmp, file);
		int e = errno;
		free(dir);
		if (r < 0) {
			error_set(err, "fetch %s: cannot store %s: %s", req->url, file, strerror(e));
			unlink(tmp);
			free(tmp);
			free(x.etag);
			free(x.last_modified);
			return ATT_FAIL;
		}
		free(tmp);
		struct meta m = {.url = xstrdup(req->url), .etag = x.etag, .last_modified = x.last_modified};
		memcpy(m.sha256, s256, 65);
		memcpy(m.sha512, s512, 129);
		if (meta_write(metapath, file, &m) < 0)
			debugf("fetch %s: cannot write %s: %s", req->url, metapath, strerror(errno));
		meta_clear(&m);
		memcpy(res->sha256, s256, 65);
		memcpy(res->sha512, s512, 129);
		res->size = x.bytes;
		res->status = FETCH_DOWNLOADED;
		return ATT_OK;
	}
	if (made > 1)
		error_set(err, "fetch %s: %s (after %u attempts)", req->url, last ? error_msg(last) : "failed", made);
	else
		error_set(err, "fetch %s: %s", req->url, last ? error_msg(last) : "failed");
	error_clear(&last);
	return ATT_FAIL;
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
		if (hash_file(file, s256, s512, &size) == 0 && pin && !strcmp(pin, pin_of(alg, s256, s512))) {
			free(m.etag);
			free(m.last_modified);
			m.etag = m.last_modified = NULL;
			free(m.url);
			m.url = xstrdup(req->url);
			memcpy(m.sha256, s256, 65);
			memcpy(m.sha512, s512, 129);
			meta_write(metapath, file, &m);
			have = true;
		}
	}
	int rc = -1;
	enum fetch_status st = FETCH_CACHED;
	if (have && pin && strcmp(pin, pin_of(alg, m.sha256, m.sha512))) {
		if (f->o.offline) {
			error_set(err, "fetch %s: the cached copy has %s %s, expected %s, and --offline is set",
				req->url, alg, pin_of(alg, m.sha256, m.sha512), pin);
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
		enum attempt a = download(f, req, alg, pin, have ? &m : NULL, file, metapath, res, err);
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
	meta_clear(&m);
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

