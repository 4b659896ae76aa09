/* plan.c — see plan.h. */
#include "plan.h"
#include "cache.h"
#include "catalog.h"
#include "digest.h"
#include "digestmemo.h"
#include "inputs.h"
#include "jout.h"
#include "lockfile.h"
#include "pkgs.h"
#include "step.h"
#include "exitcode.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_EPOCH 1735689600ull /* 2025-01-01T00:00:00Z */

const char *step_kind_name(enum step_kind k)
{
	return step_ops_of(k)->name;
}

static void input_free(struct plan_input *in)
{
	free(in->what);
	free(in->source);
	free(in->path);
	free(in->digest);
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		struct plan_step *s = &p->v[i];
		free(s->title);
		free(s->canon);
		for (size_t k = 0; k < s->nin; k++)
			input_free(&s->in[k]);
		free(s->in);
		free(s->text);
	}
	free(p->v);
	input_free(&p->kernel);
	input_free(&p->initrd);
	catalog_target_free(p->target);
	free(p->default_sets);
	pkgs_state_free(p->pkgs);
	free(p);
}

/* Plan one recipe: its base recipe's chain first (FROM <recipe>), then
 * three passes over the table of step kinds (step.h): the kinds that add
 * steps before the instructions, each instruction in source order, the
 * kinds that add steps after them. After each canon(), inputs() of every
 * step it added. Errors are queued and planning goes on. */
static int plan_recipe(struct diag_ctx *d, struct plan *p, const struct recipe *r, const struct plan_env *env)
{
	int rc = 0;
	const struct ir_node *from = r->set.from;
	if (!from)
		return -1;
	if (from->u.from.kind == BASE_RECIPE) {
		if (!r->parent)
			return -1;
		if (plan_recipe(d, p, r->parent, env) < 0)
			rc = -1;
	}
	struct step_plan_ctx c;
	memset(&c, 0, sizeof(c));
	c.d = d;
	c.p = p;
	c.r = r;
	c.env = env;
	static const unsigned passes[] = {STEP_BEFORE, STEP_ON_INSTR, STEP_AFTER};
	for (size_t pass = 0; pass < ARRAY_LEN(passes); pass++) {
		size_t nnodes = passes[pass] == STEP_ON_INSTR ? r->n : 1;
		for (size_t i = 0; i < nnodes; i++) {
			const struct ir_node *n = passes[pass] == STEP_ON_INSTR ? &r->v[i] : NULL;
			for (size_t k = 0; k < STEP_NKINDS; k++) {
				const struct step_ops *ops = step_kinds[k];
				if (!(ops->when & passes[pass]) || (n && ops->instr != n->kind))
					continue;
				size_t first = p->n;
				if (ops->canon(&c, n) < 0)
					rc = -1;
				for (size_t s = first; s < p->n && ops->inputs; s++)
					if (ops->inputs(&c, &p->v[s]) < 0)
						rc = -1;
			}
		}
	}
	catalog_sums_free(c.sums);
	return rc;
}

static int plan_kernel(struct diag_ctx *d, struct plan *p, const struct plan_env *env)
{
	const struct recipe *r = p->recipe;
	const struct ir_node *k = r->set.kernel;
	struct plan_input *in = &p->kernel;
	in->what = xstrdup("kernel");
	const struct recipe *kr = r;
	while (k && kr && !(kr->set.kernel == k && (kr->parent == NULL || kr->parent->set.kernel != k)))
		kr = kr->parent;
	const char *kdir = kr ? kr->dir : r->dir;
	if (k && k->u.kernel.src == SRC_PATH) {
		in->source = xstrdup(k->u.kernel.ref);
		char *full = path_join(kdir, k->u.kernel.ref);
		step_input_local(env, in, full, NULL);
		free(full);
		return 0;
	}
	char *pin = k && k->u.kernel.sha256 ? xasprintf("sha256:%s", k->u.kernel.sha256) : NULL;
	const struct lock_rec *lr = pin ? NULL : lockfile_input(env->lock, "KERNEL", "kernel");
	if (lr && (!k || k->u.kernel.src != SRC_URL || !strcmp(lr->url, k->u.kernel.ref))) {
		in->source = xstrdup(lr->url);
		return step_input_fetch(env, in, lr->digest, "check the kernel (pinned by the lock file)", kdir, d,
				   k ? k->arg_loc : r->set.from->loc);
	}
	if (k && k->u.kernel.src == SRC_URL) {
		in->source = xstrdup(k->u.kernel.ref);
		int rc = step_input_fetch(env, in, pin, "check the KERNEL URL", kdir, d, k->arg_loc);
		free(pin);
		return rc;
	}
	/* by name, or the catalog's default for the arch */
	if (!env->catalog) {
		in->source = xstrdup(k ? k->u.kernel.ref : "(default)");
		free(pin);
		return 0;
	}
	struct catalog_target *t = p->target;
	struct catalog_target *own = NULL;
	struct error *err = NULL;
	if (!t) {
		t = own = catalog_target(env->catalog, catalog_default_release(env->catalog), r->set.arch, env->mirror, &err);
		if (!t) {
			diag_error_record(d, k ? k->arg_loc : r->set.from->loc, err);
			error_clear(&err);
			free(pin);
			return -1;
		}
	}
	char *url = NULL, *sumurl = NULL;
	int rc = 0;
	if (catalog_kernel(env->catalog, t, k ? k->u.kernel.ref : NULL, &url, &sumurl, &err) < 0) {
		struct diag *g = diag_error_record(d, k ? k->arg_loc : r->set.from->loc, err);
		diag_hint(g, "name a kernel the catalog knows, or give KERNEL a URL or a path");
		error_clear(&err);
		rc = -1;
	} else {
		in->source = xstrdup(url);
		bool later = false; /* the pin is not resolved yet: ask for the kernel next round */
		if (!pin && sumurl && env->inputs) {
			struct input_req req = {sumurl, NULL, "the kernel's .sha256 file is missing", NULL};
			char *text = NULL;
			size_t len = 0;
			enum input_state st = inputs_text(env->inputs, &req, 1 << 16, &text, &len, &err);
			if (st == INPUT_OK) {
				char hex[65];
				if (catalog_parse_sha256(text, len, path_basename(url), sumurl, hex, &err) == 0)
					pin = xasprintf("sha256:%s", hex);
				else if (inputs_resolving(env->inputs))
					diag_error_record(d, k ? k->arg_loc : r->set.from->loc, err), rc = -1;
			} else if (st == INPUT_FAILED) {
				diag_error_record(d, k ? k->arg_loc : r->set.from->loc, err), rc = -1;
			} else {
				later = inputs_resolving(env->inputs);
			}
			error_clear(&err);
			free(text);
		}
		if (rc == 0 && !later)
			rc = step_input_fetch(env, in, pin, "check the kernel name", NULL, d, k ? k->arg_loc : r->set.from->loc);
	}
	free(url);
	free(sumurl);
	free(pin);
	catalog_target_free(own);
	return rc;
}

/* INITRD <path|URL> [sha256:<hex>]: a file beside the kernel, not part of
 * the image (it does not change the image key). */
static int plan_initrd(struct diag_ctx *d, struct plan *p, const struct plan_env *env)
{
	const struct recipe *r = p->recipe;
	const struct ir_node *k = r->set.initrd;
	if (!k || !k->u.kernel.ref)
		return 0;
	struct plan_input *in = &p->initrd;
	in->what = xstrdup("initrd");
	const struct recipe *kr = r;
	while (kr && !(kr->set.initrd == k && (kr->parent == NULL || kr->parent->set.initrd != k)))
		kr = kr->parent;
	const char *kdir = kr ? kr->dir : r->dir;
	in->source = xstrdup(k->u.kernel.ref);
	if (k->u.kernel.src == SRC_PATH) {
		char *full = path_join(kdir, k->u.kernel.ref);
		step_input_local(env, in, full, NULL);
		free(full);
		return 0;
	}
	char *pin = k->u.kernel.sha256 ? xasprintf("sha256:%s", k->u.kernel.sha256) : NULL;
	const struct lock_rec *lr = pin ? NULL : lockfile_input(env->lock, "INITRD", "initrd");
	int rc;
	if (lr && !strcmp(lr->url, k->u.kernel.ref))
		rc = step_input_fetch(env, in, lr->digest, "check the initrd (pinned by the lock file)", kdir, d, k->arg_loc);
	else
		rc = step_input_fetch(env, in, pin, "check the INITRD URL", kdir, d, k->arg_loc);
	free(pin);
	return rc;
}

void plan_rekey(struct plan *p)
{
	const char *parent = "";
	bool pending = false;
	for (size_t i = 0; i < p->n; i++) {
		struct plan_step *s = &p->v[i];
		for (size_t k = 0; k < s->nin; k++)
			if (!s->in[k].digest)
				pending = true;
		if (pending) {
			s->key[0] = 0;
			continue;
		}
		struct digest *dg = digest_new(DIGEST_SHA256);
		digest_update_str(dg, "smolc-layer-v1");
		digest_update_str(dg, parent);
		const struct step_ops *ops = step_ops_of(s->kind);
		digest_update_str(dg, ops->name);
		digest_update_str(dg, s->canon ? s->canon : "");
		if (ops->key && !ops->key(p, s, dg)) {
			/* key material not known yet (RUN: the kernel's digest) */
			digest_free(dg);
			pending = true;
			s->key[0] = 0;
			continue;
		}
		for (size_t k = 0; k < s->nin; k++) {
			digest_update_str(dg, s->in[k].key_name ? s->in[k].key_name : s->in[k].what);
			digest_update_str(dg, s->in[k].digest ? s->in[k].digest : "");
		}
		digest_final_hex(dg, s->key);
		parent = s->key;
	}
	p->image_key[0] = 0;
	if (!pending && p->n) {
		const struct recipe_settings *st = &p->recipe->set;
		struct digest *dg = digest_new(DIGEST_SHA256);
		char buf[256];
		digest_update_str(dg, "smolc-image-v1");
		digest_update_str(dg, p->v[p->n - 1].key);
		snprintf(buf, sizeof(buf), "service=%s arch=%s profile=%s size=%s%" PRIu64 " epoch=%" PRIu64, st->service, st->arch,
			 st->profile, st->size_auto ? "auto+" : "", st->size_bytes, p->epoch);
		digest_update_str(dg, buf);
		digest_final_hex(dg, p->image_key);
	}
}

int plan_make(struct diag_ctx *d, struct recipe *r, const struct plan_env *env, struct plan **out)
{
	struct plan *p = xcalloc(1, sizeof(*p));
	p->recipe = r;
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	p->epoch = DEFAULT_EPOCH;
	if (sde && *sde) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(sde, &end, 10);
		if (errno || *end)
			diag_warning(d, (struct loc){0, 0, 0}, "SOURCE_DATE_EPOCH='%s' is not a number of seconds; using %llu", sde,
				     (unsigned long long)DEFAULT_EPOCH);
		else
			p->epoch = v;
	}
	size_t before = d->errors;
	struct plan_env e = *env;
	e.memo = dmemo_open(env->cache ? cache_root(env->cache) : NULL, r->path);
	plan_recipe(d, p, r, &e);
	plan_kernel(d, p, &e);
	plan_initrd(d, p, &e);
	dmemo_close(e.memo, d->errors == before);
	plan_rekey(p);
	*out = p;
	if (d->errors == before)
		return 0;
	p->recipe_only = p->recipe_errors > 0 && d->errors - before == p->recipe_errors;
	return -1;
}

int plan_exit_code(const struct plan *p)
{
	return p && p->recipe_only ? EXIT_USAGE : EXIT_FAIL;
}

/* ---- output ---- */

static void where(const struct diag_ctx *d, struct loc l, char *buf, size_t n)
{
	const struct srcfile *f = diag_file(d, l.file);
	if (!f) {
		snprintf(buf, n, "-");
		return;
	}
	size_t line, col;
	diag_linecol(d, l, &line, &col);
	snprintf(buf, n, "%s:%zu", f->path, line);
}

void plan_print_text(const struct plan *p, const struct diag_ctx *d, FILE *out)
{
	const struct recipe *r = p->recipe;
	const struct recipe_settings *st = &r->set;
	char hb[32];
	fprintf(out, "plan for %s\n", r->path);
	fprintf(out, "  service  %s\n", st->service);
	fprintf(out, "  arch     %s\n", st->arch);
	fprintf(out, "  profile  %s\n", st->profile);
	fprintf(out, "  base     %s%s%s\n", st->from->u.from.name, p->target ? "  release " : "",
		p->target ? p->target->release : "");
	fprintf(out, "  kernel   %s  %s\n", p->kernel.source ? p->kernel.source : "?", p->kernel.digest ? p->kernel.digest : "pending");
	if (p->initrd.what)
		fprintf(out, "  initrd   %s  %s\n", p->initrd.source, p->initrd.digest ? p->initrd.digest : "pending");
	if (st->size_auto)
		fprintf(out, "  size     auto (content + 10%% + %s)\n", human_bytes(st->size_bytes, hb, sizeof(hb)));
	else
		fprintf(out, "  size     %s\n", human_bytes(st->size_bytes, hb, sizeof(hb)));
	fprintf(out, "  memory   %" PRIu64 " MiB, %u CPU%s%s\n", st->mem_mib, st->cpus, st->cpus > 1 ? "s" : "",
		st->readonly ? ", read-only root" : "");
	for (size_t i = 0; i < r->n; i++) {
		const struct ir_node *n = &r->v[i];
		if (n->kind == IR_PORTS)
			for (size_t k = 0; k < n->u.ports.n; k++)
				fprintf(out, "  port     %s:%u -> %u/%s\n", n->u.ports.v[k].host_addr, n->u.ports.v[k].host,
					n->u.ports.v[k].guest, n->u.ports.v[k].udp ? "udp" : "tcp");
		if (n->kind == IR_SHARE)
			fprintf(out, "  share    %s -> %s\n", n->u.share.host, n->u.share.guest);
		if (n->kind == IR_FWCFG && n->u.fwcfg.name) {
			char *v = str_escape(n->u.fwcfg.value); /* the recipe's text, for a terminal */
			fprintf(out, "  fw_cfg   opt/org.smolbsd.%s.%s %s %s\n", n->u.fwcfg.is_file ? "file" : "var",
				n->u.fwcfg.name, n->u.fwcfg.is_file ? "<" : "=", v);
			free(v);
		}
	}
	if (st->console)
		fprintf(out, "  console  %s\n", st->console);
	if (r->boot_cmd) /* composed from ENTRYPOINT, CMD, USER, WORKDIR */
		fprintf(out, "  boot     %s\n", r->boot_cmd);
	fprintf(out, "steps\n");
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->v[i];
		char w[256];
		where(d, s->loc, w, sizeof(w));
		fprintf(out, "  %2zu  %-44s %s\n", i + 1, s->title, w);
		for (size_t k = 0; k < s->nin; k++)
			fprintf(out, "        input  %s  %s  %s\n", s->in[k].what, s->in[k].source ? s->in[k].source : "-",
				s->in[k].digest ? s->in[k].digest : "pending");
		fprintf(out, "        layer  %s\n", s->key[0] ? s->key : "pending");
	}
	if (st->tag)
		fprintf(out, "image  images/%s.img  %s\n", st->tag, p->image_key[0] ? p->image_key : "pending");
	else
		fprintf(out, "image  images/%s-%s.img  %s\n", st->service, st->arch, p->image_key[0] ? p->image_key : "pending");
}


void plan_print_json(const struct plan *p, const struct diag_ctx *d, FILE *out)
{
	const struct recipe *r = p->recipe;
	const struct recipe_settings *st = &r->set;
	json_t *o = json_object();
	json_object_set_new(o, "recipe", jout_str(r->path));
	json_object_set_new(o, "service", jout_str(st->service));
	json_object_set_new(o, "arch", jout_str(st->arch));
	json_object_set_new(o, "profile", jout_str(st->profile));
	json_object_set_new(o, "base", jout_str(st->from->u.from.name));
	json_object_set_new(o, "release", jout_str(p->target ? p->target->release : NULL));
	json_object_set_new(o, "kernel", json_pack("{s:o,s:o}", "source", jout_str(p->kernel.source), "digest",
						  jout_str(p->kernel.digest)));
	if (p->initrd.what)
		json_object_set_new(o, "initrd", json_pack("{s:o,s:o}", "source", jout_str(p->initrd.source), "digest",
							  jout_str(p->initrd.digest)));
	json_object_set_new(o, "size", json_pack("{s:b,s:I}", "auto", st->size_auto, "bytes", (json_int_t)st->size_bytes));
	json_object_set_new(o, "memory_mib", json_integer((json_int_t)st->mem_mib));
	json_object_set_new(o, "cpus", json_integer(st->cpus));
	json_object_set_new(o, "readonly", json_boolean(st->readonly));
	json_t *ports = json_array();
	for (size_t i = 0; i < r->n; i++) {
		const struct ir_node *n = &r->v[i];
		if (n->kind != IR_PORTS)
			continue;
		for (size_t k = 0; k < n->u.ports.n; k++)
			json_array_append_new(ports, json_pack("{s:o,s:i,s:i,s:s}", "host_addr",
							       jout_str(n->u.ports.v[k].host_addr), "host",
							       (int)n->u.ports.v[k].host, "guest", (int)n->u.ports.v[k].guest,
							       "proto", n->u.ports.v[k].udp ? "udp" : "tcp"));
	}
	json_object_set_new(o, "ports", ports);
	json_t *fw = json_array();
	for (size_t i = 0; i < r->n; i++) {
		const struct ir_node *n = &r->v[i];
		if (n->kind != IR_FWCFG || !n->u.fwcfg.name)
			continue;
		json_array_append_new(fw, json_pack("{s:o,s:o}", n->u.fwcfg.is_file ? "file" : "var",
						    jout_str(n->u.fwcfg.name), n->u.fwcfg.is_file ? "path" : "value",
						    jout_str(n->u.fwcfg.value)));
	}
	json_object_set_new(o, "fw_cfg", fw);
	json_t *steps = json_array();
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->v[i];
		char w[256];
		where(d, s->loc, w, sizeof(w));
		json_t *in = json_array();
		for (size_t k = 0; k < s->nin; k++)
			json_array_append_new(in, json_pack("{s:o,s:o,s:o}", "what", jout_str(s->in[k].what), "source",
							    jout_str(s->in[k].source), "digest", jout_str(s->in[k].digest)));
		json_array_append_new(steps, json_pack("{s:I,s:s,s:o,s:o,s:o,s:o}", "n", (json_int_t)(i + 1), "kind",
						       step_kind_name(s->kind), "title", jout_str(s->title), "at",
						       jout_str(w), "inputs", in, "layer",
						       jout_str(s->key[0] ? s->key : NULL)));
	}
	json_object_set_new(o, "steps", steps);
	json_object_set_new(o, "image", jout_str(p->image_key[0] ? p->image_key : NULL));
	jout_print(out, o, "\n");
}
