/* test_cache.c — cache directory choice, temp + commit (also concurrent),
 * locks, stale temp cleanup, ls/du, prune. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "util.h"

static char *scratch(void)
{
	char tmpl[] = "/tmp/smolc-cache-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static struct cache *open_cache(const char *root)
{
	struct error *err = NULL;
	char *dir = path_join(root, "cache");
	struct cache *c = cache_open(dir, &err);
	if (!c)
		fail_msg("%s", err);
	free(dir);
	return c;
}

static size_t count_dir(const char *path)
{
	size_t n = 0;
	DIR *d = opendir(path);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void put(const char *dir, const char *name, const char *content)
{
	char *p = path_join(dir, name);
	assert_int_equal(write_file_atomic(p, content, strlen(content), 0644), 0);
	free(p);
}

static char *slurp(const char *dir, const char *name)
{
	char *p = path_join(dir, name), *data = NULL;
	size_t len;
	if (read_file(p, 1 << 20, &data, &len) < 0)
		data = NULL;
	free(p);
	return data;
}

static void test_default_dir(void **state)
{
	(void)state;
	struct error *err = NULL;
	char *home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	setenv("SMOLC_CACHE", "/x/smolc-cache", 1);
	setenv("XDG_CACHE_HOME", "/x/xdg", 1);
	setenv("HOME", "/x/home", 1);
	char *d = cache_default_dir("/x/opt", &err);
	assert_string_equal(d, "/x/opt");
	free(d);
	d = cache_default_dir(NULL, &err);
	assert_string_equal(d, "/x/smolc-cache");
	free(d);
	unsetenv("SMOLC_CACHE");
	d = cache_default_dir("", &err);
	assert_string_equal(d, "/x/xdg/smolc");
	free(d);
	unsetenv("XDG_CACHE_HOME");
	d = cache_default_dir(NULL, &err);
	assert_string_equal(d, "/x/home/.cache/smolc");
	free(d);
	unsetenv("HOME");
	assert_null(cache_default_dir(NULL, &err));
	assert_non_null(strstr(error_msg(err), "--cache-dir"));
	error_clear(&err);
	if (home)
		setenv("HOME", home, 1);
	free(home);
}

static void test_layout_and_paths(void **state)
{
	(void)state;
	char *root = scratch();
	struct cache *c = open_cache(root);
	const char *sub[] = {"downloads", "layers", "tmp", "locks"};
	for (size_t i = 0; i < 4; i++) {
		char *p = path_join(cache_root(c), sub[i]);
		struct stat st;
		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		free(p);
	}
	char key[65];
	cache_url_key("http://x/base.tar.xz", key);
	char *f = cache_download_file(c, "http://x/base.tar.xz");
	char *want = xasprintf("%s/downloads/%s/file", cache_root(c), key);
	assert_string_equal(f, want);
	free(f);
	free(want);
	struct error *err = NULL;
	assert_null(cache_layer_path(c, "../evil", &err));
	assert_non_null(strstr(error_msg(err), "invalid cache key '../evil'"));
	error_clear(&err);
	assert_false(cache_key_valid(".hidden"));
	assert_false(cache_key_valid("a/b"));
	assert_true(cache_key_valid("sha256-0123abcd.v1"));
	cache_free(c);
	remove_tree(root);
	free(root);
}

static void test_temp_and_commit(void **state)
{
	(void)state;
	char *root = scratch();
	struct cache *c = open_cache(root);
	struct error *err = NULL;
	char *t1, *t2, *final = NULL;
	assert_int_equal(cache_mktemp_dir(c, "layer", &t1, &err), 0);
	assert_true(str_startswith(t1, cache_root(c)));
	put(t1, "content", "first");
	put(t1, "desc", "FROM netbsd-10.1 base etc\n");
	assert_false(cache_layer_exists(c, "k1"));
	assert_int_equal(cache_commit_layer(c, t1, "k1", &final, &err), 1);
	assert_true(cache_layer_exists(c, "k1"));
	assert_false(path_exists(t1));
	char *s = slurp(final, "content");
	assert_string_equal(s, "first");
	free(s);

	/* a second build commits the same key: theirs (first) is kept */
	assert_int_equal(cache_mktemp_dir(c, "layer", &t2, &err), 0);
	put(t2, "content", "second");
	char *final2 = NULL;
	assert_int_equal(cache_commit_layer(c, t2, "k1", &final2, &err), 0);
	assert_string_equal(final, final2);
	s = slurp(final, "content");
	assert_string_equal(s, "first");
	free(s);
	assert_false(path_exists(t2));

	/* temp file */
	char *tf;
	int fd;
	assert_int_equal(cache_mktemp_file(c, "fetch", &tf, &fd, &err), 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	assert_true(path_exists(tf));
	unlink(tf);

	char *tmpdir = path_join(cache_root(c), "tmp");
	assert_int_equal(count_dir(tmpdir), 0);
	free(tmpdir);
	free(tf);
	free(t1);
	free(t2);
	free(final);
	free(final2);
	cache_free(c);
	remove_tree(root);
	free(root);
}

static void test_concurrent_commit(void **state)
{
	(void)state;
	char *root = scratch();
	struct cache *c = open_cache(root);
	enum { N = 6 };
	pid_t kids[N];
	int pipes[N][2];
	for (int i = 0; i < N; i++) {
		assert_int_equal(pipe(pipes[i]), 0);
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			struct error *err = NULL;
			char *t;
			struct cache *cc = open_cache(root);
			if (cache_mktemp_dir(cc, "layer", &t, &err) < 0)
				_exit(3);
			char buf[32];
			snprintf(buf, sizeof(buf), "%d", i);
			put(t, "who", buf);
			usleep(1000 * (unsigned)(N - i));
			int r = cache_commit_layer(cc, t, "shared-key", NULL, &err);
			char out = (char)('0' + (r < 0 ? 9 : r));
			if (write(pipes[i][1], &out, 1) != 1)
				_exit(4);
			_exit(0);
		}
		close(pipes[i][1]);
	}
	int won = 0, lost = 0;
	for (int i = 0; i < N; i++) {
		int st;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		char r = 0;
		assert_int_equal(read(pipes[i][0], &r, 1), 1);
		close(pipes[i][0]);
		if (r == '1')
			won++;
		else if (r == '0')
			lost++;
	}
	assert_int_equal(won, 1);
	assert_int_equal(lost, N - 1);
	struct error *err = NULL;
	char *lp = cache_layer_path(c, "shared-key", &err);
	char *who = slurp(lp, "who");
	assert_non_null(who);
	free(who);
	char *tmpdir = path_join(cache_root(c), "tmp");
	assert_int_equal(count_dir(tmpdir), 0);
	free(tmpdir);
	free(lp);
	cache_free(c);
	remove_tree(root);
	free(root);
}

static void test_locks(void **state)
{
	(void)state;
	char *root = scratch();
	struct cache *c = open_cache(root);
	struct error *err = NULL;
	struct cache_lock *a = NULL, *b = NULL;
	assert_int_equal(cache_lock(c, "layer", "k", CACHE_LOCK_EXCLUSIVE, true, &a, &err), 0);
	assert_non_null(a);
	assert_int_equal(cache_lock(c, "layer", "k", CACHE_LOCK_EXCLUSIVE, false, &b, &err), 1);
	assert_null(b);
	assert_int_equal(cache_lock(c, "layer", "k", CACHE_LOCK_SHARED, false, &b, &err), 1);
	cache_unlock(a);
	assert_int_equal(cache_lock(c, "layer", "k", CACHE_LOCK_SHARED, false, &a, &err), 0);
	assert_int_equal(cache_lock(c, "layer", "k", CACHE_LOCK_SHARED, false, &b, &err), 0);
	cache_unlock(a);
	cache_unlock(b);
	cache_unlock(NULL);
	assert_int_equal(cache_lock(c, "layer", "../x", CACHE_LOCK_SHARED, false, &a, &err), -1);
	error_clear(&err);
	cache_free(c);
	remove_tree(root);
	free(root);
}

static void test_clean_stale_tmp(void **state)
{
	(void)state;
	char *root = scratch();
	struct cache *c = open_cache(root);
	char *tmpdir = path_join(cache_root(c), "tmp");
	/* a dead owner: pid from a child that has exited */
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);
	char *mine;
	struct error *err = NULL;
	assert_int_equal(cache_mktemp_dir(c, "layer", &mine, &err), 0);
	/* same owner tag as ours, dead pid */
	const char *at = strchr(path_basename(mine), '@');
	assert_non_null(at);
	char *dead = xasprintf("%s/layer.%ld%.9s.abcdef", tmpdir, (long)p, at);
	assert_int_equal(mkdir_p(dead, 0755), 0);
	put(dead, "partial", "x");
	/* another host or pid namespace: pid means nothing here, kept */
	char *foreign = xasprintf("%s/layer.%ld@00000000.abcdef", tmpdir, (long)p);
	assert_int_equal(mkdir_p(foreign, 0755), 0);
	char *old;
	assert_int_equal(cache_mktemp_dir(c, "old", &old, &err), 0);
	struct timespec ts[2] = {{time(NULL) - 48 * 3600, 0}, {time(NULL) - 48 * 3600, 0}};
	assert_int_equal(utimensat(AT_FDCWD, old, ts, 0), 0);

	assert_int_equal(cache_clean_tmp(c, 0, &err), 1);
	assert_false(path_exists(dead));
	assert_true(path_exists(foreign));
	assert_true(path_exists(mine));
	assert_true(path_exists(old));
	assert_int_equal(cache_clean_tmp(c, 24, &err), 1);
	assert_false(path_exists(old));
	assert_true(path_exists(mine));
	free(dead);
	free(foreign);
	free(mine);
	free(old);
	free(tmpdir);
	cache_free(c);
	remove_tree(root);
	free(root);
}

/* Make a layer of `kb` KiB, last used `days_ago` days ago. */
static void make_layer(struct cache *c, const char *key, size_t kb, int days_ago, const char *desc)
{
	struct error *err = NULL;
	char *t;
	assert_int_equal(cache_mktemp_dir(c, "layer", &t, &err), 0);
	char *buf = xcalloc(kb ? kb : 1, 1024);
	memset(buf, 'a', kb * 1024);
	char *p = path_join(t, "data");
	assert_int_equal(write_file_atomic(p, buf, kb * 1024, 0644), 0);
	free(p);
	free(buf);
	if (desc)
		put(t, "desc", desc);
	char *final = NULL;
	assert_int_equal(cache_commit_layer(c, t, key, &final, &err), 1);
	char *lu = path_join(final, "last-used");
	time_t when = time(NULL) - (time_t)days_ago * 86400;
	struct timespec ts[2] = {{when, 0}, {when, 0}};
	assert_int_equal(utimensat(AT_FDCWD, lu, ts, 0), 0);
	free(lu);
	free(final);
	free(t);
}

static void test_ls_du(void **state)
{
	(void)state;
	char *root = scratch();
	struct cache *c = open_cache(root);
	make_layer(c, "layer-one", 8, 0, "FROM netbsd-10.1: base etc\nsecond line\n");
	char *dl = cache_download_dir(c, "http://127.0.0.1/base.tar.xz");
	assert_int_equal(mkdir_p(dl, 0755), 0);
	put(dl, "file", "data");
	put(dl, "meta", "url http://127.0.0.1/base.tar.xz\nsha256 00\n");
	struct error *err = NULL;
	struct cache_list l;
	assert_int_equal(cache_list(c, &l, &err), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].kind, CACHE_KIND_DOWNLOAD);
	assert_string_equal(l.v[0].desc, "http://127.0.0.1/base.tar.xz");
	assert_int_equal(l.v[1].kind, CACHE_KIND_LAYER);
	assert_string_equal(l.v[1].key, "layer-one");
	assert_string_equal(l.v[1].desc, "FROM netbsd-10.1: base etc");
	assert_true(l.v[1].size >= 8 * 1024);
	cache_list_free(&l);

	FILE *f;
	size_t len;
	char *buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(cache_print_ls(c, f, &err), 0);
	fclose(f);
	assert_non_null(strstr(buf, "KIND"));
	assert_non_null(strstr(buf, "layer     layer-one"));
	assert_non_null(strstr(buf, "FROM netbsd-10.1: base etc"));
	assert_non_null(strstr(buf, "download"));
	assert_non_null(strstr(buf, "http://127.0.0.1/base.tar.xz"));
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(cache_print_du(c, f, &err), 0);
	fclose(f);
	assert_non_null(strstr(buf, "downloads      1 entry"));
	assert_non_null(strstr(buf, "layers         1 entry"));
	assert_non_null(strstr(buf, "total          2 entries"));
	free(buf);
	free(dl);
	cache_free(c);
	remove_tree(root);
	free(root);
}

static void test_prune(void **state)
{
	(void)state;
	char *root = scratch();
	struct cache *c = open_cache(root);
	struct error *err = NULL;
	make_layer(c, "old1", 100, 30, NULL);
	make_layer(c, "old2", 100, 20, NULL);
	make_layer(c, "new1", 100, 1, NULL);
	make_layer(c, "new2", 100, 0, NULL);

	/* older than 10 days: old1, old2; but old2 is locked by a running build */
	struct cache_lock *lk = NULL;
	assert_int_equal(cache_lock(c, "layer", "old2", CACHE_LOCK_SHARED, false, &lk, &err), 0);
	struct cache_prune_opts o = {.older_than_days = 10};
	struct cache_prune_result r;
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(cache_prune(c, &o, &r, f, &err), 0);
	fclose(f);
	assert_int_equal(r.removed, 1);
	assert_int_equal(r.skipped_locked, 1);
	assert_false(cache_layer_exists(c, "old1"));
	assert_non_null(strstr(buf, "removed layer old1"));
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	cache_print_prune(&r, false, f);
	fclose(f);
	assert_non_null(strstr(buf, "pruned 1 entry"));
	assert_non_null(strstr(buf, "1 locked entry kept"));
	free(buf);
	cache_unlock(lk);

	/* down to a size: least recently used go first (old2 then new1) */
	struct cache_prune_opts o2 = {.older_than_days = -1, .max_bytes = 150 * 1024};
	assert_int_equal(cache_prune(c, &o2, &r, NULL, &err), 0);
	assert_int_equal(r.removed, 2);
	assert_true(r.remaining_bytes <= 150 * 1024);
	assert_false(path_exists(cache_root(c)) && cache_layer_exists(c, "old2"));
	assert_false(cache_layer_exists(c, "new1"));
	assert_true(cache_layer_exists(c, "new2"));

	/* a zeroed policy removes nothing */
	struct cache_prune_opts o0 = {0};
	assert_int_equal(cache_prune(c, &o0, &r, NULL, &err), 0);
	assert_int_equal(r.removed, 0);
	assert_true(cache_layer_exists(c, "new2"));

	/* dry run removes nothing */
	struct cache_prune_opts o3 = {.all = true, .older_than_days = -1, .dry_run = true};
	assert_int_equal(cache_prune(c, &o3, &r, NULL, &err), 0);
	assert_int_equal(r.removed, 1);
	assert_true(cache_layer_exists(c, "new2"));

	/* everything */
	struct cache_prune_opts o4 = {.all = true, .older_than_days = -1};
	assert_int_equal(cache_prune(c, &o4, &r, NULL, &err), 0);
	assert_int_equal(r.removed, 1);
	assert_false(cache_layer_exists(c, "new2"));
	char *layers = path_join(cache_root(c), "layers"), *tmp = path_join(cache_root(c), "tmp");
	assert_int_equal(count_dir(layers), 0);
	assert_int_equal(count_dir(tmp), 0);
	free(layers);
	free(tmp);
	cache_free(c);
	remove_tree(root);
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_dir),
		cmocka_unit_test(test_layout_and_paths),
		cmocka_unit_test(test_temp_and_commit),
		cmocka_unit_test(test_concurrent_commit),
		cmocka_unit_test(test_locks),
		cmocka_unit_test(test_clean_stale_tmp),
		cmocka_unit_test(test_ls_du),
		cmocka_unit_test(test_prune),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
