/* run.h — the runtime's CLI entry points, called by compiler/main.c.
 *
 *   smolc run [NAME|run.yaml|Smolfile] [options]   run_cmd_run
 *   smolc ps [-a] [--json]                          run_cmd_ps
 *   smolc stop NAME [--timeout S]                   run_cmd_stop
 *   smolc logs [-f] [--tail N] NAME                 run_cmd_logs
 *   smolc wait NAME --port N [--timeout S] [--http PATH]  run_cmd_wait
 *   smolc rm [-f] NAME...                           run_cmd_rm
 *   smolc inspect [--json] NAME                     run_cmd_inspect
 *
 * Each run_cmd_* gets the subcommand's own argv (argv[0] = "run", "ps",
 * ...), parses its options with getopt_long, prints its own messages
 * ("smolc: ..." on stderr, results on stdout) and returns the process exit
 * code: 0 ok, 1 failure, 2 bad usage. Foreground `run` returns QEMU's exit
 * status (or 128+signal).
 *
 * The main program must not have installed handlers that run_cmd_run
 * relies on: run installs and restores its own SIGINT/SIGTERM/SIGCHLD
 * handling. */
#ifndef SMOLC_RUN_H
#define SMOLC_RUN_H

#include <stdbool.h>

int run_cmd_run(int argc, char **argv);
int run_cmd_ps(int argc, char **argv);
int run_cmd_stop(int argc, char **argv);
int run_cmd_logs(int argc, char **argv);
int run_cmd_wait(int argc, char **argv);
int run_cmd_rm(int argc, char **argv);
int run_cmd_inspect(int argc, char **argv);

/* Help text for `smolc help run|ps|stop|logs|wait|rm|inspect` (static string; NULL
 * for an unknown command). */
const char *run_usage(const char *cmd);

/* Implemented by the build driver (compiler/), NOT by the runtime.
 * `smolc run Smolfile` (or `smolc run` with ./Smolfile present) calls it
 * to find the image: it builds (saying so) only when the image is missing
 * or stale, with the build-args recorded in the existing run config;
 * with dry_run it never builds (a stale image gets a warning, a missing
 * one an error). On success returns 0 and sets *runconf_path_out to the
 * run config (caller frees). On failure it has already printed its
 * diagnostics to stderr and returns the exit code to use (1 failure, 2
 * bad recipe). */
int build_for_run(const char *smolfile, bool dry_run, char **runconf_path_out);

#endif
