/* minimize.h — MINIMIZE: which entries of an image its service needs.
 *
 * Given the tree built so far and the roots the recipe names (KEEP paths,
 * globs and packages; the programs its RC and CMD run), compute the set
 * of entries to keep and write the rest as whiteouts of a layer:
 *   - always kept: /etc and /dev whole, the skeleton directories (/bin,
 *     /sbin, /lib, /libexec, /usr/…, /var/…, /tmp, /proc …: the
 *     directories themselves), /sbin/init, and the programs of the
 *     image's /etc/rc (scanned with rcscan.h, as are the files it
 *     sources; a program missing from them is a warning);
 *   - every root, its ancestors, the symlinks on the way to it (each
 *     component is resolved inside the image, never on the host);
 *   - for each kept file: a "#!" script's interpreter; an ELF file's
 *     PT_INTERP and, transitively, its DT_NEEDED libraries, looked up as
 *     the target's loader does: DT_RPATH (when there is no DT_RUNPATH),
 *     then DT_RUNPATH, with $ORIGIN (the directory of the object, after
 *     symlinks), then the profile's default directories (netbsd:
 *     /usr/lib /lib /usr/pkg/lib; linux: /usr/local/lib, /lib/<triplet>,
 *     /usr/lib/<triplet>, /lib, /usr/lib, /lib64, /usr/lib64). A
 *     candidate of another ELF class or machine is skipped, as the
 *     loader skips it.
 * A directory kept by KEEP is kept whole; a directory reached only on
 * the way to a kept entry keeps just that entry.
 *
 * Bounded: each entry is analysed once; symlink chains stop after 40
 * links; work is linear in the tree and the kept files' headers.
 *
 * Ownership: struct minimize owns its messages and reasons; the tree and
 * the roots are borrowed for its whole life (reasons point into roots). */
#ifndef SMOLC_MINIMIZE_H
#define SMOLC_MINIMIZE_H

#include "error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fstree.h"

struct layer_writer;

enum minimize_root_kind {
	MROOT_KEEP,        /* an absolute path or an fnmatch glob ('*' crosses '/'); a
			      directory is kept whole */
	MROOT_PKG,         /* a package name: its pkgdb entry and its +CONTENTS files */
	MROOT_PROG,        /* a program as a script names it: absolute, or found on PATH */
	MROOT_SCRIPT,      /* a shell script in the image whose programs are kept */
};

struct minimize_root {
	enum minimize_root_kind kind;
	const char *arg;   /* the path, glob, package name or program word */
	const char *why;   /* the reason shown by --explain-minimize ("KEEP /usr/bin/curl") */
	bool required;     /* not found: an error (else a warning) */
	const void *ctx;   /* the caller's (e.g. a location), given back with messages */
};

struct minimize_msg {
	bool error;
	char *text;                      /* one line, naming the entry */
	const struct minimize_root *root;/* the root it is about, or NULL */
};

struct minimize_opts {
	const char *profile;             /* "netbsd" or "linux" */
	const char *path;                /* PATH for bare program names ("/bin:/usr/bin"); NULL: the profile's */
	const struct minimize_root *roots;
	size_t nroots;
};

struct minimize_stats {
	uint64_t kept_files, kept_bytes;     /* non-directories kept, regular file bytes */
	uint64_t dropped_files, dropped_bytes;
};

struct minimize;

/* Compute the keep set of t (not modified). Never NULL. */
struct minimize *minimize_run(struct fstree *t, const struct minimize_opts *o);

/* The messages, in the order they were found. */
const struct minimize_msg *minimize_msgs(const struct minimize *m, size_t *n);

/* Whether path is kept (for tests). */
bool minimize_keeps(const struct minimize *m, const char *path);

/* Write a whiteout into w for each dropped entry (the topmost of a
 * dropped subtree); fill *st (may be NULL). Returns 0 or -1 + *err. */
int minimize_write(struct minimize *m, struct layer_writer *w, struct minimize_stats *st, struct error **err);

/* List every non-directory: "keep <path> <size> <reason>" or "drop <path>
 * <size>", then the totals; untrusted names are escaped. */
void minimize_explain(struct minimize *m, FILE *out);

void minimize_free(struct minimize *m); /* NULL-safe */

#endif
