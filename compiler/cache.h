/* cache.h — smolc's build cache directory.
 *
 * Design
 * ------
 * Where: `--cache-dir` > `$SMOLC_CACHE` > `$XDG_CACHE_HOME/smolc` >
 * `$HOME/.cache/smolc` (cache_default_dir()).
 *
 * Layout (all under the cache root):
 *   downloads/<sha256-of-url>/file       the fetched bytes (fetch.c)
 *   downloads/<sha256-of-url>/meta       "key value" lines: url, etag,
 *                                        last-modified, sha256, sha512,
 *                                        size, mtime (fetch.c)
 *   downloads/<sha256-of-url>/last-used  mtime = last use
 *   layers/<key>/                        opaque directory owned by the
 *                                        builder; may hold `desc` (one line,
 *                                        shown by `cache ls`). The name
 *                                        `last-used` is reserved (cache.c
 *                                        touches it).
 *   tmp/<hint>.<pid>@<tag>.<random>      temp files/dirs of a running build
 *                                        (tag: host + pid namespace)
 *   locks/<kind>-<key>.lock              flock(2) files
 *
 * Everything the cache keeps is written to tmp/ first and renamed into
 * place (same filesystem), so a killed build never leaves a partial entry
 * under a final name. Stale tmp entries (owner pid dead, or older than N
 * hours) are removed by cache_clean_tmp(), which cache_open() runs with a
 * 24-hour limit.
 *
 * Concurrency: two builds sharing a cache take per-key locks
 * (cache_lock()). A builder takes an EXCLUSIVE lock on a key while it
 * creates the entry, and a SHARED lock while it reads an entry it must
 * not lose. prune takes a non-blocking exclusive lock on every entry it
 * removes and skips entries it cannot lock. Lock files are never stale:
 * cache_lock() re-checks after flock() that the file it locked is still
 * the one at the path (prune may unlink lock files it holds).
 *
 * Ownership: struct cache is owned by the caller of cache_open() and freed
 * with cache_free(). Every returned `char *` is owned by the caller.
 * Errors: functions returning int give 0 (or a documented positive value)
 * on success, -1 on failure with *err set to a one-line message (caller
 * frees); err may be NULL. Nothing here prints, except the cache_print_*
 * functions, which write to the FILE * they are given. */
#ifndef SMOLC_CACHE_H
#define SMOLC_CACHE_H

#include "error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct cache;

/* The cache directory to use: `override` (from --cache-dir) if non-NULL and
 * non-empty, else $SMOLC_CACHE, else $XDG_CACHE_HOME/smolc, else
 * $HOME/.cache/smolc. Returns NULL (with *err) only when none can be
 * determined. Does not create anything. */
char *cache_default_dir(const char *override, struct error **err);

/* Open (creating if needed, mode 0755) the cache at `dir`, or at
 * cache_default_dir(NULL) when dir is NULL. Creates downloads/ layers/
 * tmp/ locks/ and removes stale tmp entries (dead owner, or > 24 h). */
struct cache *cache_open(const char *dir, struct error **err);
void cache_free(struct cache *c);

/* Root directory (borrowed, absolute). */
const char *cache_root(const struct cache *c);

/* Is `key` usable as a layer key? [A-Za-z0-9._-]{1,200}, not starting with
 * '.'. Layer keys are chosen by the builder (e.g. a sha256 hex). */
bool cache_key_valid(const char *key);

/* ---- downloads (used by fetch.c) ---- */

/* Key of a URL: sha256 hex of the URL string (65 bytes incl. NUL). */
void cache_url_key(const char *url, char key[65]);
/* downloads/<key>/ (directory, not created), downloads/<key>/file and
 * downloads/<key>/meta for a URL. */
char *cache_download_dir(const struct cache *c, const char *url);
char *cache_download_file(const struct cache *c, const char *url);
char *cache_download_meta(const struct cache *c, const char *url);

/* ---- layers (used by the build driver) ---- */

/* layers/<key> (may not exist). NULL with *err when the key is invalid. */
char *cache_layer_path(const struct cache *c, const char *key, struct error **err);
/* True when layers/<key> exists (a committed layer). Touches last-used. */
bool cache_layer_exists(const struct cache *c, const char *key);

/* ---- temporaries ---- */

/* Fresh empty directory tmp/<hint>.<pid>@<tag>.<random>; *path owned by caller.
 * hint: short word for humans ("layer", "fetch"), may be NULL. */
int cache_mktemp_dir(const struct cache *c, const char *hint, char **path, struct error **err);
/* Fresh file tmp/<hint>.<pid>@<tag>.<random> opened O_RDWR|O_CLOEXEC, mode 0644.
 * *fd is the open descriptor (caller closes), *path owned by caller. */
int cache_mktemp_file(const struct cache *c, const char *hint, char **path, int *fd, struct error **err);

/* Commit a finished temp directory (from cache_mktemp_dir) as layers/<key>
 * with rename(2). Returns 1 when ours became the entry, 0 when another
 * build had already committed that key (ours is deleted; theirs is kept),
 * -1 on error (tmpdir is left for the caller or cache_clean_tmp). Touches
 * last-used. If final_path is non-NULL it receives layers/<key>. */
int cache_commit_layer(const struct cache *c, const char *tmpdir, const char *key,
		       char **final_path, struct error **err);

/* Remove tmp entries whose owner pid is dead (only judged for entries made
 * on the same host and pid namespace) or whose mtime is older than
 * max_age_hours (0 = only dead owners). Returns the number removed, or -1. */
int cache_clean_tmp(const struct cache *c, unsigned max_age_hours, struct error **err);

/* ---- locks ---- */

enum cache_lock_mode { CACHE_LOCK_SHARED, CACHE_LOCK_EXCLUSIVE };
struct cache_lock;

/* Lock locks/<kind>-<key>.lock. kind: "dl" (downloads) or "layer", or any
 * word; key must be cache_key_valid(). When wait is false and the lock is
 * busy, returns 1 with *out = NULL (no error). Returns 0 with *out set on
 * success, -1 on error. Locks are released by cache_unlock() or when the
 * process exits. */
int cache_lock(const struct cache *c, const char *kind, const char *key,
	       enum cache_lock_mode mode, bool wait, struct cache_lock **out, struct error **err);
void cache_unlock(struct cache_lock *l);        /* NULL-safe */
/* Turn a held exclusive lock into a shared one (flock(2) conversion; not
 * atomic: another waiter may get the lock in between). 0 or -1. */
int cache_lock_downgrade(struct cache_lock *l);

/* ---- use tracking, listing, pruning ---- */

/* Set <entry_dir>/last-used's mtime to now (creating it). 0 or -1. */
int cache_touch(const char *entry_dir);

/* CACHE_KIND_MEMO: the digest memos (digests/), PKGS resolutions
 * (resolved/) and `smolc export`'s runtime layers (containers/): files
 * rebuilt when missing (checked before use), never locked. */
enum cache_kind { CACHE_KIND_DOWNLOAD, CACHE_KIND_LAYER, CACHE_KIND_MEMO, CACHE_KIND_TMP, CACHE_KIND__COUNT };
const char *cache_kind_name(enum cache_kind k);  /* "download" "layer" "memo" "tmp" */

/* One cache entry, as listed by cache_list(). All strings owned. */
struct cache_entry {
	enum cache_kind kind;
	char *key;        /* url key / layer key / tmp name */
	char *path;       /* absolute path of the entry directory or file */
	char *desc;       /* downloads: the URL; layers: first line of desc; may be NULL */
	uint64_t size;    /* bytes on disk (st_blocks * 512 of the whole tree) */
	time_t last_used; /* mtime of last-used, else of the entry itself */
};
struct cache_list {
	struct cache_entry *v;
	size_t n;
};
/* List all entries (downloads, layers, tmp), sorted by kind then key. */
int cache_list(const struct cache *c, struct cache_list *out, struct error **err);
void cache_list_free(struct cache_list *l);    /* NULL-safe; frees contents */

/* What to prune. Exactly one policy:
 *   all            everything (unlocked)
 *   older_than_days > 0, or by_age: entries unused for more than that many
 *                  days (by_age with 0 days: every entry not in use now)
 *   max_bytes > 0  least recently used first until total <= max_bytes
 * A zeroed struct removes nothing but stale tmp entries.
 * Locked entries (someone holds their lock) are never removed. tmp entries
 * are only removed when stale (see cache_clean_tmp). */
struct cache_prune_opts {
	bool all;
	int older_than_days;   /* <= 0 = not used, unless by_age */
	bool by_age;           /* older_than_days is the policy, also when 0 */
	uint64_t max_bytes;    /* 0 = not used */
	bool dry_run;
};
struct cache_prune_result {
	size_t removed, kept, skipped_locked;
	uint64_t freed_bytes, remaining_bytes;
};
/* Prune; when `log` is non-NULL, one line per removed entry is written to
 * it ("removed layer <key> (12.3 MiB)"). */
int cache_prune(const struct cache *c, const struct cache_prune_opts *o,
		struct cache_prune_result *res, FILE *log, struct error **err);

/* `smolc cache ls`: table KIND KEY SIZE LAST-USED DESCRIPTION. */
int cache_print_ls(const struct cache *c, FILE *out, struct error **err);
/* The same as a JSON array of {kind, key (full), size (bytes), last_used
 * (UTC, ISO 8601), description}. */
int cache_print_ls_json(const struct cache *c, FILE *out, struct error **err);
/* `smolc cache du`: one line per kind and a total. */
int cache_print_du(const struct cache *c, FILE *out, struct error **err);
/* `smolc cache verify`: recompute the digest of every layer (layer_verify)
 * and download (sha256 against meta's); one line per damaged entry (kind,
 * key, description, what differs) and a summary. remove: delete the
 * damaged entries not in use. *bad = number of damaged entries. */
int cache_verify(const struct cache *c, bool remove, FILE *out, size_t *bad, struct error **err);
/* Summary line of a prune ("pruned 3 entries, freed 12.3 MiB, 1 locked entry kept"). */
void cache_print_prune(const struct cache_prune_result *r, bool dry_run, FILE *out);

#endif
