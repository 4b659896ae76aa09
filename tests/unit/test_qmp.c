/* test_qmp.c — the QMP client (qmp.h) against a scripted server on a unix
 * socket: replies parsed as JSON (strings with escapes, events skipped),
 * commands sent as JSON (a quote in an HMP command line stays inside its
 * string), error replies, a socket that is not QMP, a server that never
 * answers (the whole call is bounded) and an endless line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qmp.h"
#include "util.h"

struct server {
	char dir[64];
	char path[96];
	pid_t pid;
};

/* Serve one connection: write script[0], then for each later entry read
 * one line and write the entry (a line of "@" + text: compare the line
 * read with text first, exit 3 when it differs). NULL ends the script;
 * a "SLEEP" entry sleeps instead of writing. */
static void serve(struct server *sv, const char *const *script)
{
	snprintf(sv->dir, sizeof(sv->dir), "/tmp/smolc-qmp-XXXXXX");
	assert_non_null(mkdtemp(sv->dir));
	snprintf(sv->path, sizeof(sv->path), "%s/qmp", sv->dir);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(l >= 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sv->path);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	sv->pid = fork();
	assert_true(sv->pid >= 0);
	if (sv->pid == 0) {
		int c = accept(l, NULL, NULL);
		FILE *in = fdopen(dup(c), "r");
		char *line = NULL;
		size_t cap = 0;
		for (size_t i = 0; script[i]; i++) {
			const char *out = script[i];
			if (i > 0) {
				if (getline(&line, &cap, in) < 0)
					_exit(2);
				line[strcspn(line, "\n")] = 0;
				if (out[0] == '@') {
					size_t n = strcspn(out + 1, "\n");
					if (strncmp(line, out + 1, n) || line[n])
						_exit(3);
					out += 1 + n + 1;
				}
			}
			if (!strcmp(out, "SLEEP")) {
				sleep(30);
				_exit(0);
			}
			if (write(c, out, strlen(out)) < 0)
				_exit(4);
		}
		_exit(0);
	}
	close(l);
}

/* Wait for the server (killed first unless it ends by itself); its exit
 * status, -1 when it was killed. */
static int finish_(struct server *sv, bool stop)
{
	int st = 0;
	if (stop)
		kill(sv->pid, SIGTERM);
	waitpid(sv->pid, &st, 0);
	unlink(sv->path);
	rmdir(sv->dir);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
#define finish(sv) finish_(sv, true)

#define GREETING "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n"
#define CAPS_OK "@{\"execute\":\"qmp_capabilities\"}\n{\"return\": {}}\n"

static void test_hmp_reply(void **state)
{
	(void)state;
	const char *script[] = {
		GREETING, CAPS_OK,
		"@{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"say \\\"hi\\\"\"}}\n"
		"{\"event\": \"X\", \"data\": {\"return\": 1}}\n{\"return\": \"a\\u00e9\\\"b\\n\\u001b\"}\n",
		NULL};
	struct server sv;
	serve(&sv, script);
	struct error *err = NULL;
	char *out = NULL;
	assert_int_equal(qmp_hmp(sv.path, "say \"hi\"", 5000, &out, &err), 0);
	assert_string_equal(out, "a\xc3\xa9\"b\n\x1b");
	free(out);
	assert_int_equal(finish_(&sv, false), 0);
}

static void test_error_reply(void **state)
{
	(void)state;
	const char *script[] = {
		GREETING, CAPS_OK,
		"@{\"execute\":\"system_powerdown\"}\n"
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"no \\u001b[31m\"}}\n",
		NULL};
	struct server sv;
	serve(&sv, script);
	struct error *err = NULL;
	assert_int_equal(qmp_execute(sv.path, "system_powerdown", 5000, &err), -1);
	assert_string_equal(error_msg(err), "QMP error: GenericError: no \\x1b[31m");
	error_clear(&err);
	finish(&sv);
}

static void test_not_qmp(void **state)
{
	(void)state;
	const char *script[] = {"SSH-2.0-OpenSSH\n", NULL};
	struct server sv;
	serve(&sv, script);
	struct error *err = NULL;
	assert_int_equal(qmp_execute(sv.path, "stop", 5000, &err), -1);
	char *want = xasprintf("%s: not a QMP socket", sv.path);
	assert_string_equal(error_msg(err), want);
	free(want);
	error_clear(&err);
	finish(&sv);
}

static void test_no_reply_bounded(void **state)
{
	(void)state;
	/* a server that trickles nothing after the greeting: the call as a
	 * whole ends at its timeout */
	const char *script[] = {GREETING, "SLEEP", NULL};
	struct server sv;
	serve(&sv, script);
	struct error *err = NULL;
	double t0 = now_monotonic();
	assert_int_equal(qmp_execute(sv.path, "stop", 300, &err), -1);
	assert_true(now_monotonic() - t0 < 10.0);
	assert_string_equal(error_msg(err), "QMP: no reply (timeout)");
	error_clear(&err);
	finish(&sv);
}

static void test_endless_line(void **state)
{
	(void)state;
	size_t n = (1u << 20) + 10;
	char *big = xmalloc(n + 1);
	memset(big, 'x', n);
	big[n] = 0;
	const char *script[] = {big, NULL};
	struct server sv;
	serve(&sv, script);
	struct error *err = NULL;
	assert_int_equal(qmp_execute(sv.path, "stop", 20000, &err), -1);
	assert_string_equal(error_msg(err), "QMP: a reply line longer than 1048576 bytes");
	error_clear(&err);
	finish(&sv);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hmp_reply),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_not_qmp),
		cmocka_unit_test(test_no_reply_bounded),
		cmocka_unit_test(test_endless_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
