#!/bin/bash
# Environments on a private, empty cache: list/inspect before, an unreachable
# mirror, a pull killed with SIGKILL during the build, prune of the partial
# build, the verified stamp, and a corrupted file found by inspect and
# repaired by one of two concurrent pulls (the other waits). Builds
# debian:12-base once (and a part of it).
source "$(dirname "$0")/lib.sh"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (apt-get install mmdebstrap)"
export XDG_CACHE_HOME="$TEST_TMP/cache"
ENV=debian:12-base
EDIR="$XDG_CACHE_HOME/pyro/environments/debian_12-base"

# Before: nothing installed, and looking creates nothing.
expect_status 0 "$PYRO" env list --json
[ "$(jget environments.1.installed <<<"$OUT")" = false ] || fail "installed on an empty cache: $OUT"
expect_status 0 "$PYRO" env inspect "$ENV" --json
[ "$(jget status <<<"$OUT")" = not_installed ] || fail "inspect before: $OUT"
[ ! -e "$XDG_CACHE_HOME/pyro" ] || fail "list/inspect created $(find "$XDG_CACHE_HOME")"
ok "empty cache reported, nothing created"

# An unreachable mirror: clear error with mmdebstrap's words, nothing installed.
expect_status 1 "$PYRO" env pull "$ENV" --mirror http://127.0.0.1:9/debian
grep -q "mmdebstrap failed" <<<"$ERR" || fail "mirror error: $ERR"
grep -q "127.0.0.1" <<<"$ERR" || fail "mirror error does not name the mirror: $ERR"
[ -f "$EDIR/build-failed.log" ] || fail "no build-failed.log"
[ -z "$(ls -A "$EDIR" | grep -v -e '^.lock$' -e '^build-failed.log$')" ] || fail "left: $(ls -A "$EDIR")"
ok "unreachable mirror fails cleanly"

# kill -9 during the build.
"$PYRO" env pull "$ENV" 2>"$TEST_TMP/kill.err" >/dev/null &
PID=$!
for _ in $(seq 300); do grep -q phase=build "$TEST_TMP/kill.err" && break; sleep 0.1; done
grep -q phase=build "$TEST_TMP/kill.err" || fail "build never started: $(cat "$TEST_TMP/kill.err")"
for _ in $(seq 300); do compgen -G "$EDIR/.tmp-*/rootfs/var/cache/apt/archives/*.deb" >/dev/null && break; sleep 0.1; done
sleep 2
kill -9 "$PID"
wait "$PID" 2>/dev/null || true
for _ in $(seq 50); do pgrep -f "$XDG_CACHE_HOME" >/dev/null || break; sleep 0.1; done
! pgrep -af "$XDG_CACHE_HOME" || fail "build processes survived the kill"
! grep -q "$XDG_CACHE_HOME" /proc/self/mountinfo || fail "mounts survived the kill"
expect_status 0 "$PYRO" env inspect "$ENV" --json
[ "$(jget status <<<"$OUT")" = not_installed ] || fail "killed pull left an install: $OUT"
[ "$(jget stale_builds <<<"$OUT")" = 1 ] || fail "expected one partial build: $OUT"
ok "killed pull left nothing installed, no process, no mount"

# prune removes the partial build.
expect_status 0 "$PYRO" env prune --json
[ "$(jget removed.0.reason <<<"$OUT")" = partial ] || fail "prune: $OUT"
! compgen -G "$EDIR/.tmp-*" >/dev/null || fail "prune left $(ls -A "$EDIR")"
ok "prune removed the partial build"

# An install as a build leaves it (the rootfs and a manifest listing it
# alone), copied from the shared test cache under its lock: one real build
# below, not two.
SHARED="${PYRO_TEST_CACHE:?}/pyro/environments/debian_12-base"
ROOTFS="$EDIR/1/rootfs"
mkdir -p "$TEST_TMP/seed"
flock "$SHARED/.lock" cp -a "$SHARED/1/rootfs" "$SHARED/1/manifest.json" "$TEST_TMP/seed/"
/usr/bin/python3 -c 'import json,sys
p=sys.argv[1]; m=json.load(open(p)); m["artifacts"]=[a for a in m["artifacts"] if a["name"]=="rootfs"]
json.dump(m, open(p,"w"))' "$TEST_TMP/seed/manifest.json"
mv -T "$TEST_TMP/seed" "$EDIR/1"

# A pull of an intact install hashes every byte once, then trusts its stamp
# (inodes and times); a file touched, even with its time put back, moves its
# change time and is hashed again.
expect_status 0 "$PYRO" env pull "$ENV" --json
[ "$(jget action <<<"$OUT") $(jget verified <<<"$OUT")" = "reused content" ] || fail "first reuse: $OUT"
expect_status 0 "$PYRO" env pull "$ENV" --json
[ "$(jget verified <<<"$OUT")" = unchanged ] || fail "second reuse did not trust the stamp: $OUT"
MTIME=$(stat -c %y "$ROOTFS/etc/os-release")
touch "$ROOTFS/etc/os-release" && touch -d "$MTIME" "$ROOTFS/etc/os-release"
expect_status 0 "$PYRO" env pull "$ENV" --json
[ "$(jget verified <<<"$OUT")" = content ] || fail "a touched file was not hashed again: $OUT"
ok "pull hashes an unchanged install once, then trusts its stamp until a change time moves"

# Corrupt one byte without changing the size (its change time moves, so the
# stamp no longer holds): inspect sees it; of two concurrent pulls one
# rebuilds it and the other waits and reuses the result; a stale build
# directory is cleaned by the builder.
cp "$ROOTFS/etc/os-release" "$TEST_TMP/os-release"
printf 'X' | dd of="$ROOTFS/etc/os-release" bs=1 seek=0 conv=notrunc status=none
cmp -s "$ROOTFS/etc/os-release" "$TEST_TMP/os-release" && fail "corruption did not happen"
expect_status 0 "$PYRO" env inspect "$ENV" --json
[ "$(jget status <<<"$OUT")" = invalid ] || fail "inspect missed the corruption: $OUT"
grep -q "content digest" <<<"$(jget problem <<<"$OUT")" || fail "problem: $(jget problem <<<"$OUT")"
expect_status 0 "$PYRO" env list
grep -q "^$ENV" <<<"$OUT" || fail "list: $OUT"
mkdir -p "$EDIR/.tmp-1-deadbeef/rootfs"
"$PYRO" env pull "$ENV" --json >"$TEST_TMP/a.json" 2>"$TEST_TMP/a.err" &
A=$!
sleep 0.5
"$PYRO" env pull "$ENV" --json >"$TEST_TMP/b.json" 2>"$TEST_TMP/b.err" &
B=$!
wait "$A" || fail "pull A failed: $(cat "$TEST_TMP/a.err")"
wait "$B" || fail "pull B failed: $(cat "$TEST_TMP/b.err")"
acts="$(jget action <"$TEST_TMP/a.json") $(jget action <"$TEST_TMP/b.json")"
[ "$acts" = "repaired reused" ] || fail "concurrent pulls: $acts"
[ "$(jget waited <"$TEST_TMP/b.json")" = true ] || fail "second pull did not wait"
[ ! -e "$EDIR/.tmp-1-deadbeef" ] || fail "stale build dir survived the next pull"
[ ! -e "$EDIR/build-failed.log" ] || fail "build-failed.log survived a good build"
cmp "$ROOTFS/etc/os-release" "$TEST_TMP/os-release" || fail "os-release not restored"
expect_status 0 "$PYRO" env inspect "$ENV" --json
[ "$(jget status <<<"$OUT")" = installed ] || fail "after repair: $OUT"
[ -z "$(ls -A "$EDIR" | grep -v -e '^.lock$' -e '^1$')" ] || fail "repair left: $(ls -A "$EDIR")"
[ "$(jget verified <"$TEST_TMP/b.json")" = content ] ||
  fail "the waiting pull trusted the old install's stamp: $(cat "$TEST_TMP/b.json")"
ok "corruption detected by inspect; of two concurrent pulls one rebuilt it, the other waited"

# A removed manifest makes the install invalid for list (quick check) too.
mv "$EDIR/1/manifest.json" "$TEST_TMP/manifest.json"
expect_status 0 "$PYRO" env list --json
[ "$(jget environments.1.status <<<"$OUT")" = invalid ] || fail "list with no manifest: $OUT"
mv "$TEST_TMP/manifest.json" "$EDIR/1/manifest.json"
ok "missing manifest reported by list"
