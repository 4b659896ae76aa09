/* step_gen.c — gen: what every image needs and no instruction writes: the
 * skeleton directories (/sbin /bin /dev /etc /etc/include) the layers
 * before did not make, /etc/fstab for the root partition (by its NAME for
 * NetBSD, /dev/vda1 for Linux, ro with READONLY), NetBSD's /etc/include/
 * helpers from services/common, and, for a rescue-only image, the /sbin/init,
 * /sbin/mount_ext2fs and /bin/sh links into /rescue. */
#include "step.h"
#include "layer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *make_fstab(const struct recipe *r)
{
	const struct recipe_settings *st = &r->set;
	if (!strcmp(st->profile, "linux"))
		return xasprintf("/dev/vda1 / ext2 %s 0 1\n", st->readonly ? "ro" : "rw");
	return xasprintf("NAME=%sroot / ext2fs %s 1 1\n", st->service, st->readonly ? "ro" : "rw");
}

/* The rescue set: by name, or a URL or path whose file is rescue.<ext>
 * (…/amd64/binary/sets/rescue.tar.xz), as the anchor links by the set. */
static bool set_is_rescue(const struct ir_set *set)
{
	if (set->src == SRC_NAME)
		return !strcmp(set->ref, "rescue");
	const char *end = set->ref + strcspn(set->ref, "?#");
	if (set->src != SRC_URL)
		end = set->ref + strlen(set->ref);
	const char *base = end;
	while (base > set->ref && base[-1] != '/')
		base--;
	static const char *const exts[] = {".tgz", ".tar.xz", ".tar", ".tar.gz", ".tar.zst", ".tar.bz2", ".txz"};
	size_t n = (size_t)(end - base);
	if (n < 7 || memcmp(base, "rescue.", 7))
		return false;
	for (size_t i = 0; i < ARRAY_LEN(exts); i++)
		if (n == 6 + strlen(exts[i]) && !memcmp(base + 6, exts[i], strlen(exts[i])))
			return true;
	return false;
}

static int gen_canon(struct step_plan_ctx *c, const struct ir_node *n)
{
	const struct recipe *r = c->r;
	struct plan *p = c->p;
	/* rescue only: the sets of the whole chain are the rescue set */
	bool rescue_only = false;
	size_t n_other = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].kind != STEP_SET)
			continue;
		if (set_is_rescue(p->v[i].set))
			rescue_only = true;
		else
			n_other++;
	}
	rescue_only = rescue_only && n_other == 0 && !strcmp(r->set.profile, "netbsd");
	p->rescue_only = rescue_only;
	const struct ir_node *from = r->set.from;
	struct plan_step *s = step_add(c, STEP_GEN, NULL, from->loc,
				       xstrdup(rescue_only ? "gen /etc/fstab /etc/include (rescue)" : "gen /etc/fstab /etc/include"));
	s->text = make_fstab(r);
	s->canon = xasprintf("gen service=%s profile=%s readonly=%d rescue=%d\nfstab=%s", r->set.service, r->set.profile,
			     r->set.readonly, rescue_only, s->text);
	return 0;
}

/* NetBSD: the files of services/common go to /etc/include/ */
static int gen_inputs(struct step_plan_ctx *c, struct plan_step *s)
{
	const struct plan_env *env = c->env;
	if (!env->datadir || strcmp(c->r->set.profile, "netbsd"))
		return 0;
	char *common = path_join(env->datadir, "services/common");
	struct step_ctxents files = {0};
	step_walk_context(common, ".", NULL, &files);
	for (size_t k = 0; k < files.n; k++) {
		char *full = path_join(common, files.v[k].rel);
		struct stat st;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
			const char *name = files.v[k].rel + (str_startswith(files.v[k].rel, "./") ? 2 : 0);
			char *what = xasprintf("include %s", name);
			char *src = xasprintf("services/common/%s", name);
			struct plan_input *in = plan_add_input(s, what, src);
			step_input_local(env, in, full, &st);
			free(what);
			free(src);
		}
		free(full);
	}
	step_ctxents_free(&files);
	free(common);
	return 0;
}

/* The line of an fstab that mounts / (blanks squeezed), malloc'd; "(none)". */
static char *root_line(const char *fstab)
{
	for (const char *l = fstab; *l;) {
		size_t n = strcspn(l, "\n");
		char *line = xstrndup(l, n);
		char f0[256], f1[256];
		if (line[0] != '#' && sscanf(line, "%255s %255s", f0, f1) == 2 && !strcmp(f1, "/")) {
			struct strbuf sb;
			sb_init(&sb);
			for (char *tok = strtok(line, " \t"); tok; tok = strtok(NULL, " \t"))
				sb_printf(&sb, "%s%s", sb.len ? " " : "", tok);
			free(line);
			return sb_detach(&sb);
		}
		free(line);
		l += n + (l[n] == '\n');
	}
	return xstrdup("(none)");
}

static int gen_build(struct step_build_ctx *b, struct plan_step *s, struct layer_writer *w, struct error **err)
{
	int64_t t = (int64_t)b->p->epoch;
	static const char *const dirs[] = {"/sbin", "/bin", "/dev", "/etc", "/etc/include"};
	for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
		if (fstree_lookup(b->tree, dirs[i]))
			continue;
		struct fs_meta m = step_dir_meta(t);
		if (layer_add(w, dirs[i], &m, err) < 0)
			return -1;
	}
	/* a recipe's own /etc/fstab (COPY, POSTINST, RUN, a set) is kept … */
	struct fs_node *have = fstree_lookup(b->tree, "/etc/fstab");
	char *text = have && have->inode->type == FS_REG ? step_tree_read_small(b->tree, "/etc/fstab") : NULL;
	/* … unless it mounts nothing on / (an empty one, as a release's etc
	 * set may have) or a base recipe's gen step wrote it (FROM <recipe>) */
	if (text) {
		char *rl = root_line(text);
		if (!strcmp(rl, "(none)")) {
			free(text);
			text = NULL;
		}
		free(rl);
	}
	for (size_t i = 0; text && i < b->p->n && &b->p->v[i] != s; i++)
		if (b->p->v[i].kind == STEP_GEN && b->p->v[i].text && !strcmp(b->p->v[i].text, text)) {
			free(text);
			text = NULL;
		}
	if (text) {
		char *want = root_line(s->text), *got = root_line(text);
		if (strcmp(got, want)) {
			char *e = str_escape(got);
			fprintf(stderr, "warning: keeping the image's own /etc/fstab, whose root line is %s; smolc would "
					"write %s\n", e, want);
			free(e);
		} else if (b->log) {
			fprintf(b->log, "      keeping the image's own /etc/fstab\n");
		}
		free(want);
		free(got);
	} else {
		struct fs_meta fm = step_file_meta(0644, t);
		if (layer_add_file_buf(w, "/etc/fstab", &fm, s->text, strlen(s->text), err) < 0) {
			free(text);
			return -1;
		}
	}
	free(text);
	for (size_t i = 0; i < s->nin; i++) {
		const struct plan_input *in = &s->in[i];
		if (!str_startswith(in->what, "include ") || !in->path)
			continue;
		int fd = open(in->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			error_set(err, "%s: %s", in->path, strerror(errno));
			return -1;
		}
		char *dst = xasprintf("/etc/include/%s", in->what + 8);
		if (fstree_lookup(b->tree, dst)) { /* the recipe's own is kept */
			free(dst);
			close(fd);
			continue;
		}
		struct fs_meta im = step_file_meta(0644, t);
		int rc = layer_add_file_fd(w, dst, &im, fd, err);
		free(dst);
		close(fd);
		if (rc < 0)
			return -1;
	}
	if (b->p->rescue_only) {
		static const char *const links[][2] = {
			{"/sbin/init", "/rescue/init"},
			{"/sbin/mount_ext2fs", "/rescue/mount_ext2fs"},
			{"/bin/sh", "/rescue/sh"},
		};
		for (size_t i = 0; i < ARRAY_LEN(links); i++) {
			struct fs_meta lm = step_dir_meta(t);
			lm.type = FS_LNK;
			lm.perm = 0755;
			lm.target = links[i][1];
			if (layer_add(w, links[i][0], &lm, err) < 0)
				return -1;
		}
	}
	return 0;
}

const struct step_ops step_gen_ops = {
	.name = "gen",
	.kind = STEP_GEN,
	.when = STEP_AFTER,
	.canon = gen_canon,
	.inputs = gen_inputs,
	.key = step_key_epoch,
	.build = gen_build,
};
