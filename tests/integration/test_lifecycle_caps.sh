#!/bin/bash
# Host-wide caps on what callers may ask for (docs/vm.md "Host-wide caps"):
# - a request above the memory or vCPU cap on its own is refused at create,
#   naming the cap (CLI exit 1; MCP isError), and creates nothing;
# - a start that would take the running sandboxes over a small
#   PYRO_MAX_TOTAL_MEM_MIB or PYRO_MAX_TOTAL_VCPUS is refused naming it;
# - the parent pyro cgroup's memory limit is the cap (the kernel holds the
#   sum too);
# - doctor reports the caps; invalid overrides are refused.
source "$(dirname "$0")/lib.sh"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (apt-get install mmdebstrap)"
ENV=debian:12-base
P() { "$PYRO" "$@"; }
"$PYRO" env pull "$ENV" >/dev/null 2>&1 || fail "could not pull $ENV"
unset PYRO_MAX_TOTAL_MEM_MIB PYRO_MAX_TOTAL_VCPUS PYRO_MAX_ACTIVE_VMS

# The defaults: 75% of MemTotal, 4 x the online CPUs.
HOST_MIB=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
DEF_MEM=$((HOST_MIB * 75 / 100))
DEF_CPUS=$((4 * $(nproc)))
expect_status 0 P doctor --json
echo "$OUT" >"$TEST_TMP/doctor.json"
[ "$(jget limits.max_total_mem_mib <"$TEST_TMP/doctor.json")" = "$DEF_MEM" ] || fail "doctor mem cap: $(jget limits <"$TEST_TMP/doctor.json")"
[ "$(jget limits.max_total_vcpus <"$TEST_TMP/doctor.json")" = "$DEF_CPUS" ] || fail "doctor vCPU cap"
[ "$(jget limits.max_total_mem_mib_from_env <"$TEST_TMP/doctor.json")" = false ] || fail "doctor: mem cap source"
[ "$(jget limits.host_mem_mib <"$TEST_TMP/doctor.json")" = "$HOST_MIB" ] || fail "doctor: host memory"
PYRO_MAX_TOTAL_MEM_MIB=2560 PYRO_MAX_TOTAL_VCPUS=3 P doctor --json >"$TEST_TMP/doctor.json" || true
[ "$(jget limits.max_total_mem_mib <"$TEST_TMP/doctor.json")" = 2560 ] &&
  [ "$(jget limits.max_total_vcpus <"$TEST_TMP/doctor.json")" = 3 ] &&
  [ "$(jget limits.max_total_mem_mib_from_env <"$TEST_TMP/doctor.json")" = true ] ||
  fail "doctor does not report the overrides: $(jget limits <"$TEST_TMP/doctor.json")"
PYRO_MAX_TOTAL_MEM_MIB=2560 PYRO_MAX_TOTAL_VCPUS=3 P doctor >"$TEST_TMP/doctor.txt" || true
awk '/^limits /{f=1} f && /^$/{exit} f' "$TEST_TMP/doctor.txt" | tr -s ' \n' ' ' >"$TEST_TMP/limits.txt"
grep -q "2560 MiB of memory (PYRO_MAX_TOTAL_MEM_MIB.* 3 vCPUs (PYRO_MAX_TOTAL_VCPUS)" "$TEST_TMP/limits.txt" ||
  fail "human doctor does not show the caps: $(cat "$TEST_TMP/limits.txt")"
for bad in PYRO_MAX_TOTAL_MEM_MIB=100 PYRO_MAX_TOTAL_MEM_MIB=lots PYRO_MAX_TOTAL_VCPUS=0 PYRO_MAX_TOTAL_VCPUS=5000; do
  set +e; env "$bad" "$PYRO" doctor --json >/dev/null 2>"$TEST_TMP/bad.err"; rc=$?; set -e
  [ "$rc" != 0 ] && grep -q "${bad%%=*} must be an integer from" "$TEST_TMP/bad.err" || fail "$bad accepted: $(cat "$TEST_TMP/bad.err")"
done
ok "doctor reports the caps (defaults from the host, overrides named); invalid overrides refused"

# ---- one request above a cap ----------------------------------------------------
# The memory cap of this host, or a small one where the host is too big for
# 65536 MiB to exceed 75% of it.
MEM_ENV=()
[ "$DEF_MEM" -lt 65536 ] || MEM_ENV=(PYRO_MAX_TOTAL_MEM_MIB=4096)
CAP=$([ ${#MEM_ENV[@]} = 0 ] && echo "$DEF_MEM" || echo 4096)
for cmd in "workspace create" "vm create" "run"; do
  rest=()
  [ "$cmd" = run ] && rest=(-- true)
  # shellcheck disable=SC2086
  expect_status 1 env "${MEM_ENV[@]}" "$PYRO" $cmd "$ENV" --mem-mib 65536 --json "${rest[@]}"
  grep -q "mem_mib 65536 is more than .*max_total_mem_mib is $CAP MiB" <<<"$OUT" || fail "$cmd: error does not name the cap: $OUT"
  [ "$(jget error.code <<<"$OUT")" = limit_exceeded ] || fail "$cmd: error code: $OUT"
  # shellcheck disable=SC2086
  expect_status 1 env PYRO_MAX_TOTAL_VCPUS=3 "$PYRO" $cmd "$ENV" --vcpu-count 4 "${rest[@]}"
  grep -q "vcpu_count 4 is more than .*max_total_vcpus is 3 (set by PYRO_MAX_TOTAL_VCPUS)" <<<"$ERR" ||
    fail "$cmd: vCPU error: $ERR"
done
[ -z "$(ls "$PYRO_HOME/workspaces" "$PYRO_HOME/vms" 2>/dev/null)" ] || fail "a refused create left something behind"
# The same over MCP: a tool error, not a result.
mkdir -p "$TEST_TMP/mcp" && cd "$TEST_TMP/mcp"
env "${MEM_ENV[@]}" PYTHONPATH="$PYRO_SOURCE_DIR/tests/integration" /usr/bin/python3 - "$PYRO" "$ENV" "$CAP" <<'PY' ||
  fail "MCP workspace_create above the cap"
import sys
from mcp_stdio import serve
pyro, env, cap = sys.argv[1:4]
mcp = serve(pyro)
r = mcp.call("tools/call", {"name": "workspace_create", "arguments": {"environment": env, "mem_mib": 65536}})
res = r["result"]
text = " ".join(c.get("text", "") for c in res["content"])
assert res.get("isError") is True, r
assert f"max_total_mem_mib is {cap} MiB" in text, text
mcp.close()
PY
cd - >/dev/null
[ -z "$(ls "$PYRO_HOME/workspaces" 2>/dev/null)" ] || fail "the refused MCP create left a workspace"
ok "a request above the memory or vCPU cap is refused at create, naming the cap (CLI exit 1, MCP isError), nothing created"

# ---- starts that would exceed the caps ------------------------------------------
parent_limit() {
  local f
  for f in /sys/fs/cgroup/memory/pyro/memory.limit_in_bytes /sys/fs/cgroup/pyro/memory.max; do
    [ -e "$f" ] && { cat "$f"; return; }
  done
  echo none
}
# check_parent MIB: the pyro cgroup's memory limit is MIB. An ordinary user
# has no pyro cgroup on a host without delegation (memory is in every
# result's limits_unenforced): pyro's own check at start is all there is.
check_parent() {
  [ "$(id -u)" = 0 ] || return 0
  [ "$(parent_limit)" = $(($1 << 20)) ] || fail "the pyro cgroup's memory limit is $(parent_limit), not the cap $1 MiB"
}
[ "$(id -u)" = 0 ] || echo "# as $(id -un): no pyro cgroup holds the sum of the sandboxes' memory here (not enforced, listed in each result)"
# The parent cgroup is shared with every pyro on this host: a failed run must
# not leave it at the small cap (a start with the default caps restores it).
restore_parent() {
  local d
  for d in "$PYRO_HOME"/vms/*/; do [ -d "$d" ] && timeout 60 "$PYRO" vm delete "$(basename "$d")" >/dev/null 2>&1; done
  env -u PYRO_MAX_TOTAL_MEM_MIB -u PYRO_MAX_TOTAL_VCPUS "$PYRO" run "$ENV" -- true >/dev/null 2>&1 || true
}
trap 'restore_parent; cleanup_test_tmp' EXIT
export PYRO_MAX_TOTAL_MEM_MIB=2560
A=$(P vm create "$ENV" --mem-mib 1024 --id-only)
B=$(P vm create "$ENV" --mem-mib 1024 --id-only)
C=$(P vm create "$ENV" --mem-mib 1024 --vcpu-count 2 --id-only)
expect_status 0 P vm start "$A"
check_parent 2560
expect_status 0 P vm start "$B"
expect_status 1 P vm start "$C" --json
[ "$(jget error.code <<<"$OUT")" = limit_exceeded ] || fail "error code: $OUT"
grep -q "3072 MiB, above the cap max_total_mem_mib of 2560 MiB" <<<"$ERR" && grep -q PYRO_MAX_TOTAL_MEM_MIB <<<"$ERR" ||
  fail "the refused start does not name the memory cap: $ERR"
expect_status 0 P vm status "$C" --json
[ "$(jget state <<<"$OUT")" = created ] || fail "a refused start changed the VM: $OUT"
expect_status 1 P workspace create "$ENV" --mem-mib 1024
grep -q "max_total_mem_mib of 2560 MiB" <<<"$ERR" || fail "workspace create over the cap: $ERR"
[ -z "$(ls "$PYRO_HOME/workspaces" 2>/dev/null)" ] || fail "a refused workspace create left a workspace"
unset PYRO_MAX_TOTAL_MEM_MIB
expect_status 1 env PYRO_MAX_TOTAL_VCPUS=3 "$PYRO" vm start "$C"
grep -q "vCPUs of running sandboxes to 4, above the cap max_total_vcpus of 3" <<<"$ERR" || fail "vCPU cap at start: $ERR"
expect_status 0 P vm delete "$A"
expect_status 0 P vm start "$C"
check_parent "$DEF_MEM"
for v in "$B" "$C"; do expect_status 0 P vm delete "$v"; done
ok "a start beyond PYRO_MAX_TOTAL_MEM_MIB or PYRO_MAX_TOTAL_VCPUS is refused naming the cap; the pyro cgroup's limit is the cap"
