/* imagecmd.h — the image commands of the CLI: images, tag, rmi (the local
 * image store, imagecmd.c) and push, pull, login (registries,
 * regcmd.c). Each returns the process exit code (driver.h). */
#ifndef SMOLC_IMAGECMD_H
#define SMOLC_IMAGECMD_H

int cmd_images(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_rmi(int argc, char **argv);

int cmd_push(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_login(int argc, char **argv);

/* Help text of those commands; NULL for another command. */
const char *imagecmd_usage(const char *cmd);
const char *regcmd_usage(const char *cmd);

#endif
