/* layer_blob.c — a layer as one zstd stream, and back (see layer.h,
 * "transport"). Used by the remote layer cache (cli/regcache.c).
 *
 * Design note: the writer streams `entries` then `data` through one zstd
 * compression context into the caller's fd, hashing the layer's two files
 * (to check the layer against its info on the way) and the compressed
 * output (the blob's digest) in the same pass. The reader is a push
 * parser: compressed bytes in, decompressed through a fixed 128 KiB
 * buffer into a small state machine (header, entries, data); data is
 * written with pwrite at its offset, all-zero 4 KiB blocks left as holes
 * as the layer writer does. Nothing is trusted before _finish: the header
 * bounds every size, the digest is compared at the end, and the directory
 * is the caller's temp directory until it commits it. */
#include "layer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "digest.h"
#include "fstree.h"
#include "layer_int.h"
#include "util.h"

#define BLOB_MAGIC "smolc-layer-blob 1\n"
#define HDR_MAX 1024u
#define MAX_ENTRIES_SIZE (1ull << 30)
#define MAX_DATA_SIZE (1ull << 40)
#define IOBUF (1u << 20)
#define BLK 4096u

/* ---- writer ---- */

struct zout {
	ZSTD_CCtx *z;
	int fd;
	unsigned char *buf;
	size_t cap;
	struct digest *bh;        /* sha256 of the compressed bytes */
	uint64_t size;
};

static int zout_write(struct zout *o, size_t n, struct error **err)
{
	const unsigned char *p = o->buf;
	digest_update(o->bh, p, n);
	o->size += n;
	while (n) {
		ssize_t w = write(o->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return layer_fail(err, "writing the layer blob: %s", w < 0 ? strerror(errno) : "short write");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int zout_feed(struct zout *o, const void *buf, size_t n, ZSTD_EndDirective mode, struct error **err)
{
	ZSTD_inBuffer in = {buf, n, 0};
	for (;;) {
		ZSTD_outBuffer out = {o->buf, o->cap, 0};
		size_t left = ZSTD_compressStream2(o->z, &out, &in, mode);
		if (ZSTD_isError(left))
			return layer_fail(err, "compressing the layer blob: %s", ZSTD_getErrorName(left));
		if (out.pos && zout_write(o, out.pos, err) < 0)
			return -1;
		if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
			return 0;
	}
}

/* Stream a file through the compressor and a digest; *size = bytes read. */
static int zout_file(struct zout *o, const char *path, struct digest *h, unsigned char *buf, uint64_t *size,
		     struct error **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return layer_fail(err, "%s: cannot open: %s", path, strerror(errno));
	*size = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf, IOBUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = layer_fail(err, "%s: read: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		digest_update(h, buf, (size_t)n);
		*size += (uint64_t)n;
		if (zout_feed(o, buf, (size_t)n, ZSTD_e_continue, err) < 0) {
			rc = -1;
			break;
		}
	}
	close(fd);
	return rc;
}

int layer_blob_write(const char *dir, int fd, int level, struct layer_blob_info *bi, struct error **err)
{
	memset(bi, 0, sizeof(*bi));
	struct error *why = NULL;
	/* the cheap check first (size, mtime): the files are read once, below */
	int v = layer_verify(dir, false, false, &why);
	if (v != 0) {
		layer_fail(err, "%s: the cached layer is damaged (%s)", dir, why ? error_msg(why) : "unreadable");
		error_clear(&why);
		return -1;
	}
	if (layer_read_info(dir, &bi->layer, err) < 0)
		return -1;
	char *ep = path_join(dir, "entries"), *dp = path_join(dir, "data");
	struct stat est, dst;
	int rc = -1;
	struct zout o = {.fd = fd};
	unsigned char *buf = NULL;
	struct digest *eh = NULL, *dh = NULL;
	if (stat(ep, &est) < 0 || stat(dp, &dst) < 0) {
		layer_fail(err, "%s: %s", dir, strerror(errno));
		goto out;
	}
	o.z = ZSTD_createCCtx();
	if (!o.z) {
		layer_fail(err, "compressing the layer blob: out of memory");
		goto out;
	}
	size_t zr = ZSTD_CCtx_setParameter(o.z, ZSTD_c_compressionLevel, level > 0 ? level : 3);
	if (ZSTD_isError(zr)) {
		layer_fail(err, "compressing the layer blob: %s", ZSTD_getErrorName(zr));
		goto out;
	}
	o.cap = ZSTD_CStreamOutSize();
	o.buf = xmalloc(o.cap);
	o.bh = digest_new(DIGEST_SHA256);
	buf = xmalloc(IOBUF);
	eh = digest_new(DIGEST_SHA256);
	dh = digest_new(DIGEST_SHA256);
	char *hdr = xasprintf(BLOB_MAGIC "digest %s\nentries %" PRIu64 "\nbytes %" PRIu64 "\nentries-size %lld\n"
			      "data-size %lld\n\n",
			      bi->layer.digest, bi->layer.entries, bi->layer.bytes, (long long)est.st_size,
			      (long long)dst.st_size);
	int hr = zout_feed(&o, hdr, strlen(hdr), ZSTD_e_continue, err);
	free(hdr);
	uint64_t es = 0, ds = 0;
	if (hr < 0 || zout_file(&o, ep, eh, buf, &es, err) < 0 || zout_file(&o, dp, dh, buf, &ds, err) < 0 ||
	    zout_feed(&o, NULL, 0, ZSTD_e_end, err) < 0)
		goto out;
	char ehx[129], dhx[129], got[65];
	digest_final_hex(eh, ehx);
	digest_final_hex(dh, dhx);
	eh = dh = NULL;
	char *top = xasprintf("smolc-layer 1\n%s\n%s\n", ehx, dhx);
	sha256_hex(top, strlen(top), got);
	free(top);
	if (es != (uint64_t)est.st_size || ds != (uint64_t)dst.st_size || strcmp(got, bi->layer.digest)) {
		layer_fail(err, "%s: the cached layer is damaged (%s)", dir,
			   strcmp(got, bi->layer.digest) ? "its content does not match its recorded digest"
							 : "it changed while it was read");
		goto out;
	}
	char bhx[129];
	digest_final_hex(o.bh, bhx);
	o.bh = NULL;
	memcpy(bi->sha256, bhx, 65);
	bi->size = o.size;
	rc = 0;
out:
	ZSTD_freeCCtx(o.z);
	free(o.buf);
	free(buf);
	digest_free(o.bh);
	digest_free(eh);
	digest_free(dh);
	free(ep);
	free(dp);
	return rc;
}

/* ---- reader ---- */

enum rstate { R_HEADER, R_ENTRIES, R_DATA, R_DONE };

struct layer_blob_reader {
	char *dir, *label;
	int efd, dfd;
	ZSTD_DCtx *z;
	unsigned char *obuf;         /* decompressed bytes */
	size_t ocap;
	size_t zlast;                /* last ZSTD_decompressStream result: 0 = a frame ended */
	enum rstate st;
	struct strbuf hdr;
	struct layer_info info;      /* from the header */
	uint64_t esize, dsize, epos, dpos;
	uint64_t lines;
	struct digest *eh, *dh;
	unsigned char *dbuf;         /* data bytes pending at dbuf_off */
	size_t dlen;
	uint64_t dbuf_off;
	uint64_t wb_off;             /* data before this is queued for writeback */
};

static int r_fail(struct layer_blob_reader *r, struct error **err, const char *what)
{
	return layer_fail(err, "%s: not a valid smolc layer blob: %s", r->label, what);
}

static int r_pwrite(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static bool zero_blk(const unsigned char *p)
{
	static const unsigned char z[BLK];
	return !memcmp(p, z, BLK);
}

/* Write the pending data: all-zero aligned 4 KiB blocks become holes. */
static int data_flush(struct layer_blob_reader *r, struct error **err)
{
	size_t run = 0, pos = 0;
	while (pos < r->dlen) {
		size_t n = r->dlen - pos < BLK ? r->dlen - pos : BLK;
		if (n == BLK && zero_blk(r->dbuf + pos)) {
			if (pos > run && r_pwrite(r->dfd, r->dbuf + run, pos - run, r->dbuf_off + run) < 0)
				goto fail;
			run = pos + n;
		}
		pos += n;
	}
	if (pos > run && r_pwrite(r->dfd, r->dbuf + run, pos - run, r->dbuf_off + run) < 0)
		goto fail;
	r->dbuf_off += r->dlen;
	r->dlen = 0;
	/* start the writeback as the data arrives (as the image writer does):
	 * the fsync in _finish then has little left to wait for */
	if (r->dbuf_off - r->wb_off >= 8 * IOBUF) {
		sync_file_range(r->dfd, (off_t)r->wb_off, (off_t)(r->dbuf_off - r->wb_off), SYNC_FILE_RANGE_WRITE);
		r->wb_off = r->dbuf_off;
	}
	return 0;
fail:
	return layer_fail(err, "%s/data: write: %s", r->dir, strerror(errno));
}

static int parse_header(struct layer_blob_reader *r, struct error **err)
{
	char digest[65] = "";
	unsigned long long ent, bytes, es, ds;
	int used = 0;
	if (strncmp(r->hdr.buf, BLOB_MAGIC, strlen(BLOB_MAGIC)))
		return r_fail(r, err, "it does not start with \"smolc-layer-blob 1\"");
	if (sscanf(r->hdr.buf + strlen(BLOB_MAGIC),
		   "digest %64[0-9a-f]\nentries %llu\nbytes %llu\nentries-size %llu\ndata-size %llu\n\n%n", digest,
		   &ent, &bytes, &es, &ds, &used) != 5 ||
	    strlen(digest) != 64 || (size_t)used + strlen(BLOB_MAGIC) != r->hdr.len)
		return r_fail(r, err, "malformed header");
	if (es < 14 || es > MAX_ENTRIES_SIZE || ds > MAX_DATA_SIZE)
		return r_fail(r, err, "sizes out of range in its header");
	memcpy(r->info.digest, digest, 65);
	r->info.entries = ent;
	r->info.bytes = bytes;
	r->esize = es;
	r->dsize = ds;
	return 0;
}

/* Route decompressed bytes to the header, the entry list, the data. */
static int consume(struct layer_blob_reader *r, const unsigned char *p, size_t n, struct error **err)
{
	while (n) {
		switch (r->st) {
		case R_HEADER: {
			/* byte by byte until the blank line: the header is tiny */
			size_t k = 0;
			while (k < n && r->hdr.len < HDR_MAX) {
				sb_add(&r->hdr, (const char *)p + k, 1);
				k++;
				if (r->hdr.len >= 2 && r->hdr.buf[r->hdr.len - 1] == '\n' && r->hdr.buf[r->hdr.len - 2] == '\n')
					break;
			}
			p += k;
			n -= k;
			sb_cstr(&r->hdr);
			if (r->hdr.len >= 2 && r->hdr.buf[r->hdr.len - 1] == '\n' && r->hdr.buf[r->hdr.len - 2] == '\n') {
				if (parse_header(r, err) < 0)
					return -1;
				r->st = r->esize ? R_ENTRIES : R_DATA;
			} else if (r->hdr.len >= HDR_MAX) {
				return r_fail(r, err, "its header is longer than 1 KiB");
			}
			break;
		}
		case R_ENTRIES: {
			size_t k = r->esize - r->epos < n ? (size_t)(r->esize - r->epos) : n;
			if (r_pwrite(r->efd, p, k, r->epos) < 0)
				return layer_fail(err, "%s/entries: write: %s", r->dir, strerror(errno));
			digest_update(r->eh, p, k);
			for (size_t i = 0; i < k; i++)
				r->lines += p[i] == '\n';
			r->epos += k;
			p += k;
			n -= k;
			if (r->epos == r->esize)
				r->st = r->dsize ? R_DATA : R_DONE;
			break;
		}
		case R_DATA: {
			size_t k = r->dsize - r->dpos < n ? (size_t)(r->dsize - r->dpos) : n;
			digest_update(r->dh, p, k);
			r->dpos += k;
			n -= k;
			while (k) {
				size_t room = IOBUF - r->dlen, c = k < room ? k : room;
				memcpy(r->dbuf + r->dlen, p, c);
				r->dlen += c;
				p += c;
				k -= c;
				if (r->dlen == IOBUF && data_flush(r, err) < 0)
					return -1;
			}
			if (r->dpos == r->dsize)
				r->st = R_DONE;
			break;
		}
		case R_DONE:
			return r_fail(r, err, "more bytes than its header announces");
		}
	}
	return 0;
}

static void r_clear_state(struct layer_blob_reader *r)
{
	r->st = R_HEADER;
	sb_reset(&r->hdr);
	memset(&r->info, 0, sizeof(r->info));
	r->esize = r->dsize = r->epos = r->dpos = r->lines = 0;
	r->dlen = 0;
	r->dbuf_off = r->wb_off = 0;
	r->zlast = 1;
	digest_free(r->eh);
	digest_free(r->dh);
	r->eh = digest_new(DIGEST_SHA256);
	r->dh = digest_new(DIGEST_SHA256);
}

struct layer_blob_reader *layer_blob_reader_new(const char *dir, const char *label, struct error **err)
{
	if (mkdir_p(dir, 0755) < 0) {
		layer_fail(err, "%s: cannot create layer directory: %s", dir, strerror(errno));
		return NULL;
	}
	struct layer_blob_reader *r = xcalloc(1, sizeof(*r));
	r->dir = xstrdup(dir);
	r->label = xstrdup(label ? label : dir);
	r->efd = r->dfd = -1;
	sb_init(&r->hdr);
	char *ep = path_join(dir, "entries"), *dp = path_join(dir, "data");
	r->efd = open(ep, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (r->efd >= 0)
		r->dfd = open(dp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (r->efd < 0 || r->dfd < 0)
		layer_fail(err, "%s: cannot create layer file: %s", r->efd < 0 ? ep : dp, strerror(errno));
	free(ep);
	free(dp);
	if (r->efd < 0 || r->dfd < 0) {
		layer_blob_abort(r);
		return NULL;
	}
	r->z = ZSTD_createDCtx();
	if (!r->z) {
		layer_fail(err, "%s: out of memory", r->label);
		layer_blob_abort(r);
		return NULL;
	}
	/* the window bounds the decoder's memory: 16 MiB (the writer's
	 * level 3 uses 2 MiB) */
	size_t wr = ZSTD_DCtx_setParameter(r->z, ZSTD_d_windowLogMax, 24);
	if (ZSTD_isError(wr)) {
		layer_fail(err, "%s: %s", r->label, ZSTD_getErrorName(wr));
		layer_blob_abort(r);
		return NULL;
	}
	r->ocap = ZSTD_DStreamOutSize();
	r->obuf = xmalloc(r->ocap);
	r->dbuf = xmalloc(IOBUF);
	r_clear_state(r);
	return r;
}

int layer_blob_feed(struct layer_blob_reader *r, const void *buf, size_t n, struct error **err)
{
	ZSTD_inBuffer in = {buf, n, 0};
	while (in.pos < in.size) {
		ZSTD_outBuffer out = {r->obuf, r->ocap, 0};
		size_t zr = ZSTD_decompressStream(r->z, &out, &in);
		if (ZSTD_isError(zr))
			return r_fail(r, err, ZSTD_getErrorName(zr));
		r->zlast = zr;
		if (out.pos && consume(r, r->obuf, out.pos, err) < 0)
			return -1;
	}
	return 0;
}

int layer_blob_reset(struct layer_blob_reader *r, struct error **err)
{
	size_t zr = ZSTD_DCtx_reset(r->z, ZSTD_reset_session_only);
	if (ZSTD_isError(zr))
		return layer_fail(err, "%s: %s", r->label, ZSTD_getErrorName(zr));
	if (ftruncate(r->efd, 0) < 0 || ftruncate(r->dfd, 0) < 0)
		return layer_fail(err, "%s: truncating the layer files: %s", r->dir, strerror(errno));
	r_clear_state(r);
	return 0;
}

void layer_blob_abort(struct layer_blob_reader *r)
{
	if (!r)
		return;
	if (r->efd >= 0)
		close(r->efd);
	if (r->dfd >= 0)
		close(r->dfd);
	ZSTD_freeDCtx(r->z);
	digest_free(r->eh);
	digest_free(r->dh);
	sb_free(&r->hdr);
	free(r->obuf);
	free(r->dbuf);
	free(r->dir);
	free(r->label);
	free(r);
}

int layer_blob_finish(struct layer_blob_reader *r, const char *want_digest, struct layer_info *info, struct error **err)
{
	int rc = -1;
	struct fstree *scratch = NULL;
	/* what the decompressor still holds */
	for (;;) {
		ZSTD_inBuffer in = {NULL, 0, 0};
		ZSTD_outBuffer out = {r->obuf, r->ocap, 0};
		size_t zr = ZSTD_decompressStream(r->z, &out, &in);
		if (ZSTD_isError(zr)) {
			r_fail(r, err, ZSTD_getErrorName(zr));
			goto out;
		}
		if (!out.pos)
			break; /* nothing pending (a call after a frame's end would start the next) */
		r->zlast = zr;
		if (consume(r, r->obuf, out.pos, err) < 0)
			goto out;
		if (out.pos < out.size)
			break;
	}
	if (r->zlast != 0) {
		r_fail(r, err, "the zstd stream is truncated");
		goto out;
	}
	if (r->st != R_DONE) {
		r_fail(r, err, r->st == R_HEADER ? "no header" : "fewer bytes than its header announces");
		goto out;
	}
	if (data_flush(r, err) < 0)
		goto out;
	char eh[129], dh[129], got[65];
	digest_final_hex(r->eh, eh);
	digest_final_hex(r->dh, dh);
	r->eh = r->dh = NULL;
	char *top = xasprintf("smolc-layer 1\n%s\n%s\n", eh, dh);
	sha256_hex(top, strlen(top), got);
	free(top);
	if (strcmp(got, r->info.digest)) {
		layer_fail(err, "%s: the layer's content does not match the digest in its header (sha256:%.12s…)",
			   r->label, r->info.digest);
		goto out;
	}
	if (want_digest && strcmp(got, want_digest)) {
		layer_fail(err, "%s: the layer is sha256:%.12s…, the cache index says sha256:%.12s…", r->label, got,
			   want_digest);
		goto out;
	}
	/* the record count is the entry list's, not the header's word */
	r->info.entries = r->lines ? r->lines - 1 : 0;
	if (ftruncate(r->dfd, (off_t)r->dsize) < 0 || fsync(r->dfd) < 0 || fsync(r->efd) < 0) {
		layer_fail(err, "%s: cannot flush layer files: %s", r->dir, strerror(errno));
		goto out;
	}
	/* the entry list must be one a build can apply */
	scratch = fstree_new();
	struct error *e = NULL;
	if (layer_apply(r->dir, scratch, &e) < 0) {
		layer_fail(err, "%s: its entry list is not valid: %s", r->label, error_msg(e));
		error_clear(&e);
		goto out;
	}
	if (layer_write_info(r->dir, r->efd, r->dfd, &r->info, err) < 0)
		goto out;
	if (info)
		*info = r->info;
	rc = 0;
out:
	fstree_free(scratch);
	layer_blob_abort(r);
	return rc;
}
