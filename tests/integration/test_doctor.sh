#!/bin/bash
# pyro doctor: the JSON report is valid and truthful about this host, the
# human table renders within 100 columns, exit status follows "ok", and bad
# usage is a one-line error with exit 2. The rootless checks agree with the
# host's files and binaries, as root or as a user; as root, fixtures bound
# over /etc/subuid, /etc/subgid, /etc/passwd and /etc/group in a private
# mount namespace show each fix and the id pool's overlaps.
source "$(dirname "$0")/lib.sh"

# --json: valid JSON with the documented keys; exit status mirrors "ok".
set +e
"$PYRO" doctor --json >"$TEST_TMP/doctor.json" 2>"$TEST_TMP/doctor.err"
rc=$?
set -e
/usr/bin/python3 - "$TEST_TMP/doctor.json" <<'PY' || fail "doctor --json is not a valid report"
import json, sys
r = json.load(open(sys.argv[1]))
keys = {"platform", "kernel", "checks", "backends", "cgroups", "rootless", "sandbox_limits", "limits",
        "state_dir", "cache_dir", "environments_dir", "environments", "environments_truncated", "ok"}
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
if command -v qemu-system-x86_64 >/dev/null && grep -q '^microvm ' <<<"$(qemu-system-x86_64 -machine help)"; then
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

# Rootless operation, as whoever runs the suite: each check agrees with what
# the host's files and binaries say, and the summaries with the checks.
/usr/bin/python3 - "$TEST_TMP/doctor.json" "$(id -u)" <<'PY' || fail "rootless checks disagree with the host"
import json, os, pwd, shutil, sys
r = json.load(open(sys.argv[1]))
uid = int(sys.argv[2])
root = uid == 0
checks = {c["name"]: c for c in r["checks"]}
missing_status = "warn" if root else "fail"
def st(name): return checks[name]["status"]

# pasta or slirp4netns
if not any(shutil.which(t) for t in ("pasta", "slirp4netns")):
    assert st("user_network") == missing_status, checks["user_network"]
    assert "apt-get install passt" in checks["user_network"]["hint"]
# newuidmap and newgidmap: present and setuid root (or with file capabilities)
tools = [shutil.which(t) for t in ("newuidmap", "newgidmap")]
if not all(tools):
    assert st("uidmap") == missing_status and checks["uidmap"]["hint"] == "apt-get install uidmap", checks["uidmap"]
elif all(os.stat(t).st_uid == 0 and os.stat(t).st_mode & 0o4000 for t in tools):
    assert "(setuid root)" in checks["uidmap"]["detail"], checks["uidmap"]
# subordinate ids of a user: the first range of 65536 ids, by name or uid
def first(path, names):
    try:
        lines = open(path).read().splitlines()
    except FileNotFoundError:
        return None
    for l in lines:
        f = l.split(":")
        if len(f) == 3 and f[0] in names and f[1].isdigit() and f[2].isdigit() and int(f[2]) >= 65536 and int(f[1]):
            return int(f[1])
    return None
if not root:
    name = pwd.getpwuid(uid).pw_name
    su, sg = first("/etc/subuid", (name, str(uid))), first("/etc/subgid", (name, str(uid)))
    c = checks["subordinate_ids"]
    assert (c["status"] == "pass") == (su is not None and sg is not None), c
    if su is not None:
        assert "/etc/subuid maps 0-65535 to %d-%d" % (su, su + 65535) in c["detail"], c
    if c["status"] != "pass":
        assert c["hint"].startswith("as root: usermod --add-sub") and c["hint"].endswith(" " + name), c
    assert "not used" in checks["id_pool"]["detail"]
else:
    assert st("id_pool") in ("pass", "fail")
# the summaries
rl = r["rootless"]
needs = ["user_namespaces", "subordinate_ids", "uidmap", "overlayfs_userns", "user_network"]
assert rl["ready"] == (not rl["missing"]) and set(rl["missing"]) <= set(needs), rl
for n in rl["missing"]:
    assert st(n) != "pass", (n, checks[n])
for n in set(needs) - set(rl["missing"]) - ({"user_namespaces"} if root else set()):
    assert st(n) == "pass", (n, checks[n])
assert rl["summary"] == ("ready" if rl["ready"] else "not ready (missing: %s)" % ", ".join(rl["missing"])), rl
lim = r["sandbox_limits"]
assert lim["uid"] == uid
for c in ("memory", "pids", "cpu"):
    assert lim[c]["enforced"] == lim[c]["by"].startswith("cgroup_"), lim
    usable = r["cgroups"]["controllers"][c]["usable"]
    if root:
        assert lim[c]["by"] == ("cgroup_" + r["cgroups"]["controllers"][c]["hierarchy"] if usable else "none"), lim
if not root:
    # rootless sandboxes get no cgroup (as their results say in limits_unenforced)
    assert lim["memory"]["by"] == "none" and lim["cpu"]["by"] == "none" and lim["pids"]["by"] == "rlimit_nproc", lim
d = checks["cgroup_delegation"]
assert d["status"] == "warn" and "cannot enforce the memory, pids, cpu limits" in d["detail"], d
assert "RLIMIT_NPROC (per uid) stands in for pids" in d["detail"], d
if r["cgroups"]["version"] in ("v1", "hybrid") and root:
    assert "offers none of memory, pids, cpu to delegate" in d["detail"], d
PY
ok "rootless checks and summaries agree with the host (uid $(id -u))"
grep -Eq '^Rootless: +(ready|not ready \(missing: [a-z_, ]+\))$' "$TEST_TMP/human.txt" || fail "no rootless line"
grep -Eq "^Limits: +sandboxes of uid $(id -u): memory " "$TEST_TMP/human.txt" || fail "no sandbox limits line"
ok "human rootless and limits lines"

# Bad usage: exit 2, one line on stderr naming the option, nothing on stdout.
expect_status 2 "$PYRO" doctor --bogus
[ "$(printf '%s\n' "$ERR" | wc -l)" = 1 ] || fail "usage error is not one line: $ERR"
grep -q -- "--bogus" <<<"$ERR" || fail "usage error does not name --bogus: $ERR"
[ -z "$OUT" ] || fail "usage error wrote to stdout"
ok "doctor --bogus is a usage error"

# Exit 1 when no backend can run: unprivileged, user namespaces disabled, no QEMU.
if command -v bwrap >/dev/null && command -v setpriv >/dev/null && [ "$(id -u)" = 0 ] \
   && grep -q -- --disable-userns <<<"$(bwrap --help 2>&1)"; then
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

# As root: fixtures over /etc/subuid, /etc/subgid, /etc/passwd and /etc/group
# in a private mount namespace (the host's files are untouched) show each
# fix, the live id mapping through newuidmap, and the id pool's overlaps.
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! command -v setpriv >/dev/null \
   || [ ! -e /etc/subuid ] || [ ! -e /etc/subgid ]; then
  echo "# skipped the subordinate id fixtures: need root, unshare, setpriv, /etc/subuid and /etc/subgid"
  exit 0
fi
fx=$TEST_TMP/fx
mkdir -p "$fx/home"
chmod 755 "$TEST_TMP" "$fx"
chmod 777 "$fx/home"
cp /etc/passwd "$fx/passwd"
cp /etc/group "$fx/group"
echo "doctortest:x:4242:4242::/nonexistent:/usr/sbin/nologin" >>"$fx/passwd"
echo "poolsquat:x:4000100:4242::/nonexistent:/usr/sbin/nologin" >>"$fx/passwd"
echo "doctortest:x:4242:" >>"$fx/group"
# with_ids SUBUID SUBGID OUT cmd...: cmd's stdout in OUT, with the fixtures as /etc's files.
with_ids() {
  local su=$1 sg=$2 out=$3
  shift 3
  unshare --mount --propagation private -- /bin/bash -c \
    'mount --bind "$1" /etc/subuid && mount --bind "$2" /etc/subgid && mount --bind "$3" /etc/passwd &&
     mount --bind "$4" /etc/group && shift 4 && exec "$@"' _ "$su" "$sg" "$fx/passwd" "$fx/group" "$@" >"$out" || true
}
as_user=(setpriv --reuid=4242 --regid=4242 --clear-groups env -i "PATH=$PATH" "HOME=$fx/home"
         "PYRO_HOME=$fx/home/state" "XDG_CACHE_HOME=$fx/home/cache" "$PYRO" doctor --json)
field() {  # field FILE CHECK KEY
  /usr/bin/python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))
print([c for c in r["checks"] if c["name"]==sys.argv[2]][0][sys.argv[3]])' "$@"
}

# A user without subordinate ids: the exact usermod, past the ranges taken.
printf 'other:100000:65536\n' >"$fx/taken"
with_ids "$fx/taken" "$fx/taken" "$TEST_TMP/noids.json" "${as_user[@]}"
[ "$(field "$TEST_TMP/noids.json" subordinate_ids status)" = fail ] || fail "subordinate_ids does not fail without ids"
want="as root: usermod --add-subuids 165536-231071 --add-subgids 165536-231071 doctortest"
[ "$(field "$TEST_TMP/noids.json" subordinate_ids hint)" = "$want" ] \
  || fail "subordinate_ids fix is '$(field "$TEST_TMP/noids.json" subordinate_ids hint)', not '$want'"
jget rootless.missing <"$TEST_TMP/noids.json" | grep -q '"subordinate_ids"' || fail "rootless.missing lacks subordinate_ids"
[ "$(jget backends.sandbox.available <"$TEST_TMP/noids.json")" = false ] || fail "sandbox available without ids"
jget backends.sandbox.reason <"$TEST_TMP/noids.json" | grep -q "subordinate ids" || fail "sandbox reason lacks the ids"
ok "a user without subordinate ids gets the exact usermod"

# A user with a range: it is found, and newuidmap maps a test child to it.
printf 'other:100000:65536\ndoctortest:1000000:65536\n' >"$fx/granted"
with_ids "$fx/granted" "$fx/granted" "$TEST_TMP/ids.json" "${as_user[@]}"
[ "$(field "$TEST_TMP/ids.json" subordinate_ids status)" = pass ] || fail "subordinate_ids: $(field "$TEST_TMP/ids.json" subordinate_ids detail)"
field "$TEST_TMP/ids.json" subordinate_ids detail | grep -q "/etc/subuid maps 0-65535 to 1000000-1065535" \
  || fail "subordinate_ids does not name the range"
if command -v newuidmap >/dev/null && command -v newgidmap >/dev/null; then
  [ "$(field "$TEST_TMP/ids.json" uidmap status)" = pass ] || fail "uidmap: $(field "$TEST_TMP/ids.json" uidmap detail)"
  field "$TEST_TMP/ids.json" uidmap detail | grep -q "a test child's ids 0-65535 map to 1000000-1065535" \
    || fail "uidmap did not map a test child"
  ok "newuidmap maps a test child to the user's range"
else
  [ "$(field "$TEST_TMP/ids.json" uidmap hint)" = "apt-get install uidmap" ] || fail "uidmap fix is not apt-get install uidmap"
  ok "missing newuidmap names its package"
fi

# As root: who can run rootless, and the id pool against every range and id.
with_ids "$fx/granted" "$fx/granted" "$TEST_TMP/root-ids.json" env -u SUDO_USER "$PYRO" doctor --json
field "$TEST_TMP/root-ids.json" subordinate_ids detail | grep -q "1 user can run pyro rootless: doctortest" \
  || fail "root's subordinate_ids: $(field "$TEST_TMP/root-ids.json" subordinate_ids detail)"
with_ids "$fx/taken" "$fx/taken" "$TEST_TMP/root-noids.json" env -u SUDO_USER "$PYRO" doctor --json
[ "$(field "$TEST_TMP/root-noids.json" subordinate_ids status)" = warn ] || fail "root's subordinate_ids does not warn"
[ "$(field "$TEST_TMP/root-noids.json" subordinate_ids hint)" = \
  "usermod --add-subuids 165536-231071 --add-subgids 165536-231071 USER" ] || fail "root's subordinate_ids fix"
with_ids "$fx/taken" "$fx/taken" "$TEST_TMP/sudo.json" env SUDO_USER=doctortest "$PYRO" doctor --json
[ "$(field "$TEST_TMP/sudo.json" subordinate_ids hint)" = \
  "as root: usermod --add-subuids 165536-231071 --add-subgids 165536-231071 doctortest" ] \
  || fail "root's subordinate_ids fix does not name SUDO_USER"
ok "as root: the users who can run rootless, and the fix naming SUDO_USER"

printf 'squatter:1879048192:65536\n' >"$fx/squat"
with_ids "$fx/squat" "$fx/taken" "$TEST_TMP/pool.json" env -u PYRO_IDMAP_BASE "$PYRO" doctor --json
[ "$(field "$TEST_TMP/pool.json" id_pool status)" = fail ] || fail "id_pool passes over a subuid range"
field "$TEST_TMP/pool.json" id_pool detail | grep -q "subuid range of squatter 1879048192-1879113727" \
  || fail "id_pool does not name the overlap: $(field "$TEST_TMP/pool.json" id_pool detail)"
field "$TEST_TMP/pool.json" id_pool hint | grep -q "PYRO_IDMAP_BASE=1879113728" || fail "id_pool suggests no free base"
with_ids "$fx/taken" "$fx/taken" "$TEST_TMP/pool-uid.json" env PYRO_IDMAP_BASE=4000000 "$PYRO" doctor --json
field "$TEST_TMP/pool-uid.json" id_pool detail | grep -q "uid 4000100 (poolsquat)" \
  || fail "id_pool does not name the user: $(field "$TEST_TMP/pool-uid.json" id_pool detail)"
with_ids "$fx/taken" "$fx/taken" "$TEST_TMP/pool-ok.json" env -u PYRO_IDMAP_BASE "$PYRO" doctor --json
[ "$(field "$TEST_TMP/pool-ok.json" id_pool status)" = pass ] || fail "id_pool: $(field "$TEST_TMP/pool-ok.json" id_pool detail)"
PYRO_IDMAP_BASE=bogus "$PYRO" doctor --json >"$TEST_TMP/pool-bad.json" || true
[ "$(field "$TEST_TMP/pool-bad.json" id_pool status)" = fail ] || fail "id_pool passes PYRO_IDMAP_BASE=bogus"
field "$TEST_TMP/pool-bad.json" id_pool detail | grep -q "PYRO_IDMAP_BASE must be a number" || fail "bad base not explained"
ok "id pool overlaps with subuid ranges and users are named, with a free base"
