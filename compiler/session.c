/* session.c — catalog, cache and fetcher around one command (session.h). */
#include "session.h"
#include "cache.h"
#include "catalog.h"
#include "fetch.h"
#include "inputs.h"
#include "resolve.h"

#include <stdlib.h>
#include <string.h>

int session_open(struct session *e, const char *cache_dir, const char *mirror, bool resolve, bool offline, bool quiet)
{
	struct error *err = NULL;
	memset(e, 0, sizeof(*e));
	char *cat = catalog_locate(NULL, &err);
	if (cat) {
		e->catalog = catalog_load(cat, &err);
		free(cat);
		if (!e->catalog) {
			error_print(stderr, err);
			error_clear(&err);
			return -1;
		}
	} else {
		debugf("no catalog: %s", error_msg(err));
		error_clear(&err);
	}
	e->cache = cache_open(cache_dir, &err);
	if (!e->cache) {
		fprintf(stderr, "smolc: cache: %s\n", error_msg(err));
		error_clear(&err);
		return -1;
	}
	e->resolve = resolve;
	e->offline = offline;
	e->quiet = quiet;
	e->inputs = inputs_new(e->cache, resolve);
	e->penv.catalog = e->catalog;
	e->penv.inputs = e->inputs;
	e->penv.cache = e->cache;
	e->penv.mirror = catalog_mirror_override(mirror);
	e->penv.datadir = e->catalog ? catalog_datadir(e->catalog) : NULL;
	return 0;
}

void session_close(struct session *e)
{
	inputs_free(e->inputs);
	if (e->fetch) {
		fetch_free(e->fetch);
		fetch_global_cleanup();
	}
	cache_free(e->cache);
	catalog_free(e->catalog);
	memset(e, 0, sizeof(*e));
}

static struct fetch_ctx *fetcher(struct session *e)
{
	if (!e->fetch) {
		struct fetch_opts fo;
		memset(&fo, 0, sizeof(fo));
		fo.offline = e->offline;
		fo.quiet = e->quiet;
		const char *tries = getenv("SMOLC_FETCH_TRIES");
		if (tries)
			fo.tries = (unsigned)atoi(tries);
		const char *bo = getenv("SMOLC_FETCH_BACKOFF_MS");
		if (bo)
			fo.backoff_ms = (unsigned)atoi(bo);
		e->fetch = fetch_new(e->cache, &fo);
	}
	return e->fetch;
}

int session_plan(struct session *s, struct diag_ctx *d, struct recipe *r, struct plan **out)
{
	*out = NULL;
	for (unsigned round = 1;; round++) {
		struct diag_mark m = diag_mark(d);
		int rc = plan_make(d, r, &s->penv, out);
		if (!s->resolve || round == SESSION_MAX_ROUNDS || !inputs_pending(s->inputs) ||
		    inputs_resolve(s->inputs, fetcher(s)) == 0)
			return rc;
		debugf("planning round %u resolved new inputs; planning again", round);
		diag_rollback(d, m);
		plan_free(*out);
		*out = NULL;
	}
}
