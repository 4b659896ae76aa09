/* cmd_image.c — `smolc images`, `smolc tag`, `smolc rmi`: the local image
 * store (oci/store.h) from the command line; and the two functions through
 * which the build records its image (cli_record_image, build.h) and `run`
 * finds a stored one (cli_stored_runconf, run.h). */
#include "build.h"
#include "cli.h"
#include "exitcode.h"
#include "opt.h"
#include "store.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct store *open_store(void)
{
	struct error *err = NULL;
	struct store *s = store_open(NULL, &err);
	if (!s) {
		error_print(stderr, err);
		error_clear(&err);
	}
	return s;
}

int cmd_images(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "images",
		.synopsis = "[--json]",
		.about = "List the images in the local image store: every build records its image\n"
			 "there (smolc build -t NAME[:TAG], default <service>:latest), and so does\n"
			 "smolc pull. Columns: name, tag, architecture, disk size, creation date (UTC)\n"
			 "and image key (the build's content address; for an image pulled without\n"
			 "smolc's run config, the SHA-256 of its disk, marked (disk)).\n",
		.footer = "The store is $SMOLC_DATA, else $XDG_DATA_HOME/smolc, else ~/.local/share/smolc.\n",
		.arg_name = "argument",
		.max_args = 0,
	};
	bool json = false;
	const struct opt opts[] = {
		OPT_JSON(&json, "one JSON array on stdout"),
		OPT_END_(),
	};
	size_t nargs;
	const char *args[1];
	int ex = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (ex >= 0)
		return ex;
	struct store *s = open_store();
	if (!s)
		return EXIT_FAIL;
	struct store_list l;
	struct error *err = NULL;
	if (store_list(s, &l, &err) < 0) {
		error_print(stderr, err);
		error_clear(&err);
		store_free(s);
		return EXIT_FAIL;
	}
	if (json) {
		json_t *a = json_array();
		for (size_t i = 0; i < l.n; i++) {
			const struct store_entry *e = &l.v[i];
			json_t *o = json_object();
			json_object_set_new(o, "name", json_string(e->name));
			json_object_set_new(o, "tag", json_string(e->tag));
			json_object_set_new(o, "ok", json_boolean(e->ok));
			if (e->ok) {
				json_object_set_new(o, "id", json_string(e->id));
				json_object_set_new(o, "key", e->meta.key[0] ? json_string(e->meta.key) : json_null());
				json_object_set_new(o, "service", json_string(e->meta.service));
				json_object_set_new(o, "arch", json_string(e->meta.arch));
				json_object_set_new(o, "size", json_integer((json_int_t)e->meta.disk.size));
				json_object_set_new(o, "created", json_string(e->meta.created));
				json_object_set_new(o, "source", json_string(e->meta.source));
				if (e->meta.disk.sha256[0]) {
					char *d = xasprintf("sha256:%s", e->meta.disk.sha256);
					json_object_set_new(o, "disk_digest", json_string(d));
					free(d);
				}
			} else {
				json_object_set_new(o, "problem", json_string(e->problem));
			}
			json_array_append_new(a, o);
		}
		char *text = json_dumps(a, JSON_COMPACT);
		json_decref(a);
		puts(text ? text : "[]");
		free(text);
	} else {
		printf("%-32s %-12s %-15s %10s  %-17s %s\n", "NAME", "TAG", "ARCH", "SIZE", "CREATED", "IMAGE KEY");
		for (size_t i = 0; i < l.n; i++) {
			const struct store_entry *e = &l.v[i];
			if (!e->ok) {
				printf("%-32s %-12s damaged: %s\n", e->name, e->tag, e->problem);
				continue;
			}
			char h[32], created[20];
			snprintf(created, sizeof(created), "%.10s %.5s", e->meta.created,
				 strlen(e->meta.created) > 11 ? e->meta.created + 11 : "");
			printf("%-32s %-12s %-15s %10s  %-17s %.12s%s\n", e->name, e->tag, e->meta.arch,
			       human_bytes(e->meta.disk.size, h, sizeof(h)), created, e->id, e->meta.key[0] ? "" : " (disk)");
		}
	}
	store_list_free(&l);
	store_free(s);
	return EXIT_OK;
}

int cmd_tag(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "tag",
		.synopsis = "SOURCE[:TAG] TARGET[:TAG]",
		.about = "Give the image SOURCE another name in the local image store (no copy).\n",
		.arg_name = "argument",
		.max_args = 2,
	};
	const struct opt opts[] = {OPT_END_()};
	const char *args[2];
	size_t nargs;
	int ex = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (ex >= 0)
		return ex;
	if (nargs != 2)
		return opt_error(&cmd, "needs SOURCE and TARGET");
	struct error *err = NULL;
	char *sn = NULL, *st = NULL, *dn = NULL, *dt = NULL;
	int rc = EXIT_USAGE;
	struct store *s = NULL;
	if (store_parse_ref(args[0], &sn, &st, &err) < 0 || store_parse_ref(args[1], &dn, &dt, &err) < 0) {
		fprintf(stderr, "smolc: tag: %s\n", error_msg(err));
		goto out;
	}
	rc = EXIT_FAIL;
	if (!(s = open_store()))
		goto out;
	char id[65];
	int r = store_lookup(s, sn, st, id, &err);
	if (r == 1) {
		fprintf(stderr, "smolc: tag: no image %s:%s in the store (see 'smolc images')\n", sn, st);
		goto out;
	}
	if (r < 0 || store_tag(s, dn, dt, id, &err) < 0) {
		fprintf(stderr, "smolc: tag: %s\n", error_msg(err));
		goto out;
	}
	fprintf(stderr, "smolc: tagged %s:%s as %s:%s (image key %.12s)\n", sn, st, dn, dt, id);
	rc = EXIT_OK;
out:
	store_free(s);
	error_clear(&err);
	free(sn);
	free(st);
	free(dn);
	free(dt);
	return rc;
}

int cmd_rmi(int argc, char **argv)
{
	static const struct opt_cmd cmd = {
		.name = "rmi",
		.synopsis = "NAME[:TAG]…",
		.about = "Remove tags from the local image store; an image no tag names any more is\n"
			 "deleted. Output files written with -o are not touched.\n",
		.arg_name = "image",
		.max_args = 64,
	};
	const struct opt opts[] = {OPT_END_()};
	const char *args[64];
	size_t nargs;
	int ex = opt_parse(&cmd, opts, argc, argv, args, &nargs);
	if (ex >= 0)
		return ex;
	if (!nargs)
		return opt_error(&cmd, "needs at least one NAME[:TAG]");
	for (size_t i = 0; i < nargs; i++) {
		struct error *err = NULL;
		char *n = NULL, *t = NULL;
		if (store_parse_ref(args[i], &n, &t, &err) < 0) {
			fprintf(stderr, "smolc: rmi: %s\n", error_msg(err));
			error_clear(&err);
			return EXIT_USAGE;
		}
		free(n);
		free(t);
	}
	struct store *s = open_store();
	if (!s)
		return EXIT_FAIL;
	int rc = EXIT_OK;
	for (size_t i = 0; i < nargs; i++) {
		struct error *err = NULL;
		char *n = NULL, *t = NULL;
		store_parse_ref(args[i], &n, &t, NULL);
		bool gone = false;
		int r = store_untag(s, n, t, &gone, &err);
		if (r == 1) {
			fprintf(stderr, "smolc: rmi: no image %s:%s in the store (see 'smolc images')\n", n, t);
			rc = EXIT_FAIL;
		} else if (r < 0) {
			fprintf(stderr, "smolc: rmi: %s\n", error_msg(err));
			rc = EXIT_FAIL;
		} else {
			fprintf(stderr, "smolc: untagged %s:%s%s\n", n, t, gone ? "; image deleted" : "");
		}
		error_clear(&err);
		free(n);
		free(t);
	}
	store_free(s);
	return rc;
}

/* ---- the build's and run's ways into the store ---- */

int cli_check_image_name(const struct opt_cmd *cmd, const char *arg, void *value)
{
	char *n = NULL, *t = NULL;
	struct error *e = NULL;
	if (store_parse_ref(arg, &n, &t, &e) < 0) {
		int rc = opt_error(cmd, "-t: %s", error_msg(e));
		error_clear(&e);
		return rc;
	}
	free(n);
	free(t);
	*(const char **)value = arg;
	return 0;
}

int cli_record_image(void *ctx, const struct build_result *r, char **stored_as, struct error **err)
{
	const char *tagname = ctx; /* -t, or NULL */
	char *name = NULL, *tag = NULL;
	struct store *st = NULL;
	int rc = -1;
	if (store_parse_ref(tagname ? tagname : r->service, &name, &tag, err) < 0)
		goto out;
	if (!(st = store_open(NULL, err)))
		goto out;
	struct store_put sp;
	memset(&sp, 0, sizeof(sp));
	sp.id = r->key;
	sp.key = r->key;
	sp.service = r->service;
	sp.arch = r->arch;
	sp.source = "build";
	sp.readonly = r->readonly;
	sp.disk_path = r->image;
	sp.disk_may_link = r->readonly; /* no VM writes a read-only root */
	sp.kernel_path = r->kernel;
	sp.kernel_sha256 = r->kernel_sha256;
	sp.initrd_path = r->initrd;
	sp.initrd_sha256 = r->initrd_sha256;
	sp.run_config = r->store_run_config;
	char id[65];
	if (store_put(st, &sp, id, err) < 0 || store_tag(st, name, tag, id, err) < 0)
		goto out;
	*stored_as = xasprintf("%s:%s", name, tag);
	rc = 0;
out:
	store_free(st);
	free(name);
	free(tag);
	return rc;
}

int cli_stored_runconf(void *ctx, const char *target, char **path)
{
	(void)ctx;
	struct error *err = NULL;
	char *name = NULL, *tag = NULL;
	if (store_parse_ref(target, &name, &tag, NULL) < 0)
		return -1;
	int rv = -1;
	struct store *s = store_open(NULL, &err);
	char id[65];
	if (!s) {
		debugf("run: no image store: %s", error_msg(err));
	} else {
		int r = store_lookup(s, name, tag, id, &err);
		if (r < 0) {
			fprintf(stderr, "smolc: run: %s\n", error_msg(err));
			rv = EXIT_FAIL;
		} else if (r == 0) {
			struct store_meta m;
			if (store_verify(s, id, &m, &err) < 0) {
				fprintf(stderr, "smolc: run: %s:%s: %s\n", name, tag, error_msg(err));
				rv = EXIT_FAIL;
			} else {
				store_meta_clear(&m);
				*path = store_path(s, id, "run.yaml");
				rv = 0;
			}
		}
	}
	store_free(s);
	error_clear(&err);
	free(name);
	free(tag);
	return rv;
}
