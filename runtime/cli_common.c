/* cli_common.c — message printing and help texts for the runtime CLI. */
#include "cli_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "run.h"

void cli_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("smolc: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const char USAGE_RUN[] =
	"usage: smolc run [NAME[:TAG]|run.yaml|Smolfile|DIR] [options]\n"
	"Boot a micro-VM under QEMU. With a Smolfile (or none given and ./Smolfile\n"
	"exists) it is built first; NAME means images/NAME-<arch>.yaml when it\n"
	"exists, else the image NAME[:TAG] of the image store (see smolc images),\n"
	"from any directory; the stored disk is never written (snapshot=on).\n"
	"  -d, --detach            run in the background (see smolc ps/logs/stop/wait)\n"
	"  -p, --publish [ADDR:]H:G[/udp]  forward host port H to guest port G (repeatable)\n"
	"  -m, --memory MEM        memory in MiB (512, 512M, 1G)\n"
	"  -c, --cpus N            number of CPUs\n"
	"  -a, --append ARGS       extra kernel command-line arguments\n"
	"      --share DIR:TAG[:ro] export a host directory over 9p (mount tag TAG;\n"
	"                         replaces a SHARE of the recipe with the same tag)\n"
	"      --accel A           auto (default; or $QEMU_ACCEL), kvm, tcg, hvf, nvmm\n"
	"      --console C         stdio (default), pty, none, tcp:PORT, file:PATH\n"
	"      --name N            instance name for -d (default: the service name)\n"
	"      --dry-run           print the QEMU command line and exit\n"
	"      --time              report time to the first console byte and to the\n"
	"                          first forwarded port answering (--json: as JSON)\n"
	"Environment: SMOLC_QEMU (QEMU binary), SMOLC_STATE_DIR (instance state).\n"
	"Foreground: Ctrl-C stops the VM; the exit status is QEMU's.\n";

static const char USAGE_PS[] =
	"usage: smolc ps [--json]\n"
	"List running instances: NAME PID IMAGE PORTS UPTIME ACCEL.\n";

static const char USAGE_STOP[] =
	"usage: smolc stop NAME [--timeout S]\n"
	"Stop an instance: QMP system_powerdown (not on microvm, which has no ACPI\n"
	"power button), then SIGTERM, then SIGKILL, waiting up to S seconds\n"
	"(default 5) at each step. Says which one ended it; removes its state.\n";

static const char USAGE_LOGS[] =
	"usage: smolc logs [-f] NAME\n"
	"Print the serial console of an instance; -f follows until the VM exits.\n";

static const char USAGE_WAIT[] =
	"usage: smolc wait NAME --port N [--timeout S] [--http PATH]\n"
	"Wait until the guest service behind host port N answers (default timeout\n"
	"60 s). With --http, wait for an HTTP response to GET PATH. Fails at once,\n"
	"with the end of the console log, if the VM exits.\n";

const char *run_usage(const char *cmd)
{
	if (!cmd)
		return NULL;
	if (!strcmp(cmd, "run"))
		return USAGE_RUN;
	if (!strcmp(cmd, "ps"))
		return USAGE_PS;
	if (!strcmp(cmd, "stop"))
		return USAGE_STOP;
	if (!strcmp(cmd, "logs"))
		return USAGE_LOGS;
	if (!strcmp(cmd, "wait"))
		return USAGE_WAIT;
	return NULL;
}
