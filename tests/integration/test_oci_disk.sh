#!/usr/bin/env bash
# A pull into a full disk (docs/environments.md "OCI images", "Layers and the
# cache"): the cache on a small tmpfs this test mounts (and unmounts) itself.
# The download stops with a clear "no space" error, so does the unpack when
# only the blob fits; nothing is installed or listed either time; once
# space is freed the next pull resumes the kept download and succeeds.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "mounting the small file system for the cache needs root (as a user the full-disk path is the same code)"
source "$(dirname "$0")/oci_lib.sh"
PORT=$(free_port)
REG=127.0.0.1:$PORT
start_registry plain "$PORT"

# One uncompressed 6 MiB layer of random bytes.
head -c $((6 << 20)) /dev/urandom >"$TEST_TMP/random"
printf '{"layers": [{"compress": "none", "entries": [{"path": "r", "type": "file", "src": "%s"}]}]}' \
  "$TEST_TMP/random" >"$TEST_TMP/big.json"
python3 "$LAYOUT" "$TEST_TMP/big" "$TEST_TMP/big.json"
skopeo copy -q --dest-tls-verify=false "oci:$TEST_TMP/big:latest" "docker://$REG/test/big:1" >/dev/null
IMG=$REG/test/big:1

SMALL="$TEST_TMP/small"
mkdir -p "$SMALL"
mount -t tmpfs -o size=4m tmpfs "$SMALL" || skip "cannot mount a tmpfs here"
unmount_small() { umount "$SMALL" 2>/dev/null || true; stop_registries; }
trap unmount_small EXIT
export XDG_CACHE_HOME="$SMALL/cache"
ENVS="$XDG_CACHE_HOME/pyro/environments"
installed() { ls -d "$ENVS"/oci-*/1 "$ENVS"/oci-*/.tmp-* 2>/dev/null | wc -l; }
not_listed() {
  expect_status 0 "$PYRO" env list --json
  grep -q "\"$IMG\"" <<<"$OUT" && fail "$1: a half environment is listed: $OUT"
  [ "$(installed)" = 0 ] || fail "$1: an install or temporary tree was left: $(ls -a "$ENVS"/oci-*)"
}

# 4 MiB: the download itself runs out of space.
expect_status 1 "$PYRO" env pull "$IMG"
grep -qi "no space left" <<<"$ERR" || fail "download into a full disk: $ERR"
not_listed download
ok "a download that fills the disk fails with 'no space left', nothing installed or listed"

# 10 MiB: the blob fits (the download resumes), the unpacked tree does not.
mount -o remount,size=10m "$SMALL"
expect_status 1 "$PYRO" --log-level info env pull "$IMG"
grep -q "resuming the download" <<<"$ERR" || fail "the download did not resume: $ERR"
grep -qi "no space left" <<<"$ERR" || fail "unpack into a full disk: $ERR"
not_listed unpack
ok "an unpack that fills the disk fails with 'no space left', its temporary tree removed, nothing listed"

# Space freed: the next pull uses the kept blob and succeeds.
mount -o remount,size=64m "$SMALL"
expect_status 0 "$PYRO" env pull "$IMG" --json
cmp -s "$(echo "$OUT" | jget rootfs_path)/r" "$TEST_TMP/random" || fail "content after the full disk"
expect_status 0 "$PYRO" env list --json
grep -q "\"$IMG\"" <<<"$OUT" || fail "not listed after the pull: $OUT"
ok "after space is freed the pull succeeds"
