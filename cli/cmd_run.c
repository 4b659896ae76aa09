/* cmd_run.c — the option tables of run, ps, stop, logs and wait; the
 * commands themselves are the runtime's (runtime/run.h). `run` gets the
 * build as a function (build_smolfile) so that the runtime never calls
 * into the compiler. */
#include "cli.h"
#include "build.h"
#include "exitcode.h"
#include "launcher.h"
#include "opt.h"
#include "run.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- value parsers of `smolc run` ---- */

/* "512", "512M", "512MiB", "1G" → MiB. */
static int parse_mem(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || errno || s[0] == '-')
		return -1;
	if (!strcmp(end, "G") || !strcmp(end, "g") || !strcmp(end, "GiB") || !strcmp(end, "GB"))
		v *= 1024;
	else if (*end && strcmp(end, "M") && strcmp(end, "m") && strcmp(end, "MiB") && strcmp(end, "MB"))
		return -1;
	if (v < 16 || v > (1ul << 20))
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int memory_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	if (parse_mem(arg, value) < 0) {
		fprintf(stderr, "smolc: -m %s: expected a memory size in MiB from 16 (e.g. 512, 512M, 1G)\n", arg);
		return EXIT_USAGE;
	}
	return 0;
}

static int cpus_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	char *end;
	unsigned long v = strtoul(arg, &end, 10);
	if (!*arg || *end || v < 1 || v > 256) {
		fprintf(stderr, "smolc: -c %s: expected a number of CPUs from 1 to 256\n", arg);
		return EXIT_USAGE;
	}
	*(unsigned *)value = (unsigned)v;
	return 0;
}

static int publish_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	struct run_opts *o = value;
	struct runconf_port p;
	struct error *e = NULL;
	if (run_parse_publish(arg, &p, &e) < 0) {
		fprintf(stderr, "smolc: -p: %s\n", error_msg(e));
		error_clear(&e);
		return EXIT_USAGE;
	}
	VEC_GROW(o->ports, o->nports, o->ports_cap);
	o->ports[o->nports++] = p;
	return 0;
}

/* HOST:TAG[:ro] */
static int share_cb(const struct opt_cmd *cmd, const char *spec, void *value)
{
	struct run_opts *o = value;
	char *s = xstrdup(spec);
	bool ro = false;
	char *last = strrchr(s, ':');
	if (last && (!strcmp(last, ":ro") || !strcmp(last, ":rw"))) {
		ro = !strcmp(last, ":ro");
		*last = 0;
		last = strrchr(s, ':');
	}
	if (!last || last == s || !last[1]) {
		fprintf(stderr, "smolc: --share %s: expected HOST_DIR:TAG[:ro]\n", spec);
		free(s);
		return EXIT_USAGE;
	}
	*last = 0;
	char real[PATH_MAX];
	if (!realpath(s, real)) {
		fprintf(stderr, "smolc: --share %s: %s: %s\n", spec, s, strerror(errno));
		free(s);
		return EXIT_FAIL;
	}
	VEC_GROW(o->shares, o->nshares, o->shares_cap);
	struct runconf_share *sh = &o->shares[o->nshares++];
	sh->host_path = xstrdup(real);
	sh->tag = xstrdup(last + 1);
	sh->guest_path = NULL;
	sh->readonly = ro;
	free(s);
	return 0;
}

/* --initrd FILE: made absolute (QEMU may run in the instance directory) */
static int initrd_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	char **dst = value;
	char real[PATH_MAX];
	struct stat st;
	if (!realpath(arg, real) || stat(real, &st) < 0) {
		fprintf(stderr, "smolc: --initrd %s: %s\n", arg, strerror(errno));
		return EXIT_FAIL;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "smolc: --initrd %s: not a regular file\n", arg);
		return EXIT_FAIL;
	}
	free(*dst);
	*dst = xstrdup(real);
	return 0;
}

/* -e NAME=VALUE / -E NAME=FILE → fw_cfg entries */
static int fwcfg_add(const char *arg, bool is_file, struct run_opts *o)
{
	const char *eq = strchr(arg, '=');
	char *name = eq ? xstrndup(arg, (size_t)(eq - arg)) : NULL;
	if (!name || !runconf_fwcfg_name_ok(name) || (is_file && !eq[1])) {
		fprintf(stderr, "smolc: %s %s: expected %s with NAME of 1-40 letters, digits or '_'\n", is_file ? "-E" : "-e",
			arg, is_file ? "NAME=FILE" : "NAME=VALUE");
		free(name);
		return EXIT_USAGE;
	}
	const char *val = eq + 1;
	char real[PATH_MAX];
	if (is_file) {
		if (!realpath(val, real)) {
			fprintf(stderr, "smolc: -E %s: %s: %s\n", arg, val, strerror(errno));
			free(name);
			return EXIT_FAIL;
		}
		val = real;
	}
	for (size_t i = 0; i < o->nfwcfg; i++)
		if (!strcmp(o->fwcfg[i].name, name) && o->fwcfg[i].is_file == is_file) {
			free(o->fwcfg[i].value);
			o->fwcfg[i].value = xstrdup(val);
			free(name);
			return 0;
		}
	VEC_GROW(o->fwcfg, o->nfwcfg, o->fwcfg_cap);
	o->fwcfg[o->nfwcfg].name = name;
	o->fwcfg[o->nfwcfg].value = xstrdup(val);
	o->fwcfg[o->nfwcfg].is_file = is_file;
	o->nfwcfg++;
	return 0;
}

static int fwvar_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	return fwcfg_add(arg, false, value);
}

static int fwfile_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	return fwcfg_add(arg, true, value);
}

/* --drive FILE[,ro] */
static int drive_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	struct run_opts *o = value;
	char *path = xstrdup(arg);
	bool ro = false;
	size_t n = strlen(path);
	if (n > 3 && !strcmp(path + n - 3, ",ro")) {
		ro = true;
		path[n - 3] = 0;
	} else if (n > 3 && !strcmp(path + n - 3, ",rw")) {
		path[n - 3] = 0;
	}
	char real[PATH_MAX];
	if (!*path || !realpath(path, real)) {
		int rc = *path ? EXIT_FAIL : EXIT_USAGE;
		fprintf(stderr, "smolc: --drive %s: %s\n", arg, *path ? strerror(errno) : "expected FILE[,ro]");
		free(path);
		return rc;
	}
	VEC_GROW(o->drives, o->ndrives, o->drives_cap);
	o->drives[o->ndrives].path = xstrdup(real);
	o->drives[o->ndrives].readonly = ro;
	o->ndrives++;
	free(path);
	return 0;
}

/* --net user | none | bridge=BR */
static int net_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	struct run_opts *o = value;
	if (!strcmp(arg, "user")) {
		o->no_network = false;
	} else if (!strcmp(arg, "none")) {
		o->no_network = true;
	} else if (str_startswith(arg, "bridge=") && arg[7] && strlen(arg + 7) < 16 &&
		   strspn(arg + 7, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == strlen(arg + 7)) {
		o->bridge = arg + 7;
	} else {
		fprintf(stderr, "smolc: --net %s: expected user, none or bridge=BRIDGE (an interface name)\n", arg);
		return EXIT_USAGE;
	}
	return 0;
}

static int console_device_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	if (strcmp(arg, "com") && strcmp(arg, "viocon")) {
		fprintf(stderr, "smolc: --console-device %s: expected com (serial) or viocon (virtio console)\n", arg);
		return EXIT_USAGE;
	}
	*(const char **)value = arg;
	return 0;
}

static int console_ports_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (!*arg || *end || v < 0 || v > 30) {
		fprintf(stderr, "smolc: --console-ports %s: expected a number from 0 to 30\n", arg);
		return EXIT_USAGE;
	}
	*(int *)value = (int)v;
	return 0;
}

static int qemu_arg_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	sv_pushdup(value, arg);
	return 0;
}

/* The build `smolc run Smolfile` may do first: the defaults of `smolc
 * build`, the build-args the image was built with, run's --build-arg. */
static int build_smolfile(void *ctx, const char *smolfile, bool dry_run, char **runconf_path_out)
{
	struct build_opts *bo = ctx;
	return build_for_run(bo, smolfile, dry_run, runconf_path_out);
}

int cmd_run(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "run",
		.synopsis = "[NAME[:TAG]|run.yaml|Smolfile|DIR] [options]",
		.about = "Boot a micro-VM under QEMU. NAME means images/NAME-<arch>.yaml. With a\n"
			 "Smolfile or DIR (or none given and ./Smolfile exists) the image is built\n"
			 "first only when it is missing or stale, with the build-args it was built\n"
			 "with (and says so); --dry-run never builds. When images/NAME-<arch>.yaml\n"
			 "does not exist, NAME[:TAG] names an image of the image store (see smolc\n"
			 "images), from any directory; a stored disk is never written (snapshot=on).\n",
		.footer = "Environment: SMOLC_QEMU (QEMU binary), SMOLC_STATE_DIR (instance state).\n"
			  "Foreground: Ctrl-C stops the VM; the exit status is QEMU's.\n",
		.arg_name = "target",
		.max_args = 1,
	};
	struct run_opts o;
	memset(&o, 0, sizeof(o));
	o.console_ports = -1;
	struct build_opts bo;
	memset(&bo, 0, sizeof(bo));
	bo.outdir = "images";
	bo.launcher = &cli_launcher;
	const struct opt opts[] = {
		OPT_FLAG_("detach", 'd', "run in the background (see smolc ps/logs/stop/wait)", &o.detach),
		OPT_CALL_("publish", 'p', "[ADDR:]H:G[/udp]",
			  "forward host port H to guest port G (repeatable);\n"
			  "replaces the run config's ports. -p G[/udp]: a free\n"
			  "host port, printed",
			  &o, publish_cb),
		OPT_FLAG_("publish-all", 'P', "publish the run config's ports on free host ports", &o.publish_all),
		OPT_CALL_("memory", 'm', "MEM", "memory in MiB (512, 512M, 1G)", &o.memory_mib, memory_cb),
		OPT_CALL_("cpus", 'c', "N", "number of CPUs", &o.cpus, cpus_cb),
		OPT_STRING_("append", 'a', "ARGS", "extra kernel command-line arguments", &o.append),
		OPT_CALL_("initrd", 0, "FILE",
			  "boot with this initial ramdisk (QEMU -initrd;\n"
			  "replaces the run config's initrd)",
			  &o.initrd, initrd_cb),
		OPT_CALL_("share", 0, "DIR:TAG[:ro]",
			  "export a host directory over 9p (mount tag TAG;\n"
			  "replaces a SHARE of the recipe with the same tag)",
			  &o, share_cb),
		OPT_STRING_("accel", 0, "A", "auto (default; or $QEMU_ACCEL), kvm, tcg, hvf, nvmm", &o.accel),
		OPT_STRING_("console", 0, "C", "stdio (default), pty, none, tcp:PORT, file:PATH", &o.console),
		OPT_FLAG_("pty", 0, "the console on a pty (full-screen programs): its path\n"
				    "is printed; with -d, `smolc attach NAME` connects to it", &o.pty),
		OPT_CALL_("console-device", 0, "com|viocon",
			  "the guest's console device: com (serial) or viocon\n"
			  "(virtio; default when the NetBSD kernel has it)",
			  &o.console_device, console_device_cb),
		OPT_CALL_("console-ports", 0, "N", "extra virtio console ports, host sockets consK.sock", &o.console_ports,
			  console_ports_cb),
		OPT_CALL_("fw-var", 'e', "NAME=VALUE",
			  "fw_cfg opt/org.smolbsd.var.NAME (repeatable; the\n"
			  "anchor's guest scripts read it)",
			  &o, fwvar_cb),
		OPT_CALL_("fw-file", 'E', "NAME=FILE", "fw_cfg opt/org.smolbsd.file.NAME: a host file", &o, fwfile_cb),
		OPT_CALL_("drive", 0, "FILE[,ro]", "a second disk (repeatable; raw)", &o, drive_cb),
		OPT_FLAG_("share-rw", 0, "share-rw=on on the root disk (no image lock)", &o.share_rw),
		OPT_FLAG_("no-network", 0, "no network device", &o.no_network),
		OPT_CALL_("net", 0, "user|none|bridge=BR",
			  "user networking (default), none, or a second NIC on\n"
			  "bridge BR (qemu-bridge-helper)",
			  &o, net_cb),
		OPT_CALL_("qemu-arg", 0, "ARG", "an extra QEMU argument, appended (repeatable)", &o.qemu_args,
			  qemu_arg_cb),
		OPT_STRING_("name", 0, "N", "instance name for -d (default: the service name)", &o.name),
		OPT_FLAG_("rm", 0,
			  "remove the instance (-d) when its VM exits; without it\n"
			  "the instance stays for `smolc ps -a`, logs, inspect, rm",
			  &o.rm),
		OPT_FLAG_("dry-run", 0, "print the QEMU command line and exit", &o.dry_run),
		OPT_FLAG_("time", 0,
			  "report time to the first console byte and to the\n"
			  "first forwarded port answering (--json: as JSON)",
			  &o.time),
		OPT_JSON(&o.json, "with --time: the times as JSON on stdout"),
		OPT_BUILD_ARG(&bo.build_args),
		OPT_END_(),
	};
	const char *args[1];
	size_t nargs;
	int rv = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (rv < 0 && o.json && !o.time)
		rv = opt_error(&cmd, "--json goes with --time (it prints the times as JSON)");
	if (rv < 0) {
		o.target = nargs ? args[0] : NULL;
		o.build = build_smolfile;
		o.build_ctx = &bo;
		bo.record = cli_record_image;
		o.image = cli_stored_runconf;
		rv = run_main(&o);
	}
	run_opts_free(&o);
	sv_free(&bo.build_args);
	return rv;
}

/* ---- ps, stop, logs, wait ---- */

static int timeout_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	char *end;
	double t = strtod(arg, &end);
	if (!*arg || *end || t < 0 || t > 86400) {
		fprintf(stderr, "smolc: %s: --timeout %s: expected seconds\n", cmd->name, arg);
		return EXIT_USAGE;
	}
	*(double *)value = t;
	return 0;
}

static int port_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	char *end;
	unsigned long v = strtoul(arg, &end, 10);
	if (!*arg || *end || v < 1 || v > 65535) {
		fprintf(stderr, "smolc: %s: --port %s: expected a port from 1 to 65535\n", cmd->name, arg);
		return EXIT_USAGE;
	}
	*(unsigned *)value = (unsigned)v;
	return 0;
}

static int http_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	if (arg[0] != '/') {
		fprintf(stderr, "smolc: %s: --http %s: expected a path starting with /\n", cmd->name, arg);
		return EXIT_USAGE;
	}
	*(const char **)value = arg;
	return 0;
}

static int tail_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (!*arg || *end || v < 0 || v > 100000000) {
		fprintf(stderr, "smolc: %s: --tail %s: expected a number of lines\n", cmd->name, arg);
		return EXIT_USAGE;
	}
	*(long *)value = v;
	return 0;
}

/* Parse an instance command's argv; NAME is required when cmd->max_args. */
static int inst_parse(const struct opt_cmd *cmd, const struct opt *opts, int argc, char **argv, struct inst_opts *o)
{
	static const char *args[64];
	size_t nargs;
	int rv = opt_parse(cmd, opts, argc, argv, args, &nargs);
	if (rv >= 0)
		return rv;
	if (cmd->max_args && !nargs) {
		fprintf(stderr, "smolc: %s: missing instance NAME; see `smolc ps`\n", cmd->name);
		return EXIT_USAGE;
	}
	o->name = nargs ? args[0] : NULL;
	o->names = args;
	o->nnames = nargs;
	return -1;
}

int cmd_ps(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "ps",
		.synopsis = "[-a] [--json]",
		.about = "List running instances: NAME PID IMAGE PORTS UPTIME ACCEL STATUS.\n"
			 "STATUS says \"rc exited (status N)\" when the console shows that the\n"
			 "guest's /etc/rc exited.\n",
	};
	struct inst_opts o = {0};
	const struct opt opts[] = {
		OPT_FLAG_("all", 'a',
			  "exited instances too, with how they ended (exit status,\n"
			  "signal, `smolc stop`) and when",
			  &o.all),
		OPT_JSON(&o.json, "one JSON array of instances on stdout"),
		OPT_END_(),
	};
	int rv = inst_parse(&cmd, opts, argc, argv, &o);
	return rv >= 0 ? rv : run_ps(&o);
}

#define OPT_TIMEOUT(v, h) OPT_CALL_("timeout", 't', "S", (h), (v), timeout_cb)

int cmd_stop(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "stop",
		.synopsis = "NAME [--timeout S]",
		.about = "Stop an instance: QMP system_powerdown (when the guest has an ACPI power\n"
			 "button: not with acpi=off, the netbsd profile's microvm), then SIGTERM,\n"
			 "then SIGKILL, waiting up to S seconds\n"
			 "(default 5) at each step. Says which one ended it. The instance stays\n"
			 "listed by `smolc ps -a` (logs, inspect) until `smolc rm NAME`.\n",
		.arg_name = "NAME",
		.max_args = 1,
	};
	struct inst_opts o = {.timeout = 5};
	const struct opt opts[] = {
		OPT_TIMEOUT(&o.timeout, "seconds to wait at each step (default 5)"),
		OPT_END_(),
	};
	int rv = inst_parse(&cmd, opts, argc, argv, &o);
	return rv >= 0 ? rv : run_stop(&o);
}

int cmd_logs(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "logs",
		.synopsis = "[-f] [--tail N] NAME",
		.about = "Print the serial console of an instance, running or exited.\n",
		.arg_name = "NAME",
		.max_args = 1,
	};
	struct inst_opts o = {.tail = -1};
	const struct opt opts[] = {
		OPT_FLAG_("follow", 'f', "follow the console until the VM exits", &o.follow),
		OPT_CALL_("tail", 'n', "N", "start with the last N lines", &o.tail, tail_cb),
		OPT_END_(),
	};
	int rv = inst_parse(&cmd, opts, argc, argv, &o);
	return rv >= 0 ? rv : run_logs(&o);
}

int cmd_wait(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "wait",
		.synopsis = "NAME --port N [--timeout S] [--http PATH]",
		.about = "Wait until the guest service behind host port N answers (default timeout\n"
			 "60 s). With --http, wait for an HTTP response to GET PATH. Fails at once,\n"
			 "with the end of the console log, if the VM is not running or exits, or\n"
			 "its console says the guest's /etc/rc exited.\n",
		.arg_name = "NAME",
		.max_args = 1,
	};
	struct inst_opts o = {.timeout = 60};
	const struct opt opts[] = {
		OPT_CALL_("port", 0, "N", "the forwarded host port to wait for (required)", &o.port, port_cb),
		OPT_TIMEOUT(&o.timeout, "give up after S seconds (default 60)"),
		OPT_CALL_("http", 0, "PATH", "wait for an HTTP response to GET PATH", &o.http, http_cb),
		OPT_END_(),
	};
	int rv = inst_parse(&cmd, opts, argc, argv, &o);
	return rv >= 0 ? rv : run_wait(&o);
}

int cmd_rm(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "rm",
		.synopsis = "[-f] NAME...",
		.about = "Remove exited instances: their state, console log and run config.\n",
		.arg_name = "NAME",
		.max_args = 64,
	};
	struct inst_opts o = {0};
	const struct opt opts[] = {
		OPT_FLAG_("force", 'f', "kill a running instance (SIGKILL) and remove it", &o.force),
		OPT_END_(),
	};
	int rv = inst_parse(&cmd, opts, argc, argv, &o);
	return rv >= 0 ? rv : run_rm(&o);
}

int cmd_inspect(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "inspect",
		.synopsis = "[--json] NAME",
		.about = "Show an instance, running or exited: state and how it ended, pid, image,\n"
			 "ports, times, console log, QEMU's argv and the effective run config.\n",
		.arg_name = "NAME",
		.max_args = 1,
	};
	struct inst_opts o = {0};
	const struct opt opts[] = {
		OPT_JSON(&o.json, "one JSON object on stdout"),
		OPT_END_(),
	};
	int rv = inst_parse(&cmd, opts, argc, argv, &o);
	return rv >= 0 ? rv : run_inspect(&o);
}

int cmd_attach(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "attach",
		.synopsis = "NAME",
		.about = "Connect the terminal to the pty console of an instance started with\n"
			 "`smolc run -d --pty` (or CONSOLE pty). Ctrl-] detaches; the VM runs on.\n",
		.arg_name = "NAME",
		.max_args = 1,
	};
	struct inst_opts o = {0};
	const struct opt opts[] = {
		OPT_END_(),
	};
	int rv = inst_parse(&cmd, opts, argc, argv, &o);
	return rv >= 0 ? rv : run_attach(&o);
}
