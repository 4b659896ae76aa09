/* test_fetch.c — fetch.c against tests/lib/httpd.py on 127.0.0.1.
 * The server is started once per run (fork/exec) and killed at the end;
 * its request log lets tests assert how many requests were made. Runs from
 * the repository root (tests/run.sh does cd "$ROOT"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "catalog.h"
#include "check.h"
#include "digest.h"
#include "fetch.h"
#include "inputs.h"
#include "plan.h"
#include "resolve.h"
#include "util.h"

struct env {
	char *root;     /* scratch dir */
	char *www;      /* served directory */
	char *log;      /* request log */
	pid_t pid;
	int port;
	int ncache;
};
static struct env E; /* test fixture, set up once in main's group setup */

static char *url(const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", E.port, path);
}

static void serve(const char *name, const void *data, size_t len)
{
	char *p = path_join(E.www, name);
	char *d = path_dirname(p);
	assert_int_equal(mkdir_p(d, 0755), 0);
	assert_int_equal(write_file_atomic(p, data, len, 0644), 0);
	free(d);
	free(p);
}

/* Number of logged requests whose path is exactly `path` (and status
 * `status` when non-NULL). */
static int requests(const char *path, const char *status)
{
	char *data;
	size_t len;
	if (read_file(E.log, 1 << 24, &data, &len) < 0)
		return 0;
	int n = 0;
	for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
		char m[16], p[1024], s[32];
		if (sscanf(line, "%15s %1023s %31s", m, p, s) == 3 && !strcmp(p, path) &&
		    (!status || !strcmp(s, status)))
			n++;
	}
	free(data);
	return n;
}

static int setup_server(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/smolc-fetch-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	E.root = xstrdup(tmpl);
	E.www = path_join(E.root, "www");
	E.log = path_join(E.root, "requests.log");
	char *portfile = path_join(E.root, "port");
	mkdir_p(E.www, 0755);
	E.pid = fork();
	if (E.pid < 0)
		return -1;
	if (E.pid == 0) {
		execlp("python3", "python3", "tests/lib/httpd.py", "--root", E.www, "--port-file", portfile,
		       "--log", E.log, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1200 && !path_exists(portfile); i++)
		usleep(50000);
	char *data;
	size_t len;
	if (read_file(portfile, 64, &data, &len) < 0) {
		fprintf(stderr, "test httpd did not start\n");
		free(portfile);
		return -1;
	}
	E.port = atoi(data);
	free(data);
	free(portfile);
	return 0;
}

static int teardown_server(void **state)
{
	(void)state;
	if (E.pid > 0) {
		kill(E.pid, SIGTERM);
		waitpid(E.pid, NULL, 0);
	}
	fetch_global_cleanup();
	remove_tree(E.root);
	free(E.root);
	free(E.www);
	free(E.log);
	return 0;
}

/* A fresh cache + fetcher per test. */
struct t {
	struct cache *cache;
	struct fetch_ctx *f;
	char *cachedir;
};

static void t_open(struct t *t, bool offline)
{
	struct error *err = NULL;
	t->cachedir = xasprintf("%s/cache-%d", E.root, E.ncache++);
	t->cache = cache_open(t->cachedir, &err);
	if (!t->cache)
		fail_msg("%s", err);
	struct fetch_opts o = {.offline = offline, .tries = 3, .backoff_ms = 20,
			       .progress = FETCH_PROGRESS_NONE, .connect_timeout_s = 5, .stall_timeout_s = 5};
	t->f = fetch_new(t->cache, &o);
}

/* A second fetcher on the same cache (e.g. an offline build). */
static struct fetch_ctx *t_fetcher(struct t *t, bool offline)
{
	struct fetch_opts o = {.offline = offline, .tries = 3, .backoff_ms = 20, .progress = FETCH_PROGRESS_NONE};
	return fetch_new(t->cache, &o);
}

static void t_close(struct t *t)
{
	fetch_free(t->f);
	cache_free(t->cache);
	free(t->cachedir);
}

static size_t tmp_entries(struct t *t)
{
	char *p = path_join(cache_root(t->cache), "tmp");
	size_t n = 0;
	DIR *d = opendir(p);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	free(p);
	return n;
}

static char *blob(size_t n, unsigned seed)
{
	char *b = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = (char)((i * 2654435761u + seed) >> 13);
	return b;
}

static void test_download_digest_and_304(void **state)
{
	(void)state;
	size_t n = 300000;
	char *b = blob(n, 1);
	serve("sets/base.tar.xz", b, n);
	char want256[65];
	sha256_hex(b, n, want256);
	struct t t;
	t_open(&t, false);
	char *u = url("/sets/base.tar.xz");
	struct fetch_req rq = {.url = u};
	struct fetch_result r;
	struct error *err = NULL;
	if (fetch_file(t.f, &rq, &r, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(r.status, FETCH_DOWNLOADED);
	assert_string_equal(r.sha256, want256);
	assert_int_equal(r.size, n);
	assert_string_equal(r.url, u);
	char *cached = cache_download_file(t.cache, u);
	assert_string_equal(r.path, cached);
	char *data;
	size_t len;
	assert_int_equal(read_file(r.path, 1 << 20, &data, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(data, b, n);
	free(data);
	fetch_result_clear(&r);
	assert_int_equal(requests("/sets/base.tar.xz", "200"), 1);

	/* unpinned and cached: conditional request, 304, cached file reused */
	if (fetch_file(t.f, &rq, &r, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(r.status, FETCH_REVALIDATED);
	assert_string_equal(r.sha256, want256);
	assert_int_equal(r.status, FETCH_REVALIDATED);
	fetch_result_clear(&r);
	assert_int_equal(requests("/sets/base.tar.xz", "304"), 1);
	assert_int_equal(requests("/sets/base.tar.xz", "200"), 1);

	/* the file changes upstream: downloaded again, new digest */
	sleep(1); /* Last-Modified has 1 s resolution */
	char *b2 = blob(n, 2);
	serve("sets/base.tar.xz", b2, n);
	char want2[65];
	sha256_hex(b2, n, want2);
	if (fetch_file(t.f, &rq, &r, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(r.status, FETCH_DOWNLOADED);
	assert_string_equal(r.sha256, want2);
	fetch_result_clear(&r);
	assert_int_equal(tmp_entries(&t), 0);

	free(b2);
	free(cached);
	free(u);
	free(b);
	t_close(&t);
}

static void test_pinned_cached_makes_no_request(void **state)
{
	(void)state;
	const char *body = "kernel bytes\n";
	serve("k/netbsd-SMOL", body, strlen(body));
	char pin[65];
	sha256_hex(body, strlen(body), pin);
	struct t t;
	t_open(&t, false);
	char *u = url("/k/netbsd-SMOL");
	char *spec = xasprintf("sha256:%s", pin);
	struct fetch_req rq = {.url = u, .digest = spec};
	struct fetch_result r;
	struct error *err = NULL;
	if (fetch_file(t.f, &rq, &r, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(r.status, FETCH_DOWNLOADED);
	fetch_result_clear(&r);
	assert_int_equal(requests("/k/netbsd-SMOL", NULL), 1);
	for (int i = 0; i < 3; i++) {
		if (fetch_file(t.f, &rq, &r, &err) < 0)
			fail_msg("%s", err);
		assert_int_equal(r.status, FETCH_CACHED);
		assert_string_equal(r.sha256, pin);
		fetch_result_clear(&r);
	}
	/* hold: prune cannot remove it while the result lives */
	struct fetch_req rqh = {.url = u, .digest = spec, .hold = true};
	if (fetch_file(t.f, &rqh, &r, &err) < 0)
		fail_msg("%s", err);
	assert_non_null(r.lock);
	struct cache_prune_opts all = {.all = true};
	struct cache_prune_result pr;
	assert_int_equal(cache_prune(t.cache, &all, &pr, NULL, &err), 0);
	assert_int_equal(pr.skipped_locked, 1);
	assert_true(path_exists(r.path));
	fetch_result_clear(&r);
	/* by sha512 too, and offline */
	char s512[129];
	struct digest *d = digest_new(DIGEST_SHA512);
	digest_update(d, body, strlen(body));
	digest_final_hex(d, s512);
	struct fetch_ctx *off = t_fetcher(&t, true);
	struct fetch_req rq2 = {.url = u, .digest = s512};
	if (fetch_file(off, &rq2, &r, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(r.status, FETCH_CACHED);
	assert_string_equal(r.sha512, s512);
	fetch_result_clear(&r);
	/* unpinned + offline + cached: used as is */
	struct fetch_req rq3 = {.url = u};
	if (fetch_file(off, &rq3, &r, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(r.status, FETCH_CACHED);
	fetch_result_clear(&r);
	assert_int_equal(requests("/k/netbsd-SMOL", NULL), 1);
	fetch_free(off);
	free(spec);
	free(u);
	t_close(&t);
}

static void test_digest_mismatch(void **state)
{
	(void)state;
	const char *body = "not what you pinned\n";
	serve("sets/etc.tar.xz", body, strlen(body));
	char actual[65];
	sha256_hex(body, strlen(body), actual);
	const char *wrong = "ec59d1198dad7de81771bfb93f50425241bc51331b4c50ba7a163ca4d6acd427";
	struct t t;
	t_open(&t, false);
	char *u = url("/sets/etc.tar.xz");
	struct fetch_req rq = {.url = u, .digest = wrong};
	struct fetch_result r;
	struct error *err = NULL;
	assert_int_equal(fetch_file(t.f, &rq, &r, &err), -1);
	char *want = xasprintf("fetch %s: sha256 mismatch: expected %s, got %s (download discarded)", u, wrong,
			       actual);
	assert_string_equal(error_msg(err), want);
	free(want);
	error_clear(&err);
	char *file = cache_download_file(t.cache, u);
	assert_false(path_exists(file));
	assert_int_equal(tmp_entries(&t), 0);
	assert_null(r.path);
	/* a malformed digest is an error naming the URL */
	err = NULL;
	struct fetch_req bad = {.url = u, .digest = "sha256:xyz"};
	assert_int_equal(fetch_file(t.f, &bad, &r, &err), -1);
	assert_true(str_startswith(error_msg(err), "fetch http://127.0.0.1:"));
	assert_non_null(strstr(error_msg(err), "bad digest 'sha256:xyz'"));
	error_clear(&err);
	free(file);
	free(u);
	t_close(&t);
}

static void test_404_one_line(void **state)
{
	(void)state;
	struct t t;
	t_open(&t, false);
	char *u = url("/pub/NetBSD/NetBSD-10.9/amd64/binary/sets/base.tar.xz");
	struct fetch_req rq = {.url = u, .hint = "check the NetBSD version and set name"};
	struct fetch_result r;
	struct error *err = NULL;
	assert_int_equal(fetch_file(t.f, &rq, &r, &err), -1);
	char *want = xasprintf("fetch %s: HTTP 404 Not Found — check the NetBSD version and set name", u);
	assert_string_equal(error_msg(err), want);
	assert_null(strchr(error_msg(err), '\n'));
	assert_int_equal(requests("/pub/NetBSD/NetBSD-10.9/amd64/binary/sets/base.tar.xz", "404"), 1);
	free(want);
	error_clear(&err);
	/* the /404/ fault prefix, default hint */
	err = NULL;
	char *u2 = url("/404/x");
	struct fetch_req rq2 = {.url = u2};
	assert_int_equal(fetch_file(t.f, &rq2, &r, &err), -1);
	want = xasprintf("fetch %s: HTTP 404 Not Found — check the URL", u2);
	assert_string_equal(error_msg(err), want);
	assert_int_equal(tmp_entries(&t), 0);
	free(want);
	error_clear(&err);
	free(u2);
	free(u);
	t_close(&t);
}

static void test_connection_refused(void **state)
{
	(void)state;
	/* a port nobody listens on: bind, read the port, close */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	int port = ntohs(a.sin_port);
	close(s);
	struct t t;
	t_open(&t, false);
	char *u = xasprintf("http://127.0.0.1:%d/base.tar.xz", port);
	struct fetch_req rq = {.url = u};
	struct fetch_result r;
	struct error *err = NULL;
	double t0 = now_monotonic();
	assert_int_equal(fetch_file(t.f, &rq, &r, &err), -1);
	(void)t0;
	char *want = xasprintf("fetch %s: connection refused by 127.0.0.1 port %d — is the server running? "
			       "(check the mirror: --mirror / SMOLC_MIRROR)",
			       u, port);
	assert_string_equal(error_msg(err), want);
	free(want);
	error_clear(&err);
	/* TLS to a plain HTTP server: one TLS line, not retried */
	char *tu = xasprintf("https://127.0.0.1:%d/base.tar.xz", E.port);
	struct fetch_req rq3 = {.url = tu};
	err = NULL;
	assert_int_equal(fetch_file(t.f, &rq3, &r, &err), -1);
	char *tw = xasprintf("fetch %s: TLS error: ", tu);
	assert_true(str_startswith(error_msg(err), tw));
	assert_non_null(strstr(error_msg(err), "— check the system clock, the CA certificates"));
	assert_null(strstr(error_msg(err), "attempts"));
	assert_null(strchr(error_msg(err), '\n'));
	free(tw);
	free(tu);
	error_clear(&err);
	free(u);
	t_close(&t);
}

static void test_retry_flaky(void **state)
{
	(void)state;
	const char *body = "eventually\n";
	serve("f/set.tgz", body, strlen(body));
	struct t t;
	t_open(&t, false);
	char *u = url("/flaky/2/f/set.tgz");
	struct fetch_req rq = {.url = u};
	struct fetch_result r;
	struct error *err = NULL;
	if (fetch_file(t.f, &rq, &r, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(r.status, FETCH_DOWNLOADED);
	assert_int_equal(r.size, strlen(body));
	fetch_result_clear(&r);
	assert_int_equal(requests("/flaky/2/f/set.tgz", "500"), 2);
	assert_int_equal(requests("/flaky/2/f/set.tgz", "200"), 1);

	/* more failures than tries: the last error, with the attempt count */
	char *u2 = url("/flaky/5/f/set.tgz");
	struct fetch_req rq2 = {.url = u2};
	assert_int_equal(fetch_file(t.f, &rq2, &r, &err), -1);
	char *want = xasprintf("fetch %s: HTTP 500 Internal Server Error (after 3 attempts)", u2);
	assert_string_equal(error_msg(err), want);
	assert_int_equal(requests("/flaky/5/f/set.tgz", "500"), 3);
	free(want);
	error_clear(&err);
	free(u2);
	free(u);
	t_close(&t);
}

static void test_reset_and_stall(void **state)
{
	(void)state;
	serve("r/x.tgz", "abcdef", 6);
	struct t t;
	t_open(&t, false);
	/* connection closed without a response: transient, retried */
	char *u = url("/reset/r/x.tgz");
	struct fetch_req rq = {.url = u};
	struct fetch_result r;
	struct error *err = NULL;
	assert_int_equal(fetch_file(t.f, &rq, &r, &err), -1);
	assert_non_null(strstr(error_msg(err), ": connection lost: "));
	assert_non_null(strstr(error_msg(err), "(after 3 attempts)"));
	assert_null(strchr(error_msg(err), '\n'));
	assert_int_equal(requests("/reset/r/x.tgz", NULL), 3);
	error_clear(&err);
	/* a server that stops sending: stall timeout */
	struct fetch_opts o = {.tries = 1, .stall_timeout_s = 1, .progress = FETCH_PROGRESS_NONE};
	struct fetch_ctx *f = fetch_new(t.cache, &o);
	char *u2 = url("/hang/r/x.tgz");
	struct fetch_req rq2 = {.url = u2};
	double t0 = now_monotonic();
	assert_int_equal(fetch_file(f, &rq2, &r, &err), -1);
	assert_true(now_monotonic() - t0 < 120); /* a sanity bound: the stall limit works at all */
	char *want = xasprintf("fetch %s: slower than 1024 bytes/s for 1 s (got 0 bytes) — the server stalls", u2);
	if (!str_startswith(error_msg(err), want))
		fail_msg("got: %s", err);
	assert_non_null(strstr(error_msg(err), "SMOLC_DOWNLOAD_MIN_SPEED=<bytes/s>"));
	assert_int_equal(tmp_entries(&t), 0);
	free(want);
	error_clear(&err);
	fetch_free(f);
	free(u2);
	free(u);
	t_close(&t);
}

static void test_truncated_transfer(void **state)
{
	(void)state;
	size_t n = 100000;
	char *b = blob(n, 3);
	serve("t/comp.tar.xz", b, n);
	struct t t;
	t_open(&t, false);
	char *u = url("/truncate/t/comp.tar.xz");
	struct fetch_req rq = {.url = u};
	struct fetch_result r;
	struct error *err = NULL;
	assert_int_equal(fetch_file(t.f, &rq, &r, &err), -1);
	assert_true(str_startswith(error_msg(err), "fetch "));
	assert_non_null(strstr(error_msg(err), ": transfer truncated: got 50000 of 101000 bytes (after 3 attempts)"));
	assert_int_equal(requests("/truncate/t/comp.tar.xz", NULL), 3);
	char *file = cache_download_file(t.cache, u);
	assert_false(path_exists(file));
	assert_int_equal(tmp_entries(&t), 0);
	free(file);
	error_clear(&err);
	free(u);
	free(b);
	t_close(&t);
}

static void test_offline_missing(void **state)
{
	(void)state;
	serve("o/base.tar.xz", "x", 1);
	struct t t;
	t_open(&t, true);
	char *u = url("/o/base.tar.xz");
	struct fetch_req rq = {.url = u};
	struct fetch_result r;
	struct error *err = NULL;
	assert_int_equal(fetch_file(t.f, &rq, &r, &err), -1);
	char *want = xasprintf("fetch %s: not in the cache and --offline is set", u);
	assert_true(str_startswith(error_msg(err), want));
	assert_int_equal(requests("/o/base.tar.xz", NULL), 0);
	free(want);
	error_clear(&err);
	/* pinned, cached with another digest, offline: says both */
	struct fetch_ctx *on = t_fetcher(&t, false);
	if (fetch_file(on, &rq, &r, &err) < 0)
		fail_msg("%s", err);
	fetch_result_clear(&r);
	fetch_free(on);
	const char *other = "sha256:ec59d1198dad7de81771bfb93f50425241bc51331b4c50ba7a163ca4d6acd427";
	struct fetch_req rq2 = {.url = u, .digest = other};
	err = NULL;
	assert_int_equal(fetch_file(t.f, &rq2, &r, &err), -1);
	assert_non_null(strstr(error_msg(err), "expected ec59d119"));
	assert_non_null(strstr(error_msg(err), "--offline is set"));
	error_clear(&err);
	/* local paths work offline */
	char *local = path_join(E.www, "o/base.tar.xz");
	struct fetch_req rq3 = {.url = local};
	if (fetch_file(t.f, &rq3, &r, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(r.status, FETCH_LOCAL);
	fetch_result_clear(&r);
	free(local);
	free(u);
	t_close(&t);
}

static void test_file_url_and_local_path(void **state)
{
	(void)state;
	const char *body = "local set\n";
	serve("dir with space/rescue.tar.xz", body, strlen(body));
	char want[65];
	sha256_hex(body, strlen(body), want);
	struct t t;
	t_open(&t, false);
	char *fu = xasprintf("file://%s/dir%%20with%%20space/rescue.tar.xz", E.www);
	struct fetch_req rq = {.url = fu, .digest = want};
	struct fetch_result r;
	struct error *err = NULL;
	if (fetch_file(t.f, &rq, &r, &err) < 0)
		fail_msg("%s", err);
	assert_int_equal(r.status, FETCH_LOCAL);
	char *path = xasprintf("%s/dir with space/rescue.tar.xz", E.www);
	assert_string_equal(r.path, path);
	assert_string_equal(r.sha256, want);
	fetch_result_clear(&r);
	/* relative path against base_dir */
	struct fetch_req rq2 = {.url = "dir with space/rescue.tar.xz", .base_dir = E.www};
	if (fetch_file(t.f, &rq2, &r, &err) < 0)
		fail_msg("%s", err);
	assert_string_equal(r.path, path);
	assert_int_equal(r.status, FETCH_LOCAL);
	fetch_result_clear(&r);
	/* missing local file names the path */
	struct fetch_req rq3 = {.url = "nope/base.tar.xz", .base_dir = E.www};
	assert_int_equal(fetch_file(t.f, &rq3, &r, &err), -1);
	assert_true(str_startswith(error_msg(err), "fetch nope/base.tar.xz: No such file or directory ("));
	error_clear(&err);
	/* local digest mismatch */
	struct fetch_req rq4 = {.url = path, .digest = "sha256:ec59d1198dad7de81771bfb93f50425241bc51331b4c50ba7a163ca4d6acd427"};
	assert_int_equal(fetch_file(t.f, &rq4, &r, &err), -1);
	assert_non_null(strstr(error_msg(err), "sha256 mismatch: expected ec59d119"));
	assert_non_null(strstr(error_msg(err), want));
	error_clear(&err);
	struct fetch_req rq5 = {.url = "ftp://example.invalid/x"};
	assert_int_equal(fetch_file(t.f, &rq5, &r, &err), -1);
	assert_non_null(strstr(error_msg(err), "unsupported URL scheme"));
	error_clear(&err);
	assert_true(fetch_is_url(fu));
	assert_false(fetch_is_remote(fu));
	assert_false(fetch_is_url(path));
	free(path);
	free(fu);
	t_close(&t);
}

static void test_fetch_text_and_progress(void **state)
{
	(void)state;
	const char *sums = "SHA512 (base.tar.xz) = abcd\n";
	serve("sets/SHA512", sums, strlen(sums));
	struct t t;
	t_open(&t, false);
	char *u = url("/sets/SHA512");
	/* a text list as planning reads it (inputs.h): asked for, resolved,
	 * then read */
	struct inputs *in = inputs_new(t.cache, true);
	struct input_req rq = {.url = u};
	struct error *err = NULL;
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(inputs_text(in, &rq, 0, &text, &len, &err), INPUT_MISSING);
	assert_int_equal(inputs_resolve(in, t.f), 1);
	if (inputs_text(in, &rq, 0, &text, &len, &err) != INPUT_OK)
		fail_msg("%s", err);
	assert_string_equal(text, sums);
	assert_int_equal(len, strlen(sums));
	free(text);
	/* too big for the limit */
	assert_int_equal(inputs_text(in, &rq, 4, &text, &len, &err), INPUT_FAILED);
	assert_non_null(strstr(error_msg(err), "too large"));
	error_clear(&err);
	inputs_free(in);

	/* plain progress lines when not a terminal */
	size_t n = 8192;
	char *b = blob(n, 4);
	serve("p/slow.bin", b, n);
	char *buf = NULL;
	size_t blen = 0;
	FILE *log = open_memstream(&buf, &blen);
	struct fetch_opts o = {.progress = FETCH_PROGRESS_AUTO, .log = log, .backoff_ms = 10};
	struct fetch_ctx *f = fetch_new(t.cache, &o);
	char *su = url("/slow/p/slow.bin");
	struct fetch_req rq2 = {.url = su};
	struct fetch_result r;
	err = NULL;
	if (fetch_file(f, &rq2, &r, &err) < 0)
		fail_msg("%s", err);
	fetch_result_clear(&r);
	fetch_free(f);
	fclose(log);
	assert_non_null(strstr(buf, "slow.bin: 8.0 KiB"));
	assert_null(strchr(buf, '\r'));
	free(buf);

	/* the terminal bar: redrawn with \r, erased at the end */
	buf = NULL;
	log = open_memstream(&buf, &blen);
	struct fetch_opts ob = {.progress = FETCH_PROGRESS_BAR, .log = log};
	f = fetch_new(t.cache, &ob);
	char *su2 = url("/slow/p/slow.bin?bar");
	struct fetch_req rq3 = {.url = su2};
	if (fetch_file(f, &rq3, &r, &err) < 0)
		fail_msg("%s", err);
	fetch_result_clear(&r);
	fetch_free(f);
	fclose(log);
	assert_non_null(strchr(buf, '\r'));
	assert_non_null(strstr(buf, "100%"));
	assert_non_null(strstr(buf, "ETA"));
	assert_null(strchr(buf, '\n'));
	free(buf);
	free(su2);
	free(su);
	free(b);
	free(u);
	t_close(&t);
}

static void test_concurrent_fetch_same_url(void **state)
{
	(void)state;
	size_t n = 16384;
	char *b = blob(n, 5);
	serve("c/big.tar.xz", b, n);
	char pin[65];
	sha256_hex(b, n, pin);
	struct t t;
	t_open(&t, false);
	char *u = url("/slow/c/big.tar.xz");
	enum { N = 3 };
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			struct error *err = NULL;
			struct cache *c = cache_open(t.cachedir, &err);
			struct fetch_opts o = {.progress = FETCH_PROGRESS_NONE};
			struct fetch_ctx *f = fetch_new(c, &o);
			struct fetch_req rq = {.url = u, .digest = pin};
			struct fetch_result r;
			int rc = fetch_file(f, &rq, &r, &err);
			_exit(rc == 0 && !strcmp(r.sha256, pin) ? 0 : 1);
		}
	}
	for (int i = 0; i < N; i++) {
		int st;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	/* one download; the others waited for the lock and used it */
	assert_int_equal(requests("/slow/c/big.tar.xz", NULL), 1);
	assert_int_equal(tmp_entries(&t), 0);
	free(u);
	free(b);
	t_close(&t);
}

/* A full disk while downloading: one line, not retried, nothing kept.
 * Simulated with RLIMIT_FSIZE in a child (write(2) then fails with EFBIG). */
static void test_disk_full(void **state)
{
	(void)state;
	size_t n = 200000;
	char *b = blob(n, 7);
	serve("full/base.tar.xz", b, n);
	struct t t;
	t_open(&t, false);
	char *u = url("/full/base.tar.xz");
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		close(p[0]);
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl = {50000, 50000};
		setrlimit(RLIMIT_FSIZE, &rl);
		struct fetch_opts o = {.progress = FETCH_PROGRESS_NONE, .backoff_ms = 10};
		struct fetch_ctx *f = fetch_new(t.cache, &o);
		struct fetch_req rq = {.url = u};
		struct fetch_result r;
		struct error *err = NULL;
		int rc = fetch_file(f, &rq, &r, &err);
		if (rc < 0 && err && write(p[1], error_msg(err), strlen(error_msg(err))) < 0)
			_exit(2);
		_exit(rc < 0 ? 0 : 1);
	}
	close(p[1]);
	char buf[1024] = "";
	ssize_t got = 0, r;
	while ((r = read(p[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += r;
	buf[got > 0 ? got : 0] = 0;
	close(p[0]);
	int st;
	assert_int_equal(waitpid(kid, &st, 0), kid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	char *want = xasprintf("fetch %s: cannot write into the cache: File too large", u);
	assert_string_equal(buf, want);
	assert_int_equal(requests("/full/base.tar.xz", NULL), 1);
	char *file = cache_download_file(t.cache, u);
	assert_false(path_exists(file));
	assert_int_equal(tmp_entries(&t), 0);
	free(file);
	free(want);
	free(u);
	free(b);
	t_close(&t);
}

/* Plan `text` (a recipe at <dir>/Smolfile) the way a build does: rounds
 * of plan_make over `in`, resolving through f (NULL: look only) until a
 * round asks for nothing new. Returns plan_make's result; *p and the
 * diagnostics in d are the last round's. */
static int plan_rounds(struct diag_ctx *d, const char *dir, const char *text, struct catalog *c, const char *mirror,
		       struct cache *cache, struct inputs *in, struct fetch_ctx *f, struct recipe **r, struct plan **p)
{
	char *name = path_join(dir, "Smolfile");
	*r = recipe_load_buffer(d, name, text, strlen(text), NULL);
	free(name);
	if (d->errors) {
		diag_print(d, stderr);
		fail_msg("recipe errors");
	}
	struct plan_env env = {.catalog = c, .inputs = in, .cache = cache, .mirror = mirror};
	for (int round = 0;; round++) {
		assert_true(round < 8);
		struct diag_mark m = diag_mark(d);
		int rc = plan_make(d, *r, &env, p);
		if (!f || inputs_resolve(in, f) == 0)
			return rc;
		diag_rollback(d, m);
		plan_free(*p);
	}
}

static const struct plan_input *set_input(const struct plan *p, const char *title)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->v[i].title, title))
			return &p->v[i].in[0];
	fail_msg("no step %s in the plan", title);
	return NULL;
}

/* The whole path a build takes for a set, through the shipped planner
 * (plan.c) and resolver (inputs.c): catalog target on a 127.0.0.1 mirror,
 * SHA512 list, set name -> file name + digest, pinned fetch; an unknown
 * set; the same offline with no request; a local sets/<arch>/ file first;
 * `smolc plan` on an empty cache (nothing fetched, the set pending). */
static void test_catalog_set_end_to_end(void **state)
{
	(void)state;
	size_t n = 5000;
	char *b = blob(n, 6);
	serve("m/pub/NetBSD/NetBSD-9.4/i386/binary/sets/base.tgz", b, n);
	char s512[129];
	struct digest *d = digest_new(DIGEST_SHA512);
	digest_update(d, b, n);
	digest_final_hex(d, s512);
	char *list = xasprintf("SHA512 (base.tgz) = %s\nSHA512 (etc.tgz) = %s\n", s512, s512);
	serve("m/pub/NetBSD/NetBSD-9.4/i386/binary/sets/SHA512", list, strlen(list));

	struct error *err = NULL;
	struct catalog *c = catalog_load("sets/catalog.yaml", &err);
	if (!c)
		fail_msg("%s", err);
	char *mirror = url("/m");
	char *ctx = path_join(E.root, "ctx");
	assert_int_equal(mkdir_p(ctx, 0755), 0);
	char *kern = path_join(ctx, "k");
	assert_int_equal(write_file_atomic(kern, "kernel", 6, 0644), 0);
	static const char recipe[] = "FROM netbsd-9.4\nARCH i386\nKERNEL ./k\nSETS base\nSERVICE s\n";
	struct t t;
	t_open(&t, false);
	struct inputs *in = inputs_new(t.cache, true);
	struct diag_ctx dc;
	diag_init(&dc);
	struct recipe *r;
	struct plan *p;
	if (plan_rounds(&dc, ctx, recipe, c, mirror, t.cache, in, t.f, &r, &p) < 0) {
		diag_print(&dc, stderr);
		fail_msg("plan failed");
	}
	const struct plan_input *si = set_input(p, "SETS base");
	char *want_url = xasprintf("%s/pub/NetBSD/NetBSD-9.4/i386/binary/sets/base.tgz", mirror);
	assert_string_equal(si->source, want_url);
	char *want_digest = xasprintf("sha512:%s", s512);
	assert_string_equal(si->digest, want_digest);
	assert_non_null(si->path);
	char *data;
	size_t len;
	assert_int_equal(read_file(si->path, 1 << 20, &data, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(data, b, n);
	free(data);
	assert_true(p->image_key[0] != 0);
	plan_free(p);
	recipe_free(r);
	diag_fini(&dc);
	inputs_free(in);

	/* a set the list does not have: the list's sets are named, at the set */
	in = inputs_new(t.cache, true);
	diag_init(&dc);
	assert_int_equal(plan_rounds(&dc, ctx, "FROM netbsd-9.4\nARCH i386\nKERNEL ./k\nSETS comp\nSERVICE s\n", c, mirror,
				     t.cache, in, t.f, &r, &p), -1);
	assert_int_equal(dc.errors, 1);
	char *want_err = xasprintf("set 'comp' is not in %s/pub/NetBSD/NetBSD-9.4/i386/binary/sets/SHA512 (sets: base etc)", mirror);
	assert_string_equal(dc.v[0].msg, want_err);
	free(want_err);
	plan_free(p);
	recipe_free(r);
	diag_fini(&dc);
	inputs_free(in);

	/* offline, second build: no request at all */
	char *sha_path = xasprintf("/m/pub/NetBSD/NetBSD-9.4/i386/binary/sets/SHA512");
	char *set_path = xasprintf("/m/pub/NetBSD/NetBSD-9.4/i386/binary/sets/base.tgz");
	int before = requests(sha_path, NULL) + requests(set_path, NULL);
	struct fetch_ctx *off = t_fetcher(&t, true);
	in = inputs_new(t.cache, true);
	diag_init(&dc);
	assert_int_equal(plan_rounds(&dc, ctx, recipe, c, mirror, t.cache, in, off, &r, &p), 0);
	si = set_input(p, "SETS base");
	assert_string_equal(si->digest, want_digest);
	assert_non_null(si->path);
	assert_int_equal(requests(sha_path, NULL) + requests(set_path, NULL), before);
	plan_free(p);
	recipe_free(r);
	diag_fini(&dc);
	inputs_free(in);

	/* a local sets/<arch>/ file is used first, read in place */
	char *sdir = path_join(ctx, "sets/i386");
	assert_int_equal(mkdir_p(sdir, 0755), 0);
	char *lf = path_join(sdir, "base.tgz");
	assert_int_equal(write_file_atomic(lf, "local", 5, 0644), 0);
	in = inputs_new(t.cache, true);
	diag_init(&dc);
	assert_int_equal(plan_rounds(&dc, ctx, recipe, c, mirror, t.cache, in, off, &r, &p), 0);
	si = set_input(p, "SETS base");
	assert_string_equal(si->path, lf);
	assert_true(str_startswith(si->digest, "sha256:"));
	plan_free(p);
	recipe_free(r);
	diag_fini(&dc);
	inputs_free(in);
	assert_int_equal(unlink(lf), 0);

	/* smolc plan on an empty cache: no fetcher, nothing requested, the set
	 * pending under the catalog's extension */
	struct t empty;
	t_open(&empty, true);
	before = requests(sha_path, NULL) + requests(set_path, NULL);
	in = inputs_new(empty.cache, false);
	diag_init(&dc);
	assert_int_equal(plan_rounds(&dc, ctx, "FROM netbsd-9.4\nARCH i386\nKERNEL ./k\nSETS etc\nSERVICE s\n", c, mirror,
				     empty.cache, in, NULL, &r, &p), 0);
	si = set_input(p, "SETS etc");
	assert_true(str_endswith(si->source, "/sets/etc.tgz"));
	assert_null(si->digest);
	assert_int_equal(p->image_key[0], 0);
	assert_int_equal(requests(sha_path, NULL) + requests(set_path, NULL), before);
	plan_free(p);
	recipe_free(r);
	diag_fini(&dc);
	inputs_free(in);
	t_close(&empty);

	fetch_free(off);
	free(lf);
	free(sdir);
	free(kern);
	free(ctx);
	free(sha_path);
	free(set_path);
	free(want_digest);
	free(want_url);
	t_close(&t);
	catalog_free(c);
	free(mirror);
	free(list);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_download_digest_and_304),
		cmocka_unit_test(test_pinned_cached_makes_no_request),
		cmocka_unit_test(test_digest_mismatch),
		cmocka_unit_test(test_404_one_line),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_retry_flaky),
		cmocka_unit_test(test_reset_and_stall),
		cmocka_unit_test(test_truncated_transfer),
		cmocka_unit_test(test_offline_missing),
		cmocka_unit_test(test_file_url_and_local_path),
		cmocka_unit_test(test_fetch_text_and_progress),
		cmocka_unit_test(test_concurrent_fetch_same_url),
		cmocka_unit_test(test_disk_full),
		cmocka_unit_test(test_catalog_set_end_to_end),
	};
	return cmocka_run_group_tests(tests, setup_server, teardown_server);
}
