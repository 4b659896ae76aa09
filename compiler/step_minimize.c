/* step_minimize.c — MINIMIZE: the last layer of an image that asks for
 * it (after gen and rc, so /etc/rc is in the tree it looks at). Its layer
 * holds only whiteouts: every entry the service does not need is removed
 * (minimize.h says what is kept). The roots are the KEEP words of the
 * whole FROM chain, the programs the recipe's RC and CMD/ENTRYPOINT run
 * (rcscan.h) and the files they source; a program RC or CMD names that
 * the image lacks is an error at its line.
 *
 * Key: the parent's (so every earlier layer, RC and CMD included), the
 * profile, PATH, the KEEP list and the rule version (MINIMIZE_RULES; bump
 * it when what minimize.c keeps changes). Only the top recipe of a FROM
 * chain is minimised: a base recipe's MINIMIZE applies when it is built
 * itself. */
#include "step.h"
#include "layer.h"
#include "minimize.h"
#include "rcscan.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MINIMIZE_RULES 1

/* The PATH bare program names are looked up on: the recipe's last ENV
 * PATH (/etc/rc exports it), else NULL (the profile's). */
static const char *recipe_path(const struct recipe *top)
{
	for (const struct recipe *r = top; r; r = r->parent)
		for (size_t i = r->n; i-- > 0;)
			if (r->v[i].kind == IR_ENV && r->v[i].u.var.name && !strcmp(r->v[i].u.var.name, "PATH") &&
			    r->v[i].u.var.value)
				return r->v[i].u.var.value;
	return NULL;
}

/* KEEP nodes of the chain, the base's first. */
static void keep_nodes(const struct recipe *r, const struct ir_node ***v, size_t *n, size_t *cap)
{
	if (!r)
		return;
	keep_nodes(r->parent, v, n, cap);
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].kind != IR_KEEP)
			continue;
		VEC_GROW(*v, *n, *cap);
		(*v)[(*n)++] = &r->v[i];
	}
}

static int minimize_canon(struct step_plan_ctx *c, const struct ir_node *n)
{
	(void)n;
	const struct recipe *r = c->r;
	if (r != c->p->recipe || !r->set.minimize)
		return 0;
	const struct ir_node **kv = NULL;
	size_t kn = 0, kcap = 0;
	keep_nodes(r, &kv, &kn, &kcap);
	struct strbuf title, canon;
	sb_init(&title);
	sb_init(&canon);
	sb_adds(&title, "MINIMIZE");
	const char *path = recipe_path(r);
	sb_printf(&canon, "minimize rules=%d profile=%s path=%s", MINIMIZE_RULES, r->set.profile, path ? path : "-");
	bool cut = false;
	for (size_t i = 0; i < kn; i++) {
		for (size_t k = 0; k < kv[i]->u.pkgs.pats.n; k++) {
			const char *w = kv[i]->u.pkgs.pats.v[k];
			sb_printf(&canon, "\nkeep %s", w);
			if (i == 0 && k == 0)
				sb_adds(&title, " KEEP");
			/* the title fits the plan's column (44): the rest is "…" */
			if (!cut && title.len + 1 + strlen(w) <= 42)
				sb_printf(&title, " %s", w);
			else if (!cut) {
				sb_adds(&title, " …");
				cut = true;
			}
		}
	}
	free(kv);
	const struct ir_node *at = r->set.minimize_at ? r->set.minimize_at : r->set.from;
	struct plan_step *s = step_add(c, STEP_MINIMIZE, at, at->loc, sb_detach(&title));
	s->canon = sb_detach(&canon);
	return 0;
}

/* The roots of one build, with the location each one's error points at. */
struct roots {
	struct minimize_root *v;
	struct loc *locs;
	size_t n, cap;
	struct strvec own;
	struct rcscan rc, cmd;
};

static void root_add(struct roots *R, enum minimize_root_kind k, const char *arg, char *why, bool required,
		     struct loc at)
{
	if (R->n == R->cap) {
		R->cap = R->cap ? 2 * R->cap : 32;
		R->v = xrealloc(R->v, R->cap * sizeof(*R->v));
		R->locs = xrealloc(R->locs, R->cap * sizeof(*R->locs));
	}
	sv_push(&R->own, why);
	R->v[R->n] = (struct minimize_root){k, arg, why, required, NULL};
	R->locs[R->n++] = at;
}

static void roots_free(struct roots *R)
{
	free(R->v);
	free(R->locs);
	sv_free(&R->own);
	rcscan_free(&R->rc);
	rcscan_free(&R->cmd);
}

/* The location of `word` on line `line` (1-based) of a heredoc body. */
static struct loc body_line_loc(struct diag_ctx *d, struct loc body, unsigned line, const char *word)
{
	const struct srcfile *f = d && body.file ? diag_file(d, body.file) : NULL;
	if (!f || body.off > f->len)
		return body;
	size_t off = body.off, end = (size_t)body.off + body.len;
	if (end > f->len)
		end = f->len;
	for (unsigned l = 1; l < line && off < end; off++)
		if (f->data[off] == '\n')
			l++;
	size_t le = off;
	while (le < end && f->data[le] != '\n')
		le++;
	size_t wl = strlen(word);
	for (size_t p = off; wl && p + wl <= le; p++)
		if (!memcmp(f->data + p, word, wl))
			return (struct loc){body.file, (uint32_t)p, (uint32_t)wl};
	return (struct loc){body.file, (uint32_t)off, (uint32_t)(le - off)};
}

/* The programs of a CMD or ENTRYPOINT text, each an error at the node. */
static void scan_cmd(struct roots *R, const char *text, const struct ir_node *n)
{
	size_t from = R->cmd.n;
	rcscan_text(text, strlen(text), &R->cmd);
	for (size_t i = from; i < R->cmd.n; i++)
		if (!R->cmd.v[i].sourced)
			root_add(R, MROOT_PROG, R->cmd.v[i].word, xstrdup(ir_info(n->kind)->name), true, n->arg_loc);
}

static void make_roots(struct step_build_ctx *b, struct plan_step *s, struct roots *R)
{
	const struct recipe *r = s->recipe;
	const struct ir_node **kv = NULL;
	size_t kn = 0, kcap = 0;
	keep_nodes(r, &kv, &kn, &kcap);
	for (size_t i = 0; i < kn; i++) {
		for (size_t k = 0; k < kv[i]->u.pkgs.pats.n; k++) {
			const char *w = kv[i]->u.pkgs.pats.v[k];
			bool pkg = str_startswith(w, "pkg:");
			root_add(R, pkg ? MROOT_PKG : MROOT_KEEP, pkg ? w + 4 : w, xasprintf("KEEP %s", w), true,
				 kv[i]->u.pkgs.locs[k]);
		}
	}
	free(kv);
	/* RC: each program at its line */
	const struct ir_node *rc = r->set.rc;
	if (rc && rc->u.script->text) {
		const struct ir_script *sc = rc->u.script;
		rcscan_text(sc->text, strlen(sc->text), &R->rc);
		for (size_t i = 0; i < R->rc.n; i++) {
			const struct rcscan_cmd *c = &R->rc.v[i];
			struct loc at = sc->body_loc.file ? body_line_loc(b->d, sc->body_loc, c->line, c->word) : rc->arg_loc;
			char *why = sc->path ? xasprintf("RC %s line %u", sc->path, c->line) : xasprintf("RC line %u", c->line);
			if (c->sourced) {
				if (c->word[0] == '/')
					root_add(R, MROOT_SCRIPT, c->word, why, false, at);
				else
					free(why);
			} else {
				root_add(R, MROOT_PROG, c->word, why, true, at);
			}
		}
	}
	/* ENTRYPOINT, else CMD (CMD is then ENTRYPOINT's arguments), and
	 * the command composed with USER/WORKDIR (su, cd): of this recipe
	 * only, as its /etc/rc runs them */
	const struct ir_node *ep = NULL, *cmd = NULL;
	for (size_t i = 0; i < r->n; i++) {
		if (r->v[i].kind == IR_ENTRYPOINT && !ep && r->v[i].u.cmd.text)
			ep = &r->v[i];
		if (r->v[i].kind == IR_CMD && !cmd && r->v[i].u.cmd.text)
			cmd = &r->v[i];
	}
	const struct ir_node *main = ep ? ep : cmd;
	if (main) {
		scan_cmd(R, main->u.cmd.text, main);
		if (r->boot_cmd && (r->set.user || r->set.workdir))
			scan_cmd(R, r->boot_cmd, main);
	}
}

static struct minimize *compute(struct step_build_ctx *b, struct plan_step *s, struct roots *R,
				struct minimize_opts *o)
{
	memset(R, 0, sizeof(*R));
	make_roots(b, s, R);
	memset(o, 0, sizeof(*o));
	o->profile = s->recipe->set.profile;
	o->path = recipe_path(s->recipe);
	o->roots = R->v;
	o->nroots = R->n;
	return minimize_run(b->tree, o);
}

static int minimize_build(struct step_build_ctx *b, struct plan_step *s, struct layer_writer *w, struct error **err)
{
	struct roots R;
	struct minimize_opts o;
	struct minimize *m = compute(b, s, &R, &o);
	size_t nm;
	const struct minimize_msg *msgs = minimize_msgs(m, &nm);
	int rc = 0;
	for (size_t i = 0; i < nm; i++) {
		const struct minimize_msg *g = &msgs[i];
		struct loc at = g->root ? R.locs[g->root - R.v] : s->loc;
		const char *hint = g->root && g->root->kind == MROOT_PROG
					   ? "add the set or package that provides it, or fix the name; "
					     "MINIMIZE keeps only what the image has"
					   : "fix the path, or add what provides it before MINIMIZE";
		if (!g->error) {
			if (b->d)
				diag_warning(b->d, at, "MINIMIZE: %s", g->text);
		} else if (rc == 0) {
			if (g->root && g->root->kind == MROOT_PROG)
				error_at(err, at, "%s runs %s", g->root->why, g->text);
			else
				error_at(err, at, "%s", g->text);
			error_hint(err, "%s", hint);
			rc = -1;
		} else if (b->d) {
			struct diag *dg = g->root && g->root->kind == MROOT_PROG
						  ? diag_error(b->d, at, "%s runs %s", g->root->why, g->text)
						  : diag_error(b->d, at, "%s", g->text);
			diag_hint(dg, "%s", hint);
		}
	}
	struct minimize_stats st;
	if (rc == 0)
		rc = minimize_write(m, w, &st, err);
	if (rc == 0 && b->log) {
		char h1[32], h2[32];
		fprintf(b->log, "      MINIMIZE kept %" PRIu64 " files (%s), dropped %" PRIu64 " files (%s)\n",
			st.kept_files, human_bytes(st.kept_bytes, h1, sizeof(h1)), st.dropped_files,
			human_bytes(st.dropped_bytes, h2, sizeof(h2)));
	}
	minimize_free(m);
	roots_free(&R);
	return rc;
}

static void minimize_explain_step(struct step_build_ctx *b, struct plan_step *s, FILE *out)
{
	struct roots R;
	struct minimize_opts o;
	b->d = NULL; /* the build said the warnings already */
	struct minimize *m = compute(b, s, &R, &o);
	fprintf(out, "# %s: what it keeps (size in bytes, why) and drops\n", s->title);
	minimize_explain(m, out);
	minimize_free(m);
	roots_free(&R);
}

const struct step_ops step_minimize_ops = {
	.name = "minimize",
	.kind = STEP_MINIMIZE,
	.when = STEP_AFTER,
	.canon = minimize_canon,
	.build = minimize_build,
	.explain = minimize_explain_step,
};
