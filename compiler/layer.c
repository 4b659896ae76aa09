/* layer.c — layer writer, reader (apply) and archive import (see layer.h).
 *
 * Design note: the writer appends records to `entries` through a memory
 * buffer and file contents to `data` through a 1 MiB buffer written with
 * pwrite at explicit offsets (a hole is just a jump of the offset). Two
 * SHA-256 streams follow the two files; the layer digest combines them.
 * A shadow fstree (metadata only, no data) mirrors the layer's entries so
 * every importer gets the same checks: hard-link targets exist, nothing
 * lies below a symlink or file, names fit ext2.
 * The archive import streams libarchive blocks straight into the data
 * buffer; with glob filters, directories are held back (metadata only)
 * and emitted at the end if something below them was kept, and hard
 * links whose target was filtered out are resolved in a second pass. */
#include "layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "layer_int.h"
#include "util.h"

#define DBUF_SIZE (1u << 20)
#define BIG_FILE (64u * 1024)
#define BLK 4096u

static const unsigned char zero_block[BLK];

struct layer_writer {
	char *dir;
	char *label;
	int efd, dfd;
	struct strbuf eb;            /* pending entries bytes */
	struct digest *eh, *dh;      /* sha256 of entries / data */
	unsigned char *dbuf;         /* pending data bytes, belong at dbuf_off */
	size_t dlen;
	uint64_t dbuf_off;
	/* current file being streamed */
	bool big;
	unsigned char *stage;        /* big files: one block being filled */
	size_t slen;
	uint64_t fsize;
	struct fstree *shadow;
	struct layer_info info;
	bool broken;
};

/* ---- errors ---- */

int layer_fail(struct error **err, const char *fmt, ...)
{
	if (err && !*err) {
		va_list ap;
		va_start(ap, fmt);
		error_vset(err, fmt, ap);
		va_end(ap);
	}
	return -1;
}

const char *layer_writer_label(const struct layer_writer *w)
{
	return w->label;
}

void layer_writer_set_label(struct layer_writer *w, const char *label)
{
	free(w->label);
	w->label = xstrdup(label);
}

/* ---- escaping ---- */

static void esc_bytes(struct strbuf *sb, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p <= 0x20 || *p == 0x7f || *p == '%')
			sb_printf(sb, "%%%02X", *p);
		else
			sb_addc(sb, (char)*p);
	}
}

/* A path field: "/" + escaped normalised path ("/" alone for the root). */
static void esc_path(struct strbuf *sb, const char *np)
{
	sb_addc(sb, '/');
	esc_bytes(sb, np);
}

/* A string field: "-" for NULL or empty, "%2D" for a lone "-". */
static void esc_add(struct strbuf *sb, const char *s)
{
	if (!s || !*s) {
		sb_addc(sb, '-');
		return;
	}
	if (s[0] == '-' && s[1] == '\0') {
		sb_adds(sb, "%2D");
		return;
	}
	esc_bytes(sb, s);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Unescape in place; for string fields (!path) "-" becomes NULL; path
 * fields must start with '/'. Returns 0 or -1 on bad input. */
static int unesc_field(char *s, char **out, bool path)
{
	if (path && s[0] != '/')
		return -1;
	if (!path && s[0] == '-' && s[1] == '\0') {
		*out = NULL;
		return 0;
	}
	char *o = s;
	for (char *p = s; *p; p++) {
		if (*p == '%') {
			int a = hexval(p[1]), b = a < 0 ? -1 : hexval(p[2]);
			if (b < 0)
				return -1;
			*o++ = (char)(a * 16 + b);
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	*out = s;
	return 0;
}

static int unesc(char *s, char **out)
{
	return unesc_field(s, out, false);
}

static int unesc_path(char *s, char **out)
{
	return unesc_field(s, out, true);
}

/* ---- low-level output ---- */

static int write_all(int fd, const void *buf, size_t n, uint64_t off)
{
	const char *p = buf;
	while (n) {
		ssize_t r = pwrite(fd, p, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int entries_flush(struct layer_writer *w, struct error **err)
{
	if (!w->eb.len)
		return 0;
	const char *p = w->eb.buf;
	size_t n = w->eb.len;
	while (n) {
		ssize_t r = write(w->efd, p, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			w->broken = true;
			return layer_fail(err, "%s/entries: write: %s", w->dir, strerror(errno));
		}
		p += r;
		n -= (size_t)r;
	}
	digest_update(w->eh, w->eb.buf, w->eb.len);
	sb_reset(&w->eb);
	return 0;
}

static int data_flush(struct layer_writer *w, struct error **err)
{
	if (!w->dlen)
		return 0;
	if (write_all(w->dfd, w->dbuf, w->dlen, w->dbuf_off) < 0) {
		w->broken = true;
		return layer_fail(err, "%s/data: write: %s", w->dir, strerror(errno));
	}
	w->dbuf_off += w->dlen;
	w->dlen = 0;
	return 0;
}

static int data_emit(struct layer_writer *w, const void *buf, size_t n, struct error **err)
{
	digest_update(w->dh, buf, n);
	const unsigned char *p = buf;
	while (n) {
		size_t room = DBUF_SIZE - w->dlen;
		size_t k = n < room ? n : room;
		memcpy(w->dbuf + w->dlen, p, k);
		w->dlen += k;
		p += k;
		n -= k;
		if (w->dlen == DBUF_SIZE && data_flush(w, err) < 0)
			return -1;
	}
	return 0;
}

static int data_hole(struct layer_writer *w, size_t n, struct error **err)
{
	if (data_flush(w, err) < 0)
		return -1;
	for (size_t k = n; k; ) {
		size_t c = k < BLK ? k : BLK;
		digest_update(w->dh, zero_block, c);
		k -= c;
	}
	w->dbuf_off += n;
	return 0;
}

static uint64_t data_pos(const struct layer_writer *w)
{
	return w->dbuf_off + w->dlen;
}

/* Start a file of (expected) size `hint`; returns its data offset. */
static int file_begin(struct layer_writer *w, uint64_t hint, uint64_t *off, struct error **err)
{
	w->big = hint >= BIG_FILE;
	w->slen = 0;
	w->fsize = 0;
	if (w->big) {
		uint64_t pos = data_pos(w);
		uint64_t pad = (BLK - pos % BLK) % BLK;
		if (pad && data_emit(w, zero_block, (size_t)pad, err) < 0)
			return -1;
	}
	*off = data_pos(w);
	return 0;
}

static int stage_out(struct layer_writer *w, struct error **err)
{
	int rc;
	if (w->slen == BLK && memcmp(w->stage, zero_block, BLK) == 0)
		rc = data_hole(w, BLK, err);
	else
		rc = data_emit(w, w->stage, w->slen, err);
	w->slen = 0;
	return rc;
}

static int file_feed(struct layer_writer *w, const void *buf, size_t n, struct error **err)
{
	w->fsize += n;
	if (!w->big)
		return data_emit(w, buf, n, err);
	const unsigned char *p = buf;
	while (n) {
		size_t k = BLK - w->slen;
		if (k > n)
			k = n;
		memcpy(w->stage + w->slen, p, k);
		w->slen += k;
		p += k;
		n -= k;
		if (w->slen == BLK && stage_out(w, err) < 0)
			return -1;
	}
	return 0;
}

static int file_feed_zeros(struct layer_writer *w, uint64_t n, struct error **err)
{
	while (n) {
		size_t k = n < BLK ? (size_t)n : BLK;
		if (file_feed(w, zero_block, k, err) < 0)
			return -1;
		n -= k;
	}
	return 0;
}

static int file_end(struct layer_writer *w, struct error **err)
{
	if (w->big && w->slen)
		return stage_out(w, err);
	return 0;
}

/* ---- records ---- */

static void rec_meta(struct strbuf *sb, char kind, const char *path, const struct fs_meta *m)
{
	sb_addc(sb, kind);
	sb_addc(sb, ' ');
	esc_path(sb, path);
	sb_printf(sb, " %o %" PRIu32 " %" PRIu32 " ", m->perm & 07777, m->uid, m->gid);
	esc_add(sb, m->uname);
	sb_addc(sb, ' ');
	esc_add(sb, m->gname);
	sb_printf(sb, " %" PRId64, m->mtime);
}

static char type_char(enum fs_type t)
{
	switch (t) {
	case FS_REG: return 'F';
	case FS_DIR: return 'D';
	case FS_LNK: return 'L';
	case FS_CHR: return 'C';
	case FS_BLK: return 'B';
	case FS_FIFO: return 'P';
	case FS_SOCK: return 'S';
	}
	return '?';
}

/* Validate and normalise `path` for the layer; `shown` is the name used
 * in errors. Returns the normalised path without leading '/', or NULL. */
static char *w_path(struct layer_writer *w, const char *shown, const char *path, struct error **err)
{
	char *np = fstree_normalize(path, NULL);
	if (!np) {
		layer_fail(err, "%s: entry \"%s\" escapes the image root", w->label, shown);
		return NULL;
	}
	for (const char *p = np; *p; ) {
		const char *s = strchr(p, '/');
		size_t cl = s ? (size_t)(s - p) : strlen(p);
		if (cl > 255) {
			layer_fail(err, "%s: entry \"%s\" has a name component longer than 255 bytes (ext2 limit)",
				   w->label, shown);
			free(np);
			return NULL;
		}
		p += cl + (s ? 1 : 0);
	}
	return np;
}

/* Explain why np cannot be added: which ancestor is not a directory. */
static int parent_fail(struct layer_writer *w, const char *shown, const char *np, struct error **err)
{
	char *p = xstrdup(np);
	for (char *s = p; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		struct fs_node *n = fstree_lookup(w->shadow, p);
		if (n && n->inode->type != FS_DIR) {
			if (n->inode->type == FS_LNK)
				layer_fail(err, "%s: entry \"%s\" goes through the symlink \"/%s\" "
					   "(possible escape from the image root)", w->label, shown, p);
			else
				layer_fail(err, "%s: entry \"%s\" lies below \"/%s\", which is not a "
					   "directory", w->label, shown, p);
			free(p);
			return -1;
		}
		*s = '/';
	}
	free(p);
	return layer_fail(err, "%s: entry \"%s\" lies below a non-directory", w->label, shown);
}

/* Mirror an entry into the shadow tree (checks parents). */
static int shadow_put(struct layer_writer *w, const char *shown, const char *np,
		      const struct fs_meta *m, struct error **err)
{
	struct fs_meta sm = *m;
	sm.size = 0;
	sm.data_path = NULL;
	sm.uname = sm.gname = NULL;
	struct error *e = NULL;
	if (fstree_put(w->shadow, np, &sm, &e) < 0) {
		if (errno == ENOTDIR)
			parent_fail(w, shown, np, err);
		else
			layer_fail(err, "%s: entry \"%s\": %s", w->label, shown, e ? error_msg(e) : "is invalid");
		error_clear(&e);
		return -1;
	}
	return 0;
}

int layer_add_named(struct layer_writer *w, const char *shown, const char *path,
		    const struct fs_meta *m, struct error **err)
{
	if (w->broken)
		return layer_fail(err, "%s: layer writer failed earlier", w->label);
	if (m->type == FS_LNK && !m->target)
		return layer_fail(err, "%s: entry \"%s\": symlink without target", w->label, shown);
	char *np = w_path(w, shown, path, err);
	if (!np)
		return -1;
	int rc = -1;
	if (shadow_put(w, shown, np, m, err) < 0)
		goto out;
	rec_meta(&w->eb, type_char(m->type), np, m);
	switch (m->type) {
	case FS_REG:
		sb_adds(&w->eb, " 0 0");
		break;
	case FS_LNK:
		sb_addc(&w->eb, ' ');
		esc_add(&w->eb, m->target);
		break;
	case FS_CHR:
	case FS_BLK:
		sb_printf(&w->eb, " %" PRIu32 " %" PRIu32, m->rdev_major, m->rdev_minor);
		break;
	default:
		break;
	}
	sb_addc(&w->eb, '\n');
	w->info.entries++;
	rc = w->eb.len >= 65536 ? entries_flush(w, err) : 0;
out:
	free(np);
	return rc;
}

int layer_add(struct layer_writer *w, const char *path, const struct fs_meta *m, struct error **err)
{
	return layer_add_named(w, path, path, m, err);
}

/* Regular file with content from a reader callback. */
int layer_add_file_stream(struct layer_writer *w, const char *shown, const char *path,
			  const struct fs_meta *m, uint64_t size_hint,
			  layer_read_fn rd, void *ctx, struct error **err)
{
	if (w->broken)
		return layer_fail(err, "%s: layer writer failed earlier", w->label);
	char *np = w_path(w, shown, path, err);
	if (!np)
		return -1;
	int rc = -1;
	uint64_t off;
	struct fs_meta sm = *m;
	sm.type = FS_REG;
	if (shadow_put(w, shown, np, &sm, err) < 0)
		goto out;
	if (file_begin(w, size_hint, &off, err) < 0)
		goto out;
	if (rd(ctx, w, err) < 0) {
		w->broken = true;
		goto out;
	}
	if (file_end(w, err) < 0)
		goto out;
	if (w->fsize == 0)
		off = 0;
	rec_meta(&w->eb, 'F', np, &sm);
	sb_printf(&w->eb, " %" PRIu64 " %" PRIu64 "\n", w->fsize, off);
	w->info.entries++;
	w->info.bytes += w->fsize;
	rc = w->eb.len >= 65536 ? entries_flush(w, err) : 0;
out:
	free(np);
	return rc;
}

int layer_feed(struct layer_writer *w, const void *buf, size_t n, struct error **err)
{
	return file_feed(w, buf, n, err);
}

int layer_feed_zeros(struct layer_writer *w, uint64_t n, struct error **err)
{
	return file_feed_zeros(w, n, err);
}

uint64_t layer_fed(const struct layer_writer *w)
{
	return w->fsize;
}

struct buf_src {
	const void *buf;
	size_t len;
};

static int read_buf(void *ctx, struct layer_writer *w, struct error **err)
{
	struct buf_src *b = ctx;
	return file_feed(w, b->buf, b->len, err);
}

int layer_add_file_buf(struct layer_writer *w, const char *path, const struct fs_meta *m,
		       const void *buf, size_t len, struct error **err)
{
	struct buf_src b = { buf, len };
	return layer_add_file_stream(w, path, path, m, len, read_buf, &b, err);
}

struct fd_src {
	int fd;
	const char *shown;
};

static int read_fd(void *ctx, struct layer_writer *w, struct error **err)
{
	struct fd_src *s = ctx;
	unsigned char buf[65536];
	for (;;) {
		ssize_t r = read(s->fd, buf, sizeof(buf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return layer_fail(err, "%s: reading \"%s\": %s", w->label, s->shown,
					  strerror(errno));
		}
		if (r == 0)
			return 0;
		if (file_feed(w, buf, (size_t)r, err) < 0)
			return -1;
	}
}

int layer_add_file_fd_named(struct layer_writer *w, const char *shown, const char *path,
			    const struct fs_meta *m, int fd, struct error **err)
{
	struct stat st;
	uint64_t hint = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	if (hint >= LAYER_MAX_FILE) /* from fstat, before reading: a sparse 100 GiB costs nothing to make */
		return layer_fail(err, "%s: \"%s\" is %" PRIu64 " bytes; the image's ext2 (without "
				  "large_file) holds files below 2 GiB", w->label, path, hint);
	struct fd_src s = { fd, shown };
	return layer_add_file_stream(w, shown, path, m, hint, read_fd, &s, err);
}

int layer_add_file_fd(struct layer_writer *w, const char *path, const struct fs_meta *m,
		      int fd, struct error **err)
{
	return layer_add_file_fd_named(w, path, path, m, fd, err);
}

int layer_add_hardlink_named(struct layer_writer *w, const char *shown, const char *path,
			     const char *target, struct error **err)
{
	if (w->broken)
		return layer_fail(err, "%s: layer writer failed earlier", w->label);
	char *np = w_path(w, shown, path, err);
	if (!np)
		return -1;
	int rc = -1;
	char *nt = fstree_normalize(target, NULL);
	if (!nt) {
		layer_fail(err, "%s: entry \"%s\" is a hard link to \"%s\", which escapes the image root",
			   w->label, shown, target);
		goto out;
	}
	struct fs_node *tn = fstree_lookup(w->shadow, nt);
	if (!tn || tn->inode->type == FS_DIR) {
		layer_fail(err, "%s: entry \"%s\" is a hard link to \"%s\", which is %s", w->label,
			   shown, target, tn ? "a directory" : "not an earlier entry of the input");
		goto out;
	}
	struct error *e = NULL;
	if (fstree_link(w->shadow, np, nt, &e) < 0) {
		if (errno == ENOTDIR)
			parent_fail(w, shown, np, err);
		else
			layer_fail(err, "%s: entry \"%s\": %s", w->label, shown, e ? error_msg(e) : "is invalid");
		error_clear(&e);
		goto out;
	}
	sb_adds(&w->eb, "H ");
	esc_path(&w->eb, np);
	sb_addc(&w->eb, ' ');
	esc_path(&w->eb, nt);
	sb_addc(&w->eb, '\n');
	w->info.entries++;
	rc = w->eb.len >= 65536 ? entries_flush(w, err) : 0;
out:
	free(nt);
	free(np);
	return rc;
}

int layer_add_hardlink(struct layer_writer *w, const char *path, const char *target, struct error **err)
{
	return layer_add_hardlink_named(w, path, path, target, err);
}

int layer_add_whiteout(struct layer_writer *w, const char *path, struct error **err)
{
	if (w->broken)
		return layer_fail(err, "%s: layer writer failed earlier", w->label);
	char *np = w_path(w, path, path, err);
	if (!np)
		return -1;
	if (!*np) {
		free(np);
		return layer_fail(err, "%s: cannot remove the image root", w->label);
	}
	fstree_remove(w->shadow, np);
	sb_adds(&w->eb, "W ");
	esc_path(&w->eb, np);
	sb_addc(&w->eb, '\n');
	w->info.entries++;
	free(np);
	return w->eb.len >= 65536 ? entries_flush(w, err) : 0;
}

bool layer_has_path(const struct layer_writer *w, const char *path)
{
	return fstree_lookup(w->shadow, path) != NULL;
}

struct layer_writer *layer_writer_new(const char *dir, const char *label, struct error **err)
{
	if (mkdir_p(dir, 0755) < 0) {
		layer_fail(err, "%s: cannot create layer directory: %s", dir, strerror(errno));
		return NULL;
	}
	struct layer_writer *w = xcalloc(1, sizeof(*w));
	w->dir = xstrdup(dir);
	w->label = xstrdup(label ? label : dir);
	w->efd = w->dfd = -1;
	sb_init(&w->eb);
	char *ep = path_join(dir, "entries"), *dp = path_join(dir, "data");
	w->efd = open(ep, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->efd >= 0)
		w->dfd = open(dp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->efd < 0 || w->dfd < 0) {
		layer_fail(err, "%s: cannot create layer file: %s", w->efd < 0 ? ep : dp,
			   strerror(errno));
		free(ep);
		free(dp);
		layer_writer_abort(w);
		return NULL;
	}
	free(ep);
	free(dp);
	w->eh = digest_new(DIGEST_SHA256);
	w->dh = digest_new(DIGEST_SHA256);
	w->dbuf = xmalloc(DBUF_SIZE);
	w->stage = xmalloc(BLK);
	w->shadow = fstree_new();
	sb_adds(&w->eb, "smolc-layer 1\n");
	return w;
}

void layer_writer_abort(struct layer_writer *w)
{
	if (!w)
		return;
	if (w->efd >= 0)
		close(w->efd);
	if (w->dfd >= 0)
		close(w->dfd);
	digest_free(w->eh);
	digest_free(w->dh);
	sb_free(&w->eb);
	free(w->dbuf);
	free(w->stage);
	fstree_free(w->shadow);
	free(w->label);
	free(w->dir);
	free(w);
}

int layer_writer_finish(struct layer_writer *w, struct layer_info *info, struct error **err)
{
	int rc = -1;
	if (w->broken) {
		layer_fail(err, "%s: layer writer failed earlier", w->label);
		goto out;
	}
	if (entries_flush(w, err) < 0 || data_flush(w, err) < 0)
		goto out;
	if (ftruncate(w->dfd, (off_t)w->dbuf_off) < 0 || fsync(w->dfd) < 0 || fsync(w->efd) < 0) {
		layer_fail(err, "%s: cannot flush layer files: %s", w->dir, strerror(errno));
		goto out;
	}
	char eh[129], dh[129];
	digest_final_hex(w->eh, eh);
	digest_final_hex(w->dh, dh);
	w->eh = w->dh = NULL;
	char *top = xasprintf("smolc-layer 1\n%s\n%s\n", eh, dh);
	sha256_hex(top, strlen(top), w->info.digest);
	free(top);
	if (layer_write_info(w->dir, w->efd, w->dfd, &w->info, err) < 0)
		goto out;
	if (info)
		*info = w->info;
	rc = 0;
out:
	layer_writer_abort(w);
	return rc;
}

int layer_write_info(const char *dir, int efd, int dfd, const struct layer_info *info, struct error **err)
{
	/* size and mtime of both files: layer_verify's cheap first check */
	struct stat est, dst;
	if (fstat(efd, &est) < 0 || fstat(dfd, &dst) < 0)
		return layer_fail(err, "%s: cannot stat layer files: %s", dir, strerror(errno));
	char *txt = xasprintf("digest %s\nentries %" PRIu64 "\nbytes %" PRIu64 "\n"
			      "files %lld %lld %lld %lld\n", info->digest,
			      info->entries, info->bytes, (long long)est.st_size,
			      (long long)est.st_mtim.tv_sec * 1000000000 + est.st_mtim.tv_nsec,
			      (long long)dst.st_size,
			      (long long)dst.st_mtim.tv_sec * 1000000000 + dst.st_mtim.tv_nsec);
	char *ip = path_join(dir, "info");
	int r = write_file_atomic(ip, txt, strlen(txt), 0644);
	free(txt);
	if (r < 0)
		layer_fail(err, "%s: cannot write: %s", ip, strerror(errno));
	free(ip);
	return r < 0 ? -1 : 0;
}

int layer_read_info(const char *dir, struct layer_info *info, struct error **err)
{
	char *ip = path_join(dir, "info"), *txt = NULL;
	size_t len;
	int rc = -1;
	if (read_file(ip, 4096, &txt, &len) < 0) {
		layer_fail(err, "%s: cannot read: %s", ip, strerror(errno));
		goto out;
	}
	memset(info, 0, sizeof(*info));
	if (sscanf(txt, "digest %64s entries %" SCNu64 " bytes %" SCNu64, info->digest,
		   &info->entries, &info->bytes) != 3 || strlen(info->digest) != 64) {
		layer_fail(err, "%s: malformed layer info", ip);
		goto out;
	}
	rc = 0;
out:
	free(txt);
	free(ip);
	return rc;
}

/* ---- verify ---- */

static long long mtime_ns(const struct stat *st)
{
	return (long long)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* "<identity of entries> <identity of data>": what <dir>/verified holds */
static char *verified_text(const struct stat *e, const struct stat *d)
{
	return xasprintf("%llu %llu %lld %lld %lld  %llu %llu %lld %lld %lld\n",
			 (unsigned long long)e->st_dev, (unsigned long long)e->st_ino, (long long)e->st_size,
			 mtime_ns(e), (long long)e->st_ctim.tv_sec * 1000000000 + e->st_ctim.tv_nsec,
			 (unsigned long long)d->st_dev, (unsigned long long)d->st_ino, (long long)d->st_size,
			 mtime_ns(d), (long long)d->st_ctim.tv_sec * 1000000000 + d->st_ctim.tv_nsec);
}

int layer_verify(const char *dir, bool deep, bool remember, struct error **why)
{
	char *ip = path_join(dir, "info"), *ep = path_join(dir, "entries"),
	     *dp = path_join(dir, "data"), *txt = NULL, *vp = NULL, *vt = NULL;
	size_t len;
	int rc = -1;
	struct layer_info info;
	if (read_file(ip, 4096, &txt, &len) < 0) {
		error_set(why, "cannot read its info file: %s", strerror(errno));
		rc = 1;
		goto out;
	}
	memset(&info, 0, sizeof(info));
	if (sscanf(txt, "digest %64s entries %" SCNu64 " bytes %" SCNu64, info.digest,
		   &info.entries, &info.bytes) != 3 || strlen(info.digest) != 64) {
		error_set(why, "its info file is malformed");
		rc = 1;
		goto out;
	}
	struct stat est, dst;
	if (stat(ep, &est) < 0 || stat(dp, &dst) < 0) {
		error_set(why, "%s is missing", access(ep, F_OK) ? "its entry list" : "its data file");
		rc = 1;
		goto out;
	}
	const char *fl = strstr(txt, "\nfiles ");
	long long es, em, ds, dm;
	if (fl && sscanf(fl, "\nfiles %lld %lld %lld %lld", &es, &em, &ds, &dm) == 4) {
		if (es != (long long)est.st_size || ds != (long long)dst.st_size) {
			error_set(why, "its %s changed size", es != (long long)est.st_size ? "entry list" : "data file");
			rc = 1;
			goto out;
		}
		if (em != mtime_ns(&est) || dm != mtime_ns(&dst)) {
			error_set(why, "its %s was modified", em != mtime_ns(&est) ? "entry list" : "data file");
			rc = 1;
			goto out;
		}
	}
	if (deep && remember) {
		/* checked before, and neither file changed since (any write
		 * changes the ctime): not read again */
		vp = path_join(dir, "verified");
		vt = verified_text(&est, &dst);
		char *have = NULL;
		size_t hl;
		bool same = read_file(vp, 4096, &have, &hl) == 0 && !strcmp(have, vt);
		free(have);
		if (same)
			deep = false;
		else
			unlink(vp);
	}
	if (deep) {
		/* the layer's digest covers both files: recompute it */
		char eh[129], dh[129];
		if (digest_file_hex(DIGEST_SHA256, ep, eh) < 0 || digest_file_hex(DIGEST_SHA256, dp, dh) < 0) {
			error_set(why, "cannot read it: %s", strerror(errno));
			rc = -1;
			goto out;
		}
		char *top = xasprintf("smolc-layer 1\n%s\n%s\n", eh, dh);
		char got[65];
		sha256_hex(top, strlen(top), got);
		free(top);
		if (strcmp(got, info.digest) != 0) {
			error_set(why, "its content does not match its recorded digest sha256:%.12s…", info.digest);
			rc = 1;
			goto out;
		}
		/* only a memo: a torn one does not match and is rewritten */
		if (vp && write_file_atomic_nosync(vp, vt, strlen(vt), 0644) < 0)
			debugf("%s: cannot write: %s", vp, strerror(errno));
	}
	rc = 0;
out:
	free(vp);
	free(vt);
	free(txt);
	free(ip);
	free(ep);
	free(dp);
	return rc;
}

/* ---- apply ---- */

static int parse_u64(const char *s, int base, uint64_t *v)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, base);
	if (errno || *end || s[0] == '-')
		return -1;
	*v = x;
	return 0;
}

static int parse_i64(const char *s, int64_t *v)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*v = x;
	return 0;
}

int layer_apply(const char *dir, struct fstree *t, struct error **err)
{
	char *ep = path_join(dir, "entries"), *dp = path_join(dir, "data");
	const char *data = fstree_intern(t, dp);
	/* every file's data must lie inside the data file */
	struct stat dst;
	uint64_t dsize = stat(dp, &dst) == 0 ? (uint64_t)dst.st_size : 0;
	free(dp);
	FILE *f = fopen(ep, "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = -1;
	unsigned long lineno = 0;
	if (!f) {
		layer_fail(err, "%s: cannot open: %s", ep, strerror(errno));
		goto out;
	}
	ssize_t n;
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (lineno == 1) {
			if (strcmp(line, "smolc-layer 1") != 0) {
				layer_fail(err, "%s:1: not a smolc layer (version 1)", ep);
				goto out;
			}
			continue;
		}
		char *fld[12];
		int nf = 0;
		for (char *p = line, *s; nf < 12 && (s = strsep(&p, " ")); )
			fld[nf++] = s;
		struct error *e = NULL;
		char *path = NULL;
		if (nf < 2 || strlen(fld[0]) != 1 || unesc_path(fld[1], &path) < 0)
			goto bad;
		char k = fld[0][0];
		if (k == 'W') {
			if (nf != 2 || fstree_remove(t, path) < 0)
				goto bad;
			continue;
		}
		if (k == 'H') {
			char *target;
			if (nf != 3 || unesc_path(fld[2], &target) < 0)
				goto bad;
			if (fstree_link(t, path, target, &e) < 0)
				goto fail;
			continue;
		}
		struct fs_meta m = { 0 };
		uint64_t perm, uid, gid;
		int want;
		switch (k) {
		case 'F': m.type = FS_REG; want = 10; break;
		case 'D': m.type = FS_DIR; want = 8; break;
		case 'L': m.type = FS_LNK; want = 9; break;
		case 'C': m.type = FS_CHR; want = 10; break;
		case 'B': m.type = FS_BLK; want = 10; break;
		case 'P': m.type = FS_FIFO; want = 8; break;
		case 'S': m.type = FS_SOCK; want = 8; break;
		default: goto bad;
		}
		char *un, *gn;
		if (nf != want || parse_u64(fld[2], 8, &perm) < 0 || parse_u64(fld[3], 10, &uid) < 0 ||
		    parse_u64(fld[4], 10, &gid) < 0 || unesc(fld[5], &un) < 0 ||
		    unesc(fld[6], &gn) < 0 || parse_i64(fld[7], &m.mtime) < 0 || perm > 07777 ||
		    uid > UINT32_MAX || gid > UINT32_MAX)
			goto bad;
		m.perm = (uint32_t)perm;
		m.uid = (uint32_t)uid;
		m.gid = (uint32_t)gid;
		m.uname = un;
		m.gname = gn;
		if (k == 'F') {
			if (parse_u64(fld[8], 10, &m.size) < 0 || parse_u64(fld[9], 10, &m.data_off) < 0)
				goto bad;
			if (m.size && (m.data_off > dsize || m.size > dsize - m.data_off)) {
				layer_fail(err, "%s:%lu: the file's data lies beyond the end of the data file", ep, lineno);
				goto out;
			}
			m.data_path = data;
		} else if (k == 'L') {
			char *tg;
			if (unesc(fld[8], &tg) < 0 || !tg)
				goto bad;
			m.target = tg;
		} else if (k == 'C' || k == 'B') {
			uint64_t ma, mi;
			if (parse_u64(fld[8], 10, &ma) < 0 || parse_u64(fld[9], 10, &mi) < 0 ||
			    ma > UINT32_MAX || mi > UINT32_MAX)
				goto bad;
			m.rdev_major = (uint32_t)ma;
			m.rdev_minor = (uint32_t)mi;
		}
		if (fstree_put(t, path, &m, &e) < 0)
			goto fail;
		continue;
bad:
		layer_fail(err, "%s:%lu: malformed layer record", ep, lineno);
		goto out;
fail:
		layer_fail(err, "%s:%lu: %s", ep, lineno, error_msg(e));
		error_clear(&e);
		goto out;
	}
	if (ferror(f)) {
		layer_fail(err, "%s: read error: %s", ep, strerror(errno));
		goto out;
	}
	if (lineno == 0) {
		layer_fail(err, "%s: empty layer index", ep);
		goto out;
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	free(line);
	free(ep);
	return rc;
}
