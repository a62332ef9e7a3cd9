#!/usr/bin/env bash
# pyro completion: the bash script generated from the contract table
# completes commands (`pyro workspace ex` -> exec), options, and the id of a
# live workspace; zsh and fish scripts are generated; an unknown shell is a
# usage error (exit 2).
source "$(dirname "$0")/lib.sh"
command -v bash >/dev/null || skip "bash missing"
mkdir -p "$TEST_TMP/bin"
ln -s "$(readlink -f "$PYRO")" "$TEST_TMP/bin/pyro"
export PATH="$TEST_TMP/bin:$PATH"

# complete WORDS...: what _pyro offers for the last word. (Checked with
# grep <<<"$(...)", never in a pipeline: grep -q stopping early would
# break the writer's pipe, which pipefail reports as a failure.)
complete_words() {
  bash -c 'source <(pyro completion bash)
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _pyro; printf "%s\n" "${COMPREPLY[@]}"' complete "$@"
}

[ "$(complete_words pyro workspace ex | tr '\n' ' ')" = "exec export " ] ||
  fail "pyro workspace ex: $(complete_words pyro workspace ex)"
[ "$(complete_words pyro workspace exe)" = exec ] || fail "pyro workspace exe: $(complete_words pyro workspace exe)"
ok "bash: 'pyro workspace ex' offers exec and export, 'exe' completes to exec"
grep -qx -- --timeout-seconds <<<"$(complete_words pyro workspace exec --time)" || fail "options: $(complete_words pyro workspace exec --time)"
grep -qx host <<<"$(complete_words pyro ho)" || fail "top level: $(complete_words pyro ho)"
grep -qx codex <<<"$(complete_words pyro host connect c)" || fail "host names: $(complete_words pyro host connect c)"
ok "bash: options, top-level commands and choices complete"

expect_status 0 "$PYRO" workspace create debian:12-base --id-only
WS=$OUT
[ "$(complete_words pyro workspace exec "${WS:0:4}")" = "$WS" ] || fail "live id: $(complete_words pyro workspace exec "${WS:0:4}")"
# After an option that takes a value, the id is still the first positional.
[ "$(complete_words pyro workspace exec --timeout-seconds 5 "${WS:0:4}")" = "$WS" ] || fail "id after an option"
grep -qx debian:12-base <<<"$(complete_words pyro run debian:12-b)" || fail "environments: $(complete_words pyro run debian:12-b)"
ok "bash: a live workspace id and environment names complete"
expect_status 0 "$PYRO" workspace delete "$WS"
[ -z "$(complete_words pyro workspace exec "${WS:0:4}")" ] || fail "a deleted workspace still completes"

grep -q bashcompinit <<<"$(pyro completion zsh)" || fail "zsh script"
if command -v zsh >/dev/null; then zsh -n <(pyro completion zsh) || fail "zsh syntax"; fi
grep -q "completion --list workspaces" <<<"$(pyro completion fish)" || fail "fish script"
if command -v fish >/dev/null; then pyro completion fish | fish -n || fail "fish syntax"; fi
expect_status 2 "$PYRO" completion tcsh
grep -q "unknown shell 'tcsh'" <<<"$ERR" || fail "unknown shell: $ERR"
ok "zsh and fish scripts generated; an unknown shell exits 2"
