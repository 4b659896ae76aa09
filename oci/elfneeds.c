/* elfneeds.c — an ELF program's interpreter and DT_NEEDED closure (see
 * elfneeds.h). */
#include "elfneeds.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ELFDEPS_MAX 512

static const char *const sysdirs[] = {
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
};

/* What one object says it needs. */
struct elfinfo {
	char *interp;
	struct strvec needed;
	struct strvec runpath;  /* DT_RUNPATH or DT_RPATH entries, $ORIGIN expanded */
	bool dynamic;
};

static void elfinfo_clear(struct elfinfo *i)
{
	free(i->interp);
	sv_free(&i->needed);
	sv_free(&i->runpath);
	memset(i, 0, sizeof(*i));
}

static void add_runpath(struct elfinfo *info, const char *list, const char *origin)
{
	char *copy = xstrdup(list), *save = NULL;
	for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		if (str_startswith(p, "$ORIGIN"))
			sv_push(&info->runpath, xasprintf("%s%s", origin, p + 7));
		else if (str_startswith(p, "${ORIGIN}"))
			sv_push(&info->runpath, xasprintf("%s%s", origin, p + 9));
		else if (p[0] == '/')
			sv_pushdup(&info->runpath, p);
	}
	free(copy);
}

static int elf_read_info(const char *path, struct elfinfo *info, struct error **err)
{
	memset(info, 0, sizeof(*info));
	if (elf_version(EV_CURRENT) == EV_NONE) {
		error_set(err, "libelf: %s", elf_errmsg(-1));
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		error_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = -1;
	Elf *e = elf_begin(fd, ELF_C_READ, NULL);
	char *origin = NULL;
	if (!e || elf_kind(e) != ELF_K_ELF) {
		error_set(err, "%s: not an ELF file%s%s", path, e ? "" : ": ", e ? "" : elf_errmsg(-1));
		goto out;
	}
	size_t nph = 0;
	if (elf_getphdrnum(e, &nph) < 0) {
		error_set(err, "%s: reading the program headers: %s", path, elf_errmsg(-1));
		goto out;
	}
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph))
			continue;
		if (ph.p_type == PT_INTERP && ph.p_filesz > 1 && ph.p_filesz < PATH_MAX && !info->interp) {
			char buf[PATH_MAX];
			ssize_t n = pread(fd, buf, ph.p_filesz, (off_t)ph.p_offset);
			if (n != (ssize_t)ph.p_filesz || buf[n - 1] != 0 || strlen(buf) != (size_t)n - 1) {
				error_set(err, "%s: a damaged PT_INTERP", path);
				goto out;
			}
			info->interp = xstrdup(buf);
		}
	}
	char *rp = realpath(path, NULL);
	origin = rp ? path_dirname(rp) : xstrdup("/");
	free(rp);
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC)
			continue;
		info->dynamic = true;
		Elf_Data *d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		size_t cnt = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
		for (size_t k = 0; k < cnt; k++) {
			GElf_Dyn dyn;
			if (!gelf_getdyn(d, (int)k, &dyn) || dyn.d_tag == DT_NULL)
				break;
			if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RUNPATH && dyn.d_tag != DT_RPATH)
				continue;
			const char *s = elf_strptr(e, sh.sh_link, dyn.d_un.d_val);
			if (!s) {
				error_set(err, "%s: a damaged dynamic section: %s", path, elf_errmsg(-1));
				goto out;
			}
			if (dyn.d_tag == DT_NEEDED)
				sv_pushdup(&info->needed, s);
			else
				add_runpath(info, s, origin);
		}
	}
	rc = 0;
out:
	free(origin);
	if (e)
		elf_end(e);
	close(fd);
	if (rc < 0)
		elfinfo_clear(info);
	return rc;
}

static bool have(const struct elfdeps *d, const char *path)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].path, path))
			return true;
	return false;
}

static int push(struct elfdeps *d, const char *path, struct error **err)
{
	if (d->n >= ELFDEPS_MAX) {
		error_set(err, "%s: more than %d shared objects", path, ELFDEPS_MAX);
		return -1;
	}
	char *real = realpath(path, NULL);
	if (!real) {
		error_set(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	d->v = xrealloc(d->v, (d->n + 1) * sizeof(*d->v));
	d->v[d->n].path = xstrdup(path);
	d->v[d->n].real = real;
	d->n++;
	return 0;
}

/* Find soname as the loader would; NULL when nowhere. */
static char *find_lib(const char *soname, const struct strvec *runpath)
{
	if (strchr(soname, '/'))
		return access(soname, R_OK) == 0 ? xstrdup(soname) : NULL;
	for (size_t i = 0; i < runpath->n; i++) {
		char *p = path_join(runpath->v[i], soname);
		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	for (size_t i = 0; i < ARRAY_LEN(sysdirs); i++) {
		char *p = path_join(sysdirs[i], soname);
		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static int cmp_obj(const void *a, const void *b)
{
	return strcmp(((const struct elfdeps_obj *)a)->path, ((const struct elfdeps_obj *)b)->path);
}

int elfdeps_add(struct elfdeps *out, const char *prog, struct error **err)
{
	struct strvec todo = {0};
	int rc = -1;
	if (!have(out, prog)) {
		if (push(out, prog, err) < 0)
			goto out;
	}
	sv_pushdup(&todo, prog);
	bool root = true;
	/* breadth first over the objects still to read */
	for (size_t t = 0; t < todo.n; t++) {
		struct elfinfo info;
		if (elf_read_info(todo.v[t], &info, err) < 0)
			goto out;
		if (root) {
			out->is_static = !info.interp && !info.needed.n;
			root = false;
		}
		if (info.interp && !have(out, info.interp)) {
			if (push(out, info.interp, err) < 0) {
				elfinfo_clear(&info);
				goto out;
			}
		}
		for (size_t k = 0; k < info.needed.n; k++) {
			char *p = find_lib(info.needed.v[k], &info.runpath);
			if (!p) {
				error_set(err, "%s needs %s, which is in none of the library directories", todo.v[t],
						 info.needed.v[k]);
				elfinfo_clear(&info);
				goto out;
			}
			if (!have(out, p)) {
				if (push(out, p, err) < 0) {
					free(p);
					elfinfo_clear(&info);
					goto out;
				}
				sv_push(&todo, p);
			} else {
				free(p);
			}
		}
		elfinfo_clear(&info);
	}
	qsort(out->v, out->n, sizeof(*out->v), cmp_obj);
	rc = 0;
out:
	sv_free(&todo);
	return rc;
}

void elfdeps_free(struct elfdeps *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].path);
		free(d->v[i].real);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}
