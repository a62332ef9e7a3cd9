#!/bin/bash
# A sandbox cannot make itself undeletable, and a delete killed midway never
# leaves an invisible workspace:
# - the code in a workspace fills /workspace with a 1,100-level deep tree
#   (paths far beyond PATH_MAX), files and directories of mode 000, a
#   read-only tree, a fifo, symlinks to host paths and a process that
#   escapes its exec; `workspace delete` succeeds and leaves no directory,
#   mount, cgroup or process, and follows no link out;
# - `workspace delete` killed with SIGKILL while it removes a large tree
#   leaves the workspace listed as "deleting", refused by other calls, and
#   removed by `vm reap-expired` or by a second delete.
source "$(dirname "$0")/lib.sh"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (apt-get install mmdebstrap)"
ENV=debian:12-base
P() { "$PYRO" "$@"; }
# A failed run deletes its workspaces however long that takes (lib.sh's
# cleanup gives up after 60 s, too soon for these trees on a busy host).
ws_cleanup() { for w in $(ls "$PYRO_HOME/workspaces" 2>/dev/null); do "$PYRO" workspace delete "$w" >/dev/null 2>&1 || true; done; "$PYRO" vm reap-expired >/dev/null 2>&1 || true; cleanup_test_tmp; }
trap ws_cleanup EXIT
MARK="sleep 987${RANDOM}1"

# Nothing of workspace $1 may remain: directory, mounts, cgroups.
assert_gone() {
  local id=$1
  [ ! -e "$PYRO_HOME/workspaces/$id" ] || fail "state of $id remains: $(ls -A "$PYRO_HOME/workspaces/$id" | head)"
  grep -q "$id" /proc/self/mountinfo && fail "mounts of $id remain: $(grep "$id" /proc/self/mountinfo)"
  for c in /sys/fs/cgroup/*/pyro/"$id" /sys/fs/cgroup/pyro/"$id"; do
    [ -e "$c" ] && fail "cgroup $c remains"
  done
  return 0
}
# The state of workspace $1 in `workspace list`, or "absent".
listed_state() {
  P workspace list --json | /usr/bin/python3 -c 'import json,sys
d=json.load(sys.stdin); s=[w["state"] for w in d["workspaces"] if w["workspace_id"]==sys.argv[1]]
print(s[0] if s else "absent")' "$1"
}

# ---- hostile content: delete still removes everything -------------------------
SENTINEL=$TEST_TMP/host-sentinel
mkdir -p "$SENTINEL/keep"; echo precious > "$SENTINEL/keep/file"
expect_status 0 P workspace create "$ENV" --id-only
W=$OUT
expect_status 0 P workspace exec "$W" -- "
  set -e
  p=\$(printf 'dddd/%.0s' \$(seq 550))
  mkdir -p \"deep/\$p\" \"deep2/\$p\"
  echo bottom > \"deep2/\$p/file\"
  chmod 000 \"deep2/\$p/file\" \"deep2/\$p\"
  mv deep2 \"deep/\$p\"
  echo secret > nofile; chmod 000 nofile
  mkdir nodir; echo x > nodir/f; mkdir nodir/sub; chmod 000 nodir
  mkdir -p ro/a/b; echo r > ro/a/b/f; chmod -R a-w ro
  mkdir sticky; chmod 1777 sticky; echo s > sticky/f
  mkfifo fifo
  ln -s $SENTINEL host_abs; ln -s ../../../../../../../../../../.. host_up; ln nofile hardlink
  if chattr +i ro/a/b/f 2>/dev/null || chattr +a nofile 2>/dev/null; then echo CHATTR_WORKED; fi
  setsid sh -c 'exec $MARK' </dev/null >/dev/null 2>&1 &
  find deep -type d | wc -l
"
grep -q CHATTR_WORKED <<<"$OUT" && fail "the sandbox could set an immutable or append-only flag"
[ "$(tail -n 1 <<<"$OUT")" = 1102 ] || fail "the deep tree was not built: $OUT"
pgrep -f "$MARK" >/dev/null || fail "the escaping process did not start (test setup)"
UPPER=$(ws_upper "$W")
[ -d "$UPPER/deep" ] || fail "test setup: no deep tree in $UPPER"
expect_status 0 P workspace delete "$W" --json
[ "$(jget deleted <<<"$OUT")" = true ] || fail "delete: $OUT"
assert_gone "$W"
pgrep -f "$MARK" >/dev/null && fail "a process of the deleted workspace still runs"
[ "$(cat "$SENTINEL/keep/file" 2>/dev/null)" = precious ] || fail "delete followed a symlink out of the workspace"
[ "$(listed_state "$W")" = absent ] || fail "a deleted workspace is still listed"
ok "a 1,100-level tree, mode-000 files and dirs, a read-only tree, links out and an escaped process: delete leaves nothing"

# ---- delete killed midway -----------------------------------------------------
# A workspace with 60,000 files in 20 directories, and the deep tree.
big_workspace() {
  expect_status 0 P workspace create "$ENV" --id-only
  local id=$OUT
  expect_status 0 P workspace exec "$id" --timeout-seconds 600 -- '
    set -e
    mkdir many; cd many
    for d in $(seq 20); do mkdir $d; (cd $d && seq 3000 | xargs touch); done
    cd ..; p=$(printf "dddd/%.0s" $(seq 550)); mkdir -p "deep/$p" "deep2/$p"; mv deep2 "deep/$p"
    find many -type f | wc -l'
  [ "$(tail -n 1 <<<"$OUT")" = 60000 ] || fail "test setup: $OUT"
  BIG=$id
}
# Starts a delete of $1 and kills it with SIGKILL midway: in a plain
# writable layer (an ordinary user) once it has removed the first of the 20
# directories (the sandbox is stopped by then); on a disk image (root: the
# tree goes with the image, docs/workspaces.md "Disk quota") as soon as the
# record says deleting, before the sandbox is down.
kill_delete_midway() {
  local id=$1 many n=20 image=false rec=$PYRO_HOME/workspaces/$1/record.json
  many=$(ws_upper "$id")/many
  [ -d "$PYRO_HOME/workspaces/$id/sandbox/disk/upper" ] && image=true
  # Started directly, so that $! is pyro itself, not a subshell around it.
  "$PYRO" workspace delete "$id" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 60000); do
    if $image; then
      grep -q '"deleting"' "$rec" 2>/dev/null && break
    else
      n=$(ls "$many" 2>/dev/null | wc -l)
      [ "$n" -lt 20 ] && break
    fi
    kill -0 "$pid" 2>/dev/null || break
    $image || sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || fail "the delete finished before it could be killed (test setup)"
  wait "$pid" 2>/dev/null || true
  $image || { [ "$n" -gt 0 ] && [ "$n" -lt 20 ]; } || fail "killed outside the removal of the tree ($n directories left; test setup)"
}
# After the kill: still visible, as "deleting", and refused by other calls.
check_half_deleted() {
  local id=$1
  [ -e "$PYRO_HOME/workspaces/$id" ] || fail "test setup: nothing left to check"
  local st
  st=$(listed_state "$id")
  [ "$st" = deleting ] || fail "a half-deleted workspace is listed as '$st' (its files: $(ls -A "$PYRO_HOME/workspaces/$id" | tr '\n' ' '))"
  expect_status 1 P workspace exec "$id" -- true
  grep -q "not fully deleted" <<<"$ERR" || fail "exec on a half-deleted workspace: $ERR"
}

big_workspace; K=$BIG
kill_delete_midway "$K"
check_half_deleted "$K"
expect_status 0 P vm reap-expired --json
/usr/bin/python3 -c 'import json,sys
d=json.loads(sys.argv[1])
assert {"workspace_id": sys.argv[2], "reason": "delete_interrupted"} in d["reaped"], d' "$OUT" "$K" ||
  fail "reap-expired did not remove the half-deleted workspace: $OUT"
assert_gone "$K"
ok "delete killed midway: listed as deleting, refused, then removed by reap-expired"

big_workspace; K=$BIG
kill_delete_midway "$K"
check_half_deleted "$K"
expect_status 0 P workspace delete "$K" --json
[ "$(jget deleted <<<"$OUT")" = true ] || fail "second delete: $OUT"
assert_gone "$K"
[ "$(listed_state "$K")" = absent ] || fail "still listed after the second delete"
ok "delete killed midway: a second delete finishes it"
