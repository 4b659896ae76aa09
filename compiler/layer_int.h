/* layer_int.h — internals shared by layer.c, layer_archive.c and
 * layer_host.c. Not for other modules: use layer.h. */
#ifndef SMOLC_LAYER_INT_H
#define SMOLC_LAYER_INT_H

#include "error.h"

#include <stdbool.h>
#include <stdint.h>

#include "layer.h"

/* Set *err (if err and *err is still NULL) and return -1. */
int layer_fail(struct error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *layer_writer_label(const struct layer_writer *w);   /* borrowed */
void layer_writer_set_label(struct layer_writer *w, const char *label);

/* Variants of the public adders where `shown` is the entry's name as the
 * input spells it, for error messages. */
int layer_add_named(struct layer_writer *w, const char *shown, const char *path,
		    const struct fs_meta *m, struct error **err);
int layer_add_file_fd_named(struct layer_writer *w, const char *shown, const char *path,
			    const struct fs_meta *m, int fd, struct error **err);
int layer_add_hardlink_named(struct layer_writer *w, const char *shown, const char *path,
			     const char *target, struct error **err);

/* Streamed regular file: rd() is called once and feeds the content with
 * layer_feed / layer_feed_zeros. size_hint decides the data layout. */
typedef int (*layer_read_fn)(void *ctx, struct layer_writer *w, struct error **err);
int layer_add_file_stream(struct layer_writer *w, const char *shown, const char *path,
			  const struct fs_meta *m, uint64_t size_hint,
			  layer_read_fn rd, void *ctx, struct error **err);
int layer_feed(struct layer_writer *w, const void *buf, size_t n, struct error **err);
int layer_feed_zeros(struct layer_writer *w, uint64_t n, struct error **err);
uint64_t layer_fed(const struct layer_writer *w);  /* bytes fed to the current file */

/* Whether the layer so far holds path (incl. implicit parent dirs). */
bool layer_has_path(const struct layer_writer *w, const char *path);

/* Write <dir>/info (temp + rename) for a layer whose entry list and data
 * file are open as efd and dfd (complete and synced): info's digest,
 * entries and bytes, and both files' size and mtime (layer_verify). */
int layer_write_info(const char *dir, int efd, int dfd, const struct layer_info *info, struct error **err);

#endif
