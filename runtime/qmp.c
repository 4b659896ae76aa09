/* qmp.c — minimal QMP client (see qmp.h).
 *
 * QMP speaks one JSON object per line. We read line by line with poll()
 * timeouts; no JSON library: the replies we need are recognised by their
 * top-level key, which QEMU always writes first ({"return": ...},
 * {"error": ...}, {"event": ...}, {"QMP": ...}). */
#include "qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

static int connect_unix(const char *path, char **err)
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
			*err = xasprintf("%s: %s", path, strerror(errno));
			return -1;
		}
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, path_basename(path));
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = xasprintf("socket: %s", strerror(errno));
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		*err = xasprintf("%s: cannot connect to QMP: %s", path, strerror(errno));
		close(fd);
		fd = -1;
	}
out:
	if (dirfd >= 0)
		close(dirfd);
	return fd;
}

/* Read one line (without '\n'); caller frees. Returns 0 or -1. */
static int read_line(int fd, int timeout_ms, char **line, char **err)
{
	struct strbuf sb;
	sb_init(&sb);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*err = xstrdup(r == 0 ? "QMP: no reply (timeout)" : "QMP: poll failed");
			sb_free(&sb);
			return -1;
		}
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = xstrdup("QMP: connection closed");
			sb_free(&sb);
			return -1;
		}
		if (c == '\n')
			break;
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

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	return s;
}

int qmp_command(int fd, const char *json, int timeout_ms, char **reply, char **err)
{
	if (write_all(fd, json, strlen(json)) < 0 || write_all(fd, "\n", 1) < 0) {
		*err = xasprintf("QMP: send failed: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		char *line = NULL;
		if (read_line(fd, timeout_ms, &line, err) < 0)
			return -1;
		const char *s = skip_ws(line);
		if (str_startswith(s, "{\"return\"")) {
			if (reply)
				*reply = line;
			else
				free(line);
			return 0;
		}
		if (str_startswith(s, "{\"error\"")) {
			*err = xasprintf("QMP error: %s", s);
			free(line);
			return -1;
		}
		free(line); /* event or greeting */
	}
}

int qmp_connect(const char *sock_path, int timeout_ms, char **err)
{
	int fd = connect_unix(sock_path, err);
	if (fd < 0)
		return -1;
	char *greeting = NULL;
	if (read_line(fd, timeout_ms, &greeting, err) < 0)
		goto fail;
	bool ok = strstr(greeting, "\"QMP\"") != NULL;
	free(greeting);
	if (!ok) {
		*err = xasprintf("%s: not a QMP socket", sock_path);
		goto fail;
	}
	if (qmp_command(fd, "{\"execute\":\"qmp_capabilities\"}", timeout_ms, NULL, err) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

int qmp_execute(const char *sock_path, const char *execute, int timeout_ms, char **err)
{
	int fd = qmp_connect(sock_path, timeout_ms, err);
	if (fd < 0)
		return -1;
	char *cmd = xasprintf("{\"execute\":\"%s\"}", execute);
	int r = qmp_command(fd, cmd, timeout_ms, NULL, err);
	free(cmd);
	close(fd);
	return r;
}

/* Decode the JSON string starting after the opening quote at s. */
static char *json_unescape(const char *s)
{
	struct strbuf sb;
	sb_init(&sb);
	for (; *s && *s != '"'; s++) {
		if (*s != '\\') {
			sb_addc(&sb, *s);
			continue;
		}
		s++;
		switch (*s) {
		case 'n': sb_addc(&sb, '\n'); break;
		case 'r': sb_addc(&sb, '\r'); break;
		case 't': sb_addc(&sb, '\t'); break;
		case 'u':
			/* ASCII only; others become '?' */
			if (s[1] && s[2] && s[3] && s[4]) {
				unsigned v = (unsigned)strtoul((char[]){s[1], s[2], s[3], s[4], 0}, NULL, 16);
				sb_addc(&sb, v < 128 ? (char)v : '?');
				s += 4;
			}
			break;
		case 0: s--; break;
		default: sb_addc(&sb, *s); break;
		}
	}
	sb_cstr(&sb);
	return sb_detach(&sb);
}

int qmp_hmp(const char *sock_path, const char *command_line, int timeout_ms,
	    char **out, char **err)
{
	int fd = qmp_connect(sock_path, timeout_ms, err);
	if (fd < 0)
		return -1;
	char *cmd = xasprintf("{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"%s\"}}",
			      command_line);
	char *reply = NULL;
	int r = qmp_command(fd, cmd, timeout_ms, &reply, err);
	free(cmd);
	close(fd);
	if (r < 0)
		return -1;
	const char *q = strstr(reply, "\"return\"");
	q = q ? strchr(q + 8, '"') : NULL;
	*out = q ? json_unescape(q + 1) : xstrdup("");
	free(reply);
	return 0;
}
