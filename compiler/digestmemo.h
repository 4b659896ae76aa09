/* digestmemo.h — SHA-256 of local files, remembered by file identity.
 *
 * `smolc plan` and `smolc build` digest every local input (COPY sources,
 * RC/POSTINST files, local sets and kernels) to compute cache keys. A
 * memo remembers each digest under the file's identity (device, inode,
 * size, mtime and ctime in ns), the way git's index does, so an unchanged
 * file is not read again: one stat instead of open/read/close and hashing.
 *
 * One memo file per recipe: <cache>/digests/<sha256 of the recipe's
 * realpath>, text, rewritten (temp file + rename) only when it changed and
 * holding only the files the last plan used. A file changed less than 2 s
 * ago is not remembered: its next change could keep the same timestamps.
 * A torn or foreign memo is ignored, never trusted. */
#ifndef SMOLC_DIGESTMEMO_H
#define SMOLC_DIGESTMEMO_H

#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

struct dmemo;

/* Open the memo for `recipe_path` under `cache_root`; either may be NULL
 * (then nothing is remembered, digests are still computed). Never fails. */
struct dmemo *dmemo_open(const char *cache_root, const char *recipe_path);

/* sha256 (64 lowercase hex + NUL) of the regular file `path`. `st` is its
 * stat if the caller has it, else NULL. 0, or -1 with errno (unreadable). */
int dmemo_digest(struct dmemo *m, const char *path, const struct stat *st, char hex[65]);

/* Memo files (this one and PKGS resolutions, pkgs.c): a first line naming
 * the format ("smolc-digests 1"), text lines, and a last line
 * "sum <sha256 of everything before it>". They are hints, written without
 * fsync: a torn or edited one fails its sum and is ignored, never trusted.
 * memo_file_read returns the text lines (NUL-terminated, each ending in
 * '\n'; caller frees), or NULL when the file is absent, torn or of
 * another format. memo_file_write adds the format and sum lines and
 * writes the file atomically (temp + rename), creating its directory;
 * best effort. */
char *memo_file_read(const char *path, const char *format);
void memo_file_write(const char *path, const char *format, const char *body, size_t len);

/* Tests: take `now` as the current time for the 2-second rule. */
void dmemo_set_clock(struct dmemo *m, time_t now);

/* Write the memo back if it changed, and free it. `complete`: the run
 * digested every input it has (a plan without errors), so entries it did
 * not use are dropped; else they are kept. NULL-safe. */
void dmemo_close(struct dmemo *m, bool complete);

#endif
