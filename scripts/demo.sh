#!/usr/bin/env bash
# The main job, for a newcomer (`make demo`): prove the host, then
# `pyro demo`, the shortest path to a real run and a workspace round trip
# (create, write, exec, diff, delete), each step printed as it happens.
set -euo pipefail
cd "$(dirname "$0")/.."
PYRO=./build/pyro
ENV=${PYRO_DEMO_ENV:-debian:12}

echo "== pyro doctor: can this host isolate?"
"$PYRO" doctor || { echo "pyro doctor found no usable isolation backend" >&2; exit 1; }
echo
echo "== pyro demo $ENV (the environment is built from Debian packages on first use, then cached)"
"$PYRO" demo "$ENV"
echo
echo "== the same one-shot run as JSON (what MCP clients and the C API get)"
"$PYRO" run "$ENV" --json -- 'uname -sr; exit 3' || true
