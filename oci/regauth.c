/* regauth.c — see regauth.h. base64 through libcrypto. */
#include "regauth.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

char *regauth_default_dir(void)
{
	const char *d = getenv("DOCKER_CONFIG");
	if (d && *d)
		return xstrdup(d);
	const char *h = getenv("HOME");
	return h && *h ? path_join(h, ".docker") : NULL;
}

static json_t *load_config(const char *path, struct error **err)
{
	char *text = NULL;
	size_t len = 0;
	if (read_file(path, 4 << 20, &text, &len) < 0) {
		if (errno == ENOENT)
			return json_object();
		error_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	json_error_t je;
	json_t *o = json_loadb(text, len, 0, &je);
	free(text);
	if (!o || !json_is_object(o)) {
		error_set(err, "%s:%d:%d: not a docker config file (a JSON object): %s", path, je.line, je.column,
			o ? "not an object" : je.text);
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *find_entry(json_t *auths, const char *host)
{
	if (!json_is_object(auths))
		return NULL;
	const char *k;
	json_t *v;
	json_object_foreach(auths, k, v)
	{
		const char *h = k;
		if (str_startswith(h, "https://"))
			h += 8;
		else if (str_startswith(h, "http://"))
			h += 7;
		size_t n = strlen(host);
		if (!strncmp(h, host, n) && (h[n] == 0 || h[n] == '/'))
			return v;
	}
	return NULL;
}

int regauth_get(const char *dir, const char *host, char **user, char **pass, struct error **err)
{
	*user = *pass = NULL;
	if (!dir)
		return 1;
	char *path = path_join(dir, "config.json");
	json_t *o = load_config(path, err);
	int rc = 1;
	if (!o) {
		rc = -1;
		goto out;
	}
	json_t *e = find_entry(json_object_get(o, "auths"), host);
	if (!json_is_object(e))
		goto out;
	json_t *a = json_object_get(e, "auth");
	const char *u = json_string_value(json_object_get(e, "username"));
	const char *p = json_string_value(json_object_get(e, "password"));
	if (json_is_string(a) && json_string_length(a) > 0) {
		const char *b64 = json_string_value(a);
		size_t n = strlen(b64);
		unsigned char *dec = xmalloc(n + 4);
		int dl = n % 4 == 0 ? EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n) : -1;
		if (dl >= 0) {
			/* EVP_DecodeBlock counts the '=' padding as zero bytes */
			if (n >= 1 && b64[n - 1] == '=')
				dl--;
			if (n >= 2 && b64[n - 2] == '=')
				dl--;
		}
		char *colon = dl > 0 ? memchr(dec, ':', (size_t)dl) : NULL;
		if (!colon) {
			error_set(err, "%s: the \"auth\" of %s is not base64 of user:password", path, host);
			free(dec);
			rc = -1;
			goto out;
		}
		*user = xstrndup((char *)dec, (size_t)(colon - (char *)dec));
		*pass = xstrndup(colon + 1, (size_t)((char *)dec + dl - colon - 1));
		explicit_bzero(dec, n + 4);
		free(dec);
		rc = 0;
	} else if (u && p) {
		*user = xstrdup(u);
		*pass = xstrdup(p);
		rc = 0;
	}
out:
	json_decref(o);
	free(path);
	return rc;
}

int regauth_put(const char *dir, const char *host, const char *user, const char *pass, struct error **err)
{
	if (!dir) {
		error_set(err, "no docker config directory: set DOCKER_CONFIG or HOME");
		return -1;
	}
	if (mkdir_p(dir, 0700) < 0) {
		error_set(err, "%s: %s", dir, strerror(errno));
		return -1;
	}
	char *path = path_join(dir, "config.json");
	json_t *o = load_config(path, err);
	int rc = -1;
	if (!o)
		goto out;
	json_t *auths = json_object_get(o, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(o, "auths", auths);
	}
	char *up = xasprintf("%s:%s", user, pass);
	size_t n = strlen(up);
	unsigned char *enc = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock(enc, (const unsigned char *)up, (int)n);
	explicit_bzero(up, n);
	free(up);
	json_t *e = json_object();
	json_object_set_new(e, "auth", json_string((char *)enc));
	free(enc);
	json_object_set_new(auths, host, e);
	char *text = json_dumps(o, JSON_INDENT(1));
	if (!text) {
		error_set(err, "%s: cannot encode", path);
		goto out;
	}
	size_t tl = strlen(text);
	text = xrealloc(text, tl + 2);
	text[tl] = '\n';
	text[tl + 1] = 0;
	if (write_file_atomic(path, text, tl + 1, 0600) < 0)
		error_set(err, "writing %s: %s", path, strerror(errno));
	else
		rc = 0;
	explicit_bzero(text, tl);
	free(text);
out:
	json_decref(o);
	free(path);
	return rc;
}
