/* cli.h — the commands of smolc, as main.c's command table calls them:
 * each gets its own argv (argv[0] = the command name), parses it with its
 * option table (opt.h), calls the compiler or the runtime, and returns
 * the process exit code (exitcode.h): 0 ok, 1 failure, 2 bad usage or bad
 * recipe. `smolc help CMD` runs CMD with --help. */
#ifndef SMOLC_CLI_H
#define SMOLC_CLI_H

#include "error.h"

#include <stdbool.h>

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

/* cmd_image.c: the local image store (oci/store.h) */
int cmd_images(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_rmi(int argc, char **argv);

/* cmd_registry.c: OCI registries (oci/registry.h) */
int cmd_push(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_k8s(int argc, char **argv);
/* `smolc push --container` (cmd_container.c): the container image of
 * src uploaded to dst (NULL: src names the registry). An exit code. */
struct reg_opts;
int container_push(const char *src, const char *dst, const struct reg_opts *ro, bool json);

/* The image store for build and run (cmd_image.c): -t's check (an opt_cb),
 * the build's record function (build_record_fn, ctx = the -t value or
 * NULL) and run's lookup of NAME[:TAG] (run_image_fn). */
struct opt_cmd;
struct build_result;
int cli_check_image_name(const struct opt_cmd *cmd, const char *arg, void *value);
int cli_record_image(void *ctx, const struct build_result *r, char **stored_as, struct error **err);
int cli_stored_runconf(void *ctx, const char *target, char **path);

/* The remote layer cache of build (regcache.c): --cache-from/--cache-to's
 * check (an opt_cb: REGISTRY/REPO[:TAG|@DIGEST] into a struct strvec;
 * cli_cache_to_cb: a tag, into a const char *), and the build_remote
 * (build.h) for them: NULL when neither is given; regcache_free frees it. */
struct strvec;
struct build_remote;
int cli_cache_ref_cb(const struct opt_cmd *cmd, const char *arg, void *value);
int cli_cache_to_cb(const struct opt_cmd *cmd, const char *arg, void *value);
struct build_remote *regcache_new(const struct strvec *from, const char *to, const char *ca_cert, bool insecure,
				  bool quiet);
void regcache_free(struct build_remote *api);

#endif
