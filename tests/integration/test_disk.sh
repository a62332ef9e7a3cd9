#!/bin/bash
# The disk quota (disk_mib) and the stopped-disk tools, on one workspace:
# bad sizes refused with nothing created; a fill past the quota is ENOSPC
# inside and takes no more than the quota on the host; the workspace works
# again after a removal; the disk tools refuse a running workspace, then on
# the stopped one list, read and export without following hostile links and
# without the runtime directories (planted into the image here), and a
# start finds /workspace intact. Runs on both backends (.vm variant).
source "$(dirname "$0")/lib.sh"
ws_cleanup() { for w in $(ls "$PYRO_HOME/workspaces" 2>/dev/null); do "$PYRO" workspace delete "$w" >/dev/null 2>&1 || true; done; umount "$TEST_TMP/mnt" 2>/dev/null || true; cleanup_test_tmp; }
trap ws_cleanup EXIT
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (apt-get install mmdebstrap)"
command -v debugfs >/dev/null || skip "debugfs is not installed (e2fsprogs)"
ENV=debian:12-base
Q=64
P() { "$PYRO" "$@"; }
count_ws() { ls "$PYRO_HOME/workspaces" 2>/dev/null | wc -l; }

# ---- bad sizes: clear errors, nothing created
expect_status 2 P workspace create "$ENV" --disk-mib 10
grep -q "disk-mib must be between" <<<"$ERR" || fail "disk_mib 10: $ERR"
expect_status 2 P workspace create "$ENV" --disk-mib 99999999
mkdir -p "$TEST_TMP/bigseed" && truncate -s 80M "$TEST_TMP/bigseed/blob"
expect_status 1 P workspace create "$ENV" --disk-mib $Q --seed-path "$TEST_TMP/bigseed"
grep -q "too small for the seed" <<<"$ERR" || fail "seed larger than the disk: $ERR"
[ "$(count_ws)" = 0 ] || fail "a refused create left a workspace: $(ls "$PYRO_HOME/workspaces")"
ok "disk_mib below the minimum, above the maximum, and smaller than the seed: refused, nothing created"

# ---- the quota
expect_status 0 P workspace create "$ENV" --disk-mib $Q --json
W=$(jget workspace_id <<<"$OUT")
[ "$(jget disk_mib <<<"$OUT")" = $Q ] || fail "disk_mib: $OUT"
if [ "$(jget rootless <<<"$OUT")" = true ]; then
  # An ordinary user cannot loop-mount the image: the result says so.
  [ "$(jget disk_quota <<<"$OUT")" = unenforced ] || fail "rootless quota reported as $(jget disk_quota <<<"$OUT")"
  jget limits_unenforced <<<"$OUT" | grep -q disk || fail "limits_unenforced lacks disk: $OUT"
  expect_status 0 P workspace stop "$W"
  expect_status 1 P workspace disk list "$W"
  grep -q "no disk image" <<<"$ERR" || fail "disk list without an image: $ERR"
  ok "as an ordinary user: disk_quota unenforced, reported; the disk tools say why they cannot run"
  skip "the disk quota needs loop mounts (root): an ordinary user's sandbox reports it unenforced"
fi
[ "$(jget disk_quota <<<"$OUT")" = enforced ] || fail "disk_quota: $OUT"
IMG=$PYRO_HOME/workspaces/$W/upper/disk.ext4
[ -f "$IMG" ] || fail "no disk image at $IMG"
# What pyro holds on the host: the state directory (-x: not into a mounted
# image). df would count the other processes writing to the same file system.
held0=$(du -s -x -B1M "$PYRO_HOME" | cut -f1)
expect_status 0 P workspace exec "$W" -- 'dd if=/dev/zero of=/workspace/fill bs=1M count=200 2>&1; echo "dd=$?"'
grep -q "No space left on device" <<<"$OUT" || fail "no ENOSPC inside: $OUT"
grep -q "dd=1" <<<"$OUT" || fail "dd did not fail: $OUT"
used=$(du -s -x -B1M "$PYRO_HOME/workspaces/$W" | cut -f1)
held1=$(du -s -x -B1M "$PYRO_HOME" | cut -f1)
[ "$used" -le $((Q + 8)) ] || fail "the workspace takes $used MiB on the host, quota $Q"
[ $((held1 - held0)) -le $Q ] || fail "the fill took $((held1 - held0)) MiB of the host, quota $Q"
ok "a write past disk_mib is ENOSPC inside; the workspace holds $used MiB of the host (quota $Q)"
expect_status 0 P workspace exec "$W" -- 'rm /workspace/fill && dd if=/dev/zero of=/workspace/again bs=1M count=8 2>/dev/null && rm /workspace/again && echo fine'
grep -q fine <<<"$OUT" || fail "the workspace does not work after the removal: $OUT"
ok "after removing the file the workspace writes again"

# ---- hostile entries, then the disk tools
expect_status 0 P workspace exec "$W" -- 'mkdir -p /workspace/d && echo intact > /workspace/d/f && ln -s / /workspace/root && ln -s .. /workspace/d/up && ln -s /run/pyro-secrets /workspace/sec && ln -s ../../etc/passwd /workspace/pw'
for t in "disk list $W" "disk read $W /workspace/d/f" "disk export $W --output $TEST_TMP/running.img"; do
  expect_status 1 P workspace $t
  grep -q "stopped" <<<"$ERR" || fail "workspace $t on a running workspace: $ERR"
done
[ ! -e "$TEST_TMP/running.img" ] || fail "an export of a running workspace wrote its output"
ok "the disk tools refuse a running workspace"
expect_status 0 P workspace stop "$W"
# Runtime state planted where a guest's /run would keep it (its owner that
# of /workspace, so the sandbox can use its /run again).
MARK=planted-$RANDOM-secret-value
mkdir -p "$TEST_TMP/mnt"
mount -o loop "$IMG" "$TEST_TMP/mnt"
U=$TEST_TMP/mnt/upper
mkdir -p "$U/run/pyro-secrets/sub" "$U/run/pyro-shells" "$U/run/pyro-services" "$U/run/keep"
echo "$MARK" > "$U/run/pyro-secrets/sub/TOKEN"
echo "$MARK" > "$U/run/pyro-shells/log"
echo "$MARK" > "$U/run/pyro-services/log"
echo kept > "$U/run/keep/x"
chown -R --reference="$U/workspace" "$U/run"
umount "$TEST_TMP/mnt"

expect_status 0 P workspace disk list "$W" --recursive --json
for p in /workspace/d /workspace/d/f /workspace/root /workspace/d/up /workspace/sec; do
  grep -q "\"$p\"" <<<"$OUT" || fail "disk list lacks $p: $OUT"
done
python3 -c 'import json,sys; d=json.load(sys.stdin); t={e["path"]:e["type"] for e in d["entries"]}
assert t["/workspace/root"]=="symlink" and t["/workspace/d/up"]=="symlink" and t["/workspace/d/f"]=="file", t
assert not any(p.startswith(("/workspace/root/","/workspace/d/up/","/workspace/sec/")) for p in t), t' <<<"$OUT" || fail "links followed: $OUT"
expect_status 0 P workspace disk read "$W" /workspace/d/f --json
[ "$(jget content <<<"$OUT")" = intact ] || fail "disk read: $OUT"
for p in /workspace/root/etc/passwd /workspace/d/up/d/f /workspace/sec/sub/TOKEN; do
  expect_status 1 P workspace disk read "$W" "$p"
  grep -q "symbolic link" <<<"$ERR" || fail "read through a link $p: $ERR"
done
expect_status 1 P workspace disk read "$W" /workspace/root
grep -q "symbolic link" <<<"$ERR" || fail "read of a link: $ERR"
expect_status 1 P workspace disk list "$W" /workspace/root/etc
expect_status 1 P workspace disk read "$W" /workspace/../etc/passwd
grep -q "contains '..'" <<<"$ERR" || fail "a path with ..: $ERR"
ok "disk list and read show links as links and never follow one (to /, .., a runtime directory)"
expect_status 0 P workspace disk list "$W" / --recursive --json
grep -q "/run/keep/x" <<<"$OUT" || fail "disk list / lacks /run/keep/x: $OUT"
grep -q "pyro-secrets\|pyro-shells\|pyro-services" <<<"$OUT" && fail "runtime directories listed: $OUT"
for p in /run/pyro-secrets/sub/TOKEN /run/pyro-shells/log /run/pyro-services/log; do
  expect_status 1 P workspace disk read "$W" "$p"
  grep -q "$MARK" <<<"$OUT$ERR" && fail "read $p showed the planted value"
done
ok "the runtime directories are neither listed nor read"
expect_status 0 P workspace disk export "$W" --output "$TEST_TMP/disk.img" --json
[ "$(jget format <<<"$OUT")" = raw-ext4 ] && [ "$(jget scrubbed <<<"$OUT")" = 3 ] || fail "export: $OUT"
grep -qa "$MARK" "$TEST_TMP/disk.img" && fail "the exported image holds the runtime directories' content"
grep -qa "$MARK" "$IMG" || fail "the workspace's own disk lost the planted state (the scrub must work on the copy)"
e2fsck -fn "$TEST_TMP/disk.img" >/dev/null 2>&1 || fail "the exported image does not check clean"
grep -q intact <<<"$(debugfs -R "cat /upper/workspace/d/f" "$TEST_TMP/disk.img" 2>/dev/null)" ||
  fail "the export lacks /workspace/d/f"
grep -q keep <<<"$(debugfs -R "ls /upper/run" "$TEST_TMP/disk.img" 2>/dev/null)" || fail "the export lost /run/keep"
expect_status 1 P workspace disk export "$W" --output "$TEST_TMP/disk.img"
ok "disk export: a raw ext4 image that checks clean, runtime directories removed and their blocks cleared"

expect_status 0 P workspace start "$W"
expect_status 0 P workspace exec "$W" -- 'cat /workspace/d/f; readlink /workspace/root'
[ "$OUT" = "intact
/" ] || fail "after the disk tools /workspace is not intact: $OUT"
ok "workspace start after the disk tools: /workspace intact"
expect_status 0 P workspace delete "$W"

# ---- one-shot runs: an image only when disk_mib is given (sandbox)
expect_status 0 P run "$ENV" --disk-mib $Q --json -- 'dd if=/dev/zero of=/tmp/fill bs=1M count=200 2>&1; echo "dd=$?"'
grep -q "No space left on device" <<<"$(jget stdout <<<"$OUT")" || fail "run --disk-mib: no ENOSPC: $OUT"
[ "$(jget disk_quota <<<"$OUT")" = enforced ] && [ "$(jget disk_mib <<<"$OUT")" = $Q ] || fail "run --disk-mib: $OUT"
expect_status 0 P run "$ENV" --json -- true
if on_vm; then want="enforced 8192"; else want="none"; fi
got=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["disk_quota"], d.get("disk_mib","")) ' <<<"$OUT" | sed 's/ $//')
[ "$got" = "$want" ] || fail "run without disk_mib: disk_quota/disk_mib '$got', expected '$want'"
[ -z "$(ls "$PYRO_HOME/vms" 2>/dev/null)" ] || fail "a run left $(ls "$PYRO_HOME/vms")"
ok "pyro run --disk-mib: ENOSPC inside; without it: disk_quota '$want'"
