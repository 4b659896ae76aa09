/* fuzz_archive.c — libFuzzer harness for archive reading: each input is
 * a set (a tar, cpio, … stream, maybe compressed), streamed into a layer
 * by layer_import_archive as a SETS step does, with and without glob
 * filters and a prefix (PKGS). Nothing may crash, leak, or loop; errors
 * are fine. The input goes through a file in a private temp directory
 * (the importer reads a path); the layer is aborted each time.
 * Build: make build/fuzz/fuzz_archive; run: tests/fuzz/run.sh. */
#include "layer.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char dir[] = "/tmp/smolc-fuzz-archive.XXXXXX";
static char *in_path, *layer_dir;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!mkdtemp(dir))
		abort();
	in_path = path_join(dir, "set.tar");
	layer_dir = path_join(dir, "layer");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fopen(in_path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	struct error *err = NULL;
	struct layer_writer *w = layer_writer_new(layer_dir, "fuzz", &err);
	if (!w)
		abort(); /* the temp directory must work */
	static const char *const globs[] = {"/etc/*", "/bin/sh", NULL};
	static const char *const skip[] = {"+*", NULL};
	struct layer_import_opts o = {0};
	o.label = "fuzz.tar";
	if (size && (data[0] & 1)) {
		o.globs = globs;
		o.skip = skip;
		o.prefix = "/usr/pkg";
	}
	(void)layer_import_archive(w, in_path, &o, &err);
	error_clear(&err);
	layer_writer_abort(w);
	remove_tree(layer_dir); /* the caller removes the directory */
	return 0;
}
