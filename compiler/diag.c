/* diag.c — see diag.h. */
#include "diag.h"
#include "util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void diag_init(struct diag_ctx *d)
{
	memset(d, 0, sizeof(*d));
	d->max_errors = 20;
	/* index 0: the "no file" entry */
	VEC_GROW(d->files, d->nfiles, d->capfiles);
	memset(&d->files[0], 0, sizeof(d->files[0]));
	d->nfiles = 1;
	const char *c = getenv("SMOLC_COLOR");
	if (c && !strcmp(c, "always"))
		d->color = true;
	else if (c && !strcmp(c, "never"))
		d->color = false;
	else
		d->color = isatty(2) && !getenv("NO_COLOR");
}

static void diag_free_records(struct diag_ctx *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].msg);
		free(d->v[i].hint);
	}
	d->n = 0;
}

struct diag_mark diag_mark(const struct diag_ctx *d)
{
	return (struct diag_mark){d->n, d->errors, d->warnings, d->capped};
}

void diag_rollback(struct diag_ctx *d, struct diag_mark m)
{
	for (size_t i = m.n; i < d->n; i++) {
		free(d->v[i].msg);
		free(d->v[i].hint);
	}
	if (m.n < d->n)
		d->n = m.n;
	d->errors = m.errors;
	d->warnings = m.warnings;
	d->capped = m.capped;
}

void diag_fini(struct diag_ctx *d)
{
	diag_free_records(d);
	free(d->v);
	for (size_t i = 1; i < d->nfiles; i++) {
		free(d->files[i].path);
		free(d->files[i].realpath);
		free(d->files[i].data);
		free(d->files[i].lines);
	}
	free(d->files);
	memset(d, 0, sizeof(*d));
}

uint32_t diag_add_file(struct diag_ctx *d, const char *path, const char *realpath,
		       char *data, size_t len, struct loc included_from)
{
	VEC_GROW(d->files, d->nfiles, d->capfiles);
	struct srcfile *f = &d->files[d->nfiles];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	f->realpath = realpath ? xstrdup(realpath) : NULL;
	f->data = data;
	f->len = len;
	f->included_from = included_from;
	size_t cap = 64;
	f->lines = xmalloc(cap * sizeof(*f->lines));
	/* a UTF-8 byte-order mark is not part of the first line (nor of its
	 * columns or excerpt) */
	f->lines[f->nlines++] = len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3) ? 3 : 0;
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n' && i + 1 <= len) {
			if (f->nlines == cap) {
				cap *= 2;
				f->lines = xrealloc(f->lines, cap * sizeof(*f->lines));
			}
			f->lines[f->nlines++] = (uint32_t)(i + 1);
		}
	}
	return (uint32_t)d->nfiles++;
}

const struct srcfile *diag_file(const struct diag_ctx *d, uint32_t idx)
{
	return idx && idx < d->nfiles ? &d->files[idx] : NULL;
}

size_t diag_utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t need;
	unsigned min;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		need = 2;
		min = 0x80;
		c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		need = 3;
		min = 0x800;
		c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		need = 4;
		min = 0x10000;
		c &= 0x07;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return need;
}

/* Bytes of the character at data[i] (invalid bytes count as one). */
static size_t char_len(const char *data, size_t len, size_t i)
{
	size_t n = diag_utf8_len((const unsigned char *)data + i, len - i);
	return n ? n : 1;
}

/* Number of characters in data[from, to). */
static size_t count_chars(const char *data, size_t len, size_t from, size_t to)
{
	size_t n = 0;
	for (size_t i = from; i < to && i < len; i += char_len(data, len, i))
		n++;
	return n;
}

void diag_linecol(const struct diag_ctx *d, struct loc l, size_t *line, size_t *col)
{
	const struct srcfile *f = diag_file(d, l.file);
	*line = *col = 0;
	if (!f)
		return;
	size_t lo = 0, hi = f->nlines;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (f->lines[mid] <= l.off)
			lo = mid;
		else
			hi = mid;
	}
	*line = lo + 1;
	*col = l.off < f->lines[lo] ? 1 : count_chars(f->data, f->len, f->lines[lo], l.off) + 1;
}

static struct diag *diag_push(struct diag_ctx *d, enum diag_level lvl, struct loc l,
			      const char *fmt, va_list ap)
{
	if (lvl == DIAG_ERROR) {
		d->errors++;
		if (d->errors > d->max_errors) {
			d->capped = true;
			return NULL;
		}
	} else if (d->capped) {
		return NULL;
	} else if (lvl == DIAG_WARNING) {
		d->warnings++;
	}
	VEC_GROW(d->v, d->n, d->cap);
	struct diag *g = &d->v[d->n++];
	g->level = lvl;
	g->loc = l;
	g->msg = xvasprintf(fmt, ap);
	g->hint = NULL;
	return g;
}

struct diag *diag_error(struct diag_ctx *d, struct loc l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct diag *g = diag_push(d, DIAG_ERROR, l, fmt, ap);
	va_end(ap);
	return g;
}

struct diag *diag_warning(struct diag_ctx *d, struct loc l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct diag *g = diag_push(d, DIAG_WARNING, l, fmt, ap);
	va_end(ap);
	return g;
}

struct diag *diag_note(struct diag_ctx *d, struct loc l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct diag *g = diag_push(d, DIAG_NOTE, l, fmt, ap);
	va_end(ap);
	return g;
}

struct diag *diag_error_plain(struct diag_ctx *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct diag *g = diag_push(d, DIAG_ERROR, (struct loc){0, 0, 0}, fmt, ap);
	va_end(ap);
	return g;
}

void diag_hint(struct diag *g, const char *fmt, ...)
{
	if (!g)
		return;
	va_list ap;
	va_start(ap, fmt);
	free(g->hint);
	g->hint = xvasprintf(fmt, ap);
	va_end(ap);
}

struct diag *diag_error_record(struct diag_ctx *d, struct loc fallback, const struct error *e)
{
	struct loc at = e && e->loc.file ? e->loc : fallback;
	struct diag *g = diag_error(d, at, "%s", e && e->msg ? e->msg : "failed");
	if (e && e->hint)
		diag_hint(g, "%s", e->hint);
	return g;
}

bool diag_full(const struct diag_ctx *d)
{
	return d->errors >= d->max_errors;
}

struct loc loc_span(struct loc a, struct loc b)
{
	if (!a.file)
		return b;
	if (!b.file || a.file != b.file)
		return a;
	uint32_t start = a.off < b.off ? a.off : b.off;
	uint32_t end = a.off + a.len > b.off + b.len ? a.off + a.len : b.off + b.len;
	return (struct loc){a.file, start, end - start};
}

static const char *lvl_name(enum diag_level l)
{
	switch (l) {
	case DIAG_ERROR:
		return "error";
	case DIAG_WARNING:
		return "warning";
	case DIAG_NOTE:
		return "note";
	}
	abort();
}

static const char *lvl_color(enum diag_level l)
{
	switch (l) {
	case DIAG_ERROR:
		return "\033[1;31m";
	case DIAG_WARNING:
		return "\033[1;35m";
	case DIAG_NOTE:
		return "\033[1;36m";
	}
	abort();
}

/* Print a source line with a caret under the span. Tabs are kept in the
 * caret line so the caret aligns in a terminal; a UTF-8 character takes
 * one column; control characters and invalid bytes print as '?'. Lines
 * longer than 160 bytes are cut (at a character boundary). */
static void print_excerpt(struct diag_ctx *d, FILE *out, struct loc l, size_t line)
{
	const struct srcfile *f = diag_file(d, l.file);
	size_t start = f->lines[line - 1];
	size_t end = start;
	while (end < f->len && f->data[end] != '\n')
		end++;
	size_t shown = start;
	while (shown < end && shown - start < 160)
		shown += char_len(f->data, f->len, shown);
	if (shown > end)
		shown = end;
	bool cut = shown < end;
	if (l.off > shown)
		return; /* the caret would be off the shown part of a huge line */
	fprintf(out, "%5zu | ", line);
	for (size_t i = start; i < shown;) {
		unsigned char c = (unsigned char)f->data[i];
		size_t n = diag_utf8_len((const unsigned char *)f->data + i, f->len - i);
		if (!n || (c < 0x20 && c != '\t') || c == 0x7f) {
			fputc('?', out);
			i++;
		} else {
			fwrite(f->data + i, 1, n, out);
			i += n;
		}
	}
	fputs(cut ? " …\n" : "\n", out);
	fputs("      | ", out);
	for (size_t i = start; i < l.off; i += char_len(f->data, f->len, i))
		fputc(f->data[i] == '\t' ? '\t' : ' ', out);
	size_t span_end = (size_t)l.off + l.len;
	if (span_end > shown)
		span_end = shown;
	size_t width = span_end > l.off ? count_chars(f->data, f->len, l.off, span_end) : 0;
	if (d->color)
		fputs("\033[1;32m", out);
	fputc('^', out);
	for (size_t i = 1; i < width; i++)
		fputc('~', out);
	if (d->color)
		fputs("\033[0m", out);
	fputc('\n', out);
}

/* Diagnostics print in source order; a note stays after the record it
 * belongs to (group = a record and the notes that follow it). */
struct diag_group {
	size_t first, n;
	uint32_t file, off;
	size_t seq;
};

static int group_cmp(const void *a, const void *b)
{
	const struct diag_group *x = a, *y = b;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void diag_print_one(struct diag_ctx *d, FILE *out, struct diag *g);

void diag_print(struct diag_ctx *d, FILE *out)
{
	struct diag_group *gs = xcalloc(d->n + 1, sizeof(*gs));
	size_t ng = 0;
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].level == DIAG_NOTE && ng) {
			gs[ng - 1].n++;
			continue;
		}
		gs[ng] = (struct diag_group){i, 1, d->v[i].loc.file, d->v[i].loc.off, ng};
		ng++;
	}
	qsort(gs, ng, sizeof(*gs), group_cmp);
	for (size_t k = 0; k < ng; k++)
		for (size_t i = gs[k].first; i < gs[k].first + gs[k].n; i++)
			diag_print_one(d, out, &d->v[i]);
	free(gs);
	if (d->capped)
		fprintf(out, "smolc: too many errors; stopped after the first %zu\n", d->max_errors);
	diag_free_records(d);
	d->capped = false;
}

static void diag_print_one(struct diag_ctx *d, FILE *out, struct diag *g)
{
	{
		const struct srcfile *f = diag_file(d, g->loc.file);
		size_t line = 0, col = 0;
		if (d->color)
			fputs("\033[1m", out);
		if (f) {
			diag_linecol(d, g->loc, &line, &col);
			fprintf(out, "%s:%zu:%zu: ", f->path, line, col);
		} else {
			fputs("smolc: ", out);
		}
		/* messages carry untrusted text (entry names, URLs, server
		 * replies): escape control characters, keep the line breaks */
		struct strbuf mb;
		sb_init(&mb);
		sb_add_escaped(&mb, g->msg, true);
		if (d->color)
			fprintf(out, "%s%s:\033[0m\033[1m %s\033[0m\n", lvl_color(g->level), lvl_name(g->level), sb_cstr(&mb));
		else
			fprintf(out, "%s: %s\n", lvl_name(g->level), sb_cstr(&mb));
		if (f)
			print_excerpt(d, out, g->loc, line);
		if (g->hint) {
			sb_reset(&mb);
			sb_add_escaped(&mb, g->hint, true);
			fprintf(out, "  hint: %s\n", sb_cstr(&mb));
		}
		sb_free(&mb);
		/* include chain: "included from Smolfile:3:1", or for the
		 * base of FROM <recipe>, "base recipe of Smolfile:1:1" */
		for (const struct srcfile *cur = f; cur && cur->included_from.file;) {
			size_t l2, c2;
			diag_linecol(d, cur->included_from, &l2, &c2);
			const struct srcfile *inc = diag_file(d, cur->included_from.file);
			fprintf(out, "  note: %s %s:%zu:%zu\n", cur->from_base ? "base recipe named by FROM at" : "included from",
				inc->path, l2, c2);
			cur = inc;
		}
	}
}
