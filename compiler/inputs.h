/* inputs.h — the remote inputs a plan reads, without downloading.
 *
 * Planning never downloads, by construction: plan_make() and pkgs_plan()
 * get a struct inputs, not a fetcher. It answers from what the resolver
 * fetched for this command (inputs_resolve, resolve.h) and from the cache
 * (through a fetcher that is offline and cannot reach the network), and
 * records every remote request it cannot answer yet.
 *
 * Two modes:
 *   looking (smolc plan, smolc lock --offline): a request is answered from
 *     the cache or is INPUT_MISSING (the plan shows it "pending"); nothing
 *     is recorded and nothing fails.
 *   resolving (smolc build, smolc lock): an unpinned remote request is
 *     answered only once the resolver fetched (or revalidated) it this
 *     run; a pinned one straight from the cache when the cached bytes
 *     match the pin (no network either way, as fetch_file does); anything
 *     else is recorded and INPUT_MISSING. The caller (session_plan) then
 *     resolves what was recorded and plans again, until a round records
 *     nothing new. A request the resolver could not fetch is INPUT_FAILED
 *     with its one-line error, which the planner reports at the
 *     instruction that asked for it.
 * Local paths and file:// URLs are read in place in both modes
 * (INPUT_FAILED with the error when resolving, INPUT_MISSING when looking).
 *
 * A planner whose next request depends on an answer (the SHA512 list
 * before the sets it names, pkg_summary before the packages) stops at an
 * INPUT_MISSING in resolving mode and leaves the rest pending: the next
 * round asks for it with the right pin. */
#ifndef SMOLC_INPUTS_H
#define SMOLC_INPUTS_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

struct cache;
struct inputs;

/* One request: as struct fetch_req (fetch.h). */
struct input_req {
	const char *url;       /* http(s)://, file:// or a local path */
	const char *digest;    /* pin ("sha256:…", "sha512:…") or NULL */
	const char *hint;      /* appended to a 404 message; NULL: "check the URL" */
	const char *base_dir;  /* a relative local path is relative to it */
};

/* An answer: the file to read and its sha256 (hex). Strings owned by
 * the inputs object, valid until inputs_free. */
struct input_file {
	const char *path;
	const char *sha256;
};

enum input_state { INPUT_OK, INPUT_MISSING, INPUT_FAILED };

/* cache borrowed (may be NULL: local paths only). Prints its own error
 * and returns NULL when the cache reader cannot be made. */
struct inputs *inputs_new(struct cache *cache, bool resolving);
void inputs_free(struct inputs *in);  /* NULL-safe */
bool inputs_resolving(const struct inputs *in);

/* Look up one file. INPUT_OK fills *out; INPUT_FAILED sets *err (one
 * line, caller frees); INPUT_MISSING: not known yet. */
enum input_state inputs_file(struct inputs *in, const struct input_req *req, struct input_file *out, struct error **err);

/* The same, then read the file into memory (NUL-terminated, at most
 * max_bytes; 0 = 64 MiB); *text owned by the caller. A file too large is
 * INPUT_FAILED. */
enum input_state inputs_text(struct inputs *in, const struct input_req *req, size_t max_bytes, char **text, size_t *len,
			     struct error **err);

#endif
