/* step_base.c — the FROM step: the base the image starts from. It adds no
 * files (FROM scratch is empty, a release's files come from its sets, and
 * FROM <recipe> reuses the base recipe's layers, planned before this
 * recipe's); it names the base in the key and, for FROM netbsd-<version>,
 * finds the release on the recipe's architecture in the catalog
 * (plan->target), which the sets, PKGS and the kernel use. */
#include "step.h"
#include "catalog.h"

#include <stdlib.h>

static int base_canon(struct step_plan_ctx *c, const struct ir_node *n)
{
	const struct ir_node *from = c->r->set.from;
	if (from->u.from.kind == BASE_RECIPE)
		return 0; /* the base recipe's chain is planned already */
	struct plan_step *s = step_add(c, STEP_BASE, from, from->loc, xasprintf("FROM %s", from->u.from.name));
	s->canon = xasprintf("base %s arch=%s", from->u.from.name, c->r->set.arch);
	return 0;
}

static int base_inputs(struct step_plan_ctx *c, struct plan_step *s)
{
	const struct ir_node *from = s->node;
	if (from->u.from.kind != BASE_NETBSD || !c->env->catalog)
		return 0;
	struct error *err = NULL;
	catalog_target_free(c->p->target);
	c->p->target = catalog_target(c->env->catalog, from->u.from.version, c->r->set.arch, c->env->mirror, &err);
	if (!c->p->target) {
		struct diag *g = diag_error_record(c->d, from->arg_loc, err);
		diag_hint(g, "the releases smolc knows are listed in sets/catalog.yaml");
		error_clear(&err);
		return -1;
	}
	return 0;
}

static int base_build(struct step_build_ctx *b, struct plan_step *s, struct layer_writer *w, struct error **err)
{
	return 0; /* an empty layer */
}

const struct step_ops step_base_ops = {
	.name = "base",
	.kind = STEP_BASE,
	.when = STEP_BEFORE,
	.canon = base_canon,
	.inputs = base_inputs,
	.build = base_build,
};
