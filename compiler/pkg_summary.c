/* pkg_summary.c — streamed pkg_summary(5) parser, indexes, SHA512 lists.
 *
 * Memory: all strings and per-package pattern arrays are bump-allocated
 * from 64 KiB arena chunks owned by the summary. Values of the repetitive
 * variables are interned through an open-addressing table (FNV-1a), so a
 * DEPENDS pattern shared by 3,000 packages is stored once. The parser
 * splits lines in place inside each fed chunk and only copies the partial
 * line that straddles two chunks.
 *
 * Indexes built by finish(): pkgs sorted by (name, version desc, pkgname);
 * a name -> run table (open addressing); `byname`, indexes sorted by
 * PKGNAME, for prefix range queries. */
#include "pkg_summary.h"
#include "digest.h"
#include "pkg_match.h"
#include "pkg_version.h"
#include "util.h"

#include <archive.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- arena */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	char data[];
};

struct arena {
	struct arena_chunk *head;
	size_t total;
};

#define ARENA_CHUNK (64 * 1024)

static void *arena_alloc(struct arena *a, size_t n, size_t align)
{
	struct arena_chunk *c = a->head;
	size_t off = c ? (c->used + align - 1) & ~(align - 1) : 0;
	if (!c || off + n > c->cap) {
		size_t cap = n + align > ARENA_CHUNK ? n + align : ARENA_CHUNK;
		c = xmalloc(sizeof(*c) + cap);
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		a->total += cap;
		off = 0;
	}
	c->used = off + n;
	return c->data + off;
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1, 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void arena_free(struct arena *a)
{
	struct arena_chunk *c = a->head;
	while (c) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
}

/* --------------------------------------------------------------- intern */

struct intern_slot {
	uint32_t hash;
	uint32_t len;
	const char *s;
};

struct intern {
	struct intern_slot *slots;
	size_t n, cap;      /* cap is a power of two */
};

static uint32_t fnv1a(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static void intern_grow(struct intern *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 1024;
	struct intern_slot *ns = xcalloc(ncap, sizeof(*ns));
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->slots[i].s)
			continue;
		size_t j = t->slots[i].hash & (ncap - 1);
		while (ns[j].s)
			j = (j + 1) & (ncap - 1);
		ns[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = ns;
	t->cap = ncap;
}

static const char *intern_str(struct intern *t, struct arena *a, const char *s, size_t n)
{
	if ((t->n + 1) * 4 > t->cap * 3)
		intern_grow(t);
	uint32_t h = fnv1a(s, n);
	size_t j = h & (t->cap - 1);
	while (t->slots[j].s) {
		if (t->slots[j].hash == h && t->slots[j].len == n && memcmp(t->slots[j].s, s, n) == 0)
			return t->slots[j].s;
		j = (j + 1) & (t->cap - 1);
	}
	t->slots[j].hash = h;
	t->slots[j].len = (uint32_t)n;
	t->slots[j].s = arena_strndup(a, s, n);
	t->n++;
	return t->slots[j].s;
}

/* ------------------------------------------------------------ summary */

struct name_slot {
	const char *name;   /* NULL: empty */
	uint32_t hash;
	size_t first, count;
};

struct pkg_summary_priv {
	struct arena arena;
	struct intern intern;
	struct name_slot *names;
	size_t names_cap;
	size_t *byname;     /* indexes sorted by pkgname */
};

struct pkg_summary_parser {
	char *label;
	struct strbuf partial;      /* line straddling two chunks */
	size_t line;                /* current line number (1-based) */
	size_t record_start;
	/* current record */
	struct pkg_entry cur;
	bool in_record;
	const char **deps;
	size_t n_deps, cap_deps;
	const char **cfls;
	size_t n_cfls, cap_cfls;
	struct strbuf desc;
	bool has_desc;
	char *bad;                  /* why the current record is malformed, or NULL */
	/* results */
	struct pkg_entry *pkgs;
	size_t n, cap;
	struct pkg_skipped *skipped;
	size_t n_skipped, cap_skipped;
	struct pkg_summary_priv *priv;
};

struct pkg_summary_parser *pkg_summary_parser_new(const char *label)
{
	struct pkg_summary_parser *p = xcalloc(1, sizeof(*p));
	p->label = xstrdup(label ? label : "pkg_summary");
	p->priv = xcalloc(1, sizeof(*p->priv));
	return p;
}

static void priv_free(struct pkg_summary_priv *pv)
{
	if (!pv)
		return;
	arena_free(&pv->arena);
	free(pv->intern.slots);
	free(pv->names);
	free(pv->byname);
	free(pv);
}

void pkg_summary_parser_free(struct pkg_summary_parser *p)
{
	if (!p)
		return;
	free(p->label);
	sb_free(&p->partial);
	sb_free(&p->desc);
	free(p->deps);
	free(p->cfls);
	free(p->pkgs);
	free(p->bad);
	for (size_t i = 0; i < p->n_skipped; i++) {
		free(p->skipped[i].pkgname);
		free(p->skipped[i].reason);
	}
	free(p->skipped);
	priv_free(p->priv);
	free(p);
}

static const char *const *arena_ptrs(struct arena *a, const char **v, size_t n)
{
	if (n == 0)
		return NULL;
	const char **out = arena_alloc(a, n * sizeof(*out), sizeof(void *));
	memcpy(out, v, n * sizeof(*out));
	return out;
}

static int end_record(struct pkg_summary_parser *p, struct error **err)
{
	if (!p->in_record)
		return 0;
	(void)err;
	struct pkg_entry *e = &p->cur;
	struct arena *a = &p->priv->arena;
	const char *dash = e->pkgname ? strrchr(e->pkgname, '-') : NULL;
	if (!p->bad && !e->pkgname)
		p->bad = xasprintf("the record at line %zu has no PKGNAME", p->record_start);
	else if (!p->bad && (!dash || dash == e->pkgname || dash[1] == '\0'))
		p->bad = xasprintf("line %zu: PKGNAME \"%s\" is not <name>-<version>", p->record_start, e->pkgname);
	if (p->bad) {
		/* a malformed record is left out, and said */
		VEC_GROW(p->skipped, p->n_skipped, p->cap_skipped);
		struct pkg_skipped *k = &p->skipped[p->n_skipped++];
		k->line = p->record_start;
		k->pkgname = e->pkgname ? xstrdup(e->pkgname) : NULL;
		k->reason = p->bad;
		p->bad = NULL;
		memset(e, 0, sizeof(*e));
		p->n_deps = p->n_cfls = 0;
		sb_reset(&p->desc);
		p->has_desc = false;
		p->in_record = false;
		return 0;
	}
	e->name = intern_str(&p->priv->intern, a, e->pkgname, (size_t)(dash - e->pkgname));
	e->version = dash + 1;
	e->depends = arena_ptrs(a, p->deps, p->n_deps);
	e->n_depends = p->n_deps;
	e->conflicts = arena_ptrs(a, p->cfls, p->n_cfls);
	e->n_conflicts = p->n_cfls;
	if (p->has_desc)
		e->description = arena_strndup(a, p->desc.buf ? p->desc.buf : "", p->desc.len);
	if (!e->file_name) {
		size_t n = strlen(e->pkgname);
		char *f = arena_alloc(a, n + 5, 1);
		memcpy(f, e->pkgname, n);
		memcpy(f + n, ".tgz", 5);
		e->file_name = f;
	}
	VEC_GROW(p->pkgs, p->n, p->cap);
	p->pkgs[p->n++] = *e;
	memset(e, 0, sizeof(*e));
	p->n_deps = p->n_cfls = 0;
	sb_reset(&p->desc);
	p->has_desc = false;
	p->in_record = false;
	return 0;
}

static int parse_u64(struct pkg_summary_parser *p, const char *var, const char *v, size_t n, uint64_t *out, struct error **err)
{
	uint64_t x = 0;
	if (n == 0)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]) || x > (UINT64_MAX - 9) / 10)
			goto bad;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 0;
bad:
	(void)err;
	if (!p->bad)
		p->bad = xasprintf("line %zu: %s=\"%.*s\" is not a number", p->line, var, (int)(n > 40 ? 40 : n), v);
	return 0;
}

#define VAR_IS(lit) (klen == sizeof(lit) - 1 && memcmp(k, lit, sizeof(lit) - 1) == 0)

static int parse_line(struct pkg_summary_parser *p, const char *s, size_t n, struct error **err)
{
	if (n && s[n - 1] == '\r')
		n--;
	if (n == 0)
		return end_record(p, err);
	const char *eq = memchr(s, '=', n);
	if (!p->in_record) {
		p->in_record = true;
		p->record_start = p->line;
	}
	if (p->bad)
		return 0; /* the rest of a malformed record */
	if (!eq || eq == s) {
		char *raw = xstrndup(s, n > 60 ? 60 : n), *e = str_escape(raw);
		p->bad = xasprintf("line %zu: expected VARIABLE=VALUE, got \"%s\"", p->line, e);
		free(e);
		free(raw);
		return 0;
	}
	if (memchr(s, '\0', n)) {
		p->bad = xasprintf("line %zu: NUL byte", p->line);
		return 0;
	}
	const char *k = s;
	size_t klen = (size_t)(eq - s);
	const char *v = eq + 1;
	size_t vlen = n - klen - 1;
	struct pkg_entry *e = &p->cur;
	struct arena *a = &p->priv->arena;
	struct intern *in = &p->priv->intern;

	if (VAR_IS("PKGNAME"))
		e->pkgname = arena_strndup(a, v, vlen);
	else if (VAR_IS("DEPENDS")) {
		VEC_GROW(p->deps, p->n_deps, p->cap_deps);
		p->deps[p->n_deps++] = intern_str(in, a, v, vlen);
	} else if (VAR_IS("CONFLICTS")) {
		VEC_GROW(p->cfls, p->n_cfls, p->cap_cfls);
		p->cfls[p->n_cfls++] = intern_str(in, a, v, vlen);
	} else if (VAR_IS("DESCRIPTION")) {
		if (p->has_desc)
			sb_addc(&p->desc, '\n');
		sb_add(&p->desc, v, vlen);
		p->has_desc = true;
	} else if (VAR_IS("COMMENT"))
		e->comment = arena_strndup(a, v, vlen);
	else if (VAR_IS("FILE_NAME"))
		e->file_name = arena_strndup(a, v, vlen);
	else if (VAR_IS("FILE_SIZE"))
		return parse_u64(p, "FILE_SIZE", v, vlen, &e->file_size, err);
	else if (VAR_IS("SIZE_PKG"))
		return parse_u64(p, "SIZE_PKG", v, vlen, &e->size_pkg, err);
	else if (VAR_IS("FILE_CKSUM"))
		e->file_cksum = arena_strndup(a, v, vlen);
	else if (VAR_IS("PKGPATH"))
		e->pkgpath = intern_str(in, a, v, vlen);
	else if (VAR_IS("MACHINE_ARCH"))
		e->machine_arch = intern_str(in, a, v, vlen);
	else if (VAR_IS("OPSYS"))
		e->opsys = intern_str(in, a, v, vlen);
	else if (VAR_IS("OS_VERSION"))
		e->os_version = intern_str(in, a, v, vlen);
	else if (VAR_IS("BUILD_DATE"))
		e->build_date = intern_str(in, a, v, vlen);
	else if (VAR_IS("HOMEPAGE"))
		e->homepage = intern_str(in, a, v, vlen);
	else if (VAR_IS("LICENSE"))
		e->license = intern_str(in, a, v, vlen);
	else if (VAR_IS("CATEGORIES"))
		e->categories = intern_str(in, a, v, vlen);
	else if (VAR_IS("PKGTOOLS_VERSION"))
		e->pkgtools_version = intern_str(in, a, v, vlen);
	/* other variables (PROVIDES, REQUIRES, SUPERSEDES, ...) are skipped */
	return 0;
}

int pkg_summary_parser_feed(struct pkg_summary_parser *p, const char *buf, size_t len, struct error **err)
{
	const char *s = buf, *end = buf + len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl) {
			sb_add(&p->partial, s, (size_t)(end - s));
			break;
		}
		p->line++;
		int rc;
		if (p->partial.len) {
			sb_add(&p->partial, s, (size_t)(nl - s));
			rc = parse_line(p, p->partial.buf, p->partial.len, err);
			sb_reset(&p->partial);
		} else {
			rc = parse_line(p, s, (size_t)(nl - s), err);
		}
		if (rc < 0)
			return -1;
		s = nl + 1;
	}
	return 0;
}

struct sort_item {
	struct pkg_entry *e;
	size_t seq;
};

static int cmp_item(const void *a, const void *b)
{
	const struct sort_item *x = a, *y = b;
	int c = strcmp(x->e->name, y->e->name);
	if (c)
		return c;
	c = pkg_version_cmp(y->e->version, x->e->version);   /* newest first */
	if (c)
		return c;
	c = strcmp(x->e->pkgname, y->e->pkgname);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_byname_r(const void *a, const void *b, void *ctx)
{
	const struct pkg_entry *pk = ctx;
	return strcmp(pk[*(const size_t *)a].pkgname, pk[*(const size_t *)b].pkgname);
}

static void build_indexes(struct pkg_summary *s)
{
	struct pkg_summary_priv *pv = s->priv;
	size_t runs = 0;
	for (size_t i = 0; i < s->n; i++)
		if (i == 0 || s->pkgs[i].name != s->pkgs[i - 1].name)
			runs++;
	size_t cap = 16;
	while (cap < runs * 2)
		cap *= 2;
	pv->names = xcalloc(cap, sizeof(*pv->names));
	pv->names_cap = cap;
	for (size_t i = 0; i < s->n;) {
		size_t j = i + 1;
		while (j < s->n && s->pkgs[j].name == s->pkgs[i].name)
			j++;
		const char *nm = s->pkgs[i].name;
		uint32_t h = fnv1a(nm, strlen(nm));
		size_t k = h & (cap - 1);
		while (pv->names[k].name)
			k = (k + 1) & (cap - 1);
		pv->names[k] = (struct name_slot){ nm, h, i, j - i };
		i = j;
	}
	pv->byname = xmalloc((s->n ? s->n : 1) * sizeof(size_t));
	for (size_t i = 0; i < s->n; i++)
		pv->byname[i] = i;
	qsort_r(pv->byname, s->n, sizeof(size_t), cmp_byname_r, s->pkgs);
}

struct pkg_summary *pkg_summary_parser_finish(struct pkg_summary_parser *p, struct error **err)
{
	struct pkg_summary *s = NULL;
	if (p->partial.len) {
		p->line++;
		int rc = parse_line(p, p->partial.buf, p->partial.len, err);
		sb_reset(&p->partial);
		if (rc < 0)
			goto out;
	}
	if (end_record(p, err) < 0)
		goto out;
	if (!p->n && p->n_skipped) {
		error_set(err, "%s: %s%s", p->label, p->skipped[0].reason,
				 p->n_skipped > 1 ? " (and no record is well-formed: is this a pkg_summary?)" : "");
		goto out;
	}

	/* sort, dropping duplicate PKGNAMEs (the first record wins) */
	struct sort_item *items = xmalloc((p->n ? p->n : 1) * sizeof(*items));
	for (size_t i = 0; i < p->n; i++)
		items[i] = (struct sort_item){ &p->pkgs[i], i };
	qsort(items, p->n, sizeof(*items), cmp_item);
	s = xcalloc(1, sizeof(*s));
	s->pkgs = xmalloc((p->n ? p->n : 1) * sizeof(*s->pkgs));
	for (size_t i = 0; i < p->n; i++) {
		if (s->n && strcmp(s->pkgs[s->n - 1].pkgname, items[i].e->pkgname) == 0)
			continue;
		s->pkgs[s->n++] = *items[i].e;
	}
	free(items);
	s->label = p->label;
	p->label = NULL;
	s->skipped = p->skipped;
	s->n_skipped = p->n_skipped;
	p->skipped = NULL;
	p->n_skipped = 0;
	s->priv = p->priv;
	p->priv = NULL;
	build_indexes(s);
out:
	pkg_summary_parser_free(p);
	return s;
}

void pkg_summary_free(struct pkg_summary *s)
{
	if (!s)
		return;
	priv_free(s->priv);
	free(s->pkgs);
	free(s->label);
	for (size_t i = 0; i < s->n_skipped; i++) {
		free(s->skipped[i].pkgname);
		free(s->skipped[i].reason);
	}
	free(s->skipped);
	free(s);
}

struct pkg_summary *pkg_summary_parse_buffer(const char *label, const char *data, size_t len, struct error **err)
{
	struct pkg_summary_parser *p = pkg_summary_parser_new(label);
	if (pkg_summary_parser_feed(p, data, len, err) < 0) {
		pkg_summary_parser_free(p);
		return NULL;
	}
	return pkg_summary_parser_finish(p, err);
}

/* Stream a plain or compressed file through `fn`. */
typedef int (*chunk_fn)(void *ctx, const char *buf, size_t len, struct error **err);

static int read_decompressed(const char *path, chunk_fn fn, void *ctx, struct error **err)
{
	int rc = -1;
	struct archive *a = archive_read_new();
	if (!a) {
		error_set(err, "%s: cannot create a libarchive reader", path);
		return -1;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	archive_read_support_format_empty(a);
	if (archive_read_open_filename(a, path, 64 * 1024) != ARCHIVE_OK) {
		error_set(err, "%s: cannot open: %s", path, archive_error_string(a));
		goto out;
	}
	struct archive_entry *ent;
	int r = archive_read_next_header(a, &ent);
	if (r == ARCHIVE_EOF) {
		rc = 0;
		goto out;
	}
	if (r < ARCHIVE_WARN) {
		error_set(err, "%s: cannot read: %s", path, archive_error_string(a));
		goto out;
	}
	char buf[64 * 1024];
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
		if (n < 0) {
			error_set(err, "%s: while decompressing: %s", path, archive_error_string(a));
			goto out;
		}
		if (n == 0)
			break;
		if (fn(ctx, buf, (size_t)n, err) < 0)
			goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	return rc;
}

static int feed_summary(void *ctx, const char *buf, size_t len, struct error **err)
{
	return pkg_summary_parser_feed(ctx, buf, len, err);
}

struct pkg_summary *pkg_summary_parse_file(const char *path, struct error **err)
{
	struct pkg_summary_parser *p = pkg_summary_parser_new(path);
	if (read_decompressed(path, feed_summary, p, err) < 0) {
		pkg_summary_parser_free(p);
		return NULL;
	}
	return pkg_summary_parser_finish(p, err);
}

static size_t find_n(const struct pkg_summary *s, const char *name, size_t len, size_t *count)
{
	*count = 0;
	if (!s || !name || !s->priv->names_cap)
		return SIZE_MAX;
	const struct pkg_summary_priv *pv = s->priv;
	uint32_t h = fnv1a(name, len);
	size_t k = h & (pv->names_cap - 1);
	while (pv->names[k].name) {
		if (pv->names[k].hash == h && strncmp(pv->names[k].name, name, len) == 0 &&
		    pv->names[k].name[len] == '\0') {
			*count = pv->names[k].count;
			return pv->names[k].first;
		}
		k = (k + 1) & (pv->names_cap - 1);
	}
	return SIZE_MAX;
}

size_t pkg_summary_find(const struct pkg_summary *s, const char *name, size_t *count)
{
	return find_n(s, name, name ? strlen(name) : 0, count);
}

const struct pkg_entry *pkg_summary_lookup(const struct pkg_summary *s, const char *pkgname)
{
	if (!s || !pkgname)
		return NULL;
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->pkgs[s->priv->byname[mid]].pkgname, pkgname);
		if (c == 0)
			return &s->pkgs[s->priv->byname[mid]];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

size_t pkg_summary_candidates(const struct pkg_summary *s, const char *pattern, size_t **out)
{
	*out = NULL;
	if (!s || !pattern || s->n == 0)
		return 0;
	size_t plen = pkg_pattern_prefix_len(pattern);
	size_t n = 0, cap = 0;
	size_t *v = NULL;
	if ((pattern[plen] == '<' || pattern[plen] == '>') && !strchr(pattern + plen, '{')) {
		/* dewey range: only the run of that exact base name can match */
		size_t cnt;
		size_t first = find_n(s, pattern, plen, &cnt);
		for (size_t i = 0; i < cnt; i++) {
			if (pkg_match(pattern, s->pkgs[first + i].pkgname)) {
				VEC_GROW(v, n, cap);
				v[n++] = first + i;
			}
		}
		*out = v;
		return n;
	}
	const size_t *by = s->priv->byname;
	size_t lo = 0, hi = s->n;
	while (lo < hi) {   /* first pkgname >= prefix */
		size_t mid = lo + (hi - lo) / 2;
		if (strncmp(s->pkgs[by[mid]].pkgname, pattern, plen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < s->n; i++) {
		const char *pn = s->pkgs[by[i]].pkgname;
		if (strncmp(pn, pattern, plen) != 0)
			break;
		if (pkg_match(pattern, pn)) {
			VEC_GROW(v, n, cap);
			v[n++] = by[i];
		}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_size);
	*out = v;
	return n;
}

/* ------------------------------------------------------------- digests */

static int cmp_digest(const void *a, const void *b)
{
	return strcmp(((const struct pkg_digest *)a)->file, ((const struct pkg_digest *)b)->file);
}

static bool is_hex128(const char *s, size_t n)
{
	if (n != 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static void push_digest(struct pkg_digests *d, size_t *cap, const char *file, size_t flen, const char *hex)
{
	const char *slash = memrchr(file, '/', flen);
	if (slash) {
		flen -= (size_t)(slash + 1 - file);
		file = slash + 1;
	}
	VEC_GROW(d->v, d->n, *cap);
	d->v[d->n].file = xstrndup(file, flen);
	d->v[d->n].sha512 = xstrndup(hex, 128);
	for (char *h = d->v[d->n].sha512; *h; h++)
		*h = (char)tolower((unsigned char)*h);
	d->n++;
}

int pkg_digests_parse(const char *label, const char *data, size_t len, struct pkg_digests *out, struct error **err)
{
	struct pkg_digests d = { 0 };
	size_t cap = 0, line = 0;
	const char *s = data, *end = data + len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		line++;
		size_t n = (size_t)(le - s);
		if (n && s[n - 1] == '\r')
			n--;
		if (n == 0 || s[0] == '#')
			goto next;
		if (n > 8 && memcmp(s, "SHA512 (", 8) == 0) {
			/* SHA512 (file) = hex */
			const char *close = NULL;
			for (const char *q = s + n - 1; q > s + 8; q--)
				if (q[0] == ')' && q + 3 < s + n && memcmp(q, ") = ", 4) == 0) {
					close = q;
					break;
				}
			if (!close || !is_hex128(close + 4, (size_t)(s + n - close - 4)))
				goto bad;
			push_digest(&d, &cap, s + 8, (size_t)(close - s - 8), close + 4);
		} else if (n > 130 && is_hex128(s, 128) && s[128] == ' ') {
			const char *f = s + 129;
			if (*f == ' ' || *f == '*')
				f++;
			if (f >= s + n)
				goto bad;
			push_digest(&d, &cap, f, (size_t)(s + n - f), s);
		} else if (n > 5 && memcmp(s, "SHA", 3) == 0) {
			goto next;   /* another algorithm's line: ignore */
		} else {
			goto bad;
		}
	next:
		s = nl ? nl + 1 : end;
		continue;
	bad:
		error_set(err, "%s: line %zu: expected \"SHA512 (file) = <128 hex digits>\"", label, line);
		pkg_digests_free(&d);
		return -1;
	}
	if (d.n > 1)
		qsort(d.v, d.n, sizeof(*d.v), cmp_digest);
	*out = d;
	return 0;
}

struct sb_sink {
	struct strbuf sb;
	const char *path;
};

static int feed_sb(void *ctx, const char *buf, size_t len, struct error **err)
{
	struct sb_sink *k = ctx;
	if (k->sb.len + len > 256u * 1024 * 1024) {
		error_set(err, "%s: digest list larger than 256 MiB; is this the right file?", k->path);
		return -1;
	}
	sb_add(&k->sb, buf, len);
	return 0;
}

int pkg_digests_parse_file(const char *path, struct pkg_digests *out, struct error **err)
{
	struct sb_sink k = { { 0 }, path };
	int rc = read_decompressed(path, feed_sb, &k, err);
	if (rc == 0)
		rc = pkg_digests_parse(path, k.sb.buf ? k.sb.buf : "", k.sb.len, out, err);
	sb_free(&k.sb);
	return rc;
}

const char *pkg_digests_get(const struct pkg_digests *d, const char *file)
{
	if (!d || !file)
		return NULL;
	file = path_basename(file);
	size_t lo = 0, hi = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(d->v[mid].file, file);
		if (c == 0)
			return d->v[mid].sha512;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void pkg_digests_free(struct pkg_digests *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].sha512);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

int pkg_verify_file(const char *path, const struct pkg_entry *e, const struct pkg_digests *d, struct error **err)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		error_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (e->file_size && (uint64_t)st.st_size != e->file_size) {
		error_set(err, "%s: size %llu bytes, the catalogue says %llu: the download is "
				 "truncated or the catalogue is stale; delete it and fetch again",
				 e->file_name, (unsigned long long)st.st_size,
				 (unsigned long long)e->file_size);
		return -1;
	}
	if (!d)
		return 0;
	const char *want = pkg_digests_get(d, e->file_name);
	if (!want) {
		error_set(err, "%s: not listed in the repository's SHA512 file; refusing an unverified package",
				 e->file_name);
		return -1;
	}
	char hex[129];
	if (digest_file_hex(DIGEST_SHA512, path, hex) < 0) {
		error_set(err, "%s: while computing SHA512: %s", path, strerror(errno));
		return -1;
	}
	if (strcmp(hex, want) != 0) {
		error_set(err, "%s: SHA512 mismatch (expected %.8s..., got %.8s...): the download is "
				 "corrupt or the repository's SHA512 list is stale; delete it and fetch again",
				 e->file_name, want, hex);
		return -1;
	}
	return 0;
}
