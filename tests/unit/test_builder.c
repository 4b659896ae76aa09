/* test_builder.c — the builder VM's generated files and QEMU argv (the
 * NetBSD profile cannot be booted here: these are its only tests), and
 * capture_diff on a disk changed with debugfs the way a guest kernel
 * would change it (new and rewritten files, removals, chmod/chown, a
 * symlink, a fifo, a hard link), applied back onto the tree. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "builder.h"
#include "capture.h"
#include "fstree.h"
#include "image.h"
#include "launcher.h"
#include "qemu.h"
#include "layer.h"
#include "util.h"

static char tmp[256];
static int seq;

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "%s/smolc-builder-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	remove_tree(tmp);
	return 0;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected \"%s\" in:\n%s", needle, hay);
}

static void assert_lacks(const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		fail_msg("did not expect \"%s\" in:\n%s", needle, hay);
}

static struct builder_opts opts(const char *profile, bool network)
{
	struct builder_opts o;
	memset(&o, 0, sizeof(o));
	o.what = "RUN";
	o.profile = profile;
	o.service = "web";
	o.arch = "amd64";
	o.kernel = "/k/netbsd-SMOL";
	o.script = "echo hi\n";
	o.network = network;
	o.launcher = &cli_launcher;
	return o;
}

static void test_rc_netbsd(void **state)
{
	struct builder_opts o = opts("netbsd", false);
	char *rc = builder_rc(&o, "N0NCE", true, true);
	assert_true(str_startswith(rc, "#!/bin/sh\n"));
	/* NetBSD's kernel mounts / read-only: the rc makes it read-write first */
	assert_contains(rc, "\nmount -u -w / ||");
	assert_contains(rc, "\n[ -f /etc/fstab ] && mount -a\n");
	assert_contains(rc, "\nmv -f $R/rc.orig /etc/rc\n");
	assert_contains(rc, "\nifconfig lo0 127.0.0.1 up\n");
	assert_lacks(rc, "vioif0");
	assert_lacks(rc, "resolv.conf");
	assert_contains(rc, "\necho 'smolc-run: begin N0NCE'\n(cd '/' && . $R/env && exec /bin/sh -e $R/script) </dev/null\nst=$?\n");
	assert_contains(rc, "\necho \"smolc-run: end N0NCE $st\"\nprintf '%-15d\\n' \"$st\" 1<>$R/status\nsync\npoweroff\n");
	free(rc);
	/* with the network, no /etc/rc and no /etc of its own, a WORKDIR */
	o.network = true;
	o.workdir = "/usr/src/it's";
	rc = builder_rc(&o, "N", false, false);
	assert_contains(rc, "\nrm -f /etc/rc; rmdir /etc\n");
	assert_contains(rc, "\nifconfig vioif0 10.0.2.15/24 && route -q add default 10.0.2.2\n");
	assert_contains(rc, "echo 'nameserver 10.0.2.3' >/etc/resolv.conf && ours=1");
	assert_contains(rc, "(mkdir -p '/usr/src/it'\\''s' && cd '/usr/src/it'\\''s' && ");
	assert_contains(rc, "rm -f /etc/resolv.conf\n");
	assert_lacks(rc, "su ");
	free(rc);
	/* USER: the script runs through su, and can read it */
	o.user = "www";
	rc = builder_rc(&o, "N", false, false);
	assert_contains(rc, "\nchmod 0711 $R\n");
	assert_contains(rc, " && . $R/env && exec su 'www' -c \"exec /bin/sh -e $R/script\") </dev/null\nst=$?\n");
	free(rc);
	o.user = "root";
	rc = builder_rc(&o, "N", false, false);
	assert_lacks(rc, "su ");
	assert_lacks(rc, "chmod 0711");
	free(rc);
}

static void test_rc_linux(void **state)
{
	struct builder_opts o = opts("linux", true);
	char *rc = builder_rc(&o, "X", false, true);
	assert_lacks(rc, "mount -u");
	assert_contains(rc, "\nrm -f /etc/rc\n");
	assert_contains(rc, "\nifconfig eth0 10.0.2.15 netmask 255.255.255.0 up && route add default gw 10.0.2.2\n");
	assert_contains(rc, "\npoweroff\n");
	free(rc);
}

static char *argv_of(const struct builder_opts *o)
{
	struct strvec v = {0};
	struct error *err = NULL;
	char *note = NULL;
	if (builder_argv(o, "/c/tmp/disk.img", &v, &note, &err) < 0)
		fail_msg("builder_argv: %s", err);
	assert_true(str_startswith(note, "tcg ("));
	free(note);
	char *s = qemu_argv_string(&v);
	sv_free(&v);
	return s;
}

static void test_argv(void **state)
{
	unsetenv("SMOLC_QEMU");
	setenv("QEMU_ACCEL", "tcg", 1);
	char *q = qemu_find_binary("qemu-system-x86_64");
	if (!q)
		setenv("SMOLC_QEMU", "/bin/true", 1); /* the launcher wants an installed binary */
	free(q);
	struct builder_opts o = opts("netbsd", false);
	o.mem_mib = 512;
	char *s = argv_of(&o);
	assert_contains(s, " -nodefaults -no-user-config -M microvm,rtc=on,acpi=off,pic=off -accel tcg -cpu qemu64 -m 512 -smp 1 ");
	assert_contains(s, " -kernel /k/netbsd-SMOL -append 'console=com root=NAME=webroot -z' ");
	assert_contains(s, " -drive if=none,file=/c/tmp/disk.img,format=raw,id=hd0 -device virtio-blk-device,drive=hd0 ");
	assert_contains(s, " -nic none ");
	assert_lacks(s, "-netdev");
	assert_lacks(s, "readonly=on");
	assert_contains(s, " -no-reboot ");
	assert_contains(s, " -serial mon:stdio");
	free(s);
	o.network = true;
	o.append = "debug";
	o.profile = "linux";
	s = argv_of(&o);
	assert_contains(s, "pic=on");
	/* APPEND last (under TCG the launcher may add tsc_early_khz= after it) */
	assert_contains(s, " -append 'console=ttyS0 root=PARTLABEL=webroot rw reboot=t panic=-1 debug");
	assert_contains(s, " -netdev user,id=net0,ipv6=off -device virtio-net-device,netdev=net0 ");
	assert_lacks(s, "-nic none");
	free(s);
	setenv("SMOLC_QEMU", "/bin/true", 1);
	s = argv_of(&o);
	assert_true(str_startswith(s, "/bin/true "));
	free(s);
	/* a QEMU that is not there: the message says what to do */
	setenv("SMOLC_QEMU", "/nonexistent/qemu", 1);
	struct strvec v = {0};
	struct error *err = NULL;
	char *note = NULL;
	assert_int_equal(builder_argv(&o, "/d", &v, &note, &err), -1);
	assert_string_equal(error_msg(err), "/nonexistent/qemu not found (from SMOLC_QEMU): the builder VM cannot boot");
	error_clear(&err);
	unsetenv("SMOLC_QEMU");
	unsetenv("QEMU_ACCEL");
}

/* ---- capture ---- */

static int sh(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static struct fstree *base_tree(void)
{
	struct error *err = NULL;
	char *dir = xasprintf("%s/base%d", tmp, ++seq);
	struct layer_writer *w = layer_writer_new(dir, "base", &err);
	assert_non_null(w);
	struct fs_meta d = {.type = FS_DIR, .perm = 0755, .mtime = 1000, .uname = "root", .gname = "wheel"};
	struct fs_meta f = {.type = FS_REG, .perm = 0644, .mtime = 1000, .uname = "root", .gname = "wheel"};
	assert_int_equal(layer_add(w, "/etc", &d, &err), 0);
	assert_int_equal(layer_add(w, "/var", &d, &err), 0);
	assert_int_equal(layer_add(w, "/var/old", &d, &err), 0);
	assert_int_equal(layer_add_file_buf(w, "/etc/passwd", &f, "root:*:0:0::/:/bin/sh\n", 22, &err), 0);
	assert_int_equal(layer_add_file_buf(w, "/etc/keep", &f, "keep\n", 5, &err), 0);
	assert_int_equal(layer_add_file_buf(w, "/etc/gone", &f, "gone\n", 5, &err), 0);
	assert_int_equal(layer_add_file_buf(w, "/etc/mode", &f, "mode\n", 5, &err), 0);
	assert_int_equal(layer_add_file_buf(w, "/var/old/x", &f, "x\n", 2, &err), 0);
	for (int i = 0; i < 50; i++) {
		char p[64];
		snprintf(p, sizeof(p), "/var/f%02d", i);
		assert_int_equal(layer_add_file_buf(w, p, &f, p, strlen(p), &err), 0);
	}
	assert_int_equal(layer_writer_finish(w, NULL, &err), 0);
	struct fstree *t = fstree_new();
	assert_int_equal(layer_apply(dir, t, &err), 0);
	free(dir);
	return t;
}

static void test_capture(void **state)
{
	struct fstree *t = base_tree();
	char *img = xasprintf("%s/disk.img", tmp);
	struct error *err = NULL;
	struct image_opts io = {.service = "cap", .seed = "s", .epoch = 1735689600, .profile = IMAGE_PROFILE_LINUX};
	assert_int_equal(image_write(img, t, &io, &err), 0);

	/* what a guest does, through debugfs (which leaves directory times
	 * alone: set them as the kernel would) */
	char *hostf = xasprintf("%s/new", tmp);
	assert_int_equal(write_file_atomic(hostf, "new content\n", 12, 0644), 0);
	char *cmds = xasprintf("%s/cmds", tmp);
	char *script = xasprintf("write %s /etc/new\n"
				 "sif /etc/new uid 1000\n"
				 "sif /etc/new mode 0100600\n"
				 "rm /etc/gone\n"
				 "sif /etc/mode mode 0100600\n"
				 "sif /etc/mode ctime 20300101\n"
				 "rm /var/old/x\n"
				 "rmdir /var/old\n"
				 "mkdir /var/newdir\n"
				 "symlink /var/newdir/link ../f01\n"
				 "cd /var/newdir\n"
				 "mknod fifo p\n"
				 "cd /\n"
				 "ln /etc/new /var/newdir/hard\n"
				 "sif /etc/new links_count 2\n"
				 "sif /etc ctime 20300101\n"
				 "sif /etc mtime 20300101\n"
				 "sif /var ctime 20300101\n"
				 "sif /var mtime 20300101\n",
				 hostf);
	assert_int_equal(write_file_atomic(cmds, script, strlen(script), 0644), 0);
	char *cmd = xasprintf("debugfs -w -f '%s' '%s?offset=1048576' >/dev/null 2>&1", cmds, img);
	assert_int_equal(sh(cmd), 0);

	struct ext2img *e = ext2img_open(img, IMAGE_PART_OFFSET, &err);
	assert_non_null(e);
	char *data = NULL;
	size_t len = 0;
	assert_int_equal(ext2img_read(e, "/etc/keep", 64, &data, &len, &err), 0);
	assert_string_equal(data, "keep\n");
	free(data);
	assert_int_equal(ext2img_read(e, "/etc/nothere", 64, &data, &len, &err), 1);
	assert_int_equal(ext2img_read(e, "/etc/passwd", 4, &data, &len, &err), 1); /* too big */

	char *ldir = xasprintf("%s/cap", tmp);
	struct layer_writer *w = layer_writer_new(ldir, "RUN", &err);
	assert_non_null(w);
	const char *skip[] = {"lost+found", NULL};
	struct capture_stats st;
	struct capture_opts co = {1735689600, false, skip, &st};
	if (capture_diff(e, t, w, &co, &err) < 0)
		fail_msg("capture: %s", err);
	ext2img_close(e);
	struct layer_info info;
	assert_int_equal(layer_writer_finish(w, &info, &err), 0);
	char *entries = NULL;
	char *ep = path_join(ldir, "entries");
	assert_int_equal(read_file(ep, 1 << 20, &entries, &len), 0);
	/* only what changed: nothing for /etc/keep or /var/fNN; /etc and /var
	 * lost and gained names, so they get a record */
	assert_lacks(entries, "/etc/keep");
	assert_lacks(entries, "/var/f");
	assert_contains(entries, "W /etc/gone\n");
	assert_contains(entries, "W /var/old\n");
	assert_contains(entries, "F /etc/mode 600 0 0 root wheel 1000 5 ");
	assert_contains(entries, "F /etc/new 600 1000 0 - - ");
	assert_contains(entries, "H /var/newdir/hard /etc/new\n");
	assert_contains(entries, "L /var/newdir/link 777 0 0 - - ");
	assert_contains(entries, " ../f01\n");
	assert_contains(entries, "P /var/newdir/fifo ");
	assert_contains(entries, "D /var/newdir ");
	/* every base name was looked at; the 50 untouched files were not compared */
	assert_true(st.compared <= 1);

	/* applied onto the base, the tree is what the guest left */
	assert_int_equal(layer_apply(ldir, t, &err), 0);
	assert_null(fstree_lookup(t, "/etc/gone"));
	assert_null(fstree_lookup(t, "/var/old"));
	struct fs_node *n = fstree_lookup(t, "/etc/new");
	assert_non_null(n);
	assert_int_equal(n->inode->uid, 1000);
	assert_int_equal(n->inode->size, 12);
	assert_int_equal(n->inode->nlink, 2);
	assert_ptr_equal(fstree_lookup(t, "/var/newdir/hard")->inode, n->inode);
	assert_int_equal(fstree_lookup(t, "/etc/mode")->inode->perm, 0600);
	assert_int_equal(fstree_lookup(t, "/var/newdir/fifo")->inode->type, FS_FIFO);
	assert_string_equal(fstree_lookup(t, "/var/newdir/link")->inode->target, "../f01");
	assert_non_null(fstree_lookup(t, "/var/f49"));

	free(ep);
	free(entries);
	free(ldir);
	free(cmd);
	free(script);
	free(cmds);
	free(hostf);
	free(img);
	fstree_free(t);
}

/* A disk nothing changed: the layer is empty, and nothing was compared. */
static void test_capture_nothing(void **state)
{
	struct fstree *t = base_tree();
	char *img = xasprintf("%s/same.img", tmp);
	struct error *err = NULL;
	struct image_opts io = {.service = "cap", .seed = "s", .epoch = 1735689600, .profile = IMAGE_PROFILE_NETBSD};
	assert_int_equal(image_write(img, t, &io, &err), 0);
	struct ext2img *e = ext2img_open(img, IMAGE_PART_OFFSET, &err);
	assert_non_null(e);
	char *ldir = xasprintf("%s/cap-none", tmp);
	struct layer_writer *w = layer_writer_new(ldir, "RUN", &err);
	const char *skip[] = {"lost+found", NULL};
	struct capture_stats st;
	struct capture_opts co = {1735689600, true, skip, &st};
	assert_int_equal(capture_diff(e, t, w, &co, &err), 0);
	ext2img_close(e);
	struct layer_info info;
	assert_int_equal(layer_writer_finish(w, &info, &err), 0);
	assert_int_equal(info.entries, 0);
	assert_int_equal(st.changed, 0);
	assert_int_equal(st.compared, 0);
	free(ldir);
	free(img);
	fstree_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rc_netbsd),
		cmocka_unit_test(test_rc_linux),
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_capture_nothing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
