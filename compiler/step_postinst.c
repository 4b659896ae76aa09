/* step_postinst.c — POSTINST: a script run in a sandbox against the image
 * built so far (postinst.c); what it changes is the layer. The key covers
 * the script, its options, the SERVICE and ARCH it sees and every ENV and
 * ARG of the recipe (its environment). */
#include "step.h"
#include "digest.h"
#include "postinst.h"

#include <stdlib.h>
#include <string.h>

static int postinst_canon(struct step_plan_ctx *c, const struct ir_node *n)
{
	const struct recipe *r = c->r;
	struct plan_step *s = step_add(c, STEP_POSTINST, n, n->loc,
				       n->u.script->path ? xasprintf("POSTINST %s", n->u.script->path)
							 : xstrdup("POSTINST"));
	struct strbuf canon;
	sb_init(&canon);
	sb_printf(&canon, "postinst network=%d timeout=%u service=%s arch=%s", n->u.script->network, n->u.script->timeout,
		  r->set.service, r->set.arch);
	if (n->u.script->chown.spec)
		sb_printf(&canon, " chown=%s", n->u.script->chown.spec);
	/* the key covers every ENV and ARG of the recipe (the script's
	 * environment, postinst_argv) */
	sb_printf(&canon, " env=sha256:%s", step_envs_digest(c));
	s->canon = sb_detach(&canon);
	return 0;
}

static int postinst_build(struct step_build_ctx *b, struct plan_step *s, struct layer_writer *w, struct error **err)
{
	struct postinst_opts po;
	memset(&po, 0, sizeof(po));
	po.script = s->node->u.script->text;
	po.network = s->node->u.script->network;
	po.timeout = s->node->u.script->timeout;
	/* the recipe the POSTINST is in, also when it is a base recipe: its
	 * layer's key has that recipe's SERVICE, so it is shared with every
	 * recipe built FROM it */
	po.service = s->recipe->set.service;
	po.arch = s->recipe->set.arch;
	po.recipe = s->recipe;
	po.log = b->log;
	int64_t uid, gid;
	if (step_owner(b, "POSTINST", &s->node->u.script->chown, &uid, &gid, err) < 0)
		return -1;
	po.new_uid = (uint32_t)uid;
	po.new_gid = (uint32_t)gid;
	return postinst_run(b->cache, b->tree, w, &po, err);
}

const struct step_ops step_postinst_ops = {
	.name = "postinst",
	.kind = STEP_POSTINST,
	.when = STEP_ON_INSTR,
	.instr = IR_POSTINST,
	.canon = postinst_canon,
	.inputs = step_script_input,
	.key = step_key_epoch,
	.build = postinst_build,
};
