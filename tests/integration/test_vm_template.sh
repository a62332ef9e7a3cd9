#!/bin/bash
# Memory templates of the vm backend (docs/vm.md "Memory templates"): the
# first VM of a setting boots and is saved; later VMs with a new disk are
# restored from it, each with its own hostname, clock, boot_id and random
# state; a template that does not restore is removed and the VM boots; a
# workspace started again on its kept disk boots; PYRO_VM_TEMPLATES=0
# always boots.
source "$(dirname "$0")/lib.sh"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (scripts/deps.sh)"
ENV=debian:12-base
"$PYRO" env pull "$ENV" --vm >/dev/null 2>&1 || fail "could not pull $ENV with its VM artifacts"
INSTALL=$("$PYRO" env inspect "$ENV" --json | jget cache_path)
TDIR=$INSTALL/vm/templates
# A setting no other suite uses, so this one decides what exists.
MEM=320
rm -rf "$TDIR"

boot_of() { echo "$(jget vm_boot <<<"$1") / $(jget vm_boot_reason <<<"$1")"; }

# The first VM of the setting boots and saves the template.
expect_status 0 "$PYRO" run --backend vm --mem-mib $MEM "$ENV" --json -- true
[ "$(jget vm_boot <<<"$OUT")" = cold ] || fail "first VM: $(boot_of "$OUT")"
jget vm_boot_reason <<<"$OUT" | grep -q 'saves one' || fail "first VM: $(boot_of "$OUT")"
key=$(ls "$TDIR")
[ "$(wc -w <<<"$key")" = 1 ] && [ -s "$TDIR/$key/state" ] && [ -f "$TDIR/$key/disk.ext4" ] &&
  [ -f "$TDIR/$key/template.json" ] || fail "no template saved: $(ls -laR "$TDIR" 2>&1)"
[ "$(stat -c %a "$TDIR/$key/state")" = 600 ] || fail "the template's state is readable by others"
ok "the first VM of a setting boots and saves its template ($(du -sh "$TDIR/$key/state" | cut -f1) of state)"

# Two VMs from the one template, running at the same time: each has its own
# hostname, boot_id, random bytes and a clock within a second of the host's.
probe='hostname; cat /proc/sys/kernel/random/boot_id; head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n"; echo; date +%s.%N'
declare -a ids outs
for i in 0 1; do
  expect_status 0 "$PYRO" vm create --backend vm --mem-mib $MEM "$ENV" --json
  ids[$i]=$(jget vm_id <<<"$OUT")
  expect_status 0 "$PYRO" vm start "${ids[$i]}" --json
  [ "$(jget vm_boot <<<"$OUT")" = template ] || fail "VM $i: $(boot_of "$OUT")"
done
for i in 0 1; do
  # (the guest reads its clock between these two host readings)
  host_before=$(date +%s.%N)
  expect_status 0 "$PYRO" vm exec "${ids[$i]}" --json -- "$probe"
  host_now=$(date +%s.%N)
  outs[$i]=$(jget stdout <<<"$OUT")
  mapfile -t l <<<"${outs[$i]}"
  [ "${l[0]}" = "${ids[$i]}" ] || fail "VM $i hostname ${l[0]}, not ${ids[$i]}"
  /usr/bin/python3 -c 'import sys; g, a, b = map(float, sys.argv[1:]); sys.exit(0 if a - 1.0 < g < b + 1.0 else 1)' \
    "${l[3]}" "$host_before" "$host_now" ||
    fail "VM $i clock ${l[3]} is not within a second of the host's $host_before..$host_now"
done
mapfile -t a <<<"${outs[0]}"
mapfile -t b <<<"${outs[1]}"
[ "${a[1]}" != "${b[1]}" ] || fail "two clones share the boot_id ${a[1]}"
[ "${a[2]}" != "${b[2]}" ] || fail "two clones read the same bytes from /dev/urandom: ${a[2]}"
# (vm exec removes the VM after its command, as the seed's vm_exec does.)
ok "two clones of one template: own hostname, boot_id ${a[1]:0:8}.. vs ${b[1]:0:8}.., own urandom, clock within 1 s"

# A template that does not restore (its state cut short) is removed, and the
# VM boots instead; the next VM saves a new one.
truncate -s 4096 "$TDIR/$key/state"
expect_status 0 "$PYRO" run --backend vm --mem-mib $MEM "$ENV" --json -- 'echo fine'
[ "$(jget stdout <<<"$OUT")" = fine ] || fail "the fallback boot did not run the command: $OUT"
[ "$(jget vm_boot <<<"$OUT")" = cold ] || fail "after a broken template: $(boot_of "$OUT")"
jget vm_boot_reason <<<"$OUT" | grep -q 'restoring the template failed' || fail "reason: $(boot_of "$OUT")"
[ ! -e "$TDIR/$key" ] || fail "the broken template was kept"
expect_status 0 "$PYRO" run --backend vm --mem-mib $MEM "$ENV" --json -- true
[ "$(jget vm_boot <<<"$OUT")" = cold ] && [ -s "$TDIR/$key/state" ] || fail "no new template: $(boot_of "$OUT")"
ok "a broken template is removed and the VM boots; the next one saves it again"

# A workspace: created from the template (with the runs' disk size: the
# size is part of a template's key); started again, it boots on its kept
# disk (a template's disk would replace its files).
expect_status 0 "$PYRO" workspace create --backend vm --mem-mib $MEM --disk-mib 8192 "$ENV" --json
ws=$(jget workspace_id <<<"$OUT")
[ "$(jget vm_boot <<<"$OUT")" = template ] || fail "workspace create: $(boot_of "$OUT")"
expect_status 0 "$PYRO" workspace exec "$ws" -- 'echo kept > /root/mark'
expect_status 0 "$PYRO" workspace stop "$ws"
expect_status 0 "$PYRO" workspace start "$ws" --json
[ "$(jget vm_boot <<<"$OUT")" = cold ] || fail "workspace start: $(boot_of "$OUT")"
jget vm_boot_reason <<<"$OUT" | grep -q 'disk holds' || fail "workspace start: $(boot_of "$OUT")"
expect_status 0 "$PYRO" workspace exec "$ws" --json -- 'cat /root/mark; hostname'
[ "$(jget stdout <<<"$OUT")" = "kept
$ws" ] || fail "after start: $OUT"
expect_status 0 "$PYRO" workspace delete "$ws"
ok "a workspace starts from the template, and boots on its own disk when started again"

# Off by choice; a bad value is refused naming the variable.
expect_status 0 env PYRO_VM_TEMPLATES=0 "$PYRO" run --backend vm --mem-mib $MEM "$ENV" --json -- true
[ "$(jget vm_boot <<<"$OUT")" = cold ] && jget vm_boot_reason <<<"$OUT" | grep -q 'off' ||
  fail "PYRO_VM_TEMPLATES=0: $(boot_of "$OUT")"
expect_status 1 env PYRO_VM_TEMPLATES=yes "$PYRO" run --backend vm "$ENV" -- true
grep -q PYRO_VM_TEMPLATES <<<"$ERR" || fail "a bad PYRO_VM_TEMPLATES: $ERR"
ok "PYRO_VM_TEMPLATES=0 boots; a bad value names the variable"
