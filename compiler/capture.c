/* capture.c — see capture.h. */
#include "capture.h"
#include "fstree.h"
#include "layer.h"
#include "layer_int.h"
#include "util.h"

#include <errno.h>
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (64u * 1024)

struct ext2img {
	ext2_filsys fs;
	char *disk;
};

static int e2fail(struct error **err, const char *disk, errcode_t e, const char *what, const char *path)
{
	error_set(err, "%s: %s%s%s%s: %s", disk, what, path ? " \"" : "", path ? path : "", path ? "\"" : "",
		error_message(e));
	return -1;
}

struct ext2img *ext2img_open(const char *disk, uint64_t part_off, struct error **err)
{
	char opt[64];
	snprintf(opt, sizeof(opt), "offset=%" PRIu64, part_off);
	ext2_filsys fs = NULL;
	errcode_t e = ext2fs_open2(disk, opt, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);
	if (e) {
		e2fail(err, disk, e, "opening the filesystem", NULL);
		return NULL;
	}
	struct ext2img *img = xcalloc(1, sizeof(*img));
	img->fs = fs;
	img->disk = xstrdup(disk);
	return img;
}

void ext2img_close(struct ext2img *img)
{
	if (!img)
		return;
	ext2fs_close_free(&img->fs);
	free(img->disk);
	free(img);
}

void ext2img_space(struct ext2img *img, uint64_t *free_bytes, uint64_t *total_bytes)
{
	uint64_t bs = (uint64_t)EXT2_BLOCK_SIZE(img->fs->super);
	if (free_bytes)
		*free_bytes = (uint64_t)ext2fs_free_blocks_count(img->fs->super) * bs;
	if (total_bytes)
		*total_bytes = ((uint64_t)img->fs->super->s_blocks_count |
				(uint64_t)img->fs->super->s_blocks_count_hi << 32) * bs;
}

/* Read the whole content of inode `ino` (size bytes) through fn. */
typedef int (*chunk_fn)(void *ctx, const void *buf, size_t n, struct error **err);

static int read_ino(struct ext2img *img, ext2_ino_t ino, const char *path, chunk_fn fn, void *ctx, struct error **err)
{
	ext2_file_t f;
	errcode_t e = ext2fs_file_open(img->fs, ino, 0, &f);
	if (e)
		return e2fail(err, img->disk, e, "opening", path);
	char *buf = xmalloc(CHUNK);
	int rc = 0;
	for (;;) {
		unsigned int got = 0;
		if ((e = ext2fs_file_read(f, buf, CHUNK, &got))) {
			rc = e2fail(err, img->disk, e, "reading", path);
			break;
		}
		if (!got)
			break;
		if (fn(ctx, buf, got, err) < 0) {
			rc = -1;
			break;
		}
	}
	free(buf);
	ext2fs_file_close(f);
	return rc;
}

struct membuf {
	struct strbuf sb;
	size_t max;
};

static int to_mem(void *ctx, const void *buf, size_t n, struct error **err)
{
	struct membuf *m = ctx;
	if (m->sb.len + n > m->max)
		return error_set(err, "file larger than %zu bytes", m->max), -1;
	sb_add(&m->sb, buf, n);
	return 0;
}

int ext2img_read(struct ext2img *img, const char *path, size_t max, char **data, size_t *len, struct error **err)
{
	ext2_ino_t ino = 0;
	struct ext2_inode in;
	if (ext2fs_namei(img->fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino) || !ino ||
	    ext2fs_read_inode(img->fs, ino, &in) || !LINUX_S_ISREG(in.i_mode) || EXT2_I_SIZE(&in) > max)
		return 1;
	struct membuf m = {{0}, max};
	if (read_ino(img, ino, path, to_mem, &m, err) < 0) {
		sb_free(&m.sb);
		return -1;
	}
	*len = m.sb.len;
	sb_cstr(&m.sb);
	*data = sb_detach(&m.sb);
	return 0;
}

/* ---- the walk ---- */

struct linkent {
	ext2_ino_t ino;
	char *path;
};

struct cap {
	struct ext2img *img;
	struct fstree *base;
	struct layer_writer *w;
	const struct capture_opts *o;
	struct error **err;
	uint32_t epoch;
	struct linkent *links;      /* open addressing, inodes with > 1 name already written */
	size_t nlinks, caplinks;
	struct capture_stats st;
	unsigned char *cbuf;        /* compare buffer */
};

static uint32_t clamp_time(const struct cap *cx, int64_t t)
{
	if (t > (int64_t)cx->epoch)
		t = cx->epoch;
	if (t < 0)
		t = 0;
	if (t > INT32_MAX)
		t = INT32_MAX;
	return (uint32_t)t;
}

static enum fs_type type_of(uint16_t mode)
{
	switch (mode & LINUX_S_IFMT) {
	case LINUX_S_IFREG: return FS_REG;
	case LINUX_S_IFDIR: return FS_DIR;
	case LINUX_S_IFLNK: return FS_LNK;
	case LINUX_S_IFCHR: return FS_CHR;
	case LINUX_S_IFBLK: return FS_BLK;
	case LINUX_S_IFIFO: return FS_FIFO;
	case LINUX_S_IFSOCK: return FS_SOCK;
	default: return 0;
	}
}

static uint32_t uid_of(const struct ext2_inode *in)
{
	return inode_uid(*in);
}

static uint32_t gid_of(const struct ext2_inode *in)
{
	return inode_gid(*in);
}

static void rdev_of(const struct cap *cx, const struct ext2_inode *in, uint32_t *maj, uint32_t *min)
{
	uint32_t b0 = in->i_block[0], b1 = in->i_block[1];
	if (cx->o->netbsd_devs) {
		*maj = (b0 & 0x000fff00u) >> 8;
		*min = (b0 & 0xffu) | ((b0 & 0xfff00000u) >> 12);
	} else if (b0) {
		*maj = (b0 >> 8) & 0xffu;
		*min = b0 & 0xffu;
	} else {
		*maj = (b1 & 0xfff00u) >> 8;
		*min = (b1 & 0xffu) | ((b1 >> 12) & 0xfff00u);
	}
}

/* Still exactly what image_write wrote for ti at this inode number? */
static bool as_written(const struct cap *cx, const struct fs_inode *ti, ext2_ino_t ino, const struct ext2_inode *in)
{
	uint32_t t = clamp_time(cx, ti->mtime);
	if (ti->scratch != ino || type_of(in->i_mode) != ti->type || (in->i_mode & 07777u) != (ti->perm & 07777u) ||
	    uid_of(in) != ti->uid || gid_of(in) != ti->gid || in->i_ctime != t || in->i_mtime != t)
		return false;
	if (ti->type == FS_REG || ti->type == FS_LNK)
		return EXT2_I_SIZE(in) == ti->size;
	return true;
}

/* Symlink target (caller frees), NULL + *err on error. */
static int to_sb(void *ctx, const void *buf, size_t n, struct error **err)
{
	struct strbuf *sb = ctx;
	if (sb->len + n > 65536)
		return error_set(err, "symlink target longer than 64 KiB"), -1;
	sb_add(sb, buf, n);
	return 0;
}

static char *link_target(struct cap *cx, ext2_ino_t ino, const struct ext2_inode *in, const char *path)
{
	uint64_t size = EXT2_I_SIZE(in);
	/* ext2 without extended attributes: a fast symlink has no blocks */
	if (in->i_blocks == 0 && size < sizeof(in->i_block))
		return xstrndup((const char *)in->i_block, (size_t)size);
	struct strbuf sb;
	sb_init(&sb);
	if (read_ino(cx->img, ino, path, to_sb, &sb, cx->err) < 0) {
		sb_free(&sb);
		return NULL;
	}
	sb_cstr(&sb);
	return sb_detach(&sb);
}

/* Compare the disk's copy with the tree's data: 1 same, 0 differs, -1 error. */
struct cmp_ctx {
	int fd;
	uint64_t off, pos;
	unsigned char *buf;
	bool differs;
};

static int cmp_chunk(void *ctx, const void *buf, size_t n, struct error **err)
{
	struct cmp_ctx *c = ctx;
	if (c->differs)
		return 0;
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(c->fd, c->buf, n - done > CHUNK ? CHUNK : n - done, (off_t)(c->off + c->pos));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			c->differs = true; /* the layer data is shorter: treat as changed */
			return 0;
		}
		if (memcmp(c->buf, (const char *)buf + done, (size_t)r)) {
			c->differs = true;
			return 0;
		}
		done += (size_t)r;
		c->pos += (uint64_t)r;
	}
	return 0;
}

static int same_content(struct cap *cx, const struct fs_inode *ti, ext2_ino_t ino, const char *path)
{
	cx->st.compared++;
	if (ti->size == 0)
		return 1;
	int fd = open(ti->data_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(cx->err, "%s: %s", ti->data_path, strerror(errno)), -1;
	struct cmp_ctx c = {fd, ti->data_off, 0, cx->cbuf, false};
	int rc = read_ino(cx->img, ino, path, cmp_chunk, &c, cx->err);
	close(fd);
	if (rc < 0)
		return -1;
	return c.differs ? 0 : 1;
}

/* ---- hard links: inode number -> first name written ---- */

static size_t link_slot(const struct cap *cx, ext2_ino_t ino)
{
	size_t i = ((size_t)ino * 2654435761u) & (cx->caplinks - 1);
	while (cx->links[i].ino && cx->links[i].ino != ino)
		i = (i + 1) & (cx->caplinks - 1);
	return i;
}

static const char *link_find(const struct cap *cx, ext2_ino_t ino)
{
	if (!cx->caplinks)
		return NULL;
	struct linkent *e = &cx->links[link_slot(cx, ino)];
	return e->ino ? e->path : NULL;
}

static void link_add(struct cap *cx, ext2_ino_t ino, const char *path)
{
	if ((cx->nlinks + 1) * 2 > cx->caplinks) {
		size_t oldcap = cx->caplinks;
		struct linkent *old = cx->links;
		cx->caplinks = oldcap ? oldcap * 2 : 64;
		cx->links = xcalloc(cx->caplinks, sizeof(*cx->links));
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].ino)
				cx->links[link_slot(cx, old[i].ino)] = old[i];
		free(old);
	}
	struct linkent *e = &cx->links[link_slot(cx, ino)];
	e->ino = ino;
	e->path = xstrdup(path);
	cx->nlinks++;
}

/* ---- records ---- */

static void meta_from(const struct cap *cx, struct fs_meta *m, const struct ext2_inode *in, const struct fs_inode *old)
{
	memset(m, 0, sizeof(*m));
	m->type = type_of(in->i_mode);
	m->perm = in->i_mode & 07777u;
	m->uid = uid_of(in);
	m->gid = gid_of(in);
	m->mtime = (int64_t)(uint32_t)in->i_mtime;
	if (old) {
		/* keep what the tree knew when the guest did not change it */
		if (old->uid == m->uid)
			m->uname = old->uname;
		if (old->gid == m->gid)
			m->gname = old->gname;
		if (clamp_time(cx, old->mtime) == in->i_mtime)
			m->mtime = old->mtime;
	}
}

struct feed_ctx {
	struct cap *cx;
	ext2_ino_t ino;
	const char *path;
};

static int feed_chunk(void *ctx, const void *buf, size_t n, struct error **err)
{
	struct layer_writer *w = ctx;
	return layer_feed(w, buf, n, err);
}

static int feed_file(void *ctx, struct layer_writer *w, struct error **err)
{
	struct feed_ctx *f = ctx;
	return read_ino(f->cx->img, f->ino, f->path, feed_chunk, w, err);
}

/* Write the non-directory inode `ino` at path (or a hard link to its
 * first name). */
static int emit_other(struct cap *cx, const char *path, ext2_ino_t ino, const struct ext2_inode *in,
		      const struct fs_inode *old)
{
	if (in->i_links_count > 1) {
		const char *first = link_find(cx, ino);
		if (first) {
			cx->st.records++;
			return layer_add_hardlink(cx->w, path, first, cx->err);
		}
	}
	struct fs_meta m;
	meta_from(cx, &m, in, old);
	int rc;
	char *target = NULL;
	switch (m.type) {
	case FS_REG: {
		struct feed_ctx f = {cx, ino, path};
		rc = layer_add_file_stream(cx->w, path, path, &m, EXT2_I_SIZE(in), feed_file, &f, cx->err);
		break;
	}
	case FS_LNK:
		target = link_target(cx, ino, in, path);
		if (!target)
			return -1;
		m.target = target;
		rc = layer_add(cx->w, path, &m, cx->err);
		break;
	case FS_CHR:
	case FS_BLK:
		rdev_of(cx, in, &m.rdev_major, &m.rdev_minor);
		rc = layer_add(cx->w, path, &m, cx->err);
		break;
	case FS_FIFO:
	case FS_SOCK:
		rc = layer_add(cx->w, path, &m, cx->err);
		break;
	default:
		return error_set(cx->err, "%s: \"%s\" has an unknown file type (mode 0%o)", cx->img->disk, path,
			       (unsigned)in->i_mode), -1;
	}
	free(target);
	if (rc == 0) {
		cx->st.records++;
		if (in->i_links_count > 1)
			link_add(cx, ino, path);
	}
	return rc;
}

/* Is the changed non-directory inode the same as the tree's entry? */
static int same_other(struct cap *cx, const char *path, ext2_ino_t ino, const struct ext2_inode *in,
		      const struct fs_inode *old)
{
	if (!old || old->type != type_of(in->i_mode) || old->perm != (in->i_mode & 07777u) || old->uid != uid_of(in) ||
	    old->gid != gid_of(in) || clamp_time(cx, old->mtime) != in->i_mtime)
		return 0;
	/* a name of an inode whose set of names changed: write them all */
	if (in->i_links_count > 1 || old->nlink > 1)
		return 0;
	switch (old->type) {
	case FS_REG:
		if (EXT2_I_SIZE(in) != old->size)
			return 0;
		return same_content(cx, old, ino, path);
	case FS_LNK: {
		char *t = link_target(cx, ino, in, path);
		if (!t)
			return -1;
		int same = old->target && !strcmp(t, old->target);
		free(t);
		return same;
	}
	case FS_CHR:
	case FS_BLK: {
		uint32_t ma, mi;
		rdev_of(cx, in, &ma, &mi);
		return ma == old->rdev_major && mi == old->rdev_minor;
	}
	default:
		return 1;
	}
}

struct dent {
	char *name;
	ext2_ino_t ino;
};

struct dlist {
	struct dent *v;
	size_t n, cap;
};

static int list_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset, int blocksize, char *buf,
		   void *priv)
{
	struct dlist *l = priv;
	size_t len = d->name_len & 0xff;
	if (!d->inode || (len == 1 && d->name[0] == '.') || (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
		return 0;
	VEC_GROW(l->v, l->n, l->cap);
	l->v[l->n].name = xstrndup(d->name, len);
	l->v[l->n].ino = d->inode;
	l->n++;
	return 0;
}

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

static void dlist_free(struct dlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

static bool skipped_at_root(const struct cap *cx, const char *dir, const char *name)
{
	if (strcmp(dir, "/") || !cx->o->skip_root)
		return false;
	for (const char *const *s = cx->o->skip_root; *s; s++)
		if (!strcmp(*s, name))
			return true;
	return false;
}

static char *child_path(const char *dir, const char *name)
{
	return !strcmp(dir, "/") ? xasprintf("/%s", name) : xasprintf("%s/%s", dir, name);
}

static int visit(struct cap *cx, const char *path, struct fs_node *tn, ext2_ino_t ino, int depth);

/* The guest left this directory's entries alone: walk the tree's. */
static int walk_unchanged(struct cap *cx, const char *path, struct fs_node *tn, int depth)
{
	size_t nk;
	struct fs_node *const *kids = fstree_children(tn, &nk);
	/* copy: visiting never modifies the tree, but stay safe */
	for (size_t i = 0; i < nk; i++) {
		char *cp = child_path(path, kids[i]->name);
		int rc = visit(cx, cp, kids[i], (ext2_ino_t)kids[i]->inode->scratch, depth + 1);
		free(cp);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int walk_dir(struct cap *cx, const char *path, struct fs_node *tn, ext2_ino_t ino,
		    const struct ext2_inode *in, int depth)
{
	struct fs_node *old = tn && tn->inode->type == FS_DIR ? tn : NULL;
	struct dlist l = {0};
	errcode_t e = ext2fs_dir_iterate2(cx->img->fs, ino, 0, NULL, list_cb, &l);
	if (e) {
		dlist_free(&l);
		return e2fail(cx->err, cx->img->disk, e, "reading the directory", path);
	}
	if (l.n > 1) /* an empty directory has no list at all */
		qsort(l.v, l.n, sizeof(*l.v), dent_cmp);
	/* the same names as the tree's? */
	size_t nk = 0;
	struct fs_node *const *kids = old ? fstree_children(old, &nk) : NULL;
	bool same_names = old != NULL;
	size_t k = 0;
	for (size_t i = 0; i < l.n && same_names; i++) {
		if (skipped_at_root(cx, path, l.v[i].name))
			continue;
		same_names = k < nk && !strcmp(kids[k]->name, l.v[i].name);
		k++;
	}
	same_names = same_names && k == nk;
	int rc = 0;
	if (!old || !same_names || old->inode->perm != (in->i_mode & 07777u) || old->inode->uid != uid_of(in) ||
	    old->inode->gid != gid_of(in)) {
		struct fs_meta m;
		meta_from(cx, &m, in, old ? old->inode : NULL);
		rc = layer_add(cx->w, path, &m, cx->err);
		cx->st.records++;
	}
	/* whiteouts: names of the tree the guest removed (merge of two sorted lists) */
	if (old && !same_names && rc == 0) {
		kids = fstree_children(old, &nk);
		size_t i = 0;
		for (k = 0; k < nk && rc == 0; k++) {
			while (i < l.n && strcmp(l.v[i].name, kids[k]->name) < 0)
				i++;
			if (i < l.n && !strcmp(l.v[i].name, kids[k]->name))
				continue;
			char *cp = child_path(path, kids[k]->name);
			rc = layer_add_whiteout(cx->w, cp, cx->err);
			cx->st.records++;
			free(cp);
		}
	}
	for (size_t i = 0; i < l.n && rc == 0; i++) {
		if (skipped_at_root(cx, path, l.v[i].name))
			continue;
		char *cp = child_path(path, l.v[i].name);
		struct fs_node *tc = old ? fstree_lookup(cx->base, cp) : NULL;
		rc = visit(cx, cp, tc, l.v[i].ino, depth + 1);
		free(cp);
	}
	dlist_free(&l);
	return rc;
}

static int visit(struct cap *cx, const char *path, struct fs_node *tn, ext2_ino_t ino, int depth)
{
	if (depth > 2048)
		return error_set(cx->err, "%s: \"%s\" is nested too deep", cx->img->disk, path), -1;
	struct ext2_inode in;
	errcode_t e = ext2fs_read_inode(cx->img->fs, ino, &in);
	if (e)
		return e2fail(cx->err, cx->img->disk, e, "reading the inode of", path);
	cx->st.visited++;
	if (tn && as_written(cx, tn->inode, ino, &in))
		return tn->inode->type == FS_DIR ? walk_unchanged(cx, path, tn, depth) : 0;
	cx->st.changed++;
	if (type_of(in.i_mode) == FS_DIR)
		return walk_dir(cx, path, tn, ino, &in, depth);
	const struct fs_inode *old = tn ? tn->inode : NULL;
	int same = same_other(cx, path, ino, &in, old);
	if (same < 0)
		return -1;
	return same ? 0 : emit_other(cx, path, ino, &in, old);
}

int capture_diff(struct ext2img *img, struct fstree *base, struct layer_writer *w, const struct capture_opts *o,
		 struct error **err)
{
	struct cap cx;
	memset(&cx, 0, sizeof(cx));
	cx.img = img;
	cx.base = base;
	cx.w = w;
	cx.o = o;
	cx.err = err;
	cx.epoch = (uint32_t)(o->epoch < 0 ? 0 : o->epoch > INT32_MAX ? INT32_MAX : o->epoch);
	cx.cbuf = xmalloc(CHUNK);
	int rc = visit(&cx, "/", fstree_root(base), EXT2_ROOT_INO, 0);
	for (size_t i = 0; i < cx.caplinks; i++)
		free(cx.links[i].path);
	free(cx.links);
	free(cx.cbuf);
	if (o->stats)
		*o->stats = cx.st;
	return rc;
}
