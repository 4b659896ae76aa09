/* step_set.c — SETS: one step per set, each unpacked into its own layer
 * (with the set's glob filters). A set is a file of the build context, a
 * URL, or a name of the release in FROM, found in the release's SHA512 list
 * (fetched once per recipe) unless the lock file pins it. A FROM
 * netbsd-<version> without SETS gets the release's default sets, in the
 * catalog's order, right after the base. */
#include "step.h"
#include "catalog.h"
#include "inputs.h"
#include "layer.h"
#include "lockfile.h"

#include <stdlib.h>
#include <string.h>

/* The release's SHA512 list. NULL when not known yet (*missing: a later
 * planning round will have it) or failed (diagnosed, *failed). */
static struct catalog_sums *release_sums(const struct plan_env *env, const struct catalog_target *t, struct diag_ctx *d,
					 struct loc at, bool *failed, bool *missing)
{
	*failed = false;
	*missing = false;
	if (!env->inputs || !t)
		return NULL;
	struct input_req req = {t->sha512_url, NULL, "check the NetBSD version in FROM", NULL};
	struct error *err = NULL;
	char *text = NULL;
	size_t len = 0;
	switch (inputs_text(env->inputs, &req, 0, &text, &len, &err)) {
	case INPUT_FAILED:
		diag_error_record(d, at, err);
		*failed = true;
		error_clear(&err);
		return NULL;
	case INPUT_MISSING:
		*missing = true;
		return NULL;
	case INPUT_OK:
		break;
	}
	struct catalog_sums *s = catalog_sums_parse(text, len, t->sha512_url, &err);
	if (!s) {
		diag_error_record(d, at, err);
		*failed = true;
		error_clear(&err);
	}
	free(text);
	return s;
}

static void add_set(struct step_plan_ctx *c, const struct ir_set *set, const struct ir_node *n)
{
	struct strbuf title, canon;
	sb_init(&title);
	sb_init(&canon);
	sb_printf(&title, "SETS %s", set->ref);
	for (size_t g = 0; g < set->globs.n; g++)
		sb_printf(&title, "%s%s", g ? "," : ":", set->globs.v[g]);
	/* content-addressed: the set's name, path or URL is not in the key,
	 * its digest (the input's) is — the same bytes elsewhere are CACHED */
	sb_adds(&canon, "set");
	for (size_t g = 0; g < set->globs.n; g++)
		sb_printf(&canon, " filter=%s", set->globs.v[g]);
	struct plan_step *s = step_add(c, STEP_SET, n, set->loc, sb_detach(&title));
	s->set = set;
	s->canon = sb_detach(&canon);
}

/* n NULL: a netbsd base without SETS gets the release's default sets (the
 * plan owns them: the build reads them through step->set) */
static int set_canon(struct step_plan_ctx *c, const struct ir_node *n)
{
	if (n) {
		for (size_t k = 0; k < n->u.sets.n; k++)
			add_set(c, &n->u.sets.v[k], n);
		return 0;
	}
	const struct recipe *r = c->r;
	const struct ir_node *from = r->set.from;
	struct plan *p = c->p;
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].kind == IR_SETS)
			return 0;
	if (from->u.from.kind != BASE_NETBSD || !p->target || p->default_sets)
		return 0;
	size_t nd = p->target->default_sets.n;
	p->default_sets = xcalloc(nd + 1, sizeof(*p->default_sets));
	for (size_t k = 0; k < nd; k++) {
		p->default_sets[k].loc = from->loc;
		p->default_sets[k].src = SRC_NAME;
		p->default_sets[k].ref = p->target->default_sets.v[k];
	}
	for (size_t k = 0; k < nd; k++)
		add_set(c, &p->default_sets[k], from);
	return 0;
}

static int set_inputs(struct step_plan_ctx *c, struct plan_step *s)
{
	struct diag_ctx *d = c->d;
	struct plan *p = c->p;
	const struct recipe *r = c->r;
	const struct plan_env *env = c->env;
	const struct ir_set *set = s->set;
	char *pin = set->sha256 ? xasprintf("sha256:%s", set->sha256) : NULL;
	int rc = 0;
	char *what = xasprintf("set %s", set->ref);
	switch (set->src) {
	case SRC_PATH: {
		char *full = path_join(r->dir, set->ref);
		struct plan_input *in = plan_add_input(s, what, set->ref);
		step_input_local(env, in, full, NULL);
		if (pin && in->digest && strcmp(pin, in->digest)) {
			struct diag *g = diag_error(d, set->loc, "set file '%s' does not match its pinned digest: expected %s, got %s",
						    set->ref, pin, in->digest);
			diag_hint(g, "update the sha256: pin or restore the file");
			rc = -1;
		}
		free(full);
		break;
	}
	case SRC_URL: {
		struct plan_input *in = plan_add_input(s, what, set->ref);
		const struct lock_rec *lr = pin ? NULL : lockfile_input(env->lock, s->title, what);
		rc = step_input_fetch(env, in, pin ? pin : lr && !strcmp(lr->url, set->ref) ? lr->digest : NULL,
				      "check the set URL", r->dir, d, set->loc);
		break;
	}
	case SRC_NAME: {
		if (!p->target) {
			plan_add_input(s, what, NULL);
			break;
		}
		char *local = catalog_local_set(p->target, r->dir, env->datadir, set->ref, NULL);
		if (local) {
			struct plan_input *in = plan_add_input(s, what, local);
			step_input_local(env, in, local, NULL);
			free(local);
			break;
		}
		const struct lock_rec *lr = pin ? NULL : lockfile_input(env->lock, s->title, what);
		if (lr) {
			struct plan_input *in = plan_add_input(s, what, lr->url);
			rc = step_input_fetch(env, in, lr->digest, "check the NetBSD version and set name (pinned by the lock file)",
					      NULL, d, set->loc);
			break;
		}
		/* the SHA512 list: looked up once per recipe; after a failure
		 * (reported once) the sets are not fetched unverified */
		if (c->sums_state == 0) {
			bool failed, missing;
			c->sums = release_sums(env, p->target, d, s->node->loc, &failed, &missing);
			c->sums_state = failed ? 2 : missing && inputs_resolving(env->inputs) ? 3 : 1;
		}
		if (c->sums_state == 2)
			rc = -1;
		if (c->sums_state == 3) {
			/* the list names the set's file and pins it: ask for the
			 * set once it is resolved (the next planning round) */
			plan_add_input(s, what, NULL);
			break;
		}
		char *url = NULL;
		const struct catalog_sum *sum = NULL;
		if (c->sums) {
			struct error *err = NULL;
			sum = catalog_sums_find_set(c->sums, set->ref, p->target->sha512_url, &err);
			if (!sum) {
				struct diag *g = diag_error_record(d, set->loc, err);
				diag_hint(g, "check the set name and the release in FROM");
				error_clear(&err);
				rc = -1;
			}
		}
		url = catalog_set_url(p->target, sum ? sum->name : set->ref);
		struct plan_input *in = plan_add_input(s, what, url);
		if (sum && !pin)
			in->digest = xasprintf("%s:%s", sum->alg, sum->hex);
		if (rc == 0) {
			char *dg = pin ? xstrdup(pin) : in->digest ? xstrdup(in->digest) : NULL;
			rc = step_input_fetch(env, in, dg, "check the NetBSD version and set name", NULL, d, set->loc);
			free(dg);
		}
		free(url);
		break;
	}
	}
	for (size_t k = 0; k < s->nin; k++)
		s->in[k].key_name = "set";
	free(what);
	free(pin);
	return rc;
}

static int set_build(struct step_build_ctx *b, struct plan_step *s, struct layer_writer *w, struct error **err)
{
	const struct plan_input *in = &s->in[0];
	if (!in->path) {
		error_set(err, "%s: the set was not fetched", s->title);
		return -1;
	}
	const char **globs = NULL;
	if (s->set->globs.n) {
		globs = xcalloc(s->set->globs.n + 1, sizeof(char *));
		for (size_t i = 0; i < s->set->globs.n; i++)
			globs[i] = s->set->globs.v[i];
	}
	struct layer_import_opts io;
	memset(&io, 0, sizeof(io));
	io.label = path_basename(in->source ? in->source : in->path);
	io.globs = globs;
	if (b->log) {
		fprintf(b->log, "      unpacking %s\n", io.label);
		fflush(b->log);
	}
	int rc = layer_import_archive(w, in->path, &io, err);
	free(globs);
	return rc;
}

const struct step_ops step_set_ops = {
	.name = "sets",
	.kind = STEP_SET,
	.when = STEP_BEFORE | STEP_ON_INSTR,
	.instr = IR_SETS,
	.canon = set_canon,
	.inputs = set_inputs,
	.build = set_build,
};
