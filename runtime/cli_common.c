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
	"usage: smolc run [NAME|run.yaml|Smolfile|DIR] [options]\n"
	"Boot a micro-VM under QEMU. NAME means images/NAME-<arch>.yaml. With a\n"
	"Smolfile or DIR (or none given and ./Smolfile exists) the image is built\n"
	"first only when it is missing or stale, with the build-args it was built\n"
	"with (say so); --dry-run never builds.\n"
	"  -d, --detach            run in the background (see smolc ps/logs/stop/wait)\n"
	"  -p, --publish [ADDR:]H:G[/udp]  forward host port H to guest port G\n"
	"                          (repeatable); replaces the run config's ports.\n"
	"                          -p G[/udp]: a free host port, printed\n"
	"  -P, --publish-all       publish the run config's ports on free host ports\n"
	"  -m, --memory MEM        memory in MiB (512, 512M, 1G)\n"
	"  -c, --cpus N            number of CPUs\n"
	"  -a, --append ARGS       extra kernel command-line arguments\n"
	"      --share DIR:TAG[:ro] export a host directory over 9p (mount tag TAG;\n"
	"                         replaces a SHARE of the recipe with the same tag)\n"
	"      --accel A           auto (default; or $QEMU_ACCEL), kvm, tcg, hvf, nvmm\n"
	"      --console C         stdio (default), pty, none, tcp:PORT, file:PATH\n"
	"      --name N            instance name for -d (default: the service name)\n"
	"      --rm                remove the instance (-d) when its VM exits; without\n"
	"                          it the instance stays for `smolc ps -a`/logs/rm\n"
	"      --dry-run           print the QEMU command line and exit\n"
	"      --time              report time to the first console byte and to the\n"
	"                          first forwarded port answering (--json: as JSON)\n"
	"Environment: SMOLC_QEMU (QEMU binary), SMOLC_STATE_DIR (instance state).\n"
	"Foreground: Ctrl-C stops the VM; the exit status is QEMU's.\n";

static const char USAGE_PS[] =
	"usage: smolc ps [-a] [--json]\n"
	"List running instances: NAME PID IMAGE PORTS UPTIME ACCEL STATUS.\n"
	"  -a, --all     exited instances too, with how they ended (exit status,\n"
	"                signal, `smolc stop`) and when\n"
	"      --json    as a JSON array\n"
	"STATUS says \"rc exited (status N)\" when the console shows that the\n"
	"guest's /etc/rc exited.\n";

static const char USAGE_STOP[] =
	"usage: smolc stop NAME [--timeout S]\n"
	"Stop an instance: QMP system_powerdown (not on microvm, which has no ACPI\n"
	"power button), then SIGTERM, then SIGKILL, waiting up to S seconds\n"
	"(default 5) at each step. Says which one ended it. The instance stays\n"
	"listed by `smolc ps -a` (logs, inspect) until `smolc rm NAME`.\n";

static const char USAGE_LOGS[] =
	"usage: smolc logs [-f] [--tail N] NAME\n"
	"Print the serial console of an instance, running or exited.\n"
	"  -f, --follow    keep printing until the VM exits\n"
	"  -n, --tail N    start with the last N lines\n";

static const char USAGE_WAIT[] =
	"usage: smolc wait NAME --port N [--timeout S] [--http PATH]\n"
	"Wait until the guest service behind host port N answers (default timeout\n"
	"60 s). With --http, wait for an HTTP response to GET PATH. Fails at once,\n"
	"with the end of the console log, if the VM is not running or exits, or\n"
	"its console says the guest's /etc/rc exited.\n";

static const char USAGE_RM[] =
	"usage: smolc rm [-f] NAME...\n"
	"Remove exited instances: their state, console log and run config.\n"
	"  -f, --force   kill a running instance (SIGKILL) and remove it\n";

static const char USAGE_INSPECT[] =
	"usage: smolc inspect [--json] NAME\n"
	"Show an instance, running or exited: state and how it ended, pid, image,\n"
	"ports, times, console log, QEMU's argv and the effective run config.\n";

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
	if (!strcmp(cmd, "rm"))
		return USAGE_RM;
	if (!strcmp(cmd, "inspect"))
		return USAGE_INSPECT;
	return NULL;
}
