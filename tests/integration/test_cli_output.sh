#!/usr/bin/env bash
# Human output and progress (README "Every command prints..."): on a
# terminal (tmux) the phases are drawn in place and end as "done N s", in
# colour unless NO_COLOR; piped, one "phase=" line per phase; --quiet and
# --json print no progress; nothing of it reaches stdout. Human renderings
# hold no raw JSON: nested objects as blocks, lists as tables, ages.
. "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || skip "tmux is missing (scripts/deps.sh installs it)"
ENV=debian:12-base
"$PYRO" env pull "$ENV" >/dev/null 2>&1 || fail "env pull $ENV"

# Piped: plain phase lines on stderr, nothing of them on stdout.
"$PYRO" env pull "$ENV" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
grep -q '^\[pull\] phase=verify environment=debian:12-base$' "$TEST_TMP/err" || fail "no phase line: $(cat "$TEST_TMP/err")"
! grep -q 'phase=' "$TEST_TMP/out" || fail "progress on stdout: $(cat "$TEST_TMP/out")"
"$PYRO" env pull "$ENV" --quiet >/dev/null 2>"$TEST_TMP/err"
[ ! -s "$TEST_TMP/err" ] || fail "--quiet printed: $(cat "$TEST_TMP/err")"
"$PYRO" env pull "$ENV" --json >/dev/null 2>"$TEST_TMP/err"
[ ! -s "$TEST_TMP/err" ] || fail "--json printed progress: $(cat "$TEST_TMP/err")"
ok "piped: one phase line per phase on stderr; --quiet and --json print none"

# On a terminal: tmux runs the CLI; its screen keeps the finished phases.
SOCK="$TEST_TMP/tmux.sock"
term() { # term NAME ENVVARS...: runs `pyro env pull` on a terminal, prints the screen
  local name=$1; shift
  tmux -S "$SOCK" new-session -d -s "$name" -x 160 -y 30 \
    "env $* PYRO_HOME=$PYRO_HOME XDG_CACHE_HOME=$XDG_CACHE_HOME $PYRO env pull $ENV >$TEST_TMP/$name.out; echo EXIT=\$?; sleep 30"
  for _ in $(seq 300); do tmux -S "$SOCK" capture-pane -p -t "$name" | grep -q '^EXIT=' && break; sleep 0.1; done
  tmux -S "$SOCK" capture-pane -p -e -t "$name" >"$TEST_TMP/$name.screen"
  tmux -S "$SOCK" kill-session -t "$name"
}
trap 'tmux -S "$SOCK" kill-server 2>/dev/null || true; cleanup_test_tmp' EXIT
term colour TERM=xterm-256color
S=$(cat "$TEST_TMP/colour.screen")
grep -q '^EXIT=0' <<<"$S" || fail "pull on a terminal: $S"
grep -q 'verify.*environment=debian:12-base.*done.* [0-9.]* s' <<<"$S" || fail "no finished verify phase on the terminal: $S"
! grep -q 'phase=' <<<"$S" || fail "plain phase lines on a terminal: $S"
grep -q $'\e\\[32m' <<<"$S" || fail "no colour on a terminal without NO_COLOR: $(od -c <<<"$S" | head)"
! grep -q 'phase=' "$TEST_TMP/colour.out" || fail "progress on stdout"
grep -q 'is installed and verified' "$TEST_TMP/colour.out" || fail "no result on stdout: $(cat "$TEST_TMP/colour.out")"
term plain TERM=xterm-256color NO_COLOR=1
S=$(cat "$TEST_TMP/plain.screen")
grep -q 'verify.*done' <<<"$S" || fail "no finished verify phase with NO_COLOR: $S"
! grep -q $'\e\\[3[0-9]m' <<<"$S" || fail "colour despite NO_COLOR: $(od -c <<<"$S" | head)"
ok "terminal: phases drawn in place, finished as 'done N s', colour unless NO_COLOR, result on stdout"

# Human renderings: blocks, tables, ages; no raw JSON.
W=$("$PYRO" workspace create "$ENV" --name out --label team=core --id-only 2>/dev/null)
"$PYRO" workspace file write "$W" /workspace/a.txt --text hello >/dev/null
expect_status 0 "$PYRO" workspace status "$W"
grep -q '^labels:$' <<<"$OUT" && grep -q '^  team  core$' <<<"$OUT" || fail "labels not a block: $OUT"
grep -Eq '^created_at +20[0-9-]+ [0-9:]+ UTC \((just now|[0-9]+ s ago)\)$' <<<"$OUT" || fail "created_at: $OUT"
! grep -q '[{}]' <<<"$OUT" || fail "raw JSON in status: $OUT"
expect_status 0 "$PYRO" workspace list
grep -Eq '^WORKSPACE_ID +NAME +STATE ' <<<"$OUT" && grep -Eq "^$W +out +started .*team=core" <<<"$OUT" || fail "list table: $OUT"
expect_status 0 "$PYRO" workspace file list "$W" /workspace
grep -Eq '^  /workspace/a.txt +file +5 +0644 ' <<<"$OUT" || fail "file list table: $OUT"
expect_status 0 "$PYRO" workspace summary "$W"
! grep -q '[{}]' <<<"$OUT" || fail "raw JSON in summary: $OUT"
"$PYRO" workspace delete "$W" >/dev/null
ok "status, list, file list and summary render as blocks and tables without raw JSON"
