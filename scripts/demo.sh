#!/usr/bin/env bash
# The main job, for a newcomer: prove the host, then show what pyro does.
set -euo pipefail
cd "$(dirname "$0")/.."
PYRO=./build/pyro
echo "== pyro doctor"
"$PYRO" doctor || true
