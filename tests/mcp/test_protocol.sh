#!/usr/bin/env bash
# Raw protocol checks with no SDK in between: stdio framing (CRLF, empty
# lines, batches per revision, a message over the 16 MiB cap, parse errors,
# clean exit on EOF, nothing but JSON on stdout) and the HTTP status codes
# of the Streamable HTTP transport (curl).
set -euo pipefail
: "${PYRO:?}"
tmp=$(mktemp -d /tmp/pyro-mcp-protocol.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export PYRO_HOME="$tmp/state" XDG_CACHE_HOME="${PYRO_TEST_CACHE:-$tmp/cache}"
fail() { echo "FAIL: $*" >&2; exit 1; }

/usr/bin/python3 - "$PYRO" <<'PY'
import json, subprocess, sys
pyro = sys.argv[1]
def run(lines, args=()):
    p = subprocess.run([pyro, "mcp", "serve", "--profile", "workspace-full", *args], input=b"".join(lines),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, (p.returncode, p.stderr)
    out = [json.loads(l) for l in p.stdout.split(b"\n") if l]  # every stdout line is JSON
    return out
init = lambda v: json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": v, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}).encode() + b"\n"
ping = lambda i: {"jsonrpc": "2.0", "id": i, "method": "ping"}

# Framing: CRLF, blank lines, a parse error, then the server goes on.
out = run([init("2025-11-25"), b"\r\n", b"   \n", b"{oops\n", json.dumps(ping(1)).encode() + b"\r\n"])
assert out[0]["result"]["protocolVersion"] == "2025-11-25"
assert out[1]["error"]["code"] == -32700 and out[1]["id"] is None, out[1]
assert out[2] == {"jsonrpc": "2.0", "id": 1, "result": {}}, out[2]
print("ok - stdio framing: CRLF, blank lines, parse error answered, server goes on")

# Version negotiation: echo what we speak, else our latest.
for want, got in [("2025-06-18", "2025-06-18"), ("2025-03-26", "2025-03-26"), ("1999-01-01", "2025-11-25")]:
    assert run([init(want)])[0]["result"]["protocolVersion"] == got
print("ok - version negotiation")

# Batches: answered as an array under 2025-03-26, refused under 2025-11-25.
batch = json.dumps([ping(1), {"jsonrpc": "2.0", "method": "notifications/initialized"},
                    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, {"jsonrpc": "2.0", "id": 3, "method": "x/y"}]).encode() + b"\n"
out = run([init("2025-03-26"), batch])
arr = out[1]
assert isinstance(arr, list) and sorted(r["id"] for r in arr) == [1, 2, 3], arr
assert [r for r in arr if r["id"] == 3][0]["error"]["code"] == -32601
out = run([init("2025-11-25"), batch])
assert out[1]["error"]["code"] == -32600, out[1]
print("ok - batches per revision")

# A message over the 16 MiB cap is refused; the next one is served.
big = b'{"jsonrpc":"2.0","id":9,"method":"ping","params":{"pad":"' + b"x" * (17 * 1024 * 1024) + b'"}}\n'
out = run([init("2025-11-25"), big, json.dumps(ping(10)).encode() + b"\n"])
assert out[1]["error"]["code"] == -32700 and "16 MiB" in out[1]["error"]["message"], out[1]
assert out[2]["id"] == 10
print("ok - 17 MiB message refused, server goes on")

# Invalid requests.
out = run([init("2025-11-25"), b'{"jsonrpc":"2.0","id":null,"method":"ping"}\n', b'{"jsonrpc":"1.0","id":5,"method":"ping"}\n',
           b'{"jsonrpc":"2.0","id":6,"method":"logging/setLevel","params":{"level":"loud"}}\n',
           b'{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"cursor":"abc"}}\n'])
assert [m["error"]["code"] for m in out[1:]] == [-32600, -32600, -32602, -32602], out
print("ok - invalid requests")
PY

# ---- HTTP ----
"$PYRO" mcp serve --transport http --listen 127.0.0.1:0 --profile vm-run 2>"$tmp/server.err" &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$tmp/server.err" && break; sleep 0.05; done
url=$(grep -o 'http://[^ ]*' "$tmp/server.err")
port=${url##*:}; port=${port%/mcp}
tokfile=$(sed -n 's/.*bearer token in \([^ ]*\) .*/\1/p' "$tmp/server.err")
case "$tokfile" in "$PYRO_HOME"/mcp/http-token.*) ;; *) fail "generated token file '$tokfile'";; esac
[ "$(stat -c %a "$tokfile")" = 600 ] || fail "token file mode $(stat -c %a "$tokfile")"
tok=$(head -n1 "$tokfile")
[ ${#tok} = 64 ] || fail "token length ${#tok}"
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"0"}}}'
A=(-H "Authorization: Bearer $tok")
H=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' "${A[@]}")
N=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
code() { curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }

# No token, a wrong one, another scheme: 401 with WWW-Authenticate: Bearer.
[ "$(code "${N[@]}" -D "$tmp/hdr" -d "$init" "$url")" = 401 ] || fail "no token: 401"
grep -qi '^WWW-Authenticate: Bearer' "$tmp/hdr" || fail "WWW-Authenticate: $(cat "$tmp/hdr")"
grep -q -- '-32600' "$tmp/body" || fail "401 body $(cat "$tmp/body")"
[ "$(code "${N[@]}" -H "Authorization: Bearer ${tok%?}x" -d "$init" "$url")" = 401 ] || fail "wrong token: 401"
[ "$(code "${N[@]}" -H "Authorization: Bearer ${tok}x" -d "$init" "$url")" = 401 ] || fail "longer token: 401"
[ "$(code "${N[@]}" -H "Authorization: Basic $tok" -d "$init" "$url")" = 401 ] || fail "Basic: 401"
[ "$(code -H 'Accept: text/event-stream' "$url")" = 401 ] || fail "GET without a token: 401"
[ "$(code -X DELETE -H 'Mcp-Session-Id: 00' "$url")" = 401 ] || fail "DELETE without a token: 401"
# Limits are checked on the head, before the body is read.
[ "$(code "${N[@]}" -H 'Content-Length: 99999999999' -d x "$url")" = 401 ] || fail "no token, huge length: 401"
[ "$(code "${H[@]}" -H 'Content-Length: 99999999999' -d x "$url")" = 413 ] || fail "huge length: 413"
grep -q '16 MiB' "$tmp/body" || fail "413 body $(cat "$tmp/body")"
[ "$(code "${H[@]}" -H 'Content-Length: 12x' -d x "$url")" = 400 ] || fail "bad length: 400"
echo "ok - HTTP: a generated 0600 token; 401 without it; limits checked before the body"

[ "$(code "${H[@]}" -d "$init" -D "$tmp/hdr" "$url")" = 200 ] || fail "initialize"
sid=$(grep -i '^mcp-session-id:' "$tmp/hdr" | tr -d '\r' | cut -d' ' -f2)
[ ${#sid} = 32 ] || fail "session id '$sid'"
grep -q '"protocolVersion":"2025-11-25"' "$tmp/body" || fail "initialize body: $(cat "$tmp/body")"
S=(-H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25')
[ "$(code "${H[@]}" "${S[@]}" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$url")" = 202 ] || fail "202"
[ "$(code "${H[@]}" "${S[@]}" -d '{"jsonrpc":"2.0","id":2,"method":"ping"}' "$url")" = 200 ] || fail "ping"
[ "$(cat "$tmp/body")" = '{"jsonrpc":"2.0","id":2,"result":{}}' ] || fail "ping body $(cat "$tmp/body")"
[ "$(code "${H[@]}" -d '{"jsonrpc":"2.0","id":3,"method":"ping"}' "$url")" = 400 ] || fail "no session: 400"
[ "$(code "${H[@]}" -H 'Mcp-Session-Id: 00' -d '{"jsonrpc":"2.0","id":3,"method":"ping"}' "$url")" = 404 ] || fail "unknown session: 404"
[ "$(code "${H[@]}" -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 1999-01-01' -d '{"jsonrpc":"2.0","id":3,"method":"ping"}' "$url")" = 400 ] || fail "bad version: 400"
[ "$(code "${H[@]}" -H 'Host: evil.example:80' -d "$init" "$url")" = 403 ] || fail "Host: 403"
[ "$(code "${H[@]}" -H 'Origin: http://evil.example' -d "$init" "$url")" = 403 ] || fail "Origin: 403"
[ "$(code "${H[@]}" -H "Origin: http://localhost:$port" -d "$init" "$url")" = 200 ] || fail "local Origin: 200"
[ "$(code "${H[@]}" -H "Host: [::1]:$port" -d "$init" "$url")" = 200 ] || fail "Host [::1]: 200"
[ "$(code -X PUT "${A[@]}" "${S[@]}" "$url")" = 405 ] || fail "PUT: 405"
[ "$(code "${H[@]}" -d "$init" "http://127.0.0.1:$port/other")" = 404 ] || fail "other path: 404"
[ "$(code -H 'Content-Type: text/plain' -H 'Accept: application/json, text/event-stream' "${A[@]}" "${S[@]}" -d 'x' "$url")" = 415 ] || fail "415"
[ "$(code "${H[@]}" "${S[@]}" -d '{bad' "$url")" = 400 ] || fail "parse error: 400"
grep -q -- '-32700' "$tmp/body" || fail "parse error body"
[ "$(code -X DELETE "${A[@]}" "${S[@]}" "$url")" = 200 ] || fail "DELETE"
[ "$(code "${H[@]}" "${S[@]}" -d '{"jsonrpc":"2.0","id":4,"method":"ping"}' "$url")" = 404 ] || fail "deleted session: 404"
echo "ok - HTTP: sessions, 202/400/403/404/405/415, DNS-rebinding protection, DELETE"
kill "$pid"; wait "$pid" || true; pid=
[ ! -e "$tokfile" ] || fail "the generated token file is removed at exit"

# A given token file: it must be closed to other users.
printf 'pyro-test-token-%s\n' "$RANDOM$RANDOM$RANDOM" >"$tmp/token"
chmod 644 "$tmp/token"
if "$PYRO" mcp serve --transport http --listen 127.0.0.1:0 --auth-token-file "$tmp/token" 2>"$tmp/err"; then
  fail "a token file readable by others is accepted"
fi
grep -q 'chmod 600' "$tmp/err" || fail "message: $(cat "$tmp/err")"
chmod 600 "$tmp/token"
"$PYRO" mcp serve --transport http --listen 127.0.0.1:0 --auth-token-file "$tmp/token" 2>"$tmp/server.err" &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$tmp/server.err" && break; sleep 0.05; done
url=$(grep -o 'http://[^ ]*' "$tmp/server.err")
grep -q 'bearer token in' "$tmp/server.err" && fail "a token was generated although one was given"
[ "$(code "${N[@]}" -H "Authorization: Bearer $(cat "$tmp/token")" -d "$init" "$url")" = 200 ] || fail "given token"
[ "$(code "${H[@]}" -d "$init" "$url")" = 401 ] || fail "the generated token of another server"
kill "$pid"; wait "$pid" || true; pid=
[ -e "$tmp/token" ] || fail "a given token file stays"
echo "ok - HTTP: --auth-token-file must be 0600; its token and no other is accepted"

if "$PYRO" mcp serve --transport http --listen 0.0.0.0:0 2>"$tmp/err"; then fail "non-loopback bind without a token"; fi
grep -q 'auth-token-file is required' "$tmp/err" || fail "message: $(cat "$tmp/err")"
echo "ok - a non-loopback address needs --auth-token-file"

# ---- project source ----
instructions() { # args...: the initialize instructions of a server started with them
  printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}' |
    "$PYRO" mcp serve "$@" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["instructions"])'
}
mkdir -p "$tmp/proj/sub" "$tmp/plain"
git -C "$tmp/proj" init -q -b main && git -C "$tmp/proj" -c user.email=t@t -c user.name=t commit -q --allow-empty -m one
git -C "$tmp/proj" tag v1 && git -C "$tmp/proj" -c user.email=t@t -c user.name=t commit -q --allow-empty -m two
grep -qF "Project source (git checkout): $tmp/proj;" <<<"$(cd "$tmp/proj/sub" && instructions)" || fail "auto-detected checkout"
grep -q "Project source" <<<"$(cd "$tmp/plain" && instructions)" && fail "no checkout, no project source"
grep -qF "Project source (--project-path): $tmp/plain;" <<<"$(instructions --project-path "$tmp/plain")" || fail "--project-path"
git clone -q --bare "$tmp/proj" "$tmp/repo.git"
out=$(instructions --repo-url "$tmp/repo.git" --repo-ref v1)
grep -qF "Project source (--repo-url): $PYRO_HOME/mcp/checkouts/" <<<"$out" || fail "--repo-url: $out"
[ -z "$(ls -A "$PYRO_HOME/mcp/checkouts")" ] || fail "the clone is removed at exit"
expect_fail() { if "$PYRO" mcp serve "$@" </dev/null >"$tmp/out" 2>"$tmp/err"; then fail "accepted: $*"; fi; [ ! -s "$tmp/out" ] || fail "stdout"; }
expect_fail --repo-url "$tmp/nope.git"; grep -q "git clone failed" "$tmp/err" || fail "clone error: $(cat "$tmp/err")"
expect_fail --repo-url "$tmp/repo.git" --repo-ref nope; grep -q "repo-ref nope" "$tmp/err" || fail "ref error: $(cat "$tmp/err")"
expect_fail --project-path "$tmp/missing"; grep -q "is not a directory" "$tmp/err" || fail "path error"
[ -z "$(ls -A "$PYRO_HOME/mcp/checkouts")" ] || fail "failed clones leave nothing"
echo "ok - project source: git checkout, --project-path, --repo-url/--repo-ref, clear errors"
