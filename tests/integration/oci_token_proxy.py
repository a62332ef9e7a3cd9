#!/usr/bin/python3
"""Bearer-token auth in front of a registry, for test_oci_tls.sh.

oci_token_proxy.py PORT BACKEND_URL USER:PASSWORD [CA_FILE]
listens on 127.0.0.1:PORT. GET /token (Basic USER:PASSWORD, service and
scope in the query) answers {"token": ...}; without the right Basic
credentials it answers 401. Everything under /v2/ needs
"Authorization: Bearer <a token it issued for that scope>", else it answers
401 with the WWW-Authenticate Bearer challenge naming its realm; with one
it is forwarded to BACKEND_URL (GET and HEAD, read only), over TLS trusting
CA_FILE when given.
Every request is logged to stdout as "METHOD PATH AUTH-SCHEME".
"""
import base64
import http.server
import secrets
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

PORT, BACKEND, CREDS = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]
CTX = ssl.create_default_context(cafile=sys.argv[4]) if len(sys.argv) > 4 else None
TOKENS = {}  # token -> scope


def scope_for(path):
    # /v2/<repo>/(manifests|blobs)/<ref>
    parts = path.split("?")[0].split("/")[2:]
    if len(parts) < 3:
        return None
    return "repository:%s:pull" % "/".join(parts[:-2])


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def note(self):
        auth = self.headers.get("Authorization", "")
        print(self.command, self.path.split("?")[0], auth.split(" ")[0] or "-", flush=True)

    def deny(self, scope):
        self.send_response(401)
        ch = 'Bearer realm="http://127.0.0.1:%d/token",service="pyro-test"' % PORT
        if scope:
            ch += ',scope="%s"' % scope
        self.send_header("WWW-Authenticate", ch)
        self.send_header("Content-Type", "application/json")
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def token(self):
        want = "Basic " + base64.b64encode(CREDS.encode()).decode()
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        if self.headers.get("Authorization") != want or q.get("service") != ["pyro-test"]:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        tok = secrets.token_hex(16)
        TOKENS[tok] = q.get("scope", [""])[0]
        body = ('{"token": "%s", "expires_in": 300}' % tok).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self):
        scope = scope_for(self.path)
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else None
        if tok not in TOKENS or (scope and TOKENS[tok] != scope):
            return self.deny(scope)
        req = urllib.request.Request(BACKEND + self.path, method=self.command)
        for h in ("Accept", "Range"):
            if self.headers.get(h):
                req.add_header(h, self.headers[h])
        try:
            resp = urllib.request.urlopen(req, context=CTX)
        except urllib.error.HTTPError as e:
            resp = e
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            if k.lower() not in ("connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            while chunk := resp.read(65536):
                self.wfile.write(chunk)

    def do_GET(self):
        self.note()
        if self.path.startswith("/token"):
            return self.token()
        if self.path.startswith("/v2/"):
            return self.forward()
        self.send_error(404)

    do_HEAD = do_GET


http.server.ThreadingHTTPServer.allow_reuse_address = True
http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
