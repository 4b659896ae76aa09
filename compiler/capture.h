/* capture.h — read a builder VM's disk back with libext2fs and turn what
 * the guest changed into a layer.
 *
 * The disk was written by image_write() from a tree (the image built so
 * far, plus the runner's files); image_write leaves each fs_inode.scratch
 * set to the ext2 inode number it got, and every inode's ctime equal to
 * its (clamped) mtime. After the guest ran, an inode is unchanged when it
 * is still at that number with the metadata image_write gave it and the
 * same ctime: the guest's kernel moves ctime on every change to an inode
 * (data, mode, owner, links, rename), and userland cannot set it back.
 * Only inodes that fail that test are looked at further: their metadata
 * is compared, and a regular file whose metadata is the same is compared
 * byte for byte with the tree's copy. A directory whose ctime is unchanged
 * has the entries it was written with, so its listing is not read again.
 *
 * What comes out: added or changed entries with full metadata (regular
 * files with their data, directories, symlinks, device nodes, fifos,
 * sockets), hard links (H records: every name of an inode with more than
 * one name is written once with data, then as links), and whiteouts for
 * names the guest removed. A directory gets a record when it is new, its
 * mode or owner changed, or its set of entries did; its mtime alone
 * (touched by the runner's own renames) is not a change.
 *
 * Ownership: ext2img_open returns a handle the caller closes; paths and
 * buffers returned are owned by the caller. */
#ifndef SMOLC_CAPTURE_H
#define SMOLC_CAPTURE_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fstree;
struct layer_writer;
struct ext2img;

/* Open the ext2 filesystem at byte offset part_off of the disk file, read
 * only. NULL with *err ("<disk>: <libext2fs message>"). */
struct ext2img *ext2img_open(const char *disk, uint64_t part_off, struct error **err);
void ext2img_close(struct ext2img *img);

/* A regular file of at most `max` bytes at `path` ("/.smolc-run/status").
 * 0 with *data (NUL-terminated) and *len; 1 when there is no such regular
 * file (or it is bigger than max); -1 with *err on a read error. */
int ext2img_read(struct ext2img *img, const char *path, size_t max, char **data, size_t *len, struct error **err);

/* Free and total bytes of the filesystem (blocks × block size). */
void ext2img_space(struct ext2img *img, uint64_t *free_bytes, uint64_t *total_bytes);

struct capture_stats {
	uint64_t visited;     /* names looked at */
	uint64_t changed;     /* inodes whose ctime or number moved */
	uint64_t compared;    /* regular files compared byte for byte */
	uint64_t records;     /* records written to the layer */
};

struct capture_opts {
	int64_t epoch;                  /* the epoch the disk was written with */
	bool netbsd_devs;               /* device numbers stored NetBSD's way (image.h) */
	const char *const *skip_root;   /* NULL-terminated names at the root that belong to
					   the runner (".smolc-run", "lost+found"); never captured */
	struct capture_stats *stats;    /* optional */
};

/* Write into w what differs between the disk and `base` (whose scratch
 * fields are the inode numbers of that disk). Returns 0 or -1 + *err. */
int capture_diff(struct ext2img *img, struct fstree *base, struct layer_writer *w,
		 const struct capture_opts *o, struct error **err);

#endif
