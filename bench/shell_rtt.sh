#!/bin/bash
# Shell write-to-echo round trip in a started workspace through the CLI:
# `pyro workspace shell write W shell-1 --input 'echo mK-$((6*7))'`, then
# `pyro workspace shell read W shell-1 --cursor C` (no idle wait) repeated
# until "mK-42" (the command's output, not the terminal's echo of it)
# shows, N times; prints min/median/p90/max of the whole round trip and the
# number of reads it took. Each CLI call is a process start, a record load
# and an agent request through the monitor.
# Usage: [N=50] [ENV=debian:12-base] [PYRO_BACKEND=sandbox|vm] bench/shell_rtt.sh
source "$(dirname "$0")/ws_lib.bash"
N=${N:-50}
W=$("$PYRO" workspace create "${ENV:-debian:12-base}" --id-only 2>/dev/null)
"$PYRO" workspace shell open "$W" --id-only >/dev/null
/usr/bin/python3 - "$PYRO" "$W" "$N" "${PYRO_BACKEND:-auto}" <<'PY'
import json, statistics, subprocess, sys, time
pyro, w, n, backend = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def read(cur, wait=None):
    cmd = [pyro, "workspace", "shell", "read", w, "shell-1", "--cursor", str(cur), "--json"]
    if wait:
        cmd += ["--wait-for-idle-ms", str(wait)]
    d = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    return d["output"], d["next_cursor"]
_, cur = read(0, 500)
ts, reads = [], []
for k in range(n):
    want = f"m{k}-42"
    t0 = time.perf_counter()
    subprocess.run([pyro, "workspace", "shell", "write", w, "shell-1", "--input", f"echo m{k}-$((6*7))"],
                   stdout=subprocess.DEVNULL, check=True)
    text, r = "", 0
    while want not in text:
        out, cur = read(cur)
        text += out
        r += 1
    ts.append((time.perf_counter() - t0) * 1000)
    reads.append(r)
    _, cur = read(cur, 50)  # the prompt after it
ts.sort()
p90 = ts[min(len(ts) - 1, int(len(ts) * 0.9))]
print(f"shell write-to-echo ({backend}): n={n} min={ts[0]:.1f} ms median={statistics.median(ts):.1f} ms "
      f"p90={p90:.1f} ms max={ts[-1]:.1f} ms, reads per round trip median={statistics.median(reads)}")
PY
