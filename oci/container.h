/* container.h — OCI container images (image-spec v1.1) made by smolc:
 * reproducible layer tarballs and the three on-disk forms `smolc export`
 * writes (oci-dir, oci-archive, docker-archive).
 *
 * A layer is a file tree (container_tree) written as a POSIX tar (pax
 * restricted: ustar unless a name needs more): entries sorted by name,
 * parent directories added (0755), owners 0:0 without names, every mtime
 * the caller's fixed value; then gzip'd with zlib (no name, mtime 0), so
 * the same tree always gives the same bytes and digests. The uncompressed
 * tar is kept (its SHA-256 is the layer's diff_id; docker-archive ships
 * it).
 *
 * Files: every path is checked when the layer is written (a file that
 * vanished or changed size while being read is an error naming it).
 *
 * Errors: int functions return 0 or -1 with *err (one line, caller
 * frees). Ownership: trees, layers and images own their strings and
 * files; *_free accept NULL and remove the temp files they made. */
#ifndef SMOLC_CONTAINER_H
#define SMOLC_CONTAINER_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OCI_LAYER_GZIP_TYPE "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_CONFIG_TYPE "application/vnd.oci.image.config.v1+json"
#define OCI_IMAGE_MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#ifndef OCI_INDEX_TYPE
#define OCI_INDEX_TYPE "application/vnd.oci.image.index.v1+json"
#endif

enum container_entry_kind { CONTAINER_FILE, CONTAINER_DIR, CONTAINER_SYMLINK };

struct container_entry {
	char *name;                 /* relative, no leading '/' ("usr/bin/qemu") */
	enum container_entry_kind kind;
	char *src;                  /* CONTAINER_FILE: a host file to read, or NULL and */
	char *data;                 /* … in-memory contents */
	size_t len;
	char *target;               /* CONTAINER_SYMLINK */
	unsigned mode;              /* permission bits */
};

struct container_tree {
	struct container_entry *v;
	size_t n, cap;
};

/* Add entries (names are copied; a later entry of the same name replaces
 * an earlier one). */
void container_tree_file(struct container_tree *t, const char *name, const char *src, unsigned mode);
void container_tree_data(struct container_tree *t, const char *name, const char *data, size_t len, unsigned mode);
void container_tree_symlink(struct container_tree *t, const char *name, const char *target);
void container_tree_dir(struct container_tree *t, const char *name, unsigned mode);
void container_tree_free(struct container_tree *t);

struct container_layer {
	char digest[72];            /* "sha256:…" of the gzip blob */
	char diff_id[72];           /* "sha256:…" of the tar */
	uint64_t size, tar_size;
	char *gz_path, *tar_path;   /* files in the work directory */
};

/* Write the tree as a layer into workdir (files <hint>.tar, <hint>.tar.gz). */
int container_layer_write(struct container_tree *t, const char *workdir, const char *hint, int64_t mtime,
			  struct container_layer *out, struct error **err);
void container_layer_clear(struct container_layer *l);

/* An image: its layers (borrowed), the config JSON text and the manifest. */
struct container_image {
	const struct container_layer *layers;
	size_t nlayers;
	char *config;               /* JSON text, owned */
	char config_digest[72];
	char *manifest;             /* JSON text, owned */
	char manifest_digest[72];
};

/* Make the manifest for config_json (taken over: the caller's text) and
 * the layers; annotations_json is a JSON object text or NULL. */
int container_image_make(struct container_image *img, const struct container_layer *layers, size_t nlayers,
			 char *config_json, const char *annotations_json, struct error **err);
void container_image_clear(struct container_image *img);

/* An OCI image layout in dir (created; must not exist or be empty):
 * oci-layout, index.json (one manifest, annotated
 * org.opencontainers.image.ref.name = ref_name), blobs/sha256/. */
int container_write_oci_dir(const struct container_image *img, const char *dir, const char *ref_name, struct error **err);
/* The same layout as an uncompressed tar (temp + rename). */
int container_write_oci_archive(const struct container_image *img, const char *file, const char *ref_name,
				struct error **err);
/* `docker save` format (manifest.json, <config hex>.json, <diff id
 * hex>.tar per layer), RepoTags [repo_tag] (temp + rename). */
int container_write_docker_archive(const struct container_image *img, const char *file, const char *repo_tag,
				   struct error **err);

#endif
