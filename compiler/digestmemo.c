/* digestmemo.c — see digestmemo.h.
 *
 * File format (text, one file per recipe):
 *   smolc-digests 1
 *   <sha256> <dev> <ino> <size> <mtime s.ns> <ctime s.ns> <path>
 *   ...
 *   sum <sha256 of every byte above this line>
 * The sum line makes a torn write (the memo is renamed into place without
 * fsync: it is a hint, not data) or an edited file read as absent. Paths
 * holding a newline are never remembered. */
#include "digestmemo.h"
#include "digest.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MEMO_MAX (64u << 20) /* a memo larger than this is ignored */
#define MEMO_FORMAT "smolc-digests 1"

struct ment {
	char *path;         /* owned */
	char hex[65];
	uint64_t dev, ino, size;
	int64_t mt_s, ct_s;
	long mt_ns, ct_ns;
	bool used;          /* looked up by this run */
	bool stale;         /* the file changed within 2 s: forget it */
	bool keep;          /* written back */
};

struct dmemo {
	char *file;         /* the memo's path, or NULL: remember nothing */
	struct ment *v;
	size_t n, cap;
	size_t *slots;      /* open addressing over v (index + 1; 0 = empty) */
	size_t nslots;
	bool dirty;
	time_t clock;       /* dmemo_set_clock: "now" for the 2 s rule; 0 = time() */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void index_rebuild(struct dmemo *m)
{
	free(m->slots);
	m->nslots = 64;
	while (m->nslots < m->n * 2)
		m->nslots *= 2;
	m->slots = xcalloc(m->nslots, sizeof(*m->slots));
	for (size_t i = 0; i < m->n; i++) {
		size_t s = (size_t)hash_str(m->v[i].path) & (m->nslots - 1);
		while (m->slots[s])
			s = (s + 1) & (m->nslots - 1);
		m->slots[s] = i + 1;
	}
}

static struct ment *lookup(struct dmemo *m, const char *path)
{
	if (!m->nslots)
		return NULL;
	size_t s = (size_t)hash_str(path) & (m->nslots - 1);
	for (; m->slots[s]; s = (s + 1) & (m->nslots - 1))
		if (!strcmp(m->v[m->slots[s] - 1].path, path))
			return &m->v[m->slots[s] - 1];
	return NULL;
}

static struct ment *add(struct dmemo *m, const char *path)
{
	VEC_GROW(m->v, m->n, m->cap);
	struct ment *e = &m->v[m->n++];
	memset(e, 0, sizeof(*e));
	e->path = xstrdup(path);
	if (m->n * 2 > m->nslots)
		index_rebuild(m);
	else {
		size_t s = (size_t)hash_str(path) & (m->nslots - 1);
		while (m->slots[s])
			s = (s + 1) & (m->nslots - 1);
		m->slots[s] = m->n;
	}
	return e;
}

static void set_identity(struct ment *e, const struct stat *st)
{
	e->dev = (uint64_t)st->st_dev;
	e->ino = (uint64_t)st->st_ino;
	e->size = (uint64_t)st->st_size;
	e->mt_s = (int64_t)st->st_mtim.tv_sec;
	e->mt_ns = st->st_mtim.tv_nsec;
	e->ct_s = (int64_t)st->st_ctim.tv_sec;
	e->ct_ns = st->st_ctim.tv_nsec;
}

static bool is_hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool parse_u64(char **p, char end, uint64_t *out)
{
	char *e;
	if (**p < '0' || **p > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(*p, &e, 10);
	if (errno || *e != end)
		return false;
	*out = v;
	*p = e + 1;
	return true;
}

/* "<sec>.<ns> " */
static bool parse_time(char **p, int64_t *s, long *ns)
{
	uint64_t a, b;
	if (!parse_u64(p, '.', &a) || !parse_u64(p, ' ', &b) || a > INT64_MAX || b > 999999999)
		return false;
	*s = (int64_t)a;
	*ns = (long)b;
	return true;
}

/* Parse one entry line (NUL-terminated, no newline). */
static bool parse_line(struct dmemo *m, char *line)
{
	if (strlen(line) < 66 || !is_hex64(line) || line[64] != ' ')
		return false;
	char *p = line + 65;
	uint64_t dev, ino, size;
	int64_t mts, cts;
	long mtn, ctn;
	if (!parse_u64(&p, ' ', &dev) || !parse_u64(&p, ' ', &ino) || !parse_u64(&p, ' ', &size) ||
	    !parse_time(&p, &mts, &mtn) || !parse_time(&p, &cts, &ctn) || !*p)
		return false;
	const char *path = p;
	if (lookup(m, path))
		return false;
	struct ment *e = add(m, path);
	memcpy(e->hex, line, 64);
	e->hex[64] = 0;
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_dev = (dev_t)dev;
	st.st_ino = (ino_t)ino;
	st.st_size = (off_t)size;
	st.st_mtim = (struct timespec){(time_t)mts, mtn};
	st.st_ctim = (struct timespec){(time_t)cts, ctn};
	set_identity(e, &st);
	return true;
}

char *memo_file_read(const char *path, const char *format)
{
	char *text = NULL;
	size_t len = 0;
	if (!path || read_file(path, MEMO_MAX, &text, &len) < 0)
		return NULL;
	size_t fl = strlen(format);
	/* the sum line: "sum " + 64 hex + "\n", last in the file */
	char *sum = len >= fl + 1 + 69 ? text + len - 69 : NULL;
	char hex[65];
	if (!sum || strncmp(text, format, fl) || text[fl] != '\n' || strncmp(sum, "sum ", 4) || sum[68] != '\n' ||
	    sum[-1] != '\n') {
		debugf("memo %s: not a %s file, ignored", path, format);
		free(text);
		return NULL;
	}
	sha256_hex(text, (size_t)(sum - text), hex);
	if (memcmp(hex, sum + 4, 64)) {
		debugf("memo %s: checksum mismatch, ignored", path);
		free(text);
		return NULL;
	}
	size_t body = (size_t)(sum - text) - (fl + 1);
	memmove(text, text + fl + 1, body);
	text[body] = 0;
	return text;
}

void memo_file_write(const char *path, const char *format, const char *body, size_t len)
{
	struct strbuf sb;
	sb_init(&sb);
	sb_adds(&sb, format);
	sb_addc(&sb, '\n');
	sb_add(&sb, body, len);
	char hex[65];
	sha256_hex(sb.buf, sb.len, hex);
	sb_printf(&sb, "sum %s\n", hex);
	char *dir = path_dirname(path);
	if (mkdir_p(dir, 0755) == 0)
		write_file_atomic_nosync(path, sb.buf, sb.len, 0644);
	free(dir);
	sb_free(&sb);
}

static void load(struct dmemo *m)
{
	char *text = memo_file_read(m->file, MEMO_FORMAT);
	if (!text)
		return; /* none yet, unreadable or torn: start afresh */
	for (char *p = text; *p;) {
		char *nl = strchr(p, '\n');
		*nl = 0; /* every line ends in \n */
		if (!parse_line(m, p))
			m->dirty = true; /* drop it when writing back */
		p = nl + 1;
	}
	free(text);
}

struct dmemo *dmemo_open(const char *cache_root, const char *recipe_path)
{
	struct dmemo *m = xcalloc(1, sizeof(*m));
	if (!cache_root || !recipe_path)
		return m;
	char *rp = realpath(recipe_path, NULL);
	char k[65];
	sha256_hex(rp ? rp : recipe_path, strlen(rp ? rp : recipe_path), k);
	free(rp);
	m->file = xasprintf("%s/digests/%s", cache_root, k);
	load(m);
	return m;
}

static bool same_identity(const struct ment *e, const struct stat *st)
{
	return e->dev == (uint64_t)st->st_dev && e->ino == (uint64_t)st->st_ino && e->size == (uint64_t)st->st_size &&
	       e->mt_s == (int64_t)st->st_mtim.tv_sec && e->mt_ns == st->st_mtim.tv_nsec &&
	       e->ct_s == (int64_t)st->st_ctim.tv_sec && e->ct_ns == st->st_ctim.tv_nsec;
}

int dmemo_digest(struct dmemo *m, const char *path, const struct stat *st, char hex[65])
{
	struct stat own;
	if (!m || !m->file || strchr(path, '\n'))
		return digest_file_hex(DIGEST_SHA256, path, hex);
	if (!st) {
		if (stat(path, &own) < 0)
			return -1;
		st = &own;
	}
	if (!S_ISREG(st->st_mode))
		return digest_file_hex(DIGEST_SHA256, path, hex);
	struct ment *e = lookup(m, path);
	if (e && same_identity(e, st)) {
		e->used = true;
		memcpy(hex, e->hex, 65);
		return 0;
	}
	if (digest_file_hex(DIGEST_SHA256, path, hex) < 0)
		return -1;
	time_t now = m->clock ? m->clock : time(NULL);
	bool settled = st->st_mtim.tv_sec <= now - 2 && st->st_ctim.tv_sec <= now - 2;
	if (!settled) {
		if (e) /* changed recently: forget the old entry */
			e->stale = true;
		return 0;
	}
	if (!e)
		e = add(m, path);
	memcpy(e->hex, hex, 65);
	set_identity(e, st);
	e->used = true;
	e->stale = false;
	m->dirty = true;
	return 0;
}

void dmemo_set_clock(struct dmemo *m, time_t now)
{
	m->clock = now;
}

static void write_back(struct dmemo *m)
{
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < m->n; i++) {
		const struct ment *e = &m->v[i];
		if (!e->keep)
			continue;
		sb_printf(&sb, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 " %lld.%09ld %lld.%09ld %s\n", e->hex, e->dev, e->ino,
			  e->size, (long long)e->mt_s, e->mt_ns, (long long)e->ct_s, e->ct_ns, e->path);
	}
	memo_file_write(m->file, MEMO_FORMAT, sb.len ? sb.buf : "", sb.len);
	sb_free(&sb);
}

void dmemo_close(struct dmemo *m, bool complete)
{
	if (!m)
		return;
	/* after a complete run, entries it did not use are dropped (the memo
	 * follows the recipe); after a partial one, they are kept */
	for (size_t i = 0; i < m->n; i++) {
		struct ment *e = &m->v[i];
		e->keep = !e->stale && (e->used || !complete);
		if (!e->keep)
			m->dirty = true;
	}
	if (m->file && m->dirty)
		write_back(m);
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	free(m->slots);
	free(m->file);
	free(m);
}
