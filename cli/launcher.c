/* launcher.c — see launcher.h. */
#include "launcher.h"

#include <stdlib.h>
#include <string.h>

#include "accel.h"
#include "qemu.h"
#include "runconf.h"
#include "util.h"

static int launcher_argv(const struct runconf *rc, bool network, struct strvec *argv, char **accel_note, struct error **err)
{
	const char *env = getenv("SMOLC_QEMU");
	const char *bin = env && *env ? env : qemu_binary_name(rc->arch);
	char *path = qemu_find_binary(bin);
	if (!path) {
		if (env && *env)
			error_set(err, "%s not found (from SMOLC_QEMU): the builder VM cannot boot", bin);
		else
			error_set(err, "%s not found: the builder VM needs it; install the Debian package %s", bin,
				qemu_debian_package(rc->arch));
		return -1;
	}
	struct accel_choice ac;
	bool bad_usage = false;
	if (accel_choose(NULL, NULL, rc->arch, &ac, &bad_usage, err) < 0) {
		free(path);
		return -1;
	}
	struct qemu_opts qo;
	memset(&qo, 0, sizeof(qo));
	qo.binary = path;
	qo.accel = ac.kind;
	qo.console = "stdio";
	qo.no_network = !network;
	int r = qemu_build_argv(rc, &qo, argv, err);
	free(path);
	if (r == 0 && accel_note)
		*accel_note = xasprintf("%s (%s)", accel_name(ac.kind), ac.reason);
	return r;
}

const struct builder_launcher cli_launcher = {launcher_argv};
