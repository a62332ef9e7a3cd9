#!/bin/bash
# PTY shells in a workspace, end to end through the CLI (both backends):
# read-driven interactive input, plain rendering of colours and \r
# progress, SIGINT to the foreground job, a second CLI process reading the
# same shell by cursor, truncation of the 1 MiB ring, a flooding shell that
# stays bounded, bad input, and stop/delete closing the shells.
source "$(dirname "$0")/lib.sh"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (apt-get install mmdebstrap)"
P() { "$PYRO" "$@"; }
j() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$TEST_TMP/out')); print(eval(sys.argv[1]))" "$1"; }
assert() { local got; got=$(j "$1"); [ "$got" = "$2" ] || fail "$1: expected '$2', got '$got'"; }

# until_output W SHELL CURSOR TEXT [READ OPTIONS]: reads from CURSOR (by
# separate CLI processes) until the output read so far holds TEXT; prints
# the next cursor, leaves the text read in $TEST_TMP/text. The terminal
# echoes what is typed, so TEXT is what only the command's output holds
# (hence $((6*7)) in the commands).
cat > "$TEST_TMP/until.py" <<'EOF'
import json, subprocess, sys, time
pyro, w, s, cur, want = sys.argv[1:6]
extra = sys.argv[6:]
cur, text, end = int(cur), "", time.time() + 120
while want not in text and time.time() < end:
    p = subprocess.run([pyro, "workspace", "shell", "read", w, s, "--cursor", str(cur),
                        "--wait-for-idle-ms", "300", "--json"] + extra, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("read failed: " + p.stderr)
    d = json.loads(p.stdout)
    assert d["cursor"] == cur or d["truncated"], d
    text += d["output"]
    cur = d["next_cursor"]
open(sys.argv[0].replace("until.py", "text"), "w").write(text)
if want not in text:
    sys.exit("no %r in the output: %r" % (want, text[-2000:]))
print(cur)
EOF
until_output() { /usr/bin/python3 "$TEST_TMP/until.py" "$PYRO" "$@"; }

expect_status 0 P workspace create debian:12-base --id-only
W=$OUT

# ---- open ------------------------------------------------------------------
expect_status 0 P workspace shell open "$W" --cols 100 --rows 40 --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["shell_id"]' shell-1
assert 'd["state"]' running
assert 'd["cwd"]' /workspace
assert '(d["cols"], d["rows"])' '(100, 40)'
expect_status 0 P workspace shell open "$W" --id-only
[ "$OUT" = shell-2 ] || fail "--id-only printed '$OUT'"
C=$(until_output "$W" shell-1 0 '# ')
ok "open: shell-1 at /workspace, 100x40, a prompt; --id-only"

# ---- interactive input -------------------------------------------------------
expect_status 0 P workspace shell write "$W" shell-1 --input "read -r -p \"name\$((6*7))? \" n; echo \"hello-\$n\"" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["append_newline"]' True
C=$(until_output "$W" shell-1 "$C" 'name42? ')
expect_status 0 P workspace shell write "$W" shell-1 --input bob
C=$(until_output "$W" shell-1 "$C" 'hello-bob')
expect_status 0 P workspace shell write "$W" shell-1 --input 'echo "term=$TERM tty=$(tty) size=$(stty size)"'
C=$(until_output "$W" shell-1 "$C" 'size=40 100')
grep -q 'term=xterm-256color tty=/dev/pts/' "$TEST_TMP/text" || fail "shell environment: $(cat "$TEST_TMP/text")"
ok "read-driven input: the script echoes the line written; TERM, a pts and the PTY size"

# --no-newline: typed text stays on the line until Enter.
expect_status 0 P workspace shell write "$W" shell-1 --input 'echo $((1+2))-part-' --no-newline
expect_status 0 P workspace shell write "$W" shell-1 --input 'two'
C=$(until_output "$W" shell-1 "$C" '3-part-two')
ok "write --no-newline"

# ---- plain rendering -----------------------------------------------------------
cat > "$TEST_TMP/colors.sh" <<'EOF'
printf '\033[1;32mgreen-ok\033[0m \033[31mred\033[0m\n'
for i in 1 2 3 4; do printf '\rprogress %d/4' "$i"; sleep 0.05; done
printf '\n\033]0;a title\007done-plain\n'
EOF
expect_status 0 P workspace file write "$W" colors.sh --text "$(cat "$TEST_TMP/colors.sh")"
expect_status 0 P workspace shell write "$W" shell-1 --input 'bash colors.sh'
C2=$(until_output "$W" shell-1 "$C" 'done-plain' --plain)
# One read of all of it: rendering applies within what one read returns.
expect_status 0 P workspace shell read "$W" shell-1 --cursor "$C" --plain --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["next_cursor"]' "$C2"
assert 'd["plain"]' True
/usr/bin/python3 - "$TEST_TMP/out" <<'EOF' || fail "plain output: $(cat "$TEST_TMP/out")"
import json, sys
t = json.load(open(sys.argv[1]))["output"]
assert "green-ok red\n" in t, t
assert "progress 4/4\n" in t and "progress 1/4" not in t, t
assert "\x1b" not in t and "\r" not in t and "\x07" not in t and "a title" not in t, t
EOF
# The same bytes raw keep their escapes; cursors are the same either way.
expect_status 0 P workspace shell read "$W" shell-1 --cursor "$C" --json
echo "$OUT" > "$TEST_TMP/out"
assert '"\x1b[1;32m" in d["output"] and "\r" in d["output"]' True
assert 'd["plain"]' False
C=$C2
ok "plain: colours, titles and \\r progress become clean text; raw keeps them"

# ---- SIGINT ----------------------------------------------------------------
expect_status 0 P workspace shell write "$W" shell-1 --input "sh -c 'echo sleep-started; exec sleep 100'"
C=$(until_output "$W" shell-1 "$C" $'sleep-started\r\n')
T0=$(date +%s)
expect_status 0 P workspace shell signal "$W" shell-1 --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["signal"]' INT
assert 'd["state"]' running
expect_status 0 P workspace shell write "$W" shell-1 --input 'echo "alive-$?"'
C=$(until_output "$W" shell-1 "$C" 'alive-130')
[ $(($(date +%s) - T0)) -lt 60 ] || fail "SIGINT took $(($(date +%s) - T0)) s"
ok "SIGINT stops sleep 100 in the foreground; the shell survives"

# ---- a second process reads by cursor -----------------------------------------
expect_status 0 P workspace shell write "$W" shell-1 --input 'echo second-reader-$((6*7))'
OTHER=$(bash -c '"$0" workspace shell read "$1" shell-1 --cursor "$2" --wait-for-idle-ms 500 --json' "$PYRO" "$W" "$C")
echo "$OTHER" > "$TEST_TMP/out"
assert 'd["cursor"]' "$C"
assert '"second-reader-42" in d["output"] and "alive-130" not in d["output"]' True
# From 0 the whole history is there (nothing was dropped yet).
expect_status 0 P workspace shell read "$W" shell-1 --json --max-chars 1048576
echo "$OUT" > "$TEST_TMP/out"
assert 'd["cursor"] == 0 and not d["truncated"] and "hello-bob" in d["output"]' True
ok "another CLI process reads the same shell from a cursor"

# ---- bad input changes nothing --------------------------------------------------
expect_status 1 P workspace shell read "$W" shell-9
grep -q "no shell shell-9" <<<"$ERR" || fail "unknown shell: $ERR"
expect_status 2 P workspace shell signal "$W" shell-1 --signal USR1
grep -q "must be one of INT, TERM, HUP, KILL" <<<"$ERR" || fail "bad signal: $ERR"
expect_status 2 P workspace shell open "$W" --cols 0
expect_status 2 P workspace shell read "$W" shell-1 --wait-for-idle-ms 20000
expect_status 1 P workspace shell open "$W" --cwd ../etc
for i in 3 4 5 6 7 8; do expect_status 0 P workspace shell open "$W" --id-only; done
expect_status 1 P workspace shell open "$W"
grep -q "already has 8 shells" <<<"$ERR" || fail "ninth shell: $ERR"
expect_status 0 P workspace shell close "$W" shell-8 --json
echo "$OUT" > "$TEST_TMP/out"
assert '(d["state"], d["closed"])' "('closed', True)"
expect_status 1 P workspace shell close "$W" shell-8
expect_status 0 P workspace shell write "$W" shell-1 --input 'echo still-$((2*3))-here'
C=$(until_output "$W" shell-1 "$C" 'still-6-here')
ok "unknown shell, bad signal, cols 0, a long wait, a cwd outside /workspace, a ninth shell: clear errors; shell-1 unharmed"

# ---- truncation -------------------------------------------------------------
expect_status 0 P workspace shell write "$W" shell-3 --input "head -c 2500000 /dev/zero | tr '\\0' x; echo; echo END-FLOOD-\$((6*7))"
C3=$(until_output "$W" shell-3 0 'END-FLOOD-42' --max-chars 1048576)
expect_status 0 P workspace shell read "$W" shell-3 --cursor 0 --max-chars 100 --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["truncated"]' True
assert 'd["cursor"] >= 2500000 - 1048576 and d["next_cursor"] == d["cursor"] + 100 and d["has_more"]' True
ok "truncation: a cursor that fell out of the 1 MiB ring reads from the oldest kept byte, truncated"

# ---- flood ------------------------------------------------------------------
expect_status 0 P workspace shell write "$W" shell-4 --input 'yes flood-line'
sleep 3
T0=$(date +%s)
expect_status 0 P workspace shell read "$W" shell-4 --max-chars 1000 --wait-for-idle-ms 300 --json
echo "$OUT" > "$TEST_TMP/out"
[ $(($(date +%s) - T0)) -lt 50 ] || fail "a read of a flooding shell took $(($(date +%s) - T0)) s"
assert 'len(d["output"]) <= 1000' True
expect_status 0 P workspace exec "$W" -- 'grep VmRSS /proc/1/status'
RSS=$(echo "$OUT" | awk '{print $2}')
[ -n "$RSS" ] && [ "$RSS" -lt 65536 ] || fail "the agent's RSS while a shell floods: $OUT"
expect_status 0 P workspace shell signal "$W" shell-4 --signal KILL
ok "a flooding shell (yes): reads bounded and on time, the agent at ${RSS} KiB, exec still served"

# ---- stop and delete close the shells -----------------------------------------
expect_status 0 P workspace stop "$W" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["closed_shells"]' 7
expect_status 0 P workspace start "$W"
expect_status 1 P workspace shell read "$W" shell-1
expect_status 0 P workspace exec "$W" -- 'test ! -e /workspace/.pyro-shells && ls -A /workspace'
[ "$OUT" = colors.sh ] || fail "/workspace after shells: $OUT"
expect_status 0 P workspace shell open "$W" --id-only
expect_status 0 P workspace reset "$W" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["closed_shells"]' 1
expect_status 0 P workspace shell open "$W" --id-only
expect_status 0 P workspace delete "$W" --json
echo "$OUT" > "$TEST_TMP/out"
assert 'd["closed_shells"]' 1
ok "stop, reset and delete close the shells and say how many; /workspace holds no shell state"
