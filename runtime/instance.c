/* instance.c — state directories of detached VMs (see instance.h).
 *
 * Liveness is decided from /proc, never from the pidfile alone: a pid is
 * ours when it is not a zombie, its argv[0] is a qemu-system-* binary and
 * its argv holds "-pidfile <this directory>/qemu.pid" (compared after
 * realpath). A reused pid (another program, or another instance's QEMU)
 * fails that test. The lock file is flock()ed by the `smolc run -d` that
 * is starting QEMU, so a directory without a live pid yet is "starting",
 * not stale. */
#include "instance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>

#include "util.h"

void instance_free(struct instance *in)
{
	if (!in)
		return;
	free(in->name);
	free(in->dir);
	free(in->service);
	free(in->image);
	free(in->ports);
	free(in->accel);
	free(in->console);
	free(in->qemu);
	free(in->stopped_by);
	free(in->pty);
	free(in);
}

char *instance_state_root(void)
{
	const char *s = getenv("SMOLC_STATE_DIR");
	if (s && *s && s[0] != '/') {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)))
			return path_join(cwd, s);
	}
	if (s && *s)
		return xstrdup(s);
	s = getenv("XDG_STATE_HOME");
	if (s && *s == '/')
		return path_join(s, "smolc");
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw && pw->pw_dir ? pw->pw_dir : "/tmp";
	}
	char *st = path_join(home, ".local/state");
	char *r = path_join(st, "smolc");
	free(st);
	return r;
}

int instance_name_ok(const char *name, struct error **err)
{
	size_t n = strlen(name);
	bool ok = n > 0 && n <= 64 && name[0] != '.' && name[0] != '-' && name[0] != '_';
	for (size_t i = 0; ok && i < n; i++) {
		char c = name[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '_' || c == '-' || c == '.';
	}
	if (!ok) {
		error_set(err, "bad instance name \"%s\": use 1-64 letters, digits, '.', '_' or '-', "
				 "starting with a letter or digit", name);
		return -1;
	}
	return 0;
}

pid_t instance_read_pid(const char *dir)
{
	char *p = path_join(dir, INSTANCE_PIDFILE);
	char *data = NULL;
	size_t len = 0;
	pid_t pid = 0;
	if (read_file(p, 64, &data, &len) == 0) {
		char *end;
		long v = strtol(data, &end, 10);
		while (*end == '\n' || *end == ' ')
			end++;
		if (end != data && !*end && v > 1 && v < INT_MAX)
			pid = (pid_t)v;
	}
	free(data);
	free(p);
	return pid;
}

bool instance_pid_alive(pid_t pid, const char *dir)
{
	if (pid <= 1)
		return false;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	char *data = NULL;
	size_t len = 0;
	if (read_file(path, 4096, &data, &len) < 0)
		return false;
	const char *rp = strrchr(data, ')');
	bool zombie = rp && (rp[2] == 'Z' || rp[2] == 'X');
	free(data);
	if (zombie)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	if (read_file(path, 1 << 20, &data, &len) < 0)
		return false;
	bool qemu = str_startswith(path_basename(data), "qemu-system-");
	/* ours: "-pidfile P" where P is this directory's pidfile (QEMU
	 * -daemonize chdirs to /, so P is absolute in the argv). */
	char *want = path_join(dir, INSTANCE_PIDFILE);
	char real_want[PATH_MAX], real_arg[PATH_MAX];
	bool have_want = realpath(want, real_want) != NULL;
	free(want);
	bool ours = false;
	for (size_t off = 0; qemu && have_want && off < len;) {
		const char *arg = data + off;
		size_t al = strlen(arg);
		if (!strcmp(arg, "-pidfile") && off + al + 1 < len) {
			const char *pf = data + off + al + 1;
			if (pf[0] == '/' && realpath(pf, real_arg) && !strcmp(real_arg, real_want))
				ours = true;
		}
		off += al + 1;
	}
	free(data);
	return qemu && ours;
}

static bool has_summary(const char *dir)
{
	char *p = path_join(dir, INSTANCE_SUMMARY);
	bool r = access(p, F_OK) == 0;
	free(p);
	return r;
}

/* Is the lock held by someone else (a starting smolc)? */
static bool lock_busy(const char *dir)
{
	char *p = path_join(dir, INSTANCE_LOCK);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return false;
	bool busy = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

enum instance_state instance_check(const char *root, const char *name, pid_t *pid_out)
{
	char *dir = path_join(root, name);
	struct stat st;
	enum instance_state s;
	*pid_out = 0;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		s = INSTANCE_ABSENT;
	} else {
		pid_t pid = instance_read_pid(dir);
		if (pid && instance_pid_alive(pid, dir)) {
			*pid_out = pid;
			s = INSTANCE_RUNNING;
		} else if (lock_busy(dir)) {
			s = INSTANCE_STARTING;
		} else if (has_summary(dir)) {
			s = INSTANCE_EXITED;
		} else {
			s = INSTANCE_STALE;
		}
	}
	free(dir);
	return s;
}

int instance_remove(const char *root, const char *name)
{
	char *dir = path_join(root, name);
	int r = remove_tree(dir);
	free(dir);
	return r;
}

int instance_claim(const char *root, const char *name, bool *replaced, struct error **err)
{
	*replaced = false;
	if (instance_name_ok(name, err) < 0)
		return -1;
	if (mkdir_p(root, 0700) < 0) {
		error_set(err, "%s: cannot create the state directory: %s", root, strerror(errno));
		return -1;
	}
	char *dir = path_join(root, name);
	int fd = -1;
	for (int attempt = 0; attempt < 3; attempt++) {
		if (mkdir(dir, 0700) == 0) {
			char *lp = path_join(dir, INSTANCE_LOCK);
			fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
			free(lp);
			if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
				error_set(err, "%s: cannot lock: %s", dir, strerror(errno));
				if (fd >= 0)
					close(fd);
				fd = -1;
				remove_tree(dir);
			}
			goto out;
		}
		if (errno != EEXIST) {
			error_set(err, "%s: cannot create: %s", dir, strerror(errno));
			goto out;
		}
		pid_t pid;
		enum instance_state s = instance_check(root, name, &pid);
		switch (s) {
		case INSTANCE_RUNNING:
			error_set(err, "an instance named \"%s\" is already running (pid %ld); "
					 "stop it with `smolc stop %s` or pick another --name",
					 name, (long)pid, name);
			goto out;
		case INSTANCE_STARTING:
			error_set(err, "an instance named \"%s\" is being started by another smolc", name);
			goto out;
		case INSTANCE_EXITED:
		case INSTANCE_STALE:
			debugf("removing the old state %s", dir);
			if (remove_tree(dir) < 0) {
				error_set(err, "%s: cannot remove the old state: %s", dir, strerror(errno));
				goto out;
			}
			if (s == INSTANCE_EXITED)
				*replaced = true;
			break;
		case INSTANCE_ABSENT:
			break;
		}
	}
	error_set(err, "%s: cannot claim the state directory", dir);
out:
	free(dir);
	return fd;
}

void instance_release(int lock_fd)
{
	if (lock_fd >= 0)
		close(lock_fd);
}

int instance_write_summary(const struct instance *in, struct error **err)
{
	struct strbuf sb;
	sb_init(&sb);
#define KV(k, v) if (v) sb_printf(&sb, "%s=%s\n", k, v)
	KV("name", in->name);
	KV("service", in->service);
	KV("image", in->image);
	KV("ports", in->ports);
	KV("accel", in->accel);
	KV("console", in->console);
	KV("qemu", in->qemu);
	KV("pty", in->pty);
#undef KV
	sb_printf(&sb, "started=%lld\n", in->started);
	if (in->last_pid)
		sb_printf(&sb, "pid=%ld\n", (long)in->last_pid);
	if (in->rm)
		sb_adds(&sb, "rm=1\n");
	char *p = path_join(in->dir, INSTANCE_SUMMARY);
	int r = write_file_atomic(p, sb_cstr(&sb), sb.len, 0600);
	if (r < 0)
		error_set(err, "%s: cannot write: %s", p, strerror(errno));
	free(p);
	sb_free(&sb);
	return r;
}

static void read_summary(struct instance *in)
{
	char *p = path_join(in->dir, INSTANCE_SUMMARY);
	char *data = NULL;
	size_t len = 0;
	if (read_file(p, 1 << 16, &data, &len) == 0) {
		char *save = NULL;
		for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *eq = strchr(line, '=');
			if (!eq)
				continue;
			*eq = 0;
			const char *v = eq + 1;
			char **dst = NULL;
			if (!strcmp(line, "service")) dst = &in->service;
			else if (!strcmp(line, "image")) dst = &in->image;
			else if (!strcmp(line, "ports")) dst = &in->ports;
			else if (!strcmp(line, "accel")) dst = &in->accel;
			else if (!strcmp(line, "console")) dst = &in->console;
			else if (!strcmp(line, "qemu")) dst = &in->qemu;
			else if (!strcmp(line, "pty")) dst = &in->pty;
			else if (!strcmp(line, "started")) in->started = strtoll(v, NULL, 10);
			else if (!strcmp(line, "pid")) in->last_pid = (pid_t)strtol(v, NULL, 10);
			else if (!strcmp(line, "rm")) in->rm = !strcmp(v, "1");
			if (dst) {
				free(*dst);
				*dst = xstrdup(v);
			}
		}
	}
	free(data);
	free(p);
}

/* Read "key=value" lines of <dir>/<file> and hand each to fn. */
static void read_kv(const char *dir, const char *file, void (*fn)(struct instance *, const char *, const char *),
		    struct instance *in)
{
	char *p = path_join(dir, file);
	char *data = NULL;
	size_t len = 0;
	if (read_file(p, 1 << 16, &data, &len) == 0) {
		char *save = NULL;
		for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *eq = strchr(line, '=');
			if (!eq)
				continue;
			*eq = 0;
			fn(in, line, eq + 1);
		}
	}
	free(data);
	free(p);
}

static void exit_kv(struct instance *in, const char *k, const char *v)
{
	if (!strcmp(k, "status"))
		in->exit_status = (int)strtol(v, NULL, 10);
	else if (!strcmp(k, "signal"))
		in->exit_signal = (int)strtol(v, NULL, 10);
	else if (!strcmp(k, "exited"))
		in->exited = strtoll(v, NULL, 10);
}

static void stop_kv(struct instance *in, const char *k, const char *v)
{
	if (!strcmp(k, "how")) {
		free(in->stopped_by);
		in->stopped_by = xstrdup(v);
	}
}

/* A new struct instance for <root>/<name> in state s (pid when running). */
static struct instance *load_one(const char *root, const char *name, enum instance_state s, pid_t pid)
{
	struct instance *in = xcalloc(1, sizeof(*in));
	in->name = xstrdup(name);
	in->dir = path_join(root, name);
	in->state = s;
	in->pid = s == INSTANCE_RUNNING ? pid : 0;
	in->exit_status = -1;
	in->rc_status = -1;
	read_summary(in);
	if (in->pid)
		in->last_pid = in->pid;
	if (s == INSTANCE_EXITED) {
		read_kv(in->dir, INSTANCE_EXIT, exit_kv, in);
		read_kv(in->dir, INSTANCE_STOPPED, stop_kv, in);
	}
	char *log = instance_console_path(in);
	if (log)
		in->rc_status = instance_rc_status(log);
	free(log);
	return in;
}

int instance_load(const char *root, const char *name, struct instance **out, struct error **err)
{
	pid_t pid;
	enum instance_state s = instance_check(root, name, &pid);
	if (s == INSTANCE_STALE) {
		char *dir = path_join(root, name);
		debugf("removing stale state %s", dir);
		remove_tree(dir);
		free(dir);
	}
	if (s == INSTANCE_ABSENT || s == INSTANCE_STALE) {
		char *names = instance_names(root);
		error_set(err, "no instance named \"%s\" (instances: %s)", name, names);
		free(names);
		return -1;
	}
	*out = load_one(root, name, s, pid);
	return 0;
}

static int cmp_inst(const void *a, const void *b)
{
	const struct instance *x = *(struct instance *const *)a, *y = *(struct instance *const *)b;
	return strcmp(x->name, y->name);
}

int instance_list(const char *root, struct instance ***out, size_t *n, struct error **err)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(root);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		error_set(err, "%s: %s", root, strerror(errno));
		return -1;
	}
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct error *e = NULL;
		if (de->d_name[0] == '.' || instance_name_ok(de->d_name, &e) < 0) {
			error_clear(&e);
			continue;
		}
		pid_t pid;
		enum instance_state s = instance_check(root, de->d_name, &pid);
		if (s == INSTANCE_ABSENT)
			continue;
		if (s == INSTANCE_STALE) {
			debugf("removing stale state %s/%s", root, de->d_name);
			instance_remove(root, de->d_name);
			continue;
		}
		struct instance *in = load_one(root, de->d_name, s, pid);
		VEC_GROW(*out, *n, cap);
		(*out)[(*n)++] = in;
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_inst);
	return 0;
}

char *instance_names(const char *root)
{
	struct instance **list = NULL;
	size_t n = 0;
	struct error *e = NULL;
	if (instance_list(root, &list, &n, &e) < 0) {
		error_clear(&e);
		return xstrdup("none");
	}
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < n; i++) {
		sb_printf(&sb, "%s%s", i ? ", " : "", list[i]->name);
		instance_free(list[i]);
	}
	free(list);
	if (!n)
		sb_adds(&sb, "none");
	return sb_detach(&sb);
}

char *instance_console_path(const struct instance *in)
{
	if (in->console && str_startswith(in->console, "file:"))
		return path_join(in->dir, in->console + 5);
	if (in->console)
		return NULL;
	return path_join(in->dir, INSTANCE_CONSOLE);
}

int instance_rc_status(const char *console_log)
{
	enum { TAIL = 64 * 1024 };
	static const char needle[] = "/etc/rc exited with status ";
	int fd = open(console_log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	char *buf = NULL;
	int rv = -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
		goto out;
	off_t off = st.st_size > TAIL ? st.st_size - TAIL : 0;
	buf = xmalloc(TAIL + 1);
	ssize_t n = pread(fd, buf, TAIL, off);
	if (n <= 0)
		goto out;
	buf[n] = 0;
	/* the console may hold NULs: search segment by segment */
	for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
		for (char *hit = strstr(p, needle); hit; hit = strstr(hit + 1, needle)) {
			char *end;
			long v = strtol(hit + sizeof(needle) - 1, &end, 10);
			if (end != hit + sizeof(needle) - 1 && v >= 0 && v < 256)
				rv = (int)v;
		}
	}
out:
	free(buf);
	close(fd);
	return rv;
}

const char *instance_signame(int sig, char *buf)
{
	const char *ab = sigabbrev_np(sig);
	if (ab)
		snprintf(buf, 16, "SIG%s", ab);
	else
		snprintf(buf, 16, "signal %d", sig);
	return buf;
}

static char *fmt_ago(long long secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		return xasprintf("%llds ago", secs);
	if (secs < 3600)
		return xasprintf("%lldm ago", secs / 60);
	if (secs < 86400)
		return xasprintf("%lldh ago", secs / 3600);
	return xasprintf("%lldd ago", secs / 86400);
}

char *instance_status_text(const struct instance *in)
{
	char sb[16];
	switch (in->state) {
	case INSTANCE_RUNNING:
		if (in->rc_status >= 0)
			return xasprintf("running, rc exited (status %d)", in->rc_status);
		return xstrdup("running");
	case INSTANCE_STARTING:
		return xstrdup("starting");
	case INSTANCE_EXITED:
		break;
	default:
		return xstrdup("absent");
	}
	char *what;
	if (in->stopped_by)
		what = xasprintf("stopped (%s)", in->stopped_by);
	else if (in->exit_signal)
		what = xasprintf("killed (%s)", instance_signame(in->exit_signal, sb));
	else if (in->exit_status >= 0 && in->rc_status >= 0)
		what = xasprintf("exited (status %d; rc exited with status %d)", in->exit_status, in->rc_status);
	else if (in->exit_status >= 0)
		what = xasprintf("exited (status %d)", in->exit_status);
	else
		what = xstrdup("exited (status unknown)");
	if (!in->exited)
		return what;
	char *ago = fmt_ago((long long)time(NULL) - in->exited);
	char *r = xasprintf("%s %s", what, ago);
	free(ago);
	free(what);
	return r;
}

long long instance_uptime(const struct instance *in)
{
	if (!in->started)
		return 0;
	long long end = in->state == INSTANCE_EXITED ? in->exited : (long long)time(NULL);
	if (!end)
		return 0;
	return end > in->started ? end - in->started : 0;
}

/* Write name (key=value text) atomically inside dirfd. */
static int write_at(int dirfd, const char *name, const char *text)
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	size_t len = strlen(text);
	bool ok = write(fd, text, len) == (ssize_t)len;
	ok = close(fd) == 0 && ok;
	if (!ok || renameat(dirfd, tmp, dirfd, name) < 0) {
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	return 0;
}

int instance_record_exit(int dirfd, int wstatus)
{
	char text[96];
	long long now = (long long)time(NULL);
	if (wstatus != -1 && WIFSIGNALED(wstatus))
		snprintf(text, sizeof(text), "signal=%d\nexited=%lld\n", WTERMSIG(wstatus), now);
	else if (wstatus != -1 && WIFEXITED(wstatus))
		snprintf(text, sizeof(text), "status=%d\nexited=%lld\n", WEXITSTATUS(wstatus), now);
	else
		snprintf(text, sizeof(text), "exited=%lld\n", now);
	return write_at(dirfd, INSTANCE_EXIT, text);
}

int instance_record_stop(const char *dir, const char *how)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	char *text = xasprintf("how=%s\nat=%lld\n", how, (long long)time(NULL));
	int r = write_at(dfd, INSTANCE_STOPPED, text);
	free(text);
	close(dfd);
	return r;
}
