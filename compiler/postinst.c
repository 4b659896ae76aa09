/* postinst.c — see postinst.h. */
#include "postinst.h"
#include "cache.h"
#include "ir.h"
#include "layer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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

void postinst_argv(const char *root, const char *script_path, const struct postinst_opts *o, struct strvec *a)
{
	const char *bw = find_bwrap();
	sv_pushdup(a, bw ? bw : "bwrap");
	static const char *const fixed[] = {
		"--die-with-parent", "--new-session", "--unshare-user-try", "--unshare-pid", "--unshare-ipc",
		"--unshare-uts", "--unshare-cgroup-try", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev",
		"--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/run", "--clearenv",
	};
	for (size_t i = 0; i < ARRAY_LEN(fixed); i++)
		sv_pushdup(a, fixed[i]);
	if (!o->network)
		sv_pushdup(a, "--unshare-net");
	sv_pushdup(a, "--bind");
	sv_pushdup(a, root);
	sv_pushdup(a, SANDBOX_ROOT);
	sv_pushdup(a, "--ro-bind");
	sv_pushdup(a, script_path);
	sv_pushdup(a, SANDBOX_SCRIPT);
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
		 char **err)
{
	if (!find_bwrap()) {
		*err = xstrdup("POSTINST needs bubblewrap to sandbox the script: install the Debian package bubblewrap");
		return -1;
	}
	char *tmp = NULL;
	if (cache_mktemp_dir(c, "postinst", &tmp, err) < 0)
		return -1;
	char *root = path_join(tmp, "root");
	char *script = path_join(tmp, "postinst.sh");
	char *out = path_join(tmp, "output");
	int rc = -1;
	struct strvec argv = {0};
	if (mkdir(root, 0755) < 0) {
		*err = xasprintf("creating %s: %s", root, strerror(errno));
		goto done;
	}
	if (layer_export_tree(tree, root, err) < 0)
		goto done;
	if (write_file_atomic(script, o->script, strlen(o->script), 0755) < 0) {
		*err = xasprintf("writing %s: %s", script, strerror(errno));
		goto done;
	}
	postinst_argv(root, script, o, &argv);
	int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ofd < 0) {
		*err = xasprintf("creating %s: %s", out, strerror(errno));
		goto done;
	}
	pid_t pid = fork();
	if (pid < 0) {
		*err = xasprintf("fork: %s", strerror(errno));
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
			*err = xasprintf("waitpid: %s", strerror(errno));
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
		*err = xasprintf("POSTINST did not finish within %u s (raise it with POSTINST --timeout=<seconds>); last lines of its output:%s",
				 limit, t);
		free(t);
		goto done;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char *t = tail_of(out, 10);
		if (WIFEXITED(status))
			*err = xasprintf("POSTINST failed with exit status %d; last lines of its output:%s", WEXITSTATUS(status), t);
		else
			*err = xasprintf("POSTINST was killed by signal %d; last lines of its output:%s", WTERMSIG(status), t);
		free(t);
		goto done;
	}
	if (layer_diff_dir(w, root, tree, o->new_uid, o->new_gid, err) < 0)
		goto done;
	rc = 0;
done:
	sv_free(&argv);
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
