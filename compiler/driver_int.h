/* driver_int.h — helpers shared by the compiler-side commands. */
#ifndef SMOLC_DRIVER_INT_H
#define SMOLC_DRIVER_INT_H

#include "check.h"
#include "plan.h"

struct driver_env {
	struct catalog *catalog;
	struct cache *cache;
	struct fetch_ctx *fetch;
	struct plan_env penv;
	bool fetch_inited;
};

extern const char build_usage[];

int driver_bad_usage(const char *cmd, const char *fmt, const char *arg);
const char *driver_smolfile(int argc, char **argv, int optind_);
struct recipe *driver_load(struct diag_ctx *d, const char *path, const struct strvec *build_args);
int driver_finish_diags(struct diag_ctx *d);
/* Catalog, cache and fetcher; prints its own errors. */
int driver_open_env(struct driver_env *e, const char *cache_dir, const char *mirror, bool offline, bool quiet);
void driver_close_env(struct driver_env *e);

#endif
