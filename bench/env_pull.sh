#!/bin/bash
# `pyro env pull debian:12-base` from an empty cache against plain mmdebstrap
# of the same recipe (same variant, packages, dpkg excludes, apt options and
# apt sources: the command line pyro logged), in the same run. Rounds
# alternate the order (pyro first, then plain first) so that mirror and page
# cache warmth do not favour one side. Prints each time, the totals and the
# ratio pyro/mmdebstrap (target: <= 1.1).
# Usage: [ROUNDS=2] bench/env_pull.sh [path/to/pyro]   (root, mmdebstrap, a mirror)
set -euo pipefail
PYRO=${1:-${PYRO:-$(dirname "$0")/../build/pyro}}
ROUNDS=${ROUNDS:-2}
WORK=$(mktemp -d /var/tmp/pyro-bench-env.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export PYRO_HOME="$WORK/state"
now() { date +%s.%N; }

run_pyro() { # $1: round
  export XDG_CACHE_HOME="$WORK/cache$1"
  local t0; t0=$(now)
  "$PYRO" env pull debian:12-base --json >"$WORK/pull$1.json"
  echo "pyro $1 $(echo "$(now) - $t0" | bc)" >>"$WORK/times"
  cp "$XDG_CACHE_HOME/pyro/environments/debian_12-base/1/build.log" "$WORK/pyro-build.log"
  rm -rf "$XDG_CACHE_HOME"
}
run_plain() { # $1: round; needs the command line from a pyro build log
  mapfile -t ARGS < <(/usr/bin/python3 - "$WORK/pyro-build.log" "$WORK/plain$1" <<'PY'
import shlex, sys
line = open(sys.argv[1]).readline()
assert line.startswith("pyro: ")
args = shlex.split(line[len("pyro: "):])
args[args.index("--") + 2] = sys.argv[2]      # the target directory
print("\n".join(args))
PY
)
  local t0; t0=$(now)
  SOURCE_DATE_EPOCH=1700000000 "${ARGS[@]}" >"$WORK/plain$1.log" 2>&1
  echo "plain $1 $(echo "$(now) - $t0" | bc)" >>"$WORK/times"
  rm -rf "$WORK/plain$1"
}

for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then run_pyro "$r"; run_plain "$r"; else run_plain "$r"; run_pyro "$r"; fi
done

/usr/bin/python3 - "$WORK/times" "$WORK/pull1.json" <<'PY'
import json, sys
t = {"pyro": [], "plain": []}
for line in open(sys.argv[1]):
    k, r, s = line.split()
    t[k].append(float(s))
p = json.load(open(sys.argv[2]))
print(f"recipe: debian:12-base, {p['package_count']} packages, {p['size_bytes']/2**20:.1f} MiB rootfs")
print("pyro env pull :", " ".join(f"{x:.2f}s" for x in t["pyro"]))
print("plain mmdebstrap:", " ".join(f"{x:.2f}s" for x in t["plain"]))
print(f"ratio pyro/mmdebstrap (sum over {len(t['pyro'])} rounds): {sum(t['pyro'])/sum(t['plain']):.3f}")
PY
