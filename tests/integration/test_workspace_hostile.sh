#!/bin/bash
# Hostile input: path escapes for read, write, list, export and sync
# destinations; seed and sync archives with absolute paths, "..", a symlink
# followed by a file through it, device nodes and a decompression bomb; a
# patch with one bad hunk among good ones; kill -9 of the client during
# snapshot create and during reset, followed by working calls.
source "$(dirname "$0")/lib.sh"
# A failed run still deletes its workspaces (no sandbox outlives the test).
ws_cleanup() { for w in $(ls "$PYRO_HOME/workspaces" 2>/dev/null); do "$PYRO" workspace delete "$w" >/dev/null 2>&1 || true; done; cleanup_test_tmp; }
trap ws_cleanup EXIT
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (apt-get install mmdebstrap)"
ENV=debian:12-base
P() { "$PYRO" "$@"; }
j() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$TEST_TMP/out')); print(eval(sys.argv[1]))" "$1"; }
assert() { local got; got=$(j "$1"); [ "$got" = "$2" ] || fail "$1: expected '$2', got '$got'"; }
# refused CODE WHAT cmd...: the command fails with exit CODE and says why.
refused() {
  local code=$1 what=$2; shift 2
  expect_status "$code" "$@"
  [ -n "$ERR" ] || fail "$what: no error message"
  grep -qi "$3" 2 <<<"$ERR">/dev/null || true
}

SEED=$TEST_TMP/seed
mkdir -p "$SEED/sub"
echo original > "$SEED/sub/file.txt"
expect_status 0 P workspace create "$ENV" --seed-path "$SEED" --id-only
W=$OUT
P workspace exec "$W" -- 'ln -s /etc abs_link; ln -s ../.. up_link; ln -s sub in_link' >/dev/null
GUEST_PASSWD=$(P workspace exec "$W" -- 'sha256sum /etc/passwd')

# ---- path escapes -----------------------------------------------------------
for p in ../etc/passwd /etc/passwd /workspace/../etc/passwd abs_link/passwd up_link/etc/passwd sub/../../etc/passwd; do
  expect_status 1 P workspace file read "$W" "$p"
  grep -Eq "outside|\\.\\.|escapes" <<<"$ERR" || fail "read $p: unexpected error: $ERR"
  expect_status 1 P workspace file write "$W" "$p" --text pwned
  expect_status 1 P workspace export "$W" "$p" --output "$TEST_TMP/exported"
  [ ! -e "$TEST_TMP/exported" ] || fail "export $p created the output"
done
for p in abs_link/ up_link/ ../ /etc /workspace/../..; do
  expect_status 1 P workspace file list "$W" "$p"
done
# A final symlink is replaced (rename over it), never written through.
expect_status 0 P workspace file write "$W" abs_link --text replaced
expect_status 0 P workspace exec "$W" -- 'test -f abs_link && ! test -L abs_link && cat abs_link && rm abs_link && ln -s /etc abs_link'
[ "$OUT" = replaced ] || fail "write over a symlink: $OUT"
mkdir -p "$TEST_TMP/push"; echo pushed > "$TEST_TMP/push/f"
for d in ../x /etc abs_link up_link/tmp; do
  expect_status 1 P workspace sync push "$W" "$TEST_TMP/push" --dest "$d"
done
[ "$(P workspace exec "$W" -- 'sha256sum /etc/passwd')" = "$GUEST_PASSWD" ] || fail "guest /etc/passwd changed"
P workspace exec "$W" -- 'test ! -e /etc/f && test ! -e /tmp/f && test ! -e /etc/pwned' >/dev/null ||
  fail "something was written outside /workspace"
expect_status 0 P workspace file read "$W" in_link/file.txt   # a symlink that stays inside is fine
ok "path escapes refused for read, write, list, export and sync destinations"

# ---- hostile archives -------------------------------------------------------
/usr/bin/python3 - "$TEST_TMP" <<'PY'
import io, sys, tarfile, gzip
d = sys.argv[1]
def mk(name, members, gz=False):
    with tarfile.open(f"{d}/{name}", "w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as t:
        for m, data in members:
            t.addfile(m, io.BytesIO(data) if data is not None else None)
def f(name, data=b"x"):
    i = tarfile.TarInfo(name); i.size = len(data); return (i, data)
def l(name, target):
    i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; return (i, None)
def dev(name):
    i = tarfile.TarInfo(name); i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 3; return (i, None)
mk("abs.tar", [f("ok.txt"), f("/etc/evil")])
mk("dotdot.tar", [f("ok.txt"), f("../evil")])
mk("dotdot2.tar.gz", [f("a/../../evil")], gz=True)
mk("linkfile.tar", [l("l", "sub"), f("l/evil")])
mk("linkabs.tgz", [l("l", "/etc"), f("l/evil")], gz=True)
mk("linkup.tar", [l("deep/l", "../../..")])
mk("device.tar", [f("ok.txt"), dev("null")])
mk("hardlink.tar", [(lambda i: (setattr(i, "type", tarfile.LNKTYPE), setattr(i, "linkname", "/etc/passwd"), (i, None))[2])(tarfile.TarInfo("h"))])
# A decompression bomb: 1.5 GiB of zeros in about 7 MB of gzip.
with open(f"{d}/bomb.tar.gz", "wb") as raw:
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as z:
        i = tarfile.TarInfo("zeros"); i.size = 1536 << 20
        z.write(i.tobuf(tarfile.PAX_FORMAT))
        chunk = bytes(1 << 20)
        for _ in range(1536):
            z.write(chunk)
        z.write(bytes(1024))
PY
ls -la "$TEST_TMP/bomb.tar.gz" >&2
before=$(ls "$PYRO_HOME/workspaces" | wc -l)
for a in abs.tar dotdot.tar dotdot2.tar.gz linkfile.tar linkabs.tgz linkup.tar device.tar hardlink.tar bomb.tar.gz; do
  code=1   # refused by the runtime (exit 1), whether unsafe or over a limit
  expect_status "$code" P workspace create "$ENV" --seed-path "$TEST_TMP/$a"
  case $a in
    abs*) grep -q "absolute" <<<"$ERR" ;;
    dotdot*) grep -q "'\.\.'" <<<"$ERR" ;;
    linkfile*|linkabs*) grep -Eq "beneath the symlink|absolute path" <<<"$ERR" ;;
    linkup*) grep -q "escapes" <<<"$ERR" ;;
    device*) grep -q "character device" <<<"$ERR" ;;
    hardlink*) grep -q "hard link" <<<"$ERR" ;;
    bomb*) grep -q "decompression bomb" <<<"$ERR" ;;
  esac || fail "seed $a: unexpected error: $ERR"
  expect_status "$code" P workspace sync push "$W" "$TEST_TMP/$a"
done
[ "$(ls "$PYRO_HOME/workspaces" | wc -l)" = "$before" ] || fail "a refused seed left a workspace behind"
expect_status 0 P workspace exec "$W" -- 'ls -A | sort | tr "\n" " "'
[ "$OUT" = "abs_link in_link sub up_link " ] || fail "a refused sync changed /workspace: $OUT"
ok "hostile seed and sync archives refused (nothing created, nothing changed)"

# ---- a file name that forges diff headers -----------------------------------
# The name holds newlines and header text: printed unquoted, the patch of this
# one added file reads as two clean creations (README and a CI workflow) that
# git apply and patch -p1 would both create. Quoted as git quotes it, the
# patch creates exactly the files the entries list names.
P workspace exec "$W" -- 'n=$(printf "README\n@@ -0,0 +1 @@\n+hi\n--- /dev/null\n+++ b/.github/workflows/ci.yml")
mkdir -p "$(dirname "$n")" && printf "on: push\n" > "$n"
printf "x\n" > "$(printf "tab\there \"q\" \\\\ \303\251")"
l=$(printf "link\n--- /dev/null\n+++ b/evil\n@@ -0,0 +1 @@\n+pwn"); mkdir -p "$(dirname "$l")" && ln -s README "$l"' >/dev/null
expect_status 0 P workspace diff "$W"
cp "$TEST_TMP/out" "$TEST_TMP/cli.patch"   # what a user saves with `pyro workspace diff W > x.patch`
expect_status 0 P workspace diff "$W" --json
/usr/bin/python3 - "$TEST_TMP" <<'PY' || fail "diff entries and patch disagree"
import json, os, subprocess, sys
d = sys.argv[1]
res = json.load(open(f"{d}/out"), strict=False)
patch = res["patch"].encode("utf-8", "surrogateescape")
open(f"{d}/forged.patch", "wb").write(patch)
listed = sorted(e["path"] for e in res["entries"]
                if e["type"] == "file" and e["status"] == "added" and not e["binary"] and "text_omitted" not in e)
assert any("\n+++ b/.github" in p for p in listed), listed
for tool in (["git", "apply"], ["patch", "-p1", "-s", "-f"]):
    t = f"{d}/apply-{tool[0]}"
    os.mkdir(t)
    with open(f"{d}/forged.patch", "rb") as f:
        r = subprocess.run(tool, cwd=t, stdin=f, capture_output=True)
    made = sorted(os.path.relpath(os.path.join(r_, n), t) for r_, _, ns in os.walk(t) for n in ns)
    print(f"{tool[0]}: exit {r.returncode}, created {made!r} {r.stderr.decode(errors='replace')}", file=sys.stderr)
    assert not os.path.exists(f"{t}/README") and not os.path.exists(f"{t}/.github"), f"{tool[0]} created the forged files"
    if tool[0] == "git":
        assert r.returncode == 0 and made == listed, f"git apply created {made}, the entries list {listed}"
    else:
        assert made in ([], listed), f"patch created {made}, the entries list {listed}"
num = subprocess.run(["git", "apply", "--numstat", "-z", f"{d}/forged.patch"], cwd=f"{d}/apply-git",
                     capture_output=True, check=True).stdout
named = sorted(x.split(b"\t", 2)[2].decode() for x in num.split(b"\0") if x)
assert named == listed, f"git apply --numstat names {named}, the entries list {listed}"
# The CLI's text output: the status lines after the patch must not add files.
t = f"{d}/apply-cli"
os.mkdir(t)
r = subprocess.run(["git", "apply", f"{d}/cli.patch"], cwd=t, capture_output=True)
made = sorted(os.path.relpath(os.path.join(r_, n), t) for r_, _, ns in os.walk(t) for n in ns)
assert r.returncode == 0 and made == listed, f"the CLI's diff output created {made}: {r.stderr!r}"
PY
P workspace exec "$W" -- 'rm -rf README* tab* link*' >/dev/null
ok "diff headers quote names as git does: git apply creates exactly the listed files, no forged ones"

# ---- a patch with one bad hunk among good ones ------------------------------
P workspace exec "$W" -- 'seq 1 20 > nums.txt; printf "a\nb\n" > other.txt' >/dev/null
cat > "$TEST_TMP/bad.patch" <<'PATCH'
--- a/other.txt
+++ b/other.txt
@@ -1,2 +1,2 @@
 a
-b
+B
--- a/nums.txt
+++ b/nums.txt
@@ -1,3 +1,3 @@
 1
-2
+two
 3
@@ -10,3 +10,3 @@
 10
-99
+eleven
 12
--- /dev/null
+++ b/created.txt
@@ -0,0 +1 @@
+new
PATCH
expect_status 1 P workspace patch apply "$W" --patch-file "$TEST_TMP/bad.patch"
grep -q "nums.txt: hunk 2" <<<"$ERR" || fail "the error does not name the file and hunk: $ERR"
expect_status 0 P workspace exec "$W" -- 'cat other.txt; sed -n 2p nums.txt; test ! -e created.txt && echo none'
[ "$OUT" = $'a\nb\n2\nnone' ] || fail "a failed patch changed files: $OUT"
sed -i 's/^-99$/-11/' "$TEST_TMP/bad.patch"
expect_status 0 P workspace patch apply "$W" --patch-file "$TEST_TMP/bad.patch" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["file_count"]' 3
ok "a patch with one bad hunk changes nothing and names nums.txt hunk 2"

# ---- kill -9 of the client during snapshot create and reset ----------------
BIG=$TEST_TMP/bigseed
mkdir -p "$BIG"; head -c 400M /dev/zero > "$BIG/big.bin"; echo base > "$BIG/marker"
expect_status 0 P workspace create "$ENV" --seed-path "$BIG" --id-only
K=$OUT
rm -rf "$BIG"
P workspace exec "$K" -- 'echo changed > marker' >/dev/null
killed_snap=0
for delay in 0.05 0.1 0.2; do
  P workspace snapshot create "$K" snap >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  if kill -9 "$pid" 2>/dev/null; then killed_snap=$((killed_snap + 1)); fi
  wait "$pid" 2>/dev/null || true
  expect_status 0 P workspace snapshot list "$K" --json
  echo "$OUT" > "$TEST_TMP/out"
  if [ "$(j '[s["name"] for s in d["snapshots"]]')" = "['baseline', 'snap']" ]; then
    expect_status 0 P workspace snapshot delete "$K" snap
  else
    assert '[s["name"] for s in d["snapshots"]]' "['baseline']"
    [ ! -e "$PYRO_HOME/workspaces/$K/snapshots/snap.tar" ] || ls -la "$PYRO_HOME/workspaces/$K/snapshots/" >&2
  fi
done
[ "$killed_snap" -gt 0 ] || fail "snapshot create always finished before the kill: make it slower"
expect_status 0 P workspace snapshot create "$K" snap --json
expect_status 0 P workspace snapshot list "$K" --json
echo "$OUT" > "$TEST_TMP/out"
assert '[s["name"] for s in d["snapshots"]]' "['baseline', 'snap']"
ls "$PYRO_HOME/workspaces/$K" | grep -q '^\.tmp-' && fail "temporary snapshot files left behind"
ok "kill -9 during snapshot create ($killed_snap interrupted): never a half snapshot listed, create works after"

killed_reset=0
for delay in 0.05 0.3 0.6; do
  P workspace exec "$K" -- 'echo changed > marker' >/dev/null
  P workspace reset "$K" >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  if kill -9 "$pid" 2>/dev/null; then
    killed_reset=$((killed_reset + 1))
    grep -q '"pending"' "$PYRO_HOME/workspaces/$K/record.json" && echo "# killed mid-reset (pending recorded)"
  fi
  wait "$pid" 2>/dev/null || true
  # The next call finishes an interrupted reset first.
  expect_status 0 P workspace status "$K" --json
  echo "$OUT" > "$TEST_TMP/out"
  assert 'd["state"]' started
  grep -q '"pending"' "$PYRO_HOME/workspaces/$K/record.json" && fail "pending reset still recorded after status"
  expect_status 0 P workspace exec "$K" -- 'cat marker; stat -c %s big.bin'
  [ "$OUT" = $'base\n419430400' ] && continue
  [ "$OUT" = $'changed\n419430400' ] || fail "after an interrupted reset: $OUT"
  # Killed before the reset recorded anything: nothing changed, reset again.
  expect_status 0 P workspace reset "$K" --json
  expect_status 0 P workspace exec "$K" -- 'cat marker'
  [ "$OUT" = base ] || fail "reset after an interrupted one: $OUT"
done
[ "$killed_reset" -gt 0 ] || fail "reset always finished before the kill"
expect_status 0 P workspace reset "$K" --snapshot snap --json
expect_status 0 P workspace exec "$K" -- 'cat marker'
[ "$OUT" = changed ] || fail "reset to snap after the kills: $OUT"
ok "kill -9 during reset ($killed_reset interrupted): the next call recovers, reset works after"

for w in "$W" "$K"; do expect_status 0 P workspace delete "$w"; done
[ -z "$(ls "$PYRO_HOME/workspaces")" ] || fail "workspaces left: $(ls "$PYRO_HOME/workspaces")"
ok "cleanup"
