#!/bin/bash
# Environments against the shared test cache: bad input, a real debian:12-base
# build (reused by every other test), idempotent pull, list, inspect, markers.
source "$(dirname "$0")/lib.sh"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (apt-get install mmdebstrap)"
ENV=debian:12-base

# Unknown names are runtime errors (exit 1) that list the catalog; nothing is created.
# (A short name is also tried as an OCI image, docs/environments.md: the
# default registry is a closed loopback port here, so no host's internet
# access changes the outcome.)
expect_status 1 env PYRO_OCI_REGISTRY=127.0.0.1:9 "$PYRO" env pull ubuntu:24.04
grep -q "unknown environment 'ubuntu:24.04'; valid names: debian:12, debian:12-base, debian:12-build" <<<"$ERR" \
  || fail "unknown name message: $ERR"
expect_status 1 "$PYRO" env inspect nope --json
[ "$(jget error.code <<<"$OUT")" = not_found ] || fail "json error code: $OUT"
expect_status 1 "$PYRO" env pull "$ENV" --mirror 'ftp://example.org/debian'
grep -q "mirror must be an http" <<<"$ERR" || fail "bad mirror message: $ERR"
expect_status 2 "$PYRO" env pull
ok "bad input rejected"

# Pull (builds on a cold cache), in human mode: phase markers on stderr.
expect_status 0 "$PYRO" env pull "$ENV"
for phase in resolve verify ready; do
  grep -q "^\[pull\] phase=$phase environment=$ENV$" <<<"$ERR" || fail "no $phase marker in: $ERR"
done
ok "pull with phase markers"

ROOTFS=$("$PYRO" env inspect "$ENV" --json | jget rootfs_path)
[ -x "$ROOTFS/bin/bash" ] || fail "no bash in $ROOTFS"
grep -q '^12' "$ROOTFS/etc/debian_version" || fail "not Debian 12: $(cat "$ROOTFS/etc/debian_version")"
[ ! -e "$ROOTFS/usr/share/man/man1" ] || fail "man pages were not excluded"
ok "rootfs is Debian 12 with bash"

# Idempotent: a second pull verifies and reuses, JSON untouched by markers.
INODE=$(stat -c %i "$ROOTFS")
start=$(date +%s%N)
expect_status 0 "$PYRO" env pull "$ENV" --json
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(jget action <<<"$OUT")" = reused ] || fail "second pull did not reuse: $OUT"
[ "$(jget build_ms <<<"$OUT")" = 0 ] || fail "second pull built: $OUT"
[ -z "$ERR" ] || fail "--json pull wrote to stderr: $ERR"
[ "$(stat -c %i "$ROOTFS")" = "$INODE" ] || fail "second pull replaced the rootfs"
# (no timing asserted: the reuse shows in action, build_ms and the inode)
ok "pull is idempotent (${ms} ms)"

# list and inspect after.
expect_status 0 "$PYRO" env list --json
/usr/bin/python3 - "$OUT" "$ENV" <<'PY' || fail "list: $OUT"
import json, sys
d = json.loads(sys.argv[1]); env = sys.argv[2]
names = [e["name"] for e in d["environments"]]
assert names == ["debian:12", "debian:12-base", "debian:12-build"], names
e = next(e for e in d["environments"] if e["name"] == env)
assert e["installed"] is True and e["status"] == "installed" and e["version"] == "1", e
assert e["size_bytes"] > 10_000_000, e
assert d["default_environment"] == "debian:12"
PY
expect_status 0 "$PYRO" env list
grep -q "^$ENV *\[installed\]" <<<"$OUT" || fail "human list: $OUT"
start=$(date +%s%N)
expect_status 0 "$PYRO" env inspect "$ENV" --json
ms=$(( ($(date +%s%N) - start) / 1000000 ))
/usr/bin/python3 - "$OUT" <<'PY' || fail "inspect: $OUT"
import json, re, sys
d = json.loads(sys.argv[1])
assert d["status"] == "installed" and d["problem"] is None, d["status"]
m = d["manifest"]
assert m["schema_version"] == 1 and m["recipe_version"] == "1" and m["name"] == "debian:12-base"
pk = {p["name"]: p["version"] for p in m["packages"]}
assert "bash" in pk and "coreutils" in pk and pk["bash"].startswith("5."), pk.get("bash")
assert d["package_count"] == len(pk)
a = m["artifacts"][0]
assert a["name"] == "rootfs" and a["kind"] == "rootfs-tree" and re.fullmatch("[0-9a-f]{64}", a["sha256"])
# size_bytes sums every artifact (the VM's too, once a VM was started here).
assert d["size_bytes"] == sum(x["size"] for x in m["artifacts"]) and a["size"] > 0 and a["entries"] > 1000
PY
ok "list and inspect report the install (full verify ${ms} ms)"
