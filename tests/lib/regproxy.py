#!/usr/bin/env python3
"""A proxy in front of a test registry (stdlib only) that adds what the
reference registry cannot do by itself, for smolc's e2e tests:

  regproxy.py --upstream 127.0.0.1:5000 --port-file F [--log F]
              [--fail-blob-gets N] [--fail-all-blob-gets] [--bearer USER:PASS]

  --fail-blob-gets N     answer HTTP 500 to the first N GETs of blobs
  --fail-all-blob-gets   answer HTTP 500 to every GET of a blob
  --bearer USER:PASS     the token flow: /v2/ requests without
                         "Authorization: Bearer <token>" get 401 with
                         WWW-Authenticate: Bearer realm="http://<proxy>/token",
                         service="smolc-test",scope="repository:<repo>:<actions>";
                         GET /token?service=&scope= with HTTP basic USER:PASS
                         answers {"token": …}; other credentials get 401.
Binds 127.0.0.1 on an ephemeral port. Logs "<METHOD> <path> <status>"."""

import argparse
import base64
import http.client
import os
import re
import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
STATE = {"blob_gets": 0}
TOKENS = set()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _log(self, status):
        if self.server.args.log:
            with LOCK, open(self.server.args.log, "a") as f:
                f.write("%s %s %s\n" % (self.command, self.path, status))

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._log(status)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _token(self):
        a = self.server.args
        auth = self.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(a.bearer.encode()).decode()
        if auth != want:
            return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}',
                              [("Content-Type", "application/json")])
        t = secrets.token_hex(16)
        TOKENS.add(t)
        body = ('{"token": "%s", "expires_in": 300}' % t).encode()
        self._send(200, body, [("Content-Type", "application/json")])

    def _handle(self):
        a = self.server.args
        path = urlsplit(self.path).path
        if a.bearer and path == "/token":
            self._body()
            return self._token()
        body = self._body()
        if a.bearer:
            auth = self.headers.get("Authorization", "")
            if not (auth.startswith("Bearer ") and auth[7:] in TOKENS):
                m = re.match(r"^/v2/(.+?)/(blobs|manifests|tags)/", path)
                scope = ',scope="repository:%s:pull,push"' % m.group(1) if m else ""
                realm = "http://%s/token" % self.headers.get("Host")
                return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token needed"}]}',
                                  [("WWW-Authenticate", 'Bearer realm="%s",service="smolc-test"%s' % (realm, scope)),
                                   ("Content-Type", "application/json")])
        if self.command == "GET" and "/blobs/sha256:" in path:
            with LOCK:
                STATE["blob_gets"] += 1
                n = STATE["blob_gets"]
            if a.fail_all_blob_gets or n <= a.fail_blob_gets:
                return self._send(500, b'{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}',
                                  [("Content-Type", "application/json")])
        # forward
        c = http.client.HTTPConnection(a.upstream, timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization", "connection")}
        c.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST", "PATCH") else None,
                  headers=hdrs)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in ("content-length", "connection", "transfer-encoding"):
                continue
            if k.lower() == "location":
                v = v.replace("http://" + a.upstream, "http://" + self.headers.get("Host"))
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self._log(r.status)
        c.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log")
    p.add_argument("--fail-blob-gets", type=int, default=0)
    p.add_argument("--fail-all-blob-gets", action="store_true")
    p.add_argument("--bearer")
    a = p.parse_args()
    s = ThreadingHTTPServer(("127.0.0.1", 0), H)
    s.args = a
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(s.server_address[1]))
    os.rename(tmp, a.port_file)
    ppid = os.getppid()

    def watch():
        import time
        while os.getppid() == ppid:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    s.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
