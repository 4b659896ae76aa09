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
	if (fetch_global_init(&err) < 0) {
		error_print(stderr, err);
		error_clear(&err);
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
	if (resolve)
		e->fetch = fetch_new(e->cache, &fo);
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
	fetch_free(e->fetch);
	cache_free(e->cache);
	catalog_free(e->catalog);
	if (e->fetch_inited)
		fetch_global_cleanup();
	memset(e, 0, sizeof(*e));
}

int session_plan(struct session *s, struct diag_ctx *d, struct recipe *r, struct plan **out)
{
	*out = NULL;
	for (unsigned round = 1;; round++) {
		struct diag_mark m = diag_mark(d);
		int rc = plan_make(d, r, &s->penv, out);
		if (!s->fetch || round == SESSION_MAX_ROUNDS || inputs_resolve(s->inputs, s->fetch) == 0)
			return rc;
		debugf("planning round %u resolved new inputs; planning again", round);
		diag_rollback(d, m);
		plan_free(*out);
		*out = NULL;
	}
}
