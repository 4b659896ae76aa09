/* jout.c — JSON output through jansson; see jout.h. */
#include "jout.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static json_t *need(json_t *v)
{
	if (!v)
		xalloc_oom();
	return v;
}

/* Is s valid UTF-8 without DEL and C1 controls (so jansson takes it as is)? */
static int plain_text(const unsigned char *s)
{
	while (*s) {
		if (*s == 0x7f)
			return 0;
		if (*s < 0x80) {
			s++;
			continue;
		}
		size_t n = utf8_seq(s);
		if (n == 0 || (n == 2 && s[0] == 0xc2 && s[1] < 0xa0))
			return 0;
		s += n;
	}
	return 1;
}

json_t *jout_str(const char *s)
{
	if (!s)
		return json_null();
	if (plain_text((const unsigned char *)s))
		return need(json_string(s));
	/* C0 controls stay for jansson to \u-escape; the rest as str_escape() */
	struct strbuf sb;
	sb_init(&sb);
	for (const unsigned char *c = (const unsigned char *)s; *c;) {
		if (*c < 0x20) {
			sb_addc(&sb, (char)*c++);
			continue;
		}
		size_t n = *c < 0x80 ? 1 : utf8_seq(c);
		char one[5] = {0};
		memcpy(one, c, n ? n : 1);
		sb_add_escaped(&sb, one, false);
		c += n ? n : 1;
	}
	json_t *v = need(json_string(sb_cstr(&sb)));
	sb_free(&sb);
	return v;
}

json_t *jout_secs(double s)
{
	/* no libm: round half away from zero by hand */
	long long ms = (long long)(s * 1000.0 + (s < 0 ? -0.5 : 0.5));
	return need(json_real((double)ms / 1000.0));
}

int jout_print(FILE *out, json_t *v, const char *end)
{
	/* 9 significant digits: seconds to the millisecond up to 10^6 s */
	int r = json_dumpf(v, out, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
	json_decref(v);
	if (r == 0 && end && fputs(end, out) == EOF)
		r = -1;
	return r < 0 ? -1 : 0;
}
