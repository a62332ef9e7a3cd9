#!/usr/bin/env bash
# pyro prepare and pyro demo: prepare records a daily-loop manifest that
# doctor --environment reports (cold, then warm; stale when another pyro
# version made it), a warm environment is not redone without --force, an
# unknown environment is an error; demo runs a one-shot command and a
# workspace round trip and leaves nothing behind.
source "$(dirname "$0")/lib.sh"
ENV=debian:12-base
rm -f "$XDG_CACHE_HOME/pyro/daily-loop/debian_12-base.json"

verdict() { "$PYRO" doctor --environment "$ENV" --json | jget daily_loop.status; }
[ "$(verdict)" = cold ] || fail "before prepare: $(verdict)"
expect_status 0 "$PYRO" prepare "$ENV" --json
[ "$(jget status <<<"$OUT")" = warm ] && [ "$(jget previous_status <<<"$OUT")" = cold ] || fail "prepare: $OUT"
for s in pull create exec reset delete; do grep -q "\"step\": \"$s\"" <<<"$OUT" || fail "no $s step: $OUT"; done
[ "$(verdict)" = warm ] || fail "after prepare: $(verdict)"
[ -z "$(ls -A "$PYRO_HOME/workspaces" 2>/dev/null)" ] || fail "prepare left a workspace"
ok "prepare: pull, create, exec, reset, delete; doctor reports cold then warm"

expect_status 0 "$PYRO" prepare "$ENV" --json
[ "$(jget skipped <<<"$OUT")" = true ] || fail "a warm environment was redone: $OUT"
expect_status 0 "$PYRO" prepare "$ENV" --force --json
[ "$(jget skipped <<<"$OUT")" = false ] || fail "--force did not redo: $OUT"
m=$(jget manifest_path <<<"$OUT")
python3 - "$m" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["pyro_version"] = "0.0.1"; json.dump(d, open(sys.argv[1], "w"))
PY
[ "$(verdict)" = stale ] || fail "another version's manifest: $(verdict)"
grep -q "Daily loop: *debian:12-base: stale" <<<"$("$PYRO" doctor --environment "$ENV")" || fail "human doctor output"
expect_status 0 "$PYRO" prepare "$ENV" --json
[ "$(jget previous_status <<<"$OUT")" = stale ] && [ "$(jget status <<<"$OUT")" = warm ] || fail "re-prepare: $OUT"
ok "prepare: skipped when warm, redone with --force; stale after another version, warm again"

expect_status 1 "$PYRO" prepare nope:1
grep -q "unknown environment 'nope:1'" <<<"$ERR" || fail "unknown environment: $ERR"
expect_status 2 "$PYRO" prepare "$ENV" --backend nope
ok "prepare: an unknown environment exits 1, a bad option 2"

expect_status 0 "$PYRO" demo "$ENV"
for s in run create file_write exec diff delete; do grep -q "^$s " <<<"$OUT" || fail "demo step $s: $OUT"; done
grep -q "hello from pyro" <<<"$OUT" || fail "demo exec output: $OUT"
grep -q "\[demo\] phase=create" <<<"$ERR" || fail "demo does not print what it does: $ERR"
[ -z "$(ls -A "$PYRO_HOME/workspaces" 2>/dev/null)" ] || fail "demo left a workspace"
ok "demo: run and a workspace round trip, each step printed, nothing left behind"
