/* pkgdb.c — +CONTENTS / +BUILD_INFO parsing and pkg_add-style
 * registration records (see pkgdb.h).
 *
 * The packing list keeps one entry per line; file entries borrow the
 * @cwd/@mode/@owner/@group state in effect (pointers into the earlier
 * entries' own strings, which never move). "@comment MD5:<hex>" lines
 * attach to the file line before them. Registration works on the whole
 * set at once, so +REQUIRED_BY can be computed from every package's
 * @pkgdep lines without touching a filesystem. */
#include "pkgdb.h"
#include "pkg_match.h"
#include "pkg_version.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct directive {
	const char *word;
	enum pkg_plist_kind kind;
};

static const struct directive directives[] = {
	{ "name", PLIST_NAME },     { "cwd", PLIST_CWD },       { "cd", PLIST_CWD },
	{ "pkgdep", PLIST_PKGDEP }, { "blddep", PLIST_BLDDEP }, { "pkgcfl", PLIST_PKGCFL },
	{ "comment", PLIST_COMMENT }, { "mode", PLIST_MODE },   { "owner", PLIST_OWNER },
	{ "group", PLIST_GROUP },   { "exec", PLIST_EXEC },     { "unexec", PLIST_UNEXEC },
	{ "dirrm", PLIST_DIRRM },   { "display", PLIST_DISPLAY }, { "ignore", PLIST_IGNORE },
	{ "option", PLIST_OPTION }, { "src", PLIST_SRC },       { "pkgdir", PLIST_PKGDIR },
};

bool pkg_path_is_safe(const char *rel)
{
	if (!rel || !*rel || rel[0] == '/')
		return false;
	const char *p = rel;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		if (!slash)
			break;
		p = slash + 1;
	}
	return true;
}

void pkg_plist_free(struct pkg_plist *pl)
{
	if (!pl)
		return;
	for (size_t i = 0; i < pl->n; i++) {
		free(pl->v[i].arg);
		free(pl->v[i].directive);
	}
	free(pl->v);
	memset(pl, 0, sizeof(*pl));
}

static void rtrim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

int pkg_plist_parse(const char *text, size_t len, struct pkg_plist *out, struct error **err)
{
	struct pkg_plist pl = { 0 };
	const char *cwd = NULL, *mode = NULL, *owner = NULL, *group = NULL;
	long last_file = -1;
	bool ignore_next = false;
	size_t line = 0;
	const char *s = text, *end = text + len;
	if (memchr(text, '\0', len)) {
		error_set(err, "+CONTENTS: contains a NUL byte; the package is damaged");
		return -1;
	}
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		char *ln = xstrndup(s, (size_t)(le - s));
		s = nl ? nl + 1 : end;
		line++;
		rtrim(ln);
		if (!*ln) {
			free(ln);
			continue;
		}
		struct pkg_plist_entry e = { 0 };
		if (ln[0] == '@') {
			size_t wl = strcspn(ln + 1, " \t");
			char *arg = ln + 1 + wl;
			arg += strspn(arg, " \t");
			e.kind = PLIST_UNKNOWN;
			for (size_t i = 0; i < ARRAY_LEN(directives); i++)
				if (strlen(directives[i].word) == wl && strncmp(ln + 1, directives[i].word, wl) == 0)
					e.kind = directives[i].kind;
			if (e.kind == PLIST_UNKNOWN)
				e.directive = xstrndup(ln + 1, wl);
			e.arg = xstrdup(arg);
			free(ln);
		} else {
			e.kind = PLIST_FILE;
			e.arg = ln;
		}
		switch (e.kind) {
		case PLIST_FILE:
			if (!pkg_path_is_safe(e.arg)) {
				error_set(err, "+CONTENTS: line %zu: file \"%s\" escapes the prefix", line, e.arg);
				goto fail_entry;
			}
			e.cwd = cwd;
			e.mode = mode;
			e.owner = owner;
			e.group = group;
			e.ignored = ignore_next;
			ignore_next = false;
			if (!e.ignored)
				pl.n_files++;
			break;
		case PLIST_CWD:
			if (!(e.arg[0] == '/' || strcmp(e.arg, ".") == 0) || strstr(e.arg, "/../") ||
			    str_endswith(e.arg, "/..")) {
				error_set(err, "+CONTENTS: line %zu: @cwd \"%s\" is not an absolute path", line, e.arg);
				goto fail_entry;
			}
			break;
		case PLIST_DIRRM:
		case PLIST_PKGDIR:
			if (!pkg_path_is_safe(e.arg)) {
				error_set(err, "+CONTENTS: line %zu: @%s \"%s\" escapes the prefix", line,
						 e.kind == PLIST_DIRRM ? "dirrm" : "pkgdir", e.arg);
				goto fail_entry;
			}
			break;
		case PLIST_NAME:
			if (!*e.arg || strchr(e.arg, '/')) {
				error_set(err, "+CONTENTS: line %zu: bad @name \"%s\"", line, e.arg);
				goto fail_entry;
			}
			break;
		case PLIST_IGNORE:
			ignore_next = true;
			break;
		default:
			break;
		}
		VEC_GROW(pl.v, pl.n, pl.cap);
		pl.v[pl.n] = e;
		struct pkg_plist_entry *st = &pl.v[pl.n];
		switch (e.kind) {
		case PLIST_CWD:
			cwd = st->arg;
			if (!pl.first_cwd)
				pl.first_cwd = st->arg;
			break;
		case PLIST_MODE:
			mode = *st->arg ? st->arg : NULL;
			break;
		case PLIST_OWNER:
			owner = *st->arg ? st->arg : NULL;
			break;
		case PLIST_GROUP:
			group = *st->arg ? st->arg : NULL;
			break;
		case PLIST_NAME:
			if (!pl.name)
				pl.name = st->arg;
			break;
		case PLIST_FILE:
			last_file = (long)pl.n;
			break;
		case PLIST_COMMENT:
			if (last_file >= 0 && str_startswith(st->arg, "MD5:") && !pl.v[last_file].md5)
				pl.v[last_file].md5 = st->arg + 4;
			break;
		default:
			break;
		}
		pl.n++;
		continue;
	fail_entry:
		free(e.arg);
		free(e.directive);
		pkg_plist_free(&pl);
		return -1;
	}
	*out = pl;
	return 0;
}

void pkg_build_info_free(struct pkg_build_info *bi)
{
	if (!bi)
		return;
	free(bi->localbase);
	free(bi->opsys);
	free(bi->os_version);
	free(bi->machine_arch);
	free(bi->pkg_dbdir);
	free(bi->pkgtools_version);
	memset(bi, 0, sizeof(*bi));
}

int pkg_build_info_parse(const char *text, size_t len, struct pkg_build_info *out, struct error **err)
{
	struct pkg_build_info bi = { 0 };
	if (memchr(text, '\0', len)) {
		error_set(err, "+BUILD_INFO: contains a NUL byte; the package is damaged");
		return -1;
	}
	struct { const char *key; char **dst; } keys[] = {
		{ "LOCALBASE", &bi.localbase }, { "OPSYS", &bi.opsys },
		{ "OS_VERSION", &bi.os_version }, { "MACHINE_ARCH", &bi.machine_arch },
		{ "PKG_DBDIR", &bi.pkg_dbdir }, { "PKGTOOLS_VERSION", &bi.pkgtools_version },
	};
	const char *s = text, *end = text + len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		const char *eq = memchr(s, '=', (size_t)(le - s));
		if (eq) {
			size_t kl = (size_t)(eq - s);
			size_t vl = (size_t)(le - eq - 1);
			if (vl && eq[vl] == '\r')
				vl--;
			for (size_t i = 0; i < ARRAY_LEN(keys); i++)
				if (strlen(keys[i].key) == kl && memcmp(s, keys[i].key, kl) == 0 && !*keys[i].dst)
					*keys[i].dst = xstrndup(eq + 1, vl);
		}
		s = nl ? nl + 1 : end;
	}
	*out = bi;
	return 0;
}

int pkg_build_info_check(const char *pkgname, const struct pkg_build_info *bi,
			 const char *opsys, const char *machine_arch, struct error **err)
{
	const char *missing = !bi->opsys ? "OPSYS" : !bi->os_version ? "OS_VERSION"
			    : !bi->machine_arch ? "MACHINE_ARCH" : NULL;
	if (missing) {
		error_set(err, "%s: +BUILD_INFO has no %s; the package is damaged or not for pkg_add",
				 pkgname, missing);
		return -1;
	}
	if ((opsys && strcmp(opsys, bi->opsys) != 0) ||
	    (machine_arch && strcmp(machine_arch, bi->machine_arch) != 0)) {
		error_set(err, "%s: built for %s/%s, the image is %s/%s; use a repository for this ARCH",
				 pkgname, bi->opsys, bi->machine_arch, opsys ? opsys : bi->opsys,
				 machine_arch ? machine_arch : bi->machine_arch);
		return -1;
	}
	return 0;
}

char *pkgdb_default_dir(const char *localbase)
{
	return path_join(localbase && *localbase ? localbase : "/usr/pkg", "pkgdb");
}

bool pkgdb_is_meta_name(const char *name)
{
	if (!name)
		return false;
	if (name[0] == '.' && name[1] == '/')
		name += 2;
	return name[0] == '+' && name[1] != '\0' && !strchr(name, '/');
}

unsigned pkgdb_meta_mode(const char *name)
{
	if (strcmp(name, "+CONTENTS") == 0 || strcmp(name, "+REQUIRED_BY") == 0 ||
	    strcmp(name, "+INSTALLED_INFO") == 0)
		return 0644;
	if (strcmp(name, "+INSTALL") == 0 || strcmp(name, "+DEINSTALL") == 0)
		return 0555;
	return 0444;
}

static void files_push(struct pkgdb_files *f, char *path, unsigned mode, const char *data, size_t len)
{
	VEC_GROW(f->v, f->n, f->cap);
	struct pkgdb_file *o = &f->v[f->n++];
	o->path = path;
	o->mode = mode;
	o->data = xmalloc(len + 1);
	memcpy(o->data, data, len);
	o->data[len] = '\0';
	o->len = len;
}

void pkgdb_files_free(struct pkgdb_files *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].path);
		free(f->v[i].data);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static const struct pkg_meta_file *find_meta(const struct pkgdb_pkg *p, const char *name)
{
	for (size_t i = 0; i < p->n_meta; i++) {
		const char *nm = p->meta[i].name;
		if (nm[0] == '.' && nm[1] == '/')
			nm += 2;
		if (strcmp(nm, name) == 0)
			return &p->meta[i];
	}
	return NULL;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct pkgdb_file *)a)->path, ((const struct pkgdb_file *)b)->path);
}

int pkgdb_register(const char *dbdir, const struct pkgdb_pkg *pkgs, size_t n,
		   struct pkgdb_files *out, struct error **err)
{
	int rc = -1;
	struct pkgdb_files res = { 0 };
	struct pkg_plist *plists = xcalloc(n ? n : 1, sizeof(*plists));
	const char **names = xcalloc(n ? n : 1, sizeof(*names));
	struct strbuf *reqby = xcalloc(n ? n : 1, sizeof(*reqby));
	size_t done = 0;

	if (!dbdir || dbdir[0] != '/') {
		error_set(err, "PKG_DBDIR \"%s\" must be an absolute path", dbdir ? dbdir : "");
		goto out;
	}
	for (; done < n; done++) {
		const struct pkgdb_pkg *p = &pkgs[done];
		const char *label = p->pkgname ? p->pkgname : "package";
		const struct pkg_meta_file *contents = find_meta(p, "+CONTENTS");
		if (!contents) {
			error_set(err, "%s: package has no +CONTENTS; it is not a pkgsrc binary package", label);
			goto out;
		}
		struct error *e2 = NULL;
		if (pkg_plist_parse(contents->data, contents->len, &plists[done], &e2) < 0) {
			error_set(err, "%s: %s", label, error_msg(e2));
			error_clear(&e2);
			goto out;
		}
		const char *nm = plists[done].name;
		if (!p->pkgname && !nm) {
			error_set(err, "package: +CONTENTS has no @name line");
			goto out;
		}
		if (p->pkgname && nm && strcmp(p->pkgname, nm) != 0) {
			error_set(err, "%s: +CONTENTS says @name %s; the package file does not match its catalogue entry",
					 p->pkgname, nm);
			goto out;
		}
		names[done] = p->pkgname ? p->pkgname : nm;
		if (!plists[done].first_cwd) {
			error_set(err, "%s: +CONTENTS has no @cwd line; it is not a pkgsrc binary package",
					 names[done]);
			goto out;
		}
		if (strchr(names[done], '/') || strcmp(names[done], ".") == 0 || strcmp(names[done], "..") == 0) {
			error_set(err, "%s: package name contains '/'", names[done]);
			goto out;
		}
		static const char *const required[] = { "+COMMENT", "+DESC" };
		for (size_t r = 0; r < ARRAY_LEN(required); r++) {
			if (!find_meta(p, required[r])) {
				error_set(err, "%s: package has no %s; it is not a pkgsrc binary package",
						 names[done], required[r]);
				goto out;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct pkgdb_pkg *p = &pkgs[i];
		char *dir = path_join(dbdir, names[i]);
		for (size_t m = 0; m < p->n_meta; m++) {
			const char *mn = p->meta[m].name;
			if (mn[0] == '.' && mn[1] == '/')
				mn += 2;
			if (!pkgdb_is_meta_name(mn)) {
				error_set(err, "%s: metadata entry \"%s\" is not a +FILE name", names[i], p->meta[m].name);
				free(dir);
				goto out;
			}
			if (strcmp(mn, "+REQUIRED_BY") == 0 || strcmp(mn, "+INSTALLED_INFO") == 0)
				continue;   /* per-installation state, never taken from the archive */
			files_push(&res, path_join(dir, mn), pkgdb_meta_mode(mn), p->meta[m].data, p->meta[m].len);
		}
		if (p->automatic)
			files_push(&res, path_join(dir, "+INSTALLED_INFO"), 0644, "automatic=yes\n", 14);
		free(dir);
		/* this package is required by ... : record it on its dependencies */
		for (size_t e = 0; e < plists[i].n; e++) {
			if (plists[i].v[e].kind != PLIST_PKGDEP)
				continue;
			const char *pat = plists[i].v[e].arg;
			long best = -1;
			for (size_t j = 0; j < n; j++) {
				if (j == i || !pkg_match(pat, names[j]))
					continue;
				if (best < 0) {
					best = (long)j;
					continue;
				}
				const char *vj = strrchr(names[j], '-'), *vb = strrchr(names[best], '-');
				int c = pkg_version_cmp(vj ? vj + 1 : "", vb ? vb + 1 : "");
				if (c > 0 || (c == 0 && strcmp(names[j], names[best]) < 0))
					best = (long)j;
			}
			if (best < 0)
				continue;   /* provided by an earlier layer: nothing to record here */
			struct strbuf *rb = &reqby[best];
			/* no duplicate lines */
			size_t nl = strlen(names[i]);
			bool dup = false;
			for (const char *q = rb->buf; q && *q;) {
				const char *qe = strchr(q, '\n');
				if ((size_t)(qe - q) == nl && memcmp(q, names[i], nl) == 0)
					dup = true;
				q = qe + 1;
			}
			if (!dup) {
				sb_adds(rb, names[i]);
				sb_addc(rb, '\n');
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!reqby[i].len)
			continue;
		char *dir = path_join(dbdir, names[i]);
		files_push(&res, path_join(dir, "+REQUIRED_BY"), 0644, reqby[i].buf, reqby[i].len);
		free(dir);
	}
	qsort(res.v, res.n, sizeof(*res.v), cmp_file);
	for (size_t i = 0; i < res.n; i++) {
		VEC_GROW(out->v, out->n, out->cap);
		out->v[out->n++] = res.v[i];
	}
	free(res.v);
	res.v = NULL;
	res.n = 0;
	rc = 0;
out:
	pkgdb_files_free(&res);
	for (size_t i = 0; i < n; i++) {
		pkg_plist_free(&plists[i]);
		sb_free(&reqby[i]);
	}
	free(plists);
	free(names);
	free(reqby);
	return rc;
}

void pkg_meta_set_free(struct pkg_meta_set *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free((char *)m->v[i].name);
		free((char *)m->v[i].data);
	}
	free(m->v);
	memset(m, 0, sizeof(*m));
}

#define META_MAX (16u * 1024 * 1024)

static const char *const known_meta[] = {
	"+CONTENTS", "+COMMENT", "+DESC", "+INSTALL", "+DEINSTALL", "+DISPLAY",
	"+MTREE_DIRS", "+BUILD_VERSION", "+BUILD_INFO", "+SIZE_PKG", "+SIZE_ALL",
	"+PRESERVE", "+VIEWS", "+REQUIRED_BY", "+INSTALLED_INFO",
};

int pkgdb_read_meta(const char *path, struct pkg_meta_set *out, struct error **err)
{
	int rc = -1;
	struct pkg_meta_set m = { 0 };
	struct archive *a = archive_read_new();
	if (!a) {
		error_set(err, "%s: cannot create a libarchive reader", path);
		return -1;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 64 * 1024) != ARCHIVE_OK) {
		error_set(err, "%s: cannot open package: %s", path, archive_error_string(a));
		goto out;
	}
	for (;;) {
		struct archive_entry *ent;
		int r = archive_read_next_header(a, &ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			error_set(err, "%s: not a readable package: %s", path, archive_error_string(a));
			goto out;
		}
		const char *name = archive_entry_pathname(ent);
		if (!name)
			break;
		if (name[0] == '.' && name[1] == '/')
			name += 2;
		bool known = false;
		for (size_t k = 0; k < ARRAY_LEN(known_meta); k++)
			if (strcmp(name, known_meta[k]) == 0)
				known = true;
		if (!known)
			break;     /* the package's files start here */
		for (size_t k = 0; k < m.n; k++) {
			if (strcmp(m.v[k].name, name) == 0) {
				error_set(err, "%s: metadata entry \"%s\" appears twice; the package is corrupt",
						 path, name);
				goto out;
			}
		}
		la_int64_t size = archive_entry_size(ent);
		if (size < 0 || (uint64_t)size > META_MAX) {
			error_set(err, "%s: metadata entry \"%s\" is larger than 16 MiB", path, name);
			goto out;
		}
		char *buf = xmalloc((size_t)size + 1);
		size_t got = 0;
		while (got < (size_t)size) {
			la_ssize_t n = archive_read_data(a, buf + got, (size_t)size - got);
			if (n < 0) {
				error_set(err, "%s: while reading \"%s\": %s", path, name, archive_error_string(a));
				free(buf);
				goto out;
			}
			if (n == 0)
				break;
			got += (size_t)n;
		}
		if (got != (size_t)size) {
			error_set(err, "%s: \"%s\" is truncated", path, name);
			free(buf);
			goto out;
		}
		buf[got] = '\0';
		VEC_GROW(m.v, m.n, m.cap);
		m.v[m.n++] = (struct pkg_meta_file){ xstrdup(name), buf, got };
	}
	if (m.n == 0 || strcmp(m.v[0].name, "+CONTENTS") != 0) {
		error_set(err, "%s: does not start with +CONTENTS; it is not a pkgsrc binary package", path);
		goto out;
	}
	*out = m;
	memset(&m, 0, sizeof(m));
	rc = 0;
out:
	pkg_meta_set_free(&m);
	archive_read_free(a);
	return rc;
}
