#!/usr/bin/env bash
# The MCP inspector CLI (`mcp-inspector --cli --strict`) lints every tool
# schema of every profile and mode for portability, over stdio; and a
# tools/call through it over HTTP with a bearer token.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${PYRO:?}" "${PYRO_NODE:?}"
tmp=$(mktemp -d /tmp/pyro-inspector.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export PYRO_HOME="$tmp/state" XDG_CACHE_HOME="${PYRO_TEST_CACHE:-$tmp/cache}"
inspector() { "$PYRO_NODE" "$here/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js" "$@"; }

for s in "--profile vm-run" "--profile workspace-core" "--profile workspace-full" "--mode repro-fix" \
         "--mode inspect" "--mode cold-start" "--mode review-eval"; do
  # shellcheck disable=SC2086
  if ! inspector --cli -q --format json --strict "$PYRO" mcp serve $s --method tools/list >"$tmp/out" 2>"$tmp/err"; then
    cat "$tmp/out" "$tmp/err"; echo "FAIL: inspector --strict reports a problem for $s"; exit 1
  fi
  n=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d.get("result", d)["tools"]))' "$tmp/out")
  echo "ok - inspector --strict: $s: $n tools, no schema problem"
done

# HTTP with a bearer token: refused without it, served with it.
(umask 077 && printf 'pyro-test-token-%s\n' "$RANDOM$RANDOM$RANDOM" >"$tmp/token")
"$PYRO" mcp serve --transport http --listen 127.0.0.1:0 --profile vm-run --auth-token-file "$tmp/token" \
  2>"$tmp/server.err" &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$tmp/server.err" && break; sleep 0.05; done
url=$(grep -o 'http://[^ ]*' "$tmp/server.err")
if inspector --cli -q --format json "$url" --transport http --method tools/list >"$tmp/out" 2>&1; then
  cat "$tmp/out"; echo "FAIL: served without the token"; exit 1
fi
inspector --cli -q --format json "$url" --transport http --header "Authorization: Bearer $(cat "$tmp/token")" \
  --method tools/call --tool-name vm_run --tool-args-json '{"environment":"debian:12-base","command":"echo via-inspector"}' \
  >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; echo "FAIL: tools/call with the token"; exit 1; }
grep -q 'via-inspector' "$tmp/out" || { cat "$tmp/out"; echo "FAIL: no output"; exit 1; }
echo "ok - inspector over HTTP: 401 without the bearer token, vm_run with it"
