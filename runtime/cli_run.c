/* cli_run.c — `smolc run` (see run.h), once the CLI has parsed its options.
 *
 * Steps: find the run config (building first when given a
 * Smolfile) → read it → check kernel/image/QEMU/ports → choose the
 * accelerator (one line on stderr saying which and why) → build the argv
 * (qemu.c) → --dry-run prints it; foreground execs QEMU in place (the
 * console on stdio), or with --time runs it as a child to watch it
 * (posix_spawn: no page-table copy, ~3 ms less than fork here); -d starts it with -daemonize in a claimed instance
 * directory (instance.c): QEMU's parent exits only once the VM is set up,
 * so its exit status and stderr tell whether the start worked. Every failure path after the claim removes the
 * instance directory and never leaves a QEMU behind.
 *
 * Signals in the foreground with --time: SIGINT/SIGTERM/SIGHUP/SIGCHLD are blocked and
 * read from a signalfd (no handlers, no globals). Ctrl-C on a terminal
 * reaches QEMU directly (same process group; QEMU's stdio backend quits
 * on it); a signal sent to smolc alone is forwarded to QEMU as SIGTERM.
 * The exit status is QEMU's (128+N if it died of signal N). */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "accel.h"
#include "cli_common.h"
#include "instance.h"
#include "jout.h"
#include "portprobe.h"
#include "qemu.h"
#include "runconf.h"
#include "util.h"

extern char **environ;

void run_opts_free(struct run_opts *o)
{
	for (size_t i = 0; i < o->nports; i++)
		runconf_port_clear(&o->ports[i]);
	free(o->ports);
	for (size_t i = 0; i < o->nshares; i++) {
		free(o->shares[i].host_path);
		free(o->shares[i].tag);
		free(o->shares[i].guest_path);
	}
	free(o->shares);
	free(o->initrd);
	for (size_t i = 0; i < o->nfwcfg; i++) {
		free(o->fwcfg[i].name);
		free(o->fwcfg[i].value);
	}
	free(o->fwcfg);
	for (size_t i = 0; i < o->ndrives; i++)
		free(o->drives[i].path);
	free(o->drives);
	sv_free(&o->qemu_args);
}

/* -p: "[ADDR:]HOST:GUEST[/udp]" (runconf_parse_port), or "GUEST[/udp]" /
 * "ADDR::GUEST[/udp]": host_port 0, a free one picked later. */
int run_parse_publish(const char *spec, struct runconf_port *p, struct error **err)
{
	const char *slash = strchr(spec, '/');
	size_t n = slash ? (size_t)(slash - spec) : strlen(spec);
	const char *dc = strstr(spec, "::");
	char *rewritten = NULL;
	if (n && !memchr(spec, ':', n) && spec[0] != '[')
		rewritten = xasprintf("1:%s", spec);
	else if (dc && dc > spec && spec[0] != '[' && (size_t)(dc - spec) < n && !memchr(spec, ':', (size_t)(dc - spec)))
		rewritten = xasprintf("%.*s:1:%s", (int)(dc - spec), spec, dc + 2);
	if (!rewritten)
		return runconf_parse_port(spec, p, err);
	struct error *e = NULL;
	int r = runconf_parse_port(rewritten, p, &e);
	free(rewritten);
	if (r < 0) {
		error_clear(&e);
		error_set(err, "port \"%s\": expected [ADDR:]HOST:GUEST[/tcp|/udp], or GUEST[/udp] for a free host port",
				 spec);
		return -1;
	}
	p->host_port = 0;
	return 0;
}

static const char *host_arch(void)
{
	struct utsname u;
	if (uname(&u) == 0 && !strcmp(u.machine, "aarch64"))
		return "evbarm-aarch64";
	return "amd64";
}

/* Find the run config for target. Returns 0 with *path (caller frees), or
 * an exit code. *stored: it is an image of the store (never written). */
static int find_runconf(const struct run_opts *o, char **path, bool *stored)
{
	const char *target = o->target;
	*stored = false;
	bool dry_run = o->dry_run;
	struct stat st;
	if (!target) {
		if (stat("Smolfile", &st) == 0)
			return o->build(o->build_ctx, "Smolfile", dry_run, path);
		cli_err("run: no target and no ./Smolfile; give a run config (images/SERVICE-ARCH.yaml), "
			"a Smolfile or a service name");
		return 2;
	}
	if (str_endswith(target, ".yaml") || str_endswith(target, ".yml")) {
		*path = xstrdup(target);
		return 0;
	}
	if (stat(target, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			char *sf = path_join(target, "Smolfile");
			if (stat(sf, &st) < 0) {
				cli_err("run: %s: no Smolfile in this directory", target);
				free(sf);
				return 1;
			}
			int r = o->build(o->build_ctx, sf, dry_run, path);
			free(sf);
			return r;
		}
		return o->build(o->build_ctx, target, dry_run, path);
	}
	/* A service name: images/NAME-<host arch>.yaml, else an image of the
	 * store (NAME[:TAG]), else the only images/NAME-*.yaml */
	char *want = xasprintf("images/%s-%s.yaml", target, host_arch());
	bool plain = !strchr(target, '/') && !strchr(target, ':');
	if (plain && stat(want, &st) == 0) {
		*path = want;
		return 0;
	}
	int sr = o->image ? o->image(o->image_ctx, target, path) : -1;
	if (sr >= 0) {
		free(want);
		*stored = sr == 0;
		return sr;
	}
	if (!plain) {
		cli_err("run: %s: no such file, and no image of that name in the image store (see `smolc images`)",
			target);
		free(want);
		return 1;
	}
	char *pat = xasprintf("images/%s-*.yaml", target);
	glob_t g;
	int gr = glob(pat, 0, NULL, &g);
	int rv = 1;
	if (gr == 0 && g.gl_pathc == 1) {
		*path = xstrdup(g.gl_pathv[0]);
		rv = 0;
	} else if (gr == 0) {
		cli_err("run: several run configs match \"%s\" (%s, ...); name the .yaml file", target, g.gl_pathv[0]);
	} else {
		cli_err("run: no run config for \"%s\": %s not found; run `smolc build` first", target, want);
	}
	if (gr == 0)
		globfree(&g);
	free(pat);
	free(want);
	return rv;
}

static bool file_ok(const char *path, const char *what, const char *conf)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0)
		return true;
	cli_err("%s %s %s (from %s); run `smolc build` first", what, path,
		errno == ENOENT ? "not found" : "is not a readable file", conf);
	return false;
}

static char *ports_summary(const struct runconf *rc)
{
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < rc->nports; i++) {
		const struct runconf_port *p = &rc->ports[i];
		sb_printf(&sb, "%s%s:%u->%u/%s", sb.len ? "," : "", p->host_addr, p->host_port, p->guest_port,
			  p->proto == RUNCONF_UDP ? "udp" : "tcp");
	}
	sb_cstr(&sb);
	return sb_detach(&sb);
}

/* First TCP port (after -p/-P) for --time; NULL if none. */
static const struct runconf_port *first_tcp_port(const struct runconf *rc, const struct run_opts *o)
{
	(void)o;
	for (size_t i = 0; i < rc->nports; i++)
		if (rc->ports[i].proto == RUNCONF_TCP)
			return &rc->ports[i];
	return NULL;
}

/* The command line over the run config, Docker's way: -p replaces the
 * recipe's ports (they are defaults); -P publishes the recipe's ports on
 * free host ports (and -p with it replaces those of the same guest port);
 * a -p without a host port gets a free one. Picked ports are printed.
 * -m, -c, --initrd, --share (replacing a share of the same tag) likewise.
 * Kernel, initrd, image and share paths become absolute. Returns 0, or an
 * exit code. */
static int apply_overrides(struct runconf *rc, const struct run_opts *o)
{
	struct error *err = NULL;
	char *k = runconf_resolve(rc, rc->kernel), *im = runconf_resolve(rc, rc->image);
	free(rc->kernel);
	free(rc->image);
	rc->kernel = k;
	rc->image = im;
	for (size_t i = 0; i < rc->nshares; i++) {
		char *h = runconf_resolve(rc, rc->shares[i].host_path);
		free(rc->shares[i].host_path);
		rc->shares[i].host_path = h;
	}
	if (o->initrd) {
		free(rc->initrd);
		free(rc->initrd_sha256);
		rc->initrd = xstrdup(o->initrd);
		rc->initrd_sha256 = NULL;
	} else if (rc->initrd) {
		char *ird = runconf_resolve(rc, rc->initrd);
		free(rc->initrd);
		rc->initrd = ird;
	}
	if (o->memory_mib)
		rc->memory_mib = o->memory_mib;
	if (o->cpus)
		rc->cpus = o->cpus;
	/* shares: drop the config's of a tag given again, then append */
	size_t w = 0;
	for (size_t i = 0; i < rc->nshares; i++) {
		bool over = false;
		for (size_t j = 0; j < o->nshares && !over; j++)
			over = !strcmp(o->shares[j].tag, rc->shares[i].tag);
		if (over) {
			free(rc->shares[i].host_path);
			free(rc->shares[i].tag);
			free(rc->shares[i].guest_path);
		} else {
			rc->shares[w++] = rc->shares[i];
		}
	}
	rc->nshares = w;
	for (size_t j = 0; j < o->nshares; j++)
		runconf_add_share(rc, o->shares[j].host_path, o->shares[j].tag, NULL, o->shares[j].readonly);
	/* the anchor's launcher options */
	if (o->console_device) {
		free(rc->console_device);
		rc->console_device = xstrdup(o->console_device);
	}
	if (o->console_ports >= 0)
		rc->console_ports = (unsigned)o->console_ports;
	for (size_t i = 0; i < o->nfwcfg; i++)
		runconf_set_fwcfg(rc, o->fwcfg[i].name, o->fwcfg[i].value, o->fwcfg[i].is_file);
	for (size_t i = 0; i < rc->nfwcfg; i++) {
		if (!rc->fwcfg[i].is_file)
			continue;
		char *f = runconf_resolve(rc, rc->fwcfg[i].value);
		free(rc->fwcfg[i].value);
		rc->fwcfg[i].value = f;
		if (access(f, R_OK) < 0) {
			cli_err("run: fw_cfg file %s (-E %s=...): %s", f, rc->fwcfg[i].name, strerror(errno));
			return 1;
		}
	}
	for (size_t i = 0; i < o->ndrives; i++)
		runconf_add_drive(rc, o->drives[i].path, o->drives[i].readonly);
	for (size_t i = 0; i < rc->ndrives; i++) {
		char *d = runconf_resolve(rc, rc->drives[i].path);
		free(rc->drives[i].path);
		rc->drives[i].path = d;
		struct stat st;
		if (stat(d, &st) < 0 || !S_ISREG(st.st_mode)) {
			cli_err("run: drive %s: %s", d, errno && stat(d, &st) < 0 ? strerror(errno) : "not a regular file");
			return 1;
		}
	}
	if (o->share_rw)
		rc->share_rw = true;
	if (o->no_network)
		rc->no_network = true;
	if (o->bridge) {
		free(rc->bridge);
		rc->bridge = xstrdup(o->bridge);
	}
	for (size_t i = 0; i < o->qemu_args.n; i++)
		sv_pushdup(&rc->qemu_args, o->qemu_args.v[i]);
	if (rc->no_network && (rc->nports || o->nports || o->publish_all)) {
		if (o->nports || o->publish_all) {
			cli_err("run: -p/-P publish ports, but there is no network (--no-network or network: none)");
			return 2;
		}
		fprintf(stderr, "smolc: warning: no network: the run config's ports are not published\n");
		for (size_t i = 0; i < rc->nports; i++)
			runconf_port_clear(&rc->ports[i]);
		rc->nports = 0;
	}
	/* ports */
	size_t recipe_n = rc->nports;
	if (o->publish_all) {
		for (size_t i = 0; i < rc->nports; i++)
			rc->ports[i].host_port = 0;
	}
	w = 0;
	for (size_t i = 0; i < rc->nports; i++) {
		bool keep = o->publish_all;
		for (size_t j = 0; j < o->nports && keep; j++)
			keep = !(o->ports[j].guest_port == rc->ports[i].guest_port && o->ports[j].proto == rc->ports[i].proto);
		if (keep || !o->nports)
			rc->ports[w++] = rc->ports[i];
		else
			runconf_port_clear(&rc->ports[i]);
	}
	rc->nports = w;
	if (o->nports)
		debugf("-p: %zu port(s) of the run config replaced", recipe_n);
	for (size_t j = 0; j < o->nports; j++)
		runconf_add_port(rc, o->ports[j].host_addr, o->ports[j].host_port, o->ports[j].guest_port,
				 o->ports[j].proto);
	for (size_t i = 0; i < rc->nports; i++) {
		struct runconf_port *p = &rc->ports[i];
		if (p->host_port)
			continue;
		if (portprobe_pick(p->host_addr, p->proto == RUNCONF_UDP, &p->host_port, &err) < 0) {
			cli_err("%s", error_msg(err));
			error_clear(&err);
			return 1;
		}
		fprintf(stderr, "smolc: published %s:%u -> guest port %u/%s\n", p->host_addr, p->host_port,
			p->guest_port, p->proto == RUNCONF_UDP ? "udp" : "tcp");
	}
	for (size_t i = 0; i < rc->nports; i++)
		for (size_t j = 0; j < i; j++)
			if (rc->ports[j].host_port == rc->ports[i].host_port && rc->ports[j].proto == rc->ports[i].proto &&
			    !strcmp(rc->ports[j].host_addr, rc->ports[i].host_addr)) {
				cli_err("run: host port %u (%s/%s) is published twice (-p replaces the run config's "
					"ports; give each host port once)", rc->ports[i].host_port, rc->ports[i].host_addr,
					rc->ports[i].proto == RUNCONF_UDP ? "udp" : "tcp");
				return 2;
			}
	return 0;
}

/* Timing of a run (--time). Negative = not seen. */
struct run_times {
	double start, console, port;
	unsigned port_num;
};

static void print_times(const struct run_times *t, const char *accel, int exit_code, bool json)
{
	if (json) {
		json_t *o = json_pack("{s:s,s:o}", "accel", accel, "console_s",
				      t->console >= 0 ? jout_secs(t->console) : json_null());
		if (t->port_num) {
			json_object_set_new(o, "port", json_integer(t->port_num));
			json_object_set_new(o, "port_s", t->port >= 0 ? jout_secs(t->port) : json_null());
		}
		if (exit_code >= 0)
			json_object_set_new(o, "exit", json_integer(exit_code));
		jout_print(stdout, o, "\n");
		fflush(stdout);
		return;
	}
	fprintf(stderr, "smolc: time (%s): first console byte ", accel);
	if (t->console >= 0)
		fprintf(stderr, "%.3f s", t->console);
	else
		fprintf(stderr, "never");
	if (t->port_num) {
		fprintf(stderr, ", port %u answering ", t->port_num);
		if (t->port >= 0)
			fprintf(stderr, "%.3f s", t->port);
		else
			fprintf(stderr, "never");
	}
	fputc('\n', stderr);
}

static int write_all_fd(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Foreground: QEMU as a child on our terminal. */
static int run_foreground(const char *qemu_path, struct strvec *argv, const struct runconf *rc,
			  const struct run_opts *o, const char *accel, const char *qmp_dir)
{
	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGQUIT);
	if (sigprocmask(SIG_BLOCK, &mask, &old) < 0) {
		cli_err("sigprocmask: %s", strerror(errno));
		return 1;
	}
	int rv = 1;
	int sfd = -1, outp[2] = {-1, -1};
	pid_t pid = -1;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		cli_err("signalfd: %s", strerror(errno));
		goto out;
	}
	if (o->time && pipe2(outp, O_CLOEXEC) < 0) {
		cli_err("pipe: %s", strerror(errno));
		goto out;
	}
	struct run_times t = {.start = now_monotonic(), .console = -1, .port = -1};
	const struct runconf_port *tp = o->time ? first_tcp_port(rc, o) : NULL;
	char *qmp = qmp_dir ? path_join(qmp_dir, INSTANCE_QMP) : NULL;
	if (tp)
		t.port_num = tp->host_port;
	sv_push(argv, NULL);
	argv->n--;
	/* posix_spawn (vfork-like): no page-table copy, exec errors returned. */
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &old);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	if (outp[1] >= 0)
		posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	int se = posix_spawn(&pid, qemu_path, &fa, &at, argv->v, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (se != 0) {
		cli_err("cannot run %s: %s", qemu_path, strerror(se));
		pid = -1;
		free(qmp);
		goto out;
	}
	if (outp[1] >= 0) {
		close(outp[1]);
		outp[1] = -1;
	}
	int status = 0;
	bool done = false, times_printed = false;
	double next_probe = 0;
	while (!done) {
		struct pollfd pf[2] = {{.fd = sfd, .events = POLLIN}, {.fd = outp[0], .events = POLLIN}};
		int timeout = -1;
		if (tp && t.port < 0)
			timeout = 50;
		int r = poll(pf, outp[0] >= 0 ? 2 : 1, timeout);
		if (r < 0 && errno != EINTR) {
			cli_err("poll: %s", strerror(errno));
			break;
		}
		if (r > 0 && (pf[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					continue;
				/* On a terminal QEMU got SIGINT itself; forward anything else. */
				if (si.ssi_signo != SIGINT || !isatty(0))
					kill(pid, SIGTERM);
			}
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid)
				done = true;
		}
		if (r > 0 && outp[0] >= 0 && (pf[1].revents & (POLLIN | POLLHUP))) {
			char buf[4096];
			ssize_t n = read(outp[0], buf, sizeof(buf));
			if (n > 0) {
				if (t.console < 0)
					t.console = now_monotonic() - t.start;
				write_all_fd(1, buf, (size_t)n);
			} else if (n == 0) {
				close(outp[0]);
				outp[0] = -1;
			}
		}
		if (!done && waitpid(pid, &status, WNOHANG) == pid)
			done = true;
		if (!done && tp && t.port < 0 && now_monotonic() >= next_probe) {
			if (portprobe_ready(tp->host_addr, tp->host_port, tp->guest_port, NULL, qmp, 300))
				t.port = now_monotonic() - t.start;
			next_probe = now_monotonic() + 0.05;
		}
		if (o->time && !times_printed && t.console >= 0 && (!tp || t.port >= 0) && !o->json) {
			print_times(&t, accel, -1, false);
			times_printed = true;
		}
	}
	free(qmp);
	/* drain remaining console output */
	while (outp[0] >= 0) {
		char buf[4096];
		ssize_t n = read(outp[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		if (t.console < 0)
			t.console = now_monotonic() - t.start;
		write_all_fd(1, buf, (size_t)n);
	}
	if (!done) {
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
	}
	pid = -1;
	rv = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (o->time && (o->json || !times_printed))
		print_times(&t, accel, rv, o->json);
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (sfd >= 0)
		close(sfd);
	for (int i = 0; i < 2; i++)
		if (outp[i] >= 0)
			close(outp[i]);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rv;
}

/* Kill a QEMU we started whose pid is in dir's pidfile (cleanup path). */
static void kill_started(const char *dir)
{
	pid_t pid = instance_read_pid(dir);
	if (pid && instance_pid_alive(pid, dir)) {
		kill(pid, SIGKILL);
		for (int i = 0; i < 100 && instance_pid_alive(pid, dir); i++)
			usleep(10000);
	}
}

/* Close every descriptor except 0-2 and those in keep (n of them). */
static void close_all_but(const int *keep, size_t n)
{
	unsigned lo = 3;
	for (;;) {
		unsigned next = ~0u;
		for (size_t i = 0; i < n; i++)
			if ((unsigned)keep[i] >= lo && (unsigned)keep[i] < next)
				next = (unsigned)keep[i];
		if (next > lo)
			close_range(lo, next == ~0u ? ~0u : next - 1, 0);
		if (next == ~0u)
			return;
		lo = next + 1;
	}
}

/* The instance's monitor (a grandchild of smolc, in its own session, a
 * child subreaper): starts QEMU -daemonize in dir, reports the launcher's
 * wait status on resfd, then waits for the daemonized QEMU (reparented to
 * it) and records how it ended (instance_record_exit). With rm, removes
 * the instance directory instead. Never returns. */
static _Noreturn void monitor_main(const char *qemu_path, struct strvec *argv, const char *dir, int errfd,
				   int resfd, bool rm)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (dfd < 0 || nul < 0 || chdir("/") < 0)
		_exit(1);
	dup2(nul, 0);
	dup2(nul, 1);
	dup2(nul, 2);
	int keep[] = {dfd, errfd, resfd, nul};
	close_all_but(keep, ARRAY_LEN(keep));
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	prctl(PR_SET_NAME, "smolc-monitor");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addchdir_np(&fa, dir);
	posix_spawn_file_actions_adddup2(&fa, errfd, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	pid_t pid;
	int status = -1;
	int se = posix_spawn(&pid, qemu_path, &fa, NULL, argv->v, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(errfd);
	if (se == 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	int msg[2] = {se, status};
	if (write(resfd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		_exit(1);
	close(resfd);
	if (se != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		_exit(1);
	pid_t qpid = instance_read_pid(dir);
	int qstatus = -1;
	/* reap everything reparented to us until our QEMU is done */
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break; /* ECHILD: QEMU is not ours (should not happen) */
		if (w == qpid || !qpid) {
			qstatus = st;
			break;
		}
	}
	if (rm) {
		/* only when the path still names our directory */
		struct stat a, b;
		if (fstat(dfd, &a) == 0 && stat(dir, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			remove_tree(dir);
	} else {
		instance_record_exit(dfd, qstatus);
	}
	_exit(0);
}

/* -d: QEMU daemonizes itself (parent exits once it is set up, so errors
 * such as a bad hostfwd come back as its exit status and stderr); it is
 * started by the instance's monitor (monitor_main), which outlives smolc
 * and records how the VM ends. */
static int run_detached(const char *qemu_path, struct strvec *argv, const char *root, const char *name,
			int lockfd, const struct runconf *rc, const struct run_opts *o, const char *accel,
			struct instance *in)
{
	char *dir = path_join(root, name);
	int rv = 1;
	int errp[2] = {-1, -1}, resp[2] = {-1, -1};
	if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(resp, O_CLOEXEC) < 0) {
		cli_err("pipe: %s", strerror(errno));
		goto fail;
	}
	sv_push(argv, NULL);
	argv->n--;
	double start = now_monotonic();
	fflush(NULL);
	pid_t f = fork();
	if (f < 0) {
		cli_err("fork: %s", strerror(errno));
		goto fail;
	}
	if (f == 0) {
		/* intermediate: new session, then the monitor, then exit so
		 * that the monitor is nobody's child but init's */
		close(errp[0]);
		close(resp[0]);
		if (lockfd >= 0)
			close(lockfd);
		setsid();
		pid_t m = fork();
		if (m == 0)
			monitor_main(qemu_path, argv, dir, errp[1], resp[1], o->rm);
		_exit(m < 0 ? 1 : 0);
	}
	close(errp[1]);
	errp[1] = -1;
	close(resp[1]);
	resp[1] = -1;
	int fst = 0;
	while (waitpid(f, &fst, 0) < 0 && errno == EINTR)
		;
	int msg[2] = {0, 0};
	ssize_t got;
	while ((got = read(resp[0], msg, sizeof(msg))) < 0 && errno == EINTR)
		;
	if (got != (ssize_t)sizeof(msg)) {
		cli_err("the monitor of %s failed before starting QEMU", name);
		goto fail;
	}
	if (msg[0] != 0) {
		cli_err("cannot run %s: %s", qemu_path, strerror(msg[0]));
		goto fail;
	}
	int status = msg[1];
	/* QEMU's output before daemonizing (warnings or the error). */
	struct strbuf qmsg;
	sb_init(&qmsg);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	char buf[4096];
	ssize_t n;
	while ((n = read(errp[0], buf, sizeof(buf))) > 0)
		sb_add(&qmsg, buf, (size_t)n);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		const char *m = sb_cstr(&qmsg);
		size_t ml = strlen(m);
		while (ml && m[ml - 1] == '\n')
			ml--;
		cli_err("QEMU failed to start %s: %.*s", name, (int)ml, ml ? m : "no message");
		sb_free(&qmsg);
		goto fail;
	}
	if (qmsg.len)
		debugf("qemu: %s", sb_cstr(&qmsg));
	/* -serial/-chardev pty: "char device redirected to /dev/pts/N (label ...)" */
	const char *pts = strstr(sb_cstr(&qmsg), "redirected to /dev/pts/");
	if (pts) {
		pts += strlen("redirected to ");
		in->pty = xstrndup(pts, strcspn(pts, " \n"));
	}
	sb_free(&qmsg);
	pid_t qpid = instance_read_pid(dir);
	if (!qpid || !instance_pid_alive(qpid, dir)) {
		cli_err("QEMU for %s exited right after starting; see `smolc logs %s`", name, name);
		/* it did start: keep the instance (its console, its exit record) */
		instance_release(lockfd);
		close(errp[0]);
		close(resp[0]);
		free(dir);
		return 1;
	}
	struct error *err = NULL;
	in->last_pid = qpid;
	if (instance_write_summary(in, &err) < 0) {
		debugf("%s", error_msg(err));
		error_clear(&err);
	}
	instance_release(lockfd);
	lockfd = -1;
	if (in->pty)
		fprintf(stderr, "smolc: started %s (pid %ld, %s), console on %s; `smolc attach %s`, `smolc stop %s`\n",
			name, (long)qpid, accel, in->pty, name, name);
	else
		fprintf(stderr, "smolc: started %s (pid %ld, %s); `smolc logs %s`, `smolc stop %s`\n", name,
			(long)qpid, accel, name, name);
	if (!o->time)
		printf("%s\n", name);
	fflush(stdout);
	rv = 0;
	if (o->time) {
		struct run_times t = {.start = start, .console = -1, .port = -1};
		const struct runconf_port *tp = first_tcp_port(rc, o);
		char *log = path_join(dir, INSTANCE_CONSOLE);
		char *qmp = path_join(dir, INSTANCE_QMP);
		if (tp)
			t.port_num = tp->host_port;
		double deadline = now_monotonic() + 120;
		while (now_monotonic() < deadline && instance_pid_alive(qpid, dir)) {
			struct stat st;
			if (t.console < 0 && stat(log, &st) == 0 && st.st_size > 0)
				t.console = now_monotonic() - start;
			if (tp && t.port < 0 &&
			    portprobe_ready(tp->host_addr, tp->host_port, tp->guest_port, NULL, qmp, 300))
				t.port = now_monotonic() - start;
			if (t.console >= 0 && (!tp || t.port >= 0))
				break;
			usleep(20000);
		}
		free(log);
		free(qmp);
		print_times(&t, accel, -1, o->json);
	}
	close(errp[0]);
	close(resp[0]);
	free(dir);
	return rv;
fail:
	kill_started(dir);
	instance_release(lockfd);
	remove_tree(dir);
	for (int i = 0; i < 2; i++) {
		if (errp[i] >= 0)
			close(errp[i]);
		if (resp[i] >= 0)
			close(resp[i]);
	}
	free(dir);
	return rv;
}

/* The running instance that publishes host port (NULL = none). Caller frees. */
static char *port_owner(unsigned port, const char *addr, bool udp)
{
	struct error *err = NULL;
	char *root = instance_state_root(), *owner = NULL;
	struct instance **list = NULL;
	size_t n = 0;
	if (instance_list(root, &list, &n, &err) < 0)
		error_clear(&err);
	char *want = xasprintf("%s:%u->", addr, port);
	for (size_t i = 0; i < n; i++) {
		const struct instance *in = list[i];
		if (!owner && in->state == INSTANCE_RUNNING && in->ports) {
			/* "ADDR:H->G/proto" entries, comma-separated */
			for (const char *q = strstr(in->ports, want); q && !owner; q = strstr(q + 1, want)) {
				const char *slash = strchr(q, '/');
				if ((q == in->ports || q[-1] == ',') && slash && !strncmp(slash + 1, udp ? "udp" : "tcp", 3))
					owner = xstrdup(in->name);
			}
		}
		instance_free(list[i]);
	}
	free(want);
	free(list);
	free(root);
	return owner;
}

/* A writable image runs once: QEMU would refuse the second with a lock
 * error; say which instance holds it instead. Returns 0 or -1. */
static int check_image_free(const struct runconf *rc, const char *image, const char *self)
{
	if (rc->readonly)
		return 0;
	struct error *err = NULL;
	char *root = instance_state_root();
	struct instance **list = NULL;
	size_t n = 0;
	int rv = 0;
	if (instance_list(root, &list, &n, &err) < 0)
		error_clear(&err);
	for (size_t i = 0; i < n; i++) {
		const struct instance *in = list[i];
		if (!rv && in->state == INSTANCE_RUNNING && in->image && !strcmp(in->image, image) &&
		    (!self || strcmp(in->name, self))) {
			cli_err("the image %s is in use by the running instance %s; a writable image runs once: stop "
				"it (`smolc stop %s`), or make the root read-only (READONLY in the Smolfile) to run "
				"copies", image, in->name, in->name);
			rv = -1;
		}
		instance_free(list[i]);
	}
	free(list);
	free(root);
	return rv;
}

/* Every published host port must be free before QEMU starts; the hint
 * says what will work (-p replaces the run config's ports). */
static int check_ports(const struct runconf *rc, const struct run_opts *o)
{
	(void)o;
	for (size_t i = 0; i < rc->nports; i++) {
		const struct runconf_port *p = &rc->ports[i];
		struct error *err = NULL;
		int r = portprobe_free(p->host_addr, p->host_port, p->proto == RUNCONF_UDP, &err);
		if (r == -2) {
			bool udp = p->proto == RUNCONF_UDP;
			char *owner = port_owner(p->host_port, p->host_addr, udp);
			char *by = owner ? xasprintf(" by the instance %s (`smolc stop %s`)", owner, owner) : xstrdup("");
			cli_err("%s%s; publish guest port %u on another host port with -p HOST:%u%s, or on a free "
				"one with -p %u%s", error_msg(err), by, p->guest_port, p->guest_port, udp ? "/udp" : "",
				p->guest_port, udp ? "/udp" : "");
			free(by);
			free(owner);
		} else if (r < 0) {
			cli_err("%s", error_msg(err));
		}
		error_clear(&err);
		if (r < 0)
			return -1;
	}
	return 0;
}

int run_main(const struct run_opts *op)
{
	struct run_opts o = *op;
	struct runconf *rc = NULL;
	struct strvec warnings = {0}, qargv = {0};
	struct error *err = NULL;
	char *conf = NULL, *qemu_path = NULL, *root = NULL, *dir = NULL, *realdir = NULL;
	char *tmpdir = NULL;
	int lockfd = -1;
	int rv = 1;
	bool stored = false;
	int fr = find_runconf(&o, &conf, &stored);
	if (fr != 0) {
		rv = fr;
		goto out;
	}
	if (runconf_read(conf, &rc, &warnings, &err) < 0) {
		cli_err("%s", error_msg(err));
		goto out;
	}
	for (size_t i = 0; i < warnings.n; i++)
		fprintf(stderr, "smolc: %s\n", warnings.v[i]);
	/* Paths in the config are relative to its directory: make that absolute
	 * (QEMU may run in the instance directory). */
	char real[PATH_MAX];
	if (realpath(rc->dir ? rc->dir : ".", real)) {
		free(rc->dir);
		rc->dir = xstrdup(real);
	}
	int ar = apply_overrides(rc, &o);
	if (ar) {
		rv = ar;
		goto out;
	}
	char *kpath = runconf_resolve(rc, rc->kernel), *ipath = runconf_resolve(rc, rc->image);
	bool ok = file_ok(kpath, "kernel", conf) && file_ok(ipath, "image", conf);
	free(kpath);
	if (ok && rc->initrd && !o.initrd) {
		char *rpath = runconf_resolve(rc, rc->initrd);
		ok = file_ok(rpath, "initrd", conf);
		free(rpath);
	}
	if (!ok) {
		free(ipath);
		goto out;
	}
	const char *console = o.pty ? "pty" : o.console;
	if (o.pty && o.console && strcmp(o.console, "pty")) {
		cli_err("run: --pty and --console %s: give one console", o.console);
		free(ipath);
		rv = 2;
		goto out;
	}
	if (o.detach && console && !strcmp(console, "stdio")) {
		cli_err("run: --console stdio cannot be used with -d (the console goes to `smolc logs`)");
		free(ipath);
		rv = 2;
		goto out;
	}
	struct accel_choice ac;
	bool bad_usage;
	if (accel_choose(NULL, o.accel, rc->arch, &ac, &bad_usage, &err) < 0) {
		cli_err("%s", error_msg(err));
		free(ipath);
		rv = bad_usage ? 2 : 1;
		goto out;
	}
	fprintf(stderr, "smolc: accel: %s (%s)\n", accel_name(ac.kind), ac.reason);

	const char *name = o.name ? o.name : rc->service;
	if (o.detach && instance_name_ok(name, &err) < 0) {
		cli_err("run: %s", error_msg(err));
		free(ipath);
		rv = 2;
		goto out;
	}
	const char *bin_env = getenv("SMOLC_QEMU");
	const char *bin_name = bin_env && *bin_env ? bin_env : qemu_binary_name(rc->arch);
	struct qemu_opts qo = {
		.binary = bin_name,
		.accel = ac.kind,
		.console = console,
		.extra_append = o.append,
		.snapshot = stored && !rc->readonly,
	};
	qemu_path = qemu_find_binary(bin_name);
	/* viocon when the NetBSD kernel has it (as startnb does), but not
	 * detached: the anchor found viocon crashing under -daemonize */
	if (!rc->console_device && !strcmp(runconf_profile(rc), "netbsd") && !o.detach) {
		char *k = runconf_resolve(rc, rc->kernel);
		if (qemu_kernel_has_viocon(k)) {
			qo.console_device = "viocon";
			debugf("console: viocon (the kernel has viocon_earlyinit)");
		}
		free(k);
	}
	char *vcache = NULL;
	{
		char *sr = instance_state_root();
		if (mkdir_p(sr, 0700) == 0)
			vcache = path_join(sr, ".qemu-version");
		free(sr);
	}
	bool bios = qemu_path && !strcmp(runconf_machine(rc), "microvm") && qemu_needs_bios_workaround(qemu_path, vcache);
	free(vcache);
	if (bios) {
		fprintf(stderr, "smolc: QEMU 9.0/9.1: adding -bios bios-microvm.bin (its microvm default BIOS crashes)\n");
		qo.bios_workaround = true;
	}
	if (o.detach) {
		const char *eff = console ? console : runconf_console(rc);
		if (str_startswith(eff, "stdio"))
			qo.console = "file:" INSTANCE_CONSOLE;
		root = instance_state_root();
		realdir = path_join(root, name);
		qo.pidfile = dir = path_join(realdir, INSTANCE_PIDFILE);
		qo.qmp_socket = INSTANCE_QMP;
		qo.daemonize = true;
	} else if (o.time && !o.dry_run && first_tcp_port(rc, &o)) {
		char tmpl[] = "/tmp/smolc-run.XXXXXX";
		const char *td = getenv("TMPDIR");
		char *t = td && *td ? xasprintf("%s/smolc-run.XXXXXX", td) : xstrdup(tmpl);
		if (mkdtemp(t)) {
			tmpdir = t;
			qo.qmp_socket = dir = path_join(tmpdir, INSTANCE_QMP);
		} else {
			free(t);
		}
	}
	if (qemu_build_argv(rc, &qo, &qargv, &err) < 0) {
		cli_err("%s", error_msg(err));
		free(ipath);
		rv = 2;
		goto out;
	}
	if (o.dry_run) {
		char *s = qemu_argv_string(&qargv);
		printf("%s\n", s);
		free(s);
		free(ipath);
		rv = 0;
		goto out;
	}
	if (!qemu_path) {
		if (bin_env && *bin_env)
			cli_err("%s not found (from SMOLC_QEMU)", bin_name);
		else
			cli_err("%s not found; install the Debian package %s", bin_name,
				qemu_debian_package(rc->arch));
		free(ipath);
		goto out;
	}
	if (!o.detach) {
		bool busy = check_image_free(rc, ipath, NULL) < 0 || check_ports(rc, &o) < 0;
		free(ipath);
		if (busy)
			goto out;
		if (!o.time) {
			/* nothing to watch: become QEMU (its terminal, signals
			 * and exit status are then simply its own, and no
			 * smolc process lingers beside the VM) */
			sv_push(&qargv, NULL);
			fflush(NULL);
			execv(qemu_path, qargv.v);
			cli_err("cannot run %s: %s", qemu_path, strerror(errno));
			qargv.n--;
			goto out;
		}
		rv = run_foreground(qemu_path, &qargv, rc, &o, accel_name(ac.kind), tmpdir);
		goto out;
	}
	/* detached */
	bool replaced = false;
	lockfd = instance_claim(root, name, &replaced, &err);
	if (replaced)
		fprintf(stderr, "smolc: replaced the exited instance %s (its logs are gone)\n", name);
	if (lockfd < 0) {
		cli_err("%s", error_msg(err));
		free(ipath);
		free(realdir);
		realdir = NULL; /* not ours: keep it */
		goto out;
	}
	if (check_image_free(rc, ipath, name) < 0 || check_ports(rc, &o) < 0) {
		free(ipath);
		goto out; /* releases the lock and removes the claimed directory */
	}
	/* the effective run config, with absolute paths, for ps/inspection */
	{
		struct error *e2 = NULL;
		char *yp = path_join(realdir, INSTANCE_RUNCONF);
		if (runconf_write(rc, yp, &e2) < 0)
			debugf("%s", error_msg(e2));
		error_clear(&e2);
		free(yp);
	}
	struct instance in = {
		.name = (char *)name,
		.dir = realdir,
		.service = rc->service,
		.image = ipath,
		.accel = (char *)accel_name(ac.kind),
		.console = (char *)qo.console,
		.qemu = qemu_path,
		.started = (long long)time(NULL),
		.rm = o.rm,
	};
	in.ports = ports_summary(rc);
	{
		/* QEMU's argv, NUL-separated, for `smolc inspect` */
		struct strbuf ab;
		sb_init(&ab);
		for (size_t i = 0; i < qargv.n; i++)
			sb_add(&ab, qargv.v[i], strlen(qargv.v[i]) + 1);
		char *ap = path_join(realdir, INSTANCE_ARGV);
		if (write_file_atomic_nosync(ap, ab.len ? ab.buf : "", ab.len, 0600) < 0)
			debugf("%s: %s", ap, strerror(errno));
		free(ap);
		sb_free(&ab);
	}
	if (instance_write_summary(&in, &err) < 0) {
		cli_err("%s", error_msg(err));
		free(in.ports);
		free(ipath);
		instance_release(lockfd);
		lockfd = -1;
		remove_tree(realdir);
		goto out;
	}
	rv = run_detached(qemu_path, &qargv, root, name, lockfd, rc, &o, accel_name(ac.kind), &in);
	free(in.ports);
	free(in.pty);
	free(ipath);
	lockfd = -1;
out:
	if (lockfd >= 0) {
		instance_release(lockfd);
		if (realdir)
			remove_tree(realdir);
	}
	if (tmpdir) {
		remove_tree(tmpdir);
		free(tmpdir);
	}
	free(dir);
	free(realdir);
	free(root);
	free(qemu_path);
	sv_free(&qargv);
	sv_free(&warnings);
	error_clear(&err);
	free(conf);
	runconf_free(rc);
	return rv;
}
