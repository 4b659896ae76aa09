/* cli.h — the commands of smolc, as main.c's command table calls them:
 * each gets its own argv (argv[0] = the command name), parses it with its
 * option table (opt.h), calls the compiler or the runtime, and returns
 * the process exit code (exitcode.h): 0 ok, 1 failure, 2 bad usage or bad
 * recipe. `smolc help CMD` runs CMD with --help. */
#ifndef SMOLC_CLI_H
#define SMOLC_CLI_H

/* cmd_recipe.c: the commands that read a Smolfile, and the cache */
int cmd_check(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_lock(int argc, char **argv);
int cmd_cache(int argc, char **argv);

/* cmd_run.c: the launcher (runtime/run.h) */
int cmd_run(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_attach(int argc, char **argv);

#endif
