/* lockfile.h — Smolfile.lock: every remote input pinned to a digest.
 *
 * `smolc lock` writes it beside the Smolfile; `smolc build` then installs
 * exactly what it names: sets and kernels are fetched with the locked
 * digest as their pin (a changed file is an error, not a new build), and
 * a PKGS step installs the locked packages without resolving again.
 *
 * Format (text, one record per line, fields separated by one TAB; '#'
 * starts a comment line):
 *   smolc-lock 1
 *   <step title>\t<input>\t<url>\t<digest>
 * e.g.
 *   SETS base\tset base\thttps://…/base.tar.xz\tsha512:…
 *   PKGS nginx\tpkg nginx-1.25.3nb2\thttps://…/All/nginx-1.25.3nb2.tgz\tsha512:…
 *   KERNEL\tkernel\thttps://…/netbsd-SMOL\tsha256:…
 * Records keep the plan's order. The step title is the one `smolc plan`
 * prints, so editing an instruction makes its records stale (ignored,
 * with a warning) and `smolc lock` refreshes them. */
#ifndef SMOLC_LOCKFILE_H
#define SMOLC_LOCKFILE_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

struct lock_rec {
	char *step, *what, *url, *digest;
};

struct lockfile {
	char *path;
	struct lock_rec *v;
	size_t n;
	bool *used;        /* per record: consumed by the plan */
};

/* Read path. Returns the lock file, NULL with *err == NULL when it does
 * not exist, or NULL with *err (error.h) when it is malformed. */
struct lockfile *lockfile_read(const char *path, struct error **err);
void lockfile_free(struct lockfile *l);

/* Records of a step, in order; *n set. Marks them used. Borrowed. */
const struct lock_rec *lockfile_step(struct lockfile *l, const char *step, size_t *n);
/* The record of one input of a step, or NULL. Marks it used. */
const struct lock_rec *lockfile_input(struct lockfile *l, const char *step, const char *what);

struct plan;
/* Write the plan's remote inputs (URLs, not local paths) atomically.
 * Returns 0 or -1 with *err. */
int lockfile_write(const char *path, const struct plan *p, struct error **err);

/* "<dir of smolfile>/<basename>.lock". Caller frees. */
char *lockfile_path_for(const char *smolfile);

#endif
