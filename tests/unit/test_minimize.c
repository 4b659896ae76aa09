/* test_minimize.c — MINIMIZE's parts: elfdeps (ELF read with libelf, both
 * classes and both byte orders, malformed and truncated files never
 * crash), rcscan (the programs a shell script runs) and minimize (the
 * keep set: interpreter, DT_NEEDED closure with RUNPATH/$ORIGIN and the
 * profile's directories, an incompatible library skipped, symlink
 * chains, KEEP globs, packages, missing programs). ELF files are made
 * here byte by byte. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "elfdeps.h"
#include "fstree.h"
#include "minimize.h"
#include "rcscan.h"
#include "util.h"

/* ---- an ELF maker ---- */

struct eb {
	unsigned char buf[4096];
	size_t len;
	bool msb, is64;
};

static void put(struct eb *e, size_t off, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		e->buf[off + (size_t)(e->msb ? n - 1 - i : i)] = (unsigned char)(v >> (8 * i));
}

struct elf_spec {
	int cls, data;
	unsigned machine;
	const char *interp;
	const char *needed[4];
	const char *runpath, *rpath;
};

/* ehdr, 3 phdrs (LOAD, INTERP, DYNAMIC), interp, strtab, dynamic */
static size_t make_elf(const struct elf_spec *s, unsigned char *out)
{
	struct eb e;
	memset(&e, 0, sizeof(e));
	e.msb = s->data == ELFDATA2MSB;
	e.is64 = s->cls == ELFCLASS64;
	size_t ehsz = e.is64 ? 64 : 52, phsz = e.is64 ? 56 : 32, dynsz = e.is64 ? 16 : 8, w = e.is64 ? 8 : 4;
	size_t nph = 3, off = ehsz + nph * phsz;
	size_t interp_off = off, interp_len = s->interp ? strlen(s->interp) + 1 : 0;
	if (s->interp)
		memcpy(e.buf + interp_off, s->interp, interp_len);
	off += interp_len;
	size_t str_off = off, sl = 1; /* strtab starts with "" */
	e.buf[str_off] = 0;
	size_t idx[8], ni = 0;
	const char *strs[8];
	for (int i = 0; i < 4 && s->needed[i]; i++)
		strs[ni++] = s->needed[i];
	size_t nneeded = ni;
	if (s->runpath)
		strs[ni++] = s->runpath;
	if (s->rpath)
		strs[ni++] = s->rpath;
	for (size_t i = 0; i < ni; i++) {
		idx[i] = sl;
		memcpy(e.buf + str_off + sl, strs[i], strlen(strs[i]) + 1);
		sl += strlen(strs[i]) + 1;
	}
	off = (str_off + sl + 7) & ~(size_t)7;
	size_t dyn_off = off, nd = 0;
	uint64_t base = 0x10000;
#define DYN(tag, val)                                                     \
	do {                                                              \
		put(&e, dyn_off + nd * dynsz, (uint64_t)(tag), (int)w);   \
		put(&e, dyn_off + nd * dynsz + w, (uint64_t)(val), (int)w); \
		nd++;                                                     \
	} while (0)
	for (size_t i = 0; i < nneeded; i++)
		DYN(DT_NEEDED, idx[i]);
	size_t k = nneeded;
	if (s->runpath)
		DYN(DT_RUNPATH, idx[k++]);
	if (s->rpath)
		DYN(DT_RPATH, idx[k++]);
	DYN(DT_STRTAB, base + str_off);
	DYN(DT_STRSZ, sl);
	DYN(DT_NULL, 0);
	e.len = dyn_off + nd * dynsz;
	/* ehdr */
	memcpy(e.buf, ELFMAG, SELFMAG);
	e.buf[EI_CLASS] = (unsigned char)s->cls;
	e.buf[EI_DATA] = (unsigned char)s->data;
	e.buf[EI_VERSION] = EV_CURRENT;
	put(&e, 16, ET_DYN, 2);
	put(&e, 18, s->machine, 2);
	put(&e, 20, EV_CURRENT, 4);
	if (e.is64) {
		put(&e, 32, ehsz, 8);      /* e_phoff */
		put(&e, 52, ehsz, 2);      /* e_ehsize */
		put(&e, 54, phsz, 2);
		put(&e, 56, nph, 2);
		put(&e, 58, 64, 2);        /* e_shentsize */
	} else {
		put(&e, 28, ehsz, 4);
		put(&e, 40, ehsz, 2);
		put(&e, 42, phsz, 2);
		put(&e, 44, nph, 2);
		put(&e, 46, 40, 2);
	}
	/* phdrs: type, offset, vaddr, filesz */
	struct {
		uint32_t type;
		uint64_t off, size;
	} ph[3] = {{PT_LOAD, 0, e.len}, {s->interp ? PT_INTERP : PT_NULL, interp_off, interp_len}, {PT_DYNAMIC, dyn_off, nd * dynsz}};
	for (size_t i = 0; i < 3; i++) {
		size_t p = ehsz + i * phsz;
		if (e.is64) {
			put(&e, p, ph[i].type, 4);
			put(&e, p + 8, ph[i].off, 8);
			put(&e, p + 16, base + ph[i].off, 8);
			put(&e, p + 32, ph[i].size, 8);
			put(&e, p + 40, ph[i].size, 8);
		} else {
			put(&e, p, ph[i].type, 4);
			put(&e, p + 4, ph[i].off, 4);
			put(&e, p + 8, base + ph[i].off, 4);
			put(&e, p + 16, ph[i].size, 4);
			put(&e, p + 20, ph[i].size, 4);
		}
	}
	memcpy(out, e.buf, e.len);
	return e.len;
}

static void check_facts(int cls, int data, unsigned machine)
{
	struct elf_spec s = {cls, data, machine, "/libexec/ld.elf_so", {"libc.so.12", "libm.so.0", NULL}, "$ORIGIN/../lib", NULL};
	unsigned char buf[4096];
	size_t len = make_elf(&s, buf);
	struct elf_facts f;
	struct error *err = NULL;
	assert_int_equal(elfdeps_read_mem(buf, len, &f, &err), 0);
	assert_null(err);
	assert_true(f.is_elf);
	assert_int_equal(f.cls, cls);
	assert_int_equal(f.data, data);
	assert_int_equal(f.machine, machine);
	assert_string_equal(f.interp, "/libexec/ld.elf_so");
	assert_int_equal(f.needed.n, 2);
	assert_string_equal(f.needed.v[0], "libc.so.12");
	assert_string_equal(f.needed.v[1], "libm.so.0");
	assert_string_equal(f.runpath, "$ORIGIN/../lib");
	assert_null(f.rpath);
	elf_facts_free(&f);
}

static void test_elf_classes_and_byte_orders(void **state)
{
	(void)state;
	check_facts(ELFCLASS64, ELFDATA2LSB, EM_X86_64);
	check_facts(ELFCLASS32, ELFDATA2LSB, EM_386);
	check_facts(ELFCLASS64, ELFDATA2LSB, EM_AARCH64);
	check_facts(ELFCLASS32, ELFDATA2MSB, EM_PPC);
	check_facts(ELFCLASS64, ELFDATA2MSB, EM_SPARCV9);
}

static void test_elf_malformed(void **state)
{
	(void)state;
	struct elf_spec s = {ELFCLASS64, ELFDATA2LSB, EM_X86_64, "/lib64/ld-linux-x86-64.so.2", {"libc.so.6", NULL}, NULL, "/opt/lib"};
	unsigned char buf[4096];
	size_t len = make_elf(&s, buf);
	struct elf_facts f;
	struct error *err = NULL;
	/* not ELF: no error */
	assert_int_equal(elfdeps_read_mem("#!/bin/sh\n", 10, &f, &err), 0);
	assert_false(f.is_elf);
	/* truncated before the dynamic section */
	assert_int_equal(elfdeps_read_mem(buf, len - 20, &f, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(error_msg(err), "truncated"));
	assert_true(f.is_elf);
	error_clear(&err);
	/* every prefix, and every single-byte corruption of the headers:
	 * an error or facts, never a crash (ASan runs this too) */
	for (size_t cut = 0; cut <= len; cut++) {
		if (elfdeps_read_mem(buf, cut, &f, &err) < 0)
			error_clear(&err);
		else
			elf_facts_free(&f);
		err = NULL;
	}
	for (size_t i = 4; i < 300 && i < len; i++) {
		unsigned char c[4096];
		memcpy(c, buf, len);
		c[i] ^= 0xff;
		if (elfdeps_read_mem(c, len, &f, &err) < 0)
			error_clear(&err);
		else
			elf_facts_free(&f);
		err = NULL;
	}
	/* the DT_RPATH of an intact file */
	assert_int_equal(elfdeps_read_mem(buf, len, &f, &err), 0);
	assert_string_equal(f.rpath, "/opt/lib");
	assert_null(f.runpath);
	elf_facts_free(&f);
}

/* ---- rcscan ---- */

static void test_rcscan(void **state)
{
	(void)state;
	const char *text = "#!/bin/sh\n"
			   "# a comment: rm -rf /\n"
			   ". /etc/include/basicrc\n"
			   "export PATH=/bin:/usr/bin\n"
			   "FOO=1 /usr/sbin/httpd -p 80 2>/dev/null &\n"
			   "ifconfig lo up; mount -a && echo ok || logger failed\n"
			   "start() { sshd -D; }\n"
			   "start\n"
			   "case \"$1\" in\n"
			   "  start) nginx ;;\n"
			   "  stop|restart) pkill nginx ;;\n"
			   "esac\n"
			   "for f in a b; do cat $f; done\n"
			   "if [ -x /x ]; then exec env LANG=C /usr/pkg/bin/tool --x; fi\n"
			   "cat <<EOF >/etc/motd\n"
			   "notacommand here\n"
			   "EOF\n"
			   "x=$(hostname -s) `uname`\n"
			   "$PROG arg\n"
			   "nohup nice -n 5 worker \\\n"
			   "  --flag\n"
			   "(cd /tmp && tar xf a.tar)\n";
	struct rcscan sc = {0};
	rcscan_text(text, strlen(text), &sc);
	const struct {
		const char *w;
		unsigned line;
		bool sourced;
	} want[] = {{"/etc/include/basicrc", 3, true}, {"/usr/sbin/httpd", 5, false}, {"ifconfig", 6, false},
		    {"mount", 6, false}, {"logger", 6, false}, {"sshd", 7, false}, {"nginx", 10, false},
		    {"pkill", 11, false}, {"cat", 13, false}, {"/usr/pkg/bin/tool", 14, false}, {"cat", 15, false},
		    {"uname", 18, false}, {"worker", 20, false}, {"tar", 22, false}};
	for (size_t i = 0; i < sc.n && i < ARRAY_LEN(want); i++) {
		assert_string_equal(sc.v[i].word, want[i].w);
		assert_int_equal(sc.v[i].line, want[i].line);
		assert_int_equal(sc.v[i].sourced, want[i].sourced);
	}
	assert_int_equal(sc.n, ARRAY_LEN(want));
	rcscan_free(&sc);
	/* unterminated quotes and heredocs end the scan, nothing more */
	const char *bad = "echo 'open\nfoo \"x\n<<EOF\n$(((";
	rcscan_text(bad, strlen(bad), &sc);
	rcscan_free(&sc);
}

/* ---- minimize ---- */

struct img {
	struct fstree *t;
	char dir[64];
	char *data;
	int fd;
	uint64_t off;
};

static void img_init(struct img *im)
{
	im->t = fstree_new();
	strcpy(im->dir, "/tmp/test_minimize.XXXXXX");
	assert_non_null(mkdtemp(im->dir));
	im->data = xasprintf("%s/data", im->dir);
	im->fd = open(im->data, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(im->fd >= 0);
	im->off = 0;
}

static void img_fini(struct img *im)
{
	fstree_free(im->t);
	close(im->fd);
	unlink(im->data);
	rmdir(im->dir);
	free(im->data);
}

static void img_file(struct img *im, const char *path, const void *buf, size_t len, unsigned perm)
{
	assert_int_equal(pwrite(im->fd, buf, len, (off_t)im->off), (ssize_t)len);
	struct fs_meta m = {.type = FS_REG, .perm = perm, .size = len, .data_path = im->data, .data_off = im->off};
	assert_int_equal(fstree_put(im->t, path, &m, NULL), 0);
	im->off += len;
}

static void img_elf(struct img *im, const char *path, const struct elf_spec *s)
{
	unsigned char buf[4096];
	size_t len = make_elf(s, buf);
	img_file(im, path, buf, len, 0755);
}

static void img_link(struct img *im, const char *path, const char *target)
{
	struct fs_meta m = {.type = FS_LNK, .perm = 0777, .target = target};
	assert_int_equal(fstree_put(im->t, path, &m, NULL), 0);
}

static void img_dev(struct img *im, const char *path)
{
	struct fs_meta m = {.type = FS_CHR, .perm = 0666, .rdev_major = 1, .rdev_minor = 3};
	assert_int_equal(fstree_put(im->t, path, &m, NULL), 0);
}

static void test_closure_netbsd(void **state)
{
	(void)state;
	struct img im;
	img_init(&im);
	const int C = ELFCLASS64, D = ELFDATA2LSB;
	struct elf_spec prog = {C, D, EM_X86_64, "/libexec/ld.elf_so", {"libc.so.12", "libx.so.1", NULL}, "$ORIGIN/../lib", NULL};
	struct elf_spec libc = {C, D, EM_X86_64, NULL, {NULL}, NULL, NULL};
	struct elf_spec libx = {C, D, EM_X86_64, NULL, {"libdep.so.2", NULL}, NULL, NULL};
	img_elf(&im, "/usr/pkg/sbin/daemon", &prog);
	img_elf(&im, "/libexec/ld.elf_so", &libc);
	img_elf(&im, "/usr/lib/libc.so.12.215", &libc);
	img_link(&im, "/usr/lib/libc.so.12", "libc.so.12.215");
	img_elf(&im, "/usr/pkg/lib/libx.so.1", &libx);      /* only via $ORIGIN/../lib */
	img_elf(&im, "/usr/pkg/lib/unused.so", &libc);
	img_elf(&im, "/lib/libdep.so.2", &libc);           /* a default directory */
	img_elf(&im, "/bin/other", &prog);
	img_file(&im, "/bin/sh", "#!/bin/oops\n", 12, 0755); /* a script whose interpreter is missing */
	img_file(&im, "/etc/passwd", "root:*:0:0::/:/bin/sh\n", 22, 0644);
	img_file(&im, "/usr/share/doc/x", "x", 1, 0644);
	img_file(&im, "/srv/www/a.html", "a", 1, 0644);
	img_file(&im, "/srv/www/b.txt", "b", 1, 0644);
	img_dev(&im, "/dev/null");
	struct minimize_root roots[] = {
		{MROOT_PROG, "daemon", "RC line 2", true, NULL},
		{MROOT_KEEP, "/srv/www/*.html", "KEEP /srv/www/*.html", true, NULL},
		{MROOT_PROG, "missing", "RC line 3", true, NULL},
	};
	struct minimize_opts o = {"netbsd", NULL, roots, ARRAY_LEN(roots)};
	struct minimize *m = minimize_run(im.t, &o);
	const char *kept[] = {"/usr/pkg/sbin/daemon", "/libexec/ld.elf_so", "/usr/lib/libc.so.12", "/usr/lib/libc.so.12.215",
			      "/usr/pkg/lib/libx.so.1", "/lib/libdep.so.2", "/etc/passwd", "/dev/null", "/srv/www/a.html",
			      "/bin", "/usr/pkg"};
	for (size_t i = 0; i < ARRAY_LEN(kept); i++)
		if (!minimize_keeps(m, kept[i]))
			fail_msg("%s: expected kept", kept[i]);
	const char *dropped[] = {"/bin/other", "/usr/pkg/lib/unused.so", "/usr/share/doc/x", "/srv/www/b.txt", "/bin/sh", "/usr/share"};
	for (size_t i = 0; i < ARRAY_LEN(dropped); i++)
		if (minimize_keeps(m, dropped[i]))
			fail_msg("%s: expected dropped", dropped[i]);
	size_t nm;
	const struct minimize_msg *msgs = minimize_msgs(m, &nm);
	assert_int_equal(nm, 1);
	assert_true(msgs[0].error);
	assert_ptr_equal(msgs[0].root, &roots[2]);
	assert_string_equal(msgs[0].text, "missing, which is not in the image (not found on PATH "
					  "/bin:/sbin:/usr/bin:/usr/sbin:/usr/pkg/bin:/usr/pkg/sbin)");
	minimize_free(m);
	img_fini(&im);
}

static void test_closure_linux_multiarch(void **state)
{
	(void)state;
	struct img im;
	img_init(&im);
	struct elf_spec prog = {ELFCLASS64, ELFDATA2LSB, EM_X86_64, "/lib64/ld-linux-x86-64.so.2", {"libz.so.1", "libgone.so", NULL}, NULL, NULL};
	struct elf_spec lib64 = {ELFCLASS64, ELFDATA2LSB, EM_X86_64, NULL, {NULL}, NULL, NULL};
	struct elf_spec lib32 = {ELFCLASS32, ELFDATA2LSB, EM_386, NULL, {NULL}, NULL, NULL};
	/* merged /usr: /lib -> usr/lib, /lib64 -> usr/lib64 */
	img_link(&im, "/lib", "usr/lib");
	img_link(&im, "/lib64", "usr/lib64");
	img_link(&im, "/bin", "usr/bin");
	img_elf(&im, "/usr/bin/app", &prog);
	img_link(&im, "/usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
	img_elf(&im, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", &lib64);
	img_elf(&im, "/usr/local/lib/libz.so.1", &lib32);           /* searched first, wrong class: skipped */
	img_link(&im, "/usr/lib/x86_64-linux-gnu/libz.so.1", "libz.so.1.2");
	img_link(&im, "/usr/lib/x86_64-linux-gnu/libz.so.1.2", "libz.so.1.2.13");
	img_elf(&im, "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13", &lib64);
	img_file(&im, "/usr/lib/x86_64-linux-gnu/truncated.so", "\177ELF\002\001\001", 7, 0644);
	img_elf(&im, "/usr/bin/ls", &prog);
	struct minimize_root roots[] = {
		{MROOT_KEEP, "/bin/app", "KEEP /bin/app", true, NULL},
		{MROOT_KEEP, "/usr/lib/x86_64-linux-gnu/truncated.so", "KEEP", true, NULL},
	};
	struct minimize_opts o = {"linux", NULL, roots, ARRAY_LEN(roots)};
	struct minimize *m = minimize_run(im.t, &o);
	const char *kept[] = {"/bin", "/lib", "/lib64", "/usr/bin/app", "/usr/lib64/ld-linux-x86-64.so.2",
			      "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/libz.so.1",
			      "/usr/lib/x86_64-linux-gnu/libz.so.1.2", "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13"};
	for (size_t i = 0; i < ARRAY_LEN(kept); i++)
		if (!minimize_keeps(m, kept[i]))
			fail_msg("%s: expected kept", kept[i]);
	assert_false(minimize_keeps(m, "/usr/local/lib/libz.so.1"));
	assert_false(minimize_keeps(m, "/usr/bin/ls"));
	size_t nm;
	const struct minimize_msg *msgs = minimize_msgs(m, &nm);
	assert_int_equal(nm, 2);
	assert_false(msgs[1].error);
	assert_string_equal(msgs[1].text,
			    "/usr/lib/x86_64-linux-gnu/truncated.so: malformed ELF file (truncated: 7 bytes, shorter than an ELF header); "
			    "the libraries it needs are not looked for");
	assert_false(msgs[0].error);
	assert_string_equal(msgs[0].text, "/usr/bin/app needs libgone.so, which is not in the image (looked in "
					  "/usr/local/lib /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib /usr/lib "
					  "/lib64 /usr/lib64)");
	minimize_free(m);
	img_fini(&im);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_classes_and_byte_orders),
		cmocka_unit_test(test_elf_malformed),
		cmocka_unit_test(test_rcscan),
		cmocka_unit_test(test_closure_netbsd),
		cmocka_unit_test(test_closure_linux_multiarch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
