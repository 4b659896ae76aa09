#!/usr/bin/env python3
"""Test HTTP server for smolc (stdlib only). Binds 127.0.0.1 on an ephemeral
port and serves a directory, with injectable faults.

Usage: httpd.py --root DIR [--port-file F] [--log F] [--control F] [--port N]

  --port-file F   write the chosen port to F (atomically) once listening;
                  without it the port is printed on stdout.
  --log F         append one line per request: "<METHOD> <path> <status>"
                  (tests count lines to assert that no request was made).
  --control F     optional file read on every request; lines
                  "<path-prefix> <fault>" with fault one of
                  404 | 500 | truncate | slow | trickle | reset | hang | flaky:N.

Faults by path prefix (the prefix is stripped before serving the file):
  /404/...         always 404
  /flaky/N/...     500 for the first N requests of that exact path, then OK
  /truncate/...    Content-Length larger than the body, then close
  /slow/...        body sent in 1 KiB pieces with 50 ms pauses
  /trickle/...     body sent at 2 bytes per second
  /reset/...       connection closed without a response
  /hang/...        headers, then 30 s of silence
Every file gets an ETag and Last-Modified; If-None-Match/If-Modified-Since
give 304. HEAD and single "bytes=a-b" Range requests are supported.
Exits on SIGTERM/SIGINT or when its parent process dies."""

import argparse
import email.utils
import hashlib
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LOCK = threading.Lock()
COUNTS = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "smolc-test-httpd/1"

    def log_message(self, fmt, *args):  # quiet on stderr
        pass

    def _log(self, status):
        if self.server.logfile:
            with LOCK:
                with open(self.server.logfile, "a") as f:
                    f.write("%s %s %s\n" % (self.command, self.path, status))

    def _control(self, path):
        cf = self.server.control
        if not cf or not os.path.exists(cf):
            return None
        with open(cf) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and path.startswith(parts[0]):
                    return parts[1]
        return None

    def _fault(self):
        """Return (fault, path-to-serve)."""
        path = unquote(urlsplit(self.path).path)
        c = self._control(path)
        if c:
            return c, path
        segs = path.split("/")
        if len(segs) > 2 and segs[1] in ("404", "truncate", "slow", "trickle", "reset", "hang"):
            return segs[1], "/" + "/".join(segs[2:])
        if len(segs) > 3 and segs[1] == "flaky":
            return "flaky:" + segs[2], "/" + "/".join(segs[3:])
        return None, path

    def _send_error(self, code, msg):
        body = ("%d %s\n" % (code, msg)).encode()
        self._log(code)  # before answering: a client may look right after
        self.send_response(code, msg)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        fault, path = self._fault()
        if fault and fault.startswith("flaky:"):
            with LOCK:
                n = COUNTS.get(self.path, 0)
                COUNTS[self.path] = n + 1
            if n < int(fault.split(":")[1]):
                return self._send_error(500, "Internal Server Error")
            fault = None
        if fault == "404":
            return self._send_error(404, "Not Found")
        if fault == "500":
            return self._send_error(500, "Internal Server Error")
        if fault == "reset":
            self._log("reset")
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            return
        full = os.path.realpath(os.path.join(self.server.root, path.lstrip("/")))
        if not (full == self.server.root or full.startswith(self.server.root + os.sep)):
            return self._send_error(403, "Forbidden")
        if not os.path.isfile(full):
            return self._send_error(404, "Not Found")
        st = os.stat(full)
        etag = '"%s"' % hashlib.sha256(("%d-%d" % (st.st_mtime_ns, st.st_size)).encode()).hexdigest()[:20]
        lastmod = email.utils.formatdate(int(st.st_mtime), usegmt=True)
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        not_modified = False
        if inm is not None:
            not_modified = etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
        elif ims:
            try:
                t = email.utils.parsedate_to_datetime(ims).timestamp()
                not_modified = int(st.st_mtime) <= int(t)
            except (TypeError, ValueError):
                pass
        if not_modified:
            self._log(304)
            self.send_response(304, "Not Modified")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", lastmod)
            self.end_headers()
            return
        with open(full, "rb") as f:
            data = f.read()
        status, start, end = 200, 0, len(data)
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and "," not in rng:
            a, _, b = rng[6:].partition("-")
            try:
                if a:
                    start = int(a)
                    end = int(b) + 1 if b else len(data)
                else:
                    start = max(0, len(data) - int(b))
                end = min(end, len(data))
                if start >= len(data) or start >= end:
                    return self._send_error(416, "Range Not Satisfiable")
                status = 206
            except ValueError:
                pass
        body = data[start:end]
        self._log("truncate" if fault == "truncate" else status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", lastmod)
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, len(data)))
        if fault == "truncate":
            self.send_header("Content-Length", str(len(body) + 1000))
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            if fault == "truncate":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
            elif fault == "hang":
                self.wfile.flush()
                time.sleep(30)
            elif fault == "trickle":
                for i in range(0, len(body), 2):
                    self.wfile.write(body[i:i + 2])
                    self.wfile.flush()
                    time.sleep(1)
            elif fault == "slow":
                for i in range(0, len(body), 1024):
                    self.wfile.write(body[i:i + 1024])
                    self.wfile.flush()
                    time.sleep(0.05)
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # clients that give up mid-request (tests do it on purpose) are not errors
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def watch_parent(ppid):
    while True:
        if os.getppid() != ppid:
            os._exit(0)
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser(description="smolc test HTTP server")
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--control")
    a = ap.parse_args()

    srv = Server(("127.0.0.1", a.port), Handler)
    srv.root = os.path.realpath(a.root)
    srv.logfile = a.log
    srv.control = a.control

    def stop(signum, frame):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()

    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, a.port_file)
    else:
        print(port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
