#!/bin/bash
# The vm backend (QEMU microvm, TCG on hosts without usable KVM): the guest
# runs its own kernel, PID 1 is the agent, no host process is visible, only
# lo without network; the backend is chosen per call or by $PYRO_BACKEND;
# allow_host_compat falls back to the sandbox; a killed QEMU or monitor
# leaves nothing once reap-expired ran.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "the VM artifacts are built as root here (apt-get download, mkfs.ext4 -d of a root-owned tree)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (scripts/deps.sh)"
ENV=debian:12-base
"$PYRO" env pull "$ENV" >/dev/null 2>&1 || fail "could not pull $ENV"

# Nothing of VM $1's jail is left: no cgroup, no veth $2, no nft rule.
no_jail_left() {
  local c
  for c in /sys/fs/cgroup/*/pyro/"$1" /sys/fs/cgroup/pyro/"$1"; do
    [ -e "$c" ] && fail "cgroup $c remains"
  done
  [ -z "${2:-}" ] || ! ip link show "$2" >/dev/null 2>&1 || fail "veth $2 remains"
  # (grep on a copy: `nft | grep -q` fails under pipefail when grep quits early)
  local rules
  rules=$(nft list ruleset 2>/dev/null || true)
  grep -q "pyro:$1" <<<"$rules" && fail "nft rules of $1 remain: $(grep "pyro:$1" <<<"$rules")"
  return 0
}

no_qemu_left() {
  local p
  for p in $(pgrep -f "qemu-system-x86_64 -name pyro-" || true); do
    grep -q "$PYRO_HOME" "/proc/$p/cmdline" 2>/dev/null && fail "a QEMU of this test still runs: $(tr '\0' ' ' <"/proc/$p/cmdline")"
  done
  return 0
}

# One boot: the kernel, PID 1, the processes and links seen from inside.
expect_status 0 "$PYRO" run --backend vm "$ENV" --json -- \
  'uname -r; cat /proc/1/comm; ls /sys/class/net | tr "\n" " "; echo; hostname; for p in /proc/[0-9]*; do [ -s $p/cmdline ] && echo $p; done | wc -l; cat /proc/[0-9]*/comm | sort -u | tr "\n" " "'
[ "$(jget execution_mode <<<"$OUT")" = vm ] || fail "execution_mode: $OUT"
accel=$(jget accelerator <<<"$OUT")
case "$accel" in kvm | tcg) ;; *) fail "accelerator: $OUT" ;; esac
mapfile -t lines < <(jget stdout <<<"$OUT")
[ "${lines[0]}" != "$(uname -r)" ] || fail "the guest runs the host's kernel ${lines[0]}"
[ "${lines[1]}" = init ] || fail "PID 1 is ${lines[1]}, not the agent (/init)"
[ "${lines[2]}" = "lo " ] || fail "links without network: '${lines[2]}'"
[ "${lines[3]}" = "$(jget vm_id <<<"$OUT")" ] || fail "hostname ${lines[3]}"
[ "${lines[4]}" -lt 10 ] || fail "${lines[4]} user processes visible inside"
grep -qE 'pyro-monitor|qemu|systemd' <<<"${lines[5]}" && fail "host processes visible inside: ${lines[5]}"
[ -z "$(ls "$PYRO_HOME/vms" 2>/dev/null)" ] || fail "run left a VM behind"
no_qemu_left
ok "guest kernel ${lines[0]} ($accel), PID 1 the agent, only lo, nothing of the host visible"

# Another agent binary (another pyro build) rebuilds only the initramfs,
# recorded with the agent's sha256 in the manifest; the original agent's
# initramfs comes back the same way.
AGENT=${PYRO_AGENT:-$PYRO_BUILD_DIR/pyro-agent}
cp "$AGENT" "$TEST_TMP/agent" && printf 'x' >>"$TEST_TMP/agent"
INSTALL=$("$PYRO" env inspect "$ENV" --json | jget cache_path)
for a in "$TEST_TMP/agent" "$AGENT"; do
  expect_status 0 env PYRO_AGENT="$a" "$PYRO" run --backend vm "$ENV" -- true
  want=$(sha256sum "$a" | cut -d' ' -f1)
  read -r got sha size < <(/usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))
a=[x for x in m["artifacts"] if x["name"]=="vm-initramfs"][0]; print(a["agent_sha256"], a["sha256"], a["size"])' "$INSTALL/manifest.json")
  [ "$got" = "$want" ] || fail "the initramfs records agent $got, not $want"
  # (Only the VM artifacts: other tests corrupt and repair the shared rootfs.)
  [ "$(sha256sum "$INSTALL/vm/initramfs.cpio" | cut -d' ' -f1)" = "$sha" ] && [ "$(stat -c %s "$INSTALL/vm/initramfs.cpio")" = "$size" ] ||
    fail "vm/initramfs.cpio does not match its manifest entry"
done
ok "another agent rebuilds the initramfs only, recorded in the manifest"

# The default comes from $PYRO_BACKEND; a bad value is refused naming it.
expect_status 1 env PYRO_BACKEND=qemu "$PYRO" vm create "$ENV"
grep -q 'PYRO_BACKEND must be auto, sandbox or vm' <<<"$ERR" || fail "bad PYRO_BACKEND: $ERR"
expect_status 0 env PYRO_BACKEND=sandbox "$PYRO" run "$ENV" --json -- true
[ "$(jget execution_mode <<<"$OUT")" = sandbox ] || fail "PYRO_BACKEND=sandbox: $OUT"
expect_status 2 "$PYRO" run --backend qemu "$ENV" -- true
ok "PYRO_BACKEND and --backend choose the backend"

# A VM's lifecycle: stop powers the guest off cleanly, start boots the same
# record again on the vm backend.
expect_status 0 env PYRO_BACKEND=vm "$PYRO" vm create "$ENV" --json
vm=$(jget vm_id <<<"$OUT")
expect_status 0 "$PYRO" vm start "$vm" --json
[ "$(jget execution_mode <<<"$OUT")" = vm ] || fail "vm start: $OUT"
expect_status 0 "$PYRO" vm stop "$vm" --json
grep -q 'reboot: Power down' "$PYRO_HOME/vms/$vm/console.log" || fail "the guest did not power off: $(tail -5 "$PYRO_HOME/vms/$vm/console.log")"
no_qemu_left
ok "vm stop powers the guest off"

# kill -9 of QEMU: the monitor notices, the VM is exited, reap removes it.
expect_status 0 "$PYRO" vm start "$vm"
qpid=$(jget sandbox_pid <"$PYRO_HOME/vms/$vm/monitor.json")
grep -q qemu "/proc/$qpid/comm" || fail "sandbox_pid $qpid is not QEMU"
# QEMU is confined: no capabilities, no_new_privs, QEMU's seccomp filter,
# and its own PID, mount, IPC, UTS and network namespaces.
grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$qpid/status" || fail "QEMU has capabilities: $(grep Cap "/proc/$qpid/status")"
grep -q '^CapBnd:[[:space:]]*0000000000000000$' "/proc/$qpid/status" || fail "QEMU's bounding set is not empty"
grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$qpid/status" || fail "QEMU lacks no_new_privs"
grep -q '^Seccomp:[[:space:]]*2$' "/proc/$qpid/status" || fail "QEMU runs without its seccomp sandbox"
for ns in pid mnt ipc uts net; do
  [ "$(readlink "/proc/$qpid/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ] || fail "QEMU shares the host's $ns namespace"
done
# QEMU is in its own cgroup pyro/<id>, before it ran (it never was
# elsewhere: its cgroup's counters hold all its memory), limited to the
# guest's memory plus QEMU's own (docs/vm.md: mem_mib + 256 MiB), swap off,
# a CPU quota of vcpu_count and a finite pids limit; cgroup_version says which.
cgv=$(jget cgroup_version <"$PYRO_HOME/vms/$vm/monitor.json")
want=$(( (1024 + 256) * 1048576 ))
if [ "$cgv" = 1 ]; then
  cgline() { awk -F: -v c="$1" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $2 ":" $3 }' "/proc/$qpid/cgroup"; }
  IFS=: read -r mctl mpath < <(cgline memory)
  IFS=: read -r pctl ppath < <(cgline pids)
  IFS=: read -r cctl cpath < <(cgline cpu)
  [ "$mpath" = "/pyro/$vm" ] && [ "$ppath" = "/pyro/$vm" ] && [ "$cpath" = "/pyro/$vm" ] || fail "QEMU's cgroups: $(cat "/proc/$qpid/cgroup")"
  mdir=/sys/fs/cgroup/$mctl$mpath
  [ "$(cat "$mdir/memory.limit_in_bytes")" = "$want" ] || fail "QEMU's memory limit $(cat "$mdir/memory.limit_in_bytes"), not $want"
  [ ! -e "$mdir/memory.memsw.limit_in_bytes" ] || [ "$(cat "$mdir/memory.memsw.limit_in_bytes")" = "$want" ] || fail "QEMU may swap"
  pids=$(cat "/sys/fs/cgroup/$pctl$ppath/pids.max"); quota=$(cat "/sys/fs/cgroup/$cctl$cpath/cpu.cfs_quota_us")
  [ "$quota" = 100000 ] || fail "QEMU's CPU quota $quota, not 1 CPU"
elif [ "$cgv" = 2 ]; then
  cg=$(awk -F: '$1 == "0" {print $3}' "/proc/$qpid/cgroup")
  [ "${cg##*/}" = "$vm" ] || fail "QEMU's cgroup: $(cat "/proc/$qpid/cgroup")"
  [ "$(cat "/sys/fs/cgroup$cg/memory.max")" = "$want" ] || fail "QEMU's memory.max $(cat "/sys/fs/cgroup$cg/memory.max"), not $want"
  [ ! -e "/sys/fs/cgroup$cg/memory.swap.max" ] || [ "$(cat "/sys/fs/cgroup$cg/memory.swap.max")" = 0 ] || fail "QEMU may swap"
  pids=$(cat "/sys/fs/cgroup$cg/pids.max")
  [ "$(cat "/sys/fs/cgroup$cg/cpu.max")" = "100000 100000" ] || fail "QEMU's cpu.max: $(cat "/sys/fs/cgroup$cg/cpu.max")"
else
  fail "cgroup_version $cgv in monitor.json"
fi
[ "$pids" != max ] && [ "$pids" -gt "$(ls "/proc/$qpid/task" | wc -l)" ] || fail "QEMU's pids limit: $pids"
[ "$(jget limits_unenforced <"$PYRO_HOME/vms/$vm/monitor.json")" = "[]" ] || fail "limits_unenforced: $(cat "$PYRO_HOME/vms/$vm/monitor.json")"
ok "QEMU in its own cgroup v$cgv: memory $want bytes (mem_mib + 256 MiB), no swap, 1 CPU, pids $pids"
kill -9 "$qpid"
for _ in $(seq 50); do [ "$(jget state <"$PYRO_HOME/vms/$vm/monitor.json")" = exited ] && break; sleep 0.1; done
expect_status 0 "$PYRO" vm status "$vm" --json
case "$(jget state <<<"$OUT")" in exited | failed) ;; *) fail "state after kill -9 of QEMU: $OUT" ;; esac
expect_status 0 "$PYRO" vm reap-expired --json
[ ! -e "$PYRO_HOME/vms/$vm" ] || fail "reap left $PYRO_HOME/vms/$vm: $(ls -la "$PYRO_HOME/vms/$vm")"
no_qemu_left
no_jail_left "$vm"
ok "QEMU confined (no capabilities, no_new_privs, seccomp, own namespaces); kill -9 of QEMU, then reap-expired: nothing left"

# kill -9 of QEMU during an exec in a workspace (for the guest a power
# cut): the exec fails naming what happened, what earlier requests wrote is
# on the kept disk (the agent syncs before it answers), and the workspace
# starts again on it.
expect_status 0 "$PYRO" workspace create --backend vm "$ENV" --json
ws=$(jget workspace_id <<<"$OUT")
expect_status 0 "$PYRO" workspace exec "$ws" -- 'echo kept >/root/mark'
"$PYRO" workspace exec "$ws" -- 'sleep 60' >"$TEST_TMP/x.out" 2>"$TEST_TMP/x.err" &
xpid=$!
qpid=$(jget sandbox_pid <"$PYRO_HOME/workspaces/$ws/monitor.json")
for _ in $(seq 100); do grep -q 'phase=run' "$TEST_TMP/x.err" 2>/dev/null && break; sleep 0.05; done
sleep 1
kill -9 "$qpid"
set +e; wait "$xpid"; rc=$?; set -e
[ "$rc" = 1 ] || fail "the exec QEMU died under exited $rc: $(cat "$TEST_TMP/x.err")"
grep -q "ended (it is failed now) while the command ran" "$TEST_TMP/x.err" || fail "exec error: $(cat "$TEST_TMP/x.err")"
expect_status 0 "$PYRO" workspace start "$ws" --json
expect_status 0 "$PYRO" workspace exec "$ws" --json -- 'cat /root/mark; test -d /workspace && echo seeded'
[ "$(jget stdout <<<"$OUT")" = "kept
seeded" ] || fail "after QEMU was killed: $OUT"
expect_status 0 "$PYRO" workspace delete "$ws"
no_qemu_left
ok "kill -9 of QEMU mid-exec: the exec fails saying so, the workspace keeps what was answered and starts again"

# kill -9 of the monitor of a VM with network: QEMU dies with it
# (parent-death signal); reap-expired removes its cgroup, veth and rules.
expect_status 0 "$PYRO" vm create --backend vm --network "$ENV" --json
vm=$(jget vm_id <<<"$OUT")
expect_status 0 "$PYRO" vm start "$vm"
mpid=$(jget pid <"$PYRO_HOME/vms/$vm/monitor.json")
qpid=$(jget sandbox_pid <"$PYRO_HOME/vms/$vm/monitor.json")
veth=$(jget network.host_ifname <"$PYRO_HOME/vms/$vm/monitor.json")
rules=$(nft list ruleset)
ip link show "$veth" >/dev/null && grep -q "pyro:$vm" <<<"$rules" || fail "VM $vm has no veth $veth or guard rules"
kill -9 "$mpid"
for _ in $(seq 50); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$qpid" 2>/dev/null && fail "QEMU $qpid outlived its monitor"
expect_status 0 "$PYRO" vm reap-expired --json
[ ! -e "$PYRO_HOME/vms/$vm" ] || fail "reap left $PYRO_HOME/vms/$vm"
no_qemu_left
no_jail_left "$vm" "$veth"
ok "kill -9 of the monitor, then reap-expired: nothing left (no QEMU, cgroup, veth or guard rule)"

# kill -9 of the client during a stop: the monitor finishes the power-off;
# the VM is then exited and reap-expired leaves no QEMU, socket or disk.
expect_status 0 "$PYRO" vm create --backend vm "$ENV" --json
vm=$(jget vm_id <<<"$OUT")
expect_status 0 "$PYRO" vm start "$vm"
qpid=$(jget sandbox_pid <"$PYRO_HOME/vms/$vm/monitor.json")
"$PYRO" vm stop "$vm" >/dev/null 2>&1 &
stopper=$!
for _ in $(seq 100); do [ "$(jget state <"$PYRO_HOME/vms/$vm/monitor.json")" = running ] || break; sleep 0.02; done
kill -9 "$stopper" 2>/dev/null || true  # (the power-off may already be over)
wait "$stopper" 2>/dev/null || true
for _ in $(seq 100); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$qpid" 2>/dev/null && fail "QEMU $qpid still runs after the stop its client was killed in"
[ ! -e "$PYRO_HOME/vms/$vm/control.sock" ] && [ ! -e "$PYRO_HOME/vms/$vm/sandbox/disk.ext4" ] ||
  fail "the stopped VM left its socket or disk: $(ls -R "$PYRO_HOME/vms/$vm")"
expect_status 0 "$PYRO" vm status "$vm" --json
state=$(jget state <<<"$OUT")
case "$state" in
  exited) # killed mid-stop: the record still says started; reap takes it
    expect_status 0 "$PYRO" vm reap-expired --json
    [ ! -e "$PYRO_HOME/vms/$vm" ] || fail "reap left $PYRO_HOME/vms/$vm: $(ls -la "$PYRO_HOME/vms/$vm")" ;;
  stopped) # the stop was over before the kill: a stopped VM is kept
    "$PYRO" vm delete "$vm" >/dev/null ;;
  *) fail "state after the killed stop: $OUT" ;;
esac
no_qemu_left
ok "kill -9 of the client during a stop ($state): no QEMU, socket or disk left"

# allow_host_compat: permission to fall back to the sandbox backend when a
# VM cannot start (here: KVM demanded on a host without it), said in the
# result; without it the error names the cause and the permission.
if [ ! -e /dev/kvm ]; then
  expect_status 1 env PYRO_VM_ACCEL=kvm "$PYRO" run --backend vm "$ENV" -- true
  grep -q 'allow_host_compat' <<<"$ERR" || fail "error without allow_host_compat: $ERR"
  grep -qi 'kvm' <<<"$ERR" || fail "the error does not name the cause: $ERR"
  expect_status 0 env PYRO_VM_ACCEL=kvm "$PYRO" vm create --backend vm --allow-host-compat "$ENV" --json
  vm=$(jget vm_id <<<"$OUT")
  expect_status 0 env PYRO_VM_ACCEL=kvm "$PYRO" vm start "$vm" --json
  [ "$(jget execution_mode <<<"$OUT")" = sandbox ] || fail "fallback execution_mode: $OUT"
  jget backend_fallback <<<"$OUT" | grep -qi kvm || fail "backend_fallback: $OUT"
  expect_status 0 "$PYRO" vm delete "$vm"
  ok "allow_host_compat falls back to the sandbox backend and says why"
fi
no_qemu_left
