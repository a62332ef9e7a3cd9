#!/usr/bin/env bash
# lintian reports no error on the package (where installed); the package
# installed with apt-get into a fresh Debian 12 root (mmdebstrap,
# from this host's apt sources; apt resolves its Depends), then `pyro
# doctor` and `pyro run` from that root, with the test cache's
# debian:12-base mounted as its environment cache.
source "$PYRO_SOURCE_DIR/tests/integration/lib.sh"
command -v mmdebstrap >/dev/null || skip "mmdebstrap is needed to make the throwaway root"
[ "$(id -u)" = 0 ] || skip "chroot and mounts need root"
deb=$("$PYRO_SOURCE_DIR/scripts/deb.sh" "$PYRO_BUILD_DIR" "$TEST_TMP")
if command -v lintian >/dev/null; then
  lintian --fail-on error "$deb" >"$TEST_TMP/lintian" 2>&1 || fail "lintian: $(cat "$TEST_TMP/lintian")"
  ok "lintian: no error ($(grep -c '^W:' "$TEST_TMP/lintian" || true) warnings)"
else
  echo "note: lintian is not installed (apt-get install lintian); its check is skipped"
fi
root="$TEST_TMP/root"
sources=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$sources" ] || sources=$(grep -h '^deb ' /etc/apt/sources.list)
mmdebstrap --quiet --variant=apt --include="$deb" bookworm "$root" - <<<"$sources" ||
  fail "mmdebstrap with the package"
[ -x "$root/usr/bin/pyro" ] || fail "pyro not installed in the root"
chroot "$root" dpkg -s pyro | grep -q '^Status: install ok installed' || fail "dpkg does not list pyro"
ok "apt-get installed $(basename "$deb") with its dependencies into a fresh Debian 12 root"

mkdir -p "$root/cache" "$root/state"
unshare --mount --propagation private bash -euc '
root=$1 cache=$2
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
mount --bind "$cache" "$root/cache"
mount -t tmpfs tmpfs "$root/tmp"
run() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root XDG_CACHE_HOME=/cache PYRO_HOME=/state "$@"; }
run pyro doctor >/dev/null || { run pyro doctor; exit 1; }
out=$(run pyro run debian:12-base --backend sandbox -- "echo packaged-run-ok; cat /etc/debian_version")
grep -q packaged-run-ok <<<"$out" || { echo "pyro run: $out" >&2; exit 1; }
run man -w pyro >/dev/null 2>&1 || test -f "$root/usr/share/man/man1/pyro.1.gz"
' pkg "$root" "$XDG_CACHE_HOME" || fail "pyro doctor / pyro run from the installed package"
ok "pyro doctor and pyro run work from the installed package"
