/* ir.h — the typed intermediate representation of a recipe.
 *
 * lower.c turns the syntax tree into a list of ir_node (one per
 * instruction, variables expanded, arguments parsed and typed); check.c
 * validates it and fills `struct recipe`'s resolved settings; plan.c
 * orders the layer-producing steps and computes their cache keys.
 * Every node keeps the location of its instruction. A pass is one
 * `switch (node->kind)` over the kinds it cares about: plan.c turns only
 * the layer-producing kinds (SETS, PKGS, COPY, POSTINST) into steps and
 * passes over the settings (FROM, SERVICE, ARCH …), which check.c has
 * already folded into struct recipe_settings.
 *
 * Ownership: a recipe owns its nodes, their strings and its parent
 * recipe (FROM <recipe>). recipe_free() frees everything. */
#ifndef SMOLC_IR_H
#define SMOLC_IR_H

#include "diag.h"
#include "util.h"

#include <sys/stat.h>

enum ir_kind {
	IR_FROM,
	IR_SETS,
	IR_PKGS,
	IR_RC,
	IR_POSTINST,
	IR_PORTS,
	IR_KERNEL,
	IR_ARG,
	IR_ENV,
	IR_COPY,
	IR_SERVICE,
	IR_ARCH,
	IR_SIZE,
	IR_MEM,
	IR_CPUS,
	IR_SHARE,
	IR_READONLY,
	IR_INCLUDE,
	IR_LABEL,
	IR_CMD,
	IR_PROFILE,
	IR_APPEND,
	IR_PKGSITE,
	IR_RUN,
	IR_INITRD,
	/* the Dockerfile instructions of the smoler dialect (SPEC.md §9) */
	IR_EXPOSE,
	IR_USER,
	IR_WORKDIR,
	IR_VOLUME,
	IR_ENTRYPOINT,
	/* minimised images (SPEC.md, KEEP and MINIMIZE) */
	IR_KEEP,
	IR_MINIMIZE,
	/* run-time settings in the run config (SPEC.md §2 FWCFG) */
	IR_FWCFG,
	IR__COUNT
};

/* Static facts about each instruction (lower.c). */
struct ir_info {
	const char *name;      /* canonical upper-case keyword */
	enum ir_kind kind;
	bool single;           /* may appear once per recipe */
	const char *usage;     /* for messages */
};
const struct ir_info *ir_info(enum ir_kind k);
const struct ir_info *ir_lookup(const char *keyword);       /* case-insensitive; NULL if unknown */
const char *ir_suggest(const char *keyword);               /* closest keyword or NULL */

enum base_kind { BASE_SCRATCH, BASE_NETBSD, BASE_RECIPE };

enum src_kind { SRC_NAME, SRC_URL, SRC_PATH };

struct ir_set {
	struct loc loc;
	enum src_kind src;
	char *ref;          /* set name ("base"), URL, or path (relative to the recipe dir) */
	struct strvec globs;/* partial extraction filters ("/usr/bin/strip"); empty = all */
	char *sha256;       /* pinned digest ("sha256:" stripped) or NULL */
};

struct ir_port {
	struct loc loc;
	char *host_addr;    /* default "127.0.0.1" */
	unsigned host, guest;
	bool udp;
};

/* --chown=<user>[:<group>] of COPY and POSTINST: names are resolved at
 * build time against the image's /etc/passwd and /etc/group. */
struct ir_chown {
	char *spec;         /* "user", "user:group" (names or numbers), or NULL = none */
	struct loc loc;     /* the option word, for build-time errors */
};

struct ir_script {
	char *text;         /* the script (heredoc body or file contents) */
	char *path;         /* file it came from (relative to the recipe dir) or NULL */
	struct loc body_loc;/* a heredoc's body lines (file 0 for a file) */
	bool network;       /* POSTINST/RUN --network */
	unsigned timeout;   /* POSTINST/RUN --timeout seconds; 0 = default */
	uint64_t mem_mib;   /* RUN --mem: the builder VM's memory; 0 = the recipe's MEM */
	bool shell_form;    /* RUN <command line> (not a heredoc) */
	struct ir_chown chown; /* POSTINST --chown: owner of the files the script creates */
};

struct ir_copy {
	struct strvec srcs; /* relative to the build context */
	struct loc *src_locs;
	struct stat *src_st;/* check_recipe: each plain source's lstat (st_nlink 0: unknown) */
	char *dst;
	struct ir_chown chown;
	int mode;           /* -1 = keep */
	char *url;          /* ADD <url> <dst>: the one (remote) source; srcs is then empty */
	struct loc url_loc;
	char *checksum;     /* ADD --checksum=sha256:<hex>, or NULL */
};

struct ir_node {
	enum ir_kind kind;
	struct loc loc;     /* the whole instruction line */
	struct loc arg_loc; /* first argument (or the keyword when none) */
	union {
		struct {
			enum base_kind kind;
			char *name;         /* "scratch", "netbsd-10.1", a service or path */
			char *version;      /* BASE_NETBSD: "10.1" */
		} from;
		struct {
			struct ir_set *v;
			size_t n;
		} sets;
		struct {
			struct strvec pats;
			struct loc *locs;
			bool no_scripts;    /* PKGS --no-scripts: never run +INSTALL */
		} pkgs;                     /* PKGS; KEEP (pats: paths, globs, "pkg:<name>") */
		/* RC and POSTINST, COPY: out of line (allocated by
		 * recipe_push) so that a node stays at 64 bytes */
		struct ir_script *script;       /* RC, POSTINST, RUN */
		struct {
			struct ir_port *v;
			size_t n;
		} ports;
		struct {
			enum src_kind src;
			char *ref;
			char *sha256;
		} kernel;                   /* KERNEL; INITRD (never SRC_NAME) */
		struct {
			char *name;
			char *value;        /* NULL for "ARG NAME" without default */
		} var;                      /* ARG, ENV */
		struct ir_copy *copy;           /* COPY */
		char *str;                  /* SERVICE ARCH PROFILE APPEND PKGSITE INCLUDE USER WORKDIR VOLUME */
		struct {
			char *text;         /* shell text for the guest's /bin/sh */
			bool exec;          /* written in the exec form ["prog", "arg"] (text: the words quoted) */
		} cmd;                      /* CMD ENTRYPOINT */
		struct ir_port *expose;     /* EXPOSE (host 0: documentation only) */
		struct {
			bool is_auto;
			uint64_t bytes;     /* explicit size, or auto's extra headroom */
		} size;
		uint64_t mem_mib;
		unsigned cpus;
		bool minimize;              /* MINIMIZE: auto (true) or off */
		struct {
			char *host;
			char *guest;
		} share;
		struct {
			char *key;
			char *value;
		} label;
		struct {
			char *name;         /* [A-Za-z0-9_]{1,40} */
			char *value;        /* the string, or (is_file) the host path as written */
			bool is_file;
		} fwcfg;                    /* FWCFG: one node per NAME=VALUE */
	} u;
};

/* Resolved settings after check.c (borrowed pointers into the nodes, or
 * defaults). */
struct recipe_settings {
	const char *service;
	const char *arch;        /* "amd64" default */
	const char *profile;     /* "netbsd" default */
	bool size_auto;
	uint64_t size_bytes;     /* explicit, or auto headroom */
	uint64_t mem_mib;        /* 256 default */
	unsigned cpus;           /* 1 default */
	bool readonly;
	const struct ir_node *kernel;   /* NULL = the catalog default */
	const struct ir_node *initrd;   /* NULL = none */
	const struct ir_node *rc;
	const char *cmd;
	const char *append;
	const char *pkgsite;
	const struct ir_node *from;
	const char *tag;         /* LABEL smolbsd.imgtag: the output name when -t is not given */
	const char *console;     /* LABEL smolbsd.use_pty=y: "pty"; NULL = the default */
	const char *user;        /* USER: CMD runs as this user … */
	const char *workdir;     /* … in this directory (WORKDIR) */
	bool minimize;           /* MINIMIZE (or LABEL smolbsd.minimize=y), the parent's by default */
	const struct ir_node *minimize_at; /* the node that turned it on, NULL when off */
};

struct recipe {
	char *path;              /* Smolfile path as given */
	char *dir;               /* build context: the Smolfile's directory */
	struct ir_node *v;
	size_t n, cap;
	struct recipe *parent;   /* FROM <recipe>, or NULL */
	struct recipe_settings set;
	struct strvec build_args;/* --build-arg NAME=VALUE, as given */
	char *boot_cmd;          /* set.cmd when composed (ENTRYPOINT, USER, WORKDIR) */
};

struct ir_node *recipe_push(struct recipe *r, enum ir_kind k, struct loc loc);
/* The package repository a recipe names: its PKGSITE, else a non-empty
 * $PKGSITE, else NULL (then the NetBSD release's, when there is one). */
const char *recipe_pkgsite(const struct recipe_settings *s);
void recipe_free(struct recipe *r);   /* NULL-safe; frees r too */

#endif
