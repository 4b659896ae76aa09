/* build.h — the build driver (see build.c): plan a recipe, build every
 * layer that is not cached, write the image, the kernel and the run config. */
#ifndef SMOLC_BUILD_H
#define SMOLC_BUILD_H

#include "util.h"

struct builder_launcher;
/* What a finished build hands to build_opts.record: the image to record
 * in the image store (the CLI's, oci/store.h; the compiler knows nothing
 * of it). Borrowed for the call. */
struct build_result {
	const char *key;             /* image key (64 hex) */
	const char *service, *arch;
	bool readonly;
	const char *image, *kernel;  /* the output files */
	const char *kernel_sha256;   /* NULL when not known */
	const char *initrd;          /* the output initrd, NULL when the recipe has none */
	const char *initrd_sha256;   /* NULL when not known */
	const char *store_run_config;/* the run config naming "disk.img", "kernel" (and "initrd") */
};
/* Record the image; *stored_as = "NAME:TAG" (caller frees). 0, or -1 with
 * *err (the build then fails). */
typedef int (*build_record_fn)(void *ctx, const struct build_result *r, char **stored_as, struct error **err);

/* A remote layer cache (--cache-from, --cache-to): the CLI's, on top of
 * the registry client (cli/regcache.c); the compiler knows nothing of
 * registries. Strings are borrowed for the call. */
struct cache;
struct build_layer {
	const char *key;             /* the step's layer key (cache.h) */
	const char *title;           /* the step, for messages */
};
struct build_remote {
	/* Fetch layer `key` into the cache c: a temp dir of the cache,
	 * verified, then cache_commit_layer. Called with the exclusive lock
	 * on the key held, only when the local cache lacks it. Returns 1
	 * when the layer is now in the cache, 0 when the remote cache has
	 * no such layer or cannot be used, -1 when a layer was found but
	 * refused (damaged, unreadable). *err, when set (also with 0), is a
	 * warning the build prints; the step is then built. */
	int (*fetch)(void *ctx, struct cache *c, const char *key, const char *title, struct error **err);
	/* Export the build's layers (v, in plan order; all in c) once the
	 * image is written. -1 with *err fails the build (exit 1). NULL: no
	 * --cache-to. */
	int (*export)(void *ctx, struct cache *c, const struct build_layer *v, size_t n, struct error **err);
	void *ctx;
};

/* What `smolc build` was asked (filled by the CLI's option table). Strings
 * are borrowed; build_args ("NAME=VALUE", already taken from the
 * environment for a bare NAME) is owned by the caller. */
struct build_opts {
	const char *outdir;          /* output directory ("images") */
	const char *tag;             /* the image's NAME[:TAG] for record (NULL: <service>:latest) */
	const char *cache_dir;       /* NULL: the default cache */
	const char *mirror;          /* NULL: the catalog's or $SMOLC_MIRROR */
	bool offline, no_cache, quiet, json, update_lock;
	bool verbose;                /* print each builder VM's QEMU argv and console (RUN, +INSTALL) */
	bool explain;                /* --explain-minimize: list what MINIMIZE keeps and drops on stdout */
	const struct builder_launcher *launcher; /* how to boot the builder VM (builder.h); NULL: RUN fails */
	struct strvec build_args;
	build_record_fn record;      /* NULL: the image is not recorded */
	void *record_ctx;
	const struct build_remote *remote; /* NULL: no remote layer cache */
	const char *context;         /* build context (-f FILE [DIR]); NULL: the recipe's directory */
	/* `smolc run Smolfile`: build only when the image is missing or
	 * stale, saying so; for_run_dry: never build (fail when missing). */
	bool for_run, for_run_dry;
};

/* Build `path`. Prints diagnostics and progress itself. Returns the exit
 * code (0 built, 1 failure, 2 bad recipe); on success *yaml_out (if
 * non-NULL) is the run config path (caller frees). */
int build_main(struct build_opts *o, const char *path, char **yaml_out);

/* `smolc run Smolfile`: find the image, building it (and saying so) only
 * when it is missing or stale, with the build-args recorded in its run
 * config (those of o->build_args override them by name; o->build_args
 * is replaced by the merged list). dry_run: never build — a stale image
 * gets a warning, a missing one an error (exit 1). Returns like
 * build_main. */
int build_for_run(struct build_opts *o, const char *smolfile, bool dry_run, char **runconf_path_out);

#endif
