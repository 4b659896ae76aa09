/* build.c — `smolc build`: execute the plan into layers, an image and a
 * run config. (Being written.) */
#include "driver.h"
#include "driver_int.h"
#include "run.h"

#include <stdio.h>
#include <string.h>

const char build_usage[] =
	"usage: smolc build [options] [Smolfile]\n";

int cmd_build(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("smolc: build is not implemented yet\n", stderr);
	return EXIT_FAIL;
}

int build_for_run(const char *smolfile, char **runconf_path_out)
{
	(void)smolfile;
	*runconf_path_out = NULL;
	return EXIT_FAIL;
}
