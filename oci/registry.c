/* registry.c — the OCI distribution client (see registry.h).
 *
 * One CURL easy handle per client (connection reuse), reset before every
 * request. request() does one logical request: the scheme decision on the
 * first one, the 401 → challenge → credentials/token → again dance, and
 * retries of transient failures. */
#include "registry.h"
#include "digest.h"
#include "regauth.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum auth_kind { AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

struct reg {
	char *host, *repo;
	char *base;               /* "https://host" or "http://host" once decided */
	bool scheme_known, may_plain;
	struct reg_opts o;
	FILE *log;
	CURL *c;
	bool creds_loaded;
	char *user, *pass;
	enum auth_kind auth;
	char *token;
	char *token_scope;        /* the scope the token was asked for */
	char *extra_scope;        /* another repository to read (mount from) */
};

static bool curl_ready;

static int curl_once(struct error **err)
{
	if (curl_ready)
		return 0;
	CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (c != CURLE_OK) {
		error_set(err, "cannot initialise libcurl: %s", curl_easy_strerror(c));
		return -1;
	}
	curl_ready = true;
	return 0;
}

/* Untrusted text for a terminal: control characters become '?', at most n bytes. */
static char *clean(const char *s, size_t n)
{
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; s && s[i] && i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		sb_addc(&sb, ch < 0x20 || ch == 0x7f ? '?' : (char)ch);
	}
	sb_cstr(&sb);
	return sb_detach(&sb);
}

/* ---- references ---- */

void reg_ref_clear(struct reg_ref *r)
{
	if (!r)
		return;
	free(r->host);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

bool reg_digest_valid(const char *d)
{
	if (!d || !str_startswith(d, "sha256:") || strlen(d) != 71)
		return false;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static bool repo_valid(const char *s)
{
	/* lowercase components [a-z0-9]+ joined by '.', '_', '__', '-'+; '/'-separated */
	if (!*s || strlen(s) > 255)
		return false;
	bool start = true;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (alnum) {
			start = false;
			continue;
		}
		if (start || !(c == '.' || c == '_' || c == '-' || c == '/'))
			return false;
		if (c == '/')
			start = true;
		else if (!p[1] || p[1] == '/')
			return false;
	}
	return !start;
}

static bool tag_valid(const char *t)
{
	size_t n = strlen(t);
	if (!n || n > 128 || t[0] == '.' || t[0] == '-')
		return false;
	for (const char *p = t; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-'))
			return false;
	return true;
}

int reg_ref_parse(const char *s, struct reg_ref *r, struct error **err)
{
	memset(r, 0, sizeof(*r));
	const char *slash = strchr(s, '/');
	if (!slash || slash == s) {
		error_set(err, "'%s': expected REGISTRY/REPOSITORY[:TAG|@sha256:DIGEST] (e.g. registry.example.org/me/bsdshell:latest)",
			s);
		return -1;
	}
	r->host = xstrndup(s, (size_t)(slash - s));
	if (!strchr(r->host, '.') && !strchr(r->host, ':') && strcmp(r->host, "localhost")) {
		error_set(err, "'%s': '%s' is not a registry host (it needs a '.' or a :port, or be localhost)", s, r->host);
		reg_ref_clear(r);
		return -1;
	}
	for (const char *p = r->host; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '-' || *p == ':' || *p == '[' || *p == ']')) {
			error_set(err, "'%s': bad registry host '%s'", s, r->host);
			reg_ref_clear(r);
			return -1;
		}
	const char *rest = slash + 1;
	const char *at = strchr(rest, '@');
	char *path;
	if (at) {
		path = xstrndup(rest, (size_t)(at - rest));
		r->digest = xstrdup(at + 1);
		if (!reg_digest_valid(r->digest)) {
			error_set(err, "'%s': bad digest '%s' (expected sha256: and 64 lowercase hex digits)", s, at + 1);
			free(path);
			reg_ref_clear(r);
			return -1;
		}
	} else {
		path = xstrdup(rest);
	}
	char *colon = strrchr(path, ':');
	if (colon && !strchr(colon, '/')) {
		*colon = 0;
		r->tag = xstrdup(colon + 1);
		if (!tag_valid(r->tag)) {
			error_set(err, "'%s': bad tag '%s' (letters, digits, '.', '_', '-'; up to 128)", s, r->tag);
			free(path);
			reg_ref_clear(r);
			return -1;
		}
	}
	if (!repo_valid(path)) {
		error_set(err, "'%s': bad repository name '%s' (lowercase letters, digits, '.', '_', '-', '/')", s, path);
		free(path);
		reg_ref_clear(r);
		return -1;
	}
	r->repo = path;
	if (!r->tag && !r->digest)
		r->tag = xstrdup("latest");
	return 0;
}

char *reg_ref_str(const struct reg_ref *r)
{
	if (r->digest)
		return xasprintf("%s/%s@%s", r->host, r->repo, r->digest);
	return xasprintf("%s/%s:%s", r->host, r->repo, r->tag);
}

char *reg_digest_mem(const void *data, size_t len)
{
	char hex[65];
	sha256_hex(data, len, hex);
	return xasprintf("sha256:%s", hex);
}

/* ---- the client ---- */

static bool host_is_local(const char *host)
{
	size_t n = strcspn(host, ":");
	if (host[0] == '[')
		return str_startswith(host, "[::1]");
	return (n == 9 && !strncmp(host, "localhost", 9)) || (n == 9 && !strncmp(host, "127.0.0.1", 9));
}

struct reg *reg_new(const char *host, const char *repo, const struct reg_opts *o, struct error **err)
{
	if (curl_once(err) < 0)
		return NULL;
	struct reg *r = xcalloc(1, sizeof(*r));
	r->host = xstrdup(host);
	r->repo = xstrdup(repo);
	if (o)
		r->o = *o;
	if (!r->o.tries)
		r->o.tries = 3;
	if (!r->o.backoff_ms)
		r->o.backoff_ms = 500;
	r->log = r->o.log ? r->o.log : stderr;
	r->may_plain = r->o.insecure || host_is_local(host);
	r->base = xasprintf("https://%s", host);
	r->c = curl_easy_init();
	if (!r->c) {
		error_set(err, "cannot create a libcurl handle");
		reg_free(r);
		return NULL;
	}
	return r;
}

void reg_free(struct reg *r)
{
	if (!r)
		return;
	if (r->c)
		curl_easy_cleanup(r->c);
	if (r->pass)
		explicit_bzero(r->pass, strlen(r->pass));
	if (r->token)
		explicit_bzero(r->token, strlen(r->token));
	free(r->host);
	free(r->repo);
	free(r->base);
	free(r->user);
	free(r->pass);
	free(r->token);
	free(r->token_scope);
	free(r->extra_scope);
	free(r);
}

void reg_set_credentials(struct reg *r, const char *user, const char *pass)
{
	free(r->user);
	free(r->pass);
	r->user = xstrdup(user);
	r->pass = xstrdup(pass);
	r->creds_loaded = true;
}

/* ---- one HTTP exchange ---- */

struct body_src {          /* what a PUT/PATCH sends */
	const char *mem;
	int fd;
	uint64_t off, len, pos;
};

struct sink {              /* where a response body goes */
	struct strbuf mem;
	size_t max;
	bool too_big;
	int fd;                /* >= 0: blob download */
	bool sparse;
	struct digest *dg;
	uint64_t written;      /* bytes received */
	char *buf;             /* sparse writer's buffer */
	size_t blen;
	int werr;              /* errno of a failed write */
	reg_stream_fn sw;      /* or: a stream reader gets the bytes */
	reg_reset_fn sr;
	void *sctx;
	struct error *serr;    /* its error */
};

struct resp {
	long status;
	char *location, *content_type, *digest, *www_auth, *range;
	struct sink sink;
};

static void resp_clear(struct resp *s)
{
	free(s->location);
	free(s->content_type);
	free(s->digest);
	free(s->www_auth);
	free(s->range);
	sb_free(&s->sink.mem);
	free(s->sink.buf);
	error_clear(&s->sink.serr);
	if (s->sink.dg)
		digest_free(s->sink.dg);
	memset(s, 0, sizeof(*s));
	s->sink.fd = -1;
}

struct progress {
	struct reg *r;
	const char *label;
	double t0, last;
	bool upload, shown;
};

struct exch {
	const char *method;
	char *url;                 /* owned */
	struct curl_slist *hdrs;   /* owned */
	struct body_src *body;     /* PUT / PATCH body, or NULL */
	bool post_empty;
	struct progress *prog;
};

static size_t on_header(char *b, size_t sz, size_t n, void *ud)
{
	struct resp *s = ud;
	size_t len = sz * n;
	char *line = xstrndup(b, len);
	char *colon = strchr(line, ':');
	if (colon) {
		*colon = 0;
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t vl = strlen(v);
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			v[--vl] = 0;
		char **slot = NULL;
		if (str_ieq(line, "location"))
			slot = &s->location;
		else if (str_ieq(line, "content-type"))
			slot = &s->content_type;
		else if (str_ieq(line, "docker-content-digest"))
			slot = &s->digest;
		else if (str_ieq(line, "www-authenticate"))
			slot = &s->www_auth;
		else if (str_ieq(line, "range"))
			slot = &s->range;
		if (slot) {
			free(*slot);
			*slot = xstrdup(v);
		}
	} else if (str_startswith(line, "HTTP/")) {
		/* a new response (after a redirect or 100): forget the old headers;
		 * its status decides where the body goes (on_body: an error body
		 * is a message, never blob bytes) */
		free(s->location);
		free(s->www_auth);
		s->location = s->www_auth = NULL;
		const char *sp = strchr(line, ' ');
		long code = sp ? strtol(sp + 1, NULL, 10) : 0;
		if (code >= 100 && code <= 599)
			s->status = code;
	}
	free(line);
	return len;
}

static bool all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

#define SINK_BUF (1u << 20)

static int sink_write(struct sink *k, const char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(k->fd, p, n, (off_t)off);
		if (w <= 0) {
			k->werr = w < 0 ? errno : EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Write the buffer: runs of data in one pwrite each; all-zero 4 KiB
 * blocks are skipped (holes) when sparse. */
static int sink_flush(struct sink *k)
{
	uint64_t base = k->written - k->blen;
	size_t run = 0, pos = 0; /* [run, pos) is data not written yet */
	while (pos < k->blen) {
		size_t n = k->blen - pos < 4096 ? k->blen - pos : 4096;
		if (k->sparse && n == 4096 && all_zero(k->buf + pos, n)) {
			if (pos > run && sink_write(k, k->buf + run, pos - run, base + run) < 0)
				return -1;
			run = pos + n;
		}
		pos += n;
	}
	if (pos > run && sink_write(k, k->buf + run, pos - run, base + run) < 0)
		return -1;
	k->blen = 0;
	return 0;
}

static size_t on_body(char *b, size_t sz, size_t n, void *ud)
{
	struct resp *s = ud;
	struct sink *k = &s->sink;
	size_t len = sz * n;
	if ((k->fd < 0 && !k->sw) || s->status >= 300) {
		if (k->mem.len + len > k->max) {
			k->too_big = true;
			return 0;
		}
		sb_add(&k->mem, b, len);
		return len;
	}
	if (k->sw) {
		digest_update(k->dg, b, len);
		k->written += len;
		return k->sw(k->sctx, b, len, &k->serr) < 0 ? 0 : len;
	}
	if (!k->buf)
		k->buf = xmalloc(SINK_BUF);
	if (k->dg)
		digest_update(k->dg, b, len);
	size_t off = 0;
	while (off < len) {
		size_t take = SINK_BUF - k->blen < len - off ? SINK_BUF - k->blen : len - off;
		memcpy(k->buf + k->blen, b + off, take);
		k->blen += take;
		k->written += take;
		off += take;
		if (k->blen == SINK_BUF && sink_flush(k) < 0)
			return 0;
	}
	return len;
}

static size_t on_read(char *b, size_t sz, size_t n, void *ud)
{
	struct body_src *src = ud;
	size_t want = sz * n;
	if (src->pos >= src->len)
		return 0;
	if (want > src->len - src->pos)
		want = (size_t)(src->len - src->pos);
	if (src->mem) {
		memcpy(b, src->mem + src->off + src->pos, want);
	} else {
		ssize_t r = pread(src->fd, b, want, (off_t)(src->off + src->pos));
		if (r <= 0)
			return CURL_READFUNC_ABORT;
		want = (size_t)r;
	}
	src->pos += want;
	return want;
}

static void draw(struct progress *p, curl_off_t now, curl_off_t total, bool final)
{
	double t = now_monotonic();
	if (!final && t - p->last < 0.2)
		return;
	p->last = t;
	p->shown = true;
	char a[32], b[32], c[32];
	double rate = t > p->t0 ? (double)now / (t - p->t0) : 0;
	fprintf(p->r->log, "\r  %-30.30s %s %10s / %-10s %10s/s", p->label, p->upload ? "up  " : "down",
		human_bytes((uint64_t)now, a, sizeof(a)), total > 0 ? human_bytes((uint64_t)total, b, sizeof(b)) : "?",
		human_bytes((uint64_t)rate, c, sizeof(c)));
	if (final)
		fputc('\n', p->r->log);
	fflush(p->r->log);
}

static int on_progress(void *ud, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln)
{
	struct progress *p = ud;
	if (p->upload)
		draw(p, uln, ult, false);
	else
		draw(p, dln, dlt, false);
	return 0;
}

static void add_auth_header(struct reg *r, struct curl_slist **h)
{
	if (r->auth == AUTH_BEARER && r->token) {
		char *v = xasprintf("Authorization: Bearer %s", r->token);
		*h = curl_slist_append(*h, v);
		explicit_bzero(v, strlen(v));
		free(v);
	}
}

/* One attempt. 0 with s->status set; -1 with *err and *transient. */
static int perform(struct reg *r, struct exch *x, struct resp *s, bool *transient, CURLcode *cc, struct error **err)
{
	CURL *c = r->c;
	curl_easy_reset(c);
	struct curl_slist *h = NULL;
	for (struct curl_slist *i = x->hdrs; i; i = i->next)
		h = curl_slist_append(h, i->data);
	h = curl_slist_append(h, "Expect:");
	add_auth_header(r, &h);
	char ua[64];
	snprintf(ua, sizeof(ua), "smolc/%s", SMOLC_VERSION);
	bool ok = curl_easy_setopt(c, CURLOPT_URL, x->url) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_USERAGENT, ua) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, !strcmp(x->method, "GET") ? 1L : 0L) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, r->may_plain ? "http,https" : "https") == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_HEADERDATA, s) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_WRITEDATA, s) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024) == CURLE_OK &&
		  curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024) == CURLE_OK;
	if (ok && r->o.ca_cert)
		ok = curl_easy_setopt(c, CURLOPT_CAINFO, r->o.ca_cert) == CURLE_OK;
	if (ok && r->auth == AUTH_BASIC && r->user) {
		ok = curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) == CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_USERNAME, r->user) == CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_PASSWORD, r->pass) == CURLE_OK;
	}
	if (ok) {
		if (!strcmp(x->method, "HEAD")) {
			ok = curl_easy_setopt(c, CURLOPT_NOBODY, 1L) == CURLE_OK;
		} else if (!strcmp(x->method, "POST")) {
			ok = curl_easy_setopt(c, CURLOPT_POST, 1L) == CURLE_OK &&
			     curl_easy_setopt(c, CURLOPT_POSTFIELDS, "") == CURLE_OK &&
			     curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L) == CURLE_OK;
		} else if (!strcmp(x->method, "PUT") || !strcmp(x->method, "PATCH")) {
			static struct body_src empty;
			struct body_src *b = x->body ? x->body : &empty;
			b->pos = 0;
			ok = curl_easy_setopt(c, CURLOPT_UPLOAD, 1L) == CURLE_OK &&
			     curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read) == CURLE_OK &&
			     curl_easy_setopt(c, CURLOPT_READDATA, b) == CURLE_OK &&
			     curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->len) == CURLE_OK;
			if (ok && !strcmp(x->method, "PATCH"))
				ok = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH") == CURLE_OK;
		}
	}
	if (ok && x->prog && !r->o.quiet && isatty(fileno(r->log))) {
		x->prog->t0 = x->prog->last = now_monotonic();
		ok = curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) == CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress) == CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_XFERINFODATA, x->prog) == CURLE_OK;
	}
	if (!ok) {
		curl_slist_free_all(h);
		error_set(err, "%s %s: cannot set up the request", x->method, x->url);
		*transient = false;
		return -1;
	}
	debugf("registry: %s %s", x->method, x->url);
	CURLcode rc = curl_easy_perform(c);
	*cc = rc;
	curl_slist_free_all(h);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
	if (rc == CURLE_OK && s->sink.fd >= 0 && s->status < 300 && s->sink.blen && sink_flush(&s->sink) < 0)
		rc = CURLE_WRITE_ERROR;
	if (x->prog && x->prog->shown) {
		fputc('\n', r->log);
		x->prog->shown = false;
	}
	if (rc == CURLE_OK)
		return 0;
	*transient = rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
		     rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE;
	char *hostonly = xstrdup(r->host);
	if (rc == CURLE_COULDNT_CONNECT)
		error_set(err, "%s %s: connection refused by %s — is the registry running?", x->method, x->url, hostonly);
	else if (rc == CURLE_COULDNT_RESOLVE_HOST)
		error_set(err, "%s %s: cannot resolve host %s", x->method, x->url, hostonly);
	else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
		error_set(err, "%s %s: the TLS certificate of %s does not verify (%s); give its CA with --ca-cert FILE",
			x->method, x->url, hostonly, curl_easy_strerror(rc));
	else if (rc == CURLE_WRITE_ERROR && s->sink.too_big)
		error_set(err, "%s %s: the answer is larger than %zu bytes", x->method, x->url, s->sink.max);
	else if (rc == CURLE_WRITE_ERROR && s->sink.serr)
		error_set(err, "%s %s: %s", x->method, x->url, error_msg(s->sink.serr));
	else if (rc == CURLE_WRITE_ERROR && s->sink.werr)
		error_set(err, "%s %s: writing the download: %s", x->method, x->url, strerror(s->sink.werr));
	else
		error_set(err, "%s %s: %s", x->method, x->url, curl_easy_strerror(rc));
	free(hostonly);
	return -1;
}

/* ---- authentication ---- */

/* Value of key in a challenge `Bearer realm="…",service="…",scope="…"`. */
static char *chal_param(const char *ch, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = ch; (p = strstr(p, key)); p += kl) {
		if ((p != ch && p[-1] != ' ' && p[-1] != ',') || p[kl] != '=')
			continue;
		const char *v = p + kl + 1;
		if (*v == '"') {
			const char *e = strchr(v + 1, '"');
			return e ? xstrndup(v + 1, (size_t)(e - v - 1)) : NULL;
		}
		size_t n = strcspn(v, ", ");
		return xstrndup(v, n);
	}
	return NULL;
}

static void load_creds(struct reg *r, struct error **err)
{
	if (r->creds_loaded)
		return;
	r->creds_loaded = true;
	char *dir = r->o.config_dir ? xstrdup(r->o.config_dir) : regauth_default_dir();
	struct error *e = NULL;
	if (regauth_get(dir, r->host, &r->user, &r->pass, &e) < 0) {
		/* a broken config.json is worth saying, then go on anonymously */
		fprintf(stderr, "smolc: warning: %s\n", error_msg(e));
		error_clear(&e);
	}
	(void)err;
	free(dir);
}

static int fetch_token(struct reg *r, const char *chal, bool push, struct error **err)
{
	char *realm = chal_param(chal, "realm"), *service = chal_param(chal, "service");
	char *scope = xasprintf("repository:%s:%s", r->repo, push ? "pull,push" : "pull");
	int rc = -1;
	CURLU *u = NULL;
	char *url = NULL;
	struct resp s;
	memset(&s, 0, sizeof(s));
	s.sink.fd = -1;
	s.sink.max = 1 << 20;
	if (!realm || (!str_startswith(realm, "https://") && !(r->may_plain && str_startswith(realm, "http://")))) {
		error_set(err, "%s: the registry asks for a token from realm '%s', which is not an https:// URL", r->host,
			realm ? realm : "(none)");
		goto out;
	}
	u = curl_url();
	char *q1 = service ? xasprintf("service=%s", service) : NULL;
	char *q2 = xasprintf("scope=%s", scope);
	char *q3 = r->extra_scope ? xasprintf("scope=repository:%s:pull", r->extra_scope) : NULL;
	bool ok = u && curl_url_set(u, CURLUPART_URL, realm, 0) == CURLUE_OK &&
		  (!q1 || curl_url_set(u, CURLUPART_QUERY, q1, CURLU_APPENDQUERY | CURLU_URLENCODE) == CURLUE_OK) &&
		  curl_url_set(u, CURLUPART_QUERY, q2, CURLU_APPENDQUERY | CURLU_URLENCODE) == CURLUE_OK &&
		  (!q3 || curl_url_set(u, CURLUPART_QUERY, q3, CURLU_APPENDQUERY | CURLU_URLENCODE) == CURLUE_OK) &&
		  curl_url_get(u, CURLUPART_URL, &url, 0) == CURLUE_OK;
	free(q1);
	free(q2);
	free(q3);
	if (!ok) {
		error_set(err, "%s: bad token realm '%s'", r->host, realm);
		goto out;
	}
	struct exch x = {.method = "GET", .url = xstrdup(url)};
	enum auth_kind saved = r->auth;
	r->auth = r->user ? AUTH_BASIC : AUTH_NONE; /* the token server takes the credentials */
	bool tr;
	CURLcode cc;
	int pr = perform(r, &x, &s, &tr, &cc, err);
	r->auth = saved;
	free(x.url);
	if (pr < 0)
		goto out;
	if (s.status == 401 || s.status == 403) {
		error_set(err, "%s: the token server refused %s (HTTP %ld)%s", r->host, r->user ? "the credentials" : "an anonymous request",
			s.status, r->user ? "; check them with smolc login" : "; log in with smolc login");
		goto out;
	}
	if (s.status != 200) {
		error_set(err, "%s: the token server answered HTTP %ld", r->host, s.status);
		goto out;
	}
	json_error_t je;
	json_t *o = json_loadb(s.sink.mem.buf ? s.sink.mem.buf : "", s.sink.mem.len, 0, &je);
	const char *tok = o ? json_string_value(json_object_get(o, "token")) : NULL;
	if (!tok && o)
		tok = json_string_value(json_object_get(o, "access_token"));
	if (!tok || !*tok) {
		error_set(err, "%s: the token server's answer holds no token", r->host);
		json_decref(o);
		goto out;
	}
	free(r->token);
	r->token = xstrdup(tok);
	json_decref(o);
	free(r->token_scope);
	r->token_scope = xstrdup(scope);
	r->auth = AUTH_BEARER;
	rc = 0;
out:
	if (url)
		curl_free(url);
	if (u)
		curl_url_cleanup(u);
	resp_clear(&s);
	free(realm);
	free(service);
	free(scope);
	return rc;
}

/* After a 401: set up what the challenge asks for. 0 = try again. */
static int authenticate(struct reg *r, const char *chal, bool push, struct error **err)
{
	load_creds(r, err);
	if (!chal) {
		error_set(err, "%s: HTTP 401 without a WWW-Authenticate challenge", r->host);
		return -1;
	}
	if (!strncasecmp(chal, "Basic", 5)) {
		if (!r->user) {
			error_set(err, "%s: HTTP 401 Unauthorized: the registry needs credentials; run smolc login %s",
				r->host, r->host);
			return -1;
		}
		if (r->auth == AUTH_BASIC) {
			error_set(err, "%s: HTTP 401 Unauthorized: the registry refused the credentials of %s; run smolc login %s",
				r->host, r->user, r->host);
			return -1;
		}
		if (!r->may_plain && str_startswith(r->base, "http://")) {
			error_set(err, "%s: refusing to send credentials over plain http", r->host);
			return -1;
		}
		r->auth = AUTH_BASIC;
		return 0;
	}
	if (!strncasecmp(chal, "Bearer", 6)) {
		char *want = xasprintf("repository:%s:%s", r->repo, push ? "pull,push" : "pull");
		bool again = r->auth == AUTH_BEARER && r->token_scope && !strcmp(r->token_scope, want);
		free(want);
		if (again) {
			error_set(err, "%s: HTTP 401 Unauthorized with a fresh token%s", r->host,
				r->user ? "; check the credentials (smolc login)" : "; run smolc login");
			return -1;
		}
		return fetch_token(r, chal, push, err);
	}
	char *c = clean(chal, 80);
	error_set(err, "%s: unsupported authentication scheme in '%s'", r->host, c);
	free(c);
	return -1;
}

/* "HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)" from an OCI error body. */
static char *http_error(long status, const struct resp *s)
{
	char *detail = NULL;
	if (s->sink.mem.len) {
		json_error_t je;
		json_t *o = json_loadb(s->sink.mem.buf, s->sink.mem.len, 0, &je);
		json_t *e0 = o ? json_array_get(json_object_get(o, "errors"), 0) : NULL;
		const char *code = e0 ? json_string_value(json_object_get(e0, "code")) : NULL;
		const char *msg = e0 ? json_string_value(json_object_get(e0, "message")) : NULL;
		if (code || msg) {
			char *c1 = clean(code ? code : "", 64), *c2 = clean(msg ? msg : "", 200);
			detail = xasprintf(" (%s%s%s)", c1, *c1 && *c2 ? ": " : "", c2);
			free(c1);
			free(c2);
		}
		json_decref(o);
	}
	char *m = xasprintf("HTTP %ld%s", status, detail ? detail : "");
	free(detail);
	return m;
}

/* A full request: scheme, auth, retries. 0 with s filled (any status but
 * 401), -1 with *err. */
static int request(struct reg *r, struct exch *x, struct resp *s, bool push, struct error **err)
{
	int auth_rounds = 0;
	for (unsigned attempt = 1;; attempt++) {
		bool transient = false;
		CURLcode cc = CURLE_OK;
		struct error *e = NULL;
		/* reset the sink between attempts */
		sb_reset(&s->sink.mem);
		s->sink.too_big = false;
		s->sink.written = s->sink.blen = 0;
		s->sink.werr = 0;
		s->status = 0;
		if (s->sink.sw && attempt > 1 && s->sink.sr(s->sink.sctx, err) < 0)
			return -1;
		error_clear(&s->sink.serr);
		if (s->sink.fd >= 0 || s->sink.sw) {
			if (s->sink.fd >= 0 && ftruncate(s->sink.fd, 0) < 0) {
				error_set(err, "truncating the download file: %s", strerror(errno));
				return -1;
			}
			if (s->sink.dg)
				digest_free(s->sink.dg);
			s->sink.dg = digest_new(DIGEST_SHA256);
		}
		int pr = perform(r, x, s, &transient, &cc, &e);
		if (pr < 0 && cc == CURLE_SSL_CONNECT_ERROR && !r->scheme_known && r->may_plain &&
		    str_startswith(x->url, "https://")) {
			/* a local (or --insecure) registry without TLS */
			error_clear(&e);
			debugf("registry: %s does not speak TLS; using http", r->host);
			char *nb = xasprintf("http://%s", r->host);
			char *nu = xasprintf("%s%s", nb, x->url + strlen(r->base));
			free(r->base);
			r->base = nb;
			free(x->url);
			x->url = nu;
			r->scheme_known = true;
			attempt--;
			continue;
		}
		if (pr == 0)
			r->scheme_known = true;
		if (pr == 0 && s->status == 401 && auth_rounds < 2) {
			auth_rounds++;
			if (authenticate(r, s->www_auth, push, err) < 0)
				return -1;
			attempt--;
			continue;
		}
		if (pr == 0 && s->status == 401) {
			error_set(err, "%s %s: HTTP 401 Unauthorized", x->method, x->url);
			return -1;
		}
		bool retry = pr < 0 ? transient : (s->status >= 500 || s->status == 408 || s->status == 429);
		if (!retry || attempt >= r->o.tries) {
			if (pr < 0) {
				if (err) {
					error_clear(err);
					*err = e;
				} else {
					error_clear(&e);
				}
				return -1;
			}
			error_clear(&e);
			return 0;
		}
		char *why = e ? xstrdup(error_msg(e)) : http_error(s->status, s);
		error_clear(&e);
		if (!r->o.quiet)
			fprintf(r->log, "smolc: %s; retrying (%u/%u)\n", why, attempt + 1, r->o.tries);
		free(why);
		unsigned ms = r->o.backoff_ms << (attempt - 1);
		struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static char *url_for(struct reg *r, const char *fmt, const char *arg)
{
	char *path = xasprintf(fmt, r->repo, arg);
	char *u = xasprintf("%s%s", r->base, path);
	free(path);
	return u;
}

/* Absolute URL for a Location header (which may be relative). */
static char *resolve_location(struct reg *r, const char *loc)
{
	if (str_startswith(loc, "http://") || str_startswith(loc, "https://"))
		return xstrdup(loc);
	if (loc[0] == '/')
		return xasprintf("%s%s", r->base, loc);
	return xasprintf("%s/%s", r->base, loc);
}

static void exch_free(struct exch *x)
{
	free(x->url);
	curl_slist_free_all(x->hdrs);
	memset(x, 0, sizeof(*x));
}

static int fail_status(const char *what, const struct exch *x, const struct resp *s, const char *hint, struct error **err)
{
	char *h = http_error(s->status, s);
	error_set(err, "%s %s: %s%s%s", what, x->url, h, hint ? " — " : "", hint ? hint : "");
	free(h);
	return -1;
}

/* ---- the API ---- */

int reg_ping(struct reg *r, struct error **err)
{
	struct exch x = {.method = "GET", .url = xasprintf("%s/v2/", r->base)};
	struct resp s;
	memset(&s, 0, sizeof(s));
	s.sink.fd = -1;
	s.sink.max = 1 << 16;
	int rc = request(r, &x, &s, true, err);
	if (rc == 0 && s.status != 200)
		rc = fail_status("GET", &x, &s, "is this an OCI registry?", err);
	resp_clear(&s);
	exch_free(&x);
	return rc;
}

int reg_blob_exists(struct reg *r, const char *digest, struct error **err)
{
	struct exch x = {.method = "HEAD", .url = url_for(r, "/v2/%s/blobs/%s", digest)};
	struct resp s;
	memset(&s, 0, sizeof(s));
	s.sink.fd = -1;
	s.sink.max = 1 << 16;
	int rc = request(r, &x, &s, true, err);
	if (rc == 0) {
		if (s.status == 200)
			rc = 1;
		else if (s.status == 404)
			rc = 0;
		else
			rc = fail_status("HEAD", &x, &s, NULL, err);
	}
	resp_clear(&s);
	exch_free(&x);
	return rc;
}

/* POST an upload; *location = where to send the data. With mount: 1 when
 * the registry mounted the blob (no location). */
static int start_upload(struct reg *r, const char *mount, const char *from, char **location, struct error **err)
{
	*location = NULL;
	char *url = mount ? xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s", r->base, r->repo, mount, from)
			  : xasprintf("%s/v2/%s/blobs/uploads/", r->base, r->repo);
	struct exch x = {.method = "POST", .url = url};
	struct resp s;
	memset(&s, 0, sizeof(s));
	s.sink.fd = -1;
	s.sink.max = 1 << 16;
	int rc = request(r, &x, &s, true, err);
	if (rc == 0) {
		if (mount && s.status == 201)
			rc = 1;
		else if (s.status == 202 && s.location)
			*location = resolve_location(r, s.location);
		else
			rc = fail_status("POST", &x, &s, s.status == 202 ? "no Location header" : NULL, err);
	}
	resp_clear(&s);
	exch_free(&x);
	return rc;
}

int reg_blob_mount(struct reg *r, const char *digest, const char *from_repo, struct error **err)
{
	free(r->extra_scope);
	r->extra_scope = xstrdup(from_repo);
	if (r->auth == AUTH_BEARER) {
		/* the token must also cover reading from_repo */
		free(r->token_scope);
		r->token_scope = NULL;
	}
	char *loc = NULL;
	int rc = start_upload(r, digest, from_repo, &loc, err);
	free(loc); /* an upload session we do not use expires by itself */
	return rc;
}

static char *with_digest(const char *loc, const char *digest)
{
	return xasprintf("%s%sdigest=%s", loc, strchr(loc, '?') ? "&" : "?", digest);
}

static int put_body(struct reg *r, struct body_src *src, const char *digest, const char *label, struct error **err)
{
	char *loc = NULL;
	if (start_upload(r, NULL, NULL, &loc, err) < 0)
		return -1;
	struct progress pg = {.r = r, .label = label, .upload = true};
	int rc = 0;
	uint64_t total = src->len;
	bool chunked = r->o.chunk_size && total > r->o.chunk_size;
	if (chunked) {
		/* chunked: PATCH each piece, then PUT ?digest= with no body */
		for (uint64_t off = 0; off < total && rc == 0;) {
			uint64_t n = total - off < r->o.chunk_size ? total - off : r->o.chunk_size;
			struct body_src piece = *src;
			piece.off = src->off + off;
			piece.len = n;
			struct exch x = {.method = "PATCH", .url = xstrdup(loc), .body = &piece, .prog = label ? &pg : NULL};
			char *cr = xasprintf("Content-Range: %llu-%llu", (unsigned long long)off, (unsigned long long)(off + n - 1));
			x.hdrs = curl_slist_append(x.hdrs, cr);
			x.hdrs = curl_slist_append(x.hdrs, "Content-Type: application/octet-stream");
			free(cr);
			struct resp s;
			memset(&s, 0, sizeof(s));
			s.sink.fd = -1;
			s.sink.max = 1 << 16;
			rc = request(r, &x, &s, true, err);
			if (rc == 0 && (s.status != 202 || !s.location))
				rc = fail_status("PATCH", &x, &s, NULL, err);
			if (rc == 0) {
				free(loc);
				loc = resolve_location(r, s.location);
				off += n;
			}
			resp_clear(&s);
			exch_free(&x);
		}
	}
	/* the closing PUT ?digest=: the whole body (monolithic), or none after
	 * the chunks */
	struct body_src none = {.fd = -1};
	if (rc == 0) {
		struct exch x = {.method = "PUT", .url = with_digest(loc, digest), .body = chunked ? &none : src,
				 .prog = !chunked && label ? &pg : NULL};
		if (!chunked)
			x.hdrs = curl_slist_append(x.hdrs, "Content-Type: application/octet-stream");
		struct resp s;
		memset(&s, 0, sizeof(s));
		s.sink.fd = -1;
		s.sink.max = 1 << 16;
		rc = request(r, &x, &s, true, err);
		if (rc == 0 && s.status != 201)
			rc = fail_status("PUT", &x, &s, NULL, err);
		resp_clear(&s);
		exch_free(&x);
	}
	free(loc);
	return rc;
}

int reg_blob_put_file(struct reg *r, const char *path, const char *digest, uint64_t size, const char *label,
		      struct error **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		error_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct body_src src = {.fd = fd, .len = size};
	int rc = put_body(r, &src, digest, label, err);
	close(fd);
	return rc;
}

int reg_blob_put_mem(struct reg *r, const void *data, size_t len, const char *digest, struct error **err)
{
	struct body_src src = {.mem = data, .fd = -1, .len = len};
	return put_body(r, &src, digest, NULL, err);
}

static int get_blob(struct reg *r, const char *digest, uint64_t size, struct resp *s, const char *label, struct error **err)
{
	struct progress pg = {.r = r, .label = label};
	struct exch x = {.method = "GET", .url = url_for(r, "/v2/%s/blobs/%s", digest), .prog = label ? &pg : NULL};
	int rc = request(r, &x, s, false, err);
	if (rc == 0 && s->status != 200)
		rc = fail_status("GET", &x, s, s->status == 404 ? "the registry has no such blob" : NULL, err);
	if (rc == 0) {
		char hex[129];
		bool streamed = s->sink.fd >= 0 || s->sink.sw;
		uint64_t got = streamed ? s->sink.written : s->sink.mem.len;
		if (streamed) {
			digest_final_hex(s->sink.dg, hex);
			s->sink.dg = NULL;
		} else {
			sha256_hex(s->sink.mem.buf ? s->sink.mem.buf : "", s->sink.mem.len, hex);
		}
		if (size != UINT64_MAX && got != size) {
			error_set(err, "GET %s: %llu bytes received, the manifest says %llu (download discarded)", x.url,
				(unsigned long long)got, (unsigned long long)size);
			rc = -1;
		} else if (strcmp(hex, digest + 7)) {
			error_set(err, "GET %s: sha256 mismatch: expected %s, got sha256:%s (download discarded)", x.url, digest,
				hex);
			rc = -1;
		}
	}
	exch_free(&x);
	return rc;
}

int reg_blob_get_fd(struct reg *r, const char *digest, uint64_t size, int fd, bool sparse, const char *label,
		    struct error **err)
{
	if (!reg_digest_valid(digest)) {
		error_set(err, "bad blob digest '%s'", digest);
		return -1;
	}
	struct resp s;
	memset(&s, 0, sizeof(s));
	s.sink.fd = fd;
	s.sink.sparse = sparse;
	s.sink.max = 1 << 16; /* error bodies */
	int rc = get_blob(r, digest, size, &s, label, err);
	if (rc == 0 && ftruncate(fd, (off_t)s.sink.written) < 0) {
		error_set(err, "writing the download: %s", strerror(errno));
		rc = -1;
	}
	if (rc < 0 && ftruncate(fd, 0) < 0)
		debugf("ftruncate: %s", strerror(errno));
	resp_clear(&s);
	return rc;
}

int reg_blob_get_stream(struct reg *r, const char *digest, uint64_t size, reg_stream_fn write, reg_reset_fn reset,
			void *ctx, const char *label, struct error **err)
{
	if (!reg_digest_valid(digest)) {
		error_set(err, "bad blob digest '%s'", digest);
		return -1;
	}
	struct resp s;
	memset(&s, 0, sizeof(s));
	s.sink.fd = -1;
	s.sink.sw = write;
	s.sink.sr = reset;
	s.sink.sctx = ctx;
	s.sink.max = 1 << 16; /* error bodies */
	int rc = get_blob(r, digest, size, &s, label, err);
	resp_clear(&s);
	return rc;
}

int reg_blob_get_mem(struct reg *r, const char *digest, size_t max, char **data, size_t *len, struct error **err)
{
	if (!reg_digest_valid(digest)) {
		error_set(err, "bad blob digest '%s'", digest);
		return -1;
	}
	struct resp s;
	memset(&s, 0, sizeof(s));
	s.sink.fd = -1;
	s.sink.max = max;
	int rc = get_blob(r, digest, UINT64_MAX, &s, NULL, err);
	if (rc == 0) {
		*len = s.sink.mem.len;
		sb_cstr(&s.sink.mem);
		*data = sb_detach(&s.sink.mem);
	}
	resp_clear(&s);
	return rc;
}

int reg_manifest_put(struct reg *r, const char *ref, const char *media_type, const char *data, size_t len,
		     char **digest_out, struct error **err)
{
	struct body_src src = {.mem = data, .fd = -1, .len = len};
	struct exch x = {.method = "PUT", .url = url_for(r, "/v2/%s/manifests/%s", ref), .body = &src};
	char *ct = xasprintf("Content-Type: %s", media_type);
	x.hdrs = curl_slist_append(x.hdrs, ct);
	free(ct);
	struct resp s;
	memset(&s, 0, sizeof(s));
	s.sink.fd = -1;
	s.sink.max = 1 << 16;
	int rc = request(r, &x, &s, true, err);
	if (rc == 0 && s.status != 201)
		rc = fail_status("PUT", &x, &s, NULL, err);
	if (rc == 0 && digest_out)
		*digest_out = reg_digest_mem(data, len);
	resp_clear(&s);
	exch_free(&x);
	return rc;
}

int reg_manifest_get(struct reg *r, const char *ref, char **data, size_t *len, char **media_type, char **digest,
		     struct error **err)
{
	struct exch x = {.method = "GET", .url = url_for(r, "/v2/%s/manifests/%s", ref)};
	x.hdrs = curl_slist_append(x.hdrs, "Accept: " OCI_MANIFEST_TYPE ", " OCI_INDEX_TYPE ", " DOCKER_MANIFEST_TYPE);
	struct resp s;
	memset(&s, 0, sizeof(s));
	s.sink.fd = -1;
	s.sink.max = 4 << 20;
	int rc = request(r, &x, &s, false, err);
	if (rc == 0 && s.status == 404) {
		rc = 1;
	} else if (rc == 0 && s.status != 200) {
		rc = fail_status("GET", &x, &s, NULL, err);
	} else if (rc == 0) {
		char *d = reg_digest_mem(s.sink.mem.buf ? s.sink.mem.buf : "", s.sink.mem.len);
		const char *want = reg_digest_valid(ref) ? ref : (s.digest && reg_digest_valid(s.digest) ? s.digest : NULL);
		if (want && strcmp(want, d)) {
			error_set(err, "GET %s: the manifest's sha256 is %s, expected %s (discarded)", x.url, d, want);
			free(d);
			rc = -1;
		} else {
			*digest = d;
			*len = s.sink.mem.len;
			char *ct = s.content_type ? xstrndup(s.content_type, strcspn(s.content_type, ";")) : NULL;
			*media_type = ct;
			sb_cstr(&s.sink.mem);
			*data = sb_detach(&s.sink.mem);
		}
	}
	resp_clear(&s);
	exch_free(&x);
	return rc;
}
