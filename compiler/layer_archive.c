/* layer_archive.c — import an archive (NetBSD set, pkgsrc package, any
 * tar/cpio libarchive reads) into a layer (see layer.h).
 *
 * Design note: one streaming pass over the archive; file data goes from
 * libarchive's blocks straight into the layer's data file (sparse gaps
 * become zeros the writer turns back into holes). Names are validated
 * before anything is written. With glob filters, directories that did
 * not match are held back (metadata only) and emitted at the end when
 * something below them was kept; a kept hard link whose target was
 * filtered out is remembered and resolved by a second pass that copies
 * the target's data under the first such link name. */
#include "layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "layer_int.h"
#include "util.h"

/* ---- tiny string set ---- */

struct strset {
	char **slot;
	size_t cap, n;
};

static size_t strset_hash(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool strset_has(const struct strset *ss, const char *s)
{
	if (!ss->cap)
		return false;
	for (size_t i = strset_hash(s) & (ss->cap - 1);; i = (i + 1) & (ss->cap - 1)) {
		if (!ss->slot[i])
			return false;
		if (strcmp(ss->slot[i], s) == 0)
			return true;
	}
}

static void strset_add(struct strset *ss, const char *s)
{
	if ((ss->n + 1) * 2 > ss->cap) {
		size_t ncap = ss->cap ? ss->cap * 2 : 64;
		char **ns = xcalloc(ncap, sizeof(*ns));
		for (size_t i = 0; i < ss->cap; i++) {
			if (!ss->slot[i])
				continue;
			size_t j = strset_hash(ss->slot[i]) & (ncap - 1);
			while (ns[j])
				j = (j + 1) & (ncap - 1);
			ns[j] = ss->slot[i];
		}
		free(ss->slot);
		ss->slot = ns;
		ss->cap = ncap;
	}
	size_t i = strset_hash(s) & (ss->cap - 1);
	for (; ss->slot[i]; i = (i + 1) & (ss->cap - 1))
		if (strcmp(ss->slot[i], s) == 0)
			return;
	ss->slot[i] = xstrdup(s);
	ss->n++;
}

static void strset_free(struct strset *ss)
{
	for (size_t i = 0; i < ss->cap; i++)
		free(ss->slot[i]);
	free(ss->slot);
}

/* ---- the compressed stream, read to its end ----
 *
 * Reading stops at the tar end marker, so libarchive alone never sees the
 * end of the compressed data: a damaged gzip member (whose CRC and length
 * libarchive does not check anyway) or bytes appended after the data went
 * unnoticed. So the entries are read from a decompressed stream we drive
 * ourselves, and once the last entry is read the stream is read to its end:
 * gzip through zlib (which checks every member's CRC32 and length), any
 * other compression (xz, zstd, bzip2, ...) through a second libarchive
 * reader in raw mode (liblzma, libzstd and libbz2 check their own
 * checksums when they reach the end), then the compressed bytes consumed
 * must be the whole file: anything after the data is an error.
 *
 * An xz file of several blocks (what `xz -T` writes) is decoded by
 * liblzma's multi-threaded decoder instead (SRC_XZMT): worker threads
 * decode blocks ahead while this thread parses the tar and writes the
 * layer, so a cold build runs at the pace of `xz -dc -T0`. The decoder
 * reads the file to its end itself (LZMA_CONCATENATED: further streams and
 * stream padding are decoded, anything else is an error; every block's
 * check and the index are verified). Its memory is bounded: each thread
 * holds one block in and out plus the dictionary, and liblzma uses fewer
 * threads (down to one) when XZ_MT_MEMLIMIT would be exceeded. A file of
 * one block, or one whose index cannot be read (damaged: the ordinary path
 * reports it), keeps the ordinary path. */

enum src_kind { SRC_PLAIN, SRC_GZIP, SRC_FILTER, SRC_XZMT };

/* the multi-threaded xz decoder's memory, all threads together: liblzma
 * starts fewer threads (down to one worker, else decodes in this thread)
 * to stay below it, and uses what is left to read blocks ahead. A thread
 * holds one block decoded and compressed plus the dictionary: ~19 MiB for
 * `xz -3 -T` (two threads fit), ~38 MiB for `xz -6 -T` (one worker, which
 * still decodes while this thread writes the layer). 40 MiB keeps a
 * build's peak under 64 MiB. The hard stop is for a single thread
 * (libarchive's own limit for xz, so both paths accept the same files). */
#define XZ_MT_MEMLIMIT (40ull << 20)
#define XZ_MEMLIMIT_STOP (1ull << 30)
#define XZ_MT_MAX_THREADS 8u

struct src {
	enum src_kind kind;
	const char *label;
	int fd;
	uint64_t fsize;             /* size of the file */
	uint64_t consumed;          /* compressed bytes read (gzip) */
	struct archive *outer;      /* SRC_FILTER: filter_all + format_raw */
	z_stream z;                 /* SRC_GZIP */
	lzma_stream xz;             /* SRC_XZMT */
	bool xzinit, xzend;
	bool zinit, zend;           /* zend: the last member ended */
	unsigned char *in, *out;
	size_t inlen;
	struct error *err;          /* our own error, preferred over libarchive's */
};

#define SRC_BUF (1u << 16)

static void src_seterr(struct src *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void src_seterr(struct src *s, const char *fmt, ...)
{
	if (s->err)
		return;
	va_list ap;
	va_start(ap, fmt);
	error_vset(&s->err, fmt, ap);
	va_end(ap);
}

/* gzip: one more input block; 0 at end of file, -1 on error */
static int gz_fill(struct src *s)
{
	ssize_t r;
	do
		r = read(s->fd, s->in, SRC_BUF);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		src_seterr(s, "cannot read: %s", strerror(errno));
		return -1;
	}
	s->z.next_in = s->in;
	s->z.avail_in = (uInt)r;
	s->consumed += (uint64_t)r;
	return r > 0;
}

/* gzip: up to SRC_BUF decompressed bytes into s->out; 0 at the end of the
 * last member, -1 on error (message in s->err) */
static ssize_t gz_read(struct src *s)
{
	if (s->zend)
		return 0;
	s->z.next_out = s->out;
	s->z.avail_out = SRC_BUF;
	while (s->z.avail_out == SRC_BUF) {
		if (!s->z.avail_in) {
			int f = gz_fill(s);
			if (f < 0)
				return -1;
			if (f == 0) {
				src_seterr(s, "the gzip data ends early: the file is "
							"truncated; get an intact copy");
				return -1;
			}
		}
		int r = inflate(&s->z, Z_NO_FLUSH);
		if (r == Z_STREAM_END) {
			/* another member may follow; anything else is garbage */
			if (!s->z.avail_in && gz_fill(s) < 0)
				return -1;
			if (!s->z.avail_in) {
				s->zend = true;
				break;
			}
			if (s->z.avail_in < 2 && s->z.next_in[0] == 0x1f) {
				/* a magic number split across reads: keep the byte */
				unsigned char b = s->z.next_in[0];
				s->in[0] = b;
				ssize_t k;
				do
					k = read(s->fd, s->in + 1, SRC_BUF - 1);
				while (k < 0 && errno == EINTR);
				if (k < 0) {
					src_seterr(s, "cannot read: %s",
								strerror(errno));
					return -1;
				}
				s->consumed += (uint64_t)k;
				s->z.next_in = s->in;
				s->z.avail_in = 1 + (uInt)k;
			}
			if (s->z.avail_in < 2 || s->z.next_in[0] != 0x1f || s->z.next_in[1] != 0x8b) {
				uint64_t junk = s->fsize - (s->consumed - s->z.avail_in);
				src_seterr(s, "%" PRIu64 " byte%s of trailing garbage after "
							"the gzip data: the file is damaged; get an "
							"intact copy", junk, junk == 1 ? "" : "s");
				return -1;
			}
			if (inflateReset(&s->z) != Z_OK) {
				src_seterr(s, "cannot reset the gzip decoder");
				return -1;
			}
			continue;
		}
		if (r != Z_OK && !(r == Z_BUF_ERROR && s->z.avail_in)) {
			src_seterr(s, "the gzip data is damaged (%s): the file is corrupt "
						"or truncated; get an intact copy",
						s->z.msg ? s->z.msg : "inflate error");
			return -1;
		}
	}
	return (ssize_t)(SRC_BUF - s->z.avail_out);
}

static const char *xz_strerror(lzma_ret r)
{
	switch (r) {
	case LZMA_MEM_ERROR: return "out of memory";
	case LZMA_MEMLIMIT_ERROR: return "the decoder needs more than 1 GiB of memory";
	case LZMA_FORMAT_ERROR: return "not xz data";
	case LZMA_OPTIONS_ERROR: return "unsupported xz options";
	case LZMA_DATA_ERROR: return "xz data is corrupt";
	case LZMA_BUF_ERROR: return "xz data ends early";
	case LZMA_PROG_ERROR: return "xz decoder internal error";
	default: return "xz decoding error";
	}
}

/* xz (several blocks): up to SRC_BUF decoded bytes into s->out; 0 after
 * the end of the file's last stream, -1 on error (message in s->err) */
static ssize_t xz_read(struct src *s)
{
	if (s->xzend)
		return 0;
	s->xz.next_out = s->out;
	s->xz.avail_out = SRC_BUF;
	while (s->xz.avail_out == SRC_BUF) {
		lzma_action act = LZMA_RUN;
		if (!s->xz.avail_in) {
			ssize_t r;
			do
				r = read(s->fd, s->in, SRC_BUF);
			while (r < 0 && errno == EINTR);
			if (r < 0) {
				src_seterr(s, "cannot read: %s", strerror(errno));
				return -1;
			}
			s->xz.next_in = s->in;
			s->xz.avail_in = (size_t)r;
			if (r == 0)
				act = LZMA_FINISH;
		}
		lzma_ret r = lzma_code(&s->xz, act);
		if (r == LZMA_STREAM_END) {
			s->xzend = true;
			break;
		}
		if (r != LZMA_OK) {
			src_seterr(s, "the compressed data is damaged (%s): the file is "
						"corrupt or truncated; get an intact copy",
						xz_strerror(r));
			return -1;
		}
	}
	return (ssize_t)(SRC_BUF - s->xz.avail_out);
}

/* The number of blocks of the xz file on fd (all its streams), read from
 * the indexes at its end; -1 when they cannot be read. */
static int64_t xz_block_count(int fd, uint64_t fsize)
{
	lzma_stream st = LZMA_STREAM_INIT;
	lzma_index *idx = NULL;
	int64_t n = -1;
	unsigned char *buf = xmalloc(SRC_BUF);
	if (lzma_file_info_decoder(&st, &idx, 16u << 20, fsize) != LZMA_OK)
		goto out;
	/* bounded: liblzma asks for the footer, the index and the header of
	 * each stream, each read once */
	for (;;) {
		if (!st.avail_in) {
			ssize_t r;
			do
				r = read(fd, buf, SRC_BUF);
			while (r < 0 && errno == EINTR);
			if (r < 0)
				goto out;
			st.next_in = buf;
			st.avail_in = (size_t)r;
		}
		lzma_ret r = lzma_code(&st, st.avail_in ? LZMA_RUN : LZMA_FINISH);
		if (r == LZMA_STREAM_END)
			break;
		if (r == LZMA_SEEK_NEEDED) {
			if (st.seek_pos > fsize || lseek(fd, (off_t)st.seek_pos, SEEK_SET) < 0)
				goto out;
			st.avail_in = 0;
			continue;
		}
		if (r != LZMA_OK)
			goto out;
	}
	n = (int64_t)lzma_index_block_count(idx);
out:
	if (idx)
		lzma_index_end(idx, NULL);
	lzma_end(&st);
	free(buf);
	if (lseek(fd, 0, SEEK_SET) < 0)
		n = -1;
	return n;
}

/* Threads for xz files of several blocks: SMOLC_XZ_THREADS when set (1:
 * always the single-threaded path), else the CPUs, at most
 * XZ_MT_MAX_THREADS. */
static uint32_t xz_threads(void)
{
	const char *e = getenv("SMOLC_XZ_THREADS");
	if (e && *e) {
		char *end;
		unsigned long v = strtoul(e, &end, 10);
		if (!*end && v >= 1 && v <= 64)
			return (uint32_t)v;
	}
	uint32_t n = lzma_cputhreads();
	if (n == 0)
		n = 1;
	return n > XZ_MT_MAX_THREADS ? XZ_MT_MAX_THREADS : n;
}

static la_ssize_t src_cb_read(struct archive *a, void *ctx, const void **buf)
{
	(void)a;
	struct src *s = ctx;
	if (s->kind == SRC_XZMT) {
		ssize_t n = xz_read(s);
		*buf = s->out;
		return n;
	}
	if (s->kind == SRC_GZIP) {
		ssize_t n = gz_read(s);
		*buf = s->out;
		return n;
	}
	if (s->kind == SRC_FILTER) {
		la_ssize_t n = archive_read_data(s->outer, s->out, SRC_BUF);
		if (n < 0) {
			const char *m = archive_error_string(s->outer);
			src_seterr(s, "the compressed data is damaged (%s): the file is "
						"corrupt or truncated; get an intact copy",
						m ? m : "decompression error");
			return -1;
		}
		*buf = s->out;
		return n;
	}
	ssize_t r;
	do
		r = read(s->fd, s->out, SRC_BUF);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		src_seterr(s, "cannot read: %s", strerror(errno));
		return -1;
	}
	*buf = s->out;
	return r;
}

static void src_close(struct src *s)
{
	if (s->zinit)
		inflateEnd(&s->z);
	s->zinit = false;
	if (s->xzinit)
		lzma_end(&s->xz);
	s->xzinit = false;
	if (s->outer)
		archive_read_free(s->outer);
	s->outer = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->in);
	free(s->out);
	s->in = s->out = NULL;
	error_clear(&s->err);
}

static int src_open(struct src *s, const char *path, const char *label, struct error **err)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->label = label;
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (s->fd < 0 || fstat(s->fd, &st) < 0)
		return layer_fail(err, "%s: cannot open %s: %s", label, path, strerror(errno));
	s->fsize = (uint64_t)st.st_size;
	unsigned char mg[6] = {0};
	ssize_t n = pread(s->fd, mg, sizeof(mg), 0);
	if (n < 0)
		return layer_fail(err, "%s: cannot read %s: %s", label, path, strerror(errno));
	s->out = xmalloc(SRC_BUF);
	if (n >= 2 && mg[0] == 0x1f && mg[1] == 0x8b) {
		s->kind = SRC_GZIP;
		s->in = xmalloc(SRC_BUF);
		if (inflateInit2(&s->z, 15 + 16) != Z_OK)
			return layer_fail(err, "%s: cannot start the gzip decoder", label);
		s->zinit = true;
		return 0;
	}
	bool xz = n >= 6 && memcmp(mg, "\xfd" "7zXZ\0", 6) == 0;
	bool zst = n >= 4 && memcmp(mg, "\x28\xb5\x2f\xfd", 4) == 0;
	bool bz2 = n >= 3 && memcmp(mg, "BZh", 3) == 0;
	if (!xz && !zst && !bz2) {
		s->kind = SRC_PLAIN; /* tar/cpio as is, or a format libarchive decodes itself */
		return 0;
	}
	uint32_t threads = xz ? xz_threads() : 1;
	if (xz && threads > 1 && xz_block_count(s->fd, s->fsize) > 1) {
		s->kind = SRC_XZMT;
		s->in = xmalloc(SRC_BUF);
		lzma_stream init = LZMA_STREAM_INIT;
		s->xz = init;
		lzma_mt mt = {
			/* no LZMA_FAIL_FAST: a damaged block is reported when the
			 * output reaches it, so the error names the entry it is in
			 * however the threads raced (one block ahead is decoded
			 * for nothing on a damaged file) */
			.flags = LZMA_CONCATENATED,
			.threads = threads,
			.timeout = 0,
			.memlimit_threading = XZ_MT_MEMLIMIT,
			.memlimit_stop = XZ_MEMLIMIT_STOP,
		};
		lzma_ret r = lzma_stream_decoder_mt(&s->xz, &mt);
		if (r != LZMA_OK)
			return layer_fail(err, "%s: cannot start the xz decoder: %s", label,
					  xz_strerror(r));
		s->xzinit = true;
		return 0;
	}
	s->kind = SRC_FILTER;
	close(s->fd);
	s->fd = -1;
	s->outer = archive_read_new();
	if (!s->outer)
		return layer_fail(err, "%s: cannot allocate archive reader", label);
	archive_read_support_filter_all(s->outer);
	archive_read_support_format_raw(s->outer);
	struct archive_entry *e;
	if (archive_read_open_filename(s->outer, path, SRC_BUF) != ARCHIVE_OK ||
	    archive_read_next_header(s->outer, &e) != ARCHIVE_OK) {
		const char *m = archive_error_string(s->outer);
		return layer_fail(err, "%s: %s", label, m ? m : "cannot read the compressed data");
	}
	return 0;
}

/* After the last entry: read the stream to its end and make sure the
 * compressed data was the whole file. */
static int src_finish(struct src *s, struct error **err)
{
	for (;;) {
		const void *b;
		la_ssize_t n = src_cb_read(NULL, s, &b);
		if (n < 0)
			return layer_fail(err, "%s: %s", s->label, error_msg(s->err));
		if (n == 0)
			break;
	}
	if (s->kind == SRC_FILTER) {
		la_int64_t used = archive_filter_bytes(s->outer, -1);
		if (used >= 0 && (uint64_t)used < s->fsize) {
			uint64_t junk = s->fsize - (uint64_t)used;
			return layer_fail(err, "%s: %" PRIu64 " byte%s of trailing garbage after the "
					  "compressed data: the file is damaged; get an intact copy",
					  s->label, junk, junk == 1 ? "" : "s");
		}
	}
	return 0;
}

/* ---- import state ---- */

struct held_dir {
	char *shown, *dest, *uname, *gname;
	struct fs_meta m;
};

struct pending_link {
	char *shown, *dest;     /* the kept link */
	char *target_np;        /* target as normalised in the archive (no prefix) */
	char *target_dest;      /* set once the first link got the data */
};

struct imp {
	struct layer_writer *w;
	const struct layer_import_opts *o;
	const char *label;
	char *prefix;           /* normalised, "" for the root */
	struct archive *a;
	struct src src;
	struct archive_entry *e;
	const char *shown;      /* current entry name, escaped for messages */
	char *shown_own;        /* what shown points to when set by do_entry */
	uint64_t size;          /* current entry size */
	struct strset skipped;  /* regular files dropped by the globs */
	struct held_dir *held;
	size_t nheld, capheld;
	struct pending_link *pend;
	size_t npend, cappend;
};

static bool glob_keep(const struct imp *im, const char *np)
{
	if (!im->o || !im->o->globs)
		return true;
	char *p = xasprintf("/%s", np);
	bool keep = false;
	for (const char *const *g = im->o->globs; *g && !keep; g++) {
		if (fnmatch(*g, p, 0) == 0) {
			keep = true;
			break;
		}
		/* an ancestor directory matching keeps everything below it */
		for (char *s = p + 1; (s = strchr(s, '/')) != NULL; s++) {
			*s = '\0';
			bool m = fnmatch(*g, p, 0) == 0;
			*s = '/';
			if (m) {
				keep = true;
				break;
			}
		}
	}
	free(p);
	return keep;
}

static bool skip_match(const struct imp *im, const char *np)
{
	if (!im->o || !im->o->skip)
		return false;
	for (const char *const *g = im->o->skip; *g; g++)
		if (fnmatch(*g, np, 0) == 0)
			return true;
	return false;
}

static char *with_prefix(const struct imp *im, const char *np)
{
	if (!*im->prefix)
		return xstrdup(np);
	if (!*np)
		return xstrdup(im->prefix);
	return xasprintf("%s/%s", im->prefix, np);
}

static int arch_err(struct imp *im, struct error **err)
{
	if (im->src.err && im->shown)
		return layer_fail(err, "%s: entry \"%s\": %s", im->label, im->shown, error_msg(im->src.err));
	if (im->src.err)
		return layer_fail(err, "%s: %s", im->label, error_msg(im->src.err));
	const char *msg = archive_error_string(im->a);
	if (!msg)
		msg = "unknown archive error";
	if (im->shown)
		return layer_fail(err, "%s: entry \"%s\": %s (corrupt or truncated archive?)",
				  im->label, im->shown, msg);
	return layer_fail(err, "%s: %s", im->label, msg);
}

static int read_entry_data(void *ctx, struct layer_writer *w, struct error **err)
{
	struct imp *im = ctx;
	for (;;) {
		const void *buf;
		size_t n;
		la_int64_t off;
		int r = archive_read_data_block(im->a, &buf, &n, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return arch_err(im, err);
		uint64_t fed = layer_fed(w);
		if (off >= 0 && (uint64_t)off > fed && layer_feed_zeros(w, (uint64_t)off - fed, err) < 0)
			return -1;
		if (n && layer_feed(w, buf, n, err) < 0)
			return -1;
	}
	uint64_t fed = layer_fed(w);
	if (fed < im->size && layer_feed_zeros(w, im->size - fed, err) < 0)
		return -1;
	return 0;
}

static void entry_meta(struct archive_entry *e, struct fs_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->perm = (uint32_t)archive_entry_perm(e) & 07777;
	m->uid = (uint32_t)archive_entry_uid(e);
	m->gid = (uint32_t)archive_entry_gid(e);
	m->uname = archive_entry_uname(e);
	m->gname = archive_entry_gname(e);
	m->mtime = archive_entry_mtime_is_set(e) ? (int64_t)archive_entry_mtime(e) : 0;
}

static int open_archive(struct imp *im, const char *path, struct error **err)
{
	im->a = archive_read_new();
	if (!im->a)
		return layer_fail(err, "%s: cannot allocate archive reader", im->label);
	archive_read_support_filter_all(im->a);
	archive_read_support_format_all(im->a);
	if (src_open(&im->src, path, im->label, err) < 0)
		return -1;
	if (archive_read_open(im->a, &im->src, NULL, src_cb_read, NULL) != ARCHIVE_OK)
		return arch_err(im, err);
	return 0;
}

static void close_archive(struct imp *im)
{
	if (im->a) {
		archive_read_free(im->a);
		im->a = NULL;
	}
	src_close(&im->src);
}

/* Normalise an archive name; errors name the entry. */
static char *norm_name(struct imp *im, const char *shown, const char *name, bool is_link,
		       struct error **err)
{
	/* what the entries must stay inside: the image root, or the prefix
	 * (LOCALBASE for packages) when the caller says so */
	const char *root = im->o && im->o->root_name ? im->o->root_name : "the image root";
	char *ename = str_escape(name);
	char *np = NULL;
	if (name[0] == '/') {
		if (is_link)
			layer_fail(err, "%s: entry \"%s\" is a hard link to the absolute path \"%s\"; "
				   "archive entries must be relative", im->label, shown, ename);
		else
			layer_fail(err, "%s: entry \"%s\" has an absolute path; archive entries must be "
				   "relative to %s", im->label, shown, root);
		goto out;
	}
	np = fstree_normalize(name, NULL);
	if (!np) {
		if (is_link)
			layer_fail(err, "%s: entry \"%s\" is a hard link to \"%s\", which escapes %s",
				   im->label, shown, ename, root);
		else
			layer_fail(err, "%s: entry \"%s\" escapes %s", im->label, shown, root);
	}
out:
	free(ename);
	return np;
}

static int do_entry(struct imp *im, struct error **err)
{
	struct archive_entry *e = im->e;
	const char *raw = archive_entry_pathname(e);
	if (!raw)
		return layer_fail(err, "%s: an entry has no readable name (after \"%s\")", im->label,
				  im->shown ? im->shown : "start of archive");
	free(im->shown_own);
	im->shown_own = str_escape(raw);
	im->shown = im->shown_own;
	const char *shown = im->shown;
	int rc = -1;
	char *np = norm_name(im, shown, raw, false, err), *dest = NULL, *hnp = NULL, *hdest = NULL;
	if (!np)
		goto out;
	if (skip_match(im, np)) {
		rc = 0;
		goto out;
	}
	dest = with_prefix(im, np);
	bool keep = glob_keep(im, np);
	const char *hl = archive_entry_hardlink(e);
	if (hl) {
		/* tar hard-link entries have file type 0: test the link name first */
		hnp = norm_name(im, shown, hl, true, err);
		if (!hnp)
			goto out;
		if (!keep) {
			rc = 0;
			goto out;
		}
		if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 &&
		    (archive_format(im->a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_CPIO) {
			/* newc cpio: the data of a link set rides on its last name */
			layer_fail(err, "%s: entry \"%s\": cpio hard links carrying data are not "
				   "supported; repack the archive as tar", im->label, shown);
			goto out;
		}
		hdest = with_prefix(im, hnp);
		if (!layer_has_path(im->w, hdest) && strset_has(&im->skipped, hnp)) {
			VEC_GROW(im->pend, im->npend, im->cappend);
			struct pending_link *p = &im->pend[im->npend++];
			p->shown = xstrdup(shown);
			p->dest = dest;
			dest = NULL;
			p->target_np = hnp;
			hnp = NULL;
			p->target_dest = NULL;
			rc = 0;
			goto out;
		}
		rc = layer_add_hardlink_named(im->w, shown, dest, hdest, err);
		goto out;
	}
	struct fs_meta m;
	entry_meta(e, &m);
	switch (archive_entry_filetype(e)) {
	case AE_IFDIR:
		m.type = FS_DIR;
		if (!keep) {
			VEC_GROW(im->held, im->nheld, im->capheld);
			struct held_dir *h = &im->held[im->nheld++];
			h->shown = xstrdup(shown);
			h->dest = dest;
			dest = NULL;
			h->uname = m.uname ? xstrdup(m.uname) : NULL;
			h->gname = m.gname ? xstrdup(m.gname) : NULL;
			h->m = m;
			h->m.uname = h->uname;
			h->m.gname = h->gname;
			rc = 0;
			goto out;
		}
		rc = layer_add_named(im->w, shown, dest, &m, err);
		goto out;
	case AE_IFREG:
		if (!keep) {
			strset_add(&im->skipped, np);
			rc = 0;
			goto out;
		}
		m.type = FS_REG;
		im->size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;
		if (im->size >= LAYER_MAX_FILE) {
			/* from the header, before reading any data: a sparse or
			 * all-zero entry of 20 GiB costs nothing to store */
			layer_fail(err, "%s: entry \"%s\" is %" PRIu64 " bytes; the image's ext2 "
				   "(without large_file) holds files below 2 GiB", im->label, shown,
				   im->size);
			goto out;
		}
		rc = layer_add_file_stream(im->w, shown, dest, &m, im->size, read_entry_data, im, err);
		goto out;
	case AE_IFLNK:
		m.type = FS_LNK;
		m.target = archive_entry_symlink(e);
		if (!m.target) {
			layer_fail(err, "%s: entry \"%s\" is a symlink without a target", im->label, shown);
			goto out;
		}
		break;
	case AE_IFCHR:
	case AE_IFBLK:
		m.type = archive_entry_filetype(e) == AE_IFCHR ? FS_CHR : FS_BLK;
		if ((uint64_t)archive_entry_rdevmajor(e) > 0xfff ||
		    (uint64_t)archive_entry_rdevminor(e) > 0xfffff) {
			/* NetBSD's dev_t (and Linux's): 12-bit major, 20-bit minor;
			 * truncating would make it another device */
			layer_fail(err, "%s: entry \"%s\" is device %" PRIu64 ",%" PRIu64 ", which does "
				   "not fit a dev_t (major at most 4095, minor at most 1048575)",
				   im->label, shown, (uint64_t)archive_entry_rdevmajor(e),
				   (uint64_t)archive_entry_rdevminor(e));
			goto out;
		}
		m.rdev_major = (uint32_t)archive_entry_rdevmajor(e);
		m.rdev_minor = (uint32_t)archive_entry_rdevminor(e);
		break;
	case AE_IFIFO:
		m.type = FS_FIFO;
		break;
	case AE_IFSOCK:
		m.type = FS_SOCK;
		break;
	default:
		layer_fail(err, "%s: entry \"%s\" has an unsupported file type (0%o)", im->label, shown,
			   (unsigned)archive_entry_filetype(e));
		goto out;
	}
	rc = keep ? layer_add_named(im->w, shown, dest, &m, err) : 0;
out:
	free(np);
	free(dest);
	free(hnp);
	free(hdest);
	return rc;
}

static int pass_entries(struct imp *im, const char *path, bool second, struct error **err)
{
	if (open_archive(im, path, err) < 0)
		return -1;
	im->shown = NULL;
	size_t resolved = 0;
	for (;;) {
		im->shown = NULL; /* the name is libarchive's, gone with the next header */
		int r = archive_read_next_header(im->a, &im->e);
		if (r == ARCHIVE_EOF) {
			if (!second && src_finish(&im->src, err) < 0)
				return -1;
			break;
		}
		if (r < ARCHIVE_WARN)
			return arch_err(im, err);
		if (!second) {
			if (do_entry(im, err) < 0)
				return -1;
			continue;
		}
		/* second pass: give filtered-out hard-link targets their data */
		const char *raw = archive_entry_pathname(im->e);
		if (!raw || archive_entry_hardlink(im->e) || archive_entry_filetype(im->e) != AE_IFREG)
			continue;
		free(im->shown_own);
		im->shown_own = str_escape(raw);
		im->shown = im->shown_own;
		char *np = fstree_normalize(raw, NULL);
		if (!np)
			continue;
		for (size_t i = 0; i < im->npend; i++) {
			struct pending_link *p = &im->pend[i];
			if (strcmp(p->target_np, np) != 0 || p->target_dest)
				continue;
			/* first link naming this target gets the data, others link to it */
			struct fs_meta m;
			entry_meta(im->e, &m);
			m.type = FS_REG;
			im->size = archive_entry_size_is_set(im->e) ? (uint64_t)archive_entry_size(im->e) : 0;
			if (im->size >= LAYER_MAX_FILE) {
				free(np);
				return layer_fail(err, "%s: entry \"%s\" is %" PRIu64 " bytes; the image's "
						  "ext2 (without large_file) holds files below 2 GiB",
						  im->label, im->shown, im->size);
			}
			if (layer_add_file_stream(im->w, p->shown, p->dest, &m, im->size, read_entry_data,
						  im, err) < 0) {
				free(np);
				return -1;
			}
			p->target_dest = xstrdup(p->dest);
			resolved++;
			for (size_t j = i + 1; j < im->npend; j++) {
				struct pending_link *q = &im->pend[j];
				if (strcmp(q->target_np, np) != 0 || q->target_dest)
					continue;
				if (layer_add_hardlink_named(im->w, q->shown, q->dest, p->dest, err) < 0) {
					free(np);
					return -1;
				}
				q->target_dest = xstrdup(p->dest);
				resolved++;
			}
			break;
		}
		free(np);
		if (resolved == im->npend)
			break;
	}
	close_archive(im);
	return 0;
}

int layer_import_archive(struct layer_writer *w, const char *path,
			 const struct layer_import_opts *o, struct error **err)
{
	struct imp im = { 0 };
	im.src.fd = -1;
	im.w = w;
	im.o = o;
	im.label = (o && o->label) ? o->label : path_basename(path);
	int rc = -1;
	char *saved_label = xstrdup(layer_writer_label(w));
	layer_writer_set_label(w, im.label);
	im.prefix = fstree_normalize((o && o->prefix) ? o->prefix : "", NULL);
	if (!im.prefix) {
		layer_fail(err, "%s: install prefix \"%s\" escapes the image root", im.label, o->prefix);
		goto out;
	}
	if (pass_entries(&im, path, false, err) < 0)
		goto out;
	close_archive(&im);
	if (im.npend && pass_entries(&im, path, true, err) < 0)
		goto out;
	for (size_t i = 0; i < im.npend; i++) {
		if (!im.pend[i].target_dest) {
			layer_fail(err, "%s: entry \"%s\" is a hard link to \"%s\", which has no data in the "
				   "archive", im.label, im.pend[i].shown, im.pend[i].target_np);
			goto out;
		}
	}
	for (size_t i = 0; i < im.nheld; i++) {
		struct held_dir *h = &im.held[i];
		if (layer_has_path(w, h->dest) &&
		    layer_add_named(w, h->shown, h->dest, &h->m, err) < 0)
			goto out;
	}
	rc = 0;
out:
	close_archive(&im);
	layer_writer_set_label(w, saved_label);
	free(saved_label);
	free(im.prefix);
	free(im.shown_own);
	strset_free(&im.skipped);
	for (size_t i = 0; i < im.nheld; i++) {
		free(im.held[i].shown);
		free(im.held[i].dest);
		free(im.held[i].uname);
		free(im.held[i].gname);
	}
	free(im.held);
	for (size_t i = 0; i < im.npend; i++) {
		free(im.pend[i].shown);
		free(im.pend[i].dest);
		free(im.pend[i].target_np);
		free(im.pend[i].target_dest);
	}
	free(im.pend);
	return rc;
}
