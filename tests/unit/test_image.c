/* test_image.c — raw GPT + ext2 images: checked with the real tools
 * (e2fsck -fn, sgdisk -v/-p/-i, debugfs) like a user would: partition
 * name/type/attributes, owners, modes, link counts, NetBSD and Linux
 * device encodings, symlinks, clamped times, byte-identical output, a
 * 40,000-entry directory, the too-small error, progress reports. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fstree.h"
#include "image.h"
#include "layer.h"
#include "util.h"

static char tmp[256];
static int seq;

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "%s/smolc-image-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	remove_tree(tmp);
	return 0;
}

/* Run a shell command; returns its stdout (caller frees) and exit code. */
static char *run(const char *cmd, int *code)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	struct strbuf sb;
	sb_init(&sb);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		sb_add(&sb, buf, n);
	int st = pclose(p);
	if (code)
		*code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return sb_detach(&sb);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static char *debugfs(const char *img, const char *req)
{
	char *cmd = xasprintf("debugfs -R '%s' '%s?offset=1048576' 2>/dev/null", req, img);
	char *out = run(cmd, NULL);
	free(cmd);
	return out;
}

static void fsck_clean(const char *img)
{
	char *cmd = xasprintf("e2fsck -fn '%s?offset=1048576' 2>&1", img);
	int code;
	char *out = run(cmd, &code);
	if (code != 0)
		fail_msg("e2fsck exit %d:\n%s", code, out);
	free(out);
	free(cmd);
}

/* A tree with every file type, built through a layer (data on disk). */
static struct fstree *every_type_tree(int64_t future_mtime)
{
	struct error *err = NULL;
	char *dir = xasprintf("%s/layer%d", tmp, ++seq);
	struct layer_writer *w = layer_writer_new(dir, "test", &err);
	assert_non_null(w);
	struct fs_meta d = { .type = FS_DIR, .perm = 0755, .mtime = 1000 };
	struct fs_meta f = { .type = FS_REG, .perm = 0644, .mtime = 1000 };
	assert_int_equal(layer_add(w, "/etc", &d, &err), 0);
	assert_int_equal(layer_add_file_buf(w, "/etc/rc", &f, "#!/bin/sh\necho hi\n", 18, &err), 0);
	f.perm = 04755;
	f.uid = 1000;
	f.gid = 70000;
	size_t big = 300000;
	char *buf = xcalloc(1, big);
	memset(buf + 200000, 'x', 5000);
	assert_int_equal(layer_add_file_buf(w, "/bin/big", &f, buf, big, &err), 0);
	free(buf);
	assert_int_equal(layer_add_hardlink(w, "/bin/big2", "/bin/big", &err), 0);
	assert_int_equal(layer_add_hardlink(w, "/sbin/big3", "/bin/big", &err), 0);
	struct fs_meta l = { .type = FS_LNK, .perm = 0777, .mtime = 1000,
			     .target = "/usr/lib/a/very/long/target/path/that/is/longer/than/sixty/bytes" };
	assert_int_equal(layer_add(w, "/lib", &l, &err), 0);
	l.target = "rc";
	assert_int_equal(layer_add(w, "/etc/rc.link", &l, &err), 0);
	struct fs_meta c = { .type = FS_CHR, .perm = 0600, .mtime = 1000, .rdev_major = 4,
			     .rdev_minor = 0x12345 };
	assert_int_equal(layer_add(w, "/dev/ttyX", &c, &err), 0);
	c.type = FS_BLK;
	c.perm = 0640;
	c.gid = 5;
	c.rdev_major = 19;
	c.rdev_minor = 1;
	assert_int_equal(layer_add(w, "/dev/wd0a", &c, &err), 0);
	struct fs_meta p = { .type = FS_FIFO, .perm = 0600, .mtime = 1000 };
	assert_int_equal(layer_add(w, "/tmp/fifo", &p, &err), 0);
	p.type = FS_SOCK;
	assert_int_equal(layer_add(w, "/tmp/sock", &p, &err), 0);
	d.perm = 01777;
	assert_int_equal(layer_add(w, "/tmp", &d, &err), 0);
	f.perm = 0644;
	f.uid = f.gid = 0;
	f.mtime = future_mtime;
	assert_int_equal(layer_add_file_buf(w, "/etc/future", &f, "f", 1, &err), 0);
	assert_int_equal(layer_add_file_buf(w, "/etc/empty", &f, "", 0, &err), 0);
	assert_int_equal(layer_writer_finish(w, NULL, &err), 0);
	struct fstree *t = fstree_new();
	assert_int_equal(layer_apply(dir, t, &err), 0);
	free(dir);
	return t;
}

struct prog {
	int calls;
	uint64_t done, total;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct prog *p = ctx;
	p->calls++;
	assert_true(done >= p->done);
	p->done = done;
	p->total = total;
}

static void test_every_type_netbsd(void **state)
{
	struct fstree *t = every_type_tree(4000000000LL);
	char *img = xasprintf("%s/netbsd.img", tmp);
	struct prog pr = { 0 };
	struct image_opts o = { .service = "bozohttpd", .seed = "0123abcd", .epoch = 1700000000,
				.profile = IMAGE_PROFILE_NETBSD, .progress = on_progress,
				.progress_ctx = &pr };
	struct error *err = NULL;
	if (image_write(img, t, &o, &err) < 0)
		fail_msg("%s", err);
	assert_true(pr.calls > 0);
	assert_int_equal(pr.done, pr.total);
	fsck_clean(img);

	char *cmd = xasprintf("sgdisk -v '%s' 2>&1", img);
	char *out = run(cmd, NULL);
	assert_contains(out, "No problems found");
	free(out);
	free(cmd);
	cmd = xasprintf("sgdisk -p '%s' 2>&1", img);
	out = run(cmd, NULL);
	assert_contains(out, "First usable sector is 34");
	assert_contains(out, "   1            2048 ");
	assert_contains(out, "8300  bozohttpdroot");
	free(out);
	free(cmd);
	cmd = xasprintf("sgdisk -i 1 '%s' 2>&1", img);
	out = run(cmd, NULL);
	assert_contains(out, "0FC63DAF-8483-4772-8E79-3D69D8477DE4 (Linux filesystem)");
	assert_contains(out, "Attribute flags: 0800000000000000");
	assert_contains(out, "Partition name: 'bozohttpdroot'");
	assert_contains(out, "First sector: 2048 ");
	free(out);
	free(cmd);

	out = debugfs(img, "stats");
	assert_contains(out, "Filesystem features:      (none)");
	assert_contains(out, "Filesystem revision #:    1 (dynamic)");
	assert_contains(out, "Inode size:\t          128");
	assert_contains(out, "Filesystem volume name:   bozohttpdroot");
	free(out);
	out = debugfs(img, "stat /bin/big");
	assert_contains(out, "Type: regular    Mode:  04755");
	assert_contains(out, "User:  1000   Group: 70000   Size: 300000");
	assert_contains(out, "Links: 3");
	assert_contains(out, "(195-200)"); /* the zero blocks stayed holes */
	free(out);
	out = debugfs(img, "stat /sbin/big3");
	assert_contains(out, "Links: 3");
	free(out);
	out = debugfs(img, "stat /tmp");
	assert_contains(out, "Type: directory    Mode:  01777");
	free(out);
	/* NetBSD device encoding in i_block[0]: 4,0x12345 -> 0x12300445 */
	out = debugfs(img, "inode_dump -b /dev/ttyX");
	assert_contains(out, "0000  4504 3012 0000 0000");
	free(out);
	out = debugfs(img, "inode_dump -b /dev/wd0a");
	assert_contains(out, "0000  0113 0000 0000 0000"); /* 19,1 -> 0x1301 */
	free(out);
	out = debugfs(img, "stat /dev/wd0a");
	assert_contains(out, "Type: block special    Mode:  0640");
	assert_contains(out, "User:     0   Group:     5");
	free(out);
	out = debugfs(img, "stat /lib");
	assert_contains(out, "Type: symlink");
	assert_contains(out, "Size: 64");
	free(out);
	out = debugfs(img, "stat /etc/rc.link");
	assert_contains(out, "Fast link dest: \"rc\"");
	free(out);
	out = debugfs(img, "stat /tmp/fifo");
	assert_contains(out, "Type: FIFO");
	free(out);
	out = debugfs(img, "stat /tmp/sock");
	assert_contains(out, "Type: socket");
	free(out);
	/* a future mtime is clamped to the epoch; ctime = atime = mtime */
	out = debugfs(img, "stat /etc/future");
	assert_contains(out, "ctime: 0x6553f100");
	assert_contains(out, "atime: 0x6553f100");
	assert_contains(out, "mtime: 0x6553f100");
	free(out);
	out = debugfs(img, "cat /etc/rc");
	assert_string_equal(out, "#!/bin/sh\necho hi\n");
	free(out);
	out = debugfs(img, "ls -l /");
	assert_contains(out, "lost+found");
	free(out);
	fstree_free(t);
	free(img);
}

static void test_linux_profile_devices(void **state)
{
	struct fstree *t = every_type_tree(5);
	char *img = xasprintf("%s/linux.img", tmp);
	struct image_opts o = { .service = "hello", .seed = "s", .epoch = 1700000000,
				.profile = IMAGE_PROFILE_LINUX };
	struct error *err = NULL;
	assert_int_equal(image_write(img, t, &o, &err), 0);
	fsck_clean(img);
	char *out = debugfs(img, "stat /dev/ttyX");
	assert_contains(out, "Device major/minor number: 04:74565");
	free(out);
	out = debugfs(img, "stat /dev/wd0a");
	assert_contains(out, "Device major/minor number: 19:01");
	free(out);
	fstree_free(t);
	free(img);
}

static void test_byte_identical(void **state)
{
	struct fstree *t = every_type_tree(5);
	char *a = xasprintf("%s/a.img", tmp), *b = xasprintf("%s/b.img", tmp),
	     *c = xasprintf("%s/c.img", tmp);
	struct image_opts o = { .service = "svc", .seed = "digest-1", .epoch = 1700000000 };
	struct error *err = NULL;
	assert_int_equal(image_write(a, t, &o, &err), 0);
	assert_int_equal(image_write(b, t, &o, &err), 0);
	o.seed = "digest-2";
	assert_int_equal(image_write(c, t, &o, &err), 0);
	int code;
	char *cmd = xasprintf("cmp '%s' '%s'", a, b);
	free(run(cmd, &code));
	assert_int_equal(code, 0);
	free(cmd);
	cmd = xasprintf("cmp -s '%s' '%s'", a, c);
	free(run(cmd, &code));
	assert_int_equal(code, 1);
	free(cmd);
	/* ids follow the seed */
	char *out = debugfs(a, "stats"), *out2 = debugfs(c, "stats");
	assert_string_not_equal(strstr(out, "Filesystem UUID"), strstr(out2, "Filesystem UUID"));
	free(out);
	free(out2);
	fstree_free(t);
	free(a);
	free(b);
	free(c);
}

static void test_big_directory(void **state)
{
	struct error *err = NULL;
	char *dir = xasprintf("%s/layer-big", tmp);
	struct layer_writer *w = layer_writer_new(dir, "big", &err);
	struct fs_meta f = { .type = FS_REG, .perm = 0644, .mtime = 1 };
	char p[64];
	for (int i = 0; i < 40000; i++) {
		snprintf(p, sizeof(p), "/usr/share/big/entry-%06d", i);
		assert_int_equal(layer_add_file_buf(w, p, &f, p, strlen(p), &err), 0);
	}
	assert_int_equal(layer_writer_finish(w, NULL, &err), 0);
	struct fstree *t = fstree_new();
	assert_int_equal(layer_apply(dir, t, &err), 0);
	char *img = xasprintf("%s/big.img", tmp);
	struct image_opts o = { .service = "big", .seed = "x", .epoch = 10 };
	double t0 = now_monotonic();
	assert_int_equal(image_write(img, t, &o, &err), 0);
	double dt = now_monotonic() - t0;
	print_message("40,000-entry directory: image written in %.2f s\n", dt);
	assert_true(dt < 120.0); /* a sanity bound against quadratic work, not a speed target (bench/) */
	fsck_clean(img);
	char *out = debugfs(img, "cat /usr/share/big/entry-039999");
	assert_string_equal(out, "/usr/share/big/entry-039999");
	free(out);
	fstree_free(t);
	free(img);
	free(dir);
}

static void test_too_small(void **state)
{
	struct error *err = NULL;
	char *dir = xasprintf("%s/layer-small", tmp);
	struct layer_writer *w = layer_writer_new(dir, "x", &err);
	struct fs_meta f = { .type = FS_REG, .perm = 0644 };
	size_t n = 6u << 20;
	char *buf = xmalloc(n);
	memset(buf, 'a', n);
	assert_int_equal(layer_add_file_buf(w, "/blob", &f, buf, n, &err), 0);
	free(buf);
	assert_int_equal(layer_writer_finish(w, NULL, &err), 0);
	struct fstree *t = fstree_new();
	assert_int_equal(layer_apply(dir, t, &err), 0);
	struct image_opts o = { .service = "s", .seed = "x", .epoch = 10, .size_bytes = 4u << 20 };
	uint64_t min, autosz;
	image_size_needed(t, &o, &min, &autosz);
	assert_true(min >= 7u << 20);
	assert_true(autosz >= min);
	char *img = xasprintf("%s/small.img", tmp);
	assert_int_equal(image_write(img, t, &o, &err), -1);
	char *want = xasprintf("%s: image size 4 MiB is too small: the tree needs at least %llu MiB",
			       img, (unsigned long long)(min >> 20));
	assert_string_equal(error_msg(err), want);
	free(want);
	error_clear(&err);
	/* exactly the minimum works */
	o.size_bytes = min;
	if (image_write(img, t, &o, &err) < 0)
		fail_msg("%s", err);
	fsck_clean(img);
	/* auto size with headroom */
	o.size_bytes = 0;
	o.headroom_bytes = 8u << 20;
	assert_int_equal(image_write(img, t, &o, &err), 0);
	struct stat st;
	assert_int_equal(stat(img, &st), 0);
	image_size_needed(t, &o, NULL, &autosz);
	assert_int_equal((uint64_t)st.st_size, autosz);
	assert_true(autosz >= min + (8u << 20));
	fsck_clean(img);
	fstree_free(t);
	free(img);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type_netbsd),
		cmocka_unit_test(test_linux_profile_devices),
		cmocka_unit_test(test_byte_identical),
		cmocka_unit_test(test_big_directory),
		cmocka_unit_test(test_too_small),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
