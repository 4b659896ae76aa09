/* cmd_recipe.c — check, plan, build, lock and cache: their option tables,
 * and the calls into the compiler (check.h, plan.h, build.h, lockfile.h,
 * cache.h) with the printing of the results. */
#include "cli.h"
#include "build.h"
#include "cache.h"
#include "check.h"
#include "exitcode.h"
#include "fetch.h"
#include "launcher.h"
#include "lockfile.h"
#include "opt.h"
#include "plan.h"
#include "session.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

/* ---- the recipe argument ---- */

/* The recipe and build context of check, plan and build:
 *   -f FILE [DIR]  FILE, with DIR (default: the current directory) as the
 *                  build context, as `docker build -f FILE .`;
 *   DIR            DIR/Smolfile, else DIR/Dockerfile, else DIR/SMOLerfile;
 *   FILE           FILE, its directory being the context (default Smolfile).
 * Sets *path and *context (NULL: the recipe's directory; both owned by
 * the caller); returns -1 to go on, or an exit code after a message. */
static int recipe_arg(const struct opt_cmd *cmd, const char *file, const char **args, size_t nargs, char **path,
		      char **context)
{
	struct stat st;
	*path = *context = NULL;
	if (file) {
		const char *ctx = nargs ? args[0] : ".";
		if (stat(ctx, &st) < 0 || !S_ISDIR(st.st_mode))
			return opt_error(cmd, "the build context '%s' is not a directory%s", ctx,
					 stat(ctx, &st) < 0 ? ": it does not exist" : "");
		*path = xstrdup(file);
		*context = xstrdup(ctx);
		return -1;
	}
	if (nargs && stat(args[0], &st) == 0 && S_ISDIR(st.st_mode)) {
		static const char *const names[] = {"Smolfile", "Dockerfile", "SMOLerfile"};
		for (size_t i = 0; i < ARRAY_LEN(names); i++) {
			char *p = path_join(args[0], names[i]);
			if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
				*path = p;
				return -1;
			}
			free(p);
		}
		return opt_error(cmd, "no Smolfile, Dockerfile or SMOLerfile in '%s'; name the file with -f FILE", args[0]);
	}
	*path = xstrdup(nargs ? args[0] : "Smolfile");
	return -1;
}

/* ---- check ---- */

int cmd_check(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "check",
		.synopsis = "[--build-arg NAME[=VALUE]]… [Smolfile | DIR | -f FILE [DIR]]",
		.about = "Parse and validate a Smolfile (default: ./Smolfile) and every file it\n"
			 "INCLUDEs or builds FROM, without fetching or building anything.\n"
			 "Prints every error with file:line:column; exit 0 when valid, 2 when not.\n",
		.arg_name = "Smolfile",
		.max_args = 1,
	};
	struct strvec bargs = {0};
	const char *file = NULL;
	const struct opt opts[] = {
		OPT_RECIPE_FILE(&file),
		OPT_BUILD_ARG(&bargs),
		OPT_END_(),
	};
	const char *args[1];
	size_t nargs;
	char *path = NULL, *context = NULL;
	int rc = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (rc < 0)
		rc = recipe_arg(&cmd, file, args, nargs, &path, &context);
	if (rc >= 0) {
		sv_free(&bargs);
		return rc;
	}
	struct diag_ctx d;
	diag_init(&d);
	struct recipe *r = recipe_load_in(&d, path, context, &bargs);
	diag_print(&d, stderr);
	rc = d.errors ? EXIT_USAGE : EXIT_OK;
	if (rc == EXIT_OK)
		printf("%s: ok (%zu instructions, service %s)\n", path, r ? r->n : 0, r ? r->set.service : "?");
	recipe_free(r);
	diag_fini(&d);
	sv_free(&bargs);
	free(path);
	free(context);
	return rc;
}

/* ---- plan ---- */

int cmd_plan(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "plan",
		.synopsis = "[--json] [--build-arg NAME[=VALUE]]… [--cache-dir DIR] [--mirror URL] [Smolfile | DIR | -f FILE [DIR]]",
		.about = "Show what 'smolc build' will do, without downloading: the resolved base,\n"
			 "each step with its inputs (variables expanded) and the cache key of the\n"
			 "layer it produces. Inputs not fetched yet (and not pinned) show as\n"
			 "'pending', and so do the keys that depend on them.\n",
		.arg_name = "Smolfile",
		.max_args = 1,
	};
	struct strvec bargs = {0};
	const char *cache_dir = NULL, *mirror = NULL;
	bool json = false;
	const char *file = NULL;
	const struct opt opts[] = {
		OPT_RECIPE_FILE(&file),
		OPT_JSON(&json, "machine-readable output"),
		OPT_BUILD_ARG(&bargs),
		OPT_CACHE_DIR(&cache_dir),
		OPT_MIRROR(&mirror),
		OPT_END_(),
	};
	const char *args[1];
	size_t nargs;
	char *path = NULL, *context = NULL;
	int rc = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (rc < 0)
		rc = recipe_arg(&cmd, file, args, nargs, &path, &context);
	if (rc >= 0) {
		sv_free(&bargs);
		return rc;
	}
	struct diag_ctx d;
	diag_init(&d);
	rc = EXIT_OK;
	struct recipe *r = recipe_load_in(&d, path, context, &bargs);
	struct session env;
	memset(&env, 0, sizeof(env));
	struct plan *p = NULL;
	if (!r || d.errors) {
		rc = EXIT_USAGE;
	} else if (session_open(&env, cache_dir, mirror, false, true, true) < 0) {
		rc = EXIT_FAIL; /* ^ plan never downloads: no fetcher, the cache only */
	} else if (session_plan(&env, &d, r, &p) < 0) {
		rc = plan_exit_code(p);
	}
	diag_print(&d, stderr);
	if (rc == EXIT_OK) {
		if (json)
			plan_print_json(p, &d, stdout);
		else
			plan_print_text(p, &d, stdout);
	}
	plan_free(p);
	session_close(&env);
	recipe_free(r);
	diag_fini(&d);
	sv_free(&bargs);
	free(path);
	free(context);
	return rc;
}

/* ---- build ---- */

int cmd_build(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "build",
		.synopsis = "[options] [Smolfile | DIR | -f FILE [DIR]]",
		.about = "Build a Smolfile (default: ./Smolfile) into a bootable disk image,\n"
			 "written with no root, no loop device and no mount:\n"
			 "  <outdir>/<service>-<arch>.img     raw disk: GPT + one ext2 partition <service>root\n"
			 "  <outdir>/<service>-<arch>.kernel  the kernel to boot\n"
			 "  <outdir>/<service>-<arch>.yaml    the run config read by 'smolc run'\n"
			 "Each step is a layer in the cache, keyed by its inputs: unchanged steps\n"
			 "are CACHED, and a rebuild with nothing changed does no work.\n",
		.footer = "When Smolfile.lock exists (see 'smolc lock') the build installs exactly\n"
			  "the sets, packages and kernel it pins.\n"
			  "\n"
			  "A remote build cache is an OCI registry repository (SPEC.md §8.5): a CI job\n"
			  "builds with --cache-from R --cache-to R, and a fresh runner downloads the\n"
			  "unchanged layers (CACHED (remote)). A cache that cannot be read is a\n"
			  "warning; a failed --cache-to is an error (exit 1) after the image is written.\n"
			  "Credentials: ~/.docker/config.json (see smolc login).\n"
			  "\n"
			  "exit: 0 built, 1 failed (download, I/O, archive, script), 2 bad usage or bad recipe\n",
		.arg_name = "Smolfile",
		.max_args = 1,
	};
	struct build_opts o;
	memset(&o, 0, sizeof(o));
	o.outdir = "images";
	o.launcher = &cli_launcher;
	const char *file = NULL, *cache_to = NULL, *ca_cert = NULL;
	struct strvec cache_from = {0};
	bool insecure = false, no_store = false;
	const struct opt opts[] = {
		OPT_RECIPE_FILE(&file),
		OPT_STRING_("output", 'o', "DIR", "output directory (default: images)", &o.outdir),
		OPT_CALL_("tag", 't', "NAME[:TAG]",
			  "record the image in the image store under this name\n"
			  "(default <service>:latest; see smolc images)",
			  &o.tag, cli_check_image_name),
		OPT_FLAG_("no-store", 0, "do not record the image in the image store (the edit-build-run\n"
			  "loop: where the file system has no reflinks, recording copies the whole image)",
			  &no_store),
		OPT_BUILD_ARG(&o.build_args),
		OPT_CACHE_DIR(&o.cache_dir),
		OPT_MIRROR(&o.mirror),
		OPT_OFFLINE(&o.offline, "use only the cache; say what is missing"),
		OPT_FLAG_("no-cache", 0, "rebuild every layer (downloads stay cached)", &o.no_cache),
		OPT_CALL_("cache-from", 0, "REGISTRY/REPO[:TAG]",
			  "use the layers of this remote build cache (repeatable): a step\n"
			  "the local cache lacks is downloaded from it instead of built",
			  &cache_from, cli_cache_ref_cb),
		OPT_CALL_("cache-to", 0, "REGISTRY/REPO[:TAG]",
			  "export the build's layers to this remote build cache", &cache_to, cli_cache_to_cb),
		OPT_STRING_("ca-cert", 0, "FILE", "trust this CA (PEM) for the cache registries' TLS", &ca_cert),
		OPT_FLAG_("insecure", 0, "allow plain http to a cache registry that is not local", &insecure),
		OPT_UPDATE_LOCK(&o.update_lock, "ignore Smolfile.lock, resolve again and rewrite it"),
		OPT_QUIET(&o.quiet),
		OPT_FLAG_("verbose", 'v', "also print each builder VM's QEMU command line and console (RUN, +INSTALL)",
			  &o.verbose),
		OPT_JSON(&o.json, "print a JSON summary on stdout (for CI)"),
		OPT_FLAG_("explain-minimize", 0,
			  "with MINIMIZE: list on stdout every file kept (with its size and\n"
			  "why: KEEP, RC line, needed by …) and every file dropped",
			  &o.explain),
		OPT_END_(),
	};
	const char *args[1];
	size_t nargs;
	char *path = NULL, *context = NULL;
	int rc = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	o.record = no_store ? NULL : cli_record_image;
	o.record_ctx = (void *)o.tag;
	if (rc < 0 && no_store && o.tag) {
		fprintf(stderr, "smolc: build: -t names the image in the image store; it cannot go with --no-store\n");
		rc = EXIT_USAGE;
	}
	if (rc < 0)
		rc = recipe_arg(&cmd, file, args, nargs, &path, &context);
	if (rc < 0) {
		o.context = context;
		if (cache_from.n || cache_to) /* the registry client is in the backend */
			o.remote = regcache_new(&cache_from, cache_to, ca_cert, insecure, o.quiet || o.json);
		rc = build_main(&o, path, NULL);
		regcache_free((struct build_remote *)o.remote);
	}
	sv_free(&cache_from);
	sv_free(&o.build_args);
	free(path);
	free(context);
	return rc;
}

/* ---- lock ---- */

int cmd_lock(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "lock",
		.synopsis = "[--update-lock] [--offline] [--build-arg NAME[=VALUE]]… [--cache-dir DIR] [--mirror URL] "
			    "[Smolfile]",
		.about = "Resolve every remote input of the recipe — sets, packages with their\n"
			 "dependencies, the kernel — and pin each to its digest in Smolfile.lock\n"
			 "(beside the Smolfile). Later builds install exactly what it names, and\n"
			 "work offline once the inputs are cached. Only indexes are downloaded\n"
			 "(SHA512 lists, pkg_summary, .sha256 files).\n",
		.arg_name = "Smolfile",
		.max_args = 1,
	};
	struct strvec bargs = {0};
	const char *cache_dir = NULL, *mirror = NULL;
	bool update = false, offline = false;
	const struct opt opts[] = {
		OPT_UPDATE_LOCK(&update, "re-resolve everything instead of keeping existing pins"),
		OPT_OFFLINE(&offline, "use only the indexes already in the cache"),
		OPT_BUILD_ARG(&bargs),
		OPT_CACHE_DIR(&cache_dir),
		OPT_MIRROR(&mirror),
		OPT_END_(),
	};
	const char *args[1];
	size_t nargs;
	int rc = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (rc >= 0) {
		sv_free(&bargs);
		return rc;
	}
	const char *path = nargs ? args[0] : "Smolfile";
	struct diag_ctx d;
	diag_init(&d);
	rc = EXIT_OK;
	struct recipe *r = recipe_load(&d, path, &bargs);
	struct session env;
	memset(&env, 0, sizeof(env));
	struct plan *p = NULL;
	char *lpath = lockfile_path_for(path);
	struct error *err = NULL;
	struct lockfile *old = NULL;
	if (!r || d.errors) {
		rc = EXIT_USAGE;
	} else if (session_open(&env, cache_dir, mirror, !offline, offline, false) < 0) {
		rc = EXIT_FAIL;
	} else {
		if (!update) {
			old = lockfile_read(lpath, &err);
			if (err) {
				diag_error_record(&d, (struct loc){0, 0, 0}, err);
				rc = EXIT_FAIL;
			}
		}
		env.penv.lock = old;
		env.penv.index_only = true;
		if (rc == EXIT_OK && session_plan(&env, &d, r, &p) < 0)
			rc = plan_exit_code(p);
	}
	size_t pinned = 0, pending = 0;
	if (rc == EXIT_OK) {
		for (size_t i = 0; i < p->n; i++)
			for (size_t k = 0; k < p->v[i].nin; k++) {
				const struct plan_input *in = &p->v[i].in[k];
				if (!in->digest)
					pending++;
				else if (in->source && fetch_is_url(in->source))
					pinned++;
			}
		if (p->kernel.digest && p->kernel.source && fetch_is_url(p->kernel.source))
			pinned++;
		if (p->initrd.digest && p->initrd.source && fetch_is_url(p->initrd.source))
			pinned++;
		if (pending) {
			diag_error_plain(&d, "%zu input%s could not be resolved%s; nothing written", pending, pending > 1 ? "s" : "",
					 offline ? " offline (run without --offline)" : "");
			rc = EXIT_FAIL;
		} else if (!pinned) {
			/* every input is a file of the build context: its content is
			 * already part of the key, there is nothing to pin */
		} else if (lockfile_write(lpath, p, &err) < 0) {
			diag_error_record(&d, (struct loc){0, 0, 0}, err);
			rc = EXIT_FAIL;
		}
	}
	diag_print(&d, stderr);
	if (rc == EXIT_OK && !pinned)
		fprintf(stderr, "smolc: the recipe has no remote inputs (every input is a file of the build context, "
				"already part of the cache keys): nothing to pin, %s not written\n", lpath);
	else if (rc == EXIT_OK)
		fprintf(stderr, "smolc: wrote %s: %zu remote input%s pinned\n", lpath, pinned, pinned == 1 ? "" : "s");
	error_clear(&err);
	free(lpath);
	lockfile_free(old);
	plan_free(p);
	session_close(&env);
	recipe_free(r);
	diag_fini(&d);
	sv_free(&bargs);
	return rc;
}

/* ---- cache ---- */

static int days_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	char *end;
	errno = 0;
	long days = strtol(arg, &end, 10);
	if (errno || !*arg || *end || days < 0 || days > 1000000)
		return opt_error(cmd, "--older-than takes a number of days, not '%s'", arg);
	*(long *)value = days;
	return 0;
}

int cmd_cache(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "cache",
		.synopsis = "ls [--json] | du | prune [--all] [--older-than DAYS] [--dry-run] | verify [--remove] [--cache-dir DIR]",
		.about = "  ls      list cached downloads, layers and memos with size and last use\n"
			 "  du      total size per kind\n"
			 "  prune   remove entries unused for 30 days (--older-than N; 0: every entry not in\n"
			 "          use), or everything (--all);\n"
			 "          entries in use by a running build are skipped\n"
			 "  verify  recompute the digest of every layer and download and list the damaged\n"
			 "          ones (exit 1 if any); --remove deletes them (builds rebuild damaged layers)\n"
			 "The cache is $SMOLC_CACHE, else $XDG_CACHE_HOME/smolc, else ~/.cache/smolc.\n",
		.arg_name = "subcommand",
		.max_args = 1,
	};
	const char *cache_dir = NULL;
	bool all = false, dry = false, remove = false, json = false;
	long days = 30;
	const struct opt opts[] = {
		OPT_FLAG_("all", 0, "prune: remove every entry", &all),
		OPT_CALL_("older-than", 0, "DAYS", "prune: entries unused for DAYS days (default 30)", &days, days_cb),
		OPT_FLAG_("dry-run", 0, "prune: say what would be removed, remove nothing", &dry),
		OPT_FLAG_("remove", 0, "verify: delete the damaged entries", &remove),
		OPT_FLAG_("json", 0, "ls: a JSON array (kind, key, size, last_used, description)", &json),
		OPT_CACHE_DIR(&cache_dir),
		OPT_END_(),
	};
	const char *args[1];
	size_t nargs;
	int rc = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (rc >= 0)
		return rc;
	if (!nargs)
		return opt_error(&cmd, "needs a subcommand: ls, du, prune or verify");
	const char *sub = args[0];
	if (strcmp(sub, "ls") && strcmp(sub, "du") && strcmp(sub, "prune") && strcmp(sub, "verify"))
		return opt_error(&cmd, "unknown subcommand '%s' (expected ls, du, prune or verify)", sub);
	struct error *err = NULL;
	struct cache *cache = cache_open(cache_dir, &err);
	if (!cache) {
		fprintf(stderr, "smolc: cache: %s\n", error_msg(err));
		error_clear(&err);
		return EXIT_FAIL;
	}
	rc = EXIT_OK;
	if (!strcmp(sub, "ls")) {
		if ((json ? cache_print_ls_json(cache, stdout, &err) : cache_print_ls(cache, stdout, &err)) < 0)
			rc = EXIT_FAIL;
	} else if (!strcmp(sub, "du")) {
		if (cache_print_du(cache, stdout, &err) < 0)
			rc = EXIT_FAIL;
	} else if (!strcmp(sub, "verify")) {
		size_t bad = 0;
		if (cache_verify(cache, remove, stdout, &bad, &err) < 0 || bad)
			rc = EXIT_FAIL;
	} else {
		struct cache_prune_opts po;
		memset(&po, 0, sizeof(po));
		po.all = all;
		po.older_than_days = all ? -1 : (int)days;
		po.by_age = !all;
		po.dry_run = dry;
		struct cache_prune_result res;
		memset(&res, 0, sizeof(res));
		if (cache_prune(cache, &po, &res, stdout, &err) < 0)
			rc = EXIT_FAIL;
		else
			cache_print_prune(&res, dry, stdout);
	}
	if (rc != EXIT_OK && err)
		fprintf(stderr, "smolc: cache: %s\n", error_msg(err));
	error_clear(&err);
	cache_free(cache);
	return rc;
}
