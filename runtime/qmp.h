/* qmp.h — a minimal QMP client over a unix socket.
 *
 * Enough for the runtime: connect, read the greeting, negotiate
 * capabilities, run one command and read its reply (skipping
 * asynchronous events). Replies are returned as raw JSON lines; callers
 * only look for "return" / "error" and, for human-monitor-command, the
 * returned text. Paths longer than sun_path are reached through
 * /proc/self/fd/N/NAME of an opened directory. */
#ifndef SMOLC_QMP_H
#define SMOLC_QMP_H

/* Connect and negotiate (qmp_capabilities). Returns a socket fd, or -1
 * with *err. timeout_ms bounds each read. */
int qmp_connect(const char *sock_path, int timeout_ms, char **err);

/* Send one command (a complete JSON object, no newline needed) and read
 * lines until a reply ("return" or "error"). On "return" returns 0 and
 * *reply (caller frees; may be NULL to ignore); on "error" or I/O error
 * -1 with *err. */
int qmp_command(int fd, const char *json, int timeout_ms, char **reply, char **err);

/* Connect, run one command named `execute` without arguments, close. */
int qmp_execute(const char *sock_path, const char *execute, int timeout_ms, char **err);

/* Run a human monitor command ("info usernet") and return its text
 * output, JSON-unescaped (caller frees). */
int qmp_hmp(const char *sock_path, const char *command_line, int timeout_ms,
	    char **out, char **err);

#endif
