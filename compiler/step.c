/* step.c — the table of step kinds and the helpers they share (step.h). */
#include "step.h"
#include "digest.h"
#include "digestmemo.h"
#include "inputs.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* In plan order: the BEFORE and AFTER passes walk the table in this
 * order (base, then a release's default sets; gen, then rc, then minimize). */
const struct step_ops *const step_kinds[STEP_NKINDS] = {
	[STEP_BASE] = &step_base_ops,
	[STEP_SET] = &step_set_ops,
	[STEP_PKGS] = &step_pkgs_ops,
	[STEP_COPY] = &step_copy_ops,
	[STEP_POSTINST] = &step_postinst_ops,
	[STEP_GEN] = &step_gen_ops,
	[STEP_RC] = &step_rc_ops,
	[STEP_RUN] = &step_run_ops,
	[STEP_MINIMIZE] = &step_minimize_ops,
};

const struct step_ops *step_ops_of(enum step_kind k)
{
	if ((unsigned)k >= STEP_NKINDS || !step_kinds[k])
		abort();
	return step_kinds[k];
}

struct plan_step *step_add(struct step_plan_ctx *c, enum step_kind k, const struct ir_node *n, struct loc loc,
			   char *title)
{
	struct plan *p = c->p;
	VEC_GROW(p->v, p->n, p->cap);
	struct plan_step *s = &p->v[p->n++];
	memset(s, 0, sizeof(*s));
	s->kind = k;
	s->recipe = c->r;
	s->node = n;
	s->loc = loc;
	s->title = title;
	return s;
}

void step_input_local(const struct plan_env *env, struct plan_input *in, const char *path, const struct stat *st)
{
	char hex[65];
	free(in->path);
	in->path = xstrdup(path);
	if (dmemo_digest(env->memo, path, st, hex) == 0)
		in->digest = xasprintf("sha256:%s", hex);
}

int step_input_fetch(const struct plan_env *env, struct plan_input *in, const char *pin, const char *hint,
		     const char *base_dir, struct diag_ctx *d, struct loc at)
{
	if (pin && !in->digest)
		in->digest = xstrdup(pin);
	if (!env->inputs || (env->index_only && in->digest))
		return 0;
	struct input_req req = {in->source, pin, hint, base_dir};
	struct input_file f;
	struct error *err = NULL;
	switch (inputs_file(env->inputs, &req, &f, &err)) {
	case INPUT_FAILED:
		diag_error_record(d, at, err);
		error_clear(&err);
		return -1;
	case INPUT_MISSING:
		return 0; /* not resolved yet → pending (unless pinned) */
	case INPUT_OK:
		break;
	}
	free(in->path);
	in->path = xstrdup(f.path);
	if (!in->digest)
		in->digest = xasprintf("sha256:%s", f.sha256);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void step_ctxents_free(struct step_ctxents *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].rel);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

/* One lstat per entry. */
void step_walk_context(const char *root, const char *rel, const struct stat *known, struct step_ctxents *out)
{
	char *full = path_join(root, rel);
	struct stat st;
	if (known && known->st_nlink)
		st = *known; /* check_recipe's lstat of it */
	else if (lstat(full, &st) < 0) {
		free(full);
		return;
	}
	VEC_GROW(out->v, out->n, out->cap);
	out->v[out->n++] = (struct step_ctxent){xstrdup(rel), st};
	if (!S_ISDIR(st.st_mode)) {
		free(full);
		return;
	}
	DIR *dir = opendir(full);
	free(full);
	if (!dir)
		return;
	struct strvec names = {0};
	struct dirent *de;
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			sv_pushdup(&names, de->d_name);
	closedir(dir);
	if (names.n)
		qsort(names.v, names.n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < names.n; i++) {
		char *sub = path_join(rel, names.v[i]);
		step_walk_context(root, sub, NULL, out);
		free(sub);
	}
	sv_free(&names);
}

int step_script_input(struct step_plan_ctx *c, struct plan_step *s)
{
	(void)c;
	const struct ir_script *sc = s->node->u.script;
	struct plan_input *in = plan_add_input(s, "script", sc->path ? sc->path : "(inline)");
	char hex[65];
	const char *t = sc->text ? sc->text : "";
	sha256_hex(t, strlen(t), hex);
	in->digest = xasprintf("sha256:%s", hex);
	return 0;
}

const char *step_envs_digest(struct step_plan_ctx *c)
{
	if (!c->envs[0]) {
		const struct recipe *r = c->r;
		struct strbuf sb;
		sb_init(&sb);
		for (size_t k = 0; k < r->n; k++) {
			const struct ir_node *v = &r->v[k];
			if ((v->kind == IR_ENV || v->kind == IR_ARG) && v->u.var.name && v->u.var.value)
				sb_printf(&sb, " %s:%s=%s", v->kind == IR_ENV ? "env" : "arg", v->u.var.name, v->u.var.value);
		}
		sha256_hex(sb_cstr(&sb), sb.len, c->envs);
		sb_free(&sb);
	}
	return c->envs;
}

bool step_key_epoch(const struct plan *p, const struct plan_step *s, struct digest *dg)
{
	(void)s;
	char eb[48];
	snprintf(eb, sizeof(eb), "epoch=%" PRIu64, p->epoch);
	digest_update_str(dg, eb);
	return true;
}

/* ---- for build() ---- */

struct fs_meta step_dir_meta(int64_t mtime)
{
	struct fs_meta m;
	memset(&m, 0, sizeof(m));
	m.type = FS_DIR;
	m.perm = 0755;
	m.uname = "root";
	m.gname = "wheel";
	m.mtime = mtime;
	return m;
}

struct fs_meta step_file_meta(unsigned perm, int64_t mtime)
{
	struct fs_meta m = step_dir_meta(mtime);
	m.type = FS_REG;
	m.perm = perm;
	return m;
}

/* ---- /etc/passwd and /etc/group lookups in the tree (COPY --chown) ---- */

char *step_tree_read_small(struct fstree *t, const char *path)
{
	struct fs_node *n = fstree_lookup(t, path);
	if (!n || n->inode->type != FS_REG || n->inode->size > (1u << 20))
		return NULL;
	char *buf = xcalloc(1, n->inode->size + 1);
	if (n->inode->size) {
		int fd = open(n->inode->data_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || pread(fd, buf, n->inode->size, (off_t)n->inode->data_off) != (ssize_t)n->inode->size) {
			if (fd >= 0)
				close(fd);
			free(buf);
			return NULL;
		}
		close(fd);
	}
	return buf;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Resolve a user or group (a number, or a name looked up in `file` of the
 * tree). 0 = *id set; -1 = the tree has no `file`; -2 = no such name. */
static int resolve_id(struct fstree *t, const char *file, const char *name, uint32_t *id)
{
	if (all_digits(name)) {
		*id = (uint32_t)strtoul(name, NULL, 10); /* range checked by lower.c */
		return 0;
	}
	if (!strcmp(name, "root") || !strcmp(name, "wheel")) {
		*id = 0;
		return 0;
	}
	char *text = step_tree_read_small(t, file);
	if (!text)
		return -1;
	int rc = -2;
	size_t nl = strlen(name);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, name, nl) && line[nl] == ':') {
			char *f = strchr(line + nl + 1, ':'); /* skip the password */
			if (f && f[1] >= '0' && f[1] <= '9') {
				*id = (uint32_t)strtoul(f + 1, NULL, 10);
				rc = 0;
			}
			break;
		}
	}
	free(text);
	return rc;
}

/* Looked up in the image as built so far. */
int step_owner(struct step_build_ctx *b, const char *what, const struct ir_chown *c, int64_t *uid, int64_t *gid,
	       struct error **err)
{
	*uid = *gid = 0;
	if (!c->spec)
		return 0;
	char *u = xstrdup(c->spec);
	char *g = strchr(u, ':');
	if (g)
		*g++ = 0;
	const char *names[2] = {u, g};
	static const char *const files[2] = {"/etc/passwd", "/etc/group"};
	static const char *const kinds[2] = {"user", "group"};
	int64_t *ids[2] = {uid, gid};
	int rc = 0;
	for (int i = 0; i < 2 && rc == 0 && names[i]; i++) {
		uint32_t id = 0;
		int r = resolve_id(b->tree, files[i], names[i], &id);
		if (r == -1) {
			error_at(err, c->loc, "%s --chown=%s: the image has no %s to look up %s '%s' in",
				 what, c->spec, files[i], kinds[i], names[i]);
			error_hint(err, "use a number, or build %s before this step", files[i]);
		} else if (r == -2) {
			error_at(err, c->loc, "%s --chown=%s: no %s '%s' in the image's %s",
				 what, c->spec, kinds[i], names[i], files[i]);
			error_hint(err, "use a number, or add the %s in an earlier step", kinds[i]);
		} else {
			*ids[i] = id;
		}
		rc = r < 0 ? -1 : 0;
	}
	free(u);
	return rc;
}
