/* qmp.c — minimal QMP client (see qmp.h).
 *
 * QMP speaks one JSON object per line. Lines are read with poll() against
 * one deadline per call (timeout_ms in all, not per byte) and at most
 * QMP_LINE_MAX bytes; commands are built and replies parsed with jansson
 * ({"return": ...}, {"error": {"class", "desc"}}, {"event": ...},
 * {"QMP": ...}). */
#include "qmp.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

#define QMP_LINE_MAX (1 << 20)

static int connect_unix(const char *path, struct error **err)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	int dirfd = -1;
	if (strlen(path) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, strlen(path) + 1);
	} else {
		char *dir = path_dirname(path);
		dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		free(dir);
		if (dirfd < 0) {
			error_set(err, "%s: %s", path, strerror(errno));
			return -1;
		}
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, path_basename(path));
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		error_set(err, "socket: %s", strerror(errno));
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		error_set(err, "%s: cannot connect to QMP: %s", path, strerror(errno));
		close(fd);
		fd = -1;
	}
out:
	if (dirfd >= 0)
		close(dirfd);
	return fd;
}

/* Read one line (without '\n') before deadline (now_monotonic() seconds);
 * caller frees. Returns 0 or -1 with *err. */
static int read_line(int fd, double deadline, char **line, struct error **err)
{
	struct strbuf sb;
	sb_init(&sb);
	for (;;) {
		int left = (int)((deadline - now_monotonic()) * 1000.0);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = left > 0 ? poll(&p, 1, left) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			error_set(err, "%s", r == 0 ? "QMP: no reply (timeout)" : "QMP: poll failed");
			sb_free(&sb);
			return -1;
		}
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			error_set(err, "QMP: connection closed");
			sb_free(&sb);
			return -1;
		}
		if (c == '\n')
			break;
		if (sb.len >= QMP_LINE_MAX) {
			error_set(err, "QMP: a reply line longer than %d bytes", QMP_LINE_MAX);
			sb_free(&sb);
			return -1;
		}
		sb_addc(&sb, c);
	}
	sb_cstr(&sb);
	*line = sb_detach(&sb);
	return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Send cmd (a JSON object; the reference is taken) and read lines until its
 * reply: 0 with *reply (the "return" value; caller decrefs; reply may be
 * NULL), or -1 with *err ("error", I/O, timeout, a line that is not JSON). */
static int command(int fd, json_t *cmd, double deadline, json_t **reply, struct error **err)
{
	char *text = json_dumps(cmd, JSON_COMPACT);
	json_decref(cmd);
	if (!text) {
		error_set(err, "QMP: cannot encode the command");
		return -1;
	}
	int w = write_all(fd, text, strlen(text)) < 0 || write_all(fd, "\n", 1) < 0 ? -1 : 0;
	free(text);
	if (w < 0) {
		error_set(err, "QMP: send failed: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		char *line = NULL;
		if (read_line(fd, deadline, &line, err) < 0)
			return -1;
		json_error_t je;
		json_t *msg = json_loads(line, 0, &je);
		free(line);
		if (!json_is_object(msg)) {
			if (msg)
				error_set(err, "QMP: a reply that is not a JSON object");
			else
				error_set(err, "QMP: a reply that is not JSON: %s", je.text);
			json_decref(msg);
			return -1;
		}
		json_t *ret = json_object_get(msg, "return");
		if (ret) {
			if (reply)
				*reply = json_incref(ret);
			json_decref(msg);
			return 0;
		}
		json_t *e = json_object_get(msg, "error");
		if (e) {
			const char *cls = json_string_value(json_object_get(e, "class"));
			const char *desc = json_string_value(json_object_get(e, "desc"));
			char *ecls = str_escape(cls ? cls : "?"), *edesc = str_escape(desc ? desc : "");
			error_set(err, "QMP error: %s: %s", ecls, edesc);
			free(ecls);
			free(edesc);
			json_decref(msg);
			return -1;
		}
		json_decref(msg); /* an event or the greeting */
	}
}

static int connect_qmp(const char *sock_path, double deadline, struct error **err)
{
	int fd = connect_unix(sock_path, err);
	if (fd < 0)
		return -1;
	char *greeting = NULL;
	if (read_line(fd, deadline, &greeting, err) < 0)
		goto fail;
	json_t *g = json_loads(greeting, 0, NULL);
	bool ok = json_is_object(g) && json_object_get(g, "QMP");
	json_decref(g);
	free(greeting);
	if (!ok) {
		error_set(err, "%s: not a QMP socket", sock_path);
		goto fail;
	}
	if (command(fd, json_pack("{s:s}", "execute", "qmp_capabilities"), deadline, NULL, err) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

int qmp_execute(const char *sock_path, const char *execute, int timeout_ms, struct error **err)
{
	double deadline = now_monotonic() + timeout_ms / 1000.0;
	int fd = connect_qmp(sock_path, deadline, err);
	if (fd < 0)
		return -1;
	int r = command(fd, json_pack("{s:s}", "execute", execute), deadline, NULL, err);
	close(fd);
	return r;
}

int qmp_hmp(const char *sock_path, const char *command_line, int timeout_ms,
	    char **out, struct error **err)
{
	double deadline = now_monotonic() + timeout_ms / 1000.0;
	int fd = connect_qmp(sock_path, deadline, err);
	if (fd < 0)
		return -1;
	json_t *reply = NULL;
	int r = command(fd,
			json_pack("{s:s,s:{s:s}}", "execute", "human-monitor-command", "arguments", "command-line",
				  command_line),
			deadline, &reply, err);
	close(fd);
	if (r < 0)
		return -1;
	const char *text = json_string_value(reply);
	*out = xstrdup(text ? text : "");
	json_decref(reply);
	return 0;
}
