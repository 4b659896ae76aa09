/* lockfile.c — see lockfile.h. */
#include "lockfile.h"
#include "fetch.h"
#include "plan_types.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *lockfile_path_for(const char *smolfile)
{
	return xasprintf("%s.lock", smolfile);
}

void lockfile_free(struct lockfile *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].step);
		free(l->v[i].what);
		free(l->v[i].url);
		free(l->v[i].digest);
	}
	free(l->v);
	free(l->used);
	free(l->path);
	free(l);
}

struct lockfile *lockfile_read(const char *path, struct error **err)
{
	char *data;
	size_t len;
	*err = NULL;
	if (read_file(path, 16u << 20, &data, &len) < 0) {
		if (errno != ENOENT)
			error_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct lockfile *l = xcalloc(1, sizeof(*l));
	l->path = xstrdup(path);
	size_t lineno = 0, cap = 0;
	bool header = false;
	for (char *save = NULL, *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (!*line || line[0] == '#')
			continue;
		if (!header) {
			if (strcmp(line, "smolc-lock 1")) {
				error_set(err, "%s:%zu: not a smolc lock file (expected 'smolc-lock 1'); delete it and run smolc lock",
						 path, lineno);
				goto bad;
			}
			header = true;
			continue;
		}
		char *f[4];
		char *s = line;
		int nf = 0;
		for (; nf < 4 && s; nf++) {
			f[nf] = s;
			s = strchr(s, '\t');
			if (s)
				*s++ = 0;
		}
		if (nf != 4 || s || !*f[0] || !*f[2] || !*f[3]) {
			error_set(err, "%s:%zu: malformed record (expected 4 tab-separated fields); run smolc lock --update-lock",
					 path, lineno);
			goto bad;
		}
		VEC_GROW(l->v, l->n, cap);
		l->v[l->n++] = (struct lock_rec){xstrdup(f[0]), xstrdup(f[1]), xstrdup(f[2]), xstrdup(f[3])};
	}
	if (!header) {
		error_set(err, "%s: empty lock file; run smolc lock", path);
		goto bad;
	}
	l->used = xcalloc(l->n + 1, sizeof(bool));
	free(data);
	return l;
bad:
	free(data);
	lockfile_free(l);
	return NULL;
}

const struct lock_rec *lockfile_step(struct lockfile *l, const char *step, size_t *n)
{
	*n = 0;
	const struct lock_rec *first = NULL;
	for (size_t i = 0; l && i < l->n; i++) {
		if (strcmp(l->v[i].step, step))
			continue;
		if (!first)
			first = &l->v[i];
		else if (&l->v[i] != first + *n)
			break; /* only one contiguous group */
		l->used[i] = true;
		(*n)++;
	}
	return first;
}

const struct lock_rec *lockfile_input(struct lockfile *l, const char *step, const char *what)
{
	for (size_t i = 0; l && i < l->n; i++) {
		if (!strcmp(l->v[i].step, step) && !strcmp(l->v[i].what, what)) {
			l->used[i] = true;
			return &l->v[i];
		}
	}
	return NULL;
}

static void rec(struct strbuf *sb, const char *step, const struct plan_input *in)
{
	if (!in->source || !in->digest || !fetch_is_url(in->source) || str_startswith(in->source, "file:"))
		return;
	sb_printf(sb, "%s\t%s\t%s\t%s\n", step, in->what, in->source, in->digest);
}

int lockfile_write(const char *path, const struct plan *p, struct error **err)
{
	struct strbuf sb;
	sb_init(&sb);
	sb_adds(&sb, "# Smolfile.lock — written by `smolc lock`; commit it beside the Smolfile.\n"
		     "# smolc build installs exactly these inputs. Refresh: smolc lock --update-lock\n"
		     "smolc-lock 1\n");
	for (size_t i = 0; i < p->n; i++)
		for (size_t k = 0; k < p->v[i].nin; k++)
			rec(&sb, p->v[i].title, &p->v[i].in[k]);
	rec(&sb, "KERNEL", &p->kernel);
	rec(&sb, "INITRD", &p->initrd);
	int rc = write_file_atomic(path, sb.buf, sb.len, 0644);
	if (rc < 0)
		error_set(err, "writing %s: %s", path, strerror(errno));
	sb_free(&sb);
	return rc;
}
