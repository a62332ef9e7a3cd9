#!/usr/bin/env bash
# Pull of a multi-layer image from a loopback registry: `pyro env pull`
# (download, digest checks, unpack, content digest, atomic install) into an
# empty cache against `skopeo copy` of the same image to a local directory
# (download and digest checks only). Results: docs/PERFORMANCE.md.
# usage: bench/oci_pull.sh [build/pyro]   (ROUNDS=N, default 3; needs
# docker-registry, skopeo, python3: scripts/deps.sh)
set -euo pipefail
PYRO=$(realpath "${1:-build/pyro}")
ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/pyro-bench-oci.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\nlog:\n  level: error\n' \
  "$T" "$PORT" >"$T/reg.yml"
docker-registry serve "$T/reg.yml" >"$T/reg.log" 2>&1 &
REGPID=$!
trap 'kill $REGPID 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && break; sleep 0.1; done

# Four gzip layers made of the host's Python standard library, split by
# its top-level entries.
python3 - "$T/spec.json" <<'PY'
import json, os, sys
base = "/usr/lib/python3.11"
names = sorted(os.listdir(base))
layers = [[] for _ in range(4)]
for i, n in enumerate(names):
    for dp, dns, fns in os.walk(os.path.join(base, n)):
        rel = os.path.relpath(dp, "/")
        layers[i % 4].append({"path": rel, "type": "dir"})
        for f in fns:
            p = os.path.join(dp, f)
            if os.path.isfile(p) and not os.path.islink(p):
                layers[i % 4].append({"path": os.path.relpath(p, "/"), "type": "file", "src": p})
json.dump({"layers": [{"compress": "gzip", "entries": l} for l in layers]}, open(sys.argv[1], "w"))
PY
python3 "$ROOT/tests/integration/oci_layout.py" "$T/layout" "$T/spec.json"
IMG=127.0.0.1:$PORT/bench/pystdlib:1
skopeo copy -q --dest-tls-verify=false "oci:$T/layout:latest" "docker://$IMG"
SIZE=$(du -sb "$T/layout/blobs" | cut -f1)
echo "image: 4 gzip layers, $((SIZE / 1024 / 1024)) MiB of blobs"

now() { date +%s.%N; }
pyro_total=0 skopeo_total=0
for r in $(seq "$ROUNDS"); do
  rm -rf "$T/cache" "$T/dir"
  a=$(now)
  XDG_CACHE_HOME="$T/cache" "$PYRO" env pull "$IMG" >/dev/null 2>&1
  b=$(now)
  skopeo copy -q --src-tls-verify=false "docker://$IMG" "dir:$T/dir"
  c=$(now)
  p=$(echo "$b - $a" | bc) s=$(echo "$c - $b" | bc)
  printf 'round %d: pyro env pull %.2f s, skopeo copy %.2f s\n' "$r" "$p" "$s"
  pyro_total=$(echo "$pyro_total + $p" | bc) skopeo_total=$(echo "$skopeo_total + $s" | bc)
done
printf 'sum: pyro %.2f s, skopeo %.2f s, ratio %.2f\n' "$pyro_total" "$skopeo_total" "$(echo "$pyro_total / $skopeo_total" | bc -l)"
