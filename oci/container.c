/* container.c — reproducible OCI layers and image layouts (container.h). */
#include "container.h"

#include "digest.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static _Noreturn void no_memory(void)
{
	fputs("smolc: out of memory\n", stderr);
	abort();
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* ---- trees ---- */

static struct container_entry *tree_slot(struct container_tree *t, const char *name)
{
	while (*name == '/')
		name++;
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].name, name)) {
			struct container_entry *e = &t->v[i];
			free(e->src);
			free(e->data);
			free(e->target);
			char *n = e->name;
			memset(e, 0, sizeof(*e));
			e->name = n;
			return e;
		}
	VEC_GROW(t->v, t->n, t->cap);
	struct container_entry *e = &t->v[t->n++];
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(name);
	return e;
}

void container_tree_file(struct container_tree *t, const char *name, const char *src, unsigned mode)
{
	struct container_entry *e = tree_slot(t, name);
	e->kind = CONTAINER_FILE;
	e->src = xstrdup(src);
	e->mode = mode;
}

void container_tree_data(struct container_tree *t, const char *name, const char *data, size_t len, unsigned mode)
{
	struct container_entry *e = tree_slot(t, name);
	e->kind = CONTAINER_FILE;
	e->data = xmalloc(len + 1);
	memcpy(e->data, data, len);
	e->data[len] = 0;
	e->len = len;
	e->mode = mode;
}

void container_tree_symlink(struct container_tree *t, const char *name, const char *target)
{
	struct container_entry *e = tree_slot(t, name);
	e->kind = CONTAINER_SYMLINK;
	e->target = xstrdup(target);
	e->mode = 0777;
}

void container_tree_dir(struct container_tree *t, const char *name, unsigned mode)
{
	struct container_entry *e = tree_slot(t, name);
	e->kind = CONTAINER_DIR;
	e->mode = mode;
}

void container_tree_free(struct container_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].name);
		free(t->v[i].src);
		free(t->v[i].data);
		free(t->v[i].target);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct container_entry *)a)->name, ((const struct container_entry *)b)->name);
}

/* Every parent directory of every entry is an entry too. */
static void add_parents(struct container_tree *t)
{
	size_t n = t->n;
	for (size_t i = 0; i < n; i++) {
		char *p = xstrdup(t->v[i].name);
		for (char *s = strrchr(p, '/'); s; s = strrchr(p, '/')) {
			*s = 0;
			bool have = false;
			for (size_t k = 0; k < t->n && !have; k++)
				have = !strcmp(t->v[k].name, p);
			if (!have)
				container_tree_dir(t, p, 0755);
		}
		free(p);
	}
}

/* ---- tar writing (libarchive) with a digest of what is written ---- */

struct tarw {
	struct archive *a;
	int fd;
	struct digest *dg;
	uint64_t bytes;
	int werrno;
};

static la_ssize_t tarw_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
	struct tarw *w = ctx;
	const char *p = buf;
	size_t left = n;
	while (left) {
		ssize_t k = write(w->fd, p, left);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			w->werrno = errno;
			(void)a;
			return -1;
		}
		p += k;
		left -= (size_t)k;
	}
	if (w->dg)
		digest_update(w->dg, buf, n);
	w->bytes += n;
	return (la_ssize_t)n;
}

static int tarw_open(struct tarw *w, const char *path, bool with_digest, struct error **err)
{
	memset(w, 0, sizeof(*w));
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		error_set(err, "creating %s: %s", path, strerror(errno));
		return -1;
	}
	if (with_digest)
		w->dg = digest_new(DIGEST_SHA256);
	w->a = archive_write_new();
	if (!w->a || archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
	    archive_write_open(w->a, w, NULL, tarw_write, NULL) != ARCHIVE_OK) {
		error_set(err, "creating %s: %s", path, w->a ? archive_error_string(w->a) : "out of memory");
		return -1;
	}
	return 0;
}

/* Close; 0 or -1 with *err. hex gets the digest when asked for. */
static int tarw_close(struct tarw *w, const char *path, char hex[65], struct error **err)
{
	int rc = 0;
	if (w->a) {
		if (archive_write_close(w->a) != ARCHIVE_OK) {
			if (!*err)
				error_set(err, "writing %s: %s", path,
						 w->werrno ? strerror(w->werrno) : archive_error_string(w->a));
			rc = -1;
		}
		archive_write_free(w->a);
		w->a = NULL;
	}
	if (w->fd >= 0 && close(w->fd) < 0 && rc == 0) {
		error_set(err, "writing %s: %s", path, strerror(errno));
		rc = -1;
	}
	w->fd = -1;
	if (w->dg) {
		char h[129];
		digest_final_hex(w->dg, h);
		w->dg = NULL;
		if (hex)
			memcpy(hex, h, 65);
	}
	return rc;
}

static struct archive_entry *tar_entry(const char *name, mode_t type, unsigned perm, int64_t size, int64_t mtime)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		no_memory();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, (unsigned)type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, (time_t)mtime, 0);
	if (type == AE_IFREG)
		archive_entry_set_size(e, size);
	return e;
}

/* Copy the host file src into the archive as name; its size must stay. */
static int tar_add_file(struct tarw *w, const char *name, const char *src, unsigned perm, int64_t mtime, struct error **err)
{
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		error_set(err, "reading %s: %s", src, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		error_set(err, "%s: not a regular file", src);
		close(fd);
		return -1;
	}
	struct archive_entry *e = tar_entry(name, AE_IFREG, perm, st.st_size, mtime);
	int rc = -1;
	if (archive_write_header(w->a, e) != ARCHIVE_OK) {
		error_set(err, "adding %s: %s", name, archive_error_string(w->a));
		goto out;
	}
	static char buf[1 << 17];
	off_t done = 0;
	while (done < st.st_size) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			error_set(err, "reading %s: %s", src, n < 0 ? strerror(errno) : "the file shrank while being read");
			goto out;
		}
		if (n > st.st_size - done)
			n = (ssize_t)(st.st_size - done);
		if (archive_write_data(w->a, buf, (size_t)n) != n) {
			error_set(err, "adding %s: %s", name, archive_error_string(w->a));
			goto out;
		}
		done += n;
	}
	rc = 0;
out:
	archive_entry_free(e);
	close(fd);
	return rc;
}

static int tar_add_mem(struct tarw *w, const char *name, const void *data, size_t len, unsigned perm,
		       int64_t mtime, struct error **err)
{
	struct archive_entry *e = tar_entry(name, AE_IFREG, perm, (int64_t)len, mtime);
	int rc = 0;
	if (archive_write_header(w->a, e) != ARCHIVE_OK ||
	    (len && archive_write_data(w->a, data, len) != (la_ssize_t)len)) {
		error_set(err, "adding %s: %s", name, archive_error_string(w->a));
		rc = -1;
	}
	archive_entry_free(e);
	return rc;
}

static int tar_add_other(struct tarw *w, const struct container_entry *ce, int64_t mtime, struct error **err)
{
	struct archive_entry *e =
		tar_entry(ce->name, ce->kind == CONTAINER_DIR ? AE_IFDIR : AE_IFLNK, ce->mode, 0, mtime);
	if (ce->kind == CONTAINER_SYMLINK)
		archive_entry_set_symlink(e, ce->target);
	int rc = 0;
	if (archive_write_header(w->a, e) != ARCHIVE_OK) {
		error_set(err, "adding %s: %s", ce->name, archive_error_string(w->a));
		rc = -1;
	}
	archive_entry_free(e);
	return rc;
}

/* ---- gzip (zlib: no name, mtime 0, so the bytes depend on the input only) ---- */

static int gzip_file(const char *in, const char *out, char hex[65], uint64_t *size, struct error **err)
{
	int ifd = open(in, O_RDONLY | O_CLOEXEC);
	int ofd = ifd < 0 ? -1 : open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ifd < 0 || ofd < 0) {
		error_set(err, "%s %s: %s", ifd < 0 ? "reading" : "creating", ifd < 0 ? in : out, strerror(errno));
		if (ifd >= 0)
			close(ifd);
		return -1;
	}
	z_stream z;
	memset(&z, 0, sizeof(z));
	int rc = -1;
	bool zinit = false;
	struct digest *dg = digest_new(DIGEST_SHA256);
	unsigned char *ib = xmalloc(1 << 17), *ob = xmalloc(1 << 17);
	*size = 0;
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		error_set(err, "gzip %s: cannot start zlib", out);
		goto out;
	}
	zinit = true;
	int flush = Z_NO_FLUSH;
	do {
		ssize_t n = read(ifd, ib, 1 << 17);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error_set(err, "reading %s: %s", in, strerror(errno));
			goto out;
		}
		flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
		z.next_in = ib;
		z.avail_in = (uInt)n;
		do {
			z.next_out = ob;
			z.avail_out = 1 << 17;
			int zr = deflate(&z, flush);
			if (zr == Z_STREAM_ERROR) {
				error_set(err, "gzip %s: zlib error", out);
				goto out;
			}
			size_t have = (1 << 17) - z.avail_out;
			if (have && write_all(ofd, ob, have) < 0) {
				error_set(err, "writing %s: %s", out, strerror(errno));
				goto out;
			}
			digest_update(dg, ob, have);
			*size += have;
		} while (z.avail_out == 0);
	} while (flush != Z_FINISH);
	rc = 0;
out:
	if (zinit)
		deflateEnd(&z);
	char h[129];
	digest_final_hex(dg, h);
	memcpy(hex, h, 65);
	free(ib);
	free(ob);
	close(ifd);
	if (close(ofd) < 0 && rc == 0) {
		error_set(err, "writing %s: %s", out, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* ---- layers ---- */

int container_layer_write(struct container_tree *t, const char *workdir, const char *hint, int64_t mtime,
			  struct container_layer *out, struct error **err)
{
	memset(out, 0, sizeof(*out));
	add_parents(t);
	qsort(t->v, t->n, sizeof(*t->v), cmp_entry);
	out->tar_path = xasprintf("%s/%s.tar", workdir, hint);
	out->gz_path = xasprintf("%s/%s.tar.gz", workdir, hint);
	struct tarw w;
	char hex[65];
	if (tarw_open(&w, out->tar_path, true, err) < 0) {
		tarw_close(&w, out->tar_path, NULL, err);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < t->n && rc == 0; i++) {
		const struct container_entry *e = &t->v[i];
		if (e->kind == CONTAINER_FILE && e->src)
			rc = tar_add_file(&w, e->name, e->src, e->mode, mtime, err);
		else if (e->kind == CONTAINER_FILE)
			rc = tar_add_mem(&w, e->name, e->data, e->len, e->mode, mtime, err);
		else
			rc = tar_add_other(&w, e, mtime, err);
	}
	if (tarw_close(&w, out->tar_path, hex, err) < 0 || rc < 0)
		return -1;
	out->tar_size = w.bytes;
	snprintf(out->diff_id, sizeof(out->diff_id), "sha256:%s", hex);
	if (gzip_file(out->tar_path, out->gz_path, hex, &out->size, err) < 0)
		return -1;
	snprintf(out->digest, sizeof(out->digest), "sha256:%s", hex);
	return 0;
}

void container_layer_clear(struct container_layer *l)
{
	if (!l)
		return;
	if (l->tar_path)
		unlink(l->tar_path);
	if (l->gz_path)
		unlink(l->gz_path);
	free(l->tar_path);
	free(l->gz_path);
	memset(l, 0, sizeof(*l));
}

/* ---- images ---- */

static json_t *descriptor(const char *type, const char *digest, uint64_t size)
{
	json_t *d = json_object();
	json_object_set_new(d, "mediaType", json_string(type));
	json_object_set_new(d, "digest", json_string(digest));
	json_object_set_new(d, "size", json_integer((json_int_t)size));
	return d;
}

static char *dumps(json_t *o)
{
	char *t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (!t)
		no_memory();
	return t;
}

int container_image_make(struct container_image *img, const struct container_layer *layers, size_t nlayers,
			 char *config_json, const char *annotations_json, struct error **err)
{
	memset(img, 0, sizeof(*img));
	img->layers = layers;
	img->nlayers = nlayers;
	img->config = config_json;
	char hex[65];
	sha256_hex(config_json, strlen(config_json), hex);
	snprintf(img->config_digest, sizeof(img->config_digest), "sha256:%s", hex);
	json_t *m = json_object();
	json_object_set_new(m, "schemaVersion", json_integer(2));
	json_object_set_new(m, "mediaType", json_string(OCI_IMAGE_MANIFEST_TYPE));
	json_object_set_new(m, "config", descriptor(OCI_CONFIG_TYPE, img->config_digest, strlen(config_json)));
	json_t *ls = json_array();
	for (size_t i = 0; i < nlayers; i++)
		json_array_append_new(ls, descriptor(OCI_LAYER_GZIP_TYPE, layers[i].digest, layers[i].size));
	json_object_set_new(m, "layers", ls);
	if (annotations_json) {
		json_error_t je;
		json_t *a = json_loads(annotations_json, 0, &je);
		if (!json_is_object(a)) {
			json_decref(a);
			json_decref(m);
			error_set(err, "the manifest's annotations are not a JSON object: %s", je.text);
			return -1;
		}
		json_object_set_new(m, "annotations", a);
	}
	img->manifest = dumps(m);
	json_decref(m);
	sha256_hex(img->manifest, strlen(img->manifest), hex);
	snprintf(img->manifest_digest, sizeof(img->manifest_digest), "sha256:%s", hex);
	return 0;
}

void container_image_clear(struct container_image *img)
{
	if (!img)
		return;
	free(img->config);
	free(img->manifest);
	memset(img, 0, sizeof(*img));
}

static char *index_json(const struct container_image *img, const char *ref_name)
{
	json_t *ix = json_object();
	json_object_set_new(ix, "schemaVersion", json_integer(2));
	json_object_set_new(ix, "mediaType", json_string(OCI_INDEX_TYPE));
	json_t *d = descriptor(OCI_IMAGE_MANIFEST_TYPE, img->manifest_digest, strlen(img->manifest));
	json_t *plat = json_object();
	json_object_set_new(plat, "architecture", json_string("amd64"));
	json_object_set_new(plat, "os", json_string("linux"));
	json_object_set_new(d, "platform", plat);
	if (ref_name) {
		json_t *a = json_object();
		json_object_set_new(a, "org.opencontainers.image.ref.name", json_string(ref_name));
		json_object_set_new(d, "annotations", a);
	}
	json_t *ms = json_array();
	json_array_append_new(ms, d);
	json_object_set_new(ix, "manifests", ms);
	char *t = dumps(ix);
	json_decref(ix);
	return t;
}

static const char oci_layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

static int put_text(const char *dir, const char *name, const char *text, struct error **err)
{
	char *p = path_join(dir, name);
	int rc = write_file_atomic_nosync(p, text, strlen(text), 0644);
	if (rc < 0)
		error_set(err, "writing %s: %s", p, strerror(errno));
	free(p);
	return rc;
}

static int put_blob_file(const char *blobs, const char *digest, const char *src, struct error **err)
{
	char *p = path_join(blobs, digest + 7);
	int rc = 0;
	if (link(src, p) < 0 && errno != EEXIST) {
		/* another file system: copy */
		char *data = NULL;
		int in = open(src, O_RDONLY | O_CLOEXEC);
		int out = in < 0 ? -1 : open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (in < 0 || out < 0) {
			error_set(err, "copying %s to %s: %s", src, p, strerror(errno));
			rc = -1;
		} else {
			char buf[1 << 16];
			ssize_t n;
			while ((n = read(in, buf, sizeof(buf))) > 0)
				if (write_all(out, buf, (size_t)n) < 0)
					break;
			if (n != 0 || close(out) < 0) {
				error_set(err, "copying %s to %s: %s", src, p, strerror(errno));
				rc = -1;
			}
			out = -1;
		}
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
		free(data);
	}
	free(p);
	return rc;
}

int container_write_oci_dir(const struct container_image *img, const char *dir, const char *ref_name, struct error **err)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		error_set(err, "creating %s: %s", dir, strerror(errno));
		return -1;
	}
	char *blobs = path_join(dir, "blobs/sha256");
	char *ix = index_json(img, ref_name);
	int rc = -1;
	if (mkdir_p(blobs, 0755) < 0) {
		error_set(err, "creating %s: %s", blobs, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < img->nlayers; i++)
		if (put_blob_file(blobs, img->layers[i].digest, img->layers[i].gz_path, err) < 0)
			goto out;
	if (put_text(blobs, img->config_digest + 7, img->config, err) < 0 ||
	    put_text(blobs, img->manifest_digest + 7, img->manifest, err) < 0 ||
	    put_text(dir, "oci-layout", oci_layout, err) < 0 || put_text(dir, "index.json", ix, err) < 0)
		goto out;
	rc = 0;
out:
	free(blobs);
	free(ix);
	return rc;
}

static char *tmp_beside(const char *file)
{
	return xasprintf("%s.tmp.%ld", file, (long)getpid());
}

static int finish_archive(struct tarw *w, const char *tmp, const char *file, int rc, struct error **err)
{
	if (tarw_close(w, tmp, NULL, err) < 0)
		rc = -1;
	if (rc == 0 && rename(tmp, file) < 0) {
		error_set(err, "renaming %s to %s: %s", tmp, file, strerror(errno));
		rc = -1;
	}
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int container_write_oci_archive(const struct container_image *img, const char *file, const char *ref_name,
				struct error **err)
{
	char *tmp = tmp_beside(file);
	struct tarw w;
	int rc = tarw_open(&w, tmp, false, err);
	char *ix = index_json(img, ref_name);
	struct container_entry dirs[] = {
		{.name = (char *)"blobs", .kind = CONTAINER_DIR, .mode = 0755},
		{.name = (char *)"blobs/sha256", .kind = CONTAINER_DIR, .mode = 0755},
	};
	if (rc == 0)
		rc = tar_add_mem(&w, "oci-layout", oci_layout, strlen(oci_layout), 0644, 0, err);
	if (rc == 0)
		rc = tar_add_mem(&w, "index.json", ix, strlen(ix), 0644, 0, err);
	for (size_t i = 0; i < ARRAY_LEN(dirs) && rc == 0; i++)
		rc = tar_add_other(&w, &dirs[i], 0, err);
	if (rc == 0) {
		char *n = xasprintf("blobs/sha256/%s", img->manifest_digest + 7);
		rc = tar_add_mem(&w, n, img->manifest, strlen(img->manifest), 0644, 0, err);
		free(n);
	}
	if (rc == 0) {
		char *n = xasprintf("blobs/sha256/%s", img->config_digest + 7);
		rc = tar_add_mem(&w, n, img->config, strlen(img->config), 0644, 0, err);
		free(n);
	}
	for (size_t i = 0; i < img->nlayers && rc == 0; i++) {
		char *n = xasprintf("blobs/sha256/%s", img->layers[i].digest + 7);
		rc = tar_add_file(&w, n, img->layers[i].gz_path, 0644, 0, err);
		free(n);
	}
	rc = finish_archive(&w, tmp, file, rc, err);
	free(ix);
	free(tmp);
	return rc;
}

int container_write_docker_archive(const struct container_image *img, const char *file, const char *repo_tag,
				   struct error **err)
{
	char *tmp = tmp_beside(file);
	struct tarw w;
	int rc = tarw_open(&w, tmp, false, err);
	json_t *m = json_object();
	char *cfgname = xasprintf("%s.json", img->config_digest + 7);
	json_object_set_new(m, "Config", json_string(cfgname));
	json_t *tags = json_array();
	if (repo_tag)
		json_array_append_new(tags, json_string(repo_tag));
	json_object_set_new(m, "RepoTags", tags);
	json_t *ls = json_array();
	for (size_t i = 0; i < img->nlayers; i++) {
		char *n = xasprintf("%s.tar", img->layers[i].diff_id + 7);
		json_array_append_new(ls, json_string(n));
		free(n);
	}
	json_object_set_new(m, "Layers", ls);
	json_t *all = json_array();
	json_array_append_new(all, m);
	char *mtext = dumps(all);
	json_decref(all);
	if (rc == 0)
		rc = tar_add_mem(&w, cfgname, img->config, strlen(img->config), 0644, 0, err);
	for (size_t i = 0; i < img->nlayers && rc == 0; i++) {
		char *n = xasprintf("%s.tar", img->layers[i].diff_id + 7);
		rc = tar_add_file(&w, n, img->layers[i].tar_path, 0644, 0, err);
		free(n);
	}
	if (rc == 0)
		rc = tar_add_mem(&w, "manifest.json", mtext, strlen(mtext), 0644, 0, err);
	rc = finish_archive(&w, tmp, file, rc, err);
	free(mtext);
	free(cfgname);
	free(tmp);
	return rc;
}
