# Shared by bench/workspace_*.sh: a private state dir, the environment cache
# (build/test-cache by default, so the test builds are reused) and a timer
# that runs a command N times and prints min/median/p90/max in ms.
set -euo pipefail
PYRO=${PYRO:-$(cd "$(dirname "$0")/.." && pwd)/build/pyro}
WORK=$(mktemp -d /var/tmp/pyro-bench-ws.XXXXXX)
trap 'for w in $(ls "$WORK/state/workspaces" 2>/dev/null); do "$PYRO" workspace delete "$w" >/dev/null 2>&1 || true; done; rm -rf "$WORK"' EXIT
export PYRO_HOME="$WORK/state"
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$(cd "$(dirname "$0")/.." && pwd)/build/test-cache}
# bench_times LABEL N cmd...: runs cmd N times (output discarded).
bench_times() {
  local label=$1 n=$2; shift 2
  /usr/bin/python3 - "$label" "$n" "$@" <<'PY'
import statistics, subprocess, sys, time
label, n, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
ts = []
for _ in range(n):
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    ts.append((time.perf_counter() - t0) * 1000)
ts.sort()
p90 = ts[min(len(ts) - 1, int(len(ts) * 0.9))]
print(f"{label}: n={n} min={ts[0]:.1f} ms median={statistics.median(ts):.1f} ms p90={p90:.1f} ms max={ts[-1]:.1f} ms")
PY
}
# make_tree DIR N: N small files in 100 directories.
make_tree() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i % 100:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.txt"), "w") as f:
        f.write(f"file {i}\nline two\nline three\n")
PY
}
