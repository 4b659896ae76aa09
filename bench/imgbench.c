/* imgbench.c — import archives into layers, apply them, write an image;
 * prints the time of each phase. For benchmarks and manual checks.
 *
 * Build (from the repo root, after `make`):
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Icommon -Icompiler -o build/imgbench bench/imgbench.c \
 *      build/libsmolc.a $(pkg-config --libs ext2fs fdisk libarchive libcrypto) -lcom_err
 * Usage:
 *   imgbench [-s SIZE_MIB] [-p netbsd|linux] [-g GLOB]... WORKDIR OUT.img ARCHIVE...
 * Layers go to WORKDIR/layerN; a layer already complete there (an earlier
 * run) is applied without re-importing, like a warm cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fstree.h"
#include "image.h"
#include "layer.h"
#include "util.h"

static void usage(void)
{
	fprintf(stderr, "usage: imgbench [-s SIZE_MIB] [-p netbsd|linux] [-g GLOB]... WORKDIR OUT.img ARCHIVE...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct strvec globs = { 0 };
	uint64_t size = 0;
	enum image_profile prof = IMAGE_PROFILE_NETBSD;
	int c;
	while ((c = getopt(argc, argv, "s:p:g:")) != -1) {
		switch (c) {
		case 's': size = strtoull(optarg, NULL, 10) << 20; break;
		case 'p': prof = strcmp(optarg, "linux") == 0 ? IMAGE_PROFILE_LINUX : IMAGE_PROFILE_NETBSD; break;
		case 'g': sv_pushdup(&globs, optarg); break;
		default: usage();
		}
	}
	if (argc - optind < 3)
		usage();
	const char *work = argv[optind], *out = argv[optind + 1];
	struct error *err = NULL;
	int rc = 1;
	struct fstree *t = fstree_new();
	if (globs.n) {
		VEC_GROW(globs.v, globs.n, globs.cap);
		globs.v[globs.n] = NULL;
	}
	double t0 = now_monotonic();
	for (int i = optind + 2; i < argc; i++) {
		char name[32];
		snprintf(name, sizeof(name), "layer%d", i - optind - 2);
		char *dir = path_join(work, name);
		struct layer_info li;
		if (layer_read_info(dir, &li, NULL) == 0) {
			/* cached layer from an earlier run: apply only */
			if (layer_apply(dir, t, &err) < 0) {
				free(dir);
				goto out;
			}
			printf("layer %s: cached %s\n", argv[i], li.digest);
			free(dir);
			continue;
		}
		struct layer_writer *w = layer_writer_new(dir, argv[i], &err);
		struct layer_import_opts o = { .globs = globs.n ? (const char *const *)globs.v : NULL };
		if (!w || layer_import_archive(w, argv[i], &o, &err) < 0) {
			layer_writer_abort(w);
			free(dir);
			goto out;
		}
		if (layer_writer_finish(w, &li, &err) < 0 || layer_apply(dir, t, &err) < 0) {
			free(dir);
			goto out;
		}
		printf("layer %s: %s, %llu entries, %llu bytes\n", argv[i], li.digest,
		       (unsigned long long)li.entries, (unsigned long long)li.bytes);
		free(dir);
	}
	double t1 = now_monotonic();
	struct image_opts io = { .service = "bench", .seed = "bench-seed", .epoch = 1700000000,
				 .size_bytes = size, .profile = prof };
	uint64_t min, autosz;
	image_size_needed(t, &io, &min, &autosz);
	if (image_write(out, t, &io, &err) < 0)
		goto out;
	double t2 = now_monotonic();
	struct fstree_stats st;
	fstree_get_stats(t, &st);
	printf("tree: %llu names, %llu inodes, %llu bytes; min %llu MiB, auto %llu MiB\n",
	       (unsigned long long)st.names, (unsigned long long)st.inodes,
	       (unsigned long long)st.bytes, (unsigned long long)(min >> 20),
	       (unsigned long long)(autosz >> 20));
	printf("import+apply %.3f s, image %.3f s, total %.3f s\n", t1 - t0, t2 - t1, t2 - t0);
	rc = 0;
out:
	if (err)
		fprintf(stderr, "imgbench: %s\n", error_msg(err));
	error_clear(&err);
	fstree_free(t);
	sv_free(&globs);
	return rc;
}
