/* postinst.c — see postinst.h. */
#include "postinst.h"
#include "cache.h"
#include "ir.h"
#include "layer.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SANDBOX_ROOT "/run/smolc/root"
#define SANDBOX_SCRIPT "/run/smolc/postinst.sh"

static const char *find_bwrap(void)
{
	static const char *const cands[] = {"/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"};
	const char *env = getenv("SMOLC_BWRAP");
	if (env && *env)
		return env;
	for (size_t i = 0; i < ARRAY_LEN(cands); i++)
		if (access(cands[i], X_OK) == 0)
			return cands[i];
	return NULL;
}

static void setenv_arg(struct strvec *a, const char *k, const char *v)
{
	sv_pushdup(a, "--setenv");
	sv_pushdup(a, k);
	sv_pushdup(a, v ? v : "");
}

/* What the script may see of the host: the tools (read-only), the few
 * files of /etc that running them needs, and nothing else — not /root,
 * /home, /etc/shadow, /var, the host's /tmp or /run (SSH agent sockets),
 * nor its environment. */
static const char *const host_dirs[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt"};
static const char *const host_etc[] = {
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/passwd",
	"/etc/group", "/etc/nsswitch.conf", "/etc/localtime", "/etc/hosts", "/etc/resolv.conf",
	"/etc/host.conf", "/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/ssl", "/etc/ca-certificates",
	"/etc/mime.types", "/etc/magic",
};

static void bind_host(struct strvec *a, const char *p)
{
	struct stat st;
	if (lstat(p, &st) < 0)
		return;
	if (S_ISLNK(st.st_mode)) {
		/* merged /usr: /bin -> usr/bin stays a symlink */
		char t[4096];
		ssize_t n = readlink(p, t, sizeof(t) - 1);
		if (n <= 0)
			return;
		t[n] = '\0';
		if (t[0] != '/' && strchr(t, '/') == NULL && !str_startswith(p, "/etc/")) {
			/* a relative link in / (rare): bind what it names */
			sv_pushdup(a, "--ro-bind-try");
			sv_pushdup(a, p);
			sv_pushdup(a, p);
			return;
		}
		if (!str_startswith(p, "/etc/")) {
			sv_pushdup(a, "--symlink");
			sv_pushdup(a, t);
			sv_pushdup(a, p);
			return;
		}
	}
	sv_pushdup(a, "--ro-bind-try");
	sv_pushdup(a, p);
	sv_pushdup(a, p);
}

/* script_fd >= 0: the script is copied from that descriptor (the sandbox
 * user may not be able to reach its path). */
static void sandbox_argv(const char *root, const char *script_path, int script_fd,
			 const struct postinst_opts *o, struct strvec *a)
{
	const char *bw = find_bwrap();
	sv_pushdup(a, bw ? bw : "bwrap");
	static const char *const fixed[] = {
		"--die-with-parent", "--new-session", "--unshare-user", "--uid", POSTINST_SANDBOX_ID_STR, "--gid",
		POSTINST_SANDBOX_ID_STR, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--cap-drop", "ALL", "--dev", "/dev", "--proc", "/proc",
		"--size", POSTINST_TMP_BYTES_STR, "--tmpfs", "/tmp", "--size", "16777216", "--tmpfs", "/run",
		"--clearenv",
	};
	for (size_t i = 0; i < ARRAY_LEN(fixed); i++)
		sv_pushdup(a, fixed[i]);
	for (size_t i = 0; i < ARRAY_LEN(host_dirs); i++)
		bind_host(a, host_dirs[i]);
	for (size_t i = 0; i < ARRAY_LEN(host_etc); i++)
		bind_host(a, host_etc[i]);
	if (!o->network)
		sv_pushdup(a, "--unshare-net");
	sv_pushdup(a, "--bind");
	sv_pushdup(a, root);
	sv_pushdup(a, SANDBOX_ROOT);
	if (script_fd >= 0) {
		sv_pushdup(a, "--perms");
		sv_pushdup(a, "0555");
		sv_pushdup(a, "--file");
		sv_push(a, xasprintf("%d", script_fd));
	} else {
		sv_pushdup(a, "--ro-bind");
		sv_pushdup(a, script_path);
	}
	sv_pushdup(a, SANDBOX_SCRIPT);
	sv_pushdup(a, "--remount-ro");
	sv_pushdup(a, "/");
	sv_pushdup(a, "--chdir");
	sv_pushdup(a, SANDBOX_ROOT);
	setenv_arg(a, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	setenv_arg(a, "HOME", "/tmp");
	setenv_arg(a, "TMPDIR", "/tmp");
	setenv_arg(a, "LC_ALL", "C");
	setenv_arg(a, "SMOLC_ROOT", SANDBOX_ROOT);
	setenv_arg(a, "SERVICE", o->service);
	setenv_arg(a, "ARCH", o->arch);
	if (o->recipe) {
		for (size_t i = 0; i < o->recipe->n; i++) {
			const struct ir_node *n = &o->recipe->v[i];
			if ((n->kind == IR_ENV || n->kind == IR_ARG) && n->u.var.name && n->u.var.value)
				setenv_arg(a, n->u.var.name, n->u.var.value);
		}
	}
	sv_pushdup(a, "/bin/sh");
	sv_pushdup(a, "-e");
	sv_pushdup(a, SANDBOX_SCRIPT);
}

void postinst_argv(const char *root, const char *script_path, const struct postinst_opts *o, struct strvec *a)
{
	sandbox_argv(root, script_path, -1, o, a);
}

/* Building as root: the staging root goes to the sandbox user, which the
 * script then runs as on the host too (not uid 0, which owns /etc/shadow
 * and /root, and is exempt from the process limit). */
static int chown_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)flag;
	(void)f;
	if (lchown(p, POSTINST_SANDBOX_ID, POSTINST_SANDBOX_ID) < 0)
		return -1;
	/* chown clears setuid/setgid: put them back */
	if (S_ISREG(st->st_mode) && (st->st_mode & 06000) && chmod(p, st->st_mode & 07777) < 0)
		return -1;
	return 0;
}

/* Last `lines` lines of a file, indented. */
static char *tail_of(const char *path, int lines)
{
	char *data;
	size_t len;
	if (read_file(path, 64u << 20, &data, &len) < 0)
		return xstrdup("");
	size_t start = len;
	int seen = 0;
	while (start > 0) {
		if (data[start - 1] == '\n' && start != len && ++seen >= lines)
			break;
		start--;
	}
	struct strbuf sb;
	sb_init(&sb);
	for (char *l = strtok(data + start, "\n"); l; l = strtok(NULL, "\n"))
		sb_printf(&sb, "\n    | %s", l);
	free(data);
	return sb_detach(&sb);
}

int postinst_run(struct cache *c, struct fstree *tree, struct layer_writer *w, const struct postinst_opts *o,
		 struct error **err)
{
	if (!find_bwrap()) {
		error_set(err, "POSTINST needs bubblewrap to sandbox the script: install the Debian package bubblewrap");
		return -1;
	}
	char *tmp = NULL;
	if (cache_mktemp_dir(c, "postinst", &tmp, err) < 0)
		return -1;
	char *root = path_join(tmp, "root");
	char *script = path_join(tmp, "postinst.sh");
	char *out = path_join(tmp, "output");
	int rc = -1, script_fd = -1;
	struct strvec argv = {0};
	if (mkdir(root, 0755) < 0) {
		error_set(err, "creating %s: %s", root, strerror(errno));
		goto done;
	}
	if (layer_export_tree(tree, root, err) < 0)
		goto done;
	if (write_file_atomic(script, o->script, strlen(o->script), 0755) < 0) {
		error_set(err, "writing %s: %s", script, strerror(errno));
		goto done;
	}
	bool as_root = geteuid() == 0;
	if (as_root && nftw(root, chown_one, 64, FTW_PHYS) != 0) {
		error_set(err, "giving %s to the sandbox user: %s", root, strerror(errno));
		goto done;
	}
	script_fd = open(script, O_RDONLY | O_CLOEXEC);
	if (script_fd < 0) {
		error_set(err, "opening %s: %s", script, strerror(errno));
		goto done;
	}
	/* as root, the staging root is reached through /tmp of a private
	 * mount namespace (the path to the cache may be closed to the
	 * sandbox user), see the child below */
	sandbox_argv(as_root ? "/tmp" : root, script, script_fd, o, &argv);
	int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ofd < 0) {
		error_set(err, "creating %s: %s", out, strerror(errno));
		goto done;
	}
	pid_t pid = fork();
	if (pid < 0) {
		error_set(err, "fork: %s", strerror(errno));
		close(ofd);
		goto done;
	}
	if (pid == 0) {
		setpgid(0, 0);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(ofd, 1);
		dup2(ofd, 2);
		fcntl(script_fd, F_SETFD, 0);
		if (as_root && (unshare(CLONE_NEWNS) < 0 ||
				mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
				mount(root, "/tmp", NULL, MS_BIND, NULL) < 0)) {
			dprintf(2, "cannot set up the sandbox's mount namespace: %s\n", strerror(errno));
			_exit(127);
		}
		if (as_root && (setgroups(0, NULL) < 0 || setgid(POSTINST_SANDBOX_ID) < 0 ||
				setuid(POSTINST_SANDBOX_ID) < 0)) {
			dprintf(2, "cannot switch to the sandbox user %d: %s\n", POSTINST_SANDBOX_ID, strerror(errno));
			_exit(127);
		}
		/* a fork bomb stops at the cap (counted per user: the sandbox
		 * user's, or the building user's processes) */
		struct rlimit rl = {POSTINST_MAX_PROCS, POSTINST_MAX_PROCS};
		setrlimit(RLIMIT_NPROC, &rl);
		execv(argv.v[0], argv.v);
		dprintf(2, "cannot run %s: %s\n", argv.v[0], strerror(errno));
		_exit(127);
	}
	close(ofd);
	unsigned limit = o->timeout ? o->timeout : POSTINST_DEFAULT_TIMEOUT;
	double t0 = now_monotonic();
	int status = 0;
	bool timed_out = false;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			error_set(err, "waitpid: %s", strerror(errno));
			goto done;
		}
		if (now_monotonic() - t0 > limit) {
			timed_out = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (o->log) {
		char *all = tail_of(out, 200);
		if (*all)
			fprintf(o->log, "      POSTINST output:%s\n", all);
		free(all);
	}
	if (timed_out) {
		char *t = tail_of(out, 10);
		error_lines(err, t, "POSTINST did not finish within %u s (raise it with POSTINST --timeout=<seconds>); last lines of its output:",
				 limit);
		free(t);
		goto done;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char *t = tail_of(out, 10);
		if (WIFEXITED(status))
			error_lines(err, t, "POSTINST failed with exit status %d; last lines of its output:", WEXITSTATUS(status));
		else
			error_lines(err, t, "POSTINST was killed by signal %d; last lines of its output:", WTERMSIG(status));
		free(t);
		goto done;
	}
	if (layer_diff_dir(w, root, tree, o->new_uid, o->new_gid, err) < 0)
		goto done;
	rc = 0;
done:
	sv_free(&argv);
	if (script_fd >= 0)
		close(script_fd);
	/* the staging root may hold read-only directories the script made */
	if (remove_tree(tmp) < 0) {
		/* make everything writable and try again */
		pid_t p = fork();
		if (p == 0) {
			execl("/bin/chmod", "chmod", "-R", "u+rwx", tmp, (char *)NULL);
			_exit(127);
		}
		if (p > 0)
			waitpid(p, NULL, 0);
		remove_tree(tmp);
	}
	free(tmp);
	free(root);
	free(script);
	free(out);
	return rc;
}
