/* store.c — the local image store (see store.h). */
#include "store.h"
#include "digest.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct store {
	char *root;
	int lock_fd;
};

const char *store_root(const struct store *s)
{
	return s->root;
}

char *store_default_dir(struct error **err)
{
	const char *e = getenv("SMOLC_DATA");
	if (e && *e)
		return xstrdup(e);
	e = getenv("XDG_DATA_HOME");
	if (e && *e == '/')
		return path_join(e, "smolc");
	e = getenv("HOME");
	if (e && *e)
		return xasprintf("%s/.local/share/smolc", e);
	error_set(err, "no image store directory: set SMOLC_DATA or HOME");
	return NULL;
}

/* tmp entries are named <hint>.<pid>.<random>: remove those whose process is gone. */
static void clean_tmp(const char *tmpdir)
{
	DIR *d = opendir(tmpdir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		const char *dot = strchr(de->d_name, '.');
		if (!dot)
			continue;
		char *end;
		long pid = strtol(dot + 1, &end, 10);
		if (pid <= 0 || *end != '.')
			continue;
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			char *p = path_join(tmpdir, de->d_name);
			struct stat st;
			if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
				remove_tree(p);
			else
				unlink(p);
			free(p);
		}
	}
	closedir(d);
}

struct store *store_open(const char *dir, struct error **err)
{
	char *root = dir ? xstrdup(dir) : store_default_dir(err);
	if (!root)
		return NULL;
	static const char *const subs[] = {"images", "refs", "tmp"};
	for (size_t i = 0; i < ARRAY_LEN(subs); i++) {
		char *p = path_join(root, subs[i]);
		int rc = mkdir_p(p, 0755);
		free(p);
		if (rc < 0) {
			error_set(err, "image store %s: cannot create %s/: %s", root, subs[i], strerror(errno));
			free(root);
			return NULL;
		}
	}
	char *lp = path_join(root, "lock");
	int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(lp);
	if (fd < 0) {
		error_set(err, "image store %s: cannot open its lock file: %s", root, strerror(errno));
		free(root);
		return NULL;
	}
	struct store *s = xcalloc(1, sizeof(*s));
	s->root = root;
	s->lock_fd = fd;
	char *tmp = path_join(root, "tmp");
	clean_tmp(tmp);
	free(tmp);
	return s;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->root);
	free(s);
}

static void store_lock(struct store *s)
{
	while (flock(s->lock_fd, LOCK_EX) < 0 && errno == EINTR)
		;
}

static void store_unlock(struct store *s)
{
	flock(s->lock_fd, LOCK_UN);
}

/* ---- names ---- */

static bool comp_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-';
}

bool store_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (!n || n > 255)
		return false;
	const char *p = name;
	/* an optional registry host[:port]/ first: a component with '.' or ':' or "localhost" */
	const char *slash = strchr(name, '/');
	if (slash) {
		const char *colon = memchr(name, ':', (size_t)(slash - name));
		if (colon) {
			for (const char *q = name; q < colon; q++)
				if (!comp_char(*q))
					return false;
			if (colon == name || colon + 1 == slash)
				return false;
			for (const char *q = colon + 1; q < slash; q++)
				if (*q < '0' || *q > '9')
					return false;
			p = slash + 1;
		}
	} else if (strchr(name, ':')) {
		return false;
	}
	/* components */
	while (*p) {
		if (*p == '.' || *p == '-' || *p == '/')
			return false;
		while (*p && *p != '/') {
			if (!comp_char(*p))
				return false;
			p++;
		}
		if (*p == '/') {
			p++;
			if (!*p)
				return false;
		}
	}
	return true;
}

bool store_tag_valid(const char *tag)
{
	size_t n = strlen(tag);
	if (!n || n > 128 || tag[0] == '.' || tag[0] == '-')
		return false;
	for (const char *p = tag; *p; p++)
		if (!comp_char(*p))
			return false;
	return true;
}

bool store_id_valid(const char *id)
{
	size_t n = 0;
	for (; id[n]; n++)
		if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
			return false;
	return n == 64;
}

int store_parse_ref(const char *s, char **name, char **tag, struct error **err)
{
	*name = *tag = NULL;
	if (strchr(s, '@')) {
		error_set(err, "'%s': a local image is named NAME[:TAG], not by digest", s);
		return -1;
	}
	const char *slash = strrchr(s, '/');
	const char *colon = strrchr(s, ':');
	if (colon && (!slash || colon > slash)) {
		*name = xstrndup(s, (size_t)(colon - s));
		*tag = xstrdup(colon + 1);
	} else {
		*name = xstrdup(s);
		*tag = xstrdup("latest");
	}
	if (!store_name_valid(*name) || !store_tag_valid(*tag)) {
		error_set(err,
			"'%s' is not a valid image name: NAME[:TAG], NAME of letters, digits, '.', '_', '-' and '/' "
			"(optionally after a registry host[:port]/), TAG of letters, digits, '.', '_', '-'",
			s);
		free(*name);
		free(*tag);
		*name = *tag = NULL;
		return -1;
	}
	return 0;
}

static char *name_escape(const char *name)
{
	struct strbuf sb;
	sb_init(&sb);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		    *p == '-' || (*p == '.' && p != (const unsigned char *)name))
			sb_addc(&sb, (char)*p);
		else
			sb_printf(&sb, "%%%02X", *p);
	}
	return sb_detach(&sb);
}

static char *name_unescape(const char *e)
{
	struct strbuf sb;
	sb_init(&sb);
	for (const char *p = e; *p; p++) {
		unsigned v;
		if (*p == '%' && sscanf(p + 1, "%2X", &v) == 1 && p[1] && p[2]) {
			sb_addc(&sb, (char)v);
			p += 2;
		} else {
			sb_addc(&sb, *p);
		}
	}
	sb_cstr(&sb);
	return sb_detach(&sb);
}

char *store_path(const struct store *s, const char *id, const char *file)
{
	return file ? xasprintf("%s/images/%s/%s", s->root, id, file) : xasprintf("%s/images/%s", s->root, id);
}

static char *ref_path(const struct store *s, const char *name, const char *tag)
{
	char *e = name_escape(name);
	char *p = xasprintf("%s/refs/%s/%s", s->root, e, tag);
	free(e);
	return p;
}

/* ---- meta: JSON + "sum <sha256>" ---- */

void store_meta_clear(struct store_meta *m)
{
	if (!m)
		return;
	free(m->service);
	free(m->arch);
	free(m->created);
	free(m->source);
	memset(m, 0, sizeof(*m));
}

static json_t *file_json(const struct store_file *f)
{
	json_t *o = json_object();
	json_object_set_new(o, "size", json_integer((json_int_t)f->size));
	if (f->sha256[0])
		json_object_set_new(o, "sha256", json_string(f->sha256));
	json_object_set_new(o, "ino", json_integer((json_int_t)f->ino));
	json_object_set_new(o, "mtime_ns", json_integer((json_int_t)f->mtime_ns));
	return o;
}

static int meta_write(const struct store *s, const char *dir, const struct store_meta *m, struct error **err)
{
	json_t *o = json_object();
	json_object_set_new(o, "version", json_integer(1));
	json_object_set_new(o, "id", json_string(m->id));
	if (m->key[0])
		json_object_set_new(o, "key", json_string(m->key));
	json_object_set_new(o, "service", json_string(m->service));
	json_object_set_new(o, "arch", json_string(m->arch));
	json_object_set_new(o, "created", json_string(m->created));
	json_object_set_new(o, "source", json_string(m->source ? m->source : "build"));
	json_object_set_new(o, "readonly", json_boolean(m->readonly));
	json_object_set_new(o, "disk", file_json(&m->disk));
	json_object_set_new(o, "kernel", file_json(&m->kernel));
	if (m->has_initrd)
		json_object_set_new(o, "initrd", file_json(&m->initrd));
	json_t *rc = json_object();
	json_object_set_new(rc, "sha256", json_string(m->run_config_sha256));
	json_object_set_new(o, "run_config", rc);
	char *text = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(1));
	json_decref(o);
	if (!text) {
		error_set(err, "image store: cannot encode the metadata of %s", m->id);
		return -1;
	}
	char sum[65];
	sha256_hex(text, strlen(text), sum);
	char *all = xasprintf("%s\nsum %s\n", text, sum);
	free(text);
	char *p = path_join(dir, "meta");
	int rc2 = write_file_atomic(p, all, strlen(all), 0644);
	if (rc2 < 0)
		error_set(err, "image store: writing %s: %s", p, strerror(errno));
	free(p);
	free(all);
	(void)s;
	return rc2;
}

static int file_from_json(json_t *o, struct store_file *f)
{
	if (!json_is_object(o))
		return -1;
	json_t *sz = json_object_get(o, "size"), *ino = json_object_get(o, "ino"), *mt = json_object_get(o, "mtime_ns");
	json_t *sh = json_object_get(o, "sha256");
	if (!json_is_integer(sz) || !json_is_integer(ino) || !json_is_integer(mt) || json_integer_value(sz) < 0)
		return -1;
	f->size = (uint64_t)json_integer_value(sz);
	f->ino = (uint64_t)json_integer_value(ino);
	f->mtime_ns = (int64_t)json_integer_value(mt);
	f->sha256[0] = 0;
	if (sh) {
		if (!json_is_string(sh) || !store_id_valid(json_string_value(sh)))
			return -1;
		memcpy(f->sha256, json_string_value(sh), 65);
	}
	return 0;
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Read and check meta; -1 with *err. */
static int meta_read(const char *path, const char *id, struct store_meta *m, struct error **err)
{
	memset(m, 0, sizeof(*m));
	char *text = NULL;
	size_t len = 0;
	if (read_file(path, 1 << 20, &text, &len) < 0) {
		error_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = -1;
	json_t *o = NULL;
	char *sumline = len > 70 ? strstr(text + len - 70, "\nsum ") : NULL;
	char sum[65];
	if (!sumline || text[len - 1] != '\n' || strlen(sumline) != 70) {
		error_set(err, "%s: no checksum line (damaged metadata)", path);
		goto out;
	}
	sha256_hex(text, (size_t)(sumline - text), sum);
	if (strncmp(sumline + 5, sum, 64)) {
		error_set(err, "%s: the metadata does not match its checksum (damaged or edited)", path);
		goto out;
	}
	json_error_t je;
	o = json_loadb(text, (size_t)(sumline - text), 0, &je);
	if (!o || !json_is_object(o)) {
		error_set(err, "%s: not a JSON object", path);
		goto out;
	}
	const char *sid = jstr(o, "id"), *svc = jstr(o, "service"), *arch = jstr(o, "arch"), *cr = jstr(o, "created");
	const char *key = jstr(o, "key"), *src = jstr(o, "source");
	json_t *rcj = json_object_get(o, "run_config");
	const char *rcs = json_is_object(rcj) ? jstr(rcj, "sha256") : NULL;
	if (!sid || strcmp(sid, id) || !svc || !arch || !cr || !rcs || !store_id_valid(rcs) ||
	    (key && !store_id_valid(key)) || file_from_json(json_object_get(o, "disk"), &m->disk) < 0 ||
	    file_from_json(json_object_get(o, "kernel"), &m->kernel) < 0) {
		error_set(err, "%s: missing or bad fields", path);
		goto out;
	}
	json_t *ij = json_object_get(o, "initrd");
	if (ij && file_from_json(ij, &m->initrd) < 0) {
		error_set(err, "%s: a bad initrd field", path);
		goto out;
	}
	m->has_initrd = ij != NULL;
	memcpy(m->id, id, 65);
	if (key)
		memcpy(m->key, key, 65);
	m->service = xstrdup(svc);
	m->arch = xstrdup(arch);
	m->created = xstrdup(cr);
	m->source = xstrdup(src ? src : "build");
	m->readonly = json_is_true(json_object_get(o, "readonly"));
	memcpy(m->run_config_sha256, rcs, 65);
	rc = 0;
out:
	if (rc < 0)
		store_meta_clear(m);
	json_decref(o);
	free(text);
	return rc;
}

static void file_identity(const struct stat *st, struct store_file *f)
{
	f->size = (uint64_t)st->st_size;
	f->ino = (uint64_t)st->st_ino;
	f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static int check_identity(const char *path, const struct store_file *f, const char *what, struct error **err)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		error_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct store_file now;
	file_identity(&st, &now);
	if (now.size != f->size || now.ino != f->ino || now.mtime_ns != f->mtime_ns) {
		error_set(err, "%s: the %s was changed after it was stored (size, inode or mtime differ)", path, what);
		return -1;
	}
	return 0;
}

int store_verify(struct store *s, const char *id, struct store_meta *m, struct error **err)
{
	if (!store_id_valid(id)) {
		error_set(err, "image store: '%s' is not an image id", id);
		return -1;
	}
	char *mp = store_path(s, id, "meta"), *dp = store_path(s, id, "disk.img"), *kp = store_path(s, id, "kernel"),
	     *yp = store_path(s, id, "run.yaml");
	int rc = -1;
	struct error *e = NULL;
	if (meta_read(mp, id, m, &e) < 0)
		goto out;
	if (check_identity(dp, &m->disk, "disk image", &e) < 0 || check_identity(kp, &m->kernel, "kernel", &e) < 0)
		goto out;
	if (m->has_initrd) {
		char *ip = store_path(s, id, "initrd");
		int ir = check_identity(ip, &m->initrd, "initrd", &e);
		free(ip);
		if (ir < 0)
			goto out;
	}
	char *yaml = NULL;
	size_t ylen;
	if (read_file(yp, 1 << 20, &yaml, &ylen) < 0) {
		error_set(&e, "%s: %s", yp, strerror(errno));
		goto out;
	}
	char ys[65];
	sha256_hex(yaml, ylen, ys);
	free(yaml);
	if (strcmp(ys, m->run_config_sha256)) {
		error_set(&e, "%s: the run config does not match the digest recorded in the store", yp);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0) {
		store_meta_clear(m);
		error_set(err, "image %.12s in the store is damaged: %s; remove it (smolc rmi) and build or pull it again",
			id, e ? error_msg(e) : "unknown problem");
	}
	error_clear(&e);
	free(mp);
	free(dp);
	free(kp);
	free(yp);
	return rc;
}

/* ---- files ---- */

int store_file_sha256(const char *path, char hex[65], struct error **err)
{
	char h[129];
	if (digest_file_hex(DIGEST_SHA256, path, h) < 0) {
		error_set(err, "reading %s: %s", path, strerror(errno));
		return -1;
	}
	memcpy(hex, h, 65);
	return 0;
}

static int copy_sparse(int in, int out, off_t size)
{
	off_t pos = 0;
	while (pos < size) {
		off_t data = lseek(in, pos, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break; /* only a hole is left */
			data = pos;            /* no SEEK_DATA: copy everything */
		}
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			hole = size;
		loff_t ioff = data, ooff = data;
		while (ioff < hole) {
			ssize_t n = copy_file_range(in, &ioff, out, &ooff, (size_t)(hole - ioff), 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
				char buf[1 << 16];
				size_t want = (size_t)(hole - ioff) < sizeof(buf) ? (size_t)(hole - ioff) : sizeof(buf);
				ssize_t r = pread(in, buf, want, ioff);
				if (r <= 0 || pwrite(out, buf, (size_t)r, ooff) != r)
					return -1;
				ioff += r;
				ooff += r;
				continue;
			}
			if (n <= 0)
				return -1;
		}
		pos = hole;
	}
	return ftruncate(out, size);
}

int store_clone_file(const char *src, const char *dst, bool may_link, struct error **err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		error_set(err, "%s: %s", src, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(in, &st) < 0) {
		error_set(err, "%s: %s", src, strerror(errno));
		close(in);
		return -1;
	}
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		error_set(err, "%s: %s", dst, strerror(errno));
		close(in);
		return -1;
	}
	if (ioctl(out, FICLONE, in) == 0) {
		debugf("store: %s reflinked", dst);
		goto done;
	}
	if (may_link) {
		close(out);
		unlink(dst);
		if (link(src, dst) == 0) {
			close(in);
			debugf("store: %s hard-linked", dst);
			return 0;
		}
		out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (out < 0) {
			error_set(err, "%s: %s", dst, strerror(errno));
			close(in);
			return -1;
		}
	}
	if (copy_sparse(in, out, st.st_size) < 0) {
		error_set(err, "copying %s to %s: %s", src, dst, strerror(errno));
		close(in);
		close(out);
		unlink(dst);
		return -1;
	}
done:
	close(in);
	if (fsync(out) < 0 || close(out) < 0) {
		error_set(err, "writing %s: %s", dst, strerror(errno));
		unlink(dst);
		return -1;
	}
	return 0;
}

int store_mktemp(struct store *s, const char *hint, char **path, int *fd, struct error **err)
{
	for (int i = 0; i < 100; i++) {
		char *p = xasprintf("%s/tmp/%s.%ld.%08lx", s->root, hint ? hint : "file", (long)getpid(),
				    (unsigned long)random());
		int f = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (f >= 0) {
			*path = p;
			*fd = f;
			return 0;
		}
		free(p);
		if (errno != EEXIST) {
			error_set(err, "image store: cannot create a temp file in %s/tmp: %s", s->root, strerror(errno));
			return -1;
		}
	}
	error_set(err, "image store: cannot create a temp file in %s/tmp", s->root);
	return -1;
}

static char *mktemp_dir(struct store *s, const char *hint, struct error **err)
{
	for (int i = 0; i < 100; i++) {
		char *p = xasprintf("%s/tmp/%s.%ld.%08lx", s->root, hint, (long)getpid(), (unsigned long)random());
		if (mkdir(p, 0755) == 0)
			return p;
		free(p);
		if (errno != EEXIST) {
			error_set(err, "image store: cannot create a directory in %s/tmp: %s", s->root, strerror(errno));
			return NULL;
		}
	}
	error_set(err, "image store: cannot create a directory in %s/tmp", s->root);
	return NULL;
}

static int place_file(const char *src, bool owned, bool may_link, const char *dst, struct error **err)
{
	if (owned) {
		if (rename(src, dst) == 0)
			return 0;
		if (errno != EXDEV) {
			error_set(err, "moving %s to %s: %s", src, dst, strerror(errno));
			return -1;
		}
	}
	return store_clone_file(src, dst, may_link, err);
}

static char *now_rfc3339(void)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[32];
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

/* Is images/<id> intact and holding this run config (and initrd or not)?
 * 1 yes, 2 intact with another run config, 0 absent or damaged. */
static int entry_state(struct store *s, const char *id, const char *want_rc, bool has_initrd)
{
	struct store_meta old;
	if (store_verify(s, id, &old, NULL) < 0)
		return 0;
	int st = !strcmp(old.run_config_sha256, want_rc) && old.has_initrd == has_initrd ? 1 : 2;
	store_meta_clear(&old);
	return st;
}

int store_put(struct store *s, const struct store_put *p, char id_out[65], struct error **err)
{
	if (!store_id_valid(p->id)) {
		error_set(err, "image store: '%s' is not an image id", p->id);
		return -1;
	}
	char id[65], want_rc[65];
	memcpy(id, p->id, 65);
	sha256_hex(p->run_config, strlen(p->run_config), want_rc);
	int have = entry_state(s, id, want_rc, p->initrd_path != NULL);
	if (have == 2) {
		/* the same disk with another run config (PORTS, MEM, an INITRD
		 * added…): an entry of its own, so that the images already
		 * tagged keep theirs */
		char *salt = xasprintf("%s\n%s\n%d", p->id, want_rc, p->initrd_path != NULL);
		sha256_hex(salt, strlen(salt), id);
		free(salt);
		have = entry_state(s, id, want_rc, p->initrd_path != NULL);
	}
	memcpy(id_out, id, 65);
	if (have == 1) {
		/* already stored and intact: keep it (record a digest we learnt) */
		if (p->disk_sha256)
			store_set_sha256(s, id, "disk", p->disk_sha256, NULL);
		if (p->disk_owned)
			unlink(p->disk_path);
		if (p->kernel_owned)
			unlink(p->kernel_path);
		if (p->initrd_path && p->initrd_owned)
			unlink(p->initrd_path);
		return 0;
	}
	char *dir = mktemp_dir(s, "image", err);
	if (!dir)
		return -1;
	int rc = -1;
	char *dp = path_join(dir, "disk.img"), *kp = path_join(dir, "kernel"), *yp = path_join(dir, "run.yaml");
	char *ip = path_join(dir, "initrd");
	char *final = store_path(s, id, NULL);
	struct store_meta m;
	memset(&m, 0, sizeof(m));
	if (place_file(p->disk_path, p->disk_owned, p->disk_may_link, dp, err) < 0 ||
	    place_file(p->kernel_path, p->kernel_owned, true, kp, err) < 0 ||
	    (p->initrd_path && place_file(p->initrd_path, p->initrd_owned, true, ip, err) < 0))
		goto out;
	if (write_file_atomic(yp, p->run_config, strlen(p->run_config), 0644) < 0) {
		error_set(err, "writing %s: %s", yp, strerror(errno));
		goto out;
	}
	struct stat st;
	if (stat(dp, &st) < 0) {
		error_set(err, "%s: %s", dp, strerror(errno));
		goto out;
	}
	file_identity(&st, &m.disk);
	if (stat(kp, &st) < 0) {
		error_set(err, "%s: %s", kp, strerror(errno));
		goto out;
	}
	file_identity(&st, &m.kernel);
	if (p->initrd_path) {
		if (stat(ip, &st) < 0) {
			error_set(err, "%s: %s", ip, strerror(errno));
			goto out;
		}
		file_identity(&st, &m.initrd);
		m.has_initrd = true;
		if (p->initrd_sha256)
			snprintf(m.initrd.sha256, sizeof(m.initrd.sha256), "%s", p->initrd_sha256);
	}
	memcpy(m.id, id, 65);
	if (p->key && *p->key)
		snprintf(m.key, sizeof(m.key), "%s", p->key);
	if (p->disk_sha256)
		snprintf(m.disk.sha256, sizeof(m.disk.sha256), "%s", p->disk_sha256);
	if (p->kernel_sha256)
		snprintf(m.kernel.sha256, sizeof(m.kernel.sha256), "%s", p->kernel_sha256);
	m.service = xstrdup(p->service);
	m.arch = xstrdup(p->arch);
	m.created = p->created ? xstrdup(p->created) : now_rfc3339();
	m.source = xstrdup(p->source ? p->source : "build");
	m.readonly = p->readonly;
	sha256_hex(p->run_config, strlen(p->run_config), m.run_config_sha256);
	if (meta_write(s, dir, &m, err) < 0)
		goto out;
	store_lock(s);
	if (rename(dir, final) < 0) {
		if (errno == ENOTEMPTY || errno == EEXIST) {
			/* a damaged entry: replace it */
			char *trash = mktemp_dir(s, "trash", err);
			if (trash) {
				rmdir(trash);
				if (rename(final, trash) == 0 && rename(dir, final) == 0) {
					remove_tree(trash);
					free(trash);
					store_unlock(s);
					rc = 1;
					goto out;
				}
				free(trash);
			}
		}
		error_set(err, "image store: moving the new image to %s: %s", final, strerror(errno));
		store_unlock(s);
		goto out;
	}
	store_unlock(s);
	rc = 1;
out:
	if (rc < 0)
		remove_tree(dir);
	store_meta_clear(&m);
	free(dir);
	free(dp);
	free(kp);
	free(ip);
	free(yp);
	free(final);
	return rc;
}

int store_set_sha256(struct store *s, const char *id, const char *which, const char *hex, struct error **err)
{
	struct store_meta m;
	if (store_verify(s, id, &m, err) < 0)
		return -1;
	struct store_file *f = !strcmp(which, "disk") ? &m.disk : !strcmp(which, "initrd") ? &m.initrd : &m.kernel;
	if (f == &m.initrd && !m.has_initrd) {
		store_meta_clear(&m);
		error_set(err, "image %.12s in the store has no initrd", id);
		return -1;
	}
	int rc = 0;
	if (strcmp(f->sha256, hex)) {
		snprintf(f->sha256, sizeof(f->sha256), "%s", hex);
		char *dir = store_path(s, id, NULL);
		store_lock(s);
		rc = meta_write(s, dir, &m, err);
		store_unlock(s);
		free(dir);
	}
	store_meta_clear(&m);
	return rc;
}

/* ---- refs ---- */

static char *drop_unused(struct store *s, const char *id);
static int read_ref(const char *rp, char id[65], struct error **err);

int store_tag(struct store *s, const char *name, const char *tag, const char *id, struct error **err)
{
	if (!store_name_valid(name) || !store_tag_valid(tag) || !store_id_valid(id)) {
		error_set(err, "image store: bad name, tag or id '%s:%s' -> %s", name, tag, id);
		return -1;
	}
	char *ip = store_path(s, id, "meta");
	bool have = path_exists(ip);
	free(ip);
	if (!have) {
		error_set(err, "image store: no image %.12s", id);
		return -1;
	}
	char *rp = ref_path(s, name, tag);
	char *dir = path_dirname(rp);
	int rc = 0;
	char *line = xasprintf("%s\n", id);
	char before[65] = "", *trash = NULL;
	store_lock(s);
	bool moved = read_ref(rp, before, NULL) == 0 && strcmp(before, id);
	if (mkdir_p(dir, 0755) < 0 || write_file_atomic(rp, line, strlen(line), 0644) < 0) {
		error_set(err, "image store: writing %s: %s", rp, strerror(errno));
		rc = -1;
	} else if (moved) {
		/* the image the tag named before goes when no tag names it any
		 * more (as with rmi): a rebuild does not leave its old disk behind */
		trash = drop_unused(s, before);
	}
	store_unlock(s);
	if (trash) {
		remove_tree(trash);
		free(trash);
	}
	free(line);
	free(dir);
	free(rp);
	return rc;
}

static int read_ref(const char *rp, char id[65], struct error **err)
{
	char *text = NULL;
	size_t len;
	if (read_file(rp, 4096, &text, &len) < 0) {
		if (errno == ENOENT)
			return 1;
		error_set(err, "%s: %s", rp, strerror(errno));
		return -1;
	}
	int rc = 0;
	if (len != 65 || text[64] != '\n') {
		rc = -1;
	} else {
		text[64] = 0;
		if (!store_id_valid(text))
			rc = -1;
		else
			memcpy(id, text, 65);
	}
	if (rc < 0)
		error_set(err, "%s: damaged tag (expected one image id); remove it with smolc rmi", rp);
	free(text);
	return rc;
}

int store_lookup(struct store *s, const char *name, const char *tag, char id[65], struct error **err)
{
	if (!store_name_valid(name) || !store_tag_valid(tag))
		return 1;
	char *rp = ref_path(s, name, tag);
	int rc = read_ref(rp, id, err);
	free(rp);
	return rc;
}

/* Calls fn for every ref: (escaped dir name, tag, id). */
typedef int (*ref_fn)(void *ctx, const char *name, const char *tag, const char *id, int rc, const char *err);

static int walk_refs(struct store *s, ref_fn fn, void *ctx, struct error **err)
{
	char *rd = path_join(s->root, "refs");
	DIR *d = opendir(rd);
	if (!d) {
		error_set(err, "image store: %s: %s", rd, strerror(errno));
		free(rd);
		return -1;
	}
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *nd = path_join(rd, de->d_name);
		DIR *t = opendir(nd);
		if (t) {
			char *name = name_unescape(de->d_name);
			struct dirent *te;
			while (rc == 0 && (te = readdir(t))) {
				if (te->d_name[0] == '.')
					continue;
				char *rp = path_join(nd, te->d_name);
				char id[65] = "";
				struct error *e = NULL;
				int r = read_ref(rp, id, &e);
				if (r <= 0)
					rc = fn(ctx, name, te->d_name, id, r, error_msg(e));
				error_clear(&e);
				free(rp);
			}
			closedir(t);
			free(name);
		}
		free(nd);
	}
	closedir(d);
	free(rd);
	return rc;
}

struct uses {
	const char *id;
	size_t n;
};

static int count_uses(void *ctx, const char *name, const char *tag, const char *id, int rc, const char *err)
{
	(void)name;
	(void)tag;
	(void)err;
	struct uses *u = ctx;
	if (rc == 0 && !strcmp(id, u->id))
		u->n++;
	return 0;
}

/* With the lock held: when no tag names image id, move it out of images/
 * and return where it went (the caller removes that tree after unlocking;
 * frees the string), else NULL. */
static char *drop_unused(struct store *s, const char *id)
{
	struct uses u = {id, 0};
	if (walk_refs(s, count_uses, &u, NULL) < 0 || u.n)
		return NULL;
	char *ip = store_path(s, id, NULL);
	char *trash = mktemp_dir(s, "trash", NULL);
	if (trash) {
		rmdir(trash);
		if (rename(ip, trash) < 0) {
			free(trash);
			trash = NULL;
		}
	}
	free(ip);
	return trash;
}

int store_untag(struct store *s, const char *name, const char *tag, bool *removed_image, struct error **err)
{
	*removed_image = false;
	char id[65];
	char *rp = ref_path(s, name, tag);
	int r = read_ref(rp, id, err);
	if (r == 1) {
		free(rp);
		return 1;
	}
	if (r < 0 && err) { /* a damaged tag is removed all the same */
		error_clear(err);
		*err = NULL;
	}
	store_lock(s);
	if (unlink(rp) < 0) {
		error_set(err, "image store: removing %s: %s", rp, strerror(errno));
		store_unlock(s);
		free(rp);
		return -1;
	}
	char *dir = path_dirname(rp);
	rmdir(dir); /* when it was the name's last tag */
	free(dir);
	free(rp);
	char *trash = r == 0 ? drop_unused(s, id) : NULL;
	store_unlock(s);
	if (trash) {
		*removed_image = true;
		remove_tree(trash);
		free(trash);
	}
	return 0;
}

/* ---- listing ---- */

struct list_ctx {
	struct store *s;
	struct store_list *l;
	size_t cap;
};

static int add_entry(void *ctx, const char *name, const char *tag, const char *id, int rc, const char *err)
{
	struct list_ctx *c = ctx;
	VEC_GROW(c->l->v, c->l->n, c->cap);
	struct store_entry *e = &c->l->v[c->l->n++];
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(name);
	e->tag = xstrdup(tag);
	if (rc < 0) {
		e->problem = xstrdup(err ? err : "damaged tag");
		return 0;
	}
	memcpy(e->id, id, 65);
	struct error *ve = NULL;
	if (store_verify(c->s, id, &e->meta, &ve) == 0)
		e->ok = true;
	else
		e->problem = ve ? error_take_msg(ve) : xstrdup("damaged image");
	ve = NULL;
	if (e->ok)
		error_clear(&ve);
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct store_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->tag, y->tag);
}

int store_list(struct store *s, struct store_list *out, struct error **err)
{
	memset(out, 0, sizeof(*out));
	struct list_ctx c = {s, out, 0};
	if (walk_refs(s, add_entry, &c, err) < 0) {
		store_list_free(out);
		return -1;
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(out->v[0]), entry_cmp);
	return 0;
}

void store_list_free(struct store_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].tag);
		free(l->v[i].problem);
		store_meta_clear(&l->v[i].meta);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}
