#!/bin/bash
# cgroup v2 delegation for rootless sandboxes, on a real kernel: this host is
# cgroup v1 hybrid, so the test runs inside a VM guest, whose kernel mounts
# cgroup2 with every controller. There, as guest root, it mounts cgroup2 and
# delegates cgroups to uid 1000 the way systemd's Delegate= does (the
# directory, cgroup.procs, cgroup.subtree_control and cgroup.threads
# chowned), then runs, as uid 1000 (setpriv):
# - the backend's cgroup code (tests/helpers/cgdeleg.c over
#   backend/cgroups.c) inside a delegated cgroup: it finds it from
#   /proc/self/cgroup, moves itself to a leaf, makes <base>/pyro/<id> with
#   memory.max (swap off), pids.max and cpu.max, attaches a process whose
#   forks the pids limit refuses, and removes it with its members alive;
#   and in a cgroup that is root's: no plan, every limit reported
#   unenforced, with the fix;
# - a whole rootless sandbox (tests/helpers/cgsandbox.c over
#   backend/sandbox: user namespace through newuidmap, overlay, seccomp,
#   the static probe as PID 1) in another delegated cgroup: nothing in
#   limits_unenforced, PID 1 in <base>/pyro/<id> with the limits, a fork
#   bomb inside stopped by pids.max, and destroy from sandbox.json alone
#   after its "monitor" was killed removes the cgroup and the directory.
#   Its lower layer is the guest's root image (/dev/vda, mounted again) and
#   its directory is on the guest's ext4 disk (/dev/vdb): the guest root is
#   an overlay, and a user's overlay needs an upper layer with user xattrs.
# One VM (TCG here), a workspace seeded with the static helpers and the
# host's newuidmap and newgidmap (Debian 12's, as the guest's libraries).
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "the VM artifacts are built as root here (apt-get download, mkfs.ext4 -d of a root-owned tree)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (scripts/deps.sh)"
for h in pyro-cgdeleg pyro-cgsandbox pyro-probe; do
  [ -x "$PYRO_BUILD_DIR/tests/$h" ] || skip "$h was not built (static: built where the static pyro-agent is)"
done
for t in newuidmap newgidmap; do
  command -v $t >/dev/null || skip "$t is not installed (apt-get install uidmap)"
done
ENV=debian:12-base
"$PYRO" env pull "$ENV" >/dev/null 2>&1 || fail "could not pull $ENV"

mkdir "$TEST_TMP/seed"
cp "$PYRO_BUILD_DIR"/tests/{pyro-cgdeleg,pyro-cgsandbox,pyro-probe} "$(command -v newuidmap)" \
  "$(command -v newgidmap)" "$TEST_TMP/seed/"
expect_status 0 "$PYRO" workspace create "$ENV" --backend vm --seed-path "$TEST_TMP/seed" --id-only -q
WS=$OUT

# As guest root: a cgroup2 hierarchy with the three controllers, the
# delegated cgroup "deleg" (uid 1000's) and "other" (root's).
set +e
"$PYRO" workspace exec "$WS" --timeout-seconds 120 --json -- '
set -e
install -m 0755 pyro-cgdeleg pyro-cgsandbox pyro-probe /usr/local/bin/
install -m 4755 newuidmap newgidmap /usr/bin/
useradd -u 1000 -m tester
echo tester:200000:65536 >>/etc/subuid
echo tester:200000:65536 >>/etc/subgid
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup
cd /sys/fs/cgroup
echo "controllers: $(cat cgroup.controllers)"
echo "+cpu +memory +pids" >cgroup.subtree_control
mkdir -p deleg deleg2 other
for d in deleg deleg2; do chown 1000:1000 $d $d/cgroup.procs $d/cgroup.subtree_control $d/cgroup.threads; done
as_tester() { # CGROUP COMMAND...: run as uid 1000 in /sys/fs/cgroup/CGROUP
  local cg=$1; shift
  sh -c "echo \$\$ >/sys/fs/cgroup/$cg/cgroup.procs; exec setpriv --reuid 1000 --regid 1000 --init-groups \"\$@\"" as_tester "$@"
}
as_tester other pyro-cgdeleg nodeleg
as_tester deleg pyro-cgdeleg deleg /sys/fs/cgroup/deleg
[ ! -e /sys/fs/cgroup/deleg/pyro/cgtest1 ] && echo "gone: deleg/pyro/cgtest1"
# The sandbox: lower layer the root image, directory on the ext4 disk.
for b in vda vdb; do [ -e /dev/$b ] || mknod /dev/$b b $(tr : " " </sys/block/$b/dev); done
mkdir -p /mnt/rootimg /mnt/disk
mount -o ro,noload /dev/vda /mnt/rootimg
mount /dev/vdb /mnt/disk
install -d -o 1000 -g 1000 /mnt/disk/cgsb
as_tester deleg2 env HOME=/home/tester pyro-cgsandbox /mnt/rootimg /mnt/disk/cgsb/s1 /usr/local/bin/pyro-probe
umount /mnt/rootimg /mnt/disk
' >"$TEST_TMP/out" 2>"$TEST_TMP/err"
st=$?
set -e
out=$(jget stdout <"$TEST_TMP/out" 2>/dev/null || cat "$TEST_TMP/out")
printf '%s\n' "$out" "$(jget stderr <"$TEST_TMP/out" 2>/dev/null || cat "$TEST_TMP/err")" | sed 's/^/  guest: /'
[ "$st" = 0 ] || fail "the guest's commands exited $st"
[ "$(jget exit_code <"$TEST_TMP/out")" = 0 ] || fail "the guest's commands failed"
grep -q '^FAIL' <<<"$out" && fail "the helper failed in the guest"
for want in "ok running as uid 1000" "ok no plan: this process's cgroup /sys/fs/cgroup/other is not delegated to uid 1000" \
  "ok delegated base /sys/fs/cgroup/deleg with memory, pids, cpu" \
  "ok this process moved to the leaf /deleg/pyro-leaf" \
  "ok memory.max = 67108864" "ok memory.swap.max = 0" "ok pids.max = 8" "ok cpu.max = 100000 100000" \
  "ok pids.current = 8" "ok a fork was refused" "ok removed /sys/fs/cgroup/deleg/pyro/cgtest1" \
  "gone: deleg/pyro/cgtest1" \
  "ok rootless sandbox started: cgroup v2, nothing in limits_unenforced" "ok PID 1 is in /deleg2/pyro/cgsb1" \
  "ok sandbox memory.max = 67108864" "ok sandbox pids.max = 16" "ok sandbox cpu.max = 100000 100000" \
  "ok the fork bomb inside was stopped by pids.max (EAGAIN)" \
  "ok destroyed after a killed monitor: the cgroup, PID 1 and /mnt/disk/cgsb/s1 are gone"; do
  grep -qF "$want" <<<"$out" || fail "missing in the guest's output: $want"
done
ok "as uid 1000 on a guest's cgroup2: delegated cgroup found, limits written, a fork refused by pids.max, removed"
ok "as uid 1000: a rootless sandbox held to memory, pids and cpu in its delegated cgroup; destroyed after a killed monitor"

expect_status 0 "$PYRO" workspace delete "$WS"
ok "workspace deleted"
