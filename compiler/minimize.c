/* minimize.c — see minimize.h. */
#include "minimize.h"
#include "elfdeps.h"
#include "layer.h"
#include "pkgdb.h"
#include "rcscan.h"
#include "util.h"

#include <elf.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	M_SELF = 1,      /* the entry itself (a directory: not its contents) */
	M_TREE = 2,      /* a directory and everything below it */
	M_ANC = 4,       /* a directory above a kept entry */
	M_DONE = 8,      /* analysed (ELF, script) */
};

struct mark {
	const struct fs_node *node;
	const char *why;             /* borrowed from roots or m->reasons */
	unsigned flags;
};

struct work {
	struct fs_node *node;
	char *path;                  /* its path after symlinks */
};

struct minimize {
	struct fstree *t;
	const struct minimize_opts *o;
	struct mark *tab;            /* open addressing on the node pointer */
	size_t tcap, tn;
	struct strvec reasons;       /* owned reason strings */
	struct minimize_msg *msgs;
	size_t nmsgs, capmsgs;
	struct work *q;              /* files to analyse */
	size_t qn, qcap, qhead;
	struct strvec scripts;       /* scripts already scanned */
	struct strvec missing;       /* programs already reported missing */
	struct strvec defdirs;       /* the profile's library directories (linux: set from the first ELF) */
	bool defdirs_set;
	char *fd_path;               /* one open data file, reused */
	int fd;
	struct minimize_stats st;
};

/* ---- the mark table ---- */

static size_t hash_ptr(const void *p, size_t cap)
{
	uintptr_t x = (uintptr_t)p;
	x ^= x >> 17;
	x *= 0x9e3779b97f4a7c15ull;
	return (size_t)(x >> 7) & (cap - 1);
}

static struct mark *mark_get(const struct minimize *m, const struct fs_node *n)
{
	if (!m->tcap)
		return NULL;
	for (size_t i = hash_ptr(n, m->tcap);; i = (i + 1) & (m->tcap - 1)) {
		if (!m->tab[i].node)
			return NULL;
		if (m->tab[i].node == n)
			return &m->tab[i];
	}
}

static struct mark *mark_put(struct minimize *m, const struct fs_node *n)
{
	struct mark *k = mark_get(m, n);
	if (k)
		return k;
	if ((m->tn + 1) * 2 > m->tcap) {
		size_t ocap = m->tcap;
		struct mark *old = m->tab;
		m->tcap = ocap ? ocap * 2 : 1024;
		m->tab = xcalloc(m->tcap, sizeof(*m->tab));
		for (size_t i = 0; i < ocap; i++) {
			if (!old[i].node)
				continue;
			size_t j = hash_ptr(old[i].node, m->tcap);
			while (m->tab[j].node)
				j = (j + 1) & (m->tcap - 1);
			m->tab[j] = old[i];
		}
		free(old);
	}
	size_t j = hash_ptr(n, m->tcap);
	while (m->tab[j].node)
		j = (j + 1) & (m->tcap - 1);
	m->tab[j] = (struct mark){n, NULL, 0};
	m->tn++;
	return &m->tab[j];
}

static void msg(struct minimize *m, bool error, const struct minimize_root *r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void msg(struct minimize *m, bool error, const struct minimize_root *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	VEC_GROW(m->msgs, m->nmsgs, m->capmsgs);
	m->msgs[m->nmsgs++] = (struct minimize_msg){error, xvasprintf(fmt, ap), r};
	va_end(ap);
}

static const char *reason(struct minimize *m, char *s)
{
	sv_push(&m->reasons, s);
	return s;
}

/* Keep node n (reached as path) with flags; queue a regular file. */
static void keep(struct minimize *m, struct fs_node *n, const char *path, const char *why, unsigned flags)
{
	struct mark *k = mark_put(m, n);
	if (!k->why || !(k->flags & (M_SELF | M_TREE)))
		k->why = why;
	bool was = k->flags & (M_SELF | M_TREE);
	k->flags |= flags;
	for (struct fs_node *p = n->parent; p; p = p->parent) {
		struct mark *a = mark_put(m, p);
		if (a->flags & M_ANC)
			break;
		a->flags |= M_ANC;
	}
	if (!was && n->inode->type == FS_REG) {
		VEC_GROW(m->q, m->qn, m->qcap);
		m->q[m->qn++] = (struct work){n, xstrdup(path)};
	}
}

/* Resolve path in the image, following symlinks (each one kept with a
 * reason when why is not NULL). Returns the final node (and *canon, its
 * path after symlinks, "/a/b"), or NULL. */
static struct fs_node *resolve(struct minimize *m, const char *path, const char *why, char **canon)
{
	char *rest = xstrdup(path);
	struct strbuf cur;
	sb_init(&cur);
	struct fs_node *node = fstree_root(m->t);
	unsigned hops = 0;
	size_t pos = 0;
	const char *link_why = NULL;
	while (node) {
		while (rest[pos] == '/')
			pos++;
		if (!rest[pos])
			break;
		size_t cl = strcspn(rest + pos, "/");
		char *comp = xstrndup(rest + pos, cl);
		pos += cl;
		if (!strcmp(comp, ".")) {
			free(comp);
			continue;
		}
		if (!strcmp(comp, "..")) {
			char *slash = strrchr(sb_cstr(&cur), '/');
			if (slash)
				cur.len = (size_t)(slash - cur.buf), cur.buf[cur.len] = 0;
			node = node->parent ? node->parent : node;
			free(comp);
			continue;
		}
		if (node->inode->type != FS_DIR) {
			free(comp);
			node = NULL;
			break;
		}
		sb_addc(&cur, '/');
		sb_adds(&cur, comp);
		free(comp);
		struct fs_node *c = fstree_lookup(m->t, sb_cstr(&cur));
		if (!c) {
			node = NULL;
			break;
		}
		if (c->inode->type == FS_LNK) {
			if (++hops > 40) {
				node = NULL;
				break;
			}
			if (why) {
				if (!link_why)
					link_why = reason(m, xasprintf("symlink on the way to %s (%s)", path, why));
				keep(m, c, sb_cstr(&cur), link_why, M_SELF);
			}
			const char *tg = c->inode->target ? c->inode->target : "";
			char *nrest = xasprintf("%s/%s", tg, rest + pos);
			free(rest);
			rest = nrest;
			pos = 0;
			/* drop the link's own component from cur */
			char *slash = strrchr(cur.buf, '/');
			cur.len = (size_t)(slash - cur.buf);
			cur.buf[cur.len] = 0;
			if (tg[0] == '/') {
				sb_reset(&cur);
				node = fstree_root(m->t);
			} else {
				node = cur.len ? fstree_lookup(m->t, cur.buf) : fstree_root(m->t);
			}
			continue;
		}
		node = c;
	}
	free(rest);
	if (node && canon)
		*canon = cur.len ? xstrdup(cur.buf) : xstrdup("/");
	sb_free(&cur);
	return node;
}

/* Keep what path names (and the symlinks to it); a directory whole when
 * tree is set. Returns the node or NULL. */
static struct fs_node *keep_path(struct minimize *m, const char *path, const char *why, bool tree)
{
	char *canon = NULL;
	struct fs_node *n = resolve(m, path, NULL, NULL);
	if (!n)
		return NULL;
	n = resolve(m, path, why, &canon);
	keep(m, n, canon, why, n->inode->type == FS_DIR && tree ? M_TREE | M_SELF : M_SELF);
	free(canon);
	return n;
}

/* ---- reading files of the tree ---- */

static int data_fd(struct minimize *m, const struct fs_inode *in)
{
	if (m->fd_path && !strcmp(m->fd_path, in->data_path))
		return m->fd;
	if (m->fd_path) {
		close(m->fd);
		free(m->fd_path);
		m->fd_path = NULL;
	}
	m->fd = open(in->data_path, O_RDONLY | O_CLOEXEC);
	if (m->fd < 0)
		return -1;
	m->fd_path = xstrdup(in->data_path);
	return m->fd;
}

/* Up to cap bytes of a regular file's start; returns the count, -1 on error. */
static ssize_t read_head(struct minimize *m, const struct fs_inode *in, char *buf, size_t cap)
{
	if (!in->size)
		return 0;
	int fd = data_fd(m, in);
	if (fd < 0)
		return -1;
	size_t want = in->size < cap ? (size_t)in->size : cap;
	return pread(fd, buf, want, (off_t)in->data_off);
}

/* ---- library lookup ---- */

static const char *triplet(unsigned machine)
{
	switch (machine) {
	case EM_X86_64:
		return "x86_64-linux-gnu";
	case EM_386:
		return "i386-linux-gnu";
	case EM_AARCH64:
		return "aarch64-linux-gnu";
	default:
		return NULL;
	}
}

static void default_dirs(struct minimize *m, unsigned machine)
{
	if (m->defdirs_set)
		return;
	m->defdirs_set = true;
	if (strcmp(m->o->profile, "linux")) {
		sv_pushdup(&m->defdirs, "/usr/lib");
		sv_pushdup(&m->defdirs, "/lib");
		sv_pushdup(&m->defdirs, "/usr/pkg/lib");
		return;
	}
	const char *tr = triplet(machine);
	sv_pushdup(&m->defdirs, "/usr/local/lib");
	if (tr) {
		sv_push(&m->defdirs, xasprintf("/lib/%s", tr));
		sv_push(&m->defdirs, xasprintf("/usr/lib/%s", tr));
	}
	sv_pushdup(&m->defdirs, "/lib");
	sv_pushdup(&m->defdirs, "/usr/lib");
	sv_pushdup(&m->defdirs, "/lib64");
	sv_pushdup(&m->defdirs, "/usr/lib64");
}

/* $ORIGIN / ${ORIGIN} → origin in one search path entry (caller frees). */
static char *expand_origin(const char *dir, const char *origin)
{
	struct strbuf sb;
	sb_init(&sb);
	for (const char *p = dir; *p;) {
		if (!strncmp(p, "$ORIGIN", 7) && !(p[7] == '_' || (p[7] >= 'A' && p[7] <= 'Z'))) {
			sb_adds(&sb, origin);
			p += 7;
		} else if (!strncmp(p, "${ORIGIN}", 9)) {
			sb_adds(&sb, origin);
			p += 9;
		} else {
			sb_addc(&sb, *p++);
		}
	}
	sb_cstr(&sb);
	return sb_detach(&sb);
}

/* Same ELF class and machine as the object that needs it? */
static bool compatible(struct minimize *m, const struct fs_node *n, const struct elf_facts *f)
{
	unsigned char h[20];
	if (n->inode->type != FS_REG || read_head(m, n->inode, (char *)h, sizeof(h)) != (ssize_t)sizeof(h))
		return false;
	if (memcmp(h, ELFMAG, SELFMAG) || h[EI_CLASS] != f->cls || h[EI_DATA] != f->data)
		return false;
	unsigned mach = h[EI_DATA] == ELFDATA2MSB ? (unsigned)h[18] << 8 | h[19] : (unsigned)h[19] << 8 | h[18];
	return mach == f->machine;
}

/* Look for a search path's entries (colon-separated) in the image. */
static bool search(struct minimize *m, const char *list, const char *origin, const char *name,
		   const struct elf_facts *f, struct strbuf *tried, char **found)
{
	char *copy = xstrdup(list), *save = NULL;
	bool ok = false;
	for (char *d = strtok_r(copy, ":", &save); d && !ok; d = strtok_r(NULL, ":", &save)) {
		if (!*d)
			continue;
		char *dir = expand_origin(d, origin);
		char *cand = xasprintf("%s/%s", dir, name);
		sb_printf(tried, "%s%s", tried->len ? " " : "", dir);
		struct fs_node *n = resolve(m, cand, NULL, NULL);
		if (n && compatible(m, n, f)) {
			*found = cand;
			cand = NULL;
			ok = true;
		}
		free(cand);
		free(dir);
	}
	free(copy);
	return ok;
}

static void analyse_elf(struct minimize *m, struct work *wk, const struct elf_facts *f)
{
	default_dirs(m, f->machine);
	if (f->interp) {
		const char *why = reason(m, xasprintf("interpreter of %s", wk->path));
		if (!keep_path(m, f->interp, why, false))
			msg(m, false, NULL, "%s: its interpreter %s is not in the image", wk->path, f->interp);
	}
	char *origin = path_dirname(wk->path);
	struct strbuf defs;
	sb_init(&defs);
	for (size_t i = 0; i < m->defdirs.n; i++)
		sb_printf(&defs, "%s%s", i ? ":" : "", m->defdirs.v[i]);
	for (size_t i = 0; i < f->needed.n; i++) {
		const char *name = f->needed.v[i];
		char *found = NULL;
		struct strbuf tried;
		sb_init(&tried);
		if (strchr(name, '/')) {
			/* a path: as it is (relative to the working directory, / at boot) */
			char *p = name[0] == '/' ? xstrdup(name) : xasprintf("/%s", name);
			sb_adds(&tried, p);
			if (resolve(m, p, NULL, NULL))
				found = p;
			else
				free(p);
		} else {
			bool ok = false;
			if (f->rpath && !f->runpath)
				ok = search(m, f->rpath, origin, name, f, &tried, &found);
			if (!ok && f->runpath)
				ok = search(m, f->runpath, origin, name, f, &tried, &found);
			if (!ok)
				search(m, sb_cstr(&defs), origin, name, f, &tried, &found);
		}
		if (found) {
			const char *why = reason(m, xasprintf("needed by %s (%s)", wk->path, name));
			keep_path(m, found, why, false);
			free(found);
		} else {
			msg(m, false, NULL, "%s needs %s, which is not in the image (looked in %s)", wk->path, name,
			    sb_cstr(&tried));
		}
		sb_free(&tried);
	}
	sb_free(&defs);
	free(origin);
}

/* ---- programs and scripts ---- */

static void scan_script(struct minimize *m, const char *path, const char *why);
static const char *path_of(const struct minimize *m);

static ssize_t read_head(struct minimize *m, const struct fs_inode *in, char *buf, size_t cap);

/* A program that is a shell script: the programs it runs are kept too
 * (/sbin/init of a busybox image runs mount, grep, sleep …). */
static void scan_if_shell(struct minimize *m, const char *path, const char *why)
{
	struct fs_node *n = resolve(m, path, NULL, NULL);
	char head[128];
	if (!n || n->inode->type != FS_REG)
		return;
	ssize_t got = read_head(m, n->inode, head, sizeof(head) - 1);
	if (got < 3 || head[0] != '#' || head[1] != '!')
		return;
	head[got] = 0;
	char *p = head + 2;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t l = strcspn(p, " \t\r\n");
	p[l] = 0;
	static const char *const shells[] = {"sh", "ash", "dash", "bash", "ksh", "mksh", "zsh"};
	const char *b = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
	for (size_t i = 0; i < ARRAY_LEN(shells); i++)
		if (!strcmp(b, shells[i])) {
			scan_script(m, path, why);
			return;
		}
}

/* A program a script runs: absolute, or the first match on PATH. */
static bool keep_program(struct minimize *m, const char *word, const char *why)
{
	if (word[0] == '/') {
		if (!keep_path(m, word, why, false))
			return false;
		scan_if_shell(m, word, why);
		return true;
	}
	if (strchr(word, '/'))
		return false; /* relative to a directory only known at run time */
	char *copy = xstrdup(path_of(m)), *save = NULL;
	bool ok = false;
	for (char *d = strtok_r(copy, ":", &save); d && !ok; d = strtok_r(NULL, ":", &save)) {
		if (d[0] != '/')
			continue;
		char *cand = xasprintf("%s/%s", d, word);
		struct fs_node *n = resolve(m, cand, NULL, NULL);
		if (n && n->inode->type == FS_REG && (n->inode->perm & 0111)) {
			keep_path(m, cand, why, false);
			scan_if_shell(m, cand, why);
			ok = true;
		}
		free(cand);
	}
	free(copy);
	return ok;
}

static bool was_missing(const struct minimize *m, const char *word)
{
	for (size_t i = 0; i < m->missing.n; i++)
		if (!strcmp(m->missing.v[i], word))
			return true;
	return false;
}

static const char *path_of(const struct minimize *m)
{
	if (m->o->path)
		return m->o->path;
	return !strcmp(m->o->profile, "linux") ? "/bin:/sbin:/usr/bin:/usr/sbin"
					       : "/bin:/sbin:/usr/bin:/usr/sbin:/usr/pkg/bin:/usr/pkg/sbin";
}

static void scan_script(struct minimize *m, const char *path, const char *why)
{
	for (size_t i = 0; i < m->scripts.n; i++)
		if (!strcmp(m->scripts.v[i], path))
			return;
	if (m->scripts.n >= 256)
		return;
	sv_pushdup(&m->scripts, path);
	struct fs_node *n = resolve(m, path, NULL, NULL);
	if (!n || n->inode->type != FS_REG || n->inode->size > (4u << 20))
		return;
	keep_path(m, path, why, false);
	char *buf = xmalloc((size_t)n->inode->size + 1);
	ssize_t got = read_head(m, n->inode, buf, (size_t)n->inode->size);
	if (got >= 0) {
		struct rcscan sc = {0};
		rcscan_text(buf, (size_t)got, &sc);
		for (size_t i = 0; i < sc.n; i++) {
			const char *w = reason(m, xasprintf("%s %s line %u", sc.v[i].sourced ? "sourced by" : "run by", path,
							   sc.v[i].line));
			if (sc.v[i].sourced) {
				if (sc.v[i].word[0] == '/')
					scan_script(m, sc.v[i].word, w);
			} else if (!keep_program(m, sc.v[i].word, w) && !was_missing(m, sc.v[i].word)) {
				sv_pushdup(&m->missing, sc.v[i].word);
				char *e = str_escape(sc.v[i].word);
				msg(m, false, NULL, "%s line %u runs %s, which is not in the image", path, sc.v[i].line, e);
				free(e);
			}
		}
		rcscan_free(&sc);
	}
	free(buf);
}

/* The interpreter of a "#!" file. */
static void analyse_shebang(struct minimize *m, struct work *wk, const char *head, size_t len)
{
	size_t i = 2;
	while (i < len && (head[i] == ' ' || head[i] == '\t'))
		i++;
	size_t e = i;
	while (e < len && head[e] != ' ' && head[e] != '\t' && head[e] != '\n' && head[e] != '\r')
		e++;
	if (e == i || e == len || head[i] != '/')
		return;
	char *interp = xstrndup(head + i, e - i);
	const char *why = reason(m, xasprintf("interpreter of %s", wk->path));
	if (!keep_path(m, interp, why, false))
		msg(m, false, NULL, "%s: its interpreter %s is not in the image", wk->path, interp);
	free(interp);
}

static void analyse(struct minimize *m, struct work *wk)
{
	struct fs_inode *in = wk->node->inode;
	char head[160];
	ssize_t got = read_head(m, in, head, sizeof(head));
	if (got < 4)
		return;
	if (head[0] == '#' && head[1] == '!') {
		analyse_shebang(m, wk, head, (size_t)got);
		return;
	}
	if (memcmp(head, ELFMAG, SELFMAG))
		return;
	int fd = data_fd(m, in);
	struct elf_facts f;
	struct error *err = NULL;
	if (fd < 0 || elfdeps_read_fd(fd, in->data_off, in->size, &f, &err) < 0) {
		char *e = str_escape(wk->path);
		msg(m, false, NULL, "%s: malformed ELF file (%s); the libraries it needs are not looked for", e,
		    err ? error_msg(err) : "unreadable");
		free(e);
		error_clear(&err);
		elf_facts_free(&f);
		return;
	}
	analyse_elf(m, wk, &f);
	elf_facts_free(&f);
}

/* ---- roots ---- */

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

struct glob_walk {
	struct minimize *m;
	const struct minimize_root **roots;
	size_t n;
	bool *hit;
};

static int glob_cb(void *ctx, const char *path, struct fs_node *n)
{
	struct glob_walk *g = ctx;
	for (size_t i = 0; i < g->n; i++) {
		if (fnmatch(g->roots[i]->arg, path, 0) == 0) {
			g->hit[i] = true;
			keep(g->m, n, path, g->roots[i]->why, n->inode->type == FS_DIR ? M_TREE | M_SELF : M_SELF);
			if (n->inode->type == FS_LNK)
				keep_path(g->m, path, g->roots[i]->why, true);
		}
	}
	return 0;
}

static void keep_pkg(struct minimize *m, const struct minimize_root *r)
{
	static const char *const dbs[] = {"/usr/pkg/pkgdb", "/var/db/pkg"};
	bool found = false;
	for (size_t d = 0; d < ARRAY_LEN(dbs); d++) {
		struct fs_node *db = resolve(m, dbs[d], NULL, NULL);
		if (!db || db->inode->type != FS_DIR)
			continue;
		size_t nk;
		struct fs_node *const *kids = fstree_children(db, &nk);
		struct strvec dirs = {0};
		for (size_t i = 0; i < nk; i++) {
			const char *nm = kids[i]->name;
			const char *dash = strrchr(nm, '-');
			size_t al = strlen(r->arg);
			if (kids[i]->inode->type == FS_DIR && dash && (size_t)(dash - nm) == al && !strncmp(nm, r->arg, al))
				sv_push(&dirs, xasprintf("%s/%s", dbs[d], nm));
		}
		for (size_t i = 0; i < dirs.n; i++) {
			found = true;
			keep_path(m, dirs.v[i], r->why, true);
			char *cpath = xasprintf("%s/+CONTENTS", dirs.v[i]);
			struct fs_node *c = resolve(m, cpath, NULL, NULL);
			free(cpath);
			if (!c || c->inode->type != FS_REG || c->inode->size > (16u << 20))
				continue;
			char *text = xmalloc((size_t)c->inode->size + 1);
			ssize_t got = read_head(m, c->inode, text, (size_t)c->inode->size);
			struct pkg_plist pl;
			struct error *err = NULL;
			memset(&pl, 0, sizeof(pl));
			if (got < 0 || pkg_plist_parse(text, (size_t)got, &pl, &err) < 0) {
				msg(m, false, r, "%s/+CONTENTS: %s", dirs.v[i], err ? error_msg(err) : "unreadable");
				error_clear(&err);
			} else {
				const char *why = reason(m, xasprintf("file of package %s (%s)", r->arg, r->why));
				for (size_t k = 0; k < pl.n; k++) {
					const struct pkg_plist_entry *e = &pl.v[k];
					if (e->kind != PLIST_FILE || e->ignored)
						continue;
					char *p = path_join(e->cwd ? e->cwd : "/usr/pkg", e->arg);
					keep_path(m, p, why, false);
					free(p);
				}
			}
			pkg_plist_free(&pl);
			free(text);
		}
		sv_free(&dirs);
	}
	if (!found)
		msg(m, r->required, r, "KEEP pkg:%s: no package %s is installed in the image (looked in /usr/pkg/pkgdb and "
				       "/var/db/pkg)", r->arg, r->arg);
}

struct minimize *minimize_run(struct fstree *t, const struct minimize_opts *o)
{
	struct minimize *m = xcalloc(1, sizeof(*m));
	m->t = t;
	m->o = o;
	m->fd = -1;
	/* always: the root, /etc and /dev whole, the skeleton directories */
	keep(m, fstree_root(t), "/", "the root", M_SELF);
	keep_path(m, "/etc", "always kept: the configuration", true);
	keep_path(m, "/dev", "always kept: the device nodes", true);
	static const char *const skel[] = {"/bin", "/sbin", "/lib", "/libexec", "/usr", "/usr/bin", "/usr/sbin",
					   "/usr/lib", "/usr/libexec", "/usr/pkg", "/var", "/var/run", "/var/log",
					   "/var/tmp", "/var/db", "/var/chroot", "/tmp", "/proc", "/kern", "/sys",
					   "/run", "/mnt", "/root", "/home"};
	for (size_t i = 0; i < ARRAY_LEN(skel); i++) {
		struct fs_node *n = resolve(m, skel[i], NULL, NULL);
		if (n && n->inode->type == FS_DIR)
			keep_path(m, skel[i], "skeleton directory", false);
	}
	keep_program(m, "/sbin/init", "the init program");
	/* the roots */
	struct glob_walk g = {m, xcalloc(o->nroots + 1, sizeof(*g.roots)), 0, xcalloc(o->nroots + 1, sizeof(bool))};
	for (size_t i = 0; i < o->nroots; i++) {
		const struct minimize_root *r = &o->roots[i];
		switch (r->kind) {
		case MROOT_KEEP:
			if (has_glob(r->arg))
				g.roots[g.n++] = r;
			else if (!keep_path(m, r->arg, r->why, true))
				msg(m, r->required, r, "KEEP %s: it is not in the image", r->arg);
			break;
		case MROOT_PKG:
			keep_pkg(m, r);
			break;
		case MROOT_PROG:
			if (!keep_program(m, r->arg, r->why) && !was_missing(m, r->arg)) {
				sv_pushdup(&m->missing, r->arg);
				char *e = str_escape(r->arg);
				if (r->arg[0] == '/')
					msg(m, r->required, r, "%s, which is not in the image", e);
				else
					msg(m, r->required, r, "%s, which is not in the image (not found on PATH %s)", e,
					    path_of(m));
				free(e);
			}
			break;
		case MROOT_SCRIPT:
			scan_script(m, r->arg, r->why);
			break;
		}
	}
	if (g.n) {
		fstree_walk(t, glob_cb, &g);
		for (size_t i = 0; i < g.n; i++)
			if (!g.hit[i])
				msg(m, g.roots[i]->required, g.roots[i], "KEEP %s: nothing in the image matches it", g.roots[i]->arg);
	}
	free(g.roots);
	free(g.hit);
	/* the image's own /etc/rc */
	scan_script(m, "/etc/rc", "the boot script");
	/* every kept file: its interpreter, its libraries (the queue grows) */
	for (; m->qhead < m->qn; m->qhead++) {
		struct work wk = m->q[m->qhead]; /* a copy: analyse() grows m->q */
		analyse(m, &wk);
	}
	return m;
}

const struct minimize_msg *minimize_msgs(const struct minimize *m, size_t *n)
{
	*n = m->nmsgs;
	return m->msgs;
}

bool minimize_keeps(const struct minimize *m, const char *path)
{
	struct fs_node *n = fstree_lookup(m->t, path);
	if (!n)
		return false;
	for (struct fs_node *p = n; p; p = p->parent) {
		const struct mark *k = mark_get(m, p);
		if (k && (k->flags & M_TREE))
			return true;
		if (p == n && k && (k->flags & (M_SELF | M_ANC)))
			return true;
	}
	return false;
}

/* ---- output ---- */

struct out {
	struct minimize *m;
	struct layer_writer *w;
	FILE *explain;
	struct error **err;
};

static void list_entry(struct out *o, const char *path, const struct fs_node *n, bool kept, const char *why)
{
	if (n->inode->type == FS_DIR)
		return;
	uint64_t sz = n->inode->type == FS_REG ? n->inode->size : 0;
	if (kept) {
		o->m->st.kept_files++;
		o->m->st.kept_bytes += sz;
	} else {
		o->m->st.dropped_files++;
		o->m->st.dropped_bytes += sz;
	}
	if (!o->explain)
		return;
	char *e = str_escape(path);
	if (kept)
		fprintf(o->explain, "keep %-60s %10" PRIu64 "  %s\n", e, sz, why ? why : "");
	else
		fprintf(o->explain, "drop %-60s %10" PRIu64 "\n", e, sz);
	free(e);
}

/* Everything below n, kept or not (no whiteouts). */
static void list_tree(struct out *o, const char *path, struct fs_node *n, bool kept, const char *why)
{
	list_entry(o, path, n, kept, why);
	if (n->inode->type != FS_DIR)
		return;
	size_t nk;
	struct fs_node *const *kids = fstree_children(n, &nk);
	for (size_t i = 0; i < nk; i++) {
		char *p = path_join(path, kids[i]->name);
		list_tree(o, p, kids[i], kept, why);
		free(p);
	}
}

static int emit(struct out *o, const char *path, struct fs_node *dir)
{
	size_t nk;
	struct fs_node *const *kids = fstree_children(dir, &nk);
	/* copy: a walk of a subtree re-sorts only other directories, but be safe */
	struct fs_node **v = nk ? xmalloc(nk * sizeof(*v)) : NULL;
	if (nk)
		memcpy(v, kids, nk * sizeof(*v));
	int rc = 0;
	for (size_t i = 0; i < nk && rc == 0; i++) {
		char *p = path_join(path, v[i]->name);
		const struct mark *k = mark_get(o->m, v[i]);
		if (!k || !(k->flags & (M_SELF | M_TREE | M_ANC))) {
			list_tree(o, p, v[i], false, NULL);
			if (o->w)
				rc = layer_add_whiteout(o->w, p, o->err);
		} else if (k->flags & M_TREE) {
			list_tree(o, p, v[i], true, k->why);
		} else {
			list_entry(o, p, v[i], true, k->why);
			if (v[i]->inode->type == FS_DIR)
				rc = emit(o, p, v[i]);
		}
		free(p);
	}
	free(v);
	return rc;
}

int minimize_write(struct minimize *m, struct layer_writer *w, struct minimize_stats *st, struct error **err)
{
	memset(&m->st, 0, sizeof(m->st));
	struct out o = {m, w, NULL, err};
	int rc = emit(&o, "/", fstree_root(m->t));
	if (st)
		*st = m->st;
	return rc;
}

void minimize_explain(struct minimize *m, FILE *out)
{
	memset(&m->st, 0, sizeof(m->st));
	struct out o = {m, NULL, out, NULL};
	emit(&o, "/", fstree_root(m->t));
	char h1[32], h2[32];
	fprintf(out, "kept %" PRIu64 " files (%s), dropped %" PRIu64 " files (%s)\n", m->st.kept_files,
		human_bytes(m->st.kept_bytes, h1, sizeof(h1)), m->st.dropped_files,
		human_bytes(m->st.dropped_bytes, h2, sizeof(h2)));
}

void minimize_free(struct minimize *m)
{
	if (!m)
		return;
	free(m->tab);
	sv_free(&m->reasons);
	for (size_t i = 0; i < m->nmsgs; i++)
		free(m->msgs[i].text);
	free(m->msgs);
	for (size_t i = 0; i < m->qn; i++)
		free(m->q[i].path);
	free(m->q);
	sv_free(&m->scripts);
	sv_free(&m->missing);
	sv_free(&m->defdirs);
	if (m->fd_path)
		close(m->fd);
	free(m->fd_path);
	free(m);
}
