#!/bin/bash
# Exec round trip in a started workspace through the CLI: `pyro workspace
# exec W -- true`, N times (target: median <= 10 ms). Also the JSON variant
# and, for comparison, a bare agent round trip cost is visible in
# duration_ms of the result.
# Usage: [N=200] [ENV=debian:12-base] bench/workspace_exec.sh
source "$(dirname "$0")/ws_lib.bash"
N=${N:-200}
W=$("$PYRO" workspace create "${ENV:-debian:12-base}" --id-only)
"$PYRO" workspace exec "$W" -- true >/dev/null 2>&1
bench_times "workspace exec -- true" "$N" "$PYRO" workspace exec "$W" -- true
bench_times "workspace exec --json -- true" "$N" "$PYRO" workspace exec "$W" --json -- true
bench_times "workspace status (no agent call)" "$N" "$PYRO" workspace status "$W" --json
