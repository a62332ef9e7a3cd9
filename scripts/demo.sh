#!/usr/bin/env bash
# The main job, for a newcomer: prove the host, prepare the default
# environment, and run a real command in a sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
PYRO=./build/pyro
ENV=${PYRO_DEMO_ENV:-debian:12}

echo "== pyro doctor: can this host isolate?"
"$PYRO" doctor || { echo "pyro doctor found no usable isolation backend" >&2; exit 1; }
echo
echo "== pyro env pull $ENV (built from Debian packages on first use, then cached)"
"$PYRO" env pull "$ENV"
echo
echo "== pyro run $ENV -- ... (a fresh sandbox, destroyed afterwards)"
"$PYRO" run "$ENV" -- 'echo "hello from $(hostname)"; git --version; python3 --version; id; cat /etc/debian_version'
echo
echo "== the same run as JSON (what MCP clients and the C API get)"
"$PYRO" run "$ENV" --json -- 'uname -sr; exit 3' || true
