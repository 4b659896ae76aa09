/* layer_host.c — layers from host files: import a path (COPY, RC files),
 * export a tree to a staging directory, diff a staging directory against
 * the tree it came from (POSTINST). See layer.h.
 *
 * Design note: every walk is sorted (strcmp) so layers are deterministic;
 * symlinks are never followed (lstat, O_NOFOLLOW). Hard links are found
 * by (st_dev, st_ino) in a small hash table. Export copies file data with
 * copy_file_range (pread/write fallback) from the layers' data files. */
#include "layer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "layer_int.h"
#include "util.h"

/* ---- (dev, ino) → path table ---- */

struct hl_ent {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct hl_tab {
	struct hl_ent *e;
	size_t cap, n;
};

static size_t hl_hash(dev_t d, ino_t i)
{
	return (size_t)((uint64_t)i * 0x9E3779B97F4A7C15ull ^ (uint64_t)d);
}

static const char *hl_get(const struct hl_tab *t, dev_t d, ino_t i)
{
	if (!t->cap)
		return NULL;
	for (size_t k = hl_hash(d, i) & (t->cap - 1);; k = (k + 1) & (t->cap - 1)) {
		if (!t->e[k].path)
			return NULL;
		if (t->e[k].dev == d && t->e[k].ino == i)
			return t->e[k].path;
	}
}

static void hl_put(struct hl_tab *t, dev_t d, ino_t i, const char *path)
{
	if ((t->n + 1) * 2 > t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 64;
		struct hl_ent *ne = xcalloc(nc, sizeof(*ne));
		for (size_t k = 0; k < t->cap; k++) {
			if (!t->e[k].path)
				continue;
			size_t j = hl_hash(t->e[k].dev, t->e[k].ino) & (nc - 1);
			while (ne[j].path)
				j = (j + 1) & (nc - 1);
			ne[j] = t->e[k];
		}
		free(t->e);
		t->e = ne;
		t->cap = nc;
	}
	size_t k = hl_hash(d, i) & (t->cap - 1);
	while (t->e[k].path)
		k = (k + 1) & (t->cap - 1);
	t->e[k].dev = d;
	t->e[k].ino = i;
	t->e[k].path = xstrdup(path);
	t->n++;
}

static void hl_free(struct hl_tab *t)
{
	for (size_t k = 0; k < t->cap; k++)
		free(t->e[k].path);
	free(t->e);
}

/* ---- sorted directory listing ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(const char *path, struct strvec *out, struct error **err, const char *label)
{
	DIR *d = opendir(path);
	if (!d)
		return layer_fail(err, "%s: cannot read directory %s: %s", label, path, strerror(errno));
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		sv_pushdup(out, de->d_name);
	}
	int e = errno;
	closedir(d);
	if (e)
		return layer_fail(err, "%s: cannot read directory %s: %s", label, path, strerror(e));
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	return 0;
}

static enum fs_type type_of(mode_t m)
{
	if (S_ISREG(m))
		return FS_REG;
	if (S_ISDIR(m))
		return FS_DIR;
	if (S_ISLNK(m))
		return FS_LNK;
	if (S_ISCHR(m))
		return FS_CHR;
	if (S_ISBLK(m))
		return FS_BLK;
	if (S_ISFIFO(m))
		return FS_FIFO;
	return FS_SOCK;
}

static char *read_link(const char *path, const struct stat *st)
{
	size_t cap = st->st_size > 0 ? (size_t)st->st_size + 1 : 256;
	for (;;) {
		char *buf = xmalloc(cap);
		ssize_t r = readlink(path, buf, cap);
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if ((size_t)r < cap) {
			buf[r] = '\0';
			return buf;
		}
		free(buf);
		cap *= 2;
	}
}

/* Add one host entry (already lstat'ed) to w at dest with meta m. */
static int add_host_entry(struct layer_writer *w, const char *label, const char *host,
			  const char *dest, const struct stat *st, struct fs_meta *m,
			  struct hl_tab *hl, struct error **err)
{
	m->type = type_of(st->st_mode);
	if (m->type != FS_DIR && st->st_nlink > 1) {
		const char *first = hl_get(hl, st->st_dev, st->st_ino);
		if (first)
			return layer_add_hardlink_named(w, host, dest, first, err);
		hl_put(hl, st->st_dev, st->st_ino, dest);
	}
	switch (m->type) {
	case FS_REG: {
		int fd = open(host, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return layer_fail(err, "%s: cannot open %s: %s", label, host, strerror(errno));
		int rc = layer_add_file_fd_named(w, host, dest, m, fd, err);
		close(fd);
		return rc;
	}
	case FS_LNK: {
		char *tg = read_link(host, st);
		if (!tg)
			return layer_fail(err, "%s: cannot read symlink %s: %s", label, host,
					  strerror(errno));
		m->target = tg;
		int rc = layer_add_named(w, host, dest, m, err);
		free(tg);
		m->target = NULL;
		return rc;
	}
	case FS_CHR:
	case FS_BLK:
		m->rdev_major = major(st->st_rdev);
		m->rdev_minor = minor(st->st_rdev);
		return layer_add_named(w, host, dest, m, err);
	default:
		return layer_add_named(w, host, dest, m, err);
	}
}

/* ---- import a host path ---- */

struct imp_path {
	struct layer_writer *w;
	const struct layer_path_opts *o;
	const char *label;
	struct hl_tab hl;
};

static int import_rec(struct imp_path *ip, const char *host, const char *rel, const char *dest,
		      struct error **err)
{
	struct stat st;
	if (lstat(host, &st) < 0)
		return layer_fail(err, "%s: cannot stat %s: %s", ip->label, host, strerror(errno));
	const struct layer_path_opts *o = ip->o;
	struct fs_meta m = { 0 };
	m.perm = o->perm >= 0 ? (uint32_t)o->perm : (uint32_t)(st.st_mode & 07777);
	if (S_ISLNK(st.st_mode))
		m.perm = 0777;
	m.uid = o->uid >= 0 ? (uint32_t)o->uid : (uint32_t)st.st_uid;
	m.gid = o->gid >= 0 ? (uint32_t)o->gid : (uint32_t)st.st_gid;
	m.mtime = o->mtime >= 0 ? o->mtime : (int64_t)st.st_mtim.tv_sec;
	if (o->owner) {
		struct error *e = NULL;
		if (o->owner(o->owner_ctx, rel, &st, &m.uid, &m.gid, &e) != 0) {
			if (e && err && !*err)
				*err = e;
			else
				error_clear(&e);
			return layer_fail(err, "%s: ownership of \"%s\" refused", ip->label, rel);
		}
	}
	if (add_host_entry(ip->w, ip->label, host, dest, &st, &m, &ip->hl, err) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return 0;
	struct strvec names = { 0 };
	int rc = list_dir(host, &names, err, ip->label);
	for (size_t i = 0; rc == 0 && i < names.n; i++) {
		char *h = path_join(host, names.v[i]);
		char *r = *rel ? xasprintf("%s/%s", rel, names.v[i]) : xstrdup(names.v[i]);
		char *d = xasprintf("%s/%s", dest, names.v[i]);
		rc = import_rec(ip, h, r, d, err);
		free(h);
		free(r);
		free(d);
	}
	sv_free(&names);
	return rc;
}

int layer_import_path(struct layer_writer *w, const char *host_path,
		      const struct layer_path_opts *o, struct error **err)
{
	if (!o || !o->dest)
		return layer_fail(err, "%s: no destination given for the import", host_path);
	struct imp_path ip = { .w = w, .o = o, .label = o->label ? o->label : host_path };
	char *saved = xstrdup(layer_writer_label(w));
	layer_writer_set_label(w, ip.label);
	int rc = import_rec(&ip, host_path, "", o->dest, err);
	layer_writer_set_label(w, saved);
	free(saved);
	hl_free(&ip.hl);
	return rc;
}

/* ---- export ---- */

static int copy_range(int in, uint64_t off, int out, uint64_t len)
{
	loff_t o = (loff_t)off;
	while (len) {
		ssize_t r = copy_file_range(in, &o, out, NULL, len, 0);
		if (r < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP))
			break;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = EIO; /* data file shorter than recorded */
			return -1;
		}
		len -= (uint64_t)r;
	}
	char buf[65536];
	while (len) {
		size_t k = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		ssize_t r = pread(in, buf, k, o);
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		for (ssize_t done = 0; done < r; ) {
			ssize_t wr = write(out, buf + done, (size_t)(r - done));
			if (wr < 0)
				return -1;
			done += wr;
		}
		o += r;
		len -= (uint64_t)r;
	}
	return 0;
}

struct exp {
	const char *root;
	struct strvec firsts;     /* path of the first export of each hard-linked inode */
	const char *src_path;     /* cached data file */
	int src_fd;
	struct error **err;
	bool dirs_pass;
};

static int clear_scratch(void *ctx, const char *path, struct fs_node *n)
{
	n->inode->scratch = 0;
	return 0;
}

static int set_times(const char *p, int64_t mtime, bool nofollow)
{
	struct timespec ts[2] = { { (time_t)mtime, 0 }, { (time_t)mtime, 0 } };
	return utimensat(AT_FDCWD, p, ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0);
}

static int export_visit(void *ctx, const char *path, struct fs_node *n)
{
	struct exp *x = ctx;
	struct fs_inode *ino = n->inode;
	char *p = xasprintf("%s%s", x->root, strcmp(path, "/") == 0 ? "" : path);
	int rc = -1;
	if (x->dirs_pass) {
		if (ino->type == FS_DIR && set_times(p, ino->mtime, false) < 0)
			goto syserr;
		rc = 0;
		goto out;
	}
	if (!n->parent) {
		rc = 0;
		goto out;
	}
	if (ino->type != FS_DIR && ino->nlink > 1 && ino->scratch) {
		if (link(x->firsts.v[ino->scratch - 1], p) < 0)
			goto syserr;
		rc = 0;
		goto out;
	}
	switch (ino->type) {
	case FS_DIR:
		if (mkdir(p, 0700) < 0 || chmod(p, (ino->perm | 0700) & 07777) < 0)
			goto syserr;
		break;
	case FS_REG: {
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			goto syserr;
		if (ino->size) {
			if (x->src_path != ino->data_path) {
				if (x->src_fd >= 0)
					close(x->src_fd);
				x->src_fd = open(ino->data_path, O_RDONLY | O_CLOEXEC);
				x->src_path = ino->data_path;
			}
			if (x->src_fd < 0 || copy_range(x->src_fd, ino->data_off, fd, ino->size) < 0) {
				int e = errno;
				close(fd);
				layer_fail(x->err, "exporting \"%s\": cannot copy data from %s: %s", path,
					   ino->data_path, strerror(e));
				goto out;
			}
		}
		if (fchmod(fd, (ino->perm | 0600) & 07777) < 0) {
			close(fd);
			goto syserr;
		}
		close(fd);
		if (set_times(p, ino->mtime, false) < 0)
			goto syserr;
		break;
	}
	case FS_LNK:
		if (symlink(ino->target, p) < 0 || set_times(p, ino->mtime, true) < 0)
			goto syserr;
		break;
	case FS_FIFO:
		if (mkfifo(p, 0600) < 0 || chmod(p, (ino->perm | 0600) & 07777) < 0 ||
		    set_times(p, ino->mtime, false) < 0)
			goto syserr;
		break;
	default:
		rc = 0; /* devices and sockets need root: skipped (see layer.h) */
		goto out;
	}
	if (ino->type != FS_DIR && ino->nlink > 1) {
		sv_pushdup(&x->firsts, p);
		ino->scratch = (uint32_t)x->firsts.n;
	}
	rc = 0;
	goto out;
syserr:
	layer_fail(x->err, "exporting \"%s\" to %s: %s", path, p, strerror(errno));
out:
	free(p);
	return rc;
}

int layer_export_tree(struct fstree *t, const char *host_dir, struct error **err)
{
	struct exp x = { .root = host_dir, .src_fd = -1, .err = err };
	fstree_walk(t, clear_scratch, NULL);
	int rc = fstree_walk(t, export_visit, &x);
	if (rc == 0) {
		x.dirs_pass = true;
		rc = fstree_walk(t, export_visit, &x);
	}
	fstree_walk(t, clear_scratch, NULL);
	if (x.src_fd >= 0)
		close(x.src_fd);
	sv_free(&x.firsts);
	return rc ? -1 : 0;
}

/* ---- diff ---- */

struct diff {
	struct layer_writer *w;
	struct fstree *base;
	uint32_t new_uid, new_gid;
	const char *label;
	struct hl_tab hl;
};

static uint32_t export_bits(enum fs_type t)
{
	return t == FS_DIR ? 0700 : (t == FS_REG || t == FS_FIFO) ? 0600 : 0;
}

static int diff_rec(struct diff *d, const char *host, const char *rel, struct error **err)
{
	struct stat st;
	if (lstat(host, &st) < 0)
		return layer_fail(err, "%s: cannot stat %s: %s", d->label, host, strerror(errno));
	enum fs_type ty = type_of(st.st_mode);
	struct fs_node *bn = fstree_lookup(d->base, rel);
	struct fs_inode *bi = bn ? bn->inode : NULL;
	uint32_t hperm = (uint32_t)st.st_mode & 07777;
	struct fs_meta m = { 0 };
	bool changed = true;
	if (bi && bi->type == ty) {
		bool perm_same = hperm == ((bi->perm | export_bits(ty)) & 07777) || ty == FS_LNK;
		m.perm = perm_same ? bi->perm : hperm;
		switch (ty) {
		case FS_DIR:
		case FS_FIFO:
			changed = !perm_same;
			break;
		case FS_REG:
			changed = !perm_same || (uint64_t)st.st_size != bi->size ||
				  (int64_t)st.st_mtim.tv_sec != bi->mtime;
			break;
		case FS_LNK: {
			char *tg = read_link(host, &st);
			changed = !tg || strcmp(tg, bi->target) != 0;
			free(tg);
			break;
		}
		default:
			changed = (uint32_t)major(st.st_rdev) != bi->rdev_major ||
				  (uint32_t)minor(st.st_rdev) != bi->rdev_minor || !perm_same;
			break;
		}
	} else {
		m.perm = hperm;
	}
	if (bi) {
		m.uid = bi->uid;
		m.gid = bi->gid;
		m.uname = bi->uname;
		m.gname = bi->gname;
	} else {
		m.uid = d->new_uid;
		m.gid = d->new_gid;
	}
	if (ty == FS_LNK)
		m.perm = bi && bi->type == FS_LNK ? bi->perm : 0777;
	/* unchanged: keep the mtime of the tree; changed: the host's */
	m.mtime = changed || !bi ? (int64_t)st.st_mtim.tv_sec : bi->mtime;
	if (*rel && changed) {
		char *dest = xasprintf("/%s", rel);
		int rc = add_host_entry(d->w, d->label, host, dest, &st, &m, &d->hl, err);
		free(dest);
		if (rc < 0)
			return -1;
	}
	if (ty != FS_DIR)
		return 0;
	struct strvec names = { 0 };
	int rc = list_dir(host, &names, err, d->label);
	for (size_t i = 0; rc == 0 && i < names.n; i++) {
		char *h = path_join(host, names.v[i]);
		char *r = *rel ? xasprintf("%s/%s", rel, names.v[i]) : xstrdup(names.v[i]);
		rc = diff_rec(d, h, r, err);
		free(h);
		free(r);
	}
	sv_free(&names);
	return rc;
}

/* Whiteouts for base entries missing on the host (topmost only). */
static int diff_removed(struct diff *d, struct fs_node *dir, const char *host_root, struct error **err)
{
	size_t nk;
	struct fs_node *const *kids = fstree_children(dir, &nk);
	for (size_t i = 0; i < nk; i++) {
		struct fs_node *k = kids[i];
		enum fs_type ty = k->inode->type;
		char *path = fstree_path(k);
		char *host = xasprintf("%s%s", host_root, path);
		struct stat st;
		int rc = 0;
		if (lstat(host, &st) < 0) {
			if (ty != FS_CHR && ty != FS_BLK && ty != FS_SOCK)
				rc = layer_add_whiteout(d->w, path, err);
		} else if (ty == FS_DIR && S_ISDIR(st.st_mode)) {
			rc = diff_removed(d, k, host_root, err);
		}
		free(host);
		free(path);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int layer_diff_dir(struct layer_writer *w, const char *host_dir, struct fstree *base,
		   uint32_t new_uid, uint32_t new_gid, struct error **err)
{
	struct diff d = { .w = w, .base = base, .new_uid = new_uid, .new_gid = new_gid,
			  .label = layer_writer_label(w) };
	int rc = diff_removed(&d, fstree_root(base), host_dir, err);
	if (rc == 0)
		rc = diff_rec(&d, host_dir, "", err);
	hl_free(&d.hl);
	return rc;
}
