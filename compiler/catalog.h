/* catalog.h — where NetBSD inputs come from, as data (sets/catalog.yaml),
 * plus parsers for the checksum files published beside them.
 *
 * Design
 * ------
 * sets/catalog.yaml (libyaml) lists releases, arches, URL templates,
 * kernels, set extensions, default sets and the default mirror; see
 * sets/README.md for the format. catalog_locate() finds the file,
 * catalog_load() parses it (errors as "file:line:column: message"), and
 * catalog_target() resolves one (release, arch, mirror) into concrete
 * URLs the build driver passes to fetch.h. Templates use {mirror}
 * {version} {arch} {machine} {pkgversion} {branch} {set} {ext} {kernel}.
 *
 * Checksum files: catalog_sums_parse() reads NetBSD `SHA512`/`MD5` files
 * (`SHA512 (base.tar.xz) = <hex>`), `sha512sum`/`sha256sum` output
 * (`<hex>  name`, `<hex> *name`) and bare-hex `.sha256` files. The set
 * name → file name resolution takes the extension from that list
 * (catalog_sums_find_set) rather than guessing.
 *
 * Ownership: structs returned by catalog_load(), catalog_target() and
 * catalog_sums_parse() are owned by the caller and freed with the matching
 * free function (NULL-safe). `const char *`
 * returns are borrowed from the struct they come from. Errors: -1 / NULL
 * with *err (one line, error.h); err may be NULL. Nothing prints. */
#ifndef SMOLC_CATALOG_H
#define SMOLC_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct catalog;

/* Find catalog.yaml. If `explicit_path` is non-NULL it is used as is
 * (must exist). Else, first existing of:
 *   $SMOLC_DATADIR/sets/catalog.yaml
 *   <dir of /proc/self/exe>/sets/catalog.yaml  (running from a checkout)
 *   <dir of /proc/self/exe>/../sets/catalog.yaml
 *   <dir of /proc/self/exe>/../share/smolc/sets/catalog.yaml (installed)
 *   <prefix>/share/smolc/sets/catalog.yaml      (prefix = SMOLC_PREFIX at
 *                                               compile time, default /usr/local)
 * Returns the path (caller frees) or NULL with *err listing the places
 * tried and saying to set SMOLC_DATADIR. */
char *catalog_locate(const char *explicit_path, struct error **err);

/* Parse a catalog file. Errors: "<path>:<line>:<col>: <problem>". */
struct catalog *catalog_load(const char *path, struct error **err);
/* Parse from memory (`origin` names it in messages). */
struct catalog *catalog_load_string(const char *text, size_t len, const char *origin, struct error **err);
void catalog_free(struct catalog *c);

/* The data directory: the directory that contains sets/catalog.yaml
 * (borrowed; "" when loaded from a string). */
const char *catalog_datadir(const struct catalog *c);
/* Mirror to use: `option` (--mirror) if non-empty, else $SMOLC_MIRROR if
 * non-empty, else NULL (meaning: each release's own default). Borrowed. */
const char *catalog_mirror_override(const char *option);

/* Default release (the catalog's `default_release`). */
const char *catalog_default_release(const struct catalog *c);

/* Everything about one release on one arch, resolved. All strings owned
 * by the struct; URLs with a trailing '/' are directories. */
struct catalog_target {
	char *release;       /* catalog name: "10.1", "daily" */
	char *version;       /* NetBSD version ("10.1"; "11" style for daily) */
	char *arch;          /* "amd64", "i386", "evbarm-aarch64" */
	char *machine;       /* pkgsrc machine: "x86_64", "i386", "aarch64" */
	char *mirror;        /* the mirror used */
	char *sets_url;      /* …/binary/sets/ */
	char *sha512_url;    /* …/binary/sets/SHA512 */
	char *set_ext;       /* default set extension for this release+arch ("tar.xz", "tgz") */
	char *kernel_name;   /* default kernel: "netbsd-SMOL" */
	char *kernel_url;
	char *kernel_sha256_url; /* NULL when the catalog has none */
	char *kernel_dir_url;    /* …/binary/kernel/ of the release */
	char *pkgsrc_url;    /* …/packages/NetBSD/<machine>/<pkgversion>/All/ */
	char *pkg_version;   /* "10.1", "11.0" */
	bool daily;          /* unpinnable moving target */
	struct strvec default_sets;  /* base, etc */
	struct strvec tiny_sets;     /* rescue */
	struct strvec known_sets;    /* set names that may exist (for messages) */
};

/* Resolve `release` ("10.1", "daily"; a "netbsd-" prefix is accepted) on
 * `arch` (NULL = default arch). `mirror` NULL = release default; pass
 * catalog_mirror_override(opt) to honour --mirror/SMOLC_MIRROR.
 * Errors: "unknown NetBSD release '10.9' (known: 9.3 9.4 10.0 10.1 11.0 daily head)",
 * "unknown architecture 'sparc' (known: amd64 i386 evbarm-aarch64)". */
struct catalog_target *catalog_target(const struct catalog *c, const char *release,
				      const char *arch, const char *mirror, struct error **err);
void catalog_target_free(struct catalog_target *t);

/* URL of a set file in the target: sets_url + file. `file` is a full file
 * name ("base.tar.xz") or a bare set name ("base"), which gets set_ext. */
char *catalog_set_url(const struct catalog_target *t, const char *file);

/* Kernel by name for the target: NULL/"" = default kernel; a name known to
 * the catalog for the arch (e.g. "SMOL", "GENERIC"), or a file name in the
 * release's kernel directory ("netbsd-GENERIC.gz"). Fills *url and
 * *sha256_url (NULL if none); returns 0 or -1 with *err. */
int catalog_kernel(const struct catalog *c, const struct catalog_target *t, const char *name,
		   char **url, char **sha256_url, struct error **err);

/* A local set file as the anchor uses them: the first existing of
 * <dir>/sets/<arch>/<file> for dir in (recipe_dir, datadir), where file is
 * `file_name` if non-NULL, else <set>.<ext> for ext in (t->set_ext,
 * tar.xz, tgz, tar.gz, tar.zst, tar). recipe_dir/datadir may be NULL.
 * Returns the path (caller frees) or NULL when none exists. */
char *catalog_local_set(const struct catalog_target *t, const char *recipe_dir,
			const char *datadir, const char *set, const char *file_name);

/* ---- checksum lists ---- */

struct catalog_sum {
	char *name;          /* file name as listed ("base.tar.xz") */
	char *alg;           /* "sha512", "sha256", "md5", … lowercase */
	char *hex;           /* lowercase hex */
};
struct catalog_sums {
	struct catalog_sum *v;
	size_t n;
};

/* Parse a checksum list. Accepts lines `ALG (name) = hex` (BSD tag form,
 * NetBSD SHA512/MD5 files, sha*sum --tag), `hex  name` / `hex *name`
 * (sha*sum; the algorithm from the hex length), and a lone `hex` (the
 * name is then ""). Blank lines and '#' comments are skipped; a malformed
 * line is an error "<origin>:<line>: …". */
struct catalog_sums *catalog_sums_parse(const char *text, size_t len, const char *origin,
					struct error **err);
void catalog_sums_free(struct catalog_sums *s);
/* Digest of `name` (exact match, a leading "./" ignored) with algorithm
 * `alg` (NULL = any; sha512 preferred over sha256 over others). Borrowed. */
const struct catalog_sum *catalog_sums_lookup(const struct catalog_sums *s, const char *name,
					      const char *alg);

/* Resolve a set name to the file actually published: the entry of `sums`
 * named <set>.tar.xz, <set>.tgz, <set>.tar.gz, <set>.tar.zst or <set>.tar
 * (or exactly `set` if it already has an extension). Returns the entry
 * (borrowed) or NULL with *err: "set 'bsae' is not in <origin> (sets: base
 * comp etc …)". */
const struct catalog_sum *catalog_sums_find_set(const struct catalog_sums *s, const char *set,
						const char *origin, struct error **err);

/* Read a .sha256 file for `name`: the line naming `name` (any accepted
 * form), or the only digest in the file. Fills hex (lowercase, 64) and
 * returns 0, or -1 with *err. */
int catalog_parse_sha256(const char *text, size_t len, const char *name, const char *origin,
			 char hex[65], struct error **err);

#endif
