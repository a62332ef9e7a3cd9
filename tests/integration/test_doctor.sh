#!/bin/bash
# pyro doctor: the JSON report is valid and truthful about this host, the
# human table renders within 100 columns, exit status follows "ok", and bad
# usage is a one-line error with exit 2.
source "$(dirname "$0")/lib.sh"

# --json: valid JSON with the documented keys; exit status mirrors "ok".
set +e
"$PYRO" doctor --json >"$TEST_TMP/doctor.json" 2>"$TEST_TMP/doctor.err"
rc=$?
set -e
/usr/bin/python3 - "$TEST_TMP/doctor.json" <<'PY' || fail "doctor --json is not a valid report"
import json, sys
r = json.load(open(sys.argv[1]))
keys = {"platform", "kernel", "checks", "backends", "cgroups", "limits", "state_dir", "cache_dir",
        "environments_dir", "environments", "environments_truncated", "ok"}
assert set(r) == keys, sorted(r)
for c in r["checks"]:
    assert set(c) == {"name", "status", "detail", "hint"}, c
    assert c["status"] in ("pass", "warn", "fail"), c
assert r["ok"] == (r["backends"]["sandbox"]["available"] or r["backends"]["vm"]["available"])
PY
ok "doctor --json is a valid report"
want_rc=$([ "$(jget ok <"$TEST_TMP/doctor.json")" = true ] && echo 0 || echo 1)
[ "$rc" = "$want_rc" ] || fail "doctor --json exited $rc but ok says exit $want_rc"
ok "exit status $rc matches ok"
[ "$(jget state_dir <"$TEST_TMP/doctor.json")" = "$PYRO_HOME" ] || fail "state_dir is not \$PYRO_HOME"
[ "$(jget platform <"$TEST_TMP/doctor.json")" = "linux-$(uname -m)" ] || fail "platform disagrees with uname"
[ "$(jget kernel <"$TEST_TMP/doctor.json")" = "$(uname -r)" ] || fail "kernel disagrees with uname -r"
ok "state_dir, platform and kernel agree with the host"

# On a paravirtual nested KVM host doctor must say the VM backend uses TCG.
check_status() { /usr/bin/python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))
print([c["status"] for c in r["checks"] if c["name"]==sys.argv[2]][0])' "$TEST_TMP/doctor.json" "$1"; }
if [ -d /sys/module/kvm_pvm ] && [ -e /dev/kvm ]; then
  [ "$(check_status kvm_native)" = warn ] || fail "kvm_native passes on a kvm_pvm host"
  if [ "$(jget backends.vm.available <"$TEST_TMP/doctor.json")" = true ]; then
    [ "$(jget backends.vm.accelerator <"$TEST_TMP/doctor.json")" = tcg ] || fail "vm accelerator is not tcg on kvm_pvm"
    jget backends.vm.reason <"$TEST_TMP/doctor.json" | grep -q kvm_pvm || fail "vm reason does not name kvm_pvm"
  fi
  ok "kvm_pvm host reported as TCG"
fi
if command -v qemu-system-x86_64 >/dev/null && qemu-system-x86_64 -machine help | grep -q '^microvm '; then
  [ "$(check_status qemu_microvm)" = pass ] || fail "qemu_microvm does not pass though qemu lists microvm"
  ok "qemu microvm detected"
fi

# PYRO_VM_ACCEL: tcg is honoured; an invalid value fails the accelerator check.
PYRO_VM_ACCEL=tcg "$PYRO" doctor --json >"$TEST_TMP/tcg.json" || true
if [ "$(jget backends.vm.available <"$TEST_TMP/tcg.json")" = true ]; then
  [ "$(jget backends.vm.accelerator <"$TEST_TMP/tcg.json")" = tcg ] || fail "PYRO_VM_ACCEL=tcg not honoured"
fi
PYRO_VM_ACCEL=warp "$PYRO" doctor --json >"$TEST_TMP/bad.json" || true
[ "$(jget backends.vm.available <"$TEST_TMP/bad.json")" = false ] || fail "vm available with PYRO_VM_ACCEL=warp"
[ "$(jget backends.vm.accelerator <"$TEST_TMP/bad.json")" = null ] || fail "accelerator set with PYRO_VM_ACCEL=warp"
jget backends.vm.reason <"$TEST_TMP/bad.json" | grep -q "PYRO_VM_ACCEL must be kvm, tcg or auto, got 'warp'" \
  || fail "invalid PYRO_VM_ACCEL not explained"
ok "PYRO_VM_ACCEL honoured and validated"

# Human output: the table, the backends summary, within 100 columns, same exit status.
set +e
"$PYRO" doctor >"$TEST_TMP/human.txt" 2>"$TEST_TMP/human.err"
hrc=$?
set -e
[ "$hrc" = "$rc" ] || fail "human mode exited $hrc, --json exited $rc"
head -1 "$TEST_TMP/human.txt" | grep -Eq '^CHECK +STATUS +DETAIL$' || fail "no table header"
grep -Eq '^kvm_native +(pass|warn|fail) ' "$TEST_TMP/human.txt" || fail "no kvm_native row"
grep -q '^Backends:' "$TEST_TMP/human.txt" || fail "no backends summary"
grep -Eq '^  sandbox +(available|unavailable)' "$TEST_TMP/human.txt" || fail "no sandbox line"
awk 'length($0) > 100 { exit 1 }' "$TEST_TMP/human.txt" || fail "a line is wider than 100 columns"
[ ! -s "$TEST_TMP/human.err" ] || fail "doctor wrote to stderr: $(cat "$TEST_TMP/human.err")"
ok "human table renders"

# Bad usage: exit 2, one line on stderr naming the option, nothing on stdout.
expect_status 2 "$PYRO" doctor --bogus
[ "$(printf '%s\n' "$ERR" | wc -l)" = 1 ] || fail "usage error is not one line: $ERR"
printf '%s' "$ERR" | grep -q -- "--bogus" || fail "usage error does not name --bogus: $ERR"
[ -z "$OUT" ] || fail "usage error wrote to stdout"
ok "doctor --bogus is a usage error"

# Exit 1 when no backend can run: unprivileged, user namespaces disabled, no QEMU.
if command -v bwrap >/dev/null && command -v setpriv >/dev/null && [ "$(id -u)" = 0 ] \
   && bwrap --help 2>&1 | grep -q -- --disable-userns; then
  set +e
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --ro-bind "$(dirname "$PYRO")" "$(dirname "$PYRO")" \
      --unshare-user --disable-userns \
      --setenv PATH /nonexistent --setenv PYRO_HOME /tmp/state --setenv XDG_CACHE_HOME /tmp/cache \
      "$PYRO" doctor --json >"$TEST_TMP/none.json" 2>"$TEST_TMP/none.err"
  nrc=$?
  set -e
  [ "$nrc" = 1 ] || fail "expected exit 1 without any backend, got $nrc ($(cat "$TEST_TMP/none.err"))"
  [ "$(jget ok <"$TEST_TMP/none.json")" = false ] || fail "ok is not false without any backend"
  [ "$(jget backends.sandbox.available <"$TEST_TMP/none.json")" = false ] || fail "sandbox claimed available"
  ok "no backend: exit 1 and ok=false"
else
  echo "# skipped the no-backend case: needs root, setpriv and bwrap with --disable-userns"
fi
