/* session.h — what the commands that read a recipe open around it: the
 * catalog of releases, the cache and the fetcher, and the plan_env built
 * from them. Used by build.c and by the CLI's check/plan/lock commands. */
#ifndef SMOLC_SESSION_H
#define SMOLC_SESSION_H

#include "plan.h"

struct session {
	struct catalog *catalog;
	struct cache *cache;
	struct fetch_ctx *fetch;     /* resolving sessions only: the only downloader, made
				      * when planning first asks for an input it lacks (the
				      * fetcher is in the backend: cli/backend.h) */
	struct inputs *inputs;       /* what planning reads (inputs.h) */
	struct plan_env penv;
	bool resolve, offline, quiet;
};

/* Open the catalog (when one is found), the cache (cache_dir, or the
 * default) and the inputs planning reads. resolve: a fetcher resolves
 * what planning asks for (offline: from the cache only, failing on what
 * is not there; quiet: no progress); else planning only looks in the
 * cache and no fetcher exists. Prints its own errors ("smolc: ..." on
 * stderr). Returns 0 or -1; close with session_close() in both cases. */
int session_open(struct session *s, const char *cache_dir, const char *mirror, bool resolve, bool offline, bool quiet);
void session_close(struct session *s);

/* At most this many planning rounds (each resolves what the one before
 * asked for: an index, then what it names). */
#define SESSION_MAX_ROUNDS 16

/* Plan r (plan_make). Resolving: plan, download what the plan asked for
 * (resolve.h), plan again, until a round asks for nothing new; only the
 * last round's diagnostics stay queued. Returns as plan_make. */
int session_plan(struct session *s, struct diag_ctx *d, struct recipe *r, struct plan **out);

#endif
