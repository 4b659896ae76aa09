/* session.h — what the commands that read a recipe open around it: the
 * catalog of releases, the cache and the fetcher, and the plan_env built
 * from them. Used by build.c and by the CLI's check/plan/lock commands. */
#ifndef SMOLC_SESSION_H
#define SMOLC_SESSION_H

#include "plan.h"

struct session {
	struct catalog *catalog;
	struct cache *cache;
	struct fetch_ctx *fetch;
	struct plan_env penv;
	bool fetch_inited;
};

/* Open the catalog (when one is found), the cache (cache_dir, or the
 * default) and the fetcher (offline: cache only; quiet: no progress).
 * Prints its own errors ("smolc: ..." on stderr). Returns 0 or -1; close
 * with session_close() in both cases. */
int session_open(struct session *s, const char *cache_dir, const char *mirror, bool offline, bool quiet);
void session_close(struct session *s);

#endif
