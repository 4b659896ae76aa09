/* driver.c — check, plan and cache commands; shared option handling for
 * commands that read a recipe (build.c uses it too). */
#include "driver.h"
#include "cache.h"
#include "catalog.h"
#include "check.h"
#include "driver_int.h"
#include "fetch.h"
#include "lockfile.h"
#include "plan.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char check_usage[] =
	"usage: smolc check [--build-arg NAME=VALUE]… [Smolfile]\n"
	"\n"
	"Parse and validate a Smolfile (default: ./Smolfile) and every file it\n"
	"INCLUDEs or builds FROM, without fetching or building anything.\n"
	"Prints every error with file:line:column; exit 0 when valid, 2 when not.\n";

static const char plan_usage[] =
	"usage: smolc plan [--json] [--build-arg NAME=VALUE]… [--cache-dir DIR] [--mirror URL] [Smolfile]\n"
	"\n"
	"Show what 'smolc build' will do, without downloading: the resolved base,\n"
	"each step with its inputs (variables expanded) and the cache key of the\n"
	"layer it produces. Inputs not fetched yet (and not pinned) show as\n"
	"'pending', and so do the keys that depend on them.\n"
	"  --json   machine-readable output\n";

static const char cache_usage[] =
	"usage: smolc cache ls | du | prune [--all] [--older-than DAYS] [--dry-run] | verify [--remove]  [--cache-dir DIR]\n"
	"\n"
	"  ls      list cached downloads, layers and memos with size and last use\n"
	"  du      total size per kind\n"
	"  prune   remove entries unused for 30 days (--older-than N), or everything (--all);\n"
	"          entries in use by a running build are skipped\n"
	"  verify  recompute the digest of every layer and download and list the damaged\n"
	"          ones (exit 1 if any); --remove deletes them (builds rebuild damaged layers)\n"
	"The cache is $SMOLC_CACHE, else $XDG_CACHE_HOME/smolc, else ~/.cache/smolc.\n";

static const char lock_usage[] =
	"usage: smolc lock [--update-lock] [--offline] [--build-arg NAME=VALUE]… [--cache-dir DIR] [--mirror URL] [Smolfile]\n"
	"\n"
	"Resolve every remote input of the recipe — sets, packages with their\n"
	"dependencies, the kernel — and pin each to its digest in Smolfile.lock\n"
	"(beside the Smolfile). Later builds install exactly what it names, and\n"
	"work offline once the inputs are cached. Only indexes are downloaded\n"
	"(SHA512 lists, pkg_summary, .sha256 files).\n"
	"  --update-lock   re-resolve everything instead of keeping existing pins\n";

const char *driver_usage(const char *cmd)
{
	if (!strcmp(cmd, "lock"))
		return lock_usage;
	if (!strcmp(cmd, "check"))
		return check_usage;
	if (!strcmp(cmd, "plan"))
		return plan_usage;
	if (!strcmp(cmd, "build"))
		return build_usage;
	if (!strcmp(cmd, "cache"))
		return cache_usage;
	return NULL;
}

int driver_bad_usage(const char *cmd, const char *fmt, const char *arg)
{
	fputs("smolc: ", stderr);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nRun 'smolc help %s' for its options.\n", cmd);
	return EXIT_USAGE;
}

const char *driver_smolfile(int argc, char **argv, int optind_)
{
	return optind_ < argc ? argv[optind_] : "Smolfile";
}

struct recipe *driver_load(struct diag_ctx *d, const char *path, const struct strvec *build_args)
{
	struct recipe *r = recipe_load(d, path, build_args);
	return r;
}

int driver_finish_diags(struct diag_ctx *d)
{
	diag_print(d, stderr);
	return d->errors ? EXIT_USAGE : EXIT_OK;
}

int driver_open_env(struct driver_env *e, const char *cache_dir, const char *mirror, bool offline, bool quiet)
{
	char *err = NULL;
	memset(e, 0, sizeof(*e));
	char *cat = catalog_locate(NULL, &err);
	if (cat) {
		e->catalog = catalog_load(cat, &err);
		free(cat);
		if (!e->catalog) {
			fprintf(stderr, "smolc: %s\n", err);
			free(err);
			return -1;
		}
	} else {
		debugf("no catalog: %s", err);
		free(err);
		err = NULL;
	}
	e->cache = cache_open(cache_dir, &err);
	if (!e->cache) {
		fprintf(stderr, "smolc: cache: %s\n", err);
		free(err);
		return -1;
	}
	if (fetch_global_init(&err) < 0) {
		fprintf(stderr, "smolc: %s\n", err);
		free(err);
		return -1;
	}
	e->fetch_inited = true;
	struct fetch_opts fo;
	memset(&fo, 0, sizeof(fo));
	fo.offline = offline;
	fo.quiet = quiet;
	const char *tries = getenv("SMOLC_FETCH_TRIES");
	if (tries)
		fo.tries = (unsigned)atoi(tries);
	const char *bo = getenv("SMOLC_FETCH_BACKOFF_MS");
	if (bo)
		fo.backoff_ms = (unsigned)atoi(bo);
	e->fetch = fetch_new(e->cache, &fo);
	e->penv.catalog = e->catalog;
	e->penv.fetch = e->fetch;
	e->penv.cache = e->cache;
	e->penv.mirror = catalog_mirror_override(mirror);
	e->penv.fetch_inputs = !offline;
	e->penv.datadir = e->catalog ? catalog_datadir(e->catalog) : NULL;
	return 0;
}

void driver_close_env(struct driver_env *e)
{
	fetch_free(e->fetch);
	cache_free(e->cache);
	catalog_free(e->catalog);
	if (e->fetch_inited)
		fetch_global_cleanup();
	memset(e, 0, sizeof(*e));
}

enum { OPT_BUILD_ARG = 256, OPT_CACHE_DIR, OPT_MIRROR, OPT_JSON, OPT_HELP, OPT_UPDATE, OPT_OFFLINE };

/* The options of the commands that read one Smolfile (check, plan, lock):
 * --build-arg and --help always, the others when the command takes them. */
struct recipe_opts {
	struct strvec bargs;
	const char *cache_dir, *mirror;
	bool json, update, offline;
};
enum { RO_CACHE = 1, RO_MIRROR = 2, RO_JSON = 4, RO_UPDATE = 8, RO_OFFLINE = 16 };

/* Parse argv into *o and *path. -1: go on; else the exit code to return
 * (usage printed for --help, or a bad-usage message). */
static int parse_recipe_opts(const char *cmd, const char *usage, unsigned allow, int argc, char **argv,
			     struct recipe_opts *o, const char **path)
{
	static const struct {
		struct option opt;
		unsigned flag;
	} all[] = {
		{{"build-arg", required_argument, NULL, OPT_BUILD_ARG}, 0},
		{{"cache-dir", required_argument, NULL, OPT_CACHE_DIR}, RO_CACHE},
		{{"mirror", required_argument, NULL, OPT_MIRROR}, RO_MIRROR},
		{{"json", no_argument, NULL, OPT_JSON}, RO_JSON},
		{{"update-lock", no_argument, NULL, OPT_UPDATE}, RO_UPDATE},
		{{"offline", no_argument, NULL, OPT_OFFLINE}, RO_OFFLINE},
		{{"help", no_argument, NULL, 'h'}, 0},
	};
	struct option opts[ARRAY_LEN(all) + 1];
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_LEN(all); i++)
		if (!all[i].flag || (allow & all[i].flag))
			opts[n++] = all[i].opt;
	memset(&opts[n], 0, sizeof(opts[n]));
	memset(o, 0, sizeof(*o));
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_BUILD_ARG: sv_pushdup(&o->bargs, optarg); break;
		case OPT_CACHE_DIR: o->cache_dir = optarg; break;
		case OPT_MIRROR: o->mirror = optarg; break;
		case OPT_JSON: o->json = true; break;
		case OPT_UPDATE: o->update = true; break;
		case OPT_OFFLINE: o->offline = true; break;
		case 'h':
			fputs(usage, stdout);
			sv_free(&o->bargs);
			return EXIT_OK;
		default: {
			sv_free(&o->bargs);
			char *fmt = xasprintf("%s: unknown option or missing value: '%%s'", cmd);
			int rc = driver_bad_usage(cmd, fmt, argv[optind - 1]);
			free(fmt);
			return rc;
		}
		}
	}
	if (argc - optind > 1) {
		sv_free(&o->bargs);
		char *fmt = xasprintf("%s: takes one Smolfile, got also '%%s'", cmd);
		int rc = driver_bad_usage(cmd, fmt, argv[optind + 1]);
		free(fmt);
		return rc;
	}
	*path = driver_smolfile(argc, argv, optind);
	return -1;
}

int cmd_check(int argc, char **argv)
{
	struct recipe_opts o;
	const char *path;
	int ex = parse_recipe_opts("check", check_usage, 0, argc, argv, &o, &path);
	if (ex >= 0)
		return ex;
	struct diag_ctx d;
	diag_init(&d);
	struct recipe *r = driver_load(&d, path, &o.bargs);
	int rc = driver_finish_diags(&d);
	if (rc == EXIT_OK)
		printf("%s: ok (%zu instructions, service %s)\n", path, r ? r->n : 0, r ? r->set.service : "?");
	recipe_free(r);
	diag_fini(&d);
	sv_free(&o.bargs);
	return rc;
}

int cmd_plan(int argc, char **argv)
{
	struct recipe_opts o;
	const char *path;
	int ex = parse_recipe_opts("plan", plan_usage, RO_CACHE | RO_MIRROR | RO_JSON, argc, argv, &o, &path);
	if (ex >= 0)
		return ex;
	struct diag_ctx d;
	diag_init(&d);
	int rc = EXIT_OK;
	struct recipe *r = driver_load(&d, path, &o.bargs);
	struct driver_env env;
	memset(&env, 0, sizeof(env));
	struct plan *p = NULL;
	if (!r || d.errors) {
		rc = EXIT_USAGE;
	} else if (driver_open_env(&env, o.cache_dir, o.mirror, true, true) < 0) {
		rc = EXIT_FAIL;
	} else {
		env.penv.fetch_inputs = false; /* plan never downloads */
		if (plan_make(&d, r, &env.penv, &p) < 0)
			rc = EXIT_USAGE;
	}
	diag_print(&d, stderr);
	if (rc == EXIT_OK) {
		if (o.json)
			plan_print_json(p, &d, stdout);
		else
			plan_print_text(p, &d, stdout);
	}
	plan_free(p);
	driver_close_env(&env);
	recipe_free(r);
	diag_fini(&d);
	sv_free(&o.bargs);
	return rc;
}

int cmd_cache(int argc, char **argv)
{
	static const struct option opts[] = {
		{"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
		{"all", no_argument, NULL, 'a'},
		{"older-than", required_argument, NULL, 'o'},
		{"dry-run", no_argument, NULL, 'n'},
		{"remove", no_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cache_dir = NULL;
	bool all = false, dry = false, remove = false;
	long days = 30;
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CACHE_DIR:
			cache_dir = optarg;
			break;
		case 'a':
			all = true;
			break;
		case 'n':
			dry = true;
			break;
		case 'r':
			remove = true;
			break;
		case 'o': {
			char *end;
			errno = 0;
			days = strtol(optarg, &end, 10);
			if (errno || *end || days < 0)
				return driver_bad_usage("cache", "cache: --older-than takes a number of days, not '%s'", optarg);
			break;
		}
		case 'h':
			fputs(cache_usage, stdout);
			return EXIT_OK;
		default:
			return driver_bad_usage("cache", "cache: unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return driver_bad_usage("cache", "cache: needs a subcommand: ls, du, prune or verify%s", "");
	const char *sub = argv[optind];
	char *err = NULL;
	struct cache *cache = cache_open(cache_dir, &err);
	if (!cache) {
		fprintf(stderr, "smolc: cache: %s\n", err);
		free(err);
		return EXIT_FAIL;
	}
	int rc = EXIT_OK;
	if (!strcmp(sub, "ls")) {
		if (cache_print_ls(cache, stdout, &err) < 0)
			rc = EXIT_FAIL;
	} else if (!strcmp(sub, "du")) {
		if (cache_print_du(cache, stdout, &err) < 0)
			rc = EXIT_FAIL;
	} else if (!strcmp(sub, "prune")) {
		struct cache_prune_opts po;
		memset(&po, 0, sizeof(po));
		po.all = all;
		po.older_than_days = all ? -1 : (int)days;
		po.dry_run = dry;
		struct cache_prune_result res;
		memset(&res, 0, sizeof(res));
		if (cache_prune(cache, &po, &res, stdout, &err) < 0)
			rc = EXIT_FAIL;
		else
			cache_print_prune(&res, dry, stdout);
	} else if (!strcmp(sub, "verify")) {
		size_t bad = 0;
		if (cache_verify(cache, remove, stdout, &bad, &err) < 0 || bad)
			rc = EXIT_FAIL;
	} else {
		cache_free(cache);
		return driver_bad_usage("cache", "cache: unknown subcommand '%s' (expected ls, du, prune or verify)", sub);
	}
	if (rc != EXIT_OK && err)
		fprintf(stderr, "smolc: cache: %s\n", err);
	free(err);
	cache_free(cache);
	return rc;
}

int cmd_lock(int argc, char **argv)
{
	struct recipe_opts o;
	const char *path;
	int ex = parse_recipe_opts("lock", lock_usage, RO_CACHE | RO_MIRROR | RO_UPDATE | RO_OFFLINE, argc, argv, &o,
				   &path);
	if (ex >= 0)
		return ex;
	struct diag_ctx d;
	diag_init(&d);
	int rc = EXIT_OK;
	struct recipe *r = driver_load(&d, path, &o.bargs);
	struct driver_env env;
	memset(&env, 0, sizeof(env));
	struct plan *p = NULL;
	char *lpath = lockfile_path_for(path);
	char *err = NULL;
	struct lockfile *old = NULL;
	if (!r || d.errors) {
		rc = EXIT_USAGE;
	} else if (driver_open_env(&env, o.cache_dir, o.mirror, o.offline, false) < 0) {
		rc = EXIT_FAIL;
	} else {
		if (!o.update) {
			old = lockfile_read(lpath, &err);
			if (err) {
				diag_error_plain(&d, "%s", err);
				rc = EXIT_FAIL;
			}
		}
		env.penv.lock = old;
		env.penv.index_only = true;
		if (rc == EXIT_OK && plan_make(&d, r, &env.penv, &p) < 0)
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
		if (pending) {
			diag_error_plain(&d, "%zu input%s could not be resolved%s; nothing written", pending, pending > 1 ? "s" : "",
					 o.offline ? " offline (run without --offline)" : "");
			rc = EXIT_FAIL;
		} else if (lockfile_write(lpath, p, &err) < 0) {
			diag_error_plain(&d, "%s", err);
			rc = EXIT_FAIL;
		}
	}
	diag_print(&d, stderr);
	if (rc == EXIT_OK)
		fprintf(stderr, "smolc: wrote %s: %zu remote input%s pinned\n", lpath, pinned, pinned == 1 ? "" : "s");
	free(err);
	free(lpath);
	lockfile_free(old);
	plan_free(p);
	driver_close_env(&env);
	recipe_free(r);
	diag_fini(&d);
	sv_free(&o.bargs);
	return rc;
}
