/* pkgdb.h — packing lists, +BUILD_INFO, and the package database that
 * pkg_add would leave under <PKG_DBDIR>/<PKGNAME>/.
 *
 * Design: pure data functions. The caller (build driver) reads the '+'
 * metadata entries out of each package archive, hands them here, and gets
 * back a list of (path, mode, content) to write into the image layer:
 *   <dbdir>/<PKGNAME>/+CONTENTS           0644
 *   <dbdir>/<PKGNAME>/+INSTALL, +DEINSTALL 0555
 *   <dbdir>/<PKGNAME>/+COMMENT, +DESC, ...  0444
 *   <dbdir>/<DEP>/+REQUIRED_BY             0644, one dependent PKGNAME per line
 *   <dbdir>/<PKGNAME>/+INSTALLED_INFO      0644 "automatic=yes" for packages
 *                                            pulled in only as dependencies
 * +REQUIRED_BY: each @pkgdep pattern of a package is matched (pkg_match)
 * against the other packages being registered; the match gets the
 * dependent's PKGNAME appended, in the order packages are given.
 * The pkgdb.byfile.db Berkeley DB is not produced (rebuilt in the guest
 * with `pkg_admin rebuild`).
 *
 * Ownership: every struct here owns its strings; *_free accept NULL. */
#ifndef SMOLC_PKGDB_H
#define SMOLC_PKGDB_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- +CONTENTS (packing list) ---- */
enum pkg_plist_kind {
	PLIST_FILE,      /* a file path relative to the current @cwd */
	PLIST_NAME,      /* @name */
	PLIST_CWD,       /* @cwd / @cd */
	PLIST_PKGDEP,    /* @pkgdep */
	PLIST_BLDDEP,    /* @blddep */
	PLIST_PKGCFL,    /* @pkgcfl */
	PLIST_COMMENT,   /* @comment (also "MD5:..." / "Symlink:" lines) */
	PLIST_MODE,      /* @mode (empty arg resets) */
	PLIST_OWNER,     /* @owner */
	PLIST_GROUP,     /* @group */
	PLIST_EXEC,      /* @exec */
	PLIST_UNEXEC,    /* @unexec */
	PLIST_DIRRM,     /* @dirrm */
	PLIST_PKGDIR,    /* @pkgdir (directory owned by the package) */
	PLIST_DISPLAY,   /* @display */
	PLIST_IGNORE,    /* @ignore (the next file line is not installed) */
	PLIST_OPTION,    /* @option */
	PLIST_SRC,       /* @src */
	PLIST_UNKNOWN    /* any other @directive (kept, text in arg) */
};

struct pkg_plist_entry {
	enum pkg_plist_kind kind;
	char *arg;          /* text after the directive, "" when none */
	char *directive;    /* for PLIST_UNKNOWN: the word after '@' */
	/* For PLIST_FILE: state in effect when the line was read. */
	const char *cwd;    /* borrowed from the PLIST_CWD entry (or NULL) */
	const char *mode, *owner, *group;   /* borrowed, NULL when unset */
	const char *md5;    /* borrowed from the next "@comment MD5:" (or NULL) */
	bool ignored;       /* preceded by @ignore */
};

struct pkg_plist {
	struct pkg_plist_entry *v;
	size_t n, cap;
	const char *name;       /* @name (borrowed from v), NULL when absent */
	const char *first_cwd;  /* first @cwd, NULL when absent */
	size_t n_files;         /* PLIST_FILE entries not ignored */
};

/* Parse +CONTENTS text. Returns 0, or -1 with *err (e.g. `+CONTENTS:
 * line 3: file "../../etc/passwd" escapes the prefix`). File lines must be
 * relative with no ".." component (checked here); @cwd must be absolute. */
int pkg_plist_parse(const char *text, size_t len, struct pkg_plist *out, struct error **err);
void pkg_plist_free(struct pkg_plist *pl);   /* frees content, not pl */

/* True when rel is a safe relative path: not absolute, no ".." component,
 * not empty. */
bool pkg_path_is_safe(const char *rel);

/* ---- +BUILD_INFO ---- */
struct pkg_build_info {
	char *localbase;      /* LOCALBASE, NULL when absent */
	char *opsys;          /* OPSYS */
	char *os_version;     /* OS_VERSION */
	char *machine_arch;   /* MACHINE_ARCH */
	char *pkg_dbdir;      /* PKG_DBDIR, NULL when absent */
	char *pkgtools_version; /* PKGTOOLS_VERSION */
};
/* Parse "KEY=VALUE" lines (other keys ignored; first occurrence wins).
 * Returns 0 (never fails on content; -1 only for NUL bytes, with *err). */
int pkg_build_info_parse(const char *text, size_t len, struct pkg_build_info *out, struct error **err);
void pkg_build_info_free(struct pkg_build_info *bi);  /* frees content */

/* pkg_add's checks: OPSYS, OS_VERSION and MACHINE_ARCH must be present
 * and, when opsys / machine_arch are given, equal to them. Returns 0, or
 * -1 with *err, e.g. `nginx-1.25.3: built for NetBSD/aarch64, the image
 * is NetBSD/x86_64; use a repository for this ARCH`. */
int pkg_build_info_check(const char *pkgname, const struct pkg_build_info *bi,
			 const char *opsys, const char *machine_arch, struct error **err);

/* Default PKG_DBDIR for a LOCALBASE: "<localbase>/pkgdb" ("/usr/pkg" when
 * NULL). NetBSD 9 base pkg_install uses /var/db/pkg: pass it explicitly
 * then. Caller frees. */
char *pkgdb_default_dir(const char *localbase);

/* ---- registration ---- */
/* One metadata file of a package ("+CONTENTS", "+COMMENT", ...). */
struct pkg_meta_file {
	const char *name;        /* borrowed */
	const char *data;        /* borrowed */
	size_t len;
};

/* One package to register. */
struct pkgdb_pkg {
	const char *pkgname;     /* NULL: taken from +CONTENTS @name */
	const struct pkg_meta_file *meta;
	size_t n_meta;
	bool automatic;          /* installed only as a dependency */
};

/* One output file; path is absolute ("<dbdir>/<PKGNAME>/+CONTENTS"). */
struct pkgdb_file {
	char *path;
	unsigned mode;
	char *data;
	size_t len;
};
struct pkgdb_files {
	struct pkgdb_file *v;
	size_t n, cap;
};

/* True for archive entry names that are package metadata ("+CONTENTS",
 * "+REQUIRED_BY", ...: a single path component starting with '+'). */
bool pkgdb_is_meta_name(const char *name);

/* Mode pkg_add gives a metadata file. */
unsigned pkgdb_meta_mode(const char *name);

/* Metadata read from a package archive (owned strings). */
struct pkg_meta_set {
	struct pkg_meta_file *v;    /* name and data are malloc'd, data NUL-terminated */
	size_t n, cap;
};
/* Read the leading metadata entries of a package (.tgz/.tbz/.txz/plain
 * tar, detected by content) with libarchive, stopping, like pkg_add, at
 * the first entry that is not a known "+FILE" name (+CONTENTS, +COMMENT,
 * +DESC, +INSTALL, +DEINSTALL, +DISPLAY, +MTREE_DIRS, +BUILD_VERSION,
 * +BUILD_INFO, +SIZE_PKG, +SIZE_ALL, +PRESERVE, +VIEWS, +REQUIRED_BY,
 * +INSTALLED_INFO). +CONTENTS must come first; duplicates are an error;
 * each entry is capped at 16 MiB. Returns 0, or -1 with *err naming the
 * path and entry. */
int pkgdb_read_meta(const char *path, struct pkg_meta_set *out, struct error **err);
void pkg_meta_set_free(struct pkg_meta_set *m);   /* frees content, not m */

/* Produce the database files for `pkgs` (n of them, in install order)
 * under `dbdir` (absolute). Every package needs +CONTENTS with @name (or
 * pkgname set) and @cwd, +COMMENT and +DESC. Output is sorted by path. Returns 0,
 * or -1 with *err naming the package and file. Appends to *out. */
int pkgdb_register(const char *dbdir, const struct pkgdb_pkg *pkgs, size_t n,
		   struct pkgdb_files *out, struct error **err);
void pkgdb_files_free(struct pkgdb_files *f);   /* frees content, not f */

#endif
