#!/bin/bash
# User namespaces seen from outside (docs/rootless.md): as root, sandbox root
# is the pool on the host (uid_map, owners of what it writes), exports belong
# to the caller; a user without subordinate ids is refused with the fix and
# nothing is left behind.
source "$(dirname "$0")/lib.sh"
ENV=debian:12-base
"$PYRO" env pull "$ENV" >/dev/null 2>&1 || fail "could not pull $ENV"

if [ "$(id -u)" = 0 ]; then
  BASE=${PYRO_IDMAP_BASE:-1879048192}
  expect_status 0 "$PYRO" run "$ENV" -- 'cat /proc/self/uid_map /proc/self/gid_map; id -u'
  read -r a b c <<<"$(sed -n 1p <<<"$OUT")"
  [ "$a $b $c" = "0 $BASE 65536" ] || fail "uid_map is not the pool: $OUT"
  read -r a b c <<<"$(sed -n 2p <<<"$OUT")"
  [ "$a $b $c" = "0 $BASE 65536" ] || fail "gid_map is not the pool: $OUT"
  [ "$(sed -n 3p <<<"$OUT")" = 0 ] || fail "not root inside: $OUT"
  ok "uid_map and gid_map map sandbox root to the pool $BASE"

  # The environment's tree belongs to the range; inside it looks right.
  ROOTFS=$("$PYRO" env inspect "$ENV" --json | jget rootfs_path)
  [ "$(stat -c %u:%g "$ROOTFS/etc/shadow")" = "$BASE:$((BASE + 42))" ] || fail "tree not shifted"
  expect_status 0 "$PYRO" run "$ENV" -- 'stat -c %U:%G /etc/shadow /root'
  [ "$OUT" = $'root:shadow\nroot:root' ] || fail "ownership inside: $OUT"
  ok "environment tree owned by the range, root:shadow inside"

  # A workspace's files belong to the range on the host; exports to the caller.
  W=$("$PYRO" workspace create "$ENV" --json | jget workspace_id)
  expect_status 0 "$PYRO" workspace exec "$W" -- 'echo made >/workspace/made.txt; chown 1000:1000 /workspace/made.txt'
  F=$(find "$PYRO_HOME/workspaces/$W" -name made.txt -path '*upper*' | head -1)
  [ -n "$F" ] || fail "made.txt not in the writable layer"
  [ "$(stat -c %u:%g "$F")" = "$((BASE + 1000)):$((BASE + 1000))" ] || fail "owner on the host: $(stat -c %u:%g "$F")"
  expect_status 0 "$PYRO" workspace export "$W" made.txt --output "$TEST_TMP/made.txt"
  [ "$(stat -c %u "$TEST_TMP/made.txt")" = 0 ] || fail "export not the caller's"
  "$PYRO" workspace delete "$W" >/dev/null
  ok "files made inside belong to the range; exports belong to the caller"

  # As a user without /etc/subuid and /etc/subgid ranges: a clear refusal.
  NOSUB=pyro-nosub
  id "$NOSUB" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$NOSUB" 2>/dev/null ||
    skip "cannot create the user $NOSUB"
  ! grep -q "^$NOSUB:" /etc/subuid /etc/subgid 2>/dev/null || fail "$NOSUB has subordinate ids"
  UH=$(mktemp -d /tmp/pyro-nosub.XXXXXX)
  chown "$NOSUB" "$UH"
  trap 'rm -rf "$UH"; cleanup_test_tmp' EXIT
  # root's environment cache, read only: the refusal comes at the start
  set +e
  runuser -u "$NOSUB" -- env HOME="$UH" PYRO_HOME="$UH/state" PYRO_CACHE_DIR="$XDG_CACHE_HOME/pyro" \
    "$PYRO" run "$ENV" -- true \
    >"$TEST_TMP/out" 2>"$TEST_TMP/err"
  rc=$?
  set -e
  ERR=$(cat "$TEST_TMP/err")
  [ "$rc" != 0 ] || fail "a user without subordinate ids ran a sandbox"
  grep -q "/etc/subuid" <<<"$ERR" && grep -q "usermod --add-subuids" <<<"$ERR" || fail "no fix named: $ERR"
  [ -z "$(ls "$UH/state/vms" 2>/dev/null)" ] || fail "the refused run left $(ls "$UH/state/vms")"
  ok "a user without subordinate ids: refused with the usermod fix, nothing left"
else
  # As a user: the map is the user's own subordinate range, never the user.
  expect_status 0 "$PYRO" run "$ENV" --json -- 'cat /proc/self/uid_map; grep "^0::" /proc/self/cgroup || echo "0::none"'
  read -r a b c <<<"$(jget stdout <<<"$OUT")"
  [ "$a" = 0 ] && [ "$b" != "$(id -u)" ] && [ "$c" = 65536 ] || fail "uid_map: $OUT"
  grep -q "^$(id -un):$b:" /etc/subuid || fail "map base $b is not the user's range"
  [ "$(jget rootless <<<"$OUT")" = true ] || fail "result does not say rootless"
  # Memory is reported enforced only when the sandbox is in a pyro cgroup of
  # its own (a delegated cgroup v2 subtree); otherwise why, with the fix.
  cg=$(jget stdout <<<"$OUT" | sed -n 's/^0:://p')
  if jget limits_unenforced <<<"$OUT" | grep -q memory; then
    jget limits_unenforced_reason <<<"$OUT" | grep -q "(fix: " || fail "unenforced limits without the reason: $OUT"
  else
    [[ "$cg" == */pyro/* ]] || fail "memory limit reported as enforced, but the sandbox is in cgroup '$cg': $OUT"
  fi
  ok "sandbox root is the user's subordinate range; limits not enforced are reported"
fi
