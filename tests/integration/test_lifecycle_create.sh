#!/bin/bash
# A create or run killed midway does not leave a sandbox that holds a slot
# of max_active_vms until its TTL:
# - `workspace create --seed-path` of 40,000 files killed with SIGKILL while
#   seeding leaves a workspace listed as "creating", refused by other calls;
#   `vm reap-expired` removes it (no monitor, cgroup, mount or directory
#   left) and the slot is free again (PYRO_MAX_ACTIVE_VMS=1);
# - `pyro run` killed with SIGKILL mid-command is removed by reap-expired
#   at once, not at the end of its TTL.
source "$(dirname "$0")/lib.sh"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (apt-get install mmdebstrap)"
ENV=debian:12-base
P() { "$PYRO" "$@"; }
# A failed run deletes what it made however long that takes (lib.sh's
# cleanup gives up after 60 s, too soon for this seed on a busy host).
ws_cleanup() { for w in $(ls "$PYRO_HOME/workspaces" 2>/dev/null); do "$PYRO" workspace delete "$w" >/dev/null 2>&1 || true; done; "$PYRO" vm reap-expired >/dev/null 2>&1 || true; cleanup_test_tmp; }
trap ws_cleanup EXIT
"$PYRO" env pull "$ENV" >/dev/null 2>&1 || fail "could not pull $ENV"

assert_gone() {
  local kind=$1 id=$2 mon=${3:-}
  [ -n "$mon" ] && [ -e "/proc/$mon" ] && ! grep -q '^[^)]*) [ZX]' "/proc/$mon/stat" 2>/dev/null &&
    fail "monitor $mon of $id still runs"
  [ ! -e "$PYRO_HOME/$kind/$id" ] || fail "state of $id remains: $(ls -A "$PYRO_HOME/$kind/$id" | head)"
  grep -q "$id" /proc/self/mountinfo && fail "mounts of $id remain"
  for c in /sys/fs/cgroup/*/pyro/"$id" /sys/fs/cgroup/pyro/"$id"; do
    [ -e "$c" ] && fail "cgroup $c remains"
  done
  return 0
}
reaped_with() { # reaped_with JSON KEY ID REASON
  /usr/bin/python3 -c 'import json,sys
d=json.loads(sys.argv[1])
assert {sys.argv[2]: sys.argv[3], "reason": sys.argv[4]} in d["reaped"], d' "$@"
}

# ---- workspace create killed while seeding ------------------------------------
SEED=$TEST_TMP/seed
mkdir -p "$SEED"
for d in $(seq 20); do
  mkdir "$SEED/$d"
  (cd "$SEED/$d" && seq 2000 | xargs -n 500 sh -c 'for f; do echo "$f" > "$f"; done' sh)
done
[ "$(find "$SEED" -type f | wc -l)" = 40000 ] || fail "test setup: seed"
export PYRO_MAX_ACTIVE_VMS=1
# Started directly, so that $! is pyro itself, not a subshell around it.
"$PYRO" workspace create "$ENV" --seed-path "$SEED" --id-only >/dev/null 2>"$TEST_TMP/create.err" &
CPID=$!
for _ in $(seq 3000); do
  grep -q "phase=seed" "$TEST_TMP/create.err" && break
  kill -0 "$CPID" 2>/dev/null || break
  sleep 0.1
done
grep -q "phase=seed" "$TEST_TMP/create.err" || fail "create never reached seeding: $(cat "$TEST_TMP/create.err")"
sleep 0.5
kill -9 "$CPID" 2>/dev/null || fail "the create finished before it could be killed (test setup: a bigger seed)"
wait "$CPID" 2>/dev/null || true
W=$(ls "$PYRO_HOME/workspaces")
[ -n "$W" ] || fail "the killed create left nothing to check"
MON=$(jget pid <"$PYRO_HOME/workspaces/$W/monitor.json")
kill -0 "$MON" 2>/dev/null || fail "test setup: the sandbox of the killed create is not running"

expect_status 0 P workspace list --json
/usr/bin/python3 -c 'import json,sys
d=json.loads(sys.argv[1]); w=[w for w in d["workspaces"] if w["workspace_id"]==sys.argv[2]]
assert w and w[0]["state"] == "creating", d' "$OUT" "$W" || fail "the killed create is not listed as creating: $OUT"
expect_status 1 P workspace exec "$W" -- true
grep -q "not fully created" <<<"$ERR" || fail "exec on a half-created workspace: $ERR"
# The slot is taken by its sandbox until it is reaped, and the error says so.
expect_status 1 P workspace create "$ENV" --json
grep -q "max_active_vms is 1" <<<"$ERR" && grep -q "reap-expired" <<<"$ERR" ||
  fail "the limit error does not point at the abandoned create: $ERR"
expect_status 0 P vm reap-expired --json
reaped_with "$OUT" workspace_id "$W" create_interrupted || fail "reap-expired did not remove the killed create: $OUT"
assert_gone workspaces "$W" "$MON"
expect_status 0 P workspace create "$ENV" --id-only
W2=$OUT
expect_status 0 P workspace exec "$W2" -- 'echo ok'
[ "$OUT" = ok ] || fail "the new workspace: $OUT"
expect_status 0 P workspace delete "$W2"
unset PYRO_MAX_ACTIVE_VMS
ok "create killed while seeding: listed as creating, refused, reaped at once; max_active_vms is free again"

# ---- pyro run killed mid-command ----------------------------------------------
"$PYRO" run "$ENV" -- 'sleep 1000' >/dev/null 2>&1 &
RPID=$!
for _ in $(seq 600); do
  ID=$(ls "$PYRO_HOME/vms" 2>/dev/null | head -n 1)
  [ -n "$ID" ] && [ -S "$PYRO_HOME/vms/$ID/control.sock" ] && break
  sleep 0.1
done
[ -n "$ID" ] || fail "pyro run created no VM"
sleep 1
MON=$(jget pid <"$PYRO_HOME/vms/$ID/monitor.json")
kill -9 "$RPID"; wait "$RPID" 2>/dev/null || true
expect_status 0 P vm reap-expired --json
reaped_with "$OUT" vm_id "$ID" run_interrupted || fail "reap-expired kept the VM of a killed run: $OUT"
assert_gone vms "$ID" "$MON"
ok "pyro run killed mid-command: reaped at once, not at the end of its TTL"
