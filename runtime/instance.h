/* instance.h — state of detached VMs (`smolc run -d`, ps, stop, logs, wait).
 *
 * State root: $SMOLC_STATE_DIR, else $XDG_STATE_HOME/smolc, else
 * ~/.local/state/smolc. One directory per instance name:
 *   <root>/<name>/lock          flock()ed by the smolc that is starting it
 *   <root>/<name>/qemu.pid      written by QEMU (-pidfile)
 *   <root>/<name>/qmp.sock      QMP socket (-qmp unix:...)
 *   <root>/<name>/console.log   serial console (when it goes to a file)
 *   <root>/<name>/run.yaml      the effective run config (runconf_write)
 *   <root>/<name>/instance      summary, "key=value" lines: name, service,
 *                               image, ports, accel, console, started
 *                               (epoch seconds), qemu (binary), pid (the
 *                               QEMU once started), rm (1: remove on exit),
 *                               pty (the console's /dev/pts/N with --pty)
 *   <root>/<name>/qemu.argv     QEMU's argv, NUL-separated (inspect)
 *   <root>/<name>/exit          written by the instance's monitor when QEMU
 *                               ends: "status=N" or "signal=N", "exited=EPOCH"
 *   <root>/<name>/stopped       written by `smolc stop`: "how=SIGTERM", "at=EPOCH"
 * QEMU is started in the instance directory with -daemonize; the qmp and
 * console paths in its argv are relative (sockets have a 108-byte path
 * limit), the pidfile path absolute (-daemonize then chdirs to /).
 *
 * A pid is trusted only when /proc/PID/cmdline is a qemu-system-* whose
 * arguments contain "-pidfile <this instance's absolute pidfile>", and it
 * is not a zombie (never trusted from the pidfile alone).
 *
 * History: an instance whose QEMU is gone stays (state EXITED) until
 * `smolc rm`, `run --rm` or a new `run -d` of the same name replaces it:
 * its summary, console log, run config and exit record remain readable.
 * The exit status comes from the instance's monitor, a small smolc process
 * (its own session, a child subreaper) that starts QEMU -daemonize, so
 * the daemonized QEMU is its child and waitpid() gives its status.
 * A directory without a summary file is half-made state (a start that
 * never finished, or foreign files): STALE, removed by
 * instance_claim/instance_list. */
#ifndef SMOLC_INSTANCE_H
#define SMOLC_INSTANCE_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define INSTANCE_PIDFILE "qemu.pid"
#define INSTANCE_QMP "qmp.sock"
#define INSTANCE_CONSOLE "console.log"
#define INSTANCE_RUNCONF "run.yaml"
#define INSTANCE_SUMMARY "instance"
#define INSTANCE_LOCK "lock"
#define INSTANCE_ARGV "qemu.argv"
#define INSTANCE_EXIT "exit"
#define INSTANCE_STOPPED "stopped"

enum instance_state {
	INSTANCE_ABSENT,                 /* no directory */
	INSTANCE_RUNNING,                /* pid verified alive */
	INSTANCE_STARTING,               /* another smolc holds the lock */
	INSTANCE_EXITED,                 /* summary, but no live QEMU */
	INSTANCE_STALE,                  /* directory without a summary */
};

/* Summary of one instance (all strings owned; any may be NULL). */
struct instance {
	char *name;
	char *dir;                       /* <root>/<name> */
	enum instance_state state;
	pid_t pid;                       /* verified live QEMU; 0 = not running */
	pid_t last_pid;                  /* the QEMU it ran (summary), 0 unknown */
	char *service, *image, *ports, *accel, *console, *qemu;
	char *pty;                       /* the console's pty (/dev/pts/N), or NULL */
	long long started;               /* epoch seconds, 0 unknown */
	bool rm;                         /* removed by its monitor on exit */
	/* EXITED: from the exit record (-1 / 0 when unknown) */
	int exit_status;                 /* QEMU's exit status, -1 unknown */
	int exit_signal;                 /* signal that ended QEMU, 0 none */
	long long exited;                /* epoch seconds, 0 unknown */
	char *stopped_by;                /* "SIGTERM"... when `smolc stop` ended it */
	/* The guest's /etc/rc exited (console says "/etc/rc exited with
	 * status N"): N, else -1. Filled by instance_load/instance_list. */
	int rc_status;
};
void instance_free(struct instance *in);

/* The state root (caller frees). Never NULL. */
char *instance_state_root(void);

/* Names: [A-Za-z0-9][A-Za-z0-9_.-]{0,63}. Returns 0 or -1 with *err. */
int instance_name_ok(const char *name, struct error **err);

/* Is pid a live QEMU of the instance directory dir? */
bool instance_pid_alive(pid_t pid, const char *dir);

/* Read <dir>/qemu.pid; 0 when absent or invalid. */
pid_t instance_read_pid(const char *dir);

/* Look at <root>/<name>. *pid_out gets the verified pid when RUNNING. */
enum instance_state instance_check(const char *root, const char *name, pid_t *pid_out);

/* Claim <root>/<name> for a new instance: creates the directory and
 * returns the lock fd (held until instance_release). A stale directory,
 * or the history of an exited instance of that name (*replaced = true),
 * is removed first. Fails (-1, *err) when an instance of that name is
 * running or starting. */
int instance_claim(const char *root, const char *name, bool *replaced, struct error **err);
void instance_release(int lock_fd);

/* Write the summary file (atomic). Returns 0 or -1 with *err. */
int instance_write_summary(const struct instance *in, struct error **err);

/* Load <root>/<name> (summary, verified pid, exit record, rc status).
 * Returns 0, or -1 with *err when there is no such instance (a stale
 * directory counts as none). */
int instance_load(const char *root, const char *name, struct instance **out, struct error **err);

/* All instances (running, starting and exited), sorted by name; stale
 * directories are removed from disk and not listed. *out is an array of
 * n pointers (free each with instance_free, then the array). */
int instance_list(const char *root, struct instance ***out, size_t *n, struct error **err);

/* Names of the instances as "a, b, c" ("none" when empty). Caller frees. */
char *instance_names(const char *root);

/* Path of the console log of in (NULL when the console does not go to a
 * file). Caller frees. */
char *instance_console_path(const struct instance *in);

/* The status N of the last "/etc/rc exited with status N" line among the
 * last 64 KiB of the console log at path; -1 when there is none. */
int instance_rc_status(const char *console_log);

/* One line saying what state in is in, for ps/inspect: "running",
 * "starting", "exited (status 3) 2m ago", "killed (SIGKILL) 5s ago",
 * "stopped (SIGTERM) 1h ago", "running, rc exited (status 3)". Caller frees. */
char *instance_status_text(const struct instance *in);

/* Seconds the instance ran (or runs): exited-or-now minus started. */
long long instance_uptime(const struct instance *in);

/* Signal name without "SIG"-less guesswork: "SIGKILL", else "signal N".
 * Static or in buf (>= 16 bytes). */
const char *instance_signame(int sig, char *buf);

/* Record how QEMU ended, in the directory open as dirfd (the monitor
 * keeps it open: if the instance was removed meanwhile, nothing is
 * written). wstatus as from waitpid; -1 = unknown. Returns 0 or -1. */
int instance_record_exit(int dirfd, int wstatus);

/* Record that `smolc stop` is ending the instance with `how`. */
int instance_record_stop(const char *dir, const char *how);

/* Remove the directory of an instance. */
int instance_remove(const char *root, const char *name);

#endif
