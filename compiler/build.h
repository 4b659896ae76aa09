/* build.h — the build driver (see build.c). */
#ifndef SMOLC_BUILD_H
#define SMOLC_BUILD_H

#include "util.h"

struct build_opts;
/* Build `path`; on success *yaml_out (if non-NULL) is the run config path. */
int build_main(struct build_opts *o, const char *path, char **yaml_out);

#endif
