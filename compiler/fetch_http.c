/* fetch_http.c — downloads with libcurl (fetch_int.h): one HTTP attempt,
 * retries with backoff, progress, the verified rename into the cache.
 * Linked into libsmolc-backend.so; fetch.c calls fetch_download() only
 * when an input is not answered by the cache. */
#include "fetch_int.h"
#include "digest.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* libcurl is initialised on the first download, not before. */
static bool curl_inited;

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

void fetch_http_global_cleanup(void)
{
	if (curl_inited)
		curl_global_cleanup();
	curl_inited = false;
}

void fetch_http_close(void *curl)
{
	if (curl)
		curl_easy_cleanup(curl);
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
enum attempt fetch_download(struct fetch_ctx *f, const struct fetch_req *req, const char *alg,
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
		if (pin && strcmp(pin, fetch_pin_of(alg, s256, s512))) {
			error_set(err, "fetch %s: %s mismatch: expected %s, got %s (download discarded)",
				req->url, alg, pin, fetch_pin_of(alg, s256, s512));
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
		if (fetch_meta_write(metapath, file, &m) < 0)
			debugf("fetch %s: cannot write %s: %s", req->url, metapath, strerror(errno));
		fetch_meta_clear(&m);
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
