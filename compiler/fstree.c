/* fstree.c — in-memory root filesystem tree (see fstree.h).
 *
 * Design note: nodes are hashed on (parent pointer, name) in one chained
 * hash table that doubles when the load passes 1; a path lookup probes it
 * once per component. A node and its name are one allocation. Children
 * arrays are unsorted with swap-remove (each node knows its index) and
 * sorted lazily by fstree_children. Strings that repeat (data paths,
 * user/group names) are interned in a second hash table. Counters for
 * fstree_get_stats are maintained incrementally. */
#include "fstree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct istr {
	struct istr *next;
	uint32_t hash;
	char s[];
};

struct fstree {
	struct fs_node *root;
	struct fs_node **tab;       /* node hash table */
	size_t tabsz, count;
	struct istr **stab;         /* interned strings */
	size_t stabsz, scount;
	struct fstree_stats st;
};

static uint32_t hash_bytes(const char *s, size_t n, uint32_t h)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t node_hash(const struct fs_node *parent, const char *name, size_t len)
{
	uintptr_t p = (uintptr_t)parent;
	uint32_t h = 2166136261u ^ (uint32_t)(p >> 4) ^ (uint32_t)((uint64_t)p >> 32);
	h *= 16777619u;
	return hash_bytes(name, len, h);
}

const char *fstree_intern(struct fstree *t, const char *s)
{
	if (!s)
		return NULL;
	size_t len = strlen(s);
	uint32_t h = hash_bytes(s, len, 2166136261u);
	for (struct istr *e = t->stab[h & (t->stabsz - 1)]; e; e = e->next)
		if (e->hash == h && strcmp(e->s, s) == 0)
			return e->s;
	if (t->scount >= t->stabsz) {
		size_t nsz = t->stabsz * 2;
		struct istr **nt = xcalloc(nsz, sizeof(*nt));
		for (size_t i = 0; i < t->stabsz; i++) {
			struct istr *e = t->stab[i], *next;
			for (; e; e = next) {
				next = e->next;
				e->next = nt[e->hash & (nsz - 1)];
				nt[e->hash & (nsz - 1)] = e;
			}
		}
		free(t->stab);
		t->stab = nt;
		t->stabsz = nsz;
	}
	struct istr *e = xmalloc(sizeof(*e) + len + 1);
	memcpy(e->s, s, len + 1);
	e->hash = h;
	e->next = t->stab[h & (t->stabsz - 1)];
	t->stab[h & (t->stabsz - 1)] = e;
	t->scount++;
	return e->s;
}

static void hash_insert(struct fstree *t, struct fs_node *n)
{
	if (t->count >= t->tabsz) {
		size_t nsz = t->tabsz * 2;
		struct fs_node **nt = xcalloc(nsz, sizeof(*nt));
		for (size_t i = 0; i < t->tabsz; i++) {
			struct fs_node *e = t->tab[i], *next;
			for (; e; e = next) {
				next = e->hnext;
				e->hnext = nt[e->hash & (nsz - 1)];
				nt[e->hash & (nsz - 1)] = e;
			}
		}
		free(t->tab);
		t->tab = nt;
		t->tabsz = nsz;
	}
	size_t b = n->hash & (t->tabsz - 1);
	n->hnext = t->tab[b];
	t->tab[b] = n;
	t->count++;
}

static void hash_remove(struct fstree *t, struct fs_node *n)
{
	struct fs_node **pp = &t->tab[n->hash & (t->tabsz - 1)];
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			t->count--;
			return;
		}
	}
}

static struct fs_node *find_child(const struct fstree *t, const struct fs_node *dir,
				  const char *name, size_t len)
{
	uint32_t h = node_hash(dir, name, len);
	for (struct fs_node *e = t->tab[h & (t->tabsz - 1)]; e; e = e->hnext)
		if (e->hash == h && e->parent == dir && strncmp(e->name, name, len) == 0 &&
		    e->name[len] == '\0')
			return e;
	return NULL;
}

static struct fs_inode *inode_new(struct fstree *t, enum fs_type type)
{
	struct fs_inode *ino = xcalloc(1, sizeof(*ino));
	ino->type = type;
	t->st.inodes++;
	if (type == FS_DIR)
		t->st.dirs++;
	return ino;
}

static void inode_unref(struct fstree *t, struct fs_inode *ino)
{
	if (--ino->nlink > 0)
		return;
	t->st.inodes--;
	if (ino->type == FS_DIR)
		t->st.dirs--;
	if (ino->type == FS_REG)
		t->st.bytes -= ino->size;
	free((char *)ino->target);
	free(ino);
}

static void inode_set_meta(struct fstree *t, struct fs_inode *ino, const struct fs_meta *m)
{
	if (ino->type == FS_REG)
		t->st.bytes -= ino->size;
	ino->perm = m->perm & 07777;
	ino->uid = m->uid;
	ino->gid = m->gid;
	ino->uname = (m->uname && *m->uname) ? fstree_intern(t, m->uname) : NULL;
	ino->gname = (m->gname && *m->gname) ? fstree_intern(t, m->gname) : NULL;
	ino->mtime = m->mtime;
	ino->size = 0;
	ino->data_path = NULL;
	ino->data_off = 0;
	free((char *)ino->target);
	ino->target = NULL;
	ino->rdev_major = ino->rdev_minor = 0;
	switch (m->type) {
	case FS_REG:
		ino->size = m->size;
		if (m->size) {
			ino->data_path = fstree_intern(t, m->data_path);
			ino->data_off = m->data_off;
		}
		t->st.bytes += ino->size;
		break;
	case FS_LNK:
		ino->target = xstrdup(m->target);
		ino->size = strlen(m->target);
		break;
	case FS_CHR:
	case FS_BLK:
		ino->rdev_major = m->rdev_major;
		ino->rdev_minor = m->rdev_minor;
		break;
	default:
		break;
	}
}

static struct fs_node *node_new(struct fstree *t, struct fs_node *parent, const char *name,
				size_t len, struct fs_inode *ino)
{
	struct fs_node *n = xcalloc(1, sizeof(*n) + len + 1);
	char *nm = (char *)(n + 1);
	memcpy(nm, name, len);
	nm[len] = '\0';
	n->name = nm;
	n->parent = parent;
	n->inode = ino;
	ino->nlink++;
	n->sorted = true;
	t->st.names++;
	if (parent) {
		n->hash = node_hash(parent, nm, len);
		VEC_GROW(parent->kids, parent->nkids, parent->capkids);
		n->idx = parent->nkids;
		parent->kids[parent->nkids++] = n;
		/* appending keeps the order only if the name sorts last */
		if (parent->sorted && n->idx > 0 && strcmp(parent->kids[n->idx - 1]->name, nm) > 0)
			parent->sorted = false;
		hash_insert(t, n);
	}
	return n;
}

static void node_free_rec(struct fstree *t, struct fs_node *n)
{
	for (uint32_t i = 0; i < n->nkids; i++) {
		struct fs_node *k = n->kids[i];
		hash_remove(t, k);
		node_free_rec(t, k);
	}
	free(n->kids);
	inode_unref(t, n->inode);
	t->st.names--;
	free(n);
}

/* Unlink n from its parent and free it with everything below. */
static void node_remove(struct fstree *t, struct fs_node *n)
{
	struct fs_node *p = n->parent;
	uint32_t last = p->nkids - 1;
	if (n->idx != last) {
		p->kids[n->idx] = p->kids[last];
		p->kids[n->idx]->idx = n->idx;
		p->sorted = false;
	}
	p->nkids--;
	hash_remove(t, n);
	node_free_rec(t, n);
}

struct fstree *fstree_new(void)
{
	struct fstree *t = xcalloc(1, sizeof(*t));
	t->tabsz = 1024;
	t->tab = xcalloc(t->tabsz, sizeof(*t->tab));
	t->stabsz = 64;
	t->stab = xcalloc(t->stabsz, sizeof(*t->stab));
	struct fs_inode *ino = inode_new(t, FS_DIR);
	ino->perm = 0755;
	t->root = node_new(t, NULL, "", 0, ino);
	return t;
}

void fstree_free(struct fstree *t)
{
	if (!t)
		return;
	node_free_rec(t, t->root);
	free(t->tab);
	for (size_t i = 0; i < t->stabsz; i++) {
		struct istr *e = t->stab[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->stab);
	free(t);
}

struct fs_node *fstree_root(const struct fstree *t)
{
	return t->root;
}

char *fstree_normalize(const char *path, bool *was_absolute)
{
	if (was_absolute)
		*was_absolute = path[0] == '/';
	size_t len = strlen(path);
	char *out = xmalloc(len + 1);
	size_t o = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t cl = (size_t)(p - s);
		if (cl == 1 && s[0] == '.')
			continue;
		if (cl == 2 && s[0] == '.' && s[1] == '.') {
			free(out);
			errno = EINVAL;
			return NULL;
		}
		if (o)
			out[o++] = '/';
		memcpy(out + o, s, cl);
		o += cl;
	}
	out[o] = '\0';
	return out;
}

static int fail(struct error **err, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct error **err, int e, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		error_vset(err, fmt, ap);
		va_end(ap);
	}
	errno = e;
	return -1;
}

/* Resolve the parent directory of normalised path `np` (non-empty),
 * creating missing directories when `create`. Sets *leaf to the last
 * component. Returns NULL (errno ENOTDIR/ENOENT/ENAMETOOLONG, *err) on failure. */
static struct fs_node *resolve_parent(struct fstree *t, const char *np, bool create,
				      int64_t mtime, const char **leaf, struct error **err)
{
	struct fs_node *cur = t->root;
	const char *p = np;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t cl = slash ? (size_t)(slash - p) : strlen(p);
		if (cl > 255) {
			fail(err, ENAMETOOLONG, "\"/%s\": name component longer than 255 bytes", np);
			return NULL;
		}
		if (!slash) {
			*leaf = p;
			return cur;
		}
		struct fs_node *k = find_child(t, cur, p, cl);
		if (!k) {
			if (!create) {
				fail(err, ENOENT, "\"/%s\": parent directory does not exist", np);
				return NULL;
			}
			struct fs_inode *ino = inode_new(t, FS_DIR);
			ino->perm = 0755;
			ino->mtime = mtime;
			k = node_new(t, cur, p, cl, ino);
		} else if (k->inode->type != FS_DIR) {
			fail(err, ENOTDIR, "\"/%s\": parent \"/%.*s\" is not a directory (%s)", np,
			     (int)(slash - np), np,
			     k->inode->type == FS_LNK ? "a symlink: entries may not go through symlinks"
						      : "a file");
			return NULL;
		}
		cur = k;
		p = slash + 1;
	}
}

int fstree_put(struct fstree *t, const char *path, const struct fs_meta *m, struct error **err)
{
	if (m->type < FS_REG || m->type > FS_SOCK)
		return fail(err, EINVAL, "\"%s\": invalid file type", path);
	if (m->type == FS_LNK && !m->target)
		return fail(err, EINVAL, "\"%s\": symlink without target", path);
	if (m->type == FS_REG && m->size && !m->data_path)
		return fail(err, EINVAL, "\"%s\": regular file without data", path);
	char *np = fstree_normalize(path, NULL);
	if (!np)
		return fail(err, EINVAL, "\"%s\": path escapes the root (\"..\")", path);
	int rc = -1;
	if (!*np) {
		if (m->type != FS_DIR) {
			fail(err, EINVAL, "\"/\": the root must be a directory");
			goto out;
		}
		inode_set_meta(t, t->root->inode, m);
		rc = 0;
		goto out;
	}
	const char *leaf;
	struct fs_node *dir = resolve_parent(t, np, true, m->mtime, &leaf, err);
	if (!dir)
		goto out;
	size_t ll = strlen(leaf);
	struct fs_node *old = find_child(t, dir, leaf, ll);
	if (old) {
		if (old->inode->type == FS_DIR && m->type == FS_DIR) {
			inode_set_meta(t, old->inode, m);
			rc = 0;
			goto out;
		}
		node_remove(t, old);
	}
	struct fs_inode *ino = inode_new(t, m->type);
	inode_set_meta(t, ino, m);
	node_new(t, dir, leaf, ll, ino);
	rc = 0;
out:
	free(np);
	return rc;
}

int fstree_link(struct fstree *t, const char *path, const char *target, struct error **err)
{
	struct fs_node *tn = fstree_lookup(t, target);
	if (!tn)
		return fail(err, ENOENT, "\"%s\": hard link target \"%s\" does not exist", path, target);
	if (tn->inode->type == FS_DIR)
		return fail(err, EPERM, "\"%s\": hard link target \"%s\" is a directory", path, target);
	char *np = fstree_normalize(path, NULL);
	if (!np || !*np) {
		free(np);
		return fail(err, EINVAL, "\"%s\": invalid hard link path", path);
	}
	int rc = -1;
	/* hold a reference: removing the old entry at path may remove the
	 * only other name of the inode (e.g. "a" -> "a/b") */
	struct fs_inode *ino = tn->inode;
	ino->nlink++;
	const char *leaf;
	struct fs_node *dir = resolve_parent(t, np, true, ino->mtime, &leaf, err);
	if (!dir)
		goto out;
	size_t ll = strlen(leaf);
	struct fs_node *old = find_child(t, dir, leaf, ll);
	if (old) {
		if (old->inode == ino) {
			rc = 0;
			goto out;
		}
		node_remove(t, old);
	}
	node_new(t, dir, leaf, ll, ino);
	rc = 0;
out:
	inode_unref(t, ino);
	free(np);
	return rc;
}

struct fs_node *fstree_lookup(const struct fstree *t, const char *path)
{
	char *np = fstree_normalize(path, NULL);
	if (!np)
		return NULL;
	struct fs_node *cur = t->root;
	const char *p = np;
	while (*p && cur) {
		const char *slash = strchr(p, '/');
		size_t cl = slash ? (size_t)(slash - p) : strlen(p);
		if (cur->inode->type != FS_DIR) {
			cur = NULL;
			break;
		}
		cur = find_child(t, cur, p, cl);
		p = slash ? slash + 1 : p + cl;
	}
	free(np);
	return cur;
}

int fstree_remove(struct fstree *t, const char *path)
{
	char *np = fstree_normalize(path, NULL);
	if (!np) {
		errno = EINVAL;
		return -1;
	}
	if (!*np) {
		free(np);
		errno = EPERM;
		return -1;
	}
	struct fs_node *n = fstree_lookup(t, np);
	free(np);
	if (!n)
		return 0;
	node_remove(t, n);
	return 1;
}

static int cmp_node(const void *a, const void *b)
{
	const struct fs_node *x = *(struct fs_node *const *)a, *y = *(struct fs_node *const *)b;
	return strcmp(x->name, y->name);
}

struct fs_node *const *fstree_children(struct fs_node *dir, size_t *n)
{
	*n = dir->nkids;
	if (!dir->nkids)
		return NULL;
	if (!dir->sorted) {
		qsort(dir->kids, dir->nkids, sizeof(*dir->kids), cmp_node);
		for (uint32_t i = 0; i < dir->nkids; i++)
			dir->kids[i]->idx = i;
		dir->sorted = true;
	}
	return dir->kids;
}

char *fstree_path(const struct fs_node *n)
{
	if (!n->parent)
		return xstrdup("/");
	size_t len = 0;
	for (const struct fs_node *p = n; p->parent; p = p->parent)
		len += strlen(p->name) + 1;
	char *out = xmalloc(len + 1);
	out[len] = '\0';
	size_t o = len;
	for (const struct fs_node *p = n; p->parent; p = p->parent) {
		size_t l = strlen(p->name);
		o -= l;
		memcpy(out + o, p->name, l);
		out[--o] = '/';
	}
	return out;
}

static int walk_rec(struct fs_node *n, struct strbuf *sb, fstree_walk_fn fn, void *ctx)
{
	int rc = fn(ctx, sb->len ? sb_cstr(sb) : "/", n);
	if (rc)
		return rc;
	size_t nk;
	struct fs_node *const *kids = fstree_children(n, &nk);
	size_t base = sb->len;
	for (size_t i = 0; i < nk; i++) {
		sb_addc(sb, '/');
		sb_adds(sb, kids[i]->name);
		rc = walk_rec(kids[i], sb, fn, ctx);
		sb->len = base;
		if (sb->buf)
			sb->buf[base] = '\0';
		if (rc)
			return rc;
	}
	return 0;
}

int fstree_walk(struct fstree *t, fstree_walk_fn fn, void *ctx)
{
	struct strbuf sb;
	sb_init(&sb);
	int rc = walk_rec(t->root, &sb, fn, ctx);
	sb_free(&sb);
	return rc;
}

void fstree_get_stats(const struct fstree *t, struct fstree_stats *st)
{
	if (st)
		*st = t->st;
}
