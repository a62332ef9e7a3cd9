#!/bin/bash
# Workspace services end to end (docs/workspaces.md "Services"): a Python
# HTTP server becomes ready by the http probe; the tcp, file and command
# probes; a service that exits 3 is 'failed' with its exit code and log
# tail; a readiness timeout and a hanging readiness command leave no
# process; logs by tail and in full, stdout and stderr apart; stop kills a
# service that ignores TERM and one that forked into a new session; bad
# input starts nothing; a service outlives the CLI killed while it waited;
# workspace stop, reset and delete stop services with their reason and
# leave no service process. Published ports: the http server and a tcp
# echo server are reached from the host through them (bytes both ways);
# a guest cannot reach them through its gateway; bad ports, a busy host
# port and a duplicate name publish nothing; service stop, exit, workspace
# stop, reset and delete leave no listening host port. Runs on both
# backends.
source "$(dirname "$0")/lib.sh"
ws_cleanup() { for w in $(ls "$PYRO_HOME/workspaces" 2>/dev/null); do "$PYRO" workspace delete "$w" >/dev/null 2>&1 || true; done; cleanup_test_tmp; }
trap ws_cleanup EXIT
command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (apt-get install mmdebstrap)"
# debian:12 has python3 (debian:12-base has not).
ENV=${PYRO_WS_TEST_ENV:-debian:12}
P() { "$PYRO" "$@"; }
j() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$TEST_TMP/out')); print(eval(sys.argv[1]))" "$1"; }
assert() { local got; got=$(j "$1"); [ "$got" = "$2" ] || fail "$1: expected '$2', got '$got' in $(cat "$TEST_TMP/out")"; }
save() { echo "$OUT" > "$TEST_TMP/out"; }
# The command lines of the processes in the workspace that match a pattern.
# (One head for all of them: a process per pid takes many seconds under
# TCG on a loaded host.)
procs() {
  P workspace exec "$W" -- "head -v -c 65536 /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -E '$1' | grep -v grep || true" 2>/dev/null
}
no_procs() { local left; left=$(procs "$1"); [ -z "$left" ] || fail "$2: processes left: $left"; }

# A suffix that tells this run's processes from others' (seen from the host).
R=$$
expect_status 0 P workspace create "$ENV" --network-policy egress+published-ports --id-only
W=$OUT
# Whether something listens on the host's TCP port $1.
listening() { [ -n "$(ss -ltnH "sport = :$1")" ]; }
# Polls up to 5 s for the host port $1 to close.
port_closed() {
  for _ in $(seq 1 50); do listening "$1" || return 0; sleep 0.1; done
  fail "$2: host port $1 still listens: $(ss -ltnpH "sport = :$1")"
}

# http: python3 -m http.server, ready when GET / answers. The environment
# has no /etc/hosts, and http.server looks its address up (getfqdn): with
# egress on the vm backend that waits for DNS timeouts (7 s and more under
# TCG), so localhost is named first.
expect_status 0 P workspace exec "$W" -- 'echo "127.0.0.1 localhost" > /etc/hosts'
expect_status 0 P workspace service start "$W" web --ready-http http://127.0.0.1:8000/ --publish 8000 --json -- \
  'sleep 1; exec python3 -m http.server 8000 --bind 127.0.0.1'
save
HP=$(j 'd["published_ports"][0]["host_port"]')
assert '[(p["guest_port"], p["host"], p["protocol"]) for p in d["published_ports"]]' "[(8000, '127.0.0.1', 'tcp')]"
assert 'd["state"]' running
assert 'd["service_name"]' web
assert 'd["readiness"]' "{'type': 'http', 'url': 'http://127.0.0.1:8000/'}"
assert 'd["stop_reason"]' None
assert 'd["exit_code"]' None
assert 'd["cwd"]' /workspace
assert 'd["ready_at"] >= d["started_at"] + 0.9' True
expect_status 0 P workspace exec "$W" -- 'python3 -c "import urllib.request as u; print(u.urlopen(\"http://127.0.0.1:8000/\").status)"'
[ "$OUT" = 200 ] || fail "the http service does not answer: $OUT"
ok "http probe: python3 -m http.server is ready and answers"
[ -n "$(ss -ltnH "src 127.0.0.1 and sport = :$HP")" ] && [ -z "$(ss -ltnH "not src 127.0.0.1 and sport = :$HP")" ] ||
  fail "published port $HP does not listen on 127.0.0.1 only: $(ss -ltnH "sport = :$HP")"
GOT=$(/usr/bin/python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$HP/', timeout=30).read().decode())")
grep -q "Directory listing" <<<"$GOT" || fail "the published port does not reach the http server: $GOT"
# The guest cannot reach the host's published port through its gateway
# (the listener is on the host's loopback only).
expect_status 0 P workspace exec "$W" -- "python3 -c '
import socket, struct
gw = [l.split()[2] for l in open(\"/proc/net/route\") if l.split()[1] == \"00000000\"][0]
gw = socket.inet_ntoa(struct.pack(\"<L\", int(gw, 16)))
try:
    socket.create_connection((gw, $HP), 3); print(\"reached\", gw)
except OSError as e:
    print(\"refused\", gw, e)
'"
grep -q "^refused" <<<"$OUT" || fail "the guest reached the published port through its gateway: $OUT"
ok "published port: the host reaches the http server on 127.0.0.1:$HP; the guest does not"

# tcp: a listener that opens after a second.
# An echo server, published on a host port given by number (free now).
EP=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect_status 0 P workspace service start "$W" tcp --ready-tcp 127.0.0.1:9001 --ready-interval-ms 100 --publish "$EP:9001" \
  --json -- "sleep 1; exec python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\", 9001)); s.listen()
while True:
    c, _ = s.accept()
    for d in iter(lambda: c.recv(65536), b\"\"): c.sendall(d)
    c.close()
'"
save
assert 'd["state"]' running
assert 'd["readiness"]["address"]' 127.0.0.1:9001
assert 'd["published_ports"][0]["host_port"]' "$EP"
ok "tcp probe"
# 3 MB through the published port and back, while the window fills both ways.
GOT=$(/usr/bin/python3 -c "
import hashlib, os, socket, threading
data = os.urandom(3 << 20)
c = socket.create_connection(('127.0.0.1', $EP), 30); c.settimeout(60)
def send():
    c.sendall(data); c.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send); t.start()
got = b''.join(iter(lambda: c.recv(1 << 16), b''))
t.join()
print(len(got), hashlib.sha256(got).digest() == hashlib.sha256(data).digest())")
[ "$GOT" = "3145728 True" ] || fail "echo through the published port: $GOT"
ok "published port: 3 MB echoed both ways through it"

# file: a relative path is resolved against /workspace.
expect_status 0 P workspace service start "$W" filer --ready-file .ready --json -- "sleep 1; touch .ready; exec sleep 611.$R"
save
assert 'd["state"]' running
assert 'd["readiness"]["path"]' /workspace/.ready
ok "file probe (relative to /workspace)"

# command: exit 0 means ready.
expect_status 0 P workspace service start "$W" cmd --ready-command 'test -f /tmp/cmd-ready' --json -- \
  "sleep 1; touch /tmp/cmd-ready; exec sleep 612.$R"
save
assert 'd["state"]' running
assert 'd["readiness"]["command"]' 'test -f /tmp/cmd-ready'
ok "command probe"

# No readiness: running once started.
expect_status 0 P workspace service start "$W" plain --json -- "exec sleep 613.$R"
save
assert 'd["state"]' running
assert 'd["ready_at"] == d["started_at"]' True
ok "no readiness probe: running at once"

# Counts and list.
expect_status 0 P workspace service list "$W" --json
save
assert 'd["count"]' 5
assert 'd["running_count"]' 5
assert 'sorted(s["service_name"] for s in d["services"])' "['cmd', 'filer', 'plain', 'tcp', 'web']"
expect_status 0 P workspace status "$W" --json
save
assert 'd["service_count"]' 5
assert 'd["running_service_count"]' 5
assert 'sorted(p["host_port"] for p in d["published_ports"])' "$(/usr/bin/python3 -c "print(sorted([$HP, $EP]))")"
expect_status 0 P workspace list --json
save
assert '[w["running_service_count"] for w in d["workspaces"] if w["workspace_id"] == "'"$W"'"]' '[5]'
assert '[len(w["published_ports"]) for w in d["workspaces"] if w["workspace_id"] == "'"$W"'"]' '[2]'
expect_status 0 P workspace list
grep "^$W " <<<"$OUT" | grep -q "$HP->8000,$EP->9001 " || fail "workspace list shows no ports: $OUT"
expect_status 0 P workspace service list "$W" --json
save
assert 'sorted((s["service_name"], [p["host_port"] for p in s["published_ports"]]) for s in d["services"] if s["published_ports"])' \
  "[('tcp', [$EP]), ('web', [$HP])]"
ok "service list, workspace status and list count services"

# A service that fails: exit 3, its log tail in the record; the CLI exits 1.
expect_status 1 P workspace service start "$W" bad --ready-file /never --json -- 'echo starting; echo broken >&2; exit 3'
save
assert 'd["state"]' failed
assert 'd["exit_code"]' 3
assert 'd["stop_reason"]' exited
assert 'd["stdout_tail"]' starting
assert '"broken" in d["stderr_tail"]' True
assert 'd["ended_at"] is not None' True
expect_status 0 P workspace service status "$W" bad --json
save
assert 'd["state"]' failed
ok "a service that exits 3 is failed, with exit code and log tail"

# A readiness timeout stops the service: failed, ready_timeout, no process.
expect_status 1 P workspace service start "$W" slow --ready-file /never --ready-timeout-seconds 2 --json -- 'exec sleep 621'
save
assert 'd["state"]' failed
assert 'd["stop_reason"]' ready_timeout
no_procs 'sleep 621' "readiness timeout"
# A readiness command that hangs is killed at its deadline.
expect_status 1 P workspace service start "$W" hang --ready-command 'sleep 622' --ready-interval-ms 200 \
  --ready-timeout-seconds 3 --json -- 'exec sleep 623'
save
assert 'd["state"]' failed
assert 'd["stop_reason"]' ready_timeout
no_procs 'sleep 62[23]' "hanging readiness command"
ok "readiness timeout and a hanging readiness command leave no process"

# Logs: a tail and everything, stdout and stderr apart.
expect_status 0 P workspace service start "$W" chatty --ready-file /tmp/chatty-done --json -- \
  'for i in $(seq 1 50); do echo out$i; done; for i in 1 2 3; do echo err$i >&2; done; touch /tmp/chatty-done; exec sleep 631'
expect_status 0 P workspace service logs "$W" chatty --tail-lines 3 --json
save
assert 'd["stdout"]' "$(printf 'out48\nout49\nout50\n')"
assert 'd["stderr"]' "$(printf 'err1\nerr2\nerr3\n')"
assert 'd["tail_lines"]' 3
assert 'd["truncated"]' False
expect_status 0 P workspace service logs "$W" chatty --all --json
save
assert 'd["stdout"].count("\n")' 50
assert 'd["stdout"].startswith("out1\n")' True
assert 'd["tail_lines"]' None
expect_status 0 P workspace service logs "$W" chatty --tail-lines 2
[ "$OUT" = "$(printf 'out49\nout50')" ] || fail "human logs stdout: $OUT"
[ "$ERR" = "$(printf 'err2\nerr3')" ] || fail "human logs stderr: $ERR"
ok "logs: tail and all, stdout and stderr apart"

# Stop: a service that ignores TERM is killed after the grace period.
# (Ready once the trap is set: a TERM before that would end it at once.)
expect_status 0 P workspace service start "$W" stubborn --ready-file .stubborn --json -- \
  'trap "" TERM; touch .stubborn; sleep 641; sleep 641'
t0=$(date +%s)
expect_status 0 P workspace service stop "$W" stubborn --json
save
assert 'd["state"]' stopped
assert 'd["stop_reason"]' stopped
[ $(($(date +%s) - t0)) -ge 2 ] || fail "a TERM-ignoring service stopped before the grace period"
no_procs 'sleep 641' "stop of a TERM-ignoring service"
# A child that left the session and process group (setsid, double fork).
expect_status 0 P workspace service start "$W" forker --json -- '(setsid sh -c "exec sleep 642" &); exec sleep 643'
sleep 1
[ -n "$(procs 'sleep 642')" ] || fail "the forked child did not start"
expect_status 0 P workspace service stop "$W" forker --json
save
assert 'd["state"]' stopped
no_procs 'sleep 64[23]' "stop of a service whose child left its session"
# Stopping an ended service returns its record.
expect_status 0 P workspace service stop "$W" forker --json
save
assert 'd["state"]' stopped
ok "stop: TERM-ignoring service, child in a new session, idempotent"

# Killing the CLI that waits for readiness loses no service: the agent owns it.
P workspace service start "$W" survivor --ready-file /tmp/survivor -- "sleep 2; touch /tmp/survivor; exec sleep 660.$R" \
  >/dev/null 2>&1 &
CLI=$!
sleep 1
kill -9 "$CLI"
wait "$CLI" 2>/dev/null || true
for _ in $(seq 1 60); do
  expect_status 0 P workspace service status "$W" survivor --json
  save
  [ "$(j 'd["state"]')" = running ] && break
  sleep 0.5
done
assert 'd["state"]' running
assert 'd["ready_at"] is not None' True
ok "a service outlives the CLI killed while it waited for readiness"

# Bad input starts nothing.
expect_status 0 P workspace service list "$W" --json
save
before=$(j 'd["count"]')
expect_status 1 P workspace service start "$W" web -- 'sleep 1'
grep -q "already exists" <<<"$ERR" || fail "duplicate name: $ERR"
expect_status 1 P workspace service start "$W" x1 --ready-tcp nohost -- 'sleep 1'
grep -q "HOST:PORT" <<<"$ERR" || fail "bad tcp address: $ERR"
expect_status 1 P workspace service start "$W" x2 --ready-tcp 127.0.0.1:70000 -- 'sleep 1'
expect_status 1 P workspace service start "$W" x3 --ready-http ftp://127.0.0.1/ -- 'sleep 1'
expect_status 1 P workspace service start "$W" x4 --ready-file a --ready-tcp 127.0.0.1:1 -- 'sleep 1'
expect_status 1 P workspace service start "$W" 'bad/name' -- 'sleep 1'
expect_status 1 P workspace service start "$W" x5 --cwd /etc -- 'sleep 1'
expect_status 1 P workspace service status "$W" nosuch
grep -q "no service named" <<<"$ERR" || fail "unknown service: $ERR"
for bad in 0 70000 abc 1:2:3 :80 0:80; do
  expect_status 2 P workspace service start "$W" x6 --publish "$bad" -- 'sleep 1'
  grep -q "GUEST_PORT with ports in 1..65535" <<<"$ERR" || fail "bad port $bad: $ERR"
done
expect_status 1 P workspace service start "$W" x7 --publish "$HP:8000" -- 'exec sleep 671'
grep -q "host port $HP on 127.0.0.1 is busy" <<<"$ERR" || fail "busy host port: $ERR"
# A duplicate name is refused before any port is bound; the first keeps its.
expect_status 1 P workspace service start "$W" web --publish 8001 -- 'sleep 1'
grep -q "already exists" <<<"$ERR" || fail "duplicate name with a port: $ERR"
expect_status 0 P workspace service status "$W" web --json
save
assert '[p["host_port"] for p in d["published_ports"]]' "[$HP]"
no_procs 'sleep 671' "busy host port"
expect_status 0 P workspace service list "$W" --json
save
assert 'd["count"]' "$before"
assert 'sum(len(s["published_ports"]) for s in d["services"])' 2
ok "duplicate name, bad readiness, bad name, bad cwd, unknown service, bad or busy port: errors, nothing started"

# Service stop and a service's own exit close its ports.
expect_status 0 P workspace service start "$W" pub1 --publish 7001 --json -- "exec sleep 672.$R"
save
P1=$(j 'd["published_ports"][0]["host_port"]')
listening "$P1" || fail "pub1's port $P1 does not listen"
expect_status 0 P workspace service stop "$W" pub1 --json
save
assert 'd["published_ports"]' '[]'
port_closed "$P1" "service stop"
expect_status 0 P workspace service start "$W" pub2 --publish 7002 --json -- "sleep 1"
save
P2=$(j 'd["published_ports"][0]["host_port"]')
port_closed "$P2" "the service's exit"
ok "service stop and exit close the service's published ports"

# Workspace stop stops the services with their reason; none runs after start.
expect_status 0 P workspace stop "$W" --json
save
assert 'sorted(s["service_name"] for s in d["stopped_services"])' "['chatty', 'cmd', 'filer', 'plain', 'survivor', 'tcp', 'web']"
assert 'set(s["stop_reason"] for s in d["stopped_services"])' "{'workspace_stopped'}"
assert 'set(s["state"] for s in d["stopped_services"])' "{'stopped'}"
if on_sandbox; then ! pgrep -f "sleep 61[123].$R" >/dev/null || fail "service processes outlived workspace stop"; fi
port_closed "$HP" "workspace stop"
port_closed "$EP" "workspace stop"
expect_status 0 P workspace status "$W" --json
save
assert 'd["service_count"]' 0
expect_status 0 P workspace start "$W"
no_procs 'sleep 61[123]|sleep 660|http.server' "workspace stop"
ok "workspace stop stops services (stop_reason workspace_stopped)"

# Reset and delete.
expect_status 0 P workspace service start "$W" r1 --publish 7003 --json -- "exec sleep 651.$R"
save
P3=$(j 'd["published_ports"][0]["host_port"]')
expect_status 0 P workspace reset "$W" --json
save
port_closed "$P3" "workspace reset"
assert '[(s["service_name"], s["stop_reason"]) for s in d["stopped_services"]]' "[('r1', 'reset')]"
no_procs 'sleep 651' "reset"
expect_status 0 P workspace service list "$W" --json
save
assert 'd["count"]' 0
expect_status 0 P workspace service start "$W" d1 --publish 7004 --json -- "exec sleep 652.$R"
save
P4=$(j 'd["published_ports"][0]["host_port"]')
expect_status 0 P workspace delete "$W" --json
save
port_closed "$P4" "workspace delete"
assert '[(s["service_name"], s["stop_reason"]) for s in d["stopped_services"]]' "[('d1', 'deleted')]"
if on_sandbox; then ! pgrep -f "sleep 65[12].$R" >/dev/null || fail "service processes outlived reset or delete"; fi
ok "reset and delete stop services (stop_reason reset, deleted) and close their published ports"
