/* builder.c — see builder.h. */
#include "builder.h"
#include "cache.h"
#include "capture.h"
#include "fstree.h"
#include "image.h"
#include "layer.h"

#include "runconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STATUS_PENDING "pending        \n" /* 16 bytes, overwritten in place */
#define TAIL_LINES 12
#define LINE_MAX_SHOWN 400

static bool is_netbsd(const struct builder_opts *o)
{
	return !o->profile || strcmp(o->profile, "linux") != 0;
}

char *builder_rc(const struct builder_opts *o, const char *nonce, bool had_rc, bool had_etc)
{
	bool nb = is_netbsd(o);
	struct strbuf sb;
	sb_init(&sb);
	sb_adds(&sb, "#!/bin/sh\n"
		     "# /etc/rc of one boot of a smolc builder VM (generated; never part of an image):\n"
		     "# put the image's own /etc/rc back, run the step's script, record its exit\n"
		     "# status in /" BUILDER_DIR "/status, sync and power off.\n"
		     "R=/" BUILDER_DIR "\n"
		     "PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/pkg/sbin:/usr/pkg/bin:/usr/local/sbin:/usr/local/bin\n"
		     "HOME=/\n"
		     "export PATH HOME\n"
		     "umask 022\n");
	if (nb)
		sb_adds(&sb, "mount -u -w / || echo 'smolc-run: cannot mount / read-write'\n"
			     "[ -f /etc/fstab ] && mount -a\n");
	if (had_rc)
		sb_adds(&sb, "mv -f $R/rc.orig /etc/rc\n");
	else
		sb_printf(&sb, "rm -f /etc/rc%s\n", had_etc ? "" : "; rmdir /etc");
	if (nb)
		sb_adds(&sb, "ifconfig lo0 127.0.0.1 up\n");
	else
		sb_adds(&sb, "ifconfig lo 127.0.0.1 up 2>/dev/null\n");
	if (o->network) {
		if (nb)
			sb_adds(&sb, "ifconfig vioif0 10.0.2.15/24 && route -q add default 10.0.2.2\n");
		else
			sb_adds(&sb, "ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up && route add default gw 10.0.2.2\n");
		sb_adds(&sb, "ours=\n"
			     "if [ ! -e /etc/resolv.conf ] && [ ! -h /etc/resolv.conf ]; then\n"
			     "\techo 'nameserver 10.0.2.3' >/etc/resolv.conf && ours=1\n"
			     "fi\n");
	}
	bool as_user = o->user && *o->user && strcmp(o->user, "root") && strcmp(o->user, "0");
	if (as_user) /* the runner's directory: the user reads the script through it */
		sb_adds(&sb, "chmod 0711 $R\n");
	sb_printf(&sb, "echo 'smolc-run: begin %s'\n", nonce);
	sb_addc(&sb, '(');
	if (o->workdir && *o->workdir) { /* WORKDIR: made when missing, as Docker does */
		sb_adds(&sb, "mkdir -p ");
		sb_add_shquoted(&sb, o->workdir);
		sb_adds(&sb, " && ");
	}
	sb_adds(&sb, "cd ");
	sb_add_shquoted(&sb, o->workdir && *o->workdir ? o->workdir : "/");
	if (as_user) {
		/* USER: as CMD at boot, through su (the group is not used) */
		sb_adds(&sb, " && . $R/env && exec su ");
		sb_add_shquoted(&sb, o->user);
		sb_adds(&sb, " -c \"exec /bin/sh -e $R/script\") </dev/null\n"
			     "st=$?\n");
	} else {
		sb_adds(&sb, " && . $R/env && exec /bin/sh -e $R/script) </dev/null\n"
			     "st=$?\n");
	}
	if (o->network)
		sb_adds(&sb, "[ -n \"$ours\" ] && [ \"$(cat /etc/resolv.conf 2>/dev/null)\" = 'nameserver 10.0.2.3' ] &&"
			     " rm -f /etc/resolv.conf\n");
	sb_printf(&sb, "echo \"smolc-run: end %s $st\"\n", nonce);
	sb_adds(&sb, "printf '%-15d\\n' \"$st\" 1<>$R/status\n"
		     "sync\n"
		     "poweroff\n");
	return sb_detach(&sb);
}

static char *env_file(const struct builder_opts *o)
{
	struct strbuf sb;
	sb_init(&sb);
	const char *fixed[][2] = {{"SERVICE", o->service}, {"ARCH", o->arch}};
	for (size_t i = 0; i < ARRAY_LEN(fixed); i++) {
		sb_printf(&sb, "export %s=", fixed[i][0]);
		sb_add_shquoted(&sb, fixed[i][1] ? fixed[i][1] : "");
		sb_addc(&sb, '\n');
	}
	for (size_t i = 0; o->env && i < o->env->n; i++) {
		const char *eq = strchr(o->env->v[i], '=');
		if (!eq)
			continue;
		sb_printf(&sb, "export %.*s=", (int)(eq - o->env->v[i]), o->env->v[i]);
		sb_add_shquoted(&sb, eq + 1);
		sb_addc(&sb, '\n');
	}
	sb_cstr(&sb);
	return sb_detach(&sb);
}

static struct runconf *make_runconf(const struct builder_opts *o, const char *disk)
{
	struct runconf *rc = runconf_new();
	rc->service = xstrdup(o->service);
	rc->arch = xstrdup(o->arch ? o->arch : "amd64");
	rc->profile = xstrdup(is_netbsd(o) ? "netbsd" : "linux");
	rc->kernel = xstrdup(o->kernel);
	if (o->initrd)
		rc->initrd = xstrdup(o->initrd);
	rc->image = xstrdup(disk);
	rc->memory_mib = o->mem_mib ? o->mem_mib : RUNCONF_DEFAULT_MEMORY;
	rc->cpus = o->cpus ? o->cpus : 1;
	char *cl = runconf_default_cmdline(rc->profile, o->service, false);
	rc->cmdline = o->append && *o->append ? xasprintf("%s %s", cl, o->append) : xstrdup(cl);
	free(cl);
	return rc;
}

int builder_argv(const struct builder_opts *o, const char *disk, struct strvec *argv, char **accel_note, struct error **err)
{
	if (!o->launcher || !o->launcher->argv)
		return error_set(err, "%s: no launcher to boot the builder VM with (internal error)", o->what), -1;
	struct runconf *rc = make_runconf(o, disk);
	int r = o->launcher->argv(rc, o->network, argv, accel_note, err);
	runconf_free(rc);
	return r;
}

/* Shell-quoted argv for --verbose. */
static char *argv_text(const struct strvec *v)
{
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < v->n; i++) {
		const char *a = v->v[i];
		if (i)
			sb_addc(&sb, ' ');
		if (*a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./:,@%") == strlen(a))
			sb_adds(&sb, a);
		else
			sb_add_shquoted(&sb, a);
	}
	sb_cstr(&sb);
	return sb_detach(&sb);
}

/* ---- the runner's files in the tree, and putting the tree back ---- */

struct overlay {
	bool had_rc, had_etc, added;
};

static int put_file(struct fstree *t, const char *dir, const char *name, const char *text, unsigned perm,
		    int64_t epoch, struct error **err)
{
	char *host = path_join(dir, name);
	size_t len = strlen(text);
	int rc = -1;
	if (write_file_atomic_nosync(host, text, len, 0600) < 0) {
		error_set(err, "writing %s: %s", host, strerror(errno));
		goto out;
	}
	struct fs_meta m;
	memset(&m, 0, sizeof(m));
	m.type = FS_REG;
	m.perm = perm;
	m.mtime = epoch;
	m.size = len;
	m.data_path = host;
	char *path = xasprintf("/%s/%s", BUILDER_DIR, name);
	if (!strcmp(name, "rc"))
		rc = fstree_put(t, "/etc/rc", &m, err);
	else
		rc = fstree_put(t, path, &m, err);
	free(path);
out:
	free(host);
	return rc;
}

static void overlay_undo(struct fstree *t, struct overlay *ov)
{
	if (!ov->added)
		return;
	if (ov->had_rc)
		fstree_link(t, "/etc/rc", "/" BUILDER_DIR "/rc.orig", NULL);
	else
		fstree_remove(t, "/etc/rc");
	fstree_remove(t, "/" BUILDER_DIR);
	if (!ov->had_etc)
		fstree_remove(t, "/etc");
	ov->added = false;
}

static int overlay_add(struct fstree *t, const struct builder_opts *o, const char *dir, const char *nonce,
		       struct overlay *ov, struct error **err)
{
	memset(ov, 0, sizeof(*ov));
	if (fstree_lookup(t, "/" BUILDER_DIR))
		return error_set(err, "%s: the image has a /" BUILDER_DIR ", which the builder VM needs for itself; remove it",
			       o->what), -1;
	struct fs_node *etc = fstree_lookup(t, "/etc");
	if (etc && etc->inode->type != FS_DIR)
		return error_set(err, "%s: /etc is not a directory in the image, so the builder VM cannot boot it", o->what), -1;
	struct fs_node *rcn = fstree_lookup(t, "/etc/rc");
	if (rcn && rcn->inode->type == FS_DIR)
		return error_set(err, "%s: /etc/rc is a directory in the image, so the builder VM cannot boot it", o->what), -1;
	ov->had_etc = etc != NULL;
	ov->had_rc = rcn != NULL;
	ov->added = true;
	struct fs_meta dm;
	memset(&dm, 0, sizeof(dm));
	dm.type = FS_DIR;
	dm.perm = 0700;
	dm.mtime = o->epoch;
	if (fstree_put(t, "/" BUILDER_DIR, &dm, err) < 0)
		return -1;
	if (ov->had_rc && fstree_link(t, "/" BUILDER_DIR "/rc.orig", "/etc/rc", err) < 0)
		return -1;
	char *rc = builder_rc(o, nonce, ov->had_rc, ov->had_etc);
	char *env = env_file(o);
	int r = 0;
	if (put_file(t, dir, "rc", rc, 0755, o->epoch, err) < 0 || put_file(t, dir, "script", o->script, 0755, o->epoch, err) < 0 ||
	    put_file(t, dir, "env", env, 0644, o->epoch, err) < 0 ||
	    put_file(t, dir, "status", STATUS_PENDING, 0644, o->epoch, err) < 0)
		r = -1;
	free(rc);
	free(env);
	return r;
}

/* ---- the console ---- */

struct console {
	char nonce[33];
	struct strbuf line;       /* partial line */
	char *tail[TAIL_LINES];   /* last lines of the script (or of the console before it began) */
	size_t ntail, head;
	int state;                /* 0 before the begin marker, 1 inside, 2 after the end marker */
	FILE *log;
	bool verbose;
};

static void tail_reset(struct console *c)
{
	for (size_t i = 0; i < TAIL_LINES; i++) {
		free(c->tail[i]);
		c->tail[i] = NULL;
	}
	c->ntail = c->head = 0;
}

static void tail_push(struct console *c, const char *s)
{
	free(c->tail[c->head]);
	c->tail[c->head] = xstrdup(s);
	c->head = (c->head + 1) % TAIL_LINES;
	if (c->ntail < TAIL_LINES)
		c->ntail++;
}

static char *tail_text(const struct console *c)
{
	struct strbuf sb;
	sb_init(&sb);
	for (size_t i = 0; i < c->ntail; i++) {
		size_t k = (c->head + TAIL_LINES - c->ntail + i) % TAIL_LINES;
		sb_printf(&sb, "\n    | %s", c->tail[k]);
	}
	if (!c->ntail)
		sb_adds(&sb, " (none)");
	sb_cstr(&sb);
	return sb_detach(&sb);
}

/* Control characters and escape sequences from the guest never reach the
 * terminal: anything below 0x20 (but tab) and DEL shows as '?'. */
static void clean_line(char *s)
{
	size_t n = strlen(s);
	if (n > LINE_MAX_SHOWN)
		strcpy(s + LINE_MAX_SHOWN - 3, "…");
	for (unsigned char *p = (unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			*p = '?';
}

static void console_line(struct console *c, char *s)
{
	size_t n = strlen(s);
	while (n && s[n - 1] == '\r')
		s[--n] = 0;
	char begin[64], end[64];
	snprintf(begin, sizeof(begin), "smolc-run: begin %s", c->nonce);
	snprintf(end, sizeof(end), "smolc-run: end %s ", c->nonce);
	if (c->state == 0 && strstr(s, begin)) {
		c->state = 1;
		tail_reset(c);
		return;
	}
	if (c->state == 1 && strstr(s, end)) {
		c->state = 2;
		return;
	}
	clean_line(s);
	if (c->state == 1) {
		tail_push(c, s);
		if (c->log)
			fprintf(c->log, "      | %s\n", s);
	} else {
		if (c->state == 0)
			tail_push(c, s);
		if (c->log && c->verbose)
			fprintf(c->log, "      : %s\n", s);
	}
}

static void console_feed(struct console *c, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			sb_cstr(&c->line);
			console_line(c, c->line.buf);
			c->line.len = 0;
		} else if (c->line.len < 8192) {
			sb_addc(&c->line, buf[i] ? buf[i] : '?');
		}
	}
	if (c->log)
		fflush(c->log);
}

/* ---- running QEMU ---- */

/* Start argv with stdout and stderr on a pipe; *fd is the read end. */
static pid_t spawn(const struct strvec *argv, int *fd, struct error **err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return error_set(err, "pipe: %s", strerror(errno)), -1;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		error_set(err, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		/* the VM must not outlive smolc, even after kill -9 */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int dn = open("/dev/null", O_RDONLY);
		if (dn >= 0)
			dup2(dn, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(argv->v[0], argv->v);
		dprintf(2, "cannot run %s: %s\n", argv->v[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

/* Once the script's end marker is on the console, the guest has this
 * long to sync and power off before it is killed (its status is on the
 * disk by then). */
#define POWEROFF_GRACE 30.0

/* Wait for QEMU, feeding its output to the console reader, at most
 * `limit` seconds. Returns 0 (exited, or killed after the script ended
 * and the guest did not power off; *status set), 1 (timed out: killed),
 * -1 + *err. */
static int wait_vm(pid_t pid, int fd, struct console *con, unsigned limit, int *status, struct error **err)
{
	double t0 = now_monotonic();
	double ended = 0;
	char buf[4096];
	bool open_fd = true;
	for (;;) {
		double now = now_monotonic();
		double left = limit - (now - t0);
		if (con->state == 2 && !ended)
			ended = now;
		if (ended && now - ended > POWEROFF_GRACE) {
			if (con->log)
				fprintf(con->log, "      the builder VM did not power off %.0f s after the script ended: killed\n",
					POWEROFF_GRACE);
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			if (open_fd)
				close(fd);
			return 0;
		}
		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			if (open_fd)
				close(fd);
			return 1;
		}
		if (open_fd) {
			struct pollfd pf = {fd, POLLIN, 0};
			int ms = left > 1 ? 1000 : (int)(left * 1000) + 1;
			int r = poll(&pf, 1, ms);
			if (r < 0 && errno != EINTR) {
				error_set(err, "poll: %s", strerror(errno));
				kill(pid, SIGKILL);
				waitpid(pid, status, 0);
				close(fd);
				return -1;
			}
			if (r > 0) {
				ssize_t n = read(fd, buf, sizeof(buf));
				if (n > 0) {
					console_feed(con, buf, (size_t)n);
					continue;
				}
				if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
					close(fd);
					open_fd = false;
				}
			}
		} else {
			struct timespec ts = {0, 20 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid) {
			/* drain what is left */
			while (open_fd) {
				ssize_t n = read(fd, buf, sizeof(buf));
				if (n > 0)
					console_feed(con, buf, (size_t)n);
				else if (n < 0 && errno == EINTR)
					continue;
				else
					break;
			}
			if (open_fd)
				close(fd);
			return 0;
		}
	}
}

static void make_nonce(char out[33])
{
	unsigned char r[16];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		uint64_t x = (uint64_t)getpid() ^ (uint64_t)(now_monotonic() * 1e9);
		memcpy(r, &x, 8);
		memcpy(r + 8, &x, 8);
	}
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

int builder_run(struct cache *c, struct fstree *tree, struct layer_writer *w, const struct builder_opts *o,
		struct error **err)
{
	char *tmp = NULL;
	char *disk = NULL;
	struct strvec argv = {0};
	struct console con;
	memset(&con, 0, sizeof(con));
	struct overlay ov = {0};
	struct ext2img *img = NULL;
	int rc = -1;
	unsigned limit = o->timeout ? o->timeout : BUILDER_DEFAULT_TIMEOUT;

	char *note = NULL;
	/* the argv first (QEMU installed? which accelerator?), on a stand-in disk path */
	if (builder_argv(o, "disk.img", &argv, &note, err) < 0) {
		return error_prefix(err, "%s", o->what);
	}
	sv_free(&argv);

	if (cache_mktemp_dir(c, "builder", &tmp, err) < 0)
		return -1;
	make_nonce(con.nonce);
	con.log = o->log;
	con.verbose = o->verbose;
	disk = path_join(tmp, "disk.img");

	/* 1. the disk */
	double t0 = now_monotonic();
	if (overlay_add(tree, o, tmp, con.nonce, &ov, err) < 0) {
		overlay_undo(tree, &ov);
		goto done;
	}
	struct image_opts io;
	memset(&io, 0, sizeof(io));
	io.service = o->service;
	io.seed = o->seed ? o->seed : con.nonce;
	io.epoch = o->epoch;
	io.size_bytes = o->size_bytes;
	io.headroom_bytes = o->headroom_bytes;
	io.profile = is_netbsd(o) ? IMAGE_PROFILE_NETBSD : IMAGE_PROFILE_LINUX;
	int wr = image_write(disk, tree, &io, err);
	overlay_undo(tree, &ov);
	if (wr < 0)
		goto done;
	double t_disk = now_monotonic() - t0;

	/* 2. the boot */
	free(note);
	note = NULL;
	if (builder_argv(o, disk, &argv, &note, err) < 0)
		goto done;
	if (o->log && o->verbose) {
		char *s = argv_text(&argv);
		fprintf(o->log, "      builder disk written in %.2fs; accel: %s\n      builder VM: %s\n", t_disk,
			note ? note : "?", s);
		free(s);
	}
	t0 = now_monotonic();
	int fd = -1;
	pid_t pid = spawn(&argv, &fd, err);
	if (pid < 0)
		goto done;
	int status = 0;
	int wv = wait_vm(pid, fd, &con, limit, &status, err);
	if (con.line.len) {
		sb_cstr(&con.line);
		console_line(&con, con.line.buf);
		con.line.len = 0;
	}
	if (wv < 0)
		goto done;
	double t_vm = now_monotonic() - t0;
	if (wv == 1) {
		char *t = tail_text(&con);
		error_lines(err, t, "%s did not finish within %u s: the builder VM was killed (%s); last lines of its output:",
			o->what, limit, o->hint_timeout ? o->hint_timeout : "raise the timeout");
		free(t);
		goto done;
	}

	/* 3. the result */
	img = ext2img_open(disk, IMAGE_PART_OFFSET, err);
	if (!img)
		goto done;
	char *st = NULL;
	size_t stlen = 0;
	int rr = ext2img_read(img, "/" BUILDER_DIR "/status", 64, &st, &stlen, err);
	if (rr < 0)
		goto done;
	char *end = NULL;
	long code = rr == 0 ? strtol(st, &end, 10) : -1;
	bool have = rr == 0 && end != st;
	free(st);
	if (!have) {
		char *t = tail_text(&con);
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			error_lines(err, t, "%s: the builder VM failed (QEMU exit status %d) before the script finished; last lines of its console:",
				o->what, WEXITSTATUS(status));
		else
			error_lines(err, t, "%s: the builder VM stopped before the script finished (it powered off, panicked or was killed); "
				     "last lines of its console:", o->what);
		free(t);
		goto done;
	}
	if (code != 0) {
		const char *named = NULL;
		for (long k = 1; o->status_names && o->status_names[k - 1]; k++)
			if (k == code)
				named = o->status_names[k - 1];
		char *t = tail_text(&con);
		uint64_t fr = 0, total = 0;
		ext2img_space(img, &fr, &total);
		if (fr < 256 * 1024 || fr < total / 200) {
			error_set(err, "%s failed with exit status %ld: the image ran out of space (the builder disk holds %" PRIu64
				       " MiB, %" PRIu64 " KiB free)", o->what, code, total >> 20, fr >> 10);
			error_hint(err, "give the recipe a bigger SIZE (SIZE auto+<n>M, or a fixed SIZE larger than %" PRIu64
					"M); last lines of its output:%s", total >> 20, t);
		} else if (named)
			error_lines(err, t, "%s: %s failed; last lines of its output:", o->what, named);
		else
			error_lines(err, t, "%s failed with exit status %ld; last lines of its output:", o->what, code);
		free(t);
		goto done;
	}

	/* 4. the layer */
	t0 = now_monotonic();
	const char *skip[3] = {BUILDER_DIR, NULL, NULL};
	struct fs_node *lpf = fstree_lookup(tree, "/lost+found");
	if (!lpf || lpf->inode->type != FS_DIR)
		skip[1] = "lost+found";
	struct capture_stats cs;
	struct capture_opts co = {o->epoch, is_netbsd(o), skip, &cs};
	if (capture_diff(img, tree, w, &co, err) < 0)
		goto done;
	if (o->log)
		fprintf(o->log, "      builder VM ran in %.2fs; %" PRIu64 " change%s captured in %.0f ms (%" PRIu64 " names, %" PRIu64
				" inodes changed, %" PRIu64 " files compared)\n",
			t_vm, cs.records, cs.records == 1 ? "" : "s", (now_monotonic() - t0) * 1000, cs.visited, cs.changed,
			cs.compared);
	rc = 0;
done:
	free(note);
	ext2img_close(img);
	sv_free(&argv);
	tail_reset(&con);
	sb_free(&con.line);
	if (tmp)
		remove_tree(tmp);
	free(tmp);
	free(disk);
	return rc;
}
