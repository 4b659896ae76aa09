/* driver.h — the commands of the smolc CLI that live in compiler/
 * (main.c only parses the command word and dispatches).
 * Each returns the process exit code: 0 ok, 1 failure, 2 bad usage or
 * bad recipe. */
#ifndef SMOLC_DRIVER_H
#define SMOLC_DRIVER_H

#include <stdio.h>

int cmd_check(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_lock(int argc, char **argv);

const char *driver_usage(const char *cmd);   /* NULL for unknown */

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

#endif
