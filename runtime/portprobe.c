/* portprobe.c — port checks for forwarded ports (see portprobe.h).
 *
 * Connections use non-blocking connect + poll so one attempt never blocks
 * longer than its budget. */
#include "portprobe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp.h"
#include "util.h"

static int resolve(const char *host, unsigned port, int socktype, struct addrinfo **res)
{
	char ps[16];
	snprintf(ps, sizeof(ps), "%u", port);
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = socktype;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	return getaddrinfo(host, ps, &hints, res);
}

int portprobe_free(const char *host_addr, unsigned port, bool is_udp, struct error **err)
{
	struct addrinfo *ai = NULL;
	const char *proto = is_udp ? "udp" : "tcp";
	int g = resolve(host_addr, port, is_udp ? SOCK_DGRAM : SOCK_STREAM, &ai);
	if (g != 0) {
		error_set(err, "host address \"%s\" for port %u: %s", host_addr, port, gai_strerror(g));
		return -1;
	}
	int rv = 0;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		error_set(err, "socket: %s", strerror(errno));
		rv = -1;
		goto out;
	}
	/* QEMU's hostfwd sets SO_REUSEADDR too: TIME_WAIT leftovers are fine. */
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno == EADDRINUSE) {
			error_set(err, "host port %u (%s/%s) is already in use", port, host_addr, proto);
			rv = -2;
		} else {
			error_set(err, "cannot bind host port %u (%s/%s): %s", port, host_addr, proto,
					 strerror(errno));
			rv = -1;
		}
	}
	close(fd);
out:
	freeaddrinfo(ai);
	return rv;
}

int portprobe_pick(const char *host_addr, bool is_udp, unsigned *port, struct error **err)
{
	struct addrinfo *ai = NULL;
	const char *proto = is_udp ? "udp" : "tcp";
	int g = resolve(host_addr, 0, is_udp ? SOCK_DGRAM : SOCK_STREAM, &ai);
	if (g != 0) {
		error_set(err, "host address \"%s\": %s", host_addr, gai_strerror(g));
		return -1;
	}
	int rv = -1;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		error_set(err, "cannot pick a free host port on %s/%s: %s", host_addr, proto, strerror(errno));
	} else {
		*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						       : ((struct sockaddr_in *)&ss)->sin_port);
		rv = 0;
	}
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return rv;
}

/* Connect within budget; returns fd or -1. */
static int connect_within(const char *host, unsigned port, int budget_ms)
{
	struct addrinfo *ai = NULL;
	if (resolve(host, port, SOCK_STREAM, &ai) != 0)
		return -1;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, budget_ms) <= 0)
			goto fail;
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr)
			goto fail;
	}
	freeaddrinfo(ai);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

/* Wait for readable data; returns bytes read (>0), 0 on EOF/reset, -1 on timeout. */
static ssize_t read_within(int fd, char *buf, size_t n, double deadline)
{
	for (;;) {
		int left = (int)((deadline - now_monotonic()) * 1000);
		if (left <= 0)
			return -1;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t got = read(fd, buf, n);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		return got < 0 ? 0 : got;
	}
}

static bool usernet_established(const char *text, unsigned port, unsigned guest_port)
{
	const char *line = text;
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char *l = xstrndup(line, len);
		char state[32], src[64], dst[64];
		int fd;
		unsigned sp, dp;
		if (sscanf(l, " TCP[%31[^]]] %d %63s %u %63s %u", state, &fd, src, &sp, dst, &dp) == 6 &&
		    !strcmp(state, "ESTABLISHED") && sp == port && dp == guest_port) {
			free(l);
			return true;
		}
		free(l);
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

bool portprobe_ready(const char *host_addr, unsigned port, unsigned guest_port,
		     const char *http_path, const char *qmp_socket, int budget_ms)
{
	double deadline = now_monotonic() + budget_ms / 1000.0;
	const char *connect_host = strcmp(host_addr, "0.0.0.0") ? host_addr : "127.0.0.1";
	int fd = connect_within(connect_host, port, budget_ms);
	if (fd < 0)
		return false;
	bool ready = false;
	char buf[512];
	if (http_path) {
		char *req = xasprintf("GET %s HTTP/1.0\r\nHost: %s:%u\r\nUser-Agent: smolc-wait\r\n\r\n",
				      http_path, connect_host, port);
		ssize_t w = send(fd, req, strlen(req), MSG_NOSIGNAL);
		free(req);
		if (w > 0) {
			ssize_t got = read_within(fd, buf, 5, deadline);
			ready = got >= 5 && !memcmp(buf, "HTTP/", 5);
		}
	} else if (qmp_socket) {
		while (!ready && now_monotonic() < deadline) {
			struct error *err = NULL;
			char *out = NULL;
			if (qmp_hmp(qmp_socket, "info usernet", budget_ms, &out, &err) < 0) {
				error_clear(&err);
				break;
			}
			ready = usernet_established(out, port, guest_port);
			free(out);
			if (!ready) {
				/* closed by the guest (RST)? then give up this attempt */
				struct pollfd p = {.fd = fd, .events = POLLIN};
				if (poll(&p, 1, 20) > 0 && recv(fd, buf, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
					break;
			}
		}
	} else {
		ready = read_within(fd, buf, 1, deadline) > 0;
	}
	close(fd);
	return ready;
}
