/* test_store.c — the image store (store.h): one disk with two run configs
 * makes two entries (neither tag loses its run config); moving a tag
 * deletes the image nobody names any more, and rmi the last one; an
 * image with two tags survives the move of one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

static char *root;

static int setup(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/smolc-store-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	root = xstrdup(tmpl);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	remove_tree(root);
	free(root);
	return 0;
}

static char *file(const char *name, const char *text)
{
	char *p = path_join(root, name);
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
	return p;
}

static void put(struct store *s, const char *key, const char *disk, const char *kern, const char *rc, char id[65])
{
	struct store_put sp;
	memset(&sp, 0, sizeof(sp));
	sp.id = key;
	sp.key = key;
	sp.service = "svc";
	sp.arch = "amd64";
	sp.disk_path = disk;
	sp.kernel_path = kern;
	sp.run_config = rc;
	struct error *err = NULL;
	int r = store_put(s, &sp, id, &err);
	if (r < 0)
		fail_msg("store_put: %s", err);
}

static bool present(struct store *s, const char *id)
{
	struct store_meta m;
	if (store_verify(s, id, &m, NULL) < 0)
		return false;
	store_meta_clear(&m);
	return true;
}

static char *run_yaml(struct store *s, const char *name)
{
	char id[65], *text = NULL;
	size_t len;
	assert_int_equal(store_lookup(s, name, "latest", id, NULL), 0);
	char *p = store_path(s, id, "run.yaml");
	assert_int_equal(read_file(p, 1 << 16, &text, &len), 0);
	free(p);
	return text;
}

static void test_two_run_configs(void **state)
{
	(void)state;
	char *sd = path_join(root, "store");
	struct error *err = NULL;
	struct store *s = store_open(sd, &err);
	assert_non_null(s);
	char *disk = file("disk", "the same disk"), *kern = file("kern", "k");
	const char *key = "1111111111111111111111111111111111111111111111111111111111111111";
	char a[65], b[65], again[65];
	put(s, key, disk, kern, "service: svc\nmemory: 256\n", a);
	assert_string_equal(a, key);
	assert_int_equal(store_tag(s, "a", "latest", a, NULL), 0);
	put(s, key, disk, kern, "service: svc\nmemory: 512\n", b);
	assert_string_not_equal(b, key);
	assert_int_equal(store_tag(s, "b", "latest", b, NULL), 0);
	/* each tag keeps its own run config */
	char *ya = run_yaml(s, "a"), *yb = run_yaml(s, "b");
	assert_string_equal(ya, "service: svc\nmemory: 256\n");
	assert_string_equal(yb, "service: svc\nmemory: 512\n");
	free(ya);
	free(yb);
	/* putting either again finds its entry */
	put(s, key, disk, kern, "service: svc\nmemory: 512\n", again);
	assert_string_equal(again, b);
	put(s, key, disk, kern, "service: svc\nmemory: 256\n", again);
	assert_string_equal(again, a);

	/* a rebuild moves the tag: the old image goes, as no tag names it */
	const char *key2 = "2222222222222222222222222222222222222222222222222222222222222222";
	char c[65];
	put(s, key2, disk, kern, "service: svc\nmemory: 512\n", c);
	assert_int_equal(store_tag(s, "b", "latest", c, NULL), 0);
	assert_false(present(s, b));
	assert_true(present(s, c));
	/* an image that another tag still names stays */
	assert_int_equal(store_tag(s, "a2", "v1", a, NULL), 0);
	assert_int_equal(store_tag(s, "a", "latest", c, NULL), 0);
	assert_true(present(s, a));
	bool gone = false;
	assert_int_equal(store_untag(s, "a2", "v1", &gone, NULL), 0);
	assert_true(gone);
	assert_false(present(s, a));
	store_free(s);
	free(disk);
	free(kern);
	free(sd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_run_configs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
