#!/usr/bin/env bash
# Round trip (docs/environments.md "OCI images"): `env push` of the built
# debian:12-base to a loopback registry and to an OCI layout, skopeo reads
# both, `env pull` into an empty cache gives the identical content digest,
# and a command runs in the pulled image (on the vm backend too: this suite
# is in PYRO_VM_SUITES).
source "$(dirname "$0")/lib.sh"
SHARED_CACHE=${PYRO_TEST_CACHE:?the round trip pushes the shared test cache\'s debian:12-base}
source "$(dirname "$0")/oci_lib.sh"
PORT=$(free_port)
REG=127.0.0.1:$PORT
start_registry plain "$PORT"

BASE_MANIFEST="$SHARED_CACHE/pyro/environments/debian_12-base/1/manifest.json"
[ -f "$BASE_MANIFEST" ] || skip "debian:12-base is not built in the shared cache"
WANT=$(jget artifacts.0.sha256 <"$BASE_MANIFEST")
expect_status 0 env XDG_CACHE_HOME="$SHARED_CACHE" "$PYRO" env push debian:12-base "$REG/pyro/debian:12-base" --json
[ "$(echo "$OUT" | jget content_sha256)" = "$WANT" ] || fail "push: $OUT"
PUSHED=$(echo "$OUT" | jget manifest_digest)
expect_status 0 env XDG_CACHE_HOME="$SHARED_CACHE" "$PYRO" env push debian:12-base "oci:$TEST_TMP/layout:v1" --json
[ "$(echo "$OUT" | jget manifest_digest)" = "$PUSHED" ] || fail "the layout's image differs from the registry's: $OUT"
# An independent client reads both.
skopeo inspect --tls-verify=false "docker://$REG/pyro/debian:12-base" >"$TEST_TMP/insp" || fail "skopeo inspect"
grep -q '"Architecture": "amd64"' "$TEST_TMP/insp" || fail "skopeo: $(cat "$TEST_TMP/insp")"
skopeo copy -q "oci:$TEST_TMP/layout:v1" "docker://$REG/pyro/from-layout:v1" --dest-tls-verify=false ||
  fail "skopeo could not copy the layout pyro wrote"
ok "env push to a registry and an OCI layout; skopeo reads both"

# Pull into the empty private cache: the identical tree.
expect_status 0 "$PYRO" env pull "$REG/pyro/debian:12-base" --json
GOT=$(jget artifacts.0.sha256 <"$(echo "$OUT" | jget cache_path)/manifest.json")
[ "$GOT" = "$WANT" ] || fail "content digest after the round trip: $GOT, built: $WANT"
[ "$(echo "$OUT" | jget package_count)" -gt 50 ] || fail "package list: $OUT"
# The registry holds what pyro pushed, byte for byte (skopeo's copy of the
# layout gzips the layer, so its digest differs by design).
D1=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/pyro/debian:12-base")
[ "$D1" = "$PUSHED" ] || fail "registry manifest $D1, pushed $PUSHED"
ok "pull into an empty cache: the same content digest ($WANT)"

expect_status 0 "$PYRO" run "$REG/pyro/debian:12-base" -- 'cat /etc/debian_version; id -u'
echo "$OUT" | grep -q '^12\.' && echo "$OUT" | grep -qx 0 || fail "run in the pulled image ($BACKEND): $OUT"
ok "pyro run in the pulled image on the $BACKEND backend"
