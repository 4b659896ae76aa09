/* test_util.c — read_file (sizes that stat does not tell, files read to
 * their exact size) and the digest memo (digestmemo.h): digests right,
 * remembered by identity, forgotten on change, torn memos ignored; and
 * jout (JSON output): untrusted text stays valid JSON and terminal-safe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "digestmemo.h"
#include "jout.h"
#include "util.h"

static char *scratch(void)
{
	char tmpl[] = "/tmp/smolc-util-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void put(const char *path, const char *text)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static void test_read_file_sizes(void **state)
{
	(void)state;
	char *dir = scratch();
	char *p = path_join(dir, "f");
	char *data;
	size_t len;
	put(p, "");
	assert_int_equal(read_file(p, 100, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(data[0], 0);
	free(data);
	put(p, "hello\n");
	assert_int_equal(read_file(p, 100, &data, &len), 0);
	assert_int_equal(len, 6);
	assert_string_equal(data, "hello\n");
	free(data);
	/* over the limit */
	assert_int_equal(read_file(p, 5, &data, &len), -1);
	/* /proc files say size 0 and hold more: all of it, not one byte */
	assert_int_equal(read_file("/proc/self/stat", 4096, &data, &len), 0);
	assert_true(len > 20);
	assert_non_null(strchr(data, ')'));
	free(data);
	assert_int_equal(read_file(dir, 100, &data, &len), -1); /* a directory */
	remove_tree(dir);
	free(p);
	free(dir);
}

static void want_digest(const char *path, char hex[65])
{
	assert_int_equal(digest_file_hex(DIGEST_SHA256, path, hex), 0);
}

/* One run of the memo for `recipe`: the digest of `path` into got. */
static int memo_run(const char *cache, const char *recipe, const char *path, time_t clock, char got[65])
{
	struct dmemo *m = dmemo_open(cache, recipe);
	if (clock)
		dmemo_set_clock(m, clock);
	int rc = dmemo_digest(m, path, NULL, got);
	dmemo_close(m, rc == 0);
	return rc;
}

static void test_memo(void **state)
{
	(void)state;
	char *dir = scratch();
	char *cache = path_join(dir, "cache");
	char *recipe = path_join(dir, "Smolfile");
	char *f = path_join(dir, "a.txt");
	put(recipe, "FROM scratch\n");
	put(f, "one\n");
	char want[65], got[65];
	want_digest(f, want);
	time_t later = time(NULL) + 60; /* the file counts as settled */

	/* first run: computed and remembered */
	assert_int_equal(memo_run(cache, recipe, f, later, got), 0);
	assert_string_equal(got, want);
	char *k;
	{
		char *rp = realpath(recipe, NULL);
		char h[65];
		sha256_hex(rp, strlen(rp), h);
		free(rp);
		k = xasprintf("%s/digests/%s", cache, h);
	}
	char *text;
	size_t len;
	assert_int_equal(read_file(k, 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, f));

	/* the memo is what answers: edit its digest (and its sum line) and
	 * the edited value comes back without the file being read */
	char *fake = xstrdup(text);
	char *at = strstr(fake, want);
	memset(at, 'a', 64);
	char *sum = strstr(fake, "sum ");
	*sum = 0;
	char h[65];
	sha256_hex(fake, strlen(fake), h);
	char *forged = xasprintf("%ssum %s\n", fake, h);
	put(k, forged);
	assert_int_equal(memo_run(cache, recipe, f, later, got), 0);
	assert_int_equal(strspn(got, "a"), 64);

	/* a torn memo (sum does not match) is ignored: the true digest */
	forged[strlen(forged) - 10] ^= 1;
	put(k, forged);
	assert_int_equal(memo_run(cache, recipe, f, later, got), 0);
	assert_string_equal(got, want);

	/* a changed file (same size) gets its new digest */
	put(f, "two\n");
	want_digest(f, want);
	assert_int_equal(memo_run(cache, recipe, f, later, got), 0);
	assert_string_equal(got, want);

	/* a file changed just now is not remembered (2 s rule) */
	char *g = path_join(dir, "b.txt");
	put(g, "fresh\n");
	assert_int_equal(memo_run(cache, recipe, g, 0, got), 0);
	free(text);
	assert_int_equal(read_file(k, 1 << 20, &text, &len), 0);
	assert_null(strstr(text, g));
	/* the complete run above used only b.txt: a.txt was dropped */
	assert_null(strstr(text, f));

	/* no cache: digests still right */
	assert_int_equal(memo_run(NULL, recipe, g, 0, got), 0);
	want_digest(g, want);
	assert_string_equal(got, want);
	/* unreadable: -1 */
	char *missing = path_join(dir, "missing");
	assert_int_equal(memo_run(cache, recipe, missing, 0, got), -1);

	free(missing);
	free(text);
	free(fake);
	free(forged);
	free(k);
	free(g);
	free(f);
	free(recipe);
	free(cache);
	remove_tree(dir);
	free(dir);
}

/* what jout_print writes for jout_str(in) */
static void expect_json(const char *in, const char *want)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(jout_print(f, jout_str(in), NULL), 0);
	fclose(f);
	assert_string_equal(buf, want);
	free(buf);
}

static void test_jout(void **state)
{
	(void)state;
	expect_json(NULL, "null");
	expect_json("plain", "\"plain\"");
	expect_json("q\"b\\n\nt", "\"q\\\"b\\\\n\\nt\"");
	/* C0 controls: JSON escapes (the value keeps them, the text is safe) */
	expect_json("\x1b[31mred\a\r", "\"\\u001B[31mred\\u0007\\r\"");
	/* valid UTF-8 passes; DEL, C1 (CSI) and bytes that are not UTF-8
	 * become their C escape as text */
	expect_json("caf\xc3\xa9", "\"caf\xc3\xa9\"");
	expect_json("a\x7f", "\"a\\\\x7f\"");
	expect_json("\xc2\x9b" "2J", "\"\\\\xc2\\\\x9b2J\"");
	expect_json("bad\xff\xfe", "\"bad\\\\xff\\\\xfe\"");
	/* seconds to the millisecond */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(jout_print(f, json_pack("[o,o,o]", jout_secs(0.1234), jout_secs(12.0), jout_secs(1234.5678)), "\n"), 0);
	fclose(f);
	assert_string_equal(buf, "[0.123,12.0,1234.568]\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_file_sizes),
		cmocka_unit_test(test_memo),
		cmocka_unit_test(test_jout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
