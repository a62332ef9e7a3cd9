# Sourced by test_vm.sh when it runs as an ordinary user: egress through
# pasta (docs/vm.md, "Network as an ordinary user"). The sandbox reaches
# the host's resolver (when the host resolves names itself) and, with the
# operator's PYRO_EGRESS_ALLOW_HOST=1, the host's own address; without it the
# guard refuses the host's address, the gateway and link-local with
# "administratively prohibited" (EHOSTUNREACH, "No route to host"), and the
# host's 127.0.0.1 is out of reach. pasta goes with the sandbox: delete,
# and kill -9 of the monitor. Without pasta on PATH the start fails naming
# the package, and nothing runs. (tests/unit/test_sandbox_net.c adds an
# outside host and 169.254.169.254 answering, which need root to build.)
# What the host lacks goes to NET_SKIP; test_vm.sh skips at its end.
if ! command -v pasta >/dev/null; then
  NET_SKIP="pasta is not installed (apt-get install passt)"
elif [ ! -r /dev/net/tun ] || [ ! -w /dev/net/tun ]; then
  NET_SKIP="/dev/net/tun is not readable and writable by $(id -un) (Debian's udev makes it 0666)"
elif [ ! -x /usr/sbin/nft ] && ! command -v nft >/dev/null; then
  NET_SKIP="nft is not installed (apt-get install nftables)"
else
  HOST_IP=$(/usr/bin/python3 -c '
import socket, fcntl, struct, array
for _, name in socket.if_nameindex():
    if name == "lo": continue
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try: a = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name.encode()))
    except OSError: continue
    print(socket.inet_ntoa(a[20:24])); break')
  [ -n "$HOST_IP" ] || fail "the host has no IPv4 address off loopback (test set-up)"
  # A server on all the host's addresses and one on its 127.0.0.1 that log
  # every peer they accept (and answer "hello PEER").
  userv() {
    exec /usr/bin/python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
while True:
    c, a = s.accept(); print(a[0], flush=True); c.sendall(b"hello " + a[0].encode() + b"\n"); c.close()' "$1" >"$2"
  }
  userv 0.0.0.0 "$TEST_TMP/host.log" &
  HOSTSRV=$!
  userv 127.0.0.1 "$TEST_TMP/lo.log" &
  LOSRV=$!
  trap 'kill $HOSTSRV $LOSRV 2>/dev/null; cleanup_test_tmp' EXIT
  for i in $(seq 50); do [ -s "$TEST_TMP/host.log" ] && [ -s "$TEST_TMP/lo.log" ] && break; sleep 0.1; done
  PORT=$(head -1 "$TEST_TMP/host.log"); LOPORT=$(head -1 "$TEST_TMP/lo.log")
  # "ADDR prohibited" for the guard's refusal, "ADDR refused" for any
  # other failure, else "ADDR <the answer>" (POSIX sh: it runs under sh -c).
  uprobe() {
    if out=$(timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2 && cat <&3" 2>&1); then echo "$1 $out"; return; fi
    case $out in
      *"No route to host"*) echo "$1 prohibited" ;;
      *) echo "$1 refused" ;;
    esac
  }
  # On the vm backend pasta serves QEMU's network namespace (its state in
  # vm.json), and the guest is QEMU's user-mode 10.0.2.15 behind it: the
  # guest's 10.0.2.2 is that namespace's own loopback, and a connection the
  # guard refuses reaches the guest as QEMU makes it (unreachable or reset).
  if on_vm; then
    STATE=vm.json; GUEST=10.0.2.15; DENIED='(prohibited|refused)'
  else
    STATE=sandbox.json; GUEST=10.0.2.100; DENIED=prohibited
  fi
  pasta_pid() { jget pasta_pid <"$PYRO_HOME/vms/$1/sandbox/$STATE"; }
  # Gone: no such process, or a zombie nobody reaped yet.
  gone() { [ ! -e "/proc/$1" ] || grep -q '^[^)]*) [ZX]' "/proc/$1/stat" 2>/dev/null; }

  ID=$("$PYRO" vm create "$ENV" --network --id-only)
  "$PYRO" vm start "$ID" >/dev/null
  expect_status 0 "$PYRO" vm network-info "$ID" --json
  [ "$(jget policy <<<"$OUT")" = egress ] && [ "$(jget guest_ip <<<"$OUT")" = $GUEST ] &&
    [ "$(jget gateway_ip <<<"$OUT")" = 10.0.2.2 ] && [ "$(jget prefix_len <<<"$OUT")" = 24 ] &&
    [ "$(jget host_interface <<<"$OUT")" = "" ] || fail "network-info as a user: $OUT"
  PASTA=$(pasta_pid "$ID")
  gone "$PASTA" && fail "pasta ($PASTA) does not run while its sandbox does"
  if on_vm; then
    # QEMU is the user alone, in a user namespace of its own that owns its
    # other namespaces, with no capability left.
    QPID=$(jget sandbox_pid <"$PYRO_HOME/vms/$ID/monitor.json")
    [ "$(awk '{print $1, $2, $3}' "/proc/$QPID/uid_map")" = "$(id -u) $(id -u) 1" ] &&
      [ "$(awk '{print $1, $2, $3}' "/proc/$QPID/gid_map")" = "$(id -g) $(id -g) 1" ] ||
      fail "QEMU's id maps: $(cat "/proc/$QPID/uid_map" "/proc/$QPID/gid_map")"
    [ "$(readlink "/proc/$QPID/ns/user")" != "$(readlink /proc/self/ns/user)" ] || fail "QEMU has no user namespace"
    [ "$(readlink "/proc/$QPID/ns/net")" != "$(readlink /proc/self/ns/net)" ] || fail "QEMU is in the host's network"
    grep -q "^Uid:	$(id -u)	" "/proc/$QPID/status" && grep -q '^CapEff:	0000000000000000$' "/proc/$QPID/status" &&
      grep -q '^CapBnd:	0000000000000000$' "/proc/$QPID/status" || fail "QEMU's credentials: $(grep -E '^(Uid|Cap)' "/proc/$QPID/status")"
  fi
  # Loaded inside the sandbox, so nothing of it is on the host.
  grep -q 'table inet pyro_guard' "$PYRO_HOME/vms/$ID/sandbox/guard.nft" || fail "no guard file"
  HOSTDNS=$(getent hosts deb.debian.org || true)
  # vm exec deletes the VM after its command.
  expect_status 0 "$PYRO" vm exec "$ID" -- "ls /sys/class/net | tr '\n' ' '; echo;
    grep -c '$GUEST' /proc/net/fib_trie; grep -q '^eth0	00000000	0202000A' /proc/net/route && echo via-gw;
    $(declare -f uprobe); uprobe $HOST_IP $PORT; uprobe 10.0.2.2 $PORT; uprobe 127.0.0.1 $LOPORT;
    uprobe 0.0.0.0 $LOPORT; uprobe 169.254.169.254 80; getent hosts deb.debian.org || echo no-dns"
  grep -q '^eth0 lo $' <<<"$OUT" || fail "interfaces with pasta: $OUT"
  grep -q '^via-gw$' <<<"$OUT" || fail "no default route via 10.0.2.2: $OUT"
  grep -Eq "^$HOST_IP $DENIED$" <<<"$OUT" || fail "the host's address was not refused by the guard: $OUT"
  if on_vm; then
    grep -q "^10.0.2.2 refused$" <<<"$OUT" || fail "the gateway is not QEMU's own namespace: $OUT"
  else
    grep -q "^10.0.2.2 prohibited$" <<<"$OUT" || fail "the gateway was not refused by the guard: $OUT"
  fi
  grep -Eq "^169.254.169.254 $DENIED$" <<<"$OUT" || fail "link-local was not refused by the guard: $OUT"
  grep -q "^127.0.0.1 refused$" <<<"$OUT" && grep -q "^0.0.0.0 refused$" <<<"$OUT" ||
    fail "loopback inside is not the sandbox's own: $OUT"
  [ "$(wc -l <"$TEST_TMP/host.log")" = 1 ] && [ "$(wc -l <"$TEST_TMP/lo.log")" = 1 ] ||
    fail "a host server was reached: $(cat "$TEST_TMP/host.log" "$TEST_TMP/lo.log")"
  if [ -n "$HOSTDNS" ]; then
    grep -q "deb.debian.org" <<<"$OUT" || fail "no DNS inside although the host resolves: $OUT"
  fi
  assert_gone "$ID"
  gone "$PASTA" || fail "pasta ($PASTA) survives the deleted sandbox"
  ok "a user's egress: the guard refuses the host, its gateway and link-local; own loopback; DNS; pasta gone"

  # kill -9 of the monitor takes pasta along; reap cleans the rest.
  ID=$("$PYRO" vm create "$ENV" --network --id-only)
  "$PYRO" vm start "$ID" >/dev/null
  PASTA=$(pasta_pid "$ID")
  kill -9 "$(monitor_pid "$ID")"
  for i in $(seq 50); do gone "$PASTA" && break; sleep 0.1; done
  gone "$PASTA" || fail "pasta ($PASTA) survived its monitor"
  "$PYRO" vm reap-expired >/dev/null
  assert_gone "$ID"
  ok "kill -9 of a user's monitor: pasta gone with it, reap cleans up"

  # The operator's opt-in: the host's own address is reached (through
  # pasta's socket on the host: the server sees the host's address).
  ID=$(PYRO_EGRESS_ALLOW_HOST=1 "$PYRO" vm create "$ENV" --network --id-only)
  PYRO_EGRESS_ALLOW_HOST=1 "$PYRO" vm start "$ID" >/dev/null
  expect_status 0 "$PYRO" vm exec "$ID" -- "$(declare -f uprobe); uprobe $HOST_IP $PORT; uprobe 127.0.0.1 $LOPORT"
  grep -q "^$HOST_IP hello $HOST_IP$" <<<"$OUT" || fail "PYRO_EGRESS_ALLOW_HOST=1: the host's address not reached: $OUT"
  grep -q "^127.0.0.1 refused$" <<<"$OUT" || fail "PYRO_EGRESS_ALLOW_HOST=1: loopback not the sandbox's own: $OUT"
  [ "$(wc -l <"$TEST_TMP/lo.log")" = 1 ] || fail "the host's 127.0.0.1 was reached: $(cat "$TEST_TMP/lo.log")"
  assert_gone "$ID"
  ok "PYRO_EGRESS_ALLOW_HOST=1 lets a user's sandbox reach the host's address, never its loopback"

  # No pasta on PATH: a clear error naming the package; nothing runs.
  mkdir -p "$TEST_TMP/bin"
  for t in newuidmap newgidmap; do ln -sf "$(command -v $t)" "$TEST_TMP/bin/$t"; done
  expect_status 1 env PATH="$TEST_TMP/bin" "$PYRO" run "$ENV" --network -- true
  grep -q "apt-get install passt" <<<"$ERR" || fail "no pasta: the error does not name the package: $ERR"
  [ -z "$(ls "$PYRO_HOME/vms")" ] || fail "no pasta: an instance remains: $(ls "$PYRO_HOME/vms")"
  ID=$("$PYRO" vm create "$ENV" --network --id-only)
  expect_status 1 env PATH="$TEST_TMP/bin" "$PYRO" vm start "$ID"
  grep -q "apt-get install passt" <<<"$ERR" || fail "no pasta: vm start does not name the package: $ERR"
  [ ! -e "$PYRO_HOME/vms/$ID/sandbox" ] || fail "no pasta: vm start left $(ls "$PYRO_HOME/vms/$ID/sandbox")"
  "$PYRO" vm delete "$ID" >/dev/null
  ok "without pasta, network as a user fails naming apt-get install passt and leaves nothing"
  kill "$HOSTSRV" "$LOSRV" 2>/dev/null || true
  wait "$HOSTSRV" "$LOSRV" 2>/dev/null || true
  trap cleanup_test_tmp EXIT
fi
