/* image.h — write an fstree into a raw disk image: protective MBR + GPT
 * (libfdisk) with one partition, and an ext2 filesystem inside it written
 * with libext2fs at the partition's offset. No root, no loop device.
 *
 * Layout:
 *   - GPT, first usable LBA 34, one partition starting at sector 2048
 *     (1 MiB), ending 34 sectors before the end of the disk, named
 *     "<service>root", type Linux filesystem 0FC63DAF-8483-4772-8E79-
 *     3D69D8477DE4 (sgdisk: 8300), attribute bit 59 (NetBSD BOOTME).
 *     Disk and partition GUIDs are derived from the seed (SHA-256 of seed
 *     + a purpose string, formatted as RFC 4122 version 4 GUIDs).
 *   - ext2 revision 1 (dynamic) with no optional features (as
 *     `mke2fs -O none`), 128-byte inodes (what old NetBSD code expects),
 *     no reserved blocks. Block size as mke2fs.conf decides: 1024 below
 *     512 MiB ("small"/"floppy" types), 4096 from 512 MiB up; inode count
 *     from mke2fs's ratios (4096 bytes/inode small, 16384 default), raised
 *     if the tree needs more. Volume label "<service>root" (cut to 16 bytes).
 *   - Filesystem UUID and directory hash seed from the seed; all times
 *     from the epoch: an inode's mtime is min(tree mtime, epoch) and its
 *     atime/ctime equal that mtime; superblock times are the epoch
 *     (at least 1: libext2fs reads a zero "now" as "use the clock").
 *     Same tree + options → byte-identical image.
 *   - Ownership and modes come only from the tree. Hard links share one
 *     inode (link count = names). Symlinks < 60 bytes are fast symlinks.
 *     Devices: profile NETBSD stores the number NetBSD's way in i_block[0]
 *     (((maj<<8)&0xfff00)|((min<<12)&0xfff00000)|(min&0xff)); profile
 *     LINUX as libext2fs/mke2fs do (old 16-bit form in i_block[0] when
 *     both fit in 8 bits, else the new form in i_block[1]).
 *   - Directories are built in one pass per directory (no ext2fs_link),
 *     so a 40,000-entry directory costs linear time. All-zero blocks of
 *     regular files stay holes.
 *
 * The writer writes to the path given (creating/truncating it); the
 * caller writes to a temp path and renames. Regular file contents are
 * pread from each inode's data_path; those files must stay in place. */
#ifndef SMOLC_IMAGE_H
#define SMOLC_IMAGE_H

#include "error.h"

#include <stdbool.h>
#include <stdint.h>

#include "fstree.h"

/* Byte offset of the partition (and of its ext2 filesystem) in the disk. */
#define IMAGE_PART_OFFSET (2048ull * 512)

enum image_profile {
	IMAGE_PROFILE_NETBSD = 0,
	IMAGE_PROFILE_LINUX,
};

/* Progress callback: done/total in bytes of file data written. */
typedef void (*image_progress_fn)(void *ctx, uint64_t done, uint64_t total);

struct image_opts {
	const char *service;        /* required: partition name is service + "root" */
	const char *seed;           /* required: any string, normally a sha256 hex digest */
	int64_t epoch;              /* SOURCE_DATE_EPOCH semantics (>= 0) */
	uint64_t size_bytes;        /* total disk size; 0 = auto */
	uint64_t headroom_bytes;    /* auto: free space to add (e.g. SIZE auto+64M) */
	enum image_profile profile;
	image_progress_fn progress; /* optional */
	void *progress_ctx;
};

/* Disk bytes the tree needs with these options (GPT + filesystem with
 * metadata, a 1 MiB-rounded value), ignoring size_bytes:
 *   - `*min_bytes`: the smallest disk that holds the tree (what an
 *     explicit SIZE must be at least);
 *   - `*auto_bytes`: what size_bytes = 0 will use: filesystem content +
 *     10 % + headroom_bytes, never below min_bytes.
 * Either pointer may be NULL. Returns 0. */
int image_size_needed(struct fstree *t, const struct image_opts *o,
		      uint64_t *min_bytes, uint64_t *auto_bytes);

/* Write the image. When size_bytes is non-zero and too small, fails
 * before writing anything with "image size X MiB is too small: the tree
 * needs at least N MiB". The tree is not modified except fs_inode.scratch and the
 * order of children arrays (sorted).
 * On error the file at path may be partial: the caller removes it.
 * Returns 0 or -1 + *err (one line, naming the tree path on inode errors). */
int image_write(const char *path, struct fstree *t, const struct image_opts *o,
		struct error **err);

/* ---- in-place updates ----
 *
 * A layout is what image_write_layout laid out: the geometry, and for each
 * regular file the layer data range it came from and the blocks it got.
 * Blocks are allocated in one increasing sweep, so a later build of the
 * same geometry that reaches the same point with the same content would
 * write the same blocks: image_update keeps those where they are and
 * rewrites the rest (inodes, directories, bitmaps, group descriptors,
 * superblocks, GPT, changed files' blocks), then zeroes what the previous
 * image used and this one does not (blocks punched back into holes, inode
 * slots cleared). The result is byte-identical to image_write's.
 *
 * The layout names the image by identity (device, inode, size, mtime and
 * ctime in ns): image_layout_load returns NULL when the image is not the
 * file the layout was saved for (written since: by a VM, an interrupted
 * update, anything) or has other hard links (the image store may share
 * it). Layer data files are content-addressed: the same path and range is
 * the same content. */
struct image_layout;

/* image_write that also returns the layout (*out, caller frees; NULL
 * when the allocation wrapped around the filesystem: no update later). */
int image_write_layout(const char *path, struct fstree *t, const struct image_opts *o,
		       struct image_layout **out, struct error **err);

/* The layout saved for the image at img_path, or NULL (none, damaged, or
 * the image is no longer the file it was saved for). */
struct image_layout *image_layout_load(const char *layout_path, const char *img_path);

/* Save l for the image at img_path (its current identity), atomically.
 * Call once the image has its final name and is synced. 0 or -1 + *err. */
int image_layout_save(const struct image_layout *l, const char *layout_path, const char *img_path,
		      struct error **err);

void image_layout_free(struct image_layout *l);

/* Whether the tree and options give the geometry prev describes (disk
 * size, block size, block and inode counts): image_update needs it. */
bool image_layout_fits(const struct image_layout *prev, struct fstree *t, const struct image_opts *o);

/* Rewrite the image at path, described by prev, in place for this tree.
 * The caller first makes sure nothing trusts the image while it is being
 * changed (it fails half-way: the file is then neither the old image nor
 * the new one) and syncs it afterwards. *out as image_write_layout's.
 * Returns 0 or -1 + *err. */
int image_update(const char *path, struct fstree *t, const struct image_opts *o,
		 const struct image_layout *prev, struct image_layout **out, struct error **err);

#endif
