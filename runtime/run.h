/* run.h — the runtime's commands, called by the CLI (cli/cmd_run.c) once
 * it has parsed their options into the structs below.
 *
 *   smolc run [NAME|run.yaml|Smolfile|DIR] [options]   run_main
 *   smolc ps [-a] [--json]                              run_ps
 *   smolc stop NAME [--timeout S]                       run_stop
 *   smolc logs [-f] [--tail N] NAME                     run_logs
 *   smolc wait NAME --port N [--timeout S] [--http PATH]  run_wait
 *   smolc rm [-f] NAME...                               run_rm
 *   smolc inspect [--json] NAME                         run_inspect
 *   smolc attach NAME                                   run_attach
 *
 * Each prints its own messages ("smolc: ..." on stderr, results on
 * stdout) and returns the process exit code: 0 ok, 1 failure, 2 bad
 * usage. Foreground `run` returns QEMU's exit status (or 128+signal).
 *
 * The runtime knows nothing of the compiler: when `run` is given a
 * Smolfile (or none and ./Smolfile exists) it calls the build function
 * the CLI put in run_opts.
 *
 * The main program must not have installed handlers that run_main relies
 * on: run installs and restores its own SIGINT/SIGTERM/SIGCHLD handling. */
#ifndef SMOLC_RUN_H
#define SMOLC_RUN_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

#include "runconf.h"

/* Find the image of the Smolfile at `smolfile`, building it (saying so)
 * only when it is missing or stale, with the build-args recorded in its
 * run config; with dry_run never build (a stale image gets a warning, a
 * missing one an error). On success returns 0 and sets *runconf_path_out
 * to the run config (caller frees). On failure it has already printed its
 * diagnostics and returns the exit code to use (1 failure, 2 bad recipe). */
typedef int (*run_build_fn)(void *ctx, const char *smolfile, bool dry_run, char **runconf_path_out);

/* Find NAME[:TAG] among stored images (the CLI's image store). 0 with
 * *runconf_path_out (caller frees; the disk is then opened with
 * snapshot=on so that it never changes), -1 when there is no such image
 * (nothing printed), or an exit code after printing why it cannot be
 * used. */
typedef int (*run_image_fn)(void *ctx, const char *name, char **runconf_path_out);

/* Options of `smolc run`. Strings borrowed from argv unless noted. */
struct run_opts {
	const char *target;
	bool detach, dry_run, time, json;
	bool rm;                         /* --rm: remove the instance when it exits */
	bool publish_all;                /* -P: the config's ports on free host ports */
	unsigned memory_mib, cpus;
	struct runconf_port *ports;      /* owned; host_port 0 = pick a free one */
	size_t nports, ports_cap;
	struct runconf_share *shares;    /* owned */
	size_t nshares, shares_cap;
	const char *append, *accel, *console, *name;
	char *initrd;                    /* owned: --initrd, made absolute */
	/* the anchor's launcher options (startnb.sh), over the run config */
	const char *console_device;      /* --console-device com|viocon */
	bool pty;                        /* --pty: --console pty */
	int console_ports;               /* --console-ports N; -1 = the config's */
	struct runconf_fwcfg *fwcfg;     /* owned: -e NAME=VALUE, -E NAME=FILE */
	size_t nfwcfg, fwcfg_cap;
	struct runconf_drive *drives;    /* owned: --drive FILE[,ro] */
	size_t ndrives, drives_cap;
	bool share_rw, no_network;       /* --share-rw, --no-network / --net none */
	const char *bridge;              /* --net bridge=BR */
	struct strvec qemu_args;         /* owned: --qemu-arg ARG */
	run_build_fn build;              /* builds a Smolfile target */
	void *build_ctx;
	run_image_fn image;              /* NULL: no image store */
	void *image_ctx;
};
void run_opts_free(struct run_opts *o);

/* -p: "[ADDR:]HOST:GUEST[/udp]" (runconf_parse_port), or "GUEST[/udp]" /
 * "ADDR::GUEST[/udp]" with host_port 0 (a free one picked at run time).
 * Returns 0, or -1 with *err (error.h). */
int run_parse_publish(const char *spec, struct runconf_port *p, struct error **err);

/* Options of ps/stop/logs/wait/rm/inspect. */
struct inst_opts {
	bool json, follow, all, force;
	double timeout;
	unsigned port;
	long tail;                       /* logs: last N lines; -1 = all */
	const char *http;
	const char *name;
	const char *const *names;        /* rm: every NAME (nnames of them) */
	size_t nnames;
};

int run_main(const struct run_opts *o);
int run_ps(const struct inst_opts *o);
int run_stop(const struct inst_opts *o);
int run_logs(const struct inst_opts *o);
int run_wait(const struct inst_opts *o);
int run_rm(const struct inst_opts *o);
int run_inspect(const struct inst_opts *o);
int run_attach(const struct inst_opts *o);

#endif
