/* check.c — see check.h. */
#include "check.h"
#include "lower.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const check_known_sets[] = {
	"base", "comp", "etc", "games", "man", "misc", "modules", "rescue", "tests", "text",
	"xbase", "xcomp", "xetc", "xfont", "xserver", "debug", "gpufw", "manhtml", "base32", "debug32", NULL,
};

static const char *closest_set(const char *s)
{
	const char *best = NULL;
	size_t bd = 3;
	for (size_t i = 0; check_known_sets[i]; i++) {
		size_t dd = levenshtein(s, check_known_sets[i]);
		if (dd < bd) {
			bd = dd;
			best = check_known_sets[i];
		}
	}
	return best;
}

static bool has_glob_chars(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* What check_copy_src learns once per recipe: the context's realpath (when
 * a symlink needs resolving) and the longest directory prefix (relative,
 * ending in '/') already seen to hold no symlink, so a thousand sources in
 * files/ cost one lstat of files/ and one each. */
struct copyctx {
	char *real;
	bool real_done;
	struct strbuf okdir;
};

/* Whether some component of `rel` below `dir` is a symlink: 1 yes, 0 no,
 * -1 a component does not exist. One lstat per component not under
 * cc->okdir; the last one's lstat goes to *last. realpath() (a getcwd and a
 * readlink per component) is only needed when this says 1. */
static int path_has_symlink(struct copyctx *cc, const char *dir, const char *rel, struct stat *last)
{
	size_t dl = strlen(dir), rl = strlen(rel);
	char *buf = xmalloc(dl + rl + 2);
	memcpy(buf, dir, dl);
	buf[dl] = '/';
	memcpy(buf + dl + 1, rel, rl + 1);
	char *p = buf + dl + 1;
	if (cc->okdir.len && !strncmp(rel, cc->okdir.buf, cc->okdir.len))
		p += cc->okdir.len;
	int res = 0;
	if (!*p && lstat(buf, last) < 0) /* all of rel is a directory seen before */
		res = -1;
	while (*p) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = 0;
		if (lstat(buf, last) < 0)
			res = -1;
		else if (S_ISLNK(last->st_mode))
			res = 1;
		if (!slash || res)
			break;
		*slash = '/';
		p = slash + 1;
		while (*p == '/')
			p++;
	}
	if (res == 0) {
		/* every directory on the way is plain: remember them */
		const char *ls = strrchr(rel, '/');
		sb_reset(&cc->okdir);
		if (ls)
			sb_add(&cc->okdir, rel, (size_t)(ls - rel) + 1);
	}
	free(buf);
	return res;
}

static const char *copyctx_real(struct copyctx *cc, const struct recipe *r)
{
	if (!cc->real_done) {
		cc->real = realpath(r->dir, NULL);
		cc->real_done = true;
	}
	return cc->real;
}

/* The source `path` (the build context joined with a relative name) is a
 * symlink, or lies below one, that resolves outside the context `ctx`. */
static bool escapes_context(const char *ctx, const char *path)
{
	if (!ctx)
		return false;
	char *rp = realpath(path, NULL);
	size_t cl = strlen(ctx);
	bool out = rp && (strncmp(rp, ctx, cl) || (rp[cl] && rp[cl] != '/'));
	free(rp);
	return out;
}

/* A COPY source must stay inside the build context: no absolute path, no
 * '..' component, no symlink that resolves outside. A plain (not glob)
 * source's lstat is kept in *st_out for the plan (st_out->st_nlink == 0:
 * not known). */
static void check_copy_src(struct diag_ctx *d, const struct recipe *r, const char *src, struct loc at,
			   struct copyctx *cc, struct stat *st_out)
{
	if (src[0] == '/') {
		struct diag *g = diag_error(d, at, "COPY source '%s' is an absolute path", src);
		diag_hint(g, "sources are relative to the build context (%s); copy the file there first", r->dir);
		return;
	}
	for (const char *p = src; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			struct diag *g = diag_error(d, at, "COPY source '%s' leaves the build context", src);
			diag_hint(g, "sources must be inside the build context, the Smolfile's directory (%s)", r->dir);
			return;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	size_t dl = strlen(r->dir);
	glob_t gl;
	memset(&gl, 0, sizeof(gl));
	bool found, escapes = false;
	struct stat st;
	if (!has_glob_chars(src)) {
		int ls = path_has_symlink(cc, r->dir, src, &st);
		found = ls >= 0;
		if (ls == 0) {
			*st_out = st;
		} else if (ls == 1) {
			/* a dangling link is "does not exist", as stat() says */
			char *full = path_join(r->dir, src);
			found = stat(full, &st) == 0;
			if (found)
				escapes = escapes_context(copyctx_real(cc, r), full);
			free(full);
		}
	} else {
		char *pattern = path_join(r->dir, src);
		int grc = glob(pattern, GLOB_NOSORT, NULL, &gl);
		found = grc == 0 && gl.gl_pathc > 0;
		for (size_t i = 0; found && !escapes && i < gl.gl_pathc; i++) {
			const char *m = gl.gl_pathv[i];
			/* glob returns the pattern's own prefix, r->dir "/" ... */
			const char *rel = strncmp(m, r->dir, dl) == 0 && m[dl] == '/' ? m + dl + 1 : NULL;
			if (rel && path_has_symlink(cc, r->dir, rel, &st) == 0)
				continue;
			escapes = escapes_context(copyctx_real(cc, r), m);
		}
		free(pattern);
	}
	if (!found) {
		struct diag *g = diag_error(d, at, has_glob_chars(src) ? "COPY source '%s' matches no file"
								    : "COPY source '%s' does not exist", src);
		diag_hint(g, "sources are relative to the build context (%s)", r->dir);
	} else if (escapes) {
		struct diag *g = diag_error(d, at, "COPY source '%s' leads outside the build context through a symlink",
					    src);
		diag_hint(g, "copy the file into the build context (%s) instead of linking to it", r->dir);
	}
	globfree(&gl);
}

static void check_path_exists(struct diag_ctx *d, const struct recipe *r, const char *what, const char *rel, struct loc at)
{
	char *full = path_join(r->dir, rel);
	struct stat st;
	if (stat(full, &st) < 0) {
		struct diag *g = diag_error(d, at, "%s '%s' not found: %s", what, rel, strerror(errno));
		diag_hint(g, "paths are relative to the Smolfile's directory (%s)", r->dir);
	} else if (S_ISDIR(st.st_mode)) {
		diag_error(d, at, "%s '%s' is a directory, not a file", what, rel);
	}
	free(full);
}

/* Whether the recipe has an instruction of its own in `file`. */
static bool has_instructions(const struct recipe *r, uint32_t file)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].loc.file == file)
			return true;
	return false;
}

static bool is_yes(const char *v)
{
	return !strcmp(v, "y") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "true");
}

/* The command /etc/rc runs last, as Docker composes it: ENTRYPOINT in the
 * exec form gets CMD's words (a shell-form CMD as /bin/sh -c '…'); a
 * shell-form ENTRYPOINT ignores CMD. Then WORKDIR (cd) and USER (su).
 * NULL when there is nothing to compose (the CMD text is used as is). */
static char *boot_command(const struct ir_node *ep, const struct ir_node *cmd, const char *user, const char *workdir)
{
	const char *cmdt = cmd ? cmd->u.cmd.text : NULL;
	const char *ept = ep ? ep->u.cmd.text : NULL;
	if (!cmdt && !ept)
		return NULL;
	if (!ept && !user && !workdir)
		return NULL;
	struct strbuf run;
	sb_init(&run);
	if (ept && ep->u.cmd.exec) {
		sb_adds(&run, ept);
		if (cmdt && cmd->u.cmd.exec) {
			sb_printf(&run, " %s", cmdt);
		} else if (cmdt) {
			sb_adds(&run, " /bin/sh -c ");
			sb_add_shquoted(&run, cmdt);
		}
	} else {
		sb_adds(&run, ept ? ept : cmdt);
	}
	struct strbuf sb;
	sb_init(&sb);
	if (workdir) {
		sb_adds(&sb, "cd ");
		sb_add_shquoted(&sb, workdir);
		sb_adds(&sb, " && ");
	}
	if (user && strcmp(user, "root") && strcmp(user, "0") && strncmp(user, "root:", 5) && strncmp(user, "0:", 2)) {
		size_t ul = strcspn(user, ":");
		char *u = xstrndup(user, ul);
		sb_adds(&sb, "su ");
		sb_add_shquoted(&sb, u);
		sb_adds(&sb, " -c ");
		sb_add_shquoted(&sb, sb_cstr(&run));
		free(u);
	} else {
		sb_adds(&sb, sb_cstr(&run));
	}
	sb_free(&run);
	return sb_detach(&sb);
}

int check_recipe(struct diag_ctx *d, struct recipe *r)
{
	size_t before = d->errors;
	const struct ir_node *first[IR__COUNT] = {0};
	const struct ir_node *from = NULL;
	struct recipe_settings *s = &r->set;
	const struct ir_node *sets_by_name = NULL, *pkgs = NULL;
	const struct ir_node *run_first = NULL, *run_noshell = NULL;
	bool has_steps_before_from = false;
	struct copyctx cc = {0};
	sb_init(&cc.okdir);
	const struct ir_port **ports_v = NULL;
	size_t ports_n = 0, ports_cap = 0;
	const struct ir_node *last_user_wd[2] = {0}; /* WORKDIR, USER */
	const struct ir_node **volumes = NULL;
	size_t nvolumes = 0, capvolumes = 0;
	const char *tag = NULL, *console = NULL;
	s->tag = NULL; /* the loop records the labels' values here … */
	s->console = NULL;

	for (size_t i = 0; i < r->n; i++) {
		struct ir_node *n = &r->v[i];
		const struct ir_info *info = ir_info(n->kind);
		if (info->single && first[n->kind] && !(n->kind == IR_LABEL)) {
			struct diag *g = diag_error(d, n->loc, "duplicate %s: a recipe has one", info->name);
			diag_hint(g, "remove one of them");
			diag_note(d, first[n->kind]->loc, "first %s is here", info->name);
			continue;
		}
		if (!first[n->kind])
			first[n->kind] = n;
		switch (n->kind) {
		case IR_FROM:
			from = n;
			break;
		case IR_SETS:
			if (!from && !has_steps_before_from) {
				has_steps_before_from = true;
				struct diag *g = diag_error(d, n->loc, "SETS before FROM");
				diag_hint(g, "start the recipe with FROM (only ARG may come before it)");
			}
			for (size_t k = 0; k < n->u.sets.n; k++) {
				const struct ir_set *set = &n->u.sets.v[k];
				if (set->src == SRC_NAME) {
					sets_by_name = n;
					bool known = false;
					for (size_t j = 0; check_known_sets[j]; j++)
						known = known || !strcmp(set->ref, check_known_sets[j]);
					if (!known) {
						struct diag *g = diag_error(d, set->loc, "unknown set '%s'", set->ref);
						const char *c = closest_set(set->ref);
						if (c)
							diag_hint(g, "did you mean '%s'?", c);
						else
							diag_hint(g, "NetBSD sets are base, comp, etc, games, man, misc, modules, rescue, tests, text, x*; "
								     "or give a URL or a path to a .tgz/.tar.xz");
					}
				} else if (set->src == SRC_PATH) {
					check_path_exists(d, r, "set file", set->ref, set->loc);
				}
			}
			break;
		case IR_PKGS:
			pkgs = n;
			if (!from && !has_steps_before_from) {
				has_steps_before_from = true;
				struct diag *g = diag_error(d, n->loc, "PKGS before FROM");
				diag_hint(g, "start the recipe with FROM (only ARG may come before it)");
			}
			break;
		case IR_COPY:
			if (!from && !has_steps_before_from) {
				has_steps_before_from = true;
				struct diag *g = diag_error(d, n->loc, "COPY before FROM");
				diag_hint(g, "start the recipe with FROM (only ARG may come before it)");
			}
			free(n->u.copy->src_st);
			n->u.copy->src_st = xcalloc(n->u.copy->srcs.n, sizeof(struct stat));
			for (size_t k = 0; k < n->u.copy->srcs.n; k++)
				check_copy_src(d, r, n->u.copy->srcs.v[k], n->u.copy->src_locs[k], &cc,
					       &n->u.copy->src_st[k]);
			break;
		case IR_POSTINST:
			if (!from && !has_steps_before_from) {
				has_steps_before_from = true;
				struct diag *g = diag_error(d, n->loc, "POSTINST before FROM");
				diag_hint(g, "start the recipe with FROM (only ARG may come before it)");
			}
			break;
		case IR_RUN:
			if (!from && !has_steps_before_from) {
				has_steps_before_from = true;
				struct diag *g = diag_error(d, n->loc, "RUN before FROM");
				diag_hint(g, "start the recipe with FROM (only ARG may come before it)");
			}
			if (!run_first)
				run_first = n;
			/* FROM scratch: only sets and packages bring a shell */
			if (from && from->u.from.kind == BASE_SCRATCH && !first[IR_SETS] && !first[IR_PKGS] && !run_noshell) {
				run_noshell = n;
				struct diag *g = diag_error(d, n->loc, "RUN needs a shell in the image, but this FROM scratch recipe has no SETS or PKGS before it");
				diag_hint(g, "the builder VM runs the script with the image's /bin/sh: add a set that has one (SETS …) before the RUN");
			}
			break;
		case IR_KERNEL:
		case IR_INITRD:
			if (n->u.kernel.src == SRC_PATH && n->u.kernel.ref)
				check_path_exists(d, r, n->kind == IR_KERNEL ? "kernel" : "initrd", n->u.kernel.ref,
						  n->arg_loc);
			break;
		case IR_PORTS:
			/* a host port forwarded twice: compared with the ports
			 * seen so far, not by rescanning the recipe */
			for (size_t k = 0; k < n->u.ports.n; k++) {
				const struct ir_port *p = &n->u.ports.v[k];
				for (size_t q = 0; q < ports_n; q++) {
					const struct ir_port *o = ports_v[q];
					if (o->host == p->host && o->udp == p->udp && !strcmp(o->host_addr, p->host_addr)) {
						struct diag *g = diag_error(d, p->loc, "host port %u/%s is forwarded twice",
									    p->host, p->udp ? "udp" : "tcp");
						diag_hint(g, "each host port can forward to one guest port");
						diag_note(d, o->loc, "first forwarded here");
					}
				}
				VEC_GROW(ports_v, ports_n, ports_cap);
				ports_v[ports_n++] = p;
			}
			break;
		case IR_FWCFG:
			if (n->u.fwcfg.is_file && n->u.fwcfg.value)
				check_path_exists(d, r, "FWCFG --file", n->u.fwcfg.value, n->arg_loc);
			break;
		case IR_SHARE:
		case IR_RC:
		case IR_ARG:
		case IR_ENV:
		case IR_SERVICE:
		case IR_ARCH:
		case IR_SIZE:
		case IR_MEM:
		case IR_CPUS:
		case IR_READONLY:
		case IR_INCLUDE:
		case IR_CMD:
		case IR_PROFILE:
		case IR_APPEND:
		case IR_PKGSITE:
		case IR_EXPOSE:
		case IR_ENTRYPOINT:
		case IR_KEEP:
		case IR_MINIMIZE:
			break;
		case IR_USER:
		case IR_WORKDIR:
			last_user_wd[n->kind == IR_USER] = n;
			break;
		case IR_VOLUME:
			if (n->u.str) {
				VEC_GROW(volumes, nvolumes, capvolumes);
				volumes[nvolumes++] = n;
			}
			break;
		case IR_LABEL:
			if (n->u.label.key && !strcmp(n->u.label.key, "smolbsd.imgtag") && n->u.label.value)
				s->tag = n->u.label.value;
			if (n->u.label.key && !strcmp(n->u.label.key, "smolbsd.use_pty") && n->u.label.value)
				s->console = is_yes(n->u.label.value) ? "pty" : NULL;
			break;
		case IR__COUNT:
		default:
			abort();
		}
	}

	if (!from) {
		const struct srcfile *f = NULL;
		for (uint32_t i = 1; i < d->nfiles; i++)
			if (d->files[i].path && !strcmp(d->files[i].path, r->path))
				f = &d->files[i];
		struct loc at = {f ? (uint32_t)(f - d->files) : 0, 0, 0};
		if (f && f->rejected) {
			/* not a text recipe: that error is enough */
		} else if (f && !has_instructions(r, at.file)) {
			struct diag *g = diag_error(d, at, "empty recipe: no FROM instruction");
			diag_hint(g, "a Smolfile starts with FROM scratch, FROM netbsd-<version> (e.g. netbsd-10.1) or FROM <service>");
		} else {
			/* point at the first instruction of the recipe's own file */
			for (size_t i = 0; i < r->n && at.file; i++) {
				if (r->v[i].loc.file == at.file) {
					at = r->v[i].loc;
					break;
				}
			}
			struct diag *g = at.file ? diag_error(d, at, "no FROM instruction")
						 : diag_error_plain(d, "%s: no FROM instruction", r->path);
			diag_hint(g, "start the recipe with FROM scratch, FROM netbsd-<version> (e.g. netbsd-10.1) or FROM <service>");
		}
	}

	/* settings, with the parent's as defaults */
	const struct recipe_settings *ps = r->parent ? &r->parent->set : NULL;
	tag = s->tag; /* … and they are kept across the reset */
	console = s->console;
	memset(s, 0, sizeof(*s));
	s->tag = tag;
	s->console = console ? console : ps ? ps->console : NULL;
	s->user = last_user_wd[1] ? last_user_wd[1]->u.str : ps ? ps->user : NULL;
	s->workdir = last_user_wd[0] ? last_user_wd[0]->u.str : ps ? ps->workdir : NULL;
	s->from = from;
	s->arch = first[IR_ARCH] && first[IR_ARCH]->u.str ? first[IR_ARCH]->u.str : ps ? ps->arch : "amd64";
	s->profile = first[IR_PROFILE] && first[IR_PROFILE]->u.str ? first[IR_PROFILE]->u.str : ps ? ps->profile : "netbsd";
	s->mem_mib = first[IR_MEM] && first[IR_MEM]->u.mem_mib ? first[IR_MEM]->u.mem_mib : ps ? ps->mem_mib : 256;
	s->cpus = first[IR_CPUS] && first[IR_CPUS]->u.cpus ? first[IR_CPUS]->u.cpus : ps ? ps->cpus : 1;
	s->readonly = first[IR_READONLY] ? true : ps ? ps->readonly : false;
	if (first[IR_MINIMIZE]) {
		s->minimize = first[IR_MINIMIZE]->u.minimize;
		s->minimize_at = s->minimize ? first[IR_MINIMIZE] : NULL;
	} else if (ps) {
		s->minimize = ps->minimize;
		s->minimize_at = ps->minimize_at;
	}
	s->kernel = first[IR_KERNEL] ? first[IR_KERNEL] : ps ? ps->kernel : NULL;
	s->initrd = first[IR_INITRD] ? first[IR_INITRD] : ps ? ps->initrd : NULL;
	s->rc = first[IR_RC];
	s->cmd = first[IR_CMD] ? first[IR_CMD]->u.cmd.text : NULL;
	free(r->boot_cmd);
	r->boot_cmd = boot_command(first[IR_ENTRYPOINT], first[IR_CMD], s->user, s->workdir);
	if (r->boot_cmd)
		s->cmd = r->boot_cmd;
	s->append = first[IR_APPEND] ? first[IR_APPEND]->u.str : ps ? ps->append : NULL;
	s->pkgsite = first[IR_PKGSITE] ? first[IR_PKGSITE]->u.str : ps ? ps->pkgsite : NULL;
	if (first[IR_SIZE]) {
		s->size_auto = first[IR_SIZE]->u.size.is_auto;
		s->size_bytes = first[IR_SIZE]->u.size.bytes;
		if (s->size_auto && !s->size_bytes)
			s->size_bytes = 32ull << 20;
	} else if (ps) {
		s->size_auto = ps->size_auto;
		s->size_bytes = ps->size_bytes;
	} else {
		s->size_auto = true;
		s->size_bytes = 32ull << 20;
	}
	if (first[IR_SERVICE] && first[IR_SERVICE]->u.str) {
		s->service = first[IR_SERVICE]->u.str;
	}

	if (r->parent && first[IR_ARCH] && first[IR_ARCH]->u.str && strcmp(first[IR_ARCH]->u.str, ps->arch)) {
		struct diag *g = diag_error(d, first[IR_ARCH]->loc, "ARCH %s differs from the base recipe's ARCH %s",
					    first[IR_ARCH]->u.str, ps->arch);
		diag_hint(g, "a recipe built FROM another reuses its layers, so the architecture must match");
	}
	if (from && from->u.from.kind == BASE_SCRATCH && sets_by_name) {
		for (size_t k = 0; k < sets_by_name->u.sets.n; k++) {
			const struct ir_set *set = &sets_by_name->u.sets.v[k];
			bool known = false;
			for (size_t j = 0; check_known_sets[j]; j++)
				known = known || !strcmp(set->ref, check_known_sets[j]);
			if (set->src != SRC_NAME || !known)
				continue; /* unknown names are diagnosed above */
			struct diag *g = diag_error(d, set->loc, "set '%s' needs a NetBSD release, but the recipe is FROM scratch", set->ref);
			diag_hint(g, "use FROM netbsd-<version> (e.g. netbsd-10.1), or give the set as a URL or a path");
			break;
		}
	}
	if (pkgs && from && from->u.from.kind == BASE_SCRATCH && !recipe_pkgsite(s)) {
		struct diag *g = diag_error(d, pkgs->loc, "PKGS needs a package repository, but the recipe is FROM scratch");
		diag_hint(g, "use FROM netbsd-<version>, or name the repository with PKGSITE <url> (or $PKGSITE)");
	}
	if (run_first && !s->kernel && (!strcmp(s->profile, "linux") || (from && from->u.from.kind == BASE_SCRATCH))) {
		struct diag *g = diag_error(d, run_first->loc, "RUN needs a kernel to boot the builder VM, and the recipe has no KERNEL");
		diag_hint(g, "add KERNEL <name|URL|path> (a FROM scratch or PROFILE linux recipe has no default kernel)");
	}
	if (!strcmp(s->profile, "linux") && !s->kernel) {
		const struct ir_node *p = first[IR_PROFILE];
		struct diag *g = p ? diag_error(d, p->loc, "PROFILE linux needs a KERNEL")
				   : diag_error_plain(d, "%s: PROFILE linux needs a KERNEL", r->path);
		diag_hint(g, "there is no default Linux kernel; add KERNEL <path|URL>");
	}
	free(volumes);
	free(cc.real);
	sb_free(&cc.okdir);
	free(ports_v);
	return d->errors == before ? 0 : -1;
}

/* dir/rel, without a leading "./" when dir is "." (paths show in messages). */
static char *join_rel(const char *dir, const char *rel)
{
	return strcmp(dir, ".") ? path_join(dir, rel) : xstrdup(rel);
}

/* The parent of dir, lexically when that is safe ("services/sshd" →
 * "services"; a symlink or a ".." keeps "dir/.."), so that paths in
 * messages stay short. */
static char *parent_dir(const char *dir)
{
	struct stat st;
	const char *b = path_basename(dir);
	if (!strcmp(dir, "."))
		return xstrdup("..");
	if (!strcmp(b, "..") || !strcmp(b, ".") || !*b || lstat(dir, &st) < 0 || S_ISLNK(st.st_mode))
		return path_join(dir, "..");
	return path_dirname(dir);
}

/* Where FROM <name> looks for a recipe. */
static char *find_base_recipe(const struct recipe *r, const char *name)
{
	struct strvec cand = {0};
	if (strchr(name, '/') || str_endswith(name, "Smolfile") || str_endswith(name, ".smol")) {
		char *p = join_rel(r->dir, name);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			sv_push(&cand, path_join(p, "Smolfile"));
			free(p);
		} else {
			sv_push(&cand, p);
		}
	} else {
		char *sub = xasprintf("%s/Smolfile", name);
		sv_push(&cand, join_rel(r->dir, sub));
		char *up = xasprintf("%s/Smolfile", name);
		char *parent = parent_dir(r->dir);
		sv_push(&cand, join_rel(parent, up));
		free(parent);
		char *svc = xasprintf("services/%s/Smolfile", name);
		sv_push(&cand, join_rel(r->dir, svc));
		const char *sp = getenv("SMOLC_PATH");
		if (sp) {
			char *copy = xstrdup(sp);
			for (char *tok = strtok(copy, ":"); tok; tok = strtok(NULL, ":")) {
				char *a = path_join(tok, sub);
				sv_push(&cand, a);
			}
			free(copy);
		}
		const char *dd = getenv("SMOLC_DATADIR");
		if (dd) {
			char *a = path_join(dd, svc);
			sv_push(&cand, a);
		}
		free(sub);
		free(up);
		free(svc);
	}
	char *found = NULL;
	for (size_t i = 0; i < cand.n && !found; i++)
		if (path_exists(cand.v[i]))
			found = xstrdup(cand.v[i]);
	sv_free(&cand);
	return found;
}

/* Load `path` (or, when data is not NULL, the in-memory recipe named path),
 * its base recipes, and check it. `chain` holds the realpaths of the
 * recipes being loaded (FROM cycle detection). */
static struct recipe *load_rec(struct diag_ctx *d, const char *path, const char *context, const char *data, size_t len,
			       const struct strvec *build_args, struct loc from_loc, struct strvec *chain)
{
	struct recipe *r = xcalloc(1, sizeof(*r));
	r->path = xstrdup(path);
	r->dir = context ? xstrdup(context) : path_dirname(path);
	if (build_args)
		for (size_t i = 0; i < build_args->n; i++)
			sv_pushdup(&r->build_args, build_args->v[i]);
	size_t nfiles = d->nfiles;
	if (data)
		lower_buffer(d, r, path, data, len, build_args);
	else
		lower_recipe(d, r, path, from_loc, chain->n ? NULL : build_args);
	if (d->nfiles == nfiles) { /* unreadable */
		recipe_free(r);
		return NULL;
	}
	if (from_loc.file)
		d->files[nfiles].from_base = true; /* its first file is the recipe itself */
	char *rp = realpath(path, NULL);
	sv_push(chain, rp ? rp : xstrdup(path));

	bool has_service = false;
	for (size_t i = 0; i < r->n; i++)
		has_service = has_service || r->v[i].kind == IR_SERVICE;
	if (!has_service) {
		/* default: the name of a <name>.smol file (smoler's way), else
		 * the recipe directory's name, as a synthetic SERVICE */
		char *rd = NULL;
		const char *b = path_basename(path);
		char stem[64] = "";
		if (str_endswith(b, ".smol") && strlen(b) - 5 < sizeof(stem)) {
			memcpy(stem, b, strlen(b) - 5);
			stem[strlen(b) - 5] = 0;
			b = stem;
		} else {
			rd = realpath(r->dir, NULL);
			b = path_basename(rd ? rd : r->dir);
		}
		bool ok = *b && strlen(b) <= 32;
		for (const char *c = b; ok && *c; c++)
			ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
			     *c == '_' || *c == '.';
		struct ir_node *n = recipe_push(r, IR_SERVICE, (struct loc){0, 0, 0});
		n->u.str = xstrdup(ok ? b : "smol");
		free(rd);
	}

	const struct ir_node *from = NULL;
	for (size_t i = 0; i < r->n && !from; i++)
		if (r->v[i].kind == IR_FROM)
			from = &r->v[i];
	if (from && from->u.from.kind == BASE_RECIPE && from->u.from.name) {
		char *bp = find_base_recipe(r, from->u.from.name);
		if (!bp) {
			struct diag *g = diag_error(d, from->arg_loc, "no recipe named '%s'", from->u.from.name);
			diag_hint(g, "FROM takes scratch, netbsd-<version>, a service name (looked up as %s/<name>/Smolfile, "
				     "../<name>/Smolfile, services/<name>/Smolfile and in $SMOLC_PATH) or a path to a Smolfile",
				  r->dir);
		} else {
			char *brp = realpath(bp, NULL);
			bool cycle = false;
			for (size_t i = 0; brp && i < chain->n; i++)
				cycle = cycle || !strcmp(chain->v[i], brp);
			if (cycle) {
				struct diag *g = diag_error(d, from->arg_loc, "FROM cycle: '%s' is built FROM this recipe", from->u.from.name);
				diag_hint(g, "a recipe cannot (indirectly) be its own base");
			} else if (chain->n >= 16) {
				diag_error(d, from->arg_loc, "FROM chain deeper than 16 recipes");
			} else {
				r->parent = load_rec(d, bp, NULL, NULL, 0, NULL, from->loc, chain);
			}
			free(brp);
			free(bp);
		}
	}
	check_recipe(d, r);
	free(chain->v[--chain->n]);
	chain->v[chain->n] = NULL;
	return r;
}

struct recipe *recipe_load(struct diag_ctx *d, const char *path, const struct strvec *build_args)
{
	return recipe_load_in(d, path, NULL, build_args);
}

struct recipe *recipe_load_in(struct diag_ctx *d, const char *path, const char *context, const struct strvec *build_args)
{
	struct strvec chain = {0};
	struct recipe *r = load_rec(d, path, context, NULL, 0, build_args, (struct loc){0, 0, 0}, &chain);
	sv_free(&chain);
	return r;
}

struct recipe *recipe_load_buffer(struct diag_ctx *d, const char *name, const char *data, size_t len,
				  const struct strvec *build_args)
{
	struct strvec chain = {0};
	struct recipe *r = load_rec(d, name, NULL, data, len, build_args, (struct loc){0, 0, 0}, &chain);
	sv_free(&chain);
	return r;
}
