/* portprobe.h — host-side port checks for forwarded ports.
 *
 * portprobe_free: is HOST:PORT free to bind (checked before QEMU starts,
 * so a taken port is named by smolc instead of by QEMU's hostfwd error)?
 *
 * portprobe_ready: is the guest service behind a forwarded port up? QEMU's
 * user networking (slirp) accepts on the host port at once, even before
 * the guest exists, and only then sends SYN to the guest — so "connect
 * succeeded" means nothing. Ready means one of:
 *   - http_path set: an HTTP status line came back for GET http_path;
 *   - a QMP socket given: after connecting, `info usernet` shows the
 *     forwarded connection to the guest port as TCP[ESTABLISHED]
 *     (TCP[SYN_SENT] = guest not answering yet);
 *   - neither: the guest sent a first byte (services that greet).
 * Each call makes one attempt bounded by budget_ms. */
#ifndef SMOLC_PORTPROBE_H
#define SMOLC_PORTPROBE_H

#include "error.h"

#include <stdbool.h>

/* Returns 0 when free; -2 with *err ("host port 8080 (127.0.0.1/tcp) is
 * already in use", no hint: the caller knows what to suggest) when taken;
 * -1 with *err for other errors. udp when is_udp. */
int portprobe_free(const char *host_addr, unsigned port, bool is_udp, struct error **err);

/* Pick a free host port on host_addr (bind to port 0, read it back,
 * close): returns 0 with *port, or -1 with *err. Another program may take
 * it before QEMU binds it; QEMU then fails to start and says so. */
int portprobe_pick(const char *host_addr, bool is_udp, unsigned *port, struct error **err);

/* One readiness attempt (see above). guest_port is used to match the
 * `info usernet` line. Returns true when ready. */
bool portprobe_ready(const char *host_addr, unsigned port, unsigned guest_port,
		     const char *http_path, const char *qmp_socket, int budget_ms);

#endif
