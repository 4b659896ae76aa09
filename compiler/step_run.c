/* step_run.c — RUN: a shell script run inside a builder micro-VM booted
 * from the image built so far (builder.h); what it changes is the layer.
 * The key covers the script, its options, the SERVICE and ARCH it sees,
 * every ENV and ARG of the recipe, the profile, memory and APPEND the VM
 * boots with, and the kernel's digest (a RUN stays pending until the
 * kernel is known). Also the builder helpers PKGS uses for +INSTALL. */
#include "step.h"
#include "builder.h"
#include "digest.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* "RUN <first line of the script>", cut to fit a plan line. */
static char *run_title(const char *text)
{
	const char *s = text ? text : "";
	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	size_t n = strcspn(s, "\n");
	struct strbuf sb;
	sb_init(&sb);
	sb_adds(&sb, "RUN ");
	size_t i = 0, shown = 0;
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c & 0xc0) != 0x80 && ++shown > 40)
			break; /* cut at a character boundary */
		sb_addc(&sb, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
	const char *rest = s + n;
	while (*rest == ' ' || *rest == '\t' || *rest == '\n')
		rest++;
	if (i < n || *rest)
		sb_adds(&sb, " …");
	sb_cstr(&sb);
	return sb_detach(&sb);
}

/* The WORKDIR and USER in effect at RUN node n of recipe r (the last ones
 * before it; Dockerfile's rule), or NULL. *user is the part before ':'
 * (malloc'd). */
static const char *run_workdir(const struct recipe *r, const struct ir_node *n, char **user)
{
	const char *wd = NULL;
	*user = NULL;
	for (const struct ir_node *v = r->v; v < n && v < r->v + r->n; v++) {
		if (v->kind == IR_WORKDIR && v->u.str)
			wd = v->u.str;
		if (v->kind == IR_USER && v->u.str) {
			free(*user);
			*user = xstrndup(v->u.str, strcspn(v->u.str, ":"));
		}
	}
	return wd;
}

static int run_canon(struct step_plan_ctx *c, const struct ir_node *n)
{
	const struct recipe *r = c->r;
	const struct ir_script *sc = n->u.script;
	struct plan_step *s = step_add(c, STEP_RUN, n, n->loc, run_title(sc->text));
	struct strbuf canon;
	sb_init(&canon);
	sb_printf(&canon, "run network=%d timeout=%u service=%s arch=%s", sc->network, sc->timeout, r->set.service,
		  r->set.arch);
	/* the builder VM boots with these (the kernel's digest is run_key's) */
	sb_printf(&canon, " profile=%s mem=%" PRIu64 " append=%s", r->set.profile, sc->mem_mib,
		  r->set.append ? r->set.append : "");
	if (sc->chown.spec)
		sb_printf(&canon, " chown=%s", sc->chown.spec);
	char *user;
	const char *wd = run_workdir(r, n, &user);
	if (wd)
		sb_printf(&canon, " workdir=%s", wd);
	if (user)
		sb_printf(&canon, " user=%s", user);
	free(user);
	sb_printf(&canon, " env=sha256:%s", step_envs_digest(c));
	s->canon = sb_detach(&canon);
	return 0;
}

/* the builder VM boots the recipe's kernel (and initrd): their digests,
 * then the epoch */
static bool run_key(const struct plan *p, const struct plan_step *s, struct digest *dg)
{
	if (!p->kernel.digest || (p->initrd.what && !p->initrd.digest))
		return false;
	digest_update_str(dg, p->kernel.digest);
	if (p->initrd.what) {
		digest_update_str(dg, "initrd");
		digest_update_str(dg, p->initrd.digest);
	}
	return step_key_epoch(p, s, dg);
}

int step_builder_can_boot(struct step_build_ctx *b, const char *what, const char *where, struct error **err)
{
	/* nothing boots without a kernel, a shell to run the script and an
	 * init to run /etc/rc: say so before booting */
	static const char *const need[][2] = {{"/bin/sh", "the script runs with it"},
					      {"/sbin/init", "it runs /etc/rc at boot"}};
	for (size_t i = 0; i < ARRAY_LEN(need); i++) {
		if (!fstree_lookup(b->tree, need[i][0])) {
			error_set(err, "%s: the image built so far has no %s (%s), so the builder VM cannot run the script",
				  what, need[i][0], need[i][1]);
			error_hint(err, "add a set or a package that provides it before %s", where);
			return -1;
		}
	}
	if (!b->p->kernel.path) {
		error_set(err, "%s: the kernel to boot the builder VM was not fetched", what);
		return -1;
	}
	if (b->p->initrd.what && !b->p->initrd.path) {
		error_set(err, "%s: the initrd to boot the builder VM was not fetched", what);
		return -1;
	}
	return 0;
}

void step_builder_defaults(struct step_build_ctx *b, const struct plan_step *s, struct builder_opts *bo,
			   struct strvec *env)
{
	const struct recipe_settings *rs = &b->p->recipe->set;
	for (size_t i = 0; i < s->recipe->n; i++) {
		const struct ir_node *n = &s->recipe->v[i];
		if ((n->kind == IR_ENV || n->kind == IR_ARG) && n->u.var.name && n->u.var.value)
			sv_push(env, xasprintf("%s=%s", n->u.var.name, n->u.var.value));
	}
	memset(bo, 0, sizeof(*bo));
	bo->what = s->title;
	bo->profile = rs->profile;
	bo->service = s->recipe->set.service;
	bo->arch = rs->arch;
	bo->kernel = b->p->kernel.path;
	bo->initrd = b->p->initrd.what ? b->p->initrd.path : NULL;
	bo->append = rs->append;
	bo->env = env;
	bo->mem_mib = (unsigned)rs->mem_mib;
	bo->cpus = rs->cpus;
	bo->size_bytes = rs->size_auto ? 0 : rs->size_bytes;
	bo->headroom_bytes = rs->size_auto ? rs->size_bytes : 0;
	bo->epoch = (int64_t)b->p->epoch;
	bo->seed = s->key;
	bo->log = b->log;
	bo->verbose = b->verbose;
	bo->launcher = b->launcher;
}

static int run_build(struct step_build_ctx *b, struct plan_step *s, struct layer_writer *w, struct error **err)
{
	const struct ir_script *sc = s->node->u.script;
	if (step_builder_can_boot(b, "RUN", "the RUN", err) < 0)
		return -1;
	struct strvec env = {0};
	struct builder_opts bo;
	step_builder_defaults(b, s, &bo, &env);
	bo.what = "RUN";
	bo.script = sc->text;
	char *user;
	bo.workdir = run_workdir(s->recipe, s->node, &user);
	bo.user = user;
	bo.network = sc->network;
	bo.timeout = sc->timeout;
	if (sc->mem_mib)
		bo.mem_mib = (unsigned)sc->mem_mib;
	bo.hint_timeout = "raise it with RUN --timeout=<seconds>";
	int rc = builder_run(b->cache, b->tree, w, &bo, err);
	sv_free(&env);
	free(user);
	return rc;
}

const struct step_ops step_run_ops = {
	.name = "run",
	.kind = STEP_RUN,
	.when = STEP_ON_INSTR,
	.instr = IR_RUN,
	.canon = run_canon,
	.inputs = step_script_input,
	.key = run_key,
	.build = run_build,
};
