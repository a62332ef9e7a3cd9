#!/bin/bash
# The agent (PID 1) against the commands it runs, from inside real sandboxes:
# a workspace command cannot reach into the agent (ptrace, pidfd_getfd,
# /proc/1/mem, /proc/1/environ, /proc/1/fd/*, /proc/1/fdinfo, /proc/1/root),
# inherits no agent fd, cannot stop, kill or end it with signals (kill, a
# pidfd, a queued signal that claims to come from outside), and cannot
# reach console.log;
# after all of it `false` still reports exit 1 (docs/threat-model.md, "The
# agent and the commands it runs"). The probe is tests/helpers/probe.c.
source "$(dirname "$0")/lib.sh"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (apt-get install mmdebstrap)"
PROBE=${PYRO_BUILD_DIR:?}/tests/pyro-probe
[ -x "$PROBE" ] || fail "no probe at $PROBE (build the pyro_probe target)"
ENV=debian:12-base
P() { "$PYRO" "$@"; }
# val KEY: the value of KEY= in $OUT (the probe's report).
val() { printf '%s\n' "$OUT" | sed -n "s/^$1=//p" | head -n1; }
# refused KEY: the probe's attempt KEY failed (a non-zero errno).
refused() {
  local v; v=$(val "$1")
  [ -n "$v" ] || fail "$1: not reported (output: $OUT)"
  [ "$v" != 0 ] || fail "$1 succeeded: a command reached into the agent (output: $OUT)"
}
# answers W: the agent still runs commands and reports their exit codes.
answers() {
  expect_status 1 P workspace exec "$1" -- false
  expect_status 7 P workspace exec "$1" -- 'exit 7'
  expect_status 0 P workspace exec "$1" --json -- 'echo still here'
  grep -q '"exit_code": *0' <<<"$OUT" || fail "exec after $2: $OUT"
  grep -q 'still here' <<<"$OUT" || fail "exec after $2: $OUT"
}

SEED=$TEST_TMP/seed
mkdir -p "$SEED"
cp "$PROBE" "$SEED/pyro-probe"
expect_status 0 P workspace create "$ENV" --seed-path "$SEED" --id-only
W=$OUT
WDIR=$PYRO_HOME/workspaces/$W
P workspace exec "$W" -- 'chmod 0755 pyro-probe' >/dev/null

# ---- reaching into PID 1 ------------------------------------------------------
expect_status 0 P workspace exec "$W" -- ./pyro-probe stdout agent
for k in agent_ptrace agent_prlimit_get agent_prlimit_set agent_mem agent_environ agent_fd1 agent_fd3 agent_fdinfo agent_root; do
  refused "$k"
done
# /proc/1/fd lists fd numbers (the kernel checks each link, not the list):
# none may be read or opened.
[ "$(val agent_fd_links)" = 0 ] || fail "$(val agent_fd_links) of the agent's fds could be read: $OUT"
[ "$(val agent_fd_opened)" = 0 ] || fail "$(val agent_fd_opened) of the agent's fds could be opened: $OUT"
# pidfd_open(1) may be allowed; taking an fd through it may not.
if [ "$(val agent_pidfd_open)" = 0 ]; then refused agent_pidfd_getfd1; refused agent_pidfd_getfd3; fi
[ "$(val own_fds)" = "0,1,2" ] || fail "a command inherited more than stdin, stdout and stderr: $(val own_fds)"
# Commands are plain root: the agent's own saved gid is not inherited.
expect_status 0 P workspace exec "$W" -- 'grep -E "^(Uid|Gid):" /proc/self/status | tr -s "\t " " "'
[ "$OUT" = $'Uid: 0 0 0 0\nGid: 0 0 0 0' ] || fail "a command's credentials: $OUT"
# The same from a shell, the way an attacker would try it.
expect_status 0 P workspace exec "$W" -- 'for f in /proc/1/fd/*; do readlink $f && echo LINK; done 2>/dev/null; cat /proc/1/environ 2>/dev/null && echo READ; echo x 2>/dev/null >>/proc/1/fd/1 && echo WROTE; cat /proc/1/maps 2>/dev/null && echo MAPS; true'
case "$OUT" in *LINK*|*READ*|*WROTE*|*MAPS*) fail "the shell reached the agent: $OUT" ;; esac
ok "ptrace, pidfd_getfd, /proc/1/{mem,environ,fd/*,fdinfo,root,maps} of the agent refused; commands inherit fds 0-2 only"

# ---- signals ------------------------------------------------------------------
for s in STOP KILL TERM INT HUP USR1 USR2 QUIT; do
  expect_status 0 P workspace exec "$W" -- "kill -$s 1; sleep 0.2; echo sent"
  answers "$W" "kill -$s 1"
done
expect_status 0 P workspace exec "$W" -- ./pyro-probe stdout signals
[ "$(val kill_TERM)" = 0 ] || fail "the probe could not even send SIGTERM: $OUT"
answers "$W" "the probe's signals (kill, pidfd_send_signal, a forged sigqueueinfo)"
# A background command that keeps signalling during the next execs.
P workspace exec "$W" -- '(for i in $(seq 50); do kill -TERM 1; kill -INT 1; kill -CHLD 1; sleep 0.02; done) >/dev/null 2>&1 &' >/dev/null
answers "$W" "a stream of signals"
expect_status 0 P workspace status "$W" --json
grep -q '"state": *"started"' <<<"$OUT" || fail "the workspace is not running after the signals: $OUT"
ok "STOP, KILL, TERM, INT, HUP, USR1, USR2, QUIT to PID 1 leave the agent answering with the right exit codes"

# ---- the console log --------------------------------------------------------------
[ -f "$WDIR/console.log" ] || fail "no console.log in $WDIR"
expect_status 0 P workspace exec "$W" -- 'echo MARK-OUT; echo MARK-ERR >&2; echo MARK-DEV >/dev/stderr; for f in /proc/1/fd/1 /proc/1/fd/2 /dev/console; do echo MARK-FD 2>/dev/null >>$f; done; true'
sleep 0.2
if grep -q MARK "$WDIR/console.log"; then fail "a command's output reached console.log: $(grep MARK "$WDIR/console.log")"; fi
mode=$(stat -c %a "$WDIR/console.log")
[ "$mode" = 600 ] || fail "console.log has mode $mode"
ok "commands' output never reaches console.log (0600, written by the monitor only)"

answers "$W" "all of the above"
expect_status 0 P workspace delete "$W"
ok "workspace exec of false still exits 1 after every attempt"
