/* runconf.h — the run config: images/<service>-<arch>.yaml.
 *
 * Written by the build driver (runconf_write), read by `smolc run`
 * (runconf_read). YAML through libyaml: the emitter on write, the
 * document loader on read. Strings YAML could retype ("256", "yes",
 * "1.0", "~") are emitted double-quoted; numbers and booleans plain.
 *
 * File layout (every key a top-level mapping key):
 *   version: 1                 (optional on read; always written)
 *   service: "bozohttpd"       required
 *   arch: amd64 | i386 | evbarm-aarch64            required
 *   machine: microvm | virt    optional; default microvm (virt on aarch64)
 *   profile: netbsd | linux    optional; default netbsd
 *   kernel: "bozohttpd-amd64.kernel"   required; relative = to the yaml's dir
 *   kernel_sha256: "<64 hex>"  optional
 *   initrd: "hello-amd64.initrd"       optional (QEMU -initrd); relative likewise
 *   initrd_sha256: "<64 hex>"  optional
 *   image: "bozohttpd-amd64.img"       required; relative likewise
 *   image_sha256: "<64 hex>"   optional
 *   memory: 256                MiB, optional, default 256
 *   cpus: 1                    optional, default 1
 *   cmdline: "console=com root=NAME=bozohttpdroot -z"   optional;
 *                              default runconf_default_cmdline()
 *   console: stdio             default console of `smolc run`
 *                              (stdio | pty | tcp:PORT | file:PATH)
 *   readonly: false
 *   ports:  - {host_addr: "127.0.0.1", host: 8080, guest: 80, proto: tcp}
 *   shares: - {host: "/srv/data", tag: "data", guest: "/data", readonly: false}
 *   labels: {key: "value", ...}
 *   build_key: "<hex>"         optional: the build's cache key
 *   console_device: com | viocon  optional; default: viocon when the
 *                              kernel has viocon_earlyinit (netbsd profile,
 *                              foreground), else com
 *   console_ports: 0           extra virtio console ports (host sockets)
 *   network: user | none       optional; default user
 *   bridge: "br0"              optional: a second NIC on this bridge
 *   share_rw: false            share-rw=on on the root drive (no lock)
 *   drives: - {path: "/x.img", readonly: true}   extra virtio disks
 *   fw_cfg: - {var: NAME, value: "V"} | {file: NAME, path: "/p"}
 *                              opt/org.smolbsd.var.NAME / .file.NAME
 *   qemu_args: ["-arg", ...]   appended to QEMU's argv
 *   build_args: ["NAME=VALUE", ...]  the --build-arg of that build
 *                              (`smolc run Smolfile` rebuilds with them)
 *
 * Unknown keys give a warning; missing required keys and bad values an
 * error "PATH:LINE:COL: message" (1-based).
 *
 * Ownership: struct runconf owns every string and array in it;
 * runconf_free() releases all. All *_free accept NULL. */
#ifndef SMOLC_RUNCONF_H
#define SMOLC_RUNCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define RUNCONF_DEFAULT_MEMORY 256u
#define RUNCONF_DEFAULT_CPUS 1u
#define RUNCONF_DEFAULT_HOST_ADDR "127.0.0.1"

enum runconf_proto { RUNCONF_TCP = 0, RUNCONF_UDP = 1 };

/* One forwarded port: host_addr:host_port on the host -> guest_port. */
struct runconf_port {
	char *host_addr;                 /* owned; never NULL once added */
	unsigned host_port;              /* 1..65535 */
	unsigned guest_port;             /* 1..65535 */
	enum runconf_proto proto;
};

/* One 9p share: host directory exported with a mount tag; guest_path is
 * where the guest's rc mounts it (informational for the runtime). */
struct runconf_share {
	char *host_path;                 /* owned; relative = to the yaml's dir */
	char *tag;                       /* owned; 9p mount_tag */
	char *guest_path;                /* owned; may be NULL */
	bool readonly;
};

/* An extra disk (--drive FILE[,ro]). */
struct runconf_drive {
	char *path;                      /* owned; relative = to the yaml's dir */
	bool readonly;
};

/* A fw_cfg entry: a string (-e NAME=VALUE) or a host file (-E NAME=FILE),
 * under the anchor's names opt/org.smolbsd.var.NAME / .file.NAME. */
struct runconf_fwcfg {
	char *name;                      /* owned; [A-Za-z0-9_]{1,40} */
	char *value;                     /* owned; the string or the file path */
	bool is_file;
};

struct runconf_label {
	char *key;                       /* owned */
	char *value;                     /* owned */
};

struct runconf {
	char *service;                   /* required */
	char *arch;                      /* "amd64" | "i386" | "evbarm-aarch64" */
	char *machine;                   /* "microvm" | "virt"; NULL = default */
	char *profile;                   /* "netbsd" | "linux"; NULL = netbsd */
	char *kernel;                    /* as written (maybe relative) */
	char *kernel_sha256;             /* may be NULL */
	char *initrd;                    /* may be NULL; as written (maybe relative) */
	char *initrd_sha256;             /* may be NULL */
	char *image;                     /* as written (maybe relative) */
	char *image_sha256;              /* may be NULL */
	unsigned memory_mib;             /* 0 = default */
	unsigned cpus;                   /* 0 = default */
	char *cmdline;                   /* NULL = runconf_default_cmdline() */
	char *console;                   /* NULL = "stdio" */
	bool readonly;
	struct runconf_port *ports;
	size_t nports, ports_cap;
	struct runconf_share *shares;
	size_t nshares, shares_cap;
	struct runconf_label *labels;
	size_t nlabels, labels_cap;
	char *console_device;            /* "com" | "viocon"; NULL = auto */
	unsigned console_ports;          /* extra virtio console ports */
	bool no_network;                 /* network: none */
	char *bridge;                    /* second NIC on this bridge; may be NULL */
	bool share_rw;                   /* share-rw=on on the root drive */
	struct runconf_drive *drives;
	size_t ndrives, drives_cap;
	struct runconf_fwcfg *fwcfg;
	size_t nfwcfg, fwcfg_cap;
	struct strvec qemu_args;         /* extra QEMU arguments */
	char *build_key;                 /* may be NULL */
	struct strvec build_args;        /* "NAME=VALUE" */

	/* Set by runconf_read only: the file read and its directory
	 * (relative kernel/image/share paths resolve against dir). */
	char *path;
	char *dir;
};

struct runconf *runconf_new(void);
void runconf_free(struct runconf *rc);

/* Append a port (host_addr NULL = 127.0.0.1). Strings are copied. */
void runconf_add_port(struct runconf *rc, const char *host_addr,
		      unsigned host_port, unsigned guest_port,
		      enum runconf_proto proto);
/* Append a share (guest_path may be NULL). Strings are copied. */
void runconf_add_share(struct runconf *rc, const char *host_path,
		       const char *tag, const char *guest_path, bool readonly);
/* Append a drive / a fw_cfg entry (replaces one of the same name and
 * kind). Strings are copied. */
void runconf_add_drive(struct runconf *rc, const char *path, bool readonly);
void runconf_set_fwcfg(struct runconf *rc, const char *name, const char *value, bool is_file);
/* Is name a valid fw_cfg NAME ([A-Za-z0-9_], 1-40 characters)? */
bool runconf_fwcfg_name_ok(const char *name);

/* Set a label (replaces an existing key). Strings are copied. */
void runconf_set_label(struct runconf *rc, const char *key, const char *value);

/* Parse "[ADDR:]HOST:GUEST[/tcp|/udp]" (ADDR may be [v6]); fills *out
 * (host_addr owned by out; free with runconf_port_clear). Returns 0, or
 * -1 with *err: a one-line message (error.h; caller frees it). */
int runconf_parse_port(const char *spec, struct runconf_port *out, struct error **err);
void runconf_port_clear(struct runconf_port *p);

/* The kernel command line for a profile ("netbsd" or NULL, "linux"):
 *   netbsd: console=com root=NAME=<service>root -z
 *   linux:  console=ttyS0 root=PARTLABEL=<service>root rw|ro
 * Caller frees. */
char *runconf_default_cmdline(const char *profile, const char *service,
			      bool readonly);

/* Effective values (defaults applied). Borrowed strings. */
const char *runconf_machine(const struct runconf *rc);
const char *runconf_profile(const struct runconf *rc);
unsigned runconf_memory(const struct runconf *rc);
unsigned runconf_cpus(const struct runconf *rc);
const char *runconf_console(const struct runconf *rc);
/* Effective command line; caller frees. */
char *runconf_cmdline(const struct runconf *rc);

/* Resolve a path from the config against rc->dir (unchanged if absolute
 * or rc->dir is NULL). Caller frees. */
char *runconf_resolve(const struct runconf *rc, const char *p);

/* Check required fields and values (arch/machine/profile names, port
 * ranges, sha256 format, share tags). Returns 0 or -1 with *err. */
int runconf_validate(const struct runconf *rc, struct error **err);

/* Serialize to YAML text (caller frees) — what runconf_write writes. */
int runconf_to_yaml(const struct runconf *rc, char **yaml_out, struct error **err);

/* Validate and write atomically (temp file + rename) to path, mode 0644.
 * Returns 0 or -1 with *err ("PATH: ..."). */
int runconf_write(const struct runconf *rc, const char *path, struct error **err);

/* Read and validate path. On success returns 0, *out owned by the caller,
 * and each warning (unknown keys, "PATH:L:C: warning: unknown key 'x'")
 * pushed to warnings when warnings is non-NULL. On failure returns -1 with
 * *err: "PATH:LINE:COL: message" (or "PATH: strerror" when unreadable). */
int runconf_read(const char *path, struct runconf **out,
		 struct strvec *warnings, struct error **err);
/* Same, from a buffer; name is used in messages, dir for resolution. */
int runconf_parse(const char *name, const char *dir, const char *text,
		  size_t len, struct runconf **out, struct strvec *warnings,
		  struct error **err);

#endif
