#!/usr/bin/env bash
# Workspace secrets (docs/workspaces.md "Secrets") on the backend of
# $PYRO_TEST_BACKEND: bad definitions create nothing; values reach the
# guest's /run/pyro-secrets (root-only) and secret_env, survive stop/start
# and reset; and a hunt for the values in every output path: exec stdout
# and stderr (a value printed one byte at a time, a value across the
# capture limit), history, shell reads (across reads), service logs,
# errors, progress, status, summary, diff, export's result, and finally
# every file of the state directory but the 0600 store. Also the export
# of symlinks leaving the exported tree.
. "$(dirname "$0")/lib.sh"
P=$PYRO
# grep reading all its input (grep -q may leave a writer to a broken pipe under pipefail).
qgrep() { grep "$@" >/dev/null; }
V1='tok-A1b2C3d4E5f6-literal'
V2='file-secret-Zz9Yy8Xx7'
printf '%s\n' "$V2" >"$TEST_TMP/v2"

# ---- bad definitions: clear errors, nothing created ----
count() { ls "$PYRO_HOME/workspaces" 2>/dev/null | grep -vc '^\.' || true; }
expect_status 1 "$P" workspace create debian:12-base --secret 1BAD=abcdefghij
echo "$ERR" | qgrep "not an environment variable name" || fail "bad name: $ERR"
expect_status 1 "$P" workspace create debian:12-base --secret A=abcdefghij --secret-file A="$TEST_TMP/v2"
echo "$ERR" | qgrep "defined twice" || fail "duplicate: $ERR"
expect_status 1 "$P" workspace create debian:12-base --secret-file A="$TEST_TMP/missing"
echo "$ERR" | qgrep "secret A" || fail "missing file: $ERR"
printf 'abc\377\376defghij' >"$TEST_TMP/bad-utf8"
expect_status 1 "$P" workspace create debian:12-base --secret-file A="$TEST_TMP/bad-utf8"
echo "$ERR" | qgrep "UTF-8" || fail "invalid UTF-8: $ERR"
expect_status 1 "$P" workspace create debian:12-base --secret A=short
echo "$ERR" | qgrep "8 to 4096 bytes" || fail "short value: $ERR"
mkdir "$TEST_TMP/a-dir"
expect_status 1 "$P" workspace create debian:12-base --secret-file A="$TEST_TMP/a-dir"
echo "$ERR" | qgrep "not a regular file" || fail "directory as a secret file: $ERR"
[ "$(count)" = 0 ] || fail "a refused create left a workspace: $(ls "$PYRO_HOME/workspaces")"
ok "bad secret definitions are refused and create nothing"

# ---- create ----
expect_status 0 "$P" workspace create debian:12-base --secret API_TOKEN="$V1" --secret-file FILE_TOKEN="$TEST_TMP/v2" --json
W=$(echo "$OUT" | jget workspace_id)
[ "$(echo "$OUT" | jget secrets)" = '[{"name": "API_TOKEN", "source_kind": "literal"}, {"name": "FILE_TOKEN", "source_kind": "file"}]' ] ||
  fail "record secrets: $(echo "$OUT" | jget secrets)"
D="$PYRO_HOME/workspaces/$W"
[ "$(stat -c %a "$D/secrets.json")" = 600 ] || fail "store mode $(stat -c %a "$D/secrets.json")"
grep -q "$V1" "$D/secrets.json" || fail "the store lacks the value"
ok "the record keeps names and source kinds; the store is 0600"

guest_check() {
  expect_status 0 "$P" workspace exec "$W" --json -- \
    'stat -c "%a %U %n" /run/pyro-secrets /run/pyro-secrets/*; test "$(cat /run/pyro-secrets/API_TOKEN)" = "'"$V1"'" && test "$(cat /run/pyro-secrets/FILE_TOKEN)" = "'"$V2"'" && echo values-ok'
  local o; o=$(echo "$OUT" | jget stdout)
  echo "$o" | qgrep "^700 root /run/pyro-secrets$" || fail "$1: dir mode: $o"
  echo "$o" | qgrep "^400 root /run/pyro-secrets/API_TOKEN$" || fail "$1: file mode: $o"
  echo "$o" | qgrep "values-ok" || fail "$1: guest values: $o"
}
guest_check create
ok "guest files under /run/pyro-secrets, root-only"

# ---- secret_env ----
expect_status 0 "$P" workspace exec "$W" --secret-env API_TOKEN --secret-env FILE_TOKEN=RENAMED --json -- \
  'test "$API_TOKEN" = "'"$V1"'" && test "$RENAMED" = "'"$V2"'" && echo env-ok'
[ "$(echo "$OUT" | jget stdout)" = env-ok ] || fail "secret_env: $OUT"
expect_status 0 "$P" workspace exec "$W" --json -- 'echo "[${API_TOKEN:-unset}]"'
[ "$(echo "$OUT" | jget stdout)" = "[unset]" ] || fail "secret_env leaked into another command: $OUT"
expect_status 1 "$P" workspace exec "$W" --secret-env NOPE -- true
echo "$ERR" | qgrep "unknown secret 'NOPE'" || fail "unknown secret: $ERR"
ok "secret_env exports chosen secrets to one command only"

# ---- the hunt: exec ----
HUNT="$TEST_TMP/hunt"; : >"$HUNT"
keep() { printf '%s\n' "$1" >>"$HUNT"; }
expect_status 0 "$P" workspace exec "$W" --secret-env API_TOKEN --json -- \
  'echo "out $API_TOKEN"; echo "err $API_TOKEN" >&2; for c in $(printf %s "$API_TOKEN" | fold -w1); do printf %s "$c"; sleep 0.01; done; echo; printf %s "$API_TOKEN" | head -c 7; echo; echo "$API_TOKEN$API_TOKEN"'
keep "$OUT"; keep "$ERR"
[ "$(echo "$OUT" | jget stdout | head -1)" = "out [REDACTED]" ] || fail "exec stdout: $OUT"
[ "$(echo "$OUT" | jget stderr)" = "err [REDACTED]" ] || fail "exec stderr: $OUT"
# The value right at the 1 MiB capture limit: 5 of its bytes fit.
expect_status 0 "$P" workspace exec "$W" --secret-env API_TOKEN --json -- \
  'head -c 1048571 /dev/zero | tr "\0" x; printf %s "$API_TOKEN"'
keep "$OUT"
[ "$(echo "$OUT" | jget stdout_truncated)" = true ] || fail "not cut at the limit"
echo "$OUT" | jget stdout | tail -c 20 | qgrep 'x\[REDACTED\]$' || fail "capture limit: $(echo "$OUT" | jget stdout | tail -c 40)"
expect_status 1 "$P" workspace file read "$W" "/workspace/$V1"
keep "$ERR"
# A command line holding the value: the history and record keep it masked.
expect_status 0 "$P" workspace exec "$W" -- "echo $V1 > f.txt; ln -s /etc/passwd link"
keep "$OUT"
expect_status 0 "$P" workspace logs "$W" --json; keep "$OUT"
ok "exec output, the capture limit, errors and history are redacted"

# ---- shell reads: a value typed out one byte at a time across reads ----
expect_status 0 "$P" workspace shell open "$W" --secret-env API_TOKEN --id-only
S=$OUT
expect_status 0 "$P" workspace shell write "$W" "$S" --input 'for c in $(printf %s "$API_TOKEN" | fold -w1); do printf %s "$c"; sleep 0.05; done; echo; echo SHELL""-END'
cur=0; all=""
for _ in $(seq 1 60); do
  expect_status 0 "$P" workspace shell read "$W" "$S" --cursor "$cur" --json
  keep "$OUT"
  all="$all$(echo "$OUT" | jget output)"
  cur=$(echo "$OUT" | jget next_cursor)
  case "$all" in *SHELL-END*) break ;; esac  # the echoed input reads SHELL""-END
  sleep 0.1
done
case "$all" in *'[REDACTED]'*) ;; *) fail "shell: no mask in $all" ;; esac
expect_status 0 "$P" workspace shell close "$W" "$S"
ok "shell reads are redacted across reads"

# ---- service logs ----
expect_status 0 "$P" workspace service start "$W" svc --secret-env API_TOKEN=T -- \
  'for c in $(printf %s "$T" | fold -w1); do printf %s "$c"; sleep 0.05; done; echo; echo "e $T" >&2; sleep 60'
for _ in $(seq 1 20); do
  expect_status 0 "$P" workspace service logs "$W" svc --json; keep "$OUT"
  echo "$OUT" | jget stderr | qgrep '^e \[REDACTED\]' && break
  sleep 0.2
done
echo "$OUT" | jget stdout | qgrep '^\[REDACTED\]$' || fail "service logs: $OUT"
expect_status 0 "$P" workspace service status "$W" svc --json; keep "$OUT"
expect_status 0 "$P" workspace service stop "$W" svc --json; keep "$OUT"
ok "service logs are redacted"

# ---- status, summary, diff, export ----
expect_status 0 "$P" workspace status "$W" --json; keep "$OUT"
expect_status 0 "$P" workspace summary "$W" --json; keep "$OUT"
expect_status 0 "$P" workspace diff "$W" --json; keep "$OUT"
echo "$OUT" | qgrep '\[REDACTED\]' || fail "diff shows no mask: $OUT"
expect_status 0 "$P" workspace file read "$W" f.txt --json; keep "$OUT"
mkdir -p "$TEST_TMP/exp"
expect_status 0 "$P" workspace export "$W" f.txt --output "$TEST_TMP/exp/f.txt" --json; keep "$OUT"
grep -q "$V1" "$TEST_TMP/exp/f.txt" || fail "export changed the file's bytes"
ok "status, summary, diff and export's result are redacted; the exported file is as written"

# ---- links in export ----
expect_status 1 "$P" workspace export "$W" link --output "$TEST_TMP/exp/link"
[ ! -e "$TEST_TMP/exp/link" ] && [ ! -L "$TEST_TMP/exp/link" ] || fail "a host link to /etc/passwd was created"
echo "$ERR" | qgrep "leaves the exported tree" || fail "link export: $ERR"
expect_status 0 "$P" workspace exec "$W" -- 'mkdir -p d && ln -s ../../../etc/shadow d/up && ln -s f.txt near'
expect_status 1 "$P" workspace export "$W" d/up --output "$TEST_TMP/exp/up"
[ ! -L "$TEST_TMP/exp/up" ] || fail "a climbing link was created"
expect_status 0 "$P" workspace export "$W" near --output "$TEST_TMP/exp/near" --json
[ "$(echo "$OUT" | jget output_path)" = "$TEST_TMP/exp/near" ] && [ "$(readlink "$TEST_TMP/exp/near")" = f.txt ] ||
  fail "a link beside the output: $OUT"
expect_status 0 "$P" workspace export "$W" d --output "$TEST_TMP/exp/d.tar" --json
[ "$(echo "$OUT" | jget format)" = tar ] || fail "directory export: $OUT"
ok "export never creates a host link leaving the output"

# ---- stop/start and reset re-materialize ----
expect_status 0 "$P" workspace stop "$W"
expect_status 0 "$P" workspace start "$W"
guest_check start
expect_status 0 "$P" workspace reset "$W" --json; keep "$OUT"
guest_check reset
ok "secrets are written again after start and reset"

# ---- nothing but the store holds a value ----
for v in "$V1" "$V2"; do
  if grep -F -q -- "$v" "$HUNT"; then grep -F -n -- "$v" "$HUNT" | head -3 >&2; fail "an output held a secret value"; fi
  for part in "${v:0:12}" "${v: -12}"; do
    ! grep -F -q -- "$part" "$HUNT" || fail "an output held a part of a value ($part)"
  done
  held=$(grep -rlF -- "$v" "$PYRO_HOME" 2>/dev/null | grep -v '/upper/' | grep -v '\.tar$' || true)
  [ "$held" = "$D/secrets.json" ] || fail "files holding a value: $held"
done
ok "no record, journal, log or event file holds a value"

expect_status 0 "$P" workspace delete "$W"
[ ! -e "$D" ] || fail "delete left $D"
ok "delete removes the store"
