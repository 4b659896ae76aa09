/* resolve.h — the downloads planning asked for (see inputs.h): the one
 * place between planning rounds where the network is used. Only the
 * commands' driver (session.c) includes this; plan.c and pkgs.c cannot
 * (tests/include-check.sh). */
#ifndef SMOLC_RESOLVE_H
#define SMOLC_RESOLVE_H

#include <stddef.h>

struct fetch_ctx;
struct inputs;

/* Fetch, in the order they were asked for, the requests recorded since
 * the last call, through f (which may be offline: then what is not in the
 * cache fails with fetch's "not in the cache and --offline is set"), and
 * remember each answer or error for the next planning round. Returns how
 * many requests were handled (0: none were waiting: the plan is final). */
size_t inputs_resolve(struct inputs *in, struct fetch_ctx *f);

/* Are requests waiting for inputs_resolve()? (No fetcher needed to ask.) */
bool inputs_pending(const struct inputs *in);

#endif
