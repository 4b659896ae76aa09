/* cli_inst.c — `smolc ps|stop|logs|wait` over instance state (instance.h).
 *
 * Every command re-verifies liveness through /proc (instance_pid_alive);
 * a pidfile alone is never trusted. `stop` escalates QMP
 * system_powerdown → SIGTERM → SIGKILL and says which one ended the VM;
 * `wait` fails fast with the end of the console log when the VM dies. */
#include "run.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "instance.h"
#include "portprobe.h"
#include "qmp.h"
#include "runconf.h"
#include "util.h"

static char *fmt_uptime(long long started)
{
	long long s = started ? (long long)time(NULL) - started : 0;
	if (s < 0)
		s = 0;
	if (s < 60)
		return xasprintf("%llds", s);
	if (s < 3600)
		return xasprintf("%lldm%02llds", s / 60, s % 60);
	if (s < 86400)
		return xasprintf("%lldh%02lldm", s / 3600, (s % 3600) / 60);
	return xasprintf("%lldd%02lldh", s / 86400, (s % 86400) / 3600);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

int run_ps(const struct inst_opts *op)
{
	const struct inst_opts o = *op;
	char *root = instance_state_root(), *err = NULL;
	struct instance **list = NULL;
	size_t n = 0;
	if (instance_list(root, &list, &n, &err) < 0) {
		cli_err("%s", err);
		free(err);
		free(root);
		return 1;
	}
	if (o.json) {
		putchar('[');
		for (size_t i = 0; i < n; i++) {
			struct instance *in = list[i];
			printf("%s{\"name\":", i ? "," : "");
			json_str(in->name);
			printf(",\"pid\":%ld,\"service\":", (long)in->pid);
			json_str(in->service);
			printf(",\"image\":");
			json_str(in->image);
			printf(",\"ports\":");
			json_str(in->ports);
			printf(",\"accel\":");
			json_str(in->accel);
			printf(",\"started\":%lld,\"uptime_s\":%lld}", in->started,
			       in->started ? (long long)time(NULL) - in->started : 0);
		}
		printf("]\n");
	} else {
		printf("%-16s %-8s %-28s %-28s %-8s %s\n", "NAME", "PID", "IMAGE", "PORTS", "UPTIME", "ACCEL");
		for (size_t i = 0; i < n; i++) {
			struct instance *in = list[i];
			char *up = fmt_uptime(in->started);
			printf("%-16s %-8ld %-28s %-28s %-8s %s\n", in->name, (long)in->pid,
			       in->image ? path_basename(in->image) : "-",
			       in->ports && *in->ports ? in->ports : "-", up, in->accel ? in->accel : "-");
			free(up);
		}
	}
	for (size_t i = 0; i < n; i++)
		instance_free(list[i]);
	free(list);
	free(root);
	return 0;
}

/* Wait up to secs for pid to stop being our QEMU. */
static bool wait_gone(pid_t pid, const char *dir, double secs)
{
	double end = now_monotonic() + secs;
	do {
		if (!instance_pid_alive(pid, dir))
			return true;
		usleep(20000);
	} while (now_monotonic() < end);
	return !instance_pid_alive(pid, dir);
}

int run_stop(const struct inst_opts *op)
{
	const struct inst_opts o = *op;
	int rv;
	char *root = instance_state_root(), *err = NULL;
	struct instance *in = NULL;
	if (instance_name_ok(o.name, &err) < 0 || instance_load(root, o.name, &in, &err) < 0) {
		cli_err("stop: %s", err);
		free(err);
		free(root);
		return 1;
	}
	if (!in->pid) {
		fprintf(stderr, "smolc: %s was not running; removed its stale state\n", o.name);
		instance_remove(root, o.name);
		instance_free(in);
		free(root);
		return 0;
	}
	const char *how = NULL;
	char *qmp = path_join(in->dir, INSTANCE_QMP);
	/* microvm runs with acpi=off: no power button, so system_powerdown
	 * would only burn the timeout. Go straight to SIGTERM there. */
	bool acpi = true;
	char *yaml = path_join(in->dir, INSTANCE_RUNCONF);
	struct runconf *rc = NULL;
	if (runconf_read(yaml, &rc, NULL, &err) == 0)
		acpi = strcmp(runconf_machine(rc), "microvm") != 0;
	free(err);
	err = NULL;
	runconf_free(rc);
	free(yaml);
	if (!acpi)
		debugf("stop %s: microvm has no ACPI power button; skipping system_powerdown", o.name);
	else if (qmp_execute(qmp, "system_powerdown", 2000, &err) == 0) {
		if (wait_gone(in->pid, in->dir, o.timeout))
			how = "system_powerdown";
	} else {
		debugf("stop %s: %s", o.name, err);
		free(err);
		err = NULL;
	}
	free(qmp);
	if (!how) {
		kill(in->pid, SIGTERM);
		if (wait_gone(in->pid, in->dir, o.timeout))
			how = "SIGTERM";
	}
	if (!how) {
		kill(in->pid, SIGKILL);
		if (wait_gone(in->pid, in->dir, 5))
			how = "SIGKILL";
	}
	if (!how) {
		cli_err("stop: %s (pid %ld) did not exit even after SIGKILL", o.name, (long)in->pid);
		rv = 1;
	} else {
		fprintf(stderr, "smolc: stopped %s (pid %ld) with %s\n", o.name, (long)in->pid, how);
		instance_remove(root, o.name);
		rv = 0;
	}
	instance_free(in);
	free(root);
	return rv;
}

/* Path of the console log (NULL when the console does not go to a file). */
static char *console_log_path(const struct instance *in)
{
	if (in->console && str_startswith(in->console, "file:"))
		return path_join(in->dir, in->console + 5);
	if (in->console)
		return NULL;
	return path_join(in->dir, INSTANCE_CONSOLE);
}

/* Copy from offset to stdout; returns the new offset. */
static long long copy_from(const char *path, long long off)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return off;
	if (fseeko(f, off, SEEK_SET) == 0) {
		char buf[8192];
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
			fwrite(buf, 1, n, stdout);
			off += (long long)n;
		}
	}
	fclose(f);
	fflush(stdout);
	return off;
}

/* Print the last `lines` lines of path on stderr, indented. */
static void print_tail(const char *path, int lines)
{
	char *data = NULL;
	size_t len = 0;
	if (!path || read_file(path, 64u << 20, &data, &len) < 0 || !len) {
		fprintf(stderr, "  (no console output)\n");
		free(data);
		return;
	}
	size_t i = len;
	if (i && data[i - 1] == '\n')
		i--;
	int seen = 0;
	while (i > 0 && seen < lines) {
		if (data[i - 1] == '\n')
			seen++;
		if (seen < lines)
			i--;
	}
	fprintf(stderr, "  last console lines (%s):\n", path);
	char *save = NULL;
	for (char *l = strtok_r(data + i, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "  | %s\n", l);
	free(data);
}

int run_logs(const struct inst_opts *op)
{
	const struct inst_opts o = *op;
	char *root = instance_state_root(), *err = NULL;
	struct instance *in = NULL;
	if (instance_name_ok(o.name, &err) < 0 || instance_load(root, o.name, &in, &err) < 0) {
		cli_err("logs: %s", err);
		free(err);
		free(root);
		return 1;
	}
	char *log = console_log_path(in);
	if (!log) {
		cli_err("logs: the console of %s goes to %s, not to a file", o.name, in->console);
		instance_free(in);
		free(root);
		return 1;
	}
	long long off = copy_from(log, 0);
	while (o.follow && in->pid) {
		bool alive = instance_pid_alive(in->pid, in->dir);
		off = copy_from(log, off);
		if (!alive)
			break;
		usleep(100000);
	}
	free(log);
	instance_free(in);
	free(root);
	return 0;
}

int run_wait(const struct inst_opts *op)
{
	const struct inst_opts o = *op;
	int rv;
	if (!o.port) {
		cli_err("wait: --port N is required");
		return 2;
	}
	char *root = instance_state_root(), *err = NULL;
	struct instance *in = NULL;
	if (instance_name_ok(o.name, &err) < 0 || instance_load(root, o.name, &in, &err) < 0) {
		cli_err("wait: %s", err);
		free(err);
		free(root);
		return 1;
	}
	char *log = console_log_path(in);
	char *qmp = path_join(in->dir, INSTANCE_QMP);
	char *yaml = path_join(in->dir, INSTANCE_RUNCONF);
	struct runconf *rc = NULL;
	unsigned guest = 0;
	const char *addr = "127.0.0.1";
	rv = 1;
	if (runconf_read(yaml, &rc, NULL, &err) < 0) {
		debugf("%s", err);
		free(err);
		err = NULL;
	}
	for (size_t i = 0; rc && i < rc->nports; i++)
		if (rc->ports[i].host_port == o.port && rc->ports[i].proto == RUNCONF_TCP) {
			guest = rc->ports[i].guest_port;
			addr = rc->ports[i].host_addr;
		}
	if (!in->pid) {
		cli_err("wait: %s is not running (it exited)", o.name);
		print_tail(log, 15);
		goto out;
	}
	if (rc && !guest) {
		cli_err("wait: host port %u is not forwarded by %s (ports: %s)", o.port, o.name,
			in->ports && *in->ports ? in->ports : "none");
		goto out;
	}
	double start = now_monotonic(), end = start + o.timeout;
	for (;;) {
		if (!instance_pid_alive(in->pid, in->dir)) {
			cli_err("wait: %s exited before port %u answered", o.name, o.port);
			print_tail(log, 15);
			goto out;
		}
		if (portprobe_ready(addr, o.port, guest, o.http, guest ? qmp : NULL, 500)) {
			fprintf(stderr, "smolc: %s: port %u answering after %.2f s\n", o.name, o.port,
				now_monotonic() - start);
			rv = 0;
			goto out;
		}
		if (now_monotonic() >= end) {
			cli_err("wait: timed out after %.0f s waiting for port %u of %s", o.timeout, o.port, o.name);
			print_tail(log, 15);
			goto out;
		}
		usleep(100000);
	}
out:
	runconf_free(rc);
	free(yaml);
	free(qmp);
	free(log);
	instance_free(in);
	free(root);
	return rv;
}
