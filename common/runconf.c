/* runconf.c — read and write the run config YAML (see runconf.h).
 *
 * Design: writing goes through libyaml's event emitter into a strbuf,
 * then write_file_atomic (temp + fsync + rename). Reading loads the whole
 * document with yaml_parser_load and walks the root mapping; each value is
 * checked where it is read, so errors carry the value's own line:column.
 * Validation shared by both directions lives in runconf_validate. */
#include "runconf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util.h"

#define RUNCONF_MAX_BYTES (1u << 20)

struct runconf *runconf_new(void)
{
	return xcalloc(1, sizeof(struct runconf));
}

void runconf_port_clear(struct runconf_port *p)
{
	if (!p)
		return;
	free(p->host_addr);
	p->host_addr = NULL;
}

void runconf_free(struct runconf *rc)
{
	if (!rc)
		return;
	free(rc->service);
	free(rc->arch);
	free(rc->machine);
	free(rc->profile);
	free(rc->kernel);
	free(rc->kernel_sha256);
	free(rc->initrd);
	free(rc->initrd_sha256);
	free(rc->image);
	free(rc->image_sha256);
	free(rc->cmdline);
	free(rc->console);
	for (size_t i = 0; i < rc->nports; i++)
		runconf_port_clear(&rc->ports[i]);
	free(rc->ports);
	for (size_t i = 0; i < rc->nshares; i++) {
		free(rc->shares[i].host_path);
		free(rc->shares[i].tag);
		free(rc->shares[i].guest_path);
	}
	free(rc->shares);
	for (size_t i = 0; i < rc->nlabels; i++) {
		free(rc->labels[i].key);
		free(rc->labels[i].value);
	}
	free(rc->labels);
	free(rc->console_device);
	free(rc->bridge);
	for (size_t i = 0; i < rc->ndrives; i++)
		free(rc->drives[i].path);
	free(rc->drives);
	for (size_t i = 0; i < rc->nfwcfg; i++) {
		free(rc->fwcfg[i].name);
		free(rc->fwcfg[i].value);
	}
	free(rc->fwcfg);
	sv_free(&rc->qemu_args);
	free(rc->build_key);
	sv_free(&rc->build_args);
	free(rc->path);
	free(rc->dir);
	free(rc);
}

void runconf_add_port(struct runconf *rc, const char *host_addr,
		      unsigned host_port, unsigned guest_port,
		      enum runconf_proto proto)
{
	VEC_GROW(rc->ports, rc->nports, rc->ports_cap);
	struct runconf_port *p = &rc->ports[rc->nports++];
	p->host_addr = xstrdup(host_addr && *host_addr ? host_addr : RUNCONF_DEFAULT_HOST_ADDR);
	p->host_port = host_port;
	p->guest_port = guest_port;
	p->proto = proto;
}

void runconf_add_share(struct runconf *rc, const char *host_path,
		       const char *tag, const char *guest_path, bool readonly)
{
	VEC_GROW(rc->shares, rc->nshares, rc->shares_cap);
	struct runconf_share *s = &rc->shares[rc->nshares++];
	s->host_path = xstrdup(host_path);
	s->tag = xstrdup(tag);
	s->guest_path = guest_path ? xstrdup(guest_path) : NULL;
	s->readonly = readonly;
}

void runconf_add_drive(struct runconf *rc, const char *path, bool readonly)
{
	VEC_GROW(rc->drives, rc->ndrives, rc->drives_cap);
	rc->drives[rc->ndrives].path = xstrdup(path);
	rc->drives[rc->ndrives].readonly = readonly;
	rc->ndrives++;
}

void runconf_set_fwcfg(struct runconf *rc, const char *name, const char *value, bool is_file)
{
	for (size_t i = 0; i < rc->nfwcfg; i++) {
		if (!strcmp(rc->fwcfg[i].name, name) && rc->fwcfg[i].is_file == is_file) {
			free(rc->fwcfg[i].value);
			rc->fwcfg[i].value = xstrdup(value);
			return;
		}
	}
	VEC_GROW(rc->fwcfg, rc->nfwcfg, rc->fwcfg_cap);
	rc->fwcfg[rc->nfwcfg].name = xstrdup(name);
	rc->fwcfg[rc->nfwcfg].value = xstrdup(value);
	rc->fwcfg[rc->nfwcfg].is_file = is_file;
	rc->nfwcfg++;
}

bool runconf_fwcfg_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > 40)
		return false;
	for (; *name; name++)
		if (!((*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z') ||
		      (*name >= '0' && *name <= '9') || *name == '_'))
			return false;
	return true;
}

void runconf_set_label(struct runconf *rc, const char *key, const char *value)
{
	for (size_t i = 0; i < rc->nlabels; i++) {
		if (!strcmp(rc->labels[i].key, key)) {
			free(rc->labels[i].value);
			rc->labels[i].value = xstrdup(value);
			return;
		}
	}
	VEC_GROW(rc->labels, rc->nlabels, rc->labels_cap);
	rc->labels[rc->nlabels].key = xstrdup(key);
	rc->labels[rc->nlabels].value = xstrdup(value);
	rc->nlabels++;
}

/* Parse a decimal port 1..65535 from [s, s+n). */
static int parse_port_num(const char *s, size_t n, unsigned *out)
{
	if (n == 0 || n > 5)
		return -1;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*out = v;
	return 0;
}

int runconf_parse_port(const char *spec, struct runconf_port *out, struct error **err)
{
	memset(out, 0, sizeof(*out));
	char *s = xstrdup(spec);
	char *addr = NULL;
	enum runconf_proto proto = RUNCONF_TCP;
	char *slash = strrchr(s, '/');
	if (slash) {
		if (!strcmp(slash + 1, "tcp"))
			proto = RUNCONF_TCP;
		else if (!strcmp(slash + 1, "udp"))
			proto = RUNCONF_UDP;
		else {
			error_set(err, "port \"%s\": protocol must be tcp or udp, not \"%s\"", spec, slash + 1);
			goto fail;
		}
		*slash = 0;
	}
	char *rest = s;
	if (s[0] == '[') {
		char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			error_set(err, "port \"%s\": expected [ADDR]:HOST:GUEST", spec);
			goto fail;
		}
		addr = xstrndup(s + 1, (size_t)(close - s - 1));
		rest = close + 2;
	} else {
		/* ADDR:H:G or H:G */
		char *c1 = strchr(s, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2) {
			addr = xstrndup(s, (size_t)(c1 - s));
			rest = c1 + 1;
		}
	}
	char *colon = strchr(rest, ':');
	if (!colon || strchr(colon + 1, ':')) {
		error_set(err, "port \"%s\": expected [ADDR:]HOST:GUEST[/tcp|/udp]", spec);
		goto fail;
	}
	unsigned h, g;
	if (parse_port_num(rest, (size_t)(colon - rest), &h) < 0 ||
	    parse_port_num(colon + 1, strlen(colon + 1), &g) < 0) {
		error_set(err, "port \"%s\": ports must be numbers from 1 to 65535", spec);
		goto fail;
	}
	if (addr && !*addr) {
		error_set(err, "port \"%s\": empty host address", spec);
		goto fail;
	}
	out->host_addr = addr ? addr : xstrdup(RUNCONF_DEFAULT_HOST_ADDR);
	out->host_port = h;
	out->guest_port = g;
	out->proto = proto;
	free(s);
	return 0;
fail:
	free(addr);
	free(s);
	return -1;
}

char *runconf_default_cmdline(const char *profile, const char *service,
			      bool readonly)
{
	if (profile && !strcmp(profile, "linux"))
		return xasprintf("console=ttyS0 root=PARTLABEL=%sroot %s reboot=t panic=-1", service,
				 readonly ? "ro" : "rw");
	return xasprintf("console=com root=NAME=%sroot -z", service);
}

const char *runconf_machine(const struct runconf *rc)
{
	if (rc->machine)
		return rc->machine;
	return rc->arch && !strcmp(rc->arch, "evbarm-aarch64") ? "virt" : "microvm";
}

const char *runconf_profile(const struct runconf *rc)
{
	return rc->profile ? rc->profile : "netbsd";
}

unsigned runconf_memory(const struct runconf *rc)
{
	return rc->memory_mib ? rc->memory_mib : RUNCONF_DEFAULT_MEMORY;
}

unsigned runconf_cpus(const struct runconf *rc)
{
	return rc->cpus ? rc->cpus : RUNCONF_DEFAULT_CPUS;
}

const char *runconf_console(const struct runconf *rc)
{
	return rc->console ? rc->console : "stdio";
}

char *runconf_cmdline(const struct runconf *rc)
{
	if (rc->cmdline)
		return xstrdup(rc->cmdline);
	return runconf_default_cmdline(rc->profile, rc->service ? rc->service : "", rc->readonly);
}

char *runconf_resolve(const struct runconf *rc, const char *p)
{
	if (!p)
		return NULL;
	if (p[0] == '/' || !rc->dir)
		return xstrdup(p);
	return path_join(rc->dir, p);
}

static bool is_sha256(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

static bool one_of(const char *s, const char *const *names)
{
	for (size_t i = 0; names[i]; i++)
		if (!strcmp(s, names[i]))
			return true;
	return false;
}

static const char *const ARCHES[] = {"amd64", "i386", "evbarm-aarch64", NULL};
static const char *const MACHINES[] = {"microvm", "virt", NULL};
static const char *const PROFILES[] = {"netbsd", "linux", NULL};

/* Console spec: stdio | pty | none | tcp:PORT | file:PATH */
static bool console_ok(const char *c)
{
	unsigned p;
	if (!strcmp(c, "stdio") || !strcmp(c, "pty") || !strcmp(c, "none"))
		return true;
	if (str_startswith(c, "tcp:"))
		return parse_port_num(c + 4, strlen(c + 4), &p) == 0;
	if (str_startswith(c, "file:"))
		return c[5] != 0;
	return false;
}

static bool tag_ok(const char *t)
{
	if (!*t || strlen(t) > 31)
		return false;
	for (; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
		      (*t >= '0' && *t <= '9') || *t == '_' || *t == '-' || *t == '.'))
			return false;
	return true;
}

int runconf_validate(const struct runconf *rc, struct error **err)
{
	if (!rc->service || !*rc->service)
		return error_set(err, "missing required key 'service'"), -1;
	if (!rc->arch)
		return error_set(err, "missing required key 'arch'"), -1;
	if (!one_of(rc->arch, ARCHES))
		return error_set(err, "arch \"%s\": expected amd64, i386 or evbarm-aarch64", rc->arch), -1;
	if (rc->machine && !one_of(rc->machine, MACHINES))
		return error_set(err, "machine \"%s\": expected microvm or virt", rc->machine), -1;
	if (rc->profile && !one_of(rc->profile, PROFILES))
		return error_set(err, "profile \"%s\": expected netbsd or linux", rc->profile), -1;
	if (!rc->kernel || !*rc->kernel)
		return error_set(err, "missing required key 'kernel'"), -1;
	if (!rc->image || !*rc->image)
		return error_set(err, "missing required key 'image'"), -1;
	if (rc->kernel_sha256 && !is_sha256(rc->kernel_sha256))
		return error_set(err, "kernel_sha256: expected 64 lowercase hex digits"), -1;
	if (rc->image_sha256 && !is_sha256(rc->image_sha256))
		return error_set(err, "image_sha256: expected 64 lowercase hex digits"), -1;
	if (rc->initrd && !*rc->initrd)
		return error_set(err, "initrd: expected a file name"), -1;
	if (rc->initrd_sha256 && !is_sha256(rc->initrd_sha256))
		return error_set(err, "initrd_sha256: expected 64 lowercase hex digits"), -1;
	if (rc->console && !console_ok(rc->console))
		return error_set(err, "console \"%s\": expected stdio, pty, none, tcp:PORT or file:PATH", rc->console), -1;
	for (size_t i = 0; i < rc->nports; i++) {
		const struct runconf_port *p = &rc->ports[i];
		if (!p->host_port || p->host_port > 65535 || !p->guest_port || p->guest_port > 65535)
			return error_set(err, "ports: port numbers must be from 1 to 65535"), -1;
		for (size_t j = 0; j < i; j++)
			if (rc->ports[j].host_port == p->host_port && rc->ports[j].proto == p->proto &&
			    !strcmp(rc->ports[j].host_addr, p->host_addr))
				return error_set(err, "ports: host port %u is published twice", p->host_port), -1;
	}
	if (rc->console_device && strcmp(rc->console_device, "com") && strcmp(rc->console_device, "viocon"))
		return error_set(err, "console_device \"%s\": expected com or viocon", rc->console_device), -1;
	if (rc->console_ports > 30)
		return error_set(err, "console_ports: at most 30"), -1;
	for (size_t i = 0; i < rc->nfwcfg; i++)
		if (!runconf_fwcfg_name_ok(rc->fwcfg[i].name))
			return error_set(err, "fw_cfg: name \"%s\" must be 1-40 letters, digits or '_'", rc->fwcfg[i].name), -1;
	for (size_t i = 0; i < rc->ndrives; i++)
		if (!rc->drives[i].path || !*rc->drives[i].path)
			return error_set(err, "drives: missing path"), -1;
	if (rc->bridge && !tag_ok(rc->bridge))
		return error_set(err, "bridge \"%s\": expected an interface name (letters, digits, '_', '-', '.')", rc->bridge), -1;
	for (size_t i = 0; i < rc->nshares; i++) {
		if (!rc->shares[i].host_path || !*rc->shares[i].host_path)
			return error_set(err, "shares: missing host path"), -1;
		if (!rc->shares[i].tag || !tag_ok(rc->shares[i].tag))
			return error_set(err, "shares: tag \"%s\" must be 1-31 letters, digits, '_', '-' or '.'",
						rc->shares[i].tag ? rc->shares[i].tag : ""), -1;
	}
	return 0;
}

/* ---- writing ---- */

static int yaml_sb_write(void *data, unsigned char *buffer, size_t size)
{
	sb_add(data, (const char *)buffer, size);
	return 1;
}

struct emitter {
	yaml_emitter_t e;
	bool failed;
};

static void emit(struct emitter *em, yaml_event_t *ev, int init_ok)
{
	if (em->failed)
		return;
	if (!init_ok || !yaml_emitter_emit(&em->e, ev))
		em->failed = true;
}

static void emit_scalar(struct emitter *em, const char *s, bool quoted)
{
	yaml_event_t ev;
	int ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s),
					      !quoted, quoted,
					      quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE);
	emit(em, &ev, ok);
}

static void emit_kv_str(struct emitter *em, const char *k, const char *v, bool quoted)
{
	if (!v)
		return;
	emit_scalar(em, k, false);
	emit_scalar(em, v, quoted);
}

static void emit_kv_uint(struct emitter *em, const char *k, unsigned v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%u", v);
	emit_kv_str(em, k, buf, false);
}

static void emit_map_start(struct emitter *em, bool flow)
{
	yaml_event_t ev;
	int ok = yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
						     flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
	emit(em, &ev, ok);
}

static void emit_map_end(struct emitter *em)
{
	yaml_event_t ev;
	emit(em, &ev, yaml_mapping_end_event_initialize(&ev));
}

static void emit_seq_start(struct emitter *em)
{
	yaml_event_t ev;
	emit(em, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
}

static void emit_seq_end(struct emitter *em)
{
	yaml_event_t ev;
	emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
}

int runconf_to_yaml(const struct runconf *rc, char **yaml_out, struct error **err)
{
	if (runconf_validate(rc, err) < 0)
		return -1;
	struct strbuf sb;
	sb_init(&sb);
	struct emitter em = {.failed = false};
	if (!yaml_emitter_initialize(&em.e)) {
		error_set(err, "cannot initialize the YAML emitter");
		return -1;
	}
	yaml_emitter_set_output(&em.e, yaml_sb_write, &sb);
	yaml_emitter_set_unicode(&em.e, 1);
	yaml_emitter_set_width(&em.e, -1);
	yaml_event_t ev;
	emit(&em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	emit(&em, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	emit_map_start(&em, false);
	emit_kv_str(&em, "version", "1", false);
	emit_kv_str(&em, "service", rc->service, true);
	emit_kv_str(&em, "arch", rc->arch, false);
	emit_kv_str(&em, "machine", runconf_machine(rc), false);
	emit_kv_str(&em, "profile", runconf_profile(rc), false);
	emit_kv_str(&em, "kernel", rc->kernel, true);
	emit_kv_str(&em, "kernel_sha256", rc->kernel_sha256, true);
	emit_kv_str(&em, "initrd", rc->initrd, true);
	emit_kv_str(&em, "initrd_sha256", rc->initrd_sha256, true);
	emit_kv_str(&em, "image", rc->image, true);
	emit_kv_str(&em, "image_sha256", rc->image_sha256, true);
	emit_kv_uint(&em, "memory", runconf_memory(rc));
	emit_kv_uint(&em, "cpus", runconf_cpus(rc));
	char *cmdline = runconf_cmdline(rc);
	emit_kv_str(&em, "cmdline", cmdline, true);
	free(cmdline);
	emit_kv_str(&em, "console", runconf_console(rc), true);
	emit_kv_str(&em, "readonly", rc->readonly ? "true" : "false", false);
	emit_scalar(&em, "ports", false);
	emit_seq_start(&em);
	for (size_t i = 0; i < rc->nports; i++) {
		emit_map_start(&em, true);
		emit_kv_str(&em, "host_addr", rc->ports[i].host_addr, true);
		emit_kv_uint(&em, "host", rc->ports[i].host_port);
		emit_kv_uint(&em, "guest", rc->ports[i].guest_port);
		emit_kv_str(&em, "proto", rc->ports[i].proto == RUNCONF_UDP ? "udp" : "tcp", false);
		emit_map_end(&em);
	}
	emit_seq_end(&em);
	emit_scalar(&em, "shares", false);
	emit_seq_start(&em);
	for (size_t i = 0; i < rc->nshares; i++) {
		emit_map_start(&em, true);
		emit_kv_str(&em, "host", rc->shares[i].host_path, true);
		emit_kv_str(&em, "tag", rc->shares[i].tag, true);
		emit_kv_str(&em, "guest", rc->shares[i].guest_path, true);
		emit_kv_str(&em, "readonly", rc->shares[i].readonly ? "true" : "false", false);
		emit_map_end(&em);
	}
	emit_seq_end(&em);
	emit_scalar(&em, "labels", false);
	emit_map_start(&em, false);
	for (size_t i = 0; i < rc->nlabels; i++)
		emit_kv_str(&em, rc->labels[i].key, rc->labels[i].value, true);
	emit_map_end(&em);
	emit_kv_str(&em, "console_device", rc->console_device, false);
	if (rc->console_ports)
		emit_kv_uint(&em, "console_ports", rc->console_ports);
	if (rc->no_network)
		emit_kv_str(&em, "network", "none", false);
	emit_kv_str(&em, "bridge", rc->bridge, true);
	if (rc->share_rw)
		emit_kv_str(&em, "share_rw", "true", false);
	if (rc->ndrives) {
		emit_scalar(&em, "drives", false);
		emit_seq_start(&em);
		for (size_t i = 0; i < rc->ndrives; i++) {
			emit_map_start(&em, true);
			emit_kv_str(&em, "path", rc->drives[i].path, true);
			emit_kv_str(&em, "readonly", rc->drives[i].readonly ? "true" : "false", false);
			emit_map_end(&em);
		}
		emit_seq_end(&em);
	}
	if (rc->nfwcfg) {
		emit_scalar(&em, "fw_cfg", false);
		emit_seq_start(&em);
		for (size_t i = 0; i < rc->nfwcfg; i++) {
			emit_map_start(&em, true);
			emit_kv_str(&em, rc->fwcfg[i].is_file ? "file" : "var", rc->fwcfg[i].name, false);
			emit_kv_str(&em, rc->fwcfg[i].is_file ? "path" : "value", rc->fwcfg[i].value, true);
			emit_map_end(&em);
		}
		emit_seq_end(&em);
	}
	if (rc->qemu_args.n) {
		emit_scalar(&em, "qemu_args", false);
		emit_seq_start(&em);
		for (size_t i = 0; i < rc->qemu_args.n; i++)
			emit_scalar(&em, rc->qemu_args.v[i], true);
		emit_seq_end(&em);
	}
	emit_kv_str(&em, "build_key", rc->build_key, true);
	if (rc->build_args.n) {
		emit_scalar(&em, "build_args", false);
		emit_seq_start(&em);
		for (size_t i = 0; i < rc->build_args.n; i++)
			emit_scalar(&em, rc->build_args.v[i], true);
		emit_seq_end(&em);
	}
	emit_map_end(&em);
	emit(&em, &ev, yaml_document_end_event_initialize(&ev, 1));
	emit(&em, &ev, yaml_stream_end_event_initialize(&ev));
	if (!em.failed && !yaml_emitter_flush(&em.e))
		em.failed = true;
	if (em.failed) {
		error_set(err, "cannot emit the run config: %s",
				 em.e.problem ? em.e.problem : "YAML emitter error");
		yaml_emitter_delete(&em.e);
		sb_free(&sb);
		return -1;
	}
	yaml_emitter_delete(&em.e);
	sb_cstr(&sb);
	*yaml_out = sb_detach(&sb);
	return 0;
}

int runconf_write(const struct runconf *rc, const char *path, struct error **err)
{
	char *text = NULL;
	if (runconf_to_yaml(rc, &text, err) < 0)
		return error_prefix(err, "%s", path);
	int r = write_file_atomic(path, text, strlen(text), 0644);
	if (r < 0)
		error_set(err, "%s: cannot write the run config: %s", path, strerror(errno));
	free(text);
	return r;
}

/* ---- reading ---- */

struct reader {
	const char *name;
	yaml_document_t *doc;
	struct strvec *warnings;
	struct error **err;
};

static int node_err(struct reader *r, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int node_err(struct reader *r, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	error_set(r->err, "%s:%zu:%zu: %s", r->name, n->start_mark.line + 1,
			    n->start_mark.column + 1, msg);
	free(msg);
	return -1;
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static int get_str(struct reader *r, const yaml_node_t *n, const char *key, char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return node_err(r, n, "'%s' must be a string", key);
	free(*out);
	*out = xstrdup(scalar(n));
	return 0;
}

static int get_uint(struct reader *r, const yaml_node_t *n, const char *key,
		    unsigned min, unsigned max, unsigned *out)
{
	if (n->type != YAML_SCALAR_NODE)
		return node_err(r, n, "'%s' must be a number", key);
	const char *s = scalar(n);
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || s[0] == '-' || v < min || v > max)
		return node_err(r, n, "'%s' must be a number from %u to %u, not \"%s\"", key, min, max, s);
	*out = (unsigned)v;
	return 0;
}

static int get_bool(struct reader *r, const yaml_node_t *n, const char *key, bool *out)
{
	if (n->type == YAML_SCALAR_NODE) {
		const char *s = scalar(n);
		if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "yes"))
			return *out = true, 0;
		if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "no"))
			return *out = false, 0;
	}
	return node_err(r, n, "'%s' must be true or false", key);
}

static int get_enum(struct reader *r, const yaml_node_t *n, const char *key,
		    const char *const *names, char **out)
{
	if (n->type != YAML_SCALAR_NODE || !one_of(scalar(n), names)) {
		struct strbuf sb;
		sb_init(&sb);
		for (size_t i = 0; names[i]; i++)
			sb_printf(&sb, "%s%s", i ? ", " : "", names[i]);
		int rr = node_err(r, n, "'%s' must be one of %s, not \"%s\"", key, sb_cstr(&sb),
				  n->type == YAML_SCALAR_NODE ? scalar(n) : "(not a string)");
		sb_free(&sb);
		return rr;
	}
	free(*out);
	*out = xstrdup(scalar(n));
	return 0;
}

static void warn_unknown(struct reader *r, const yaml_node_t *k, const char *where)
{
	if (!r->warnings)
		return;
	sv_push(r->warnings, xasprintf("%s:%zu:%zu: warning: unknown key '%s'%s%s", r->name,
				       k->start_mark.line + 1, k->start_mark.column + 1,
				       k->type == YAML_SCALAR_NODE ? scalar(k) : "?",
				       where ? " in " : "", where ? where : ""));
}

static int read_port(struct reader *r, struct runconf *rc, yaml_node_t *n)
{
	if (n->type == YAML_SCALAR_NODE) {
		/* Short form: "8080:80" */
		struct runconf_port p;
		struct error *e = NULL;
		if (runconf_parse_port(scalar(n), &p, &e) < 0) {
			node_err(r, n, "%s", error_msg(e));
			error_clear(&e);
			return -1;
		}
		runconf_add_port(rc, p.host_addr, p.host_port, p.guest_port, p.proto);
		runconf_port_clear(&p);
		return 0;
	}
	if (n->type != YAML_MAPPING_NODE)
		return node_err(r, n, "each port must be a mapping {host_addr, host, guest, proto}");
	char *addr = NULL, *proto = NULL;
	unsigned h = 0, g = 0;
	int rv = 0;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(r->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(r->doc, pr->value);
		const char *key = k->type == YAML_SCALAR_NODE ? scalar(k) : "";
		if (!strcmp(key, "host_addr"))
			rv = get_str(r, v, key, &addr);
		else if (!strcmp(key, "host"))
			rv = get_uint(r, v, key, 1, 65535, &h);
		else if (!strcmp(key, "guest"))
			rv = get_uint(r, v, key, 1, 65535, &g);
		else if (!strcmp(key, "proto")) {
			static const char *const protos[] = {"tcp", "udp", NULL};
			rv = get_enum(r, v, key, protos, &proto);
		} else
			warn_unknown(r, k, "a port");
		if (rv < 0)
			goto out;
	}
	if (!h || !g) {
		rv = node_err(r, n, "a port needs both 'host' and 'guest'");
		goto out;
	}
	runconf_add_port(rc, addr, h, g, proto && !strcmp(proto, "udp") ? RUNCONF_UDP : RUNCONF_TCP);
out:
	free(addr);
	free(proto);
	return rv;
}

static int read_share(struct reader *r, struct runconf *rc, yaml_node_t *n)
{
	if (n->type != YAML_MAPPING_NODE)
		return node_err(r, n, "each share must be a mapping {host, tag, guest}");
	char *host = NULL, *tag = NULL, *guest = NULL;
	bool ro = false;
	int rv = 0;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(r->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(r->doc, pr->value);
		const char *key = k->type == YAML_SCALAR_NODE ? scalar(k) : "";
		if (!strcmp(key, "host"))
			rv = get_str(r, v, key, &host);
		else if (!strcmp(key, "tag"))
			rv = get_str(r, v, key, &tag);
		else if (!strcmp(key, "guest"))
			rv = get_str(r, v, key, &guest);
		else if (!strcmp(key, "readonly"))
			rv = get_bool(r, v, key, &ro);
		else
			warn_unknown(r, k, "a share");
		if (rv < 0)
			goto out;
	}
	if (!host || !*host || !tag || !tag_ok(tag)) {
		rv = node_err(r, n, "a share needs 'host' and a 'tag' of 1-31 letters, digits, '_', '-' or '.'");
		goto out;
	}
	runconf_add_share(rc, host, tag, guest, ro);
out:
	free(host);
	free(tag);
	free(guest);
	return rv;
}

static int read_drive(struct reader *r, struct runconf *rc, yaml_node_t *n)
{
	if (n->type != YAML_MAPPING_NODE)
		return node_err(r, n, "each drive must be a mapping {path, readonly}");
	char *path = NULL;
	bool ro = false;
	int rv = 0;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top && !rv; pr++) {
		yaml_node_t *k = yaml_document_get_node(r->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(r->doc, pr->value);
		const char *key = k->type == YAML_SCALAR_NODE ? scalar(k) : "";
		if (!strcmp(key, "path"))
			rv = get_str(r, v, key, &path);
		else if (!strcmp(key, "readonly"))
			rv = get_bool(r, v, key, &ro);
		else
			warn_unknown(r, k, "a drive");
	}
	if (!rv && (!path || !*path))
		rv = node_err(r, n, "a drive needs a 'path'");
	if (!rv)
		runconf_add_drive(rc, path, ro);
	free(path);
	return rv;
}

static int read_fwcfg(struct reader *r, struct runconf *rc, yaml_node_t *n)
{
	if (n->type != YAML_MAPPING_NODE)
		return node_err(r, n, "each fw_cfg entry must be {var: NAME, value: V} or {file: NAME, path: P}");
	char *var = NULL, *file = NULL, *value = NULL, *path = NULL;
	int rv = 0;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top && !rv; pr++) {
		yaml_node_t *k = yaml_document_get_node(r->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(r->doc, pr->value);
		const char *key = k->type == YAML_SCALAR_NODE ? scalar(k) : "";
		if (!strcmp(key, "var"))
			rv = get_str(r, v, key, &var);
		else if (!strcmp(key, "file"))
			rv = get_str(r, v, key, &file);
		else if (!strcmp(key, "value"))
			rv = get_str(r, v, key, &value);
		else if (!strcmp(key, "path"))
			rv = get_str(r, v, key, &path);
		else
			warn_unknown(r, k, "a fw_cfg entry");
	}
	const char *name = var ? var : file;
	if (!rv && (!name || (var && file) || (var && !value) || (file && !path)))
		rv = node_err(r, n, "a fw_cfg entry is {var: NAME, value: V} or {file: NAME, path: P}");
	else if (!rv && !runconf_fwcfg_name_ok(name))
		rv = node_err(r, n, "fw_cfg name \"%s\" must be 1-40 letters, digits or '_'", name);
	if (!rv)
		runconf_set_fwcfg(rc, name, var ? value : path, !var);
	free(var);
	free(file);
	free(value);
	free(path);
	return rv;
}

static int read_root(struct reader *r, struct runconf *rc, yaml_node_t *root)
{
	if (root->type != YAML_MAPPING_NODE)
		return node_err(r, root, "the run config must be a mapping of keys");
	for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(r->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(r->doc, pr->value);
		if (k->type != YAML_SCALAR_NODE)
			return node_err(r, k, "keys must be strings");
		const char *key = scalar(k);
		int rv = 0;
		unsigned version;
		if (!strcmp(key, "version")) {
			rv = get_uint(r, v, key, 1, 1, &version);
		} else if (!strcmp(key, "service")) {
			rv = get_str(r, v, key, &rc->service);
			if (!rv && !*rc->service)
				rv = node_err(r, v, "'service' must not be empty");
		} else if (!strcmp(key, "arch"))
			rv = get_enum(r, v, key, ARCHES, &rc->arch);
		else if (!strcmp(key, "machine"))
			rv = get_enum(r, v, key, MACHINES, &rc->machine);
		else if (!strcmp(key, "profile"))
			rv = get_enum(r, v, key, PROFILES, &rc->profile);
		else if (!strcmp(key, "kernel"))
			rv = get_str(r, v, key, &rc->kernel);
		else if (!strcmp(key, "image"))
			rv = get_str(r, v, key, &rc->image);
		else if (!strcmp(key, "initrd")) {
			rv = get_str(r, v, key, &rc->initrd);
			if (!rv && !*rc->initrd)
				rv = node_err(r, v, "'initrd' must not be empty");
		} else if (!strcmp(key, "kernel_sha256") || !strcmp(key, "image_sha256") ||
			   !strcmp(key, "initrd_sha256")) {
			char **dst = key[0] == 'k' ? &rc->kernel_sha256 : key[1] == 'm' ? &rc->image_sha256
											 : &rc->initrd_sha256;
			rv = get_str(r, v, key, dst);
			if (!rv && !is_sha256(*dst))
				rv = node_err(r, v, "'%s' must be 64 lowercase hex digits", key);
		} else if (!strcmp(key, "memory"))
			rv = get_uint(r, v, key, 16, 1u << 20, &rc->memory_mib);
		else if (!strcmp(key, "cpus"))
			rv = get_uint(r, v, key, 1, 256, &rc->cpus);
		else if (!strcmp(key, "cmdline"))
			rv = get_str(r, v, key, &rc->cmdline);
		else if (!strcmp(key, "console")) {
			rv = get_str(r, v, key, &rc->console);
			if (!rv && !console_ok(rc->console))
				rv = node_err(r, v, "'console' must be stdio, pty, none, tcp:PORT or file:PATH, not \"%s\"",
					      rc->console);
		} else if (!strcmp(key, "readonly"))
			rv = get_bool(r, v, key, &rc->readonly);
		else if (!strcmp(key, "build_key"))
			rv = get_str(r, v, key, &rc->build_key);
		else if (!strcmp(key, "console_device")) {
			static const char *const devs[] = {"com", "viocon", NULL};
			rv = get_enum(r, v, key, devs, &rc->console_device);
		} else if (!strcmp(key, "console_ports"))
			rv = get_uint(r, v, key, 0, 30, &rc->console_ports);
		else if (!strcmp(key, "network")) {
			static const char *const nets[] = {"user", "none", NULL};
			char *net = NULL;
			rv = get_enum(r, v, key, nets, &net);
			rc->no_network = net && !strcmp(net, "none");
			free(net);
		} else if (!strcmp(key, "bridge")) {
			rv = get_str(r, v, key, &rc->bridge);
			if (!rv && !tag_ok(rc->bridge))
				rv = node_err(r, v, "'bridge' must be an interface name, not \"%s\"", rc->bridge);
		} else if (!strcmp(key, "share_rw"))
			rv = get_bool(r, v, key, &rc->share_rw);
		else if (!strcmp(key, "drives") || !strcmp(key, "fw_cfg")) {
			bool drives = key[0] == 'd';
			if (v->type == YAML_SCALAR_NODE && !*scalar(v))
				continue;
			if (v->type != YAML_SEQUENCE_NODE)
				return node_err(r, v, "'%s' must be a list", key);
			for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
				yaml_node_t *item = yaml_document_get_node(r->doc, *it);
				rv = drives ? read_drive(r, rc, item) : read_fwcfg(r, rc, item);
				if (rv < 0)
					return -1;
			}
		} else if (!strcmp(key, "qemu_args")) {
			if (v->type == YAML_SCALAR_NODE && !*scalar(v))
				continue;
			if (v->type != YAML_SEQUENCE_NODE)
				return node_err(r, v, "'qemu_args' must be a list of strings");
			for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
				yaml_node_t *item = yaml_document_get_node(r->doc, *it);
				if (item->type != YAML_SCALAR_NODE)
					return node_err(r, item, "each of 'qemu_args' must be a string");
				sv_pushdup(&rc->qemu_args, scalar(item));
			}
		} else if (!strcmp(key, "build_args")) {
			if (v->type == YAML_SCALAR_NODE && !*scalar(v))
				continue;
			if (v->type != YAML_SEQUENCE_NODE)
				return node_err(r, v, "'build_args' must be a list of \"NAME=VALUE\"");
			for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
				yaml_node_t *item = yaml_document_get_node(r->doc, *it);
				if (item->type != YAML_SCALAR_NODE || !strchr(scalar(item), '='))
					return node_err(r, item, "each of 'build_args' must be \"NAME=VALUE\"");
				sv_pushdup(&rc->build_args, scalar(item));
			}
		}
		else if (!strcmp(key, "ports") || !strcmp(key, "shares")) {
			bool ports = key[0] == 'p';
			if (v->type == YAML_SCALAR_NODE && !*scalar(v))
				continue; /* "ports:" with nothing */
			if (v->type != YAML_SEQUENCE_NODE)
				return node_err(r, v, "'%s' must be a list", key);
			for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
				yaml_node_t *item = yaml_document_get_node(r->doc, *it);
				rv = ports ? read_port(r, rc, item) : read_share(r, rc, item);
				if (rv < 0)
					return -1;
			}
		} else if (!strcmp(key, "labels")) {
			if (v->type == YAML_SCALAR_NODE && !*scalar(v))
				continue;
			if (v->type != YAML_MAPPING_NODE)
				return node_err(r, v, "'labels' must be a mapping");
			for (yaml_node_pair_t *lp = v->data.mapping.pairs.start; lp < v->data.mapping.pairs.top; lp++) {
				yaml_node_t *lk = yaml_document_get_node(r->doc, lp->key);
				yaml_node_t *lv = yaml_document_get_node(r->doc, lp->value);
				if (lk->type != YAML_SCALAR_NODE || lv->type != YAML_SCALAR_NODE)
					return node_err(r, lk, "labels must be string: string");
				runconf_set_label(rc, scalar(lk), scalar(lv));
			}
		} else
			warn_unknown(r, k, NULL);
		if (rv < 0)
			return -1;
	}
	static const char *const required[] = {"service", "arch", "kernel", "image"};
	const char *have[] = {rc->service, rc->arch, rc->kernel, rc->image};
	for (size_t i = 0; i < ARRAY_LEN(required); i++)
		if (!have[i] || !*have[i])
			return node_err(r, root, "missing required key '%s'", required[i]);
	/* Cross-field checks (duplicate ports ...), reported at the root. */
	struct error *e = NULL;
	if (runconf_validate(rc, &e) < 0) {
		node_err(r, root, "%s", error_msg(e));
		error_clear(&e);
		return -1;
	}
	return 0;
}

int runconf_parse(const char *name, const char *dir, const char *text,
		  size_t len, struct runconf **out, struct strvec *warnings,
		  struct error **err)
{
	yaml_parser_t p;
	yaml_document_t doc;
	struct runconf *rc = NULL;
	int rv = -1;
	if (!yaml_parser_initialize(&p)) {
		error_set(err, "%s: cannot initialize the YAML parser", name);
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &doc)) {
		yaml_mark_t m = p.problem_mark;
		error_set(err, "%s:%zu:%zu: invalid YAML: %s%s%s", name, m.line + 1, m.column + 1,
				 p.problem ? p.problem : "syntax error",
				 p.context ? " " : "", p.context ? p.context : "");
		yaml_parser_delete(&p);
		return -1;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		error_set(err, "%s:1:1: the run config is empty", name);
		goto out;
	}
	rc = runconf_new();
	struct reader r = {.name = name, .doc = &doc, .warnings = warnings, .err = err};
	if (read_root(&r, rc, root) < 0)
		goto out;
	rc->path = xstrdup(name);
	rc->dir = dir ? xstrdup(dir) : NULL;
	*out = rc;
	rc = NULL;
	rv = 0;
out:
	runconf_free(rc);
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return rv;
}

int runconf_read(const char *path, struct runconf **out,
		 struct strvec *warnings, struct error **err)
{
	char *text = NULL;
	size_t len = 0;
	if (read_file(path, RUNCONF_MAX_BYTES, &text, &len) < 0) {
		error_set(err, "%s: cannot read the run config: %s", path, strerror(errno));
		return -1;
	}
	char *dir = path_dirname(path);
	int rv = runconf_parse(path, dir, text, len, out, warnings, err);
	free(dir);
	free(text);
	return rv;
}
