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
 *                               (epoch seconds), qemu (binary)
 * QEMU is started in the instance directory with -daemonize; the qmp and
 * console paths in its argv are relative (sockets have a 108-byte path
 * limit), the pidfile path absolute (-daemonize then chdirs to /).
 *
 * A pid is trusted only when /proc/PID/cmdline is a qemu-system-* whose
 * arguments contain "-pidfile <this instance's absolute pidfile>", and it
 * is not a zombie; anything else is stale state, removed by
 * instance_claim/instance_list (never trusted). */
#ifndef SMOLC_INSTANCE_H
#define SMOLC_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define INSTANCE_PIDFILE "qemu.pid"
#define INSTANCE_QMP "qmp.sock"
#define INSTANCE_CONSOLE "console.log"
#define INSTANCE_RUNCONF "run.yaml"
#define INSTANCE_SUMMARY "instance"
#define INSTANCE_LOCK "lock"

/* Summary of one instance (all strings owned; any may be NULL). */
struct instance {
	char *name;
	char *dir;                       /* <root>/<name> */
	pid_t pid;                       /* 0 = not running */
	char *service, *image, *ports, *accel, *console, *qemu;
	long long started;               /* epoch seconds, 0 unknown */
};
void instance_free(struct instance *in);

/* The state root (caller frees). Never NULL. */
char *instance_state_root(void);

/* Names: [A-Za-z0-9][A-Za-z0-9_.-]{0,63}. Returns 0 or -1 with *err. */
int instance_name_ok(const char *name, char **err);

enum instance_state {
	INSTANCE_ABSENT,                 /* no directory */
	INSTANCE_RUNNING,                /* pid verified alive */
	INSTANCE_STARTING,               /* another smolc holds the lock */
	INSTANCE_STALE,                  /* directory but no live QEMU */
};

/* Is pid a live QEMU of the instance directory dir? */
bool instance_pid_alive(pid_t pid, const char *dir);

/* Read <dir>/qemu.pid; 0 when absent or invalid. */
pid_t instance_read_pid(const char *dir);

/* Look at <root>/<name>. *pid_out gets the verified pid when RUNNING. */
enum instance_state instance_check(const char *root, const char *name, pid_t *pid_out);

/* Claim <root>/<name> for a new instance: creates the directory and
 * returns the lock fd (held until instance_release). A stale directory is
 * removed first. Fails (-1, *err) when an instance of that name is
 * running or starting. */
int instance_claim(const char *root, const char *name, char **err);
void instance_release(int lock_fd);

/* Write the summary file (atomic). Returns 0 or -1 with *err. */
int instance_write_summary(const struct instance *in, char **err);

/* Load <root>/<name> (summary + verified pid; pid 0 when not running).
 * Returns 0, or -1 with *err when there is no such instance. */
int instance_load(const char *root, const char *name, struct instance **out, char **err);

/* All instances, sorted by name; stale ones are removed from disk and
 * not listed. *out is an array of n pointers (free each with
 * instance_free, then the array). */
int instance_list(const char *root, struct instance ***out, size_t *n, char **err);

/* Names of the instances as "a, b, c" ("none" when empty). Caller frees. */
char *instance_names(const char *root);

/* Remove the directory of an instance. */
int instance_remove(const char *root, const char *name);

#endif
