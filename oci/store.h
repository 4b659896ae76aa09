/* store.h — the local image store: every built or pulled image, by name
 * and tag (`smolc images`, `tag`, `rmi`, `run NAME[:TAG]`, `push`).
 *
 * Where: $SMOLC_DATA, else $XDG_DATA_HOME/smolc, else
 * $HOME/.local/share/smolc (store_default_dir()).
 *
 * Layout (under the root):
 *   images/<id>/disk.img     the raw disk (GPT + ext2)
 *   images/<id>/kernel       the kernel to boot
 *   images/<id>/initrd       the initrd (initramfs), only for an image whose
 *                            recipe has INITRD
 *   images/<id>/run.yaml     the run config (image: disk.img, kernel: kernel
 *                            [, initrd: initrd])
 *   images/<id>/meta         JSON object + a last line "sum <sha256 of the JSON>":
 *                            key, service, arch, created, source, readonly,
 *                            disk {size, sha256?, ino, mtime_ns},
 *                            kernel {size, sha256?, ino, mtime_ns},
 *                            initrd? {size, sha256?, ino, mtime_ns},
 *                            run_config {sha256}
 *   refs/<escaped name>/<tag> one line: the image id
 *   tmp/                     entries being made (renamed into images/)
 *
 * <id> is the image key of a smolc build (64 hex; builds are
 * reproducible, so the key names the bytes), or, for an image pulled
 * without smolc's run-config layer (an anchor image), the SHA-256 of its
 * disk; a second run config for the same disk gets an id derived from
 * both (store_put). An image no tag names is deleted (store_tag,
 * store_untag). <escaped name> percent-encodes every byte but [A-Za-z0-9._-].
 *
 * Content addressed, stored once: an entry is made in tmp/ and renamed to
 * images/<id>; an id already present (and intact) is kept. The disk and
 * kernel are linked to the build's output files rather than copied:
 * a reflink (FICLONE) when the file system has them, else a hard link when
 * the caller allows it (the build allows it for READONLY images, whose
 * disk no VM writes), else a sparse copy (copy_file_range over the data
 * extents) — so a VM that writes to images/<name>.img never changes the
 * store.
 *
 * Trust: nothing read back is used unchecked. meta must match its sum
 * line; run.yaml must match the digest in meta; the disk and the kernel
 * (and the initrd, when there is one) must have the identity (inode, size, mtime in ns) recorded when they
 * were stored (a file changed since — for instance through a hard link —
 * is reported, never run or pushed). A file's SHA-256 is computed once
 * (push, pull) and recorded in meta under that identity.
 *
 * Names: NAME[:TAG]; NAME is one or more '/'-separated components of
 * [A-Za-z0-9._-] (not starting with '.' or '-'), optionally after a
 * registry host[:port]/ (127.0.0.1:5000/smol/hello); TAG is
 * [A-Za-z0-9_][A-Za-z0-9._-]{0,127}, default "latest".
 *
 * Errors: int functions return 0 (or a documented value) or -1 with *err
 * set (one line, caller frees). Ownership: every returned pointer is the
 * caller's; *_free accept NULL. Concurrency: writers take an exclusive
 * flock(2) on <root>/lock for the short metadata updates. */
#ifndef SMOLC_STORE_H
#define SMOLC_STORE_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct store;

/* $SMOLC_DATA, $XDG_DATA_HOME/smolc or $HOME/.local/share/smolc; NULL
 * with *err when none can be determined. */
char *store_default_dir(struct error **err);

/* Open (creating images/ refs/ tmp/) the store at dir (NULL = default).
 * Removes tmp entries of dead processes. */
struct store *store_open(const char *dir, struct error **err);
void store_free(struct store *s);
const char *store_root(const struct store *s);   /* borrowed */

/* Split "NAME[:TAG]" (default tag "latest") and validate both. A digest
 * reference (NAME@sha256:…) is refused. */
int store_parse_ref(const char *s, char **name, char **tag, struct error **err);
bool store_name_valid(const char *name);
bool store_tag_valid(const char *tag);
bool store_id_valid(const char *id);              /* 64 lowercase hex */

/* One file of an entry. */
struct store_file {
	uint64_t size;
	char sha256[65];          /* "" when not computed yet */
	uint64_t ino;
	int64_t mtime_ns;
};

struct store_meta {
	char id[65];
	char key[65];             /* the image key of a smolc build, "" for an anchor image */
	char *service, *arch;
	char *created;            /* RFC 3339, UTC */
	char *source;             /* "build", or "pull <reference>" */
	bool readonly;
	struct store_file disk, kernel;
	bool has_initrd;
	struct store_file initrd; /* when has_initrd */
	char run_config_sha256[65];
};
void store_meta_clear(struct store_meta *m);

/* What store_put stores. */
struct store_put {
	const char *id;           /* 64 hex: the image key, or the disk's sha256 */
	const char *key;          /* image key, or NULL/"" */
	const char *service, *arch, *source;
	bool readonly;
	const char *disk_path;
	bool disk_owned;          /* disk_path is a temp file of ours: rename it in */
	bool disk_may_link;       /* a hard link is allowed */
	const char *disk_sha256;  /* known digest or NULL */
	const char *kernel_path;
	bool kernel_owned;
	const char *kernel_sha256;
	const char *initrd_path;  /* NULL: no initrd */
	bool initrd_owned;
	const char *initrd_sha256;
	const char *run_config;   /* YAML text naming disk.img and kernel (and initrd) */
	const char *created;      /* NULL = now */
};

/* Store an image under its id (kept when already there and intact), and
 * say in id_out under which id it is: p->id, or — when images/<p->id>
 * holds the same disk with another run config (other PORTS, MEM, kernel
 * or INITRD) — the SHA-256 of "<p->id>\n<run config sha256>\n<0|1>", so
 * that images already tagged keep their run config. Returns 1 when
 * stored now, 0 when it was there, -1 on error. */
int store_put(struct store *s, const struct store_put *p, char id_out[65], struct error **err);

/* Point NAME:TAG at id (which must be stored). Replaces an existing tag;
 * the image it named before is deleted when no tag names it any more
 * (a rebuild leaves no untagged image behind). */
int store_tag(struct store *s, const char *name, const char *tag, const char *id, struct error **err);

/* The id NAME:TAG names: 0 with id filled, 1 when there is no such tag
 * (no error), -1 on error (a damaged ref). */
int store_lookup(struct store *s, const char *name, const char *tag, char id[65], struct error **err);

/* Remove NAME:TAG; the image itself goes when no other tag names it
 * (*removed_image set to true then). 1 when there was no such tag. */
int store_untag(struct store *s, const char *name, const char *tag, bool *removed_image, struct error **err);

/* Read and check an entry: the meta's sum, the run config's digest, the
 * identity of the disk and the kernel. 0 with *m filled (clear it), -1
 * with *err naming what is wrong and what to do. */
int store_verify(struct store *s, const char *id, struct store_meta *m, struct error **err);

/* Record a digest computed later (after checking the file's identity
 * still is the recorded one). which: "disk", "kernel" or "initrd". */
int store_set_sha256(struct store *s, const char *id, const char *which, const char *hex, struct error **err);

/* Paths inside images/<id>/ (not checked; caller frees). */
char *store_path(const struct store *s, const char *id, const char *file);

/* A temp path under tmp/ for a file being downloaded (same file system as
 * the store, so store_put can rename it in). Caller frees; the file is
 * created empty (mode 0644) with *fd open O_RDWR. */
int store_mktemp(struct store *s, const char *hint, char **path, int *fd, struct error **err);

/* Every tag, sorted by name then tag. Entries whose image fails its check
 * are listed with ok = false and why. */
struct store_entry {
	char *name, *tag;
	char id[65];
	struct store_meta meta;   /* filled when ok */
	bool ok;
	char *problem;            /* when !ok */
};
struct store_list {
	struct store_entry *v;
	size_t n;
};
int store_list(struct store *s, struct store_list *out, struct error **err);
void store_list_free(struct store_list *l);

/* Link or copy src to dst (a new file): reflink, else hard link when
 * may_link, else a sparse copy. 0 or -1 with *err. Exposed for tests. */
int store_clone_file(const char *src, const char *dst, bool may_link, struct error **err);

/* SHA-256 of a file into hex; 0 or -1 with *err. */
int store_file_sha256(const char *path, char hex[65], struct error **err);

#endif
