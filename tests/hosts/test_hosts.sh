#!/usr/bin/env bash
# pyro host connect|print-config|doctor|repair against the chat hosts' real
# CLIs (Claude Code, Codex, OpenCode from npm, tests/hosts/package-lock.json),
# each with HOME in a temporary folder: after connect, the host's own
# listing shows (and for claude and opencode, starts and checks) the pyro
# server; host doctor finds a broken path and repair fixes it, checked again
# with the host's CLI. Then pyro's own file writer: merge without losing a
# key, backup, and config files it must leave untouched.
source "$(dirname "$0")/../integration/lib.sh"

mods="$PYRO_SOURCE_DIR/tests/hosts/node_modules"
claude_bin="$mods/@anthropic-ai/claude-code-linux-x64/claude"
opencode_bin="$mods/opencode-linux-x64/bin/opencode"
codex_bin="$mods/.bin/codex"
for b in "$claude_bin" "$opencode_bin" "$codex_bin"; do
  [ -x "$b" ] || fail "$b missing: run scripts/npm-deps.sh hosts"
done
command -v node >/dev/null || skip "codex's launcher needs node on PATH"

export HOME="$TEST_TMP/home"
unset XDG_CONFIG_HOME CODEX_HOME CLAUDE_CONFIG_DIR
mkdir -p "$HOME" "$TEST_TMP/bin"
# The launchers npm's postinstall would have made (scripts/npm-deps.sh).
ln -s "$claude_bin" "$TEST_TMP/bin/claude"
ln -s "$opencode_bin" "$TEST_TMP/bin/opencode"
ln -s "$codex_bin" "$TEST_TMP/bin/codex"
export PATH="$TEST_TMP/bin:$PATH"
# No telemetry, update checks or auto-updates from the host CLIs.
export DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 OPENCODE_DISABLE_AUTOUPDATE=1
PYRO_ABS=$(readlink -f "$PYRO")
cd /

# --- Claude Code: connect through `claude mcp add`; `claude mcp list` starts it.
"$PYRO" host connect claude-code --json >"$TEST_TMP/c.json"
[ "$(jget method <"$TEST_TMP/c.json")" = cli ] || fail "claude-code: not connected through claude's CLI"
[ "$(jget command <"$TEST_TMP/c.json")" = "$PYRO_ABS" ] || fail "claude-code: not the absolute pyro path"
list=$(timeout 120 claude mcp list 2>&1)
grep -qE "^pyro: $PYRO_ABS mcp serve - . Connected$" <<<"$list" || fail "claude mcp list: $list"
ok "claude-code: connected, claude mcp list reports it connected"

# --- Codex: `codex mcp add`; `codex mcp list --json` shows path and profile args.
"$PYRO" host connect codex --profile workspace-full --json >"$TEST_TMP/x.json"
[ "$(jget method <"$TEST_TMP/x.json")" = cli ] || fail "codex: not connected through codex's CLI"
timeout 120 codex mcp list --json 2>/dev/null >"$TEST_TMP/xl.json"
[ "$(jget 0.transport.command <"$TEST_TMP/xl.json")" = "$PYRO_ABS" ] || fail "codex list: $(cat "$TEST_TMP/xl.json")"
[ "$(jget 0.transport.args <"$TEST_TMP/xl.json")" = '["mcp", "serve", "--profile", "workspace-full"]' ] ||
  fail "codex list args: $(jget 0.transport.args <"$TEST_TMP/xl.json")"
ok "codex: connected, codex mcp list shows the absolute path and the profile's arguments"

# --- OpenCode: `opencode mcp add`; `opencode mcp list` starts and checks it.
"$PYRO" host connect opencode --mode inspect --json >"$TEST_TMP/o.json"
[ "$(jget method <"$TEST_TMP/o.json")" = cli ] || fail "opencode: not connected through opencode's CLI"
list=$(timeout 120 opencode mcp list </dev/null 2>&1 | sed 's/\x1b\[[0-9;]*m//g')
grep -q "✓ pyro.*connected" <<<"$list" || fail "opencode mcp list: $list"
grep -qF "$PYRO_ABS mcp serve --mode inspect" <<<"$list" || fail "opencode mcp list (command): $list"
ok "opencode: connected, opencode mcp list reports it connected"

# --- host doctor: all three pass; each starts the server (initialize, tools/list).
"$PYRO" host doctor --json >"$TEST_TMP/d.json" || fail "host doctor: $(cat "$TEST_TMP/d.json")"
for i in 0 1 2; do
  [ "$(jget hosts.$i.server_ok <"$TEST_TMP/d.json")" = true ] || fail "doctor $i: $(cat "$TEST_TMP/d.json")"
done
ok "host doctor: the three entries point at this pyro and their servers answer"

# --- A stale path in each config: doctor finds it, repair fixes it.
python3 - "$HOME" <<'EOF'
import json, re, sys
h = sys.argv[1]
p = h + "/.claude.json"; d = json.load(open(p)); d["mcpServers"]["pyro"]["command"] = "/opt/old/pyro"; json.dump(d, open(p, "w"))
p = h + "/.codex/config.toml"; t = open(p).read(); open(p, "w").write(re.sub(r'command = ".*"', 'command = "/opt/old/pyro"', t))
import glob
p = glob.glob(h + "/.config/opencode/opencode.json*")[0]; d = json.load(open(p)); d["mcp"]["pyro"]["command"][0] = "/opt/old/pyro"; json.dump(d, open(p, "w"))
EOF
for host in claude-code codex opencode; do
  expect_status 1 "$PYRO" host doctor "$host"
  grep -q "starts /opt/old/pyro, not this pyro" <<<"$OUT" || fail "doctor $host: $OUT"
  expect_status 0 "$PYRO" host repair "$host" --json
  [ "$(jget repaired <<<"$OUT")" = true ] && [ "$(jget ok <<<"$OUT")" = true ] || fail "repair $host: $OUT"
done
list=$(timeout 120 claude mcp list 2>&1)
grep -qE "^pyro: $PYRO_ABS mcp serve - . Connected$" <<<"$list" || fail "after repair, claude mcp list: $list"
timeout 120 codex mcp list --json 2>/dev/null >"$TEST_TMP/xl.json"
[ "$(jget 0.transport.command <"$TEST_TMP/xl.json")" = "$PYRO_ABS" ] || fail "after repair, codex: $(cat "$TEST_TMP/xl.json")"
[ "$(jget 0.transport.args <"$TEST_TMP/xl.json")" = '["mcp", "serve", "--profile", "workspace-full"]' ] ||
  fail "repair lost codex's profile arguments: $(cat "$TEST_TMP/xl.json")"
list=$(timeout 120 opencode mcp list </dev/null 2>&1 | sed 's/\x1b\[[0-9;]*m//g')
grep -q "✓ pyro.*connected" <<<"$list" || fail "after repair, opencode mcp list: $list"
grep -q '"repaired": false' <<<"$("$PYRO" host repair codex --json)" || fail "a healthy entry was rewritten"
ok "host doctor finds a stale path, host repair fixes it (checked with each host's CLI)"

# --- A host CLI that fails: its message shown, exit 1, nothing written.
mkdir -p "$TEST_TMP/badbin"
printf '#!/bin/sh\necho "claude: config locked by another process" >&2\nexit 3\n' >"$TEST_TMP/badbin/claude"
chmod +x "$TEST_TMP/badbin/claude"
cp "$HOME/.claude.json" "$TEST_TMP/claude.before"
PATH="$TEST_TMP/badbin:$PATH" expect_status 1 "$PYRO" host connect claude-code
grep -q "config locked by another process" <<<"$ERR" || fail "the host CLI's message is not shown: $ERR"
cmp -s "$HOME/.claude.json" "$TEST_TMP/claude.before" || fail "a failed host CLI changed the config"
ok "a failing host CLI: its message shown, the config unchanged"

# --- pyro's own writer (--method file): merges, keeps every key, backs up.
P="$TEST_TMP/proj"
mkdir -p "$P"
printf '{"keep": {"a": [1, 2]}, "mcpServers": {"other": {"command": "/bin/true"}}}\n' >"$P/.mcp.json"
cp "$P/.mcp.json" "$TEST_TMP/mcp.before"
"$PYRO" host connect claude-code --scope project --project-path "$P" --method file --json >"$TEST_TMP/f.json"
cmp -s "$(jget backup_path <"$TEST_TMP/f.json")" "$TEST_TMP/mcp.before" || fail "no faithful backup"
python3 - "$P/.mcp.json" "$PYRO_ABS" "$P" <<'EOF' || fail "merge lost a key: $(cat "$P/.mcp.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["keep"] == {"a": [1, 2]} and d["mcpServers"]["other"] == {"command": "/bin/true"}
e = d["mcpServers"]["pyro"]
assert e["command"] == sys.argv[2] and e["args"] == ["mcp", "serve", "--project-path", sys.argv[3]], e
EOF
grep -qF "$PYRO_ABS" <<<"$(cd "$P" && timeout 120 claude mcp get pyro 2>&1)" || fail "claude does not see the project entry"
ok "file writer: merged into .mcp.json keeping every key, backup written, claude sees it"

# Codex TOML: other tables and comments kept byte for byte.
export CODEX_HOME="$TEST_TMP/codex"
mkdir -p "$CODEX_HOME"
printf '# mine\nmodel = "o3"\n\n[mcp_servers.pyro]\ncommand = "/old"\nargs = ["x"]\n\n[mcp_servers.pyro.env]\nA = "1"\n\n[profiles.fast]\nmodel = "o4-mini" # fast\n' >"$CODEX_HOME/config.toml"
"$PYRO" host connect codex --method file >/dev/null
grep -q '^# mine$' "$CODEX_HOME/config.toml" && grep -q '^model = "o4-mini" # fast$' "$CODEX_HOME/config.toml" &&
  ! grep -q '^A = "1"' "$CODEX_HOME/config.toml" || fail "codex merge: $(cat "$CODEX_HOME/config.toml")"
timeout 120 codex mcp list --json 2>/dev/null >"$TEST_TMP/xl.json"
[ "$(jget 0.transport.command <"$TEST_TMP/xl.json")" = "$PYRO_ABS" ] || fail "codex reads: $(cat "$TEST_TMP/xl.json")"
ok "file writer: codex config.toml merged, other tables and comments kept, codex reads it"

# --- Config files pyro must not touch: invalid JSON or TOML, a link, read-only.
printf '{"mcpServers": {' >"$P/.mcp.json"
cp "$P/.mcp.json" "$TEST_TMP/bad.before"
expect_status 1 "$PYRO" host connect claude-code --scope project --project-path "$P" --method file
grep -q "not valid JSON" <<<"$ERR" && cmp -s "$P/.mcp.json" "$TEST_TMP/bad.before" || fail "invalid JSON: $ERR"
printf 'model = "o3"\n[mcp_servers.pyro\ncommand = "x"\n' >"$CODEX_HOME/config.toml"
cp "$CODEX_HOME/config.toml" "$TEST_TMP/bad.before"
expect_status 1 "$PYRO" host connect codex --method file
grep -q "invalid TOML at line 2" <<<"$ERR" && cmp -s "$CODEX_HOME/config.toml" "$TEST_TMP/bad.before" ||
  fail "invalid TOML: $ERR"
rm "$P/.mcp.json"
printf '{}\n' >"$TEST_TMP/target.json"
ln -s "$TEST_TMP/target.json" "$P/.mcp.json"
expect_status 1 "$PYRO" host connect claude-code --scope project --project-path "$P" --method file
grep -q "symbolic link" <<<"$ERR" && [ "$(cat "$TEST_TMP/target.json")" = "{}" ] || fail "symlink: $ERR"
rm "$P/.mcp.json"
printf '{}\n' >"$P/.mcp.json"
chmod 0444 "$P/.mcp.json"
expect_status 1 "$PYRO" host connect claude-code --scope project --project-path "$P" --method file
grep -q "read-only" <<<"$ERR" && [ "$(cat "$P/.mcp.json")" = "{}" ] || fail "read-only: $ERR"
ok "invalid JSON, invalid TOML, a symlink and a read-only file: clear errors, files untouched"

# --- print-config writes nothing; bad input is a usage error.
before=$(find "$HOME" "$CODEX_HOME" -type f | sort | xargs sha256sum)
"$PYRO" host print-config opencode --profile vm-run >"$TEST_TMP/snip.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["mcp"]["pyro"]["command"][1:] == ["mcp","serve","--profile","vm-run"]' \
  "$TEST_TMP/snip.json" || fail "print-config opencode: $(cat "$TEST_TMP/snip.json")"
[ "$(find "$HOME" "$CODEX_HOME" -type f | sort | xargs sha256sum)" = "$before" ] || fail "print-config wrote a file"
expect_status 2 "$PYRO" host connect vscode
expect_status 2 "$PYRO" host connect codex --profile nope
ok "print-config prints and writes nothing; an unknown host or profile exits 2"
