/* qmp.h — a minimal QMP client over a unix socket.
 *
 * Enough for the runtime: connect, read the greeting, negotiate
 * capabilities, run one command and read its reply (skipping
 * asynchronous events). Commands are built and replies parsed with
 * jansson. timeout_ms bounds the whole call (connect to reply). Paths
 * longer than sun_path are reached through /proc/self/fd/N/NAME of an
 * opened directory. Errors: -1 with *err (one line, error.h); a QMP
 * "error" reply is "QMP error: <class>: <desc>". */
#ifndef SMOLC_QMP_H
#define SMOLC_QMP_H

#include "error.h"

/* Connect, run one command named `execute` without arguments, close. */
int qmp_execute(const char *sock_path, const char *execute, int timeout_ms, struct error **err);

/* Run a human monitor command ("info usernet") and return its text
 * output (caller frees). */
int qmp_hmp(const char *sock_path, const char *command_line, int timeout_ms,
	    char **out, struct error **err);

#endif
