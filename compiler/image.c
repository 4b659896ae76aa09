/* image.c — fstree → raw GPT disk with an ext2 filesystem (see image.h).
 *
 * Design note: libfdisk writes the protective MBR and GPT; libext2fs
 * creates the filesystem metadata (superblocks, group descriptors,
 * bitmaps, inode tables) at the partition's offset. Everything else is
 * laid out here in one pass over the tree, without ext2fs_link or
 * ext2fs_file_write:
 *   1. inode numbers: root 2, lost+found 11, then 12, 13, … in sorted
 *      pre-order (a hard-linked inode gets its number at its first name);
 *   2. per inode, in that order: directory blocks are built in memory
 *      from the sorted children (linear in the entry count), file data is
 *      read from the layer data file through a 1 MiB read window; blocks are
 *      allocated contiguously from a moving goal, all-zero file blocks
 *      stay holes, and writes are batched into large pwrite calls on our
 *      own descriptor (libext2fs never caches those blocks);
 *   3. the block map (12 direct + single/double/triple indirect blocks)
 *      is built here, and the inode written with ext2fs_write_inode
 *      (not write_new_inode, which would stamp the wall clock).
 * Block size and inode ratio follow mke2fs.conf (see image.h). */
#include "image.h"

#include <errno.h>
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libfdisk/libfdisk.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "util.h"

#define MiB ((uint64_t)1 << 20)
#define PART_START_SECTOR (IMAGE_PART_OFFSET / 512)
#define GPT_TAIL_SECTORS 33ull        /* backup entries (32) + backup header */
#define SMALL_FS_LIMIT (512 * MiB) /* mke2fs "small": 1 KiB blocks below */
#define FLOPPY_FS_LIMIT (3 * MiB)
#define CHUNK (1u << 20)
#define MAX_SRC_FDS 16
#define SRC_WINDOW CHUNK              /* layer data read-ahead per source */
#define LPF_BYTES (16u * 1024)        /* lost+found size, as mke2fs */

static int img_fail(struct error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int img_fail(struct error **err, const char *fmt, ...)
{
	if (err && !*err) {
		va_list ap;
		va_start(ap, fmt);
		error_vset(err, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- geometry ---- */

struct geom {
	unsigned bs;            /* block size */
	unsigned ratio;         /* bytes per inode */
};

static struct geom geom_for(uint64_t fs_bytes)
{
	struct geom g;
	if (fs_bytes < FLOPPY_FS_LIMIT) {
		g.bs = 1024;
		g.ratio = 8192;
	} else if (fs_bytes < SMALL_FS_LIMIT) {
		g.bs = 1024;
		g.ratio = 4096;
	} else {
		g.bs = 4096;
		g.ratio = 16384;
	}
	return g;
}

static uint64_t disk_for_part_bytes(uint64_t part)
{
	uint64_t d = part + (PART_START_SECTOR + GPT_TAIL_SECTORS) * 512;
	return (d + MiB - 1) / MiB * MiB;
}

/* Blocks (data + indirect) a block-mapped file of n data blocks uses. */
static uint64_t with_indirect(uint64_t n, unsigned bs)
{
	uint64_t apb = bs / 4, total = n;
	if (n <= EXT2_NDIR_BLOCKS)
		return total;
	n -= EXT2_NDIR_BLOCKS;
	total += 1; /* single indirect */
	if (n <= apb)
		return total;
	n -= apb;
	uint64_t dn = n < apb * apb ? n : apb * apb;
	total += 1 + (dn + apb - 1) / apb;
	if (n <= apb * apb)
		return total;
	n -= apb * apb;
	total += 1 + (n + apb * apb - 1) / (apb * apb) + (n + apb - 1) / apb;
	return total;
}

static unsigned dirent_len(size_t namelen)
{
	return (unsigned)((8 + namelen + 3) & ~3u);
}

/* Blocks of a directory holding the given children (plus . and ..). */
static uint64_t dir_blocks(struct fs_node *dir, unsigned bs, bool is_root, bool add_lpf)
{
	size_t nk;
	struct fs_node *const *kids = fstree_children(dir, &nk);
	uint64_t blocks = 1, used = dirent_len(1) + dirent_len(2);
	if (is_root && add_lpf)
		used += dirent_len(10);
	for (size_t i = 0; i < nk; i++) {
		unsigned r = dirent_len(strlen(kids[i]->name));
		if (used + r > bs) {
			blocks++;
			used = 0;
		}
		used += r;
	}
	return blocks;
}

struct need {
	uint64_t blocks;    /* data + dir + indirect blocks */
	uint64_t inodes;    /* incl. reserved ones */
};

struct need_ctx {
	unsigned bs;
	struct need n;
	bool add_lpf;
};

static int need_visit(void *ctx, const char *path, struct fs_node *node)
{
	struct need_ctx *c = ctx;
	struct fs_inode *ino = node->inode;
	if (ino->scratch)
		return 0; /* hard link already counted */
	ino->scratch = 1;
	c->n.inodes++;
	switch (ino->type) {
	case FS_REG:
		c->n.blocks += with_indirect((ino->size + c->bs - 1) / c->bs, c->bs);
		break;
	case FS_DIR:
		c->n.blocks += with_indirect(dir_blocks(node, c->bs, !node->parent, c->add_lpf), c->bs);
		break;
	case FS_LNK:
		if (ino->size >= EXT2_N_BLOCKS * 4)
			c->n.blocks += 1;
		break;
	default:
		break;
	}
	return 0;
}

static int clear_visit(void *ctx, const char *path, struct fs_node *node)
{
	node->inode->scratch = 0;
	return 0;
}

static bool tree_has_lpf(struct fstree *t)
{
	struct fs_node *n = fstree_lookup(t, "/lost+found");
	return n && n->inode->type == FS_DIR;
}

static struct need tree_need(struct fstree *t, unsigned bs)
{
	struct need_ctx c = { .bs = bs };
	c.add_lpf = !tree_has_lpf(t);
	fstree_walk(t, clear_visit, NULL);
	fstree_walk(t, need_visit, &c);
	fstree_walk(t, clear_visit, NULL);
	c.n.inodes += EXT2_GOOD_OLD_FIRST_INO; /* reserved 1..10; root counted by the walk */
	if (c.add_lpf) {
		c.n.inodes++;
		c.n.blocks += LPF_BYTES / bs;
	}
	return c.n;
}

static uint64_t inodes_for(uint64_t fs_bytes, struct geom g, uint64_t needed)
{
	uint64_t by_ratio = fs_bytes / g.ratio;
	uint64_t want = needed + needed / 10 + 16;
	return by_ratio > want ? by_ratio : want;
}

/* Metadata blocks of an ext2 fs (no sparse_super: every group carries a
 * superblock and descriptor copy) with B blocks and I inodes. */
static uint64_t meta_blocks(uint64_t B, uint64_t I, unsigned bs)
{
	uint64_t first = bs == 1024 ? 1 : 0;
	uint64_t bpg = 8ull * bs;
	uint64_t groups = (B - first + bpg - 1) / bpg;
	if (!groups)
		groups = 1;
	uint64_t gdt = (groups * sizeof(struct ext2_group_desc) + bs - 1) / bs;
	uint64_t ipg = (I + groups - 1) / groups;
	ipg = (ipg + 7) / 8 * 8;
	uint64_t itb = (ipg * EXT2_GOOD_OLD_INODE_SIZE + bs - 1) / bs;
	return first + groups * (1 + gdt + 2 + itb);
}

/* Smallest filesystem (bytes) of block size g.bs holding `need`. */
static uint64_t min_fs_bytes(struct need nd, struct geom g)
{
	uint64_t B = nd.blocks + 64;
	for (int i = 0; i < 32; i++) {
		uint64_t I = inodes_for(B * g.bs, g, nd.inodes);
		uint64_t slack = nd.blocks / 100 + 64;
		uint64_t want = nd.blocks + meta_blocks(B, I, g.bs) + slack;
		if (want <= B)
			break;
		B = want;
	}
	return B * g.bs;
}

int image_size_needed(struct fstree *t, const struct image_opts *o,
		      uint64_t *min_bytes, uint64_t *auto_bytes)
{
	struct geom small = { 1024, 4096 }, big = { 4096, 16384 };
	uint64_t fs = min_fs_bytes(tree_need(t, 1024), small);
	uint64_t fs_auto = fs + fs / 10 + o->headroom_bytes;
	if (fs_auto >= SMALL_FS_LIMIT) {
		/* big enough for 4 KiB blocks: recompute with that geometry */
		uint64_t fs4 = min_fs_bytes(tree_need(t, 4096), big);
		fs_auto = fs4 + fs4 / 10 + o->headroom_bytes;
		if (fs_auto < SMALL_FS_LIMIT)
			fs_auto = SMALL_FS_LIMIT;
		if (fs >= SMALL_FS_LIMIT)
			fs = fs4 < SMALL_FS_LIMIT ? SMALL_FS_LIMIT : fs4;
	}
	if (min_bytes)
		*min_bytes = disk_for_part_bytes(fs);
	if (auto_bytes)
		*auto_bytes = disk_for_part_bytes(fs_auto);
	return 0;
}

/* ---- deterministic IDs ---- */

static void derive16(const char *seed, const char *purpose, unsigned char out[16])
{
	struct digest *d = digest_new(DIGEST_SHA256);
	char hex[129];
	digest_update_str(d, "smolc-image-id");
	digest_update_str(d, seed);
	digest_update_str(d, purpose);
	digest_final_hex(d, hex);
	for (int i = 0; i < 16; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (unsigned char)v;
	}
	out[6] = (unsigned char)((out[6] & 0x0f) | 0x40); /* version 4 */
	out[8] = (unsigned char)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

static void guid_str(const unsigned char u[16], char s[37])
{
	snprintf(s, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

/* ---- GPT ---- */

static int write_gpt(const char *path, uint64_t disk, const struct image_opts *o,
		     uint64_t *part_off, uint64_t *part_len, struct error **err)
{
	struct fdisk_context *cxt = fdisk_new_context();
	struct fdisk_partition *pa = NULL;
	struct fdisk_parttype *type = NULL;
	int rc = -1, r = 0;
	const char *what = "create context";
	if (!cxt)
		goto fail;
	fdisk_disable_dialogs(cxt, 1);
	what = "open";
	if ((r = fdisk_assign_device(cxt, path, 0)) < 0)
		goto fail;
	fdisk_set_first_lba(cxt, 34);
	what = "create the GPT label";
	if ((r = fdisk_create_disklabel(cxt, "gpt")) < 0)
		goto fail;
	unsigned char u[16];
	char gs[37];
	derive16(o->seed, "gpt-disk", u);
	guid_str(u, gs);
	what = "set the disk GUID";
	if ((r = fdisk_set_disklabel_id_from_string(cxt, gs)) < 0)
		goto fail;
	uint64_t sectors = disk / 512;
	uint64_t psize = sectors - PART_START_SECTOR - GPT_TAIL_SECTORS;
	pa = fdisk_new_partition();
	type = fdisk_label_get_parttype_from_string(fdisk_get_label(cxt, NULL),
						    "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
	char *name = xasprintf("%sroot", o->service);
	derive16(o->seed, "gpt-part-1", u);
	guid_str(u, gs);
	what = "describe the partition";
	if (!pa || !type || fdisk_partition_set_partno(pa, 0) < 0 ||
	    fdisk_partition_set_start(pa, PART_START_SECTOR) < 0 ||
	    fdisk_partition_set_size(pa, psize) < 0 || fdisk_partition_size_explicit(pa, 1) < 0 ||
	    fdisk_partition_set_type(pa, type) < 0 ||
	    fdisk_partition_set_name(pa, name) < 0 || fdisk_partition_set_uuid(pa, gs) < 0 ||
	    fdisk_partition_set_attrs(pa, "GUID:59") < 0) {
		free(name);
		r = -EINVAL;
		goto fail;
	}
	free(name);
	what = "add the partition";
	if ((r = fdisk_add_partition(cxt, pa, NULL)) < 0)
		goto fail;
	what = "write the partition table";
	if ((r = fdisk_write_disklabel(cxt)) < 0)
		goto fail;
	fdisk_unref_partition(pa);
	pa = NULL;
	what = "read the partition back";
	if ((r = fdisk_get_partition(cxt, 0, &pa)) < 0)
		goto fail;
	*part_off = fdisk_partition_get_start(pa) * 512;
	*part_len = fdisk_partition_get_size(pa) * 512;
	if ((r = fdisk_deassign_device(cxt, 0)) < 0) {
		what = "close";
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	img_fail(err, "%s: libfdisk: cannot %s: %s", path, what, strerror(r < 0 ? -r : EINVAL));
out:
	fdisk_unref_partition(pa);
	fdisk_unref_parttype(type);
	fdisk_unref_context(cxt);
	return rc;
}

/* ---- layout records (in-place updates) ----
 *
 * Blocks are allocated in one increasing sweep (alloc_block: the first
 * free block from a moving goal), so the blocks of a regular file are
 * exactly the free blocks of [goal_before, goal_after) at the time it is
 * written: data and indirect blocks, in order. When a later build of the
 * same geometry reaches the same goal with the same content (the same
 * byte range of the same layer data file: layers are content-addressed),
 * it would write the same blocks: image_update marks them used and takes
 * the block map from the record instead of writing them. */

struct lay_rec {
	uint32_t path;          /* index in paths */
	uint32_t i_block[EXT2_N_BLOCKS];
	uint64_t data_off, size;
	uint64_t goal_before, goal_after, nalloc;
};

struct image_layout {
	uint64_t geom[4];       /* disk bytes, block size, blocks, inodes */
	char **paths;           /* layer data files */
	uint32_t npaths, cappaths;
	struct lay_rec *rec;    /* in increasing goal_before */
	uint64_t nrec, caprec;
	const char *last_key;   /* lookup cache: paths[last_idx] is the tree's last_key */
	uint32_t last_idx;
};

#define LAYOUT_MAGIC "SMOLCLY1"
#define LAYOUT_MAX_BYTES (256u << 20)

void image_layout_free(struct image_layout *l)
{
	if (!l)
		return;
	for (uint32_t i = 0; i < l->npaths; i++)
		free(l->paths[i]);
	free(l->paths);
	free(l->rec);
	free(l);
}

static uint32_t lay_path_idx(struct image_layout *l, const char *p)
{
	if (l->last_key == p)
		return l->last_idx;
	uint32_t i = 0;
	for (; i < l->npaths; i++)
		if (!strcmp(l->paths[i], p))
			break;
	if (i == l->npaths) {
		VEC_GROW(l->paths, l->npaths, l->cappaths);
		l->paths[l->npaths++] = xstrdup(p);
	}
	l->last_key = p;
	l->last_idx = i;
	return i;
}

/* the previous record for a file starting at goal with this content */
static const struct lay_rec *lay_find(const struct image_layout *l, uint64_t goal, const char *path,
				      uint64_t off, uint64_t size)
{
	uint64_t lo = 0, hi = l->nrec;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (l->rec[mid].goal_before < goal)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < l->nrec && l->rec[lo].goal_before == goal; lo++) {
		const struct lay_rec *r = &l->rec[lo];
		if (r->data_off == off && r->size == size && !strcmp(l->paths[r->path], path))
			return r;
	}
	return NULL;
}

struct ident {
	uint64_t v[5];          /* dev, inode, size, mtime ns, ctime ns */
};

static int img_ident(const char *img, struct ident *id)
{
	struct stat s;
	if (stat(img, &s) < 0 || s.st_nlink != 1)
		return -1;
	id->v[0] = (uint64_t)s.st_dev;
	id->v[1] = (uint64_t)s.st_ino;
	id->v[2] = (uint64_t)s.st_size;
	id->v[3] = (uint64_t)s.st_mtim.tv_sec * 1000000000u + (uint64_t)s.st_mtim.tv_nsec;
	id->v[4] = (uint64_t)s.st_ctim.tv_sec * 1000000000u + (uint64_t)s.st_ctim.tv_nsec;
	return 0;
}

static uint64_t fnv64(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void sb_u32(struct strbuf *sb, uint32_t v)
{
	sb_add(sb, (const char *)&v, sizeof(v));
}

static void sb_u64(struct strbuf *sb, uint64_t v)
{
	sb_add(sb, (const char *)&v, sizeof(v));
}

int image_layout_save(const struct image_layout *l, const char *layout_path, const char *img_path,
		      struct error **err)
{
	struct ident id;
	if (img_ident(img_path, &id) < 0)
		return img_fail(err, "%s: %s", img_path, errno ? strerror(errno) : "has other hard links");
	struct strbuf sb;
	sb_init(&sb);
	sb_add(&sb, LAYOUT_MAGIC, 8);
	for (int i = 0; i < 5; i++)
		sb_u64(&sb, id.v[i]);
	for (int i = 0; i < 4; i++)
		sb_u64(&sb, l->geom[i]);
	sb_u32(&sb, l->npaths);
	for (uint32_t i = 0; i < l->npaths; i++) {
		uint32_t n = (uint32_t)strlen(l->paths[i]);
		sb_u32(&sb, n);
		sb_add(&sb, l->paths[i], n);
	}
	sb_u64(&sb, l->nrec);
	for (uint64_t i = 0; i < l->nrec; i++) {
		const struct lay_rec *r = &l->rec[i];
		sb_u32(&sb, r->path);
		for (int k = 0; k < EXT2_N_BLOCKS; k++)
			sb_u32(&sb, r->i_block[k]);
		sb_u64(&sb, r->data_off);
		sb_u64(&sb, r->size);
		sb_u64(&sb, r->goal_before);
		sb_u64(&sb, r->goal_after);
		sb_u64(&sb, r->nalloc);
	}
	sb_u64(&sb, fnv64((const unsigned char *)sb.buf, sb.len));
	int rc = write_file_atomic(layout_path, sb.buf, sb.len, 0644);
	if (rc < 0)
		img_fail(err, "%s: %s", layout_path, strerror(errno));
	sb_free(&sb);
	return rc;
}

struct rd {
	const unsigned char *p;
	size_t left;
	bool bad;
};

static uint64_t rd_u(struct rd *r, size_t n)
{
	uint64_t v = 0;
	if (r->left < n) {
		r->bad = true;
		return 0;
	}
	if (n == 4) {
		uint32_t x;
		memcpy(&x, r->p, 4);
		v = x;
	} else {
		memcpy(&v, r->p, 8);
	}
	r->p += n;
	r->left -= n;
	return v;
}

struct image_layout *image_layout_load(const char *layout_path, const char *img_path)
{
	struct ident id;
	char *data = NULL;
	size_t len = 0;
	struct image_layout *l = NULL;
	if (img_ident(img_path, &id) < 0 || read_file(layout_path, LAYOUT_MAX_BYTES, &data, &len) < 0)
		goto bad;
	if (len < 8 + 8 || memcmp(data, LAYOUT_MAGIC, 8))
		goto bad;
	uint64_t sum;
	memcpy(&sum, data + len - 8, 8);
	if (sum != fnv64((const unsigned char *)data, len - 8))
		goto bad;
	struct rd r = { (const unsigned char *)data + 8, len - 16, false };
	for (int i = 0; i < 5; i++)
		if (rd_u(&r, 8) != id.v[i])
			goto bad;
	l = xcalloc(1, sizeof(*l));
	for (int i = 0; i < 4; i++)
		l->geom[i] = rd_u(&r, 8);
	uint32_t np = (uint32_t)rd_u(&r, 4);
	for (uint32_t i = 0; i < np && !r.bad; i++) {
		uint32_t n = (uint32_t)rd_u(&r, 4);
		if (r.bad || n > r.left)
			goto bad;
		VEC_GROW(l->paths, l->npaths, l->cappaths);
		l->paths[l->npaths++] = xstrndup((const char *)r.p, n);
		r.p += n;
		r.left -= n;
	}
	uint64_t nr = rd_u(&r, 8);
	size_t recsz = 4 + 4 * EXT2_N_BLOCKS + 5 * 8;
	if (r.bad || nr > r.left / recsz || nr * recsz != r.left)
		goto bad;
	l->rec = xcalloc(nr ? nr : 1, sizeof(*l->rec));
	l->nrec = l->caprec = nr;
	uint64_t prev = 0;
	for (uint64_t i = 0; i < nr; i++) {
		struct lay_rec *e = &l->rec[i];
		e->path = (uint32_t)rd_u(&r, 4);
		for (int k = 0; k < EXT2_N_BLOCKS; k++)
			e->i_block[k] = (uint32_t)rd_u(&r, 4);
		e->data_off = rd_u(&r, 8);
		e->size = rd_u(&r, 8);
		e->goal_before = rd_u(&r, 8);
		e->goal_after = rd_u(&r, 8);
		e->nalloc = rd_u(&r, 8);
		if (e->path >= l->npaths || e->goal_before < prev || e->goal_after < e->goal_before ||
		    e->nalloc > e->goal_after - e->goal_before)
			goto bad;
		prev = e->goal_before;
	}
	if (r.bad)
		goto bad;
	free(data);
	return l;
bad:
	free(data);
	image_layout_free(l);
	return NULL;
}

/* ---- ext2 writer ---- */

struct src_fd {
	const char *path;    /* interned in the tree: compared by pointer */
	int fd;
	unsigned char *win;  /* read window (SRC_WINDOW bytes), lazily allocated */
	uint64_t woff;       /* file offset of win[0] */
	size_t wlen;         /* valid bytes in win */
};

struct imgw {
	ext2_filsys fs;
	struct fstree *t;
	const struct image_opts *o;
	const char *path;
	int fd;
	uint64_t part_off;
	unsigned bs;
	int64_t epoch;
	blk64_t goal;
	/* write batch: contiguous blocks starting at wstart */
	unsigned char *wbuf;
	size_t wlen;
	blk64_t wstart;
	/* block map of the inode being written */
	uint32_t *map;
	uint64_t nmap, capmap;
	uint64_t nalloc;         /* blocks allocated for the current inode */
	unsigned char *blk;      /* one block scratch */
	struct src_fd src[MAX_SRC_FDS];
	unsigned nsrc;
	uint64_t done, total;
	uint64_t unsynced;       /* bytes written since the last writeback kick */
	ext2_ino_t next_ino;
	bool add_lpf;
	struct error **err;
	/* in-place update (image_update): the previous image's layout, and
	 * its block and inode bitmaps (what may need zeroing) */
	const struct image_layout *prev;
	ext2fs_block_bitmap old_bmap;
	ext2fs_inode_bitmap old_imap;
	uint64_t reused, reused_bytes;  /* files (and their bytes) kept in place */
	/* the layout being written (NULL once the allocation wrapped around) */
	struct image_layout *lay;
	bool wrapped;
};

static int e2err(struct imgw *w, errcode_t e, const char *what, const struct fs_node *n)
{
	if (e == EXT2_ET_BLOCK_ALLOC_FAIL || e == EXT2_ET_INODE_ALLOC_FAIL) {
		uint64_t min = 0;
		image_size_needed(w->t, w->o, &min, NULL);
		return img_fail(w->err, "%s: image size %" PRIu64 " MiB is too small: the tree needs at "
				"least %" PRIu64 " MiB", w->path, w->o->size_bytes / MiB, min / MiB);
	}
	char *p = n ? fstree_path(n) : NULL;
	img_fail(w->err, "%s: libext2fs: while %s%s%s%s: %s", w->path, what, p ? " \"" : "",
		 p ? p : "", p ? "\"" : "", error_message(e));
	free(p);
	return -1;
}

static int batch_flush(struct imgw *w)
{
	if (!w->wlen)
		return 0;
	uint64_t off = w->part_off + (uint64_t)w->wstart * w->bs;
	const unsigned char *p = w->wbuf;
	size_t n = w->wlen;
	while (n) {
		ssize_t r = pwrite(w->fd, p, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return img_fail(w->err, "%s: write: %s", w->path, strerror(errno));
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	/* the image is fsync'ed before it is renamed into place: start the
	 * writeback as we go (every 8 MiB, asynchronously), so that the disk
	 * works while the rest is built and the final fsync has less to wait
	 * for */
	if (w->prev)
		fault_point("update-write");
	w->unsynced += w->wlen;
	if (w->unsynced >= (8u << 20)) {
		sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		w->unsynced = 0;
	}
	w->wlen = 0;
	return 0;
}

static int batch_add(struct imgw *w, blk64_t blk, const unsigned char *data)
{
	if (w->wlen && (blk != w->wstart + w->wlen / w->bs || w->wlen + w->bs > CHUNK))
		if (batch_flush(w) < 0)
			return -1;
	if (!w->wlen)
		w->wstart = blk;
	memcpy(w->wbuf + w->wlen, data, w->bs);
	w->wlen += w->bs;
	return 0;
}

static int alloc_block(struct imgw *w, blk64_t *blk, const struct fs_node *n)
{
	errcode_t e = ext2fs_new_block2(w->fs, w->goal, NULL, blk);
	if (e)
		return e2err(w, e, "allocating a block for", n);
	ext2fs_block_alloc_stats2(w->fs, *blk, +1);
	if (*blk < w->goal) {
		/* wrapped around: blocks are no longer in one sweep, so
		 * the layout cannot describe this image */
		w->wrapped = true;
		image_layout_free(w->lay);
		w->lay = NULL;
	}
	w->goal = *blk + 1;
	w->nalloc++;
	return 0;
}

/* n is a block size (a multiple of 8); p need not be aligned (it may
 * point anywhere in a read window) */
static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, sizeof(v));
		if (v)
			return false;
	}
	return true;
}

/* Append one block of content to the current inode. */
static int put_block(struct imgw *w, const unsigned char *data, bool hole_ok,
		     const struct fs_node *n)
{
	if (w->nmap == w->capmap) {
		w->capmap = w->capmap ? w->capmap * 2 : 1024;
		w->map = xrealloc(w->map, w->capmap * sizeof(*w->map));
	}
	if (hole_ok && all_zero(data, w->bs)) {
		w->map[w->nmap++] = 0;
		return 0;
	}
	blk64_t b;
	if (alloc_block(w, &b, n) < 0 || batch_add(w, b, data) < 0)
		return -1;
	w->map[w->nmap++] = (uint32_t)b;
	return 0;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void put_le16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

/* Build an indirect block of `level` over map[0..cnt); *out = 0 if all holes. */
static int build_ind(struct imgw *w, int level, const uint32_t *map, uint64_t cnt,
		     uint32_t *out, const struct fs_node *n)
{
	uint64_t apb = w->bs / 4, per = 1;
	for (int i = 1; i < level; i++)
		per *= apb;
	uint32_t *ents = xcalloc(apb, sizeof(*ents));
	bool any = false;
	int rc = -1;
	for (uint64_t j = 0; j * per < cnt; j++) {
		uint64_t c = cnt - j * per < per ? cnt - j * per : per;
		if (level == 1)
			ents[j] = map[j];
		else if (build_ind(w, level - 1, map + j * per, c, &ents[j], n) < 0)
			goto out;
		any |= ents[j] != 0;
	}
	*out = 0;
	if (any) {
		blk64_t b;
		unsigned char *blk = xcalloc(1, w->bs);
		for (uint64_t j = 0; j < apb; j++)
			put_le32(blk + 4 * j, ents[j]);
		int r = alloc_block(w, &b, n) < 0 || batch_add(w, b, blk) < 0 ? -1 : 0;
		free(blk);
		if (r < 0)
			goto out;
		*out = (uint32_t)b;
	}
	rc = 0;
out:
	free(ents);
	return rc;
}

/* Store the current block map into the inode (direct + indirect). */
static int finish_map(struct imgw *w, struct ext2_inode *in, const struct fs_node *n)
{
	uint64_t apb = w->bs / 4, nb = w->nmap, idx = 0;
	for (; idx < nb && idx < EXT2_NDIR_BLOCKS; idx++)
		in->i_block[idx] = w->map[idx];
	uint64_t cap = apb;
	for (int level = 1; level <= 3 && idx < nb; level++) {
		uint64_t c = nb - idx < cap ? nb - idx : cap;
		if (build_ind(w, level, w->map + idx, c, &in->i_block[EXT2_IND_BLOCK + level - 1],
			      n) < 0)
			return -1;
		idx += c;
		cap *= apb;
	}
	if (idx < nb)
		return img_fail(w->err, "%s: file too large for ext2", w->path);
	errcode_t e = ext2fs_iblk_set(w->fs, in, w->nalloc);
	if (e)
		return e2err(w, e, "counting blocks of", n);
	return 0;
}

static uint32_t clamp_time(const struct imgw *w, int64_t t)
{
	if (t > w->epoch)
		t = w->epoch;
	if (t < 0)
		t = 0;
	if (t > INT32_MAX)
		t = INT32_MAX;
	return (uint32_t)t;
}

static void fill_inode(const struct imgw *w, struct ext2_inode *in, const struct fs_inode *ino,
		       uint16_t fmt, uint16_t links)
{
	memset(in, 0, sizeof(*in));
	in->i_mode = (uint16_t)(fmt | (ino->perm & 07777));
	in->i_uid = (uint16_t)(ino->uid & 0xffff);
	in->i_gid = (uint16_t)(ino->gid & 0xffff);
	ext2fs_set_i_uid_high(*in, ino->uid >> 16);
	ext2fs_set_i_gid_high(*in, ino->gid >> 16);
	uint32_t t = clamp_time(w, ino->mtime);
	in->i_atime = in->i_ctime = in->i_mtime = t;
	in->i_links_count = links;
}

static void src_close(struct src_fd *s)
{
	close(s->fd);
	free(s->win);
}

static struct src_fd *get_src(struct imgw *w, const char *path)
{
	for (unsigned i = 0; i < w->nsrc; i++)
		if (w->src[i].path == path)
			return &w->src[i];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (w->nsrc == MAX_SRC_FDS) {
		src_close(&w->src[0]);
		memmove(&w->src[0], &w->src[1], sizeof(w->src[0]) * (MAX_SRC_FDS - 1));
		w->nsrc--;
	}
	struct src_fd *s = &w->src[w->nsrc++];
	memset(s, 0, sizeof(*s));
	s->path = path;
	s->fd = fd;
	return s;
}

/* Bytes [off, off + len) of a layer data file (len <= SRC_WINDOW), through
 * a read window: where the image wants files in the order the layer holds
 * their data, one 1 MiB pread serves many small files. The pointer is
 * valid until the next call for this source. NULL with errno on a read
 * error, errno 0 when the file is too short. */
static const unsigned char *src_read(struct src_fd *s, uint64_t off, size_t len)
{
	if (off >= s->woff && off + len <= s->woff + s->wlen)
		return s->win + (off - s->woff);
	if (!s->win)
		s->win = xmalloc(SRC_WINDOW);
	/* read ahead only when the reads run in file order: a request that
	 * starts where the window ended; anything else reads just what it
	 * asks for */
	size_t room = off == s->woff + s->wlen && s->wlen ? SRC_WINDOW : len;
	s->woff = off;
	s->wlen = 0;
	while (s->wlen < len) {
		ssize_t r = pread(s->fd, s->win + s->wlen, room - s->wlen, (off_t)(off + s->wlen));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			return NULL;
		}
		s->wlen += (size_t)r;
	}
	return s->win;
}

static void map_reset(struct imgw *w)
{
	w->nmap = 0;
	w->nalloc = 0;
}

static int write_inode(struct imgw *w, ext2_ino_t ino, struct ext2_inode *in,
		       const struct fs_node *n)
{
	errcode_t e = ext2fs_write_inode(w->fs, ino, in);
	if (e)
		return e2err(w, e, "writing the inode of", n);
	ext2fs_inode_alloc_stats2(w->fs, ino, +1, LINUX_S_ISDIR(in->i_mode));
	return 0;
}

static void lay_record(struct imgw *w, const struct fs_inode *fi, uint64_t goal_before,
		       const struct ext2_inode *in)
{
	if (!w->lay)
		return;
	struct image_layout *l = w->lay;
	VEC_GROW(l->rec, l->nrec, l->caprec);
	struct lay_rec *r = &l->rec[l->nrec++];
	r->path = lay_path_idx(l, fi->data_path);
	memcpy(r->i_block, in->i_block, sizeof(r->i_block));
	r->data_off = fi->data_off;
	r->size = fi->size;
	r->goal_before = goal_before;
	r->goal_after = w->goal;
	r->nalloc = w->nalloc;
}

/* In-place update: when the previous image holds this file's content at
 * the blocks it would get now (same goal, same content), mark those blocks
 * used and take its block map. 1 when reused, 0 when it must be written,
 * -1 on error. */
static int reuse_blocks(struct imgw *w, const struct fs_inode *fi, struct ext2_inode *in,
			const struct fs_node *n)
{
	const struct lay_rec *r = lay_find(w->prev, w->goal, fi->data_path, fi->data_off, fi->size);
	if (!r)
		return 0;
	blk64_t end = ext2fs_blocks_count(w->fs->super);
	if (r->goal_after > end)
		return 0;
	uint64_t nfree = 0;
	for (blk64_t b = r->goal_before; b < r->goal_after; b++)
		nfree += !ext2fs_test_block_bitmap2(w->fs->block_map, b);
	if (nfree != r->nalloc)
		return 0;
	for (blk64_t b = r->goal_before; b < r->goal_after; b++)
		if (!ext2fs_test_block_bitmap2(w->fs->block_map, b))
			ext2fs_block_alloc_stats2(w->fs, b, +1);
	w->goal = r->goal_after;
	w->nalloc = r->nalloc;
	memcpy(in->i_block, r->i_block, sizeof(in->i_block));
	errcode_t e = ext2fs_iblk_set(w->fs, in, r->nalloc);
	if (e)
		return e2err(w, e, "counting blocks of", n);
	w->done += fi->size;
	w->reused++;
	w->reused_bytes += fi->size;
	return 1;
}

static int write_reg(struct imgw *w, struct fs_node *n, ext2_ino_t ino)
{
	struct fs_inode *fi = n->inode;
	struct ext2_inode in;
	if (fi->size >= (1ull << 31)) {
		char *p = fstree_path(n);
		img_fail(w->err, "%s: \"%s\" is %" PRIu64 " bytes; ext2 without large_file holds "
			 "files below 2 GiB", w->path, p, fi->size);
		free(p);
		return -1;
	}
	fill_inode(w, &in, fi, LINUX_S_IFREG, (uint16_t)fi->nlink);
	in.i_size = (uint32_t)fi->size;
	map_reset(w);
	uint64_t goal_before = w->goal;
	if (fi->size && w->prev) {
		int r = reuse_blocks(w, fi, &in, n);
		if (r < 0)
			return -1;
		if (r > 0) {
			lay_record(w, fi, goal_before, &in);
			return write_inode(w, ino, &in, n);
		}
	}
	if (fi->size) {
		struct src_fd *src = get_src(w, fi->data_path);
		if (!src) {
			char *p = fstree_path(n);
			img_fail(w->err, "%s: cannot open the data of \"%s\" (%s): %s", w->path, p,
				 fi->data_path, strerror(errno));
			free(p);
			return -1;
		}
		uint64_t left = fi->size, off = fi->data_off;
		while (left) {
			size_t want = left < CHUNK ? (size_t)left : CHUNK;
			const unsigned char *data = src_read(src, off, want);
			if (!data) {
				char *p = fstree_path(n);
				img_fail(w->err, "%s: cannot read the data of \"%s\" from %s: %s", w->path, p,
					 fi->data_path, errno ? strerror(errno) : "file is truncated");
				free(p);
				return -1;
			}
			size_t full = want - want % w->bs;
			for (size_t b = 0; b < full; b += w->bs)
				if (put_block(w, data + b, true, n) < 0)
					return -1;
			if (full < want) { /* the last, partial block: zero-padded */
				memcpy(w->blk, data + full, want - full);
				memset(w->blk + (want - full), 0, w->bs - (want - full));
				if (put_block(w, w->blk, true, n) < 0)
					return -1;
			}
			left -= want;
			off += want;
			w->done += want;
		}
	}
	if (finish_map(w, &in, n) < 0)
		return -1;
	if (fi->size)
		lay_record(w, fi, goal_before, &in);
	if (write_inode(w, ino, &in, n) < 0)
		return -1;
	if (w->o->progress)
		w->o->progress(w->o->progress_ctx, w->done, w->total);
	return 0;
}

/* Directory block builder. */
struct dirb {
	unsigned char *buf;
	size_t len, cap;       /* len = bytes in full blocks so far + current block */
	size_t blk_start;      /* offset of the current block */
	size_t last;           /* offset of the last entry in the current block */
	unsigned bs;
};

static void dirb_add(struct dirb *d, uint32_t ino, const char *name, size_t nl)
{
	unsigned r = dirent_len(nl);
	if (d->len == 0 || d->len - d->blk_start + r > d->bs) {
		if (d->len) /* extend the last entry to the end of its block */
			put_le16(d->buf + d->last + 4, (uint16_t)(d->blk_start + d->bs - d->last));
		d->blk_start = d->len ? d->blk_start + d->bs : 0;
		d->len = d->blk_start;
		if (d->blk_start + d->bs > d->cap) {
			d->cap = (d->blk_start + d->bs) * 2;
			d->buf = xrealloc(d->buf, d->cap);
		}
		memset(d->buf + d->blk_start, 0, d->bs);
	}
	unsigned char *p = d->buf + d->len;
	put_le32(p, ino);
	put_le16(p + 4, (uint16_t)r);
	put_le16(p + 6, (uint16_t)nl); /* no filetype feature: 16-bit name length */
	memcpy(p + 8, name, nl);
	d->last = d->len;
	d->len += r;
}

static size_t dirb_finish(struct dirb *d)
{
	put_le16(d->buf + d->last + 4, (uint16_t)(d->blk_start + d->bs - d->last));
	return d->blk_start + d->bs;
}

static int write_dir_blocks(struct imgw *w, struct ext2_inode *in, const unsigned char *buf,
			    size_t len, const struct fs_node *n)
{
	map_reset(w);
	for (size_t b = 0; b < len; b += w->bs)
		if (put_block(w, buf + b, false, n) < 0)
			return -1;
	in->i_size = (uint32_t)len;
	return finish_map(w, in, n);
}

static int write_lpf(struct imgw *w)
{
	struct dirb d = { .bs = w->bs };
	dirb_add(&d, 11, ".", 1);
	dirb_add(&d, EXT2_ROOT_INO, "..", 2);
	size_t len = dirb_finish(&d);
	size_t total = LPF_BYTES > w->bs ? LPF_BYTES : w->bs;
	if (d.cap < total)
		d.buf = xrealloc(d.buf, total);
	for (size_t b = len; b < total; b += w->bs) {
		memset(d.buf + b, 0, w->bs);
		put_le16(d.buf + b + 4, (uint16_t)w->bs); /* one empty entry per block */
	}
	struct fs_inode fake = { .type = FS_DIR, .perm = 0700, .mtime = w->epoch };
	struct ext2_inode in;
	fill_inode(w, &in, &fake, LINUX_S_IFDIR, 2);
	int rc = write_dir_blocks(w, &in, d.buf, total, NULL);
	free(d.buf);
	if (rc < 0)
		return -1;
	return write_inode(w, 11, &in, NULL);
}

static int write_dir(struct imgw *w, struct fs_node *n, ext2_ino_t ino)
{
	size_t nk;
	struct fs_node *const *kids = fstree_children(n, &nk);
	struct dirb d = { .bs = w->bs };
	uint16_t links = 2;
	dirb_add(&d, ino, ".", 1);
	dirb_add(&d, n->parent ? n->parent->inode->scratch : EXT2_ROOT_INO, "..", 2);
	if (!n->parent && w->add_lpf) {
		dirb_add(&d, 11, "lost+found", 10);
		links++;
	}
	for (size_t i = 0; i < nk; i++) {
		dirb_add(&d, kids[i]->inode->scratch, kids[i]->name, strlen(kids[i]->name));
		if (kids[i]->inode->type == FS_DIR)
			links++;
	}
	size_t len = dirb_finish(&d);
	struct ext2_inode in;
	fill_inode(w, &in, n->inode, LINUX_S_IFDIR, links);
	int rc = write_dir_blocks(w, &in, d.buf, len, n);
	free(d.buf);
	if (rc < 0)
		return -1;
	return write_inode(w, ino, &in, n);
}

static int write_other(struct imgw *w, struct fs_node *n, ext2_ino_t ino)
{
	struct fs_inode *fi = n->inode;
	struct ext2_inode in;
	uint16_t fmt = 0;
	switch (fi->type) {
	case FS_LNK: fmt = LINUX_S_IFLNK; break;
	case FS_CHR: fmt = LINUX_S_IFCHR; break;
	case FS_BLK: fmt = LINUX_S_IFBLK; break;
	case FS_FIFO: fmt = LINUX_S_IFIFO; break;
	case FS_SOCK: fmt = LINUX_S_IFSOCK; break;
	default: abort();
	}
	fill_inode(w, &in, fi, fmt, (uint16_t)fi->nlink);
	map_reset(w);
	if (fi->type == FS_LNK) {
		size_t len = strlen(fi->target);
		if (len >= w->bs)
			return img_fail(w->err, "%s: symlink target too long (%zu bytes)", w->path, len);
		in.i_size = (uint32_t)len;
		if (len < sizeof(in.i_block)) {
			memcpy(in.i_block, fi->target, len); /* fast symlink */
		} else {
			memset(w->blk, 0, w->bs);
			memcpy(w->blk, fi->target, len);
			if (put_block(w, w->blk, false, n) < 0 || finish_map(w, &in, n) < 0)
				return -1;
		}
	} else if (fi->type == FS_CHR || fi->type == FS_BLK) {
		uint32_t ma = fi->rdev_major, mi = fi->rdev_minor;
		if (w->o->profile == IMAGE_PROFILE_NETBSD) {
			in.i_block[0] = ((ma << 8) & 0x000fff00u) | ((mi << 12) & 0xfff00000u) |
					(mi & 0xffu);
		} else if (ma < 256 && mi < 256) {
			in.i_block[0] = ma * 256 + mi;
		} else {
			in.i_block[1] = (mi & 0xffu) | (ma << 8) | ((mi & ~0xffu) << 12);
		}
	}
	return write_inode(w, ino, &in, n);
}

static int number_visit(void *ctx, const char *path, struct fs_node *n)
{
	struct imgw *w = ctx;
	if (n->inode->scratch)
		return 0;
	if (!n->parent)
		n->inode->scratch = EXT2_ROOT_INO;
	else if (!w->add_lpf && n->parent && !n->parent->parent && strcmp(n->name, "lost+found") == 0)
		n->inode->scratch = 11;
	else
		n->inode->scratch = w->next_ino++;
	return 0;
}

struct write_ctx {
	struct imgw *w;
	ext2_ino_t written;      /* highest number written, in order */
};

static int write_visit(void *ctx, const char *path, struct fs_node *n)
{
	struct imgw *w = ctx;
	ext2_ino_t ino = n->inode->scratch;
	if (ino < EXT2_ROOT_INO)
		return 0;
	/* write each inode once: at its first name (numbers are unique) */
	if (ext2fs_test_inode_bitmap2(w->fs->inode_map, ino))
		return 0;
	if (ino > w->fs->super->s_inodes_count)
		return e2err(w, EXT2_ET_INODE_ALLOC_FAIL, "numbering", n);
	uint64_t links = n->inode->nlink;
	if (n->inode->type == FS_DIR) {
		size_t nk;
		struct fs_node *const *kids = fstree_children(n, &nk);
		links = 2;
		for (size_t i = 0; i < nk; i++)
			links += kids[i]->inode->type == FS_DIR;
	}
	if (links >= EXT2_LINK_MAX) {
		char *p = fstree_path(n);
		img_fail(w->err, "%s: \"%s\" would have %" PRIu64 " links; ext2 allows fewer than %d",
			 w->path, p, links, EXT2_LINK_MAX);
		free(p);
		return -1;
	}
	switch (n->inode->type) {
	case FS_REG: return write_reg(w, n, ino) < 0 ? -1 : 0;
	case FS_DIR: return write_dir(w, n, ino) < 0 ? -1 : 0;
	default: return write_other(w, n, ino) < 0 ? -1 : 0;
	}
}

/* The geometry the tree and options give: disk bytes, block size, blocks,
 * inodes (what ext2fs_initialize is asked for); the partition's length. */
static int compute_geom(struct fstree *t, const struct image_opts *o, const char *path,
			uint64_t geom[4], uint64_t *part_len, struct error **err)
{
	uint64_t min = 0, autosz = 0, disk;
	image_size_needed(t, o, &min, &autosz);
	disk = o->size_bytes ? o->size_bytes / 512 * 512 : autosz;
	if (disk < min)
		return img_fail(err, "%s: image size %" PRIu64 " MiB is too small: the tree needs at "
				"least %" PRIu64 " MiB", path, disk / MiB, (min + MiB - 1) / MiB);
	uint64_t pl = (disk / 512 - PART_START_SECTOR - GPT_TAIL_SECTORS) * 512;
	struct geom g = geom_for(pl);
	struct need nd = tree_need(t, g.bs);
	uint64_t inodes = inodes_for(pl, g, nd.inodes);
	if (inodes > UINT32_MAX / 2)
		inodes = UINT32_MAX / 2;
	geom[0] = disk;
	geom[1] = g.bs;
	geom[2] = pl / g.bs;
	geom[3] = inodes;
	*part_len = pl;
	return 0;
}

/* Make [off, off + len) of fd zeros: a hole when the file system punches
 * them, else written zeros. 0 or -1 with errno. */
static int zero_range(int fd, uint64_t off, uint64_t len)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	static const unsigned char zeros[65536];
	while (len) {
		size_t k = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		ssize_t r = pwrite(fd, zeros, k, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

/* Zero what the previous image used and this one does not: data blocks
 * (punched back into holes, as a fresh image has them) and inodes. */
static int zero_stale(struct imgw *w)
{
	blk64_t first = w->fs->super->s_first_data_block, end = ext2fs_blocks_count(w->fs->super);
	blk64_t run = 0, runlen = 0;
	for (blk64_t b = first; b <= end; b++) {
		bool stale = b < end && ext2fs_test_block_bitmap2(w->old_bmap, b) &&
			     !ext2fs_test_block_bitmap2(w->fs->block_map, b);
		if (stale) {
			if (!runlen)
				run = b;
			runlen++;
			continue;
		}
		if (!runlen)
			continue;
		if (zero_range(w->fd, w->part_off + (uint64_t)run * w->bs, (uint64_t)runlen * w->bs) < 0)
			return img_fail(w->err, "%s: write: %s", w->path, strerror(errno));
		runlen = 0;
	}
	struct ext2_inode zero;
	memset(&zero, 0, sizeof(zero));
	for (ext2_ino_t i = 1; i <= w->fs->super->s_inodes_count; i++) {
		if (!ext2fs_test_inode_bitmap2(w->old_imap, i) || ext2fs_test_inode_bitmap2(w->fs->inode_map, i))
			continue;
		errcode_t e = ext2fs_write_inode(w->fs, i, &zero);
		if (e)
			return e2err(w, e, "clearing a stale inode", NULL);
	}
	return 0;
}

/* Read the previous image's bitmaps (what it used) before anything is
 * written over them. */
static int read_old_bitmaps(struct imgw *w)
{
	char opt[64];
	snprintf(opt, sizeof(opt), "offset=%" PRIu64, w->part_off);
	ext2_filsys old = NULL;
	errcode_t e = ext2fs_open2(w->path, opt, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &old);
	if (!e)
		e = ext2fs_read_bitmaps(old);
	if (!e)
		e = ext2fs_copy_bitmap(old->block_map, &w->old_bmap);
	if (!e)
		e = ext2fs_copy_bitmap(old->inode_map, &w->old_imap);
	if (old)
		ext2fs_close_free(&old);
	if (e)
		return e2err(w, e, "reading the previous image", NULL);
	return 0;
}

static int write_fs(struct imgw *w, const uint64_t geom[4])
{
	errcode_t e;
	struct ext2_super_block param;
	struct fstree_stats st;
	fstree_get_stats(w->t, &st);
	w->bs = (unsigned)geom[1];
	w->total = st.bytes;
	w->add_lpf = !tree_has_lpf(w->t);
	memset(&param, 0, sizeof(param));
	param.s_rev_level = EXT2_DYNAMIC_REV;
	param.s_log_block_size = w->bs == 1024 ? 0 : 2;
	param.s_log_cluster_size = param.s_log_block_size;
	ext2fs_blocks_count_set(&param, geom[2]);
	param.s_inodes_count = (uint32_t)geom[3];
	param.s_inode_size = EXT2_GOOD_OLD_INODE_SIZE;
	param.s_first_ino = EXT2_GOOD_OLD_FIRST_INO;
	param.s_max_mnt_count = (uint16_t)-1;
	if (w->prev && read_old_bitmaps(w) < 0)
		return -1;
	e = ext2fs_initialize(w->path, EXT2_FLAG_64BITS, &param, unix_io_manager, &w->fs);
	if (e)
		return e == EXT2_ET_TOO_MANY_INODES || e == EXT2_ET_TOOSMALL
			       ? e2err(w, EXT2_ET_BLOCK_ALLOC_FAIL, "", NULL)
			       : e2err(w, e, "initializing the filesystem", NULL);
	char opt[64];
	snprintf(opt, sizeof(opt), "offset=%" PRIu64, w->part_off);
	if ((e = io_channel_set_options(w->fs->io, opt)))
		return e2err(w, e, "setting the partition offset", NULL);
	struct ext2_super_block *sb = w->fs->super;
	int64_t sbt = w->epoch > 0 ? w->epoch : 1; /* libext2fs treats now == 0 as "use the clock" */
	w->fs->now = (time_t)sbt;
	sb->s_mkfs_time = sb->s_lastcheck = (uint32_t)sbt;
	sb->s_wtime = sb->s_mtime = 0;
	sb->s_max_mnt_count = (uint16_t)-1;
	sb->s_checkinterval = 0;
	sb->s_r_blocks_count = 0;
	derive16(w->o->seed, "ext2-uuid", sb->s_uuid);
	unsigned char hs[16];
	derive16(w->o->seed, "ext2-hash-seed", hs);
	memcpy(sb->s_hash_seed, hs, sizeof(hs));
	sb->s_def_hash_version = EXT2_HASH_HALF_MD4;
	memset(sb->s_volume_name, 0, sizeof(sb->s_volume_name));
	char *label = xasprintf("%sroot", w->o->service);
	strncpy((char *)sb->s_volume_name, label, sizeof(sb->s_volume_name));
	free(label);
	ext2fs_mark_super_dirty(w->fs);
	if ((e = ext2fs_allocate_tables(w->fs)))
		return e2err(w, e, "allocating group tables", NULL);
	/* a fresh file is all holes: the inode tables are already zero; an
	 * updated one gets its stale inodes zeroed at the end (zero_stale) */
	ext2fs_inode_alloc_stats2(w->fs, EXT2_BAD_INO, +1, 0);
	if ((e = ext2fs_update_bb_inode(w->fs, NULL)))
		return e2err(w, e, "writing the bad blocks inode", NULL);
	for (ext2_ino_t i = EXT2_ROOT_INO + 1; i < EXT2_FIRST_INODE(sb); i++)
		ext2fs_inode_alloc_stats2(w->fs, i, +1, 0);
	/* number every inode, then write them in order */
	fstree_walk(w->t, clear_visit, NULL);
	w->next_ino = 12;
	fstree_walk(w->t, number_visit, w);
	if (w->next_ino - 1 > sb->s_inodes_count)
		return e2err(w, EXT2_ET_INODE_ALLOC_FAIL, "", NULL);
	w->goal = ext2fs_inode_table_loc(w->fs, 0) + w->fs->inode_blocks_per_group;
	if (fstree_walk(w->t, write_visit, w) != 0)
		return -1;
	if (w->add_lpf && write_lpf(w) < 0)
		return -1;
	if (batch_flush(w) < 0)
		return -1;
	if (w->prev && zero_stale(w) < 0)
		return -1;
	if (w->prev)
		fault_point("update-metadata");
	ext2fs_mark_bb_dirty(w->fs);
	ext2fs_mark_ib_dirty(w->fs);
	e = ext2fs_close_free(&w->fs);
	if (e)
		return e2err(w, e, "writing the filesystem metadata", NULL);
	return 0;
}

static int write_image(const char *path, struct fstree *t, const struct image_opts *o,
		       const struct image_layout *prev, struct image_layout **out, struct error **err)
{
	struct imgw w = { 0 };
	int rc = -1;
	w.t = t;
	w.o = o;
	w.path = path;
	w.err = err;
	w.fd = -1;
	w.prev = prev;
	w.epoch = o->epoch < 0 ? 0 : o->epoch;
	if (out)
		*out = NULL;
	if (!o->service || !*o->service || !o->seed)
		return img_fail(err, "%s: image options need a service name and a seed", path);
	uint64_t geom[4], part_len = 0;
	if (compute_geom(t, o, path, geom, &part_len, err) < 0)
		return -1;
	if (prev && memcmp(geom, prev->geom, sizeof(geom)))
		return img_fail(err, "%s: the previous image has another geometry", path);
	if (out) {
		w.lay = xcalloc(1, sizeof(*w.lay));
		memcpy(w.lay->geom, geom, sizeof(geom));
	}
	w.fd = open(path, prev ? O_RDWR | O_CLOEXEC : O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w.fd < 0) {
		img_fail(err, "%s: cannot %s: %s", path, prev ? "open" : "create", strerror(errno));
		goto out;
	}
	struct stat st;
	if (prev && (fstat(w.fd, &st) < 0 || (uint64_t)st.st_size != geom[0])) {
		img_fail(err, "%s: the previous image is not %" PRIu64 " bytes", path, geom[0]);
		goto out;
	}
	if (!prev && ftruncate(w.fd, (off_t)geom[0]) < 0) {
		img_fail(err, "%s: cannot size the image to %" PRIu64 " bytes: %s", path, geom[0],
			 strerror(errno));
		goto out;
	}
	if (prev) {
		/* libfdisk must find a blank disk, as in a fresh file (an
		 * existing GPT changes what it writes): clear the first MiB
		 * (all zero but the GPT) and the backup GPT at the end */
		if (zero_range(w.fd, 0, IMAGE_PART_OFFSET) < 0 ||
		    zero_range(w.fd, geom[0] - GPT_TAIL_SECTORS * 512, GPT_TAIL_SECTORS * 512) < 0) {
			img_fail(err, "%s: write: %s", path, strerror(errno));
			goto out;
		}
	}
	uint64_t pl = 0;
	if (write_gpt(path, geom[0], o, &w.part_off, &pl, err) < 0)
		goto out;
	if (pl != part_len) {
		img_fail(err, "%s: libfdisk made a partition of %" PRIu64 " bytes, not %" PRIu64, path,
			 pl, part_len);
		goto out;
	}
	w.wbuf = xmalloc(CHUNK);
	w.blk = xmalloc(4096);
	if (write_fs(&w, geom) < 0)
		goto out;
	if (prev)
		debugf("image: %s updated in place: %" PRIu64 " files (%" PRIu64 " bytes) kept", path,
		       w.reused, w.reused_bytes);
	rc = 0;
out:
	if (w.fs)
		ext2fs_free(w.fs);
	if (w.old_bmap)
		ext2fs_free_block_bitmap(w.old_bmap);
	if (w.old_imap)
		ext2fs_free_inode_bitmap(w.old_imap);
	for (unsigned i = 0; i < w.nsrc; i++)
		src_close(&w.src[i]);
	if (w.fd >= 0 && close(w.fd) < 0 && rc == 0)
		rc = img_fail(err, "%s: close: %s", path, strerror(errno));
	free(w.wbuf);
	free(w.blk);
	free(w.map);
	if (rc == 0 && out)
		*out = w.lay;
	else
		image_layout_free(w.lay);
	return rc;
}

int image_write(const char *path, struct fstree *t, const struct image_opts *o, struct error **err)
{
	return write_image(path, t, o, NULL, NULL, err);
}

int image_write_layout(const char *path, struct fstree *t, const struct image_opts *o,
		       struct image_layout **out, struct error **err)
{
	return write_image(path, t, o, NULL, out, err);
}

bool image_layout_fits(const struct image_layout *prev, struct fstree *t, const struct image_opts *o)
{
	uint64_t geom[4], pl;
	struct error *err = NULL;
	if (!prev || !o->service || !*o->service || !o->seed || compute_geom(t, o, "", geom, &pl, &err) < 0) {
		error_clear(&err);
		return false;
	}
	return memcmp(geom, prev->geom, sizeof(geom)) == 0;
}

int image_update(const char *path, struct fstree *t, const struct image_opts *o,
		 const struct image_layout *prev, struct image_layout **out, struct error **err)
{
	return write_image(path, t, o, prev, out, err);
}
