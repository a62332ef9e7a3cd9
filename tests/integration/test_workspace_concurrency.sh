#!/bin/bash
# A long command does not block its workspace: while `workspace exec` runs,
# status, list, file read, logs and summary answer at once; stop and delete
# work during it, and the exec then fails with a clear message (and writes
# nothing into a deleted workspace).
source "$(dirname "$0")/lib.sh"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (apt-get install mmdebstrap)"
ENV=${PYRO_WS_TEST_ENV:-debian:12-base}
P() { "$PYRO" "$@"; }
# quick CMD...: CMD must succeed within 10 s while a command runs.
quick() {
  local t0=$SECONDS
  expect_status 0 timeout 10 "$PYRO" "$@"
  ok "${*:1:3} answered in $((SECONDS - t0)) s during a running exec"
}
# start_exec W SECONDS: a background exec; its pid in $EXEC_PID.
# (A fresh marker name each time: the test only reads the writable layer.)
RUN=0
start_exec() {
  RUN=$((RUN + 1))
  "$PYRO" workspace exec "$1" --timeout-seconds 120 -- "touch .begun$RUN; sleep $2; echo done" \
    >"$TEST_TMP/exec.out" 2>"$TEST_TMP/exec.err" &
  EXEC_PID=$!
  # Wait until the command runs (the test looks at the kept writable layer).
  for _ in $(seq 300); do
    [ -e "$(ws_upper "$1")/.begun$RUN" ] && return 0
    [ -d "/proc/$EXEC_PID" ] || fail "the background exec ended early: $(cat "$TEST_TMP/exec.err")"
    sleep 0.2
  done
  fail "the background command never started"
}
# wait_exec: waits for the background exec (at most 60 s); $EXEC_RC.
wait_exec() {
  for _ in $(seq 300); do [ -d "/proc/$EXEC_PID" ] || break; sleep 0.2; done
  [ -d "/proc/$EXEC_PID" ] && fail "the exec did not end after its workspace went away"
  set +e
  wait "$EXEC_PID"
  EXEC_RC=$?
  set -e
}

expect_status 0 P workspace create "$ENV" --id-only
W=$OUT
expect_status 0 P workspace file write "$W" note.txt --text $'hello\n'

# 1. Reads while a 30 s command runs.
start_exec "$W" 30
quick workspace status "$W" --json
[ "$(echo "$OUT" | jget state)" = started ] || fail "status during exec: $OUT"
quick workspace list --json
grep -q "$W" <<<"$OUT" || fail "list during exec misses $W: $OUT"
quick workspace file read "$W" note.txt
[ "$OUT" = hello ] || fail "file read during exec: '$OUT'"
quick workspace file list "$W" --json
quick workspace logs "$W" --json
quick workspace summary "$W" --json
quick workspace diff "$W" --json
quick workspace update "$W" --label during=exec --json
[ -d "/proc/$EXEC_PID" ] || fail "the 30 s exec ended already: $(cat "$TEST_TMP/exec.err")"

# The exec still completes and is recorded after all that.
wait_exec
[ "$EXEC_RC" = 0 ] || fail "the exec failed: rc=$EXEC_RC $(cat "$TEST_TMP/exec.err")"
grep -q done "$TEST_TMP/exec.out" || fail "the exec output: $(cat "$TEST_TMP/exec.out")"
expect_status 0 P workspace logs "$W" --json
grep -q 'sleep 30' <<<"$OUT" || fail "the exec is not in the history: $OUT"
expect_status 0 P workspace status "$W" --json
[ "$(echo "$OUT" | jget labels.during)" = exec ] || fail "the update during the exec was lost: $OUT"
ok "the exec finished and was recorded; the update made meanwhile was kept"

# Two commands at once on one workspace get distinct sequence numbers.
P workspace exec "$W" -- 'sleep 2; echo a' >"$TEST_TMP/a.out" 2>&1 &
A=$!
P workspace exec "$W" -- 'sleep 2; echo b' >"$TEST_TMP/b.out" 2>&1 &
B=$!
wait "$A" || fail "exec a: $(cat "$TEST_TMP/a.out")"
wait "$B" || fail "exec b: $(cat "$TEST_TMP/b.out")"
expect_status 0 P workspace logs "$W" --json
seqs=$(echo "$OUT" | /usr/bin/python3 -c 'import json,sys; print(sorted(e["sequence"] for e in json.load(sys.stdin)["entries"]))')
[ "$(echo "$seqs" | tr -d ' ')" = "[1,2,3]" ] || fail "sequences after concurrent execs: $seqs"
ok "concurrent execs on one workspace are numbered 1..n without duplicates ($seqs)"

# 2. Stop during a running exec: the stop is quick and the exec says why it ended.
start_exec "$W" 60
quick workspace stop "$W" --json
[ "$(echo "$OUT" | jget state)" = stopped ] || fail "stop during exec: $OUT"
wait_exec
[ "$EXEC_RC" != 0 ] || fail "the exec succeeded although its workspace was stopped"
grep -q "workspace $W was stopped while the command ran" "$TEST_TMP/exec.err" ||
  fail "exec error after stop: $(cat "$TEST_TMP/exec.err")"
expect_status 0 P workspace status "$W" --json
[ "$(echo "$OUT" | jget state)" = stopped ] || fail "state after stop: $OUT"
ok "stop during exec: the exec reports 'was stopped while the command ran'"

# 3. Delete during a running exec leaves nothing.
expect_status 0 P workspace start "$W"
start_exec "$W" 60
quick workspace delete "$W" --json
wait_exec
[ "$EXEC_RC" != 0 ] || fail "the exec succeeded although its workspace was deleted"
grep -q "workspace $W was deleted while the command ran" "$TEST_TMP/exec.err" ||
  fail "exec error after delete: $(cat "$TEST_TMP/exec.err")"
[ ! -e "$PYRO_HOME/workspaces/$W" ] || fail "the deleted workspace's directory came back: $(ls -la "$PYRO_HOME/workspaces/$W")"
expect_status 1 P workspace status "$W"
ok "delete during exec: nothing left, the exec reports 'was deleted while the command ran'"
