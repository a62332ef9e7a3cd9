#!/usr/bin/env bash
# Workspace network policies and egress allow-lists (docs/workspaces.md,
# "Network"), on the sandbox backend and (as integration.test_netpol.vm) on
# the vm backend. Every server is the test's own: TCP servers and a DNS
# server in an "outside" network namespace behind a veth of its own; the
# workspace's DNS filter forwards to that DNS server ($PYRO_DNS_UPSTREAM).
# Published ports: refused under egress, a connection to a guest port nothing
# listens on is closed, kill -9 of the monitor closes them; as a user, one
# reaches a perl server in the guest.
source "$(dirname "$0")/lib.sh"
ENV=debian:12-base
"$PYRO" env pull "$ENV" >/dev/null

# Bad input changes nothing, as any user.
expect_status 2 "$PYRO" workspace create "$ENV" --network-policy bogus
grep -q "network-policy must be one of off, egress, egress+published-ports" <<<"$ERR" || fail "unknown policy: $ERR"
expect_status 1 "$PYRO" workspace create "$ENV" --network-policy off --allow-host example.test
grep -q "allow_hosts needs network_policy egress" <<<"$ERR" || fail "allow_hosts with off: $ERR"
for bad in 'bad host' 'exa!mple.test' '*' '1.2.3' '10.0.0.0/33' 'a..b' '-a.test' '*.*.test'; do
  expect_status 1 "$PYRO" workspace create "$ENV" --network-policy egress --allow-host "$bad"
  grep -q "allow_hosts entr" <<<"$ERR" || fail "allow-list entry '$bad': $ERR"
done
expect_status 1 "$PYRO" workspace create "$ENV" --network-policy egress --allow-host 2001:db8::/32
grep -q "IPv6 is not supported" <<<"$ERR" || fail "IPv6 CIDR: $ERR"
expect_status 0 "$PYRO" workspace list --json
[ "$(jget count <<<"$OUT")" = 0 ] || fail "bad input created a workspace: $OUT"
ok "an unknown policy, allow_hosts with off and bad allow-list entries are refused; nothing created"

# As an ordinary user egress is pasta's, which pyro cannot filter by
# destination: allow_hosts is refused, and the workspace removed.
if [ "$(id -u)" != 0 ]; then
  expect_status 1 "$PYRO" workspace create "$ENV" --network-policy egress --allow-host allowed.test
  grep -q "allow_hosts needs root" <<<"$ERR" || fail "allow_hosts as a user: $ERR"
  expect_status 0 "$PYRO" workspace list --json
  [ "$(jget count <<<"$OUT")" = 0 ] || fail "a refused allow-list left a workspace: $OUT"
  ok "as an ordinary user allow_hosts is refused with a clear error; nothing is left"
  # Published ports need no privilege: the monitor listens on the host's
  # loopback and forwards through the agent (perl serves in the guest).
  WS=$("$PYRO" workspace create "$ENV" --network-policy egress+published-ports --json | jget workspace_id)
  expect_status 0 "$PYRO" workspace service start "$WS" web --ready-tcp 127.0.0.1:8080 --publish 8080 --json -- \
    'exec perl -MIO::Socket::INET -e '"'"'$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 8080,
      Listen => 5, ReuseAddr => 1) or die; while ($c = $s->accept) { while (<$c>) { last if /^\r?$/ }
      print $c "HTTP/1.0 200 OK\r\n\r\nhello-user\n"; close $c }'"'"
  HP=$(jget published_ports.0.host_port <<<"$OUT")
  GOT=$(/usr/bin/python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$HP/', timeout=30).read().decode())")
  [ "$GOT" = hello-user ] || fail "published port as a user: $GOT"
  "$PYRO" workspace delete "$WS" >/dev/null
  [ -z "$(ss -ltnH "sport = :$HP")" ] || fail "published port $HP outlived workspace delete (as a user)"
  ok "as an ordinary user a published port reaches the service and goes with the workspace"
  skip "the network tests build network namespaces and veth links, which need root (every user part passed)"
fi

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("",0)); print(s.getsockname()[1])')
N=$(( $$ % 200 + 20 ))
NS="pyronp$N"; LINK="pyronp$N"; PFX="198.18.$N"
EXT_HOST="$PFX.1"; SRV_A="$PFX.2"; SRV_B="$PFX.3"; SRV_C="$PFX.4"
net_cleanup() {
  kill ${SERVERS:-} 2>/dev/null || true
  ip link del "$LINK" 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true
}
trap 'net_cleanup; cleanup_test_tmp' EXIT
ip netns add "$NS"
ip link add "$LINK" type veth peer name ext0 netns "$NS"
ip addr add "$EXT_HOST/29" dev "$LINK"; ip link set "$LINK" up
for a in $SRV_A $SRV_B $SRV_C; do ip -n "$NS" addr add "$a/29" dev ext0; done
ip -n "$NS" link set ext0 up; ip -n "$NS" link set lo up
# TCP: every connection gets "hello <the address it reached>".
ip netns exec "$NS" /usr/bin/python3 -c '
import socket, socketserver, sys
class H(socketserver.BaseRequestHandler):
    def handle(self): self.request.sendall(b"hello " + self.request.getsockname()[0].encode() + b"\n")
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()' "$PORT" &
SERVERS="$!"
# DNS on $SRV_A:53: A records for the names below (TTL 300), NXDOMAIN else.
ip netns exec "$NS" /usr/bin/python3 -c '
import socket, struct, sys
names = dict(a.split("=") for a in sys.argv[2:])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 53))
while True:
    q, peer = s.recvfrom(4096)
    o, labels = 12, []
    while q[o]: labels.append(q[o+1:o+1+q[o]].decode().lower()); o += 1 + q[o]
    qtype = struct.unpack("!H", q[o+1:o+3])[0]; o += 5
    name = ".".join(labels); addr = names.get(name)
    ans = b""
    if addr and qtype == 1:
        ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + socket.inet_aton(addr)
    flags = 0x8180 if addr else 0x8183
    s.sendto(q[:2] + struct.pack("!HHHHH", flags, 1, 1 if ans else 0, 0, 0) + q[12:o] + ans, peer)
' "$SRV_A" "allowed.test=$SRV_A" "denied.test=$SRV_B" "a.wild.test=$SRV_A" "wild.test=$SRV_B" &
SERVERS="$SERVERS $!"
export PYRO_DNS_UPSTREAM="$SRV_A"
sleep 0.5

# probe HOST: "HOST hello ADDR" or "HOST refused" (bash resolves names itself).
probe() { echo "$1 $(timeout 5 bash -c "exec 3<>/dev/tcp/$1/$PORT && cat <&3" 2>/dev/null || echo refused)"; }
# dns SERVER: a raw query for allowed.test straight to SERVER, port 53.
dns() {
  echo "dns $1 $(timeout 5 bash -c "exec 3<>/dev/udp/$1/53
    printf '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07allowed\x04test\x00\x00\x01\x00\x01' >&3
    IFS= read -r -t 3 -N 2 x <&3 && echo answered" 2>/dev/null || echo none)"
}
guest() { expect_status 0 "$PYRO" workspace exec "$1" -- "$(declare -f probe dns); PORT=$PORT; $2"; }

# off: only lo, nothing reachable.
WS=$("$PYRO" workspace create "$ENV" --network-policy off --json | jget workspace_id)
expect_status 0 "$PYRO" workspace status "$WS" --json
[ "$(jget network_policy <<<"$OUT")" = off ] || fail "status of off: $OUT"
guest "$WS" "ls /sys/class/net | tr '\n' ' '; echo; probe $SRV_A"
grep -q '^lo $' <<<"$OUT" && grep -q "^$SRV_A refused$" <<<"$OUT" || fail "policy off: $OUT"
"$PYRO" workspace delete "$WS" >/dev/null
ok "network_policy off: only lo, the outside server is not reached"

# egress: every outside address; the policy is in status and list.
WS=$("$PYRO" workspace create "$ENV" --network-policy egress --json | jget workspace_id)
expect_status 0 "$PYRO" workspace list --json
[ "$(jget workspaces.0.network_policy <<<"$OUT")" = egress ] || fail "list of egress: $OUT"
guest "$WS" "probe $SRV_A; probe $SRV_B; dns $SRV_A"
grep -q "^$SRV_A hello $SRV_A$" <<<"$OUT" && grep -q "^$SRV_B hello $SRV_B$" <<<"$OUT" || fail "policy egress: $OUT"
grep -q "^dns $SRV_A answered$" <<<"$OUT" || fail "egress without a list: no answer from the DNS server: $OUT"
# Publishing a port needs egress+published-ports: refused, nothing started.
expect_status 1 "$PYRO" workspace service start "$WS" pub --publish 8000 -- 'exec sleep 600'
grep -q "published_ports needs network_policy egress+published-ports" <<<"$ERR" || fail "publish under egress: $ERR"
[ "$("$PYRO" workspace service list "$WS" --json | jget count)" = 0 ] || fail "publish under egress started a service"
"$PYRO" workspace delete "$WS" >/dev/null
WS=$("$PYRO" workspace create "$ENV" --network-policy egress+published-ports --json | jget workspace_id)
[ "$("$PYRO" workspace status "$WS" --json | jget network_policy)" = egress+published-ports ] ||
  fail "egress+published-ports not recorded"
guest "$WS" "probe $SRV_B"
grep -q "^$SRV_B hello $SRV_B$" <<<"$OUT" || fail "policy egress+published-ports: $OUT"
# A published port whose guest port nothing listens on: a connection is
# accepted on the host and closed (the guest refused it).
expect_status 0 "$PYRO" workspace service start "$WS" idle --publish 9 --json -- 'exec sleep 600'
HP=$(jget published_ports.0.host_port <<<"$OUT")
GOT=$(/usr/bin/python3 -c "import socket; c=socket.create_connection(('127.0.0.1', $HP), 10); c.settimeout(30); print(repr(c.recv(10)))")
[ "$GOT" = "b''" ] || fail "a connection to a guest port nothing listens on: $GOT"
# kill -9 of the monitor takes its published ports along; status says so.
kill -9 "$(jget pid <"$PYRO_HOME/workspaces/$WS/monitor.json")"
for _ in $(seq 1 50); do [ -z "$(ss -ltnH "sport = :$HP")" ] && break; sleep 0.1; done
[ -z "$(ss -ltnH "sport = :$HP")" ] || fail "published port $HP outlived kill -9 of the monitor"
expect_status 0 "$PYRO" workspace status "$WS" --json
[ "$(jget state <<<"$OUT")" != started ] && [ "$(jget published_ports <<<"$OUT")" = "[]" ] ||
  fail "status after kill -9 of the monitor: $OUT"
"$PYRO" workspace delete "$WS" >/dev/null
ok "network_policy egress and egress+published-ports reach the outside server; status and list show the policy; only egress+published-ports publishes, and its ports go with the monitor"

# egress with an allow-list: listed names (exact and wildcard) and CIDRs
# only; other names do not resolve, other addresses and other DNS servers
# are not reached, also by a process that resolves nothing.
WS=$("$PYRO" workspace create "$ENV" --network-policy egress --allow-host Allowed.Test. --allow-host '*.wild.test' \
  --allow-host "$SRV_C/32" --json | jget workspace_id)
expect_status 0 "$PYRO" workspace status "$WS" --json
[ "$(jget allow_hosts <<<"$OUT")" = "[\"allowed.test\", \"*.wild.test\", \"$SRV_C/32\"]" ] ||
  fail "allow_hosts in status: $OUT"
guest "$WS" "cat /etc/resolv.conf; probe $SRV_B; probe $SRV_A; probe allowed.test; probe a.wild.test; probe $SRV_C
  probe denied.test; probe wild.test; probe $SRV_B; getent hosts denied.test || echo 'denied.test unresolved'
  dns $SRV_A; dns $SRV_B; dns 8.8.8.8"
echo "$OUT" | sed 's/^/  # /'
grep -q "^$SRV_B refused$" <<<"$OUT" || fail "a raw address not on the list was reached: $OUT"
grep -q "^allowed.test hello $SRV_A$" <<<"$OUT" || fail "an allowed name was not reached: $OUT"
grep -q "^a.wild.test hello $SRV_A$" <<<"$OUT" || fail "a name under a wildcard was not reached: $OUT"
grep -q "^$SRV_C hello $SRV_C$" <<<"$OUT" || fail "an allowed CIDR was not reached: $OUT"
grep -q "^denied.test refused$" <<<"$OUT" && grep -q "^denied.test unresolved$" <<<"$OUT" ||
  fail "a name not on the list resolved or was reached: $OUT"
grep -q "^wild.test refused$" <<<"$OUT" || fail "the wildcard's own name was reached: $OUT"
# (its address was never resolved for an allowed name, so still refused)
[ "$(grep -c "^$SRV_B refused$" <<<"$OUT")" = 2 ] || fail "denied.test's address became reachable: $OUT"
grep -q "^dns $SRV_A none$" <<<"$OUT" && grep -q "^dns $SRV_B none$" <<<"$OUT" && grep -q "^dns 8.8.8.8 none$" <<<"$OUT" ||
  fail "a hard-coded DNS server answered: $OUT"
on_vm || grep -q "^nameserver 10.213" <<<"$OUT" || fail "the sandbox's resolver is not the filter: $OUT"
# stop and start: the policy and the list come back from the record.
"$PYRO" workspace stop "$WS" >/dev/null
"$PYRO" workspace start "$WS" >/dev/null
guest "$WS" "probe allowed.test; probe $SRV_B"
grep -q "^allowed.test hello $SRV_A$" <<<"$OUT" && grep -q "^$SRV_B refused$" <<<"$OUT" ||
  fail "the allow-list after stop and start: $OUT"
# The filter answers the instance only: not the host.
GW=$(ss -Hlun | awk '$4 ~ /^10\.213\..*:53$/ {print $4}' | head -1)
[ -n "$GW" ] || fail "no DNS filter listening: $(ss -Hlun)"
GWADDR=$(sed 's/[%:].*//' <<<"$GW")
HOSTDNS=$(timeout 5 bash -c "$(declare -f dns); dns $GWADDR" || true)
[ "$HOSTDNS" = "dns $GWADDR none" ] || fail "the host got an answer from the DNS filter $GW: $HOSTDNS"
HASH=$(nft list sets inet 2>/dev/null | grep -o 'pyro_d_[0-9a-f]*' | head -1)
SET=$(nft list set inet pyro_guard "$HASH" 2>&1 || true)
[ -n "$HASH" ] && grep -q "$SRV_A timeout" <<<"$SET" || fail "no resolved address in the set $HASH: $SET"
"$PYRO" workspace delete "$WS" >/dev/null
RULES=$(nft list table inet pyro_guard 2>/dev/null || true)
grep -q "pyro:$WS" <<<"$RULES" && fail "guard rule left behind"
grep -q "pyro_[cd]_" <<<"$RULES" && fail "allow-list set left behind: $RULES"
sleep 1.5
LISTEN=$(ss -Hlun)
grep -qF "$GW" <<<"$LISTEN" && fail "DNS filter still listening after delete: $LISTEN"
ok "allow_hosts: listed names, wildcards and CIDRs reached; other names, addresses and DNS servers not; removed with the workspace"

# kill -9 of the monitor: the filter goes with it; delete removes the rest.
WS=$("$PYRO" workspace create "$ENV" --network-policy egress --allow-host allowed.test --json | jget workspace_id)
MON=$(jget pid <"$PYRO_HOME/workspaces/$WS/monitor.json")
# (this workspace's filter, on its own link: other suites may run theirs)
IF=$(jget network.host_ifname <"$PYRO_HOME/workspaces/$WS/monitor.json")
[ -n "$IF" ] || fail "no host interface in monitor.json"
LISTEN=$(ss -Hlun)
grep -q "10\.213\.[0-9.]*%$IF:53 " <<<"$LISTEN" || fail "no DNS filter listening on $IF: $LISTEN"
guest "$WS" "probe allowed.test"
grep -q "^allowed.test hello $SRV_A$" <<<"$OUT" || fail "an allowed name was not reached: $OUT"
kill -9 "$MON"
sleep 2
LISTEN=$(ss -Hlun)
grep -q "10\.213\.[0-9.]*%$IF:53 " <<<"$LISTEN" && fail "DNS filter outlived its monitor: $LISTEN"
# The next start clears what the dead monitor left (its set's addresses)
# before it builds the instance's rules again.
HASH=$(nft list sets inet 2>/dev/null | grep -o 'pyro_d_[0-9a-f]*' | head -1)
SET=$(nft list set inet pyro_guard "$HASH" 2>&1 || true)
[ -n "$HASH" ] && grep -q "$SRV_A" <<<"$SET" || fail "no resolved address in the dead monitor's set $HASH: $SET"
"$PYRO" workspace start "$WS" >/dev/null
SET=$(nft list set inet pyro_guard "$HASH" 2>&1 || true)
grep -q "$SRV_A" <<<"$SET" && fail "the dead monitor's resolved address survived the next start: $SET"
guest "$WS" "probe allowed.test; probe $SRV_B"
grep -q "^allowed.test hello $SRV_A$" <<<"$OUT" && grep -q "^$SRV_B refused$" <<<"$OUT" ||
  fail "the allow-list after kill -9 and start: $OUT"
"$PYRO" workspace delete "$WS" >/dev/null
RULES=$(nft list table inet pyro_guard 2>/dev/null || true)
grep -q "pyro:$WS\|pyro_[cd]_" <<<"$RULES" && fail "rules or sets left after kill -9 and delete: $RULES"
ok "after kill -9 of the monitor the DNS filter is gone, the next start clears its set, and delete removes rules and sets"
