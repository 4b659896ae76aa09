/* cli_inst.c — `smolc ps|stop|logs|wait|rm|inspect` over instance state
 * (instance.h).
 *
 * Every command re-verifies liveness through /proc (instance_pid_alive);
 * a pidfile alone is never trusted. `stop` escalates QMP
 * system_powerdown → SIGTERM → SIGKILL and says which one ended the VM;
 * the instance then stays (exited) until `smolc rm`. `wait` fails fast
 * with the end of the console log when the VM has exited or its console
 * says the guest's /etc/rc exited. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "instance.h"
#include "jout.h"
#include "portprobe.h"
#include "qemu.h"
#include "qmp.h"
#include "runconf.h"
#include "util.h"

static char *fmt_uptime(long long s)
{
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

static json_t *int_or_null(long long v, bool have)
{
	return have ? json_integer(v) : json_null();
}

static const char *state_name(enum instance_state s)
{
	switch (s) {
	case INSTANCE_RUNNING: return "running";
	case INSTANCE_STARTING: return "starting";
	case INSTANCE_EXITED: return "exited";
	default: return "absent";
	}
}

/* The common fields of ps --json and inspect --json. */
static json_t *json_instance(const struct instance *in)
{
	char sb[16];
	char *status = instance_status_text(in);
	bool ex = in->state == INSTANCE_EXITED;
	json_t *o = json_pack("{s:o,s:s,s:o,s:I,s:o,s:o,s:o,s:o,s:I,s:I,s:o,s:o,s:o,s:o,s:o}", "name", jout_str(in->name),
			      "state", state_name(in->state), "status", jout_str(status), "pid",
			      (json_int_t)(in->pid ? in->pid : in->last_pid), "service", jout_str(in->service), "image",
			      jout_str(in->image), "ports", jout_str(in->ports), "accel", jout_str(in->accel), "started",
			      (json_int_t)in->started, "uptime_s", (json_int_t)instance_uptime(in), "exited",
			      int_or_null(in->exited, ex && in->exited), "exit_status",
			      int_or_null(in->exit_status, ex && in->exit_status >= 0 && !in->exit_signal), "exit_signal",
			      ex && in->exit_signal ? jout_str(instance_signame(in->exit_signal, sb)) : json_null(),
			      "stopped_by", ex && in->stopped_by ? jout_str(in->stopped_by) : json_null(), "rc_exit_status",
			      int_or_null(in->rc_status, in->rc_status >= 0));
	free(status);
	return o;
}

int run_ps(const struct inst_opts *op)
{
	const struct inst_opts o = *op;
	struct error *err = NULL;
	char *root = instance_state_root();
	struct instance **list = NULL;
	size_t n = 0;
	if (instance_list(root, &list, &n, &err) < 0) {
		cli_err("%s", error_msg(err));
		error_clear(&err);
		free(root);
		return 1;
	}
	size_t shown = 0;
	if (!o.json)
		printf("%-16s %-8s %-24s %-26s %-8s %-5s %s\n", "NAME", "PID", "IMAGE", "PORTS", "UPTIME", "ACCEL",
		       "STATUS");
	json_t *arr = o.json ? json_array() : NULL;
	for (size_t i = 0; i < n; i++) {
		struct instance *in = list[i];
		if (!o.all && in->state == INSTANCE_EXITED)
			continue;
		if (o.json) {
			json_array_append_new(arr, json_instance(in));
		} else {
			char *up = fmt_uptime(instance_uptime(in));
			char *st = instance_status_text(in);
			printf("%-16s %-8ld %-24s %-26s %-8s %-5s %s\n", in->name,
			       (long)(in->pid ? in->pid : in->last_pid), in->image ? path_basename(in->image) : "-",
			       in->ports && *in->ports ? in->ports : "-", up, in->accel ? in->accel : "-", st);
			free(st);
			free(up);
		}
		shown++;
	}
	if (o.json)
		jout_print(stdout, arr, "\n");
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

/* Wait (bounded) for the monitor's exit record, so that what follows
 * (ps -a, rm) sees how the instance ended. */
static void wait_exit_record(const char *dir, double secs)
{
	char *p = path_join(dir, INSTANCE_EXIT);
	double end = now_monotonic() + secs;
	while (access(p, F_OK) < 0 && now_monotonic() < end)
		usleep(20000);
	free(p);
}

/* Has the guest an ACPI power button? Read off the -M/-machine option
 * QEMU was started with (qemu.argv): "acpi=off" there (the netbsd profile's
 * microvm) means no, and system_powerdown would only burn the timeout.
 * Without the argv, from the run config: microvm means no. */
static bool has_acpi(const struct instance *in)
{
	char *p = path_join(in->dir, INSTANCE_ARGV);
	char *data = NULL;
	size_t len = 0;
	int r = read_file(p, 1 << 20, &data, &len);
	free(p);
	if (r == 0) {
		bool acpi = true, machine = false;
		for (size_t off = 0; off < len; off += strlen(data + off) + 1) {
			const char *a = data + off;
			if (machine) {
				char *opts = xasprintf(",%s,", a);
				acpi = !strstr(opts, ",acpi=off,");
				free(opts);
				machine = false;
			}
			machine = !strcmp(a, "-M") || !strcmp(a, "-machine");
		}
		free(data);
		return acpi;
	}
	struct error *err = NULL;
	bool acpi = true;
	char *yaml = path_join(in->dir, INSTANCE_RUNCONF);
	struct runconf *rc = NULL;
	if (runconf_read(yaml, &rc, NULL, &err) == 0)
		acpi = strcmp(runconf_machine(rc), "microvm") != 0;
	error_clear(&err);
	runconf_free(rc);
	free(yaml);
	return acpi;
}

/* Stop a running instance: powerdown (when the guest has an ACPI power
 * button) → SIGTERM → SIGKILL, each given timeout seconds (SIGKILL 5).
 * Returns the signal name that ended it, or NULL. force: SIGKILL at once. */
static const char *stop_instance(const struct instance *in, double timeout, bool force)
{
	const char *how = NULL;
	struct error *err = NULL;
	char *qmp = path_join(in->dir, INSTANCE_QMP);
	bool acpi = has_acpi(in);
	if (force) {
		/* rm -f: no grace */
	} else if (!acpi) {
		debugf("stop %s: the guest has no ACPI power button (acpi=off); skipping system_powerdown", in->name);
	} else {
		instance_record_stop(in->dir, "system_powerdown");
		if (qmp_execute(qmp, "system_powerdown", 2000, &err) == 0) {
			if (wait_gone(in->pid, in->dir, timeout))
				how = "system_powerdown";
		} else {
			debugf("stop %s: %s", in->name, error_msg(err));
			error_clear(&err);
		}
	}
	free(qmp);
	if (!how && !force) {
		instance_record_stop(in->dir, "SIGTERM");
		kill(in->pid, SIGTERM);
		if (wait_gone(in->pid, in->dir, timeout))
			how = "SIGTERM";
	}
	if (!how) {
		instance_record_stop(in->dir, "SIGKILL");
		kill(in->pid, SIGKILL);
		if (wait_gone(in->pid, in->dir, 5))
			how = "SIGKILL";
	}
	if (how)
		wait_exit_record(in->dir, 2);
	return how;
}

/* Load NAME for a command; prints the error. */
static struct instance *load_named(const char *cmd, const char *root, const char *name)
{
	struct error *err = NULL;
	struct instance *in = NULL;
	if (instance_name_ok(name, &err) < 0 || instance_load(root, name, &in, &err) < 0) {
		cli_err("%s: %s", cmd, error_msg(err));
		error_clear(&err);
		return NULL;
	}
	return in;
}

int run_stop(const struct inst_opts *op)
{
	const struct inst_opts o = *op;
	int rv;
	char *root = instance_state_root();
	struct instance *in = load_named("stop", root, o.name);
	if (!in) {
		free(root);
		return 1;
	}
	if (!in->pid) {
		char *st = instance_status_text(in);
		fprintf(stderr, "smolc: %s is not running (%s)%s\n", o.name, st,
			in->state == INSTANCE_STARTING ? "; try again once it has started" : "");
		free(st);
		rv = in->state == INSTANCE_STARTING ? 1 : 0;
		instance_free(in);
		free(root);
		return rv;
	}
	const char *how = stop_instance(in, o.timeout, false);
	if (!how) {
		cli_err("stop: %s (pid %ld) did not exit even after SIGKILL", o.name, (long)in->pid);
		rv = 1;
	} else {
		fprintf(stderr, "smolc: stopped %s (pid %ld) with %s\n", o.name, (long)in->pid, how);
		rv = 0;
	}
	instance_free(in);
	free(root);
	return rv;
}

int run_rm(const struct inst_opts *op)
{
	const struct inst_opts o = *op;
	int rv;
	char *root = instance_state_root();
	rv = 0;
	for (size_t i = 0; i < o.nnames; i++) {
		const char *name = o.names[i];
		struct instance *in = load_named("rm", root, name);
		if (!in) {
			rv = 1;
			continue;
		}
		if (in->state == INSTANCE_STARTING) {
			cli_err("rm: %s is being started by another smolc; try again once it has started", name);
			rv = 1;
		} else if (in->pid && !o.force) {
			cli_err("rm: %s is running (pid %ld); stop it first (`smolc stop %s`) or use `smolc rm -f %s`",
				name, (long)in->pid, name, name);
			rv = 1;
		} else if (in->pid && !stop_instance(in, 0, true)) {
			cli_err("rm: %s (pid %ld) did not exit even after SIGKILL", name, (long)in->pid);
			rv = 1;
		} else if (instance_remove(root, name) < 0) {
			cli_err("rm: %s: cannot remove %s: %s", name, in->dir, strerror(errno));
			rv = 1;
		} else {
			if (in->pid)
				fprintf(stderr, "smolc: killed %s (pid %ld)\n", name, (long)in->pid);
			printf("%s\n", name);
		}
		instance_free(in);
	}
	free(root);
	return rv;
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

/* Offset where the last `lines` lines of path begin (bounded: reads
 * backwards in blocks, never more than the file). */
static long long tail_offset(const char *path, long lines)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	long long size = 0, off = 0;
	if (fseeko(f, 0, SEEK_END) == 0)
		size = ftello(f);
	if (size <= 0 || lines == 0) {
		fclose(f);
		return size > 0 ? size : 0;
	}
	long seen = 0;
	long long pos = size;
	char buf[8192];
	bool first = true;
	while (pos > 0) {
		size_t n = pos > (long long)sizeof(buf) ? sizeof(buf) : (size_t)pos;
		pos -= (long long)n;
		if (fseeko(f, pos, SEEK_SET) != 0 || fread(buf, 1, n, f) != n)
			break;
		for (size_t i = n; i-- > 0;) {
			if (buf[i] != '\n')
				continue;
			if (first && pos + (long long)i == size - 1)
				continue; /* the final newline ends the last line */
			if (++seen == lines) {
				off = pos + (long long)i + 1;
				fclose(f);
				return off;
			}
		}
		first = false;
	}
	fclose(f);
	return 0;
}

/* Print the last `lines` lines of path on stderr, indented. */
static void print_tail(const char *path, int lines)
{
	long long off = path ? tail_offset(path, lines) : 0;
	char *data = NULL;
	size_t len = 0;
	if (!path || read_file(path, 64u << 20, &data, &len) < 0 || !len || (size_t)off >= len) {
		fprintf(stderr, "  (no console output)\n");
		free(data);
		return;
	}
	fprintf(stderr, "  last console lines (%s):\n", path);
	char *save = NULL;
	for (char *l = strtok_r(data + off, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		size_t ll = strlen(l);
		if (ll && l[ll - 1] == '\r')
			l[--ll] = 0;
		fputs("  | ", stderr);
		/* console text is untrusted: no escape sequences to the terminal */
		for (const char *c = l; *c; c++)
			fputc(((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f ? '?' : *c, stderr);
		fputc('\n', stderr);
	}
	free(data);
}

int run_logs(const struct inst_opts *op)
{
	const struct inst_opts o = *op;
	char *root = instance_state_root();
	struct instance *in = load_named("logs", root, o.name);
	if (!in) {
		free(root);
		return 1;
	}
	char *log = instance_console_path(in);
	if (!log) {
		cli_err("logs: the console of %s goes to %s, not to a file", o.name, in->console);
		instance_free(in);
		free(root);
		return 1;
	}
	long long off = copy_from(log, o.tail >= 0 ? tail_offset(log, o.tail) : 0);
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
	struct error *err = NULL;
	char *root = instance_state_root();
	struct instance *in = load_named("wait", root, o.name);
	if (!in) {
		free(root);
		return 1;
	}
	char *log = instance_console_path(in);
	char *qmp = path_join(in->dir, INSTANCE_QMP);
	char *yaml = path_join(in->dir, INSTANCE_RUNCONF);
	struct runconf *rc = NULL;
	unsigned guest = 0;
	const char *addr = "127.0.0.1";
	rv = 1;
	if (runconf_read(yaml, &rc, NULL, &err) < 0) {
		debugf("%s", error_msg(err));
		error_clear(&err);
	}
	for (size_t i = 0; rc && i < rc->nports; i++)
		if (rc->ports[i].host_port == o.port && rc->ports[i].proto == RUNCONF_TCP) {
			guest = rc->ports[i].guest_port;
			addr = rc->ports[i].host_addr;
		}
	if (!in->pid) {
		char *st = instance_status_text(in);
		cli_err("wait: %s is not running: %s", o.name, st);
		free(st);
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
		int rcs = log ? instance_rc_status(log) : -1;
		if (rcs >= 0) {
			cli_err("wait: the guest's /etc/rc exited (status %d) before port %u of %s answered", rcs,
				o.port, o.name);
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

static void fmt_epoch(long long t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!t || !gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "-");
}

/* QEMU's argv as recorded at start (NUL-separated file). */
static void read_argv(const struct instance *in, struct strvec *out)
{
	char *p = path_join(in->dir, INSTANCE_ARGV);
	char *data = NULL;
	size_t len = 0;
	if (read_file(p, 1 << 20, &data, &len) == 0)
		for (size_t off = 0; off < len; off += strlen(data + off) + 1)
			sv_pushdup(out, data + off);
	free(data);
	free(p);
}

static json_t *json_runconf(const struct runconf *rc)
{
	json_t *ports = json_array(), *shares = json_array();
	for (size_t i = 0; i < rc->nports; i++)
		json_array_append_new(ports, json_pack("{s:o,s:i,s:i,s:s}", "host_addr", jout_str(rc->ports[i].host_addr),
						       "host", (int)rc->ports[i].host_port, "guest",
						       (int)rc->ports[i].guest_port, "proto",
						       rc->ports[i].proto == RUNCONF_UDP ? "udp" : "tcp"));
	for (size_t i = 0; i < rc->nshares; i++)
		json_array_append_new(shares, json_pack("{s:o,s:o,s:b}", "host", jout_str(rc->shares[i].host_path), "tag",
							jout_str(rc->shares[i].tag), "readonly", rc->shares[i].readonly));
	char *cmd = runconf_cmdline(rc);
	json_t *o = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:o,s:o,s:b,s:o,s:o}", "service", jout_str(rc->service),
			      "arch", jout_str(rc->arch), "machine", jout_str(runconf_machine(rc)), "profile",
			      jout_str(runconf_profile(rc)), "kernel", jout_str(rc->kernel), "image", jout_str(rc->image),
			      "memory", (json_int_t)runconf_memory(rc), "cpus", (json_int_t)runconf_cpus(rc), "cmdline",
			      jout_str(cmd), "console", jout_str(runconf_console(rc)), "readonly", rc->readonly, "ports",
			      ports, "shares", shares);
	free(cmd);
	return o;
}

int run_inspect(const struct inst_opts *op)
{
	const struct inst_opts o = *op;
	struct error *err = NULL;
	char *root = instance_state_root();
	struct instance *in = load_named("inspect", root, o.name);
	if (!in) {
		free(root);
		return 1;
	}
	char *yaml = path_join(in->dir, INSTANCE_RUNCONF);
	char *log = instance_console_path(in);
	struct runconf *rc = NULL;
	if (runconf_read(yaml, &rc, NULL, &err) < 0) {
		debugf("%s", error_msg(err));
		error_clear(&err);
	}
	struct strvec av = {0};
	read_argv(in, &av);
	if (o.json) {
		json_t *j = json_instance(in), *argv = json_array();
		for (size_t i = 0; i < av.n; i++)
			json_array_append_new(argv, jout_str(av.v[i]));
		json_object_set_new(j, "dir", jout_str(in->dir));
		json_object_set_new(j, "console_log", jout_str(log));
		json_object_set_new(j, "argv", argv);
		json_object_set_new(j, "run_config", rc ? json_runconf(rc) : json_null());
		jout_print(stdout, j, "\n");
	} else {
		char t1[32], t2[32];
		char *st = instance_status_text(in);
		char *up = fmt_uptime(instance_uptime(in));
		fmt_epoch(in->started, t1, sizeof(t1));
		fmt_epoch(in->state == INSTANCE_EXITED ? in->exited : 0, t2, sizeof(t2));
		printf("name:        %s\n", in->name);
		printf("state:       %s\n", st);
		printf("pid:         %ld\n", (long)(in->pid ? in->pid : in->last_pid));
		printf("service:     %s\n", in->service ? in->service : "-");
		printf("image:       %s\n", in->image ? in->image : "-");
		printf("ports:       %s\n", in->ports && *in->ports ? in->ports : "-");
		printf("accel:       %s\n", in->accel ? in->accel : "-");
		printf("started:     %s\n", t1);
		printf("exited:      %s\n", t2);
		printf("uptime:      %s\n", up);
		printf("console:     %s\n", log ? log : in->console ? in->console : "-");
		printf("state dir:   %s\n", in->dir);
		char *q = qemu_argv_string(&av);
		printf("argv:        %s\n", av.n ? q : "-");
		free(q);
		printf("run config:  %s\n", yaml);
		char *text = NULL;
		size_t len = 0;
		if (read_file(yaml, 1 << 20, &text, &len) == 0)
			for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
				printf("  %s\n", l);
		free(text);
		free(st);
		free(up);
	}
	sv_free(&av);
	runconf_free(rc);
	free(log);
	free(yaml);
	instance_free(in);
	free(root);
	return 0;
}

/* Copy what is readable on from to to; false on EOF or error. */
static bool relay(int from, int to, bool *detach)
{
	char buf[4096];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	if (detach) {
		/* Ctrl-] (0x1d) detaches, as telnet does */
		char *d = memchr(buf, 0x1d, (size_t)n);
		if (d) {
			n = d - buf;
			*detach = true;
		}
	}
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		off += w;
	}
	return !(detach && *detach);
}

int run_attach(const struct inst_opts *op)
{
	const struct inst_opts o = *op;
	char *root = instance_state_root();
	struct instance *in = load_named("attach", root, o.name);
	int rv = 1, fd = -1;
	bool raw = false;
	struct termios saved;
	if (!in)
		goto out;
	if (!in->pid) {
		char *st = instance_status_text(in);
		cli_err("attach: %s is not running (%s)", o.name, st);
		free(st);
		goto out;
	}
	if (!in->pty) {
		cli_err("attach: %s has no pty console (its console: %s); start it with `smolc run -d --pty`",
			o.name, in->console ? in->console : "file:" INSTANCE_CONSOLE);
		goto out;
	}
	fd = open(in->pty, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		cli_err("attach: %s: %s", in->pty, strerror(errno));
		goto out;
	}
	if (isatty(0) && tcgetattr(0, &saved) == 0) {
		struct termios t = saved;
		cfmakeraw(&t);
		raw = tcsetattr(0, TCSANOW, &t) == 0;
	}
	fprintf(stderr, "smolc: attached to %s (%s); Ctrl-] detaches\r\n", o.name, in->pty);
	bool detach = false, stdin_open = true;
	for (;;) {
		struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
		int r = poll(pf, stdin_open ? 2 : 1, 500);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) && !relay(fd, 1, NULL))
			break; /* the VM closed its console */
		if (stdin_open && r > 0 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) && !relay(0, fd, &detach)) {
			if (detach)
				break;
			stdin_open = false; /* EOF on stdin: detach */
			break;
		}
		if (!instance_pid_alive(in->pid, in->dir))
			break;
	}
	rv = 0;
out:
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	if (fd >= 0) {
		close(fd);
		fprintf(stderr, "smolc: detached from %s\n", o.name);
	}
	instance_free(in);
	free(root);
	return rv;
}
