/* imagecmd.c — `smolc images`, `smolc tag`, `smolc rmi`: the local image
 * store (oci/store.h) from the command line. */
#include "driver.h"
#include "imagecmd.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char images_usage[] =
	"usage: smolc images [--json]\n"
	"\n"
	"List the images in the local image store: every build records its image\n"
	"there (smolc build -t NAME[:TAG], default <service>:latest), and so does\n"
	"smolc pull. Columns: name, tag, architecture, disk size, creation date and\n"
	"image key (the build's content address; for an image pulled without smolc's\n"
	"run config, the SHA-256 of its disk).\n"
	"  --json   one JSON array on stdout\n"
	"The store is $SMOLC_DATA, else $XDG_DATA_HOME/smolc, else ~/.local/share/smolc.\n";

static const char tag_usage[] =
	"usage: smolc tag SOURCE[:TAG] TARGET[:TAG]\n"
	"\n"
	"Give the image SOURCE another name in the local image store (no copy).\n";

static const char rmi_usage[] =
	"usage: smolc rmi NAME[:TAG]…\n"
	"\n"
	"Remove tags from the local image store; an image no tag names any more is\n"
	"deleted. Output files written with -o are not touched.\n";

const char *imagecmd_usage(const char *cmd)
{
	if (!strcmp(cmd, "images"))
		return images_usage;
	if (!strcmp(cmd, "tag"))
		return tag_usage;
	if (!strcmp(cmd, "rmi"))
		return rmi_usage;
	return NULL;
}

static int bad_usage(const char *cmd, const char *fmt, const char *arg)
{
	fputs("smolc: ", stderr);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nRun 'smolc help %s' for its options.\n", cmd);
	return EXIT_USAGE;
}

/* Options: only --help (and --json when json is non-NULL). -1 = go on. */
static int parse_simple(const char *cmd, int argc, char **argv, bool *json)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(imagecmd_usage(cmd), stdout);
			return EXIT_OK;
		}
		if (c == 'j' && json) {
			*json = true;
			continue;
		}
		return bad_usage(cmd, "unknown option or missing value: '%s'", argv[optind - 1]);
	}
	return -1;
}

static struct store *open_store(void)
{
	char *err = NULL;
	struct store *s = store_open(NULL, &err);
	if (!s) {
		fprintf(stderr, "smolc: %s\n", err);
		free(err);
	}
	return s;
}

int cmd_images(int argc, char **argv)
{
	bool json = false;
	int ex = parse_simple("images", argc, argv, &json);
	if (ex >= 0)
		return ex;
	if (optind < argc)
		return bad_usage("images", "images: takes no argument, got '%s'", argv[optind]);
	struct store *s = open_store();
	if (!s)
		return EXIT_FAIL;
	struct store_list l;
	char *err = NULL;
	if (store_list(s, &l, &err) < 0) {
		fprintf(stderr, "smolc: %s\n", err);
		free(err);
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
	int ex = parse_simple("tag", argc, argv, NULL);
	if (ex >= 0)
		return ex;
	if (argc - optind != 2)
		return bad_usage("tag", "tag: needs SOURCE and TARGET%s", "");
	char *sn = NULL, *st = NULL, *dn = NULL, *dt = NULL, *err = NULL;
	int rc = EXIT_USAGE;
	struct store *s = NULL;
	if (store_parse_ref(argv[optind], &sn, &st, &err) < 0 || store_parse_ref(argv[optind + 1], &dn, &dt, &err) < 0) {
		fprintf(stderr, "smolc: tag: %s\n", err);
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
		fprintf(stderr, "smolc: tag: %s\n", err);
		goto out;
	}
	fprintf(stderr, "smolc: tagged %s:%s as %s:%s (image key %.12s)\n", sn, st, dn, dt, id);
	rc = EXIT_OK;
out:
	store_free(s);
	free(err);
	free(sn);
	free(st);
	free(dn);
	free(dt);
	return rc;
}

int cmd_rmi(int argc, char **argv)
{
	int ex = parse_simple("rmi", argc, argv, NULL);
	if (ex >= 0)
		return ex;
	if (optind >= argc)
		return bad_usage("rmi", "rmi: needs at least one NAME[:TAG]%s", "");
	for (int i = optind; i < argc; i++) {
		char *n = NULL, *t = NULL, *err = NULL;
		if (store_parse_ref(argv[i], &n, &t, &err) < 0) {
			fprintf(stderr, "smolc: rmi: %s\n", err);
			free(err);
			return EXIT_USAGE;
		}
		free(n);
		free(t);
	}
	struct store *s = open_store();
	if (!s)
		return EXIT_FAIL;
	int rc = EXIT_OK;
	for (int i = optind; i < argc; i++) {
		char *n = NULL, *t = NULL, *err = NULL;
		store_parse_ref(argv[i], &n, &t, NULL);
		bool gone = false;
		int r = store_untag(s, n, t, &gone, &err);
		if (r == 1) {
			fprintf(stderr, "smolc: rmi: no image %s:%s in the store (see 'smolc images')\n", n, t);
			rc = EXIT_FAIL;
		} else if (r < 0) {
			fprintf(stderr, "smolc: rmi: %s\n", err);
			rc = EXIT_FAIL;
		} else {
			fprintf(stderr, "smolc: untagged %s:%s%s\n", n, t, gone ? "; image deleted" : "");
		}
		free(err);
		free(n);
		free(t);
	}
	store_free(s);
	return rc;
}
