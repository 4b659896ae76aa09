/* cache.c — the build cache directory (see cache.h for layout and rules).
 *
 * Design note: every entry is a directory (downloads/<k>/, layers/<k>/) or a
 * tmp/ item; entries become visible only by rename(2) from tmp/, and are
 * removed by renaming them back into tmp/ first, so readers never see a
 * half-written or half-deleted entry. Locks are flock(2) on files under
 * locks/; after taking one we check that the path still names the inode we
 * locked (prune unlinks lock files while holding them). Sizes are disk
 * usage (st_blocks), like du(1). */
#include "cache.h"
#include "digest.h"
#include "jout.h"
#include "layer.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct cache {
	char *root;
	char *downloads, *layers, *tmp, *locks;
	char owner_tag[9]; /* host + pid namespace, see owner_tag() */
};

struct cache_lock {
	int fd;
	char *path;
};

char *cache_default_dir(const char *override, struct error **err)
{
	if (override && *override)
		return xstrdup(override);
	const char *e = getenv("SMOLC_CACHE");
	if (e && *e)
		return xstrdup(e);
	e = getenv("XDG_CACHE_HOME");
	if (e && *e == '/')
		return path_join(e, "smolc");
	e = getenv("HOME");
	if (e && *e)
		return xasprintf("%s/.cache/smolc", e);
	error_set(err, "cannot choose a cache directory: HOME is not set (use --cache-dir or SMOLC_CACHE)");
	return NULL;
}

/* 8 hex digits naming this host and pid namespace: a tmp entry's pid is
 * only checked for liveness by a process that sees the same pids (a cache
 * shared with a container or over NFS falls back to the age limit). */
static void owner_tag(char tag[9])
{
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	struct stat st;
	unsigned long long ns = stat("/proc/self/ns/pid", &st) == 0 ? (unsigned long long)st.st_ino : 0;
	char *id = xasprintf("%s/%llu", host, ns);
	char hex[65];
	sha256_hex(id, strlen(id), hex);
	free(id);
	memcpy(tag, hex, 8);
	tag[8] = 0;
}

static char *absolute(const char *p)
{
	if (p[0] == '/')
		return xstrdup(p);
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return xstrdup(p);
	char *r = path_join(cwd, p);
	free(cwd);
	return r;
}

struct cache *cache_open(const char *dir, struct error **err)
{
	char *d = dir ? xstrdup(dir) : cache_default_dir(NULL, err);
	if (!d)
		return NULL;
	struct cache *c = xcalloc(1, sizeof(*c));
	c->root = absolute(d);
	free(d);
	size_t l = strlen(c->root);
	while (l > 1 && c->root[l - 1] == '/')
		c->root[--l] = 0;
	c->downloads = path_join(c->root, "downloads");
	c->layers = path_join(c->root, "layers");
	c->tmp = path_join(c->root, "tmp");
	c->locks = path_join(c->root, "locks");
	owner_tag(c->owner_tag);
	const char *dirs[] = {c->root, c->downloads, c->layers, c->tmp, c->locks};
	for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
		if (mkdir_p(dirs[i], 0755) < 0) {
			error_set(err, "cache %s: cannot create %s: %s (use --cache-dir to choose another place)",
				c->root, dirs[i], strerror(errno));
			cache_free(c);
			return NULL;
		}
	}
	cache_clean_tmp(c, 24, NULL);
	return c;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	free(c->root);
	free(c->downloads);
	free(c->layers);
	free(c->tmp);
	free(c->locks);
	free(c);
}

const char *cache_root(const struct cache *c)
{
	return c->root;
}

bool cache_key_valid(const char *key)
{
	if (!key || !*key || key[0] == '.')
		return false;
	size_t n = 0;
	for (const char *p = key; *p; p++, n++) {
		char ch = *p;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return n <= 200;
}

void cache_url_key(const char *url, char key[65])
{
	sha256_hex(url, strlen(url), key);
}

char *cache_download_dir(const struct cache *c, const char *url)
{
	char k[65];
	cache_url_key(url, k);
	return path_join(c->downloads, k);
}

char *cache_download_file(const struct cache *c, const char *url)
{
	char k[65];
	cache_url_key(url, k);
	return xasprintf("%s/%s/file", c->downloads, k);
}

char *cache_download_meta(const struct cache *c, const char *url)
{
	char k[65];
	cache_url_key(url, k);
	return xasprintf("%s/%s/meta", c->downloads, k);
}

char *cache_layer_path(const struct cache *c, const char *key, struct error **err)
{
	if (!cache_key_valid(key)) {
		error_set(err, "invalid cache key '%s' (want [A-Za-z0-9._-], at most 200 characters)",
			key ? key : "");
		return NULL;
	}
	return path_join(c->layers, key);
}

bool cache_layer_exists(const struct cache *c, const char *key)
{
	if (!cache_key_valid(key))
		return false;
	char *p = path_join(c->layers, key);
	struct stat st;
	bool ok = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
	if (ok)
		cache_touch(p);
	free(p);
	return ok;
}

/* tmp/<hint>.<pid>@<owner tag>.XXXXXX template; hint sanitised so the
 * owner can be parsed back. */
static char *tmp_template(const struct cache *c, const char *hint)
{
	char h[33];
	size_t n = 0;
	for (const char *p = hint && *hint ? hint : "tmp"; *p && n < sizeof(h) - 1; p++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			  ch == '-' || ch == '_';
		h[n++] = ok ? ch : '_';
	}
	h[n] = 0;
	return xasprintf("%s/%s.%ld@%s.XXXXXX", c->tmp, h, (long)getpid(), c->owner_tag);
}

int cache_mktemp_dir(const struct cache *c, const char *hint, char **path, struct error **err)
{
	char *t = tmp_template(c, hint);
	if (!mkdtemp(t)) {
		error_set(err, "cache: cannot create a temporary directory in %s: %s", c->tmp, strerror(errno));
		free(t);
		return -1;
	}
	*path = t;
	return 0;
}

int cache_mktemp_file(const struct cache *c, const char *hint, char **path, int *fd, struct error **err)
{
	char *t = tmp_template(c, hint);
	int f = mkostemp(t, O_CLOEXEC);
	if (f < 0) {
		error_set(err, "cache: cannot create a temporary file in %s: %s", c->tmp, strerror(errno));
		free(t);
		return -1;
	}
	if (fchmod(f, 0644) < 0) {
		/* not fatal: mkostemp gave 0600 */
	}
	*path = t;
	*fd = f;
	return 0;
}

int cache_touch(const char *entry_dir)
{
	char *p = path_join(entry_dir, "last-used");
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	free(p);
	if (fd < 0)
		return -1;
	int r = futimens(fd, NULL);
	close(fd);
	return r;
}

int cache_commit_layer(const struct cache *c, const char *tmpdir, const char *key,
		       char **final_path, struct error **err)
{
	char *dst = cache_layer_path(c, key, err);
	if (!dst)
		return -1;
	int rc = -1;
	/* A committed layer is never empty (rename(2) would replace an empty
	 * directory), and starts with a fresh last-used. */
	if (cache_touch(tmpdir) < 0) {
		error_set(err, "cache: cannot write %s/last-used: %s", tmpdir, strerror(errno));
		goto out;
	}
	struct stat st;
	if (stat(dst, &st) == 0) {
		rc = 0;
	} else if (rename(tmpdir, dst) == 0) {
		rc = 1;
	} else if (errno == EEXIST || errno == ENOTEMPTY) {
		rc = 0;
	} else {
		error_set(err, "cache: cannot commit %s as %s: %s", tmpdir, dst, strerror(errno));
		goto out;
	}
	if (rc == 0) {
		remove_tree(tmpdir);
		cache_touch(dst);
	}
	if (final_path) {
		*final_path = dst;
		dst = NULL;
	}
out:
	free(dst);
	return rc;
}

/* Owner pid of a tmp entry named <hint>.<pid>@<tag>.<random>, or 0 when
 * the name does not parse or the tag is another host's / pid namespace's. */
static long tmp_owner(const struct cache *c, const char *name)
{
	const char *dot = strchr(name, '.');
	if (!dot)
		return 0;
	char *end;
	long pid = strtol(dot + 1, &end, 10);
	if (pid <= 0 || *end != '@' || strncmp(end + 1, c->owner_tag, 8) || end[9] != '.')
		return 0;
	return pid;
}

static bool pid_alive(long pid)
{
	if (pid == (long)getpid())
		return true;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Is tmp entry `name` (with stat st) stale? Dead owner (when we can tell),
 * or older than max_age_hours (0 = no age limit). */
static bool tmp_stale(const struct cache *c, const char *name, const struct stat *st, unsigned max_age_hours)
{
	long pid = tmp_owner(c, name);
	if (pid > 0 && !pid_alive(pid))
		return true;
	if (max_age_hours && st->st_mtime < time(NULL) - (time_t)max_age_hours * 3600)
		return true;
	return false;
}

int cache_clean_tmp(const struct cache *c, unsigned max_age_hours, struct error **err)
{
	DIR *d = opendir(c->tmp);
	if (!d) {
		error_set(err, "cache: cannot read %s: %s", c->tmp, strerror(errno));
		return -1;
	}
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *p = path_join(c->tmp, de->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && tmp_stale(c, de->d_name, &st, max_age_hours) && remove_tree(p) == 0)
			removed++;
		free(p);
	}
	closedir(d);
	return removed;
}

int cache_lock(const struct cache *c, const char *kind, const char *key,
	       enum cache_lock_mode mode, bool wait, struct cache_lock **out, struct error **err)
{
	*out = NULL;
	if (!cache_key_valid(key) || !cache_key_valid(kind)) {
		error_set(err, "cache: invalid lock name '%s-%s'", kind ? kind : "", key ? key : "");
		return -1;
	}
	char *path = xasprintf("%s/%s-%s.lock", c->locks, kind, key);
	int op = (mode == CACHE_LOCK_SHARED ? LOCK_SH : LOCK_EX) | (wait ? 0 : LOCK_NB);
	for (;;) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			error_set(err, "cache: cannot open lock %s: %s", path, strerror(errno));
			free(path);
			return -1;
		}
		int r;
		do
			r = flock(fd, op);
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			int e = errno;
			close(fd);
			if (e == EWOULDBLOCK) {
				free(path);
				return 1;
			}
			error_set(err, "cache: cannot lock %s: %s", path, strerror(e));
			free(path);
			return -1;
		}
		struct stat a, b;
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
			struct cache_lock *l = xcalloc(1, sizeof(*l));
			l->fd = fd;
			l->path = path;
			*out = l;
			return 0;
		}
		close(fd); /* unlinked under us by prune: take the new file */
	}
}

void cache_unlock(struct cache_lock *l)
{
	if (!l)
		return;
	close(l->fd);
	free(l->path);
	free(l);
}

int cache_lock_downgrade(struct cache_lock *l)
{
	int r;
	do
		r = flock(l->fd, LOCK_SH);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Remove the lock file while we hold it (prune only). */
static void lock_unlink_and_release(struct cache_lock *l)
{
	if (!l)
		return;
	unlink(l->path);
	cache_unlock(l);
}

const char *cache_kind_name(enum cache_kind k)
{
	switch (k) {
	case CACHE_KIND_DOWNLOAD:
		return "download";
	case CACHE_KIND_LAYER:
		return "layer";
	case CACHE_KIND_MEMO:
		return "memo";
	case CACHE_KIND_TMP:
		return "tmp";
	case CACHE_KIND__COUNT:
		break;
	}
	abort();
}

/* Disk usage of a tree (lstat, no symlink following). */
static uint64_t tree_size(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	uint64_t n = (uint64_t)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode))
		return n;
	DIR *d = opendir(path);
	if (!d)
		return n;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *sub = path_join(path, de->d_name);
		n += tree_size(sub);
		free(sub);
	}
	closedir(d);
	return n;
}

/* First line of a file, or NULL. */
static char *first_line(const char *path, const char *prefix)
{
	char *data;
	size_t len;
	if (read_file(path, 1 << 20, &data, &len) < 0)
		return NULL;
	char *res = NULL;
	size_t pl = prefix ? strlen(prefix) : 0;
	for (char *line = data; line && *line;) {
		char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		if (!prefix || (n >= pl && !strncmp(line, prefix, pl))) {
			res = xstrndup(line + pl, n - pl);
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(data);
	return res;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;
	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	return strcmp(x->key, y->key);
}

static int list_dir(const char *dir, enum cache_kind kind, struct cache_entry **v, size_t *n,
		    size_t *cap, struct error **err)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (kind == CACHE_KIND_MEMO && errno == ENOENT)
			return 0; /* made on first use */
		error_set(err, "cache: cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *p = path_join(dir, de->d_name);
		struct stat st;
		if (lstat(p, &st) < 0) {
			free(p);
			continue;
		}
		VEC_GROW(*v, *n, *cap);
		struct cache_entry *e = &(*v)[(*n)++];
		memset(e, 0, sizeof(*e));
		e->kind = kind;
		e->key = xstrdup(de->d_name);
		e->path = p;
		e->size = tree_size(p);
		e->last_used = st.st_mtime;
		char *lu = path_join(p, "last-used");
		struct stat lst;
		if (kind != CACHE_KIND_TMP && stat(lu, &lst) == 0)
			e->last_used = lst.st_mtime;
		free(lu);
		if (kind == CACHE_KIND_DOWNLOAD) {
			char *m = path_join(p, "meta");
			e->desc = first_line(m, "url ");
			free(m);
		} else if (kind == CACHE_KIND_LAYER) {
			char *m = path_join(p, "desc");
			e->desc = first_line(m, NULL);
			free(m);
		} else if (kind == CACHE_KIND_MEMO) {
			e->desc = xstrdup(strstr(dir, "/resolved")     ? "PKGS resolution"
					  : strstr(dir, "/containers") ? "container runtime layer (smolc export)"
								       : "file digests");
		}
	}
	closedir(d);
	return 0;
}

int cache_list(const struct cache *c, struct cache_list *out, struct error **err)
{
	struct cache_entry *v = NULL;
	size_t n = 0, cap = 0;
	out->v = NULL;
	out->n = 0;
	char *digests = path_join(c->root, "digests"), *resolved = path_join(c->root, "resolved");
	char *containers = path_join(c->root, "containers");
	int lr = list_dir(c->downloads, CACHE_KIND_DOWNLOAD, &v, &n, &cap, err) < 0 ||
		 list_dir(c->layers, CACHE_KIND_LAYER, &v, &n, &cap, err) < 0 ||
		 list_dir(digests, CACHE_KIND_MEMO, &v, &n, &cap, err) < 0 ||
		 list_dir(resolved, CACHE_KIND_MEMO, &v, &n, &cap, err) < 0 ||
		 list_dir(containers, CACHE_KIND_MEMO, &v, &n, &cap, err) < 0 ||
		 list_dir(c->tmp, CACHE_KIND_TMP, &v, &n, &cap, err) < 0 ? -1 : 0;
	free(digests);
	free(resolved);
	free(containers);
	if (lr < 0) {
		struct cache_list tmp = {v, n};
		cache_list_free(&tmp);
		return -1;
	}
	if (n)
		qsort(v, n, sizeof(*v), entry_cmp);
	out->v = v;
	out->n = n;
	return 0;
}

void cache_list_free(struct cache_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].path);
		free(l->v[i].desc);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int lru_cmp(const void *a, const void *b)
{
	const struct cache_entry *const *x = a, *const *y = b;
	if ((*x)->last_used != (*y)->last_used)
		return (*x)->last_used < (*y)->last_used ? -1 : 1;
	return strcmp((*x)->key, (*y)->key);
}

static const char *lock_kind(enum cache_kind k)
{
	return k == CACHE_KIND_DOWNLOAD ? "dl" : "layer";
}

/* Remove one entry under its lock: rename into tmp/ then delete. Returns 1
 * removed, 0 locked by someone, -1 error. */
static int remove_entry(const struct cache *c, const struct cache_entry *e, bool dry_run, struct error **err)
{
	if (e->kind == CACHE_KIND_TMP || e->kind == CACHE_KIND_MEMO) {
		if (!dry_run && remove_tree(e->path) < 0) {
			error_set(err, "cache: cannot remove %s: %s", e->path, strerror(errno));
			return -1;
		}
		return 1;
	}
	struct cache_lock *l = NULL;
	int r = cache_lock(c, lock_kind(e->kind), e->key, CACHE_LOCK_EXCLUSIVE, false, &l, err);
	if (r < 0)
		return -1;
	if (r == 1)
		return 0;
	if (dry_run) {
		cache_unlock(l);
		return 1;
	}
	char *t = tmp_template(c, "prune");
	int rc = -1;
	if (!mkdtemp(t)) {
		error_set(err, "cache: cannot create a temporary directory in %s: %s", c->tmp, strerror(errno));
		goto out;
	}
	char *dst = path_join(t, "entry");
	if (rename(e->path, dst) < 0) {
		error_set(err, "cache: cannot remove %s: %s", e->path, strerror(errno));
		free(dst);
		remove_tree(t);
		goto out;
	}
	free(dst);
	if (remove_tree(t) < 0) {
		error_set(err, "cache: cannot remove %s: %s", t, strerror(errno));
		goto out;
	}
	rc = 1;
out:
	free(t);
	if (rc == 1)
		lock_unlink_and_release(l);
	else
		cache_unlock(l);
	return rc;
}

int cache_prune(const struct cache *c, const struct cache_prune_opts *o,
		struct cache_prune_result *res, FILE *log, struct error **err)
{
	struct cache_prune_result r = {0};
	struct cache_list l;
	if (cache_list(c, &l, err) < 0)
		return -1;
	int rc = -1;
	struct cache_entry **cand = xcalloc(l.n + 1, sizeof(*cand));
	size_t nc = 0;
	uint64_t total = 0;
	time_t now = time(NULL);
	for (size_t i = 0; i < l.n; i++) {
		struct cache_entry *e = &l.v[i];
		total += e->size;
		if (e->kind == CACHE_KIND_TMP) {
			struct stat st;
			if (lstat(e->path, &st) == 0 && tmp_stale(c, e->key, &st, 24))
				cand[nc++] = e;
			continue;
		}
		cand[nc++] = e;
	}
	qsort(cand, nc, sizeof(*cand), lru_cmp);
	for (size_t i = 0; i < nc; i++) {
		struct cache_entry *e = cand[i];
		bool want;
		if (e->kind == CACHE_KIND_TMP)
			want = true; /* stale temporaries always go */
		else if (o->all)
			want = true;
		else if ((o->older_than_days > 0 || o->by_age) && !o->max_bytes)
			want = o->older_than_days <= 0 || e->last_used < now - (time_t)o->older_than_days * 86400;
		else if (o->max_bytes)
			want = total > o->max_bytes;
		else
			want = false;
		if (!want) {
			r.kept++;
			continue;
		}
		int x = remove_entry(c, e, o->dry_run, err);
		if (x < 0)
			goto out;
		if (x == 0) {
			r.skipped_locked++;
			r.kept++;
			continue;
		}
		char hb[32];
		if (log)
			fprintf(log, "%s %s %s (%s)\n", o->dry_run ? "would remove" : "removed",
				cache_kind_name(e->kind), e->key, human_bytes(e->size, hb, sizeof(hb)));
		r.removed++;
		r.freed_bytes += e->size;
		total -= e->size;
	}
	r.remaining_bytes = total;
	rc = 0;
out:
	free(cand);
	cache_list_free(&l);
	if (res)
		*res = r;
	return rc;
}

int cache_print_ls(const struct cache *c, FILE *out, struct error **err)
{
	struct cache_list l;
	if (cache_list(c, &l, err) < 0)
		return -1;
	fprintf(out, "%-9s %-16s %10s  %-16s  %s\n", "KIND", "KEY", "SIZE", "LAST USED", "DESCRIPTION");
	for (size_t i = 0; i < l.n; i++) {
		const struct cache_entry *e = &l.v[i];
		char hb[32], tb[32];
		struct tm tm;
		localtime_r(&e->last_used, &tm);
		strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M", &tm);
		fprintf(out, "%-9s %-16.16s %10s  %-16s  %s\n", cache_kind_name(e->kind), e->key,
			human_bytes(e->size, hb, sizeof(hb)), tb, e->desc ? e->desc : "");
	}
	cache_list_free(&l);
	return 0;
}

int cache_print_ls_json(const struct cache *c, FILE *out, struct error **err)
{
	struct cache_list l;
	if (cache_list(c, &l, err) < 0)
		return -1;
	/* one entry a line, each written by jansson */
	fputc('[', out);
	for (size_t i = 0; i < l.n; i++) {
		const struct cache_entry *e = &l.v[i];
		char tb[32];
		struct tm tm;
		gmtime_r(&e->last_used, &tm);
		strftime(tb, sizeof(tb), "%Y-%m-%dT%H:%M:%SZ", &tm);
		fputs(i ? ",\n " : "\n ", out);
		jout_print(out, json_pack("{s:s,s:o,s:I,s:s,s:o}", "kind", cache_kind_name(e->kind), "key", jout_str(e->key),
					  "size", (json_int_t)e->size, "last_used", tb, "description",
					  jout_str(e->desc ? e->desc : "")),
			   NULL);
	}
	fputs(l.n ? "\n]\n" : "]\n", out);
	cache_list_free(&l);
	return 0;
}

int cache_print_du(const struct cache *c, FILE *out, struct error **err)
{
	struct cache_list l;
	if (cache_list(c, &l, err) < 0)
		return -1;
	uint64_t sz[CACHE_KIND__COUNT] = {0}, total = 0;
	size_t cnt[CACHE_KIND__COUNT] = {0};
	for (size_t i = 0; i < l.n; i++) {
		sz[l.v[i].kind] += l.v[i].size;
		cnt[l.v[i].kind]++;
		total += l.v[i].size;
	}
	char hb[32];
	const char *names[CACHE_KIND__COUNT] = {"downloads", "layers", "memos", "tmp"};
	for (int k = 0; k < CACHE_KIND__COUNT; k++)
		fprintf(out, "%-10s %5zu %s %10s\n", names[k], cnt[k], cnt[k] == 1 ? "entry  " : "entries",
			human_bytes(sz[k], hb, sizeof(hb)));
	fprintf(out, "%-10s %5zu %s %10s  (%s)\n", "total", l.n, l.n == 1 ? "entry  " : "entries",
		human_bytes(total, hb, sizeof(hb)), c->root);
	cache_list_free(&l);
	return 0;
}

int cache_verify(const struct cache *c, bool remove, FILE *out, size_t *bad, struct error **err)
{
	struct cache_list l;
	if (cache_list(c, &l, err) < 0)
		return -1;
	size_t checked = 0;
	*bad = 0;
	for (size_t i = 0; i < l.n; i++) {
		const struct cache_entry *e = &l.v[i];
		struct error *why = NULL;
		int r = 0;
		if (e->kind == CACHE_KIND_LAYER) {
			r = layer_verify(e->path, true, false, &why);
		} else if (e->kind == CACHE_KIND_DOWNLOAD) {
			/* the file's sha256 against the one meta recorded */
			char *mp = path_join(e->path, "meta"), *fp = path_join(e->path, "file"), *txt = NULL;
			size_t len;
			const char *rec = NULL;
			if (read_file(mp, 1 << 16, &txt, &len) == 0) {
				for (char *ln = txt; ln && *ln;) {
					char *nl = strchr(ln, '\n');
					if (nl)
						*nl = '\0';
					if (str_startswith(ln, "sha256 ") && strlen(ln) == 7 + 64)
						rec = ln + 7;
					ln = nl ? nl + 1 : NULL;
				}
			}
			char got[129];
			if (!path_exists(fp)) {
				r = -2; /* an unfinished entry: nothing to trust, nothing to check */
			} else if (!rec) {
				r = 1;
				error_set(&why, "it has no recorded digest");
			} else if (digest_file_hex(DIGEST_SHA256, fp, got) < 0) {
				r = 1;
				error_set(&why, "cannot read it: %s", strerror(errno));
			} else if (strcmp(got, rec) != 0) {
				r = 1;
				error_set(&why, "its content does not match its recorded digest sha256:%.12s…", rec);
			}
			free(txt);
			free(mp);
			free(fp);
		} else {
			continue;
		}
		if (r == -2)
			continue;
		checked++;
		if (r == 0)
			continue;
		(*bad)++;
		char *esc = str_escape(e->desc ? e->desc : "");
		fprintf(out, "%s %s%s%s%s: %s%s\n", cache_kind_name(e->kind), e->key, *esc ? " (" : "", esc,
			*esc ? ")" : "", why ? error_msg(why) : "damaged", remove ? "; removed" : "");
		free(esc);
		error_clear(&why);
		if (remove) {
			struct cache_lock *lk = NULL;
			const char *kind = e->kind == CACHE_KIND_LAYER ? "layer" : "dl";
			if (cache_lock(c, kind, e->key, CACHE_LOCK_EXCLUSIVE, false, &lk, NULL) == 0 && lk) {
				remove_tree(e->path);
				cache_unlock(lk);
			}
		}
	}
	fprintf(out, "checked %zu %s, %zu damaged%s\n", checked, checked == 1 ? "entry" : "entries", *bad,
		*bad && !remove ? " (smolc cache verify --remove deletes them; builds also rebuild them)" : "");
	cache_list_free(&l);
	return 0;
}

void cache_print_prune(const struct cache_prune_result *r, bool dry_run, FILE *out)
{
	char hb[32], rb[32];
	fprintf(out, "%s %zu %s, %s %s, %s left", dry_run ? "would prune" : "pruned", r->removed,
		r->removed == 1 ? "entry" : "entries", dry_run ? "would free" : "freed",
		human_bytes(r->freed_bytes, hb, sizeof(hb)), human_bytes(r->remaining_bytes, rb, sizeof(rb)));
	if (r->skipped_locked)
		fprintf(out, "; %zu locked %s kept", r->skipped_locked,
			r->skipped_locked == 1 ? "entry" : "entries");
	fputc('\n', out);
}
