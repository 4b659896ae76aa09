/* test_container.c — OCI container pieces: reproducible layers (the same
 * tree gives the same digests whatever the order it was given in or the
 * host files' times), parent directories and fixed owners in the tar,
 * the manifest's descriptors; the shared objects of a program (elfdeps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <fcntl.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "container.h"
#include "elfneeds.h"
#include "util.h"

static char *tmpdir_new(void)
{
	char *t = xstrdup("/tmp/test_container.XXXXXX");
	assert_non_null(mkdtemp(t));
	return t;
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void make_layer(const char *dir, const char *hint, const char *src, bool reversed, struct container_layer *l)
{
	struct container_tree t = {0};
	struct error *err = NULL;
	if (reversed) {
		container_tree_symlink(&t, "bin/sh", "busybox");
		container_tree_data(&t, "etc/motd", "hi\n", 3, 0644);
		container_tree_file(&t, "usr/bin/prog", src, 0755);
	} else {
		container_tree_file(&t, "usr/bin/prog", src, 0755);
		container_tree_data(&t, "etc/motd", "hi\n", 3, 0644);
		container_tree_symlink(&t, "bin/sh", "busybox");
	}
	assert_int_equal(container_layer_write(&t, dir, hint, 0, l, &err), 0);
	assert_null(err);
	container_tree_free(&t);
}

static void test_layer_reproducible(void **state)
{
	(void)state;
	char *d = tmpdir_new(), *src = path_join(d, "prog");
	put(src, "#!/bin/sh\necho prog\n");
	struct container_layer a, b;
	make_layer(d, "a", src, false, &a);
	struct timespec ts[2] = {{12345, 0}, {12345, 0}};
	assert_int_equal(utimensat(AT_FDCWD, src, ts, 0), 0); /* another mtime, same bytes */
	make_layer(d, "b", src, true, &b);
	assert_string_equal(a.digest, b.digest);
	assert_string_equal(a.diff_id, b.diff_id);
	assert_int_equal(a.size, b.size);
	assert_true(str_startswith(a.digest, "sha256:") && strlen(a.digest) == 71);
	assert_string_not_equal(a.digest, a.diff_id);

	/* the tar: sorted, parents added, owners 0:0, mtime 0 */
	struct archive *ar = archive_read_new();
	archive_read_support_filter_all(ar);
	archive_read_support_format_tar(ar);
	assert_int_equal(archive_read_open_filename(ar, a.gz_path, 16384), ARCHIVE_OK);
	static const char *const want[] = {"bin/", "bin/sh", "etc/", "etc/motd", "usr/", "usr/bin/", "usr/bin/prog"};
	struct archive_entry *e;
	size_t n = 0;
	while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
		assert_true(n < ARRAY_LEN(want));
		const char *p = archive_entry_pathname(e);
		char *noslash = xstrdup(want[n]);
		if (str_endswith(noslash, "/"))
			noslash[strlen(noslash) - 1] = 0;
		assert_true(!strcmp(p, want[n]) || !strcmp(p, noslash));
		free(noslash);
		assert_int_equal(archive_entry_uid(e), 0);
		assert_int_equal(archive_entry_gid(e), 0);
		assert_int_equal(archive_entry_mtime(e), 0);
		if (!strcmp(p, "usr/bin/prog"))
			assert_int_equal(archive_entry_perm(e), 0755);
		if (!strcmp(p, "bin/sh"))
			assert_string_equal(archive_entry_symlink(e), "busybox");
		n++;
	}
	assert_int_equal(n, ARRAY_LEN(want));
	archive_read_free(ar);

	/* the manifest names both descriptors */
	struct container_image img;
	struct error *err = NULL;
	assert_int_equal(container_image_make(&img, &a, 1, xstrdup("{\"architecture\":\"amd64\"}"), "{\"k\":\"v\"}", &err), 0);
	json_t *m = json_loads(img.manifest, 0, NULL);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "config"), "digest")), img.config_digest);
	json_t *l0 = json_array_get(json_object_get(m, "layers"), 0);
	assert_string_equal(json_string_value(json_object_get(l0, "digest")), a.digest);
	assert_int_equal(json_integer_value(json_object_get(l0, "size")), (json_int_t)a.size);
	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "annotations"), "k")), "v");
	json_decref(m);
	container_image_clear(&img);
	assert_int_equal(container_image_make(&img, &a, 1, xstrdup("{}"), "[1]", &err), -1);
	assert_non_null(strstr(error_msg(err), "annotations are not a JSON object"));
	error_clear(&err);
	container_image_clear(&img);

	container_layer_clear(&a);
	container_layer_clear(&b);
	unlink(src);
	assert_int_equal(rmdir(d), 0); /* clear removed the layer files */
	free(src);
	free(d);
}

static void test_elfdeps(void **state)
{
	(void)state;
	struct elfdeps d = {0};
	struct error *err = NULL;
	char *sh = realpath("/bin/sh", NULL);
	assert_non_null(sh);
	assert_int_equal(elfdeps_add(&d, sh, &err), 0);
	assert_false(d.is_static);
	bool libc = false, interp = false, self = false;
	for (size_t i = 0; i < d.n; i++) {
		libc |= str_endswith(d.v[i].path, "/libc.so.6");
		interp |= strstr(d.v[i].path, "ld-linux") != NULL;
		self |= !strcmp(d.v[i].path, sh);
		if (i)
			assert_true(strcmp(d.v[i - 1].path, d.v[i].path) < 0); /* sorted, no duplicates */
	}
	assert_true(libc && interp && self);
	size_t n = d.n;
	assert_int_equal(elfdeps_add(&d, sh, &err), 0); /* nothing twice */
	assert_int_equal(d.n, n);
	elfdeps_free(&d);

	assert_int_equal(elfdeps_add(&d, "/etc/hostname", &err), -1);
	assert_non_null(strstr(error_msg(err), "/etc/hostname"));
	error_clear(&err);
	elfdeps_free(&d);
	if (access("/bin/busybox", X_OK) == 0) {
		assert_int_equal(elfdeps_add(&d, "/bin/busybox", &err), 0);
		assert_true(d.is_static);
		assert_int_equal(d.n, 1);
		elfdeps_free(&d);
	}
	free(sh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layer_reproducible),
		cmocka_unit_test(test_elfdeps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
