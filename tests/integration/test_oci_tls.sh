#!/usr/bin/env bash
# OCI pulls over TLS and through bearer-token auth (docs/environments.md
# "OCI images": Transport, Auth). A loopback docker-registry serving TLS
# with a certificate from a CA that openssl makes here: refused until
# $PYRO_OCI_CA_FILE names that CA, never downgraded to plain HTTP. Then
# oci_token_proxy.py in front of it: a 401 Bearer challenge whose realm
# issues tokens only for the right Basic credentials; refused without or
# with wrong credentials, pulled with them from an auth.json.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/oci_lib.sh"
command -v openssl >/dev/null || skip "openssl is not installed (scripts/deps.sh)"

# --- a CA and a server certificate for 127.0.0.1
PKI=$TEST_TMP/pki
mkdir -p "$PKI"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pyro test CA" \
  -keyout "$PKI/ca.key" -out "$PKI/ca.pem" 2>/dev/null || fail "openssl: CA"
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$PKI/srv.key" -out "$PKI/srv.csr" 2>/dev/null ||
  fail "openssl: request"
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$PKI/ext"
openssl x509 -req -in "$PKI/srv.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 \
  -extfile "$PKI/ext" -out "$PKI/srv.pem" 2>/dev/null || fail "openssl: server certificate"

PORT=$(free_port)
REG=127.0.0.1:$PORT
REG_SCHEME=https REG_HTTP="  tls:
    certificate: $PKI/srv.pem
    key: $PKI/srv.key
" start_registry tls "$PORT"

# A one-layer image with a file to check, pushed with skopeo (trusting the CA).
printf '{"layers": [{"compress": "gzip", "entries": [{"path": "etc", "type": "dir"},
  {"path": "etc/tls-marker", "type": "file", "data": "over tls"}]}]}' >"$TEST_TMP/img.json"
python3 "$LAYOUT" "$TEST_TMP/img" "$TEST_TMP/img.json"
mkdir -p "$PKI/certs.d" && cp "$PKI/ca.pem" "$PKI/certs.d/ca.crt"
skopeo copy -q --dest-cert-dir "$PKI/certs.d" "oci:$TEST_TMP/img:latest" "docker://$REG/test/tls:1" >/dev/null ||
  fail "skopeo push over TLS"

# --- TLS: an unknown CA is refused (no fallback to HTTP), the trusted CA works
expect_status 1 "$PYRO" env pull "$REG/test/tls:1"
grep -qi "certificate" <<<"$ERR" || fail "untrusted CA: $ERR"
[ -z "$(ls -A "$ENVS" 2>/dev/null | grep -v '^\.')" ] || fail "a refused pull left an environment: $(ls -A "$ENVS")"
expect_status 0 env PYRO_OCI_CA_FILE="$PKI/ca.pem" "$PYRO" env pull "$REG/test/tls:1" --json
DIGEST=$(echo "$OUT" | jget oci.manifest_digest)
[ "$(cat "$(echo "$OUT" | jget rootfs_path)/etc/tls-marker")" = "over tls" ] || fail "content over TLS: $OUT"
ok "TLS registry: untrusted CA refused without downgrade; \$PYRO_OCI_CA_FILE trusts it"

# --- token auth in front of the TLS registry
TPORT=$(free_port)
TREG=127.0.0.1:$TPORT
python3 "$(dirname "$0")/oci_token_proxy.py" "$TPORT" "https://$REG" tester:secret "$PKI/ca.pem" \
  >"$TEST_TMP/proxy.log" 2>&1 &
REG_PIDS+=($!)
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$TREG/v2/")" = 401 ] && break
  sleep 0.1
done
expect_status 1 env REGISTRY_AUTH_FILE=/nonexistent HOME="$TEST_TMP" "$PYRO" env pull "$TREG/test/tls:1"
grep -q "not authorized for repository:test/tls:pull (no credentials)" <<<"$ERR" || fail "no credentials: $ERR"
printf '{"auths": {"%s": {"auth": "%s"}}}' "$TREG" "$(printf tester:wrong | base64)" >"$TEST_TMP/bad.json"
expect_status 1 env REGISTRY_AUTH_FILE="$TEST_TMP/bad.json" "$PYRO" env pull "$TREG/test/tls:1"
grep -q "not authorized .*(the stored credentials)" <<<"$ERR" || fail "wrong credentials: $ERR"
grep -q "^GET /v2/test/tls/manifests/1 Bearer" "$TEST_TMP/proxy.log" && fail "a manifest was served without a token"
printf '{"auths": {"%s": {"auth": "%s"}}}' "$TREG" "$(printf tester:secret | base64)" >"$TEST_TMP/auth.json"
expect_status 0 env REGISTRY_AUTH_FILE="$TEST_TMP/auth.json" "$PYRO" env pull "$TREG/test/tls:1" --json
[ "$(echo "$OUT" | jget oci.manifest_digest)" = "$DIGEST" ] || fail "token pull: $OUT"
[ "$(cat "$(echo "$OUT" | jget rootfs_path)/etc/tls-marker")" = "over tls" ] || fail "content through the token proxy"
grep -q "^GET /token Basic" "$TEST_TMP/proxy.log" || fail "no token request: $(cat "$TEST_TMP/proxy.log")"
grep -Eq "^(GET|HEAD) /v2/test/tls/manifests/1 Bearer" "$TEST_TMP/proxy.log" ||
  fail "manifest not fetched with the token: $(cat "$TEST_TMP/proxy.log")"
ok "bearer-token auth: refused without and with wrong credentials; token from the realm with auth.json"
