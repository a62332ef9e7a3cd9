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
# The registry holds what pyro pushed, byte for byte.
D1=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/pyro/debian:12-base")
[ "$D1" = "$PUSHED" ] || fail "registry manifest $D1, pushed $PUSHED"
ok "pull into an empty cache: the same content digest ($WANT)"

# Air-gapped: the OCI layout into another empty cache, the same tree. The
# layer is gzipped and the config's diff id is the uncompressed tar's.
expect_status 0 env XDG_CACHE_HOME="$TEST_TMP/cache-layout" "$PYRO" env pull "oci:$TEST_TMP/layout:v1" --json
[ "$(jget artifacts.0.sha256 <"$(echo "$OUT" | jget cache_path)/manifest.json")" = "$WANT" ] ||
  fail "content digest after the layout round trip: $OUT"
[ "$(echo "$OUT" | jget oci.layers.0.media_type)" = application/vnd.oci.image.layer.v1.tar+gzip ] ||
  fail "pushed layer not gzipped: $OUT"
LB="$TEST_TMP/layout/blobs/sha256"
DIFF=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rootfs"]["diff_ids"][0])' \
  "$LB/$(echo "$OUT" | jget oci.config_digest | cut -c8-)")
[ "sha256:$(zcat "$LB/$(echo "$OUT" | jget oci.layers.0.digest | cut -c8-)" | sha256sum | cut -c1-64)" = "$DIFF" ] ||
  fail "the config's diff id is not the digest of the uncompressed layer"
ok "pull from the pushed OCI layout into an empty cache: the same content digest; gzip layer, diff id uncompressed"

expect_status 0 "$PYRO" run "$REG/pyro/debian:12-base" -- 'cat /etc/debian_version; id -u'
grep -q '^12\.' <<<"$OUT" && grep -qx 0 <<<"$OUT" || fail "run in the pulled image ($BACKEND): $OUT"
ok "pyro run in the pulled image on the $BACKEND backend"

# The image config applied (docs/environments.md "Image config"): the same
# image with Env and WorkingDir in its config, written next to it through
# the registry API; a run gets them, a workspace keeps /workspace, and an
# explicit secret_env overrides the image's variable.
/usr/bin/python3 - "http://$REG/v2/pyro/debian" <<'PY' || fail "could not put the image with a config"
import hashlib, json, sys, urllib.request
base, oci = sys.argv[1], "application/vnd.oci.image.manifest.v1+json"
get = lambda u, a=oci: urllib.request.urlopen(urllib.request.Request(base + u, headers={"Accept": a})).read()
m = json.loads(get("/manifests/12-base"))
cfg = json.loads(get("/blobs/" + m["config"]["digest"], "*/*"))
cfg["config"] = {"Env": ["PATH=/usr/bin:/bin:/opt/img", "GREETING=from-image"], "WorkingDir": "/etc"}
data = json.dumps(cfg).encode()
dig = "sha256:" + hashlib.sha256(data).hexdigest()
up = urllib.request.urlopen(urllib.request.Request(base + "/blobs/uploads/", method="POST")).headers["Location"]
up = (up if up.startswith("http") else base.split("/v2/")[0] + up) + ("&" if "?" in up else "?") + "digest=" + dig
urllib.request.urlopen(urllib.request.Request(up, data=data, method="PUT",
                                              headers={"Content-Type": "application/octet-stream"}))
m["config"].update(digest=dig, size=len(data))
urllib.request.urlopen(urllib.request.Request(base + "/manifests/env", data=json.dumps(m).encode(), method="PUT",
                                              headers={"Content-Type": oci}))
PY
IMG=$REG/pyro/debian:env
expect_status 0 "$PYRO" env pull "$IMG" --json
[ "$(echo "$OUT" | jget oci.config.working_dir)" = /etc ] || fail "config not recorded: $OUT"
expect_status 0 "$PYRO" run "$IMG" -- 'echo "$GREETING $PATH $(pwd)"'
[ "$OUT" = "from-image /usr/bin:/bin:/opt/img /etc" ] || fail "run: the image's Env and WorkingDir ($BACKEND): $OUT"
expect_status 0 "$PYRO" workspace create "$IMG" --secret G=abcdefghijklmnop --json
WS=$(echo "$OUT" | jget workspace_id)
expect_status 0 "$PYRO" workspace exec "$WS" -- 'echo "$GREETING $PATH $(pwd)"'
[ "$OUT" = "from-image /usr/bin:/bin:/opt/img /workspace" ] || fail "workspace exec: the image's Env ($BACKEND): $OUT"
expect_status 0 "$PYRO" workspace exec "$WS" --secret-env G=GREETING -- 'echo "${#GREETING} $(pwd)"'
[ "$OUT" = "16 /workspace" ] || fail "secret_env does not override the image's Env ($BACKEND): $OUT"
expect_status 0 "$PYRO" workspace delete "$WS"
ok "the image's Env (below secret_env) and WorkingDir (pyro run; workspaces keep /workspace) on the $BACKEND backend"
