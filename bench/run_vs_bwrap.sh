#!/usr/bin/env bash
# `pyro run debian:12-base -- true` against bubblewrap running the same
# rootfs with every namespace (read-only bind of the rootfs plus tmpfs /run
# and /tmp: Debian 12's bwrap 0.8 has no overlay option), side by side in
# one hyperfine run; then the exec round trip on a running VM through the
# monitor and agent (bench/exec_rtt) and through the CLI (`pyro vm exec`,
# which also deletes the VM, so its VM is created and started outside the
# timing). Root; then, when the user BENCH_USER (default pyro-test, made by
# scripts/test-user.sh) exists, `pyro run` against bwrap once more as that
# user (rootless: newuidmap, no cgroups). usage: bench/run_vs_bwrap.sh [BUILD_DIR]
set -euo pipefail
BUILD=${1:-build}
PYRO=$(readlink -f "$BUILD/pyro")
RUNS=${RUNS:-30}
export PYRO_HOME=${PYRO_HOME:-$(mktemp -d /tmp/pyro-bench.XXXXXX)}
command -v hyperfine >/dev/null || { echo "hyperfine missing (make deps)" >&2; exit 1; }
"$PYRO" env pull debian:12-base >/dev/null
ROOTFS=$("$PYRO" env inspect debian:12-base --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["rootfs_path"])')
OUT=$(mktemp -d)

BWRAP="bwrap --unshare-all --die-with-parent --new-session --ro-bind $ROOTFS / \
  --proc /proc --dev /dev --tmpfs /run --tmpfs /tmp --hostname sbx --cap-drop ALL -- /bin/true"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$OUT/run.json" \
  -n "pyro run" "$PYRO run debian:12-base -- true" \
  -n "pyro run --disk-mib 256" "$PYRO run --disk-mib 256 debian:12-base -- true" \
  -n "bwrap" "$BWRAP" >&2

/usr/bin/python3 - "$OUT/run.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
p, b = r["pyro run"]["median"] * 1000, r["bwrap"]["median"] * 1000
d = r["pyro run --disk-mib 256"]["median"] * 1000
print(f"pyro run median {p:.1f} ms, bwrap median {b:.1f} ms, ratio {p / b:.2f}")
print(f"pyro run --disk-mib 256 (an ext4 image, loop-mounted) median {d:.1f} ms, ratio {d / b:.2f}")
PY

# The same as an ordinary user: pyro rootless against bwrap unprivileged.
BUSER=${BENCH_USER:-pyro-test}
if id "$BUSER" >/dev/null 2>&1 && command -v runuser >/dev/null; then
  UHOME=$(mktemp -d /tmp/pyro-bench-user.XXXXXX)
  chown "$BUSER" "$UHOME" "$OUT"
  chmod 755 "$OUT"
  UENV=(env HOME="$UHOME" PYRO_HOME="$UHOME/state" PYRO_CACHE_DIR="${BENCH_USER_CACHE:-$UHOME/cache}")
  runuser -u "$BUSER" -- "${UENV[@]}" "$PYRO" env pull debian:12-base >/dev/null
  UROOTFS=$(runuser -u "$BUSER" -- "${UENV[@]}" "$PYRO" env inspect debian:12-base --json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["rootfs_path"])')
  UBWRAP="bwrap --unshare-all --die-with-parent --new-session --ro-bind $UROOTFS / \
  --proc /proc --dev /dev --tmpfs /run --tmpfs /tmp --hostname sbx --cap-drop ALL -- /bin/true"
  runuser -u "$BUSER" -- "${UENV[@]}" hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$OUT/user.json" \
    -n "pyro run" "$PYRO run debian:12-base -- true" -n "bwrap" "$UBWRAP" >&2
  /usr/bin/python3 - "$OUT/user.json" "$BUSER" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
p, b = r["pyro run"]["median"] * 1000, r["bwrap"]["median"] * 1000
print(f"as {sys.argv[2]}: pyro run median {p:.1f} ms, bwrap median {b:.1f} ms, ratio {p / b:.2f}")
PY
  rm -rf "$UHOME"
fi

# exec round trip on a running VM (library path, no CLI process).
ID=$("$PYRO" vm create debian:12-base --id-only)
"$PYRO" vm start "$ID" >/dev/null
"$BUILD/bench/exec_rtt" "$ID" 300 >"$OUT/rtt.txt"
"$PYRO" vm delete "$ID" >/dev/null
sort -n "$OUT/rtt.txt" | awk '{a[NR]=$1} END {printf "exec round trip (library) median %.2f ms, p90 %.2f ms over %d\n", a[int(NR/2)+1], a[int(NR*0.9)], NR}'

# `pyro vm exec` through the CLI: the command plus the auto-clean delete.
: >"$OUT/cli.txt"
for i in $(seq 20); do
  ID=$("$PYRO" vm create debian:12-base --id-only); "$PYRO" vm start "$ID" >/dev/null
  t0=$(date +%s%N); "$PYRO" vm exec "$ID" -- true >/dev/null 2>&1; t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000 ))" >>"$OUT/cli.txt"
done
sort -n "$OUT/cli.txt" | awk '{a[NR]=$1} END {printf "pyro vm exec (CLI, includes deleting the VM) median %.1f ms over %d\n", a[int(NR/2)+1]/1000, NR}'
rm -rf "$OUT"
