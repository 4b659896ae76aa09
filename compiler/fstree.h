/* fstree.h — in-memory tree of the final root filesystem.
 *
 * Design:
 * - Two levels, like a real filesystem: `struct fs_node` is a name in a
 *   directory (a dentry); `struct fs_inode` holds the metadata. Several
 *   nodes may share one inode (hard links); the inode counts its names.
 * - File contents are never held in memory: a regular file's inode refers
 *   to a byte range (data_path, data_off, size) of a file on disk,
 *   normally a layer's `data` file (see layer.h). The tree interns paths
 *   and user/group names, so 20,000 entries cost a few MB.
 * - Lookup: one hash table keyed by (parent node, name); a path lookup is
 *   one O(1)-average probe per component. Children of a directory are kept
 *   in an unsorted array (O(1) add and remove, also for 40,000 entries)
 *   and sorted on demand, bytewise (strcmp), for deterministic iteration.
 * - Paths given to the API are absolute or relative to the root: "/etc/rc",
 *   "etc/rc" and "./etc/rc/" all name the same entry; "" and "/" are the
 *   root. "." components and repeated or trailing slashes are ignored;
 *   a ".." component is an error (EINVAL). The tree never follows
 *   symlinks: a path whose parent component is not a directory
 *   (e.g. a symlink) is refused with ENOTDIR, which is how an archive
 *   entry that would go "through a symlink" is caught.
 *
 * Ownership: the tree owns every node, inode and string inside it;
 * pointers returned by lookups are borrowed and valid until the entry is
 * removed or replaced, or the tree is freed. Not thread-safe. */
#ifndef SMOLC_FSTREE_H
#define SMOLC_FSTREE_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fs_type {
	FS_REG = 1,
	FS_DIR,
	FS_LNK,
	FS_CHR,
	FS_BLK,
	FS_FIFO,
	FS_SOCK,
};

/* Metadata of an entry, as given by callers (layer apply, tests). All
 * pointers are borrowed for the duration of the call; the tree copies or
 * interns what it keeps. */
struct fs_meta {
	enum fs_type type;
	uint32_t perm;            /* permission bits incl. suid/sgid/sticky (07777); no S_IFMT bits */
	uint32_t uid, gid;
	const char *uname;        /* optional (NULL or ""), informational */
	const char *gname;        /* optional */
	int64_t mtime;            /* seconds since the epoch (may be clamped later by image) */
	uint64_t size;            /* FS_REG: content length in bytes; else ignored */
	const char *data_path;    /* FS_REG with size > 0: file holding the content */
	uint64_t data_off;        /* FS_REG: offset of the content in data_path */
	const char *target;       /* FS_LNK: symlink target (any string, not resolved) */
	uint32_t rdev_major;      /* FS_CHR / FS_BLK */
	uint32_t rdev_minor;
};

/* An inode. Read-only outside fstree.c except `scratch`. */
struct fs_inode {
	enum fs_type type;
	uint32_t perm;
	uint32_t uid, gid;
	const char *uname, *gname;  /* interned, may be NULL */
	int64_t mtime;
	uint64_t size;              /* FS_REG: bytes; FS_LNK: strlen(target) */
	const char *data_path;      /* interned, NULL when size == 0 */
	uint64_t data_off;
	const char *target;         /* FS_LNK, owned by the inode */
	uint32_t rdev_major, rdev_minor;
	uint32_t nlink;             /* names in the tree pointing here (dirs: 1) */
	uint32_t scratch;           /* free for the consumer (image: ext2 inode number) */
};

/* A name in a directory. Read-only outside fstree.c. */
struct fs_node {
	const char *name;           /* component; "" for the root */
	struct fs_node *parent;     /* NULL for the root */
	struct fs_inode *inode;
	/* private */
	struct fs_node *hnext;      /* hash chain */
	struct fs_node **kids;      /* directories: children, unsorted */
	uint32_t nkids, capkids;
	uint32_t idx;               /* position in parent->kids */
	bool sorted;                /* kids currently sorted */
	uint32_t hash;
};

struct fstree;

/* New tree holding only the root directory (0755, 0:0, mtime 0).
 * Never returns NULL (aborts on OOM). */
struct fstree *fstree_new(void);
void fstree_free(struct fstree *t);

/* The root node (borrowed). */
struct fs_node *fstree_root(const struct fstree *t);

/* Add or replace the entry at `path` with metadata m.
 * - Missing parent directories are created implicitly (0755, 0:0,
 *   mtime = m->mtime); later explicit entries update them.
 * - Existing directory + new directory: metadata updated, children kept.
 * - Existing entry of another kind: it is removed (recursively for a
 *   directory) and replaced. Replacing one name of a hard-linked inode
 *   leaves the other names alone.
 * - Putting "/" (the root) is allowed only with FS_DIR (updates metadata).
 * Returns 0, or -1 with errno (EINVAL bad path/meta, ENOTDIR a parent is
 * not a directory, ENAMETOOLONG component > 255 bytes) and, if err is not
 * NULL, *err: a one-line message naming the path (error.h). */
int fstree_put(struct fstree *t, const char *path, const struct fs_meta *m, struct error **err);

/* Make `path` another name for the inode at `target` (hard link). The
 * target must exist and not be a directory. An existing entry at path
 * is replaced as in fstree_put. Same return convention. */
int fstree_link(struct fstree *t, const char *path, const char *target, struct error **err);

/* Remove the entry at path, recursively for a directory (whiteout).
 * Returns 1 if removed, 0 if nothing was there (not an error), -1 with
 * errno EINVAL for a bad path or EPERM for the root. */
int fstree_remove(struct fstree *t, const char *path);

/* Look up a path without following symlinks. Borrowed; NULL if absent. */
struct fs_node *fstree_lookup(const struct fstree *t, const char *path);

/* Children of a directory node, sorted bytewise by name. Returns a
 * borrowed array valid until the directory is next modified; *n is set to
 * the count. NULL with *n = 0 for non-directories or empty directories. */
struct fs_node *const *fstree_children(struct fs_node *dir, size_t *n);

/* Full path of a node ("/" for the root, "/etc/rc" otherwise), owned by
 * the caller. */
char *fstree_path(const struct fs_node *n);

/* Depth-first pre-order walk, children sorted by name; the root is
 * visited first with path "/". The callback gets a borrowed path and
 * node; a non-zero return stops the walk and is returned. Do not modify
 * the tree during a walk. */
typedef int (*fstree_walk_fn)(void *ctx, const char *path, struct fs_node *n);
int fstree_walk(struct fstree *t, fstree_walk_fn fn, void *ctx);

/* Counts over the tree (any pointer may be NULL). */
struct fstree_stats {
	uint64_t names;       /* nodes incl. root */
	uint64_t inodes;      /* distinct inodes */
	uint64_t dirs;
	uint64_t bytes;       /* sum of regular file sizes, each inode once */
};
void fstree_get_stats(const struct fstree *t, struct fstree_stats *st);

/* Intern a string in the tree's string pool (borrowed result, lives as
 * long as the tree). Used for data paths and user/group names. */
const char *fstree_intern(struct fstree *t, const char *s);

/* Normalise a path into "a/b/c" form (no leading/trailing slash, no "."
 * components, no "//"); "" for the root. Returns a new string, or NULL
 * with errno EINVAL if a ".." component is present. `was_absolute`, if
 * not NULL, is set when the input started with '/'. */
char *fstree_normalize(const char *path, bool *was_absolute);

#endif
