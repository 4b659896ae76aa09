/* layer.h — a layer: the changes one build step makes to the root
 * filesystem (added/changed entries with full metadata and data, and
 * removals), stored in a directory of the cache.
 *
 * On-disk format (version 1), a directory holding:
 *   entries   text, one record per line, fields separated by one space:
 *               smolc-layer 1                    (first line)
 *               F <path> <perm> <uid> <gid> <uname> <gname> <mtime> <size> <off>
 *               D <path> <perm> <uid> <gid> <uname> <gname> <mtime>
 *               L <path> <perm> <uid> <gid> <uname> <gname> <mtime> <target>
 *               C|B <path> <perm> <uid> <gid> <uname> <gname> <mtime> <major> <minor>
 *               P|S <path> <perm> <uid> <gid> <uname> <gname> <mtime>   (fifo, socket)
 *               H <path> <target-path>           (hard link to an earlier entry of this layer)
 *               W <path>                         (whiteout: remove path, recursively)
 *             <perm> is octal (07777 bits), numbers are decimal, <path> is
 *             normalised and absolute ("/etc/rc", "/" for the root).
 *             Paths, names and targets are escaped: bytes <= 0x20, 0x7f
 *             and '%' become %XX; in uname/gname/target fields a lone "-"
 *             becomes %2D and an absent (or empty) value is "-". Records
 *             are in the order they were added and are applied in that
 *             order.
 *   data      regular file contents: <size> bytes at <off> for each F
 *             record. Files of 64 KiB or more start on a 4096-byte
 *             boundary and their all-zero 4 KiB blocks are left as holes
 *             (the data file is sparse); smaller files are packed.
 *   info      "digest <sha256 hex>\nentries <n>\nbytes <n>\n", written
 *             last; a layer directory without it is incomplete.
 * Digest: SHA-256 of the text "smolc-layer 1\n<E>\n<D>\n" where <E> and <D>
 * are the SHA-256 hex digests of the bytes of `entries` and of `data`
 * (holes read as zeros). Same input → same bytes → same digest.
 *
 * The writer creates `dir` (it must not exist yet or be empty); the caller
 * writes into a temp directory and renames it into the cache, and removes
 * it (remove_tree) on failure. Readers (layer_apply, image) pread the data
 * file, so a layer must stay in place until the image is written.
 *
 * Validation (every writer entry point and so every importer):
 *   - paths are normalised ("./x", "x/", "//" ok); a ".." component is
 *     refused ("escapes the image root"); absolute paths inside archives
 *     are refused by the archive importer (bsdtar would strip the '/';
 *     we prefer a loud error for release sets);
 *   - a component longer than 255 bytes is refused (ext2 limit);
 *   - an entry below a non-directory of the same layer (e.g. below a
 *     symlink: "through a symlink") is refused;
 *   - a hard link must name an earlier, non-directory entry of the layer.
 * Errors are one line: `<label>: entry "<name as in the input>" <reason>`. */
#ifndef SMOLC_LAYER_H
#define SMOLC_LAYER_H

#include "error.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fstree.h"

struct layer_info {
	char digest[65];      /* sha256 hex */
	uint64_t entries;     /* records (all kinds) */
	uint64_t bytes;       /* sum of regular file sizes */
};

/* ---- writer ---- */

struct layer_writer;

/* Create `dir` and start a layer in it. `label` names the input in error
 * messages (e.g. "base.tar.xz"); may be changed per import through the
 * import options. NULL with *err on failure. */
struct layer_writer *layer_writer_new(const char *dir, const char *label, struct error **err);

/* Add an entry of any type but FS_REG-with-data: dirs, symlinks (m->target),
 * devices (m->rdev_*), fifos, sockets, and empty regular files.
 * m->data_path / m->data_off / m->size are ignored. Returns 0 or -1 + *err. */
int layer_add(struct layer_writer *w, const char *path, const struct fs_meta *m, struct error **err);

/* Add a regular file whose content is `len` bytes at buf. */
int layer_add_file_buf(struct layer_writer *w, const char *path, const struct fs_meta *m,
		       const void *buf, size_t len, struct error **err);

/* Add a regular file whose content is read from fd until EOF (streamed,
 * 64 KiB at a time). m->size is ignored. fd is not closed. */
int layer_add_file_fd(struct layer_writer *w, const char *path, const struct fs_meta *m,
		      int fd, struct error **err);

/* Add `path` as a hard link to `target`, an earlier regular (or other
 * non-directory) entry of this layer. */
int layer_add_hardlink(struct layer_writer *w, const char *path, const char *target, struct error **err);

/* Record the removal of `path` (and everything below it). */
int layer_add_whiteout(struct layer_writer *w, const char *path, struct error **err);

/* Flush, fsync and close the files, write `info`, fill *info (may be NULL).
 * Frees w in every case. Returns 0 or -1 + *err. */
int layer_writer_finish(struct layer_writer *w, struct layer_info *info, struct error **err);

/* Give up: close files and free w (the caller removes the directory). */
void layer_writer_abort(struct layer_writer *w);

/* ---- import from an archive (libarchive: tar, pax, ustar, cpio; xz, gzip,
 * bzip2, zstd, or none) ---- */

/* The largest regular file an image holds, plus one: ext2 without
 * large_file keeps sizes below 2 GiB. Imports check sizes against it from
 * the archive header or lstat before reading any data. */
#define LAYER_MAX_FILE (1ull << 31)

struct layer_import_opts {
	const char *label;              /* name for errors; default: basename of the archive path */
	const char *const *globs;       /* NULL-terminated fnmatch globs, or NULL = everything.
					   An entry is kept when "/" + its normalised path, or
					   the path of one of its ancestor directories, matches
					   one (so "/usr/include" keeps the whole directory;
					   FNM_PATHNAME not set: '*' crosses '/'). Directories
					   above a kept entry are kept with their metadata. */
	const char *prefix;             /* install everything under this path, e.g. "/usr/pkg";
					   NULL or "/" = the root */
	const char *const *skip;        /* NULL-terminated fnmatch globs on the normalised path
					   inside the archive (before prefix): entries matched are
					   ignored, e.g. "+*" for pkgsrc metadata. NULL = none */
	const char *root_name;          /* what entries may not escape, in messages
					   ("LOCALBASE /usr/pkg"); NULL = "the image root" */
};

/* Stream every entry of the archive at `path` into w. Keeps uid/gid,
 * uname/gname, mode bits, mtime, hard links (tar hard-link entries have
 * file type 0: detected by their link name), symlinks, devices, fifos.
 * A kept hard link whose target the globs excluded gets the target's data
 * (a second pass over the archive). Errors: see the header comment; a
 * corrupt or truncated archive gives `<label>: <libarchive message>`
 * (naming the entry when one was being read). Returns 0 or -1 + *err.
 * On error w is left in an unusable state: abort it. */
int layer_import_archive(struct layer_writer *w, const char *path,
			 const struct layer_import_opts *o, struct error **err);

/* ---- import from a host path (COPY, RC files, generated files) ---- */

/* Ownership override: called for every entry with its path relative to
 * the import source ("" for the source itself) and its lstat; set
 * *uid and *gid (preset to the fixed owner or the host's). Return non-zero
 * to fail (set *err yourself or leave it NULL for a generic message). */
typedef int (*layer_owner_fn)(void *ctx, const char *rel, const struct stat *st,
			      uint32_t *uid, uint32_t *gid, struct error **err);

struct layer_path_opts {
	const char *label;       /* for errors; default: the host path */
	const char *dest;        /* destination path in the image (required) */
	int64_t uid, gid;        /* >= 0: fixed owner; < 0: the host file's */
	int32_t perm;            /* >= 0: permission bits for every entry; < 0: the host's */
	int64_t mtime;           /* >= 0: fixed mtime; < 0: the host's */
	layer_owner_fn owner;    /* optional, applied after uid/gid above */
	void *owner_ctx;
};

/* Import `host_path` (lstat, symlinks not followed) to o->dest: a file,
 * symlink, fifo goes to dest itself; a directory becomes dest (with the
 * directory's own metadata) and its contents are walked recursively in
 * sorted order. Hard links inside the walk stay hard links. Device nodes
 * and sockets are imported as such. Returns 0 or -1 + *err. */
int layer_import_path(struct layer_writer *w, const char *host_path,
		      const struct layer_path_opts *o, struct error **err);

/* ---- apply ---- */

/* Apply the layer stored in `dir` onto t, in record order: later records
 * and later layers override earlier ones; whiteouts remove. Data ranges
 * refer to "<dir>/data" (interned in t) and must lie inside it. Returns
 * 0 or -1 + *err (`<dir>/entries:<line>: <reason>`). */
int layer_apply(const char *dir, struct fstree *t, struct error **err);

/* Read <dir>/info. Returns 0, or -1 + *err if missing or malformed. */
int layer_read_info(const char *dir, struct layer_info *info, struct error **err);

/* Check a committed layer against its info file. Cheap part (always): the
 * info is readable and the entry list and data file have the size and
 * mtime recorded when the layer was written (layers written before that
 * was recorded skip it). deep: also recompute the layer's digest from
 * both files (reads all the data). remember (with deep): a digest that
 * matched is remembered in <dir>/verified under both files' identity
 * (device, inode, size, mtime and ctime in ns), and a later check of files
 * with that identity does not read them again (a build that writes an
 * image after a small change must not cost the size of every set; `smolc
 * cache verify` passes false and always reads). Returns 0 when it
 * matches, 1 when it does not (*why says what differs, e.g. "its data
 * file was modified"), -1 when it cannot be read (*why set). */
int layer_verify(const char *dir, bool deep, bool remember, struct error **why);

/* ---- transport: a layer as one compressed stream (layer_blob.c) ----
 *
 * The remote layer cache (SPEC §8.5) moves a layer as one blob: a zstd
 * stream (one frame) of
 *     smolc-layer-blob 1\n
 *     digest <layer digest, sha256 hex>\n
 *     entries <records>\n
 *     bytes <sum of regular file sizes>\n
 *     entries-size <bytes of `entries`>\n
 *     data-size <bytes of `data`>\n
 *     \n
 * then the bytes of `entries`, then those of `data` (holes as zeros).
 * The header is at most 1 KiB. Same layer, same zstd version and level:
 * same bytes. */
#define LAYER_BLOB_MEDIA_TYPE "application/vnd.smolc.layer.v1+zstd"

struct layer_blob_info {
	char sha256[65];         /* of the compressed blob */
	uint64_t size;           /* compressed bytes */
	struct layer_info layer; /* the layer's own info */
};

/* Write the committed layer in `dir` as a blob into fd (from its current
 * position; the caller made it, e.g. cache_mktemp_file). The layer's
 * digest is recomputed from its files on the way: a layer that does not
 * match its info is refused (-1, *err says so) and nothing valid is left
 * in fd. level: zstd level (0 = the default, 3). */
int layer_blob_write(const char *dir, int fd, int level, struct layer_blob_info *bi, struct error **err);

/* Read a blob back into a new layer directory, streamed: _new creates
 * `dir` (which must not exist or be empty) and its files; _feed takes the
 * compressed bytes as they arrive (any split); _reset starts over (a
 * retried download); _finish checks that the stream was whole (one zstd
 * frame, the sizes of the header), recomputes the layer digest and
 * compares it with the header's and with want_digest (hex; NULL: not
 * checked), checks the entry list parses (layer_apply on a scratch tree),
 * syncs the files and writes `info` last. On any error the caller
 * removes `dir` (remove_tree); _finish and _abort free r. Sizes are
 * bounded by the header (entries-size <= 1 GiB; data-size <= 1 TiB). */
struct layer_blob_reader;
struct layer_blob_reader *layer_blob_reader_new(const char *dir, const char *label, struct error **err);
int layer_blob_feed(struct layer_blob_reader *r, const void *buf, size_t n, struct error **err);
int layer_blob_reset(struct layer_blob_reader *r, struct error **err);
int layer_blob_finish(struct layer_blob_reader *r, const char *want_digest, struct layer_info *info, struct error **err);
void layer_blob_abort(struct layer_blob_reader *r);

/* ---- POSTINST support: export a tree, diff a host dir against it ---- */

/* Materialise t under host_dir (which must exist and be empty) so a
 * script can modify it: directories (mode | 0700, so the building user can
 * write into them), regular files (mode | 0600, contents copied from the
 * data files), symlinks, fifos, hard links as hard links; mtimes set from
 * the tree. Device nodes and sockets cannot be made without root: they are
 * skipped (layer_diff_dir treats them as unchanged when absent). */
int layer_export_tree(struct fstree *t, const char *host_dir, struct error **err);

/* Write into w the differences between host_dir (a modified export of
 * base) and base: added and changed entries (type, perm, size, mtime or
 * symlink target differs — the rsync quick check; the extra 0700/0600
 * export bits are ignored when compared), and whiteouts for entries of
 * base missing from host_dir (except devices/sockets, see above). Entries
 * that existed in base keep base's uid/gid/uname/gname; new entries get
 * new_uid/new_gid (normally 0:0). Returns 0 or -1 + *err. */
int layer_diff_dir(struct layer_writer *w, const char *host_dir, struct fstree *base,
		   uint32_t new_uid, uint32_t new_gid, struct error **err);

#endif
