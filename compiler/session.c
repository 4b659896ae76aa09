/* session.c — catalog, cache and fetcher around one command (session.h). */
#include "session.h"
#include "cache.h"
#include "catalog.h"
#include "fetch.h"

#include <stdlib.h>
#include <string.h>

int session_open(struct session *e, const char *cache_dir, const char *mirror, bool offline, bool quiet)
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

void session_close(struct session *e)
{
	fetch_free(e->fetch);
	cache_free(e->cache);
	catalog_free(e->catalog);
	if (e->fetch_inited)
		fetch_global_cleanup();
	memset(e, 0, sizeof(*e));
}
