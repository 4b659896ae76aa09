/* test_layer.c — layers: import of generated NetBSD-like sets (every
 * file type, rescue hard links), each evil archive with its exact error,
 * glob filters (incl. a hard link whose target was filtered out), prefix
 * and skip lists, digest stability, apply with whiteouts, host import,
 * export + diff (POSTINST), layer blobs (write, read back in any split,
 * retried, truncated, not zstd, another layer, a damaged layer refused).
 * Archives come from tests/lib/mkset.py through tests/lib/fixture (run
 * from the repo root). */
#include <errno.h>
#include <fcntl.h>
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

#include "digest.h"
#include "fstree.h"
#include "layer.h"
#include "util.h"

static char tmp[256];
static int seq;

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "%s/smolc-layer-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	remove_tree(tmp);
	return 0;
}

/* Make an archive with mkset.py (made once, cached by tests/lib/fixture);
 * returns its path (caller frees). */
static char *mkset(const char *name, const char *args)
{
	char *out = xasprintf("%s/%s", tmp, name);
	char *cmd = xasprintf("tests/lib/fixture mkset %s '%s'", args, out);
	int rc = system(cmd);
	free(cmd);
	assert_int_equal(rc, 0);
	return out;
}

static char *new_dir(void)
{
	return xasprintf("%s/layer%d", tmp, ++seq);
}

/* Import one archive into a new layer; returns the layer dir or NULL (err set). */
static char *import(const char *archive, const struct layer_import_opts *o, struct layer_info *li,
		    struct error **err)
{
	char *dir = new_dir();
	struct layer_writer *w = layer_writer_new(dir, "test", err);
	assert_non_null(w);
	if (layer_import_archive(w, archive, o, err) < 0) {
		layer_writer_abort(w);
		free(dir);
		return NULL;
	}
	struct layer_info dummy;
	assert_int_equal(layer_writer_finish(w, li ? li : &dummy, err), 0);
	return dir;
}

static struct fs_inode *ino_at(struct fstree *t, const char *p)
{
	struct fs_node *n = fstree_lookup(t, p);
	if (!n)
		fail_msg("missing %s", p);
	return n->inode;
}

static void read_data(struct fs_inode *ino, char *buf, size_t n)
{
	int fd = open(ino->data_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, n, (off_t)ino->data_off), (ssize_t)n);
	close(fd);
}

static void test_import_tiny_every_type(void **state)
{
	char *arc = mkset("tiny.tar.xz", "--kind tiny");
	struct error *err = NULL;
	struct layer_info li;
	char *dir = import(arc, NULL, &li, &err);
	assert_non_null(dir);
	assert_int_equal(li.entries, 15);
	struct fstree *t = fstree_new();
	assert_int_equal(layer_apply(dir, t, &err), 0);
	struct fs_inode *sh = ino_at(t, "/bin/sh");
	assert_int_equal(sh->type, FS_REG);
	assert_int_equal(sh->perm, 0555);
	assert_int_equal(sh->size, 3000);
	assert_int_equal(sh->nlink, 2);
	assert_ptr_equal(ino_at(t, "/bin/ash"), sh);
	assert_string_equal(sh->uname, "root");
	assert_string_equal(sh->gname, "wheel");
	assert_int_equal(sh->mtime, 1700000000);
	struct fs_inode *rc = ino_at(t, "/etc/rc");
	char buf[32] = { 0 };
	read_data(rc, buf, rc->size);
	assert_string_equal(buf, "#!/bin/sh\necho hello\n");
	assert_string_equal(ino_at(t, "/usr/bin/sh")->target, "/bin/sh");
	struct fs_inode *con = ino_at(t, "/dev/console");
	assert_int_equal(con->type, FS_CHR);
	struct fs_inode *wd = ino_at(t, "/dev/wd0a");
	assert_int_equal(wd->type, FS_BLK);
	assert_int_equal(wd->gid, 5);
	assert_string_equal(wd->gname, "operator");
	assert_int_equal(wd->perm, 0640);
	assert_int_equal(ino_at(t, "/tmp/fifo")->type, FS_FIFO);
	assert_int_equal(ino_at(t, "/tmp")->perm, 01777);
	/* the "./" entry sets the root's metadata */
	assert_int_equal(ino_at(t, "/")->mtime, 1700000000);
	assert_null(fstree_lookup(t, "/-"));
	size_t nroot;
	fstree_children(fstree_root(t), &nroot);
	assert_int_equal(nroot, 5); /* bin dev etc tmp usr */
	struct layer_info back;
	assert_int_equal(layer_read_info(dir, &back, &err), 0);
	assert_string_equal(back.digest, li.digest);
	fstree_free(t);
	free(dir);
	free(arc);
}

static void test_import_base_devices_and_rescue(void **state)
{
	char *base = mkset("base.tgz", "--kind base --files 600 --bytes 3000000");
	char *resc = mkset("rescue.tar.xz", "--kind rescue --bytes 100000");
	struct error *err = NULL;
	struct fstree *t = fstree_new();
	char *d1 = import(base, NULL, NULL, &err), *d2 = import(resc, NULL, NULL, &err);
	assert_non_null(d1);
	assert_non_null(d2);
	assert_int_equal(layer_apply(d1, t, &err), 0);
	assert_int_equal(layer_apply(d2, t, &err), 0);
	struct fs_inode *bm = ino_at(t, "/dev/bigminor");
	assert_int_equal(bm->rdev_major, 12);
	assert_int_equal(bm->rdev_minor, 0x12345);
	assert_int_equal(ino_at(t, "/usr/bin/su")->perm, 04555);
	assert_int_equal(ino_at(t, "/usr/games/fortune")->perm, 02555);
	assert_int_equal(ino_at(t, "/usr/games/fortune")->gid, 13);
	struct fs_inode *sh = ino_at(t, "/rescue/sh");
	assert_true(sh->nlink >= 140);
	assert_ptr_equal(ino_at(t, "/rescue/mount_ext2fs"), sh);
	assert_int_equal(sh->size, 100000);
	size_t n;
	fstree_children(fstree_lookup(t, "/rescue"), &n);
	assert_int_equal(n, sh->nlink);
	fstree_free(t);
	free(d1);
	free(d2);
	free(base);
	free(resc);
}

struct evil_case {
	const char *name, *expect;
};

static void test_evil_archives(void **state)
{
	const struct evil_case cases[] = {
		{ "dotdot", "evil-dotdot.tar: entry \"./../evil\" escapes the image root" },
		{ "absolute", "evil-absolute.tar: entry \"/etc/evil\" has an absolute path; archive "
			      "entries must be relative to the image root" },
		{ "symlink-escape", "evil-symlink-escape.tar: entry \"./evil-link/passwd\" goes "
				    "through the symlink \"/evil-link\" (possible escape from the image root)" },
		{ "hardlink-missing", "evil-hardlink-missing.tar: entry \"./bin/evil\" is a hard link "
				      "to \"bin/missing\", which is not an earlier entry of the input" },
		{ "hardlink-escape", "evil-hardlink-escape.tar: entry \"./bin/evil\" is a hard link to "
				     "\"../outside\", which escapes the image root" },
		{ "truncated", "evil-truncated.tar: entry \"./zz-truncated\": Truncated tar archive "
			       "(corrupt or truncated archive?)" },
		{ "overlong", NULL },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *name = xasprintf("evil-%s.tar", cases[i].name);
		char *args = xasprintf("--evil %s", cases[i].name);
		char *arc = mkset(name, args);
		struct error *err = NULL;
		char *dir = import(arc, NULL, NULL, &err);
		assert_null(dir);
		assert_non_null(err);
		if (cases[i].expect) {
			assert_string_equal(error_msg(err), cases[i].expect);
		} else {
			char *want = xasprintf("evil-overlong.tar: entry \"./etc/%0300d\" has a name "
					       "component longer than 255 bytes (ext2 limit)", 0);
			memset(want + strlen("evil-overlong.tar: entry \"./etc/"), 'x', 300);
			assert_string_equal(error_msg(err), want);
			free(want);
		}
		error_clear(&err);
		free(arc);
		free(name);
		free(args);
	}
	/* not an archive at all, and a truncated xz stream */
	char *junk = xasprintf("%s/junk.tar.xz", tmp);
	assert_int_equal(write_file_atomic(junk, "this is not an archive\n", 23, 0644), 0);
	struct error *err = NULL;
	assert_null(import(junk, NULL, NULL, &err));
	assert_true(str_startswith(error_msg(err), "junk.tar.xz: "));
	error_clear(&err);
	free(junk);
	char *tx = mkset("trunc.tar.xz", "--kind base --files 100 --bytes 400000 --evil truncated");
	err = NULL;
	assert_null(import(tx, NULL, NULL, &err));
	assert_true(str_startswith(error_msg(err), "trunc.tar.xz: "));
	print_message("truncated xz: %s\n", error_msg(err));
	error_clear(&err);
	free(tx);
}

static void test_glob_filters(void **state)
{
	char *base = mkset("base-glob.tgz", "--kind base --files 300 --bytes 1000000");
	const char *globs[] = { "/usr/bin/su", "/usr/share/zoneinfo/Europe", NULL };
	struct layer_import_opts o = { .globs = globs };
	struct error *err = NULL;
	char *dir = import(base, &o, NULL, &err);
	assert_non_null(dir);
	struct fstree *t = fstree_new();
	assert_int_equal(layer_apply(dir, t, &err), 0);
	assert_non_null(fstree_lookup(t, "/usr/bin/su"));
	assert_null(fstree_lookup(t, "/usr/bin/passwd"));
	assert_null(fstree_lookup(t, "/etc"));
	assert_null(fstree_lookup(t, "/bin"));
	/* parents kept with their archive metadata */
	assert_int_equal(ino_at(t, "/usr")->mtime, 1700000000);
	assert_int_equal(ino_at(t, "/usr/share/zoneinfo/Europe")->mtime, 1700000000);
	size_t n;
	fstree_children(fstree_lookup(t, "/usr/share/zoneinfo/Europe"), &n);
	assert_true(n > 0);
	fstree_free(t);
	free(dir);

	/* a kept hard link whose data-carrying target was filtered out */
	char *resc = mkset("rescue-glob.tar.xz", "--kind rescue --bytes 5000");
	const char *g2[] = { "/rescue/sh", "/rescue/ls", NULL };
	struct layer_import_opts o2 = { .globs = g2 };
	dir = import(resc, &o2, NULL, &err);
	assert_non_null(dir);
	t = fstree_new();
	assert_int_equal(layer_apply(dir, t, &err), 0);
	struct fs_inode *sh = ino_at(t, "/rescue/sh");
	assert_int_equal(sh->size, 5000);
	assert_int_equal(sh->nlink, 2);
	assert_ptr_equal(ino_at(t, "/rescue/ls"), sh);
	assert_null(fstree_lookup(t, "/rescue/["));
	fstree_children(fstree_lookup(t, "/rescue"), &n);
	assert_int_equal(n, 2);
	fstree_free(t);
	free(dir);
	free(resc);
	free(base);
}

static void test_prefix_and_skip(void **state)
{
	char *arc = mkset("pkg.tgz", "--kind tiny");
	const char *skip[] = { "etc/*", NULL };
	struct layer_import_opts o = { .prefix = "/usr/pkg", .skip = skip, .label = "tiny-1.0.tgz" };
	struct error *err = NULL;
	char *dir = import(arc, &o, NULL, &err);
	assert_non_null(dir);
	struct fstree *t = fstree_new();
	assert_int_equal(layer_apply(dir, t, &err), 0);
	assert_non_null(fstree_lookup(t, "/usr/pkg/bin/sh"));
	assert_ptr_equal(ino_at(t, "/usr/pkg/bin/ash"), ino_at(t, "/usr/pkg/bin/sh"));
	assert_null(fstree_lookup(t, "/usr/pkg/etc/rc"));
	assert_null(fstree_lookup(t, "/bin"));
	fstree_free(t);
	free(dir);
	free(arc);
}

static void test_digest_stability(void **state)
{
	char *a1 = mkset("d1.tar.xz", "--kind base --files 200 --bytes 800000 --seed one");
	char *a2 = mkset("d2.tar.xz", "--kind base --files 200 --bytes 800000 --seed one");
	char *a3 = mkset("d3.tar.xz", "--kind base --files 200 --bytes 800000 --seed two");
	struct error *err = NULL;
	struct layer_info i1, i2, i3;
	char *l1 = import(a1, NULL, &i1, &err), *l2 = import(a2, NULL, &i2, &err),
	     *l3 = import(a3, NULL, &i3, &err);
	assert_non_null(l1);
	assert_non_null(l2);
	assert_non_null(l3);
	assert_string_equal(i1.digest, i2.digest);
	assert_string_not_equal(i1.digest, i3.digest);
	assert_int_equal(strlen(i1.digest), 64);
	/* layer files byte-identical too */
	char *e1 = path_join(l1, "entries"), *e2 = path_join(l2, "entries");
	char *b1, *b2;
	size_t n1, n2;
	assert_int_equal(read_file(e1, 1 << 24, &b1, &n1), 0);
	assert_int_equal(read_file(e2, 1 << 24, &b2, &n2), 0);
	assert_int_equal(n1, n2);
	assert_memory_equal(b1, b2, n1);
	assert_true(str_startswith(b1, "smolc-layer 1\n"));
	free(b1);
	free(b2);
	free(e1);
	free(e2);
	free(l1);
	free(l2);
	free(l3);
	free(a1);
	free(a2);
	free(a3);
}

static void test_writer_whiteouts_and_sparse(void **state)
{
	struct error *err = NULL;
	char *d1 = new_dir(), *d2 = new_dir();
	struct layer_writer *w = layer_writer_new(d1, "gen", &err);
	struct fs_meta m = { .type = FS_REG, .perm = 0644, .uname = "a b%c", .mtime = 5 };
	assert_int_equal(layer_add_file_buf(w, "/etc/odd name\n", &m, "x", 1, &err), 0);
	assert_int_equal(layer_add_file_buf(w, "/etc/keep", &m, "keep", 4, &err), 0);
	/* a big file with a zero middle: the data file gets a hole */
	size_t big = 1 << 20;
	char *buf = xcalloc(1, big);
	memset(buf, 'a', 4096);
	memset(buf + big - 4096, 'z', 4096);
	assert_int_equal(layer_add_file_buf(w, "/var/big", &m, buf, big, &err), 0);
	struct fs_meta dev = { .type = FS_CHR, .perm = 0600, .rdev_major = 4, .rdev_minor = 1 };
	assert_int_equal(layer_add(w, "/dev/ttyE1", &dev, &err), 0);
	assert_int_equal(layer_add_hardlink(w, "/var/big2", "/var/big", &err), 0);
	assert_int_equal(layer_add_hardlink(w, "/x", "/nothere", &err), -1);
	assert_string_equal(error_msg(err), "gen: entry \"/x\" is a hard link to \"/nothere\", which is not an "
				 "earlier entry of the input");
	error_clear(&err);
	assert_int_equal(layer_writer_finish(w, NULL, &err), 0);
	char *data = path_join(d1, "data");
	struct stat st;
	assert_int_equal(stat(data, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 < big / 2);
	free(data);

	w = layer_writer_new(d2, "gen2", &err);
	assert_int_equal(layer_add_whiteout(w, "/etc/odd name\n", &err), 0);
	assert_int_equal(layer_add_whiteout(w, "/var", &err), 0);
	assert_int_equal(layer_writer_finish(w, NULL, &err), 0);

	struct fstree *t = fstree_new();
	assert_int_equal(layer_apply(d1, t, &err), 0);
	struct fs_inode *odd = ino_at(t, "/etc/odd name\n");
	assert_string_equal(odd->uname, "a b%c");
	struct fs_inode *b = ino_at(t, "/var/big");
	assert_int_equal(b->nlink, 2);
	char got[4096];
	int fd = open(b->data_path, O_RDONLY);
	assert_int_equal(pread(fd, got, 4096, (off_t)(b->data_off + big - 4096)), 4096);
	close(fd);
	assert_int_equal(got[0], 'z');
	assert_int_equal(ino_at(t, "/dev/ttyE1")->rdev_minor, 1);
	assert_int_equal(layer_apply(d2, t, &err), 0);
	assert_null(fstree_lookup(t, "/etc/odd name\n"));
	assert_null(fstree_lookup(t, "/var"));
	assert_non_null(fstree_lookup(t, "/etc/keep"));
	fstree_free(t);
	free(buf);
	free(d1);
	free(d2);
}

static int owner_cb(void *ctx, const char *rel, const struct stat *st, uint32_t *uid,
		    uint32_t *gid, struct error **err)
{
	if (strcmp(rel, "sub/owned") == 0) {
		*uid = 33;
		*gid = 44;
	}
	return 0;
}

static void test_import_path(void **state)
{
	char *src = xasprintf("%s/src", tmp);
	char *sub = xasprintf("%s/src/sub", tmp);
	assert_int_equal(mkdir_p(sub, 0755), 0);
	char *f = xasprintf("%s/file", src), *o = xasprintf("%s/owned", sub);
	char *h = xasprintf("%s/hard", sub), *l = xasprintf("%s/link", src);
	assert_int_equal(write_file_atomic(f, "hello", 5, 0640), 0);
	assert_int_equal(write_file_atomic(o, "o", 1, 0600), 0);
	assert_int_equal(link(f, h), 0);
	assert_int_equal(symlink("file", l), 0);
	struct error *err = NULL;
	char *dir = new_dir();
	struct layer_writer *w = layer_writer_new(dir, "COPY", &err);
	struct layer_path_opts po = { .dest = "/srv/www", .uid = 0, .gid = 0, .perm = -1,
				      .mtime = 7, .owner = owner_cb };
	assert_int_equal(layer_import_path(w, src, &po, &err), 0);
	assert_int_equal(layer_writer_finish(w, NULL, &err), 0);
	struct fstree *t = fstree_new();
	assert_int_equal(layer_apply(dir, t, &err), 0);
	struct fs_inode *fi = ino_at(t, "/srv/www/file");
	assert_int_equal(fi->perm, 0640);
	assert_int_equal(fi->uid, 0);
	assert_int_equal(fi->mtime, 7);
	assert_int_equal(fi->size, 5);
	assert_ptr_equal(ino_at(t, "/srv/www/sub/hard"), fi);
	assert_int_equal(ino_at(t, "/srv/www/sub/owned")->uid, 33);
	assert_int_equal(ino_at(t, "/srv/www/sub/owned")->gid, 44);
	assert_string_equal(ino_at(t, "/srv/www/link")->target, "file");
	/* a single file goes to dest itself */
	char *d2 = new_dir();
	w = layer_writer_new(d2, "RC", &err);
	struct layer_path_opts p2 = { .dest = "/etc/rc", .uid = 0, .gid = 0, .perm = 0755, .mtime = 1 };
	assert_int_equal(layer_import_path(w, f, &p2, &err), 0);
	assert_int_equal(layer_writer_finish(w, NULL, &err), 0);
	assert_int_equal(layer_apply(d2, t, &err), 0);
	assert_int_equal(ino_at(t, "/etc/rc")->perm, 0755);
	fstree_free(t);
	free(d2);
	free(dir);
	free(f);
	free(o);
	free(h);
	free(l);
	free(src);
	free(sub);
}

static void test_export_and_diff(void **state)
{
	struct error *err = NULL;
	char *d1 = new_dir();
	struct layer_writer *w = layer_writer_new(d1, "base", &err);
	struct fs_meta m = { .type = FS_REG, .perm = 0644, .uid = 1000, .gid = 1000, .mtime = 100 };
	assert_int_equal(layer_add_file_buf(w, "/etc/rc", &m, "old rc\n", 7, &err), 0);
	assert_int_equal(layer_add_file_buf(w, "/etc/passwd", &m, "root\n", 5, &err), 0);
	assert_int_equal(layer_add_file_buf(w, "/etc/same", &m, "same\n", 5, &err), 0);
	m.perm = 0444;
	assert_int_equal(layer_add_file_buf(w, "/bin/ro", &m, "ro\n", 3, &err), 0);
	assert_int_equal(layer_add_hardlink(w, "/bin/ro2", "/bin/ro", &err), 0);
	struct fs_meta dev = { .type = FS_CHR, .perm = 0600, .rdev_major = 0, .rdev_minor = 0 };
	assert_int_equal(layer_add(w, "/dev/console", &dev, &err), 0);
	struct fs_meta lnk = { .type = FS_LNK, .perm = 0777, .target = "rc", .mtime = 100 };
	assert_int_equal(layer_add(w, "/etc/rc.link", &lnk, &err), 0);
	assert_int_equal(layer_writer_finish(w, NULL, &err), 0);
	struct fstree *t = fstree_new();
	assert_int_equal(layer_apply(d1, t, &err), 0);

	char *stage = xasprintf("%s/stage", tmp);
	assert_int_equal(mkdir(stage, 0755), 0);
	assert_int_equal(layer_export_tree(t, stage, &err), 0);
	char *p = xasprintf("%s/bin/ro2", stage);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_nlink, 2);
	free(p);
	/* the "script": modify rc, remove passwd, add a file */
	p = xasprintf("%s/etc/rc", stage);
	assert_int_equal(write_file_atomic(p, "new rc!\n", 8, 0644), 0);
	free(p);
	p = xasprintf("%s/etc/passwd", stage);
	assert_int_equal(unlink(p), 0);
	free(p);
	p = xasprintf("%s/etc/new", stage);
	assert_int_equal(write_file_atomic(p, "n\n", 2, 0600), 0);
	free(p);

	char *d2 = new_dir();
	w = layer_writer_new(d2, "POSTINST", &err);
	assert_int_equal(layer_diff_dir(w, stage, t, 0, 0, &err), 0);
	struct layer_info li;
	assert_int_equal(layer_writer_finish(w, &li, &err), 0);
	assert_int_equal(li.entries, 3); /* rc changed, passwd removed, new added */
	assert_int_equal(layer_apply(d2, t, &err), 0);
	struct fs_inode *rc = ino_at(t, "/etc/rc");
	assert_int_equal(rc->size, 8);
	assert_int_equal(rc->uid, 1000); /* kept from the tree below */
	assert_int_equal(rc->perm, 0644);
	assert_null(fstree_lookup(t, "/etc/passwd"));
	struct fs_inode *nw = ino_at(t, "/etc/new");
	assert_int_equal(nw->uid, 0);
	assert_int_equal(nw->perm, 0600);
	assert_int_equal(ino_at(t, "/bin/ro")->perm, 0444);
	assert_non_null(fstree_lookup(t, "/dev/console"));
	assert_int_equal(ino_at(t, "/etc/same")->mtime, 100);
	fstree_free(t);
	free(stage);
	free(d1);
	free(d2);
}

/* ---- transport: layer blobs (the remote cache) ---- */

/* A layer with a big sparse file, written with the writer. */
static char *blob_src_layer(struct layer_info *li)
{
	struct error *err = NULL;
	char *d = new_dir();
	struct layer_writer *w = layer_writer_new(d, "src", &err);
	struct fs_meta m = { .type = FS_REG, .perm = 0644, .mtime = 7 };
	assert_int_equal(layer_add_file_buf(w, "/etc/rc", &m, "#!/bin/sh\n", 10, &err), 0);
	size_t big = 1 << 20;
	char *buf = xcalloc(1, big);
	memset(buf, 'a', 4096);
	memset(buf + big - 4096, 'z', 4096);
	assert_int_equal(layer_add_file_buf(w, "/var/big", &m, buf, big, &err), 0);
	free(buf);
	assert_int_equal(layer_writer_finish(w, li, &err), 0);
	return d;
}

/* Read the blob in fd back into a new layer, fed in chunks of `chunk`. */
static int blob_read_back(int fd, const char *dir, size_t chunk, const char *want, struct layer_info *li, struct error **err)
{
	struct layer_blob_reader *r = layer_blob_reader_new(dir, "blob", err);
	assert_non_null(r);
	char *buf = xmalloc(chunk);
	ssize_t n;
	off_t off = 0;
	int rc = 0;
	while ((n = pread(fd, buf, chunk, off)) > 0) {
		off += n;
		if (layer_blob_feed(r, buf, (size_t)n, err) < 0) {
			rc = -1;
			break;
		}
	}
	free(buf);
	if (rc < 0) {
		layer_blob_abort(r);
		return -1;
	}
	return layer_blob_finish(r, want, li, err);
}

static bool same_file(const char *a, const char *b)
{
	char *ta = NULL, *tb = NULL;
	size_t la = 0, lb = 0;
	bool same = read_file(a, 1 << 24, &ta, &la) == 0 && read_file(b, 1 << 24, &tb, &lb) == 0 && la == lb &&
		    !memcmp(ta, tb, la);
	free(ta);
	free(tb);
	return same;
}

static void test_blob_roundtrip(void **state)
{
	struct error *err = NULL;
	struct layer_info li, back;
	char *src = blob_src_layer(&li);
	char *bp = xasprintf("%s/blob", tmp);
	int fd = open(bp, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	struct layer_blob_info bi;
	assert_int_equal(layer_blob_write(src, fd, 0, &bi, &err), 0);
	assert_string_equal(bi.layer.digest, li.digest);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, bi.size);
	assert_true(bi.size < 64 * 1024); /* zeros compress */
	char hex[65];
	assert_int_equal(digest_file_hex(DIGEST_SHA256, bp, hex), 0);
	assert_string_equal(hex, bi.sha256);
	/* odd chunk sizes: the header, the entries and the data split anywhere */
	static const size_t chunks[] = {1, 7, 4096, 1 << 20};
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		char *dst = new_dir();
		assert_int_equal(blob_read_back(fd, dst, chunks[i], li.digest, &back, &err), 0);
		assert_string_equal(back.digest, li.digest);
		assert_int_equal(back.entries, li.entries);
		struct error *why = NULL;
		assert_int_equal(layer_verify(dst, true, false, &why), 0);
		char *a = path_join(src, "entries"), *b = path_join(dst, "entries");
		assert_true(same_file(a, b));
		free(a);
		free(b);
		a = path_join(src, "data");
		b = path_join(dst, "data");
		assert_true(same_file(a, b));
		assert_int_equal(stat(b, &st), 0);
		assert_true((uint64_t)st.st_blocks * 512 < (1 << 20) / 2); /* holes kept */
		free(a);
		free(b);
		free(dst);
	}
	/* the same layer gives the same blob */
	char *bp2 = xasprintf("%s/blob2", tmp);
	int fd2 = open(bp2, O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct layer_blob_info bi2;
	assert_int_equal(layer_blob_write(src, fd2, 0, &bi2, &err), 0);
	assert_string_equal(bi.sha256, bi2.sha256);
	close(fd2);
	/* another digest expected (the index names another layer) */
	char *dst = new_dir();
	assert_int_equal(blob_read_back(fd, dst, 65536, "0000000000000000000000000000000000000000000000000000000000000000",
					&back, &err), -1);
	assert_non_null(strstr(error_msg(err), "the cache index says sha256:000000000000…"));
	error_clear(&err);
	free(dst);
	/* truncated */
	assert_int_equal(ftruncate(fd, st.st_size > 0 ? (off_t)bi.size - 10 : 0), 0);
	dst = new_dir();
	assert_int_equal(blob_read_back(fd, dst, 65536, NULL, &back, &err), -1);
	assert_non_null(strstr(error_msg(err), "not a valid smolc layer blob"));
	error_clear(&err);
	free(dst);
	/* not zstd at all */
	assert_int_equal(pwrite(fd, "hello, world", 12, 0), 12);
	assert_int_equal(ftruncate(fd, 12), 0);
	dst = new_dir();
	assert_int_equal(blob_read_back(fd, dst, 65536, NULL, &back, &err), -1);
	assert_non_null(strstr(error_msg(err), "blob: not a valid smolc layer blob: "));
	error_clear(&err);
	free(dst);
	close(fd);
	/* a damaged layer is never exported */
	char *data = path_join(src, "data");
	int dfd = open(data, O_WRONLY);
	struct stat ds;
	assert_int_equal(fstat(dfd, &ds), 0);
	assert_int_equal(pwrite(dfd, "b", 1, 0), 1);
	struct timespec ts[2] = {ds.st_atim, ds.st_mtim};
	assert_int_equal(futimens(dfd, ts), 0); /* the cheap check passes: only the digest can tell */
	close(dfd);
	fd = open(bp, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(layer_blob_write(src, fd, 0, &bi, &err), -1);
	assert_non_null(strstr(error_msg(err), "the cached layer is damaged (its content does not match its recorded digest)"));
	error_clear(&err);
	close(fd);
	free(data);
	free(bp);
	free(bp2);
	free(src);
}

/* An entry list whose file data lies beyond the data file (a hostile or
 * damaged layer) is refused by apply. */
static void test_apply_data_range(void **state)
{
	struct error *err = NULL;
	char *d = new_dir();
	assert_int_equal(mkdir_p(d, 0755), 0);
	char *ep = path_join(d, "entries"), *dp = path_join(d, "data");
	const char *ents = "smolc-layer 1\nF /ok 0644 0 0 - - 0 10 0\nF /empty 0644 0 0 - - 0 0 99\n"
			   "F /x 0644 0 0 - - 0 100 0\n";
	assert_int_equal(write_file_atomic(ep, ents, strlen(ents), 0644), 0);
	assert_int_equal(write_file_atomic(dp, "0123456789", 10, 0644), 0);
	struct fstree *t = fstree_new();
	assert_int_equal(layer_apply(d, t, &err), -1);
	char *want = xasprintf("%s:4: the file's data lies beyond the end of the data file", ep);
	assert_string_equal(error_msg(err), want);
	free(want);
	error_clear(&err);
	fstree_free(t);
	free(ep);
	free(dp);
	free(d);
}

/* A download retried half-way: the reader starts over. */
static void test_blob_reset(void **state)
{
	struct error *err = NULL;
	struct layer_info li, back;
	char *src = blob_src_layer(&li);
	char *bp = xasprintf("%s/blob3", tmp);
	int fd = open(bp, O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct layer_blob_info bi;
	assert_int_equal(layer_blob_write(src, fd, 0, &bi, &err), 0);
	/* a download retried half-way: reset, then the whole stream again */
	char *dst = new_dir();
	struct layer_blob_reader *r = layer_blob_reader_new(dst, "blob", &err);
	char *buf = xmalloc(bi.size);
	assert_int_equal(pread(fd, buf, bi.size, 0), (ssize_t)bi.size);
	assert_int_equal(layer_blob_feed(r, buf, bi.size / 2, &err), 0);
	assert_int_equal(layer_blob_reset(r, &err), 0);
	assert_int_equal(layer_blob_feed(r, buf, bi.size, &err), 0);
	assert_int_equal(layer_blob_finish(r, li.digest, &back, &err), 0);
	struct error *why = NULL;
	assert_int_equal(layer_verify(dst, true, false, &why), 0);
	free(buf);
	free(dst);
	close(fd);
	free(bp);
	free(src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_import_tiny_every_type),
		cmocka_unit_test(test_import_base_devices_and_rescue),
		cmocka_unit_test(test_evil_archives),
		cmocka_unit_test(test_glob_filters),
		cmocka_unit_test(test_prefix_and_skip),
		cmocka_unit_test(test_digest_stability),
		cmocka_unit_test(test_writer_whiteouts_and_sparse),
		cmocka_unit_test(test_import_path),
		cmocka_unit_test(test_export_and_diff),
		cmocka_unit_test(test_blob_roundtrip),
		cmocka_unit_test(test_blob_reset),
		cmocka_unit_test(test_apply_data_range),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
