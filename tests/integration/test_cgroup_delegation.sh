#!/bin/bash
# cgroup v2 delegation for rootless sandboxes, on a real kernel: this host is
# cgroup v1 hybrid, so the test runs the backend's cgroup code
# (tests/helpers/cgdeleg.c over backend/cgroups.c) inside a VM guest, whose
# kernel mounts cgroup2 with every controller. There, as guest root, it
# mounts cgroup2 and delegates a cgroup to uid 1000 the way systemd's
# Delegate= does (the directory, cgroup.procs, cgroup.subtree_control and
# cgroup.threads chowned), then runs the helper as uid 1000 (setpriv):
# - inside the delegated cgroup: the helper finds it from /proc/self/cgroup,
#   moves itself to a leaf, makes <base>/pyro/<id> with memory.max (swap
#   off), pids.max and cpu.max, attaches a process whose forks the pids
#   limit refuses, and removes it with its members alive;
# - in a cgroup that is root's: no plan, every limit reported unenforced,
#   with the fix.
# One VM (TCG here), a workspace seeded with the static helper.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "the VM artifacts are built as root here (apt-get download, mkfs.ext4 -d of a root-owned tree)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (scripts/deps.sh)"
HELPER=$PYRO_BUILD_DIR/tests/pyro-cgdeleg
[ -x "$HELPER" ] || skip "$HELPER was not built (it is static, built where the static pyro-agent is)"
ENV=debian:12-base
"$PYRO" env pull "$ENV" >/dev/null 2>&1 || fail "could not pull $ENV"

mkdir "$TEST_TMP/seed"
cp "$HELPER" "$TEST_TMP/seed/pyro-cgdeleg"
expect_status 0 "$PYRO" workspace create "$ENV" --backend vm --seed-path "$TEST_TMP/seed" --id-only -q
WS=$OUT

# As guest root: a cgroup2 hierarchy with the three controllers, the
# delegated cgroup "deleg" (uid 1000's) and "other" (root's).
set +e
"$PYRO" workspace exec "$WS" --timeout-seconds 120 --json -- '
set -e
install -m 0755 /workspace/pyro-cgdeleg /usr/local/bin/pyro-cgdeleg
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup
cd /sys/fs/cgroup
echo "controllers: $(cat cgroup.controllers)"
echo "+cpu +memory +pids" >cgroup.subtree_control
mkdir -p deleg other
chown 1000:1000 deleg deleg/cgroup.procs deleg/cgroup.subtree_control deleg/cgroup.threads
sh -c "echo \$\$ >/sys/fs/cgroup/other/cgroup.procs; exec setpriv --reuid 1000 --regid 1000 --clear-groups pyro-cgdeleg nodeleg"
sh -c "echo \$\$ >/sys/fs/cgroup/deleg/cgroup.procs; exec setpriv --reuid 1000 --regid 1000 --clear-groups pyro-cgdeleg deleg /sys/fs/cgroup/deleg"
[ ! -e /sys/fs/cgroup/deleg/pyro/cgtest1 ] && echo "gone: deleg/pyro/cgtest1"
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
  "gone: deleg/pyro/cgtest1"; do
  grep -qF "$want" <<<"$out" || fail "missing in the guest's output: $want"
done
ok "as uid 1000 on a guest's cgroup2: delegated cgroup found, limits written, a fork refused by pids.max, removed"

expect_status 0 "$PYRO" workspace delete "$WS"
ok "workspace deleted"
