/* postinst.h — run a POSTINST script in a bubblewrap sandbox against a
 * staging copy of the image's root, and record what it changed as a
 * layer.
 *
 * The staging root is an export of the tree built so far (layer.h
 * layer_export_tree) in a temp directory of the cache. The script runs
 * with that directory as its working directory (and at $SMOLC_ROOT),
 * unprivileged (all capabilities dropped, new user, pid, ipc, uts and —
 * unless the recipe says POSTINST --network — network namespaces), with
 * the host's filesystem read-only, a private /tmp, and a time limit. Then
 * layer_diff_dir() turns the staging root's changes into the layer:
 * existing files keep the owners they had, new files are root:wheel, or
 * the owner of POSTINST --chown. */
#ifndef SMOLC_POSTINST_H
#define SMOLC_POSTINST_H

#include "error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct cache;
struct fstree;
struct layer_writer;
struct recipe;

#define POSTINST_DEFAULT_TIMEOUT 600u

struct postinst_opts {
	const char *script;          /* shell text */
	bool network;
	unsigned timeout;            /* seconds; 0 = POSTINST_DEFAULT_TIMEOUT */
	uint32_t new_uid, new_gid;   /* owner of the entries the script creates (0:0 by default) */
	const char *service, *arch;
	const struct recipe *recipe; /* ENV and ARG values are exported */
	FILE *log;                   /* the script's output is echoed here (NULL = not) */
};

/* The sandbox: the script runs as uid/gid POSTINST_SANDBOX_ID in its own
 * user namespace (when smolc runs as root, also on the host: the staging
 * root is given to that uid first), sees the host's tools read-only and
 * only the files of /etc they need, a private /tmp of POSTINST_TMP_BYTES,
 * and may run at most POSTINST_MAX_PROCS processes. */
#define POSTINST_SANDBOX_ID 65534
#define POSTINST_SANDBOX_ID_STR "65534"
#define POSTINST_TMP_BYTES_STR "268435456" /* 256 MiB */
#define POSTINST_MAX_PROCS 1024

/* Returns 0, or -1 with *err: the exit status and the tail of the output
 * ("POSTINST failed with exit status 3; last lines: …"). */
int postinst_run(struct cache *c, struct fstree *tree, struct layer_writer *w, const struct postinst_opts *o,
		 struct error **err);

/* The bwrap argument vector that would run `script_path` (for tests and
 * --debug). Caller frees with sv_free. */
struct strvec;
void postinst_argv(const char *root, const char *script_path, const struct postinst_opts *o, struct strvec *out);

#endif
