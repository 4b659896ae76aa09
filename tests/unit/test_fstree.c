/* test_fstree.c — the in-memory root tree: add/replace/remove, hard
 * links, whiteouts, path checks, sorted iteration, a 40,000-entry
 * directory, memory for a 20,000-file tree. */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fstree.h"
#include "util.h"

static struct fs_meta file_meta(uint64_t size)
{
	struct fs_meta m = { .type = FS_REG, .perm = 0644, .uid = 0, .gid = 0, .uname = "root",
			     .gname = "wheel", .mtime = 100, .size = size,
			     .data_path = "/layers/x/data", .data_off = 0 };
	return m;
}

static struct fs_meta dir_meta(uint32_t perm)
{
	struct fs_meta m = { .type = FS_DIR, .perm = perm, .mtime = 50 };
	return m;
}

static void test_add_lookup_implicit_parents(void **state)
{
	struct fstree *t = fstree_new();
	struct fs_meta m = file_meta(10);
	m.perm = 04755;
	m.uid = 1000;
	m.gid = 100000;
	assert_int_equal(fstree_put(t, "./usr/bin/su", &m, NULL), 0);
	struct fs_node *n = fstree_lookup(t, "/usr/bin/su");
	assert_non_null(n);
	assert_ptr_equal(n, fstree_lookup(t, "usr//bin/./su/"));
	assert_int_equal(n->inode->type, FS_REG);
	assert_int_equal(n->inode->perm, 04755);
	assert_int_equal(n->inode->uid, 1000);
	assert_int_equal(n->inode->gid, 100000);
	assert_string_equal(n->inode->uname, "root");
	assert_int_equal(n->inode->size, 10);
	struct fs_node *d = fstree_lookup(t, "/usr/bin");
	assert_non_null(d);
	assert_int_equal(d->inode->type, FS_DIR);
	assert_int_equal(d->inode->perm, 0755);
	/* an explicit entry later updates the implicit dir, children kept */
	struct fs_meta dm = dir_meta(0700);
	dm.uid = 5;
	assert_int_equal(fstree_put(t, "usr/bin/", &dm, NULL), 0);
	assert_ptr_equal(fstree_lookup(t, "/usr/bin"), d);
	assert_int_equal(d->inode->perm, 0700);
	assert_int_equal(d->inode->uid, 5);
	assert_non_null(fstree_lookup(t, "/usr/bin/su"));
	char *p = fstree_path(n);
	assert_string_equal(p, "/usr/bin/su");
	free(p);
	assert_ptr_equal(fstree_lookup(t, "/"), fstree_root(t));
	assert_null(fstree_lookup(t, "/usr/bin/su/x"));
	fstree_free(t);
}

static void test_replace_kinds(void **state)
{
	struct fstree *t = fstree_new();
	struct fs_meta f = file_meta(5), d = dir_meta(0755);
	assert_int_equal(fstree_put(t, "/a/b/c", &f, NULL), 0);
	assert_int_equal(fstree_put(t, "/a/b/d", &f, NULL), 0);
	struct fstree_stats st;
	fstree_get_stats(t, &st);
	assert_int_equal(st.names, 5);
	assert_int_equal(st.bytes, 10);
	/* a file replaces a whole directory */
	assert_int_equal(fstree_put(t, "/a/b", &f, NULL), 0);
	assert_null(fstree_lookup(t, "/a/b/c"));
	assert_int_equal(fstree_lookup(t, "/a/b")->inode->type, FS_REG);
	fstree_get_stats(t, &st);
	assert_int_equal(st.names, 3);
	assert_int_equal(st.bytes, 5);
	/* and a directory replaces a file */
	assert_int_equal(fstree_put(t, "/a/b", &d, NULL), 0);
	assert_int_equal(fstree_lookup(t, "/a/b")->inode->type, FS_DIR);
	fstree_get_stats(t, &st);
	assert_int_equal(st.bytes, 0);
	/* symlink with target */
	struct fs_meta l = { .type = FS_LNK, .perm = 0777, .target = "../x" };
	assert_int_equal(fstree_put(t, "/a/l", &l, NULL), 0);
	assert_string_equal(fstree_lookup(t, "/a/l")->inode->target, "../x");
	assert_int_equal(fstree_lookup(t, "/a/l")->inode->size, 4);
	/* root can only be a directory */
	struct error *err = NULL;
	assert_int_equal(fstree_put(t, "/", &f, &err), -1);
	assert_non_null(strstr(error_msg(err), "must be a directory"));
	error_clear(&err);
	assert_int_equal(fstree_put(t, "/", &d, NULL), 0);
	fstree_free(t);
}

static void test_hardlinks(void **state)
{
	struct fstree *t = fstree_new();
	struct fs_meta f = file_meta(4096);
	assert_int_equal(fstree_put(t, "/rescue/sh", &f, NULL), 0);
	char name[64];
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "/rescue/prog%03d", i);
		assert_int_equal(fstree_link(t, name, "/rescue/sh", NULL), 0);
	}
	struct fs_inode *ino = fstree_lookup(t, "/rescue/sh")->inode;
	assert_int_equal(ino->nlink, 151);
	assert_ptr_equal(fstree_lookup(t, "/rescue/prog149")->inode, ino);
	struct fstree_stats st;
	fstree_get_stats(t, &st);
	assert_int_equal(st.inodes, 3); /* root, /rescue, the binary */
	assert_int_equal(st.bytes, 4096);
	/* replacing one name leaves the others */
	struct fs_meta other = file_meta(1);
	assert_int_equal(fstree_put(t, "/rescue/prog000", &other, NULL), 0);
	assert_int_equal(ino->nlink, 150);
	assert_int_equal(fstree_remove(t, "/rescue/sh"), 1);
	assert_int_equal(ino->nlink, 149);
	assert_ptr_equal(fstree_lookup(t, "/rescue/prog001")->inode, ino);
	/* linking a name to itself is a no-op */
	assert_int_equal(fstree_link(t, "/rescue/prog001", "/rescue/prog002", NULL), 0);
	assert_int_equal(ino->nlink, 149);
	/* errors */
	struct error *err = NULL;
	assert_int_equal(fstree_link(t, "/x", "/missing", &err), -1);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(error_msg(err), "\"/x\": hard link target \"/missing\" does not exist");
	error_clear(&err);
	assert_int_equal(fstree_link(t, "/x", "/rescue", &err), -1);
	assert_non_null(strstr(error_msg(err), "is a directory"));
	error_clear(&err);
	/* replacing the directory holding the only other name is safe */
	assert_int_equal(fstree_put(t, "/d/f", &f, NULL), 0);
	assert_int_equal(fstree_link(t, "/d", "/d/f", NULL), 0);
	assert_int_equal(fstree_lookup(t, "/d")->inode->type, FS_REG);
	assert_int_equal(fstree_lookup(t, "/d")->inode->nlink, 1);
	fstree_free(t);
}

static void test_whiteout_and_errors(void **state)
{
	struct fstree *t = fstree_new();
	struct fs_meta f = file_meta(1);
	for (int i = 0; i < 10; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/etc/d%d/f", i);
		assert_int_equal(fstree_put(t, p, &f, NULL), 0);
	}
	assert_int_equal(fstree_remove(t, "/etc"), 1);
	assert_null(fstree_lookup(t, "/etc/d3/f"));
	assert_int_equal(fstree_remove(t, "/etc"), 0);
	assert_int_equal(fstree_remove(t, "/"), -1);
	assert_int_equal(errno, EPERM);
	struct fstree_stats st;
	fstree_get_stats(t, &st);
	assert_int_equal(st.names, 1);
	assert_int_equal(st.inodes, 1);

	struct error *err = NULL;
	struct fs_meta l = { .type = FS_LNK, .perm = 0777, .target = "/etc" };
	assert_int_equal(fstree_put(t, "/link", &l, NULL), 0);
	assert_int_equal(fstree_put(t, "/link/passwd", &f, &err), -1);
	assert_int_equal(errno, ENOTDIR);
	assert_string_equal(error_msg(err), "\"/link/passwd\": parent \"/link\" is not a directory (a symlink: "
				 "entries may not go through symlinks)");
	error_clear(&err);
	assert_int_equal(fstree_put(t, "/a/../../etc", &f, &err), -1);
	assert_int_equal(errno, EINVAL);
	error_clear(&err);
	char longname[300];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[299] = '\0';
	err = NULL;
	assert_int_equal(fstree_put(t, longname, &f, &err), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	error_clear(&err);
	bool abs;
	char *np = fstree_normalize("/./a//b/./", &abs);
	assert_string_equal(np, "a/b");
	assert_true(abs);
	free(np);
	assert_null(fstree_normalize("a/..", NULL));
	fstree_free(t);
}

struct walk_log {
	struct strbuf sb;
};

static int log_visit(void *ctx, const char *path, struct fs_node *n)
{
	struct walk_log *l = ctx;
	sb_adds(&l->sb, path);
	sb_addc(&l->sb, ' ');
	return 0;
}

static void test_sorted_walk(void **state)
{
	struct fstree *t = fstree_new();
	struct fs_meta f = file_meta(0);
	const char *names[] = { "/usr/b", "/etc/z", "/etc/a", "/usr/a/x", "/B", "/a" };
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		assert_int_equal(fstree_put(t, names[i], &f, NULL), 0);
	struct walk_log l;
	sb_init(&l.sb);
	assert_int_equal(fstree_walk(t, log_visit, &l), 0);
	assert_string_equal(sb_cstr(&l.sb), "/ /B /a /etc /etc/a /etc/z /usr /usr/a /usr/a/x /usr/b ");
	sb_free(&l.sb);
	fstree_free(t);
}

static void test_big_directory(void **state)
{
	struct fstree *t = fstree_new();
	struct fs_meta f = file_meta(1);
	double t0 = now_monotonic();
	char p[64];
	for (int i = 40000; i > 0; i--) {
		snprintf(p, sizeof(p), "/big/f%06d", i);
		assert_int_equal(fstree_put(t, p, &f, NULL), 0);
	}
	for (int i = 1; i <= 40000; i += 2) {
		snprintf(p, sizeof(p), "/big/f%06d", i);
		assert_int_equal(fstree_remove(t, p), 1);
	}
	size_t n;
	struct fs_node *const *kids = fstree_children(fstree_lookup(t, "/big"), &n);
	assert_int_equal(n, 20000);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(kids[i - 1]->name, kids[i]->name) < 0);
	assert_string_equal(kids[0]->name, "f000002");
	/* a sanity bound against quadratic work (minutes), not a speed
	 * target: those are in bench/ */
	assert_true(now_monotonic() - t0 < 120.0);
	fstree_free(t);
}

static void test_memory_20k_files(void **state)
{
#if defined(__SANITIZE_ADDRESS__)
	skip();
#else
	struct mallinfo2 before = mallinfo2();
	struct fstree *t = fstree_new();
	struct fs_meta f = file_meta(12500);
	char p[128];
	for (int i = 0; i < 20000; i++) {
		snprintf(p, sizeof(p), "/usr/share/zoneinfo/dir%03d/some-file-name-%05d", i % 200, i);
		f.data_off = (uint64_t)i * 12500;
		assert_int_equal(fstree_put(t, p, &f, NULL), 0);
	}
	struct mallinfo2 after = mallinfo2();
	size_t used = after.uordblks - before.uordblks;
	print_message("20,000 files: %zu KiB of heap\n", used / 1024);
	assert_true(used < 8u * 1024 * 1024);
	fstree_free(t);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_lookup_implicit_parents),
		cmocka_unit_test(test_replace_kinds),
		cmocka_unit_test(test_hardlinks),
		cmocka_unit_test(test_whiteout_and_errors),
		cmocka_unit_test(test_sorted_walk),
		cmocka_unit_test(test_big_directory),
		cmocka_unit_test(test_memory_20k_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
