/* cmd_registry.c — `smolc push`, `smolc pull`, `smolc login`: images between the
 * local image store (oci/store.h) and OCI registries (oci/registry.h).
 *
 * Wire format (SPEC.md §8.4), compatible with smolBSD's
 * `oras push … --artifact-type application/vnd.smolbsd.image
 *  <name>.img:application/x-raw-disk-image`:
 *   an OCI image manifest, artifactType application/vnd.smolbsd.image,
 *   the empty config (application/vnd.oci.empty.v1+json, "{}"), and layers
 *     application/x-raw-disk-image             <service>-<arch>.img   the disk
 *     application/vnd.smolc.kernel             <service>-<arch>.kernel
 *     application/vnd.smolc.initrd             <service>-<arch>.initrd (when the
 *                                              image has an INITRD)
 *     application/vnd.smolc.runconfig.v1+yaml  <service>-<arch>.yaml  (image:,
 *                                              kernel: and initrd: name the files)
 *   each titled (org.opencontainers.image.title) so that `oras pull` writes
 *   the images/ layout. An image without smolc's layers (the anchor's) is
 *   pulled with the catalog's kernel and a default run config. */
#include "cache.h"
#include "catalog.h"
#include "cli.h"
#include "exitcode.h"
#include "fetch.h"
#include "opt.h"
#include "regauth.h"
#include "registry.h"
#include "runconf.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define SMOLBSD_ARTIFACT "application/vnd.smolbsd.image"
#define DISK_TYPE "application/x-raw-disk-image"
#define KERNEL_TYPE "application/vnd.smolc.kernel"
#define RUNCONF_TYPE "application/vnd.smolc.runconfig.v1+yaml"
#define INITRD_TYPE "application/vnd.smolc.initrd"
#define TITLE "org.opencontainers.image.title"

struct reg_cli {
	struct reg_opts ro;
	bool json;
	const char *user;
	bool password_stdin;
	bool container;
};

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	uint64_t m = 1;
	if (!strcmp(end, "K") || !strcmp(end, "KiB"))
		m = 1024;
	else if (!strcmp(end, "M") || !strcmp(end, "MiB"))
		m = 1024 * 1024;
	else if (!strcmp(end, "G") || !strcmp(end, "GiB"))
		m = 1024 * 1024 * 1024;
	else if (*end)
		return -1;
	if (v == 0 || v > (1ull << 40) / m)
		return -1;
	*out = v * m;
	return 0;
}

static int ca_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	if (access(arg, R_OK) < 0)
		return opt_error(cmd, "--ca-cert %s: cannot read the file: %s", arg, strerror(errno));
	*(const char **)value = arg;
	return 0;
}

static int chunk_cb(const struct opt_cmd *cmd, const char *arg, void *value)
{
	if (parse_size(arg, value) < 0)
		return opt_error(cmd, "--chunk-size takes a size such as 5M or 1048576, not '%s'", arg);
	return 0;
}

#define OPT_CA(o) OPT_CALL_("ca-cert", 0, "FILE", "trust this CA (PEM) for the registry's TLS certificate", &(o)->ro.ca_cert, ca_cb)
#define OPT_INSECURE(o) OPT_FLAG_("insecure", 0, "allow plain http to a registry that is not local", &(o)->ro.insecure)

static void json_print(json_t *o)
{
	char *t = json_dumps(o, JSON_COMPACT);
	puts(t ? t : "{}");
	free(t);
}

/* ---- push ---- */

struct blob {
	const char *title;       /* borrowed */
	const char *media_type;
	char digest[72];
	uint64_t size;
	const char *path;        /* file, or */
	const char *mem;         /* memory */
	const char *action;      /* "exists", "mounted", "uploaded" */
};

static json_t *descriptor(const struct blob *b)
{
	json_t *d = json_object();
	json_object_set_new(d, "mediaType", json_string(b->media_type));
	json_object_set_new(d, "digest", json_string(b->digest));
	json_object_set_new(d, "size", json_integer((json_int_t)b->size));
	if (b->title) {
		json_t *a = json_object();
		json_object_set_new(a, TITLE, json_string(b->title));
		json_object_set_new(d, "annotations", a);
	}
	return d;
}

/* Other repositories of `host` this image was pushed to (a hint for
 * cross-repository mounts; not trusted: a failed mount uploads). */
static char *pushed_path(struct store *s, const char *id)
{
	return store_path(s, id, "pushed");
}

static void note_pushed(struct store *s, const char *id, const char *host, const char *repo)
{
	char *p = pushed_path(s, id);
	char *text = NULL;
	size_t len = 0;
	struct strbuf sb;
	sb_init(&sb);
	char *line = xasprintf("%s %s\n", host, repo);
	if (read_file(p, 1 << 16, &text, &len) == 0) {
		if (strstr(text, line) && (text == strstr(text, line) || strstr(text, line)[-1] == '\n')) {
			free(line);
			free(text);
			free(p);
			return;
		}
		sb_add(&sb, text, len);
	}
	sb_adds(&sb, line);
	write_file_atomic_nosync(p, sb.buf, sb.len, 0644);
	sb_free(&sb);
	free(line);
	free(text);
	free(p);
}

static char *mount_source(struct store *s, const char *id, const char *host, const char *repo)
{
	char *p = pushed_path(s, id);
	char *text = NULL;
	size_t len = 0;
	char *found = NULL;
	if (read_file(p, 1 << 16, &text, &len) == 0) {
		size_t hl = strlen(host);
		for (char *l = strtok(text, "\n"); l && !found; l = strtok(NULL, "\n"))
			if (!strncmp(l, host, hl) && l[hl] == ' ' && strcmp(l + hl + 1, repo))
				found = xstrdup(l + hl + 1);
	}
	free(text);
	free(p);
	return found;
}

static int send_blob(struct reg *r, struct blob *b, const char *mount_from, bool quiet, struct error **err)
{
	int ex = reg_blob_exists(r, b->digest, err);
	if (ex < 0)
		return -1;
	if (ex == 1) {
		b->action = "exists";
	} else {
		int m = mount_from ? reg_blob_mount(r, b->digest, mount_from, err) : 0;
		if (m < 0)
			return -1;
		if (m == 1) {
			b->action = "mounted";
		} else {
			int rc = b->path ? reg_blob_put_file(r, b->path, b->digest, b->size, b->title, err)
					 : reg_blob_put_mem(r, b->mem, (size_t)b->size, b->digest, err);
			if (rc < 0)
				return -1;
			b->action = "uploaded";
		}
	}
	if (!quiet) {
		char h[32];
		fprintf(stderr, "  %-30s %-10s %.19s… %s\n", b->title ? b->title : "config", human_bytes(b->size, h, sizeof(h)),
			b->digest, b->action);
	}
	return 0;
}

/* The run config as pushed: image/kernel name the titled files. */
static char *pushed_runconf(const char *yaml_path, const char *img, const char *kern, const char *initrd,
			    struct error **err)
{
	struct runconf *rc = NULL;
	if (runconf_read(yaml_path, &rc, NULL, err) < 0)
		return NULL;
	free(rc->image);
	free(rc->kernel);
	rc->image = xstrdup(img);
	rc->kernel = xstrdup(kern);
	free(rc->initrd);
	rc->initrd = initrd ? xstrdup(initrd) : NULL;
	char *y = NULL;
	if (runconf_to_yaml(rc, &y, err) < 0)
		y = NULL;
	runconf_free(rc);
	return y;
}

int cmd_push(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "push",
		.synopsis = "[options] NAME[:TAG] [REGISTRY/REPOSITORY[:TAG]]",
		.about = "Upload an image of the local image store to an OCI registry: the disk,\n"
			 "the kernel and the run config, in a manifest that smolBSD's tools (oras)\n"
			 "read as theirs. Without a target, NAME must itself be REGISTRY/REPOSITORY\n"
			 "(see smolc tag); the target's tag defaults to the source's. Blobs the\n"
			 "registry has are not sent again; blobs pushed before to another repository\n"
			 "of the same registry are mounted from there.\n",
		.footer = "Credentials: ~/.docker/config.json (or $DOCKER_CONFIG), see smolc login.\n",
		.arg_name = "argument",
		.max_args = 2,
	};
	struct reg_cli o;
	memset(&o, 0, sizeof(o));
	const struct opt opts[] = {
		OPT_CA(&o),
		OPT_INSECURE(&o),
		OPT_CALL_("chunk-size", 0, "SIZE", "upload blobs larger than SIZE in chunks (e.g. 64M)", &o.ro.chunk_size,
			  chunk_cb),
		OPT_FLAG_("container", 0, "push the OCI container image that runs the VM (smolc export)\n"
			  "instead of the smolBSD disk artifact", &o.container),
		OPT_JSON(&o.json, "print the result as JSON on stdout"),
		OPT_FLAG_("quiet", 'q', "no progress", &o.ro.quiet),
		OPT_END_(),
	};
	const char *args[2];
	size_t nargs;
	int ex = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (ex >= 0)
		return ex;
	if (nargs < 1)
		return opt_error(&cmd, "needs NAME[:TAG] and optionally REGISTRY/REPOSITORY[:TAG]");
	const char *src = args[0], *dst = nargs == 2 ? args[1] : NULL;
	if (o.container) {
		char *n0 = NULL, *t0 = NULL;
		struct error *e0 = NULL;
		if (store_parse_ref(src, &n0, &t0, &e0) < 0) {
			fprintf(stderr, "smolc: push: %s\n", error_msg(e0));
			error_clear(&e0);
			return EXIT_USAGE;
		}
		bool noreg = !dst && !strchr(n0, '/');
		free(n0);
		free(t0);
		if (noreg) {
			fprintf(stderr, "smolc: push: %s names no registry; give a target REGISTRY/REPOSITORY[:TAG]\n", src);
			return EXIT_USAGE;
		}
		return container_push(src, dst, &o.ro, o.json);
	}
	struct error *err = NULL;
	char *name = NULL, *tag = NULL, *yaml = NULL, *mdig = NULL, *refstr = NULL, *from = NULL;
	char *disk = NULL, *kern = NULL, *ypath = NULL, *img_title = NULL, *kern_title = NULL, *yaml_title = NULL;
	char *manifest = NULL, *initrd = NULL, *initrd_title = NULL;
	struct reg_ref ref;
	memset(&ref, 0, sizeof(ref));
	struct store *s = NULL;
	struct reg *r = NULL;
	struct store_meta m;
	memset(&m, 0, sizeof(m));
	int rc = EXIT_USAGE;
	if (store_parse_ref(src, &name, &tag, &err) < 0) {
		fprintf(stderr, "smolc: push: %s\n", error_msg(err));
		goto out;
	}
	if (!dst && !strchr(name, '/')) {
		fprintf(stderr, "smolc: push: %s:%s names no registry; give a target REGISTRY/REPOSITORY[:TAG] "
				"(or tag it so: smolc tag %s:%s REGISTRY/REPOSITORY:%s)\n",
			name, tag, name, tag, tag);
		goto out;
	}
	char *target = dst ? xstrdup(dst) : xasprintf("%s:%s", name, tag);
	int pr = reg_ref_parse(target, &ref, &err);
	if (pr == 0 && dst && !strchr(dst + (strchr(dst, '/') ? strrchr(dst, '/') - dst : 0), ':')) {
		free(ref.tag);
		ref.tag = xstrdup(tag); /* the target's tag defaults to the source's */
	}
	free(target);
	if (pr < 0) {
		fprintf(stderr, "smolc: push: %s\n", error_msg(err));
		goto out;
	}
	if (ref.digest) {
		fprintf(stderr, "smolc: push: push to a tag, not to a digest (%s)\n", ref.digest);
		goto out;
	}
	rc = EXIT_FAIL;
	if (!(s = store_open(NULL, &err))) {
		fprintf(stderr, "smolc: push: %s\n", error_msg(err));
		goto out;
	}
	char id[65];
	int lr = store_lookup(s, name, tag, id, &err);
	if (lr == 1) {
		fprintf(stderr, "smolc: push: no image %s:%s in the store (see 'smolc images')\n", name, tag);
		goto out;
	}
	if (lr < 0 || store_verify(s, id, &m, &err) < 0) {
		fprintf(stderr, "smolc: push: %s\n", error_msg(err));
		goto out;
	}
	disk = store_path(s, id, "disk.img");
	kern = store_path(s, id, "kernel");
	ypath = store_path(s, id, "run.yaml");
	if (m.has_initrd)
		initrd = store_path(s, id, "initrd");
	/* digests: computed once, then remembered in the store */
	if (!m.disk.sha256[0]) {
		if (store_file_sha256(disk, m.disk.sha256, &err) < 0 || store_set_sha256(s, id, "disk", m.disk.sha256, &err) < 0) {
			fprintf(stderr, "smolc: push: %s\n", error_msg(err));
			goto out;
		}
	}
	if (!m.kernel.sha256[0]) {
		if (store_file_sha256(kern, m.kernel.sha256, &err) < 0 ||
		    store_set_sha256(s, id, "kernel", m.kernel.sha256, &err) < 0) {
			fprintf(stderr, "smolc: push: %s\n", error_msg(err));
			goto out;
		}
	}
	if (m.has_initrd && !m.initrd.sha256[0]) {
		if (store_file_sha256(initrd, m.initrd.sha256, &err) < 0 ||
		    store_set_sha256(s, id, "initrd", m.initrd.sha256, &err) < 0) {
			fprintf(stderr, "smolc: push: %s\n", error_msg(err));
			goto out;
		}
	}
	/* the files must still be what was digested */
	struct store_meta m2;
	if (store_verify(s, id, &m2, &err) < 0) {
		fprintf(stderr, "smolc: push: %s\n", error_msg(err));
		goto out;
	}
	store_meta_clear(&m2);
	img_title = xasprintf("%s-%s.img", m.service, m.arch);
	kern_title = xasprintf("%s-%s.kernel", m.service, m.arch);
	yaml_title = xasprintf("%s-%s.yaml", m.service, m.arch);
	if (m.has_initrd)
		initrd_title = xasprintf("%s-%s.initrd", m.service, m.arch);
	if (!(yaml = pushed_runconf(ypath, img_title, kern_title, initrd_title, &err))) {
		fprintf(stderr, "smolc: push: %s\n", error_msg(err));
		goto out;
	}
	struct blob blobs[5];
	size_t nblobs = 4;
	memset(blobs, 0, sizeof(blobs));
	blobs[0] = (struct blob){NULL, OCI_EMPTY_TYPE, OCI_EMPTY_DIGEST, 2, NULL, "{}", NULL};
	blobs[1] = (struct blob){img_title, DISK_TYPE, "", m.disk.size, disk, NULL, NULL};
	snprintf(blobs[1].digest, sizeof(blobs[1].digest), "sha256:%s", m.disk.sha256);
	blobs[2] = (struct blob){kern_title, KERNEL_TYPE, "", m.kernel.size, kern, NULL, NULL};
	snprintf(blobs[2].digest, sizeof(blobs[2].digest), "sha256:%s", m.kernel.sha256);
	char *yd = reg_digest_mem(yaml, strlen(yaml));
	blobs[3] = (struct blob){yaml_title, RUNCONF_TYPE, "", strlen(yaml), NULL, yaml, NULL};
	snprintf(blobs[3].digest, sizeof(blobs[3].digest), "%s", yd);
	free(yd);
	if (m.has_initrd) {
		/* before the run config, which names it */
		blobs[4] = blobs[3];
		blobs[3] = (struct blob){initrd_title, INITRD_TYPE, "", m.initrd.size, initrd, NULL, NULL};
		snprintf(blobs[3].digest, sizeof(blobs[3].digest), "sha256:%s", m.initrd.sha256);
		nblobs = 5;
	}
	if (!(r = reg_new(ref.host, ref.repo, &o.ro, &err))) {
		fprintf(stderr, "smolc: push: %s\n", error_msg(err));
		goto out;
	}
	refstr = reg_ref_str(&ref);
	if (!o.ro.quiet)
		fprintf(stderr, "smolc: pushing %s:%s (%.12s) to %s\n", name, tag, id, refstr);
	from = mount_source(s, id, ref.host, ref.repo);
	for (size_t i = 0; i < nblobs; i++)
		if (send_blob(r, &blobs[i], from, o.ro.quiet, &err) < 0) {
			fprintf(stderr, "smolc: push: %s\n", error_msg(err));
			goto out;
		}
	json_t *mj = json_object();
	json_object_set_new(mj, "schemaVersion", json_integer(2));
	json_object_set_new(mj, "mediaType", json_string(OCI_MANIFEST_TYPE));
	json_object_set_new(mj, "artifactType", json_string(SMOLBSD_ARTIFACT));
	json_t *cfg = descriptor(&blobs[0]);
	json_object_set_new(cfg, "data", json_string("e30="));
	json_object_set_new(mj, "config", cfg);
	json_t *layers = json_array();
	for (size_t i = 1; i < nblobs; i++)
		json_array_append_new(layers, descriptor(&blobs[i]));
	json_object_set_new(mj, "layers", layers);
	json_t *ann = json_object();
	json_object_set_new(ann, "org.opencontainers.image.created", json_string(m.created));
	if (m.key[0])
		json_object_set_new(ann, "dev.smolc.image.key", json_string(m.key));
	json_object_set_new(ann, "dev.smolc.service", json_string(m.service));
	json_object_set_new(ann, "dev.smolc.arch", json_string(m.arch));
	json_object_set_new(mj, "annotations", ann);
	manifest = json_dumps(mj, JSON_COMPACT);
	json_decref(mj);
	if (!manifest || reg_manifest_put(r, ref.tag, OCI_MANIFEST_TYPE, manifest, strlen(manifest), &mdig, &err) < 0) {
		fprintf(stderr, "smolc: push: %s\n", err ? error_msg(err) : "cannot encode the manifest");
		goto out;
	}
	note_pushed(s, id, ref.host, ref.repo);
	if (o.json) {
		json_t *res = json_object();
		json_object_set_new(res, "reference", json_string(refstr));
		json_object_set_new(res, "digest", json_string(mdig));
		json_object_set_new(res, "key", m.key[0] ? json_string(m.key) : json_null());
		json_t *a = json_array();
		for (size_t i = 0; i < nblobs; i++) {
			json_t *d = descriptor(&blobs[i]);
			json_object_set_new(d, "action", json_string(blobs[i].action));
			json_array_append_new(a, d);
		}
		json_object_set_new(res, "blobs", a);
		json_print(res);
		json_decref(res);
	}
	if (!o.ro.quiet)
		fprintf(stderr, "smolc: pushed %s@%s\n", refstr, mdig);
	rc = EXIT_OK;
out:
	reg_free(r);
	store_free(s);
	store_meta_clear(&m);
	reg_ref_clear(&ref);
	error_clear(&err);
	free(name);
	free(tag);
	free(yaml);
	free(mdig);
	free(refstr);
	free(from);
	free(disk);
	free(kern);
	free(ypath);
	free(img_title);
	free(kern_title);
	free(yaml_title);
	free(initrd);
	free(initrd_title);
	free(manifest);
	return rc;
}

/* ---- pull ---- */

struct layer_ref {
	const char *media_type, *digest, *title;
	uint64_t size;
};

static int layer_from_json(json_t *l, struct layer_ref *out)
{
	json_t *sz = json_object_get(l, "size");
	out->media_type = json_string_value(json_object_get(l, "mediaType"));
	out->digest = json_string_value(json_object_get(l, "digest"));
	out->title = json_string_value(json_object_get(json_object_get(l, "annotations"), TITLE));
	if (!out->media_type || !out->digest || !reg_digest_valid(out->digest) || !json_is_integer(sz) ||
	    json_integer_value(sz) < 0)
		return -1;
	out->size = (uint64_t)json_integer_value(sz);
	return 0;
}

/* The catalog's default kernel for arch, fetched (verified) into the
 * cache; *path is the cached file. */
static int catalog_kernel_for(const char *arch, char **path, char **sha256, char **url_out, struct error **err)
{
	char *cp = catalog_locate(NULL, err);
	if (!cp)
		return -1;
	struct catalog *cat = catalog_load(cp, err);
	free(cp);
	if (!cat)
		return -1;
	int rc = -1;
	struct cache *cache = NULL;
	struct fetch_ctx *f = NULL;
	struct catalog_target *t = catalog_target(cat, catalog_default_release(cat), arch,
						  catalog_mirror_override(NULL), err);
	char *url = NULL, *sumurl = NULL, *pin = NULL;
	if (!t || catalog_kernel(cat, t, NULL, &url, &sumurl, err) < 0)
		goto out;
	if (!(cache = cache_open(NULL, err)))
		goto out;
	struct fetch_opts fo;
	memset(&fo, 0, sizeof(fo));
	f = fetch_new(cache, &fo);
	if (sumurl) {
		struct fetch_req req = {sumurl, NULL, "the kernel's .sha256 file is missing", NULL, false};
		char *text = NULL;
		size_t len = 0;
		char hex[65];
		struct fetch_result sres;
		memset(&sres, 0, sizeof(sres));
		if (fetch_file(f, &req, &sres, err) < 0)
			goto out;
		if (read_file(sres.path, 1 << 16, &text, &len) < 0) {
			error_set(err, "fetch %s: cannot read %s: %s", sumurl, sres.path,
					 errno == EFBIG ? "file too large for a .sha256 file" : strerror(errno));
			fetch_result_clear(&sres);
			goto out;
		}
		fetch_result_clear(&sres);
		if (catalog_parse_sha256(text, len, path_basename(url), sumurl, hex, err) < 0) {
			free(text);
			goto out;
		}
		free(text);
		pin = xasprintf("sha256:%s", hex);
	}
	struct fetch_req kreq = {url, pin, "check the catalog's kernel", NULL, false};
	struct fetch_result res;
	memset(&res, 0, sizeof(res));
	if (fetch_file(f, &kreq, &res, err) < 0)
		goto out;
	*path = xstrdup(res.path);
	*sha256 = xstrdup(res.sha256);
	*url_out = xstrdup(url);
	fetch_result_clear(&res);
	rc = 0;
out:
	fetch_free(f);
	fetch_global_cleanup();
	cache_free(cache);
	catalog_target_free(t);
	catalog_free(cat);
	free(url);
	free(sumurl);
	free(pin);
	return rc;
}

/* <service>-<arch>.img → service and arch (amd64 when none is named). */
static void name_from_title(const char *title, char **service, char **arch)
{
	static const char *const arches[] = {"amd64", "i386", "evbarm-aarch64"};
	char *t = xstrdup(title ? path_basename(title) : "image.img");
	if (str_endswith(t, ".img"))
		t[strlen(t) - 4] = 0;
	*arch = xstrdup("amd64");
	for (size_t i = 0; i < ARRAY_LEN(arches); i++) {
		size_t tl = strlen(t), al = strlen(arches[i]);
		if (tl > al + 1 && t[tl - al - 1] == '-' && !strcmp(t + tl - al, arches[i])) {
			t[tl - al - 1] = 0;
			free(*arch);
			*arch = xstrdup(arches[i]);
			break;
		}
	}
	/* a SERVICE name: letters, digits, '-', '_', '.' */
	for (char *p = t; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			*p = '_';
	if (!*t || strlen(t) > 32) {
		free(t);
		t = xstrdup("smol");
	}
	*service = t;
}

int cmd_pull(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "pull",
		.synopsis = "[options] REGISTRY/REPOSITORY[:TAG|@sha256:DIGEST]",
		.about = "Download an image into the local image store, named REGISTRY/REPOSITORY\n"
			 "with the tag pulled (for a digest: sha256-<first 12 digits>). Every blob\n"
			 "is checked against its digest; nothing is stored unless all are right.\n"
			 "An image pushed by smolBSD (a disk only) gets the catalog's kernel and a\n"
			 "default run config. Then: smolc run REGISTRY/REPOSITORY[:TAG].\n",
		.arg_name = "reference",
		.max_args = 1,
	};
	struct reg_cli o;
	memset(&o, 0, sizeof(o));
	const struct opt opts[] = {
		OPT_CA(&o),
		OPT_INSECURE(&o),
		OPT_JSON(&o.json, "print the result as JSON on stdout"),
		OPT_FLAG_("quiet", 'q', "no progress", &o.ro.quiet),
		OPT_END_(),
	};
	const char *args[1];
	size_t nargs;
	int ex = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (ex >= 0)
		return ex;
	if (nargs != 1)
		return opt_error(&cmd, "needs one REGISTRY/REPOSITORY[:TAG|@sha256:DIGEST]");
	struct reg_ref ref;
	struct error *err = NULL;
	if (reg_ref_parse(args[0], &ref, &err) < 0) {
		fprintf(stderr, "smolc: pull: %s\n", error_msg(err));
		error_clear(&err);
		return EXIT_USAGE;
	}
	int rc = EXIT_FAIL;
	struct reg *r = NULL;
	struct store *s = NULL;
	char *mdata = NULL, *mtype = NULL, *mdig = NULL, *refstr = reg_ref_str(&ref), *yaml = NULL, *store_yaml = NULL;
	char *disk_tmp = NULL, *kern_tmp = NULL, *service = NULL, *arch = NULL, *key = NULL, *kpath = NULL, *ksha = NULL;
	char *kurl = NULL, *local_name = NULL, *local_tag = NULL, *initrd_tmp = NULL;
	int dfd = -1, kfd = -1, ifd = -1;
	size_t mlen = 0;
	json_t *mj = NULL;
	struct runconf *rcf = NULL;
	if (!(r = reg_new(ref.host, ref.repo, &o.ro, &err)) || !(s = store_open(NULL, &err)))
		goto fail;
	int gr = reg_manifest_get(r, ref.digest ? ref.digest : ref.tag, &mdata, &mlen, &mtype, &mdig, &err);
	if (gr == 1) {
		error_set(&err, "%s: the registry has no such image (manifest unknown)", refstr);
		goto fail;
	}
	if (gr < 0)
		goto fail;
	json_error_t je;
	mj = json_loadb(mdata, mlen, 0, &je);
	json_t *layers = mj ? json_object_get(mj, "layers") : NULL;
	if (!json_is_array(layers)) {
		error_set(&err, "%s: %s is not an image manifest with layers (media type %s)", refstr, mdig,
				mtype ? mtype : "unknown");
		goto fail;
	}
	struct layer_ref disk = {0}, kernel = {0}, runc = {0}, initrd = {0};
	for (size_t i = 0; i < json_array_size(layers); i++) {
		struct layer_ref l;
		if (layer_from_json(json_array_get(layers, i), &l) < 0) {
			error_set(&err, "%s: layer %zu of the manifest is malformed", refstr, i + 1);
			goto fail;
		}
		if (!strcmp(l.media_type, DISK_TYPE) && !disk.digest)
			disk = l;
		else if (!strcmp(l.media_type, KERNEL_TYPE) && !kernel.digest)
			kernel = l;
		else if (!strcmp(l.media_type, RUNCONF_TYPE) && !runc.digest)
			runc = l;
		else if (!strcmp(l.media_type, INITRD_TYPE) && !initrd.digest)
			initrd = l;
	}
	if (!disk.digest) {
		error_set(&err, "%s: no layer of media type " DISK_TYPE " (not a smolBSD image)", refstr);
		goto fail;
	}
	if (!o.ro.quiet)
		fprintf(stderr, "smolc: pulling %s (%s)\n", refstr, mdig);
	/* the run config first: small, and it says what the rest is */
	if (runc.digest) {
		size_t yl = 0;
		if (runc.size > (1 << 20)) {
			error_set(&err, "%s: the run config layer is %llu bytes; the limit is 1 MiB", refstr,
					(unsigned long long)runc.size);
			goto fail;
		}
		if (reg_blob_get_mem(r, runc.digest, 1 << 20, &yaml, &yl, &err) < 0)
			goto fail;
		struct error *yerr = NULL;
		if (runconf_parse(runc.title ? runc.title : "run config", NULL, yaml, yl, &rcf, NULL, &yerr) < 0) {
			error_set(&err, "%s: the run config layer: %s", refstr, error_msg(yerr));
			error_clear(&yerr);
			goto fail;
		}
	}
	if (runc.digest && !kernel.digest) {
		error_set(&err, "%s: a run config layer but no kernel layer", refstr);
		goto fail;
	}
	if (store_mktemp(s, "pull-disk", &disk_tmp, &dfd, &err) < 0)
		goto fail;
	if (reg_blob_get_fd(r, disk.digest, disk.size, dfd, true, disk.title ? disk.title : "disk", &err) < 0)
		goto fail;
	if (kernel.digest) {
		if (store_mktemp(s, "pull-kernel", &kern_tmp, &kfd, &err) < 0 ||
		    reg_blob_get_fd(r, kernel.digest, kernel.size, kfd, false, kernel.title ? kernel.title : "kernel", &err) < 0)
			goto fail;
		ksha = xstrdup(kernel.digest + 7);
	}
	if (rcf && rcf->initrd && !initrd.digest) {
		error_set(&err, "%s: the run config names an initrd but there is no initrd layer", refstr);
		goto fail;
	}
	if (rcf && initrd.digest) {
		if (store_mktemp(s, "pull-initrd", &initrd_tmp, &ifd, &err) < 0 ||
		    reg_blob_get_fd(r, initrd.digest, initrd.size, ifd, false, initrd.title ? initrd.title : "initrd",
				    &err) < 0)
			goto fail;
	}
	if (rcf) {
		service = xstrdup(rcf->service);
		arch = xstrdup(rcf->arch);
		if (rcf->build_key && store_id_valid(rcf->build_key))
			key = xstrdup(rcf->build_key);
	} else {
		name_from_title(disk.title, &service, &arch);
		if (catalog_kernel_for(arch, &kpath, &ksha, &kurl, &err) < 0) {
			error_prefix(&err, "%s has no kernel layer, and the catalog's kernel could not be had", refstr);
			goto fail;
		}
		fprintf(stderr,
			"smolc: %s has no smolc kernel or run config (a smolBSD/oras image): using the catalog's kernel %s "
			"and a default run config (service %s, %s)\n",
			refstr, kurl, service, arch);
		rcf = runconf_new();
		rcf->service = xstrdup(service);
		rcf->arch = xstrdup(arch);
		rcf->profile = xstrdup("netbsd");
		rcf->cmdline = runconf_default_cmdline("netbsd", service, false);
	}
	free(rcf->image);
	free(rcf->kernel);
	free(rcf->kernel_sha256);
	free(rcf->image_sha256);
	rcf->image = xstrdup("disk.img");
	rcf->kernel = xstrdup("kernel");
	rcf->kernel_sha256 = xstrdup(ksha);
	rcf->image_sha256 = NULL;
	free(rcf->initrd);
	free(rcf->initrd_sha256);
	rcf->initrd = initrd_tmp ? xstrdup("initrd") : NULL;
	rcf->initrd_sha256 = initrd_tmp ? xstrdup(initrd.digest + 7) : NULL;
	if (runconf_to_yaml(rcf, &store_yaml, &err) < 0)
		goto fail;
	struct store_put sp;
	memset(&sp, 0, sizeof(sp));
	sp.id = key ? key : disk.digest + 7;
	sp.key = key;
	sp.service = service;
	sp.arch = arch;
	char *source = xasprintf("pull %s@%s", refstr, mdig);
	sp.source = source;
	sp.readonly = rcf->readonly;
	sp.disk_path = disk_tmp;
	sp.disk_owned = true;
	sp.disk_sha256 = disk.digest + 7;
	sp.kernel_path = kern_tmp ? kern_tmp : kpath;
	sp.kernel_owned = kern_tmp != NULL;
	sp.kernel_sha256 = ksha;
	sp.initrd_path = initrd_tmp;
	sp.initrd_owned = true;
	sp.initrd_sha256 = initrd_tmp ? initrd.digest + 7 : NULL;
	sp.run_config = store_yaml;
	json_t *created = json_object_get(json_object_get(mj, "annotations"), "org.opencontainers.image.created");
	sp.created = json_string_value(created);
	local_name = xasprintf("%s/%s", ref.host, ref.repo);
	local_tag = ref.tag ? xstrdup(ref.tag) : xasprintf("sha256-%.12s", ref.digest + 7);
	char id[65];
	int put = store_put(s, &sp, id, &err);
	free(source);
	if (put < 0 || store_tag(s, local_name, local_tag, id, &err) < 0)
		goto fail;
	if (o.json) {
		json_t *res = json_object();
		json_object_set_new(res, "reference", json_string(refstr));
		json_object_set_new(res, "digest", json_string(mdig));
		char *nt = xasprintf("%s:%s", local_name, local_tag);
		json_object_set_new(res, "image", json_string(nt));
		free(nt);
		json_object_set_new(res, "id", json_string(id));
		json_object_set_new(res, "key", key ? json_string(key) : json_null());
		json_object_set_new(res, "catalog_kernel", json_boolean(kpath != NULL));
		json_print(res);
		json_decref(res);
	}
	if (!o.ro.quiet)
		fprintf(stderr, "smolc: pulled %s as %s:%s (%s %.12s)\n", refstr, local_name, local_tag,
			key ? "image key" : "disk sha256", key ? key : id);
	rc = EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "smolc: pull: %s\n", err ? error_msg(err) : "failed");
out:
	if (dfd >= 0)
		close(dfd);
	if (kfd >= 0)
		close(kfd);
	if (ifd >= 0)
		close(ifd);
	if (initrd_tmp)
		unlink(initrd_tmp);
	if (disk_tmp)
		unlink(disk_tmp); /* stored by rename, or not at all */
	if (kern_tmp)
		unlink(kern_tmp);
	json_decref(mj);
	runconf_free(rcf);
	reg_free(r);
	store_free(s);
	reg_ref_clear(&ref);
	error_clear(&err);
	free(mdata);
	free(mtype);
	free(mdig);
	free(refstr);
	free(yaml);
	free(store_yaml);
	free(disk_tmp);
	free(kern_tmp);
	free(initrd_tmp);
	free(service);
	free(arch);
	free(key);
	free(kpath);
	free(ksha);
	free(kurl);
	free(local_name);
	free(local_tag);
	return rc;
}

/* ---- login ---- */

static char *read_line(FILE *f, bool echo_off)
{
	struct termios old, now;
	bool tty = echo_off && isatty(fileno(f)) && tcgetattr(fileno(f), &old) == 0;
	if (tty) {
		now = old;
		now.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(f), TCSAFLUSH, &now);
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	if (tty) {
		tcsetattr(fileno(f), TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;
	return line;
}

int cmd_login(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "login",
		.synopsis = "[options] REGISTRY",
		.about = "Check credentials against REGISTRY (host[:port]) and store them in\n"
			 "~/.docker/config.json (or $DOCKER_CONFIG/config.json) as docker login\n"
			 "does, mode 0600. The password is never printed.\n",
		.arg_name = "registry",
		.max_args = 1,
	};
	struct reg_cli o;
	memset(&o, 0, sizeof(o));
	const struct opt opts[] = {
		OPT_STRING_("username", 'u', "USER", "the user name (asked for on a terminal when not given)", &o.user),
		OPT_FLAG_("password-stdin", 0, "read the password from stdin (else asked for on the terminal)",
			  &o.password_stdin),
		OPT_CA(&o),
		OPT_INSECURE(&o),
		OPT_END_(),
	};
	const char *args[1];
	size_t nargs;
	int ex = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (ex >= 0)
		return ex;
	if (nargs != 1)
		return opt_error(&cmd, "needs one REGISTRY (host[:port])");
	const char *host = args[0];
	struct reg_ref probe;
	struct error *err = NULL;
	char *t = xasprintf("%s/x", host);
	if (reg_ref_parse(t, &probe, &err) < 0) {
		fprintf(stderr, "smolc: login: '%s' is not a registry host[:port]\n", host);
		free(t);
		error_clear(&err);
		return EXIT_USAGE;
	}
	free(t);
	reg_ref_clear(&probe);
	char *user = o.user ? xstrdup(o.user) : NULL, *pass = NULL;
	if (!user) {
		if (!isatty(STDIN_FILENO) || o.password_stdin) {
			fprintf(stderr, "smolc: login: give the user name with -u USER\n");
			return EXIT_USAGE;
		}
		fprintf(stderr, "Username: ");
		user = read_line(stdin, false);
	}
	if (!o.password_stdin) {
		if (!isatty(STDIN_FILENO)) {
			fprintf(stderr, "smolc: login: no terminal to ask the password on; use --password-stdin\n");
			free(user);
			return EXIT_USAGE;
		}
		fprintf(stderr, "Password: ");
	}
	pass = read_line(stdin, !o.password_stdin);
	int rc = EXIT_FAIL;
	struct reg *r = NULL;
	if (!user || !*user || !pass || !*pass) {
		fprintf(stderr, "smolc: login: an empty user name or password\n");
		rc = EXIT_USAGE;
		goto out;
	}
	o.ro.quiet = true;
	if (!(r = reg_new(host, "smolc-login", &o.ro, &err)))
		goto fail;
	reg_set_credentials(r, user, pass);
	if (reg_ping(r, &err) < 0)
		goto fail;
	char *dir = regauth_default_dir();
	int pr = regauth_put(dir, host, user, pass, &err);
	if (pr == 0)
		fprintf(stderr, "smolc: login succeeded; credentials for %s stored in %s/config.json\n", host, dir);
	free(dir);
	if (pr < 0)
		goto fail;
	rc = EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "smolc: login: %s\n", error_msg(err));
out:
	reg_free(r);
	if (pass)
		explicit_bzero(pass, strlen(pass));
	free(pass);
	free(user);
	error_clear(&err);
	return rc;
}
