/* builder.h — the builder micro-VM: run a script inside the guest, at
 * build time, against the image built so far, and capture what it changed
 * as a layer (RUN, and the +INSTALL scripts of PKGS).
 *
 * One run:
 *   1. The disk: the tree built so far is written with image_write() into
 *      a temporary file of the cache, with the runner's files added:
 *        /.smolc-run/            (0700) the runner's directory
 *          script                the step's script (run with /bin/sh -e)
 *          env                   `export NAME='value'` lines: SERVICE,
 *                                ARCH, the ENV and ARG values
 *          status                "pending" padded to 16 bytes; the guest
 *                                overwrites it in place with the exit status
 *          rc.orig               the image's own /etc/rc (a second name of
 *                                its inode), when it has one
 *        /etc/rc                 the builder rc (builder_rc()) for this boot
 *      The tree itself is put back as it was before the function returns
 *      (same inodes; their scratch fields hold the disk's inode numbers).
 *   2. The boot: the recipe's kernel with that disk, through the launcher's
 *      QEMU argv (struct builder_launcher: runtime/qemu.h qemu_build_argv,
 *      one place knows how to boot an image), the accelerator `smolc run`
 *      would choose, the
 *      console on a pipe, `-nic none` unless the step asks for the network.
 *      The guest's init runs /etc/rc — the builder rc: it puts the image's
 *      own /etc/rc back, runs the script in WORKDIR (default /) with
 *      stdin from /dev/null, writes its exit status into
 *      /.smolc-run/status, syncs and powers off. QEMU runs with
 *      PR_SET_PDEATHSIG(SIGKILL): when smolc dies, so does the VM.
 *   3. The result: the exit status is read back from the disk with
 *      libext2fs (not from the console, which the script can write
 *      anything to). The console lines between two markers carrying a
 *      random nonce are the script's output: echoed to the log, and the
 *      last lines go into the error message of a failure. A VM that
 *      outlives the timeout is killed (SIGKILL).
 *   4. The layer: capture_diff() (capture.h) of the disk against the tree,
 *      ignoring /.smolc-run and a /lost+found the tree does not have.
 * Everything is under a temporary directory of the cache, removed at the
 * end; a build that is killed leaves it to the cache's sweep of dead
 * owners' temporaries, and leaves no layer.
 *
 * The builder rc by profile (builder_rc):
 *   netbsd  remounts / read-write (`mount -u -w /`), `mount -a` when the
 *           image has an /etc/fstab, lo0 up, with the network vioif0
 *           10.0.2.15/24 and a default route to 10.0.2.2; ends with
 *           `sync` and `poweroff` (halt -p). The kernel boots with the
 *           run config's command line: `console=com root=NAME=<service>root -z`.
 *   linux   (the offline test guest and other busybox-style systems) / is
 *           mounted rw by the kernel (`rw` on the command line); with the
 *           network eth0 10.0.2.15/24 and a default route; `poweroff`.
 *   With the network, /etc/resolv.conf (nameserver 10.0.2.3) is written
 *   when the image has none, and removed afterwards if still unchanged. */
#ifndef SMOLC_BUILDER_H
#define SMOLC_BUILDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

struct cache;
struct fstree;
struct layer_writer;
struct runconf;

/* The launcher's way to boot an image (runtime/qemu.h, runtime/accel.h):
 * the compiler does not include runtime/, so the CLI hands it down
 * (cli/launcher.c) through build_opts. One place knows how to boot. */
struct builder_launcher {
	/* QEMU's argv for rc with the console on stdio and, unless `network`,
	 * no network device; the accelerator `smolc run` would choose, said in
	 * *accel_note ("tcg (kvm: …)", caller frees). 0, or -1 + *err (no
	 * QEMU binary: the message names the Debian package). */
	int (*argv)(const struct runconf *rc, bool network, struct strvec *argv, char **accel_note, struct error **err);
};

#define BUILDER_DEFAULT_TIMEOUT 600u
#define BUILDER_DIR ".smolc-run"

struct builder_opts {
	const char *what;            /* "RUN", "PKGS nginx: +INSTALL" — for messages */
	const char *profile;         /* "netbsd" | "linux" */
	const char *service, *arch;
	const char *kernel;          /* path of the kernel file */
	const char *initrd;          /* path of the initrd (INITRD) or NULL */
	const char *append;          /* extra kernel arguments (APPEND) or NULL */
	const char *script;          /* shell text, run with /bin/sh -e */
	const char *workdir;         /* NULL = "/" (WORKDIR) */
	const char *user;            /* run the script as this user through su (USER; the
	                                part before ':'); NULL, "root" or "0": as root */
	const struct strvec *env;    /* "NAME=value" exported to the script (after SERVICE, ARCH) */
	bool network;
	unsigned timeout;            /* seconds; 0 = BUILDER_DEFAULT_TIMEOUT */
	unsigned mem_mib;            /* 0 = 256 */
	unsigned cpus;               /* 0 = 1 */
	uint64_t size_bytes;         /* the disk: a fixed size, or 0 = auto … */
	uint64_t headroom_bytes;     /* … with this much free space */
	int64_t epoch;               /* SOURCE_DATE_EPOCH of the build */
	const char *seed;            /* for the disk's UUIDs (the step key) */
	FILE *log;                   /* progress and the script's output (NULL = quiet) */
	bool verbose;                /* also print the QEMU argv and the whole console */
	const char *hint_timeout;    /* how to raise the timeout, for the message */
	const char *const *status_names; /* optional, NULL-terminated: exit status k (1…) of the
					    script means "<status_names[k-1]> failed" */
	const struct builder_launcher *launcher; /* required */
};

/* Run the script in a builder VM against `tree` and write its changes into
 * w. Returns 0, or -1 with *err: "<what> failed with exit status 3; last
 * lines of its output: …", "<what> did not finish within 600 s …", "the
 * image ran out of space …", a missing QEMU, an I/O error. */
int builder_run(struct cache *c, struct fstree *tree, struct layer_writer *w, const struct builder_opts *o,
		struct error **err);

/* The generated /etc/rc of a builder boot (for the unit tests and
 * --verbose). had_rc: the image has an /etc/rc to put back; had_etc: it
 * has an /etc directory. Caller frees. */
char *builder_rc(const struct builder_opts *o, const char *nonce, bool had_rc, bool had_etc);

/* The QEMU argv of a builder boot of `disk` (argv must be empty), through
 * o->launcher. 0 or -1 + *err; *accel_note as the launcher's. */
int builder_argv(const struct builder_opts *o, const char *disk, struct strvec *argv, char **accel_note, struct error **err);

#endif
