/* backend.c — load libsmolc-backend.so on first use (see backend.h). */
#include "backend.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "opt.h"
#include "util.h"

#ifndef SMOLC_BACKEND_SO
#define SMOLC_BACKEND_SO "libsmolc-backend.so"
#endif

static const struct smolc_backend_v1 *loaded;
static char *where;

/* The Debian package of each library the backend links, for the message
 * when one of them is missing (dlerror names the soname first). */
static const struct {
	const char *soname, *package;
} packages[] = {
	{"libarchive.so", "libarchive13"}, {"libcurl.so", "libcurl4"}, {"libext2fs.so", "libext2fs2"},
	{"libcom_err.so", "libcom-err2"},  {"libfdisk.so", "libfdisk1"}, {"libelf.so", "libelf1"},
	{"libz.so", "zlib1g"},             {"libzstd.so", "libzstd1"},  {"liblzma.so", "liblzma5"},
	{"libyaml-0.so", "libyaml-0-2"},   {"libjansson.so", "libjansson4"}, {"libcrypto.so", "libssl3"},
	{"libssl.so", "libssl3"},
};

static char *exe_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return path_dirname(buf);
}

const char *backend_path(void)
{
	free(where); /* looked up afresh: SMOLC_BACKEND may have changed */
	where = NULL;
	const char *env = getenv("SMOLC_BACKEND");
	if (env && *env) /* a path: dlopen() would search the library path for a bare name */
		return where = strchr(env, '/') ? xstrdup(env) : xasprintf("./%s", env);
	char *dir = exe_dir();
	if (!dir)
		return NULL;
	char *beside = xasprintf("%s/%s", dir, SMOLC_BACKEND_SO);
	char *installed = xasprintf("%s/../lib/smolc/%s", dir, SMOLC_BACKEND_SO);
	free(dir);
	if (access(beside, F_OK) == 0 || access(installed, F_OK) != 0) {
		free(installed);
		return where = beside;
	}
	free(beside);
	return where = installed;
}

int backend_load(const struct smolc_backend_v1 **out, struct error **err)
{
	if (loaded) {
		*out = loaded;
		return 0;
	}
	const char *path = backend_path();
	if (!path) {
		error_set(err, "cannot find the build backend " SMOLC_BACKEND_SO ": /proc/self/exe is unreadable; "
			     "set SMOLC_BACKEND to its path");
		return -1;
	}
	if (access(path, F_OK) != 0) {
		error_set(err, "cannot find the build backend %s: smolc is installed without it; "
			     "reinstall smolc ('make install' puts it in PREFIX/lib/smolc/) or set SMOLC_BACKEND to its path",
			path);
		return -1;
	}
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		why = why ? why : "unknown error";
		for (size_t i = 0; i < ARRAY_LEN(packages); i++)
			if (!strncmp(why, packages[i].soname, strlen(packages[i].soname))) {
				error_set(err, "cannot load the build backend %s: %s; install the library it needs "
					     "(Debian package %s: apt-get install %s) and retry",
					path, why, packages[i].package, packages[i].package);
				return -1;
			}
		/* "libfoo.so.1: cannot open shared object file": one of the
		 * libraries those need */
		const char *colon = strstr(why, ": cannot open shared object file");
		if (colon && !memchr(why, '/', (size_t)(colon - why))) {
			error_set(err, "cannot load the build backend %s: %s; install the package that provides %.*s "
				     "(apt-file search %.*s) and retry",
				path, why, (int)(colon - why), why, (int)(colon - why), why);
			return -1;
		}
		error_set(err, "cannot load the build backend %s: %s; reinstall smolc", path, why);
		return -1;
	}
	const struct smolc_backend_v1 *b = dlsym(h, "smolc_backend_v1");
	if (!b || !b->abi || strcmp(b->abi, SMOLC_BACKEND_ABI) || strcmp(b->version, SMOLC_VERSION)) {
		if (b && b->abi && b->version)
			error_set(err, "the build backend %s is not the one this smolc (%s, build %s) was built with "
				     "(it is %s, build %s); rebuild ('make') or reinstall smolc",
				path, SMOLC_VERSION, SMOLC_BACKEND_ABI, b->version, b->abi);
		else
			error_set(err, "the build backend %s is not the one this smolc (%s, build %s) was built with "
				     "(it has no smolc_backend_v1 table); rebuild ('make') or reinstall smolc",
				path, SMOLC_VERSION, SMOLC_BACKEND_ABI);
		dlclose(h);
		return -1;
	}
	loaded = b; /* the handle stays open for the life of the process */
	*out = b;
	return 0;
}

const struct smolc_backend_v1 *backend_get(void)
{
	const struct smolc_backend_v1 *b = loaded;
	if (!b) {
		struct error *err = NULL;
		if (backend_load(&b, &err) < 0) {
			error_print(stderr, err);
			error_clear(&err);
			exit(EXIT_FAIL);
		}
	}
	/* the backend has its own copy of the shared code, and so of its
	 * process-wide settings: they follow ours at every call */
	*b->debug = smol_debug_enabled;
	*b->dump_mode = opt_dump_mode;
	return b;
}
