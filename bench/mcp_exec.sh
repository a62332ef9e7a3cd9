#!/bin/bash
# A tools/call round trip through a persistent `pyro mcp serve` (stdio)
# against the same operation through the CLI (one process per call), median
# of each. Operations: workspace_exec of `true` in a started workspace
# (N=${N:-30}), vm_status of a running VM (N) and vm_run of `true` in
# debian:12-base (N=${NRUN:-10}).
# Usage: [N=30] [NRUN=10] bench/mcp_exec.sh [path/to/pyro]   (root; builds debian:12-base once)
set -euo pipefail
PYRO=${1:-${PYRO:-$(dirname "$0")/../build/pyro}}
WORK=$(mktemp -d /var/tmp/pyro-bench-mcp.XXXXXX)
export PYRO_HOME="$WORK/state"
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$WORK/cache}
VM=; WS=
trap '[ -n "$VM" ] && "$PYRO" vm delete "$VM" >/dev/null 2>&1; [ -n "$WS" ] && "$PYRO" workspace delete "$WS" >/dev/null 2>&1; rm -rf "$WORK"' EXIT

VM=$("$PYRO" vm create debian:12-base --id-only)
"$PYRO" vm start "$VM" >/dev/null
WS=$("$PYRO" workspace create debian:12-base --id-only)

/usr/bin/python3 - "$PYRO" "$VM" "${N:-30}" "${NRUN:-10}" "$WS" <<'PY'
import json, statistics, subprocess, sys, time
pyro, vm, n, nrun, ws = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
srv = subprocess.Popen([pyro, "mcp", "serve", "--profile", "workspace-full"], stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE, text=True, bufsize=1)
rid = 0
def rpc(method, params=None):
    global rid
    rid += 1
    srv.stdin.write(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}}) + "\n")
    srv.stdin.flush()
    while True:
        m = json.loads(srv.stdout.readline())
        if m.get("id") == rid:
            return m
rpc("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}})
srv.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n')

def bench(label, k, mcp_args, cli_argv, check):
    mcp, cli = [], []
    for _ in range(k):
        t = time.perf_counter()
        r = rpc("tools/call", mcp_args)
        mcp.append(time.perf_counter() - t)
        assert not r["result"].get("isError"), r
        check(r["result"]["structuredContent"])
        t = time.perf_counter()
        out = subprocess.run(cli_argv, capture_output=True, text=True, check=True).stdout
        cli.append(time.perf_counter() - t)
        check(json.loads(out))
    m, c = statistics.median(mcp) * 1000, statistics.median(cli) * 1000
    print(f"{label:<28} MCP stdio median {m:8.1f} ms   CLI median {c:8.1f} ms   (n={k})")

bench("workspace_exec true", n, {"name": "workspace_exec", "arguments": {"workspace_id": ws, "command": "true"}},
      [pyro, "workspace", "exec", ws, "--json", "--", "true"],
      lambda r: r["exit_code"] == 0 or sys.exit(f"bad result {r}"))
bench("vm_status", n, {"name": "vm_status", "arguments": {"vm_id": vm}}, [pyro, "vm", "status", vm, "--json"],
      lambda r: r["state"] == "running" or sys.exit(f"bad state {r}"))
bench("vm_run true (debian:12-base)", nrun,
      {"name": "vm_run", "arguments": {"environment": "debian:12-base", "command": "true"}},
      [pyro, "run", "debian:12-base", "--json", "--", "true"],
      lambda r: r["exit_code"] == 0 or sys.exit(f"bad result {r}"))
srv.stdin.close()
srv.wait()
PY
