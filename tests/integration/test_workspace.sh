#!/bin/bash
# End to end: a workspace seeded with a small git repository (debian:12 has
# git), exec, file write, patch apply, diff, snapshot, reset, export, stop,
# start, logs, summary, update, list ordering, delete; --json asserted at
# each step.
source "$(dirname "$0")/lib.sh"
# A failed run still deletes its workspaces (no sandbox outlives the test).
ws_cleanup() { for w in $(ls "$PYRO_HOME/workspaces" 2>/dev/null); do "$PYRO" workspace delete "$w" >/dev/null 2>&1 || true; done; cleanup_test_tmp; }
trap ws_cleanup EXIT
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (apt-get install mmdebstrap)"
command -v git >/dev/null || skip "git is not installed on the host (needed to build the seed repository)"
ENV=${PYRO_WS_TEST_ENV:-debian:12}
P() { "$PYRO" "$@"; }
j() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$TEST_TMP/out')); print(eval(sys.argv[1]))" "$1"; }
assert() { local got; got=$(j "$1"); [ "$got" = "$2" ] || fail "$1: expected '$2', got '$got'"; }

# The seed: a git repository with two files.
SEED=$TEST_TMP/seed
mkdir -p "$SEED/src"
printf 'print("hello")\n' > "$SEED/src/app.py"
printf 'line 1\nline 2\nline 3\n' > "$SEED/README"
git -C "$SEED" init -q
git -C "$SEED" -c user.email=t@e -c user.name=t add -A
git -C "$SEED" -c user.email=t@e -c user.name=t commit -qm init

expect_status 0 P workspace create "$ENV" --seed-path "$SEED" --name demo --label team=core --json
echo "$OUT" > "$TEST_TMP/out"
W=$(j 'd["workspace_id"]')
assert 'd["state"]' started
assert 'd["name"]' demo
assert 'd["labels"]["team"]' core
assert 'd["workspace_seed"]["mode"]' directory
assert 'd["command_count"]' 0
[ -f "$PYRO_HOME/workspaces/$W/baseline.tar" ] || fail "no baseline.tar"
ok "create seeded with a git repository: $W"

expect_status 0 P workspace create debian:12-base --id-only
W2=$OUT
[ -n "$W2" ] && [ -d "$PYRO_HOME/workspaces/$W2" ] || fail "--id-only printed '$W2'"
ok "create --id-only"

expect_status 0 P workspace exec "$W" --json -- git status --porcelain=v1 --branch
echo "$OUT" > "$TEST_TMP/out"
assert 'd["exit_code"]' 0
assert 'd["sequence"]' 1
assert '"## master" in d["stdout"] or "## main" in d["stdout"]' True
assert 'd["cwd"]' /workspace
ok "exec git status in /workspace"

expect_status 3 P workspace exec "$W" -- 'echo out; echo err >&2; exit 3'
[ "$OUT" = out ] || fail "exec stdout: $OUT"
ok "exec exits with the command's status"

expect_status 0 P workspace file write "$W" notes/todo.txt --text $'first\nsecond\n' --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["path"]' /workspace/notes/todo.txt
assert 'd["bytes_written"]' 13
expect_status 0 P workspace file read "$W" /workspace/notes/todo.txt --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["content"] == "first\nsecond\n"' True
assert 'd["encoding"]' utf-8
assert 'd["truncated"]' False
expect_status 0 P workspace file read "$W" README --max-bytes 4 --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["content"]' 'line'
assert 'd["truncated"]' True
expect_status 0 P workspace file read "$W" README
[ "$OUT" = $'line 1\nline 2\nline 3' ] || fail "human file read printed '$OUT'"
ok "file write and read (truncation reported, raw human output)"

expect_status 0 P workspace file list "$W" --recursive --json
echo "$OUT" > "$TEST_TMP/out"
assert '"/workspace/src/app.py" in [e["path"] for e in d["entries"]]' True
assert '[e for e in d["entries"] if e["path"]=="/workspace/src/app.py"][0]["type"]' file
assert 'all(set(["path","type","size","mode","mtime"]) <= set(e) for e in d["entries"])' True
ok "file list --recursive"

cat > "$TEST_TMP/fix.patch" <<'PATCH'
--- a/README
+++ b/README
@@ -1,3 +1,3 @@
 line 1
-line 2
+line two
 line 3
--- /dev/null
+++ b/src/util.py
@@ -0,0 +1,2 @@
+def util():
+    return 1
PATCH
expect_status 0 P workspace patch apply "$W" --patch-file "$TEST_TMP/fix.patch" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["changed"]' True
assert '[f["status"] for f in d["files"]]' "['modified', 'added']"
ok "patch apply (a modification and a creation)"

expect_status 0 P workspace diff "$W" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["changed"]' True
assert 'sorted((e["path"], e["status"]) for e in d["entries"] if not e["path"].startswith(".git/"))' \
  "[('README', 'modified'), ('notes/todo.txt', 'added'), ('src/util.py', 'added')]"
assert '"-line 2\n+line two\n" in d["patch"]' True
assert '"+++ b/notes/todo.txt" in d["patch"]' True
assert 'd["summary"]["modified"] >= 1 and d["summary"]["added"] >= 2' True
ok "diff shows the file write and the patch"

expect_status 0 P workspace snapshot create "$W" fixed --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["snapshot"]["name"]' fixed
expect_status 0 P workspace exec "$W" -- 'rm -f README && echo extra > extra.txt'
expect_status 0 P workspace snapshot list "$W" --json
echo "$OUT" > "$TEST_TMP/out"
assert '[s["name"] for s in d["snapshots"]]' "['baseline', 'fixed']"
ok "snapshot create and list"

expect_status 0 P workspace reset "$W" --snapshot fixed --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["reset_count"]' 1
assert 'd["restored_from"]' fixed
assert 'd["command_count"]' 0
assert 'd["last_reset_at"] is not None' True
assert 'd["workspace_id"]' "$W"
expect_status 0 P workspace exec "$W" -- 'cat README; test ! -e extra.txt'
[ "$OUT" = $'line 1\nline two\nline 3' ] || fail "after reset README is '$OUT'"
expect_status 0 P workspace diff "$W" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'sorted(e["path"] for e in d["entries"] if not e["path"].startswith(".git/"))' \
  "['README', 'notes/todo.txt', 'src/util.py']"
ok "reset to the snapshot keeps the id and the diff baseline"

expect_status 0 P workspace export "$W" src --output "$TEST_TMP/src.tar" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["format"]' tar
tar -tf "$TEST_TMP/src.tar" | sort > "$TEST_TMP/list"
[ "$(cat "$TEST_TMP/list")" = $'app.py\nutil.py' ] || fail "export listing: $(cat "$TEST_TMP/list")"
expect_status 0 P workspace export "$W" README --output "$TEST_TMP/README" --json
cmp -s "$TEST_TMP/README" <(printf 'line 1\nline two\nline 3\n') || fail "exported README differs"
expect_status 1 P workspace export "$W" README --output "$TEST_TMP/README"
ok "export of a directory (tar) and a file; an existing output is refused"

expect_status 0 P workspace stop "$W" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["state"]' stopped
expect_status 1 P workspace exec "$W" -- true
grep -q "not started" <<<"$ERR" || fail "exec on a stopped workspace: $ERR"
expect_status 0 P workspace start "$W" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["state"]' started
expect_status 0 P workspace exec "$W" -- 'cat notes/todo.txt src/util.py'
[ "$OUT" = $'first\nsecond\ndef util():\n    return 1' ] || fail "files after start: $OUT"
ok "stop and start keep /workspace"

expect_status 0 P workspace logs "$W" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["count"]' 2
assert '[e["sequence"] for e in d["entries"]]' '[1, 2]'
assert 'd["entries"][0]["command"]' 'cat README; test ! -e extra.txt'
assert 'all(k in d["entries"][0] for k in ("exit_code","stdout","stderr","started_at","duration_ms"))' True
ok "logs: the history since the reset (diff, export, status add nothing)"

expect_status 0 P workspace summary "$W" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["commands"]["count"]' 2
assert 'd["changes"]["available"]' True
assert '[s["name"] for s in d["snapshots"]]' "['fixed']"
assert 'len(d["exports"])' 2
assert '[e["kind"] for e in d["events"]][0]' reset
ok "summary since the last reset"

expect_status 0 P workspace update "$W" --name renamed --label stage=review --clear-label team --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["name"]' renamed
assert 'd["labels"]' "{'stage': 'review'}"
expect_status 0 P workspace update "$W" --clear-name --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["name"]' None
ok "update name and labels"

expect_status 0 P workspace status "$W2" --json   # read-only: no activity
expect_status 0 P workspace list --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["count"]' 2
assert '[w["workspace_id"] for w in d["workspaces"]]' "['$W', '$W2']"
expect_status 0 P workspace exec "$W2" -- true
expect_status 0 P workspace list --json
echo "$OUT" > "$TEST_TMP/out"
assert '[w["workspace_id"] for w in d["workspaces"]]' "['$W2', '$W']"
ok "list: most recent mutating activity first"

# Started workspaces count toward max_active_vms; a refused create leaves nothing.
n_before=$(ls "$PYRO_HOME/workspaces" | wc -l)
PYRO_MAX_ACTIVE_VMS=2 expect_status 1 P workspace create debian:12-base --json
grep -q max_active_vms <<<"$ERR" || fail "create over the limit: $ERR"
[ "$(ls "$PYRO_HOME/workspaces" | wc -l)" = "$n_before" ] || fail "a refused create left a workspace"
ok "started workspaces count toward max_active_vms"

# reap_expired deletes expired workspaces only (W2 is stopped, not expired: kept).
expect_status 0 P workspace create debian:12-base --ttl-seconds 60 --id-only
W3=$OUT
expect_status 0 P workspace stop "$W2"
/usr/bin/python3 - "$PYRO_HOME/workspaces/$W3/record.json" <<'PY'
import json, sys
p = sys.argv[1]; r = json.load(open(p)); r["expires_at"] = "2000-01-01T00:00:00.000Z"
json.dump(r, open(p, "w"))
PY
expect_status 0 P vm reap-expired --json
echo "$OUT" > "$TEST_TMP/out"
assert '[(x.get("workspace_id"), x["reason"]) for x in d["reaped"]]' "[('$W3', 'expired')]"
[ ! -e "$PYRO_HOME/workspaces/$W3" ] || fail "the expired workspace is still there"
[ -e "$PYRO_HOME/workspaces/$W2" ] || fail "a stopped workspace was reaped"
ok "reap_expired deletes expired workspaces"

for w in "$W" "$W2"; do
  expect_status 0 P workspace delete "$w" --json
  echo "$OUT" > "$TEST_TMP/out"
  assert 'd["deleted"]' True
  [ ! -e "$PYRO_HOME/workspaces/$w" ] || fail "$w: directory left behind"
  ! grep -q "$w" /proc/mounts || fail "$w: mount left behind"
  ! ls -d /sys/fs/cgroup/*/pyro/"$w" /sys/fs/cgroup/pyro/"$w" 2>/dev/null | grep -q . || fail "$w: cgroup left behind"
  ! pgrep -f "pyro-monitor.*$w" >/dev/null || fail "$w: process left behind"
done
expect_status 1 P workspace status "$W" --json
grep -q not_found <<<"$OUT" || fail "status after delete: $OUT"
ok "delete leaves nothing behind"
